#include "teredo/server.h"

#include <optional>

namespace teredo {
namespace {

bool isOwnAddress(uint32_t addr, const ServerPolicy& policy) {
  return addr == policy.primary || addr == policy.secondary;
}

// RFC 4380 §5.3 intends only bubbles and ICMPv6 echo; Miredo caps non-bubble packets at 128
// bytes so that the server is not an open relay. The caps measure what would be relayed: the
// IPv6 packet and its RFC 6081 trailers (a spoofed source must not buy a large reflection).
std::optional<DropReason> checkForwardable(const TeredoPacket& p, const ServerPolicy& policy) {
  if (p.isBubble()) {
    if (policy.maxBubbleBytes != 0 && p.encapsulated.size() > policy.maxBubbleBytes) {
      return DropReason::BubbleTooBig;
    }
    return std::nullopt;
  }
  if (policy.echoOnly) {
    const Bytes icmp = p.ipv6Payload();
    if (icmp.empty() || (icmp[0] != kIcmpEchoRequest && icmp[0] != kIcmpEchoReply)) {
      return DropReason::Icmpv6TypeNotAllowed;
    }
  }
  if (policy.maxForwardBytes != 0 && p.encapsulated.size() > policy.maxForwardBytes) {
    return DropReason::Icmpv6TooBig;
  }
  return std::nullopt;
}

}  // namespace

ServerAction decideServer(const TeredoPacket& p, const Endpoint& source, ServerSocket arrivedOn,
                          const ServerPolicy& policy) {
  // Case 2: neither a bubble nor ICMPv6 (drops TCP, UDP, routing headers - CVE-2006-6263 -
  // and fragments, whose next header is never 58 or 59).
  if (!p.isBubble() && !p.isIcmpv6()) {
    return ServerAction::drop(DropReason::NotBubbleOrIcmpv6);
  }
  // Case 3: the IPv4 source must be global unicast.
  if (!isGlobalUnicast(source.addr, policy.global)) {
    return ServerAction::drop(DropReason::SrcNotGlobal);
  }
  // Loop guard (Miredo, MTFL-SA 0603): never process what our own sockets sent.
  if (isOwnAddress(source.addr, policy) && source.port == policy.port) {
    return ServerAction::drop(DropReason::LoopGuard);
  }

  // Local destination: ff02::2 or our link-local address. Only RSs are processed (case 4).
  const bool toAllRouters = p.ip.dst == allRoutersMulticast();
  if (toAllRouters || p.ip.dst == serverLinkLocal(policy.primary)) {
    const Bytes icmp = p.ipv6Payload();
    if (!p.isIcmpv6() || icmp.empty() || icmp[0] != kIcmpRouterSolicitation) {
      return ServerAction::drop(DropReason::LocalUnhandled);
    }
    const Result<bool> rs = checkRouterSolicitation(p, policy.strictRs);
    if (!rs) {
      return ServerAction::drop(rs.reason());
    }
    // RFC 4380 §5.3.2: a cone RS is answered from the other address, a plain one from the
    // address it reached. Source port is always the server port.
    const bool cone = *rs;
    const bool fromSecondary = (arrivedOn == ServerSocket::Secondary) != cone;
    ServerAction a;
    a.kind = ServerAction::Kind::SendRa;
    a.from = fromSecondary ? ServerSocket::Secondary : ServerSocket::Primary;
    a.to = source;
    a.cone = cone;
    return a;
  }

  const bool srcTeredo = isTeredo(p.ip.src, policy.prefix);
  const bool dstTeredo = isTeredo(p.ip.dst, policy.prefix);
  // Case 5: a Teredo source that embeds the UDP source it came from.
  const bool case5 = srcTeredo && decodeTeredo(p.ip.src).mapped() == source;
  // Case 6: the destination is a Teredo address allocated through this server (its server
  // field is our primary address, the one every RA advertises), whatever the source: relays'
  // indirect bubbles, and clients of other servers behind port-symmetric NATs or after a NAT
  // rebinding (RFC 6081 §6.1). The origin indication added below names the real sender.
  const bool case6 = dstTeredo && decodeTeredo(p.ip.dst).server == policy.primary;
  if (!case5 && !case6) {
    // Case 7: everything else is silently discarded.
    return ServerAction::drop(srcTeredo ? DropReason::SpoofedSource : DropReason::NotOurClient);
  }

  // Destination processing (§5.3.1, second half).
  if (!p.ip.dst.isGlobalScope()) {
    return ServerAction::drop(DropReason::DstNotGlobalScope);
  }
  if (const std::optional<DropReason> r = checkForwardable(p, policy)) {
    return ServerAction::drop(*r);
  }
  if (!dstTeredo) {
    if (!policy.forwardNative) {
      return ServerAction::drop(DropReason::NativeForwardDisabled);
    }
    ServerAction a;
    a.kind = ServerAction::Kind::ForwardIpv6;
    return a;
  }
  const TeredoFields dst = decodeTeredo(p.ip.dst);
  // §5.3.1: the embedded client IPv4 must be global (no reflection into private space).
  if (!isGlobalUnicast(dst.mappedAddr, policy.global)) {
    return ServerAction::drop(DropReason::DstIpv4NotGlobal);
  }
  // Loop prevention (S27): never address ourselves, whatever the port.
  if (isOwnAddress(dst.mappedAddr, policy)) {
    return ServerAction::drop(DropReason::DstOwnAddress);
  }
  const bool ourClient = dst.server == policy.primary;
  if (!ourClient && !policy.forwardToOtherServers) {
    return ServerAction::drop(DropReason::OtherServerClient);
  }
  ServerAction a;
  a.kind = ServerAction::Kind::ForwardUdp;
  a.from = ServerSocket::Primary;  // always the primary address (Miredo; clients expect it)
  a.to = dst.mapped();
  a.withOrigin = ourClient;  // origin indication only towards our own clients
  return a;
}

size_t buildServerRa(MutableBytes out, const TeredoPacket& rs, const Endpoint& source,
                     const ServerPolicy& policy, uint16_t mtu) {
  RouterAdvertisementParams params;
  params.prefix = policy.prefix;
  params.serverPrimary = policy.primary;  // §5.3.2: always the primary, even on the secondary
  params.origin = source;
  params.destination = rs.ip.src;
  // Echo the auth header only when the RS had one (Miredo always adds one, with stale bytes).
  params.echoAuth = rs.hasAuth;
  params.nonce = rs.auth.nonce;
  params.mtu = mtu;
  return writeRouterAdvertisement(out, params);
}

}  // namespace teredo

#include "teredo/server.h"

namespace teredo {
namespace {

bool isOwnAddress(uint32_t addr, const ServerPolicy& policy) {
  return addr == policy.primary || addr == policy.secondary;
}

// RFC 4380 §5.3 intends only bubbles and ICMPv6 echo; Miredo caps non-bubble packets at 128
// bytes so that the server is not an open relay (spec §3.3, §9 item 5).
DropReason checkForwardable(const TeredoPacket& p, const ServerPolicy& policy) {
  if (p.isBubble()) {
    return DropReason{};
  }
  if (policy.echoOnly) {
    const Bytes icmp = p.ipv6Payload();
    if (icmp.empty() || (icmp[0] != kIcmpEchoRequest && icmp[0] != kIcmpEchoReply)) {
      return DropReason::Icmpv6TypeNotAllowed;
    }
  }
  if (policy.maxForwardBytes != 0 && p.ipv6.size() > policy.maxForwardBytes) {
    return DropReason::Icmpv6TooBig;
  }
  return DropReason{};
}

constexpr DropReason kOk{};

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
  if (srcTeredo) {
    // Case 5: a Teredo source must embed the UDP source it came from (anti-spoofing).
    if (decodeTeredo(p.ip.src).mapped() != source) {
      return ServerAction::drop(DropReason::SpoofedSource);
    }
  } else if (!(dstTeredo && decodeTeredo(p.ip.dst).server == policy.primary)) {
    // Case 6 accepts a non-Teredo source only towards one of this server's clients (relays'
    // indirect bubbles); case 7 drops everything else.
    return ServerAction::drop(DropReason::NotOurClient);
  }

  // Destination processing (§5.3.1, second half).
  if (!p.ip.dst.isGlobalScope()) {
    return ServerAction::drop(DropReason::DstNotGlobalScope);
  }
  if (const DropReason r = checkForwardable(p, policy); r != kOk) {
    return ServerAction::drop(r);
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

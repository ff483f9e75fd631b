#include "teredo/relay.h"

#include <algorithm>
#include <cstring>
#include <optional>

namespace teredo {
namespace {

// RFC 4443 §3.1: Destination Unreachable, code 3 "address unreachable".
constexpr uint8_t kUnreachableAddress = 3;

// RFC 4443 §2.4(e): no error about an ICMPv6 error, nor about a packet whose source does not
// identify a single node (unspecified or multicast). The destination is never multicast here.
bool icmpErrorAllowed(const Ipv6Header& h, Bytes ipv6) {
  if (h.src.isUnspecified() || h.src.isMulticast()) {
    return false;
  }
  if (h.nextHeader == kNextHeaderIcmpv6 &&
      (ipv6.size() <= kIpv6HeaderSize || ipv6[kIpv6HeaderSize] < 128)) {
    return false;  // an error message (types 0-127) or a truncated one
  }
  return true;
}

void unreachable(const Ipv6Header& h, Bytes ipv6, RelayOutput& out) {
  if (icmpErrorAllowed(h, ipv6)) {
    out.push(Icmpv6Error{kIcmpDestUnreachable, kUnreachableAddress, ipv6});
  }
}

bool served(const RelayParams& p, const Ipv6Addr& dst) {
  for (const Ipv6Prefix& r : p.servedRanges) {
    if (r.contains(dst)) {
      return true;
    }
  }
  return false;
}

// Why the relay will not deliver a packet to native destination `dst` (R26), or nullopt when it
// will: never multicast; never a Teredo address (written to the tun, it would be routed straight
// back into this relay, and the served ranges may well contain the Teredo prefix, e.g. ::/0);
// never another non-global scope (link-local is only for bubbles to our token address); only
// inside the served ranges.
std::optional<DropReason> deliveryRefusal(const RelayParams& p, const Ipv6Addr& dst) {
  if (dst.isMulticast()) {
    return DropReason::DstMulticast;
  }
  if (isTeredo(dst, p.prefix)) {
    return DropReason::DstTeredo;
  }
  if (!dst.isGlobalScope() || !served(p, dst)) {
    return DropReason::DstNotServed;
  }
  return std::nullopt;
}

}  // namespace

bool Ipv6Prefix::contains(const Ipv6Addr& a) const {
  const size_t len = length > 128 ? 128 : length;
  const size_t full = len / 8;
  for (size_t i = 0; i < full; ++i) {
    if (a.bytes[i] != addr.bytes[i]) {
      return false;
    }
  }
  const size_t rest = len % 8;
  if (rest == 0) {
    return true;
  }
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a.bytes[full] & mask) == (addr.bytes[full] & mask);
}

uint64_t tokenEpochOf(RelayTime now, RelayClock::duration epochLength) {
  const auto len = epochLength.count() > 0 ? epochLength.count() : 1;
  const auto t = now.time_since_epoch().count();
  return t > 0 ? static_cast<uint64_t>(t / len) : 0;
}

Ipv6Addr bubbleSourceAddress(const SipKey& key, const Ipv6Addr& peer, uint64_t epoch) {
  uint8_t msg[1 + 8 + 16];
  msg[0] = 'B';
  for (int i = 0; i < 8; ++i) {
    msg[1 + i] = static_cast<uint8_t>(epoch >> (56 - 8 * i));
  }
  std::memcpy(&msg[9], peer.bytes.data(), 16);
  const uint64_t h = sipHash24(key, msg);
  Ipv6Addr a;
  a.bytes[0] = 0xfe;
  a.bytes[1] = 0x80;
  for (int i = 0; i < 8; ++i) {
    a.bytes[8 + i] = static_cast<uint8_t>(h >> (56 - 8 * i));
  }
  a.bytes[8] &= 0xfc;  // clear the Modified EUI-64 u and g bits (RFC 4291 App. A), as Miredo
  return a;
}

bool isValidBubbleToken(const SipKey& key, const Ipv6Addr& peer, const Ipv6Addr& dst, RelayTime now,
                        RelayClock::duration epochLength) {
  // Not secret-dependent timing worth protecting: a mismatch only drops the packet.
  const uint64_t epoch = tokenEpochOf(now, epochLength);
  return dst == bubbleSourceAddress(key, peer, epoch) ||
         (epoch > 0 && dst == bubbleSourceAddress(key, peer, epoch - 1));
}

std::optional<Ipv6Addr> transmitPeerKey(Bytes ipv6) {
  if (ipv6.size() < kIpv6HeaderSize) {
    return std::nullopt;
  }
  return Ipv6Addr::fromBytes(&ipv6[24]);
}

void decideTransmit(Bytes ipv6, const RelayParams& p, PeerState& peer, RelayTime now,
                    RelayOutput& out) {
  out.clear();
  if (ipv6.size() < kIpv6HeaderSize) {
    out.push(Drop{DropReason::TruncatedIpv6});
    return;
  }
  if ((ipv6[0] >> 4) != 6) {
    out.push(Drop{DropReason::NotIpv6});
    return;
  }
  if (ipv6.size() > kMaxTeredoPayload) {
    out.push(Drop{DropReason::TooBig});
    return;
  }
  const Ipv6Header h = decodeIpv6Header(ipv6);
  // RFC 4380 §3.4, §7.3.1: a host-specific relay carries only its host's own traffic.
  if (!p.hostSources.empty() &&
      std::find(p.hostSources.begin(), p.hostSources.end(), h.src) == p.hostSources.end()) {
    out.push(Drop{DropReason::SrcNotServed});
    return;
  }
  // R11 (Miredo): multicast destinations are dropped silently, no ICMPv6 (RFC 4443 §2.4).
  if (h.dst.isMulticast()) {
    out.push(Drop{DropReason::DstMulticast});
    return;
  }
  // RFC 4380 §5.4.1: the destination must be a Teredo address; anything else is a routing
  // mistake: Destination Unreachable, address (R10; the caller rate-limits).
  if (!isTeredo(h.dst, p.prefix)) {
    unreachable(h, ipv6, out);
    out.push(Drop{DropReason::DstNotTeredo});
    return;
  }
  const TeredoFields f = decodeTeredo(h.dst);
  // RFC 4380 §5.4.1: MUST drop when the embedded client IPv4 is not global (R8), and, as Miredo
  // does, when the embedded server IPv4 is zero or not global (R9); both before any state.
  if (!isGlobalUnicast(f.mappedAddr, p.globalPolicy)) {
    out.push(Drop{DropReason::DstIpv4NotGlobal});
    return;
  }
  if (f.server == 0 || !isGlobalUnicast(f.server, p.globalPolicy)) {
    out.push(Drop{DropReason::DstServerNotGlobal});
    return;
  }

  // RFC 4380 §5.2.4: an entry is valid while now - last_rx <= 30 s.
  if (peer.exists && peer.trusted && now - peer.lastRx > p.trustTimeout) {
    peer.trusted = false;  // R5: trust expired, bubble again
  }
  if (peer.exists && peer.trusted) {
    // §5.4.1 case 1 (R4).
    out.push(SendUdp{peer.mapped, ipv6});
    peer.lastTx = now;
    return;
  }
  if (!peer.exists && p.draining) {
    out.push(Drop{DropReason::Draining});  // a draining relay admits no new peers
    return;
  }
  if (p.coneShortcut && f.cone()) {
    // §5.4.1 case 2 (R12, opt-in): trust the embedded mapping and send directly.
    peer.exists = true;
    peer.trusted = true;
    peer.mapped = f.mapped();
    peer.lastRx = now;
    peer.bubbles = 0;
    if (peer.queuedPackets > 0) {
      out.push(FlushQueue{peer.mapped});
    }
    out.push(SendUdp{peer.mapped, ipv6});
    peer.lastTx = now;
    return;
  }

  // §5.4.1 case 3: untrusted entry, queue, bubble within the budget (RFC 4380 §5.2.6).
  peer.exists = true;
  if (peer.bubbles > 0 && now - peer.lastBubble >= p.bubbleBudgetWindow) {
    peer.bubbles = 0;  // the budget window after the last bubble has passed
  }
  const bool spaced = peer.bubbles == 0 || now - peer.lastBubble >= p.bubbleSpacing;
  if (peer.bubbles >= p.bubbleBudget && spaced) {
    // The last bubble got no answer in time: the peer is unreachable (R6, Miredo profile;
    // Miredo drops the queue silently, we report it).
    if (peer.queuedPackets > 0) {
      out.push(DropQueue{DropReason::PeerUnreachable});
    }
    unreachable(h, ipv6, out);
    out.push(Drop{DropReason::PeerUnreachable});
    return;
  }
  out.push(QueuePacket{ipv6});
  if (!spaced) {
    out.push(BubbleSuppressed{});  // a bubble went out less than `bubbleSpacing` ago
    return;
  }
  writeBubble(out.bubble, bubbleSourceAddress(p.bubbleKey, h.dst, tokenEpochOf(now, p.tokenEpoch)),
              h.dst);
  const Bytes bubble(out.bubble.data(), kIpv6HeaderSize);
  out.push(SendBubble{BubbleKind::Indirect, Endpoint{f.server, kTeredoPort}, bubble});
  if (p.behindNat) {
    out.push(SendBubble{BubbleKind::Direct, f.mapped(), bubble});  // R2
  }
  ++peer.bubbles;
  peer.lastBubble = now;
  peer.lastTx = now;
}

void decideReceive(const TeredoPacket& pkt, const Endpoint& udpSrc, const RelayParams& p,
                   PeerState& peer, RelayTime now, RelayOutput& out) {
  out.clear();
  const Ipv6Addr& src = pkt.ip.src;
  const Ipv6Addr& dst = pkt.ip.dst;
  // RFC 4380 §5.4.2 step 2: the source must be a Teredo address (R22).
  if (!isTeredo(src, p.prefix)) {
    out.push(Drop{DropReason::SrcNotTeredo});
    return;
  }
  const TeredoFields f = decodeTeredo(src);
  const bool bubble = pkt.isBubble();
  const bool trustedNow = peer.exists && peer.trusted && now - peer.lastRx <= p.trustTimeout;
  // Anti-spoofing (RFC 4380 §5.4.2): embedded mapping == UDP source, or a trusted peer's learned
  // mapping (R20). Symmetric NAT (RFC 6081 §5.2, R24): the peer's NAT may give it another port
  // towards us than towards its server, so a bubble from the embedded IPv4 address on another
  // port is accepted when it answers the token we put in the source of the bubble we sent to
  // this very Teredo address, this epoch or the last, and that bubble is still unanswered.
  // Everything else (R21, R27) is dropped without touching the entry: another IPv4 address can
  // never re-point an entry, whatever it sends.
  if (f.mapped() != udpSrc && !(trustedNow && peer.mapped == udpSrc)) {
    const bool tokenReply = bubble && udpSrc.addr == f.mappedAddr && peer.exists && !trustedNow &&
                            peer.bubbles > 0 && dst.isLinkLocal() &&
                            isValidBubbleToken(p.bubbleKey, src, dst, now, p.tokenEpoch);
    if (!tokenReply) {
      out.push(Drop{DropReason::SpoofedSource});
      return;
    }
  }
  // Step 3: relays may drop packets from peers they never sent to (R23).
  if (!peer.exists && !p.acceptUnknownPeers) {
    out.push(Drop{DropReason::UnknownPeer});
    return;
  }
  // Step 4: trusted, mapping = packet source, last_rx, bubbles reset, flush the queue (R3).
  const RelayTime lastAnswer = peer.lastBubble;
  peer.exists = true;
  peer.trusted = true;
  peer.mapped = udpSrc;
  peer.lastRx = now;
  peer.bubbles = 0;
  if (peer.queuedPackets > 0) {
    out.push(FlushQueue{udpSrc});
    peer.lastTx = now;
  }
  // Step 5: bubbles are consumed (R25).
  if (bubble) {
    // RFC 6081 Server Load Reduction: a direct bubble carrying a Neighbor Discovery Option
    // solicitation is answered with a direct bubble carrying an advertisement, so the peer needs
    // no indirect bubble through its server. Answered for destinations the relay stands for (its
    // token, or a native address it serves), at most once per bubble spacing per peer; the
    // answer is no larger than the solicitation, so it amplifies nothing.
    if (pkt.trailer.hasDiscovery && pkt.trailer.discoveryType == kDiscoverySolicitation &&
        (dst.isLinkLocal() || !deliveryRefusal(p, dst)) &&
        (lastAnswer == RelayTime{} || now - lastAnswer >= p.bubbleSpacing)) {
      const size_t size = writeBubble(out.bubble, dst, src) +
                          writeDiscoveryTrailer(MutableBytes(out.bubble).subspan(kIpv6HeaderSize),
                                                kDiscoveryAdvertisement);
      out.push(SendBubble{BubbleKind::Direct, udpSrc, Bytes(out.bubble.data(), size)});
      peer.lastBubble = now;
      peer.lastTx = now;
    }
    out.push(ConsumeBubble{});
    return;
  }
  if (const std::optional<DropReason> r = deliveryRefusal(p, dst)) {
    out.push(Drop{*r});
    return;
  }
  out.push(WriteTun{pkt.ipv6});
}

}  // namespace teredo

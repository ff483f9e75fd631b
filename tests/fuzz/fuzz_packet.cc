// libFuzzer target: every byte string a Teredo socket can receive goes through the parser and
// the RFC 6081 trailer walk, the server decision, the RA builder and the RS checks, and the
// relay's decisions in both directions (as a datagram from a client, and as an IPv6 packet from
// the tun). Any crash, sanitizer report or broken invariant (__builtin_trap) is a bug.
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "teredo/packet.h"
#include "teredo/relay.h"
#include "teredo/server.h"

namespace {

using namespace teredo;

// Every bubble the relay decides to send parses as a bubble, and an answer to a client (Server
// Load Reduction) is never larger than what asked for it: the relay amplifies nothing.
void checkRelayOutput(const RelayOutput& out, size_t inputSize) {
  for (const RelayAction& action : out.actions()) {
    if (const auto* b = std::get_if<SendBubble>(&action)) {
      const Result<TeredoPacket> bubble = parsePacket(b->payload);
      if (!bubble || !bubble->isBubble() ||
          (b->kind == BubbleKind::Direct && b->payload.size() > inputSize)) {
        __builtin_trap();
      }
    }
  }
}

void relayDecisions(const uint8_t sel, Bytes datagram, const Result<TeredoPacket>& p,
                    const Endpoint& source) {
  static const Ipv6Prefix kAll{Ipv6Addr{}, 0};
  RelayParams params;
  params.servedRanges = {&kAll, 1};
  params.acceptUnknownPeers = (sel & 4) != 0;
  params.behindNat = (sel & 2) != 0;
  params.coneShortcut = (sel & 1) != 0;
  const RelayTime now = RelayTime{} + std::chrono::hours(1);
  PeerState peer;
  peer.exists = (sel & 8) != 0;
  peer.trusted = (sel & 16) != 0;
  peer.bubbles = (sel & 32) != 0 ? 1 : 0;
  peer.mapped = source;
  peer.lastRx = now - std::chrono::seconds(5);
  peer.lastBubble = now - std::chrono::seconds(sel & 7);
  peer.queuedPackets = sel & 3;
  RelayOutput out;
  if (p) {
    PeerState st = peer;
    decideReceive(*p, source, params, st, now, out);
    checkRelayOutput(out, datagram.size());
  }
  // The same bytes as an IPv6 packet read from the tun.
  PeerState st = peer;
  decideTransmit(datagram, params, st, now, out);
  checkRelayOutput(out, SIZE_MAX);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace teredo;
  if (size < 1) {
    return 0;
  }
  // The first byte picks the socket, the source and policy switches, so all paths are reached.
  const uint8_t sel = data[0];
  const Bytes datagram(data + 1, size - 1);
  // The trailer walk on its own, over any bytes.
  (void)parseTrailers(datagram, (sel & 1) != 0);
  const Result<TeredoPacket> p = parsePacket(datagram);
  if (!p) {
    relayDecisions(sel, datagram, p, Endpoint{0xCB007102u, 40000});
    return 0;
  }
  ServerPolicy policy;
  policy.primary = 0xC6336400 | 10;
  policy.secondary = policy.primary + 1;
  policy.strictRs = (sel & 1) != 0;
  policy.echoOnly = (sel & 2) != 0;
  policy.forwardToOtherServers = (sel & 4) != 0;
  policy.maxForwardBytes = (sel & 8) != 0 ? 128 : 0;
  policy.maxBubbleBytes = (sel & 8) != 0 ? 128 : 0;
  Endpoint source{(sel & 16) != 0 ? 0xCB007102u : 0x0A000001u, static_cast<uint16_t>(sel * 257)};
  if ((sel & 32) != 0 && isTeredo(p->ip.src, policy.prefix)) {
    source = decodeTeredo(p->ip.src).mapped();  // reach the accept paths of case 5
  }
  const ServerSocket socket = (sel & 64) != 0 ? ServerSocket::Secondary : ServerSocket::Primary;
  const ServerAction a = decideServer(*p, source, socket, policy);
  uint8_t out[256];
  if (a.kind == ServerAction::Kind::SendRa) {
    const size_t n = buildServerRa(out, *p, source, policy, (sel & 128) != 0 ? 1280 : 0);
    if (n == 0 || !parsePacket(Bytes(out, n))) {
      __builtin_trap();  // an RA we build must always parse
    }
  }
  (void)checkRouterSolicitation(*p, true);
  (void)dropReasonLabel(a.reason);
  relayDecisions(sel, datagram, p, source);
  return 0;
}

// Teredo -> IPv6 decisions (RFC 4380 §5.4.2; checks R20-R27), table by table.
#include <gtest/gtest.h>

#include "relay_test_util.h"

namespace teredo::relaytest {
namespace {

const Ipv6Addr kNative = v6("2001:db8::1");
const Ipv6Prefix kServeAll{Ipv6Addr{}, 0};

struct Rx {
  std::vector<uint8_t> datagram;
  TeredoPacket pkt;
};

Rx parse(std::vector<uint8_t> d) {
  Rx r{std::move(d), {}};
  auto p = parsePacket(r.datagram);
  EXPECT_TRUE(p.ok());
  r.pkt = p.value();
  return r;
}

RelayParams params(std::span<const Ipv6Prefix> served = {&kServeAll, 1}) {
  RelayParams p;
  p.bubbleKey = testKey();
  p.servedRanges = served;
  return p;
}

PeerState trustedPeer(Endpoint mapped, RelayTime lastRx = kT0 - seconds(5)) {
  PeerState s;
  s.exists = true;
  s.trusted = true;
  s.mapped = mapped;
  s.lastRx = lastRx;
  return s;
}

PeerState untrustedPeer(uint32_t queued = 0) {
  PeerState s;
  s.exists = true;
  s.bubbles = 1;
  s.lastBubble = kT0 - seconds(1);
  s.queuedPackets = queued;
  return s;
}

DropReason dropOf(const RelayOutput& out) {
  const Drop* d = out.find<Drop>();
  EXPECT_NE(d, nullptr);
  return d != nullptr ? d->reason : DropReason::SendFailed;
}

// R20: a trusted peer, from its learned mapping -> delivered to IPv6, last_rx updated. RFC 6081
// trailers are not written to tun.
TEST(RelayReceive, R20_TrustedPeerDelivered) {
  const Endpoint learned{v4("203.0.113.7"), 61000};  // e.g. learned from a token bubble
  struct Case {
    const char* name;
    Endpoint udpSrc;
    PeerState peer;
    bool trailers;
  };
  const Case cases[] = {
      {"learned mapping", learned, trustedPeer(learned), false},
      {"embedded mapping", e1Mapped(), trustedPeer(e1Mapped()), false},
      {"with trailers", e1Mapped(), trustedPeer(e1Mapped()), true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto bytes = ipv6Packet(e1NonCone(), kNative);
    const size_t ipLen = bytes.size();
    if (c.trailers) {
      bytes.insert(bytes.end(), {0x01, 0x04, 1, 2, 3, 4});
    }
    Rx rx = parse(bytes);
    PeerState st = c.peer;
    RelayOutput out;
    decideReceive(rx.pkt, c.udpSrc, params(), st, kT0, out);
    ASSERT_EQ(out.size(), 1u);
    const WriteTun* w = out.find<WriteTun>();
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->packet.size(), ipLen);
    EXPECT_EQ(st.lastRx, kT0);
    EXPECT_TRUE(st.trusted);
    EXPECT_EQ(st.mapped, c.udpSrc);
  }
}

// R21: the source's Teredo mapping differs from the UDP source -> dropped (spoofed).
TEST(RelayReceive, R21_SpoofedMappingDropped) {
  struct Case {
    const char* name;
    Endpoint udpSrc;
    PeerState peer;
  };
  const Case cases[] = {
      {"unknown peer, port off by one", Endpoint{0xC000022D, 40001}, PeerState{}},
      {"unknown peer, other address", Endpoint{v4("203.0.113.5"), 40000}, PeerState{}},
      {"untrusted entry", Endpoint{0xC000022D, 40001}, untrustedPeer()},
      {"trust lapsed, learned mapping", Endpoint{v4("203.0.113.7"), 61000},
       trustedPeer(Endpoint{v4("203.0.113.7"), 61000}, kT0 - seconds(31))},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    for (bool bubble : {false, true}) {
      Rx rx = parse(bubble ? bubblePacket(e1NonCone(), kNative) : ipv6Packet(e1NonCone(), kNative));
      PeerState st = c.peer;
      RelayOutput out;
      decideReceive(rx.pkt, c.udpSrc, params(), st, kT0, out);
      ASSERT_EQ(out.size(), 1u);
      EXPECT_EQ(dropOf(out), DropReason::SpoofedSource);
      EXPECT_EQ(st, c.peer);  // no state change
    }
  }
}

// R22: a non-Teredo IPv6 source -> dropped.
TEST(RelayReceive, R22_NonTeredoSourceDropped) {
  for (const char* src : {"2001:db8::5", "fe80::1", "2002:c000:22d::1", "::", "2001:1::1"}) {
    SCOPED_TRACE(src);
    Rx rx = parse(ipv6Packet(v6(src), kNative));
    PeerState st = trustedPeer(e1Mapped());
    const PeerState before = st;
    RelayOutput out;
    decideReceive(rx.pkt, e1Mapped(), params(), st, kT0, out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(dropOf(out), DropReason::SrcNotTeredo);
    EXPECT_EQ(st, before);
  }
}

// R23: valid Teredo source with a matching mapping but no entry: dropped (Miredo policy, the
// default) or accepted when configured. Pinned both ways.
TEST(RelayReceive, R23_UnknownPeerPolicy) {
  struct Case {
    bool accept;
    bool delivered;
  };
  for (const Case c : {Case{false, false}, Case{true, true}}) {
    SCOPED_TRACE(c.accept);
    RelayParams p = params();
    p.acceptUnknownPeers = c.accept;
    Rx rx = parse(ipv6Packet(e1NonCone(), kNative));
    PeerState st;
    RelayOutput out;
    decideReceive(rx.pkt, e1Mapped(), p, st, kT0, out);
    EXPECT_EQ(out.count<WriteTun>(), c.delivered ? 1u : 0u);
    EXPECT_EQ(st.exists, c.accept);
    if (!c.accept) {
      EXPECT_EQ(dropOf(out), DropReason::UnknownPeer);
    } else {
      EXPECT_TRUE(st.trusted);
      EXPECT_EQ(st.mapped, e1Mapped());
    }
  }
}

// R24: symmetric NAT (RFC 6081 §5.2): the reply bubble comes from the embedded IPv4 address but
// another port, addressed to the token of the bubble we sent -> accepted, mapping learned from the
// UDP source. Anything that is not exactly that is dropped and leaves the entry alone.
TEST(RelayReceive, R24_SymmetricNatTokenBubble) {
  const Endpoint newPort{0xC000022D, 51234};
  const Ipv6Addr token = tokenFor(e1NonCone());
  Ipv6Addr flipped = token;
  flipped.bytes[15] ^= 0x01;
  struct Case {
    const char* name;
    std::vector<uint8_t> datagram;
    bool accepted;
  };
  const Case cases[] = {
      {"valid token", bubblePacket(e1NonCone(), token), true},
      {"valid token, RFC 6081 trailer",
       [&] {
         auto b = bubblePacket(e1NonCone(), token);
         b.insert(b.end(), {0x01, 0x04, 9, 9, 9, 9});
         return b;
       }(),
       true},
      {"wrong token", bubblePacket(e1NonCone(), flipped), false},
      {"token of another address",
       bubblePacket(e1NonCone(), tokenFor(teredoAddr(e1Server().addr, newPort))), false},
      {"not a link-local destination", bubblePacket(e1NonCone(), kNative), false},
      {"data packet to the token", ipv6Packet(e1NonCone(), token), false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Rx rx = parse(c.datagram);
    PeerState st = untrustedPeer(2);
    const PeerState before = st;
    RelayOutput out;
    decideReceive(rx.pkt, newPort, params(), st, kT0, out);
    if (c.accepted) {
      ASSERT_EQ(out.size(), 2u);
      ASSERT_NE(out.find<FlushQueue>(), nullptr);
      EXPECT_EQ(out.find<FlushQueue>()->dst, newPort);
      EXPECT_EQ(out.count<ConsumeBubble>(), 1u);
      EXPECT_TRUE(st.trusted);
      EXPECT_EQ(st.mapped, newPort);
      EXPECT_EQ(st.bubbles, 0);
    } else {
      EXPECT_EQ(dropOf(out), DropReason::SpoofedSource);
      EXPECT_EQ(st, before);
    }
  }
  // End to end with the table: later data from the learned port is accepted (R20 exception)
  // and replies go to the learned port.
  Harness h;
  h.transmit(ipv6Packet(kNative, e1NonCone()), kT0);
  h.receive(bubblePacket(e1NonCone(), token), newPort, kT0 + seconds(1));
  ASSERT_EQ(h.wire.back().kind, WireEvent::Udp);
  EXPECT_EQ(h.wire.back().dst, newPort);
  h.receive(ipv6Packet(e1NonCone(), kNative), newPort, kT0 + seconds(2));
  EXPECT_EQ(h.wire.back().kind, WireEvent::Tun);
}

// Issue 9, hole 1 (relay hijack): the token path can never re-point a peer to another IPv4
// address, nor be used with a token obtained for another Teredo address, nor outside an
// unanswered bubble, nor with a stale token. Each row failed before the token was bound.
TEST(RelayReceive, R24_TokenCannotHijackAPeer) {
  const Ipv6Addr victim = e1NonCone();
  const TeredoFields vf = decodeTeredo(victim);
  const Endpoint attacker{v4("203.0.113.66"), 3544};
  // The attacker names its own host as the server of an address with the victim's mapping and
  // so receives the indirect bubble, and its token, itself.
  const Ipv6Addr lure = teredoAddr(attacker.addr, vf.mapped());
  struct Case {
    const char* name;
    Ipv6Addr dst;
    Endpoint from;
    PeerState peer;
    RelayTime at;
  };
  const Case cases[] = {
      {"victim's token, from another IPv4", tokenFor(victim), attacker, untrustedPeer(2), kT0},
      {"victim's token, another IPv4, victim's port", tokenFor(victim),
       Endpoint{attacker.addr, vf.mappedPort}, untrustedPeer(2), kT0},
      {"token of the lure address, from another IPv4", tokenFor(lure), attacker, untrustedPeer(2),
       kT0},
      {"token of the lure address, victim's IPv4 other port", tokenFor(lure),
       Endpoint{vf.mappedAddr, 51234}, untrustedPeer(2), kT0},
      {"valid token, peer trusted (no bubble outstanding)", tokenFor(victim),
       Endpoint{vf.mappedAddr, 51234}, trustedPeer(vf.mapped()), kT0},
      {"valid token, no bubble sent yet", tokenFor(victim), Endpoint{vf.mappedAddr, 51234},
       [] {
         PeerState s;
         s.exists = true;
         return s;
       }(),
       kT0},
      {"valid token, no entry", tokenFor(victim), Endpoint{vf.mappedAddr, 51234}, PeerState{}, kT0},
      {"stale token (two epochs old)", tokenFor(victim), Endpoint{vf.mappedAddr, 51234},
       untrustedPeer(2), kT0 + 2 * kDefaultTokenEpoch},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Rx rx = parse(bubblePacket(victim, c.dst));
    PeerState st = c.peer;
    const PeerState before = st;
    RelayOutput out;
    RelayParams p = params();
    p.acceptUnknownPeers = true;  // even the permissive policy gives nothing away
    decideReceive(rx.pkt, c.from, p, st, c.at, out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(dropOf(out), DropReason::SpoofedSource);
    EXPECT_EQ(st, before);
  }
  // The whole attack through the peer table: the victim is trusted, the attacker lures the
  // relay into bubbling the lure address, answers for the victim from its own address, then
  // sends data as the victim. Nothing moves: replies still go to the victim's mapping.
  Harness h;
  h.transmit(ipv6Packet(kNative, victim), kT0);
  h.receive(bubblePacket(victim, tokenFor(victim)), vf.mapped(), kT0);
  h.transmit(ipv6Packet(kNative, lure), kT0 + seconds(1));
  h.receive(bubblePacket(victim, tokenFor(lure)), attacker, kT0 + seconds(2));
  h.receive(ipv6Packet(victim, kNative), attacker, kT0 + seconds(2));
  h.wire.clear();
  h.transmit(ipv6Packet(kNative, victim), kT0 + seconds(3));
  ASSERT_EQ(h.wire.size(), 1u);
  EXPECT_EQ(h.wire[0].kind, WireEvent::Udp);
  EXPECT_EQ(h.wire[0].dst, vf.mapped());
}

// R25: a bubble from a trusted peer is consumed, never delivered to IPv6.
TEST(RelayReceive, R25_BubbleConsumed) {
  for (const char* dst : {"2001:db8::1", "fe80::1", "ff02::1"}) {
    SCOPED_TRACE(dst);
    Rx rx = parse(bubblePacket(e1NonCone(), v6(dst)));
    PeerState st = trustedPeer(e1Mapped());
    RelayOutput out;
    decideReceive(rx.pkt, e1Mapped(), params(), st, kT0, out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out.count<ConsumeBubble>(), 1u);
    EXPECT_EQ(st.lastRx, kT0);
  }
}

// R26: only destinations in the served ranges reach IPv6; never multicast; link-local only for
// bubbles. Host-specific mode (RFC 4380 §3.4): the served ranges are the host's own addresses.
TEST(RelayReceive, R26_ServedRanges) {
  const Ipv6Prefix site[] = {{v6("2001:db8:1::"), 48}, {v6("2001:db8:ff00::"), 40}};
  const Ipv6Prefix host[] = {{v6("2001:db8::10"), 128}};
  const Ipv6Prefix kTeredoWide[] = {{v6("2001::"), 16}};
  struct Case {
    const char* name;
    std::span<const Ipv6Prefix> served;
    const char* dst;
    bool delivered;
    DropReason reason;
  };
  const Case cases[] = {
      {"in /48", site, "2001:db8:1::5", true, DropReason::None},
      {"in /40", site, "2001:db8:ffab::1", true, DropReason::None},
      {"outside", site, "2001:db8:2::1", false, DropReason::DstNotServed},
      {"edge of /40", site, "2001:db8:fe00::1", false, DropReason::DstNotServed},
      {"host: own address", host, "2001:db8::10", true, DropReason::None},
      {"host: neighbour", host, "2001:db8::11", false, DropReason::DstNotServed},
      {"none configured", {}, "2001:db8:1::5", false, DropReason::DstNotServed},
      {"serve all: link-local", {&kServeAll, 1}, "fe80::1", false, DropReason::DstNotServed},
      {"serve all: loopback", {&kServeAll, 1}, "::1", false, DropReason::DstNotServed},
      {"serve all: multicast", {&kServeAll, 1}, "ff0e::1", false, DropReason::DstMulticast},
      // Issue 9, hole 5: ::/0 contains the Teredo prefix; a Teredo destination written to the
      // tun would be routed straight back into the relay.
      {"serve all: Teredo destination",
       {&kServeAll, 1},
       "2001:0:4136:e378:0:63bf:3fff:fdd3",
       false,
       DropReason::DstTeredo},
      {"serve 2001::/16: Teredo destination", kTeredoWide, "2001:0:4136:e378:0:63bf:3fff:fdd3",
       false, DropReason::DstTeredo},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Rx rx = parse(ipv6Packet(e1NonCone(), v6(c.dst)));
    PeerState st = trustedPeer(e1Mapped());
    RelayOutput out;
    decideReceive(rx.pkt, e1Mapped(), params(c.served), st, kT0, out);
    EXPECT_EQ(out.count<WriteTun>(), c.delivered ? 1u : 0u);
    if (!c.delivered) {
      EXPECT_EQ(dropOf(out), c.reason);
    }
  }
}

// R27: a trusted peer sends from a new port (NAT rebinding), so neither its embedded nor its
// learned mapping matches: not accepted and its entry is left alone. It is accepted again
// through a Teredo-address match or a bubble exchange.
TEST(RelayReceive, R27_RebindingNotTrusted) {
  const Endpoint rebound{0xC000022D, 40002};
  const PeerState peer = trustedPeer(e1Mapped());
  for (bool bubble : {false, true}) {
    Rx rx = parse(bubble ? bubblePacket(e1NonCone(), kNative) : ipv6Packet(e1NonCone(), kNative));
    PeerState st = peer;
    RelayOutput out;
    decideReceive(rx.pkt, rebound, params(), st, kT0, out);
    EXPECT_EQ(dropOf(out), DropReason::SpoofedSource);
    EXPECT_EQ(st, peer);
  }
  // Its answer to our token from the new port is refused while the entry is trusted (we sent
  // no bubble); once trust has lapsed and we bubbled again, the same answer is accepted.
  Rx rx = parse(bubblePacket(e1NonCone(), tokenFor(e1NonCone())));
  PeerState st = peer;
  RelayOutput out;
  decideReceive(rx.pkt, rebound, params(), st, kT0, out);
  EXPECT_EQ(dropOf(out), DropReason::SpoofedSource);
  EXPECT_EQ(st, peer);
  Harness h;
  h.transmit(ipv6Packet(kNative, e1NonCone()), kT0);
  h.receive(bubblePacket(e1NonCone(), tokenFor(e1NonCone())), e1Mapped(), kT0);
  const RelayTime later = kT0 + seconds(40);  // trust lapsed (30 s)
  h.wire.clear();
  h.transmit(ipv6Packet(kNative, e1NonCone()), later);
  ASSERT_EQ(countKind(h.wire, WireEvent::Bubble), 1);
  h.receive(bubblePacket(e1NonCone(), tokenFor(e1NonCone(), later)), rebound, later);
  ASSERT_EQ(h.wire.back().kind, WireEvent::Udp);
  EXPECT_EQ(h.wire.back().dst, rebound);
}

// RFC 6081 Server Load Reduction: a direct bubble with a Neighbor Discovery Option solicitation
// from a peer we know is answered with a direct bubble carrying an advertisement, to where it
// came from; nothing else is answered.
TEST(RelayReceive, ServerLoadReductionAdvertisement) {
  auto solicitation = [](const Ipv6Addr& dst, uint8_t type) {
    auto b = bubblePacket(e1NonCone(), dst);
    b.insert(b.end(), {0x04, 0x04, type, 0, 0, 0});
    return b;
  };
  struct Case {
    const char* name;
    std::vector<uint8_t> datagram;
    RelayTime lastBubble;
    bool answered;
  };
  const Case cases[] = {
      {"solicitation to a native host", solicitation(kNative, 0), RelayTime{}, true},
      {"solicitation to our token", solicitation(tokenFor(e1NonCone()), 0), RelayTime{}, true},
      {"advertisement", solicitation(kNative, 1), RelayTime{}, false},
      {"plain bubble", bubblePacket(e1NonCone(), kNative), RelayTime{}, false},
      {"solicitation to a Teredo address", solicitation(e1(), 0), RelayTime{}, false},
      {"solicitation to multicast", solicitation(v6("ff02::1"), 0), RelayTime{}, false},
      {"answered one second ago", solicitation(kNative, 0), kT0 - seconds(1), false},
      {"answered three seconds ago", solicitation(kNative, 0), kT0 - seconds(3), true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Rx rx = parse(c.datagram);
    PeerState st = trustedPeer(e1Mapped());
    st.lastBubble = c.lastBubble;
    RelayOutput out;
    decideReceive(rx.pkt, e1Mapped(), params(), st, kT0, out);
    EXPECT_EQ(out.count<ConsumeBubble>(), 1u);
    const SendBubble* b = out.find<SendBubble>();
    ASSERT_EQ(b != nullptr, c.answered);
    if (b == nullptr) {
      continue;
    }
    EXPECT_EQ(b->kind, BubbleKind::Direct);
    EXPECT_EQ(b->dst, e1Mapped());
    auto reply = parsePacket(b->payload);
    ASSERT_TRUE(reply.ok());
    EXPECT_TRUE(reply->isBubble());
    EXPECT_EQ(reply->ip.src, rx.pkt.ip.dst);
    EXPECT_EQ(reply->ip.dst, e1NonCone());
    EXPECT_TRUE(reply->trailer.hasDiscovery);
    EXPECT_EQ(reply->trailer.discoveryType, kDiscoveryAdvertisement);
    EXPECT_LE(b->payload.size(), c.datagram.size());  // never larger than what asked for it
    EXPECT_EQ(st.lastBubble, kT0);
  }
  // An unknown peer gets nothing (R23 first).
  Rx rx = parse(solicitation(kNative, 0));
  PeerState st;
  RelayOutput out;
  decideReceive(rx.pkt, e1Mapped(), params(), st, kT0, out);
  EXPECT_EQ(dropOf(out), DropReason::UnknownPeer);
}

}  // namespace
}  // namespace teredo::relaytest

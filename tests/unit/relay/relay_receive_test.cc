// Teredo -> IPv6 decisions (RFC 4380 §5.4.2; spec §5.4, checks R20-R27), table by table.
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

// R24: symmetric NAT: the reply bubble comes from the same IPv4 but another port, addressed to
// our bubble token -> accepted, mapping learned from the UDP source. A wrong token -> dropped.
TEST(RelayReceive, R24_SymmetricNatTokenBubble) {
  const Endpoint newPort{0xC000022D, 51234};
  const Ipv6Addr token = bubbleSourceAddress(testKey(), e1Mapped());
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
      {"token of another mapping",
       bubblePacket(e1NonCone(), bubbleSourceAddress(testKey(), newPort)), false},
      {"not a link-local destination", bubblePacket(e1NonCone(), kNative), false},
      {"data packet to the token", ipv6Packet(e1NonCone(), token), false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Rx rx = parse(c.datagram);
    PeerState st = untrustedPeer(2);
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
      EXPECT_FALSE(st.trusted);
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
// bubbles. Host-specific mode (spec §5.6): the served ranges are the host's own addresses.
TEST(RelayReceive, R26_ServedRanges) {
  const Ipv6Prefix site[] = {{v6("2001:db8:1::"), 48}, {v6("2001:db8:ff00::"), 40}};
  const Ipv6Prefix host[] = {{v6("2001:db8::10"), 128}};
  struct Case {
    const char* name;
    std::span<const Ipv6Prefix> served;
    const char* dst;
    bool delivered;
    DropReason reason;
  };
  const Case cases[] = {
      {"in /48", site, "2001:db8:1::5", true, {}},
      {"in /40", site, "2001:db8:ffab::1", true, {}},
      {"outside", site, "2001:db8:2::1", false, DropReason::DstNotServed},
      {"edge of /40", site, "2001:db8:fe00::1", false, DropReason::DstNotServed},
      {"host: own address", host, "2001:db8::10", true, {}},
      {"host: neighbour", host, "2001:db8::11", false, DropReason::DstNotServed},
      {"none configured", {}, "2001:db8:1::5", false, DropReason::DstNotServed},
      {"serve all: link-local", {&kServeAll, 1}, "fe80::1", false, DropReason::DstNotServed},
      {"serve all: loopback", {&kServeAll, 1}, "::1", false, DropReason::DstNotServed},
      {"serve all: multicast", {&kServeAll, 1}, "ff0e::1", false, DropReason::DstMulticast},
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
  // Bubble exchange: the peer answers our token from the new port.
  Rx rx = parse(bubblePacket(e1NonCone(), bubbleSourceAddress(testKey(), e1Mapped())));
  PeerState st = peer;
  RelayOutput out;
  decideReceive(rx.pkt, rebound, params(), st, kT0, out);
  EXPECT_EQ(out.count<ConsumeBubble>(), 1u);
  EXPECT_EQ(st.mapped, rebound);
}

}  // namespace
}  // namespace teredo::relaytest

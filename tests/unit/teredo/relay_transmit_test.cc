// IPv6 -> Teredo decisions (RFC 4380 §5.4.1; checks R1-R13), table by table.
// docs/conformance.md lists R1-R13 (this file) and R20-R27 (relay_receive_test.cc); R14-R19
// are not used.
#include <gtest/gtest.h>

#include "relay_test_util.h"

namespace teredo::relaytest {
namespace {

const Ipv6Addr kNative = v6("2001:db8::1");

RelayParams params() {
  RelayParams p;
  p.bubbleKey = testKey();
  return p;
}

// ---------------------------------------------------------------------------------------------
// Bubble bytes and the token address (docs/server-policies.md).

TEST(RelayBubble, SourceAddressLayout) {
  const uint64_t epoch = tokenEpochOf(kT0, kDefaultTokenEpoch);
  EXPECT_EQ(epoch, 3600u / 64u);
  const Ipv6Addr a = bubbleSourceAddress(testKey(), e1NonCone(), epoch);
  // fe80::/64, then 8 bytes of SipHash-2-4(key, 'B' || epoch (8 bytes) || peer (16 bytes)),
  // u/g bits cleared.
  std::vector<uint8_t> msg = {'B', 0, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(epoch)};
  const Ipv6Addr peer = e1NonCone();
  msg.insert(msg.end(), peer.bytes.begin(), peer.bytes.end());
  const uint64_t h = sipHash24(testKey(), msg);
  Ipv6Addr expected;
  expected.bytes[0] = 0xfe;
  expected.bytes[1] = 0x80;
  for (int i = 0; i < 8; ++i) {
    expected.bytes[8 + i] = static_cast<uint8_t>(h >> (56 - 8 * i));
  }
  expected.bytes[8] &= 0xfc;
  EXPECT_EQ(a, expected);
  EXPECT_TRUE(a.isLinkLocal());
  EXPECT_EQ(a.bytes[8] & 0x03, 0);
  // u and g are cleared for every peer, and the rest of byte 8 is hash bits.
  uint8_t seenHigh = 0;
  for (uint16_t port = 1; port <= 64; ++port) {
    const Ipv6Addr t =
        bubbleSourceAddress(testKey(), teredoAddr(v4("198.51.100.1"), {0xCB007101, port}), epoch);
    EXPECT_EQ(t.bytes[8] & 0x03, 0) << port;
    seenHigh |= t.bytes[8];
  }
  EXPECT_EQ(seenHigh, 0xfc);
}

// The token covers the whole Teredo address and rotates: valid in its epoch and the next only.
TEST(RelayBubble, TokenBindsAddressAndEpoch) {
  const Ipv6Addr peer = e1NonCone();
  const Ipv6Addr token = tokenFor(peer);
  const auto epoch = kDefaultTokenEpoch;
  EXPECT_TRUE(isValidBubbleToken(testKey(), peer, token, kT0, epoch));
  // Issued in one epoch, still valid in the next (a reply that crosses the boundary).
  EXPECT_TRUE(isValidBubbleToken(testKey(), peer, token, kT0 + epoch, epoch));
  // Two epochs later: stale.
  EXPECT_FALSE(isValidBubbleToken(testKey(), peer, token, kT0 + 2 * epoch, epoch));
  // Not valid before it was issued either (no epoch wrap-around games).
  EXPECT_FALSE(isValidBubbleToken(testKey(), peer, token, kT0 - epoch, epoch));
  struct Case {
    const char* name;
    Ipv6Addr other;
  };
  const TeredoFields f = decodeTeredo(peer);
  const Case cases[] = {
      // The hijack of issue 9: the same mapping behind another server field (the attacker's
      // own address) gets a token that says nothing about the victim's address.
      {"same mapping, other server", teredoAddr(v4("203.0.113.66"), f.mapped())},
      {"same mapping, cone flag", teredoAddr(f.server, f.mapped(), kFlagCone)},
      {"same mapping, random flag bits", teredoAddr(f.server, f.mapped(), 0x0123)},
      {"other port", teredoAddr(f.server, Endpoint{f.mappedAddr, 40001})},
      {"other address", teredoAddr(f.server, Endpoint{f.mappedAddr + 1, f.mappedPort})},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_FALSE(isValidBubbleToken(testKey(), c.other, token, kT0, epoch));
    EXPECT_NE(tokenFor(c.other), token);
  }
  SipKey other = testKey();
  other.bytes[0] ^= 1;
  EXPECT_FALSE(isValidBubbleToken(other, peer, token, kT0, epoch));
}

TEST(RelayBubble, ByteExactBubbleToE1) {
  PeerState st;
  RelayOutput out;
  const auto pkt = ipv6Packet(kNative, e1NonCone());
  decideTransmit(pkt, params(), st, kT0, out);
  const SendBubble* b = out.find<SendBubble>();
  ASSERT_NE(b, nullptr);
  const Ipv6Addr src = tokenFor(e1NonCone());
  // 6000000000003b00 | fe80::<token> | 2001:0000:4136:e378:0000:63bf:3fff:fdd2.
  EXPECT_EQ(hex(b->payload),
            "6000000000003b00" + hex(src.bytes) + "200100004136e378000063bf3ffffdd2");
  // Pinned once for key 00..0f at kT0 (regression guard for the token derivation).
  EXPECT_EQ(hex(src.bytes), "fe800000000000002cb69b58a550c6c8");
}

// ---------------------------------------------------------------------------------------------

// R1: first packet to a C=0 destination, relay with a public address: exactly one indirect
// bubble (src = bubble address, dst = D) to <D server>:3544, no direct bubble, packet queued.
TEST(RelayTransmit, R1_FirstPacketIndirectBubbleOnlyAndQueued) {
  struct Case {
    const char* name;
    Ipv6Addr dst;
    Endpoint server;
    Endpoint mapped;
  };
  const Case cases[] = {
      {"E1 with C=0", e1NonCone(), e1Server(), e1Mapped()},
      {"E3 RFC 5991 random flags", v6("2001:0:53aa:64c:182a:7b61:8da4:263d"),
       Endpoint{v4("83.170.6.76"), 3544}, Endpoint{v4("114.91.217.194"), 33950}},
      {"E2 Miredo README", v6("2001:0:8ac3:9ddd:0:7ffa:ad80:3464"),
       Endpoint{v4("138.195.157.221"), 3544}, Endpoint{v4("82.127.203.155"), 32773}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    PeerState st;
    RelayOutput out;
    const auto pkt = ipv6Packet(kNative, c.dst);
    decideTransmit(pkt, params(), st, kT0, out);
    ASSERT_EQ(out.size(), 2u);
    const QueuePacket* q = std::get_if<QueuePacket>(&out.actions()[0]);
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->packet.data(), pkt.data());
    EXPECT_EQ(q->packet.size(), pkt.size());
    const SendBubble* b = std::get_if<SendBubble>(&out.actions()[1]);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->kind, BubbleKind::Indirect);
    EXPECT_EQ(b->dst, c.server);
    auto parsed = parsePacket(b->payload);
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE(parsed->isBubble());
    EXPECT_EQ(parsed->ip.src, tokenFor(c.dst));
    EXPECT_EQ(parsed->ip.dst, c.dst);
    EXPECT_EQ(out.count<SendUdp>(), 0u);
    EXPECT_TRUE(st.exists);
    EXPECT_FALSE(st.trusted);
    EXPECT_EQ(st.bubbles, 1);
    EXPECT_EQ(st.lastBubble, kT0);
  }
}

// R2: behind a NAT, the relay also sends a direct bubble to the embedded mapping.
TEST(RelayTransmit, R2_BehindNatAddsDirectBubble) {
  struct Case {
    bool behindNat;
    size_t bubbles;
  };
  for (const Case c : {Case{false, 1}, Case{true, 2}}) {
    RelayParams p = params();
    p.behindNat = c.behindNat;
    PeerState st;
    RelayOutput out;
    decideTransmit(ipv6Packet(kNative, e1NonCone()), p, st, kT0, out);
    EXPECT_EQ(out.count<SendBubble>(), c.bubbles);
    if (c.behindNat) {
      const SendBubble* direct = std::get_if<SendBubble>(&out.actions()[2]);
      ASSERT_NE(direct, nullptr);
      EXPECT_EQ(direct->kind, BubbleKind::Direct);
      EXPECT_EQ(direct->dst, e1Mapped());
      const SendBubble* indirect = std::get_if<SendBubble>(&out.actions()[1]);
      EXPECT_EQ(hex(direct->payload), hex(indirect->payload));
    }
  }
}

// R3: the client's reply bubble (src D, dst = our bubble address) makes the entry trusted and
// the queued packets go to the mapping in their original order.
TEST(RelayTransmit, R3_ReplyBubbleFlushesQueueInOrder) {
  peers::PeerTableConfig tc = Harness::defaultTable();
  tc.peerQueueBytes = 4096;
  Harness h(tc);
  std::vector<std::vector<uint8_t>> sent;
  for (uint8_t i = 0; i < 4; ++i) {
    sent.push_back(ipv6Packet(kNative, e1NonCone(), kNextHeaderUdp, {i, i, i}));
    h.transmit(sent.back(), kT0 + milliseconds(100 * i));
  }
  ASSERT_EQ(countKind(h.wire, WireEvent::Bubble), 1);
  ASSERT_EQ(countKind(h.wire, WireEvent::Udp), 0);
  h.wire.clear();
  h.receive(bubblePacket(e1NonCone(), tokenFor(e1NonCone())), e1Mapped(), kT0 + seconds(1));
  EXPECT_EQ(h.bubblesConsumed, 1);
  ASSERT_EQ(h.wire.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(h.wire[i].kind, WireEvent::Udp);
    EXPECT_EQ(h.wire[i].dst, e1Mapped());
    EXPECT_EQ(h.wire[i].bytes, sent[i]) << "packet " << i;  // FIFO, not Miredo's LIFO
  }
  auto ref = h.table().lock(e1NonCone(), kT0 + seconds(1));
  ASSERT_TRUE(ref.found());
  EXPECT_TRUE(ref.entry().trusted());
  EXPECT_EQ(ref.entry().queuedPackets, 0u);
}

// R4: within 30 s of the last reception, packets go straight to the learned mapping.
TEST(RelayTransmit, R4_TrustedPeerSentDirectly) {
  const Endpoint learned{v4("203.0.113.9"), 50123};
  for (int age : {0, 1, 15, 30}) {
    SCOPED_TRACE(age);
    PeerState st;
    st.exists = true;
    st.trusted = true;
    st.mapped = learned;
    st.lastRx = kT0 - seconds(age);
    RelayOutput out;
    const auto pkt = ipv6Packet(kNative, e1NonCone());
    decideTransmit(pkt, params(), st, kT0, out);
    ASSERT_EQ(out.size(), 1u);
    const SendUdp* s = out.find<SendUdp>();
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->dst, learned);
    EXPECT_EQ(s->payload.data(), pkt.data());
    EXPECT_EQ(st.lastTx, kT0);
    EXPECT_TRUE(st.trusted);
  }
}

// R5: after more than 30 s without reception, trust is gone: bubble again.
TEST(RelayTransmit, R5_TrustExpiredRebubbles) {
  for (int age : {31, 60, 3600}) {
    SCOPED_TRACE(age);
    PeerState st;
    st.exists = true;
    st.trusted = true;
    st.mapped = e1Mapped();
    st.lastRx = kT0 - seconds(age);
    RelayOutput out;
    decideTransmit(ipv6Packet(kNative, e1NonCone()), params(), st, kT0, out);
    EXPECT_FALSE(st.trusted);
    EXPECT_EQ(out.count<SendUdp>(), 0u);
    EXPECT_EQ(out.count<QueuePacket>(), 1u);
    EXPECT_EQ(out.count<SendBubble>(), 1u);
  }
  // The same through the peer table: the table demotes too.
  Harness h;
  h.transmit(ipv6Packet(kNative, e1NonCone()), kT0);
  h.receive(bubblePacket(e1NonCone(), tokenFor(e1NonCone())), e1Mapped(), kT0);
  h.wire.clear();
  h.transmit(ipv6Packet(kNative, e1NonCone()), kT0 + seconds(30));
  EXPECT_EQ(countKind(h.wire, WireEvent::Udp), 1);
  h.transmit(ipv6Packet(kNative, e1NonCone()), kT0 + seconds(31));
  EXPECT_EQ(countKind(h.wire, WireEvent::Bubble), 1);
}

// R6 (Miredo profile): bubbles only as packets arrive, >= 2 s apart, at most 4 per 300 s after
// the last; then the queue is dropped and ICMPv6 Destination Unreachable (code 3) generated.
TEST(RelayTransmit, R6_BubbleBudgetThenUnreachable) {
  struct Step {
    double t;  // seconds after kT0
    bool bubble;
    bool unreachable;
  };
  const Step steps[] = {
      {0, true, false},    {1, false, false},    {2, true, false},   {3.9, false, false},
      {4, true, false},    {5, false, false},    {6, true, false},   {7.5, false, false},
      {8, false, true},    {100, false, true},   {305, false, true}, {306.5, true, false},
      {307, false, false}, {308.5, true, false},
  };
  PeerState st;
  for (const Step& s : steps) {
    SCOPED_TRACE(s.t);
    const RelayTime now = kT0 + milliseconds(static_cast<int64_t>(s.t * 1000));
    st.queuedPackets = 3;
    RelayOutput out;
    const auto pkt = ipv6Packet(kNative, e1NonCone(), kNextHeaderTcp);
    decideTransmit(pkt, params(), st, now, out);
    EXPECT_EQ(out.count<SendBubble>(), s.bubble ? 1u : 0u);
    EXPECT_EQ(out.count<QueuePacket>(), s.unreachable ? 0u : 1u);
    // Queued without a bubble (spacing): reported, so unanswered peers show in the metrics.
    EXPECT_EQ(out.count<BubbleSuppressed>(), !s.bubble && !s.unreachable ? 1u : 0u);
    if (s.unreachable) {
      const Icmpv6Error* e = out.find<Icmpv6Error>();
      ASSERT_NE(e, nullptr);
      EXPECT_EQ(e->type, kIcmpDestUnreachable);
      EXPECT_EQ(e->code, 3);
      EXPECT_EQ(e->offending.data(), pkt.data());
      const DropQueue* dq = out.find<DropQueue>();
      ASSERT_NE(dq, nullptr);
      EXPECT_EQ(dq->reason, DropReason::PeerUnreachable);
      ASSERT_NE(out.find<Drop>(), nullptr);
      EXPECT_EQ(out.find<Drop>()->reason, DropReason::PeerUnreachable);
    } else {
      EXPECT_EQ(out.count<Icmpv6Error>(), 0u);
    }
  }
  // Through the table: the queued packets are really dropped and counted.
  Harness h;
  for (int t : {0, 2, 4, 6}) {
    h.transmit(ipv6Packet(kNative, e1NonCone(), kNextHeaderUdp, {static_cast<uint8_t>(t)}),
               kT0 + seconds(t));
  }
  EXPECT_EQ(countKind(h.wire, WireEvent::Bubble), 4);
  h.transmit(ipv6Packet(kNative, e1NonCone()), kT0 + seconds(8));
  EXPECT_EQ(countKind(h.wire, WireEvent::Icmp), 1);
  EXPECT_EQ(h.drops[DropReason::PeerUnreachable], 4 + 1);  // 4 queued packets + this one
  EXPECT_EQ(h.table().lock(e1NonCone(), kT0 + seconds(8)).entry().queuedPackets, 0u);
}

// R7: 10 x 1280-byte packets to an untrusted peer: only the per-peer cap is queued.
TEST(RelayTransmit, R7_QueueCap) {
  struct Case {
    size_t cap;
    int queued;
  };
  for (const Case c : {Case{1280, 1}, Case{2560, 2}, Case{0, 0}}) {
    SCOPED_TRACE(c.cap);
    peers::PeerTableConfig tc = Harness::defaultTable();
    tc.peerQueueBytes = c.cap;
    Harness h(tc);
    for (int i = 0; i < 10; ++i) {
      h.transmit(ipv6Packet(kNative, e1NonCone(), kNextHeaderUdp,
                            std::vector<uint8_t>(1240, static_cast<uint8_t>(i))),
                 kT0 + milliseconds(i));
    }
    EXPECT_EQ(h.drops[DropReason::QueueFull], 10 - c.queued);
    auto ref = h.table().lock(e1NonCone(), kT0);
    EXPECT_EQ(ref.entry().queuedPackets, static_cast<uint32_t>(c.queued));
    EXPECT_LE(ref.entry().queuedBytes, c.cap);
  }
}

// R8: an embedded client IPv4 that is not global: dropped before any state or bubble.
TEST(RelayTransmit, R8_ClientIpv4NotGlobalDroppedBeforeState) {
  const char* clients[] = {"0.1.2.3",         "10.1.2.3",    "127.0.0.1",   "172.16.0.1",
                           "192.168.1.1",     "169.254.1.1", "192.88.99.1", "224.1.1.1",
                           "255.255.255.255", "100.64.0.1",  "240.0.0.1"};
  for (const char* c : clients) {
    SCOPED_TRACE(c);
    PeerState st;
    RelayOutput out;
    decideTransmit(ipv6Packet(kNative, teredoAddr(v4("65.54.227.120"), Endpoint{v4(c), 4000})),
                   params(), st, kT0, out);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_NE(out.find<Drop>(), nullptr);
    EXPECT_EQ(out.find<Drop>()->reason, DropReason::DstIpv4NotGlobal);
    EXPECT_EQ(st, PeerState{});
  }
  // Policy off: 100.64.0.1 is global again.
  RelayParams p = params();
  p.globalPolicy.rfc6890NonGlobal = false;
  PeerState st;
  RelayOutput out;
  decideTransmit(
      ipv6Packet(kNative, teredoAddr(v4("65.54.227.120"), Endpoint{v4("100.64.0.1"), 4000})), p, st,
      kT0, out);
  EXPECT_EQ(out.count<SendBubble>(), 1u);
}

// R9: an embedded server IPv4 that is 0.0.0.0 or not global: dropped before any state.
TEST(RelayTransmit, R9_ServerIpv4NotGlobalDropped) {
  for (const char* s : {"0.0.0.0", "10.0.0.1", "127.0.0.1", "224.0.0.1", "192.168.0.1"}) {
    SCOPED_TRACE(s);
    PeerState st;
    RelayOutput out;
    decideTransmit(ipv6Packet(kNative, teredoAddr(v4(s), e1Mapped())), params(), st, kT0, out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out.find<Drop>()->reason, DropReason::DstServerNotGlobal);
    EXPECT_FALSE(st.exists);
  }
}

// R10: a destination outside 2001:0::/32 (routing mistake) -> ICMPv6 Destination Unreachable
// (address); the caller rate-limits (harness: 10/s, Miredo's ICMP_RATE_LIMIT_MS 100).
TEST(RelayTransmit, R10_OutsidePrefixUnreachable) {
  struct Case {
    const char* dst;
    Ipv6Addr src;
    uint8_t nextHeader;
    std::vector<uint8_t> payload;
    bool icmp;
  };
  const Case cases[] = {
      {"2001:db8::99", kNative, kNextHeaderUdp, {1, 2, 3, 4}, true},
      {"2002:c000:22d::1", kNative, kNextHeaderTcp, {1, 2, 3, 4}, true},
      {"3ffe:831f:4136:e378:0:63bf:3fff:fdd2", kNative, kNextHeaderUdp, {1}, true},
      {"2001:1::1", kNative, kNextHeaderIcmpv6, {kIcmpEchoRequest, 0, 0, 0}, true},
      // RFC 4443 §2.4(e): never about an error, nor to the unspecified source.
      {"2001:db8::99", kNative, kNextHeaderIcmpv6, {kIcmpDestUnreachable, 3, 0, 0}, false},
      {"2001:db8::99", Ipv6Addr{}, kNextHeaderUdp, {1, 2}, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.dst);
    PeerState st;
    RelayOutput out;
    const auto pkt = ipv6Packet(c.src, v6(c.dst), c.nextHeader, c.payload);
    decideTransmit(pkt, params(), st, kT0, out);
    ASSERT_NE(out.find<Drop>(), nullptr);
    EXPECT_EQ(out.find<Drop>()->reason, DropReason::DstNotTeredo);
    EXPECT_EQ(out.count<Icmpv6Error>(), c.icmp ? 1u : 0u);
    if (c.icmp) {
      EXPECT_EQ(out.find<Icmpv6Error>()->type, 1);
      EXPECT_EQ(out.find<Icmpv6Error>()->code, 3);
    }
    EXPECT_FALSE(st.exists);
  }
  // Rate limit: 50 packets in one second -> at most 10 errors; the error quotes the packet.
  Harness h;
  const auto pkt = ipv6Packet(kNative, v6("2001:db8::99"));
  for (int i = 0; i < 50; ++i) {
    h.transmit(pkt, kT0 + milliseconds(20 * i));
  }
  EXPECT_LE(countKind(h.wire, WireEvent::Icmp), 10);
  EXPECT_GE(countKind(h.wire, WireEvent::Icmp), 9);
  EXPECT_EQ(h.drops[DropReason::DstNotTeredo], 50);
  const auto& icmp = h.wire.front().bytes;
  ASSERT_EQ(icmp.size(), 40u + 8u + pkt.size());
  EXPECT_EQ(icmp[40], 1);  // type
  EXPECT_EQ(icmp[41], 3);  // code
  EXPECT_EQ(std::vector<uint8_t>(icmp.begin() + 48, icmp.end()), pkt);
}

// R11: multicast destinations are dropped silently.
TEST(RelayTransmit, R11_MulticastDroppedSilently) {
  for (const char* d : {"ff02::1", "ff0e::1", "ff05::1:3"}) {
    SCOPED_TRACE(d);
    PeerState st;
    RelayOutput out;
    decideTransmit(ipv6Packet(kNative, v6(d)), params(), st, kT0, out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out.find<Drop>()->reason, DropReason::DstMulticast);
    EXPECT_FALSE(st.exists);
  }
}

// R12: C=1 behaves like R1 unless the operator enables the cone shortcut (§5.4.1 case 2).
TEST(RelayTransmit, R12_ConeDestination) {
  {
    PeerState st;
    RelayOutput out;
    decideTransmit(ipv6Packet(kNative, e1()), params(), st, kT0, out);
    EXPECT_EQ(out.count<QueuePacket>(), 1u);
    EXPECT_EQ(out.count<SendBubble>(), 1u);
    EXPECT_EQ(out.count<SendUdp>(), 0u);
    EXPECT_FALSE(st.trusted);
  }
  {
    RelayParams p = params();
    p.coneShortcut = true;
    PeerState st;
    RelayOutput out;
    const auto pkt = ipv6Packet(kNative, e1());
    decideTransmit(pkt, p, st, kT0, out);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_NE(out.find<SendUdp>(), nullptr);
    EXPECT_EQ(out.find<SendUdp>()->dst, e1Mapped());
    EXPECT_TRUE(st.trusted);
    EXPECT_EQ(st.mapped, e1Mapped());
    // C=0 destinations still bubble with the shortcut on.
    PeerState st0;
    decideTransmit(ipv6Packet(kNative, e1NonCone()), p, st0, kT0, out);
    EXPECT_EQ(out.count<SendBubble>(), 1u);
  }
}

// R13: 2 x max_peers distinct destinations: the table never exceeds its cap and the trusted
// peers keep working (untrusted entries are evicted first).
TEST(RelayTransmit, R13_TableExhaustionKeepsTrustedPeers) {
  for (size_t shards : {1u, 4u}) {
    SCOPED_TRACE(shards);
    peers::PeerTableConfig tc = Harness::defaultTable();
    tc.maxPeers = 64;
    tc.shards = shards;
    Harness h(tc);
    std::vector<Ipv6Addr> trusted;
    for (uint32_t i = 0; i < 6; ++i) {
      const Endpoint m{v4("203.0.113.10") + i, static_cast<uint16_t>(40000 + i)};
      const Ipv6Addr d = teredoAddr(v4("198.51.100.1"), m);
      h.transmit(ipv6Packet(kNative, d), kT0);
      h.receive(bubblePacket(d, tokenFor(d)), m, kT0);
      trusted.push_back(d);
    }
    for (uint32_t i = 0; i < 2 * 64; ++i) {
      const Endpoint m{v4("198.51.100.100"), static_cast<uint16_t>(1000 + i)};
      h.transmit(ipv6Packet(kNative, teredoAddr(v4("198.51.100.1"), m)), kT0 + milliseconds(i));
      ASSERT_LE(h.table().size(), 64u);
    }
    EXPECT_EQ(h.table().size(), 64u);
    h.wire.clear();
    for (const Ipv6Addr& d : trusted) {
      h.transmit(ipv6Packet(kNative, d), kT0 + seconds(1));
    }
    EXPECT_EQ(countKind(h.wire, WireEvent::Udp), static_cast<int>(trusted.size()));
    EXPECT_EQ(countKind(h.wire, WireEvent::Bubble), 0);
    EXPECT_EQ(h.table().counters().evictedCapacityTrusted.load(), 0u);
  }
}

// A host-specific relay (RFC 4380 §3.4, §7.3.1) carries only its host's own traffic, and a
// draining relay keeps its peers but admits no new ones: both decided before any state.
TEST(RelayTransmit, HostSourcesAndDraining) {
  const Ipv6Addr hosts[] = {v6("2001:db8::10"), v6("2001:db8::11")};
  struct Case {
    const char* name;
    const char* src;
    bool hostSpecific;
    bool draining;
    PeerState peer;
    bool sent;
    DropReason reason;
  };
  PeerState trusted;
  trusted.exists = true;
  trusted.trusted = true;
  trusted.mapped = e1Mapped();
  trusted.lastRx = kT0 - seconds(1);
  PeerState waiting;
  waiting.exists = true;
  waiting.bubbles = 1;
  waiting.lastBubble = kT0 - seconds(3);
  const Case cases[] = {
      {"network relay, any source", "2001:db8:5::5", false, false, PeerState{}, true,
       DropReason::None},
      {"host-specific, own address", "2001:db8::11", true, false, PeerState{}, true,
       DropReason::None},
      {"host-specific, forwarded source", "2001:db8::12", true, false, trusted, false,
       DropReason::SrcNotServed},
      {"draining, new peer", "2001:db8:5::5", false, true, PeerState{}, false,
       DropReason::Draining},
      {"draining, trusted peer still served", "2001:db8:5::5", false, true, trusted, true,
       DropReason::None},
      {"draining, waiting peer still bubbled", "2001:db8:5::5", false, true, waiting, true,
       DropReason::None},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RelayParams p = params();
    if (c.hostSpecific) {
      p.hostSources = hosts;
    }
    p.draining = c.draining;
    PeerState st = c.peer;
    RelayOutput out;
    decideTransmit(ipv6Packet(v6(c.src), e1NonCone()), p, st, kT0, out);
    if (c.sent) {
      EXPECT_EQ(out.count<SendUdp>() + out.count<SendBubble>(), 1u);
      EXPECT_TRUE(st.exists);
    } else {
      ASSERT_EQ(out.size(), 1u);
      ASSERT_NE(out.find<Drop>(), nullptr);
      EXPECT_EQ(out.find<Drop>()->reason, c.reason);
      EXPECT_EQ(st, c.peer);
    }
  }
}

// RelayOutput keeps at most kMaxActions and says when a decision asked for more (the worker
// reports it as a bug, teredo_bugs_total).
TEST(RelayOutput, OverflowIsReportedNotSilent) {
  RelayOutput out;
  for (size_t i = 0; i < RelayOutput::kMaxActions; ++i) {
    out.push(ConsumeBubble{});
  }
  EXPECT_FALSE(out.overflowed());
  out.push(Drop{DropReason::TooBig});
  EXPECT_TRUE(out.overflowed());
  EXPECT_EQ(out.size(), RelayOutput::kMaxActions);
  out.clear();
  EXPECT_FALSE(out.overflowed());
  EXPECT_EQ(out.size(), 0u);
}

TEST(RelayTransmit, FramingDrops) {
  struct Case {
    std::vector<uint8_t> bytes;
    DropReason reason;
  };
  std::vector<uint8_t> v4pkt = ipv6Packet(kNative, e1NonCone());
  v4pkt[0] = 0x45;
  const Case cases[] = {
      {{}, DropReason::TruncatedIpv6},
      {std::vector<uint8_t>(39, 0x60), DropReason::TruncatedIpv6},
      {v4pkt, DropReason::NotIpv6},
  };
  for (const Case& c : cases) {
    PeerState st;
    RelayOutput out;
    decideTransmit(c.bytes, params(), st, kT0, out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out.find<Drop>()->reason, c.reason);
  }
}

}  // namespace
}  // namespace teredo::relaytest

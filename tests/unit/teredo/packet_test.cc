// Golden bytes and checks P3, P5, P6 (docs/conformance.md).
#include "teredo/packet.h"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "hex.h"

namespace teredo {
namespace {

using test::fromHex;
using test::toHex;

Ipv6Addr ip6(const char* s) {
  return *parseIpv6(s);
}
uint32_t ip(const char* s) {
  return *parseIpv4(s);
}

std::string hexOf(const std::vector<uint8_t>& v, size_t n) {
  return toHex(v.data(), n);
}

// An RS (RFC 4861 §4.1): 40-byte IPv6 header + 8-byte ICMPv6 RS, hop limit 255, to ff02::2.
std::vector<uint8_t> buildRs(const Ipv6Addr& src, uint8_t hopLimit = 255, bool badSum = false,
                             uint8_t code = 0) {
  std::vector<uint8_t> out(48);
  writeIpv6Header(out, src, allRoutersMulticast(), kNextHeaderIcmpv6, 8, hopLimit);
  out[40] = kIcmpRouterSolicitation;
  out[41] = code;
  const uint16_t sum = icmpv6Checksum(src, allRoutersMulticast(), Bytes(out).subspan(40));
  out[42] = static_cast<uint8_t>(sum >> 8);
  out[43] = static_cast<uint8_t>((sum & 0xff) ^ (badSum ? 1 : 0));
  return out;
}

TEST(Packet, P3_OriginIndication) {
  std::vector<uint8_t> out(8);
  ASSERT_EQ(writeOrigin(out, Endpoint{ip("1.2.3.4"), 337}), 8u);
  EXPECT_EQ(hexOf(out, 8), "0000feaefefdfcfb");
  // And back through the parser, in front of a bubble.
  std::vector<uint8_t> pkt = out;
  pkt.resize(48);
  writeBubble(MutableBytes(pkt).subspan(8), ip6("fe80::1"), ip6("fe80::2"));
  auto r = parsePacket(pkt);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->hasOrigin);
  EXPECT_EQ(r->origin, (Endpoint{ip("1.2.3.4"), 337}));
}

struct RsChecksum {
  const char* src;
  const char* sum;
};

TEST(Packet, P5_RouterSolicitationChecksums) {
  const RsChecksum cases[] = {{"fe80::ffff:ffff:ffff", "7d37"},
                              {"fe80::8000:5445:5245:444f", "125d"},
                              {"fe80::ffff:ffff:fffe", "7d38"},
                              {"fe80::8000:ffff:ffff:fffe", "fd37"}};
  for (const auto& c : cases) {
    auto rs = buildRs(ip6(c.src));
    EXPECT_EQ(toHex(&rs[42], 2), c.sum) << c.src;
  }
}

TEST(Packet, GoldenRouterSolicitation) {
  auto rs = buildRs(ip6("fe80::ffff:ffff:ffff"));
  EXPECT_EQ(hexOf(rs, rs.size()),
            "6000000000083afffe800000000000000000ffffffffffffff0200000000000000000000000000"
            "0285007d3700000000");
}

RouterAdvertisementParams goldenRa() {
  RouterAdvertisementParams p;
  p.serverPrimary = ip("65.54.227.120");
  p.origin = Endpoint{ip("192.0.2.45"), 40000};
  p.destination = ip6("fe80::ffff:ffff:ffff");
  p.echoAuth = true;
  const auto nonce = fromHex("0123456789abcdef");
  std::copy(nonce.begin(), nonce.end(), p.nonce.begin());
  return p;
}

TEST(Packet, GoldenRouterAdvertisementMiredoShape) {
  std::vector<uint8_t> out(200);
  const size_t n = writeRouterAdvertisement(out, goldenRa());
  ASSERT_EQ(n, 117u);
  EXPECT_EQ(hexOf(out, n),
            "000100000123456789abcdef00000063bf3ffffdd26000000000383afffe800000000000008000f227"
            "bec91c87fe800000000000000000ffffffffffff8600954c0000000000000000000007d00304404"
            "0ffffffffffffffff00000000200100004136e37800000000000000000501000000000500");
}

TEST(Packet, RouterAdvertisementMicrosoftShapeAndNoAuth) {
  std::vector<uint8_t> out(200);
  auto p = goldenRa();
  p.mtu = 0;
  EXPECT_EQ(writeRouterAdvertisement(out, p), 109u);
  p.echoAuth = false;
  const size_t n = writeRouterAdvertisement(out, p);
  EXPECT_EQ(n, 96u);
  // Without auth the payload starts with the origin indication, and the ICMPv6 checksum verifies.
  auto r = parsePacket(Bytes(out.data(), n));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->hasAuth);
  EXPECT_EQ(r->origin, (Endpoint{ip("192.0.2.45"), 40000}));
  EXPECT_EQ(icmpv6Checksum(r->ip.src, r->ip.dst, r->ipv6Payload()), 0);
  EXPECT_EQ(writeRouterAdvertisement(MutableBytes(out.data(), 95), p), 0u);
}

TEST(Packet, GoldenBubble) {
  std::vector<uint8_t> out(40);
  ASSERT_EQ(writeBubble(out, ip6("fe80::1"), ip6("2001:0:4136:e378:0:63bf:3fff:fdd2")), 40u);
  EXPECT_EQ(hexOf(out, 40),
            "6000000000003b00fe800000000000000000000000000001200100004136e378000063bf3ffffdd2");
}

// P6: the framings the parser accepts and the malformed cases it rejects.
struct FramingCase {
  const char* name;
  std::string hex;
  bool ok;
  DropReason reason;
  bool hasAuth;
  bool hasOrigin;
  size_t trailerBytes;
};

const std::string kBubble =
    "6000000000003b00fe800000000000000000000000000001200100004136e378000063bf3ffffdd2";
const std::string kAuth =
    "00010000"
    "0123456789abcdef"
    "00";
const std::string kOrigin = "0000fea2fefdfcfb";

std::vector<FramingCase> framingCases() {
  return {
      {"bare_ipv6", kBubble, true, DropReason::None, false, false, 0},
      {"auth_only", kAuth + kBubble, true, DropReason::None, true, false, 0},
      {"auth_origin", kAuth + kOrigin + kBubble, true, DropReason::None, true, true, 0},
      {"origin_only", kOrigin + kBubble, true, DropReason::None, false, true, 0},
      {"ipv6_trailers", kBubble + "030e0000c633640a0dd9c633640b0dda", true, DropReason::None, false,
       false, 16},
      {"auth_with_id_and_value",
       "0001020301020a0b0c"
       "0123456789abcdef"
       "00" +
           kBubble,
       true, DropReason::None, true, false, 0},
      {"auth_lengths_past_end", "0001ff000123456789abcdef00" + kBubble, false,
       DropReason::TruncatedAuth, false, false, 0},
      {"auth_too_short", "000100", false, DropReason::TruncatedAuth, false, false, 0},
      {"origin_then_39_bytes", kOrigin + kBubble.substr(0, 78), false, DropReason::TruncatedOrigin,
       false, false, 0},
      {"encapsulation_type_2", "0002" + kBubble, false, DropReason::UnknownEncapsulation, false,
       false, 0},
      {"version_4", "4" + kBubble.substr(1), false, DropReason::NotIpv6, false, false, 0},
      {"short_ipv6", kBubble.substr(0, 70), false, DropReason::TruncatedIpv6, false, false, 0},
      {"empty", "", false, DropReason::TruncatedIpv6, false, false, 0},
      {"payload_length_past_end", "6000000000013b00" + kBubble.substr(16), false,
       DropReason::BadPayloadLength, false, false, 0},
      {"auth_then_nothing", kAuth, false, DropReason::TruncatedIpv6, false, false, 0},
  };
}

class FramingTest : public testing::TestWithParam<FramingCase> {};

TEST_P(FramingTest, P6_Framing) {
  const FramingCase& c = GetParam();
  const auto bytes = fromHex(c.hex);
  auto r = parsePacket(bytes);
  ASSERT_EQ(r.ok(), c.ok);
  // A parsed packet says "no drop" (DropReason::None, the table's value for accepted rows).
  EXPECT_EQ(r.reason(), c.reason) << dropReasonLabel(r.reason());
  if (!c.ok) {
    return;
  }
  EXPECT_EQ(r->hasAuth, c.hasAuth);
  EXPECT_EQ(r->hasOrigin, c.hasOrigin);
  EXPECT_EQ(r->trailers.size(), c.trailerBytes);
  EXPECT_EQ(r->ipv6.size(), 40u);
  EXPECT_TRUE(r->isBubble());
  EXPECT_EQ(r->encapsulated.size(), 40u + c.trailerBytes);
  if (c.hasAuth) {
    EXPECT_EQ(toHex(r->auth.nonce.data(), 8), "0123456789abcdef");
    EXPECT_EQ(r->auth.confirmation, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Spec, FramingTest, testing::ValuesIn(framingCases()),
                         [](const auto& tpi) { return std::string(tpi.param.name); });

// RFC 6081 §4 trailers: type, length, value; unknown types skipped; malformed ones make the
// packet a counted drop (issue 9, hole 4: they used to be carried as opaque bytes).
struct TrailerCase {
  const char* name;
  std::string hex;  ///< the trailer bytes after a bubble (or after an echo, see `bubble`)
  bool bubble;
  bool ok;
  uint8_t count;
  uint8_t unknown;
};

std::vector<TrailerCase> trailerCases() {
  return {
      {"none", "", true, true, 0, 0},
      {"nonce", "010401020304", true, true, 1, 0},
      {"nonce_on_data_packet", "010401020304", false, true, 1, 0},
      {"alternate_address_one", "03080000c633640a0dd9", true, true, 1, 0},
      {"alternate_address_two", "030e0000c633640a0dd9c633640b0dda", true, true, 1, 0},
      {"discovery_solicitation", "040400000000", true, true, 1, 0},
      {"discovery_advertisement", "040401000000", true, true, 1, 0},
      {"random_port", "05021234", true, true, 1, 0},
      {"all_four", "010401020304030800000102030400050404000000000502abcd", true, true, 4, 0},
      {"unknown_type_skipped", "7f03aabbcc", true, true, 1, 1},
      {"zero_length_unknown", "0000", true, true, 1, 1},
      {"header_cut", "01", true, false, 0, 0},
      {"value_past_end", "010401020", true, false, 0, 0},
      {"value_past_end_unknown", "7f05aabb", true, false, 0, 0},
      {"nonce_wrong_length", "0103010203", true, false, 0, 0},
      {"nonce_twice", "010401020304010405060708", true, false, 0, 0},
      {"alternate_address_no_entry", "03020000", true, false, 0, 0},
      {"alternate_address_ragged", "03090000c633640a0dd9ff", true, false, 0, 0},
      {"alternate_address_five_entries", "0320" + std::string("0000") + std::string(60, 'a'), true,
       false, 0, 0},
      {"alternate_address_on_data_packet", "03080000c633640a0dd9", false, false, 0, 0},
      {"discovery_bad_type", "040402000000", true, false, 0, 0},
      {"discovery_wrong_length", "0403000000", true, false, 0, 0},
      {"random_port_wrong_length", "050112", true, false, 0, 0},
      {"seventeen_trailers",
       [] {
         std::string h;
         for (int i = 0; i < 17; ++i) {
           h += "7f00";
         }
         return h;
       }(),
       true, false, 0, 0},
  };
}

class TrailerTest : public testing::TestWithParam<TrailerCase> {};

TEST_P(TrailerTest, ParsedOrDropped) {
  const TrailerCase& c = GetParam();
  // An echo request (8 bytes of ICMPv6) or a bubble, then the trailer bytes.
  const std::string ipv6 =
      c.bubble ? kBubble
               : "6000000000083a40fe800000000000000000000000000001200100004136e378000063bf3ffffdd2"
                 "8000000000000000";
  const auto bytes = fromHex(ipv6 + c.hex);
  auto r = parsePacket(bytes);
  ASSERT_EQ(r.ok(), c.ok) << (r.ok() ? "" : dropReasonLabel(r.reason()));
  if (!c.ok) {
    EXPECT_EQ(r.reason(), DropReason::MalformedTrailer);
    EXPECT_EQ(parseTrailers(fromHex(c.hex), c.bubble).reason(), DropReason::MalformedTrailer);
    return;
  }
  EXPECT_EQ(r->trailer.count, c.count);
  EXPECT_EQ(r->trailer.unknown, c.unknown);
  EXPECT_EQ(r->trailers.size(), c.hex.size() / 2);
}

INSTANTIATE_TEST_SUITE_P(Rfc6081, TrailerTest, testing::ValuesIn(trailerCases()),
                         [](const auto& tpi) { return std::string(tpi.param.name); });

TEST(Packet, TrailerValuesDecoded) {
  const auto bytes = fromHex(
      "010401020304030e0000c633640a0dd9c633640b0dda040400000000"
      "0502abcd");
  const auto t = parseTrailers(bytes, true);
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->hasNonce);
  EXPECT_EQ(toHex(t->nonce.data(), 4), "01020304");
  ASSERT_EQ(t->alternateAddresses.size(), 2 * kAlternateAddressEntry);
  EXPECT_EQ(toHex(t->alternateAddresses.data(), 12), "c633640a0dd9c633640b0dda");
  EXPECT_TRUE(t->hasDiscovery);
  EXPECT_EQ(t->discoveryType, kDiscoverySolicitation);
  EXPECT_TRUE(t->hasRandomPort);
  EXPECT_EQ(t->randomPort, 0xabcd);
  uint8_t out[6];
  ASSERT_EQ(writeDiscoveryTrailer(out, kDiscoveryAdvertisement), 6u);
  EXPECT_EQ(toHex(out, 6), "040401000000");
  EXPECT_EQ(writeDiscoveryTrailer(std::span<uint8_t>(out, 5), kDiscoveryAdvertisement), 0u);
}

TEST(Packet, AuthClientIdAndValueViews) {
  const auto bytes = fromHex("0001020301020a0b0c0123456789abcdef07" + kBubble);
  auto r = parsePacket(bytes);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(toHex(r->auth.clientId.data(), r->auth.clientId.size()), "0102");
  EXPECT_EQ(toHex(r->auth.authValue.data(), r->auth.authValue.size()), "0a0b0c");
  EXPECT_EQ(r->auth.confirmation, 7);
}

struct RsCase {
  const char* name;
  std::vector<uint8_t> ipv6;
  bool strict;
  bool ok;
  DropReason reason;
  bool cone;
};

TEST(Packet, RouterSolicitationChecks) {
  const Ipv6Addr miredo = ip6("fe80::ffff:ffff:ffff");
  const Ipv6Addr cone = ip6("fe80::8000:5445:5245:444f");
  auto toGlobal = buildRs(ip6("2001:db8::1"));
  auto toAllNodes = buildRs(miredo);
  toAllNodes[39] = 1;  // ff02::1; checksum now wrong, but the address check comes first
  auto tooShort = buildRs(miredo);
  tooShort[5] = 4;  // payload length 4
  const RsCase cases[] = {
      {"plain", buildRs(miredo), true, true, DropReason::None, false},
      {"cone", buildRs(cone), true, true, DropReason::None, true},
      {"windows_cone", buildRs(ip6("fe80::8000:ffff:ffff:fffe")), true, true, DropReason::None,
       true},
      {"hop_limit_64_strict", buildRs(miredo, 64), true, false, DropReason::RsBadHopLimit, false},
      {"hop_limit_64_lenient", buildRs(miredo, 64), false, true, DropReason::None, false},
      {"bad_sum_strict", buildRs(miredo, 255, true), true, false, DropReason::RsBadChecksum, false},
      {"bad_sum_lenient", buildRs(miredo, 255, true), false, true, DropReason::None, false},
      {"code_1_strict", buildRs(miredo, 255, false, 1), true, false, DropReason::RsMalformed,
       false},
      {"code_1_lenient", buildRs(miredo, 255, false, 1), false, true, DropReason::None, false},
      {"global_source", toGlobal, false, false, DropReason::RsBadSource, false},
      {"to_all_nodes", toAllNodes, false, false, DropReason::RsBadSource, false},
      {"too_short", tooShort, false, false, DropReason::RsMalformed, false},
  };
  for (const RsCase& c : cases) {
    auto p = parsePacket(c.ipv6);
    ASSERT_TRUE(p.ok()) << c.name;
    auto r = checkRouterSolicitation(*p, c.strict);
    ASSERT_EQ(r.ok(), c.ok) << c.name;
    EXPECT_EQ(r.reason(), c.reason) << c.name;  // DropReason::None when accepted
    if (c.ok) {
      EXPECT_EQ(*r, c.cone) << c.name;
    }
  }
}

// DropReason::None is "no drop", not a reason: it has no metric label, and every real reason
// has a distinct, non-empty one.
// The DropReason table itself is tested in drop_reason_test.cc; here: a Result holding a value
// carries no reason.
TEST(PacketResult, AValueCarriesNoDropReason) {
  const Result<int> ok(7);
  EXPECT_EQ(ok.reason(), DropReason::None);
}

TEST(Packet, Icmpv6ErrorQuotesAndChecksums) {
  std::vector<uint8_t> offending(1280, 0xaa);
  writeIpv6Header(offending, ip6("2001:db8::5"), ip6("2002::1"), kNextHeaderUdp, 1240, 64);
  std::vector<uint8_t> out(1400);
  const size_t n = writeIcmpv6Error(out, ip6("2001:db8::1"), kIcmpDestUnreachable, 3, 0, offending);
  ASSERT_EQ(n, 1280u);  // RFC 4443 §2.4(c): never more than the minimum MTU
  auto p = parsePacket(Bytes(out.data(), n));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->ip.dst, ip6("2001:db8::5"));
  EXPECT_EQ(p->ipv6Payload()[0], kIcmpDestUnreachable);
  EXPECT_EQ(p->ipv6Payload()[1], 3);
  EXPECT_EQ(icmpv6Checksum(p->ip.src, p->ip.dst, p->ipv6Payload()), 0);
}

}  // namespace
}  // namespace teredo

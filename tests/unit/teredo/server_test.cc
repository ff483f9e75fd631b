// Server checks S1-S34 against decideServer / buildServerRa (docs/conformance.md), table-driven.
#include "teredo/server.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "hex.h"
#include "packet_builder.h"

namespace teredo {
namespace {

using test::PacketBuilder;
using Kind = ServerAction::Kind;

uint32_t ip(const char* s) {
  return *parseIpv4(s);
}
Ipv6Addr ip6(const char* s) {
  return *parseIpv6(s);
}

const uint32_t kPrimary = ip("65.54.227.120");
const uint32_t kSecondary = ip("65.54.227.121");
const Endpoint kClientA{ip("192.0.2.45"), 40000};
const Endpoint kClientB{ip("203.0.113.7"), 5000};
const Endpoint kRelay{ip("198.51.100.20"), 3545};
const std::array<uint8_t, 8> kNonce{1, 2, 3, 4, 5, 6, 7, 8};

Ipv6Addr teredoOf(uint32_t server, const Endpoint& mapped, uint16_t flags = 0) {
  return encodeTeredo(kDefaultPrefix, TeredoFields{server, flags, mapped.port, mapped.addr});
}
const Ipv6Addr kAddrA = teredoOf(kPrimary, kClientA);
const Ipv6Addr kAddrB = teredoOf(kPrimary, kClientB);
// A client of another server (vector E3 of address_test.cc).
const Ipv6Addr kOtherServerClient = ip6("2001:0:53aa:64c:182a:7b61:8da4:263d");

ServerPolicy basePolicy() {
  ServerPolicy p;
  p.primary = kPrimary;
  p.secondary = kSecondary;
  return p;
}

PacketBuilder rs(const char* src) {
  PacketBuilder b;
  b.src(ip6(src)).dst(allRoutersMulticast()).icmp(kIcmpRouterSolicitation).auth(kNonce);
  return b;
}
PacketBuilder bubble(const Ipv6Addr& src, const Ipv6Addr& dst) {
  PacketBuilder b;
  b.src(src).dst(dst).bubble().hopLimit(0);
  return b;
}
PacketBuilder echo(const Ipv6Addr& src, const Ipv6Addr& dst, size_t dataBytes = 18) {
  PacketBuilder b;
  b.src(src).dst(dst).icmp(kIcmpEchoRequest, 0, dataBytes).hopLimit(128);
  return b;
}

struct ServerCase {
  std::string name;
  PacketBuilder packet;
  Endpoint source = kClientA;
  ServerSocket arrivedOn = ServerSocket::Primary;
  std::function<void(ServerPolicy&)> tweak = nullptr;
  Kind kind = Kind::Drop;
  DropReason reason = DropReason::None;
  ServerSocket from = ServerSocket::Primary;
  Endpoint to{};
  bool withOrigin = false;
};

std::vector<ServerCase> serverCases() {
  const auto P = ServerSocket::Primary;
  const auto S = ServerSocket::Secondary;
  std::vector<ServerCase> c;
  // Qualification (§8.2).
  c.push_back({"S1_plain_rs_to_primary",
               rs("fe80::ffff:ffff:ffff"),
               kClientA,
               P,
               {},
               Kind::SendRa,
               DropReason::None,
               P,
               kClientA});
  c.push_back({"S2_cone_rs_to_primary",
               rs("fe80::8000:5445:5245:444f"),
               kClientA,
               P,
               {},
               Kind::SendRa,
               DropReason::None,
               S,
               kClientA});
  c.push_back({"S3_cone_rs_to_secondary",
               rs("fe80::8000:5445:5245:444f"),
               kClientA,
               S,
               {},
               Kind::SendRa,
               DropReason::None,
               P,
               kClientA});
  c.push_back({"S4_plain_rs_to_secondary",
               rs("fe80::ffff:ffff:ffff"),
               kClientA,
               S,
               {},
               Kind::SendRa,
               DropReason::None,
               S,
               kClientA});
  {
    PacketBuilder noAuth;
    noAuth.src(ip6("fe80::ffff:ffff:ffff")).dst(allRoutersMulticast()).icmp(133);
    c.push_back({"S5_rs_without_auth",
                 noAuth,
                 kClientA,
                 P,
                 {},
                 Kind::SendRa,
                 DropReason::None,
                 P,
                 kClientA});
    PacketBuilder idAu = rs("fe80::ffff:ffff:ffff");
    idAu.auth(kNonce, 4, 20);
    c.push_back({"S5_rs_with_id_and_value",
                 idAu,
                 kClientA,
                 P,
                 {},
                 Kind::SendRa,
                 DropReason::None,
                 P,
                 kClientA});
  }
  c.push_back({"S6_windows_plain",
               rs("fe80::ffff:ffff:fffe"),
               kClientA,
               P,
               {},
               Kind::SendRa,
               DropReason::None,
               P,
               kClientA});
  c.push_back({"S6_windows_cone",
               rs("fe80::8000:ffff:ffff:fffe"),
               kClientA,
               P,
               {},
               Kind::SendRa,
               DropReason::None,
               S,
               kClientA});
  c.push_back({"S6_xp_teredo_source",
               rs("fe80::5445:5245:444f"),
               kClientA,
               P,
               {},
               Kind::SendRa,
               DropReason::None,
               P,
               kClientA});
  for (const char* bad : {"10.1.2.3", "127.0.0.1", "224.1.1.1", "192.88.99.1", "172.16.0.1",
                          "192.168.1.1", "169.254.0.1", "0.1.2.3", "255.255.255.255"}) {
    c.push_back({std::string("S7_source_") + bad,
                 rs("fe80::ffff:ffff:ffff"),
                 Endpoint{ip(bad), 40000},
                 P,
                 {},
                 Kind::Drop,
                 DropReason::SrcNotGlobal});
  }
  c.push_back({"S7_cgn_source_policy",
               rs("fe80::ffff:ffff:ffff"),
               Endpoint{ip("100.64.0.1"), 1},
               P,
               {},
               Kind::Drop,
               DropReason::SrcNotGlobal});
  c.push_back({"S7_cgn_source_policy_off", rs("fe80::ffff:ffff:ffff"),
               Endpoint{ip("100.64.0.1"), 1}, P,
               [](ServerPolicy& p) { p.global.rfc6890NonGlobal = false; }, Kind::SendRa,
               DropReason::None, P, Endpoint{ip("100.64.0.1"), 1}});
  c.push_back(
      {"S8_rs_from_unspecified", rs("::"), kClientA, P, {}, Kind::Drop, DropReason::RsBadSource});
  c.push_back({"S8_rs_from_global",
               rs("2001:db8::1"),
               kClientA,
               P,
               {},
               Kind::Drop,
               DropReason::RsBadSource});
  {
    PacketBuilder toAllNodes = rs("fe80::ffff:ffff:ffff");
    toAllNodes.dst(ip6("ff02::1"));
    c.push_back(
        {"S8_rs_to_all_nodes", toAllNodes, kClientA, P, {}, Kind::Drop, DropReason::NotOurClient});
    PacketBuilder toServer = rs("fe80::ffff:ffff:ffff");
    toServer.dst(serverLinkLocal(kPrimary));
    c.push_back({"S8_rs_to_server_link_local",
                 toServer,
                 kClientA,
                 P,
                 {},
                 Kind::Drop,
                 DropReason::RsBadSource});
  }
  {
    PacketBuilder hop64 = rs("fe80::ffff:ffff:ffff");
    hop64.hopLimit(64);
    c.push_back(
        {"S9_hop_limit_64_strict", hop64, kClientA, P, {}, Kind::Drop, DropReason::RsBadHopLimit});
    c.push_back({"S9_hop_limit_64_lenient", hop64, kClientA, P,
                 [](ServerPolicy& p) { p.strictRs = false; }, Kind::SendRa, DropReason::None, P,
                 kClientA});
    PacketBuilder badSum;
    badSum.src(ip6("fe80::ffff:ffff:ffff")).dst(allRoutersMulticast()).icmp(133, 0, 0, true);
    c.push_back(
        {"S9_bad_checksum_strict", badSum, kClientA, P, {}, Kind::Drop, DropReason::RsBadChecksum});
    c.push_back({"S9_bad_checksum_lenient", badSum, kClientA, P,
                 [](ServerPolicy& p) { p.strictRs = false; }, Kind::SendRa, DropReason::None, P,
                 kClientA});
    PacketBuilder code1;
    code1.src(ip6("fe80::ffff:ffff:ffff")).dst(allRoutersMulticast()).icmp(133, 1);
    c.push_back({"S9_code_1_strict", code1, kClientA, P, {}, Kind::Drop, DropReason::RsMalformed});
    c.push_back({"S9_code_1_lenient", code1, kClientA, P,
                 [](ServerPolicy& p) { p.strictRs = false; }, Kind::SendRa, DropReason::None, P,
                 kClientA});
  }
  // Forwarding (§8.3).
  c.push_back({"S20_bubble_to_our_client",
               bubble(kAddrA, kAddrB),
               kClientA,
               P,
               {},
               Kind::ForwardUdp,
               DropReason::None,
               P,
               kClientB,
               true});
  c.push_back({"S21_bubble_on_secondary_leaves_primary",
               bubble(kAddrA, kAddrB),
               kClientA,
               S,
               {},
               Kind::ForwardUdp,
               DropReason::None,
               P,
               kClientB,
               true});
  c.push_back({"S22_other_server_client_forwarded",
               bubble(kAddrA, kOtherServerClient),
               kClientA,
               P,
               {},
               Kind::ForwardUdp,
               DropReason::None,
               P,
               Endpoint{ip("114.91.217.194"), 33950},
               false});
  c.push_back({"S22_other_server_client_dropped", bubble(kAddrA, kOtherServerClient), kClientA, P,
               [](ServerPolicy& p) { p.forwardToOtherServers = false; }, Kind::Drop,
               DropReason::OtherServerClient});
  // S23 / RFC 4380 §5.3.1 case 6: a Teredo source whose mapping is not the UDP source (a
  // client of another server behind a port-symmetric NAT, RFC 6081 §6.1, or after a NAT
  // rebinding) is accepted towards one of our clients, with an origin indication naming the
  // real sender; towards anything else it matches no case and is dropped.
  c.push_back({"S23_mismatched_port_to_our_client",
               bubble(kAddrA, kAddrB),
               Endpoint{kClientA.addr, 40001},
               P,
               {},
               Kind::ForwardUdp,
               DropReason::None,
               P,
               kClientB,
               true});
  c.push_back({"S23_mismatched_address_to_our_client",
               bubble(kOtherServerClient, kAddrB),
               Endpoint{ip("192.0.2.46"), kClientA.port},
               P,
               {},
               Kind::ForwardUdp,
               DropReason::None,
               P,
               kClientB,
               true});
  c.push_back({"S23_mismatched_to_other_server_client",
               bubble(kAddrA, kOtherServerClient),
               Endpoint{kClientA.addr, 40001},
               P,
               {},
               Kind::Drop,
               DropReason::SpoofedSource});
  c.push_back({"S23_mismatched_to_native",
               echo(kAddrA, ip6("2001:db8::1")),
               Endpoint{ip("192.0.2.46"), kClientA.port},
               P,
               {},
               Kind::Drop,
               DropReason::SpoofedSource});
  c.push_back({"S24_relay_bubble_link_local",
               bubble(ip6("fe80::abcd:1234"), kAddrB),
               kRelay,
               P,
               {},
               Kind::ForwardUdp,
               DropReason::None,
               P,
               kClientB,
               true});
  c.push_back({"S24_relay_bubble_global",
               bubble(ip6("2001:db8::20"), kAddrB),
               kRelay,
               P,
               {},
               Kind::ForwardUdp,
               DropReason::None,
               P,
               kClientB,
               true});
  c.push_back({"S25_relay_bubble_other_server",
               bubble(ip6("fe80::abcd"), kOtherServerClient),
               kRelay,
               P,
               {},
               Kind::Drop,
               DropReason::NotOurClient});
  for (const char* bad : {"10.1.2.3", "127.0.0.1", "224.1.1.1", "255.255.255.255"}) {
    c.push_back({std::string("S26_destination_") + bad,
                 bubble(kAddrA, teredoOf(kPrimary, Endpoint{ip(bad), 1234})),
                 kClientA,
                 P,
                 {},
                 Kind::Drop,
                 DropReason::DstIpv4NotGlobal});
  }
  c.push_back({"S27_destination_primary_3544",
               bubble(kAddrA, teredoOf(kPrimary, Endpoint{kPrimary, 3544})),
               kClientA,
               P,
               {},
               Kind::Drop,
               DropReason::DstOwnAddress});
  c.push_back({"S27_destination_secondary_3544",
               bubble(ip6("fe80::1"), teredoOf(kPrimary, Endpoint{kSecondary, 3544})),
               kRelay,
               P,
               {},
               Kind::Drop,
               DropReason::DstOwnAddress});
  c.push_back({"S27_source_is_ourselves",
               bubble(ip6("fe80::1"), kAddrB),
               Endpoint{kSecondary, 3544},
               P,
               {},
               Kind::Drop,
               DropReason::LoopGuard});
  c.push_back(
      {"S28_echo_to_native", echo(kAddrA, ip6("2001:db8::1")), kClientA, P, {}, Kind::ForwardIpv6});
  {
    PacketBuilder withTrailer = echo(kAddrA, ip6("2001:db8::1"));
    withTrailer.trailers({1, 4, 9, 9, 9, 9, 0, 0});
    c.push_back(
        {"S28_echo_with_trailer_to_native", withTrailer, kClientA, P, {}, Kind::ForwardIpv6});
  }
  c.push_back({"S29_echo_1000_bytes",
               echo(kAddrA, ip6("2001:db8::1"), 1000),
               kClientA,
               P,
               {},
               Kind::Drop,
               DropReason::Icmpv6TooBig});
  c.push_back({"S29_echo_1000_bytes_no_cap", echo(kAddrA, ip6("2001:db8::1"), 1000), kClientA, P,
               [](ServerPolicy& p) { p.maxForwardBytes = 0; }, Kind::ForwardIpv6});
  c.push_back({"S29_echo_exactly_128",
               echo(kAddrA, ip6("2001:db8::1"), 80),
               kClientA,
               P,
               {},
               Kind::ForwardIpv6});
  c.push_back({"S29_echo_129",
               echo(kAddrA, ip6("2001:db8::1"), 81),
               kClientA,
               P,
               {},
               Kind::Drop,
               DropReason::Icmpv6TooBig});
  {
    PacketBuilder tcp;
    tcp.src(kAddrA)
        .dst(ip6("2001:db8::1"))
        .nextHeader(kNextHeaderTcp)
        .payload(std::vector<uint8_t>(20, 0));
    c.push_back(
        {"S30_tcp_to_native", tcp, kClientA, P, {}, Kind::Drop, DropReason::NotBubbleOrIcmpv6});
    PacketBuilder udp;
    udp.src(kAddrA)
        .dst(ip6("2001:db8::1"))
        .nextHeader(kNextHeaderUdp)
        .payload(std::vector<uint8_t>(8, 0));
    c.push_back(
        {"S30_udp_to_native", udp, kClientA, P, {}, Kind::Drop, DropReason::NotBubbleOrIcmpv6});
    PacketBuilder routing;
    routing.src(kAddrA)
        .dst(ip6("2001:db8::1"))
        .nextHeader(kNextHeaderRouting)
        .payload(std::vector<uint8_t>(24, 0));
    c.push_back({"S31_routing_header",
                 routing,
                 kClientA,
                 P,
                 {},
                 Kind::Drop,
                 DropReason::NotBubbleOrIcmpv6});
    PacketBuilder unreachable;
    unreachable.src(kAddrA).dst(ip6("2001:db8::1")).icmp(kIcmpDestUnreachable, 0, 40);
    c.push_back({"S30_icmpv6_error_not_echo",
                 unreachable,
                 kClientA,
                 P,
                 {},
                 Kind::Drop,
                 DropReason::Icmpv6TypeNotAllowed});
    c.push_back({"S30_icmpv6_error_any_type_policy", unreachable, kClientA, P,
                 [](ServerPolicy& p) { p.echoOnly = false; }, Kind::ForwardIpv6});
  }
  c.push_back({"S32_destination_link_local",
               echo(kAddrA, ip6("fe80::1")),
               kClientA,
               P,
               {},
               Kind::Drop,
               DropReason::DstNotGlobalScope});
  c.push_back({"S32_destination_multicast",
               echo(kAddrA, ip6("ff0e::1")),
               kClientA,
               P,
               {},
               Kind::Drop,
               DropReason::DstNotGlobalScope});
  {
    PacketBuilder trailers = bubble(kAddrA, kAddrB);
    trailers.trailers(
        {0x03, 0x0e, 0x00, 0x00, 198, 51, 100, 9, 0x0d, 0xd9, 198, 51, 100, 10, 0x0d, 0xda});
    c.push_back({"S33_bubble_with_trailers",
                 trailers,
                 kClientA,
                 P,
                 {},
                 Kind::ForwardUdp,
                 DropReason::None,
                 P,
                 kClientB,
                 true});
  }
  // Issue 9, hole 2 (reflection): the size caps measure everything that would be relayed, the
  // trailers included, and bubbles have one too.
  {
    PacketBuilder big = bubble(kAddrA, kAddrB);
    std::vector<uint8_t> t = {0x7f, 200};
    t.resize(202, 0xaa);
    big.trailers(t);
    c.push_back({"reflection_bubble_with_200_byte_trailer",
                 big,
                 kClientA,
                 P,
                 {},
                 Kind::Drop,
                 DropReason::BubbleTooBig});
    c.push_back({"reflection_bubble_to_other_server_client",
                 PacketBuilder(big).dst(kOtherServerClient),
                 kClientA,
                 P,
                 {},
                 Kind::Drop,
                 DropReason::BubbleTooBig});
    c.push_back({"bubble_cap_off", big, kClientA, P, [](ServerPolicy& p) { p.maxBubbleBytes = 0; },
                 Kind::ForwardUdp, DropReason::None, P, kClientB, true});
    PacketBuilder atCap = bubble(kAddrA, kAddrB);
    std::vector<uint8_t> t88 = {0x7f, 86};
    t88.resize(88, 0xaa);
    atCap.trailers(t88);
    c.push_back({"bubble_of_128_bytes_forwarded",
                 atCap,
                 kClientA,
                 P,
                 {},
                 Kind::ForwardUdp,
                 DropReason::None,
                 P,
                 kClientB,
                 true});
    PacketBuilder overCap = bubble(kAddrA, kAddrB);
    std::vector<uint8_t> t89 = {0x7f, 87};
    t89.resize(89, 0xaa);
    overCap.trailers(t89);
    c.push_back({"bubble_of_129_bytes_dropped",
                 overCap,
                 kClientA,
                 P,
                 {},
                 Kind::Drop,
                 DropReason::BubbleTooBig});
    PacketBuilder echoTrailers = echo(kAddrA, kAddrB);  // 66-byte IPv6 packet
    std::vector<uint8_t> t70 = {0x7f, 68};
    t70.resize(70, 0xaa);
    echoTrailers.trailers(t70);
    c.push_back({"reflection_echo_with_trailers_over_cap",
                 echoTrailers,
                 kClientA,
                 P,
                 {},
                 Kind::Drop,
                 DropReason::Icmpv6TooBig});
  }
  c.push_back({"S34_echo_to_server_link_local",
               echo(kAddrA, serverLinkLocal(kPrimary)),
               kClientA,
               P,
               {},
               Kind::Drop,
               DropReason::LocalUnhandled});
  c.push_back({"native_forward_disabled", echo(kAddrA, ip6("2001:db8::1")), kClientA, P,
               [](ServerPolicy& p) { p.forwardNative = false; }, Kind::Drop,
               DropReason::NativeForwardDisabled});
  c.push_back({"echo_between_clients_is_forwarded",
               echo(kAddrA, kAddrB),
               kClientA,
               P,
               {},
               Kind::ForwardUdp,
               DropReason::None,
               P,
               kClientB,
               true});
  c.push_back({"reserved_flag_bits_accepted",
               bubble(teredoOf(kPrimary, kClientA, 0x4300 | 0x1234), kAddrB),
               kClientA,
               P,
               {},
               Kind::ForwardUdp,
               DropReason::None,
               P,
               kClientB,
               true});
  return c;
}

class ServerDecisionTest : public testing::TestWithParam<ServerCase> {};

TEST_P(ServerDecisionTest, Decide) {
  const ServerCase& c = GetParam();
  ServerPolicy policy = basePolicy();
  if (c.tweak) {
    c.tweak(policy);
  }
  const std::vector<uint8_t> bytes = c.packet.build();
  const Result<TeredoPacket> p = parsePacket(bytes);
  ASSERT_TRUE(p.ok()) << dropReasonLabel(p.reason());
  const ServerAction a = decideServer(*p, c.source, c.arrivedOn, policy);
  ASSERT_EQ(a.kind, c.kind) << (a.kind == Kind::Drop ? dropReasonLabel(a.reason) : "");
  EXPECT_EQ(a.reason, c.reason) << dropReasonLabel(a.reason);  // None unless a drop
  if (c.kind == Kind::Drop) {
    EXPECT_EQ(dropReasonLabel(a.reason), dropReasonLabel(c.reason));
    return;
  }
  if (c.kind == Kind::SendRa || c.kind == Kind::ForwardUdp) {
    EXPECT_EQ(a.from, c.from);
    EXPECT_EQ(a.to, c.to);
  }
  if (c.kind == Kind::ForwardUdp) {
    EXPECT_EQ(a.withOrigin, c.withOrigin);
    // Relayed payload: the IPv6 packet plus any RFC 6081 trailers, byte-identical (S20, S33).
    EXPECT_EQ(p->encapsulated.size(), p->ipv6.size() + p->trailers.size());
  }
  if (c.kind == Kind::ForwardIpv6) {
    // Only 40 + payload length goes to native IPv6, never the trailers (S28).
    EXPECT_EQ(p->ipv6.size(), kIpv6HeaderSize + p->ip.payloadLength);
  }
}

INSTANTIATE_TEST_SUITE_P(Spec, ServerDecisionTest, testing::ValuesIn(serverCases()),
                         [](const auto& tpi) {
                           std::string n = tpi.param.name;
                           for (char& ch : n) {
                             if (!isalnum(static_cast<unsigned char>(ch))) {
                               ch = '_';
                             }
                           }
                           return n;
                         });

// S1 / S4 / S5: the RA's bytes.
TEST(ServerRa, S1_RaFieldsForPlainRs) {
  const auto bytes = rs("fe80::ffff:ffff:ffff").build();
  const auto p = parsePacket(bytes);
  ASSERT_TRUE(p.ok());
  std::vector<uint8_t> out(256);
  const size_t n = buildServerRa(out, *p, kClientA, basePolicy(), 1280);
  ASSERT_EQ(n, 117u);
  const auto ra = parsePacket(Bytes(out.data(), n));
  ASSERT_TRUE(ra.ok());
  EXPECT_TRUE(ra->hasAuth);
  EXPECT_EQ(ra->auth.nonce, kNonce);
  EXPECT_EQ(ra->auth.confirmation, 0);
  EXPECT_TRUE(ra->auth.clientId.empty());
  EXPECT_EQ(test::toHex(out.data() + 13, 8), "000063bf3ffffdd2");  // origin for 192.0.2.45:40000
  EXPECT_EQ(ra->ip.src, serverLinkLocal(kPrimary));
  EXPECT_EQ(formatIpv6(ra->ip.src), "fe80::8000:f227:bec9:1c87");
  EXPECT_EQ(ra->ip.dst, ip6("fe80::ffff:ffff:ffff"));
  EXPECT_EQ(ra->ip.hopLimit, 255);
  const Bytes icmp = ra->ipv6Payload();
  EXPECT_EQ(icmp[0], kIcmpRouterAdvertisement);
  EXPECT_EQ(icmp[1], 0);
  EXPECT_EQ(icmpv6Checksum(ra->ip.src, ra->ip.dst, icmp), 0);
  // Exactly one PIO, 2001:0:<primary>::/64 with A=1; MTU option 1280.
  EXPECT_EQ(icmp[16], 3);
  EXPECT_EQ(icmp[18], 64);
  EXPECT_EQ(icmp[19], 0x40);
  EXPECT_EQ(test::toHex(&icmp[32], 16), "200100004136e3780000000000000000");
  EXPECT_EQ(icmp[48], 5);
  EXPECT_EQ(test::toHex(&icmp[52], 4), "00000500");
}

TEST(ServerRa, S4_SecondaryStillAdvertisesPrimary) {
  const auto bytes = rs("fe80::ffff:ffff:ffff").build();
  const auto p = parsePacket(bytes);
  std::vector<uint8_t> out(256);
  const size_t n = buildServerRa(out, *p, kClientA, basePolicy(), 1280);
  const auto ra = parsePacket(Bytes(out.data(), n));
  EXPECT_EQ(test::toHex(&ra->ipv6Payload()[32], 8), "200100004136e378");
}

TEST(ServerRa, S5_NoAuthInNoAuthOut) {
  PacketBuilder b;
  b.src(ip6("fe80::ffff:ffff:ffff")).dst(allRoutersMulticast()).icmp(133);
  const auto bytes = b.build();
  const auto p = parsePacket(bytes);
  std::vector<uint8_t> out(256);
  const size_t n = buildServerRa(out, *p, kClientA, basePolicy(), 1280);
  ASSERT_EQ(n, 104u);  // no auth header, never Miredo's stale-nonce header
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(out[1], 0);
}

TEST(ServerRa, S5_IdAndValueIgnoredNonceEchoed) {
  PacketBuilder b = rs("fe80::ffff:ffff:ffff");
  b.auth(kNonce, 3, 5);
  const auto bytes = b.build();
  const auto p = parsePacket(bytes);
  std::vector<uint8_t> out(256);
  const size_t n = buildServerRa(out, *p, kClientA, basePolicy(), 0);
  ASSERT_EQ(n, 109u);  // Microsoft shape: no MTU option
  const auto ra = parsePacket(Bytes(out.data(), n));
  EXPECT_TRUE(ra->auth.clientId.empty());
  EXPECT_TRUE(ra->auth.authValue.empty());
  EXPECT_EQ(ra->auth.nonce, kNonce);
}

TEST(ServerRa, S6_WindowsDestinationIsTheSource) {
  const auto bytes = rs("fe80::8000:ffff:ffff:fffe").build();
  const auto p = parsePacket(bytes);
  std::vector<uint8_t> out(256);
  const size_t n = buildServerRa(out, *p, kClientA, basePolicy(), 1280);
  const auto ra = parsePacket(Bytes(out.data(), n));
  EXPECT_EQ(ra->ip.dst, ip6("fe80::8000:ffff:ffff:fffe"));
}

TEST(ServerRa, LegacyPrefixAdvertised) {
  const auto bytes = rs("fe80::5445:5245:444f").build();
  const auto p = parsePacket(bytes);
  ServerPolicy policy = basePolicy();
  policy.prefix = kLegacyPrefix;
  std::vector<uint8_t> out(256);
  const size_t n = buildServerRa(out, *p, kClientA, policy, 1280);
  const auto ra = parsePacket(Bytes(out.data(), n));
  EXPECT_EQ(test::toHex(&ra->ipv6Payload()[32], 8), "3ffe831f4136e378");
}

}  // namespace
}  // namespace teredo

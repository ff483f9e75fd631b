// Reference Teredo addresses (E1-E4) and checks P1, P2, P4, P7 (docs/conformance.md).
#include "teredo/address.h"

#include <gtest/gtest.h>

namespace teredo {
namespace {

uint32_t ip(const char* s) {
  return *parseIpv4(s);
}
Ipv6Addr ip6(const char* s) {
  return *parseIpv6(s);
}

struct AddressVector {
  const char* name;
  const char* address;
  const char* server;
  uint16_t flags;
  uint16_t port;
  const char* client;
};

// P1: decode E1-E4 into their fields and re-encode them byte-exactly.
const AddressVector kVectors[] = {
    {"E1_microsoft_doc", "2001:0000:4136:e378:8000:63bf:3fff:fdd2", "65.54.227.120", 0x8000, 40000,
     "192.0.2.45"},
    {"E2_miredo_readme", "2001:0:8ac3:9ddd:0:7ffa:ad80:3464", "138.195.157.221", 0x0000, 32773,
     "82.127.203.155"},
    {"E3_remlab_rfc5991", "2001:0:53aa:64c:182a:7b61:8da4:263d", "83.170.6.76", 0x182a, 33950,
     "114.91.217.194"},
    {"E4_trex", "2001:0:c38c:c38c:2002:602f:bcd3:2f25", "195.140.195.140", 0x2002, 40912,
     "67.44.208.218"},
};

class AddressVectorTest : public testing::TestWithParam<AddressVector> {};

TEST_P(AddressVectorTest, P1_DecodesAndReencodes) {
  const AddressVector& v = GetParam();
  const Ipv6Addr a = ip6(v.address);
  ASSERT_TRUE(isTeredo(a, kDefaultPrefix));
  const TeredoFields f = decodeTeredo(a);
  EXPECT_EQ(f.server, ip(v.server));
  EXPECT_EQ(f.flags, v.flags);
  EXPECT_EQ(f.mappedPort, v.port);
  EXPECT_EQ(f.mappedAddr, ip(v.client));
  EXPECT_EQ(encodeTeredo(kDefaultPrefix, f), a);
  EXPECT_EQ(f.cone(), (v.flags & kFlagCone) != 0);
}

INSTANTIATE_TEST_SUITE_P(Spec, AddressVectorTest, testing::ValuesIn(kVectors),
                         [](const auto& tpi) { return std::string(tpi.param.name); });

TEST(Address, P2_ReservedFlagBitsStillDecode) {
  // R, U and G set: receivers ignore them (RFC 5991), the address still parses.
  TeredoFields f{ip("65.54.227.120"), 0x4300 | 0x0012, 40000, ip("192.0.2.45")};
  const Ipv6Addr a = encodeTeredo(kDefaultPrefix, f);
  EXPECT_TRUE(isTeredo(a, kDefaultPrefix));
  EXPECT_EQ(decodeTeredo(a), f);
  EXPECT_FALSE(decodeTeredo(a).cone());
}

TEST(Address, LegacyPrefixIsConfigurable) {
  const Ipv6Addr a = ip6("3ffe:831f:4136:e378:8000:63bf:3fff:fdd2");
  EXPECT_FALSE(isTeredo(a, kDefaultPrefix));
  EXPECT_TRUE(isTeredo(a, kLegacyPrefix));
  EXPECT_EQ(decodeTeredo(a).mappedPort, 40000);
}

TEST(Address, P4_ServerLinkLocal) {
  EXPECT_EQ(formatIpv6(serverLinkLocal(ip("65.54.227.120"))), "fe80::8000:f227:bec9:1c87");
  EXPECT_EQ(formatIpv6(serverLinkLocal(ip("83.170.6.76"))), "fe80::8000:f227:ac55:f9b3");
}

struct GlobalCase {
  const char* addr;
  bool rfcGlobal;     // RFC 4380 §5.2.4 list only
  bool policyGlobal;  // with the RFC 6890 blocks treated as non-global (default)
};

// P7: one case per block of RFC 4380 §5.2.4's non-global list, boundaries, and the policy blocks.
const GlobalCase kGlobalCases[] = {
    {"0.0.0.0", false, false},         {"0.255.255.255", false, false},
    {"1.0.0.0", true, true},           {"127.0.0.1", false, false},
    {"10.1.2.3", false, false},        {"9.255.255.255", true, true},
    {"11.0.0.0", true, true},          {"172.15.255.255", true, true},
    {"172.16.0.0", false, false},      {"172.31.255.255", false, false},
    {"172.32.0.0", true, true},        {"192.168.0.1", false, false},
    {"192.169.0.0", true, true},       {"169.254.1.1", false, false},
    {"192.88.98.255", true, true},     {"192.88.99.0", false, false},
    {"192.88.99.255", false, false},   {"192.88.100.0", true, true},
    {"223.255.255.254", true, true},   {"224.0.0.0", false, false},
    {"239.255.255.255", false, false}, {"255.255.255.255", false, false},
    {"192.0.2.10", true, true},        {"198.51.100.10", true, true},
    {"203.0.113.2", true, true},       {"65.54.227.120", true, true},
    {"100.64.0.1", true, false},       {"100.127.255.255", true, false},
    {"100.128.0.0", true, true},       {"240.0.0.1", true, false},
    {"255.255.255.254", true, false},  {"198.18.0.1", true, false},
    {"198.19.255.255", true, false},   {"198.20.0.0", true, true},
    {"192.0.0.8", true, false},
};

class GlobalTest : public testing::TestWithParam<GlobalCase> {};

TEST_P(GlobalTest, P7_GlobalUnicast) {
  const GlobalCase& c = GetParam();
  EXPECT_EQ(isGlobalUnicast(ip(c.addr), GlobalPolicy{.rfc6890NonGlobal = false}), c.rfcGlobal)
      << c.addr;
  EXPECT_EQ(isGlobalUnicast(ip(c.addr)), c.policyGlobal) << c.addr;
}

INSTANTIATE_TEST_SUITE_P(Spec, GlobalTest, testing::ValuesIn(kGlobalCases));

TEST(Address, TextForms) {
  EXPECT_FALSE(parseIpv4("1.2.3"));
  EXPECT_FALSE(parseIpv4("1.2.3.4.5"));
  EXPECT_FALSE(parseIpv4("01.2.3.256"));
  EXPECT_FALSE(parseIpv4(""));
  EXPECT_EQ(formatIpv4(ip("198.51.100.10")), "198.51.100.10");
  EXPECT_FALSE(parseIpv6("2001::1::2"));
  EXPECT_EQ(formatEndpoint(Endpoint{ip("1.2.3.4"), 3544}), "1.2.3.4:3544");
}

TEST(Address, Scopes) {
  EXPECT_TRUE(ip6("fe80::1").isLinkLocal());
  EXPECT_FALSE(ip6("fe80::1").isGlobalScope());
  EXPECT_FALSE(ip6("ff0e::1").isGlobalScope());
  EXPECT_FALSE(ip6("::").isGlobalScope());
  EXPECT_FALSE(ip6("::1").isGlobalScope());
  EXPECT_FALSE(ip6("fec0::1").isGlobalScope());
  EXPECT_TRUE(ip6("2001:db8::1").isGlobalScope());
  EXPECT_EQ(allRoutersMulticast(), ip6("ff02::2"));
}

}  // namespace
}  // namespace teredo

// IcmpSender (services/relay/icmp_sender.h): the process-wide ICMPv6 error budget (RFC 4443
// §2.4(f)), driven with injected time, and what send() puts on the wire, received by a raw
// ICMPv6 socket in a private network namespace (root; skipped otherwise).
#include "icmp_sender.h"

#include <gtest/gtest.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "../net/netns_helper.h"
#include "../net/test_packets.h"

namespace teredo::relay {
namespace {

using net::testing::runInNetns;
using net::testing::v6;

constexpr uint64_t kMs = 1'000'000;

TEST(IcmpSender, SendsNothingUntilARateIsSet) {
  IcmpSender s;
  EXPECT_FALSE(s.allow(0));
  EXPECT_FALSE(s.allow(10'000 * kMs));
}

struct BudgetCase {
  std::string name;
  double perSecond;
  double burst;
  /// (time in ms, allowed?) in order.
  std::vector<std::pair<uint64_t, bool>> steps;
};

class IcmpSenderBudget : public ::testing::TestWithParam<BudgetCase> {};

TEST_P(IcmpSenderBudget, RateAndBurstAreRespected) {
  const BudgetCase& c = GetParam();
  IcmpSender s;
  s.setRate(c.perSecond, c.burst);
  for (size_t i = 0; i < c.steps.size(); ++i) {
    EXPECT_EQ(s.allow(c.steps[i].first * kMs), c.steps[i].second)
        << "step " << i << " at " << c.steps[i].first << " ms";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc4443Section24f, IcmpSenderBudget,
    ::testing::Values(
        // Miredo: 10 per second, no burst.
        BudgetCase{"miredo_10_per_second",
                   10,
                   1,
                   {{0, true}, {0, false}, {50, false}, {100, true}, {150, false}, {200, true}}},
        // The default: 10 per second with a burst of 3 here; a long pause never buys more
        // than the burst.
        BudgetCase{"burst_then_rate",
                   10,
                   3,
                   {{0, true},
                    {0, true},
                    {0, true},
                    {0, false},
                    {100, true},
                    {100, false},
                    {1000, true},
                    {1000, true},
                    {1000, true},
                    {1000, false}}},
        // Rate 0 means no errors at all (not "unlimited").
        BudgetCase{"zero_rate_sends_nothing", 0, 10, {{0, false}, {5000, false}}}),
    [](const ::testing::TestParamInfo<BudgetCase>& i) { return i.param.name; });

TEST(IcmpSender, ReconfiguringAppliesToWhatFollows) {
  IcmpSender s;
  s.setRate(1, 1);
  EXPECT_TRUE(s.allow(0));
  EXPECT_FALSE(s.allow(500 * kMs));
  s.setRate(0, 1);  // a reload that turns errors off
  EXPECT_FALSE(s.allow(5000 * kMs));
  s.setRate(1, 1);
  EXPECT_TRUE(s.allow(6000 * kMs));
}

TEST(IcmpSender, SendWithoutASocketFails) {
  IcmpSender s;
  EXPECT_FALSE(s.valid());
  const std::vector<uint8_t> offending =
      net::testing::icmpv6Echo(v6("::1"), v6("2001:db8::5"), kIcmpEchoRequest, 1, 1, 8);
  EXPECT_FALSE(s.send(1, 4, offending));
}

/// Reads ICMPv6 messages (no IPv6 header on a raw socket) until one of `type` arrives.
std::vector<uint8_t> receiveIcmp(int fd, uint8_t type) {
  for (int i = 0; i < 100; ++i) {
    struct pollfd p {
      fd, POLLIN, 0
    };
    if (::poll(&p, 1, 10000) != 1) {
      break;
    }
    std::vector<uint8_t> buf(2048);
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n > 0 && buf[0] == type) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
  }
  return {};
}

TEST(IcmpSender, QuotesTheOffendingPacketToItsSource) {
  runInNetns([] {
    const int listener = ::socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
    ASSERT_GE(listener, 0) << std::strerror(errno);
    IcmpSender s;
    const Status opened = s.open();
    ASSERT_TRUE(opened.ok()) << opened.message();
    // A packet from ::1, longer than an error may quote (RFC 4443 §2.4(c): 1280 bytes in all).
    const std::vector<uint8_t> offending = net::testing::icmpv6Echo(
        v6("::1"), v6("2001:db8::5"), kIcmpEchoRequest, 7, 9, 2000 - kIpv6HeaderSize - 8);
    ASSERT_EQ(offending.size(), 2000u);
    ASSERT_TRUE(s.send(ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_ADDR, offending));
    // The kernel accepted the checksum it computed, or the listener would see nothing.
    const std::vector<uint8_t> got = receiveIcmp(listener, ICMP6_DST_UNREACH);
    ASSERT_EQ(got.size(), kMinMtu - kIpv6HeaderSize);
    EXPECT_EQ(got[1], ICMP6_DST_UNREACH_ADDR);
    EXPECT_EQ(std::vector<uint8_t>(got.begin() + 4, got.begin() + 8), std::vector<uint8_t>(4, 0));
    EXPECT_TRUE(std::equal(got.begin() + 8, got.end(), offending.begin()));

    // A short offending packet is quoted whole.
    const std::vector<uint8_t> small =
        net::testing::icmpv6Echo(v6("::1"), v6("2001:db8::6"), kIcmpEchoRequest, 1, 2, 4);
    ASSERT_TRUE(s.send(ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_ADDR, small));
    const std::vector<uint8_t> got2 = receiveIcmp(listener, ICMP6_DST_UNREACH);
    ASSERT_EQ(got2.size(), 8 + small.size());
    EXPECT_TRUE(std::equal(got2.begin() + 8, got2.end(), small.begin()));
    ::close(listener);
  });
}

TEST(IcmpSender, RefusesSomethingThatIsNotAnIpv6Packet) {
  runInNetns([] {
    IcmpSender s;
    const Status opened = s.open();
    ASSERT_TRUE(opened.ok()) << opened.message();
    const std::vector<uint8_t> tooShort(kIpv6HeaderSize - 1, 0x60);
    EXPECT_FALSE(s.send(ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_ADDR, tooShort));
  });
}

}  // namespace
}  // namespace teredo::relay

// RawIpv6Socket tests (lib/net/raw.h), inside a private network namespace (needs root).
#include "net/raw.h"

#include <gtest/gtest.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <vector>

#include "netns_helper.h"
#include "test_packets.h"

namespace teredo::net {
namespace {

using testing::icmpv6Echo;
using testing::runInNetns;
using testing::v6;

TEST(RawIpv6Socket, EchoToLoopbackArrivesOnAnIcmpv6Socket) {
  runInNetns([] {
    int icmp = ::socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMPV6);
    ASSERT_GE(icmp, 0);
    StatusOr<RawIpv6Socket> raw = RawIpv6Socket::open();
    ASSERT_TRUE(raw.ok()) << raw.status().message();
    std::vector<uint8_t> echo = icmpv6Echo(v6("::1"), v6("::1"), kIcmpEchoRequest, 0x4242, 9, 16);
    EXPECT_EQ(raw->send(echo), 0);
    EXPECT_EQ(raw->stats().sent, 1u);
    EXPECT_EQ(raw->stats().failed, 0u);

    // An ICMPv6 raw socket gets the message without the IPv6 header: the request we sent, and
    // the kernel's reply to it.
    bool sawRequest = false;
    bool sawReply = false;
    for (int i = 0; i < 20 && !(sawRequest && sawReply); ++i) {
      if (!testing::waitAnyReadable({icmp})) {
        break;
      }
      uint8_t buf[256];
      ssize_t n = ::recv(icmp, buf, sizeof(buf), 0);
      ASSERT_GE(n, 8);
      if (buf[4] != 0x42 || buf[5] != 0x42 || buf[7] != 9) {
        continue;
      }
      std::vector<uint8_t> got(buf, buf + n);
      std::vector<uint8_t> sent(echo.begin() + kIpv6HeaderSize, echo.end());
      if (buf[0] == kIcmpEchoRequest) {
        EXPECT_EQ(got, sent);
        sawRequest = true;
      } else if (buf[0] == kIcmpEchoReply) {
        sawReply = true;
      }
    }
    EXPECT_TRUE(sawRequest);
    EXPECT_TRUE(sawReply);
    ::close(icmp);
  });
}

TEST(RawIpv6Socket, MalformedAndUnroutablePacketsAreCounted) {
  runInNetns([] {
    StatusOr<RawIpv6Socket> raw = RawIpv6Socket::open();
    ASSERT_TRUE(raw.ok()) << raw.status().message();
    std::vector<uint8_t> tooShort(20, 0x60);
    EXPECT_EQ(raw->send(tooShort), -EINVAL);
    std::vector<uint8_t> echo = icmpv6Echo(v6("::1"), v6("::1"), kIcmpEchoRequest, 1, 1, 8);
    std::vector<uint8_t> lengthMismatch = echo;
    lengthMismatch.push_back(0);
    EXPECT_EQ(raw->send(lengthMismatch), -EINVAL);
    std::vector<uint8_t> notV6 = echo;
    notV6[0] = 0x45;
    EXPECT_EQ(raw->send(notV6), -EINVAL);
    EXPECT_EQ(raw->stats().malformed, 3u);
    EXPECT_EQ(raw->stats().retries, 0u);

    // The namespace has no route to 2001:db8::/32: ENETUNREACH is retried like a queued ICMP
    // error (Miredo does the same), then given up on.
    std::vector<uint8_t> far =
        icmpv6Echo(v6("2001:db8::1"), v6("2001:db8::99"), kIcmpEchoRequest, 1, 1, 8);
    EXPECT_EQ(raw->send(far), -ENETUNREACH);
    EXPECT_EQ(raw->stats().retries, static_cast<uint64_t>(RawIpv6Socket::kMaxAttempts - 1));
    EXPECT_EQ(raw->stats().failed, 4u);
    EXPECT_EQ(raw->stats().sent, 0u);
  });
}

TEST(RawIpv6Socket, OpenNeedsCapNetRaw) {
  if (!testing::isRoot()) {
    StatusOr<RawIpv6Socket> raw = RawIpv6Socket::open();
    ASSERT_FALSE(raw.ok());
    EXPECT_EQ(raw.status().sysErrno(), EPERM);
    EXPECT_EQ(raw.status().message(),
              "socket(AF_INET6, SOCK_RAW, IPPROTO_RAW): Operation not permitted");
    return;
  }
  StatusOr<RawIpv6Socket> raw = RawIpv6Socket::open();
  EXPECT_TRUE(raw.ok()) << raw.status().message();
}

}  // namespace
}  // namespace teredo::net

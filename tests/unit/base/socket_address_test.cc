// parseSocketAddress: the admin listener's grammar, table-driven.
#include "base/socket_address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace teredo {
namespace {

TEST(SocketAddress, ParsesIpv4AndBracketedIpv6) {
  struct Case {
    const char* text;
    bool ipv6;
    const char* host;
    uint16_t port;
  } cases[] = {
      {"127.0.0.1:9544", false, "127.0.0.1", 9544},
      {"0.0.0.0:0", false, "0.0.0.0", 0},
      {"[::1]:9544", true, "::1", 9544},
      {"[::]:65535", true, "::", 65535},
      {"[2001:db8::7]:80", true, "2001:db8::7", 80},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const auto a = parseSocketAddress(c.text);
    ASSERT_TRUE(a.ok()) << a.status().message();
    EXPECT_EQ(a->ipv6, c.ipv6);
    EXPECT_EQ(a->host, c.host);
    EXPECT_EQ(a->port, c.port);
    EXPECT_EQ(a->get()->sa_family, c.ipv6 ? AF_INET6 : AF_INET);
    EXPECT_EQ(a->length, c.ipv6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
    const uint16_t netPort = c.ipv6 ? reinterpret_cast<const sockaddr_in6*>(a->get())->sin6_port
                                    : reinterpret_cast<const sockaddr_in*>(a->get())->sin_port;
    EXPECT_EQ(ntohs(netPort), c.port);
  }
}

TEST(SocketAddress, RefusalsSayWhatIsWrong) {
  struct Case {
    const char* text;
    const char* expected;
  } cases[] = {
      {"127.0.0.1", "no host:port"},
      {"127.0.0.1:", "no host:port"},
      {":9544", "no host:port"},
      {"::1:9544", "needs brackets"},
      {"[::1:9544", "unbalanced brackets"},
      {"[::1]x:9544", "unbalanced brackets"},
      {"[]:9544", "unbalanced brackets"},
      {"localhost:9544", "not an IPv4 address"},
      {"[127.0.0.1]:9544", "not an IPv6 address"},
      {"127.0.0.1:70000", "0..65535"},
      {"127.0.0.1:12ab", "0..65535"},
      {"127.0.0.1:-1", "0..65535"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const auto a = parseSocketAddress(c.text);
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(a.status().message().find(c.expected), std::string::npos) << a.status().message();
    EXPECT_NE(a.status().message().find("[ipv6]:port"), std::string::npos);
  }
}

}  // namespace
}  // namespace teredo

// Netlink (lib/net/netlink.h) on its own, against `lo` of a private network namespace (root;
// skipped otherwise), checked through the kernel's /proc views and the old ioctls. The Tun tests
// (tun_test.cc) use it through Tun.
#include "net/netlink.h"

#include <gtest/gtest.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "netns_helper.h"
#include "test_packets.h"

namespace teredo::net {
namespace {

using testing::readFile;
using testing::runInNetns;
using testing::v6;

Netlink openOrFail() {
  StatusOr<Netlink> n = Netlink::open();
  EXPECT_TRUE(n.ok()) << n.status().message();
  return n.ok() ? std::move(n).value() : Netlink();
}

/// The device's flags and MTU through the old ioctls.
struct LinkState {
  short flags = 0;
  int mtu = 0;
};
LinkState linkState(const char* name) {
  LinkState st;
  const int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
    st.flags = ifr.ifr_flags;
  }
  if (::ioctl(fd, SIOCGIFMTU, &ifr) == 0) {
    st.mtu = ifr.ifr_mtu;
  }
  ::close(fd);
  return st;
}

/// /proc/net/ipv6_route has a line for prefix/len (32 hex digits, 2 hex digits) on `dev`.
bool routeListed(const std::string& prefixHex, const std::string& lenHex, const std::string& dev) {
  const std::string table = readFile("/proc/net/ipv6_route");
  const std::string want = prefixHex + " " + lenHex + " ";
  for (size_t pos = table.find(want); pos != std::string::npos; pos = table.find(want, pos + 1)) {
    const size_t end = table.find('\n', pos);
    const std::string line = table.substr(pos, end - pos);
    if (line.size() >= dev.size() && line.compare(line.size() - dev.size(), dev.size(), dev) == 0) {
      return true;
    }
  }
  return false;
}

TEST(Netlink, LinkMtuAndStateAreSet) {
  runInNetns([] {
    Netlink nl = openOrFail();
    ASSERT_TRUE(nl.valid());
    const int lo = static_cast<int>(::if_nametoindex("lo"));
    ASSERT_GT(lo, 0);
    for (const uint32_t mtu : {1400u, 9000u, 1280u}) {
      const Status s = nl.setMtu(lo, "lo", mtu);
      EXPECT_TRUE(s.ok()) << s.message();
      EXPECT_EQ(linkState("lo").mtu, static_cast<int>(mtu));
    }
    Status s = nl.setUp(lo, "lo", false);
    EXPECT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(linkState("lo").flags & IFF_UP, 0);
    s = nl.setUp(lo, "lo", true);
    EXPECT_TRUE(s.ok()) << s.message();
    EXPECT_NE(linkState("lo").flags & IFF_UP, 0);
  });
}

TEST(Netlink, AddressIsAddedAndReAddingItIsNotAnError) {
  runInNetns([] {
    Netlink nl = openOrFail();
    const int lo = static_cast<int>(::if_nametoindex("lo"));
    Status s = nl.addAddress(lo, "lo", v6("2001:db8:7::1"), 64);
    ASSERT_TRUE(s.ok()) << s.message();
    // /proc/net/if_inet6: address (32 hex), ifindex, prefix length (hex), scope, flags, name.
    const std::string table = readFile("/proc/net/if_inet6");
    EXPECT_NE(table.find("20010db8000700000000000000000001"), std::string::npos) << table;
    s = nl.addAddress(lo, "lo", v6("2001:db8:7::1"), 64);
    EXPECT_TRUE(s.ok()) << s.message();
  });
}

TEST(Netlink, RoutesAreAddedOnceAndDeleted) {
  runInNetns([] {
    Netlink nl = openOrFail();
    const int lo = static_cast<int>(::if_nametoindex("lo"));
    const std::string hex = "20010db8000800000000000000000000";
    Status s = nl.addRoute(lo, "lo", v6("2001:db8:8::"), 48);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_TRUE(routeListed(hex, "30", "lo"));
    // The exact route again: EEXIST, and the message names what was asked.
    s = nl.addRoute(lo, "lo", v6("2001:db8:8::"), 48);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("2001:db8:8::"), std::string::npos) << s.message();
    s = nl.deleteRoute(lo, "lo", v6("2001:db8:8::"), 48);
    EXPECT_TRUE(s.ok()) << s.message();
    EXPECT_FALSE(routeListed(hex, "30", "lo"));
    s = nl.deleteRoute(lo, "lo", v6("2001:db8:8::"), 48);
    EXPECT_FALSE(s.ok());  // nothing left to delete
  });
}

/// `ip -6 route show table T` in this namespace (iproute2 reads the table the way an operator
/// and a BGP speaker's kernel protocol would).
std::string routesInTable(uint32_t table) {
  std::string out;
  const std::string cmd = "ip -6 route show table " + std::to_string(table) + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    return out;
  }
  char buf[512];
  while (std::fgets(buf, sizeof(buf), p) != nullptr) {
    out += buf;
  }
  ::pclose(p);
  return out;
}

TEST(Netlink, ReplaceRoutePutsAnOwnedRouteInItsTableIdempotently) {
  runInNetns([] {
    Netlink nl = openOrFail();
    const int lo = static_cast<int>(::if_nametoindex("lo"));
    const RouteAttributes attrs{100, 199, 1024};
    Status s = nl.replaceRoute(lo, "lo", v6("2001::"), 32, attrs);
    ASSERT_TRUE(s.ok()) << s.message();
    const std::string listed = routesInTable(100);
    EXPECT_NE(listed.find("2001::/32 dev lo proto 199 metric 1024"), std::string::npos) << listed;
    EXPECT_EQ(routesInTable(254).find("2001::/32"), std::string::npos) << "not in main";
    // Re-asserting the same route is not an error and leaves one route.
    s = nl.replaceRoute(lo, "lo", v6("2001::"), 32, attrs);
    EXPECT_TRUE(s.ok()) << s.message();
    const std::string again = routesInTable(100);
    EXPECT_EQ(again.find("2001::/32"), again.rfind("2001::/32")) << again;
    // A table id that does not fit rtm_table travels in RTA_TABLE.
    s = nl.replaceRoute(lo, "lo", v6("2001::"), 32, RouteAttributes{70000, 199, 0});
    EXPECT_TRUE(s.ok()) << s.message();
    EXPECT_NE(routesInTable(70000).find("2001::/32"), std::string::npos);

    s = nl.deleteRoute(lo, "lo", v6("2001::"), 32, attrs);
    EXPECT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(routesInTable(100).find("2001::/32"), std::string::npos);
    s = nl.deleteRoute(lo, "lo", v6("2001::"), 32, attrs);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("table 100 proto 199 metric 1024"), std::string::npos)
        << s.message();
  });
}

TEST(Netlink, ErrorsNameTheDevice) {
  runInNetns([] {
    Netlink nl = openOrFail();
    const int missing = 99999;
    const Status s = nl.setMtu(missing, "nosuch0", 1400);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("nosuch0"), std::string::npos) << s.message();
    const Status a = nl.addAddress(missing, "nosuch0", v6("2001:db8::1"), 64);
    EXPECT_FALSE(a.ok());
    EXPECT_NE(a.message().find("nosuch0"), std::string::npos) << a.message();
  });
}

}  // namespace
}  // namespace teredo::net

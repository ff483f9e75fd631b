// Test helper: run a test body in a forked child, optionally inside a fresh, private network
// namespace.
//
// fork + unshare(CLONE_NEWNET): the namespace has no name, only `lo` (brought up here), and
// disappears with the child, so nothing leaks into the host or `ip netns list`. GoogleTest
// assertions inside the body print their failure in the child; the child's exit status carries
// the verdict back to the parent test. Needs root (CAP_SYS_ADMIN); callers skip otherwise.
#pragma once

#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace teredo::net::testing {

inline constexpr int kChildSkipped = 77;

inline bool isRoot() {
  return ::geteuid() == 0;
}

/// Sets IFF_UP on `name` with the old ioctl (test-only; the library uses rtnetlink).
inline bool bringUp(const char* name) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  bool ok = ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP;
  ok = ok && ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  ::close(fd);
  return ok;
}

/// Runs `body` in a forked child (optionally in a new network namespace with `lo` up) and
/// reports its verdict in the parent. Use it for tests that change process-wide state
/// (capabilities, signal masks) or need a private network.
inline void runInChild(const std::function<void()>& body, bool newNetns) {
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    if (newNetns && ::unshare(CLONE_NEWNET) != 0) {
      std::fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", std::strerror(errno));
      std::fflush(stderr);
      ::_exit(kChildSkipped);
    }
    if (newNetns && !bringUp("lo")) {
      std::fprintf(stderr, "cannot bring lo up: %s\n", std::strerror(errno));
      ::_exit(2);
    }
    try {
      body();
    } catch (...) {
      // Never let an exception reach GoogleTest in the child: it would run the other tests here.
      std::fprintf(stderr, "exception in the child test body\n");
      std::fflush(stderr);
      ::_exit(3);
    }
    bool failed = ::testing::Test::HasFailure();
    bool skipped = ::testing::Test::IsSkipped();
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(failed ? 1 : (skipped ? kChildSkipped : 0));
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child died with signal " << WTERMSIG(status);
  if (WEXITSTATUS(status) == kChildSkipped) {
    GTEST_SKIP() << "skipped inside the child (see its output)";
  }
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the test body failed in the child (see above)";
}

/// Runs `body` in a child process inside a new network namespace with `lo` up; skips when not
/// root.
inline void runInNetns(const std::function<void()>& body) {
  if (!isRoot()) {
    GTEST_SKIP() << "needs root to create a network namespace (CI runs these as root)";
  }
  runInChild(body, true);
}

/// Says whether every IPv6 address of interface `name` is in service (and it has at least one):
/// no longer tentative and with its local route in place. An address just added is tentative
/// until the kernel's address work runs (duplicate address detection, skipped at once on a NOARP
/// device such as a tun) and installs its local route, which under load can take milliseconds.
/// Meanwhile a packet to the address arriving from the interface is dropped as an address error
/// (Ip6InAddrErrors), and a local packet to it leaves through the interface's prefix route. Tests
/// that send to an address they just added wait for this first (waitUntil in udp_peer.h).
inline bool addressesInService(const char* name) {
  constexpr unsigned long kTentative = 0x40;      // IFA_F_TENTATIVE
  constexpr unsigned long kLocal = 0x80000000ul;  // RTF_LOCAL
  const auto lines = [](const char* path) {
    std::vector<std::vector<std::string>> rows;
    std::ifstream file(path);
    std::string line;
    while (std::getline(file, line)) {
      std::istringstream in(line);
      std::vector<std::string> fields;
      for (std::string f; in >> f;) {
        fields.push_back(f);
      }
      rows.push_back(std::move(fields));
    }
    return rows;
  };
  // /proc/net/if_inet6: address, ifindex, prefix length, scope, flags, name (hex fields).
  // /proc/net/ipv6_route: destination, prefix length, source, its length, next hop, metric,
  // references, use, flags, device.
  const auto routes = lines("/proc/net/ipv6_route");
  const auto isLocal = [&](const std::string& address) {
    for (const auto& r : routes) {
      if (r.size() == 10 && r[0] == address && r[1] == "80" &&
          (std::stoul(r[8], nullptr, 16) & kLocal) != 0) {
        return true;
      }
    }
    return false;
  };
  size_t found = 0;
  size_t ready = 0;
  for (const auto& a : lines("/proc/net/if_inet6")) {
    if (a.size() == 6 && a[5] == name) {
      ++found;
      ready += (std::stoul(a[4], nullptr, 16) & kTentative) == 0 && isLocal(a[0]) ? 1 : 0;
    }
  }
  return found != 0 && ready == found;
}

}  // namespace teredo::net::testing

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
#include <functional>

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

}  // namespace teredo::net::testing

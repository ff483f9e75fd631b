// Capability and worker-helper tests (lib/net/caps.h, lib/net/worker.h). Capability changes are
// process-wide and irreversible: every such test runs in a forked child (and a private network
// namespace, so opening a tun there touches nothing on the host). They need root.
#include "net/caps.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <sched.h>
#include <sys/prctl.h>

#include <array>
#include <thread>

#include "net/raw.h"
#include "net/tun.h"
#include "net/worker.h"
#include "netns_helper.h"
#include "test_packets.h"

namespace teredo::net {
namespace {

using testing::runInNetns;

std::string statusLine(const char* key) {
  std::string all = testing::readFile("/proc/self/status");
  size_t pos = all.find(std::string(key) + ":");
  if (pos == std::string::npos) {
    return "";
  }
  size_t start = all.find_first_not_of(" \t", pos + std::strlen(key) + 1);
  return all.substr(start, all.find('\n', start) - start);
}

TEST(Capabilities, KeepOnlyNetRaw) {
  runInNetns([] {
    std::array<int, 1> keep = {CAP_NET_RAW};
    Status s = keepOnlyCapabilities(keep);
    ASSERT_TRUE(s.ok()) << s.message();
    StatusOr<CapabilitySets> now = currentCapabilities();
    ASSERT_TRUE(now.ok());
    EXPECT_EQ(now->effective, uint64_t{1} << CAP_NET_RAW);
    EXPECT_EQ(now->permitted, uint64_t{1} << CAP_NET_RAW);
    EXPECT_EQ(now->inheritable, 0u);
    EXPECT_EQ(statusLine("CapBnd"), "0000000000002000");
    EXPECT_EQ(statusLine("CapAmb"), "0000000000000000");
    EXPECT_EQ(statusLine("NoNewPrivs"), "1");

    EXPECT_TRUE(RawIpv6Socket::open().ok()) << "CAP_NET_RAW was kept";
    StatusOr<Tun> tun = Tun::open("teredo0", 1);
    ASSERT_FALSE(tun.ok()) << "CAP_NET_ADMIN was dropped";
    EXPECT_EQ(tun.status().sysErrno(), EPERM);
    EXPECT_NE(tun.status().message().find("teredo0"), std::string::npos);

    std::array<int, 1> admin = {CAP_NET_ADMIN};
    Status again = keepOnlyCapabilities(admin);
    EXPECT_EQ(again.code(), StatusCode::kPermissionDenied);
    EXPECT_EQ(again.message(), "cannot keep CAP_NET_ADMIN: not permitted");
  });
}

// How systemd (AmbientCapabilities=CAP_NET_RAW, User=) or setpriv starts the server: unprivileged,
// with one ambient capability and no CAP_SETPCAP. Dropping everything must still work.
TEST(Capabilities, UnprivilegedWithAmbientCapabilityDropsEverything) {
  runInNetns([] {
    struct passwd* nobody = ::getpwnam("nobody");
    if (nobody == nullptr) {
      GTEST_SKIP() << "no user nobody";
    }
    // Become nobody with CAP_NET_RAW in the permitted and effective sets only (no CAP_SETPCAP).
    std::array<int, 1> raw = {CAP_NET_RAW};
    ASSERT_TRUE(dropToUser("nobody", raw).ok());
    ASSERT_EQ(statusLine("CapEff"), "0000000000002000");

    Status s = keepOnlyCapabilities({});
    ASSERT_TRUE(s.ok()) << s.message();
    StatusOr<CapabilitySets> now = currentCapabilities();
    ASSERT_TRUE(now.ok());
    EXPECT_EQ(now->effective, 0u);
    EXPECT_EQ(now->permitted, 0u);
    EXPECT_EQ(statusLine("CapAmb"), "0000000000000000");
    EXPECT_EQ(statusLine("NoNewPrivs"), "1");
    EXPECT_FALSE(RawIpv6Socket::open().ok()) << "CAP_NET_RAW is gone";
  });
}

TEST(Capabilities, DropToNobodyKeepingRelayCapabilities) {
  runInNetns([] {
    struct passwd* nobody = ::getpwnam("nobody");
    if (nobody == nullptr) {
      GTEST_SKIP() << "no user nobody";
    }
    // The relay's order: open the tun (and its rtnetlink socket) while root, then drop.
    StatusOr<Tun> tun = Tun::open("teredo0", 1);
    ASSERT_TRUE(tun.ok()) << tun.status().message();
    std::array<int, 2> keep = {CAP_NET_ADMIN, CAP_NET_RAW};
    Status s = dropToUser("nobody", keep);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(::getuid(), nobody->pw_uid);
    EXPECT_EQ(::geteuid(), nobody->pw_uid);
    EXPECT_EQ(::getgid(), nobody->pw_gid);
    StatusOr<CapabilitySets> now = currentCapabilities();
    ASSERT_TRUE(now.ok());
    EXPECT_EQ(now->effective, capabilityMask(keep));
    EXPECT_EQ(now->permitted, capabilityMask(keep));
    EXPECT_EQ(statusLine("NoNewPrivs"), "1");
    // Both kept capabilities still work as nobody: raw sockets open, routes change.
    EXPECT_TRUE(RawIpv6Socket::open().ok());
    Status up = tun->setUp();
    EXPECT_TRUE(up.ok()) << up.message();
    Status route = tun->addRoute(testing::v6("2001::"), 32);
    EXPECT_TRUE(route.ok()) << route.message();
    Status del = tun->deleteRoute(testing::v6("2001::"), 32);
    EXPECT_TRUE(del.ok()) << del.message();
  });
}

TEST(Capabilities, UnknownUserIsNamed) {
  std::array<int, 1> keep = {CAP_NET_RAW};
  Status s = dropToUser("no-such-user-teredo", keep);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "unknown user \"no-such-user-teredo\"");
}

TEST(Capabilities, NamesAndMasks) {
  EXPECT_EQ(capabilityName(CAP_NET_ADMIN), "CAP_NET_ADMIN");
  EXPECT_EQ(capabilityName(CAP_NET_RAW), "CAP_NET_RAW");
  EXPECT_EQ(capabilityName(40), "capability 40");
  std::array<int, 3> caps = {CAP_NET_ADMIN, CAP_NET_RAW, 99};
  EXPECT_EQ(capabilityMask(caps), (uint64_t{1} << 12) | (uint64_t{1} << 13));
}

TEST(Worker, CpuCountMatchesTheAffinityMask) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(::sched_getaffinity(0, sizeof(set), &set), 0);
  EXPECT_EQ(cpuCount(), CPU_COUNT(&set));
  EXPECT_GE(cpuCount(), 1);
}

TEST(Worker, PinningLeavesExactlyOneCpu) {
  int n = cpuCount();
  for (int index : {0, n - 1, n, 2 * n + 1}) {
    std::thread t([index] {
      Status s = pinCurrentThreadToCpu(index);
      EXPECT_TRUE(s.ok()) << s.message();
      cpu_set_t mine;
      CPU_ZERO(&mine);
      ASSERT_EQ(::pthread_getaffinity_np(::pthread_self(), sizeof(mine), &mine), 0);
      EXPECT_EQ(CPU_COUNT(&mine), 1) << "index " << index;
    });
    t.join();
  }
  EXPECT_FALSE(pinCurrentThreadToCpu(-1).ok());
}

}  // namespace
}  // namespace teredo::net

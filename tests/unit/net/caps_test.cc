// Capability tests (lib/net/caps.h). Capability changes are
// process-wide and irreversible: every such test runs in a forked child (and a private network
// namespace, so opening a tun there touches nothing on the host). They need root.
#include "net/caps.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <array>

#include "net/raw.h"
#include "net/tun.h"
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
    // Become nobody with CAP_NET_RAW in the permitted and effective sets only (no CAP_SETPCAP):
    // the uid change (capabilities kept across it) clears the effective set, so the first
    // keepOnlyCapabilities already runs without CAP_SETPCAP.
    ASSERT_EQ(::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), 0);
    ASSERT_EQ(::setgroups(0, nullptr), 0);
    ASSERT_EQ(::setresgid(nobody->pw_gid, nobody->pw_gid, nobody->pw_gid), 0);
    ASSERT_EQ(::setresuid(nobody->pw_uid, nobody->pw_uid, nobody->pw_uid), 0);
    ASSERT_EQ(::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), 0);
    std::array<int, 1> raw = {CAP_NET_RAW};
    Status setup = keepOnlyCapabilities(raw);
    ASSERT_TRUE(setup.ok()) << setup.message();
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

TEST(Capabilities, NamesAndMasks) {
  EXPECT_EQ(capabilityName(CAP_NET_ADMIN), "CAP_NET_ADMIN");
  EXPECT_EQ(capabilityName(CAP_NET_RAW), "CAP_NET_RAW");
  EXPECT_EQ(capabilityName(40), "capability 40");
  std::array<int, 3> caps = {CAP_NET_ADMIN, CAP_NET_RAW, 99};
  EXPECT_EQ(capabilityMask(caps), (uint64_t{1} << 12) | (uint64_t{1} << 13));
}

}  // namespace
}  // namespace teredo::net

// Tun and rtnetlink tests (lib/net/tun.h, lib/net/netlink.h). Each runs in a private network
// namespace of a forked child (netns_helper.h); they skip when not root.
#include "net/tun.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <vector>

#include "netns_helper.h"
#include "test_packets.h"

namespace teredo::net {
namespace {

using testing::icmpv6Echo;
using testing::readFile;
using testing::runInNetns;
using testing::v6;

constexpr const char* kName = "teredo0";

/// Opens and configures the tun as the relay does; fails the test on any error.
Tun openConfigured(size_t queues) {
  StatusOr<Tun> t = Tun::open(kName, queues);
  EXPECT_TRUE(t.ok()) << t.status().message();
  if (!t.ok()) {
    return Tun();
  }
  Tun tun = std::move(t).value();
  for (Status s :
       {tun.applyTunnelSysctls(), tun.setMtu(1280), tun.setUp(), tun.addAddress(v6("fe80::1"), 64),
        tun.addAddress(v6("2001:db8:1::1"), 128), tun.addRoute(v6("2001::"), 32)}) {
    EXPECT_TRUE(s.ok()) << s.message();
  }
  return tun;
}

bool routeListed(const std::string& dev) {
  // /proc/net/ipv6_route: dest(32 hex) dest_len(2 hex) ... device name last.
  std::string table = readFile("/proc/net/ipv6_route");
  std::string want = "20010000000000000000000000000000 20 ";
  size_t pos = 0;
  while ((pos = table.find(want, pos)) != std::string::npos) {
    size_t end = table.find('\n', pos);
    std::string line = table.substr(pos, end - pos);
    if (line.size() >= dev.size() && line.compare(line.size() - dev.size(), dev.size(), dev) == 0) {
      return true;
    }
    pos = end;
  }
  return false;
}

/// UDP datagrams from this host's 2001:db8:1::1 to a Teredo address: routed into the tun as IPv6
/// packets of 40 + 8 + payload bytes. Fails the test on any socket error.
constexpr const char* kSelf = "2001:db8:1::1";
constexpr const char* kTeredoPeer = "2001:0:4136:e378:8000:63bf:3fff:fdd2";
void sendToTeredoPeer(const std::vector<std::vector<uint8_t>>& payloads) {
  int s = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(s, 0);
  // The source address may still be finishing its setup in the kernel: bind it regardless.
  int one = 1;
  ASSERT_EQ(::setsockopt(s, SOL_IPV6, IPV6_FREEBIND, &one, sizeof(one)), 0);
  struct sockaddr_in6 src {};
  src.sin6_family = AF_INET6;
  const Ipv6Addr self = v6(kSelf);
  std::memcpy(&src.sin6_addr, self.bytes.data(), 16);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&src), sizeof(src)), 0);
  struct sockaddr_in6 dst {};
  dst.sin6_family = AF_INET6;
  dst.sin6_port = htons(3544);
  const Ipv6Addr peer = v6(kTeredoPeer);
  std::memcpy(&dst.sin6_addr, peer.bytes.data(), 16);
  for (const std::vector<uint8_t>& p : payloads) {
    ASSERT_EQ(::sendto(s, p.data(), p.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)),
              static_cast<ssize_t>(p.size()))
        << std::strerror(errno);
  }
  ::close(s);
}

/// Reads every queue until `match` accepts a packet or nothing arrives for a while (bounded).
template <class Match>
bool readUntil(Tun& tun, PacketBatch& batch, Match match, int timeoutMs = 5000) {
  std::vector<int> fds;
  for (size_t q = 0; q < tun.queueCount(); ++q) {
    fds.push_back(tun.fd(q));
  }
  for (int rounds = 0; rounds < 100 && testing::waitAnyReadable(fds, timeoutMs); ++rounds) {
    for (size_t q = 0; q < tun.queueCount(); ++q) {
      int n = tun.readBatch(q, batch);
      EXPECT_GE(n, 0);
      for (int i = 0; i < n; ++i) {
        if (match(batch[static_cast<size_t>(i)])) {
          return true;
        }
      }
    }
  }
  return false;
}

TEST(Tun, OpenConfigureAndVerifyThroughTheKernel) {
  runInNetns([] {
    Tun tun = openConfigured(2);
    ASSERT_EQ(tun.queueCount(), 2u);
    EXPECT_EQ(tun.name(), kName);
    EXPECT_EQ(tun.ifindex(), static_cast<int>(::if_nametoindex(kName)));
    // /sys shows the host's namespace; ask the kernel with the old ioctls instead.
    int s = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr {};
    std::strcpy(ifr.ifr_name, kName);
    ASSERT_EQ(::ioctl(s, SIOCGIFMTU, &ifr), 0);
    EXPECT_EQ(ifr.ifr_mtu, 1280);
    ASSERT_EQ(::ioctl(s, SIOCGIFFLAGS, &ifr), 0);
    EXPECT_NE(ifr.ifr_flags & IFF_UP, 0);
    ::close(s);
    EXPECT_EQ(readFile("/proc/sys/net/ipv6/conf/teredo0/accept_ra"), "0\n");
    std::string addrs = readFile("/proc/net/if_inet6");
    EXPECT_NE(addrs.find("fe800000000000000000000000000001"), std::string::npos) << addrs;
    EXPECT_NE(addrs.find("20010db8000100000000000000000001"), std::string::npos) << addrs;
    EXPECT_TRUE(routeListed(kName)) << readFile("/proc/net/ipv6_route");

    // Adding the same route twice is refused and names the route.
    Status again = tun.addRoute(v6("2001::"), 32);
    EXPECT_EQ(again.sysErrno(), EEXIST);
    EXPECT_EQ(again.message(), "add route 2001::/32 dev teredo0: File exists");

    Status del = tun.deleteRoute(v6("2001::"), 32);
    EXPECT_TRUE(del.ok()) << del.message();
    EXPECT_FALSE(routeListed(kName));
  });
}

TEST(Tun, RoutedPacketsAreReadFromTheQueuesInBatches) {
  runInNetns([] {
    Tun tun = openConfigured(2);
    const Ipv6Addr self = v6(kSelf);
    const Ipv6Addr teredoPeer = v6(kTeredoPeer);
    constexpr int kCount = 10;
    std::vector<std::vector<uint8_t>> payloads;
    for (uint8_t i = 0; i < kCount; ++i) {
      std::vector<uint8_t> payload(20);
      payload[0] = i;
      payload[1] = 0xee;
      payloads.push_back(payload);
    }
    sendToTeredoPeer(payloads);
    PacketBatch batch;
    std::vector<bool> seen(kCount);
    int matched = 0;
    size_t largestBatch = 0;
    readUntil(tun, batch, [&](Bytes p) {
      largestBatch = std::max(largestBatch, batch.size());
      if (p.size() != kIpv6HeaderSize + 8 + 20 || p[6] != kNextHeaderUdp) {
        return false;  // e.g. an MLD report the kernel sends when the link comes up
      }
      Ipv6Header h = decodeIpv6Header(p);
      uint8_t i = p[kIpv6HeaderSize + 8];
      if (h.dst == teredoPeer && h.src == self && i < kCount && !seen[i] &&
          p[kIpv6HeaderSize + 9] == 0xee) {
        seen[i] = true;
        ++matched;
      }
      return matched == kCount;
    });
    EXPECT_EQ(matched, kCount) << "datagrams routed to 2001::/32 must come out of the tun";
    EXPECT_GT(largestBatch, 1u) << "one readBatch should return several queued packets";
  });
}

// A packet longer than the read slot is cut by read(): it is counted and never returned as if
// it were whole (it used to be counted as dropped and then forwarded all the same).
TEST(Tun, PacketsLongerThanTheSlotAreCountedNeverReturned) {
  runInNetns([] {
    Tun tun = openConfigured(1);
    // 40 + 8 + 200 = 248 bytes (cut by a 128-byte slot), then 40 + 8 + 20 = 68 bytes (whole).
    std::vector<uint8_t> big(200, 0xbb);
    std::vector<uint8_t> small(20, 0x55);
    sendToTeredoPeer({big, small});
    PacketBatch batch(8, 128);
    size_t cut = 0;
    bool sawSmall = false;
    const std::vector<int> fds = {tun.fd(0)};
    for (int rounds = 0; rounds < 100 && !sawSmall && testing::waitAnyReadable(fds, 5000);
         ++rounds) {
      const int n = tun.readBatch(0, batch);
      ASSERT_GE(n, 0);
      cut += batch.truncated();
      for (int i = 0; i < n; ++i) {
        const Bytes p = batch[static_cast<size_t>(i)];
        EXPECT_LT(p.size(), batch.slotSize());
        EXPECT_FALSE(p.size() > kIpv6HeaderSize + 8 && p[kIpv6HeaderSize + 8] == 0xbb)
            << "the cut packet was returned";
        sawSmall =
            sawSmall || (p.size() == kIpv6HeaderSize + 8 + 20 && p[kIpv6HeaderSize + 8] == 0x55);
      }
    }
    EXPECT_TRUE(sawSmall);
    EXPECT_GE(cut, 1u);
    EXPECT_EQ(PacketBatch::slotSizeFor(1280), PacketBatch::kDefaultSlotSize);
    EXPECT_EQ(PacketBatch::slotSizeFor(9000), 9001u);
  });
}

// /proc/sys read-only, as container runtimes mount it: settings that already hold their value
// are not written; the hardening ones that cannot be written are reported and skipped; IPv6
// disabled on the device (the one setting the relay cannot do without) is still an error.
TEST(Tun, SysctlsOnAReadOnlyProcSys) {
  runInNetns([] {
    // A private mount namespace, so the read-only remount is this child's alone.
    ASSERT_EQ(::unshare(CLONE_NEWNS), 0) << std::strerror(errno);
    ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0);
    for (const char* disable : {"0", "1"}) {
      SCOPED_TRACE(disable);
      // New devices take conf/default; set it while /proc/sys is still writable.
      {
        Fd f(::open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC));
        ASSERT_TRUE(f.valid());
        ASSERT_EQ(::write(f.get(), disable, 1), 1);
      }
      StatusOr<Tun> t = Tun::open(kName, 1);
      ASSERT_TRUE(t.ok()) << t.status().message();
      Tun tun = std::move(t).value();
      ASSERT_EQ(::mount("/proc/sys", "/proc/sys", nullptr, MS_BIND, nullptr), 0);
      ASSERT_EQ(::mount(nullptr, "/proc/sys", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr),
                0);
      std::vector<std::string> notApplied;
      const Status st = tun.applyTunnelSysctls(&notApplied);
      if (disable[0] == '0') {
        EXPECT_TRUE(st.ok()) << st.message();
        // accept_ra, accept_redirects and autoconf default to 1: reported, not fatal.
        EXPECT_EQ(notApplied.size(), 3u);
        for (const std::string& w : notApplied) {
          EXPECT_NE(w.find("Read-only file system"), std::string::npos) << w;
        }
      } else {
        EXPECT_FALSE(st.ok());
        EXPECT_NE(st.message().find("disable_ipv6"), std::string::npos) << st.message();
      }
      ASSERT_EQ(::umount("/proc/sys"), 0) << std::strerror(errno);
      tun.close();
    }
  });
}

TEST(Tun, WrittenEchoRequestIsAnsweredBackThroughTheTun) {
  runInNetns([] {
    Tun tun = openConfigured(2);
    Ipv6Addr peer = v6("2001:0:4136:e378:8000:63bf:3fff:fdd2");
    Ipv6Addr self = v6("2001:db8:1::1");
    std::vector<uint8_t> request = icmpv6Echo(peer, self, kIcmpEchoRequest, 0x1234, 7, 24);
    std::vector<uint8_t> garbage = {0x60, 0, 0};  // shorter than an IPv6 header
    std::vector<Bytes> packets = {Bytes(request), Bytes(garbage)};
    // The kernel answers the echo through the 2001::/32 route: the reply comes out of the tun.
    std::vector<uint8_t> expected = icmpv6Echo(self, peer, kIcmpEchoReply, 0x1234, 7, 24);
    auto isReply = [&](Bytes p) {
      // Compare all but the flow label and hop limit, which the kernel chooses.
      return p.size() == expected.size() && p[0] == 0x60 &&
             std::equal(p.begin() + 4, p.begin() + 7, expected.begin() + 4) &&
             std::equal(p.begin() + 8, p.end(), expected.begin() + 8);
    };
    PacketBatch batch(8, 1500);
    bool found = false;
    // The new address becomes usable asynchronously (the kernel finishes address setup in a
    // work queue), so send again until answered; bounded.
    for (int attempt = 0; attempt < 50 && !found; ++attempt) {
      TunWriteResult w = tun.writeBatch(1, packets);
      // The kernel accepts both (the short one fails IPv6 header checks later, counted there).
      EXPECT_EQ(w.written, 2u);
      EXPECT_EQ(w.failed, 0u);
      found = readUntil(tun, batch, isReply, 100);
    }
    EXPECT_TRUE(found) << "no echo reply came back out of the tun";
    std::vector<uint8_t> notIp = {0x00, 1, 2, 3};
    std::vector<Bytes> bad = {Bytes(notIp)};
    TunWriteResult w = tun.writeBatch(0, bad);
    EXPECT_EQ(w.failed, 1u);
    EXPECT_EQ(w.lastError, -EINVAL) << "IFF_NO_PI: the version nibble must say 4 or 6";
    EXPECT_EQ(tun.write(5, request), -EBADF);
  });
}

TEST(Tun, CloseRemovesRoutesAndTheDevice) {
  runInNetns([] {
    Tun tun = openConfigured(3);
    ASSERT_TRUE(routeListed(kName));
    Tun moved = std::move(tun);
    EXPECT_EQ(tun.queueCount(), 0u);
    EXPECT_NE(::if_nametoindex(kName), 0u);
    moved.close();
    EXPECT_FALSE(routeListed(kName));
    EXPECT_EQ(::if_nametoindex(kName), 0u) << "the non-persistent device should be gone";
    moved.close();  // idempotent
  });
}

TEST(Tun, OpenErrorsNameTheDevice) {
  StatusOr<Tun> longName = Tun::open("a-name-much-too-long-for-linux", 1);
  ASSERT_FALSE(longName.ok());
  EXPECT_EQ(longName.status().code(), StatusCode::kInvalidArgument);
  StatusOr<Tun> noQueues = Tun::open("teredo0", 0);
  ASSERT_FALSE(noQueues.ok());
  EXPECT_NE(noQueues.status().message().find("teredo0"), std::string::npos);
}

}  // namespace
}  // namespace teredo::net

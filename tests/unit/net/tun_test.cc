// Tun and rtnetlink tests (lib/net/tun.h, lib/net/netlink.h). Each runs in a private network
// namespace of a forked child (netns_helper.h); they skip when not root. The vnet-header tests
// check the offloads against the running kernel: TCP and UDP super-packets read from the tun,
// and coalesced super-packets written to it (delivered locally and forwarded).
#include "net/tun.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <string>
#include <vector>

#include "netns_helper.h"
#include "test_packets.h"
#include "tun_test_util.h"

namespace teredo::net {
namespace {

using testing::icmpv6Echo;
using testing::readFile;
using testing::runInNetns;
using testing::v6;

constexpr const char* kName = "teredo0";

/// Opens and configures the tun as the relay does; fails the test on any error.
Tun openConfigured(size_t queues, const TunOptions& options = {}) {
  return testing::openConfiguredTun(kName, queues, options);
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

// ---------------------------------------------------------------------------------------------
// Offloads (IFF_VNET_HDR, TUNSETOFFLOAD) against the running kernel.

TEST(TunOffloads, FallbackOrderAndNames) {
  EXPECT_EQ(
      tunOffloadFallbacks(kTunOffloadAll),
      (std::vector<uint32_t>{kTunOffloadAll, kTunOffloadCsum | kTunOffloadTso6 | kTunOffloadTsoEcn,
                             kTunOffloadCsum | kTunOffloadTso6, kTunOffloadCsum, 0}));
  EXPECT_EQ(tunOffloadFallbacks(kTunOffloadCsum), (std::vector<uint32_t>{kTunOffloadCsum, 0}));
  EXPECT_EQ(tunOffloadFallbacks(kTunOffloadCsum | kTunOffloadUso),
            (std::vector<uint32_t>{kTunOffloadCsum | kTunOffloadUso, kTunOffloadCsum, 0}));
  EXPECT_EQ(tunOffloadFallbacks(0), (std::vector<uint32_t>{0}));
  EXPECT_EQ(tunOffloadNames(kTunOffloadAll), "csum|tso6|tso_ecn|uso");
  EXPECT_EQ(tunOffloadNames(kTunOffloadCsum | kTunOffloadUso), "csum|uso");
  EXPECT_EQ(tunOffloadNames(0), "none");
}

TEST(TunOffloads, RequestsTheKernelWouldRefuseAreInvalid) {
  struct Case {
    TunOptions options;
    const char* why;
  };
  const Case cases[] = {
      {{false, kTunOffloadCsum}, "offloads need the vnet header"},
      {{true, kTunOffloadTso6}, "TSO and USO need checksum offload"},
      {{true, kTunOffloadUso}, "TSO and USO need checksum offload"},
      {{true, kTunOffloadCsum | kTunOffloadTsoEcn}, "TSO_ECN needs TSO6"},
      {{true, 1u << 7}, "unknown offload bits"},
  };
  for (const Case& c : cases) {
    StatusOr<Tun> t = Tun::open(kName, 1, c.options);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(c.why), std::string::npos) << t.status().message();
  }
}

/// A TCP segment (RFC 9293 §3.1) in IPv6 with a correct checksum, no extension headers.
struct TcpSpec {
  Ipv6Addr src;
  Ipv6Addr dst;
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = kTcpAck;
  uint16_t window = 65535;
  std::vector<uint8_t> options = {};
  std::vector<uint8_t> payload = {};
};

void put16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t get32(const uint8_t* p) {
  return uint32_t{get16(p)} << 16 | get16(p + 2);
}

/// Naive RFC 1071 sum of the upper-layer packet at offset 40 with its RFC 8200 §8.1
/// pseudo-header; 0xffff when the checksum in it is right.
uint16_t transportSum(Bytes p) {
  const size_t len = p.size() - kIpv6HeaderSize;
  uint32_t acc = static_cast<uint32_t>(len >> 16) + (len & 0xffff) + p[6];
  for (size_t i = 8; i < p.size(); i += 2) {
    acc += static_cast<uint32_t>(p[i] << 8) + (i + 1 < p.size() ? p[i + 1] : 0);
  }
  while (acc > 0xffff) {
    acc = (acc & 0xffff) + (acc >> 16);
  }
  return static_cast<uint16_t>(acc);
}

std::vector<uint8_t> tcpPacket(const TcpSpec& t) {
  const size_t thlen = 20 + t.options.size();
  std::vector<uint8_t> p(kIpv6HeaderSize + thlen + t.payload.size());
  writeIpv6Header(p, t.src, t.dst, kNextHeaderTcp, static_cast<uint16_t>(p.size() - 40), 64);
  uint8_t* tcp = p.data() + kIpv6HeaderSize;
  put16(tcp, t.sport);
  put16(tcp + 2, t.dport);
  put16(tcp + 4, t.seq >> 16);
  put16(tcp + 6, t.seq);
  put16(tcp + 8, t.ack >> 16);
  put16(tcp + 10, t.ack);
  tcp[12] = static_cast<uint8_t>(thlen / 4 << 4);
  tcp[13] = t.flags;
  put16(tcp + 14, t.window);
  std::copy(t.options.begin(), t.options.end(), tcp + 20);
  std::copy(t.payload.begin(), t.payload.end(), tcp + thlen);
  put16(tcp + 16, static_cast<uint16_t>(~transportSum(p)));
  return p;
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = static_cast<uint8_t>(seed + i * 13 + (i >> 9));
  }
  return v;
}

/// Reads every vnet queue until `onSegment` returns true or nothing arrives for `timeoutMs`:
/// each read is split (splitOffload) and `onSegment(segment, header of the read, read size)` is
/// called for every packet. Fails the test on a read or split error.
template <class OnSegment>
bool readSplit(Tun& tun, VnetPacketBatch& batch, OnSegment onSegment, int timeoutMs = 3000) {
  std::vector<uint8_t> arena(kMaxIpv6Packet);
  std::vector<Bytes> segs(64);
  std::vector<int> fds;
  for (size_t q = 0; q < tun.queueCount(); ++q) {
    fds.push_back(tun.fd(q));
  }
  for (int rounds = 0; rounds < 200 && testing::waitAnyReadable(fds, timeoutMs); ++rounds) {
    for (size_t q = 0; q < tun.queueCount(); ++q) {
      const int n = tun.readVnetBatch(q, batch);
      EXPECT_GE(n, 0);
      EXPECT_EQ(batch.truncated(), 0u);
      for (int i = 0; i < n; ++i) {
        const VirtioNetHdr hdr = batch.header(static_cast<size_t>(i));
        const size_t readSize = batch.packet(static_cast<size_t>(i)).size();
        MutableBytes packet = batch.mutablePacket(static_cast<size_t>(i));
        size_t next = 0;
        for (int calls = 0; calls < 100; ++calls) {
          const SplitResult r = splitOffload(hdr, packet, arena, segs, next);
          EXPECT_TRUE(r.ok()) << offloadErrorLabel(r.error);
          if (!r.ok()) {
            return false;
          }
          for (size_t k = 0; k < r.count; ++k) {
            if (onSegment(segs[k], hdr, readSize)) {
              return true;
            }
          }
          next = r.nextSegment;
          if (r.done()) {
            break;
          }
        }
      }
    }
  }
  return false;
}

Fd boundSocket(int type) {
  Fd s(::socket(AF_INET6, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  EXPECT_TRUE(s.valid());
  int one = 1;
  EXPECT_EQ(::setsockopt(s.get(), SOL_IPV6, IPV6_FREEBIND, &one, sizeof(one)), 0);
  struct sockaddr_in6 src {};
  src.sin6_family = AF_INET6;
  std::memcpy(&src.sin6_addr, v6(kSelf).bytes.data(), 16);
  EXPECT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&src), sizeof(src)), 0);
  return s;
}

struct sockaddr_in6 peerAddress(uint16_t port) {
  struct sockaddr_in6 dst {};
  dst.sin6_family = AF_INET6;
  dst.sin6_port = htons(port);
  std::memcpy(&dst.sin6_addr, v6(kTeredoPeer).bytes.data(), 16);
  return dst;
}

TEST(Tun, VnetTunNegotiatesOffloadsAndKeepsThePlainCallsWorking) {
  runInNetns([] {
    Tun tun = openConfigured(2, TunOptions{true, kTunOffloadAll});
    const TunOffloadState o = tun.offloads();
    EXPECT_TRUE(o.vnetHeader);
    EXPECT_EQ(o.requested, kTunOffloadAll);
    // Linux >= 6.2 takes all four (USO since 6.2); older kernels fall back to fewer, and say so.
    EXPECT_TRUE(o.has(kTunOffloadCsum | kTunOffloadTso6 | kTunOffloadTsoEcn));
    EXPECT_EQ(o.active == kTunOffloadAll, o.fallback.empty()) << o.fallback;
    // Moving keeps the state.
    Tun moved = std::move(tun);
    EXPECT_EQ(moved.offloads().active, o.active);
    EXPECT_EQ(tun.offloads().active, 0u);

    PacketBatch plain;
    EXPECT_EQ(moved.readBatch(0, plain), -EINVAL) << "vnet reads carry a header";
    // write() still works: the echo request goes in with a header of zeros and the kernel's
    // reply comes back with one.
    const Ipv6Addr peer = v6(kTeredoPeer);
    const Ipv6Addr self = v6(kSelf);
    const std::vector<uint8_t> request = icmpv6Echo(peer, self, kIcmpEchoRequest, 0x4242, 1, 100);
    const std::vector<uint8_t> expected = icmpv6Echo(self, peer, kIcmpEchoReply, 0x4242, 1, 100);
    VnetPacketBatch batch;
    bool found = false;
    for (int attempt = 0; attempt < 50 && !found; ++attempt) {
      ASSERT_EQ(moved.write(1, request), 0);
      found = readSplit(
          moved, batch,
          [&](Bytes p, const VirtioNetHdr&, size_t) {
            return p.size() == expected.size() &&
                   std::equal(p.begin() + 8, p.end(), expected.begin() + 8) &&
                   transportSum(p) == 0xffff;
          },
          100);
    }
    EXPECT_TRUE(found) << "no echo reply came back out of the vnet tun";
    // A plain tun refuses the vnet calls that need a header.
    moved.close();
    Tun plainTun = openConfigured(1);
    EXPECT_EQ(plainTun.readVnetBatch(0, batch), -EINVAL);
    VirtioNetHdr gso{kVirtioNetHdrNeedsCsum, kGsoTcpv6, 60, 1000, 40, 16};
    const Bytes piece(request);
    EXPECT_EQ(plainTun.writeVnet(0, gso, std::span<const Bytes>(&piece, 1)), -EINVAL);
    EXPECT_FALSE(plainTun.offloads().vnetHeader);
  });
}

// A local TCP flow routed into the tun: with TSO6 the kernel hands over super-packets larger
// than the MTU (GSO_TCPV6), which split into MTU-sized segments with valid checksums carrying
// the bytes sent. The other way, segments coalesced into one super-packet are written to the
// tun and the socket receives their bytes in order.
TEST(Tun, TcpFlowUsesSuperPacketsBothWays) {
  runInNetns([] {
    Tun tun = openConfigured(1, TunOptions{true, kTunOffloadAll});
    ASSERT_TRUE(tun.offloads().has(kTunOffloadCsum | kTunOffloadTso6)) << tun.offloads().fallback;
    const Ipv6Addr self = v6(kSelf);
    const Ipv6Addr peer = v6(kTeredoPeer);
    Fd sock = boundSocket(SOCK_STREAM);
    const struct sockaddr_in6 dst = peerAddress(80);
    ASSERT_NE(::connect(sock.get(), reinterpret_cast<const sockaddr*>(&dst), sizeof(dst)), 0);
    ASSERT_EQ(errno, EINPROGRESS);

    // The SYN (its checksum left to us: NEEDS_CSUM).
    VnetPacketBatch batch(16);
    uint16_t sport = 0;
    uint32_t isn = 0;
    auto fromSocket = [&](Bytes p) {
      return p.size() >= 60 && p[6] == kNextHeaderTcp && get16(&p[42]) == 80 &&
             Ipv6Addr::fromBytes(&p[24]) == peer;
    };
    ASSERT_TRUE(readSplit(tun, batch, [&](Bytes p, const VirtioNetHdr&, size_t) {
      if (!fromSocket(p) || (p[53] & kTcpSyn) == 0) {
        return false;
      }
      EXPECT_EQ(transportSum(p), 0xffff);
      sport = get16(&p[40]);
      isn = get32(&p[44]);
      return true;
    }));
    // SYN-ACK with MSS 1220 (the 1280 MTU): no window scaling, SACK or timestamps.
    constexpr uint32_t kPeerIsn = 70000;
    const std::vector<uint8_t> synAck = tcpPacket(
        {peer, self, 80, sport, kPeerIsn, isn + 1, kTcpSyn | kTcpAck, 65535, {2, 4, 0x04, 0xc4}});
    const Bytes synAckView(synAck);
    ASSERT_EQ(tun.writeVnet(0, VirtioNetHdr{}, std::span<const Bytes>(&synAckView, 1)), 0);
    struct pollfd pfd = {sock.get(), POLLOUT, 0};
    ASSERT_EQ(::poll(&pfd, 1, 5000), 1);
    int soError = -1;
    socklen_t len = sizeof(soError);
    ASSERT_EQ(::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &soError, &len), 0);
    ASSERT_EQ(soError, 0) << std::strerror(soError);

    // Socket -> tun: at least the initial window (10 segments) arrives, in super-packets.
    const std::vector<uint8_t> data = pattern(60000, 7);
    const ssize_t sent = ::send(sock.get(), data.data(), data.size(), 0);
    ASSERT_GT(sent, 12200);
    std::map<uint32_t, std::vector<uint8_t>> received;  // by offset
    size_t largestRead = 0;
    size_t superReads = 0;
    size_t contiguous = 0;
    readSplit(tun, batch, [&](Bytes p, const VirtioNetHdr& hdr, size_t readSize) {
      if (!fromSocket(p) || p.size() == 60) {
        return false;
      }
      EXPECT_LE(p.size(), 1280u) << "segments fit the tun MTU";
      EXPECT_EQ(transportSum(p), 0xffff) << "segment checksum";
      EXPECT_EQ(p[53] & (kTcpSyn | kTcpFin | kTcpRst), 0);
      largestRead = std::max(largestRead, readSize);
      if (hdr.gsoType == kGsoTcpv6 && readSize > 1280) {
        ++superReads;
        EXPECT_EQ(hdr.gsoSize, 1220);
        EXPECT_EQ(hdr.csumStart, 40);
        EXPECT_EQ(hdr.csumOffset, 16);
      }
      const uint32_t offset = get32(&p[44]) - (isn + 1);
      received[offset].assign(p.begin() + 60, p.end());
      while (received.count(static_cast<uint32_t>(contiguous)) != 0) {
        contiguous += received[static_cast<uint32_t>(contiguous)].size();
      }
      return contiguous >= 12200;
    });
    EXPECT_GE(contiguous, 12200u);
    EXPECT_GE(superReads, 1u) << "largest read " << largestRead;
    EXPECT_GT(largestRead, 1280u);
    for (const auto& [offset, bytes] : received) {
      ASSERT_LE(offset + bytes.size(), data.size());
      EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), data.begin() + offset)) << offset;
    }

    // Tun -> socket: 8 segments (the last shorter, with PSH) coalesce into one super-packet.
    const std::vector<uint8_t> reply = pattern(7 * 1000 + 333, 99);
    std::vector<std::vector<uint8_t>> segments;
    for (size_t off = 0; off < reply.size(); off += 1000) {
      const size_t n = std::min<size_t>(1000, reply.size() - off);
      const bool last = off + n == reply.size();
      segments.push_back(
          tcpPacket({peer,
                     self,
                     80,
                     sport,
                     kPeerIsn + 1 + static_cast<uint32_t>(off),
                     isn + 1,
                     static_cast<uint8_t>(kTcpAck | (last ? kTcpPsh : 0)),
                     65535,
                     {},
                     std::vector<uint8_t>(reply.begin() + static_cast<ptrdiff_t>(off),
                                          reply.begin() + static_cast<ptrdiff_t>(off + n))}));
    }
    std::vector<Bytes> views(segments.begin(), segments.end());
    CoalesceStorage storage(views.size());
    const CoalesceResult c = coalesce(views, {}, storage.output());
    ASSERT_EQ(c.packets, 1u);
    ASSERT_EQ(c.superPackets, 1u);
    const TunWriteResult w = tun.writeCoalesced(0, storage.packets(c), storage.pieces());
    EXPECT_EQ(w.written, 1u);
    EXPECT_EQ(w.lastError, 0);
    std::vector<uint8_t> got;
    pfd = {sock.get(), POLLIN, 0};
    while (got.size() < reply.size() && ::poll(&pfd, 1, 3000) == 1) {
      uint8_t buf[16384];
      const ssize_t n = ::recv(sock.get(), buf, sizeof(buf), 0);
      ASSERT_GT(n, 0) << std::strerror(errno);
      got.insert(got.end(), buf, buf + n);
    }
    EXPECT_EQ(got, reply);
  });
}

// A UDP_SEGMENT sender: with USO the kernel hands over one GSO_UDP_L4 super-packet, which
// splits into the datagrams the application asked for.
TEST(Tun, UdpSegmentationOffloadIsReadAsOneSuperPacket) {
  runInNetns([] {
    Tun tun = openConfigured(1, TunOptions{true, kTunOffloadAll});
    if (!tun.offloads().has(kTunOffloadUso)) {
      GTEST_SKIP() << "no USO on this kernel: " << tun.offloads().fallback;
    }
    Fd sock = boundSocket(SOCK_DGRAM);
    int gso = 1000;
    ASSERT_EQ(::setsockopt(sock.get(), SOL_UDP, UDP_SEGMENT, &gso, sizeof(gso)), 0);
    const std::vector<uint8_t> data = pattern(5500, 3);
    const struct sockaddr_in6 dst = peerAddress(3544);
    // The address may still be settling (as in sendToTeredoPeer): FREEBIND made the bind work.
    ASSERT_EQ(::sendto(sock.get(), data.data(), data.size(), 0,
                       reinterpret_cast<const sockaddr*>(&dst), sizeof(dst)),
              static_cast<ssize_t>(data.size()))
        << std::strerror(errno);
    VnetPacketBatch batch;
    std::vector<uint8_t> joined;
    size_t datagrams = 0;
    bool sawSuper = false;
    readSplit(tun, batch, [&](Bytes p, const VirtioNetHdr& hdr, size_t readSize) {
      if (p.size() < 48 || p[6] != kNextHeaderUdp || get16(&p[42]) != 3544) {
        return false;
      }
      sawSuper = sawSuper || (hdr.gsoType == kGsoUdpL4 && readSize == 40 + 8 + data.size());
      EXPECT_EQ(transportSum(p), 0xffff);
      EXPECT_EQ(get16(&p[44]), p.size() - 40);
      EXPECT_LE(p.size(), 48u + 1000u);
      ++datagrams;
      joined.insert(joined.end(), p.begin() + 48, p.end());
      return joined.size() >= data.size();
    });
    EXPECT_TRUE(sawSuper) << "expected one GSO_UDP_L4 read of the whole 5500 bytes";
    EXPECT_EQ(datagrams, 6u);
    EXPECT_EQ(joined, data);
  });
}

// A coalesced super-packet written to the vnet tun and forwarded to a plain tun (no offloads):
// the kernel cuts it in software and completes the checksums from the pseudo-header sum we put
// in the checksum field, so what comes out is exactly the segments coalesced, hop limit - 1.
TEST(Tun, CoalescedSuperPacketIsSegmentedByTheKernelWhenForwarded) {
  runInNetns([] {
    {
      Fd f(::open("/proc/sys/net/ipv6/conf/all/forwarding", O_WRONLY | O_CLOEXEC));
      ASSERT_TRUE(f.valid());
      ASSERT_EQ(::write(f.get(), "1", 1), 1);
    }
    Tun tun = openConfigured(1, TunOptions{true, kTunOffloadAll});
    StatusOr<Tun> n = Tun::open("native0", 1);
    ASSERT_TRUE(n.ok()) << n.status().message();
    Tun native = std::move(n).value();
    for (Status s :
         {native.setMtu(1280), native.setUp(), native.addRoute(v6("2001:db8:99::"), 48)}) {
      ASSERT_TRUE(s.ok()) << s.message();
    }
    const Ipv6Addr peer = v6(kTeredoPeer);
    const Ipv6Addr server = v6("2001:db8:99::5");
    const std::vector<uint8_t> body = pattern(5 * 1100 + 500, 42);
    std::vector<std::vector<uint8_t>> segments;
    for (size_t off = 0; off < body.size(); off += 1100) {
      const size_t len = std::min<size_t>(1100, body.size() - off);
      const bool last = off + len == body.size();
      segments.push_back(
          tcpPacket({peer,
                     server,
                     50000,
                     443,
                     1u + static_cast<uint32_t>(off),
                     99,
                     static_cast<uint8_t>(kTcpAck | (last ? kTcpPsh : 0)),
                     1000,
                     {1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6},
                     std::vector<uint8_t>(body.begin() + static_cast<ptrdiff_t>(off),
                                          body.begin() + static_cast<ptrdiff_t>(off + len))}));
    }
    std::vector<Bytes> views(segments.begin(), segments.end());
    CoalesceStorage storage(views.size());
    const CoalesceResult c = coalesce(views, {}, storage.output());
    ASSERT_EQ(c.superPackets, 1u);
    ASSERT_EQ(c.packets, 1u);
    std::vector<std::vector<uint8_t>> expected = segments;
    for (std::vector<uint8_t>& e : expected) {
      e[7] -= 1;  // forwarded: hop limit - 1 (not in the checksum)
    }
    PacketBatch batch(64, 2048);
    size_t matched = 0;
    // The routes may take a moment (address and route setup finish in a work queue): resend.
    for (int attempt = 0; attempt < 20 && matched < expected.size(); ++attempt) {
      const TunWriteResult w = tun.writeCoalesced(0, storage.packets(c), storage.pieces());
      ASSERT_EQ(w.written, 1u) << std::strerror(-w.lastError);
      matched = 0;
      readUntil(
          native, batch,
          [&](Bytes p) {
            if (p.size() < 60 || p[6] != kNextHeaderTcp || Ipv6Addr::fromBytes(&p[24]) != server) {
              return false;
            }
            EXPECT_EQ(transportSum(p), 0xffff);
            EXPECT_LE(p.size(), 1280u);
            if (matched < expected.size() &&
                std::equal(p.begin(), p.end(), expected[matched].begin(),
                           expected[matched].end())) {
              ++matched;
            }
            return matched == expected.size();
          },
          200);
    }
    EXPECT_EQ(matched, expected.size()) << "the kernel's segments differ from the inputs";
  });
}

}  // namespace
}  // namespace teredo::net

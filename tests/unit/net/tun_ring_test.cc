// TunRing (lib/net/tun_ring.h) against the running kernel: a real tun in a private network
// namespace of a forked child (root; skipped otherwise), and skipped where the kernel has no
// io_uring multishot read (open() says so; the relay then uses plain reads). The kernel sends
// its own multicast (MLD) into the tun at times of its choosing, so the reads are filtered on
// the test's own UDP packets.
#include "net/tun_ring.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "net/tun.h"
#include "netns_helper.h"
#include "teredo/byte_order.h"
#include "test_packets.h"
#include "tun_test_util.h"

namespace teredo::net {
namespace {

using testing::runInNetns;
using testing::v6;

constexpr const char* kSelf = testing::kTunSelf;
constexpr const char* kPeer = "2001:0:4136:e378:8000:63bf:3fff:fdd2";  // routed into the tun
constexpr uint16_t kPort = 3544;
constexpr size_t kUdpHeader = 8;

Tun openTun() {
  return testing::openConfiguredTun("teredo0");
}

/// A UDP socket on kSelf: sends datagrams into the tun, receives what is written to it.
class Host {
 public:
  Host() {
    fd_ = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_IPV6, IPV6_FREEBIND, &one, sizeof one);
    sockaddr_in6 sin{};
    sin.sin6_family = AF_INET6;
    sin.sin6_port = htons(kPort);
    const Ipv6Addr self = v6(kSelf);
    std::memcpy(&sin.sin6_addr, self.bytes.data(), 16);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0;
  }
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;
  ~Host() { ::close(fd_); }
  bool ok() const { return ok_; }
  /// A datagram whose first two payload bytes are `seq`, `size` payload bytes in all.
  bool send(uint16_t seq, size_t size = 32) const {
    std::vector<uint8_t> payload(size, 0xab);
    store16(payload.data(), seq);
    sockaddr_in6 dst{};
    dst.sin6_family = AF_INET6;
    dst.sin6_port = htons(kPort);
    const Ipv6Addr peer = v6(kPeer);
    std::memcpy(&dst.sin6_addr, peer.bytes.data(), 16);
    return ::sendto(fd_, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&dst),
                    sizeof dst) == static_cast<ssize_t>(size);
  }
  /// The sequence numbers of the datagrams received within `timeoutMs`, up to `want`.
  std::vector<uint16_t> receive(size_t want, int timeoutMs = 3000) const {
    std::vector<uint16_t> got;
    pollfd p{fd_, POLLIN, 0};
    while (got.size() < want && ::poll(&p, 1, timeoutMs) > 0) {
      uint8_t buf[2048];
      ssize_t n;
      while ((n = ::recv(fd_, buf, sizeof buf, 0)) >= 2) {
        got.push_back(load16(buf));
      }
    }
    return got;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

/// The sequence number of one of Host's datagrams read from the tun, or -1 for anything else.
int seqOf(Bytes packet) {
  if (packet.size() < kIpv6HeaderSize + kUdpHeader + 2 || packet[6] != kNextHeaderUdp) {
    return -1;
  }
  return load16(packet.data() + kIpv6HeaderSize + kUdpHeader);
}

/// Opens the ring, or skips the test where the kernel cannot (no multishot read, no io_uring).
#define OPEN_RING_OR_SKIP(var, fd, options)                                      \
  auto var##Or = TunRing::open(fd, options);                                     \
  if (!var##Or.ok()) {                                                           \
    GTEST_SKIP() << "no io_uring tun ring here: " << var##Or.status().message(); \
  }                                                                              \
  std::unique_ptr<TunRing> var = std::move(var##Or).value()

bool waitReadable(int fd, int timeoutMs = 3000) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeoutMs) > 0;
}

/// With everything collected the tun polls empty; one more packet makes it readable: the worker
/// sleeps in epoll_wait on the tun and would otherwise never read that packet.
void expectReadableForTheNextPacket(TunRing& ring, int tunFd, const Host& host, uint16_t seq) {
  // Whatever else waits (the kernel's own MLD reports) is taken first: the tun must poll empty.
  bool empty = false;
  for (int round = 0; round < 20 && !empty; ++round) {
    empty = !ring.pending() && !waitReadable(tunFd, 0);
    if (!empty) {
      EXPECT_GE(ring.collect(64), 0);
      ring.release();
    }
  }
  ASSERT_TRUE(empty) << "the tun keeps polling readable after every read was collected";
  ASSERT_TRUE(host.send(seq));
  EXPECT_TRUE(waitReadable(tunFd)) << "a packet for the ring left the tun polling empty";
}

/// Collects until `want` of Host's datagrams arrived (or a bounded number of rounds), releasing
/// the buffers after each collect as the relay does. Returns their sequence numbers in order.
std::vector<uint16_t> collectSeqs(TunRing& ring, int tunFd, size_t want, size_t maxPerCollect,
                                  size_t* truncated = nullptr) {
  std::vector<uint16_t> seqs;
  for (int round = 0; round < 200 && seqs.size() < want; ++round) {
    if (!ring.pending()) {
      (void)waitReadable(tunFd, 200);
    }
    const int n = ring.collect(maxPerCollect);
    EXPECT_GE(n, 0);
    for (int i = 0; i < n; ++i) {
      if (const int s = seqOf(ring.read(static_cast<size_t>(i))); s >= 0) {
        seqs.push_back(static_cast<uint16_t>(s));
      }
    }
    if (truncated != nullptr) {
      *truncated += ring.truncated();
    }
    ring.release();
    EXPECT_EQ(ring.readError(), 0);
  }
  return seqs;
}

std::vector<uint16_t> iota(uint16_t n) {
  std::vector<uint16_t> v(n);
  for (uint16_t i = 0; i < n; ++i) {
    v[i] = i;
  }
  return v;
}

TEST(TunRing, ReadsEveryPacketInOrderInFewCollects) {
  runInNetns([] {
    Tun tun = openTun();
    Host host;
    ASSERT_TRUE(host.ok());
    OPEN_RING_OR_SKIP(ring, tun.fd(0), TunRingOptions{});
    for (uint16_t i = 0; i < 100; ++i) {
      ASSERT_TRUE(host.send(i));
    }
    EXPECT_EQ(collectSeqs(*ring, tun.fd(0), 100, 64), iota(100));
    EXPECT_EQ(ring->rearms(), 0u);  // 256 buffers: the read never ran out
    expectReadableForTheNextPacket(*ring, tun.fd(0), host, 100);
    EXPECT_EQ(collectSeqs(*ring, tun.fd(0), 1, 64), std::vector<uint16_t>{100});
  });
}

// Two buffers for 40 packets: the kernel runs out, ends the multishot read (-ENOBUFS) and leaves
// the rest in the tun's queue; release() arms it again. Nothing is lost, nothing reordered.
TEST(TunRing, RunningOutOfBuffersLosesNothing) {
  runInNetns([] {
    Tun tun = openTun();
    Host host;
    ASSERT_TRUE(host.ok());
    TunRingOptions o;
    o.buffers = 2;
    OPEN_RING_OR_SKIP(ring, tun.fd(0), o);
    for (uint16_t i = 0; i < 40; ++i) {
      ASSERT_TRUE(host.send(i));
    }
    EXPECT_EQ(collectSeqs(*ring, tun.fd(0), 40, 64), iota(40));
    EXPECT_GT(ring->rearms(), 0u);
    // The read armed again still signals.
    expectReadableForTheNextPacket(*ring, tun.fd(0), host, 40);
    EXPECT_EQ(collectSeqs(*ring, tun.fd(0), 1, 64), std::vector<uint16_t>{40});
  });
}

// Collecting fewer than are waiting leaves the rest pending() (no new eventfd edge for them).
TEST(TunRing, CollectStopsAtItsLimitAndReportsTheRestPending) {
  runInNetns([] {
    Tun tun = openTun();
    Host host;
    ASSERT_TRUE(host.ok());
    OPEN_RING_OR_SKIP(ring, tun.fd(0), TunRingOptions{});
    for (uint16_t i = 0; i < 10; ++i) {
      ASSERT_TRUE(host.send(i));
    }
    ASSERT_TRUE(waitReadable(tun.fd(0)));
    // The datagrams arrive as one burst; let all of them reach the tun.
    ::usleep(50 * 1000);
    const int n = ring->collect(3);
    ASSERT_EQ(n, 3);
    EXPECT_TRUE(ring->pending());
    std::vector<uint16_t> seqs;
    for (int i = 0; i < n; ++i) {
      const int s = seqOf(ring->read(static_cast<size_t>(i)));
      if (s >= 0) {
        seqs.push_back(static_cast<uint16_t>(s));
      }
    }
    ring->release();
    for (uint16_t s : collectSeqs(*ring, tun.fd(0), 10 - seqs.size(), 64)) {
      seqs.push_back(s);
    }
    EXPECT_EQ(seqs, iota(10));
  });
}

// A read that fills its whole buffer may have been cut: counted in truncated(), never returned,
// and its buffer goes back to the kernel.
TEST(TunRing, ReadFillingItsBufferIsCountedNotReturned) {
  runInNetns([] {
    Tun tun = openTun();
    Host host;
    ASSERT_TRUE(host.ok());
    TunRingOptions o;
    o.buffers = 4;
    o.bufferSize = 200;
    OPEN_RING_OR_SKIP(ring, tun.fd(0), o);
    ASSERT_TRUE(host.send(0, 300));  // 348 bytes of IPv6: cut
    ASSERT_TRUE(host.send(1, 32));
    size_t truncated = 0;
    EXPECT_EQ(collectSeqs(*ring, tun.fd(0), 1, 64, &truncated), std::vector<uint16_t>{1});
    EXPECT_EQ(truncated, 1u);
    // Every buffer came back: more packets than buffers still go through.
    for (uint16_t i = 2; i < 12; ++i) {
      ASSERT_TRUE(host.send(i));
    }
    std::vector<uint16_t> want;
    for (uint16_t i = 2; i < 12; ++i) {
      want.push_back(i);
    }
    EXPECT_EQ(collectSeqs(*ring, tun.fd(0), 10, 64), want);
  });
}

/// A UDP/IPv6 datagram from the Teredo peer to Host, payload starting with `seq`, checksummed.
std::vector<uint8_t> udpToHost(uint16_t seq) {
  std::vector<uint8_t> p(kIpv6HeaderSize + kUdpHeader + 16, 0);
  p[0] = 0x60;
  store16(p.data() + 4, kUdpHeader + 16);
  p[6] = kNextHeaderUdp;
  p[7] = 64;
  const Ipv6Addr src = v6(kPeer);
  const Ipv6Addr dst = v6(kSelf);
  std::memcpy(p.data() + 8, src.bytes.data(), 16);
  std::memcpy(p.data() + 24, dst.bytes.data(), 16);
  uint8_t* udp = p.data() + kIpv6HeaderSize;
  store16(udp, 4000);
  store16(udp + 2, kPort);
  store16(udp + 4, kUdpHeader + 16);
  store16(udp + 8, seq);
  // RFC 8200 §8.1: the checksum covers the pseudo-header (addresses, length, next header).
  uint32_t sum = 0;
  for (size_t i = 8; i < 40; i += 2) {
    sum += load16(p.data() + i);
  }
  sum += kUdpHeader + 16 + kNextHeaderUdp;
  for (size_t i = 0; i < kUdpHeader + 16; i += 2) {
    sum += load16(udp + i);
  }
  while (sum >> 16) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  store16(udp + 6, static_cast<uint16_t>(~sum == 0 ? 0xffff : ~sum));
  return p;
}

// Writes: one submission, each write's own result; a packet the kernel refuses fails alone.
TEST(TunRing, WritesGoOutTogetherWithTheirOwnResults) {
  runInNetns([] {
    Tun tun = openTun();
    Host host;
    ASSERT_TRUE(host.ok());
    OPEN_RING_OR_SKIP(ring, tun.fd(0), TunRingOptions{});
    std::vector<std::vector<uint8_t>> packets;
    for (uint16_t i = 0; i < 8; ++i) {
      packets.push_back(udpToHost(i));
    }
    const std::vector<uint8_t> garbage(60, 0x00);  // version 0: not IP, the tun refuses it
    for (size_t i = 0; i < packets.size(); ++i) {
      // Two pieces for the odd ones: the header and the rest, written as one packet.
      const Bytes whole(packets[i]);
      const Bytes pieces[2] = {whole.first(20), whole.subspan(20)};
      ASSERT_TRUE(ring->queueWrite(VirtioNetHdr{}, i % 2 == 1 ? std::span<const Bytes>(pieces, 2)
                                                              : std::span<const Bytes>(&whole, 1)));
      if (i == 3) {
        const Bytes g(garbage);
        ASSERT_TRUE(ring->queueWrite(VirtioNetHdr{}, std::span<const Bytes>(&g, 1)));
      }
    }
    EXPECT_EQ(ring->queuedWrites(), 9u);
    const std::span<const int> results = ring->submitWrites();
    ASSERT_EQ(results.size(), 9u);
    for (size_t i = 0; i < results.size(); ++i) {
      if (i == 4) {
        EXPECT_LT(results[i], 0) << "the tun took a packet that is not IP";
      } else {
        EXPECT_EQ(results[i], 0) << i << ": " << std::strerror(-results[i]);
      }
    }
    EXPECT_EQ(ring->queuedWrites(), 0u);
    EXPECT_EQ(host.receive(8), iota(8));
  });
}

TEST(TunRing, QueueRefusesBeyondItsLimits) {
  runInNetns([] {
    Tun tun = openTun();
    TunRingOptions o;
    o.maxWrites = 2;
    o.maxWritePieces = 3;
    OPEN_RING_OR_SKIP(ring, tun.fd(0), o);
    const std::vector<uint8_t> p = udpToHost(1);
    const Bytes whole(p);
    const Bytes three[3] = {whole.first(10), whole.subspan(10, 10), whole.subspan(20)};
    EXPECT_TRUE(ring->queueWrite(VirtioNetHdr{}, std::span<const Bytes>(&whole, 1)));
    // Three pieces where two are left: refused, nothing queued.
    EXPECT_FALSE(ring->queueWrite(VirtioNetHdr{}, std::span<const Bytes>(three, 3)));
    EXPECT_EQ(ring->queuedWrites(), 1u);
    EXPECT_TRUE(ring->queueWrite(VirtioNetHdr{}, std::span<const Bytes>(&whole, 1)));
    EXPECT_FALSE(ring->queueWrite(VirtioNetHdr{}, std::span<const Bytes>(&whole, 1)));  // 2 max
    const std::span<const int> r = ring->submitWrites();
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0], 0);
    EXPECT_EQ(r[1], 0);
    EXPECT_TRUE(ring->submitWrites().empty());  // nothing queued: no system call, no results
  });
}

TEST(TunRing, OptionsAreChecked) {
  // Table: options open() must refuse before touching the kernel.
  struct Row {
    const char* name;
    TunRingOptions o;
  };
  std::vector<Row> rows;
  TunRingOptions o;
  o.buffers = 3;
  rows.push_back({"buffers not a power of two", o});
  o = {};
  o.buffers = 65536;
  rows.push_back({"too many buffers", o});
  o = {};
  o.bufferSize = 0;
  rows.push_back({"empty buffers", o});
  o = {};
  o.maxWrites = 8;
  o.maxWritePieces = 4;
  rows.push_back({"fewer pieces than writes", o});
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    const auto ring = TunRing::open(-1, r.o);
    ASSERT_FALSE(ring.ok());
    EXPECT_EQ(ring.status().code(), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace teredo::net

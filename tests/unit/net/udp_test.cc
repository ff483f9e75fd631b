// Loopback tests for UdpSocket, RecvBatch and SendBatch (lib/net/udp.h).
#include "net/udp.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "netns_helper.h"

namespace teredo::net {
namespace {

constexpr uint32_t kLoopback = 0x7f000001;

UdpSocket openOrDie(const Endpoint& e, const UdpOptions& o = {}) {
  StatusOr<UdpSocket> s = UdpSocket::open(e, o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return s.ok() ? std::move(s).value() : UdpSocket();
}

/// Waits (bounded) until the socket is readable; loopback delivery is normally immediate.
bool waitReadable(const UdpSocket& s) {
  struct pollfd p {
    s.fd(), POLLIN, 0
  };
  return ::poll(&p, 1, 5000) == 1;
}

/// Receives until `want` datagrams arrived or nothing more comes; copies them out.
struct Received {
  std::vector<uint8_t> bytes;
  Endpoint source;
  bool truncated;
};
std::vector<Received> receiveAll(UdpSocket& s, RecvBatch& batch, size_t want) {
  std::vector<Received> out;
  while (out.size() < want && waitReadable(s)) {
    int n = batch.receive(s);
    EXPECT_GE(n, 0);
    if (n <= 0) {
      break;
    }
    for (const RecvMessage& m : batch.messages()) {
      out.push_back({std::vector<uint8_t>(m.data.begin(), m.data.end()), m.source, m.truncated});
    }
  }
  return out;
}

/// Drains what is queued now (after waiting for the first datagram) without waiting for more.
size_t drain(UdpSocket& s, RecvBatch& batch) {
  size_t total = 0;
  if (!waitReadable(s)) {
    return 0;
  }
  for (int n = batch.receive(s); n > 0; n = batch.receive(s)) {
    total += static_cast<size_t>(n);
  }
  return total;
}

std::vector<uint8_t> pattern(size_t i) {
  std::vector<uint8_t> v(10 + i * 23);
  for (size_t k = 0; k < v.size(); ++k) {
    v[k] = static_cast<uint8_t>(i * 7 + k);
  }
  return v;
}

TEST(UdpSocket, OpenReportsBoundEndpoint) {
  UdpSocket s = openOrDie({kLoopback, 0});
  EXPECT_TRUE(s.valid());
  EXPECT_EQ(s.localEndpoint().addr, kLoopback);
  EXPECT_NE(s.localEndpoint().port, 0);
}

TEST(UdpBatch, FiftyDatagramsByteExactWithSources) {
  UdpSocket rx = openOrDie({kLoopback, 0});
  UdpSocket txA = openOrDie({kLoopback, 0});
  UdpSocket txB = openOrDie({kLoopback, 0});
  SendBatch a;
  SendBatch b;
  for (size_t i = 0; i < 50; ++i) {
    std::vector<uint8_t> p = pattern(i);
    // Alternate the senders and split head/body differently to cover both iovecs.
    Bytes all(p);
    if (i % 2 == 0) {
      ASSERT_TRUE(a.add(rx.localEndpoint(), all.first(i % 9), all.subspan(i % 9)));
    } else {
      ASSERT_TRUE(b.add(rx.localEndpoint(), {}, all));
    }
  }
  EXPECT_EQ(a.size(), 25u);
  FlushResult ra = a.flush(txA);
  FlushResult rb = b.flush(txB);
  EXPECT_EQ(ra.sent, 25u);
  EXPECT_EQ(rb.sent, 25u);
  EXPECT_EQ(ra.failed + rb.failed, 0u);
  EXPECT_TRUE(a.empty());

  RecvBatch batch;
  std::vector<Received> got = receiveAll(rx, batch, 50);
  ASSERT_EQ(got.size(), 50u);
  // Each sender's datagrams arrive in order; merge by sender.
  size_t nextA = 0;
  size_t nextB = 1;
  for (const Received& r : got) {
    EXPECT_FALSE(r.truncated);
    size_t& next = r.source == txA.localEndpoint() ? nextA : nextB;
    ASSERT_TRUE(r.source == txA.localEndpoint() || r.source == txB.localEndpoint());
    EXPECT_EQ(r.bytes, pattern(next)) << "datagram " << next;
    next += 2;
  }
  EXPECT_EQ(nextA, 50u);
  EXPECT_EQ(nextB, 51u);
  EXPECT_EQ(batch.newKernelDrops(), 0u);
}

TEST(UdpBatch, BorrowedBodyWithOriginHead) {
  UdpSocket rx = openOrDie({kLoopback, 0});
  UdpSocket tx = openOrDie({kLoopback, 0});
  const std::vector<uint8_t> origin = {0, 0, 0xf2, 0x27, 1, 2, 3, 4};
  const std::vector<uint8_t> body = pattern(30);
  SendBatch batch(4, 16);  // slots smaller than the body: only the head is copied
  ASSERT_TRUE(batch.addBorrowed(rx.localEndpoint(), origin, body));
  EXPECT_FALSE(batch.add(rx.localEndpoint(), origin, body)) << "copy must not fit a 16-byte slot";
  FlushResult r = batch.flush(tx);
  EXPECT_EQ(r.sent, 1u);
  RecvBatch in;
  std::vector<Received> got = receiveAll(rx, in, 1);
  ASSERT_EQ(got.size(), 1u);
  std::vector<uint8_t> want = origin;
  want.insert(want.end(), body.begin(), body.end());
  EXPECT_EQ(got[0].bytes, want);
  EXPECT_EQ(got[0].source, tx.localEndpoint());
}

TEST(UdpBatch, TruncatedDatagramIsFlagged) {
  UdpSocket rx = openOrDie({kLoopback, 0});
  UdpSocket tx = openOrDie({kLoopback, 0});
  SendBatch out;
  std::vector<uint8_t> big(300, 0xab);
  std::vector<uint8_t> small(100, 0xcd);
  ASSERT_TRUE(out.add(rx.localEndpoint(), big));
  ASSERT_TRUE(out.add(rx.localEndpoint(), small));
  EXPECT_EQ(out.flush(tx).sent, 2u);
  RecvBatch in(8, 100);
  std::vector<Received> got = receiveAll(rx, in, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].truncated);
  EXPECT_EQ(got[0].bytes, std::vector<uint8_t>(100, 0xab));
  EXPECT_FALSE(got[1].truncated) << "exactly slot-sized is not truncated";
  EXPECT_EQ(got[1].bytes, small);
}

TEST(UdpBatch, ReceiveOnEmptySocketReturnsZero) {
  UdpSocket rx = openOrDie({kLoopback, 0});
  RecvBatch in(4);
  EXPECT_EQ(in.receive(rx), 0);  // EAGAIN is "nothing yet", not an error
  EXPECT_EQ(in.size(), 0u);
  UdpSocket closed;
  EXPECT_EQ(in.receive(closed), -EBADF);
}

TEST(UdpBatch, WaitForOneTimesOutWithZeroOnABlockingSocket) {
  UdpSocket rx = openOrDie({kLoopback, 0}, {.nonBlocking = false, .receiveTimeoutMs = 20});
  RecvBatch in(4);
  EXPECT_EQ(in.receive(rx, RecvWait::ForOne), 0) << "the receive timeout is not an error";
  EXPECT_EQ(in.size(), 0u);
}

TEST(UdpBatch, WaitForOneTakesEverythingAlreadyQueued) {
  UdpSocket rx = openOrDie({kLoopback, 0}, {.nonBlocking = false, .receiveTimeoutMs = 1000});
  UdpSocket tx = openOrDie({kLoopback, 0});
  SendBatch out(8, 64);
  for (uint8_t i = 0; i < 3; ++i) {
    const std::vector<uint8_t> body(10, i);
    ASSERT_TRUE(out.add(rx.localEndpoint(), body, {}));
  }
  ASSERT_EQ(out.flush(tx).sent, 3u);
  RecvBatch in(8, 64);
  // Loopback delivery is synchronous: all three are queued before the call, and MSG_WAITFORONE
  // returns them together without waiting for the batch to fill.
  ASSERT_EQ(in.receive(rx, RecvWait::ForOne), 3);
  for (uint8_t i = 0; i < 3; ++i) {
    EXPECT_EQ(std::vector<uint8_t>(in[i].data.begin(), in[i].data.end()),
              std::vector<uint8_t>(10, i));
    EXPECT_EQ(in[i].source, tx.localEndpoint());
  }
}

TEST(UdpBatch, AddRefusesWhenFullOrOversized) {
  SendBatch b(2, 10);
  std::vector<uint8_t> five(5), eleven(11);
  EXPECT_TRUE(b.add({kLoopback, 9}, five, five));
  EXPECT_FALSE(b.add({kLoopback, 9}, five, eleven));
  EXPECT_FALSE(b.addBorrowed({kLoopback, 9}, eleven, five));
  EXPECT_TRUE(b.addBorrowed({kLoopback, 9}, five, eleven));
  EXPECT_TRUE(b.full());
  EXPECT_FALSE(b.add({kLoopback, 9}, five));
  b.clear();
  EXPECT_TRUE(b.empty());
}

TEST(UdpBatch, RefusedMessageIsCountedAndTheRestStillSent) {
  UdpSocket rx = openOrDie({kLoopback, 0});
  UdpSocket tx = openOrDie({kLoopback, 0});
  SendBatch out;
  std::vector<uint8_t> p = {1, 2, 3};
  ASSERT_TRUE(out.add(rx.localEndpoint(), p));
  // No SO_BROADCAST: the kernel refuses a limited-broadcast destination with EACCES.
  ASSERT_TRUE(out.add({0xffffffff, rx.localEndpoint().port}, p));
  ASSERT_TRUE(out.add(rx.localEndpoint(), p));
  ASSERT_TRUE(out.add({0xffffffff, 9}, p));
  FlushResult r = out.flush(tx);
  EXPECT_EQ(r.sent, 2u);
  EXPECT_EQ(r.failed, 2u);
  EXPECT_EQ(r.lastError, -EACCES);
  RecvBatch in;
  EXPECT_EQ(receiveAll(rx, in, 2).size(), 2u);
}

TEST(UdpSocket, ReusePortLetsTwoSocketsShareAPort) {
  UdpSocket first = openOrDie({kLoopback, 0}, {.reusePort = true});
  uint16_t port = first.localEndpoint().port;
  StatusOr<UdpSocket> second = UdpSocket::open({kLoopback, port}, {.reusePort = true});
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(second->localEndpoint().port, port);
  StatusOr<UdpSocket> third = UdpSocket::open({kLoopback, port});
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().sysErrno(), EADDRINUSE);
  EXPECT_NE(third.status().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << third.status().message();
}

TEST(UdpSocket, BindErrorNamesTheAddress) {
  // 198.51.100.7 (TEST-NET-2) is not configured on any local interface.
  StatusOr<UdpSocket> s = UdpSocket::open({0xc6336407, 3544});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().sysErrno(), EADDRNOTAVAIL);
  EXPECT_EQ(s.status().message(), "bind 198.51.100.7:3544: Cannot assign requested address");
}

TEST(UdpSocket, FreeBindAcceptsAnAddressNotConfiguredHere) {
  StatusOr<UdpSocket> s = UdpSocket::open({0xc6336407, 0}, {.freeBind = true});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->localEndpoint().addr, 0xc6336407u);
}

TEST(UdpSocket, KernelDropsAreReported) {
  UdpSocket rx = openOrDie({kLoopback, 0}, {.rcvbuf = 1});  // the kernel rounds up to its minimum
  UdpSocket tx = openOrDie({kLoopback, 0});
  std::vector<uint8_t> p(1000, 0x11);
  SendBatch out(100);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(out.add(rx.localEndpoint(), p));
  }
  EXPECT_EQ(out.flush(tx).sent, 100u);
  RecvBatch in(128);
  size_t first = drain(rx, in);
  ASSERT_LT(first, 100u) << "the tiny receive buffer should have overflowed";
  ASSERT_GT(first, 0u);
  // The counter rides on datagrams queued after the drops: send one more.
  ASSERT_TRUE(out.add(rx.localEndpoint(), p));
  EXPECT_EQ(out.flush(tx).sent, 1u);
  std::vector<Received> second = receiveAll(rx, in, 1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(in.newKernelDrops(), 100u - first);
  EXPECT_EQ(rx.kernelDrops(), 100u - first);
}

// EAGAIN on send: a namespace whose only route goes through a 8 kbit/s token bucket holds the
// datagrams in the qdisc, charged to the tiny send buffer, until sendmmsg would block.
TEST(UdpBatch, FullSendBufferEndsFlushAndCountsTheRest) {
  testing::runInNetns([] {
    ASSERT_EQ(std::system("ip link add v0 type veth peer name v1 && ip link set v1 up && "
                          "ip link set v0 up && ip addr add 10.77.0.1/24 dev v0 && "
                          "ip neigh add 10.77.0.2 lladdr 02:00:00:00:00:02 dev v0 nud permanent && "
                          "tc qdisc add dev v0 root tbf rate 8kbit burst 1600 limit 1000000"),
              0);
    UdpSocket tx = openOrDie({0x0a4d0001, 0}, {.sndbuf = 4096});
    SendBatch out;
    std::vector<uint8_t> p(1000, 0x22);
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(out.add({0x0a4d0002, 9}, p));
    }
    FlushResult r = out.flush(tx);
    EXPECT_GE(r.sent, 1u);
    EXPECT_LT(r.sent, 50u);
    EXPECT_EQ(r.sent + r.failed, 50u);
    EXPECT_EQ(r.lastError, -EAGAIN);
    EXPECT_TRUE(out.empty());
  });
}

}  // namespace
}  // namespace teredo::net

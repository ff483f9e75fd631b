// Loopback tests for UdpSocket, RecvBatch and SendBatch (lib/net/udp.h).
#include "net/udp.h"

#include <gtest/gtest.h>
#include <netinet/udp.h>
#include <poll.h>

#include <cerrno>
#include <cstdlib>
#include <string>
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

// --- UDP GSO (send) and GRO (receive) ------------------------------------------------------

/// Datagram `index` of a burst: `size` bytes that differ from every other index's, so a
/// reordered, merged or shifted datagram never compares equal.
std::vector<uint8_t> burstDatagram(size_t index, size_t size) {
  std::vector<uint8_t> v(size);
  for (size_t k = 0; k < size; ++k) {
    v[k] = static_cast<uint8_t>(index * 31 + k * 7 + (k >> 8));
  }
  return v;
}

/// Queues `d` for `dst`, alternating the two ways of adding (so that GSO groups mix copied
/// datagrams, one iovec plus an empty one, with head + borrowed body pairs) and the head/body
/// split. `d` must outlive the flush (borrowed bodies).
void queue(SendBatch& batch, const Endpoint& dst, const std::vector<uint8_t>& d, size_t index) {
  Bytes all(d);
  if (index % 2 == 0) {
    const size_t head = std::min(d.size(), index % 9);
    ASSERT_TRUE(batch.add(dst, all.first(head), all.subspan(head)));
  } else {
    const size_t head = std::min<size_t>(d.size(), 8);  // like an origin indication
    ASSERT_TRUE(batch.addBorrowed(dst, all.first(head), all.subspan(head)));
  }
}

/// What a receiver saw, and how many buffers the kernel handed it (GRO shows the GSO messages).
struct ReceivedBurst {
  std::vector<Received> datagrams;
  size_t buffers = 0;
  uint64_t groSegments = 0;
};

ReceivedBurst receiveBurst(UdpSocket& s, RecvBatch& batch, size_t want) {
  ReceivedBurst out;
  while (out.datagrams.size() < want && (batch.pending() || waitReadable(s))) {
    int n = batch.receive(s);
    EXPECT_GE(n, 0);
    if (n <= 0) {
      break;
    }
    out.buffers += batch.buffersReceived();
    out.groSegments += batch.newGroSegments();
    for (const RecvMessage& m : batch.messages()) {
      out.datagrams.push_back(
          {std::vector<uint8_t>(m.data.begin(), m.data.end()), m.source, m.truncated});
    }
  }
  return out;
}

/// Receives data.size() datagrams on `rx` and checks that they are `data`, in order.
void expectReceivedInOrder(UdpSocket& rx, const std::vector<std::vector<uint8_t>>& data) {
  RecvBatch in;
  ReceivedBurst got = receiveBurst(rx, in, data.size());
  ASSERT_EQ(got.datagrams.size(), data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    EXPECT_EQ(got.datagrams[i].bytes, data[i]) << i;
  }
}

TEST(UdpOffload, OptionsOffByDefaultAndProbedWhenAsked) {
  UdpSocket plain = openOrDie({kLoopback, 0});
  EXPECT_FALSE(plain.groActive());
  EXPECT_FALSE(plain.gsoActive());
  EXPECT_EQ(plain.gsoMaxSegmentSize(), 0u);
  EXPECT_STREQ(plain.gsoFallbackReason(), "");
  EXPECT_EQ(plain.gsoFallbackError(), 0);
  // Every kernel this project supports (5.x+) has both; a failed probe would not fail open().
  UdpSocket both = openOrDie({kLoopback, 0}, {.gro = true, .gso = true});
  EXPECT_TRUE(both.groActive());
  EXPECT_TRUE(both.gsoActive()) << both.gsoFallbackReason();
  EXPECT_EQ(both.gsoMaxSegmentSize(), UdpSocket::kMaxUdpPayload);
  int on = 0;
  socklen_t len = sizeof(on);
  ASSERT_EQ(::getsockopt(both.fd(), SOL_UDP, UDP_GRO, &on, &len), 0);
  EXPECT_EQ(on, 1);
  // The state survives a move.
  UdpSocket moved = std::move(both);
  EXPECT_TRUE(moved.groActive());
  EXPECT_EQ(moved.gsoMaxSegmentSize(), UdpSocket::kMaxUdpPayload);
}

/// One GSO grouping case: datagrams (destination 0 or 1, size) in queue order and the
/// messages flush() must make of them (datagram counts, in order).
struct GsoCase {
  const char* name;
  std::vector<std::pair<int, size_t>> datagrams;
  std::vector<size_t> groups;
};

std::vector<std::pair<int, size_t>> repeat(int dst, size_t size, size_t count) {
  return std::vector<std::pair<int, size_t>>(count, {dst, size});
}
std::vector<std::pair<int, size_t>> operator+(std::vector<std::pair<int, size_t>> a,
                                              const std::vector<std::pair<int, size_t>>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const std::vector<GsoCase>& gsoCases() {
  static const std::vector<GsoCase> cases = {
      {"ten equal to one destination", repeat(0, 1280, 10), {10}},
      {"shorter last one joins", repeat(0, 1000, 5) + repeat(0, 500, 1), {6}},
      {"shorter one ends the group",
       repeat(0, 1000, 3) + repeat(0, 500, 1) + repeat(0, 1000, 2),
       {4, 2}},
      {"larger one starts a new group", repeat(0, 500, 1) + repeat(0, 1000, 3), {1, 3}},
      {"alternating destinations are never merged",
       repeat(0, 100, 2) + repeat(1, 100, 2) + repeat(0, 100, 1) + repeat(1, 100, 1) +
           repeat(0, 100, 1),
       {2, 2, 1, 1, 1}},
      {"empty datagrams are never segments",
       repeat(0, 100, 1) + repeat(0, 0, 2) + repeat(0, 100, 2),
       {1, 1, 1, 2}},
      {"at most 64 segments", repeat(0, 100, 130), {64, 64, 2}},
      {"at most 65507 bytes: 52 x 1280 does not fit", repeat(0, 1280, 52), {51, 1}},
      {"exactly 65507 bytes fit", repeat(0, 1280, 51) + repeat(0, 227, 1), {52}},
      {"65508 bytes do not", repeat(0, 1280, 51) + repeat(0, 228, 1), {51, 1}},
      {"single datagrams stay plain", repeat(0, 100, 1) + repeat(1, 200, 1), {1, 1}},
  };
  return cases;
}

// GSO send: every case arrives datagram by datagram, in order, with the right bytes, at
// receivers without GRO (the kernel segments) and with GRO (RecvBatch splits the buffers, whose
// number shows the messages the sender made); the same batch without GSO arrives the same.
TEST(UdpOffload, GsoGroupsAndDeliversInOrder) {
  for (const GsoCase& c : gsoCases()) {
    for (bool gso : {true, false}) {
      for (bool gro : {false, true}) {
        SCOPED_TRACE(std::string(c.name) + (gso ? ", GSO" : ", no GSO") +
                     (gro ? ", GRO receiver" : ", plain receiver"));
        UdpSocket rx[2] = {openOrDie({kLoopback, 0}, {.gro = gro}),
                           openOrDie({kLoopback, 0}, {.gro = gro})};
        UdpSocket tx = openOrDie({kLoopback, 0}, {.gso = gso});
        ASSERT_EQ(tx.gsoActive(), gso);
        std::vector<std::vector<uint8_t>> data;
        for (size_t i = 0; i < c.datagrams.size(); ++i) {
          data.push_back(burstDatagram(i, c.datagrams[i].second));
        }
        SendBatch out(256);
        for (size_t i = 0; i < c.datagrams.size(); ++i) {
          queue(out, rx[c.datagrams[i].first].localEndpoint(), data[i], i);
        }
        FlushResult r = out.flush(tx);
        EXPECT_EQ(r.sent, c.datagrams.size());
        EXPECT_EQ(r.failed, 0u);
        EXPECT_EQ(r.lastError, 0);
        EXPECT_EQ(r.gsoFallbacks, 0u);
        size_t wantMessages = 0;
        size_t wantSegments = 0;
        for (size_t g : c.groups) {
          wantMessages += g > 1 ? 1 : 0;
          wantSegments += g > 1 ? g : 0;
        }
        EXPECT_EQ(r.gsoMessages, gso ? wantMessages : 0u);
        EXPECT_EQ(r.gsoSegments, gso ? wantSegments : 0u);

        size_t buffers = 0;
        uint64_t groSegments = 0;
        for (int d = 0; d < 2; ++d) {
          std::vector<std::vector<uint8_t>> want;
          for (size_t i = 0; i < c.datagrams.size(); ++i) {
            if (c.datagrams[i].first == d) {
              want.push_back(data[i]);
            }
          }
          RecvBatch in = gro ? RecvBatch::forGro() : RecvBatch();
          ReceivedBurst got = receiveBurst(rx[d], in, want.size());
          ASSERT_EQ(got.datagrams.size(), want.size()) << "receiver " << d;
          for (size_t i = 0; i < want.size(); ++i) {
            EXPECT_EQ(got.datagrams[i].bytes, want[i]) << "receiver " << d << " datagram " << i;
            EXPECT_EQ(got.datagrams[i].source, tx.localEndpoint());
            EXPECT_FALSE(got.datagrams[i].truncated);
          }
          buffers += got.buffers;
          groSegments += got.groSegments;
        }
        if (gro) {
          // Loopback keeps a GSO message whole up to a GRO socket: one buffer per message.
          // Except one whose frame exceeds lo's gso_max_size (64 KiB including the 14-byte
          // Ethernet header, so a UDP payload above 65494 bytes): the device segments that one
          // in software and the datagrams arrive one by one (still correct, just not merged).
          size_t wantBuffers = 0;
          size_t wantGro = 0;
          size_t first = 0;
          for (size_t g : c.groups) {
            size_t bytes = 0;
            for (size_t i = first; i < first + g; ++i) {
              bytes += c.datagrams[i].second;
            }
            const bool whole = gso && g > 1 && bytes <= 65494;
            wantBuffers += whole ? 1 : g;
            wantGro += whole ? g : 0;
            first += g;
          }
          EXPECT_EQ(buffers, wantBuffers);
          EXPECT_EQ(groSegments, wantGro);
        } else {
          EXPECT_EQ(buffers, c.datagrams.size());
          EXPECT_EQ(groSegments, 0u);
        }
      }
    }
  }
}

// GRO receive: a burst that the kernel coalesces yields exactly the datagrams (bytes, source,
// order) a receiver without GRO gets.
TEST(UdpOffload, GroReceiveMatchesPlainReceive) {
  struct Case {
    size_t segment;
    size_t count;
    size_t last;
  };
  const Case cases[] = {
      {1280, 10, 1280}, {1000, 4, 500}, {100, 64, 100}, {1280, 51, 227}, {1, 40, 1}};
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.count) + " x " + std::to_string(c.segment) + ", last " +
                 std::to_string(c.last));
    UdpSocket groRx = openOrDie({kLoopback, 0}, {.gro = true});
    UdpSocket plainRx = openOrDie({kLoopback, 0});
    UdpSocket tx = openOrDie({kLoopback, 0}, {.gso = true});
    std::vector<std::vector<uint8_t>> data;
    for (size_t i = 0; i < c.count; ++i) {
      data.push_back(burstDatagram(i, i + 1 == c.count ? c.last : c.segment));
    }
    SendBatch out(64);
    for (UdpSocket* rx : {&groRx, &plainRx}) {
      for (size_t i = 0; i < c.count; ++i) {
        queue(out, rx->localEndpoint(), data[i], i);
      }
      FlushResult r = out.flush(tx);
      EXPECT_EQ(r.sent, c.count);
      EXPECT_EQ(r.gsoMessages, 1u);
    }
    RecvBatch groIn = RecvBatch::forGro();
    RecvBatch plainIn;
    ReceivedBurst viaGro = receiveBurst(groRx, groIn, c.count);
    ReceivedBurst plain = receiveBurst(plainRx, plainIn, c.count);
    EXPECT_EQ(viaGro.buffers, 1u) << "the burst should arrive as one coalesced buffer";
    EXPECT_EQ(viaGro.groSegments, c.count);
    EXPECT_EQ(groIn.groSegments(), c.count);
    EXPECT_EQ(plain.buffers, c.count);
    ASSERT_EQ(viaGro.datagrams.size(), c.count);
    ASSERT_EQ(plain.datagrams.size(), c.count);
    for (size_t i = 0; i < c.count; ++i) {
      EXPECT_EQ(viaGro.datagrams[i].bytes, data[i]) << i;
      EXPECT_EQ(viaGro.datagrams[i].bytes, plain.datagrams[i].bytes) << i;
      EXPECT_EQ(viaGro.datagrams[i].source, plain.datagrams[i].source) << i;
      EXPECT_EQ(viaGro.datagrams[i].source, tx.localEndpoint()) << i;
      EXPECT_FALSE(viaGro.datagrams[i].truncated) << i;
    }
  }
}

// A coalesced buffer larger than the slot: the datagrams wholly inside are intact, the one the
// slot cuts and every one after it are flagged truncated (and counted, not lost silently).
TEST(UdpOffload, GroBufferLargerThanTheSlotFlagsTheCutDatagrams) {
  UdpSocket rx = openOrDie({kLoopback, 0}, {.gro = true});
  UdpSocket tx = openOrDie({kLoopback, 0}, {.gso = true});
  std::vector<std::vector<uint8_t>> data;
  SendBatch out(8);
  for (size_t i = 0; i < 4; ++i) {
    data.push_back(burstDatagram(i, 1000));
    queue(out, rx.localEndpoint(), data[i], i);
  }
  ASSERT_EQ(out.flush(tx).gsoMessages, 1u);
  RecvBatch in(4, 2500, RecvBatch::kGroSegmentsPerSlot);
  ReceivedBurst got = receiveBurst(rx, in, 4);
  ASSERT_EQ(got.datagrams.size(), 4u);
  EXPECT_EQ(got.buffers, 1u);
  EXPECT_FALSE(got.datagrams[0].truncated);
  EXPECT_EQ(got.datagrams[0].bytes, data[0]);
  EXPECT_FALSE(got.datagrams[1].truncated);
  EXPECT_EQ(got.datagrams[1].bytes, data[1]);
  EXPECT_TRUE(got.datagrams[2].truncated);
  EXPECT_EQ(got.datagrams[2].bytes, std::vector<uint8_t>(data[2].begin(), data[2].begin() + 500));
  EXPECT_TRUE(got.datagrams[3].truncated);
  EXPECT_TRUE(got.datagrams[3].bytes.empty());
}

// More datagrams in the buffers than views: the rest stays pending and comes with the next
// receive() without a system call; mutableData() points at each datagram's own bytes.
TEST(UdpOffload, DatagramsBeyondMaxMessagesArePendingNotLost) {
  UdpSocket rx = openOrDie({kLoopback, 0}, {.gro = true});
  UdpSocket tx = openOrDie({kLoopback, 0}, {.gso = true});
  std::vector<std::vector<uint8_t>> data;
  SendBatch out(8);
  for (size_t i = 0; i < 5; ++i) {
    data.push_back(burstDatagram(i, 100));
    queue(out, rx.localEndpoint(), data[i], i);
  }
  ASSERT_EQ(out.flush(tx).gsoMessages, 1u);
  RecvBatch in(2, RecvBatch::kGroSlotSize, 1);  // two views only
  ASSERT_EQ(in.maxMessages(), 2u);
  ASSERT_TRUE(waitReadable(rx));
  const size_t want[] = {2, 2, 1};
  const size_t wantBuffers[] = {1, 0, 0};
  size_t next = 0;
  for (size_t call = 0; call < 3; ++call) {
    SCOPED_TRACE("call " + std::to_string(call));
    ASSERT_EQ(in.receive(rx), static_cast<int>(want[call]));
    EXPECT_EQ(in.buffersReceived(), wantBuffers[call]);
    EXPECT_EQ(in.pending(), call < 2);
    for (size_t i = 0; i < in.size(); ++i, ++next) {
      EXPECT_EQ(std::vector<uint8_t>(in[i].data.begin(), in[i].data.end()), data[next]);
      MutableBytes w = in.mutableData(i);
      ASSERT_EQ(w.size(), 100u);
      EXPECT_EQ(w.data(), in[i].data.data());
      w[0] = 0xee;
      EXPECT_EQ(in[i].data[0], 0xee);
    }
  }
  EXPECT_EQ(next, 5u);
  EXPECT_EQ(in.receive(rx), 0);
  EXPECT_FALSE(in.pending());
}

// A refused GSO message (here EINVAL: the kernel never does GSO with SO_NO_CHECK) is resent one
// datagram at a time, in order; a large segment size only caps GSO (an MTU would explain it), a
// small one disables it.
TEST(UdpOffload, RefusedGsoFallsBackToSingleDatagrams) {
  UdpSocket rx = openOrDie({kLoopback, 0});
  UdpSocket tx = openOrDie({kLoopback, 0}, {.gso = true});
  const int one = 1;
  ASSERT_EQ(::setsockopt(tx.fd(), SOL_SOCKET, SO_NO_CHECK, &one, sizeof(one)), 0);
  struct Step {
    size_t size;
    size_t fallbacks;
    size_t capAfter;
  };
  const Step steps[] = {
      {1280, 1, 1279},  // capped below 1280
      {1280, 0, 1279},  // not tried again
      {1000, 1, 999},   // capped again
      {500, 1, 0},      // cannot be an MTU: GSO off
      {100, 0, 0},
  };
  for (const Step& step : steps) {
    SCOPED_TRACE("size " + std::to_string(step.size));
    std::vector<std::vector<uint8_t>> data;
    SendBatch out(16);
    for (size_t i = 0; i < 10; ++i) {
      data.push_back(burstDatagram(i, step.size));
      queue(out, rx.localEndpoint(), data[i], i);
    }
    queue(out, {0xffffffff, 9}, data[0], 10);  // a real failure still counts as one
    FlushResult r = out.flush(tx);
    EXPECT_EQ(r.sent, 10u);
    EXPECT_EQ(r.failed, 1u);
    EXPECT_EQ(r.lastError, -EACCES);
    EXPECT_EQ(r.gsoMessages, 0u);
    EXPECT_EQ(r.gsoFallbacks, step.fallbacks);
    EXPECT_EQ(tx.gsoMaxSegmentSize(), step.capAfter);
    EXPECT_EQ(tx.gsoActive(), step.capAfter != 0);
    EXPECT_EQ(tx.gsoFallbackError(), -EINVAL);
    EXPECT_STRNE(tx.gsoFallbackReason(), "");
    expectReceivedInOrder(rx, data);
  }
}

// RFC 4380 §5.1.1: no DF, so the kernel checks a GSO segment against the route MTU and refuses
// a larger one (EMSGSIZE on current kernels, EINVAL on older ones). Those datagrams go out one
// by one (fragmented by IPv4) and smaller ones still use GSO.
TEST(UdpOffload, SegmentsAboveTheRouteMtuAreSentOneByOne) {
  testing::runInNetns([] {
    ASSERT_EQ(std::system("ip link set lo mtu 1200"), 0);
    UdpSocket rx = openOrDie({kLoopback, 0});
    UdpSocket tx = openOrDie({kLoopback, 0}, {.gso = true});
    // 1200 - 20 - 8 = 1172 is the largest segment that fits.
    struct Step {
      size_t size;
      bool gso;          // sent as one GSO message
      size_t fallbacks;  // refused and resent one by one
      size_t capAfter;
    };
    const Step steps[] = {
        {1280, false, 1, 1279},  // refused: capped below 1280
        {1173, false, 1, 1172},  // below that cap, refused too: capped again
        {1200, false, 0, 1172},  // above the cap: not tried again
        {1172, true, 0, 1172},  {1000, true, 0, 1172},
    };
    for (const Step& step : steps) {
      SCOPED_TRACE("size " + std::to_string(step.size));
      std::vector<std::vector<uint8_t>> data;
      SendBatch out(8);
      for (size_t i = 0; i < 5; ++i) {
        data.push_back(burstDatagram(i, step.size));
        queue(out, rx.localEndpoint(), data[i], i);
      }
      FlushResult r = out.flush(tx);
      EXPECT_EQ(r.sent, 5u);
      EXPECT_EQ(r.failed, 0u);
      EXPECT_EQ(r.lastError, 0);
      EXPECT_EQ(r.gsoMessages, step.gso ? 1u : 0u);
      EXPECT_EQ(r.gsoFallbacks, step.fallbacks);
      EXPECT_TRUE(tx.gsoActive());
      EXPECT_EQ(tx.gsoMaxSegmentSize(), step.capAfter);
      EXPECT_TRUE(tx.gsoFallbackError() == -EMSGSIZE || tx.gsoFallbackError() == -EINVAL)
          << tx.gsoFallbackError();
      expectReceivedInOrder(rx, data);
    }
  });
}

// A GSO message that the kernel refuses for a reason that is not GSO's (EACCES: broadcast)
// counts all its datagrams as failed; the groups around it are sent.
TEST(UdpOffload, FailedGsoMessageCountsEveryDatagram) {
  UdpSocket rx = openOrDie({kLoopback, 0});
  UdpSocket tx = openOrDie({kLoopback, 0}, {.gso = true});
  std::vector<std::vector<uint8_t>> data;
  for (size_t i = 0; i < 9; ++i) {
    data.push_back(burstDatagram(i, 100));
  }
  SendBatch out(16);
  for (size_t i = 0; i < 9; ++i) {
    const bool broadcast = i >= 3 && i < 7;
    queue(out, broadcast ? Endpoint{0xffffffff, 9} : rx.localEndpoint(), data[i], i);
  }
  FlushResult r = out.flush(tx);
  EXPECT_EQ(r.sent, 5u);
  EXPECT_EQ(r.failed, 4u);
  EXPECT_EQ(r.lastError, -EACCES);
  EXPECT_EQ(r.gsoMessages, 2u);
  EXPECT_EQ(r.gsoSegments, 5u);
  EXPECT_EQ(r.gsoFallbacks, 0u);
  EXPECT_TRUE(tx.gsoActive());
  RecvBatch in;
  ReceivedBurst got = receiveBurst(rx, in, 5);
  ASSERT_EQ(got.datagrams.size(), 5u);
  const size_t sent[] = {0, 1, 2, 7, 8};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(got.datagrams[i].bytes, data[sent[i]]) << i;
  }
}

// EAGAIN with GSO: a message is sent or not as a whole, and the counts stay in datagrams.
TEST(UdpOffload, FullSendBufferCountsGsoDatagrams) {
  testing::runInNetns([] {
    ASSERT_EQ(std::system("ip link add v0 type veth peer name v1 && ip link set v1 up && "
                          "ip link set v0 up && ip addr add 10.77.0.1/24 dev v0 && "
                          "ip neigh add 10.77.0.2 lladdr 02:00:00:00:00:02 dev v0 nud permanent && "
                          "tc qdisc add dev v0 root tbf rate 8kbit burst 1600 limit 1000000"),
              0);
    UdpSocket tx = openOrDie({0x0a4d0001, 0}, {.sndbuf = 4096, .gso = true});
    ASSERT_TRUE(tx.gsoActive());
    SendBatch out(256);
    std::vector<uint8_t> p(1000, 0x22);
    for (int i = 0; i < 200; ++i) {
      // Pairs to alternating ports: 100 GSO messages of two datagrams each.
      ASSERT_TRUE(out.add({0x0a4d0002, static_cast<uint16_t>(9 + (i / 2) % 2)}, p));
    }
    FlushResult r = out.flush(tx);
    EXPECT_GE(r.sent, 2u);
    EXPECT_LT(r.sent, 200u);
    EXPECT_EQ(r.sent + r.failed, 200u);
    EXPECT_EQ(r.sent % 2, 0u) << "a GSO message is sent whole or not at all";
    EXPECT_EQ(r.gsoSegments, r.sent);
    EXPECT_EQ(r.gsoMessages * 2, r.sent);
    EXPECT_EQ(r.lastError, -EAGAIN);
  });
}

}  // namespace
}  // namespace teredo::net

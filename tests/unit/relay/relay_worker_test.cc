// RelayWorker (services/relay/relay_worker.h): one worker run on a real tun device and a real UDP
// socket, wired as relay_app.cc wires it, inside a private network namespace of a forked child
// (root; skipped otherwise). The host side of the tun is the kernel itself: a native IPv6 socket
// on 2001:db8:1::1 (an address of the tun) sends towards Teredo addresses routed into it, and
// the kernel answers what the relay writes to it. The kernel also sends its own multicast (MLD)
// into the tun at times of its choosing, so no test counts all the tun's packets. Teredo clients
// and servers are UDP sockets on 198.51.100.0/24, made local on `lo` (global by RFC 4380 §5.2.4,
// unlike 127/8).
#include "relay_worker.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../net/netns_helper.h"
#include "../net/test_packets.h"
#include "../net/udp_peer.h"
#include "agent/stats.h"
#include "icmp_sender.h"
#include "net/tun.h"
#include "peers/peer_table.h"
#include "relay_runtime.h"
#include "relay_stats.h"
#include "teredo/byte_order.h"

namespace teredo::relay {
namespace {

using net::testing::addLoopbackIpv4;
using net::testing::Datagram;
using net::testing::runInNetns;
using net::testing::UdpPeer;
using net::testing::waitUntil;

uint32_t ip(const char* s) {
  return *parseIpv4(s);
}
Ipv6Addr ip6(const char* s) {
  return *parseIpv6(s);
}

const Endpoint kRelay{ip("198.51.100.1"), 3545};
const Endpoint kClient{ip("198.51.100.7"), 40000};  // the Teredo peer's NAT mapping
const Endpoint kServer{ip("198.51.100.9"), kTeredoPort};
const char* const kSelf = "2001:db8:1::1";  // the native host behind the tun
constexpr uint16_t kNativePort = 7000;
constexpr uint16_t kPeerPort = 9;

Ipv6Addr teredoOf(uint32_t server, const Endpoint& mapped) {
  return encodeTeredo(kDefaultPrefix, TeredoFields{server, 0, mapped.port, mapped.addr});
}
const Ipv6Addr kPeer = teredoOf(kServer.addr, kClient);

/// A UDP/IPv6 socket on the native host (an address of the tun).
class NativeHost {
 public:
  NativeHost() {
    fd_ = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_IPV6, IPV6_FREEBIND, &one, sizeof one);
    sockaddr_in6 sin{};
    sin.sin6_family = AF_INET6;
    sin.sin6_port = htons(kNativePort);
    const Ipv6Addr self = ip6(kSelf);
    std::memcpy(&sin.sin6_addr, self.bytes.data(), 16);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0;
  }
  NativeHost(const NativeHost&) = delete;
  NativeHost& operator=(const NativeHost&) = delete;
  ~NativeHost() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  bool ok() const { return ok_; }
  /// Sends `payloadBytes` of UDP to dst:kPeerPort; the kernel routes it into the tun.
  bool sendTo(const Ipv6Addr& dst, size_t payloadBytes) const {
    std::vector<uint8_t> payload(payloadBytes);
    for (size_t i = 0; i < payload.size(); ++i) {
      payload[i] = static_cast<uint8_t>(i);
    }
    sockaddr_in6 sin{};
    sin.sin6_family = AF_INET6;
    sin.sin6_port = htons(kPeerPort);
    std::memcpy(&sin.sin6_addr, dst.bytes.data(), 16);
    const ssize_t n = ::sendto(fd_, payload.data(), payload.size(), 0,
                               reinterpret_cast<sockaddr*>(&sin), sizeof sin);
    EXPECT_EQ(n, static_cast<ssize_t>(payload.size())) << std::strerror(errno);
    return n == static_cast<ssize_t>(payload.size());
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

/// relay.io_uring of the Rigs the running test builds (RelayWorkerIo's parameter; the default
/// elsewhere). Read in the forked child, which inherits it.
bool gRigIoUring = true;

/// The worker tests run twice: tun reads and writes one per system call, and through the
/// worker's io_uring (skipped where the kernel has none: the worker would fall back).
class RelayWorkerIo : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { gRigIoUring = GetParam(); }
  void TearDown() override { gRigIoUring = true; }
};

struct RigOptions {
  uint32_t tunMtu = 1280;
  uint32_t relayMtu = 1280;  ///< relay.mtu: sizes the worker's slots
  std::function<void(config::RelayConfig&)> configure;
};

/// A worker, its tun (one queue), socket, peer table and ICMPv6 sender, as relay_app.cc builds
/// them. Use inside runInNetns().
class Rig {
 public:
  explicit Rig(const RigOptions& o = {}) {
    if (!addLoopbackIpv4("lo:1", ip("198.51.100.1"), 24)) {
      ADD_FAILURE() << "cannot add 198.51.100.1/24 to lo: " << std::strerror(errno);
      return;
    }
    auto t = net::Tun::open("teredo0", 1);
    if (!t.ok()) {
      ADD_FAILURE() << t.status().message();
      return;
    }
    tun_ = std::move(t).value();
    for (const Status& s : {tun_.applyTunnelSysctls(), tun_.setMtu(o.tunMtu), tun_.setUp(),
                            tun_.addAddress(ip6("fe80::ffff:ffff:ffff"), 64),
                            tun_.addAddress(ip6(kSelf), 128), tun_.addRoute(ip6("2001::"), 32),
                            // A non-Teredo destination routed to the tun by mistake (R10).
                            tun_.addRoute(ip6("2001:db8:99::"), 48)}) {
      if (!s.ok()) {
        ADD_FAILURE() << s.message();
        return;
      }
    }
    // Wait until the kernel has the addresses in service: before that it would drop what the
    // relay writes to kSelf, and route its own packets to kSelf (an ICMPv6 error) into the tun.
    if (!net::testing::waitUntil([] { return net::testing::addressesInService("teredo0"); },
                                 std::chrono::seconds(5))) {
      ADD_FAILURE() << "teredo0's addresses are not in service after 5 s";
      return;
    }
    auto udp = net::UdpSocket::open(kRelay);
    if (!udp.ok()) {
      ADD_FAILURE() << udp.status().message();
      return;
    }
    config::RelayConfig cfg;
    cfg.relay.bindAddress = kRelay.addr;
    cfg.relay.port = kRelay.port;
    cfg.relay.mtu = o.relayMtu;
    cfg.relay.ioUring = gRigIoUring;
    if (o.configure) {
      o.configure(cfg);
    }
    SipKey key;
    key.bytes[0] = 42;
    runtime_ = std::make_unique<RuntimeHolder>(makeRuntime(cfg, key, 1));
    peers::PeerTableConfig tc;  // as relay_app.cc's tableConfig()
    tc.maxPeers = 1024;
    tc.peerQueueBytes = cfg.relay.queueBytesPerPeer;
    tc.globalQueueBytes = cfg.relay.queueBytesTotal;
    tc.trustTimeout = cfg.relay.trustTimeout;
    tc.idleTimeout = cfg.relay.trustTimeout;
    tc.hashKey.bytes[0] = 7;
    table_ = std::make_unique<peers::PeerTable>(tc);
    if (const Status opened = icmp_.open(); !opened.ok()) {
      ADD_FAILURE() << opened.message();
      return;
    }
    icmp_.setRate(runtime_->load()->icmpErrorsPerSecond, runtime_->load()->icmpErrorsBurst);
    WorkerShared shared;
    shared.runtime = runtime_.get();
    shared.table = table_.get();
    shared.tun = &tun_;
    shared.icmp = &icmp_;
    shared.draining = &draining_;
    shared.mtu = o.relayMtu;
    shared.ioUring = cfg.relay.ioUring;
    worker_ = std::make_unique<RelayWorker>(0, std::move(udp).value(), shared, stats_.worker(0));
    thread_ = std::thread([this] { worker_->run(); });
    if (shared.ioUring) {
      // run() sets the ring up first thing; a kernel without it leaves the worker on plain I/O,
      // which the other half of the suite covers.
      ringOk_ = waitUntil([&] {
                  return worker_->ioUringActive() ||
                         stats_.sum(&RelayStats::offloadFallbacks, Offload::TunIoUring) != 0;
                }) &&
                worker_->ioUringActive();
    }
  }
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;
  ~Rig() {
    if (worker_) {
      worker_->stop();
      thread_.join();
    }
  }

  bool ok() const { return worker_ != nullptr; }
  /// relay.io_uring was asked for and the worker uses it.
  bool ringOk() const { return ringOk_; }
  std::atomic<bool>& draining() { return draining_; }

  uint64_t dropped(DropReason r) const { return stats_.sum(&RelayStats::dropped, r); }
  uint64_t count(agent::StatCounter RelayStats::*m) const { return stats_.sum(m); }
  template <class Member, class E>
  uint64_t count(Member m, E e) const {
    return stats_.sum(m, e);
  }

 private:
  net::Tun tun_;
  std::unique_ptr<RuntimeHolder> runtime_;
  std::unique_ptr<peers::PeerTable> table_;
  IcmpSender icmp_;
  std::atomic<bool> draining_{false};
  agent::StatsCollectable<RelayStats> stats_{1};
  std::unique_ptr<RelayWorker> worker_;
  std::thread thread_;
  bool ringOk_ = false;
};

/// In the io_uring half of RelayWorkerIo: skip where the kernel refused the worker its ring.
#define SKIP_IF_NO_RING(rig)                                                     \
  if (gRigIoUring && !(rig).ringOk()) {                                          \
    GTEST_SKIP() << "relay.io_uring: the kernel refused the ring (see the log)"; \
  }

/// The IPv6 packet inside a datagram the relay sent (no Teredo headers on the data path).
Ipv6Header headerOf(const Datagram& d) {
  EXPECT_GE(d.bytes.size(), kIpv6HeaderSize);
  return d.bytes.size() >= kIpv6HeaderSize ? decodeIpv6Header(d.bytes) : Ipv6Header{};
}

TEST_P(RelayWorkerIo, PacketFromATeredoPeerIsDeliveredToTheTun) {
  runInNetns([] {
    Rig rig({.configure = [](config::RelayConfig& c) { c.relay.acceptUnknownPeers = true; }});
    ASSERT_TRUE(rig.ok());
    SKIP_IF_NO_RING(rig);
    UdpPeer client(kClient);
    ASSERT_TRUE(client.ok());
    // RFC 4380 §5.4.2: an echo request from the peer's Teredo address, from its mapping. The
    // relay writes it to the tun; the kernel answers to the Teredo address, which is routed back
    // into the tun, and the relay (now trusting the peer) sends the answer to the mapping.
    const std::vector<uint8_t> request =
        net::testing::icmpv6Echo(kPeer, ip6(kSelf), kIcmpEchoRequest, 0x1234, 1, 24);
    ASSERT_TRUE(client.send(kRelay, request));
    const auto reply = client.receive();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->from, kRelay);
    const Ipv6Header h = headerOf(*reply);
    EXPECT_EQ(h.src, ip6(kSelf));
    EXPECT_EQ(h.dst, kPeer);
    EXPECT_EQ(h.nextHeader, kNextHeaderIcmpv6);
    ASSERT_EQ(reply->bytes.size(), request.size());
    EXPECT_EQ(reply->bytes[kIpv6HeaderSize], kIcmpEchoReply);
    // Same identifier, sequence and data as the request.
    EXPECT_TRUE(std::equal(request.begin() + kIpv6HeaderSize + 4, request.end(),
                           reply->bytes.begin() + kIpv6HeaderSize + 4));

    EXPECT_EQ(rig.count(&RelayStats::delivered, Direction::FromTeredo), 1u);
    EXPECT_EQ(rig.count(&RelayStats::packets, Direction::FromTeredo), 1u);
    EXPECT_EQ(rig.count(&RelayStats::bytes, Direction::FromTeredo), request.size());
    EXPECT_TRUE(
        waitUntil([&] { return rig.count(&RelayStats::delivered, Direction::ToTeredo) == 1; }));
    EXPECT_EQ(rig.count(&RelayStats::bubblesSent, BubbleKind::Indirect), 0u);  // trusted
  });
}

// A burst of echo requests: the worker writes several to the tun per batch (through the ring,
// one submission, in the io_uring half) and reads the kernel's replies in batches. Every reply
// comes back, in order.
TEST_P(RelayWorkerIo, BurstsThroughTheTunKeepEveryPacketInOrder) {
  runInNetns([] {
    Rig rig({.configure = [](config::RelayConfig& c) { c.relay.acceptUnknownPeers = true; }});
    ASSERT_TRUE(rig.ok());
    SKIP_IF_NO_RING(rig);
    UdpPeer client(kClient);
    ASSERT_TRUE(client.ok());
    constexpr uint16_t kCount = 48;
    for (uint16_t seq = 0; seq < kCount; ++seq) {
      ASSERT_TRUE(client.send(
          kRelay, net::testing::icmpv6Echo(kPeer, ip6(kSelf), kIcmpEchoRequest, 0x77, seq, 24)));
    }
    std::vector<uint16_t> seqs;
    for (uint16_t i = 0; i < kCount; ++i) {
      const auto reply = client.receive();
      ASSERT_TRUE(reply.has_value()) << "after " << i << " replies";
      ASSERT_GE(reply->bytes.size(), kIpv6HeaderSize + 8);
      EXPECT_EQ(reply->bytes[kIpv6HeaderSize], kIcmpEchoReply);
      seqs.push_back(load16(reply->bytes.data() + kIpv6HeaderSize + 6));
    }
    std::vector<uint16_t> want(kCount);
    for (uint16_t i = 0; i < kCount; ++i) {
      want[i] = i;
    }
    EXPECT_EQ(seqs, want);
    EXPECT_EQ(rig.count(&RelayStats::delivered, Direction::FromTeredo), kCount);
    EXPECT_TRUE(waitUntil(
        [&] { return rig.count(&RelayStats::delivered, Direction::ToTeredo) == kCount; }));
    EXPECT_EQ(rig.dropped(DropReason::SendFailed), 0u);
    // The io_uring half moved the packets through the ring (the replies' reads at least).
    const uint64_t viaRing = rig.count(&RelayStats::offloadPackets, Offload::TunIoUring);
    if (gRigIoUring) {
      EXPECT_GE(viaRing, kCount);
    } else {
      EXPECT_EQ(viaRing, 0u);
    }
  });
}

TEST_P(RelayWorkerIo, UnknownPeerIsQueuedBubbledAndFlushedOnceItAnswers) {
  runInNetns([] {
    Rig rig;
    ASSERT_TRUE(rig.ok());
    SKIP_IF_NO_RING(rig);
    UdpPeer client(kClient);
    UdpPeer server(kServer);
    NativeHost host;
    ASSERT_TRUE(client.ok() && server.ok() && host.ok());

    // RFC 4380 §5.4.1 case 3: queued, and an indirect bubble through the peer's server.
    ASSERT_TRUE(host.sendTo(kPeer, 5));
    const auto bubble = server.receive();
    ASSERT_TRUE(bubble.has_value());
    EXPECT_EQ(bubble->from, kRelay);
    const Result<TeredoPacket> b = parsePacket(bubble->bytes);
    ASSERT_TRUE(b);
    EXPECT_TRUE(b->isBubble());
    EXPECT_EQ(b->ip.dst, kPeer);
    EXPECT_TRUE(b->ip.src.isLinkLocal());  // the peer's bubble token
    EXPECT_EQ(rig.count(&RelayStats::queuedPackets), 1u);
    EXPECT_EQ(rig.count(&RelayStats::bubblesSent, BubbleKind::Indirect), 1u);
    EXPECT_EQ(rig.count(&RelayStats::bubblesSent, BubbleKind::Direct), 0u);  // not behind NAT
    EXPECT_EQ(rig.count(&RelayStats::delivered, Direction::ToTeredo), 0u);
    EXPECT_FALSE(client.receiveNow().has_value());

    // The peer answers from its mapping with a bubble to the token: trusted, queue flushed.
    std::vector<uint8_t> answer(kIpv6HeaderSize);
    writeBubble(answer, kPeer, b->ip.src);
    ASSERT_TRUE(client.send(kRelay, answer));
    const auto flushed = client.receive();
    ASSERT_TRUE(flushed.has_value());
    EXPECT_EQ(flushed->from, kRelay);
    const Ipv6Header h = headerOf(*flushed);
    EXPECT_EQ(h.src, ip6(kSelf));
    EXPECT_EQ(h.dst, kPeer);
    EXPECT_EQ(h.nextHeader, kNextHeaderUdp);
    EXPECT_EQ(flushed->bytes.size(), kIpv6HeaderSize + 8 + 5);
    EXPECT_EQ(rig.count(&RelayStats::bubblesReceived), 1u);
    EXPECT_EQ(rig.count(&RelayStats::flushedPackets), 1u);

    // Trusted now (§5.4.1 case 1): the next packet goes straight to the mapping.
    ASSERT_TRUE(host.sendTo(kPeer, 7));
    const auto direct = client.receive();
    ASSERT_TRUE(direct.has_value());
    EXPECT_EQ(direct->bytes.size(), kIpv6HeaderSize + 8 + 7);
    EXPECT_TRUE(
        waitUntil([&] { return rig.count(&RelayStats::delivered, Direction::ToTeredo) == 2; }));
    EXPECT_EQ(rig.count(&RelayStats::queuedPackets), 1u);
    EXPECT_FALSE(server.receiveNow().has_value());  // no second bubble
  });
}

TEST_P(RelayWorkerIo, DestinationsFromTheTunItCannotServeAreRefused) {
  runInNetns([] {
    Rig rig;
    ASSERT_TRUE(rig.ok());
    SKIP_IF_NO_RING(rig);
    UdpPeer server(kServer);
    NativeHost host;
    ASSERT_TRUE(server.ok() && host.ok());
    struct Case {
      const char* name;
      Ipv6Addr dst;
      bool draining;
      DropReason reason;
      uint64_t icmp;  // R10 answers with Destination Unreachable
    };
    const Case cases[] = {
        {"R10_not_teredo", ip6("2001:db8:99::5"), false, DropReason::DstNotTeredo, 1},
        {"R8_client_ipv4_not_global", teredoOf(kServer.addr, {ip("10.1.2.3"), 4000}), false,
         DropReason::DstIpv4NotGlobal, 0},
        {"R9_server_ipv4_not_global", teredoOf(ip("192.168.1.1"), kClient), false,
         DropReason::DstServerNotGlobal, 0},
        {"draining_admits_no_new_peer", kPeer, true, DropReason::Draining, 0},
    };
    uint64_t icmp = 0;
    for (const Case& c : cases) {
      SCOPED_TRACE(c.name);
      rig.draining() = c.draining;
      ASSERT_TRUE(host.sendTo(c.dst, 16));
      EXPECT_TRUE(waitUntil([&] { return rig.dropped(c.reason) == 1; }))
          << rig.dropped(c.reason) << " dropped";
      icmp += c.icmp;
      EXPECT_TRUE(waitUntil([&] { return rig.count(&RelayStats::icmpSent) == icmp; }));
    }
    rig.draining() = false;
    EXPECT_EQ(rig.count(&RelayStats::queuedPackets), 0u);
    EXPECT_EQ(rig.count(&RelayStats::bubblesSent, BubbleKind::Indirect), 0u);
    EXPECT_EQ(rig.count(&RelayStats::delivered, Direction::ToTeredo), 0u);
    // Not draining any more: the same peer gets its bubble, the first datagram the server sees.
    ASSERT_TRUE(host.sendTo(kPeer, 16));
    const auto bubble = server.receive();
    ASSERT_TRUE(bubble.has_value());
    const Result<TeredoPacket> b = parsePacket(bubble->bytes);
    ASSERT_TRUE(b);
    EXPECT_TRUE(b->isBubble());
    EXPECT_EQ(b->ip.dst, kPeer);
  });
}

TEST_P(RelayWorkerIo, DatagramsFromPeersItMustNotDeliverAreDropped) {
  runInNetns([] {
    Rig rig({.configure = [](config::RelayConfig& c) { c.relay.acceptUnknownPeers = true; }});
    ASSERT_TRUE(rig.ok());
    SKIP_IF_NO_RING(rig);
    UdpPeer client(kClient);
    ASSERT_TRUE(client.ok());
    struct Case {
      const char* name;
      std::vector<uint8_t> datagram;
      DropReason reason;
    };
    using net::testing::icmpv6Echo;
    const Case cases[] = {
        // R26: a Teredo destination would come straight back through the tun.
        {"R26_teredo_destination",
         icmpv6Echo(kPeer, teredoOf(kServer.addr, {ip("198.51.100.50"), 5000}), kIcmpEchoRequest, 1,
                    1, 8),
         DropReason::DstTeredo},
        // R21: the source address embeds another mapping than the one it came from.
        {"R21_spoofed_mapping",
         icmpv6Echo(teredoOf(kServer.addr, {kClient.addr, 40001}), ip6(kSelf), kIcmpEchoRequest, 1,
                    1, 8),
         DropReason::SpoofedSource},
        // R22: the source is not a Teredo address at all.
        {"R22_native_source",
         icmpv6Echo(ip6("2001:db8:2::2"), ip6(kSelf), kIcmpEchoRequest, 1, 1, 8),
         DropReason::SrcNotTeredo},
        {"malformed", {0x00, 0x01, 0x00}, DropReason::TruncatedAuth},
    };
    for (const Case& c : cases) {
      SCOPED_TRACE(c.name);
      ASSERT_TRUE(client.send(kRelay, c.datagram));
      EXPECT_TRUE(waitUntil([&] { return rig.dropped(c.reason) == 1; }));
    }
    EXPECT_EQ(rig.count(&RelayStats::delivered, Direction::FromTeredo), 0u);
    EXPECT_EQ(rig.count(&RelayStats::packets, Direction::FromTeredo), std::size(cases));
  });
}

INSTANTIATE_TEST_SUITE_P(TunIo, RelayWorkerIo, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? "io_uring" : "plain";
                         });

struct SlotCase {
  std::string name;
  uint32_t relayMtu;
  bool forwarded;
};

class RelayWorkerTunSlot : public ::testing::TestWithParam<SlotCase> {};

// The tun's MTU allows 3000-byte packets. relay.mtu sizes the worker's tun slots
// (PacketBatch::slotSizeFor): with relay.mtu 1280 the 2048-byte slot cuts the packet, which is
// counted and never forwarded; with relay.mtu 3000 it fits and is handled.
TEST_P(RelayWorkerTunSlot, PacketLargerThanTheSlotIsCountedNotForwarded) {
  const SlotCase c = GetParam();
  runInNetns([&c] {
    Rig rig({.tunMtu = 4000, .relayMtu = c.relayMtu, .configure = nullptr});
    ASSERT_TRUE(rig.ok());
    UdpPeer server(kServer);
    NativeHost host;
    ASSERT_TRUE(server.ok() && host.ok());
    ASSERT_GT(3000u, net::PacketBatch::slotSizeFor(1280));
    ASSERT_LT(3000u, net::PacketBatch::slotSizeFor(3000) + 1);
    ASSERT_TRUE(host.sendTo(kPeer, 3000 - kIpv6HeaderSize - 8));
    if (c.forwarded) {
      const auto bubble = server.receive();
      ASSERT_TRUE(bubble.has_value());
      EXPECT_EQ(rig.count(&RelayStats::queuedPackets), 1u);
      EXPECT_EQ(rig.dropped(DropReason::TooBig), 0u);
      return;
    }
    ASSERT_TRUE(waitUntil([&] { return rig.dropped(DropReason::TooBig) == 1; }));
    EXPECT_EQ(rig.count(&RelayStats::queuedPackets), 0u);
    // A packet that fits still goes through, and its bubble is the first thing the server sees.
    ASSERT_TRUE(host.sendTo(kPeer, 100));
    const auto bubble = server.receive();
    ASSERT_TRUE(bubble.has_value());
    const Result<TeredoPacket> b = parsePacket(bubble->bytes);
    ASSERT_TRUE(b);
    EXPECT_TRUE(b->isBubble());
    EXPECT_EQ(rig.count(&RelayStats::queuedPackets), 1u);
  });
}

INSTANTIATE_TEST_SUITE_P(RelayMtu, RelayWorkerTunSlot,
                         ::testing::Values(SlotCase{"mtu_1280_cuts", 1280, false},
                                           SlotCase{"mtu_3000_fits", 3000, true}),
                         [](const ::testing::TestParamInfo<SlotCase>& i) { return i.param.name; });

TEST_P(RelayWorkerIo, DatagramLargerThanTheUdpSlotIsATooBigDrop) {
  runInNetns([] {
    Rig rig;
    ASSERT_TRUE(rig.ok());
    SKIP_IF_NO_RING(rig);
    UdpPeer client(kClient);
    ASSERT_TRUE(client.ok());
    // An otherwise acceptable packet, longer than udpSlotFor(1280): cut by the receive.
    std::vector<uint8_t> big =
        net::testing::icmpv6Echo(kPeer, ip6(kSelf), kIcmpEchoRequest, 1, 1,
                                 RelayWorker::udpSlotFor(1280) + 100 - kIpv6HeaderSize - 8);
    ASSERT_TRUE(client.send(kRelay, big));
    ASSERT_TRUE(waitUntil([&] { return rig.dropped(DropReason::TooBig) == 1; }));
    EXPECT_EQ(rig.dropped(DropReason::UnknownPeer), 0u);  // never parsed
    EXPECT_EQ(rig.count(&RelayStats::bytes, Direction::FromTeredo), RelayWorker::udpSlotFor(1280));
  });
}

TEST(RelayWorkerSlots, SizesFollowRelayMtu) {
  // Table: relay.mtu -> UDP receive slot (MTU + Teredo headers), UDP send slot, tun slot.
  struct Row {
    uint32_t mtu;
    size_t udp;
    size_t send;
    size_t tun;
  };
  const Row rows[] = {
      {1280, 2304, 2048, 2048},
      {1500, 2524, 2048, 2048},
      {2047, 3071, 2048, 2048},
      {9000, 10024, 9000, 9001},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.mtu);
    EXPECT_EQ(RelayWorker::udpSlotFor(r.mtu), r.udp);
    EXPECT_EQ(RelayWorker::sendSlotFor(r.mtu), r.send);
    EXPECT_EQ(net::PacketBatch::slotSizeFor(r.mtu), r.tun);
  }
}

}  // namespace
}  // namespace teredo::relay

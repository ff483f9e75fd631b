// ServerWorker (services/server/server_worker.h): receive lanes run on real UDP sockets, wired as
// server_app.cc wires them (SocketPair, WorkerShared, RuntimeHolder, StatsCollectable,
// Heartbeats, SharedRateLimiter), and checked from the outside: what a client receives, from
// which address, and what the lane counted.
//
// The protocol refuses non-global IPv4 sources (RFC 4380 §5.3.1 case 3), so the tests that need
// an answer run as root in a private network namespace (netns_helper.h) with 198.51.100.0/24
// made local on `lo`; the drop paths also run unprivileged on 127.0.0.2/127.0.0.3.
#include "server_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../net/netns_helper.h"
#include "../net/udp_peer.h"
#include "../teredo/packet_builder.h"
#include "agent/health.h"
#include "agent/stats.h"
#include "server_runtime.h"
#include "server_stats.h"
#include "teredo/nat_observer.h"
#include "teredo/shared_rate_limiter.h"

namespace teredo::server {
namespace {

using net::testing::addLoopbackIpv4;
using net::testing::runInNetns;
using net::testing::UdpPeer;
using net::testing::waitUntil;
using test::PacketBuilder;

uint32_t ip(const char* s) {
  return *parseIpv4(s);
}
Ipv6Addr ip6(const char* s) {
  return *parseIpv6(s);
}

// Inside the namespace: consecutive server addresses and two clients, all global unicast by
// RFC 4380 §5.2.4 (198.51.100.0/24 is not on its list).
const uint32_t kNetPrimary = ip("198.51.100.2");
const uint32_t kNetSecondary = ip("198.51.100.3");
const Endpoint kClientA{ip("198.51.100.7"), 40000};
const Endpoint kClientB{ip("198.51.100.8"), 40001};
// Outside it: loopback, which the protocol never answers.
const uint32_t kLoPrimary = ip("127.0.0.2");
const uint32_t kLoSecondary = ip("127.0.0.3");
const std::array<uint8_t, 8> kNonce{1, 2, 3, 4, 5, 6, 7, 8};
const char* const kPlainSource = "fe80::ffff:ffff:ffff";
const char* const kConeSource = "fe80::8000:5445:5245:444f";

Ipv6Addr teredoOf(uint32_t server, const Endpoint& mapped) {
  return encodeTeredo(kDefaultPrefix, TeredoFields{server, 0, mapped.port, mapped.addr});
}

std::vector<uint8_t> rs(bool cone) {
  PacketBuilder b;
  b.src(ip6(cone ? kConeSource : kPlainSource))
      .dst(allRoutersMulticast())
      .icmp(kIcmpRouterSolicitation)
      .auth(kNonce);
  return b.build();
}

std::vector<uint8_t> echo(const Ipv6Addr& src, const Ipv6Addr& dst) {
  PacketBuilder b;
  b.src(src).dst(dst).icmp(kIcmpEchoRequest, 0, 16).hopLimit(64);
  return b.build();
}

/// Records what the lanes hand to native IPv6.
class FakeIpv6Sender : public Ipv6Sender {
 public:
  bool send(Bytes ipv6Packet) override {
    std::lock_guard<std::mutex> lock(mutex_);
    sent_.emplace_back(ipv6Packet.begin(), ipv6Packet.end());
    return true;
  }
  std::vector<std::vector<uint8_t>> sent() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return sent_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::vector<uint8_t>> sent_;
};

/// A heartbeat clock the test moves (the lanes read it from their threads).
std::atomic<int64_t> gFakeNowNs{0};

/// One worker (two lanes over one socket pair), as server_app.cc builds it.
class Lanes {
 public:
  /// Opens the pair on primary:port and secondary:port (port 0: the primary's ephemeral port is
  /// used for both). `tweak` edits the runtime once the port is known.
  /// `withIpv6` false: no native IPv6 sender (as when server.ipv6_forward is off).
  Lanes(uint32_t primary, uint32_t secondary, uint16_t port,
        const std::function<void(ServerRuntime&)>& tweak = nullptr, bool withIpv6 = true)
      : heartbeats_(kSocketCount, std::chrono::nanoseconds(1'000),
                    [] { return gFakeNowNs.load(); }) {
    net::UdpOptions opts;
    opts.nonBlocking = false;
    opts.receiveTimeoutMs = ServerWorker::kReceiveTimeoutMs;
    auto p = net::UdpSocket::open(Endpoint{primary, port}, opts);
    EXPECT_TRUE(p.ok()) << p.status().message();
    if (!p.ok()) {
      return;
    }
    port = p.value().localEndpoint().port;
    auto s = net::UdpSocket::open(Endpoint{secondary, port}, opts);
    EXPECT_TRUE(s.ok()) << s.status().message();
    if (!s.ok()) {
      return;
    }
    pair_->sockets[static_cast<size_t>(ServerSocket::Primary)] = std::move(p.value());
    pair_->sockets[static_cast<size_t>(ServerSocket::Secondary)] = std::move(s.value());
    primary_ = Endpoint{primary, port};
    secondary_ = Endpoint{secondary, port};

    ServerRuntime rt;
    rt.policy.primary = primary;
    rt.policy.secondary = secondary;
    rt.policy.port = port;
    rt.rsPerSecond = 0;  // unlimited unless a test says otherwise
    rt.forwardPerSecond = 0;
    if (tweak) {
      tweak(rt);
    }
    runtime_ = std::make_unique<RuntimeHolder>(std::make_shared<const ServerRuntime>(rt));
    WorkerShared shared;
    shared.runtime = runtime_.get();
    shared.nat = &nat_;
    shared.ipv6 = withIpv6 ? &ipv6_ : nullptr;
    shared.heartbeats = &heartbeats_;
    shared.forwardBudget = &budget_;
    shared.rateLimitTableSize = 1024;
    for (size_t k = 0; k < kSocketCount; ++k) {
      lanes_.push_back(std::make_unique<ServerWorker>(k, static_cast<ServerSocket>(k), pair_,
                                                      shared, stats_.worker(k)));
    }
    ok_ = true;
  }
  Lanes(const Lanes&) = delete;
  Lanes& operator=(const Lanes&) = delete;
  ~Lanes() { stop(); }

  bool ok() const { return ok_; }
  void start() {
    for (auto& lane : lanes_) {
      threads_.emplace_back([&lane] { lane->run(); });
    }
  }
  void stop() {
    for (auto& lane : lanes_) {
      lane->stop();
    }
    for (std::thread& t : threads_) {
      t.join();
    }
    threads_.clear();
  }

  Endpoint at(ServerSocket s) const { return s == ServerSocket::Primary ? primary_ : secondary_; }
  RuntimeHolder& runtime() { return *runtime_; }
  NatObserver& nat() { return nat_; }
  FakeIpv6Sender& ipv6() { return ipv6_; }
  SharedRateLimiter& budget() { return budget_; }
  agent::Heartbeats& heartbeats() { return heartbeats_; }

  template <class Member, class E>
  uint64_t sum(Member m, E e) const {
    return stats_.sum(m, e);
  }
  uint64_t sum(agent::StatCounter ServerStats::*m) const { return stats_.sum(m); }
  uint64_t dropped(DropReason r) const { return stats_.sum(&ServerStats::dropped, r); }
  uint64_t droppedTotal() const {
    uint64_t n = 0;
    for (size_t r = 0; r < kDropReasonCount; ++r) {
      n += dropped(static_cast<DropReason>(r));
    }
    return n;
  }
  uint64_t received() const {
    return sum(&ServerStats::packetsReceived, ServerSocket::Primary) +
           sum(&ServerStats::packetsReceived, ServerSocket::Secondary);
  }

 private:
  bool ok_ = false;
  Endpoint primary_;
  Endpoint secondary_;
  std::unique_ptr<RuntimeHolder> runtime_;
  NatObserver nat_{1024, std::chrono::seconds(60)};
  FakeIpv6Sender ipv6_;
  agent::Heartbeats heartbeats_;
  SharedRateLimiter budget_{SharedRateLimiter::ZeroRate::Unlimited};
  agent::StatsCollectable<ServerStats> stats_{kSocketCount};
  std::shared_ptr<SocketPair> pair_ = std::make_shared<SocketPair>();
  std::vector<std::unique_ptr<ServerWorker>> lanes_;
  std::vector<std::thread> threads_;
};

/// Inside runInNetns: makes 198.51.100.0/24 local.
void setUpNetwork() {
  ASSERT_TRUE(addLoopbackIpv4("lo:1", ip("198.51.100.1"), 24)) << std::strerror(errno);
}

// ---- unprivileged: loopback, drops only ------------------------------------------------------

TEST(ServerWorker, MalformedDatagramsAreCountedDropsByParseReason) {
  Lanes lanes(kLoPrimary, kLoSecondary, 0);
  ASSERT_TRUE(lanes.ok());
  lanes.start();
  UdpPeer client({ip("127.0.0.1"), 0});
  ASSERT_TRUE(client.ok());
  struct Case {
    const char* name;
    std::vector<uint8_t> bytes;
    DropReason reason;
  };
  std::vector<uint8_t> notIpv6(40, 0);
  notIpv6[0] = 0x45;
  std::vector<uint8_t> shortIpv6(20, 0);
  shortIpv6[0] = 0x60;
  const std::vector<Case> cases = {
      {"auth header cut", {0x00, 0x01, 0x00}, DropReason::TruncatedAuth},
      {"origin indication cut", {0x00, 0x00, 0x12, 0x34}, DropReason::TruncatedOrigin},
      {"IPv4 inside", notIpv6, DropReason::NotIpv6},
      {"IPv6 header cut", shortIpv6, DropReason::TruncatedIpv6},
  };
  uint64_t sent = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    // The worker counts what the parser says; the table pins the parser's verdict too.
    const Result<TeredoPacket> parsed = parsePacket(c.bytes);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.reason(), c.reason);
    const uint64_t before = lanes.dropped(c.reason);
    ASSERT_TRUE(client.send(lanes.at(ServerSocket::Primary), c.bytes));
    ++sent;
    EXPECT_TRUE(waitUntil([&] { return lanes.dropped(c.reason) == before + 1; }));
  }
  EXPECT_EQ(lanes.droppedTotal(), sent);
  EXPECT_EQ(lanes.sum(&ServerStats::packetsReceived, ServerSocket::Primary), sent);
  EXPECT_EQ(lanes.sum(&ServerStats::packetsReceived, ServerSocket::Secondary), 0u);
  EXPECT_EQ(lanes.sum(&ServerStats::bytesSent), 0u);
  EXPECT_GE(lanes.sum(&ServerStats::batches), 1u);
  EXPECT_FALSE(client.receiveNow().has_value());
}

TEST(ServerWorker, LoopbackSolicitationIsNotGlobalAndNeverAnswered) {
  Lanes lanes(kLoPrimary, kLoSecondary, 0);
  ASSERT_TRUE(lanes.ok());
  lanes.start();
  UdpPeer client({ip("127.0.0.1"), 0});
  ASSERT_TRUE(client.ok());
  const std::vector<uint8_t> packet = rs(false);
  ASSERT_TRUE(client.send(lanes.at(ServerSocket::Secondary), packet));
  ASSERT_TRUE(waitUntil([&] { return lanes.dropped(DropReason::SrcNotGlobal) == 1; }));
  EXPECT_EQ(lanes.sum(&ServerStats::packetsReceived, ServerSocket::Secondary), 1u);
  EXPECT_EQ(lanes.sum(&ServerStats::bytesReceived, ServerSocket::Secondary), packet.size());
  EXPECT_EQ(lanes.sum(&ServerStats::solicitations, RsKind::PlainSecondary), 0u);
  EXPECT_EQ(lanes.sum(&ServerStats::advertisements, RsKind::PlainSecondary), 0u);
  EXPECT_EQ(lanes.nat().trackedClients(), 0u);
}

TEST(ServerWorker, DatagramLargerThanTheSlotIsATooBigDrop) {
  Lanes lanes(kLoPrimary, kLoSecondary, 0);
  ASSERT_TRUE(lanes.ok());
  lanes.start();
  UdpPeer client({ip("127.0.0.1"), 0});
  ASSERT_TRUE(client.ok());
  // A valid packet padded past kSlot: the receive cuts it (MSG_TRUNC) and it is never parsed.
  std::vector<uint8_t> big = echo(ip6("2001:db8::1"), ip6("2001:db8::2"));
  big.resize(ServerWorker::kSlot + 100, 0);
  ASSERT_TRUE(client.send(lanes.at(ServerSocket::Primary), big));
  ASSERT_TRUE(waitUntil([&] { return lanes.dropped(DropReason::TooBig) == 1; }));
  EXPECT_EQ(lanes.droppedTotal(), 1u);
  EXPECT_EQ(lanes.sum(&ServerStats::bytesReceived, ServerSocket::Primary), ServerWorker::kSlot);
}

TEST(ServerWorker, IdleLanesKeepTheirHeartbeat) {
  gFakeNowNs = 0;
  Lanes lanes(kLoPrimary, kLoSecondary, 0);
  ASSERT_TRUE(lanes.ok());
  gFakeNowNs = 1'000'000'000;  // every slot is now a second old (max age 1 us)
  std::string detail;
  ASSERT_FALSE(lanes.heartbeats().fresh(&detail));
  lanes.start();
  // No traffic at all: each lane wakes from its receive timeout and beats.
  EXPECT_TRUE(waitUntil([&] { return lanes.heartbeats().fresh(&detail); })) << detail;
  lanes.stop();
  EXPECT_EQ(lanes.received(), 0u);
}

// ---- root: a private namespace where the clients are global ---------------------------------

struct RsCase {
  std::string name;
  bool cone;
  ServerSocket reached;
  ServerSocket answeredFrom;  // RFC 4380 §5.3.2
  RsKind kind;
};

class ServerWorkerRs : public ::testing::TestWithParam<RsCase> {};

TEST_P(ServerWorkerRs, AnsweredFromTheRightAddress) {
  const RsCase c = GetParam();
  runInNetns([&c] {
    setUpNetwork();
    Lanes lanes(kNetPrimary, kNetSecondary, kTeredoPort);
    ASSERT_TRUE(lanes.ok());
    lanes.start();
    UdpPeer client(kClientA);
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE(client.send(lanes.at(c.reached), rs(c.cone)));
    const auto ra = client.receive();
    ASSERT_TRUE(ra.has_value());
    EXPECT_EQ(ra->from, lanes.at(c.answeredFrom));
    const Result<TeredoPacket> p = parsePacket(ra->bytes);
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->isIcmpv6());
    ASSERT_FALSE(p->ipv6Payload().empty());
    EXPECT_EQ(p->ipv6Payload()[0], kIcmpRouterAdvertisement);
    ASSERT_TRUE(p->hasOrigin);
    EXPECT_EQ(p->origin, kClientA);  // the mapping the server saw
    ASSERT_TRUE(p->hasAuth);
    EXPECT_EQ(p->auth.nonce, kNonce);
    EXPECT_EQ(p->ip.dst, ip6(c.cone ? kConeSource : kPlainSource));
    EXPECT_EQ(ra->bytes.size(), 117u);  // auth, origin, RA with the MTU option (Miredo shape)

    EXPECT_EQ(lanes.sum(&ServerStats::solicitations, c.kind), 1u);
    EXPECT_EQ(lanes.sum(&ServerStats::advertisements, c.kind), 1u);
    EXPECT_EQ(lanes.sum(&ServerStats::packetsReceived, c.reached), 1u);
    EXPECT_EQ(lanes.received(), 1u);
    EXPECT_EQ(lanes.sum(&ServerStats::bytesSent), ra->bytes.size());
    EXPECT_EQ(lanes.droppedTotal(), 0u);
    EXPECT_EQ(lanes.nat().trackedClients(), 1u);  // natObservation is on by default
  });
}

INSTANTIATE_TEST_SUITE_P(
    Rfc4380Section532, ServerWorkerRs,
    ::testing::Values(RsCase{"plain_to_primary", false, ServerSocket::Primary,
                             ServerSocket::Primary, RsKind::PlainPrimary},
                      RsCase{"plain_to_secondary", false, ServerSocket::Secondary,
                             ServerSocket::Secondary, RsKind::PlainSecondary},
                      RsCase{"cone_to_primary", true, ServerSocket::Primary,
                             ServerSocket::Secondary, RsKind::ConePrimary},
                      RsCase{"cone_to_secondary", true, ServerSocket::Secondary,
                             ServerSocket::Primary, RsKind::ConeSecondary}),
    [](const ::testing::TestParamInfo<RsCase>& i) { return i.param.name; });

TEST(ServerWorkerNetns, SolicitationsBeyondTheRateAreCountedNotAnswered) {
  runInNetns([] {
    setUpNetwork();
    // One token, refilled every 1000 s: the second RS can only be refused.
    Lanes lanes(kNetPrimary, kNetSecondary, kTeredoPort, [](ServerRuntime& rt) {
      rt.rsPerSecond = 0.001;
      rt.rsBurst = 1;
    });
    ASSERT_TRUE(lanes.ok());
    lanes.start();
    UdpPeer client(kClientA);
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE(client.send(lanes.at(ServerSocket::Primary), rs(false)));
    ASSERT_TRUE(client.receive().has_value());
    ASSERT_TRUE(client.send(lanes.at(ServerSocket::Primary), rs(false)));
    ASSERT_TRUE(waitUntil([&] { return lanes.dropped(DropReason::RateLimited) == 1; }));
    EXPECT_EQ(lanes.sum(&ServerStats::rateLimited, Limiter::Solicitation), 1u);
    EXPECT_EQ(lanes.sum(&ServerStats::solicitations, RsKind::PlainPrimary), 2u);
    EXPECT_EQ(lanes.sum(&ServerStats::advertisements, RsKind::PlainPrimary), 1u);
    // Another source has its own bucket and is still answered (and its RA is the next datagram
    // anywhere: the refused RS produced none).
    UdpPeer other(kClientB);
    ASSERT_TRUE(other.ok());
    ASSERT_TRUE(other.send(lanes.at(ServerSocket::Primary), rs(false)));
    EXPECT_TRUE(other.receive().has_value());
    EXPECT_FALSE(client.receiveNow().has_value());
    EXPECT_EQ(lanes.sum(&ServerStats::advertisements, RsKind::PlainPrimary), 2u);
  });
}

TEST(ServerWorkerNetns, ReloadedRuntimeAppliesToTheNextBatch) {
  runInNetns([] {
    setUpNetwork();
    Lanes lanes(kNetPrimary, kNetSecondary, kTeredoPort);
    ASSERT_TRUE(lanes.ok());
    lanes.start();
    UdpPeer client(kClientA);
    ASSERT_TRUE(client.ok());
    for (int i = 0; i < 3; ++i) {  // unlimited
      ASSERT_TRUE(client.send(lanes.at(ServerSocket::Primary), rs(false)));
      ASSERT_TRUE(client.receive().has_value()) << i;
    }
    // A controller push: one RS per 1000 s, and RAs without the MTU option.
    ServerRuntime next = *lanes.runtime().load();
    next.rsPerSecond = 0.001;
    next.rsBurst = 1;
    next.raMtu = 0;
    lanes.runtime().store(std::make_shared<const ServerRuntime>(next));
    ASSERT_TRUE(client.send(lanes.at(ServerSocket::Primary), rs(false)));
    const auto ra = client.receive();
    ASSERT_TRUE(ra.has_value());
    EXPECT_EQ(ra->bytes.size(), 109u);  // Microsoft shape: no MTU option
    ASSERT_TRUE(client.send(lanes.at(ServerSocket::Primary), rs(false)));
    EXPECT_TRUE(waitUntil([&] { return lanes.dropped(DropReason::RateLimited) == 1; }));
    EXPECT_EQ(lanes.sum(&ServerStats::advertisements, RsKind::PlainPrimary), 4u);
  });
}

TEST(ServerWorkerNetns, NatObservationCanBeTurnedOff) {
  runInNetns([] {
    setUpNetwork();
    Lanes lanes(kNetPrimary, kNetSecondary, kTeredoPort,
                [](ServerRuntime& rt) { rt.natObservation = false; });
    ASSERT_TRUE(lanes.ok());
    lanes.start();
    UdpPeer client(kClientA);
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE(client.send(lanes.at(ServerSocket::Primary), rs(true)));
    ASSERT_TRUE(client.receive().has_value());
    EXPECT_EQ(lanes.nat().trackedClients(), 0u);
  });
}

TEST(ServerWorkerNetns, ForwardsToItsOwnClientWithAnOriginIndication) {
  runInNetns([] {
    setUpNetwork();
    Lanes lanes(kNetPrimary, kNetSecondary, kTeredoPort);
    ASSERT_TRUE(lanes.ok());
    lanes.start();
    UdpPeer a(kClientA);
    UdpPeer b(kClientB);
    ASSERT_TRUE(a.ok() && b.ok());
    // RFC 4380 §5.3.1: from A's Teredo address (case 5) to B, a client of this server.
    const std::vector<uint8_t> packet =
        echo(teredoOf(kNetPrimary, kClientA), teredoOf(kNetPrimary, kClientB));
    // Sent to the secondary address: forwards still leave from the primary.
    ASSERT_TRUE(a.send(lanes.at(ServerSocket::Secondary), packet));
    const auto got = b.receive();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->from, lanes.at(ServerSocket::Primary));
    const Result<TeredoPacket> p = parsePacket(got->bytes);
    ASSERT_TRUE(p);
    ASSERT_TRUE(p->hasOrigin);
    EXPECT_EQ(p->origin, kClientA);
    EXPECT_EQ(std::vector<uint8_t>(p->ipv6.begin(), p->ipv6.end()), packet);
    EXPECT_EQ(got->bytes.size(), kOriginSize + packet.size());
    EXPECT_EQ(lanes.sum(&ServerStats::forwarded, ForwardPath::UdpOwnClient), 1u);
    EXPECT_EQ(lanes.sum(&ServerStats::bytesSent), got->bytes.size());
    EXPECT_EQ(lanes.droppedTotal(), 0u);
  });
}

struct ForwardLimitCase {
  std::string name;
  bool perSource;  // else the process-wide budget
  Limiter limiter;
};

class ServerWorkerForwardLimit : public ::testing::TestWithParam<ForwardLimitCase> {};

TEST_P(ServerWorkerForwardLimit, SecondForwardIsRefusedAndCounted) {
  const ForwardLimitCase c = GetParam();
  runInNetns([&c] {
    setUpNetwork();
    Lanes lanes(kNetPrimary, kNetSecondary, kTeredoPort, [&c](ServerRuntime& rt) {
      if (c.perSource) {
        rt.forwardPerSecond = 0.001;
        rt.forwardBurst = 1;
      }
    });
    ASSERT_TRUE(lanes.ok());
    if (!c.perSource) {
      lanes.budget().configure(0.001, 1);
    }
    lanes.start();
    UdpPeer a(kClientA);
    UdpPeer b(kClientB);
    ASSERT_TRUE(a.ok() && b.ok());
    const std::vector<uint8_t> packet =
        echo(teredoOf(kNetPrimary, kClientA), teredoOf(kNetPrimary, kClientB));
    ASSERT_TRUE(a.send(lanes.at(ServerSocket::Primary), packet));
    ASSERT_TRUE(b.receive().has_value());
    ASSERT_TRUE(a.send(lanes.at(ServerSocket::Primary), packet));
    ASSERT_TRUE(waitUntil([&] { return lanes.dropped(DropReason::RateLimited) == 1; }));
    EXPECT_EQ(lanes.sum(&ServerStats::rateLimited, c.limiter), 1u);
    EXPECT_EQ(lanes.sum(&ServerStats::forwarded, ForwardPath::UdpOwnClient), 1u);
    EXPECT_FALSE(b.receiveNow().has_value());
  });
}

INSTANTIATE_TEST_SUITE_P(
    Rfc4380Section74, ServerWorkerForwardLimit,
    ::testing::Values(ForwardLimitCase{"per_source", true, Limiter::Forward},
                      ForwardLimitCase{"process_budget", false, Limiter::ForwardGlobal}),
    [](const ::testing::TestParamInfo<ForwardLimitCase>& i) { return i.param.name; });

TEST(ServerWorkerNetns, ForwardsEchoOntoNativeIpv6WithoutTrailers) {
  runInNetns([] {
    setUpNetwork();
    Lanes lanes(kNetPrimary, kNetSecondary, kTeredoPort);
    ASSERT_TRUE(lanes.ok());
    lanes.start();
    UdpPeer a(kClientA);
    ASSERT_TRUE(a.ok());
    const std::vector<uint8_t> packet = echo(teredoOf(kNetPrimary, kClientA), ip6("2001:db8::1"));
    std::vector<uint8_t> withTrailer = packet;
    withTrailer.insert(withTrailer.end(), {0x01, 0x04, 9, 9, 9, 9});  // RFC 6081 nonce trailer
    ASSERT_TRUE(parsePacket(withTrailer));
    ASSERT_TRUE(a.send(lanes.at(ServerSocket::Primary), withTrailer));
    ASSERT_TRUE(
        waitUntil([&] { return lanes.sum(&ServerStats::forwarded, ForwardPath::Ipv6) == 1; }));
    const auto sent = lanes.ipv6().sent();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0], packet);
    EXPECT_EQ(lanes.droppedTotal(), 0u);
  });
}

TEST(ServerWorkerNetns, NativeForwardWithoutASenderIsASendFailure) {
  runInNetns([] {
    setUpNetwork();
    Lanes lanes(kNetPrimary, kNetSecondary, kTeredoPort, nullptr, /*withIpv6=*/false);
    ASSERT_TRUE(lanes.ok());
    lanes.start();
    UdpPeer a(kClientA);
    ASSERT_TRUE(a.ok());
    ASSERT_TRUE(a.send(lanes.at(ServerSocket::Primary),
                       echo(teredoOf(kNetPrimary, kClientA), ip6("2001:db8::1"))));
    ASSERT_TRUE(waitUntil([&] { return lanes.dropped(DropReason::SendFailed) == 1; }));
    EXPECT_EQ(lanes.sum(&ServerStats::forwarded, ForwardPath::Ipv6), 0u);
    EXPECT_TRUE(lanes.ipv6().sent().empty());
  });
}

// process() on its own: the receive path's truncation flag is honoured whatever the bytes.
TEST(ServerWorker, TruncatedMessageIsDroppedBeforeParsing) {
  ServerRuntime rt;
  rt.policy.primary = kNetPrimary;
  rt.policy.secondary = kNetSecondary;
  RuntimeHolder runtime(std::make_shared<const ServerRuntime>(rt));
  WorkerShared shared;
  shared.runtime = &runtime;
  ServerStats stats;
  ServerWorker lane(0, ServerSocket::Primary, std::make_shared<SocketPair>(), shared, stats);
  const std::vector<uint8_t> valid = rs(false);
  net::RecvMessage m{valid, kClientA, /*truncated=*/true};
  lane.process(m, ServerSocket::Primary, 0);
  EXPECT_EQ(stats.dropped.value(DropReason::TooBig), 1u);
  EXPECT_EQ(stats.solicitations.value(RsKind::PlainPrimary), 0u);
  m.truncated = false;
  lane.process(m, ServerSocket::Primary, 0);
  EXPECT_EQ(stats.solicitations.value(RsKind::PlainPrimary), 1u);
  EXPECT_EQ(stats.advertisements.value(RsKind::PlainPrimary), 1u);  // queued, never flushed
  EXPECT_EQ(stats.packetsReceived.value(ServerSocket::Primary), 2u);
}

}  // namespace
}  // namespace teredo::server

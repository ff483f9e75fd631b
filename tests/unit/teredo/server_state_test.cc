// Bounded per-source state: rate limiter (S35), NAT observation (nat_observer.h), HyperLogLog.
#include <gtest/gtest.h>

#include <vector>

#include "teredo/bounded_table.h"
#include "teredo/hyperloglog.h"
#include "teredo/nat_observer.h"
#include "teredo/rate_limiter.h"

namespace teredo {
namespace {

constexpr uint64_t kSec = 1'000'000'000;

TEST(BoundedTable, NeverGrowsAndEvictsLeastRecentlyUsedInSet) {
  BoundedTable<int, 4> t(64);
  EXPECT_EQ(t.capacity(), 64u);
  const size_t before = t.memoryBytes();
  bool fresh = false;
  for (uint64_t k = 0; k < 100000; ++k) {
    t.findOrInsert(k, k, fresh) = static_cast<int>(k);
    EXPECT_TRUE(fresh);
  }
  EXPECT_EQ(t.size(), 64u);
  EXPECT_EQ(t.memoryBytes(), before);
  EXPECT_EQ(t.evictions(), 100000u - 64u);
  // The most recent keys survive.
  EXPECT_NE(t.find(99999, 100000), nullptr);
  EXPECT_EQ(*t.find(99999, 100000), 99999);
}

TEST(BoundedTable, SweepErases) {
  BoundedTable<int, 2> t(8);
  bool fresh = false;
  for (uint64_t k = 0; k < 4; ++k) {
    t.findOrInsert(k, k, fresh);
  }
  t.sweep([](uint64_t key, int&, uint64_t) { return key % 2 == 0; });
  EXPECT_EQ(t.find(0, 10), nullptr);
  EXPECT_NE(t.find(1, 10), nullptr);
}

TEST(RateLimiter, S35_OneSourceIsCappedOthersStillServed) {
  RateLimiter rl(10, 20, 1024);
  uint64_t now = 100 * kSec;
  int allowed = 0;
  // 10,000 RS in one second from one IPv4 (S35).
  for (int i = 0; i < 10000; ++i) {
    allowed += rl.allow(0xC6336401, now + static_cast<uint64_t>(i) * (kSec / 10000)) ? 1 : 0;
  }
  EXPECT_LE(allowed, 31);  // burst 20 + 10/s over one second
  EXPECT_GE(allowed, 20);
  // Other clients are untouched.
  for (uint32_t c = 0; c < 100; ++c) {
    EXPECT_TRUE(rl.allow(0xCB007100 + c, now + kSec));
  }
}

TEST(RateLimiter, SpoofedFloodCannotGrowMemory) {
  RateLimiter rl(10, 20, 4096);
  const size_t mem = rl.memoryBytes();
  for (uint32_t i = 0; i < 1'000'000; ++i) {
    rl.allow(0x0B000000u + i, 5 * kSec + i);
  }
  EXPECT_EQ(rl.memoryBytes(), mem);
  EXPECT_LE(rl.trackedKeys(), rl.capacity());
  // A legitimate client that shows up afterwards is served.
  EXPECT_TRUE(rl.allow(0xC6336402, 6 * kSec));
}

TEST(RateLimiter, RefillsOverTimeAndZeroRateDisables) {
  RateLimiter rl(1, 1, 16);
  EXPECT_TRUE(rl.allow(1, kSec));
  EXPECT_FALSE(rl.allow(1, kSec + 1));
  EXPECT_TRUE(rl.allow(1, 2 * kSec + 1));
  RateLimiter off(0, 0, 16);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(off.allow(1, kSec));
  }
}

Endpoint ep(uint32_t a, uint16_t p) {
  return Endpoint{a, p};
}

// A client's qualification (RFC 4380 §5.2.1) as the server sees it, in milliseconds.
struct Rs {
  uint64_t atMs;
  bool cone;
  bool secondary;
  uint16_t port;
};

// The RS sequences of the three outcomes, with T = 4 s and N = 3 (what the server sees).
std::vector<Rs> coneClient(uint64_t t0, uint16_t port) {
  return {{t0, true, false, port}};  // answered at once from the secondary
}
std::vector<Rs> restrictedClient(uint64_t t0, uint16_t port) {
  return {{t0, true, false, port},
          {t0 + 4000, true, false, port},
          {t0 + 8000, true, false, port},
          {t0 + 12000, false, false, port},
          {t0 + 12010, false, true, port}};
}
std::vector<Rs> symmetricClient(uint64_t t0, uint16_t port) {
  auto rs = restrictedClient(t0, port);
  rs.back().port = static_cast<uint16_t>(port + 1);
  return rs;
}

void play(NatObserver& obs, uint32_t addr, const std::vector<Rs>& rs) {
  for (const Rs& r : rs) {
    obs.observe(ep(addr, r.port), r.secondary, r.cone, r.atMs);
  }
}

TEST(NatObserver, ClassifiesTheQualificationOutcomes) {
  NatObserver obs(1024, std::chrono::seconds(60));
  obs.rotate(600'000);  // window [600 s, 660 s)
  play(obs, 0xCB007101, restrictedClient(601'000, 4000));
  play(obs, 0xCB007102, symmetricClient(601'000, 4000));
  play(obs, 0xCB007103, coneClient(601'000, 5000));
  obs.observe(ep(0xCB007104, 6000), false, false, 601'000);  // Miredo: plain RSs only
  obs.observe(ep(0xCB007104, 6000), false, false, 631'000);
  EXPECT_FALSE(obs.rotate(659'999));
  ASSERT_TRUE(obs.rotate(660'000));
  const NatCounts w = obs.lastWindow();
  EXPECT_EQ(w[NatClass::Restricted], 1u);
  EXPECT_EQ(w[NatClass::Symmetric], 1u);
  EXPECT_EQ(w[NatClass::Cone], 1u);
  EXPECT_EQ(w[NatClass::Unknown], 1u);
  EXPECT_NEAR(obs.lastWindowClients(), 5.0, 0.5);  // five distinct mapped endpoints
}

TEST(NatObserver, UnansweredConeRetriesAreNotACone) {
  // Bug found by tests/integration/nat_types.sh: a window that closed between a restricted
  // client's cone retries and its plain fallback counted it as cone.
  NatObserver obs(1024, std::chrono::seconds(2));
  obs.rotate(0);
  play(obs, 0xCB007101, {{500, true, false, 4000}, {1500, true, false, 4000}});
  ASSERT_TRUE(obs.rotate(2000));
  EXPECT_EQ(obs.lastWindow()[NatClass::Cone], 0u);
  EXPECT_EQ(obs.lastWindow()[NatClass::Unknown], 1u);
  play(obs, 0xCB007101,
       {{2500, true, false, 4000}, {3500, false, false, 4000}, {3510, false, true, 4000}});
  ASSERT_TRUE(obs.rotate(4000));
  EXPECT_EQ(obs.lastWindow()[NatClass::Restricted], 1u);
  EXPECT_EQ(obs.totals()[NatClass::Cone], 0u);
}

TEST(NatObserver, EachProbePairsWithItsOwnPrimaryMapping) {
  // Bug found by nat_types.sh: a second qualification from a new port was compared with the
  // first one's secondary port and counted as symmetric.
  NatObserver obs(1024, std::chrono::seconds(60));
  obs.rotate(0);
  play(obs, 0xCB007101, restrictedClient(1000, 40000));
  play(obs, 0xCB007101, restrictedClient(20000, 40001));
  ASSERT_TRUE(obs.rotate(60'000));
  EXPECT_EQ(obs.lastWindow()[NatClass::Restricted], 1u);
  EXPECT_EQ(obs.lastWindow()[NatClass::Symmetric], 0u);
}

TEST(NatObserver, NoClientIsLostAtAWindowBoundary) {
  // Bug found by nat_types.sh: an RS between a window's end and the 1 s rotation tick moved its
  // client into the new window before the old one was counted.
  NatObserver obs(1024, std::chrono::seconds(2));
  obs.rotate(0);
  play(obs, 0xCB007101, {{1000, false, false, 4000}, {1010, false, true, 4000}});
  obs.observe(ep(0xCB007101, 4000), false, false, 2050);  // window 1, before the tick
  ASSERT_TRUE(obs.rotate(2100));
  EXPECT_EQ(obs.lastWindow()[NatClass::Restricted], 1u);
  ASSERT_TRUE(obs.rotate(4100));
  // The evidence sticks: a restricted client refreshes with plain RSs to the primary only.
  EXPECT_EQ(obs.lastWindow()[NatClass::Restricted], 1u);
  EXPECT_EQ(obs.totals()[NatClass::Restricted], 2u);
}

TEST(NatObserver, OncePerWindowAndConeConfirmedByTime) {
  NatObserver obs(1024, std::chrono::seconds(60));
  obs.rotate(0);
  play(obs, 0xCB007103, coneClient(1000, 5000));
  for (uint64_t t = 31'000; t < 59'000; t += 1000) {
    obs.observe(ep(0xCB007105, 6000), false, false, t);  // 28 RSs, one client
  }
  ASSERT_TRUE(obs.rotate(60'000));
  EXPECT_EQ(obs.lastWindow()[NatClass::Cone], 1u);  // no retry within 12 s: answered
  EXPECT_EQ(obs.lastWindow()[NatClass::Unknown], 1u);
  // A cone client's refresh (RFC: every 30 s, same cone value) keeps it a cone.
  obs.observe(ep(0xCB007103, 5000), false, true, 61'000);
  ASSERT_TRUE(obs.rotate(120'000));
  EXPECT_EQ(obs.lastWindow()[NatClass::Cone], 1u);
  EXPECT_EQ(obs.totals()[NatClass::Cone], 2u);
}

TEST(NatObserver, BoundedUnderSpoofedSources) {
  NatObserver obs(4096, std::chrono::seconds(60));
  for (uint32_t i = 0; i < 200000; ++i) {
    obs.observe(ep(0x0B000000u + i, 1000), false, false, 10'000);
  }
  EXPECT_LE(obs.trackedClients(), obs.capacity());
  EXPECT_LE(obs.capacity(), 4096u + 16 * 4);
}

TEST(HyperLogLog, EstimatesAndMergesExactly) {
  HyperLogLog a;
  HyperLogLog b;
  for (uint64_t i = 0; i < 100000; ++i) {
    a.add(HyperLogLog::mix64(i));
  }
  for (uint64_t i = 50000; i < 150000; ++i) {
    b.add(HyperLogLog::mix64(i));
  }
  EXPECT_NEAR(a.estimate(), 100000, 100000 * 0.05);
  ASSERT_TRUE(a.merge(HyperLogLog::kPrecision, b.registers()));
  EXPECT_NEAR(a.estimate(), 150000, 150000 * 0.05);
  EXPECT_FALSE(a.merge(HyperLogLog::kPrecision, b.registers().first(10)));
  EXPECT_FALSE(a.merge(14, b.registers()));
  HyperLogLog empty;
  EXPECT_EQ(empty.estimate(), 0.0);
}

}  // namespace
}  // namespace teredo

// Bounded per-source state: rate limiter (S35), NAT observation (design.md §5), HyperLogLog.
#include <gtest/gtest.h>

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
  // 10,000 RS in one second from one IPv4 (spec S35).
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

TEST(NatObserver, ClassifiesFromWhatTheServerSees) {
  NatObserver obs(1024, 60);
  obs.rotate(600);  // window [600, 660)
  // Restricted: same mapped port towards primary and secondary (RFC 4380 §5.2.1 step 5).
  obs.observe(ep(0xCB007101, 4000), false, false, 601);
  obs.observe(ep(0xCB007101, 4000), true, false, 605);
  // Symmetric: different mapped ports.
  obs.observe(ep(0xCB007102, 4000), false, false, 601);
  obs.observe(ep(0xCB007102, 4001), true, false, 605);
  // Cone: cone-flagged RSs and no fallback to plain ones.
  obs.observe(ep(0xCB007103, 5000), false, true, 601);
  obs.observe(ep(0xCB007103, 5000), false, true, 631);
  // Cone probe failed, no secondary probe: unknown. Miredo-style plain only: unknown.
  obs.observe(ep(0xCB007104, 5000), false, true, 601);
  obs.observe(ep(0xCB007104, 5000), false, false, 613);
  obs.observe(ep(0xCB007105, 6000), false, false, 601);
  EXPECT_FALSE(obs.rotate(659));
  ASSERT_TRUE(obs.rotate(660));
  const NatCounts w = obs.lastWindow();
  EXPECT_EQ(w[NatClass::Restricted], 1u);
  EXPECT_EQ(w[NatClass::Symmetric], 1u);
  EXPECT_EQ(w[NatClass::Cone], 1u);
  EXPECT_EQ(w[NatClass::Unknown], 2u);
  EXPECT_NEAR(obs.lastWindowClients(), 6.0, 0.5);  // six distinct mapped endpoints
  // A client is classified once per window however many RSs it sends.
  for (int i = 0; i < 50; ++i) {
    obs.observe(ep(0xCB007105, 6000), false, false, 661 + static_cast<uint64_t>(i));
  }
  ASSERT_TRUE(obs.rotate(721));
  EXPECT_EQ(obs.lastWindow()[NatClass::Unknown], 1u);
  EXPECT_EQ(obs.totals()[NatClass::Unknown], 3u);
}

TEST(NatObserver, BoundedUnderSpoofedSources) {
  NatObserver obs(4096, 60);
  for (uint32_t i = 0; i < 200000; ++i) {
    obs.observe(ep(0x0B000000u + i, 1000), false, false, 10);
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

// RateLimiter (lib/teredo/rate_limiter.h): per-source token buckets (S35), bounded under floods.
#include "teredo/rate_limiter.h"

#include <gtest/gtest.h>

namespace teredo {
namespace {

constexpr uint64_t kSec = 1'000'000'000;

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

}  // namespace
}  // namespace teredo

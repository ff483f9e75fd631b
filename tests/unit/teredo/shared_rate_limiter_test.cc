// The process-wide budgets (lib/teredo/shared_rate_limiter.h): the server's global forwarding
// budget and the relay's ICMPv6 error limiter (RFC 4443 §2.4(f)), with injected time.
#include "teredo/shared_rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace teredo {
namespace {

constexpr uint64_t kSecond = 1'000'000'000ull;
constexpr uint64_t kT0 = 1000 * kSecond;

size_t allowedAt(SharedRateLimiter& l, uint64_t now, size_t tries) {
  size_t n = 0;
  for (size_t i = 0; i < tries; ++i) {
    n += l.allow(now) ? 1 : 0;
  }
  return n;
}

// Back to back: exactly `burst`; then the rate, never more, however long the flood lasts.
TEST(SharedRateLimiter, BurstThenRate) {
  struct Case {
    const char* name;
    double rate;
    double burst;
  };
  const Case cases[] = {
      {"Miredo's 10/s, burst 10", 10, 10},
      {"no burst", 10, 1},
      {"burst below 1 means 1", 10, 0},
      {"server default", 20000, 40000},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    SharedRateLimiter l(SharedRateLimiter::ZeroRate::Nothing, c.rate, c.burst);
    const size_t burst = c.burst < 1 ? 1 : static_cast<size_t>(c.burst);
    EXPECT_EQ(allowedAt(l, kT0, burst * 3), burst);
    // Ten seconds of flood, tried every millisecond: exactly rate x 10 more, within one.
    size_t later = 0;
    for (uint64_t ms = 1; ms <= 10'000; ++ms) {
      later += allowedAt(l, kT0 + ms * 1'000'000ull, c.rate > 1000 ? 64 : 4);
    }
    const double want = c.rate * 10;
    EXPECT_NEAR(static_cast<double>(later), want, want * 0.001 + 1);
  }
}

// After a quiet period the bucket is full again, and never fuller than the burst.
TEST(SharedRateLimiter, RefillsToBurstOnly) {
  SharedRateLimiter l(SharedRateLimiter::ZeroRate::Nothing, 10, 5);
  EXPECT_EQ(allowedAt(l, kT0, 100), 5u);
  EXPECT_EQ(allowedAt(l, kT0 + kSecond / 10, 100), 1u);  // one token per 100 ms
  EXPECT_EQ(allowedAt(l, kT0 + 3600 * kSecond, 100), 5u);
}

// Rate 0: a disabled limit lets everything through; a disabled feature lets nothing through.
TEST(SharedRateLimiter, ZeroRate) {
  SharedRateLimiter unlimited(SharedRateLimiter::ZeroRate::Unlimited, 0, 10);
  EXPECT_EQ(allowedAt(unlimited, kT0, 1000), 1000u);
  SharedRateLimiter nothing(SharedRateLimiter::ZeroRate::Nothing, 0, 10);
  EXPECT_EQ(allowedAt(nothing, kT0, 1000), 0u);
  // Reconfigured live: the new budget applies to what follows.
  nothing.configure(100, 3);
  EXPECT_EQ(allowedAt(nothing, kT0, 10), 3u);
  nothing.configure(0, 3);
  EXPECT_EQ(allowedAt(nothing, kT0 + kSecond, 10), 0u);
}

// Many workers at once never take more than the budget between them.
TEST(SharedRateLimiter, SharedByThreads) {
  SharedRateLimiter l(SharedRateLimiter::ZeroRate::Nothing, 1000, 500);
  std::atomic<size_t> total{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      size_t n = 0;
      for (uint64_t ms = 0; ms < 1000; ++ms) {  // one simulated second
        n += allowedAt(l, kT0 + ms * 1'000'000ull, 8);
      }
      total += n;
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  // Burst 500 plus 1000/s over the 0.999 s the threads cover.
  EXPECT_LE(total.load(), 500u + 1000u);
  EXPECT_GE(total.load(), 500u + 990u);
}

}  // namespace
}  // namespace teredo

// One rate limit shared by every worker of a process: the server's global forwarding budget and
// the relay's ICMPv6 error budget (RFC 4443 §2.4(f)). Per-source buckets (rate_limiter.h) stop
// one source; this bounds the sum, which a flood of spoofed sources would otherwise scale.
//
// The generic cell rate algorithm (GCRA, the virtual-scheduling form of ITU-T I.371): one
// "theoretical arrival time" (TAT) in an atomic; a packet conforms when now >= TAT - tolerance,
// and then moves TAT one emission interval past max(TAT, now). It is exactly a token bucket of
// `burst` tokens refilled at `ratePerSecond`, in one 64-bit word: bounded state whatever the
// traffic, lock-free, no allocation.
//
// Time is injected (nanoseconds on a monotonic clock; tests drive it directly).
// Thread-safety: allow() and configure() from any thread; a concurrent configure() applies to
// the packets that follow it. Ownership: values only.
#pragma once

#include <atomic>
#include <cstdint>

namespace teredo {

class SharedRateLimiter {
 public:
  /// What a rate of 0 means: everything passes (a disabled limit) or nothing does (a disabled
  /// feature, e.g. no ICMPv6 errors at all).
  enum class ZeroRate : uint8_t { Unlimited, Nothing };

  explicit SharedRateLimiter(ZeroRate zero) : zero_(zero) {}
  SharedRateLimiter(ZeroRate zero, double ratePerSecond, double burst) : zero_(zero) {
    configure(ratePerSecond, burst);
  }

  /// `ratePerSecond` packets per second on average, up to `burst` (at least 1) back to back.
  void configure(double ratePerSecond, double burst) {
    if (ratePerSecond <= 0) {
      intervalNs_.store(0, std::memory_order_relaxed);
      return;
    }
    const double interval = 1e9 / ratePerSecond;
    const double b = burst < 1 ? 1 : burst;
    toleranceNs_.store(static_cast<uint64_t>(interval * (b - 1)), std::memory_order_relaxed);
    intervalNs_.store(interval < 1 ? 1 : static_cast<uint64_t>(interval),
                      std::memory_order_relaxed);
  }

  /// Takes one slot at `nowNs`; false when the budget is spent.
  bool allow(uint64_t nowNs) {
    const uint64_t interval = intervalNs_.load(std::memory_order_relaxed);
    if (interval == 0) {
      return zero_ == ZeroRate::Unlimited;
    }
    const uint64_t tolerance = toleranceNs_.load(std::memory_order_relaxed);
    uint64_t tat = tat_.load(std::memory_order_relaxed);
    for (;;) {
      if (tat > nowNs + tolerance) {
        return false;  // would exceed the burst
      }
      const uint64_t next = (tat > nowNs ? tat : nowNs) + interval;
      if (tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) {
        return true;
      }
    }
  }

 private:
  const ZeroRate zero_;
  std::atomic<uint64_t> intervalNs_{0};
  std::atomic<uint64_t> toleranceNs_{0};
  std::atomic<uint64_t> tat_{0};
};

}  // namespace teredo

// Per-key token buckets in a BoundedTable (every per-source state is bounded: docs/security.md).
//
// Time is injected (nanoseconds on any monotonic clock), so tests drive it directly.
// Thread-safety: none; one instance per worker. A source whose packets are spread over W
// workers by SO_REUSEPORT gets at most W times the configured rate.
// Ownership: owns its table.
#pragma once

#include <cstdint>

#include "teredo/bounded_table.h"

namespace teredo {

class RateLimiter {
 public:
  /// `ratePerSecond` tokens per second, bursts up to `burst`; `tableSize` keys tracked at once.
  /// A rate of 0 disables limiting (allow() always true).
  RateLimiter(double ratePerSecond, double burst, size_t tableSize)
      : rate_(ratePerSecond), burst_(burst < 1 ? 1 : burst), table_(tableSize) {}

  /// Takes one token for `key` at time `nowNs`; false when the bucket is empty.
  bool allow(uint64_t key, uint64_t nowNs) {
    if (rate_ <= 0) {
      return true;
    }
    bool fresh = false;
    Bucket& b = table_.findOrInsert(key, nowNs, fresh);
    if (fresh) {
      b.tokens = burst_;
      b.lastNs = nowNs;
    } else if (nowNs > b.lastNs) {
      const double add = static_cast<double>(nowNs - b.lastNs) * rate_ / 1e9;
      b.tokens = b.tokens + add > burst_ ? burst_ : b.tokens + add;
      b.lastNs = nowNs;
    }
    if (b.tokens < 1.0) {
      return false;
    }
    b.tokens -= 1.0;
    return true;
  }

  /// Changes rate and burst in place (config reload); existing buckets keep their tokens.
  void setRate(double ratePerSecond, double burst) {
    rate_ = ratePerSecond;
    burst_ = burst < 1 ? 1 : burst;
  }

  size_t trackedKeys() const { return table_.size(); }
  size_t capacity() const { return table_.capacity(); }
  size_t memoryBytes() const { return table_.memoryBytes(); }

 private:
  struct Bucket {
    double tokens = 0;
    uint64_t lastNs = 0;
  };
  double rate_;
  double burst_;
  BoundedTable<Bucket> table_;
};

}  // namespace teredo

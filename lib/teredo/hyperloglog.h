// A HyperLogLog distinct counter (Flajolet et al. 2007, with the small-range correction) of
// fixed precision p = 12: 4096 one-byte registers, about 1.6 % standard error. Sketches from
// several servers merge exactly by taking the register-wise maximum, so the controller can count
// distinct clients fleet-wide without ever seeing an address (design.md §5).
//
// Thread-safety: add() may be called from any number of threads concurrently (registers are
// atomics updated with a compare-exchange maximum); reset(), merge() and reads are safe too but
// see a moment's state. Ownership: value type, no heap.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <span>

namespace teredo {

class HyperLogLog {
 public:
  static constexpr int kPrecision = 12;
  static constexpr size_t kRegisters = size_t{1} << kPrecision;

  HyperLogLog() { reset(); }

  void reset() {
    for (auto& r : registers_) {
      r.store(0, std::memory_order_relaxed);
    }
  }

  /// Adds an item given by a well-mixed 64-bit hash (use mix64 on raw keys).
  void add(uint64_t hash) {
    const size_t index = hash >> (64 - kPrecision);
    const uint64_t rest = (hash << kPrecision) | (uint64_t{1} << (kPrecision - 1));
    const uint8_t rank = static_cast<uint8_t>(std::countl_zero(rest) + 1);
    uint8_t cur = registers_[index].load(std::memory_order_relaxed);
    while (rank > cur &&
           !registers_[index].compare_exchange_weak(cur, rank, std::memory_order_relaxed)) {
    }
  }

  /// Register-wise maximum with `regs` (kRegisters bytes); false if the size is wrong.
  bool merge(std::span<const uint8_t> regs) {
    if (regs.size() != kRegisters) {
      return false;
    }
    for (size_t i = 0; i < kRegisters; ++i) {
      uint8_t cur = registers_[i].load(std::memory_order_relaxed);
      while (regs[i] > cur &&
             !registers_[i].compare_exchange_weak(cur, regs[i], std::memory_order_relaxed)) {
      }
    }
    return true;
  }

  /// Copies the registers out (for a StatsReport).
  void copyTo(std::span<uint8_t> out) const {
    for (size_t i = 0; i < kRegisters && i < out.size(); ++i) {
      out[i] = registers_[i].load(std::memory_order_relaxed);
    }
  }

  double estimate() const {
    constexpr double m = static_cast<double>(kRegisters);
    constexpr double alpha = 0.7213 / (1.0 + 1.079 / m);
    double sum = 0;
    size_t zeros = 0;
    for (const auto& r : registers_) {
      const uint8_t v = r.load(std::memory_order_relaxed);
      sum += std::ldexp(1.0, -v);
      zeros += v == 0 ? 1 : 0;
    }
    const double raw = alpha * m * m / sum;
    if (raw <= 2.5 * m && zeros != 0) {
      return m * std::log(m / static_cast<double>(zeros));  // linear counting
    }
    return raw;
  }

  /// A 64-bit finaliser (splitmix64) for turning keys such as ip<<16|port into hashes.
  static constexpr uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  }

 private:
  std::array<std::atomic<uint8_t>, kRegisters> registers_;
};

}  // namespace teredo

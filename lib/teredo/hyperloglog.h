// A HyperLogLog distinct counter (Flajolet et al. 2007, with the small-range correction) with
// the fixed parameters of proto/teredo/v1/stats.proto: precision 12, 4096 one-byte registers
// (about 1.6 % standard error), splitmix64-finalised keys. Sketches from several agents merge
// exactly as the register-wise maximum, so the controller counts distinct clients fleet-wide
// without ever seeing an address. The one implementation for agents and the
// controller.
//
// Thread-safety: add() may run concurrently from any number of threads (each register is updated
// with an atomic compare-exchange maximum through std::atomic_ref); every other member needs
// external synchronisation against writers, or sees a moment's state. Ownership: value type.
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
  static constexpr uint32_t kPrecision = 12;
  static constexpr size_t kRegisters = size_t{1} << kPrecision;

  HyperLogLog() { reset(); }

  void reset() { registers_.fill(0); }

  /// The stats.proto hash: the splitmix64 finaliser.
  static constexpr uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
  }

  /// Adds a client by its mapped endpoint (IPv4 host order, port).
  void addEndpoint(uint32_t ipv4, uint16_t port) { add(mix64((uint64_t{ipv4} << 16) | port)); }

  /// Adds an item given by its 64-bit hash. Thread-safe against other add() calls.
  void add(uint64_t hash) {
    const size_t index = hash >> (64 - kPrecision);
    const uint64_t rest = (hash << kPrecision) | (uint64_t{1} << (kPrecision - 1));
    raise(index, static_cast<uint8_t>(std::countl_zero(rest) + 1));
  }

  /// Register-wise maximum with serialized registers; false (and unchanged) if the precision or
  /// the size is not this sketch's.
  bool merge(uint32_t precision, std::span<const uint8_t> regs) {
    if (precision != kPrecision || regs.size() != kRegisters) {
      return false;
    }
    for (size_t i = 0; i < kRegisters; ++i) {
      raise(i, regs[i]);
    }
    return true;
  }
  void merge(const HyperLogLog& other) { merge(kPrecision, other.registers()); }

  std::span<const uint8_t> registers() const { return registers_; }

  double estimate() const {
    constexpr double m = static_cast<double>(kRegisters);
    constexpr double alpha = 0.7213 / (1.0 + 1.079 / m);
    double sum = 0;
    size_t zeros = 0;
    for (size_t i = 0; i < kRegisters; ++i) {
      const uint8_t v = load(i);
      sum += std::ldexp(1.0, -v);
      zeros += v == 0 ? 1 : 0;
    }
    const double raw = alpha * m * m / sum;
    if (raw <= 2.5 * m && zeros != 0) {
      return m * std::log(m / static_cast<double>(zeros));  // linear counting
    }
    return raw;
  }

 private:
  uint8_t load(size_t i) const {
    return std::atomic_ref<const uint8_t>(registers_[i]).load(std::memory_order_relaxed);
  }
  void raise(size_t i, uint8_t rank) {
    std::atomic_ref<uint8_t> reg(registers_[i]);
    uint8_t cur = reg.load(std::memory_order_relaxed);
    while (rank > cur && !reg.compare_exchange_weak(cur, rank, std::memory_order_relaxed)) {
    }
  }

  alignas(64) std::array<uint8_t, kRegisters> registers_;
};

}  // namespace teredo

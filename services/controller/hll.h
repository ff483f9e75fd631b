// HyperLogLog with the fixed parameters of stats.proto (precision 12, one byte per register),
// merged exactly as max-per-register. The controller only merges and estimates; agents fill the
// registers (see HyperLogLog in stats.proto for the hash and rank rules, mirrored by add()).
//
// Thread-safety: none (value type). Ownership: owns its registers.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string>

namespace teredo::controller {

class Hll {
 public:
  static constexpr uint32_t kPrecision = 12;
  static constexpr size_t kRegisters = size_t{1} << kPrecision;

  Hll() { registers_.fill(0); }

  /// splitmix64 finalizer: the hash every agent applies to (ipv4 << 16 | port).
  static constexpr uint64_t mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
  }

  /// Adds a client (mapped IPv4 in host byte order, mapped port).
  void add(uint32_t ipv4, uint16_t port) { addHash(mix((uint64_t{ipv4} << 16) | port)); }

  void addHash(uint64_t hash) {
    const size_t index = hash >> (64 - kPrecision);
    const uint64_t rest = (hash << kPrecision) | (uint64_t{1} << (kPrecision - 1));
    const uint8_t rank = static_cast<uint8_t>(std::countl_zero(rest) + 1);
    if (rank > registers_[index]) {
      registers_[index] = rank;
    }
  }

  /// Merges serialized registers (stats.proto HyperLogLog). False, unchanged, if the precision
  /// or the size is not ours.
  bool merge(uint32_t precision, const std::string& registers) {
    if (precision != kPrecision || registers.size() != kRegisters) {
      return false;
    }
    for (size_t i = 0; i < kRegisters; ++i) {
      const auto r = static_cast<uint8_t>(registers[i]);
      if (r > registers_[i]) {
        registers_[i] = r;
      }
    }
    return true;
  }

  void merge(const Hll& other) {
    for (size_t i = 0; i < kRegisters; ++i) {
      if (other.registers_[i] > registers_[i]) {
        registers_[i] = other.registers_[i];
      }
    }
  }

  /// Estimated distinct count (Flajolet et al. 2007, with linear counting for small ranges).
  uint64_t estimate() const {
    constexpr double m = kRegisters;
    const double alpha = 0.7213 / (1.0 + 1.079 / m);
    double sum = 0;
    size_t zeros = 0;
    for (const uint8_t r : registers_) {
      sum += std::ldexp(1.0, -static_cast<int>(r));
      zeros += r == 0 ? 1 : 0;
    }
    double e = alpha * m * m / sum;
    if (e <= 2.5 * m && zeros != 0) {
      e = m * std::log(m / static_cast<double>(zeros));
    }
    return static_cast<uint64_t>(std::llround(e));
  }

  std::string bytes() const {
    return std::string(reinterpret_cast<const char*>(registers_.data()), registers_.size());
  }

 private:
  std::array<uint8_t, kRegisters> registers_;
};

}  // namespace teredo::controller

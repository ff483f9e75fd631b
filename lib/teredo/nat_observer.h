// What a stateless Teredo server can learn about its clients' NATs (design.md §5, spec §3.9).
//
// The server never decides a client's NAT type (RFC 4380 §5.2.1: the client does); it only sees
// which Router Solicitations arrive. Per client IPv4 it keeps, in a bounded table:
// - the mapped port seen on the primary and on the secondary address (RFC 4380 §5.2.1 step 5:
//   equal ports = (port-)restricted cone NAT, different ports = symmetric NAT);
// - whether cone-flagged RSs were seen and whether plain RSs followed them (a cone probe that
//   failed, then the client fell back) or not (the cone-flagged RA got through: cone NAT).
// A client that only ever sends plain RSs to the primary (every Miredo client) is "unknown".
// Each client seen in a window is classified once when the window closes (rotate()).
// Distinct mapped endpoints are counted in mergeable HyperLogLogs: per window (for the local
// gauge) and since start (what StatsReport carries, per stats.proto).
//
// Nothing here changes protocol behaviour; all of it may be dropped at any time (spec §3.6).
// Thread-safety: observe() is safe from any thread (sharded mutexes, sketch atomics); rotate()
// and the getters are safe from one other thread (a timer). Ownership: owns its tables.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>

#include "teredo/address.h"
#include "teredo/bounded_table.h"
#include "teredo/hyperloglog.h"

namespace teredo {

enum class NatClass : uint8_t { Cone, Restricted, Symmetric, Unknown };
inline constexpr size_t kNatClassCount = 4;
constexpr const char* natClassLabel(NatClass c) {
  constexpr const char* kLabels[] = {"cone", "restricted", "symmetric", "unknown"};
  return kLabels[static_cast<size_t>(c)];
}

struct NatCounts {
  std::array<uint64_t, kNatClassCount> byClass{};
  uint64_t& operator[](NatClass c) { return byClass[static_cast<size_t>(c)]; }
  uint64_t operator[](NatClass c) const { return byClass[static_cast<size_t>(c)]; }
};

class NatObserver {
 public:
  /// `tableSize` clients tracked at once (over all shards); `windowSeconds` per classification.
  NatObserver(size_t tableSize, uint32_t windowSeconds);

  /// One RS from `client` (its mapped endpoint) that arrived on the primary or secondary
  /// address, cone flag as in the RS source, at `nowS` (seconds, monotonic).
  void observe(const Endpoint& client, bool onSecondary, bool cone, uint64_t nowS);

  /// Closes the window if `nowS` is past its end: classifies every client seen in it, adds the
  /// result to the totals, publishes it as lastWindow() and restarts the distinct-client sketch.
  /// Returns true when a window was closed.
  bool rotate(uint64_t nowS);

  /// Classification of the last closed window; cumulative totals since start.
  NatCounts lastWindow() const;
  NatCounts totals() const;
  /// Distinct mapped endpoints in the current window (estimate), and its registers.
  const HyperLogLog& currentClients() const { return clients_; }
  /// Distinct mapped endpoints since start (the StatsReport sketch).
  const HyperLogLog& lifetimeClients() const { return lifetimeClients_; }
  double lastWindowClients() const;
  uint32_t windowSeconds() const { return windowSeconds_; }
  size_t trackedClients() const;
  size_t capacity() const;

  /// Pure classification rule for one client's observations, exposed for tests.
  struct Observation {
    uint16_t primaryPort = 0;
    uint16_t secondaryPort = 0;
    uint32_t primaryAt = 0;    ///< seconds; 0 = never
    uint32_t secondaryAt = 0;  ///< seconds; 0 = never
    uint32_t coneAt = 0;       ///< last cone-flagged RS
    uint16_t coneCount = 0;
    bool plainAfterCone = false;  ///< a plain RS followed a cone RS (probe failed)
    uint64_t window = 0;          ///< window index of the last RS
  };
  static NatClass classify(const Observation& o);

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    explicit Shard(size_t size) : table(size) {}
    std::mutex mutex;
    BoundedTable<Observation> table;
  };

  uint64_t windowOf(uint64_t nowS) const { return nowS / windowSeconds_; }

  uint32_t windowSeconds_;
  std::array<std::unique_ptr<Shard>, kShards> shards_;
  HyperLogLog clients_;
  HyperLogLog lifetimeClients_;
  mutable std::mutex resultMutex_;
  uint64_t currentWindow_ = 0;
  bool started_ = false;
  NatCounts lastWindow_;
  NatCounts totals_;
  double lastWindowClients_ = 0;
};

}  // namespace teredo

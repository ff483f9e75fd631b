// What a stateless Teredo server can learn about its clients' NATs (checked end to end by
// S10, docs/conformance.md).
//
// The server never decides a client's NAT type (RFC 4380 §5.2.1: the client does); it only sees
// the Router Solicitations of the qualification procedure (§5.2.1) and infers what the client
// concluded, per client IPv4 (the NAT's public address), in a bounded table:
// - a plain RS on the secondary address shortly after a plain RS on the primary: same mapped port
//   = (port-)restricted cone NAT, another port = symmetric NAT (step 5);
// - a cone RS that is not retried from the same port within the retry time (4 s x 3) and not
//   followed by a plain fallback: the cone RA got through, so a cone NAT (steps 3-4);
// - anything else (every Miredo client: plain RSs to the primary only): unknown.
// The last conclusive evidence about an address sticks until the entry expires. Each client seen
// in a window is counted once for that window, when the window closes (or when the client's next
// RS rolls its entry into a later window, so no RS near a boundary is lost). Distinct mapped
// endpoints are counted in mergeable HyperLogLogs: per window (local gauge) and since start
// (what StatsReport carries, per stats.proto).
//
// Nothing here changes protocol behaviour; all of it may be dropped at any time (see
// "Statelessness" in docs/server-policies.md).
// Thread-safety: observe() is safe from any thread (sharded mutexes, sketch atomics); rotate()
// and the getters are safe from one other thread (a timer). Lock order: result, shard, windows.
// Ownership: owns its tables.
#pragma once

#include <array>
#include <chrono>
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
  /// RFC 4380 §5.2.1: T = 4 s, N = 3 tries: a cone RS repeated from the same port within this
  /// time was not answered.
  static constexpr uint64_t kRetryMs = 12'000;
  /// The secondary probe follows the primary answer at once (§5.2.1 step 5); allow slack.
  static constexpr uint64_t kPairingMs = 10'000;

  /// `tableSize` client addresses tracked at once (over all shards); windows of `window`.
  NatObserver(size_t tableSize, std::chrono::milliseconds window);

  /// One RS from `client` (its mapped endpoint) that arrived on the primary or secondary
  /// address, cone flag as in the RS source, at `nowMs` (milliseconds, monotonic).
  void observe(const Endpoint& client, bool onSecondary, bool cone, uint64_t nowMs);

  /// Closes every window that ended before `nowMs`: counts the clients seen in it, adds them to
  /// the totals, publishes the last one as lastWindow() and restarts the window's sketch.
  /// Returns true when a window was closed.
  bool rotate(uint64_t nowMs);

  /// Classification of the last closed window; cumulative totals since start.
  NatCounts lastWindow() const;
  NatCounts totals() const;
  /// Distinct mapped endpoints in the current window (estimate), and its registers.
  const HyperLogLog& currentClients() const { return clients_; }
  /// Distinct mapped endpoints since start (the StatsReport sketch).
  const HyperLogLog& lifetimeClients() const { return lifetimeClients_; }
  double lastWindowClients() const;
  std::chrono::milliseconds window() const { return std::chrono::milliseconds(windowMs_); }
  size_t trackedClients() const;
  size_t capacity() const;

  /// What the server has seen of one client address (public for tests).
  struct Observation {
    uint64_t coneAt = 0;  ///< ms of the last cone RS; 0 = none pending
    uint64_t plainPrimaryAt = 0;
    uint64_t window = 0;  ///< window index of the last RS
    uint16_t conePort = 0;
    uint16_t plainPrimaryPort = 0;
    bool coneFailed = false;  ///< the pending cone RS was retried or fell back to plain
    bool pending = false;     ///< seen in `window`, not yet counted
    NatClass verdict = NatClass::Unknown;
  };
  /// The evidence rules above, applied to one RS (updates `o`).
  static void apply(Observation& o, uint16_t port, bool onSecondary, bool cone, uint64_t nowMs);
  /// The class to count for `o` at `nowMs` (resolves a cone RS that was never retried).
  static NatClass settle(Observation& o, uint64_t nowMs);

 private:
  static constexpr size_t kShards = 16;
  static constexpr size_t kOpenWindows = 4;
  struct Shard {
    explicit Shard(size_t size) : table(size) {}
    std::mutex mutex;
    BoundedTable<Observation> table;
  };
  struct WindowCounts {
    uint64_t window = 0;
    bool used = false;
    NatCounts counts;
  };

  uint64_t windowOf(uint64_t nowMs) const { return nowMs / windowMs_; }
  /// Counts `o` for its window; caller holds its shard's lock.
  void commit(Observation& o, uint64_t nowMs);
  /// Publishes the counts of `w` (all of them are in); caller holds resultMutex_.
  void publishLocked(uint64_t w);

  uint64_t windowMs_;
  std::array<std::unique_ptr<Shard>, kShards> shards_;
  HyperLogLog clients_;
  HyperLogLog lifetimeClients_;
  std::mutex windowsMutex_;
  std::array<WindowCounts, kOpenWindows> open_;  // guarded by windowsMutex_
  mutable std::mutex resultMutex_;
  uint64_t currentWindow_ = 0;  // guarded by resultMutex_
  bool started_ = false;
  NatCounts lastWindow_;
  NatCounts totals_;
  double lastWindowClients_ = 0;
};

}  // namespace teredo

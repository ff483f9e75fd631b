// Liveness (/healthz) and readiness (/readyz) state, shared by the data plane, the controller
// client and the admin HTTP server (docs/architecture.md, Control plane).
//
// Liveness: each worker event loop owns one heartbeat slot and beats it every loop turn. The
// process is alive when every slot beat within `maxAge`. Workers must therefore wake up at least
// every maxAge/2 even without traffic (receive timeout or epoll timeout), or an idle process would
// look dead.
//
// Readiness: a fixed set of named conditions (registered at start, e.g. "sockets_bound", "tun_up",
// "config_applied"), each false until set, plus a draining flag. Ready = all conditions true and
// not draining. Neither depends on the controller connection.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace teredo::agent {

/// Monotonic time in nanoseconds; injectable for tests.
using MonoClock = std::function<int64_t()>;
/// CLOCK_MONOTONIC via std::chrono::steady_clock.
int64_t steadyNowNs();

/// Heartbeat slots, one per worker event loop.
///
/// Thread-safety: beat(i) is called by the owner of slot i only (relaxed atomic store); fresh()
/// from any thread. Construction is not thread-safe.
/// Ownership: plain value type; share it by pointer/reference with the admin server.
class Heartbeats {
 public:
  /// `slots` >= 1; all slots count as beaten at construction.
  Heartbeats(size_t slots, std::chrono::nanoseconds maxAge, MonoClock clock = steadyNowNs);

  /// Records "slot is alive now".
  void beat(size_t slot) { slots_[slot].lastNs.store(clock_(), std::memory_order_relaxed); }
  /// True when every slot beat within maxAge. On false, `detail` names the stalest slot.
  bool fresh(std::string* detail) const;
  size_t slotCount() const { return slotCount_; }

 private:
  struct alignas(64) Slot {
    std::atomic<int64_t> lastNs{0};
  };
  size_t slotCount_;
  std::unique_ptr<Slot[]> slots_;
  int64_t maxAgeNs_;
  MonoClock clock_;
};

/// Named readiness conditions plus a draining flag.
///
/// Thread-safety: all methods may be called from any thread (internal mutex; none is on a packet
/// path). addCondition() should be called during start-up, before the admin server serves.
class Readiness {
 public:
  static constexpr const char* kSocketsBound = "sockets_bound";
  static constexpr const char* kTunUp = "tun_up";
  static constexpr const char* kConfigApplied = "config_applied";

  /// Adds a condition (initially false) and returns its id. Re-adding a name returns its id.
  size_t addCondition(const std::string& name);
  void set(size_t id, bool ok);
  /// Sets a condition by name; returns false if it was never added.
  bool set(const std::string& name, bool ok);
  void setDraining(bool draining) { draining_.store(draining, std::memory_order_relaxed); }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  /// True when every condition holds and not draining. `detail` gets a one-line explanation
  /// ("ready" or e.g. "not ready: tun_up=false draining=true").
  bool ready(std::string* detail) const;

 private:
  struct Condition {
    std::string name;
    bool ok = false;
  };
  mutable std::mutex mu_;
  std::vector<Condition> conditions_;  // guarded by mu_
  std::atomic<bool> draining_{false};
};

}  // namespace teredo::agent

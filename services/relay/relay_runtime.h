// What teredo-relay's workers read on every batch: the live-reloadable part of the config,
// resolved into RelayParams (lib/teredo/relay.h).
//
// Thread-safety: RuntimeHolder publishes immutable snapshots (atomic shared_ptr); a worker loads
// the current one at the start of a batch. Ownership: a RelayRuntime owns the vectors its
// RelayParams spans point into, so it is neither copyable nor movable.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.h"
#include "teredo/keyed_hash.h"
#include "teredo/relay.h"

namespace teredo::relay {

struct RelayRuntime {
  RelayRuntime() = default;
  RelayRuntime(const RelayRuntime&) = delete;
  RelayRuntime& operator=(const RelayRuntime&) = delete;

  RelayParams params;                   ///< servedRanges points into `served`
  std::vector<Ipv6Prefix> served;       ///< what we deliver to (RFC 4380 §5.4.2 SHOULD)
  bool hostSpecific = false;            ///< RFC 4380 §3.4: only the host's own traffic
  std::vector<Ipv6Addr> hostAddresses;  ///< storage behind params.hostSources
  double icmpErrorsPerSecond = 10;
  double icmpErrorsBurst = 10;
  uint64_t version = 0;
};

/// Resolves a validated config. `bubbleKey` stays the same across reloads (tokens stay valid).
std::shared_ptr<const RelayRuntime> makeRuntime(const config::RelayConfig& c, const SipKey& key,
                                                uint64_t version);

class RuntimeHolder {
 public:
  explicit RuntimeHolder(std::shared_ptr<const RelayRuntime> initial)
      : current_(std::move(initial)) {}
  std::shared_ptr<const RelayRuntime> load() const {
    return current_.load(std::memory_order_acquire);
  }
  void store(std::shared_ptr<const RelayRuntime> next) {
    current_.store(std::move(next), std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_release);
  }
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::shared_ptr<const RelayRuntime>> current_;
  std::atomic<uint64_t> generation_{1};
};

}  // namespace teredo::relay

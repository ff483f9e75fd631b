// What teredo-relay's workers read on every batch: the live-reloadable part of the config,
// resolved into RelayParams (lib/teredo/relay.h).
//
// Thread-safety: RuntimeHolder publishes immutable snapshots (atomic shared_ptr); a worker loads
// the current one at the start of a batch. Ownership: a RelayRuntime owns the vectors its
// RelayParams spans point into, so it is neither copyable nor movable.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "agent/runtime_holder.h"
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
  /// relay.batch_delay_us: while traffic flows, a worker sleeps this long between batches
  /// instead of waking for every packet (0 = wake for every packet).
  uint32_t batchDelayUs = config::kDefaultBatchDelayUs;
  uint64_t version = 0;
};

/// Resolves a validated config. `bubbleKey` stays the same across reloads (tokens stay valid).
std::shared_ptr<const RelayRuntime> makeRuntime(const config::RelayConfig& c, const SipKey& key,
                                                uint64_t version);

/// The workers' view of the live config (agent/runtime_holder.h).
using RuntimeHolder = agent::RuntimeHolder<RelayRuntime>;

}  // namespace teredo::relay

// The per-agent config push state machine: what each connected agent should run, when it is
// sent, and what its ACK or NACK means.
//
// Rules:
//   - An agent's desired snapshot is its effective config (fleet_config.h). Its desired version
//     is the fleet version at which that content last changed, so a change to the relay
//     defaults does not re-push servers.
//   - Operator changes are debounced fleet-wide: published `debounce` after the last change, at
//     most `debounceCeiling` after the first one. A (re)connecting agent is served at once.
//   - At most one unacknowledged push per agent. While one is in flight, newer content waits and
//     the newest replaces any older waiting content; it goes out when the ACK/NACK arrives (or
//     after `ackTimeout`).
//   - ACK/NACK are matched by nonce; stale ones are ignored (and counted).
//   - A NACKed version is never resent; the agent is parked until its content changes. The
//     NACK (version, reason, time) is kept on the agent's record.
//
// Thread-safety: none; the Controller serialises access under its mutex (sinks are called with
// it held). Ownership: owns its counters and debounce state; works on the records of an
// AgentRegistry and reads a ConfigStore, both borrowed per call.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "agent_registry.h"
#include "clock.h"
#include "config_store.h"

namespace teredo::controller {

/// Makes the nonce of each snapshot (unique per push; tests count).
using NonceSource = std::function<std::string()>;

struct PushOptions {
  std::chrono::milliseconds debounce{100};
  std::chrono::milliseconds debounceCeiling{10000};
  std::chrono::milliseconds ackTimeout{30000};
  /// Sent to every agent in Settings when it connects.
  std::chrono::milliseconds statsInterval{10000};
};

/// Counters of the push machinery (teredo_controller_pushes_total{result}).
struct PushCounters {
  uint64_t sent = 0;
  uint64_t acked = 0;
  uint64_t nacked = 0;
  uint64_t superseded = 0;
  uint64_t timedOut = 0;
  uint64_t staleReplies = 0;
  uint64_t nackResendsSuppressed = 0;
};

class ConfigPush {
 public:
  ConfigPush(PushOptions options, NonceSource nonces)
      : options_(options), nonces_(std::move(nonces)) {}

  /// The agent's stream just registered: sends Settings and its drain state, then its desired
  /// snapshot at once if it does not run it yet.
  void connected(Agent& agent, const ConfigStore& config, TimePoint now);
  /// An operator change was published: (re)starts the debounce.
  void changed(TimePoint now);
  /// An ACK from the agent: when it matches the push in flight the version counts as applied
  /// and waiting content goes out; otherwise it is stale (counted, ignored).
  void ack(Agent& agent, const teredo::v1::Ack& ack, TimePoint now);
  /// A NACK from the agent: when it matches the push in flight it is recorded on the agent
  /// (true) and the caller persists it, then calls trySend(); stale ones are counted (false).
  bool nack(Agent& agent, const teredo::v1::Nack& nack, TimePoint now);
  /// Sends the agent's desired snapshot if it is connected, not running it, has no push in
  /// flight and has not NACKed that version.
  void trySend(Agent& agent, TimePoint now);
  /// Tells a connected agent its drain flag.
  void sendDrain(Agent& agent);
  /// A reload changed the timing: the debounce applies from the next change on; a new stats
  /// interval goes out in Settings to every connected agent at once.
  void setTiming(std::chrono::milliseconds debounce, std::chrono::milliseconds statsInterval,
                 AgentRegistry& agents);

  /// Publishes debounced changes to every connected agent and expires un-ACKed pushes.
  void tick(AgentRegistry& agents, const ConfigStore& config, TimePoint now);
  /// When tick() next has work (debounce flush or ack timeout), if any.
  std::optional<TimePoint> nextDeadline(const AgentRegistry& agents) const;

  const PushCounters& counters() const { return counters_; }

 private:
  // Recomputes the desired snapshot of one agent from the current config; true if it changed.
  bool refreshDesired(Agent& agent, const ConfigStore& config, TimePoint now);
  void sendSettings(Agent& agent);

  PushOptions options_;
  NonceSource nonces_;
  PushCounters counters_;
  // Debounce: set while operator changes wait to be published.
  std::optional<TimePoint> firstChange_;
  TimePoint lastChange_;
};

}  // namespace teredo::controller

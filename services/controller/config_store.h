// The controller's config store: the current FleetConfig, the version counter (versions are
// never reused, also across restarts), the bounded history of published versions (what each
// was, when, why, and which version a rollback restored), and their persistence through a
// StateStore together with the agent records the registry wants remembered.
//
// Publishing is all or nothing: when the new state cannot be persisted, the store keeps the
// state it had and the caller gets UNAVAILABLE, so nothing is announced that a restart loses.
//
// Thread-safety: none; the Controller serialises access under its mutex.
// Ownership: owns its StateStore (null = in memory only) and the state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "clock.h"
#include "state_store.h"
#include "teredo/v1/admin.pb.h"

namespace teredo::controller {

class ConfigStore {
 public:
  /// Keeps at most `maxHistory` history entries (oldest dropped first).
  ConfigStore(std::unique_ptr<StateStore> store, size_t maxHistory)
      : store_(std::move(store)), maxHistory_(maxHistory) {}

  /// Reads the persisted state (nothing to read without a store). The error of the store when
  /// it is unreadable.
  Status load();
  /// The agent records of the state last loaded or saved.
  const google::protobuf::RepeatedPtrField<teredo::v1::StoredAgent>& rememberedAgents() const {
    return state_.agents();
  }

  /// The last version handed out (0: none yet).
  uint64_t version() const { return state_.last_version(); }
  const teredo::v1::FleetConfig& current() const { return state_.current(); }
  /// Oldest first.
  const google::protobuf::RepeatedPtrField<teredo::v1::ConfigHistoryEntry>& history() const {
    return state_.history();
  }
  /// The history entry of `version`, or nullptr when it is not (or no longer) in the history.
  const teredo::v1::ConfigHistoryEntry* find(uint64_t version) const;

  /// Makes `next` current under a new version with a history entry, and persists it with
  /// `agents`. Returns the new version; on a persistence error nothing changes (UNAVAILABLE).
  StatusOr<uint64_t> publish(const teredo::v1::FleetConfig& next, const std::string& description,
                             const std::string& comment, uint64_t rollbackOf, TimePoint now,
                             std::vector<teredo::v1::StoredAgent> agents,
                             const std::string& author = {});
  /// Persists the current state with `agents` (after a drain or a NACK). The StateStore's
  /// error when that fails.
  Status save(std::vector<teredo::v1::StoredAgent> agents);

 private:
  std::unique_ptr<StateStore> store_;
  const size_t maxHistory_;
  teredo::v1::ControllerState state_;  // current config, history, last version, agents
};

}  // namespace teredo::controller

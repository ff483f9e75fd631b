// What an operator's SetConfig or Rollback would do, computed without changing anything: the
// FleetConfig it leads to, whether that differs from the current one, the agents whose
// effective config it changes, and whether every agent it reaches would accept it (checked
// with the same validation the agents run, so the admin API refuses what an agent would NACK).
//
// Errors: INVALID_ARGUMENT with one Violation per bad request field or config key (keys are
// request fields: "role", "config", "agent_id", "target", "config.relay.mtu" or
// "agent[<id>].relay.mtu"), NOT_FOUND for an unknown version or override, FAILED_PRECONDITION
// for a stale expected_version.
//
// Thread-safety: reentrant; the registry and store are only read (the Controller holds its
// mutex). Ownership: results are values.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "agent_registry.h"
#include "base/status.h"
#include "config_store.h"
#include "teredo/v1/admin.pb.h"
#include "teredo/v1/agent.pb.h"

namespace teredo::controller {

/// Validates one agent's whole config the way an agent would (lib/config proto translation).
/// Returns the violations; empty means valid. Keys are lib/config keys ("relay.max_peers"),
/// exactly as agents report them in a NACK.
using ConfigValidator = std::function<std::vector<Violation>(const teredo::v1::AgentConfig&)>;

/// A violation of request field `key` (no file position: requests do not come from files).
Violation fieldViolation(std::string key, std::string message);

/// The outcome of a SetConfig or Rollback, before anything is published.
struct ConfigChange {
  teredo::v1::FleetConfig next;
  /// `next` differs from the current config.
  bool changed = false;
  /// Agents that sent a Hello whose effective config `next` changes, ordered by id.
  std::vector<std::string> affected;
  /// The history entry's description ("set role relay", "rollback to 3").
  std::string description;
  /// The version a rollback restores (0 otherwise).
  uint64_t rollbackOf = 0;
};

/// The change a SetConfig request makes to the current config.
StatusOr<ConfigChange> planSetConfig(const teredo::v1::SetConfigRequest& req,
                                     const ConfigStore& config, const AgentRegistry& agents,
                                     const ConfigValidator& validator);
/// The change of a Rollback: the config of `req.to_version()` as it is in the history.
StatusOr<ConfigChange> planRollback(const teredo::v1::RollbackRequest& req,
                                    const ConfigStore& config, const AgentRegistry& agents,
                                    const ConfigValidator& validator);

}  // namespace teredo::controller

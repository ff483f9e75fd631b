#include "config_change.h"

#include <set>

#include <google/protobuf/util/message_differencer.h>

#include "config/proto_translate.h"
#include "fleet_config.h"

namespace teredo::controller {

using google::protobuf::util::MessageDifferencer;
using teredo::config::roleName;
using teredo::v1::AgentConfig;
using teredo::v1::FleetConfig;
using teredo::v1::Role;

namespace {

// Applies the target of `req` (role defaults, or one agent's override) to `next`.
Status applyTarget(const teredo::v1::SetConfigRequest& req, const AgentRegistry& agents,
                   FleetConfig* next) {
  std::vector<Violation> bad;
  switch (req.target_case()) {
    case teredo::v1::SetConfigRequest::kRole: {
      const Role role = req.role();
      if (role != teredo::v1::ROLE_SERVER && role != teredo::v1::ROLE_RELAY) {
        bad.push_back(fieldViolation("role", "must be ROLE_SERVER or ROLE_RELAY"));
        break;
      }
      if (req.remove_override()) {
        bad.push_back(fieldViolation("remove_override", "only valid with agent_id"));
        break;
      }
      if (roleOfConfig(req.config()) != role) {
        const std::string name(roleName(role));
        bad.push_back(fieldViolation("config", "must set `" + name + "` for " + name));
        break;
      }
      *(role == teredo::v1::ROLE_SERVER ? next->mutable_server_defaults()
                                        : next->mutable_relay_defaults()) = req.config();
      break;
    }
    case teredo::v1::SetConfigRequest::kAgentId: {
      const std::string& id = req.agent_id();
      if (id.empty() || id.size() > 253) {
        bad.push_back(fieldViolation("agent_id", "must be 1-253 characters"));
        break;
      }
      if (req.remove_override()) {
        if (req.has_config()) {
          bad.push_back(fieldViolation("config", "must be unset with remove_override"));
          break;
        }
        if (next->agent_overrides().count(id) == 0) {
          return Status::error(StatusCode::kNotFound, "agent " + id + " has no override");
        }
        next->mutable_agent_overrides()->erase(id);
        break;
      }
      const Role role = roleOfConfig(req.config());
      if (role == teredo::v1::ROLE_UNSPECIFIED) {
        bad.push_back(fieldViolation("config", "must set `server` or `relay`"));
        break;
      }
      const Agent* known = agents.find(id);
      if (known != nullptr && known->hello.role() != teredo::v1::ROLE_UNSPECIFIED &&
          known->hello.role() != role) {
        bad.push_back(fieldViolation(
            "config", ("agent " + id + " is a ").append(roleName(known->hello.role()))));
        break;
      }
      (*next->mutable_agent_overrides())[id] = req.config();
      break;
    }
    default:
      bad.push_back(fieldViolation("target", "set role or agent_id"));
  }
  if (!bad.empty()) {
    return Status::invalid(std::move(bad), "invalid SetConfig request");
  }
  return Status();
}

// Every agent `fleet` reaches (one agent, one role, or all when both are unset), checked with
// its effective config. Keys are prefixed "config." (one agent, or a role's defaults alone) or
// "agent[<id>]." (each agent of a role).
std::vector<Violation> validateFleet(const FleetConfig& fleet, const AgentRegistry& agents,
                                     const ConfigValidator& validator, const std::string& onlyAgent,
                                     Role onlyRole) {
  std::vector<Violation> out;
  auto check = [&](const AgentConfig& config, const std::string& prefix) {
    for (Violation& v : validator(config)) {
      v.key = prefix + v.key;
      out.push_back(std::move(v));
    }
  };
  if (!onlyAgent.empty()) {
    const auto eff = effectiveConfig(fleet, agents.roleOf(onlyAgent, fleet), onlyAgent);
    if (eff) {
      check(*eff, "config.");
    }
    return out;
  }
  for (Role role : {teredo::v1::ROLE_SERVER, teredo::v1::ROLE_RELAY}) {
    if (onlyRole != teredo::v1::ROLE_UNSPECIFIED && role != onlyRole) {
      continue;
    }
    // Every agent of the role (known or with an override) gets checked with its effective
    // config; with none, the defaults alone must be a complete config.
    std::set<std::string> ids;
    for (const auto& [id, a] : agents.all()) {
      if (a.hello.role() == role) {
        ids.insert(id);
      }
    }
    for (const auto& [id, o] : fleet.agent_overrides()) {
      if (agents.roleOf(id, fleet) == role) {
        ids.insert(id);
      }
    }
    if (ids.empty()) {
      const auto eff = effectiveConfig(fleet, role, "");
      if (eff) {
        check(*eff, "config.");
      }
      continue;
    }
    for (const auto& id : ids) {
      const auto eff = effectiveConfig(fleet, role, id);
      if (eff) {
        check(*eff, "agent[" + id + "].");
      }
    }
  }
  return out;
}

std::vector<std::string> affectedAgents(const FleetConfig& current, const FleetConfig& next,
                                        const AgentRegistry& agents) {
  std::vector<std::string> out;
  for (const auto& [id, a] : agents.all()) {
    if (!a.known) {
      continue;
    }
    if (!equalConfigs(effectiveConfig(current, a.hello.role(), id),
                      effectiveConfig(next, a.hello.role(), id))) {
      out.push_back(id);
    }
  }
  return out;
}

}  // namespace

Violation fieldViolation(std::string key, std::string message) {
  Violation v;
  v.key = std::move(key);
  v.message = std::move(message);
  return v;
}

StatusOr<ConfigChange> planSetConfig(const teredo::v1::SetConfigRequest& req,
                                     const ConfigStore& config, const AgentRegistry& agents,
                                     const ConfigValidator& validator) {
  if (req.expected_version() != 0 && req.expected_version() != config.version()) {
    return Status::error(StatusCode::kFailedPrecondition,
                         "current version is " + std::to_string(config.version()) + ", not " +
                             std::to_string(req.expected_version()));
  }
  ConfigChange change;
  change.next = config.current();
  if (Status s = applyTarget(req, agents, &change.next); !s.ok()) {
    return s;
  }
  const bool byAgent = req.target_case() == teredo::v1::SetConfigRequest::kAgentId;
  auto bad = validateFleet(change.next, agents, validator, byAgent ? req.agent_id() : "",
                           byAgent ? teredo::v1::ROLE_UNSPECIFIED : req.role());
  if (!bad.empty()) {
    return Status::invalid(std::move(bad), "config rejected");
  }
  change.changed = !MessageDifferencer::Equals(change.next, config.current());
  change.affected = affectedAgents(config.current(), change.next, agents);
  if (byAgent) {
    change.description = (req.remove_override() ? "remove agent " : "set agent ") + req.agent_id();
  } else {
    change.description = std::string("set role ").append(roleName(req.role()));
  }
  return change;
}

StatusOr<ConfigChange> planRollback(const teredo::v1::RollbackRequest& req,
                                    const ConfigStore& config, const AgentRegistry& agents,
                                    const ConfigValidator& validator) {
  const teredo::v1::ConfigHistoryEntry* found = config.find(req.to_version());
  if (found == nullptr) {
    return Status::error(StatusCode::kNotFound,
                         "version " + std::to_string(req.to_version()) + " is not in the history");
  }
  ConfigChange change;
  change.next = found->config();
  auto bad = validateFleet(change.next, agents, validator, "", teredo::v1::ROLE_UNSPECIFIED);
  if (!bad.empty()) {
    return Status::invalid(std::move(bad),
                           "version " + std::to_string(req.to_version()) + " no longer validates");
  }
  change.changed = !MessageDifferencer::Equals(change.next, config.current());
  change.affected = affectedAgents(config.current(), change.next, agents);
  change.description = "rollback to " + std::to_string(req.to_version());
  change.rollbackOf = req.to_version();
  return change;
}

}  // namespace teredo::controller

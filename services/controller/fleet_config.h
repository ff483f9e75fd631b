// What a FleetConfig (role defaults plus per-agent overrides, admin.proto) means for one agent:
// its effective config is the defaults of its role with its override merged on top (proto
// MergeFrom), and which role a config is for. Pure functions over protos.
//
// Thread-safety: reentrant. Ownership: results are values.
#pragma once

#include <optional>
#include <string>

#include "teredo/v1/admin.pb.h"
#include "teredo/v1/agent.pb.h"

namespace teredo::controller {

/// Effective config of an agent of `role`: defaults of the role, override merged on top.
/// Returns nullopt when there is nothing to send (no defaults and no override of that role).
std::optional<teredo::v1::AgentConfig> effectiveConfig(const teredo::v1::FleetConfig& fleet,
                                                       teredo::v1::Role role,
                                                       const std::string& agentId);

/// The role `config` is for (which of `server`/`relay` it sets); ROLE_UNSPECIFIED for neither.
teredo::v1::Role roleOfConfig(const teredo::v1::AgentConfig& config);

/// True when both are absent, or both present with equal contents.
bool equalConfigs(const std::optional<teredo::v1::AgentConfig>& a,
                  const std::optional<teredo::v1::AgentConfig>& b);

}  // namespace teredo::controller

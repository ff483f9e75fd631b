#include "fleet_config.h"

#include <google/protobuf/util/message_differencer.h>

namespace teredo::controller {

using google::protobuf::util::MessageDifferencer;
using teredo::v1::AgentConfig;
using teredo::v1::FleetConfig;
using teredo::v1::Role;

Role roleOfConfig(const AgentConfig& config) {
  switch (config.role_case()) {
    case AgentConfig::kServer:
      return teredo::v1::ROLE_SERVER;
    case AgentConfig::kRelay:
      return teredo::v1::ROLE_RELAY;
    default:
      return teredo::v1::ROLE_UNSPECIFIED;
  }
}

bool equalConfigs(const std::optional<AgentConfig>& a, const std::optional<AgentConfig>& b) {
  if (a.has_value() != b.has_value()) {
    return false;
  }
  return !a.has_value() || MessageDifferencer::Equals(*a, *b);
}

std::optional<AgentConfig> effectiveConfig(const FleetConfig& fleet, Role role,
                                           const std::string& agentId) {
  const AgentConfig* defaults = nullptr;
  bool hasDefaults = false;
  if (role == teredo::v1::ROLE_SERVER) {
    defaults = &fleet.server_defaults();
    hasDefaults = defaults->has_server();
  } else if (role == teredo::v1::ROLE_RELAY) {
    defaults = &fleet.relay_defaults();
    hasDefaults = defaults->has_relay();
  } else {
    return std::nullopt;
  }
  const auto it = fleet.agent_overrides().find(agentId);
  const bool hasOverride = it != fleet.agent_overrides().end() && roleOfConfig(it->second) == role;
  if (!hasDefaults && !hasOverride) {
    return std::nullopt;
  }
  AgentConfig out;
  if (hasDefaults) {
    out = *defaults;
  }
  if (hasOverride) {
    out.MergeFrom(it->second);
  }
  return out;
}

}  // namespace teredo::controller

// Validation of one agent's whole config as the agent itself would do it, so SetConfig rejects
// exactly what an agent would NACK, with the same messages.
//
// Thread-safety: reentrant. Ownership: returns values.
#pragma once

#include <vector>

#include "base/status.h"
#include "teredo/v1/agent.pb.h"
#include "teredo/v1/config.pb.h"

namespace teredo::controller {

/// Violations of `config` (key = the lib/config key, e.g. "relay.mtu", and message as in agent
/// NACKs); empty when the config is valid.
std::vector<Violation> validateAgentConfig(const teredo::v1::AgentConfig& config);

}  // namespace teredo::controller

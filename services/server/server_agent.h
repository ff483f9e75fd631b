// teredo-server as a role of the agent host (lib/agent/agent_host.h): what it opens (two UDP
// sockets per worker on server.primary_address and server.secondary_address, the raw IPv6
// socket for native forwarding), its workers (two receive lanes per worker, one per socket), its
// metrics (per-lane stats, NAT observation) and how it applies a live config. No protocol logic
// lives here (see lib/teredo/server.h).
//
// Thread-safety: as RoleAgent (agent_host.h). Ownership: the agent owns its sockets, workers,
// NAT observer and runtime.
#pragma once

#include <memory>

#include "agent/agent_host.h"
#include "base/status.h"
#include "config/config.h"

namespace teredo::server {

/// Opens the server's resources for `config`; the error names the config key involved.
StatusOr<std::unique_ptr<agent::RoleAgent<config::ServerConfig>>> openServerAgent(
    const config::ServerConfig& config, uint64_t version, agent::Readiness& readiness);

}  // namespace teredo::server

// teredo-relay as a role of the agent host (lib/agent/agent_host.h): what it opens (the
// multi-queue tun device with the Teredo prefix routed to it, one UDP socket per worker, the
// ICMPv6 error socket), its workers, its metrics (per-worker stats, the peer table, the anycast
// announcement) and how it applies a live config and a drain. With relay.announce.enabled it owns
// the announcement (announcer.h): announced while ready, withdrawn on drain, stall, lost readiness
// and SIGTERM (then relay.announce.withdraw_grace of service before the stop). No protocol logic
// lives here (see lib/teredo/relay.h).
//
// Thread-safety: as RoleAgent (agent_host.h). Ownership: the agent owns the tun device, the
// sockets, the peer table and the workers.
#pragma once

#include <memory>

#include "agent/agent_host.h"
#include "base/status.h"
#include "config/config.h"

namespace teredo::relay {

/// Opens the relay's resources for `config` (adds the tun_up readiness condition); the error
/// names the config key involved.
StatusOr<std::unique_ptr<agent::RoleAgent<config::RelayConfig>>> openRelayAgent(
    const config::RelayConfig& config, uint64_t version, agent::Readiness& readiness);

}  // namespace teredo::relay

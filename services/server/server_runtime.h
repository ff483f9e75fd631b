// What teredo-server's workers read on every batch: the part of the config that can change
// without rebinding (SIGHUP or a controller push), resolved into plain values.
//
// Thread-safety: RuntimeHolder publishes immutable snapshots; workers load the current one at
// the start of each batch (one atomic shared_ptr load) and never see a half-applied config.
// Ownership: snapshots are shared (std::shared_ptr<const ServerRuntime>).
#pragma once

#include <cstdint>
#include <memory>

#include "agent/runtime_holder.h"
#include "config/config.h"
#include "teredo/server.h"

namespace teredo::server {

struct ServerRuntime {
  ServerPolicy policy;
  uint16_t raMtu = 1280;  ///< 0: no MTU option (109-byte Microsoft-shape RA)
  double rsPerSecond = 0;
  double rsBurst = 0;
  double forwardPerSecond = 0;
  double forwardBurst = 0;
  double forwardGlobalPerSecond = 0;  ///< all sources together; 0 = unlimited
  double forwardGlobalBurst = 0;
  bool natObservation = true;
  uint64_t version = 0;  ///< the controller's config version, 0 for the local file
};

/// Resolves a validated config into the workers' view.
ServerRuntime makeRuntime(const config::ServerConfig& c, uint64_t version);

/// The workers' view of the live config (agent/runtime_holder.h).
using RuntimeHolder = agent::RuntimeHolder<ServerRuntime>;

}  // namespace teredo::server

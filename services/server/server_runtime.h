// What teredo-server's workers read on every batch: the part of the config that can change
// without rebinding (SIGHUP or a controller push), resolved into plain values.
//
// Thread-safety: RuntimeHolder publishes immutable snapshots; workers load the current one at
// the start of each batch (one atomic shared_ptr load) and never see a half-applied config.
// Ownership: snapshots are shared (std::shared_ptr<const ServerRuntime>).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

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

class RuntimeHolder {
 public:
  explicit RuntimeHolder(std::shared_ptr<const ServerRuntime> initial)
      : current_(std::move(initial)) {}
  std::shared_ptr<const ServerRuntime> load() const {
    return current_.load(std::memory_order_acquire);
  }
  void store(std::shared_ptr<const ServerRuntime> next) {
    current_.store(std::move(next), std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_release);
  }
  /// Bumped on every store(); workers compare it per batch (cheaper than loading the pointer).
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::shared_ptr<const ServerRuntime>> current_;
  std::atomic<uint64_t> generation_{1};
};

}  // namespace teredo::server

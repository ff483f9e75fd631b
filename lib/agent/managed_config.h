// ManagedConfig<Config>: an agent's effective config and its life cycle.
//
// The effective config is the bootstrap YAML file overlaid with the controller's latest snapshot
// (from the stream, or at boot from the last-known-good file in agent.state_dir). Every change,
// whatever its source (SIGHUP re-reading the file, a controller push), is validated whole and
// then either
//   - applied: `publish` is called (the host swaps the workers' runtime), or
//   - refused because it is invalid (kInvalidArgument, every error with its key and file:line),
//   - refused because it changes a key only a restart can change: sockets, addresses, the
//     interface (kFailedPrecondition, one violation per key).
// A refused change leaves the running config exactly as it was.
//
// RoleTraits<Config> says how one role's config loads from its file and overlays from a proto.
//
// Thread-safety: every method from any thread (one mutex, never held while publishing or on the
// packet path). Ownership: owns the controller client (when controller.address is set); shares
// the metrics, readiness and last-known-good store with it.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/agent_metrics.h"
#include "agent/controller_client.h"
#include "agent/health.h"
#include "agent/lkg_store.h"
#include "agent/log.h"
#include "base/status.h"
#include "config/config.h"
#include "config/proto_translate.h"
#include "teredo/v1/agent.pb.h"

namespace teredo::agent {

/// How one role's config loads and overlays (specialised for ServerConfig and RelayConfig).
template <class Config>
struct RoleTraits;

template <>
struct RoleTraits<config::ServerConfig> {
  static constexpr v1::Role kRole = v1::ROLE_SERVER;
  static constexpr config::Role kConfigRole = config::Role::kServer;
  static constexpr const char* kName = "server";
  static bool has(const v1::AgentConfig& c) { return c.has_server(); }
  static StatusOr<std::shared_ptr<const config::ServerConfig>> overlay(
      const v1::AgentConfig& c, const config::ServerConfig& base) {
    return config::serverConfigFromProto(c.server(), base);
  }
  static StatusOr<std::shared_ptr<const config::ServerConfig>> loadFile(const std::string& path) {
    return config::loadServerConfigFile(path);
  }
};

template <>
struct RoleTraits<config::RelayConfig> {
  static constexpr v1::Role kRole = v1::ROLE_RELAY;
  static constexpr config::Role kConfigRole = config::Role::kRelay;
  static constexpr const char* kName = "relay";
  static bool has(const v1::AgentConfig& c) { return c.has_relay(); }
  static StatusOr<std::shared_ptr<const config::RelayConfig>> overlay(
      const v1::AgentConfig& c, const config::RelayConfig& base) {
    return config::relayConfigFromProto(c.relay(), base);
  }
  static StatusOr<std::shared_ptr<const config::RelayConfig>> loadFile(const std::string& path) {
    return config::loadRelayConfigFile(path);
  }
};

/// "a, b, c"
std::string joinKeys(const std::vector<std::string>& keys);

/// kFailedPrecondition naming every key in `keys` (each also a violation).
Status restartRequiredStatus(const std::vector<std::string>& keys);

template <class Config>
class ManagedConfig {
 public:
  using Traits = RoleTraits<Config>;
  /// Called with every accepted config and its controller version (0: no controller snapshot).
  using Publish = std::function<void(const Config& config, uint64_t version)>;

  /// What the controller client needs besides the config: the periodic stats report, drain
  /// changes, and the addresses the agent announces in its Hello.
  struct ControllerHooks {
    std::function<void(v1::StatsReport*)> fillStats;
    std::function<void(bool)> onDrain;
    std::vector<std::string> addresses;
  };

  /// `bootstrap` is the validated YAML file at `path`. When the controller is configured, loads
  /// the last-known-good snapshot from agent.state_dir and starts from it if it still applies.
  ManagedConfig(std::string path, std::shared_ptr<const Config> bootstrap,
                std::shared_ptr<AgentMetrics> metrics, std::shared_ptr<Readiness> readiness)
      : path_(std::move(path)),
        bootstrap_(std::move(bootstrap)),
        current_(bootstrap_),
        metrics_(std::move(metrics)),
        readiness_(std::move(readiness)) {
    if (bootstrap_->controller.enabled()) {
      lkg_ = std::make_shared<LkgStore>(bootstrap_->agent.stateDir);
      bootFromLastKnownGood();
    }
  }
  ManagedConfig(const ManagedConfig&) = delete;
  ManagedConfig& operator=(const ManagedConfig&) = delete;
  ~ManagedConfig() { stop(); }

  /// The running config and its version (0: the file alone).
  std::shared_ptr<const Config> current() const {
    std::lock_guard<std::mutex> lock(mu_);
    return current_;
  }
  uint64_t version() const {
    std::lock_guard<std::mutex> lock(mu_);
    return version_;
  }

  /// Sets where accepted changes go; then starts the controller client when one is configured.
  void start(Publish publish, ControllerHooks hooks) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      publish_ = std::move(publish);
    }
    if (!bootstrap_->controller.enabled()) {
      return;
    }
    ControllerClientOptions o;
    const config::ControllerClient& cc = bootstrap_->controller;
    o.address = cc.address;
    o.caFile = cc.tls.caFile;
    o.certFile = cc.tls.certFile;
    o.keyFile = cc.tls.keyFile;
    o.serverName = cc.tls.serverName;
    o.agentId = bootstrap_->agent.id;
    o.role = Traits::kRole;
    o.addresses = std::move(hooks.addresses);
    o.lkg = lkg_;
    o.metrics = metrics_;
    o.readiness = readiness_;
    ControllerCallbacks cb;
    cb.validate = [this](const v1::AgentConfig& c, v1::ConfigError* error) {
      const Status st = check(c).status();
      if (!st.ok()) {
        *error = config::toProto(st);
      }
      return st.ok();
    };
    cb.apply = [this](const v1::AgentConfig& c, uint64_t version, v1::ConfigError* error) {
      const Status st = applySnapshot(c, version);
      if (!st.ok()) {
        *error = config::toProto(st);
      }
      return st.ok();
    };
    cb.fillStats = std::move(hooks.fillStats);
    cb.onDrain = std::move(hooks.onDrain);
    client_ = std::make_unique<ControllerClient>(std::move(o), std::move(cb), version());
    client_->start();
  }

  /// Stops the controller client (idempotent).
  void stop() {
    if (client_) {
      client_->stop();
      client_.reset();
    }
  }

  /// A controller snapshot with its version: validated over the bootstrap file, then published.
  Status applySnapshot(const v1::AgentConfig& c, uint64_t version) {
    auto next = check(c);
    if (!next.ok()) {
      return next.status();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      snapshot_ = c;
      current_ = *next;
      version_ = version;
    }
    publish(**next, version);
    TEREDO_LOG(LogLevel::Info, "controller config applied", {"version", version});
    return Status();
  }

  /// SIGHUP: re-reads the bootstrap file and re-applies the controller's snapshot over it.
  Status reloadFile() {
    auto file = Traits::loadFile(path_);
    if (!file.ok()) {
      return refused("config reload refused; the running config stays", file.status());
    }
    std::shared_ptr<const Config> next = *file;
    std::optional<v1::AgentConfig> snapshot;
    uint64_t version = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      snapshot = snapshot_;
      version = version_;
    }
    if (snapshot) {
      auto merged = Traits::overlay(*snapshot, *next);
      if (!merged.ok()) {
        return refused(
            "config reload refused: the controller's config does not apply over the new file; "
            "the running config stays",
            merged.status());
      }
      next = *merged;
    }
    if (const auto keys = config::restartRequired(*current(), *next); !keys.empty()) {
      return refused("config reload refused: these keys need a restart; the running config stays",
                     restartRequiredStatus(keys));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      bootstrap_ = *file;
      current_ = next;
    }
    publish(*next, version);
    TEREDO_LOG(LogLevel::Info, "config reloaded", {"file", path_});
    return Status();
  }

 private:
  void bootFromLastKnownGood() {
    const auto saved = lkg_->load();
    if (!saved.ok()) {
      if (saved.status().code() != StatusCode::kNotFound) {
        TEREDO_LOG(LogLevel::Info, "no usable last-known-good config",
                   {"reason", saved.status().message()});
      }
      return;
    }
    v1::AgentConfig proto;
    if (!proto.ParseFromString(saved->payload) || !Traits::has(proto)) {
      TEREDO_LOG(LogLevel::Warn, "last-known-good config ignored: not a config for this role",
                 {"file", lkg_->path()});
      return;
    }
    auto merged = Traits::overlay(proto, *bootstrap_);
    if (!merged.ok()) {
      TEREDO_LOG(LogLevel::Warn, "last-known-good config ignored: invalid", {"file", lkg_->path()},
                 {"errors", merged.status().message()});
      return;
    }
    if (const auto keys = config::restartRequired(*bootstrap_, **merged); !keys.empty()) {
      TEREDO_LOG(LogLevel::Warn,
                 "last-known-good config ignored: it changes keys that the bootstrap file pins",
                 {"keys", joinKeys(keys)});
      return;
    }
    snapshot_ = proto;
    current_ = *merged;
    version_ = saved->version;
    TEREDO_LOG(LogLevel::Info, "booted from the last-known-good config", {"version", version_});
  }

  /// The snapshot validated whole over the bootstrap file, or why it cannot apply live.
  StatusOr<std::shared_ptr<const Config>> check(const v1::AgentConfig& c) const {
    if (!Traits::has(c)) {
      return Status::invalid({{"", 0, 0, "role",
                               std::string("this agent is a ") + Traits::kName +
                                   "; the snapshot carries another role's config"}});
    }
    std::shared_ptr<const Config> base;
    std::shared_ptr<const Config> running;
    {
      std::lock_guard<std::mutex> lock(mu_);
      base = bootstrap_;
      running = current_;
    }
    auto merged = Traits::overlay(c, *base);
    if (!merged.ok()) {
      return merged.status();
    }
    if (const auto keys = config::restartRequired(*running, **merged); !keys.empty()) {
      return restartRequiredStatus(keys);
    }
    return *merged;
  }

  void publish(const Config& next, uint64_t version) {
    Publish p;
    {
      std::lock_guard<std::mutex> lock(mu_);
      p = publish_;
    }
    if (p) {
      p(next, version);
    }
  }

  Status refused(const char* what, Status why) const {
    TEREDO_LOG(LogLevel::Error, what, {"file", path_}, {"errors", why.message()});
    return why;
  }

  const std::string path_;
  mutable std::mutex mu_;
  std::shared_ptr<const Config> bootstrap_;  // guarded by mu_
  std::shared_ptr<const Config> current_;    // guarded by mu_
  std::optional<v1::AgentConfig> snapshot_;  // guarded by mu_
  uint64_t version_ = 0;                     // guarded by mu_
  Publish publish_;                          // guarded by mu_
  std::shared_ptr<AgentMetrics> metrics_;
  std::shared_ptr<Readiness> readiness_;
  std::shared_ptr<LkgStore> lkg_;
  std::unique_ptr<ControllerClient> client_;
};

}  // namespace teredo::agent

// What teredo-server and teredo-relay share as processes: the command line, logging setup and
// the controller glue (bootstrap YAML + last-known-good + controller snapshots).
//
// Thread-safety: daemonMain and applyLogConfig on the main thread. ManagedConfig is safe from any
// thread (one mutex; never taken on the packet path). Ownership: documented per class.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/collectable.h>

#include "agent/admin_server.h"
#include "agent/agent_metrics.h"
#include "agent/controller_client.h"
#include "agent/health.h"
#include "agent/lkg_store.h"
#include "agent/log.h"
#include "config/config.h"
#include "config/proto_translate.h"
#include "net/udp.h"
#include "teredo/v1/agent.pb.h"

namespace teredo::daemon {

struct DaemonInfo {
  const char* name;         ///< "teredo-server"
  const char* description;  ///< a few lines for --help
  config::Role role;
};

/// --help, --version, --check-config FILE, --config FILE; then run(configPath).
int daemonMain(int argc, char** argv, const DaemonInfo& info,
               const std::function<int(const std::string&)>& run);

/// Applies log.level and log.format to the default logger.
void applyLogConfig(const config::LogConfig& c);

/// "a, b, c"
std::string joinKeys(const std::vector<std::string>& keys);

/// Blocks SIGHUP, SIGTERM and SIGINT in this thread and every thread started after it, so that
/// only runMainLoop's signalfd sees them. Call before starting any thread. False (logged) on
/// failure.
bool blockDaemonSignals();

/// `configured` workers, or one per core when 0.
size_t workerCount(uint32_t configured);

/// Least privilege once every socket, tun and listener exists: drops every capability and sets
/// no_new_privs (warns when it cannot).
void dropPrivileges();

/// Starts the admin HTTP server (/metrics, /healthz, /readyz) on `listen`; null (logged, naming
/// admin.listen) on failure.
std::unique_ptr<agent::AdminServer> startAdmin(
    const Endpoint& listen, std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
    std::shared_ptr<const agent::Heartbeats> heartbeats,
    std::shared_ptr<const agent::Readiness> readiness);

/// The main thread's loop until SIGTERM or SIGINT: SIGHUP calls `onReload`, `onTick` runs every
/// second. False (logged) when the loop could not be created.
bool runMainLoop(const std::function<void()>& onReload, const std::function<void()>& onTick);

/// Options of the per-worker SO_REUSEPORT sockets (buffer sizes 0 = kernel default).
net::UdpOptions workerSocketOptions(uint32_t receiveBufferBytes, uint32_t sendBufferBytes);

/// Runs every worker (anything with run() and stop()) on its own thread.
template <class Worker>
class WorkerThreads {
 public:
  explicit WorkerThreads(std::vector<std::unique_ptr<Worker>>& workers) : workers_(workers) {
    for (auto& w : workers_) {
      threads_.emplace_back([&w] { w->run(); });
    }
  }
  ~WorkerThreads() { stop(); }
  void stop() {
    for (auto& w : workers_) {
      w->stop();
    }
    for (auto& t : threads_) {
      if (t.joinable()) {
        t.join();
      }
    }
  }

 private:
  std::vector<std::unique_ptr<Worker>>& workers_;
  std::vector<std::thread> threads_;
};

/// How a role's config converts (specialised below for ServerConfig and RelayConfig).
template <class Config>
struct RoleTraits;

template <>
struct RoleTraits<config::ServerConfig> {
  static constexpr v1::Role kRole = v1::ROLE_SERVER;
  static constexpr const char* kName = "server";
  static bool has(const v1::AgentConfig& c) { return c.has_server(); }
  static teredo::StatusOr<std::shared_ptr<const config::ServerConfig>> overlay(
      const v1::AgentConfig& c, const config::ServerConfig& base) {
    return config::serverConfigFromProto(c.server(), base);
  }
  static teredo::StatusOr<std::shared_ptr<const config::ServerConfig>> loadFile(
      const std::string& path) {
    return config::loadServerConfigFile(path);
  }
};

template <>
struct RoleTraits<config::RelayConfig> {
  static constexpr v1::Role kRole = v1::ROLE_RELAY;
  static constexpr const char* kName = "relay";
  static bool has(const v1::AgentConfig& c) { return c.has_relay(); }
  static teredo::StatusOr<std::shared_ptr<const config::RelayConfig>> overlay(
      const v1::AgentConfig& c, const config::RelayConfig& base) {
    return config::relayConfigFromProto(c.relay(), base);
  }
  static teredo::StatusOr<std::shared_ptr<const config::RelayConfig>> loadFile(
      const std::string& path) {
    return config::loadRelayConfigFile(path);
  }
};

/// The effective config of an agent: the bootstrap YAML file, overlaid with the controller's
/// latest snapshot (from the stream, or from the last-known-good file at boot). Every change,
/// whatever its source (SIGHUP, snapshot), is validated whole, refused when it would need a
/// restart (sockets, addresses, interface), and otherwise published through `publish`, which
/// swaps the workers' runtime atomically.
///
/// Ownership: owns the controller client (if controller.address is set) and shares the metrics
/// and readiness objects. Thread-safety: all methods from any thread.
template <class Config>
class ManagedConfig {
 public:
  using Traits = RoleTraits<Config>;
  using Publish = std::function<void(const Config& config, uint64_t version)>;

  /// `bootstrap` is the validated YAML file at `path`. Loads the last-known-good snapshot from
  /// agent.state_dir when the controller is configured and applies it if it is still valid.
  ManagedConfig(std::string path, std::shared_ptr<const Config> bootstrap,
                std::shared_ptr<agent::AgentMetrics> metrics,
                std::shared_ptr<agent::Readiness> readiness)
      : path_(std::move(path)),
        bootstrap_(std::move(bootstrap)),
        current_(bootstrap_),
        metrics_(std::move(metrics)),
        readiness_(std::move(readiness)) {
    if (!bootstrap_->controller.enabled()) {
      return;
    }
    lkg_ = std::make_shared<agent::LkgStore>(bootstrap_->agent.stateDir);
    const auto snapshot = lkg_->load();
    if (!snapshot.ok()) {
      TEREDO_LOG(agent::LogLevel::Info, "no usable last-known-good config",
                 {"reason", snapshot.status().message()});
      return;
    }
    v1::AgentConfig proto;
    if (!proto.ParseFromString(snapshot->payload) || !Traits::has(proto)) {
      TEREDO_LOG(agent::LogLevel::Warn,
                 "last-known-good config ignored: not a config for this role",
                 {"file", lkg_->path()});
      return;
    }
    auto merged = Traits::overlay(proto, *bootstrap_);
    if (!merged.ok()) {
      TEREDO_LOG(agent::LogLevel::Warn, "last-known-good config ignored: invalid",
                 {"file", lkg_->path()}, {"errors", merged.status().message()});
      return;
    }
    const auto keys = config::restartRequired(*bootstrap_, **merged);
    if (!keys.empty()) {
      TEREDO_LOG(agent::LogLevel::Warn,
                 "last-known-good config ignored: it changes keys that the bootstrap file pins",
                 {"keys", joinKeys(keys)});
      return;
    }
    snapshot_ = proto;
    current_ = *merged;
    version_ = snapshot->version;
    TEREDO_LOG(agent::LogLevel::Info, "booted from the last-known-good config",
               {"version", version_});
  }

  ~ManagedConfig() { stop(); }

  /// The config to start with (bootstrap or LKG overlay) and its version (0 = bootstrap).
  std::shared_ptr<const Config> current() const {
    std::lock_guard<std::mutex> lock(mu_);
    return current_;
  }
  uint64_t version() const {
    std::lock_guard<std::mutex> lock(mu_);
    return version_;
  }

  /// Starts the controller client (when configured). `publish` is called for every accepted
  /// change; `fillStats` builds the periodic StatsReport; `onDrain` sees drain changes.
  void start(Publish publish, std::function<void(v1::StatsReport*)> fillStats,
             std::function<void(bool)> onDrain, std::vector<std::string> addresses) {
    publish_ = std::move(publish);
    if (!bootstrap_->controller.enabled()) {
      return;
    }
    agent::ControllerClientOptions o;
    const config::ControllerClient& cc = bootstrap_->controller;
    o.address = cc.address;
    o.caFile = cc.tls.caFile;
    o.certFile = cc.tls.certFile;
    o.keyFile = cc.tls.keyFile;
    o.serverName = cc.tls.serverName;
    o.agentId = bootstrap_->agent.id;
    o.role = Traits::kRole;
    o.addresses = std::move(addresses);
    o.lkg = lkg_;
    o.metrics = metrics_;
    o.readiness = readiness_;
    agent::ControllerCallbacks cb;
    cb.validate = [this](const v1::AgentConfig& c, v1::ConfigError* error) {
      return check(c, error) != nullptr;
    };
    cb.apply = [this](const v1::AgentConfig& c, uint64_t version, v1::ConfigError* error) {
      auto next = check(c, error);
      if (!next) {
        return false;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        snapshot_ = c;
        current_ = next;
        version_ = version;
      }
      publish_(*next, version);
      TEREDO_LOG(agent::LogLevel::Info, "controller config applied", {"version", version});
      return true;
    };
    cb.fillStats = std::move(fillStats);
    cb.onDrain = std::move(onDrain);
    client_ = std::make_unique<agent::ControllerClient>(std::move(o), std::move(cb), version());
    client_->start();
  }

  void stop() {
    if (client_) {
      client_->stop();
      client_.reset();
    }
  }

  /// SIGHUP: re-reads the bootstrap file and re-applies the controller's snapshot over it.
  void reloadFile() {
    auto file = Traits::loadFile(path_);
    if (!file.ok()) {
      TEREDO_LOG(agent::LogLevel::Error, "config reload refused; the running config stays",
                 {"file", path_}, {"errors", file.status().message()});
      return;
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
        TEREDO_LOG(agent::LogLevel::Error,
                   "config reload refused: the controller's config does not apply over the new "
                   "file; the running config stays",
                   {"file", path_}, {"errors", merged.status().message()});
        return;
      }
      next = *merged;
    }
    const auto keys = config::restartRequired(*current(), *next);
    if (!keys.empty()) {
      TEREDO_LOG(agent::LogLevel::Error,
                 "config reload refused: these keys need a restart; the running config stays",
                 {"file", path_}, {"keys", joinKeys(keys)});
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      bootstrap_ = *file;
      current_ = next;
    }
    publish_(*next, version);
    TEREDO_LOG(agent::LogLevel::Info, "config reloaded", {"file", path_});
  }

 private:
  /// Validates a snapshot whole; null and `error` filled when it cannot be applied live.
  std::shared_ptr<const Config> check(const v1::AgentConfig& c, v1::ConfigError* error) const {
    if (!Traits::has(c)) {
      error->set_message(std::string("role: this agent is a ") + Traits::kName +
                         "; the snapshot carries another role's config");
      return nullptr;
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
      *error = config::toProto(merged.status());
      return nullptr;
    }
    const auto keys = config::restartRequired(*running, **merged);
    if (!keys.empty()) {
      error->set_message("these keys cannot change without a restart: " + joinKeys(keys));
      for (const auto& k : keys) {
        auto* v = error->add_field_violations();
        v->set_field(k);
        v->set_description("needs a restart (sockets, addresses or interface)");
      }
      return nullptr;
    }
    return *merged;
  }

  const std::string path_;
  mutable std::mutex mu_;
  std::shared_ptr<const Config> bootstrap_;  // guarded by mu_
  std::shared_ptr<const Config> current_;    // guarded by mu_
  std::optional<v1::AgentConfig> snapshot_;  // guarded by mu_
  uint64_t version_ = 0;                     // guarded by mu_
  std::shared_ptr<agent::AgentMetrics> metrics_;
  std::shared_ptr<agent::Readiness> readiness_;
  std::shared_ptr<agent::LkgStore> lkg_;
  Publish publish_;
  std::unique_ptr<agent::ControllerClient> client_;
};

/// The start every agent daemon shares: the bootstrap file (every error printed, exit status 1),
/// the agent metrics and readiness, the managed config (last-known-good overlay), logging, and
/// the blocked signals (exit status 2). `exitCode` is set when it returns null.
template <class Config>
struct Bootstrap {
  std::shared_ptr<agent::AgentMetrics> metrics = std::make_shared<agent::AgentMetrics>();
  std::shared_ptr<agent::Readiness> readiness = std::make_shared<agent::Readiness>();
  std::unique_ptr<ManagedConfig<Config>> managed;
  std::shared_ptr<const Config> config;  ///< what to start with (managed->current())
};

template <class Config>
std::unique_ptr<Bootstrap<Config>> bootstrap(const std::string& path, int* exitCode) {
  auto loaded = RoleTraits<Config>::loadFile(path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", loaded.status().message().c_str());
    *exitCode = 1;
    return nullptr;
  }
  auto b = std::make_unique<Bootstrap<Config>>();
  b->managed = std::make_unique<ManagedConfig<Config>>(path, *loaded, b->metrics, b->readiness);
  b->config = b->managed->current();
  applyLogConfig(b->config->log);
  if (!blockDaemonSignals()) {
    *exitCode = 2;
    return nullptr;
  }
  return b;
}

}  // namespace teredo::daemon

// The one agent host: how teredo-server and teredo-relay live as processes.
//
// A role (services/server, services/relay) is its workers plus a RoleAgent: what it opens, what
// it counts, how it applies a new config. Everything else is written once here:
//
//   command line   --config, --check-config, --help, --version (runAgent)
//   boot           bootstrap YAML + last-known-good overlay (ManagedConfig), log settings,
//                  role resources opened while still privileged, the admin listener (/metrics,
//                  /healthz, /readyz), then every capability dropped but what the role keeps
//   run            role workers started, controller client started; the main thread waits on
//                  signals: SIGHUP reloads the file, SIGTERM/SIGINT stop; once a second it beats
//                  its heartbeat and gives the role a tick
//   reload/push    validated whole by ManagedConfig; applied (log settings, the role's runtime,
//                  the applied-config metric) or refused with the running config kept
//   drain          the controller's drain reaches the role (and /readyz, via the client)
//   shutdown       not ready, controller client stopped, workers joined, admin closed, the
//                  role's resources released
//
// Exit status of runAgent: 0 clean stop, 1 bad config, 2 environment error (bind, tun,
// capabilities), 64 bad command line.
//
// Thread-safety: AgentHost's methods on the main thread only (its callbacks run on the
// controller client's thread and only touch thread-safe objects). RoleAgent's apply, fillStats
// and setDraining may be called from the controller client's thread, concurrently with the
// workers: implementations make them thread-safe (atomic runtime swap, atomic counters).
// Ownership: AgentHost owns the role, the managed config, the metrics, readiness, heartbeats and
// the admin server.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/collectable.h>

#include "agent/admin_server.h"
#include "agent/agent_metrics.h"
#include "agent/health.h"
#include "agent/managed_config.h"
#include "base/status.h"
#include "config/config.h"
#include "net/udp.h"
#include "teredo/v1/stats.pb.h"

namespace teredo::agent {

/// What --help and --version print.
struct AgentInfo {
  const char* name;         ///< "teredo-server"
  const char* description;  ///< a few lines for --help
};

/// One role's process: its resources and workers, driven by AgentHost.
template <class Config>
class RoleAgent {
 public:
  virtual ~RoleAgent() = default;

  /// Worker threads that beat a heartbeat (slots 0..lanes()-1; the host's main loop beats the
  /// slot after them). Constant after open.
  virtual size_t lanes() const = 0;
  /// The role's metrics, served next to the agent metrics on /metrics.
  virtual std::vector<std::shared_ptr<prometheus::Collectable>> collectables() = 0;
  /// Addresses the agent announces to the controller in its Hello ("a.b.c.d" or "a.b.c.d:port").
  virtual std::vector<std::string> addresses() const = 0;
  /// Capabilities (CAP_*) the role needs after boot; every other one is dropped.
  virtual std::vector<int> capabilitiesToKeep() const { return {}; }

  /// Starts the workers. `heartbeats` outlives them.
  virtual void start(Heartbeats& heartbeats) = 0;
  /// A validated config that changes only live keys (restartRequired() is empty). Any thread.
  virtual void apply(const Config& config, uint64_t version) = 0;
  /// The periodic report for the controller: cumulative counters since start. Any thread.
  virtual void fillStats(v1::StatsReport* report) = 0;
  /// The controller's drain (true) or undrain (false). Any thread.
  virtual void setDraining(bool draining) { (void)draining; }
  /// Once a second, on the main thread (table expiry, window rotation).
  virtual void tick() {}
  /// SIGTERM, on the main thread: the role withdraws what attracts traffic to it (an anycast
  /// announcement) and returns how long to keep serving so that traffic can move away; the host
  /// then stops. Zero: stop at once.
  virtual std::chrono::milliseconds beginStop() { return std::chrono::milliseconds(0); }
  /// Stops and joins the workers, then releases what open() created. Idempotent.
  virtual void stop() = 0;
};

template <class Config>
class AgentHost {
 public:
  using Role = RoleAgent<Config>;
  /// Opens the role's resources for `config` (the only step that may need privileges) and may
  /// add readiness conditions; an error names the config key involved.
  using Open = std::function<StatusOr<std::unique_ptr<Role>>(const Config& config, uint64_t version,
                                                             Readiness& readiness)>;

  struct Options {
    /// Drop every capability but the role's after boot (tests running in-process keep theirs).
    bool dropPrivileges = true;
  };

  /// Loads `path` (kInvalidArgument with every error and its file:line), overlays the
  /// last-known-good snapshot, applies the log settings, opens the role and the admin listener
  /// and drops privileges. Any other error code is an environment error.
  static StatusOr<std::unique_ptr<AgentHost>> boot(const std::string& path, const Open& open,
                                                   Options options);

  AgentHost(const AgentHost&) = delete;
  AgentHost& operator=(const AgentHost&) = delete;
  ~AgentHost() { shutdown(); }

  /// Starts the role's workers and the controller client.
  void start();
  /// SIGHUP: re-reads the bootstrap file. OK when applied; otherwise why it was refused (the
  /// running config stays).
  Status reload();
  /// Once a second from the main loop.
  void tick();
  /// SIGTERM: not ready from now on (/readyz 503), the role's beginStop(); returns the grace to
  /// keep serving before shutdown().
  std::chrono::milliseconds beginStop();
  /// Not ready, controller client stopped, workers joined, admin closed. Idempotent.
  void shutdown();

  const ManagedConfig<Config>& managed() const { return *managed_; }
  ManagedConfig<Config>& managed() { return *managed_; }
  const AgentMetrics& metrics() const { return *metrics_; }
  /// Every event loop beat recently (what /healthz says); the service watchdog is fed only then.
  bool alive() const { return heartbeats_->fresh(nullptr); }
  const Readiness& readiness() const { return *readiness_; }
  Role& role() { return *role_; }
  uint16_t adminPort() const { return admin_ ? admin_->port() : 0; }

 private:
  AgentHost() = default;
  void publish(const Config& next, uint64_t version);

  std::shared_ptr<AgentMetrics> metrics_ = std::make_shared<AgentMetrics>();
  std::shared_ptr<Readiness> readiness_ = std::make_shared<Readiness>();
  std::unique_ptr<ManagedConfig<Config>> managed_;
  std::unique_ptr<Role> role_;
  std::shared_ptr<Heartbeats> heartbeats_;
  std::unique_ptr<AdminServer> admin_;
  size_t socketsBound_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

extern template class AgentHost<config::ServerConfig>;
extern template class AgentHost<config::RelayConfig>;

/// The whole process: command line, signals blocked, boot, run until SIGTERM/SIGINT, shutdown.
/// Returns the exit status (see the top of this file).
template <class Config>
int runAgent(int argc, char** argv, const AgentInfo& info,
             const typename AgentHost<Config>::Open& open);

extern template int runAgent<config::ServerConfig>(int, char**, const AgentInfo&,
                                                   const AgentHost<config::ServerConfig>::Open&);
extern template int runAgent<config::RelayConfig>(int, char**, const AgentInfo&,
                                                  const AgentHost<config::RelayConfig>::Open&);

/// `configured` workers, or one per core when 0.
size_t workerCount(uint32_t configured);

/// Options of the per-worker SO_REUSEPORT sockets (buffer sizes 0 = kernel default).
net::UdpOptions workerSocketOptions(uint32_t receiveBufferBytes, uint32_t sendBufferBytes);

/// Runs every worker (anything with run() and stop()) on its own thread; stop() (or the
/// destructor) stops and joins them. Owns the threads, not the workers.
template <class Worker>
class WorkerThreads {
 public:
  WorkerThreads() = default;
  explicit WorkerThreads(std::vector<std::unique_ptr<Worker>>& workers) { start(workers); }
  WorkerThreads(const WorkerThreads&) = delete;
  WorkerThreads& operator=(const WorkerThreads&) = delete;
  ~WorkerThreads() { stop(); }

  void start(std::vector<std::unique_ptr<Worker>>& workers) {
    workers_ = &workers;
    for (auto& w : workers) {
      threads_.emplace_back([&w] { w->run(); });
    }
  }
  void stop() {
    if (workers_ == nullptr) {
      return;
    }
    for (auto& w : *workers_) {
      w->stop();
    }
    for (auto& t : threads_) {
      if (t.joinable()) {
        t.join();
      }
    }
    threads_.clear();
    workers_ = nullptr;
  }

 private:
  std::vector<std::unique_ptr<Worker>>* workers_ = nullptr;
  std::vector<std::thread> threads_;
};

}  // namespace teredo::agent

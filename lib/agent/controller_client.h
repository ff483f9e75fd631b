// The agent side of the controller stream (docs/architecture.md, Control plane;
// proto/teredo/v1/agent.proto).
//
// One background thread dials controller.address ("host:port" or "unix:/path"), optionally with
// mTLS, and keeps one AgentService.Connect stream open, redialling with jittered exponential
// backoff. On the stream it sends Hello, then handles:
//   ConfigSnapshot  validate() the whole config; if valid apply() it (the service swaps its
//                   immutable config atomically), persist it as last-known-good, then Ack{version,
//                   nonce}. If invalid (or apply fails): keep the running config, Nack with the
//                   reason and the still-applied version.
//   Settings        stats_interval: a StatsReport built by fillStats() is sent at that interval
//                   (0 disables) from a second per-stream thread.
//   Drain           sets/clears the draining flag (Readiness, reported by /readyz) and calls
//                   onDrain.
// The data plane never waits for this client, and liveness/readiness never depend on the
// connection (only on the drain flag the controller sets).
//
// Thread-safety: start()/stop() from one owner thread. connected(), appliedVersion(),
// draining(), instanceUid() from any thread. The callbacks run on the client's own threads:
// validate/apply/onDrain on the stream thread (never concurrently with each other), fillStats on
// the stats thread (possibly concurrently with apply).
// Ownership: the client owns its threads and gRPC channel; it shares ownership of the optional
// LkgStore, AgentMetrics and Readiness. stop() (or the destructor) joins every thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent_metrics.h"
#include "agent/health.h"
#include "agent/lkg_store.h"
#include "teredo/v1/agent.pb.h"

namespace grpc {
class ClientContext;
}  // namespace grpc

namespace teredo::agent {

/// Jittered exponential backoff: attempt n waits a uniformly random time in
/// [d/2, d] with d = min(max, initial * 2^n) ("equal jitter"), so a fleet that lost its
/// controller does not redial in lockstep.
///
/// Thread-safety: not thread-safe (one owner). Deterministic for a given seed.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed);
  std::chrono::milliseconds next();
  void reset() { attempt_ = 0; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  uint32_t attempt_ = 0;
  std::mt19937_64 rng_;
};

struct ControllerClientOptions {
  /// "host:port" or "unix:/path" (any gRPC target). Must not be empty.
  std::string address;
  /// TLS: on when caFile is set; client certificate (mTLS) when certFile and keyFile are set.
  /// The files are re-read every tlsRefresh, so rotated certificates apply to the next connection.
  std::string caFile;
  std::string certFile;
  std::string keyFile;
  /// Overrides the name checked against the controller's certificate (empty: from address).
  std::string serverName;
  std::chrono::seconds tlsRefresh{60};

  std::string agentId;
  v1::Role role = v1::ROLE_UNSPECIFIED;
  std::vector<std::string> capabilities = {"stats.v1", "drain"};
  /// Informational ("203.0.113.10:3544"); never used in metric labels.
  std::vector<std::string> addresses;

  std::chrono::milliseconds backoffInitial{500};
  std::chrono::milliseconds backoffMax{30000};
  /// Seeds the backoff jitter and the instance uid; 0 = from std::random_device.
  uint64_t seed = 0;
  /// HTTP/2 keepalive ping interval on an idle stream (the controller must allow it).
  std::chrono::milliseconds keepalive{300000};

  /// Optional: persisted after every applied snapshot.
  std::shared_ptr<LkgStore> lkg;
  /// Optional: teredo_controller_connected, teredo_config_* metrics.
  std::shared_ptr<AgentMetrics> metrics;
  /// Optional: receives the controller's drain state.
  std::shared_ptr<Readiness> readiness;
};

struct ControllerCallbacks {
  /// Checks the WHOLE config. Return true if valid; otherwise fill `error` (message and, when
  /// known, field violations) and return false. Must not change the running config.
  std::function<bool(const v1::AgentConfig& config, v1::ConfigError* error)> validate;
  /// Converts and swaps the config in atomically (e.g. std::atomic<std::shared_ptr<const T>>).
  /// Called only after validate() accepted it. Return false + `error` if the swap failed; the
  /// old config must then still be serving.
  std::function<bool(const v1::AgentConfig& config, uint64_t version, v1::ConfigError* error)>
      apply;
  /// Fills counters, gauges and distinct_clients. The client sets agent_id, instance_uid and
  /// timestamp. Optional (no stats are sent when empty).
  std::function<void(v1::StatsReport* report)> fillStats;
  /// Optional: told about every drain state received.
  std::function<void(bool draining)> onDrain;
};

class ControllerClient {
 public:
  /// `appliedVersion`: the version now running (0 for bootstrap YAML, or the LKG version).
  ControllerClient(ControllerClientOptions options, ControllerCallbacks callbacks,
                   uint64_t appliedVersion);
  ~ControllerClient();
  ControllerClient(const ControllerClient&) = delete;
  ControllerClient& operator=(const ControllerClient&) = delete;

  /// Starts the background thread; returns immediately.
  void start();
  /// Cancels the stream, wakes any backoff sleep and joins all threads. Idempotent.
  void stop();

  bool connected() const { return connected_.load(std::memory_order_relaxed); }
  uint64_t appliedVersion() const { return appliedVersion_.load(std::memory_order_relaxed); }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  const std::string& instanceUid() const { return instanceUid_; }
  /// Streams opened so far (each dial that got a first controller message counts once).
  uint64_t sessions() const { return sessions_.load(std::memory_order_relaxed); }

 private:
  void run();
  void runOnce();
  bool sleepBackoff(std::chrono::milliseconds d);
  void handleSnapshot(const v1::ConfigSnapshot& snapshot, v1::AgentMessage* reply);
  void setConnected(bool c);

  ControllerClientOptions options_;
  ControllerCallbacks callbacks_;
  std::string instanceUid_;
  Backoff backoff_;

  std::atomic<uint64_t> appliedVersion_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> sessions_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                  // guarded by mu_
  grpc::ClientContext* active_ = nullptr;  // guarded by mu_; cancelled by stop()
  std::thread thread_;
};

/// A random RFC 4122 version 4 UUID string from `rng`.
std::string randomUuid(std::mt19937_64& rng);

}  // namespace teredo::agent

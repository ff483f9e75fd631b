// teredo-controller core: the Controller composes the agent registry (agent_registry.h), the
// config store with its versioned history (config_store.h), the per-agent push state machine
// (config_push.h, which states the push rules; docs/architecture.md, Control plane), the
// statistics aggregator (stats_aggregator.h) and the admin queries (admin_queries.h) behind one
// mutex. Pure logic: no gRPC, no threads, no sockets. Every call returns teredo::Status; the
// gRPC services in grpc_services.h translate streams and calls into these methods and convert
// statuses at the edge. Tests drive them directly with a fake clock and a fake nonce source.
//
// What changes are made durable: every published config version (before it is acknowledged
// to the operator), drain flags (before the Drain call returns) and NACKs (best effort).
//
// Thread-safety: every public method is thread-safe (one internal mutex). AgentSink::send and
// AgentSink::close are called with that mutex held: sinks must only enqueue and never call back.
// Ownership: the Controller owns its StateStore; sinks are owned by the caller and must stay
// valid until disconnect() returns for their session.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "admin_queries.h"
#include "agent_registry.h"
#include "base/status.h"
#include "clock.h"
#include "config_change.h"
#include "config_push.h"
#include "config_store.h"
#include "state_store.h"
#include "stats_aggregator.h"
#include "teredo/v1/admin.pb.h"
#include "teredo/v1/agent.pb.h"
#include "teredo/v1/stats.pb.h"

namespace teredo::controller {

struct ControllerOptions {
  std::chrono::milliseconds debounce{100};
  std::chrono::milliseconds debounceCeiling{10000};
  std::chrono::milliseconds ackTimeout{30000};
  std::chrono::milliseconds statsInterval{10000};
  /// History entries kept (oldest dropped first).
  size_t maxHistory = 256;
  /// Agents remembered (connected or not); new Hellos beyond it are refused.
  size_t maxAgents = 10000;
};

class Controller {
 public:
  /// `store` may be null (in-memory only). Call load() before anything else.
  Controller(ControllerOptions options, std::unique_ptr<StateStore> store,
             ConfigValidator validator, Clock clock, NonceSource nonces);

  /// Reads the persisted state. The store's error when it is unreadable.
  Status load();

  // ----- Agent stream -------------------------------------------------------------------------

  /// A stream sent its Hello. Validates it, registers the agent, sends Settings, Drain and (if
  /// needed) a snapshot, and returns the stream's session. A previous stream of the same agent
  /// id is closed (ABORTED). On error returns the status to end the stream with
  /// (INVALID_ARGUMENT with violations, RESOURCE_EXHAUSTED).
  StatusOr<SessionId> hello(const teredo::v1::Hello& hello, AgentSink* sink);
  void ack(SessionId session, const teredo::v1::Ack& ack);
  void nack(SessionId session, const teredo::v1::Nack& nack);
  void stats(SessionId session, const teredo::v1::StatsReport& report);
  /// The stream ended; the sink is no longer used after this returns.
  void disconnect(SessionId session);

  /// Publishes debounced changes and expires un-ACKed pushes. Call periodically (the gRPC
  /// wiring calls it every 50 ms; tests after advancing the clock).
  void tick();
  /// When tick() next has work (debounce flush or ack timeout), if any.
  std::optional<TimePoint> nextDeadline() const;

  // ----- Admin API ----------------------------------------------------------------------------

  Status listAgents(const teredo::v1::ListAgentsRequest& req,
                    teredo::v1::ListAgentsResponse* resp) const;
  Status getAgent(const teredo::v1::GetAgentRequest& req, teredo::v1::GetAgentResponse* resp) const;
  Status getFleetStats(const teredo::v1::GetFleetStatsRequest& req,
                       teredo::v1::GetFleetStatsResponse* resp) const;
  Status getNatStats(const teredo::v1::GetNatStatsRequest& req,
                     teredo::v1::GetNatStatsResponse* resp) const;
  Status getConfig(const teredo::v1::GetConfigRequest& req,
                   teredo::v1::GetConfigResponse* resp) const;
  /// Validates, then (unless dry_run or unchanged) publishes under a new version, persisted
  /// before it returns; agents get it after the debounce.
  /// `author` (the admin principal) is kept in the history entry; likewise rollback and forget.
  Status setConfig(const teredo::v1::SetConfigRequest& req, teredo::v1::SetConfigResponse* resp,
                   const std::string& author = {});
  Status listConfigVersions(const teredo::v1::ListConfigVersionsRequest& req,
                            teredo::v1::ListConfigVersionsResponse* resp) const;
  /// Republishes a version of the history under a new version.
  Status rollback(const teredo::v1::RollbackRequest& req, teredo::v1::RollbackResponse* resp,
                  const std::string& author = {});
  Status drain(const teredo::v1::DrainRequest& req, teredo::v1::DrainResponse* resp);
  Status undrain(const teredo::v1::UndrainRequest& req, teredo::v1::UndrainResponse* resp);
  /// Forgets a disconnected agent (record, drain, NACK, last report, override) under a new
  /// version "forget agent ID". FAILED_PRECONDITION while connected, NOT_FOUND if unknown (no
  /// record and no override), INVALID_ARGUMENT without an id.
  Status forgetAgent(const teredo::v1::ForgetAgentRequest& req,
                     teredo::v1::ForgetAgentResponse* resp, const std::string& author = {});

  // ----- Observability ------------------------------------------------------------------------

  /// A consistent copy of what /metrics exports.
  struct Snapshot {
    uint64_t version = 0;
    PushCounters pushes;
    uint64_t statsRestarts = 0;
    std::vector<teredo::v1::AgentStatus> agents;
    std::vector<teredo::v1::RoleStats> roles;  // server, relay, then fleet (ROLE_UNSPECIFIED)
  };
  Snapshot snapshot() const;
  uint64_t currentVersion() const;

  /// A reload changed controller.debounce or controller.stats_interval (any thread): see
  /// ConfigPush::setTiming().
  void setTiming(std::chrono::milliseconds debounce, std::chrono::milliseconds statsInterval);

 private:
  // Publishes a planned change (persisted first) and starts the debounce; the new version.
  StatusOr<uint64_t> publish(const ConfigChange& change, const std::string& comment,
                             const std::string& author);
  Status setDrain(const std::string& agentId, teredo::v1::Role role, bool draining,
                  google::protobuf::RepeatedPtrField<std::string>* ids);

  const ConfigValidator validator_;
  const Clock clock_;

  mutable std::mutex mu_;
  ConfigStore config_;
  AgentRegistry agents_;
  StatsAggregator stats_;
  ConfigPush push_;
  const AdminQueries queries_{agents_, config_, stats_};
};

}  // namespace teredo::controller

// teredo-controller core: the agent registry, the config store with its versioned history, the
// per-agent push state machine (docs/architecture.md, Control plane; rules below) and the
// statistics aggregator. Pure logic: no gRPC server, no threads, no sockets. The gRPC services in
// grpc_services.h translate streams and calls into these methods; tests drive them directly
// with a fake clock and a fake nonce source.
//
// Push rules:
//   - An agent's desired snapshot is its role defaults with its override merged on top
//     (proto MergeFrom). Its desired version is the fleet version at which that content last
//     changed, so a change to the relay defaults does not re-push servers.
//   - Operator changes are debounced fleet-wide: published `debounce` after the last change, at
//     most `debounceCeiling` after the first one. A (re)connecting agent is served at once.
//   - At most one unacknowledged push per agent. While one is in flight, newer content waits and
//     the newest replaces any older waiting content; it goes out when the ACK/NACK arrives (or
//     after `ackTimeout`).
//   - ACK/NACK are matched by nonce; stale ones are ignored (and counted).
//   - A NACKed version is never resent; the agent is parked until its content changes. The NACK
//     (version, reason, time) is kept, persisted, and reported by the admin API.
//
// Thread-safety: every public method is thread-safe (one internal mutex). AgentSink::send and
// AgentSink::close are called with that mutex held: sinks must only enqueue and never call back.
// Ownership: the Controller owns its StateStore; sinks are owned by the caller and must stay
// valid until disconnect() returns for their session.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include "teredo/v1/admin.pb.h"
#include "teredo/v1/agent.pb.h"
#include "teredo/v1/stats.pb.h"

#include <cmath>
#include <span>
#include "state_store.h"
#include "teredo/hyperloglog.h"

namespace teredo::controller {

/// The fleet-wide distinct-client sketch (stats.proto parameters; lib/teredo/hyperloglog.h).
using Hll = teredo::HyperLogLog;

/// Serialized registers as bytes (proto `bytes` fields are std::string).
inline std::span<const uint8_t> registerBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string registerString(const Hll& h) {
  return {reinterpret_cast<const char*>(h.registers().data()), h.registers().size()};
}

using Clock = std::function<std::chrono::system_clock::time_point()>;
using NonceSource = std::function<std::string()>;
using TimePoint = std::chrono::system_clock::time_point;

/// Validates one agent's whole config the way an agent would (lib/config proto translation).
/// Returns the violations; empty means valid. Fields are lib/config keys ("relay.max_peers"),
/// exactly as agents report them in a NACK.
using ConfigValidator =
    std::function<std::vector<teredo::v1::FieldViolation>(const teredo::v1::AgentConfig&)>;

/// Where the controller sends messages for one connected agent (one per stream).
class AgentSink {
 public:
  virtual ~AgentSink() = default;
  /// Queue a message for the stream. Must not block or call into the Controller.
  virtual void send(const teredo::v1::ControllerMessage& msg) = 0;
  /// End the stream with `status` (a newer stream for the same agent id replaced this one).
  virtual void close(const grpc::Status& status) = 0;
};

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

/// Counters of the push machinery (teredo_controller_pushes_total{result}).
struct PushCounters {
  uint64_t sent = 0;
  uint64_t acked = 0;
  uint64_t nacked = 0;
  uint64_t superseded = 0;
  uint64_t timedOut = 0;
  uint64_t staleReplies = 0;
  uint64_t nackResendsSuppressed = 0;
};

/// Returned by hello(): identifies the stream in later calls.
using SessionId = uint64_t;

/// Builds a grpc::Status whose binary details hold an RpcStatus with a BadRequest (admin.proto).
grpc::Status invalidArgument(const std::string& message,
                             const std::vector<teredo::v1::FieldViolation>& violations);
/// Decodes the violations of a status built by invalidArgument() (empty if none).
std::vector<teredo::v1::FieldViolation> fieldViolations(const grpc::Status& status);

/// Effective config of an agent of `role`: defaults of the role, override merged on top.
/// Returns nullopt when there is nothing to send (no defaults and no override of that role).
std::optional<teredo::v1::AgentConfig> effectiveConfig(const teredo::v1::FleetConfig& fleet,
                                                       teredo::v1::Role role,
                                                       const std::string& agentId);

/// Fleet and per-role aggregation of StatsReports (deltas of cumulative counters).
/// Thread-safety: none; the Controller serialises access.
class StatsAggregator {
 public:
  /// Adds a report of `agentId` (role from its Hello). A new instance_uid or any counter going
  /// down is a restart: the report counts from zero.
  void addReport(const std::string& agentId, teredo::v1::Role role,
                 const teredo::v1::StatsReport& report);
  /// The agent disconnected: its gauges no longer count.
  void disconnect(const std::string& agentId);
  /// Aggregate for `role`; ROLE_UNSPECIFIED = whole fleet.
  teredo::v1::RoleStats roleStats(teredo::v1::Role role) const;
  const Hll& sketch(teredo::v1::Role role) const;
  /// The agent's last report, or nullptr.
  const teredo::v1::StatsReport* lastReport(const std::string& agentId) const;
  /// Packets per second of the agent's last interval (UDP received).
  double udpPacketsPerSecond(const std::string& agentId) const;
  /// Reports that were restarts (new instance or counters going down).
  uint64_t restarts() const { return restarts_; }

 private:
  struct PerAgent {
    teredo::v1::Role role = teredo::v1::ROLE_UNSPECIFIED;
    teredo::v1::StatsReport last;
    bool connected = true;
    double udpPps = 0;
  };
  struct PerRole {
    teredo::v1::StatsCounters counters;
    Hll hll;
  };
  PerRole& perRole(teredo::v1::Role role);
  const PerRole* findRole(teredo::v1::Role role) const;

  std::map<std::string, PerAgent> agents_;
  std::map<int, PerRole> roles_;  // key: Role; ROLE_UNSPECIFIED holds the fleet
  uint64_t restarts_ = 0;
};

class Controller {
 public:
  /// `store` may be null (in-memory only). Call load() before anything else.
  Controller(ControllerOptions options, std::unique_ptr<StateStore> store,
             ConfigValidator validator, Clock clock, NonceSource nonces);

  /// Reads the persisted state. False (with `error`) when the store is unreadable.
  bool load(std::string* error);

  // ----- Agent stream -------------------------------------------------------------------------

  /// A stream sent its Hello. Validates it, registers the agent, sends Settings, Drain and (if
  /// needed) a snapshot. A previous stream of the same agent id is closed (ABORTED). On error
  /// returns the status to end the stream with (INVALID_ARGUMENT, RESOURCE_EXHAUSTED).
  grpc::Status hello(const teredo::v1::Hello& hello, AgentSink* sink, SessionId* session);
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

  grpc::Status listAgents(const teredo::v1::ListAgentsRequest& req,
                          teredo::v1::ListAgentsResponse* resp) const;
  grpc::Status getAgent(const teredo::v1::GetAgentRequest& req,
                        teredo::v1::GetAgentResponse* resp) const;
  grpc::Status getFleetStats(const teredo::v1::GetFleetStatsRequest& req,
                             teredo::v1::GetFleetStatsResponse* resp) const;
  grpc::Status getNatStats(const teredo::v1::GetNatStatsRequest& req,
                           teredo::v1::GetNatStatsResponse* resp) const;
  grpc::Status getConfig(const teredo::v1::GetConfigRequest& req,
                         teredo::v1::GetConfigResponse* resp) const;
  grpc::Status setConfig(const teredo::v1::SetConfigRequest& req,
                         teredo::v1::SetConfigResponse* resp);
  grpc::Status listConfigVersions(const teredo::v1::ListConfigVersionsRequest& req,
                                  teredo::v1::ListConfigVersionsResponse* resp) const;
  grpc::Status rollback(const teredo::v1::RollbackRequest& req, teredo::v1::RollbackResponse* resp);
  grpc::Status drain(const teredo::v1::DrainRequest& req, teredo::v1::DrainResponse* resp);
  grpc::Status undrain(const teredo::v1::UndrainRequest& req, teredo::v1::UndrainResponse* resp);

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

 private:
  struct Pending {
    uint64_t version = 0;
    std::string nonce;
    TimePoint sentAt;
  };
  struct Agent {
    std::string id;
    teredo::v1::Hello hello;
    bool known = false;  // a Hello was seen since the controller started
    bool connected = false;
    SessionId session = 0;
    AgentSink* sink = nullptr;
    TimePoint connectedSince;
    TimePoint lastSeen;
    // Desired content and the version at which it last changed (0: nothing to send).
    uint64_t desiredVersion = 0;
    std::optional<teredo::v1::AgentConfig> desired;
    TimePoint desiredSince;
    uint64_t sentVersion = 0;
    uint64_t appliedVersion = 0;
    std::optional<Pending> inFlight;
    std::optional<teredo::v1::NackInfo> lastNack;
    bool draining = false;
  };

  grpc::Status checkTarget(const teredo::v1::SetConfigRequest& req,
                           teredo::v1::FleetConfig* next) const;
  std::vector<teredo::v1::FieldViolation> validateFleet(const teredo::v1::FleetConfig& fleet,
                                                        const std::string& onlyAgent,
                                                        teredo::v1::Role onlyRole) const;
  teredo::v1::Role roleOf(const std::string& agentId, const teredo::v1::FleetConfig& f) const;
  std::vector<std::string> affectedAgents(const teredo::v1::FleetConfig& next) const;
  grpc::Status publish(const teredo::v1::FleetConfig& next, const std::string& description,
                       const std::string& comment, uint64_t rollbackOf, uint64_t* version);
  // Recomputes the desired snapshot of one agent from current_; true if it changed.
  bool refreshDesired(Agent& agent, TimePoint now);
  void flushChanges(TimePoint now);
  void trySend(Agent& agent, TimePoint now);
  void sendDrain(Agent& agent);
  bool persist(std::string* error);
  teredo::v1::AgentStatus statusOf(const Agent& agent, TimePoint now) const;
  Agent* findSession(SessionId session);
  grpc::Status setDrain(const std::string& agentId, teredo::v1::Role role, bool draining,
                        google::protobuf::RepeatedPtrField<std::string>* ids);

  const ControllerOptions options_;
  std::unique_ptr<StateStore> store_;
  ConfigValidator validator_;
  Clock clock_;
  NonceSource nonces_;

  mutable std::mutex mu_;
  teredo::v1::ControllerState state_;  // current config, history, last version
  std::map<std::string, Agent> agents_;
  SessionId nextSession_ = 1;
  // Debounce: set while operator changes wait to be published.
  std::optional<TimePoint> firstChange_;
  TimePoint lastChange_;
  PushCounters pushes_;
  StatsAggregator stats_;
};

}  // namespace teredo::controller

// The controller's agent registry: one record per agent id, connected or not (what its Hello
// said, its stream session and sink, the push bookkeeping ConfigPush keeps on it, its last NACK
// and drain flag), looked up by agent id or by stream session. The records with something to
// remember across a controller restart (a NACK, a drain flag) convert to and from the
// StoredAgent entries of the persisted state.
//
// Thread-safety: none; the Controller serialises access under its mutex. AgentSink::send and
// AgentSink::close are called with that mutex held: sinks must only enqueue and never call back.
// Ownership: owns the records; borrows each connected agent's AgentSink, which the caller keeps
// valid until disconnect() returns for its session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "clock.h"
#include "teredo/v1/admin.pb.h"
#include "teredo/v1/agent.pb.h"

namespace teredo::controller {

/// Where the controller sends messages for one connected agent (one per stream).
class AgentSink {
 public:
  virtual ~AgentSink() = default;
  /// Queue a message for the stream. Must not block or call into the Controller.
  virtual void send(const teredo::v1::ControllerMessage& msg) = 0;
  /// End the stream with `status` (a newer stream for the same agent id replaced this one).
  virtual void close(const Status& status) = 0;
};

/// Returned by hello(): identifies the stream in later calls.
using SessionId = uint64_t;

/// A snapshot sent and not yet ACKed or NACKed.
struct PendingPush {
  uint64_t version = 0;
  std::string nonce;
  TimePoint sentAt;
};

/// Everything the controller knows about one agent.
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
  std::optional<PendingPush> inFlight;
  std::optional<teredo::v1::NackInfo> lastNack;
  bool draining = false;
};

class AgentRegistry {
 public:
  /// Remembers at most `maxAgents` agents (connected or not).
  explicit AgentRegistry(size_t maxAgents) : maxAgents_(maxAgents) {}

  /// Registers the stream of an agent that sent a (validated) Hello and returns its record,
  /// with a new session. A previous stream of the same agent id is closed (ABORTED); a role
  /// change drops the desired config computed for the old role; the push in flight is
  /// forgotten. RESOURCE_EXHAUSTED when the agent is new and `maxAgents` are remembered.
  StatusOr<Agent*> connect(const teredo::v1::Hello& hello, AgentSink* sink, TimePoint now);
  /// The connected agent of `session`, or nullptr (ended or replaced stream).
  Agent* findSession(SessionId session);
  /// Marks the agent of `session` disconnected and forgets its sink and push in flight.
  /// Returns it, or nullptr when the session is not (or no longer) connected.
  Agent* disconnect(SessionId session, TimePoint now);

  /// Drops the record of a disconnected agent; false if unknown or connected (nothing changes).
  bool forget(const std::string& agentId);

  Agent* find(const std::string& agentId);
  const Agent* find(const std::string& agentId) const;
  /// Every record, ordered by agent id.
  std::map<std::string, Agent>& all() { return agents_; }
  const std::map<std::string, Agent>& all() const { return agents_; }

  /// The role of `agentId`: from its Hello when one was seen, else from its override in
  /// `fleet`; ROLE_UNSPECIFIED when neither exists.
  teredo::v1::Role roleOf(const std::string& agentId, const teredo::v1::FleetConfig& fleet) const;

  /// Recreates the records of a persisted state (id, role, drain flag, last NACK).
  void restore(const google::protobuf::RepeatedPtrField<teredo::v1::StoredAgent>& stored);
  /// The records worth persisting: agents draining or with a NACK, ordered by agent id.
  std::vector<teredo::v1::StoredAgent> remembered() const;

 private:
  const size_t maxAgents_;
  std::map<std::string, Agent> agents_;
  SessionId nextSession_ = 1;
};

}  // namespace teredo::controller

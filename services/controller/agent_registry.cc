#include "agent_registry.h"

#include "fleet_config.h"

namespace teredo::controller {

using teredo::v1::Role;

StatusOr<Agent*> AgentRegistry::connect(const teredo::v1::Hello& hello, AgentSink* sink,
                                        TimePoint now) {
  if (agents_.size() >= maxAgents_ && agents_.count(hello.agent_id()) == 0) {
    return Status::error(StatusCode::kResourceExhausted, "too many agents");
  }
  Agent& a = agents_[hello.agent_id()];
  if (a.connected && a.sink != nullptr) {
    a.sink->close(Status::error(StatusCode::kAborted, "replaced by a newer stream"));
  }
  if (a.hello.role() != hello.role()) {
    a.desired.reset();  // a role change invalidates whatever was computed before
    a.desiredVersion = 0;
  }
  a.id = hello.agent_id();
  a.hello = hello;
  a.known = true;
  a.connected = true;
  a.session = nextSession_++;
  a.sink = sink;
  a.connectedSince = now;
  a.lastSeen = now;
  a.appliedVersion = hello.applied_version();
  a.sentVersion = 0;
  a.inFlight.reset();
  return &a;
}

Agent* AgentRegistry::findSession(SessionId session) {
  for (auto& [id, a] : agents_) {
    if (a.connected && a.session == session) {
      return &a;
    }
  }
  return nullptr;
}

Agent* AgentRegistry::disconnect(SessionId session, TimePoint now) {
  Agent* a = findSession(session);
  if (a == nullptr) {
    return nullptr;
  }
  a->connected = false;
  a->sink = nullptr;
  a->inFlight.reset();
  a->lastSeen = now;
  return a;
}

bool AgentRegistry::forget(const std::string& agentId) {
  const auto it = agents_.find(agentId);
  if (it == agents_.end() || it->second.connected) {
    return false;
  }
  agents_.erase(it);
  return true;
}

Agent* AgentRegistry::find(const std::string& agentId) {
  const auto it = agents_.find(agentId);
  return it == agents_.end() ? nullptr : &it->second;
}

const Agent* AgentRegistry::find(const std::string& agentId) const {
  const auto it = agents_.find(agentId);
  return it == agents_.end() ? nullptr : &it->second;
}

Role AgentRegistry::roleOf(const std::string& agentId, const teredo::v1::FleetConfig& fleet) const {
  const auto it = agents_.find(agentId);
  if (it != agents_.end() && it->second.hello.role() != teredo::v1::ROLE_UNSPECIFIED) {
    return it->second.hello.role();
  }
  const auto o = fleet.agent_overrides().find(agentId);
  return o == fleet.agent_overrides().end() ? teredo::v1::ROLE_UNSPECIFIED
                                            : roleOfConfig(o->second);
}

void AgentRegistry::restore(
    const google::protobuf::RepeatedPtrField<teredo::v1::StoredAgent>& stored) {
  for (const auto& s : stored) {
    Agent& a = agents_[s.agent_id()];
    a.id = s.agent_id();
    a.hello.set_agent_id(s.agent_id());
    a.hello.set_role(s.role());
    a.draining = s.draining();
    if (s.has_last_nack()) {
      a.lastNack = s.last_nack();
    }
  }
}

std::vector<teredo::v1::StoredAgent> AgentRegistry::remembered() const {
  std::vector<teredo::v1::StoredAgent> out;
  for (const auto& [id, a] : agents_) {
    if (!a.draining && !a.lastNack) {
      continue;
    }
    teredo::v1::StoredAgent& s = out.emplace_back();
    s.set_agent_id(id);
    s.set_role(a.hello.role());
    s.set_draining(a.draining);
    if (a.lastNack) {
      *s.mutable_last_nack() = *a.lastNack;
    }
  }
  return out;
}

}  // namespace teredo::controller

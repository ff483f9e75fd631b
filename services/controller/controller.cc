#include "controller.h"

#include <utility>

#include "agent/log.h"
#include "config/proto_translate.h"

namespace teredo::controller {

using teredo::v1::Role;

namespace {

Status checkHello(const teredo::v1::Hello& hello) {
  std::vector<Violation> bad;
  if (hello.agent_id().empty() || hello.agent_id().size() > 253) {
    bad.push_back(fieldViolation("agent_id", "must be 1-253 characters"));
  }
  if (hello.instance_uid().empty()) {
    bad.push_back(fieldViolation("instance_uid", "must be set"));
  }
  if (hello.role() != teredo::v1::ROLE_SERVER && hello.role() != teredo::v1::ROLE_RELAY) {
    bad.push_back(fieldViolation("role", "must be ROLE_SERVER or ROLE_RELAY"));
  }
  if (!bad.empty()) {
    return Status::invalid(std::move(bad), "invalid Hello");
  }
  return Status();
}

}  // namespace

Controller::Controller(ControllerOptions options, std::unique_ptr<StateStore> store,
                       ConfigValidator validator, Clock clock, NonceSource nonces)
    : validator_(std::move(validator)),
      clock_(std::move(clock)),
      config_(std::move(store), options.maxHistory),
      agents_(options.maxAgents),
      push_(PushOptions{options.debounce, options.debounceCeiling, options.ackTimeout,
                        options.statsInterval},
            std::move(nonces)) {}

Status Controller::load() {
  std::lock_guard lock(mu_);
  if (Status s = config_.load(); !s.ok()) {
    return s;
  }
  agents_.restore(config_.rememberedAgents());
  return Status();
}

uint64_t Controller::currentVersion() const {
  std::lock_guard lock(mu_);
  return config_.version();
}

void Controller::setTiming(std::chrono::milliseconds debounce,
                           std::chrono::milliseconds statsInterval) {
  std::lock_guard lock(mu_);
  push_.setTiming(debounce, statsInterval, agents_);
}

// ----- Agent stream -----------------------------------------------------------------------------

StatusOr<SessionId> Controller::hello(const teredo::v1::Hello& hello, AgentSink* sink) {
  if (Status s = checkHello(hello); !s.ok()) {
    TEREDO_LOG(agent::LogLevel::Warn, "agent refused", {"agent", hello.agent_id()},
               {"error", s.message()});
    return s;
  }
  std::lock_guard lock(mu_);
  const TimePoint now = clock_();
  StatusOr<Agent*> agent = agents_.connect(hello, sink, now);
  if (!agent.ok()) {
    TEREDO_LOG(agent::LogLevel::Warn, "agent refused", {"agent", hello.agent_id()},
               {"error", agent.status().message()});
    return agent.status();
  }
  TEREDO_LOG(agent::LogLevel::Info, "agent connected", {"agent", hello.agent_id()},
             {"role", std::string(config::roleName(hello.role()))},
             {"applied_version", static_cast<unsigned long>(hello.applied_version())},
             {"build", hello.build_version()});
  push_.connected(**agent, config_, now);
  return (*agent)->session;
}

void Controller::ack(SessionId session, const teredo::v1::Ack& ack) {
  std::lock_guard lock(mu_);
  Agent* a = agents_.findSession(session);
  if (a == nullptr) {
    return;
  }
  const TimePoint now = clock_();
  a->lastSeen = now;
  push_.ack(*a, ack, now);
}

void Controller::nack(SessionId session, const teredo::v1::Nack& nack) {
  std::lock_guard lock(mu_);
  Agent* a = agents_.findSession(session);
  if (a == nullptr) {
    return;
  }
  const TimePoint now = clock_();
  a->lastSeen = now;
  if (!push_.nack(*a, nack, now)) {
    return;
  }
  TEREDO_LOG(agent::LogLevel::Warn, "config NACKed", {"agent", a->id},
             {"version", static_cast<unsigned long>(nack.version())},
             {"error", nack.error_detail().message()});
  // Best effort: losing it only risks one resend after a controller restart.
  (void)config_.save(agents_.remembered());
  push_.trySend(*a, now);
}

void Controller::stats(SessionId session, const teredo::v1::StatsReport& report) {
  std::lock_guard lock(mu_);
  Agent* a = agents_.findSession(session);
  if (a == nullptr) {
    return;
  }
  a->lastSeen = clock_();
  if (!report.agent_id().empty() && report.agent_id() != a->id) {
    return;
  }
  stats_.addReport(a->id, a->hello.role(), report);
}

void Controller::disconnect(SessionId session) {
  std::lock_guard lock(mu_);
  if (const Agent* a = agents_.disconnect(session, clock_())) {
    stats_.disconnect(a->id);
    TEREDO_LOG(agent::LogLevel::Info, "agent disconnected", {"agent", a->id});
  }
}

void Controller::tick() {
  std::lock_guard lock(mu_);
  push_.tick(agents_, config_, clock_());
}

std::optional<TimePoint> Controller::nextDeadline() const {
  std::lock_guard lock(mu_);
  return push_.nextDeadline(agents_);
}

// ----- Admin: changes ---------------------------------------------------------------------------

StatusOr<uint64_t> Controller::publish(const ConfigChange& change, const std::string& comment,
                                       const std::string& author) {
  const TimePoint now = clock_();
  StatusOr<uint64_t> version =
      config_.publish(change.next, change.description, comment, change.rollbackOf, now,
                      agents_.remembered(), author);
  if (version.ok()) {
    push_.changed(now);
    TEREDO_LOG(agent::LogLevel::Info, "config published",
               {"version", static_cast<unsigned long>(*version)}, {"change", change.description},
               {"author", author.empty() ? "-" : author});
  }
  return version;
}

Status Controller::setConfig(const teredo::v1::SetConfigRequest& req,
                             teredo::v1::SetConfigResponse* resp, const std::string& author) {
  std::lock_guard lock(mu_);
  StatusOr<ConfigChange> change = planSetConfig(req, config_, agents_, validator_);
  if (!change.ok()) {
    return change.status();
  }
  for (auto& id : change->affected) {
    resp->add_affected_agents(std::move(id));
  }
  resp->set_changed(change->changed);
  resp->set_dry_run(req.dry_run());
  resp->set_version(config_.version());
  if (req.dry_run() || !change->changed) {
    return Status();
  }
  StatusOr<uint64_t> version = publish(*change, req.comment(), author);
  if (!version.ok()) {
    return version.status();
  }
  resp->set_version(*version);
  return Status();
}

Status Controller::rollback(const teredo::v1::RollbackRequest& req,
                            teredo::v1::RollbackResponse* resp, const std::string& author) {
  std::lock_guard lock(mu_);
  StatusOr<ConfigChange> change = planRollback(req, config_, agents_, validator_);
  if (!change.ok()) {
    return change.status();
  }
  for (auto& id : change->affected) {
    resp->add_affected_agents(std::move(id));
  }
  resp->set_dry_run(req.dry_run());
  resp->set_version(config_.version());
  if (req.dry_run()) {
    return Status();
  }
  StatusOr<uint64_t> version = publish(*change, req.comment(), author);
  if (!version.ok()) {
    return version.status();
  }
  resp->set_version(*version);
  return Status();
}

Status Controller::setDrain(const std::string& agentId, Role role, bool draining,
                            google::protobuf::RepeatedPtrField<std::string>* ids) {
  std::lock_guard lock(mu_);
  std::vector<Agent*> targets;
  if (!agentId.empty()) {
    Agent* a = agents_.find(agentId);
    if (a == nullptr) {
      return Status::error(StatusCode::kNotFound, "agent " + agentId + " is unknown");
    }
    targets.push_back(a);
  } else if (role == teredo::v1::ROLE_SERVER || role == teredo::v1::ROLE_RELAY) {
    for (auto& [id, a] : agents_.all()) {
      if (a.hello.role() == role) {
        targets.push_back(&a);
      }
    }
  } else {
    return Status::invalid({fieldViolation("agent_id", "set agent_id or role")}, "no target");
  }
  for (Agent* a : targets) {
    ids->Add(std::string(a->id));
    if (a->draining != draining) {
      a->draining = draining;
      push_.sendDrain(*a);
    }
  }
  if (Status s = config_.save(agents_.remembered()); !s.ok()) {
    return Status::error(StatusCode::kUnavailable,
                         "drain applied but not persisted: " + s.message());
  }
  return Status();
}

Status Controller::drain(const teredo::v1::DrainRequest& req, teredo::v1::DrainResponse* resp) {
  return setDrain(req.agent_id(), req.role(), true, resp->mutable_agent_ids());
}

Status Controller::undrain(const teredo::v1::UndrainRequest& req,
                           teredo::v1::UndrainResponse* resp) {
  return setDrain(req.agent_id(), req.role(), false, resp->mutable_agent_ids());
}

Status Controller::forgetAgent(const teredo::v1::ForgetAgentRequest& req,
                               teredo::v1::ForgetAgentResponse* resp, const std::string& author) {
  std::lock_guard lock(mu_);
  const std::string& id = req.agent_id();
  if (id.empty()) {
    return Status::invalid({fieldViolation("agent_id", "is required")}, "no agent");
  }
  const Agent* a = agents_.find(id);
  const bool hasOverride = config_.current().agent_overrides().contains(id);
  if (a == nullptr && !hasOverride) {
    return Status::error(StatusCode::kNotFound, "agent " + id + " is unknown");
  }
  if (a != nullptr && a->connected) {
    return Status::error(StatusCode::kFailedPrecondition,
                         "agent " + id + " is connected; stop it before forgetting it");
  }
  // The record goes first, so that the version below persists the remembered agents without
  // it; if persisting fails, the record comes back.
  std::optional<Agent> removed;
  if (a != nullptr) {
    removed = *a;
    agents_.forget(id);
  }
  ConfigChange change;
  change.next = config_.current();
  change.next.mutable_agent_overrides()->erase(id);
  change.changed = hasOverride;
  change.description = "forget agent " + id;
  StatusOr<uint64_t> version = publish(change, req.comment(), author);
  if (!version.ok()) {
    if (removed) {
      agents_.all().emplace(id, std::move(*removed));
    }
    return version.status();
  }
  stats_.forget(id);
  resp->set_version(*version);
  resp->set_override_removed(hasOverride);
  return Status();
}

// ----- Admin: queries ---------------------------------------------------------------------------

Status Controller::listAgents(const teredo::v1::ListAgentsRequest& req,
                              teredo::v1::ListAgentsResponse* resp) const {
  std::lock_guard lock(mu_);
  return queries_.listAgents(req, clock_(), resp);
}

Status Controller::getAgent(const teredo::v1::GetAgentRequest& req,
                            teredo::v1::GetAgentResponse* resp) const {
  std::lock_guard lock(mu_);
  return queries_.getAgent(req, clock_(), resp);
}

Status Controller::getFleetStats(const teredo::v1::GetFleetStatsRequest& req,
                                 teredo::v1::GetFleetStatsResponse* resp) const {
  std::lock_guard lock(mu_);
  return queries_.getFleetStats(req, clock_(), resp);
}

Status Controller::getNatStats(const teredo::v1::GetNatStatsRequest& req,
                               teredo::v1::GetNatStatsResponse* resp) const {
  std::lock_guard lock(mu_);
  return queries_.getNatStats(req, resp);
}

Status Controller::getConfig(const teredo::v1::GetConfigRequest& req,
                             teredo::v1::GetConfigResponse* resp) const {
  std::lock_guard lock(mu_);
  return queries_.getConfig(req, resp);
}

Status Controller::listConfigVersions(const teredo::v1::ListConfigVersionsRequest& req,
                                      teredo::v1::ListConfigVersionsResponse* resp) const {
  std::lock_guard lock(mu_);
  return queries_.listConfigVersions(req, resp);
}

Controller::Snapshot Controller::snapshot() const {
  std::lock_guard lock(mu_);
  Snapshot out;
  const TimePoint now = clock_();
  out.version = config_.version();
  out.pushes = push_.counters();
  out.statsRestarts = stats_.restarts();
  for (const auto& [id, a] : agents_.all()) {
    out.agents.push_back(queries_.agentStatus(a, now));
  }
  for (Role role :
       {teredo::v1::ROLE_SERVER, teredo::v1::ROLE_RELAY, teredo::v1::ROLE_UNSPECIFIED}) {
    out.roles.push_back(stats_.roleStats(role));
  }
  return out;
}

}  // namespace teredo::controller

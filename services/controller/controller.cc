#include "controller.h"

#include <algorithm>
#include <set>
#include <string_view>

#include <google/protobuf/util/message_differencer.h>

#include "teredo/drop_reason.h"

namespace teredo::controller {

using google::protobuf::util::MessageDifferencer;
using teredo::v1::AgentConfig;
using teredo::v1::FieldViolation;
using teredo::v1::FleetConfig;
using teredo::v1::Role;

namespace {

constexpr const char* kBadRequestType = "type.googleapis.com/google.rpc.BadRequest";

void toTimestamp(TimePoint t, google::protobuf::Timestamp* out) {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  out->set_seconds(ns / 1000000000);
  out->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

double secondsBetween(TimePoint from, TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

Role roleOfConfig(const AgentConfig& config) {
  switch (config.role_case()) {
    case AgentConfig::kServer:
      return teredo::v1::ROLE_SERVER;
    case AgentConfig::kRelay:
      return teredo::v1::ROLE_RELAY;
    default:
      return teredo::v1::ROLE_UNSPECIFIED;
  }
}

const char* roleName(Role role) {
  switch (role) {
    case teredo::v1::ROLE_SERVER:
      return "server";
    case teredo::v1::ROLE_RELAY:
      return "relay";
    default:
      return "unspecified";
  }
}

FieldViolation violation(const std::string& field, const std::string& description) {
  FieldViolation v;
  v.set_field(field);
  v.set_description(description);
  return v;
}

bool equalConfigs(const std::optional<AgentConfig>& a, const std::optional<AgentConfig>& b) {
  if (a.has_value() != b.has_value()) {
    return false;
  }
  return !a.has_value() || MessageDifferencer::Equals(*a, *b);
}

// ----- Counter arithmetic over StatsCounters (reflection: every scalar is a uint64 counter) ---

const std::set<std::string_view>& knownDropLabels() {
  static const std::set<std::string_view> labels = [] {
    std::set<std::string_view> s;
    for (size_t i = 0; i < kDropReasonCount; ++i) {
      s.insert(dropReasonLabel(static_cast<DropReason>(i)));
    }
    return s;
  }();
  return labels;
}

bool anyDecrease(const google::protobuf::Message& now, const google::protobuf::Message& before) {
  const auto* desc = now.GetDescriptor();
  const auto* rn = now.GetReflection();
  const auto* rb = before.GetReflection();
  for (int i = 0; i < desc->field_count(); ++i) {
    const auto* f = desc->field(i);
    if (f->is_map() || f->is_repeated()) {
      continue;  // drops: handled by the caller
    }
    if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (anyDecrease(rn->GetMessage(now, f), rb->GetMessage(before, f))) {
        return true;
      }
    } else if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_UINT64) {
      if (rn->GetUInt64(now, f) < rb->GetUInt64(before, f)) {
        return true;
      }
    }
  }
  return false;
}

// acc += now - base, field by field (caller guarantees now >= base).
void addDiff(google::protobuf::Message* acc, const google::protobuf::Message& now,
             const google::protobuf::Message* base) {
  const auto* desc = now.GetDescriptor();
  const auto* ra = acc->GetReflection();
  const auto* rn = now.GetReflection();
  for (int i = 0; i < desc->field_count(); ++i) {
    const auto* f = desc->field(i);
    if (f->is_map() || f->is_repeated()) {
      continue;
    }
    if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (!rn->HasField(now, f)) {
        continue;
      }
      const google::protobuf::Message* b =
          base != nullptr ? &base->GetReflection()->GetMessage(*base, f) : nullptr;
      addDiff(ra->MutableMessage(acc, f), rn->GetMessage(now, f), b);
    } else if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_UINT64) {
      const uint64_t b = base != nullptr ? base->GetReflection()->GetUInt64(*base, f) : 0;
      ra->SetUInt64(acc, f, ra->GetUInt64(*acc, f) + (rn->GetUInt64(now, f) - b));
    }
  }
}

void addCounters(teredo::v1::StatsCounters* acc, const teredo::v1::StatsCounters& now,
                 const teredo::v1::StatsCounters* base) {
  addDiff(acc, now, base);
  for (const auto& [label, value] : now.drops()) {
    if (knownDropLabels().count(label) == 0) {
      continue;  // bounded labels only: unknown reasons are not aggregated
    }
    uint64_t b = 0;
    if (base != nullptr) {
      const auto it = base->drops().find(label);
      b = it != base->drops().end() ? it->second : 0;
    }
    (*acc->mutable_drops())[label] += value - b;
  }
}

bool dropsDecrease(const teredo::v1::StatsCounters& now, const teredo::v1::StatsCounters& before) {
  for (const auto& [label, value] : before.drops()) {
    const auto it = now.drops().find(label);
    if (it == now.drops().end() || it->second < value) {
      return true;
    }
  }
  return false;
}

uint64_t totalDrops(const teredo::v1::StatsCounters& c) {
  uint64_t sum = 0;
  for (const auto& [label, value] : c.drops()) {
    sum += value;
  }
  return sum;
}

}  // namespace

grpc::Status invalidArgument(const std::string& message,
                             const std::vector<FieldViolation>& violations) {
  teredo::v1::BadRequest bad;
  for (const auto& v : violations) {
    *bad.add_field_violations() = v;
  }
  teredo::v1::RpcStatus status;
  status.set_code(grpc::StatusCode::INVALID_ARGUMENT);
  status.set_message(message);
  auto* any = status.add_details();
  any->set_type_url(kBadRequestType);
  any->set_value(bad.SerializeAsString());
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message, status.SerializeAsString());
}

std::vector<FieldViolation> fieldViolations(const grpc::Status& status) {
  std::vector<FieldViolation> out;
  teredo::v1::RpcStatus rpc;
  if (status.error_details().empty() || !rpc.ParseFromString(status.error_details())) {
    return out;
  }
  for (const auto& any : rpc.details()) {
    teredo::v1::BadRequest bad;
    if (any.type_url() == kBadRequestType && bad.ParseFromString(any.value())) {
      out.insert(out.end(), bad.field_violations().begin(), bad.field_violations().end());
    }
  }
  return out;
}

std::optional<AgentConfig> effectiveConfig(const FleetConfig& fleet, Role role,
                                           const std::string& agentId) {
  const AgentConfig* defaults = nullptr;
  bool hasDefaults = false;
  if (role == teredo::v1::ROLE_SERVER) {
    defaults = &fleet.server_defaults();
    hasDefaults = defaults->has_server();
  } else if (role == teredo::v1::ROLE_RELAY) {
    defaults = &fleet.relay_defaults();
    hasDefaults = defaults->has_relay();
  } else {
    return std::nullopt;
  }
  const auto it = fleet.agent_overrides().find(agentId);
  const bool hasOverride = it != fleet.agent_overrides().end() && roleOfConfig(it->second) == role;
  if (!hasDefaults && !hasOverride) {
    return std::nullopt;
  }
  AgentConfig out;
  if (hasDefaults) {
    out = *defaults;
  }
  if (hasOverride) {
    out.MergeFrom(it->second);
  }
  return out;
}

// ----- StatsAggregator --------------------------------------------------------------------------

StatsAggregator::PerRole& StatsAggregator::perRole(Role role) {
  return roles_[role];
}

const StatsAggregator::PerRole* StatsAggregator::findRole(Role role) const {
  const auto it = roles_.find(role);
  return it == roles_.end() ? nullptr : &it->second;
}

void StatsAggregator::addReport(const std::string& agentId, Role role,
                                const teredo::v1::StatsReport& report) {
  auto [it, inserted] = agents_.try_emplace(agentId);
  PerAgent& agent = it->second;
  const bool restart = inserted || agent.last.instance_uid() != report.instance_uid() ||
                       anyDecrease(report.counters(), agent.last.counters()) ||
                       dropsDecrease(report.counters(), agent.last.counters());
  if (restart && !inserted) {
    ++restarts_;
  }
  const teredo::v1::StatsCounters* base = restart ? nullptr : &agent.last.counters();
  for (Role r : {role, teredo::v1::ROLE_UNSPECIFIED}) {
    PerRole& pr = perRole(r);
    addCounters(&pr.counters, report.counters(), base);
    if (report.has_distinct_clients()) {
      pr.hll.merge(report.distinct_clients().precision(),
                   registerBytes(report.distinct_clients().registers()));
    }
  }
  agent.udpPps = 0;
  if (!restart) {
    const int64_t dtNanos =
        (report.timestamp().seconds() - agent.last.timestamp().seconds()) * 1000000000LL +
        (report.timestamp().nanos() - agent.last.timestamp().nanos());
    if (dtNanos > 0) {
      const uint64_t packets = report.counters().traffic().udp_received().packets() -
                               agent.last.counters().traffic().udp_received().packets();
      agent.udpPps = static_cast<double>(packets) * 1e9 / static_cast<double>(dtNanos);
    }
  }
  agent.role = role;
  agent.last = report;
  agent.connected = true;
}

void StatsAggregator::disconnect(const std::string& agentId) {
  const auto it = agents_.find(agentId);
  if (it != agents_.end()) {
    it->second.connected = false;
    it->second.udpPps = 0;
  }
}

teredo::v1::RoleStats StatsAggregator::roleStats(Role role) const {
  teredo::v1::RoleStats out;
  out.set_role(role);
  if (const PerRole* pr = findRole(role)) {
    *out.mutable_counters() = pr->counters;
    out.set_distinct_clients(static_cast<uint64_t>(std::llround(pr->hll.estimate())));
  }
  for (const auto& [id, agent] : agents_) {
    if (role != teredo::v1::ROLE_UNSPECIFIED && agent.role != role) {
      continue;
    }
    out.set_agents_total(out.agents_total() + 1);
    if (agent.connected) {
      out.set_agents_connected(out.agents_connected() + 1);
      addDiff(out.mutable_gauges(), agent.last.gauges(), nullptr);
    }
  }
  return out;
}

const Hll& StatsAggregator::sketch(Role role) const {
  static const Hll kEmpty;
  const PerRole* pr = findRole(role);
  return pr != nullptr ? pr->hll : kEmpty;
}

const teredo::v1::StatsReport* StatsAggregator::lastReport(const std::string& agentId) const {
  const auto it = agents_.find(agentId);
  return it == agents_.end() ? nullptr : &it->second.last;
}

double StatsAggregator::udpPacketsPerSecond(const std::string& agentId) const {
  const auto it = agents_.find(agentId);
  return it == agents_.end() ? 0 : it->second.udpPps;
}

// ----- Controller -------------------------------------------------------------------------------

Controller::Controller(ControllerOptions options, std::unique_ptr<StateStore> store,
                       ConfigValidator validator, Clock clock, NonceSource nonces)
    : options_(options),
      store_(std::move(store)),
      validator_(std::move(validator)),
      clock_(std::move(clock)),
      nonces_(std::move(nonces)) {}

bool Controller::load(std::string* error) {
  std::lock_guard lock(mu_);
  if (store_ == nullptr) {
    return true;
  }
  if (!store_->load(&state_, error)) {
    return false;
  }
  for (const auto& stored : state_.agents()) {
    Agent& a = agents_[stored.agent_id()];
    a.id = stored.agent_id();
    a.hello.set_agent_id(stored.agent_id());
    a.hello.set_role(stored.role());
    a.draining = stored.draining();
    if (stored.has_last_nack()) {
      a.lastNack = stored.last_nack();
    }
  }
  return true;
}

bool Controller::persist(std::string* error) {
  if (store_ == nullptr) {
    return true;
  }
  state_.clear_agents();
  for (const auto& [id, a] : agents_) {
    if (!a.draining && !a.lastNack) {
      continue;
    }
    auto* s = state_.add_agents();
    s->set_agent_id(id);
    s->set_role(a.hello.role());
    s->set_draining(a.draining);
    if (a.lastNack) {
      *s->mutable_last_nack() = *a.lastNack;
    }
  }
  return store_->save(state_, error);
}

uint64_t Controller::currentVersion() const {
  std::lock_guard lock(mu_);
  return state_.last_version();
}

Controller::Agent* Controller::findSession(SessionId session) {
  for (auto& [id, a] : agents_) {
    if (a.connected && a.session == session) {
      return &a;
    }
  }
  return nullptr;
}

bool Controller::refreshDesired(Agent& agent, TimePoint now) {
  auto eff = effectiveConfig(state_.current(), agent.hello.role(), agent.id);
  if (equalConfigs(eff, agent.desired) && (agent.desiredVersion != 0 || !eff)) {
    return false;
  }
  agent.desired = std::move(eff);
  agent.desiredSince = now;
  if (!agent.desired) {
    agent.desiredVersion = 0;
    return true;
  }
  // The version at which this content became current: walk the history back while the
  // agent's effective content stays the same.
  uint64_t version = state_.last_version();
  for (int i = state_.history_size() - 1; i >= 0; --i) {
    const auto& entry = state_.history(i);
    if (!equalConfigs(effectiveConfig(entry.config(), agent.hello.role(), agent.id),
                      agent.desired)) {
      break;
    }
    version = entry.info().version();
  }
  agent.desiredVersion = version;
  return true;
}

void Controller::trySend(Agent& agent, TimePoint now) {
  if (!agent.connected || agent.sink == nullptr || !agent.desired || agent.desiredVersion == 0 ||
      agent.appliedVersion == agent.desiredVersion) {
    return;
  }
  if (agent.lastNack && agent.lastNack->version() == agent.desiredVersion) {
    ++pushes_.nackResendsSuppressed;
    return;
  }
  if (agent.inFlight) {
    return;  // at most one un-ACKed push; the newest content goes out on ACK/NACK/timeout
  }
  teredo::v1::ControllerMessage msg;
  auto* snap = msg.mutable_snapshot();
  snap->set_version(agent.desiredVersion);
  snap->set_nonce(nonces_());
  *snap->mutable_config() = *agent.desired;
  agent.inFlight = Pending{agent.desiredVersion, snap->nonce(), now};
  agent.sentVersion = agent.desiredVersion;
  ++pushes_.sent;
  agent.sink->send(msg);
}

void Controller::sendDrain(Agent& agent) {
  if (!agent.connected || agent.sink == nullptr) {
    return;
  }
  teredo::v1::ControllerMessage msg;
  msg.mutable_drain()->set_draining(agent.draining);
  agent.sink->send(msg);
}

grpc::Status Controller::hello(const teredo::v1::Hello& hello, AgentSink* sink,
                               SessionId* session) {
  std::vector<FieldViolation> bad;
  if (hello.agent_id().empty() || hello.agent_id().size() > 253) {
    bad.push_back(violation("agent_id", "must be 1-253 characters"));
  }
  if (hello.instance_uid().empty()) {
    bad.push_back(violation("instance_uid", "must be set"));
  }
  if (hello.role() != teredo::v1::ROLE_SERVER && hello.role() != teredo::v1::ROLE_RELAY) {
    bad.push_back(violation("role", "must be ROLE_SERVER or ROLE_RELAY"));
  }
  if (!bad.empty()) {
    return invalidArgument("invalid Hello", bad);
  }
  std::lock_guard lock(mu_);
  const TimePoint now = clock_();
  if (agents_.size() >= options_.maxAgents && agents_.count(hello.agent_id()) == 0) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many agents");
  }
  Agent& a = agents_[hello.agent_id()];
  if (a.connected && a.sink != nullptr) {
    a.sink->close(grpc::Status(grpc::StatusCode::ABORTED, "replaced by a newer stream"));
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
  *session = a.session;

  teredo::v1::ControllerMessage settings;
  const auto interval = options_.statsInterval.count();
  settings.mutable_settings()->mutable_stats_interval()->set_seconds(interval / 1000);
  settings.mutable_settings()->mutable_stats_interval()->set_nanos(
      static_cast<int32_t>((interval % 1000) * 1000000));
  sink->send(settings);
  sendDrain(a);
  refreshDesired(a, now);
  trySend(a, now);
  return grpc::Status::OK;
}

void Controller::ack(SessionId session, const teredo::v1::Ack& ack) {
  std::lock_guard lock(mu_);
  Agent* a = findSession(session);
  if (a == nullptr) {
    return;
  }
  const TimePoint now = clock_();
  a->lastSeen = now;
  if (!a->inFlight || a->inFlight->nonce != ack.nonce() || a->inFlight->version != ack.version()) {
    ++pushes_.staleReplies;
    return;
  }
  a->appliedVersion = ack.version();
  a->inFlight.reset();
  ++pushes_.acked;
  trySend(*a, now);
}

void Controller::nack(SessionId session, const teredo::v1::Nack& nack) {
  std::lock_guard lock(mu_);
  Agent* a = findSession(session);
  if (a == nullptr) {
    return;
  }
  const TimePoint now = clock_();
  a->lastSeen = now;
  if (!a->inFlight || a->inFlight->nonce != nack.nonce() ||
      a->inFlight->version != nack.version()) {
    ++pushes_.staleReplies;
    return;
  }
  teredo::v1::NackInfo info;
  info.set_version(nack.version());
  info.set_nonce(nack.nonce());
  *info.mutable_error_detail() = nack.error_detail();
  toTimestamp(now, info.mutable_time());
  a->lastNack = info;
  a->appliedVersion = nack.applied_version();
  a->inFlight.reset();
  ++pushes_.nacked;
  std::string error;
  persist(&error);  // best effort: losing it only risks one resend after a controller restart
  trySend(*a, now);
}

void Controller::stats(SessionId session, const teredo::v1::StatsReport& report) {
  std::lock_guard lock(mu_);
  Agent* a = findSession(session);
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
  Agent* a = findSession(session);
  if (a == nullptr) {
    return;
  }
  a->connected = false;
  a->sink = nullptr;
  a->inFlight.reset();
  a->lastSeen = clock_();
  stats_.disconnect(a->id);
}

void Controller::flushChanges(TimePoint now) {
  for (auto& [id, a] : agents_) {
    if (!a.connected) {
      continue;
    }
    if (refreshDesired(a, now) && a.inFlight) {
      ++pushes_.superseded;
    }
    trySend(a, now);
  }
}

void Controller::tick() {
  std::lock_guard lock(mu_);
  const TimePoint now = clock_();
  if (firstChange_ &&
      now >= std::min(lastChange_ + options_.debounce, *firstChange_ + options_.debounceCeiling)) {
    firstChange_.reset();
    flushChanges(now);
  }
  for (auto& [id, a] : agents_) {
    if (a.connected && a.inFlight && now - a.inFlight->sentAt >= options_.ackTimeout) {
      a.inFlight.reset();
      ++pushes_.timedOut;
      trySend(a, now);
    }
  }
}

std::optional<TimePoint> Controller::nextDeadline() const {
  std::lock_guard lock(mu_);
  std::optional<TimePoint> next;
  if (firstChange_) {
    next = std::min(lastChange_ + options_.debounce, *firstChange_ + options_.debounceCeiling);
  }
  for (const auto& [id, a] : agents_) {
    if (a.connected && a.inFlight) {
      const TimePoint t = a.inFlight->sentAt + options_.ackTimeout;
      next = next ? std::min(*next, t) : t;
    }
  }
  return next;
}

// ----- Admin: config ----------------------------------------------------------------------------

Role Controller::roleOf(const std::string& agentId, const FleetConfig& fleet) const {
  const auto it = agents_.find(agentId);
  if (it != agents_.end() && it->second.hello.role() != teredo::v1::ROLE_UNSPECIFIED) {
    return it->second.hello.role();
  }
  const auto o = fleet.agent_overrides().find(agentId);
  return o == fleet.agent_overrides().end() ? teredo::v1::ROLE_UNSPECIFIED
                                            : roleOfConfig(o->second);
}

grpc::Status Controller::checkTarget(const teredo::v1::SetConfigRequest& req,
                                     FleetConfig* next) const {
  std::vector<FieldViolation> bad;
  switch (req.target_case()) {
    case teredo::v1::SetConfigRequest::kRole: {
      const Role role = req.role();
      if (role != teredo::v1::ROLE_SERVER && role != teredo::v1::ROLE_RELAY) {
        bad.push_back(violation("role", "must be ROLE_SERVER or ROLE_RELAY"));
        break;
      }
      if (req.remove_override()) {
        bad.push_back(violation("remove_override", "only valid with agent_id"));
        break;
      }
      if (roleOfConfig(req.config()) != role) {
        bad.push_back(violation(
            "config", std::string("must set `") + roleName(role) + "` for " + roleName(role)));
        break;
      }
      *(role == teredo::v1::ROLE_SERVER ? next->mutable_server_defaults()
                                        : next->mutable_relay_defaults()) = req.config();
      break;
    }
    case teredo::v1::SetConfigRequest::kAgentId: {
      const std::string& id = req.agent_id();
      if (id.empty() || id.size() > 253) {
        bad.push_back(violation("agent_id", "must be 1-253 characters"));
        break;
      }
      if (req.remove_override()) {
        if (req.has_config()) {
          bad.push_back(violation("config", "must be unset with remove_override"));
          break;
        }
        if (next->agent_overrides().count(id) == 0) {
          return grpc::Status(grpc::StatusCode::NOT_FOUND, "agent " + id + " has no override");
        }
        next->mutable_agent_overrides()->erase(id);
        break;
      }
      const Role role = roleOfConfig(req.config());
      if (role == teredo::v1::ROLE_UNSPECIFIED) {
        bad.push_back(violation("config", "must set `server` or `relay`"));
        break;
      }
      const auto it = agents_.find(id);
      if (it != agents_.end() && it->second.hello.role() != teredo::v1::ROLE_UNSPECIFIED &&
          it->second.hello.role() != role) {
        bad.push_back(violation(
            "config", std::string("agent ") + id + " is a " + roleName(it->second.hello.role())));
        break;
      }
      (*next->mutable_agent_overrides())[id] = req.config();
      break;
    }
    default:
      bad.push_back(violation("target", "set role or agent_id"));
  }
  if (!bad.empty()) {
    return invalidArgument("invalid SetConfig request", bad);
  }
  return grpc::Status::OK;
}

std::vector<FieldViolation> Controller::validateFleet(const FleetConfig& fleet,
                                                      const std::string& onlyAgent,
                                                      Role onlyRole) const {
  std::vector<FieldViolation> out;
  auto check = [&](const AgentConfig& config, const std::string& prefix) {
    for (const auto& v : validator_(config)) {
      out.push_back(violation(prefix + v.field(), v.description()));
    }
  };
  if (!onlyAgent.empty()) {
    const auto eff = effectiveConfig(fleet, roleOf(onlyAgent, fleet), onlyAgent);
    if (eff) {
      check(*eff, "config.");
    }
    return out;
  }
  for (Role role : {teredo::v1::ROLE_SERVER, teredo::v1::ROLE_RELAY}) {
    if (onlyRole != teredo::v1::ROLE_UNSPECIFIED && role != onlyRole) {
      continue;
    }
    // Every agent of the role (known or with an override) gets checked with its effective
    // config; with none, the defaults alone must be a complete config.
    std::set<std::string> ids;
    for (const auto& [id, a] : agents_) {
      if (a.hello.role() == role) {
        ids.insert(id);
      }
    }
    for (const auto& [id, o] : fleet.agent_overrides()) {
      if (roleOf(id, fleet) == role) {
        ids.insert(id);
      }
    }
    if (ids.empty()) {
      const auto eff = effectiveConfig(fleet, role, "");
      if (eff) {
        check(*eff, "config.");
      }
      continue;
    }
    for (const auto& id : ids) {
      const auto eff = effectiveConfig(fleet, role, id);
      if (eff) {
        check(*eff, "agent[" + id + "].");
      }
    }
  }
  return out;
}

std::vector<std::string> Controller::affectedAgents(const FleetConfig& next) const {
  std::vector<std::string> out;
  for (const auto& [id, a] : agents_) {
    if (!a.known) {
      continue;
    }
    if (!equalConfigs(effectiveConfig(state_.current(), a.hello.role(), id),
                      effectiveConfig(next, a.hello.role(), id))) {
      out.push_back(id);
    }
  }
  return out;
}

grpc::Status Controller::publish(const FleetConfig& next, const std::string& description,
                                 const std::string& comment, uint64_t rollbackOf,
                                 uint64_t* version) {
  const TimePoint now = clock_();
  const teredo::v1::ControllerState before = state_;
  const uint64_t v = state_.last_version() + 1;
  state_.set_last_version(v);
  *state_.mutable_current() = next;
  auto* entry = state_.add_history();
  entry->mutable_info()->set_version(v);
  toTimestamp(now, entry->mutable_info()->mutable_time());
  entry->mutable_info()->set_description(description);
  entry->mutable_info()->set_comment(comment);
  entry->mutable_info()->set_rollback_of(rollbackOf);
  *entry->mutable_config() = next;
  if (static_cast<size_t>(state_.history_size()) > options_.maxHistory) {
    const int excess = state_.history_size() - static_cast<int>(options_.maxHistory);
    state_.mutable_history()->DeleteSubrange(0, excess);
  }
  std::string error;
  if (!persist(&error)) {
    state_ = before;
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "cannot persist config: " + error);
  }
  if (!firstChange_) {
    firstChange_ = now;
  }
  lastChange_ = now;
  *version = v;
  return grpc::Status::OK;
}

grpc::Status Controller::setConfig(const teredo::v1::SetConfigRequest& req,
                                   teredo::v1::SetConfigResponse* resp) {
  std::lock_guard lock(mu_);
  if (req.expected_version() != 0 && req.expected_version() != state_.last_version()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "current version is " + std::to_string(state_.last_version()) + ", not " +
                            std::to_string(req.expected_version()));
  }
  FleetConfig next = state_.current();
  if (grpc::Status s = checkTarget(req, &next); !s.ok()) {
    return s;
  }
  const bool byAgent = req.target_case() == teredo::v1::SetConfigRequest::kAgentId;
  const auto bad = validateFleet(next, byAgent ? req.agent_id() : "",
                                 byAgent ? teredo::v1::ROLE_UNSPECIFIED : req.role());
  if (!bad.empty()) {
    return invalidArgument("config rejected", bad);
  }
  const bool changed = !MessageDifferencer::Equals(next, state_.current());
  for (auto& id : affectedAgents(next)) {
    resp->add_affected_agents(std::move(id));
  }
  resp->set_changed(changed);
  resp->set_dry_run(req.dry_run());
  resp->set_version(state_.last_version());
  if (req.dry_run() || !changed) {
    return grpc::Status::OK;
  }
  std::string description;
  if (byAgent) {
    description = (req.remove_override() ? "remove agent " : "set agent ") + req.agent_id();
  } else {
    description = std::string("set role ") + roleName(req.role());
  }
  uint64_t version = 0;
  if (grpc::Status s = publish(next, description, req.comment(), 0, &version); !s.ok()) {
    return s;
  }
  resp->set_version(version);
  return grpc::Status::OK;
}

grpc::Status Controller::rollback(const teredo::v1::RollbackRequest& req,
                                  teredo::v1::RollbackResponse* resp) {
  std::lock_guard lock(mu_);
  const teredo::v1::ConfigHistoryEntry* found = nullptr;
  for (const auto& entry : state_.history()) {
    if (entry.info().version() == req.to_version()) {
      found = &entry;
    }
  }
  if (found == nullptr) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "version " + std::to_string(req.to_version()) + " is not in the history");
  }
  const FleetConfig next = found->config();
  const auto bad = validateFleet(next, "", teredo::v1::ROLE_UNSPECIFIED);
  if (!bad.empty()) {
    return invalidArgument("version " + std::to_string(req.to_version()) + " no longer validates",
                           bad);
  }
  for (auto& id : affectedAgents(next)) {
    resp->add_affected_agents(std::move(id));
  }
  resp->set_dry_run(req.dry_run());
  resp->set_version(state_.last_version());
  if (req.dry_run()) {
    return grpc::Status::OK;
  }
  uint64_t version = 0;
  if (grpc::Status s = publish(next, "rollback to " + std::to_string(req.to_version()),
                               req.comment(), req.to_version(), &version);
      !s.ok()) {
    return s;
  }
  resp->set_version(version);
  return grpc::Status::OK;
}

grpc::Status Controller::getConfig(const teredo::v1::GetConfigRequest& req,
                                   teredo::v1::GetConfigResponse* resp) const {
  std::lock_guard lock(mu_);
  const FleetConfig* config = nullptr;
  if (req.version() == 0 || req.version() == state_.last_version()) {
    config = &state_.current();
    resp->set_version(state_.last_version());
  } else {
    for (const auto& entry : state_.history()) {
      if (entry.info().version() == req.version()) {
        config = &entry.config();
        resp->set_version(entry.info().version());
      }
    }
    if (config == nullptr) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "version " + std::to_string(req.version()) + " is not in the history");
    }
  }
  *resp->mutable_config() = *config;
  if (!req.agent_id().empty()) {
    const Role role = roleOf(req.agent_id(), *config);
    if (role == teredo::v1::ROLE_UNSPECIFIED) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "agent " + req.agent_id() + " is unknown and has no override");
    }
    if (auto eff = effectiveConfig(*config, role, req.agent_id())) {
      *resp->mutable_effective() = std::move(*eff);
    }
  } else if (req.role() == teredo::v1::ROLE_SERVER) {
    *resp->mutable_effective() = config->server_defaults();
  } else if (req.role() == teredo::v1::ROLE_RELAY) {
    *resp->mutable_effective() = config->relay_defaults();
  }
  return grpc::Status::OK;
}

grpc::Status Controller::listConfigVersions(const teredo::v1::ListConfigVersionsRequest& req,
                                            teredo::v1::ListConfigVersionsResponse* resp) const {
  std::lock_guard lock(mu_);
  for (int i = state_.history_size() - 1; i >= 0; --i) {
    if (req.limit() != 0 && static_cast<uint32_t>(resp->versions_size()) >= req.limit()) {
      break;
    }
    *resp->add_versions() = state_.history(i).info();
  }
  return grpc::Status::OK;
}

// ----- Admin: agents, drain, stats --------------------------------------------------------------

teredo::v1::AgentStatus Controller::statusOf(const Agent& a, TimePoint now) const {
  teredo::v1::AgentStatus s;
  s.set_agent_id(a.id);
  s.set_instance_uid(a.hello.instance_uid());
  s.set_role(a.hello.role());
  s.set_build_version(a.hello.build_version());
  *s.mutable_capabilities() = a.hello.capabilities();
  *s.mutable_addresses() = a.hello.addresses();
  s.set_state(a.connected ? teredo::v1::AGENT_STATE_CONNECTED
                          : teredo::v1::AGENT_STATE_DISCONNECTED);
  const bool synced = a.desiredVersion == 0 || a.appliedVersion == a.desiredVersion;
  if (!a.connected) {
    s.set_sync_state(teredo::v1::SYNC_STATE_NOT_SENT);
  } else if (synced) {
    s.set_sync_state(teredo::v1::SYNC_STATE_SYNCED);
  } else if (a.lastNack && a.lastNack->version() == a.desiredVersion) {
    s.set_sync_state(teredo::v1::SYNC_STATE_NACKED);
  } else {
    s.set_sync_state(teredo::v1::SYNC_STATE_PENDING);
  }
  s.set_desired_version(a.desiredVersion);
  s.set_sent_version(a.sentVersion);
  s.set_applied_version(a.appliedVersion);
  if (a.lastNack) {
    *s.mutable_last_nack() = *a.lastNack;
  }
  if (a.known) {
    toTimestamp(a.connectedSince, s.mutable_connected_since());
    toTimestamp(a.lastSeen, s.mutable_last_seen());
  }
  s.set_draining(a.draining);
  if (const auto* report = stats_.lastReport(a.id)) {
    auto* h = s.mutable_headline();
    h->set_udp_packets_per_second(stats_.udpPacketsPerSecond(a.id));
    h->set_relay_peers(report->gauges().relay_peers());
    h->set_peer_table_capacity(report->gauges().peer_table_capacity());
    h->set_drops_total(totalDrops(report->counters()));
    *h->mutable_last_report_time() = report->timestamp();
  }
  if (!synced && a.known) {
    s.set_config_lag_seconds(std::max(0.0, secondsBetween(a.desiredSince, now)));
  }
  return s;
}

grpc::Status Controller::listAgents(const teredo::v1::ListAgentsRequest& req,
                                    teredo::v1::ListAgentsResponse* resp) const {
  std::lock_guard lock(mu_);
  const TimePoint now = clock_();
  for (const auto& [id, a] : agents_) {
    if (req.role() != teredo::v1::ROLE_UNSPECIFIED && a.hello.role() != req.role()) {
      continue;
    }
    auto status = statusOf(a, now);
    if (req.state() != teredo::v1::AGENT_STATE_UNSPECIFIED && status.state() != req.state()) {
      continue;
    }
    *resp->add_agents() = std::move(status);
  }
  return grpc::Status::OK;
}

grpc::Status Controller::getAgent(const teredo::v1::GetAgentRequest& req,
                                  teredo::v1::GetAgentResponse* resp) const {
  std::lock_guard lock(mu_);
  const auto it = agents_.find(req.agent_id());
  if (it == agents_.end()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "agent " + req.agent_id() + " is unknown");
  }
  *resp->mutable_agent() = statusOf(it->second, clock_());
  if (it->second.desired) {
    *resp->mutable_desired_config() = *it->second.desired;
  } else if (auto eff = effectiveConfig(state_.current(), it->second.hello.role(), it->first)) {
    *resp->mutable_desired_config() = std::move(*eff);
  }
  if (const auto* report = stats_.lastReport(req.agent_id())) {
    *resp->mutable_last_report() = *report;
  }
  return grpc::Status::OK;
}

grpc::Status Controller::setDrain(const std::string& agentId, Role role, bool draining,
                                  google::protobuf::RepeatedPtrField<std::string>* ids) {
  std::lock_guard lock(mu_);
  std::vector<Agent*> targets;
  if (!agentId.empty()) {
    const auto it = agents_.find(agentId);
    if (it == agents_.end()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "agent " + agentId + " is unknown");
    }
    targets.push_back(&it->second);
  } else if (role == teredo::v1::ROLE_SERVER || role == teredo::v1::ROLE_RELAY) {
    for (auto& [id, a] : agents_) {
      if (a.hello.role() == role) {
        targets.push_back(&a);
      }
    }
  } else {
    return invalidArgument("no target", {violation("agent_id", "set agent_id or role")});
  }
  for (Agent* a : targets) {
    ids->Add(std::string(a->id));
    if (a->draining != draining) {
      a->draining = draining;
      sendDrain(*a);
    }
  }
  std::string error;
  if (!persist(&error)) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "drain applied but not persisted: " + error);
  }
  return grpc::Status::OK;
}

grpc::Status Controller::drain(const teredo::v1::DrainRequest& req,
                               teredo::v1::DrainResponse* resp) {
  return setDrain(req.agent_id(), req.role(), true, resp->mutable_agent_ids());
}

grpc::Status Controller::undrain(const teredo::v1::UndrainRequest& req,
                                 teredo::v1::UndrainResponse* resp) {
  return setDrain(req.agent_id(), req.role(), false, resp->mutable_agent_ids());
}

grpc::Status Controller::getFleetStats(const teredo::v1::GetFleetStatsRequest& req,
                                       teredo::v1::GetFleetStatsResponse* resp) const {
  std::lock_guard lock(mu_);
  for (Role role : {teredo::v1::ROLE_SERVER, teredo::v1::ROLE_RELAY}) {
    if (req.role() == teredo::v1::ROLE_UNSPECIFIED || req.role() == role) {
      *resp->add_roles() = stats_.roleStats(role);
    }
  }
  *resp->mutable_fleet() = stats_.roleStats(teredo::v1::ROLE_UNSPECIFIED);
  return grpc::Status::OK;
}

grpc::Status Controller::getNatStats(const teredo::v1::GetNatStatsRequest& /*req*/,
                                     teredo::v1::GetNatStatsResponse* resp) const {
  std::lock_guard lock(mu_);
  const auto fleet = stats_.roleStats(teredo::v1::ROLE_UNSPECIFIED);
  *resp->mutable_nat() = fleet.counters().nat();
  *resp->mutable_router() = fleet.counters().router();
  const Hll& hll = stats_.sketch(teredo::v1::ROLE_UNSPECIFIED);
  resp->set_distinct_clients(static_cast<uint64_t>(std::llround(hll.estimate())));
  resp->mutable_distinct_clients_sketch()->set_precision(Hll::kPrecision);
  resp->mutable_distinct_clients_sketch()->set_registers(registerString(hll));
  return grpc::Status::OK;
}

Controller::Snapshot Controller::snapshot() const {
  std::lock_guard lock(mu_);
  Snapshot out;
  const TimePoint now = clock_();
  out.version = state_.last_version();
  out.pushes = pushes_;
  out.statsRestarts = stats_.restarts();
  for (const auto& [id, a] : agents_) {
    out.agents.push_back(statusOf(a, now));
  }
  for (Role role :
       {teredo::v1::ROLE_SERVER, teredo::v1::ROLE_RELAY, teredo::v1::ROLE_UNSPECIFIED}) {
    out.roles.push_back(stats_.roleStats(role));
  }
  return out;
}

}  // namespace teredo::controller

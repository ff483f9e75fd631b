#include "config_push.h"

#include <algorithm>

#include "fleet_config.h"

namespace teredo::controller {

void ConfigPush::sendSettings(Agent& agent) {
  teredo::v1::ControllerMessage settings;
  const auto interval = options_.statsInterval.count();
  settings.mutable_settings()->mutable_stats_interval()->set_seconds(interval / 1000);
  settings.mutable_settings()->mutable_stats_interval()->set_nanos(
      static_cast<int32_t>((interval % 1000) * 1000000));
  agent.sink->send(settings);
}

void ConfigPush::connected(Agent& agent, const ConfigStore& config, TimePoint now) {
  sendSettings(agent);
  sendDrain(agent);
  refreshDesired(agent, config, now);
  trySend(agent, now);
}

void ConfigPush::setTiming(std::chrono::milliseconds debounce,
                           std::chrono::milliseconds statsInterval, AgentRegistry& agents) {
  options_.debounce = debounce;
  if (statsInterval == options_.statsInterval) {
    return;
  }
  options_.statsInterval = statsInterval;
  for (auto& [id, a] : agents.all()) {
    if (a.connected && a.sink != nullptr) {
      sendSettings(a);
    }
  }
}

void ConfigPush::changed(TimePoint now) {
  if (!firstChange_) {
    firstChange_ = now;
  }
  lastChange_ = now;
}

bool ConfigPush::refreshDesired(Agent& agent, const ConfigStore& config, TimePoint now) {
  auto eff = effectiveConfig(config.current(), agent.hello.role(), agent.id);
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
  uint64_t version = config.version();
  const auto& history = config.history();
  for (int i = history.size() - 1; i >= 0; --i) {
    const auto& entry = history.Get(i);
    if (!equalConfigs(effectiveConfig(entry.config(), agent.hello.role(), agent.id),
                      agent.desired)) {
      break;
    }
    version = entry.info().version();
  }
  agent.desiredVersion = version;
  return true;
}

void ConfigPush::trySend(Agent& agent, TimePoint now) {
  if (!agent.connected || agent.sink == nullptr || !agent.desired || agent.desiredVersion == 0 ||
      agent.appliedVersion == agent.desiredVersion) {
    return;
  }
  if (agent.lastNack && agent.lastNack->version() == agent.desiredVersion) {
    ++counters_.nackResendsSuppressed;
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
  agent.inFlight = PendingPush{agent.desiredVersion, snap->nonce(), now};
  agent.sentVersion = agent.desiredVersion;
  ++counters_.sent;
  agent.sink->send(msg);
}

void ConfigPush::sendDrain(Agent& agent) {
  if (!agent.connected || agent.sink == nullptr) {
    return;
  }
  teredo::v1::ControllerMessage msg;
  msg.mutable_drain()->set_draining(agent.draining);
  agent.sink->send(msg);
}

void ConfigPush::ack(Agent& agent, const teredo::v1::Ack& ack, TimePoint now) {
  if (!agent.inFlight || agent.inFlight->nonce != ack.nonce() ||
      agent.inFlight->version != ack.version()) {
    ++counters_.staleReplies;
    return;
  }
  agent.appliedVersion = ack.version();
  agent.inFlight.reset();
  ++counters_.acked;
  trySend(agent, now);
}

bool ConfigPush::nack(Agent& agent, const teredo::v1::Nack& nack, TimePoint now) {
  if (!agent.inFlight || agent.inFlight->nonce != nack.nonce() ||
      agent.inFlight->version != nack.version()) {
    ++counters_.staleReplies;
    return false;
  }
  teredo::v1::NackInfo info;
  info.set_version(nack.version());
  info.set_nonce(nack.nonce());
  *info.mutable_error_detail() = nack.error_detail();
  toTimestamp(now, info.mutable_time());
  agent.lastNack = info;
  agent.appliedVersion = nack.applied_version();
  agent.inFlight.reset();
  ++counters_.nacked;
  return true;
}

void ConfigPush::tick(AgentRegistry& agents, const ConfigStore& config, TimePoint now) {
  if (firstChange_ &&
      now >= std::min(lastChange_ + options_.debounce, *firstChange_ + options_.debounceCeiling)) {
    firstChange_.reset();
    for (auto& [id, a] : agents.all()) {
      if (!a.connected) {
        continue;
      }
      if (refreshDesired(a, config, now) && a.inFlight) {
        ++counters_.superseded;
      }
      trySend(a, now);
    }
  }
  for (auto& [id, a] : agents.all()) {
    if (a.connected && a.inFlight && now - a.inFlight->sentAt >= options_.ackTimeout) {
      a.inFlight.reset();
      ++counters_.timedOut;
      trySend(a, now);
    }
  }
}

std::optional<TimePoint> ConfigPush::nextDeadline(const AgentRegistry& agents) const {
  std::optional<TimePoint> next;
  if (firstChange_) {
    next = std::min(lastChange_ + options_.debounce, *firstChange_ + options_.debounceCeiling);
  }
  for (const auto& [id, a] : agents.all()) {
    if (a.connected && a.inFlight) {
      const TimePoint t = a.inFlight->sentAt + options_.ackTimeout;
      next = next ? std::min(*next, t) : t;
    }
  }
  return next;
}

}  // namespace teredo::controller

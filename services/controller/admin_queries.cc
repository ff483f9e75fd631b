#include "admin_queries.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "fleet_config.h"

namespace teredo::controller {

using teredo::v1::FleetConfig;
using teredo::v1::Role;

namespace {

double secondsBetween(TimePoint from, TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

teredo::v1::AgentStatus AdminQueries::agentStatus(const Agent& a, TimePoint now) const {
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
  if (const auto* report = stats_.lastReport(a.id); report != nullptr && report->has_announce()) {
    *s.mutable_announce() = report->announce();
    if (!a.connected) {
      s.mutable_announce()->set_reason("disconnected");
      for (auto& p : *s.mutable_announce()->mutable_prefixes()) {
        p.set_announced(false);
      }
    }
  }
  return s;
}

std::vector<teredo::v1::PrefixAnnouncers> prefixAnnouncers(
    const std::vector<teredo::v1::AgentStatus>& agents) {
  std::map<std::string, teredo::v1::PrefixAnnouncers> byPrefix;
  for (const auto& a : agents) {
    if (!a.has_announce() || !a.announce().enabled()) {
      continue;
    }
    const bool connected = a.state() == teredo::v1::AGENT_STATE_CONNECTED;
    for (const auto& p : a.announce().prefixes()) {
      teredo::v1::PrefixAnnouncers& out = byPrefix[p.prefix()];
      out.set_prefix(p.prefix());
      out.set_relays_configured(out.relays_configured() + 1);
      if (connected && p.announced()) {
        out.set_relays_announcing(out.relays_announcing() + 1);
        out.add_announcing_agents(a.agent_id());
      }
    }
  }
  std::vector<teredo::v1::PrefixAnnouncers> result;
  for (auto& [prefix, entry] : byPrefix) {
    std::sort(entry.mutable_announcing_agents()->begin(), entry.mutable_announcing_agents()->end());
    result.push_back(std::move(entry));
  }
  return result;
}

Status AdminQueries::listAgents(const teredo::v1::ListAgentsRequest& req, TimePoint now,
                                teredo::v1::ListAgentsResponse* resp) const {
  for (const auto& [id, a] : agents_.all()) {
    if (req.role() != teredo::v1::ROLE_UNSPECIFIED && a.hello.role() != req.role()) {
      continue;
    }
    auto status = agentStatus(a, now);
    if (req.state() != teredo::v1::AGENT_STATE_UNSPECIFIED && status.state() != req.state()) {
      continue;
    }
    *resp->add_agents() = std::move(status);
  }
  return Status();
}

Status AdminQueries::getAgent(const teredo::v1::GetAgentRequest& req, TimePoint now,
                              teredo::v1::GetAgentResponse* resp) const {
  const Agent* a = agents_.find(req.agent_id());
  if (a == nullptr) {
    return Status::error(StatusCode::kNotFound, "agent " + req.agent_id() + " is unknown");
  }
  *resp->mutable_agent() = agentStatus(*a, now);
  if (a->desired) {
    *resp->mutable_desired_config() = *a->desired;
  } else if (auto eff = effectiveConfig(config_.current(), a->hello.role(), a->id)) {
    *resp->mutable_desired_config() = std::move(*eff);
  }
  if (const auto* report = stats_.lastReport(req.agent_id())) {
    *resp->mutable_last_report() = *report;
  }
  return Status();
}

Status AdminQueries::getFleetStats(const teredo::v1::GetFleetStatsRequest& req, TimePoint now,
                                   teredo::v1::GetFleetStatsResponse* resp) const {
  std::vector<teredo::v1::AgentStatus> relays;
  for (const auto& [id, a] : agents_.all()) {
    if (a.hello.role() == teredo::v1::ROLE_RELAY) {
      relays.push_back(agentStatus(a, now));
    }
  }
  for (auto& entry : prefixAnnouncers(relays)) {
    *resp->add_announcements() = std::move(entry);
  }
  for (Role role : {teredo::v1::ROLE_SERVER, teredo::v1::ROLE_RELAY}) {
    if (req.role() == teredo::v1::ROLE_UNSPECIFIED || req.role() == role) {
      *resp->add_roles() = stats_.roleStats(role);
    }
  }
  *resp->mutable_fleet() = stats_.roleStats(teredo::v1::ROLE_UNSPECIFIED);
  return Status();
}

Status AdminQueries::getNatStats(const teredo::v1::GetNatStatsRequest& /*req*/,
                                 teredo::v1::GetNatStatsResponse* resp) const {
  const auto fleet = stats_.roleStats(teredo::v1::ROLE_UNSPECIFIED);
  *resp->mutable_nat() = fleet.counters().nat();
  *resp->mutable_router() = fleet.counters().router();
  const Hll& hll = stats_.sketch(teredo::v1::ROLE_UNSPECIFIED);
  resp->set_distinct_clients(static_cast<uint64_t>(std::llround(hll.estimate())));
  resp->mutable_distinct_clients_sketch()->set_precision(Hll::kPrecision);
  resp->mutable_distinct_clients_sketch()->set_registers(registerString(hll));
  return Status();
}

Status AdminQueries::getConfig(const teredo::v1::GetConfigRequest& req,
                               teredo::v1::GetConfigResponse* resp) const {
  const FleetConfig* config = nullptr;
  if (req.version() == 0 || req.version() == config_.version()) {
    config = &config_.current();
    resp->set_version(config_.version());
  } else {
    const teredo::v1::ConfigHistoryEntry* entry = config_.find(req.version());
    if (entry == nullptr) {
      return Status::error(StatusCode::kNotFound,
                           "version " + std::to_string(req.version()) + " is not in the history");
    }
    config = &entry->config();
    resp->set_version(entry->info().version());
  }
  *resp->mutable_config() = *config;
  if (!req.agent_id().empty()) {
    const Role role = agents_.roleOf(req.agent_id(), *config);
    if (role == teredo::v1::ROLE_UNSPECIFIED) {
      return Status::error(StatusCode::kNotFound,
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
  return Status();
}

Status AdminQueries::listConfigVersions(const teredo::v1::ListConfigVersionsRequest& req,
                                        teredo::v1::ListConfigVersionsResponse* resp) const {
  const auto& history = config_.history();
  for (int i = history.size() - 1; i >= 0; --i) {
    if (req.limit() != 0 && static_cast<uint32_t>(resp->versions_size()) >= req.limit()) {
      break;
    }
    *resp->add_versions() = history.Get(i).info();
  }
  return Status();
}

}  // namespace teredo::controller

// The read-only half of the admin API (admin.proto): agent listings and details (connection,
// sync state, versions, last NACK, drain flag, headline statistics, config lag), fleet and NAT
// statistics, configs (current, historical, effective per role or agent) and the version
// history. Queries never change state.
//
// Thread-safety: none of its own; the Controller calls it with its mutex held.
// Ownership: borrows the registry, the config store and the aggregator, which must outlive it.
#pragma once

#include <vector>

#include "agent_registry.h"
#include "base/status.h"
#include "clock.h"
#include "config_store.h"
#include "stats_aggregator.h"
#include "teredo/v1/admin.pb.h"

namespace teredo::controller {

/// Per prefix: the relays configured to announce it and those announcing it now (connected only),
/// from the agents' statuses. Pure; sorted by prefix.
std::vector<teredo::v1::PrefixAnnouncers> prefixAnnouncers(
    const std::vector<teredo::v1::AgentStatus>& agents);

class AdminQueries {
 public:
  AdminQueries(const AgentRegistry& agents, const ConfigStore& config, const StatsAggregator& stats)
      : agents_(agents), config_(config), stats_(stats) {}

  /// What the admin API reports about one agent at `now`.
  teredo::v1::AgentStatus agentStatus(const Agent& agent, TimePoint now) const;

  Status listAgents(const teredo::v1::ListAgentsRequest& req, TimePoint now,
                    teredo::v1::ListAgentsResponse* resp) const;
  /// NOT_FOUND for an agent never seen.
  Status getAgent(const teredo::v1::GetAgentRequest& req, TimePoint now,
                  teredo::v1::GetAgentResponse* resp) const;
  Status getFleetStats(const teredo::v1::GetFleetStatsRequest& req, TimePoint now,
                       teredo::v1::GetFleetStatsResponse* resp) const;
  Status getNatStats(const teredo::v1::GetNatStatsRequest& req,
                     teredo::v1::GetNatStatsResponse* resp) const;
  /// NOT_FOUND for a version no longer in the history, or an agent neither seen nor overridden.
  Status getConfig(const teredo::v1::GetConfigRequest& req,
                   teredo::v1::GetConfigResponse* resp) const;
  /// Newest first, at most `req.limit()` (0: all).
  Status listConfigVersions(const teredo::v1::ListConfigVersionsRequest& req,
                            teredo::v1::ListConfigVersionsResponse* resp) const;

 private:
  const AgentRegistry& agents_;
  const ConfigStore& config_;
  const StatsAggregator& stats_;
};

}  // namespace teredo::controller

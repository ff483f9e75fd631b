// The controller's statistics aggregator: turns the StatsReports of every agent (cumulative
// counters, gauges, a distinct-client HyperLogLog sketch) into per-role and fleet-wide totals.
// Counters are summed as deltas between an agent's consecutive reports, so a restarted agent
// (new instance_uid, or any counter going down) counts from zero instead of going negative.
// Only the bounded drop-reason labels of lib/teredo/drop_reason.h are aggregated.
//
// Thread-safety: none; the Controller serialises access under its mutex.
// Ownership: value type; owns copies of the last report of every agent.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "teredo/hyperloglog.h"
#include "teredo/v1/admin.pb.h"
#include "teredo/v1/stats.pb.h"

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

/// The sum of every drop counter of `counters`, whatever its reason label.
uint64_t totalDrops(const teredo::v1::StatsCounters& counters);

/// Fleet and per-role aggregation of StatsReports (deltas of cumulative counters).
class StatsAggregator {
 public:
  /// Adds a report of `agentId` (role from its Hello). A new instance_uid or any counter going
  /// down is a restart: the report counts from zero.
  void addReport(const std::string& agentId, teredo::v1::Role role,
                 const teredo::v1::StatsReport& report);
  /// The agent disconnected: its gauges no longer count.
  void disconnect(const std::string& agentId);
  /// The agent was forgotten: its last report goes (what it added to the totals stays).
  void forget(const std::string& agentId) { agents_.erase(agentId); }
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

}  // namespace teredo::controller

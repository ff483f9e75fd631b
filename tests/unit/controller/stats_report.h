// The StatsReport the aggregation tests feed the controller (stats_aggregator_test.cc,
// controller_test.cc).
#pragma once

#include <cstdint>
#include <string>

#include "teredo/v1/stats.pb.h"

namespace teredo::controller {

/// An agent's cumulative StatsReport: `packets` received, `spoofed` spoofed-source drops, a
/// drop reason the controller does not know, cone NATs and relay peers derived from `packets`.
inline teredo::v1::StatsReport report(const std::string& uid, uint64_t packets, uint64_t spoofed,
                                      int64_t seconds) {
  teredo::v1::StatsReport r;
  r.set_instance_uid(uid);
  r.mutable_timestamp()->set_seconds(seconds);
  r.mutable_counters()->mutable_traffic()->mutable_udp_received()->set_packets(packets);
  (*r.mutable_counters()->mutable_drops())["spoofed_source"] = spoofed;
  (*r.mutable_counters()->mutable_drops())["made_up_reason"] = 1000;
  r.mutable_counters()->mutable_nat()->set_cone(packets / 10);
  r.mutable_gauges()->set_relay_peers(packets);
  return r;
}

}  // namespace teredo::controller

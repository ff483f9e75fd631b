// The statistics aggregator: deltas of cumulative counters per role and fleet-wide, restarts
// (new instance, counters going down) counting from zero, bounded drop labels, gauges of
// connected agents only, and the distinct-client HyperLogLog merged as a union.
#include "stats_aggregator.h"
#include "stats_report.h"

#include <map>
#include <string>

#include <gtest/gtest.h>

namespace teredo::controller {
namespace {

TEST(StatsAggregatorTest, DeltasAcrossRestartsAndRoles) {
  StatsAggregator agg;
  agg.addReport("r1", teredo::v1::ROLE_RELAY, report("a", 100, 5, 10));
  agg.addReport("r1", teredo::v1::ROLE_RELAY, report("a", 150, 7, 20));
  EXPECT_DOUBLE_EQ(agg.udpPacketsPerSecond("r1"), 5.0);
  // Restart: new instance counts from zero.
  agg.addReport("r1", teredo::v1::ROLE_RELAY, report("b", 30, 1, 30));
  // Same instance but counters went down: also a restart.
  agg.addReport("r1", teredo::v1::ROLE_RELAY, report("b", 10, 0, 40));
  agg.addReport("s1", teredo::v1::ROLE_SERVER, report("c", 1000, 0, 40));
  EXPECT_EQ(agg.restarts(), 2u);

  auto relay = agg.roleStats(teredo::v1::ROLE_RELAY);
  EXPECT_EQ(relay.counters().traffic().udp_received().packets(), 150u + 30u + 10u);
  EXPECT_EQ(relay.counters().drops().at("spoofed_source"), 7u + 1u);
  EXPECT_EQ(relay.counters().drops().count("made_up_reason"), 0u);
  EXPECT_EQ(relay.counters().nat().cone(), 15u + 3u + 1u);
  EXPECT_EQ(relay.gauges().relay_peers(), 10u);
  auto fleet = agg.roleStats(teredo::v1::ROLE_UNSPECIFIED);
  EXPECT_EQ(fleet.counters().traffic().udp_received().packets(), 190u + 1000u);
  EXPECT_EQ(fleet.agents_connected(), 2u);
  agg.disconnect("s1");
  fleet = agg.roleStats(teredo::v1::ROLE_UNSPECIFIED);
  EXPECT_EQ(fleet.agents_connected(), 1u);
  EXPECT_EQ(fleet.agents_total(), 2u);
  EXPECT_EQ(fleet.gauges().relay_peers(), 10u);  // disconnected agents' gauges do not count
}

TEST(StatsAggregatorTest, HyperLogLogMergesAsUnion) {
  Hll a, b;
  for (uint32_t i = 0; i < 30000; ++i) {
    a.addEndpoint(0xcb007100 + i, 1000);
  }
  for (uint32_t i = 20000; i < 50000; ++i) {
    b.addEndpoint(0xcb007100 + i, 1000);
  }
  StatsAggregator agg;
  teredo::v1::StatsReport r1, r2;
  r1.set_instance_uid("x");
  r1.mutable_distinct_clients()->set_precision(12);
  r1.mutable_distinct_clients()->set_registers(registerString(a));
  r2.set_instance_uid("y");
  r2.mutable_distinct_clients()->set_precision(12);
  r2.mutable_distinct_clients()->set_registers(registerString(b));
  agg.addReport("s1", teredo::v1::ROLE_SERVER, r1);
  agg.addReport("s2", teredo::v1::ROLE_SERVER, r2);
  agg.addReport("s2", teredo::v1::ROLE_SERVER, r2);  // re-merging is idempotent
  const uint64_t est = agg.roleStats(teredo::v1::ROLE_SERVER).distinct_clients();
  EXPECT_NEAR(static_cast<double>(est), 50000.0, 50000.0 * 0.05);
  // A sketch with other parameters is ignored rather than corrupting the merge.
  Hll c;
  const std::string other(16384, '\x01');
  EXPECT_FALSE(c.merge(14, registerBytes(other)));
  EXPECT_EQ(c.estimate(), 0.0);
  Hll small;
  for (uint32_t i = 0; i < 100; ++i) {
    small.addEndpoint(0xc6336400 + i, 3544);
  }
  EXPECT_NEAR(static_cast<double>(small.estimate()), 100.0, 3.0);
}

TEST(StatsAggregatorTest, WhatCountsAsARestart) {
  struct Case {
    const char* name;
    teredo::v1::StatsReport second;
    uint64_t restarts;
    uint64_t packets;  // relay total after both reports
  } cases[] = {
      {"same instance, counters up", report("a", 150, 5, 20), 0, 150},
      {"same instance, nothing new", report("a", 100, 5, 20), 0, 100},
      {"new instance", report("b", 30, 0, 20), 1, 130},
      {"packets went down", report("a", 50, 5, 20), 1, 150},
      {"a drop counter went down", report("a", 150, 4, 20), 1, 250},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    StatsAggregator agg;
    agg.addReport("r1", teredo::v1::ROLE_RELAY, report("a", 100, 5, 10));
    agg.addReport("r1", teredo::v1::ROLE_RELAY, c.second);
    EXPECT_EQ(agg.restarts(), c.restarts);
    EXPECT_EQ(agg.roleStats(teredo::v1::ROLE_RELAY).counters().traffic().udp_received().packets(),
              c.packets);
    EXPECT_EQ(agg.roleStats(teredo::v1::ROLE_SERVER).counters().traffic().udp_received().packets(),
              0u);
  }
}

TEST(StatsAggregatorTest, UnknownAgentHasNoReport) {
  StatsAggregator agg;
  EXPECT_EQ(agg.lastReport("nobody"), nullptr);
  EXPECT_EQ(agg.udpPacketsPerSecond("nobody"), 0.0);
  EXPECT_EQ(agg.sketch(teredo::v1::ROLE_RELAY).estimate(), 0.0);
  const auto fleet = agg.roleStats(teredo::v1::ROLE_UNSPECIFIED);
  EXPECT_EQ(fleet.role(), teredo::v1::ROLE_UNSPECIFIED);
  EXPECT_EQ(fleet.agents_total(), 0u);
  agg.addReport("r1", teredo::v1::ROLE_RELAY, report("a", 1, 0, 1));
  ASSERT_NE(agg.lastReport("r1"), nullptr);
  EXPECT_EQ(agg.lastReport("r1")->instance_uid(), "a");
}

TEST(StatsAggregatorTest, TotalDropsSumsEveryLabel) {
  struct Case {
    std::map<std::string, uint64_t> drops;
    uint64_t total;
  } cases[] = {
      {{}, 0},
      {{{"spoofed_source", 3}}, 3},
      {{{"spoofed_source", 3}, {"rate_limited", 4}, {"made_up_reason", 5}}, 12},
  };
  for (const auto& c : cases) {
    teredo::v1::StatsCounters counters;
    for (const auto& [label, value] : c.drops) {
      (*counters.mutable_drops())[label] = value;
    }
    EXPECT_EQ(totalDrops(counters), c.total);
  }
}

}  // namespace
}  // namespace teredo::controller

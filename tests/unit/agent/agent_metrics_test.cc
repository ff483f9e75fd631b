// Unit tests for lib/agent/agent_metrics.h: the process-wide families every agent exports, read
// straight from Collect() (the admin server's text exposition is admin_server_test.cc's).
#include "agent/agent_metrics.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/log.h"
#include "teredo/build_info.h"

namespace teredo::agent {
namespace {

const prometheus::MetricFamily* findFamily(const std::vector<prometheus::MetricFamily>& families,
                                           const std::string& name) {
  for (const auto& f : families) {
    if (f.name == name) {
      return &f;
    }
  }
  return nullptr;
}

// The value of the only sample of an unlabelled family of `type`; -1 when absent.
double single(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
              prometheus::MetricType type) {
  const prometheus::MetricFamily* f = findFamily(families, name);
  EXPECT_NE(f, nullptr) << name;
  if (f == nullptr) {
    return -1;
  }
  EXPECT_EQ(f->type, type) << name;
  EXPECT_EQ(f->metric.size(), 1u) << name;
  EXPECT_TRUE(f->metric.empty() || f->metric[0].label.empty()) << name;
  if (f->metric.empty()) {
    return -1;
  }
  return type == prometheus::MetricType::Counter ? f->metric[0].counter.value
                                                 : f->metric[0].gauge.value;
}

double updates(const std::vector<prometheus::MetricFamily>& families, const std::string& result) {
  const prometheus::MetricFamily* f = findFamily(families, "teredo_config_updates_total");
  EXPECT_NE(f, nullptr);
  if (f == nullptr) {
    return -1;
  }
  for (const auto& m : f->metric) {
    if (m.label.size() == 1 && m.label[0].name == "result" && m.label[0].value == result) {
      return m.counter.value;
    }
  }
  ADD_FAILURE() << "no teredo_config_updates_total{result=\"" << result << "\"}";
  return -1;
}

TEST(AgentMetrics, ExportsExactlyTheDocumentedFamilies) {
  AgentMetrics m(1700000000.0);
  std::set<std::string> names;
  for (const auto& f : m.Collect()) {
    EXPECT_TRUE(names.insert(f.name).second) << "family exported twice: " << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
  }
  EXPECT_EQ(names,
            (std::set<std::string>{
                "teredo_build_info", "process_start_time_seconds", "teredo_controller_connected",
                "teredo_config_updates_total", "teredo_config_applied_version",
                "teredo_config_last_applied_timestamp_seconds", "teredo_bugs_total"}));
}

TEST(AgentMetrics, BuildInfoIsOneWithVersionAndCommitLabels) {
  AgentMetrics m(1700000000.0);
  const auto families = m.Collect();
  const prometheus::MetricFamily* f = findFamily(families, "teredo_build_info");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->type, prometheus::MetricType::Gauge);
  ASSERT_EQ(f->metric.size(), 1u);
  EXPECT_EQ(f->metric[0].gauge.value, 1.0);
  std::set<std::pair<std::string, std::string>> labels;
  for (const auto& l : f->metric[0].label) {
    labels.insert({l.name, l.value});
  }
  EXPECT_EQ(labels, (std::set<std::pair<std::string, std::string>>{{"commit", build::kCommit},
                                                                   {"version", build::kVersion}}));
}

TEST(AgentMetrics, DescribedAgentExportsRoleReadinessAndDrain) {
  auto readiness = std::make_shared<Readiness>();
  const size_t bound = readiness->addCondition(Readiness::kSocketsBound);
  AgentMetrics m(1700000000.0);
  m.describe("relay", readiness);
  auto families = m.Collect();
  const prometheus::MetricFamily* info = findFamily(families, "teredo_build_info");
  ASSERT_NE(info, nullptr);
  bool hasRole = false;
  for (const auto& l : info->metric[0].label) {
    hasRole = hasRole || (l.name == "role" && l.value == "relay");
  }
  EXPECT_TRUE(hasRole);
  struct Step {
    const char* name;
    bool bound, draining;
    double ready, drained;
  } steps[] = {{"starting", false, false, 0, 0},
               {"ready", true, false, 1, 0},
               {"drained", true, true, 0, 1},
               {"undrained", true, false, 1, 0}};
  for (const auto& st : steps) {
    SCOPED_TRACE(st.name);
    readiness->set(bound, st.bound);
    readiness->setDraining(st.draining);
    families = m.Collect();
    EXPECT_EQ(single(families, "teredo_ready", prometheus::MetricType::Gauge), st.ready);
    EXPECT_EQ(single(families, "teredo_draining", prometheus::MetricType::Gauge), st.drained);
  }
}

TEST(AgentMetrics, FreshMetricsAreZeroAndDisconnected) {
  AgentMetrics m(1700000000.0);
  EXPECT_FALSE(m.controllerConnected());
  EXPECT_EQ(m.configAcks(), 0u);
  EXPECT_EQ(m.configNacks(), 0u);
  EXPECT_EQ(m.appliedVersion(), 0u);
  const auto families = m.Collect();
  EXPECT_EQ(single(families, "teredo_controller_connected", prometheus::MetricType::Gauge), 0.0);
  // Both results exist from the start, so the first NACK is not lost to rate().
  EXPECT_EQ(updates(families, "ack"), 0.0);
  EXPECT_EQ(updates(families, "nack"), 0.0);
  EXPECT_EQ(findFamily(families, "teredo_config_updates_total")->type,
            prometheus::MetricType::Counter);
  EXPECT_EQ(single(families, "teredo_config_applied_version", prometheus::MetricType::Gauge), 0.0);
  EXPECT_EQ(single(families, "teredo_config_last_applied_timestamp_seconds",
                   prometheus::MetricType::Gauge),
            0.0);
}

TEST(AgentMetrics, ExplicitStartTimeIsExported) {
  AgentMetrics m(1700000123.25);
  EXPECT_EQ(single(m.Collect(), "process_start_time_seconds", prometheus::MetricType::Gauge),
            1700000123.25);
  AgentMetrics epoch(0.0);  // 0 is a valid (if odd) time, not "now"
  EXPECT_EQ(single(epoch.Collect(), "process_start_time_seconds", prometheus::MetricType::Gauge),
            0.0);
}

TEST(AgentMetrics, NegativeStartTimeMeansNow) {
  const double now = unixNowSeconds();
  AgentMetrics m;  // default -1
  AgentMetrics explicitNegative(-5.0);
  for (const AgentMetrics* metrics : {&m, &explicitNegative}) {
    const double start =
        single(metrics->Collect(), "process_start_time_seconds", prometheus::MetricType::Gauge);
    // The wall clock, not the argument: generous bounds, so a clock step cannot fail the test.
    EXPECT_NEAR(start, now, 3600.0);
  }
  // And it stays fixed: a later scrape reports the same start.
  EXPECT_EQ(single(m.Collect(), "process_start_time_seconds", prometheus::MetricType::Gauge),
            single(m.Collect(), "process_start_time_seconds", prometheus::MetricType::Gauge));
}

TEST(AgentMetrics, SettersAreReflectedInAccessorsAndCollect) {
  AgentMetrics m(1700000000.0);
  m.setControllerConnected(true);
  m.countConfigAck();
  m.countConfigAck();
  m.countConfigAck();
  m.countConfigNack();
  m.setAppliedConfig(42, 1700000100.5);

  EXPECT_TRUE(m.controllerConnected());
  EXPECT_EQ(m.configAcks(), 3u);
  EXPECT_EQ(m.configNacks(), 1u);
  EXPECT_EQ(m.appliedVersion(), 42u);
  const auto families = m.Collect();
  EXPECT_EQ(single(families, "teredo_controller_connected", prometheus::MetricType::Gauge), 1.0);
  EXPECT_EQ(updates(families, "ack"), 3.0);
  EXPECT_EQ(updates(families, "nack"), 1.0);
  EXPECT_EQ(single(families, "teredo_config_applied_version", prometheus::MetricType::Gauge), 42.0);
  EXPECT_EQ(single(families, "teredo_config_last_applied_timestamp_seconds",
                   prometheus::MetricType::Gauge),
            1700000100.5);

  // The stream drops; a later config replaces the applied one.
  m.setControllerConnected(false);
  m.setAppliedConfig(43, 1700000200.0);
  const auto later = m.Collect();
  EXPECT_EQ(single(later, "teredo_controller_connected", prometheus::MetricType::Gauge), 0.0);
  EXPECT_EQ(single(later, "teredo_config_applied_version", prometheus::MetricType::Gauge), 43.0);
  EXPECT_EQ(
      single(later, "teredo_config_last_applied_timestamp_seconds", prometheus::MetricType::Gauge),
      1700000200.0);
  EXPECT_EQ(updates(later, "ack"), 3.0) << "counters never go back";
}

TEST(AgentMetrics, BugsTotalCountsNotedBugs) {
  AgentMetrics m(1700000000.0);
  const double before = single(m.Collect(), "teredo_bugs_total", prometheus::MetricType::Counter);
  EXPECT_EQ(before, static_cast<double>(bugCount()));
  noteBug(__FILE__, __LINE__, "agent_metrics_test: a deliberate test bug");
  EXPECT_EQ(single(m.Collect(), "teredo_bugs_total", prometheus::MetricType::Counter), before + 1);
}

// Setters and Collect() from any thread: four threads count, the totals are exact.
TEST(AgentMetrics, ConcurrentCountingIsExact) {
  AgentMetrics m(1700000000.0);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < kPerThread; ++i) {
        m.countConfigAck();
        if (i % 5 == 0) {
          m.countConfigNack();
        }
        m.setControllerConnected(t % 2 == 0);
      }
    });
  }
  threads.emplace_back([&m] {
    for (int i = 0; i < 200; ++i) {
      (void)m.Collect();
    }
  });
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(m.configAcks(), uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(m.configNacks(), uint64_t{kThreads} * (kPerThread / 5));
  const auto families = m.Collect();
  EXPECT_EQ(updates(families, "ack"), double{kThreads} * kPerThread);
  EXPECT_EQ(updates(families, "nack"), double{kThreads} * (kPerThread / 5));
}

TEST(UnixNowSeconds, IsAfter2020) {
  EXPECT_GT(unixNowSeconds(), 1577836800.0);  // 2020-01-01T00:00:00Z
}

}  // namespace
}  // namespace teredo::agent

// Unit tests for lib/agent/metric_family.h: hand-built families for scrape-time collectables, and
// what the Prometheus text serializer makes of them.
#include "agent/metric_family.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace teredo::agent {
namespace {

std::string render(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

TEST(GaugeFamily, OneUnlabelledGauge) {
  const prometheus::MetricFamily f = gaugeFamily("teredo_test_peers", "Peers now.", 12.5);
  EXPECT_EQ(f.name, "teredo_test_peers");
  EXPECT_EQ(f.help, "Peers now.");
  EXPECT_EQ(f.type, prometheus::MetricType::Gauge);
  ASSERT_EQ(f.metric.size(), 1u);
  EXPECT_TRUE(f.metric[0].label.empty());
  EXPECT_EQ(f.metric[0].gauge.value, 12.5);
  EXPECT_EQ(render({f}),
            "# HELP teredo_test_peers Peers now.\n"
            "# TYPE teredo_test_peers gauge\n"
            "teredo_test_peers 12.5\n");
}

TEST(GaugeFamily, ZeroAndNegativeValuesAreKept) {
  EXPECT_EQ(gaugeFamily("g", "h", 0).metric.at(0).gauge.value, 0.0);
  EXPECT_EQ(gaugeFamily("g", "h", -3).metric.at(0).gauge.value, -3.0);
}

TEST(LabeledFamily, CounterOneSamplePerLabelValueInOrder) {
  const prometheus::MetricFamily f =
      labeledFamily("teredo_test_events_total", "Events by cause.", prometheus::MetricType::Counter,
                    "cause", {{"expired", 3}, {"capacity", 0}, {"erased", 7}});
  EXPECT_EQ(f.name, "teredo_test_events_total");
  EXPECT_EQ(f.type, prometheus::MetricType::Counter);
  ASSERT_EQ(f.metric.size(), 3u);
  const std::pair<const char*, double> want[] = {{"expired", 3}, {"capacity", 0}, {"erased", 7}};
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(f.metric[i].label.size(), 1u);
    EXPECT_EQ(f.metric[i].label[0].name, "cause");
    EXPECT_EQ(f.metric[i].label[0].value, want[i].first);
    EXPECT_EQ(f.metric[i].counter.value, want[i].second);
    EXPECT_EQ(f.metric[i].gauge.value, 0.0) << "a counter's value goes in counter only";
  }
  EXPECT_EQ(render({f}),
            "# HELP teredo_test_events_total Events by cause.\n"
            "# TYPE teredo_test_events_total counter\n"
            "teredo_test_events_total{cause=\"expired\"} 3\n"
            "teredo_test_events_total{cause=\"capacity\"} 0\n"
            "teredo_test_events_total{cause=\"erased\"} 7\n");
}

TEST(LabeledFamily, GaugeValuesGoInGauge) {
  const prometheus::MetricFamily f =
      labeledFamily("teredo_test_clients", "Clients by NAT type.", prometheus::MetricType::Gauge,
                    "nat_type", {{"cone", 2}, {"symmetric", 5}});
  EXPECT_EQ(f.type, prometheus::MetricType::Gauge);
  ASSERT_EQ(f.metric.size(), 2u);
  EXPECT_EQ(f.metric[0].gauge.value, 2.0);
  EXPECT_EQ(f.metric[1].gauge.value, 5.0);
  EXPECT_EQ(f.metric[0].counter.value, 0.0) << "a gauge's value goes in gauge only";
  EXPECT_EQ(render({f}),
            "# HELP teredo_test_clients Clients by NAT type.\n"
            "# TYPE teredo_test_clients gauge\n"
            "teredo_test_clients{nat_type=\"cone\"} 2\n"
            "teredo_test_clients{nat_type=\"symmetric\"} 5\n");
}

TEST(LabeledFamily, NoValuesGivesAnEmptyFamily) {
  const prometheus::MetricFamily f =
      labeledFamily("teredo_test_empty", "Nothing.", prometheus::MetricType::Counter, "x", {});
  EXPECT_EQ(f.name, "teredo_test_empty");
  EXPECT_TRUE(f.metric.empty());
}

}  // namespace
}  // namespace teredo::agent

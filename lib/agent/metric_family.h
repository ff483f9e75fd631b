// Building Prometheus metric families by hand, for collectables that read their values at scrape
// time (agent metrics, the server's NAT observation, the relay's peer table). Labels carry
// bounded values only (a cause, a NAT type), never an address.
//
// Thread-safety: pure functions. Ownership: the returned families are the caller's.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

namespace teredo::agent {

/// One unlabelled gauge.
inline prometheus::MetricFamily gaugeFamily(const char* name, const char* help, double value) {
  prometheus::ClientMetric m;
  m.gauge.value = value;
  return prometheus::MetricFamily{name, help, prometheus::MetricType::Gauge, {m}};
}

/// A gauge or counter family with one label: one sample per (label value, value).
inline prometheus::MetricFamily labeledFamily(
    const char* name, const char* help, prometheus::MetricType type, const char* label,
    const std::vector<std::pair<std::string, double>>& values) {
  prometheus::MetricFamily f{name, help, type, {}};
  for (const auto& [labelValue, value] : values) {
    prometheus::ClientMetric m;
    m.label = {{label, labelValue}};
    if (type == prometheus::MetricType::Counter) {
      m.counter.value = value;
    } else {
      m.gauge.value = value;
    }
    f.metric.push_back(std::move(m));
  }
  return f;
}

}  // namespace teredo::agent

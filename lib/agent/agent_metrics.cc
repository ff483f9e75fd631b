#include "agent/agent_metrics.h"

#include "agent/metric_family.h"

#include <chrono>

#include "agent/log.h"
#include "teredo/build_info.h"

namespace teredo::agent {

double unixNowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

AgentMetrics::AgentMetrics(double processStartUnixSeconds)
    : startSeconds_(processStartUnixSeconds < 0 ? unixNowSeconds() : processStartUnixSeconds) {}

void AgentMetrics::setAppliedConfig(uint64_t version, double unixSeconds) {
  appliedVersion_.store(version, std::memory_order_relaxed);
  appliedAt_.store(unixSeconds, std::memory_order_relaxed);
}

namespace {}  // namespace

std::vector<prometheus::MetricFamily> AgentMetrics::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  {
    prometheus::ClientMetric m;
    m.label = {{"commit", build::kCommit}, {"version", build::kVersion}};
    if (!role_.empty()) {
      m.label.push_back({"role", role_});
    }
    m.gauge.value = 1;
    out.push_back({"teredo_build_info",
                   "Build identity; always 1. Join on version and commit.",
                   prometheus::MetricType::Gauge,
                   {m}});
  }
  out.push_back(gaugeFamily("process_start_time_seconds",
                            "Start time of the process since the Unix epoch in seconds.",
                            startSeconds_));
  if (readiness_ != nullptr) {
    out.push_back(gaugeFamily("teredo_ready",
                              "1 while /readyz answers 200 (sockets bound, config applied, not "
                              "draining, role conditions met).",
                              readiness_->ready(nullptr) ? 1 : 0));
    out.push_back(gaugeFamily("teredo_draining",
                              "1 while drained (admits no new peers; /readyz 503).",
                              readiness_->draining() ? 1 : 0));
  }
  out.push_back(gaugeFamily(
      "teredo_controller_connected",
      "1 while the controller stream is up. Forwarding does not depend on it; alert only when "
      "it stays 0 across the fleet.",
      controllerConnected() ? 1 : 0));
  out.push_back(labeledFamily(
      "teredo_config_updates_total",
      "Config snapshots from the controller, by result (ack: applied; "
      "nack: rejected, the previous config kept serving).",
      prometheus::MetricType::Counter, "result",
      {{"ack", static_cast<double>(configAcks())}, {"nack", static_cast<double>(configNacks())}}));
  out.push_back(gaugeFamily("teredo_config_applied_version",
                            "Version of the config snapshot now serving (0: bootstrap YAML). "
                            "Compare with the controller's desired version.",
                            static_cast<double>(appliedVersion())));
  out.push_back(gaugeFamily("teredo_config_last_applied_timestamp_seconds",
                            "When the serving config was applied, Unix seconds (0: never).",
                            appliedAt_.load(std::memory_order_relaxed)));
  {
    prometheus::ClientMetric m;
    m.counter.value = static_cast<double>(bugCount());
    out.push_back({"teredo_bugs_total",
                   "Broken internal invariants (TEREDO_BUG). Any increase is a bug to report.",
                   prometheus::MetricType::Counter,
                   {m}});
  }
  return out;
}

}  // namespace teredo::agent

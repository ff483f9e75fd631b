// Process-wide metrics every agent (server, relay) exports besides its component stats:
// build identity (with the role, so rules can tell the fleet's targets apart without relying on
// scrape job names), start time, readiness and drain, controller connection and config updates.
//
// Thread-safety: all setters and Collect() may be called from any thread (relaxed atomics).
// Ownership: hold it in a shared_ptr and hand that to AdminServer (it is a Collectable).
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/health.h"

namespace teredo::agent {

class AgentMetrics : public prometheus::Collectable {
 public:
  /// `processStartUnixSeconds` < 0 means "now".
  explicit AgentMetrics(double processStartUnixSeconds = -1.0);

  /// The role label of teredo_build_info ("server", "relay") and the Readiness behind
  /// teredo_ready and teredo_draining. Call once, before the admin server serves.
  void describe(std::string role, std::shared_ptr<const Readiness> readiness) {
    role_ = std::move(role);
    readiness_ = std::move(readiness);
  }

  void setControllerConnected(bool connected) {
    controllerConnected_.store(connected, std::memory_order_relaxed);
  }
  void countConfigAck() { acks_.fetch_add(1, std::memory_order_relaxed); }
  void countConfigNack() { nacks_.fetch_add(1, std::memory_order_relaxed); }
  /// Records the version now serving and when it was applied (Unix seconds).
  void setAppliedConfig(uint64_t version, double unixSeconds);

  bool controllerConnected() const { return controllerConnected_.load(std::memory_order_relaxed); }
  uint64_t configAcks() const { return acks_.load(std::memory_order_relaxed); }
  uint64_t configNacks() const { return nacks_.load(std::memory_order_relaxed); }
  uint64_t appliedVersion() const { return appliedVersion_.load(std::memory_order_relaxed); }

  /// teredo_build_info{role,version,commit}, process_start_time_seconds, teredo_ready and
  /// teredo_draining (with a Readiness), teredo_controller_connected,
  /// teredo_config_updates_total{result}, teredo_config_applied_version,
  /// teredo_config_last_applied_timestamp_seconds, teredo_bugs_total.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  double startSeconds_;
  std::string role_;
  std::shared_ptr<const Readiness> readiness_;
  std::atomic<bool> controllerConnected_{false};
  std::atomic<uint64_t> acks_{0};
  std::atomic<uint64_t> nacks_{0};
  std::atomic<uint64_t> appliedVersion_{0};
  std::atomic<double> appliedAt_{0.0};
};

/// Seconds since the Unix epoch (system clock).
double unixNowSeconds();

}  // namespace teredo::agent

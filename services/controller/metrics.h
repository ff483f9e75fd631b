// The controller's /metrics: fleet aggregates and push machinery, computed from a
// Controller::snapshot() at scrape time (no per-event Family::Add). Labels are bounded: role,
// state, result, direction, reason (every DropReason label, zeros included; nothing else),
// nat_type, path, cause, socket, cone, prefix (a configured announce prefix, never a client
// address). Never an address, port or agent id.
//
// Thread-safety: Collect() may run on any thread (it only calls Controller::snapshot()).
// Ownership: borrows the Controller, which must outlive it.
#pragma once

#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "controller.h"

namespace teredo::controller {

class FleetCollectable final : public prometheus::Collectable {
 public:
  explicit FleetCollectable(const Controller& controller) : controller_(controller) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Controller& controller_;
};

}  // namespace teredo::controller

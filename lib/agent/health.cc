#include "agent/health.h"

#include <cassert>
#include <cstdio>

namespace teredo::agent {

int64_t steadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Heartbeats::Heartbeats(size_t slots, std::chrono::nanoseconds maxAge, MonoClock clock)
    : slotCount_(slots),
      slots_(std::make_unique<Slot[]>(slots)),
      maxAgeNs_(maxAge.count()),
      clock_(std::move(clock)) {
  assert(slots >= 1);
  const int64_t now = clock_();
  for (size_t i = 0; i < slotCount_; ++i) {
    slots_[i].lastNs.store(now, std::memory_order_relaxed);
  }
}

bool Heartbeats::fresh(std::string* detail) const {
  const int64_t now = clock_();
  int64_t worstAge = 0;
  size_t worst = 0;
  for (size_t i = 0; i < slotCount_; ++i) {
    const int64_t age = now - slots_[i].lastNs.load(std::memory_order_relaxed);
    if (age > worstAge) {
      worstAge = age;
      worst = i;
    }
  }
  const bool ok = worstAge <= maxAgeNs_;
  if (detail != nullptr) {
    char buf[128];
    if (ok) {
      std::snprintf(buf, sizeof(buf), "ok");
    } else {
      std::snprintf(buf, sizeof(buf), "stale: event loop %zu last beat %.3f s ago (max %.3f s)",
                    worst, static_cast<double>(worstAge) / 1e9,
                    static_cast<double>(maxAgeNs_) / 1e9);
    }
    *detail = buf;
  }
  return ok;
}

size_t Readiness::addCondition(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < conditions_.size(); ++i) {
    if (conditions_[i].name == name) {
      return i;
    }
  }
  conditions_.push_back(Condition{name, false});
  return conditions_.size() - 1;
}

void Readiness::set(size_t id, bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  assert(id < conditions_.size());
  if (id < conditions_.size()) {
    conditions_[id].ok = ok;
  }
}

bool Readiness::set(const std::string& name, bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& c : conditions_) {
    if (c.name == name) {
      c.ok = ok;
      return true;
    }
  }
  return false;
}

bool Readiness::ready(std::string* detail) const {
  std::string failing;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& c : conditions_) {
      if (!c.ok) {
        failing += " " + c.name + "=false";
      }
    }
  }
  if (draining()) {
    failing += " draining=true";
  }
  if (detail != nullptr) {
    *detail = failing.empty() ? "ready" : "not ready:" + failing;
  }
  return failing.empty();
}

}  // namespace teredo::agent

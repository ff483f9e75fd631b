#include "teredo/nat_observer.h"

namespace teredo {

NatObserver::NatObserver(size_t tableSize, std::chrono::milliseconds window)
    : windowMs_(window.count() <= 0 ? 1 : static_cast<uint64_t>(window.count())) {
  const size_t perShard = (tableSize + kShards - 1) / kShards;
  for (auto& s : shards_) {
    s = std::make_unique<Shard>(perShard);
  }
}

void NatObserver::apply(Observation& o, uint16_t port, bool onSecondary, bool cone,
                        uint64_t nowMs) {
  if (cone) {
    if (o.coneAt != 0 && port == o.conePort && nowMs - o.coneAt <= kRetryMs) {
      o.coneFailed = true;  // a retry: the cone RA did not get through (§5.2.1 step 2)
      return;
    }
    if (o.coneAt != 0 && !o.coneFailed) {
      o.verdict = NatClass::Cone;  // the previous cone RS was answered: never retried
    }
    o.coneAt = nowMs;
    o.conePort = port;
    o.coneFailed = false;
    return;
  }
  if (o.coneAt != 0 && port == o.conePort && nowMs - o.coneAt <= 2 * kRetryMs) {
    o.coneFailed = true;  // the client fell back to plain RSs (§5.2.1 step 4)
  }
  if (!onSecondary) {
    o.plainPrimaryAt = nowMs;
    o.plainPrimaryPort = port;
  } else if (o.plainPrimaryAt != 0 && nowMs - o.plainPrimaryAt <= kPairingMs) {
    // §5.2.1 step 5: the mapping seen by the secondary against the one seen by the primary.
    o.verdict = port == o.plainPrimaryPort ? NatClass::Restricted : NatClass::Symmetric;
  }
}

NatClass NatObserver::settle(Observation& o, uint64_t nowMs) {
  if (o.coneAt != 0 && !o.coneFailed && nowMs - o.coneAt > kRetryMs) {
    o.verdict = NatClass::Cone;
    o.coneAt = 0;
  }
  return o.verdict;
}

void NatObserver::commit(Observation& o, uint64_t nowMs) {
  const NatClass c = settle(o, nowMs);
  o.pending = false;
  std::lock_guard<std::mutex> lock(windowsMutex_);
  WindowCounts& slot = open_[o.window % kOpenWindows];
  if (!slot.used || slot.window != o.window) {
    // A window kOpenWindows behind that rotate() never closed is overwritten (rotate runs every
    // second, so only a stalled timer loses counts).
    slot = WindowCounts{o.window, true, {}};
  }
  ++slot.counts[c];
}

void NatObserver::observe(const Endpoint& client, bool onSecondary, bool cone, uint64_t nowMs) {
  clients_.addEndpoint(client.addr, client.port);
  lifetimeClients_.addEndpoint(client.addr, client.port);
  const uint64_t key = client.addr;
  Shard& shard = *shards_[HyperLogLog::mix64(key) % kShards];
  const uint64_t window = windowOf(nowMs);
  std::lock_guard<std::mutex> lock(shard.mutex);
  bool fresh = false;
  Observation& o = shard.table.findOrInsert(key, nowMs, fresh);
  if (!fresh && o.pending && o.window != window) {
    commit(o, nowMs);  // count the earlier window before this RS changes the evidence
  }
  apply(o, client.port, onSecondary, cone, nowMs);
  o.window = window;
  o.pending = true;
}

void NatObserver::publishLocked(uint64_t w) {
  NatCounts counts;
  {
    std::lock_guard<std::mutex> lock(windowsMutex_);
    WindowCounts& slot = open_[w % kOpenWindows];
    if (slot.used && slot.window == w) {
      counts = slot.counts;
      slot.used = false;
    }
  }
  for (size_t i = 0; i < kNatClassCount; ++i) {
    totals_.byClass[i] += counts.byClass[i];
  }
  lastWindow_ = counts;
}

bool NatObserver::rotate(uint64_t nowMs) {
  const uint64_t window = windowOf(nowMs);
  std::lock_guard<std::mutex> result(resultMutex_);
  if (!started_) {
    started_ = true;
    currentWindow_ = window;
    return false;
  }
  if (window <= currentWindow_) {
    return false;
  }
  // Evidence outlives windows (a restricted client refreshes with plain RSs to the primary
  // only), but not idle addresses: ten minutes, or two windows if those are longer.
  const uint64_t idleWindows = std::max<uint64_t>(2, 600'000 / windowMs_);
  for (auto& s : shards_) {
    std::lock_guard<std::mutex> lock(s->mutex);
    s->table.sweep([&](uint64_t, Observation& o, uint64_t) {
      if (o.pending && o.window < window) {
        commit(o, nowMs);
      }
      return !o.pending && o.window + idleWindows < window;
    });
  }
  for (uint64_t w = currentWindow_; w < window; ++w) {
    publishLocked(w);
  }
  lastWindowClients_ = clients_.estimate();
  clients_.reset();
  currentWindow_ = window;
  return true;
}

NatCounts NatObserver::lastWindow() const {
  std::lock_guard<std::mutex> lock(resultMutex_);
  return lastWindow_;
}

NatCounts NatObserver::totals() const {
  std::lock_guard<std::mutex> lock(resultMutex_);
  return totals_;
}

double NatObserver::lastWindowClients() const {
  std::lock_guard<std::mutex> lock(resultMutex_);
  return lastWindowClients_;
}

size_t NatObserver::trackedClients() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard<std::mutex> lock(s->mutex);
    n += s->table.size();
  }
  return n;
}

size_t NatObserver::capacity() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    n += s->table.capacity();
  }
  return n;
}

}  // namespace teredo

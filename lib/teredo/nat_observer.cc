#include "teredo/nat_observer.h"

namespace teredo {
namespace {

// RFC 4380 §5.2.1: the secondary probe follows the primary answer within the qualification
// procedure (4 s x 3 tries); allow refresh-interval slack when pairing the two ports.
constexpr uint32_t kPairingSeconds = 30;

}  // namespace

NatObserver::NatObserver(size_t tableSize, uint32_t windowSeconds)
    : windowSeconds_(windowSeconds == 0 ? 1 : windowSeconds) {
  const size_t perShard = (tableSize + kShards - 1) / kShards;
  for (auto& s : shards_) {
    s = std::make_unique<Shard>(perShard);
  }
}

NatClass NatObserver::classify(const Observation& o) {
  if (o.primaryAt != 0 && o.secondaryAt != 0) {
    const uint32_t gap =
        o.primaryAt > o.secondaryAt ? o.primaryAt - o.secondaryAt : o.secondaryAt - o.primaryAt;
    if (gap <= kPairingSeconds) {
      return o.primaryPort == o.secondaryPort ? NatClass::Restricted : NatClass::Symmetric;
    }
  }
  if (o.coneCount > 0 && !o.plainAfterCone) {
    // The cone RA (sent from the other address) got through, or the client would have fallen
    // back to plain RSs after its retries (RFC 4380 §5.2.1 step 4).
    return o.coneCount >= 2 ? NatClass::Cone : NatClass::Unknown;
  }
  if (o.plainAfterCone) {
    // Cone probe failed: restricted or symmetric; without a secondary probe we cannot tell.
    return NatClass::Unknown;
  }
  return NatClass::Unknown;
}

void NatObserver::observe(const Endpoint& client, bool onSecondary, bool cone, uint64_t nowS) {
  clients_.addEndpoint(client.addr, client.port);
  lifetimeClients_.addEndpoint(client.addr, client.port);
  const uint64_t key = client.addr;
  Shard& shard = *shards_[HyperLogLog::mix64(key) % kShards];
  const uint32_t now32 = static_cast<uint32_t>(nowS == 0 ? 1 : nowS);
  std::lock_guard<std::mutex> lock(shard.mutex);
  bool fresh = false;
  Observation& o = shard.table.findOrInsert(key, nowS, fresh);
  const uint64_t window = windowOf(nowS);
  if (!fresh && o.window != window) {
    // A new window starts from what this window sees, except the ports, which pair across it.
    o.coneCount = 0;
    o.plainAfterCone = false;
  }
  o.window = window;
  if (onSecondary) {
    o.secondaryPort = client.port;
    o.secondaryAt = now32;
  } else {
    o.primaryPort = client.port;
    o.primaryAt = now32;
  }
  if (cone) {
    o.coneAt = now32;
    if (o.coneCount < UINT16_MAX) {
      ++o.coneCount;
    }
  } else if (o.coneCount > 0) {
    o.plainAfterCone = true;
  }
}

bool NatObserver::rotate(uint64_t nowS) {
  const uint64_t window = windowOf(nowS);
  std::lock_guard<std::mutex> result(resultMutex_);
  if (!started_) {
    started_ = true;
    currentWindow_ = window;
    return false;
  }
  if (window == currentWindow_) {
    return false;
  }
  NatCounts counts;
  const uint64_t closing = currentWindow_;
  for (auto& s : shards_) {
    std::lock_guard<std::mutex> lock(s->mutex);
    s->table.sweep([&](uint64_t, Observation& o, uint64_t) {
      if (o.window == closing) {
        ++counts[classify(o)];
      }
      // Keep one extra window so primary/secondary pairs straddling a boundary still pair.
      return o.window + 1 < window;
    });
  }
  for (size_t i = 0; i < kNatClassCount; ++i) {
    totals_.byClass[i] += counts.byClass[i];
  }
  lastWindow_ = counts;
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

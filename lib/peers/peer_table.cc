#include "peers/peer_table.h"

#include <Judy.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <new>

namespace teredo::peers {
namespace {

constexpr uint32_t kEntriesPerSlab = 1024;

// Measured by tests/unit/peers MemoryPerPeer (mallinfo2 delta over 1,000,000 random peers in
// 16 shards, Judy 1.0.5, glibc 2.36, x86-64): 117 bytes (88-byte entry, about 26 bytes of JudyL,
// slab slack). Rounded up for headroom.
constexpr size_t kBytesPerPeer = 128;

size_t roundUpPow2(size_t n) {
  size_t p = 1;
  while (p < n) {
    p <<= 1;
  }
  return p;
}

}  // namespace

size_t bytesPerPeerEstimate() {
  return kBytesPerPeer;
}

// ---------------------------------------------------------------------------------------------
// Shard: a JudyL (hash -> head of collision chain), entry slabs, a free list and two LRU lists.

struct PeerTable::Shard {
  std::mutex mu;
  Pvoid_t judy = nullptr;
  std::unique_ptr<std::unique_ptr<PeerEntry[]>[]> slabs;
  size_t maxSlabs = 0;
  size_t slabCount = 0;
  uint32_t carved = 0;    // entries ever handed out (1-based indices 1..carved exist)
  uint32_t freeHead = 0;  // 1-based, linked through `chain`
  uint32_t size = 0;
  uint32_t cap = 0;
  uint32_t uHead = 0, uTail = 0;  // untrusted list, oldest first
  uint32_t tHead = 0, tTail = 0;  // trusted list, oldest last_rx first

  ~Shard() { JudyLFreeArray(&judy, PJE0); }

  PeerEntry& at(uint32_t idx) {
    const uint32_t i = idx - 1;
    return slabs[i / kEntriesPerSlab][i % kEntriesPerSlab];
  }

  void listAppend(uint32_t idx, TimePoint t) {
    PeerEntry& e = at(idx);
    uint32_t& head = e.trusted() ? tHead : uHead;
    uint32_t& tail = e.trusted() ? tTail : uTail;
    e.listTime = t;
    e.prev = tail;
    e.next = 0;
    if (tail != 0) {
      at(tail).next = idx;
    } else {
      head = idx;
    }
    tail = idx;
  }

  void listRemove(uint32_t idx) {
    PeerEntry& e = at(idx);
    uint32_t& head = e.trusted() ? tHead : uHead;
    uint32_t& tail = e.trusted() ? tTail : uTail;
    if (e.prev != 0) {
      at(e.prev).next = e.next;
    } else {
      head = e.next;
    }
    if (e.next != 0) {
      at(e.next).prev = e.prev;
    } else {
      tail = e.prev;
    }
    e.prev = e.next = 0;
  }

  uint32_t find(uint64_t hash, const Ipv6Addr& addr) {
    PPvoid_t slot = JudyLGet(judy, static_cast<Word_t>(hash), PJE0);
    if (slot == nullptr) {
      return 0;
    }
    uint32_t idx = static_cast<uint32_t>(*reinterpret_cast<Word_t*>(slot));
    while (idx != 0 && at(idx).addr != addr) {
      idx = at(idx).chain;
    }
    return idx;
  }

  bool indexInsert(uint64_t hash, uint32_t idx) {
    PPvoid_t slot = JudyLIns(&judy, static_cast<Word_t>(hash), PJE0);
    if (slot == PPJERR || slot == nullptr) {
      return false;
    }
    Word_t* value = reinterpret_cast<Word_t*>(slot);
    at(idx).chain = static_cast<uint32_t>(*value);  // 0 when the hash is new
    *value = idx;
    return true;
  }

  void indexRemove(uint64_t hash, uint32_t idx) {
    PPvoid_t slot = JudyLGet(judy, static_cast<Word_t>(hash), PJE0);
    assert(slot != nullptr);
    Word_t* value = reinterpret_cast<Word_t*>(slot);
    if (*value == idx) {
      if (at(idx).chain == 0) {
        JudyLDel(&judy, static_cast<Word_t>(hash), PJE0);
      } else {
        *value = at(idx).chain;
      }
      return;
    }
    uint32_t cur = static_cast<uint32_t>(*value);
    while (at(cur).chain != idx) {
      cur = at(cur).chain;
    }
    at(cur).chain = at(idx).chain;
  }

  // Returns a fresh slot (1-based) or 0 when out of memory. Caller checked size < cap.
  uint32_t allocEntry() {
    if (freeHead != 0) {
      const uint32_t idx = freeHead;
      freeHead = at(idx).chain;
      return idx;
    }
    if (carved == slabCount * kEntriesPerSlab) {
      if (slabCount == maxSlabs) {
        return 0;
      }
      slabs[slabCount].reset(new (std::nothrow) PeerEntry[kEntriesPerSlab]);
      if (!slabs[slabCount]) {
        return 0;
      }
      ++slabCount;
    }
    return ++carved;
  }

  void freeEntry(uint32_t idx) {
    PeerEntry& e = at(idx);
    e = PeerEntry{};
    e.chain = freeHead;
    freeHead = idx;
  }
};

// ---------------------------------------------------------------------------------------------
// PeerTable

PeerTable::PeerTable(const PeerTableConfig& config)
    : config_(config), pool_(config.globalQueueBytes) {
  const size_t maxPeers = std::max<size_t>(config_.maxPeers, 1);
  shardCount_ = roundUpPow2(std::max<size_t>(config_.shards, 1));
  while (shardCount_ > maxPeers) {
    shardCount_ >>= 1;  // every shard holds at least one peer
  }
  shards_ = std::make_unique<Shard[]>(shardCount_);
  for (size_t i = 0; i < shardCount_; ++i) {
    Shard& s = shards_[i];
    s.cap = static_cast<uint32_t>(maxPeers / shardCount_ + (i < maxPeers % shardCount_ ? 1 : 0));
    s.maxSlabs = (s.cap + kEntriesPerSlab - 1) / kEntriesPerSlab;
    s.slabs = std::make_unique<std::unique_ptr<PeerEntry[]>[]>(s.maxSlabs);
  }
}

PeerTable::~PeerTable() = default;

uint64_t PeerTable::hashOf(const Ipv6Addr& addr) const {
  return sipHash24(config_.hashKey, addr.bytes);
}

PeerTable::Shard& PeerTable::shardFor(uint64_t hash) const {
  // High bits pick the shard (shardCount_ is a power of two).
  const size_t i = shardCount_ == 1 ? 0 : static_cast<size_t>(hash >> 32) & (shardCount_ - 1);
  return shards_[i];
}

PeerTable::Ref PeerTable::lock(const Ipv6Addr& addr, TimePoint now) {
  const uint64_t h = hashOf(addr);
  Ref ref(this, &shardFor(h), addr, h);
  ref.index_ = ref.shard_->find(h, addr);
  if (ref.found()) {
    const PeerEntry& e = ref.entry();
    if (e.trusted() && now - e.lastRx > config_.trustTimeout) {
      ref.setUntrusted(now);  // RFC 4380 §5.2.4: no longer valid
    }
  }
  return ref;
}

PeerTable::Ref PeerTable::findOrCreate(const Ipv6Addr& addr, TimePoint now, CreateResult* result) {
  Ref ref = lock(addr, now);
  const CreateResult r = ref.create(now);
  if (result != nullptr) {
    *result = r;
  }
  return ref;
}

bool PeerTable::erase(const Ipv6Addr& addr) {
  Ref ref = lock(addr, TimePoint{});
  if (!ref.found()) {
    return false;
  }
  ref.erase();
  return true;
}

ExpireStats PeerTable::expire(TimePoint now) {
  ExpireStats st;
  for (size_t i = 0; i < shardCount_; ++i) {
    Shard& s = shards_[i];
    std::lock_guard<std::mutex> lk(s.mu);
    // Trusted list is ordered by last_rx: demote from the head while trust has lapsed.
    while (s.tHead != 0 && now - s.at(s.tHead).listTime > config_.trustTimeout) {
      const uint32_t idx = s.tHead;
      s.listRemove(idx);
      s.at(idx).flags &= static_cast<uint8_t>(~PeerEntry::kTrusted);
      s.listAppend(idx, now);
      ++st.demoted;
    }
    while (s.uHead != 0 && now - s.at(s.uHead).listTime > config_.idleTimeout) {
      const uint32_t idx = s.uHead;
      const size_t dropped = removeLocked(s, idx);
      st.packetsDropped += dropped;
      counters_.queueDropEvicted.fetch_add(dropped, std::memory_order_relaxed);
      ++st.expired;
    }
  }
  counters_.evictedExpired.fetch_add(st.expired, std::memory_order_relaxed);
  return st;
}

size_t PeerTable::size() const {
  size_t n = 0;
  for (size_t i = 0; i < shardCount_; ++i) {
    std::lock_guard<std::mutex> lk(shards_[i].mu);
    n += shards_[i].size;
  }
  return n;
}

size_t PeerTable::indexBytes() const {
  size_t n = 0;
  for (size_t i = 0; i < shardCount_; ++i) {
    std::lock_guard<std::mutex> lk(shards_[i].mu);
    n += JudyLMemUsed(shards_[i].judy);
  }
  return n;
}

size_t PeerTable::freeQueueLocked(PeerEntry& e) {
  const size_t packets = e.queuedPackets;
  if (e.qHead != kNoChunk) {
    size_t chunks = 1;
    for (uint32_t c = e.qHead; c != e.qTail; c = pool_.next(c)) {
      ++chunks;
    }
    pool_.release(e.qHead, chunks);
  }
  queuedBytes_.fetch_sub(e.queuedBytes, std::memory_order_relaxed);
  e.qHead = e.qTail = kNoChunk;
  e.qReadOff = e.qWriteOff = 0;
  e.queuedBytes = 0;
  e.queuedPackets = 0;
  return packets;
}

size_t PeerTable::removeLocked(Shard& s, uint32_t idx) {
  PeerEntry& e = s.at(idx);
  const size_t dropped = freeQueueLocked(e);
  s.listRemove(idx);
  s.indexRemove(hashOf(e.addr), idx);
  s.freeEntry(idx);
  --s.size;
  return dropped;
}

// ---------------------------------------------------------------------------------------------
// Ref

PeerTable::Ref::Ref(PeerTable* table, Shard* shard, const Ipv6Addr& addr, uint64_t hash)
    : table_(table), shard_(shard), lock_(shard->mu), addr_(addr), hash_(hash) {}

const PeerEntry& PeerTable::Ref::entry() const {
  assert(found());
  return shard_->at(index_);
}

PeerEntry& PeerTable::Ref::mut() {
  assert(found());
  return shard_->at(index_);
}

CreateResult PeerTable::Ref::create(TimePoint now) {
  if (found()) {
    return CreateResult::Exists;
  }
  Shard& s = *shard_;
  PeerTableCounters& c = table_->counters_;
  CreateResult result = CreateResult::Created;
  if (s.size >= s.cap) {
    // Full (R13): the oldest untrusted entry goes first, then the oldest trusted one.
    const bool untrusted = s.uHead != 0;
    const uint32_t victim = untrusted ? s.uHead : s.tHead;
    const size_t dropped = table_->removeLocked(s, victim);
    c.queueDropEvicted.fetch_add(dropped, std::memory_order_relaxed);
    if (untrusted) {
      c.evictedCapacityUntrusted.fetch_add(1, std::memory_order_relaxed);
      result = CreateResult::CreatedEvictedUntrusted;
    } else {
      c.evictedCapacityTrusted.fetch_add(1, std::memory_order_relaxed);
      result = CreateResult::CreatedEvictedTrusted;
    }
  }
  const uint32_t idx = s.allocEntry();
  if (idx == 0) {
    c.createFailedNoMemory.fetch_add(1, std::memory_order_relaxed);
    return CreateResult::NoMemory;
  }
  PeerEntry& e = s.at(idx);
  e = PeerEntry{};
  e.addr = addr_;
  e.flags = PeerEntry::kInUse;
  if (!s.indexInsert(hash_, idx)) {
    s.freeEntry(idx);
    c.createFailedNoMemory.fetch_add(1, std::memory_order_relaxed);
    return CreateResult::NoMemory;
  }
  s.listAppend(idx, now);
  ++s.size;
  index_ = idx;
  c.created.fetch_add(1, std::memory_order_relaxed);
  return result;
}

void PeerTable::Ref::markReceived(const Endpoint& mapped, TimePoint now) {
  mut().mapped = mapped;
  setTrusted(now, now);
  mut().bubbles = 0;
}

void PeerTable::Ref::setMapped(const Endpoint& mapped) {
  mut().mapped = mapped;
}

void PeerTable::Ref::setTrusted(TimePoint lastRx, TimePoint /*now*/) {
  PeerEntry& e = mut();
  if (e.trusted() && e.lastRx == lastRx) {
    return;
  }
  shard_->listRemove(index_);
  e.flags |= PeerEntry::kTrusted;
  e.lastRx = lastRx;
  shard_->listAppend(index_, lastRx);  // the trusted list is ordered by last_rx
}

void PeerTable::Ref::setUntrusted(TimePoint now) {
  PeerEntry& e = mut();
  if (!e.trusted()) {
    return;
  }
  shard_->listRemove(index_);
  e.flags &= static_cast<uint8_t>(~PeerEntry::kTrusted);
  shard_->listAppend(index_, now);
}

void PeerTable::Ref::setLastTx(TimePoint t) {
  mut().lastTx = t;
}

void PeerTable::Ref::setBubbles(uint8_t count, TimePoint lastBubble) {
  mut().bubbles = count;
  mut().lastBubble = lastBubble;
}

void PeerTable::Ref::touch(TimePoint now) {
  if (!mut().trusted()) {
    shard_->listRemove(index_);
    shard_->listAppend(index_, now);
  }
}

EnqueueResult PeerTable::Ref::enqueue(std::span<const uint8_t> packet) {
  PeerEntry& e = mut();
  PeerTableCounters& c = table_->counters_;
  const size_t len = packet.size();
  if (len == 0 || len > 0xffff || e.queuedPackets == 0xffff) {
    c.queueDropTooBig.fetch_add(1, std::memory_order_relaxed);
    return EnqueueResult::TooBig;
  }
  if (e.queuedBytes + len > table_->config_.peerQueueBytes) {
    c.queueDropPeerFull.fetch_add(1, std::memory_order_relaxed);
    return EnqueueResult::QueueFull;
  }
  constexpr size_t kPayload = ChunkPool::kChunkPayload;
  ChunkPool& pool = table_->pool_;
  const size_t record = 2 + len;  // 16-bit length prefix, then the bytes
  const size_t avail = e.qTail != kNoChunk ? kPayload - e.qWriteOff : 0;
  if (record > avail) {
    const size_t need = (record - avail + kPayload - 1) / kPayload;
    uint32_t head = kNoChunk;
    uint32_t tail = kNoChunk;
    if (!pool.allocate(need, &head, &tail)) {
      c.queueDropGlobalFull.fetch_add(1, std::memory_order_relaxed);
      return EnqueueResult::GlobalQueueFull;
    }
    if (e.qTail == kNoChunk) {
      e.qHead = head;
      e.qReadOff = 0;
      e.qWriteOff = 0;
    } else {
      pool.next(e.qTail) = head;
    }
    // The writer walks from the old tail (if any) into the new chain.
    uint32_t chunk = e.qTail != kNoChunk ? e.qTail : head;
    size_t off = e.qWriteOff;
    const uint8_t prefix[2] = {static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
    auto write = [&](const uint8_t* src, size_t n) {
      while (n > 0) {
        if (off == kPayload) {
          chunk = pool.next(chunk);
          off = 0;
        }
        const size_t k = std::min(n, kPayload - off);
        std::memcpy(pool.data(chunk) + off, src, k);
        off += k;
        src += k;
        n -= k;
      }
    };
    write(prefix, 2);
    write(packet.data(), len);
    e.qTail = tail;
    assert(chunk == tail);
    e.qWriteOff = static_cast<uint16_t>(off);
  } else {
    uint8_t* dst = pool.data(e.qTail) + e.qWriteOff;
    dst[0] = static_cast<uint8_t>(len >> 8);
    dst[1] = static_cast<uint8_t>(len);
    std::memcpy(dst + 2, packet.data(), len);
    e.qWriteOff = static_cast<uint16_t>(e.qWriteOff + record);
  }
  e.queuedBytes += static_cast<uint32_t>(len);
  ++e.queuedPackets;
  table_->queuedBytes_.fetch_add(len, std::memory_order_relaxed);
  return EnqueueResult::Ok;
}

size_t PeerTable::Ref::popPacket(std::span<uint8_t> out, bool* dropped) {
  PeerEntry& e = mut();
  if (dropped != nullptr) {
    *dropped = false;
  }
  if (e.queuedPackets == 0) {
    return 0;
  }
  constexpr size_t kPayload = ChunkPool::kChunkPayload;
  ChunkPool& pool = table_->pool_;
  uint32_t chunk = e.qHead;
  size_t off = e.qReadOff;
  // Reads n bytes into dst (or skips them when dst is null), releasing chunks left behind.
  auto read = [&](uint8_t* dst, size_t n) {
    while (n > 0) {
      if (off == kPayload) {
        const uint32_t done = chunk;
        chunk = pool.next(chunk);
        pool.release(done, 1);
        off = 0;
      }
      const size_t k = std::min(n, kPayload - off);
      if (dst != nullptr) {
        std::memcpy(dst, pool.data(chunk) + off, k);
        dst += k;
      }
      off += k;
      n -= k;
    }
  };
  uint8_t prefix[2];
  read(prefix, 2);
  const size_t len = (size_t{prefix[0]} << 8) | prefix[1];
  const bool fits = len <= out.size();
  read(fits ? out.data() : nullptr, len);
  e.queuedBytes -= static_cast<uint32_t>(len);
  --e.queuedPackets;
  table_->queuedBytes_.fetch_sub(len, std::memory_order_relaxed);
  if (e.queuedPackets == 0) {
    assert(chunk == e.qTail);
    pool.release(chunk, 1);
    e.qHead = e.qTail = kNoChunk;
    e.qReadOff = e.qWriteOff = 0;
  } else {
    e.qHead = chunk;
    e.qReadOff = static_cast<uint16_t>(off);
  }
  if (!fits) {
    table_->counters_.queueDropTooBig.fetch_add(1, std::memory_order_relaxed);
    if (dropped != nullptr) {
      *dropped = true;
    }
    return 0;
  }
  return len;
}

size_t PeerTable::Ref::dropQueue() {
  const size_t n = table_->freeQueueLocked(mut());
  table_->counters_.queueDropDiscarded.fetch_add(n, std::memory_order_relaxed);
  return n;
}

void PeerTable::Ref::erase() {
  if (!found()) {
    return;
  }
  const size_t dropped = table_->removeLocked(*shard_, index_);
  table_->counters_.queueDropEvicted.fetch_add(dropped, std::memory_order_relaxed);
  table_->counters_.erased.fetch_add(1, std::memory_order_relaxed);
  index_ = 0;
}

}  // namespace teredo::peers

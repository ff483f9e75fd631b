#include "peers/peer_table.h"

#include <Judy.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <cassert>
#include <cstring>
#include <new>
#include <type_traits>

#include "peers/slab_memory.h"

namespace teredo::peers {

// ---------------------------------------------------------------------------------------------
// Packed storage

/// One peer in its slab (see the header comment for the field choices).
struct PeerTable::PackedEntry {
  Ipv6Addr addr;
  uint32_t mappedAddr = 0;  ///< learned mapping, host order (Endpoint without its padding)
  uint16_t mappedPort = 0;
  uint8_t bubbles = 0;
  uint8_t flags = 0;    ///< kTrusted
  uint32_t lastRx = 0;  ///< stamps: ticks after the shard epoch, 0 = TimePoint{}
  uint32_t lastTx = 0;
  uint32_t lastBubble = 0;
  uint32_t listTime = 0;  ///< clock tick (>= 1) ordering the entry's list
  uint32_t prev = 0;      ///< list links, 1-based, 0 = none
  uint32_t next = 0;
  uint32_t chain = 0;  ///< next entry with the same hash
  uint32_t queue = 0;  ///< 1-based queue descriptor, 0 = nothing queued
  static constexpr uint8_t kTrusted = 1;
  bool trusted() const { return (flags & kTrusted) != 0; }
};

namespace {

using Entry = PeerTable::PackedEntry;
static_assert(sizeof(Entry) == 56, "PeerEntry packing: see the header comment");
static_assert(std::is_trivially_copyable_v<Entry>);

/// The queue bookkeeping of one peer with something queued (16 bytes) and its owner, so that
/// descriptors can be kept dense like entries.
struct QueueDesc {
  uint32_t head = kNoChunk;
  uint32_t tail = kNoChunk;
  uint32_t bytes = 0;  ///< packet bytes queued (what the per-peer cap counts)
  uint16_t packets = 0;
  uint8_t readOff = 0;   ///< in the head chunk's payload
  uint8_t writeOff = 0;  ///< in the tail chunk's payload
  uint32_t owner = 0;    ///< 1-based entry index
};
static_assert(ChunkPool::kChunkPayload <= 0xff, "queue offsets are 8-bit");

constexpr uint32_t kEntriesPerSlab = 1024;
constexpr size_t kSlabBytes = kEntriesPerSlab * sizeof(Entry);  // 57,344 = 14 pages of 4 KiB
constexpr uint32_t kDescsPerSlab = 1024;
constexpr size_t kDescSlabBytes = kDescsPerSlab * sizeof(QueueDesc);  // 20,480 = 5 pages
static_assert(kSlabBytes % kSlabPage == 0 && kDescSlabBytes % kSlabPage == 0);

// Time: 32-bit ticks after a per-shard epoch (header comment, "Time").
using Tick = uint32_t;
constexpr std::chrono::milliseconds kTick{1};
constexpr Tick kMaxTick = 0xffffffffu;
constexpr Clock::duration kEpochMargin = std::chrono::hours(24);
// Rebase once `now` is 2^31 ticks past the epoch: half the range, so no stored time can come
// near the top before the next rebase even with generous out-of-order `now`.
constexpr Clock::duration kRebaseAfter = kTick * (int64_t{1} << 31);

// Memory return: malloc_trim(0) once about this many malloc'd bytes were freed (JudyL nodes of
// removed keys; slabs are mapped and go back when unmapped), or at the first sweep that frees
// nothing after a wave of removals left less than that untrimmed (the wave's tail: peers created
// over a few seconds expire over a few sweeps, and the last ones would otherwise stay resident
// until the next wave), at most once per kTrimInterval of table time.
constexpr size_t kTrimAfterBytes = 1u << 20;
constexpr Clock::duration kTrimInterval = std::chrono::seconds(10);
constexpr size_t kJudyBytesPerKey = 24;  // measured 18-29 B/key (see kBytesPerPeer)

// Measured by tests/unit/peers PeerTableMemory.BytesPerTrustedPeerAtOneMillion (RSS delta over
// 1,000,000 trusted peers in 16 shards after malloc_trim; Judy 1.0.5, glibc 2.36, x86-64): 85
// bytes (56-byte entry, 26 bytes of JudyL at this population plus malloc's page slack, slabs
// mapped exactly). At 10,000,000 peers: 77 bytes (738 MiB; JudyL 18.5 B/key). Rounded up for
// headroom: JudyL's cost per key moves with the population (18-29 B/key measured).
constexpr size_t kBytesPerPeer = 96;

size_t roundUpPow2(size_t n) {
  size_t p = 1;
  while (p < n) {
    p <<= 1;
  }
  return p;
}

constexpr size_t ceilDiv(size_t a, size_t b) {
  return (a + b - 1) / b;
}

/// Ticks from `epoch` to `t`, truncated, in [1, kMaxTick]: times at or before the epoch count as
/// tick 1, as the oldest representable time (0 is the "never" stamp).
Tick clockTick(TimePoint epoch, TimePoint t) {
  if (t <= epoch) {
    return 1;
  }
  const int64_t n = (t - epoch) / kTick;
  return static_cast<Tick>(std::clamp<int64_t>(n, 1, kMaxTick));
}

/// A stored time: TimePoint{} (the decisions' "never") is 0, anything else a clock tick.
Tick stampTick(TimePoint epoch, TimePoint t) {
  return t == TimePoint{} ? 0 : clockTick(epoch, t);
}

TimePoint clockTime(TimePoint epoch, Tick t) {
  return epoch + kTick * int64_t{t};
}

TimePoint stampTime(TimePoint epoch, Tick t) {
  return t == 0 ? TimePoint{} : clockTime(epoch, t);
}

/// Age of `then` at `now`, saturating at 0 when `now` is earlier (out-of-order callers, or a
/// read-only lookup at an old time).
Tick ageTicks(Tick now, Tick then) {
  return now > then ? now - then : 0;
}

/// A clock tick after the epoch moved forward by `shift` ticks; older times become the oldest.
Tick shiftedClock(Tick t, int64_t shift) {
  return int64_t{t} > shift ? static_cast<Tick>(int64_t{t} - shift) : 1;
}

Tick shiftedStamp(Tick t, int64_t shift) {
  return t == 0 ? 0 : shiftedClock(t, shift);
}

Tick durationTicks(Clock::duration d) {
  return static_cast<Tick>(std::clamp<int64_t>(d / kTick, 0, kMaxTick));
}

}  // namespace

size_t bytesPerPeerEstimate() {
  return kBytesPerPeer;
}

// ---------------------------------------------------------------------------------------------
// Shard: a JudyL (hash -> head of collision chain), dense entry slabs, dense queue descriptors,
// two LRU lists and the time epoch. Every method requires `mu`.

struct PeerTable::Shard {
  std::mutex mu;
  Pvoid_t judy = nullptr;
  std::unique_ptr<Entry*[]> slabs;          // maxSlabs slots, [0, slabCount) mapped
  std::unique_ptr<QueueDesc*[]> descSlabs;  // maxDescSlabs slots, [0, descSlabCount) mapped
  uint32_t maxSlabs = 0;
  uint32_t slabCount = 0;
  uint32_t maxDescSlabs = 0;
  uint32_t descSlabCount = 0;
  uint32_t size = 0;  // live entries are exactly 1..size
  uint32_t cap = 0;
  uint32_t descCount = 0;         // live descriptors are exactly 1..descCount
  uint32_t uHead = 0, uTail = 0;  // untrusted list, oldest first
  uint32_t tHead = 0, tTail = 0;  // trusted list, oldest last_rx first
  TimePoint epoch{};
  size_t freedBytes = 0;  // malloc'd bytes (JudyL nodes) freed since the table collected them

  ~Shard() {
    JudyLFreeArray(&judy, PJE0);
    while (slabCount > 0) {
      unmapSlab(slabs[--slabCount], kEntriesPerSlab);
    }
    while (descSlabCount > 0) {
      unmapSlab(descSlabs[--descSlabCount], kDescsPerSlab);
    }
  }

  Entry& at(uint32_t idx) {
    const uint32_t i = idx - 1;
    return slabs[i / kEntriesPerSlab][i % kEntriesPerSlab];
  }
  const Entry& at(uint32_t idx) const { return const_cast<Shard*>(this)->at(idx); }

  QueueDesc& desc(uint32_t q) {
    const uint32_t i = q - 1;
    return descSlabs[i / kDescsPerSlab][i % kDescsPerSlab];
  }
  const QueueDesc& desc(uint32_t q) const { return const_cast<Shard*>(this)->desc(q); }

  // ----- time

  /// The tick of `now`. An empty shard takes a fresh epoch (nothing stored depends on it); a
  /// shard whose `now` ran far past its epoch is rebased first.
  Tick nowTick(TimePoint now) {
    if (size == 0) {
      epoch = now - kEpochMargin;
    } else if (now - epoch > kRebaseAfter) {
      rebase(now);
    }
    return clockTick(epoch, now);
  }
  Tick clock(TimePoint t) const { return clockTick(epoch, t); }
  Tick stamp(TimePoint t) const { return stampTick(epoch, t); }

  /// Moves the epoch forward by whole ticks to kEpochMargin before `now` and every stored time
  /// with it (order within the lists is kept: the shift is monotonic).
  void rebase(TimePoint now) {
    const int64_t shift = (now - kEpochMargin - epoch) / kTick;
    if (shift <= 0) {
      return;
    }
    epoch += kTick * shift;
    for (uint32_t i = 1; i <= size; ++i) {
      Entry& e = at(i);
      e.listTime = shiftedClock(e.listTime, shift);
      e.lastRx = shiftedStamp(e.lastRx, shift);
      e.lastTx = shiftedStamp(e.lastTx, shift);
      e.lastBubble = shiftedStamp(e.lastBubble, shift);
    }
  }

  // ----- lists

  uint32_t& headOf(const Entry& e) { return e.trusted() ? tHead : uHead; }
  uint32_t& tailOf(const Entry& e) { return e.trusted() ? tTail : uTail; }

  void listAppend(uint32_t idx, Tick t) {
    Entry& e = at(idx);
    uint32_t& tail = tailOf(e);
    e.listTime = t;
    e.prev = tail;
    e.next = 0;
    if (tail != 0) {
      at(tail).next = idx;
    } else {
      headOf(e) = idx;
    }
    tail = idx;
  }

  void listRemove(uint32_t idx) {
    Entry& e = at(idx);
    if (e.prev != 0) {
      at(e.prev).next = e.next;
    } else {
      headOf(e) = e.next;
    }
    if (e.next != 0) {
      at(e.next).prev = e.prev;
    } else {
      tailOf(e) = e.prev;
    }
    e.prev = e.next = 0;
  }

  // ----- index

  uint32_t find(uint64_t hash, const Ipv6Addr& addr) const {
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

  /// The word that points at `idx`: its JudyL value or its chain predecessor's link.
  uint32_t* linkTo(uint64_t hash, uint32_t idx, Word_t** judyValue) {
    PPvoid_t slot = JudyLGet(judy, static_cast<Word_t>(hash), PJE0);
    assert(slot != nullptr);
    Word_t* value = reinterpret_cast<Word_t*>(slot);
    *judyValue = nullptr;
    if (*value == idx) {
      *judyValue = value;
      return nullptr;
    }
    uint32_t cur = static_cast<uint32_t>(*value);
    while (at(cur).chain != idx) {
      cur = at(cur).chain;
    }
    return &at(cur).chain;
  }

  void indexRemove(uint64_t hash, uint32_t idx) {
    Word_t* value = nullptr;
    uint32_t* link = linkTo(hash, idx, &value);
    if (value == nullptr) {
      *link = at(idx).chain;
    } else if (at(idx).chain == 0) {
      JudyLDel(&judy, static_cast<Word_t>(hash), PJE0);
    } else {
      *value = at(idx).chain;
    }
  }

  // ----- dense entries

  /// Makes sure slot size+1 has memory (maps a slab when the last one is full). Caller checked
  /// size < cap. False when mmap failed.
  bool reserveSlot() {
    if (size < slabCount * kEntriesPerSlab) {
      return true;
    }
    if (slabCount == maxSlabs) {
      return false;
    }
    Entry* slab = mapSlab<Entry>(kEntriesPerSlab);
    if (slab == nullptr) {
      return false;
    }
    slabs[slabCount++] = slab;
    return true;
  }

  /// Moves the entry at `from` (hash `hash`) into the free slot `to`, repointing everything that
  /// refers to it: its index word, its list neighbours (or list ends) and its queue descriptor.
  void moveEntry(uint32_t from, uint32_t to, uint64_t hash) {
    Word_t* value = nullptr;
    uint32_t* link = linkTo(hash, from, &value);
    if (value != nullptr) {
      *value = to;
    } else {
      *link = to;
    }
    const Entry& e = *new (&at(to)) Entry(at(from));
    if (e.prev != 0) {
      at(e.prev).next = to;
    } else {
      headOf(e) = to;
    }
    if (e.next != 0) {
      at(e.next).prev = to;
    } else {
      tailOf(e) = to;
    }
    if (e.queue != 0) {
      desc(e.queue).owner = to;
    }
  }

  /// Unmaps slabs above the live entries, keeping `spare` empty ones.
  void shrinkSlabs(uint32_t spare) {
    while (slabCount > ceilDiv(size, kEntriesPerSlab) + spare) {
      unmapSlab(slabs[--slabCount], kEntriesPerSlab);
      slabs[slabCount] = nullptr;
    }
  }

  // ----- dense queue descriptors

  /// A fresh descriptor owned by entry `owner`; 0 when out of memory.
  uint32_t allocDesc(uint32_t owner) {
    if (descCount == descSlabCount * kDescsPerSlab) {
      if (descSlabCount == maxDescSlabs) {
        return 0;
      }
      QueueDesc* slab = mapSlab<QueueDesc>(kDescsPerSlab);
      if (slab == nullptr) {
        return 0;
      }
      descSlabs[descSlabCount++] = slab;
    }
    const uint32_t q = ++descCount;
    desc(q) = QueueDesc{};
    desc(q).owner = owner;
    return q;
  }

  /// Frees `e`'s descriptor; the last descriptor moves into its place.
  void freeDesc(Entry& e) {
    const uint32_t q = e.queue;
    e.queue = 0;
    const uint32_t last = descCount;
    if (q != last) {
      desc(q) = desc(last);
      at(desc(q).owner).queue = q;
    }
    descCount = last - 1;
    shrinkDescs(1);
  }

  void shrinkDescs(uint32_t spare) {
    while (descSlabCount > ceilDiv(descCount, kDescsPerSlab) + spare) {
      unmapSlab(descSlabs[--descSlabCount], kDescsPerSlab);
      descSlabs[descSlabCount] = nullptr;
    }
  }
};

// ---------------------------------------------------------------------------------------------
// PeerTable

PeerTable::PeerTable(const PeerTableConfig& config)
    : config_(config),
      trustTicks_(durationTicks(config.trustTimeout)),
      idleTicks_(durationTicks(config.idleTimeout)),
      pool_(config.globalQueueBytes) {
  const size_t maxPeers = std::max<size_t>(config_.maxPeers, 1);
  shardCount_ = roundUpPow2(std::max<size_t>(config_.shards, 1));
  while (shardCount_ > maxPeers) {
    shardCount_ >>= 1;  // every shard holds at least one peer
  }
  shards_ = std::make_unique<Shard[]>(shardCount_);
  for (size_t i = 0; i < shardCount_; ++i) {
    Shard& s = shards_[i];
    s.cap = static_cast<uint32_t>(maxPeers / shardCount_ + (i < maxPeers % shardCount_ ? 1 : 0));
    s.maxSlabs = static_cast<uint32_t>(ceilDiv(s.cap, kEntriesPerSlab));
    s.slabs = std::make_unique<Entry*[]>(s.maxSlabs);
    // A descriptor always owns a chunk, so the pool bounds them as well as the shard cap does.
    s.maxDescSlabs =
        static_cast<uint32_t>(ceilDiv(std::min<size_t>(s.cap, pool_.maxChunks()), kDescsPerSlab));
    s.descSlabs = std::make_unique<QueueDesc*[]>(s.maxDescSlabs);
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
  Shard& s = *ref.shard_;
  ref.index_ = s.find(h, addr);
  if (ref.found() && s.at(ref.index_).trusted()) {
    // A trusted entry's list time is its last_rx.
    const Tick t = s.nowTick(now);
    if (ageTicks(t, s.at(ref.index_).listTime) > trustTicks_) {
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
  size_t freed = 0;  // by this sweep and the data path since the last one
  for (size_t i = 0; i < shardCount_; ++i) {
    Shard& s = shards_[i];
    std::lock_guard<std::mutex> lk(s.mu);
    if (s.size > 0) {
      const Tick t = s.nowTick(now);
      // Trusted list is ordered by last_rx: demote from the head while trust has lapsed.
      while (s.tHead != 0 && ageTicks(t, s.at(s.tHead).listTime) > trustTicks_) {
        const uint32_t idx = s.tHead;
        s.listRemove(idx);
        s.at(idx).flags &= static_cast<uint8_t>(~Entry::kTrusted);
        s.listAppend(idx, t);
        ++st.demoted;
      }
      // Expired entries are unlinked first and their holes filled once at the end: when most of
      // a shard expires, most holes are at the top and need no move.
      uint32_t holes = 0;
      uint32_t holeList = 0;
      while (s.uHead != 0 && ageTicks(t, s.at(s.uHead).listTime) > idleTicks_) {
        const uint32_t idx = s.uHead;
        const size_t dropped = unlinkLocked(s, idx);
        st.packetsDropped += dropped;
        counters_.queueDropEvicted.fetch_add(dropped, std::memory_order_relaxed);
        s.at(idx).listTime = 0;  // a hole: live entries have list times >= 1
        s.at(idx).chain = holeList;
        holeList = idx;
        ++holes;
      }
      st.expired += holes;
      fillHolesLocked(s, holeList, holes);
    }
    // The data path keeps one spare slab against map/unmap churn; a sweep gives it back.
    s.shrinkSlabs(0);
    s.shrinkDescs(0);
    freed += s.freedBytes;
    freedSinceTrim_.fetch_add(s.freedBytes, std::memory_order_relaxed);
    s.freedBytes = 0;
  }
  counters_.evictedExpired.fetch_add(st.expired, std::memory_order_relaxed);
  pool_.releaseFreeSlabs();  // unmaps: nothing for malloc_trim
  maybeTrim(now, freed == 0);
  return st;
}

void PeerTable::maybeTrim(TimePoint now, bool removalsEnded) {
  const size_t pending = freedSinceTrim_.load(std::memory_order_relaxed);
  if (pending < kTrimAfterBytes && !(removalsEnded && pending > 0)) {
    return;
  }
  std::unique_lock<std::mutex> lk(trimMu_, std::try_to_lock);
  if (!lk.owns_lock()) {
    return;  // another sweep is trimming
  }
  // Rate limit in table time; a `now` before the last trim (a clock reset) does not block.
  if (trimmed_ && now >= lastTrim_ && now - lastTrim_ < kTrimInterval) {
    return;
  }
  trimmed_ = true;
  lastTrim_ = now;
  freedSinceTrim_.store(0, std::memory_order_relaxed);
#if defined(__GLIBC__)
  // Judy's freed nodes sit in malloc's free lists; this gives their pages back (it also
  // madvises free pages in the middle of the heap, not only the top).
  malloc_trim(0);
  counters_.memoryTrims.fetch_add(1, std::memory_order_relaxed);
#endif
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

size_t PeerTable::slabBytes() const {
  size_t n = 0;
  for (size_t i = 0; i < shardCount_; ++i) {
    std::lock_guard<std::mutex> lk(shards_[i].mu);
    n += shards_[i].slabCount * kSlabBytes + shards_[i].descSlabCount * kDescSlabBytes;
  }
  return n;
}

bool PeerTable::selfCheck() const {
  for (size_t i = 0; i < shardCount_; ++i) {
    const Shard& s = shards_[i];
    std::lock_guard<std::mutex> lk(shards_[i].mu);
    if (s.size > s.cap || s.size > s.slabCount * size_t{kEntriesPerSlab} ||
        s.slabCount > ceilDiv(s.size, kEntriesPerSlab) + 1 ||
        s.descCount > s.descSlabCount * size_t{kDescsPerSlab} ||
        s.descSlabCount > ceilDiv(s.descCount, kDescsPerSlab) + 1) {
      return false;
    }
    // Both lists: links agree both ways, flags match the list, every entry on exactly one.
    size_t listed = 0;
    for (const bool trusted : {false, true}) {
      uint32_t prev = 0;
      for (uint32_t idx = trusted ? s.tHead : s.uHead; idx != 0; idx = s.at(idx).next) {
        if (idx > s.size || s.at(idx).prev != prev || s.at(idx).trusted() != trusted ||
            ++listed > s.size) {
          return false;
        }
        prev = idx;
      }
      if (prev != (trusted ? s.tTail : s.uTail)) {
        return false;
      }
    }
    if (listed != s.size) {
      return false;
    }
    // Index: every live entry is found under its own hash; chains hold exactly the live ones.
    size_t queued = 0;
    for (uint32_t idx = 1; idx <= s.size; ++idx) {
      const Entry& e = s.at(idx);
      if (s.find(hashOf(e.addr), e.addr) != idx || s.at(idx).listTime == 0) {
        return false;
      }
      if (e.queue != 0) {
        const QueueDesc& q = s.desc(e.queue);
        if (e.queue > s.descCount || q.owner != idx || q.packets == 0 || q.head == kNoChunk) {
          return false;
        }
        ++queued;
      }
    }
    if (queued != s.descCount) {
      return false;
    }
    size_t chained = 0;
    Word_t key = 0;
    for (PPvoid_t v = JudyLFirst(s.judy, &key, PJE0); v != nullptr;
         v = JudyLNext(s.judy, &key, PJE0)) {
      for (uint32_t idx = static_cast<uint32_t>(*reinterpret_cast<Word_t*>(v)); idx != 0;
           idx = s.at(idx).chain) {
        if (idx > s.size || hashOf(s.at(idx).addr) != key || ++chained > s.size) {
          return false;
        }
      }
    }
    if (chained != s.size) {
      return false;
    }
  }
  return true;
}

size_t PeerTable::freeQueueLocked(Shard& s, PackedEntry& e) {
  if (e.queue == 0) {
    return 0;
  }
  const QueueDesc& q = s.desc(e.queue);
  const size_t packets = q.packets;
  if (q.head != kNoChunk) {
    size_t chunks = 1;
    for (uint32_t c = q.head; c != q.tail; c = pool_.next(c)) {
      ++chunks;
    }
    pool_.release(q.head, chunks);
  }
  queuedBytes_.fetch_sub(q.bytes, std::memory_order_relaxed);
  s.freeDesc(e);
  return packets;
}

size_t PeerTable::unlinkLocked(Shard& s, uint32_t idx) {
  PackedEntry& e = s.at(idx);
  const size_t dropped = freeQueueLocked(s, e);
  s.listRemove(idx);
  s.indexRemove(hashOf(e.addr), idx);
  return dropped;
}

void PeerTable::fillHoleLocked(Shard& s, uint32_t idx) {
  // Keep the shard dense: the last entry fills the hole.
  const uint32_t last = s.size;
  if (idx != last) {
    s.moveEntry(last, idx, hashOf(s.at(last).addr));
  }
  s.size = last - 1;
  s.shrinkSlabs(1);
  s.freedBytes += kJudyBytesPerKey;
}

void PeerTable::fillHolesLocked(Shard& s, uint32_t holeList, uint32_t holes) {
  if (holes == 0) {
    return;
  }
  // After the sweep the live entries must be 1..newSize. The slots above newSize hold as many
  // live entries as there are holes at or below it: walk both down/along once, O(holes).
  const uint32_t newSize = s.size - holes;
  uint32_t hi = s.size;
  for (uint32_t h = holeList; h != 0;) {
    const uint32_t nextHole = s.at(h).chain;
    if (h <= newSize) {
      while (s.at(hi).listTime == 0) {
        --hi;  // a hole above newSize: nothing to move
      }
      s.moveEntry(hi, h, hashOf(s.at(hi).addr));
      --hi;
    }
    h = nextHole;
  }
  s.size = newSize;
  s.shrinkSlabs(1);
  s.freedBytes += holes * kJudyBytesPerKey;
}

size_t PeerTable::removeLocked(Shard& s, uint32_t idx) {
  const size_t dropped = unlinkLocked(s, idx);
  fillHoleLocked(s, idx);
  return dropped;
}

// ---------------------------------------------------------------------------------------------
// Ref

PeerTable::Ref::Ref(PeerTable* table, Shard* shard, const Ipv6Addr& addr, uint64_t hash)
    : table_(table), shard_(shard), lock_(shard->mu), addr_(addr), hash_(hash) {}

const PeerTable::PackedEntry& PeerTable::Ref::packed() const {
  assert(found());
  return shard_->at(index_);
}

PeerTable::PackedEntry& PeerTable::Ref::mut() {
  assert(found());
  return shard_->at(index_);
}

PeerEntry PeerTable::Ref::entry() const {
  const Entry& e = packed();
  const TimePoint epoch = shard_->epoch;
  PeerEntry v;
  v.addr = e.addr;
  v.mapped = Endpoint{e.mappedAddr, e.mappedPort};
  v.lastRx = stampTime(epoch, e.lastRx);
  v.lastTx = stampTime(epoch, e.lastTx);
  v.lastBubble = stampTime(epoch, e.lastBubble);
  v.listTime = clockTime(epoch, e.listTime);
  if (e.queue != 0) {
    const QueueDesc& q = shard_->desc(e.queue);
    v.queuedBytes = q.bytes;
    v.queuedPackets = q.packets;
  }
  v.bubbles = e.bubbles;
  v.isTrusted = e.trusted();
  return v;
}

bool PeerTable::Ref::trusted() const {
  return packed().trusted();
}

size_t PeerTable::Ref::queuedPackets() const {
  const Entry& e = packed();
  return e.queue != 0 ? shard_->desc(e.queue).packets : 0;
}

size_t PeerTable::Ref::queuedBytes() const {
  const Entry& e = packed();
  return e.queue != 0 ? shard_->desc(e.queue).bytes : 0;
}

CreateResult PeerTable::Ref::create(TimePoint now) {
  if (found()) {
    return CreateResult::Exists;
  }
  Shard& s = *shard_;
  PeerTableCounters& c = table_->counters_;
  const Tick t = s.nowTick(now);  // an empty shard takes its epoch here
  CreateResult result = CreateResult::Created;
  uint32_t idx = 0;
  if (s.size >= s.cap) {
    // Full (R13): the oldest untrusted entry goes first, then the oldest trusted one. The new
    // entry takes the victim's slot, so a flood of new peers moves nothing.
    const bool untrusted = s.uHead != 0;
    idx = untrusted ? s.uHead : s.tHead;
    const size_t dropped = table_->unlinkLocked(s, idx);
    c.queueDropEvicted.fetch_add(dropped, std::memory_order_relaxed);
    if (untrusted) {
      c.evictedCapacityUntrusted.fetch_add(1, std::memory_order_relaxed);
      result = CreateResult::CreatedEvictedUntrusted;
    } else {
      c.evictedCapacityTrusted.fetch_add(1, std::memory_order_relaxed);
      result = CreateResult::CreatedEvictedTrusted;
    }
  } else {
    if (!s.reserveSlot()) {
      c.createFailedNoMemory.fetch_add(1, std::memory_order_relaxed);
      return CreateResult::NoMemory;
    }
    idx = s.size + 1;
  }
  Entry* e = new (&s.at(idx)) Entry{};
  e->addr = addr_;
  if (!s.indexInsert(hash_, idx)) {
    if (idx <= s.size) {
      table_->fillHoleLocked(s, idx);  // the victim is gone; close its hole
    }                                  // else the slot past `size` is simply unused
    c.createFailedNoMemory.fetch_add(1, std::memory_order_relaxed);
    return CreateResult::NoMemory;
  }
  s.size = std::max(s.size, idx);
  s.listAppend(idx, t);
  index_ = idx;
  c.created.fetch_add(1, std::memory_order_relaxed);
  return result;
}

void PeerTable::Ref::markReceived(const Endpoint& mapped, TimePoint now) {
  setMapped(mapped);
  setTrusted(now, now);
  mut().bubbles = 0;
}

void PeerTable::Ref::setMapped(const Endpoint& mapped) {
  Entry& e = mut();
  e.mappedAddr = mapped.addr;
  e.mappedPort = mapped.port;
}

void PeerTable::Ref::setTrusted(TimePoint lastRx, TimePoint now) {
  Shard& s = *shard_;
  s.nowTick(now);  // rebases first when due, so lastRx = now is representable
  Entry& e = mut();
  const Tick rx = s.stamp(lastRx);
  if (e.trusted() && e.lastRx == rx) {
    return;
  }
  s.listRemove(index_);
  e.flags |= Entry::kTrusted;
  e.lastRx = rx;
  s.listAppend(index_, s.clock(lastRx));  // the trusted list is ordered by last_rx
}

void PeerTable::Ref::setUntrusted(TimePoint now) {
  Shard& s = *shard_;
  Entry& e = mut();
  if (!e.trusted()) {
    return;
  }
  const Tick t = s.nowTick(now);
  s.listRemove(index_);
  e.flags &= static_cast<uint8_t>(~Entry::kTrusted);
  s.listAppend(index_, t);
}

void PeerTable::Ref::setLastTx(TimePoint t) {
  mut().lastTx = shard_->stamp(t);
}

void PeerTable::Ref::setBubbles(uint8_t count, TimePoint lastBubble) {
  Entry& e = mut();
  e.bubbles = count;
  e.lastBubble = shard_->stamp(lastBubble);
}

void PeerTable::Ref::touch(TimePoint now) {
  if (!mut().trusted()) {
    const Tick t = shard_->nowTick(now);
    shard_->listRemove(index_);
    shard_->listAppend(index_, t);
  }
}

EnqueueResult PeerTable::Ref::enqueue(std::span<const uint8_t> packet) {
  Shard& s = *shard_;
  Entry& e = mut();
  PeerTableCounters& c = table_->counters_;
  const size_t len = packet.size();
  const size_t packets = e.queue != 0 ? s.desc(e.queue).packets : 0;
  const size_t bytes = e.queue != 0 ? s.desc(e.queue).bytes : 0;
  if (len == 0 || len > 0xffff || packets == 0xffff) {
    c.queueDropTooBig.fetch_add(1, std::memory_order_relaxed);
    return EnqueueResult::TooBig;
  }
  if (bytes + len > table_->config_.peerQueueBytes) {
    c.queueDropPeerFull.fetch_add(1, std::memory_order_relaxed);
    return EnqueueResult::QueueFull;
  }
  // A peer's first queued packet takes a descriptor (given back when the queue empties).
  const bool fresh = e.queue == 0;
  if (fresh) {
    e.queue = s.allocDesc(index_);
    if (e.queue == 0) {
      c.queueDropGlobalFull.fetch_add(1, std::memory_order_relaxed);
      return EnqueueResult::GlobalQueueFull;
    }
  }
  QueueDesc& q = s.desc(e.queue);
  constexpr size_t kPayload = ChunkPool::kChunkPayload;
  ChunkPool& pool = table_->pool_;
  const size_t record = 2 + len;  // 16-bit length prefix, then the bytes
  const size_t avail = q.tail != kNoChunk ? kPayload - q.writeOff : 0;
  if (record > avail) {
    const size_t need = (record - avail + kPayload - 1) / kPayload;
    uint32_t head = kNoChunk;
    uint32_t tail = kNoChunk;
    if (!pool.allocate(need, &head, &tail)) {
      if (fresh) {
        s.freeDesc(e);
      }
      c.queueDropGlobalFull.fetch_add(1, std::memory_order_relaxed);
      return EnqueueResult::GlobalQueueFull;
    }
    if (q.tail == kNoChunk) {
      q.head = head;
      q.readOff = 0;
      q.writeOff = 0;
    } else {
      pool.next(q.tail) = head;
    }
    // The writer walks from the old tail (if any) into the new chain.
    uint32_t chunk = q.tail != kNoChunk ? q.tail : head;
    size_t off = q.writeOff;
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
    q.tail = tail;
    assert(chunk == tail);
    q.writeOff = static_cast<uint8_t>(off);
  } else {
    uint8_t* dst = pool.data(q.tail) + q.writeOff;
    dst[0] = static_cast<uint8_t>(len >> 8);
    dst[1] = static_cast<uint8_t>(len);
    std::memcpy(dst + 2, packet.data(), len);
    q.writeOff = static_cast<uint8_t>(q.writeOff + record);
  }
  q.bytes += static_cast<uint32_t>(len);
  ++q.packets;
  table_->queuedBytes_.fetch_add(len, std::memory_order_relaxed);
  return EnqueueResult::Ok;
}

size_t PeerTable::Ref::popPacket(std::span<uint8_t> out, bool* dropped) {
  Shard& s = *shard_;
  Entry& e = mut();
  if (dropped != nullptr) {
    *dropped = false;
  }
  if (e.queue == 0) {
    return 0;
  }
  QueueDesc& q = s.desc(e.queue);
  constexpr size_t kPayload = ChunkPool::kChunkPayload;
  ChunkPool& pool = table_->pool_;
  uint32_t chunk = q.head;
  size_t off = q.readOff;
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
  q.bytes -= static_cast<uint32_t>(len);
  --q.packets;
  table_->queuedBytes_.fetch_sub(len, std::memory_order_relaxed);
  if (q.packets == 0) {
    assert(chunk == q.tail);
    pool.release(chunk, 1);
    s.freeDesc(e);  // invalidates q
  } else {
    q.head = chunk;
    q.readOff = static_cast<uint8_t>(off);
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
  const size_t n = table_->freeQueueLocked(*shard_, mut());
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

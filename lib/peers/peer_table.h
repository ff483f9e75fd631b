// The relay's peer table (RFC 4380 §5.2 peer list, §5.4 relay; docs/architecture.md).
//
// One entry per Teredo peer (keyed by its 16-byte IPv6 address) holding the RFC 4380 §5.2 fields:
// mapped IPv4/port, trusted flag, last_rx, last_tx, bubble count and last bubble time, plus a FIFO
// queue of packets waiting for the peer to answer a bubble.
//
// Layout and key choice:
//  - N shards (a power of two, default 16). An address goes to the shard picked by the high bits
//    of a keyed SipHash-2-4 of its 16 bytes; each shard has its own mutex, index and entry slabs,
//    so workers contend only when they hit the same shard.
//  - Each shard's index is a JudyL keyed by the 64-bit keyed hash, whose value is the head of a
//    chain of entries with that hash (collisions are chained and compared by full address).
//    Why JudyL and not JudyHS: JudyL can be walked (needed for stats and debugging), uses about
//    half the memory per key (measured: 19 vs 37 B/key at 1M keys), and since the hash is
//    keyed an attacker cannot force chains; a chain longer than 1 is a 2^-64 event per pair.
//  - Entries live in per-shard slabs of 1024 allocated lazily, never beyond the shard's cap, and
//    are recycled through a free list. Creating a peer therefore mallocs at most once per 1024.
//  - Expiry and eviction order use two intrusive lists per shard instead of Miredo's two
//    generations: `trusted` ordered by last_rx, `untrusted` ordered by the time the entry was
//    last created, touched or demoted. Both stay sorted because entries only move to the tail
//    with the current time.
//
// Caps and policies:
//  - Hard peer cap (default 1,048,576 = Miredo's MAX_PEERS; tens of millions are fine): split
//    evenly over the shards (each gets floor(cap/N), the first cap%N one more), so the table never
//    holds more than the cap. When a shard is full, creating a peer evicts the oldest untrusted
//    entry of that shard, and only when there is none the oldest trusted one, so trusted peers
//    keep working under a flood of new destinations (R13 in docs/conformance.md; Miredo fails new
//    peers instead).
//  - Trust lasts `trustTimeout` (30 s, RFC 4380 §5.2.4) after the last packet received from the
//    peer. An entry whose trust lapsed is demoted to the untrusted list; an untrusted entry that
//    is not touched for `idleTimeout` (30 s) is removed by expire(). A peer therefore lives 30-60 s
//    after its last reception, as in Miredo, plus at most one sweep period.
//  - Per-peer queue byte cap (default 1280, Miredo's MAXQUEUE) counts packet bytes; the global
//    queue cap bounds the memory of all queues together (ChunkPool, 64-byte chunks, lazily
//    allocated). Queues are FIFO (Miredo's are LIFO, a bug: R3).
//
// Time: every call takes `now` (steady_clock time_point) from the caller: the clock is injected.
// Calls with slightly out-of-order `now` from different threads are harmless (an entry may expire
// one sweep later).
//
// Thread-safety: all PeerTable methods are thread-safe. A Ref holds its shard's lock for its
// lifetime: keep it short, never hold two Refs at once in one thread (self-deadlock when both
// addresses share a shard), and do not call expire() or size() while holding one.
// Ownership: the table owns entries and queued bytes; a Ref borrows one entry under the lock.
// Byte order: addresses are 16 network-order bytes; Endpoint is host order (teredo/address.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>

#include "peers/queue_arena.h"
#include "teredo/address.h"
#include "teredo/keyed_hash.h"

namespace teredo::peers {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

inline constexpr size_t kDefaultMaxPeers = 1u << 20;  // Miredo MAX_PEERS
inline constexpr size_t kDefaultShards = 16;
inline constexpr size_t kDefaultPeerQueueBytes = 1280;           // Miredo MAXQUEUE
inline constexpr size_t kDefaultGlobalQueueBytes = 64u << 20;    // 64 MiB
inline constexpr std::chrono::seconds kDefaultTrustTimeout{30};  // RFC 4380 §5.2.4
inline constexpr std::chrono::seconds kDefaultIdleTimeout{30};   // Miredo relay GC period

struct PeerTableConfig {
  size_t maxPeers = kDefaultMaxPeers;
  size_t shards = kDefaultShards;  ///< rounded up to a power of two, at least 1
  size_t peerQueueBytes = kDefaultPeerQueueBytes;
  size_t globalQueueBytes = kDefaultGlobalQueueBytes;
  Clock::duration trustTimeout = kDefaultTrustTimeout;
  Clock::duration idleTimeout = kDefaultIdleTimeout;
  SipKey hashKey;  ///< from injected randomness; fixes shard and index placement
};

/// One peer (RFC 4380 §5.2). Read through PeerTable::Ref::entry(); change through Ref methods.
struct PeerEntry {
  Ipv6Addr addr;
  Endpoint mapped;     ///< learned mapping (host order)
  TimePoint lastRx{};  ///< last packet received from the peer
  TimePoint lastTx{};  ///< last packet sent to the peer
  TimePoint lastBubble{};
  TimePoint listTime{};  ///< ordering key of the list the entry is on (internal)
  uint32_t prev = 0;     ///< list links (internal)
  uint32_t next = 0;
  uint32_t chain = 0;  ///< next entry with the same hash (internal)
  uint32_t qHead = kNoChunk;
  uint32_t qTail = kNoChunk;
  uint32_t queuedBytes = 0;  ///< packet bytes queued (what the per-peer cap counts)
  uint16_t qReadOff = 0;
  uint16_t qWriteOff = 0;
  uint16_t queuedPackets = 0;
  uint8_t bubbles = 0;
  uint8_t flags = 0;  ///< kTrusted | kInUse (internal)
  static constexpr uint8_t kTrusted = 1;
  static constexpr uint8_t kInUse = 2;
  bool trusted() const { return (flags & kTrusted) != 0; }
};

enum class EnqueueResult : uint8_t { Ok, QueueFull, GlobalQueueFull, TooBig };
enum class CreateResult : uint8_t {
  Created,
  CreatedEvictedUntrusted,  ///< the oldest untrusted entry of the shard made room
  CreatedEvictedTrusted,    ///< no untrusted entry: the oldest trusted one made room
  Exists,
  NoMemory,  ///< malloc of a slab or a Judy node failed; nothing changed
};

/// Result of one expire() sweep.
struct ExpireStats {
  size_t demoted = 0;         ///< trust lapsed (last_rx older than trustTimeout)
  size_t expired = 0;         ///< untrusted entries removed after idleTimeout
  size_t packetsDropped = 0;  ///< queued packets freed with expired entries
};

/// Monotonic counters (relaxed atomics; read at scrape time).
struct PeerTableCounters {
  std::atomic<uint64_t> created{0};
  std::atomic<uint64_t> evictedExpired{0};
  std::atomic<uint64_t> evictedCapacityUntrusted{0};
  std::atomic<uint64_t> evictedCapacityTrusted{0};
  std::atomic<uint64_t> erased{0};
  std::atomic<uint64_t> createFailedNoMemory{0};
  std::atomic<uint64_t> queueDropPeerFull{0};    ///< enqueue refused: per-peer cap
  std::atomic<uint64_t> queueDropGlobalFull{0};  ///< enqueue refused: global cap
  std::atomic<uint64_t> queueDropTooBig{0};
  std::atomic<uint64_t> queueDropEvicted{0};    ///< packets freed with an evicted/erased entry
  std::atomic<uint64_t> queueDropDiscarded{0};  ///< packets freed by Ref::dropQueue()
};

/// Published memory cost of one peer (bytes, including the JudyL index and slab slack), measured
/// with mallinfo2 deltas over 1,000,000 inserts (tests/unit/peers, MemoryPerPeer). Queued packet
/// bytes are extra and bounded by the global queue cap.
size_t bytesPerPeerEstimate();

class PeerTable {
 public:
  explicit PeerTable(const PeerTableConfig& config);
  ~PeerTable();
  PeerTable(const PeerTable&) = delete;
  PeerTable& operator=(const PeerTable&) = delete;

  struct Shard;

  /// Scoped access to one address's slot: holds the shard lock until destroyed. found() tells
  /// whether an entry exists; create() makes one under the same lock.
  class Ref {
   public:
    Ref(Ref&&) noexcept = default;
    Ref& operator=(Ref&&) noexcept = default;
    ~Ref() = default;

    bool found() const { return index_ != 0; }
    explicit operator bool() const { return found(); }
    const Ipv6Addr& addr() const { return addr_; }
    /// Requires found().
    const PeerEntry& entry() const;

    /// Creates an untrusted entry (last_rx = last_tx = 0, no bubbles; RFC 4380 §5.2.3) when none
    /// exists, evicting if the shard is full. After success found() is true.
    CreateResult create(TimePoint now);

    // Mutators; all require found().
    /// RFC 4380 §5.4.2 step 4: trusted, mapping = packet source, last_rx = now, bubbles reset.
    void markReceived(const Endpoint& mapped, TimePoint now);
    void setMapped(const Endpoint& mapped);
    /// Trusted with last_rx = lastRx (moves between lists as needed).
    void setTrusted(TimePoint lastRx, TimePoint now);
    void setUntrusted(TimePoint now);
    void setLastTx(TimePoint t);
    void setBubbles(uint8_t count, TimePoint lastBubble);
    /// Keeps an untrusted entry from idle expiry (moves it to its list's tail).
    void touch(TimePoint now);

    /// Appends a copy of `packet` to the FIFO queue (no malloc per packet).
    EnqueueResult enqueue(std::span<const uint8_t> packet);
    /// Pops queued packets in FIFO order, copying each into `scratch` and calling fn(Bytes).
    /// A packet larger than `scratch` is dropped (counted). Returns packets passed to fn.
    template <class F>
    size_t drainQueue(std::span<uint8_t> scratch, F&& fn);
    /// Pops the oldest packet into `out`; returns its size, 0 when empty (or it did not fit:
    /// then it is dropped and *dropped set).
    size_t popPacket(std::span<uint8_t> out, bool* dropped = nullptr);
    /// Frees every queued packet; returns how many.
    size_t dropQueue();
    /// Removes the entry (and its queue). found() becomes false.
    void erase();

   private:
    friend class PeerTable;
    Ref(PeerTable* table, Shard* shard, const Ipv6Addr& addr, uint64_t hash);
    PeerEntry& mut();

    PeerTable* table_;
    Shard* shard_;
    std::unique_lock<std::mutex> lock_;
    Ipv6Addr addr_;
    uint64_t hash_;
    uint32_t index_ = 0;  // 1-based entry index in the shard, 0 = none
  };

  /// Locks the shard of `addr` and looks it up. A trusted entry whose trust lapsed is demoted
  /// here, so entry().trusted() is always current.
  Ref lock(const Ipv6Addr& addr, TimePoint now);
  /// lock() then create() when absent. `result` (optional) says what happened.
  Ref findOrCreate(const Ipv6Addr& addr, TimePoint now, CreateResult* result = nullptr);
  /// Removes `addr`; false when absent.
  bool erase(const Ipv6Addr& addr);
  /// Sweeps every shard: demotes lapsed trust, removes idle untrusted entries.
  ExpireStats expire(TimePoint now);

  size_t size() const;
  size_t capacity() const { return config_.maxPeers; }
  size_t shardCount() const { return shardCount_; }
  size_t queuedBytes() const { return queuedBytes_.load(std::memory_order_relaxed); }
  size_t queueArenaBytesInUse() const { return pool_.chunksInUse() * ChunkPool::kChunkSize; }
  /// Bytes used by the JudyL indexes (JudyLMemUsed), for the memory gauge.
  size_t indexBytes() const;
  const PeerTableConfig& config() const { return config_; }
  const PeerTableCounters& counters() const { return counters_; }

 private:
  uint64_t hashOf(const Ipv6Addr& addr) const;
  Shard& shardFor(uint64_t hash) const;
  // Both require the shard lock. Return the number of queued packets freed.
  size_t freeQueueLocked(PeerEntry& e);
  size_t removeLocked(Shard& s, uint32_t idx);

  const PeerTableConfig config_;
  size_t shardCount_;
  std::unique_ptr<Shard[]> shards_;
  ChunkPool pool_;
  std::atomic<size_t> queuedBytes_{0};
  PeerTableCounters counters_;
};

template <class F>
size_t PeerTable::Ref::drainQueue(std::span<uint8_t> scratch, F&& fn) {
  size_t n = 0;
  while (entry().queuedPackets > 0) {
    bool dropped = false;
    const size_t len = popPacket(scratch, &dropped);
    if (!dropped) {
      fn(std::span<const uint8_t>(scratch.data(), len));
      ++n;
    }
  }
  return n;
}

}  // namespace teredo::peers

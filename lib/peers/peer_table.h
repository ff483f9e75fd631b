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
//  - Each shard's index is a JudyL keyed by the 64-bit keyed hash, whose value is the 1-based
//    index of the head of a chain of entries with that hash (collisions are chained and compared
//    by full address). Why JudyL and not JudyHS: JudyL can be walked (needed for stats and
//    debugging), uses about half the memory per key (measured: 19 vs 37 B/key at 1M keys), and
//    since the hash is keyed an attacker cannot force chains; a chain longer than 1 is a 2^-64
//    event per pair.
//  - Entries are packed into 56 bytes (PeerTable::PackedEntry in peer_table.cc): the address, a
//    6-byte mapping, four 32-bit times, 32-bit list links and chain, and a 32-bit reference to a
//    queue descriptor. Queue bookkeeping (head/tail chunk, byte and packet counts, offsets) lives
//    in a side pool of descriptors used only by peers with something queued: most peers (trusted
//    ones, whose packets go straight out) never have one, and the descriptors are bounded by the
//    chunk pool (a descriptor always owns at least one chunk).
//  - Entries of a shard are kept dense: indices 1..size are exactly the live entries. Removing an
//    entry moves the last one into the hole (its JudyL value or chain link, list neighbours and
//    queue descriptor are repointed: O(1), one JudyLGet). An eviction needs no move (the new
//    entry takes the victim's slot) and a sweep fills its holes once at the end, so it moves at
//    most min(expired, survivors) entries; only erase() pays a move per removal. So memory follows
//    the live count, not the high-water mark: slabs of 1024 entries (56 KiB, exactly 14 pages) are
//    mmap'd as the shard grows and munmap'd as it shrinks (one spare slab kept on the data path to
//    avoid map/unmap churn at a slab boundary, none after a sweep). Queue descriptors are dense the
//    same way, and the queue chunks' slabs are mapped too (peers/slab_memory.h: slabs that come
//    and go with the traffic never sit between long-lived malloc'd JudyL nodes, where freed pages
//    would stay resident). A table going from 10M peers to 100k therefore gives back 99% of its
//    slabs, not only when a shard empties; JudyL nodes freed by removals go back to malloc, and
//    expire() calls malloc_trim(0) after it has seen many removals, and once more at the first
//    sweep without removals after some (at most once per 10 s of table time), so the process RSS
//    falls back as well (Miredo keeps its peak forever).
//  - Expiry and eviction order use two intrusive lists per shard instead of Miredo's two
//    generations: `trusted` ordered by last_rx, `untrusted` ordered by the time the entry was
//    last created, touched or demoted. Both stay sorted because entries only move to the tail
//    with the current time.
//
// Memory (tests/unit/peers/peer_table_memory_test.cc, RSS deltas): a trusted peer with nothing
// queued costs 85 bytes at 1M peers (56 of entry, the rest JudyL, whose cost per key moves with
// the population between 18 and 29 bytes) and 77 at 10M (738 MiB); bytesPerPeerEstimate()
// publishes 96. After every peer expired the RSS is back within 1% of where it started; going
// from 1M to 10k live peers gives back 88% of the growth, 10M to 100k 97%. What stays is JudyL
// nodes of the survivors pinning malloc pages: rebuilding a shrunken index was tried and gained
// nothing (malloc serves the copy from the same scattered free chunks), so it is not done.
//
// Time: every call takes `now` (steady_clock time_point) from the caller: the clock is injected.
// Entries store times as 32-bit counts of 1 ms ticks after a per-shard epoch. 1 ms is far finer
// than the RFC 4380 intervals the decisions compare against (2 s bubble spacing §5.2.6, 30 s
// trust §5.2.4, 300 s bubble budget window); times are truncated to the tick, so an interval may
// be judged up to 1 ms long or short; times that are whole milliseconds after the epoch read back
// exactly. The epoch is chosen when an entry is created in an empty shard, one day before that
// `now` (so times set slightly in the past, e.g. a last bubble 2 s ago, still read back exactly). A
// 32-bit tick count covers 49.7 days: instead of relying on wrap-around arithmetic (which would
// make a 50-day-old last_tx look fresh), a shard whose `now` gets 2^31 ticks (24.8 days) past its
// epoch is rebased: the epoch moves to one day before `now` and every stored time moves with it;
// times older than the new epoch become the oldest representable one (a day before `now`), which
// no decision distinguishes from their true value (all compared intervals are far below a day;
// timeouts longer than a day are therefore not supported). Rebasing walks the shard once per ~24
// days. Sentinels are kept exact: TimePoint{} is stored as tick 0 and reads back as TimePoint{}
// (lastBubble == {} means no bubble ever sent; a new entry's lastRx {} means "long ago", RFC 4380
// §5.2.3). Times before the epoch (e.g. a `now` of TimePoint{} used to read without demoting) count
// as the epoch: ages are computed saturating at 0, so an earlier `now` never expires anything.
// Calls with slightly out-of-order `now` from different threads are harmless (an entry may expire
// one sweep later).
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
//    queue cap bounds the memory of all queues together (ChunkPool, 64-byte chunks in 64 KiB
//    slabs, mapped lazily; a sweep unmaps every slab none of whose chunks is in use). Queues are
//    FIFO (Miredo's are LIFO, a bug: R3).
//  - No allocation per packet: enqueue takes chunks from the pool and, for a peer's first queued
//    packet, a descriptor from its shard's pool (a slab mapped once per 1024 descriptors). Creating
//    a peer maps a slab once per 1024 entries. No exceptions are thrown; out of memory is reported
//    (CreateResult::NoMemory, EnqueueResult::GlobalQueueFull).
//
// Thread-safety: all PeerTable methods are thread-safe. A Ref holds its shard's lock for its
// lifetime: keep it short, never hold two Refs at once in one thread (self-deadlock when both
// addresses share a shard, and a removal in the shard could move the other Ref's entry), and do
// not call expire(), erase(addr) or size() while holding one.
// Ownership: the table owns entries, descriptors, slabs and queued bytes; a Ref borrows one entry
// under the lock; PeerEntry (from Ref::entry()) is a copy owned by the caller.
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
  Clock::duration trustTimeout = kDefaultTrustTimeout;  ///< at most one day (see Time above)
  Clock::duration idleTimeout = kDefaultIdleTimeout;    ///< at most one day
  SipKey hashKey;  ///< from injected randomness; fixes shard and index placement
};

/// One peer (RFC 4380 §5.2) as PeerTable::Ref::entry() shows it: a decoded copy of the packed
/// entry (times as TimePoint, queue counters from its descriptor). Change it through Ref methods.
struct PeerEntry {
  Ipv6Addr addr;
  Endpoint mapped;           ///< learned mapping (host order)
  TimePoint lastRx{};        ///< last packet received from the peer; {} = never (long ago)
  TimePoint lastTx{};        ///< last packet sent to the peer; {} = never
  TimePoint lastBubble{};    ///< {} = no bubble ever sent
  TimePoint listTime{};      ///< ordering key of the list the entry is on (expiry, eviction)
  uint32_t queuedBytes = 0;  ///< packet bytes queued (what the per-peer cap counts)
  uint32_t queuedPackets = 0;
  uint8_t bubbles = 0;
  bool isTrusted = false;
  bool trusted() const { return isTrusted; }
};

enum class EnqueueResult : uint8_t { Ok, QueueFull, GlobalQueueFull, TooBig };
enum class CreateResult : uint8_t {
  Created,
  CreatedEvictedUntrusted,  ///< the oldest untrusted entry of the shard made room
  CreatedEvictedTrusted,    ///< no untrusted entry: the oldest trusted one made room
  Exists,
  NoMemory,  ///< mmap of a slab or malloc of a Judy node failed; no entry was created (an entry
             ///< evicted to make room stays evicted)
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
  std::atomic<uint64_t> queueDropGlobalFull{0};  ///< enqueue refused: global cap (or no memory)
  std::atomic<uint64_t> queueDropTooBig{0};
  std::atomic<uint64_t> queueDropEvicted{0};    ///< packets freed with an evicted/erased entry
  std::atomic<uint64_t> queueDropDiscarded{0};  ///< packets freed by Ref::dropQueue()
  std::atomic<uint64_t> memoryTrims{0};         ///< malloc_trim(0) calls made by expire()
};

/// Published memory cost of one trusted peer with nothing queued (bytes, including the JudyL
/// index and slab slack), measured as the RSS delta over 1,000,000 inserts
/// (tests/unit/peers, MemoryPerPeer). Queued packet bytes are extra and bounded by the global
/// queue cap.
size_t bytesPerPeerEstimate();

class PeerTable {
 public:
  explicit PeerTable(const PeerTableConfig& config);
  ~PeerTable();
  PeerTable(const PeerTable&) = delete;
  PeerTable& operator=(const PeerTable&) = delete;

  struct Shard;
  struct PackedEntry;

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
    /// A decoded copy of the entry. Requires found().
    PeerEntry entry() const;
    // Cheap reads (no decoding); all require found().
    bool trusted() const;
    size_t queuedPackets() const;
    size_t queuedBytes() const;

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
    PackedEntry& mut();
    const PackedEntry& packed() const;

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
  /// Sweeps every shard: demotes lapsed trust, removes idle untrusted entries, gives spare slabs
  /// back to the OS, and after many removals or at the end of a wave of them (rate-limited by
  /// `now`) trims the malloc heap.
  ExpireStats expire(TimePoint now);

  size_t size() const;
  size_t capacity() const { return config_.maxPeers; }
  size_t shardCount() const { return shardCount_; }
  size_t queuedBytes() const { return queuedBytes_.load(std::memory_order_relaxed); }
  size_t queueArenaBytesInUse() const { return pool_.chunksInUse() * ChunkPool::kChunkSize; }
  /// Bytes used by the JudyL indexes (JudyLMemUsed), for the memory gauge.
  size_t indexBytes() const;
  /// Bytes of entry slabs and queue descriptor slabs currently mapped.
  size_t slabBytes() const;
  /// Checks every internal invariant (dense indices, list links, index and chains, descriptor
  /// owners, counts); O(size). For tests and debugging; false means a bug.
  bool selfCheck() const;
  const PeerTableConfig& config() const { return config_; }
  const PeerTableCounters& counters() const { return counters_; }

 private:
  uint64_t hashOf(const Ipv6Addr& addr) const;
  Shard& shardFor(uint64_t hash) const;
  // All require the shard lock. freeQueueLocked, unlinkLocked and removeLocked return the queued
  // packets freed. unlinkLocked leaves a hole at idx (for a new entry, or for fillHoleLocked);
  // removeLocked is both.
  size_t freeQueueLocked(Shard& s, PackedEntry& e);
  size_t unlinkLocked(Shard& s, uint32_t idx);
  void fillHoleLocked(Shard& s, uint32_t idx);
  /// Closes `holes` holes (unlinked entries with listTime 0, linked through `chain` from
  /// holeList) by moving the live entries above the new size into them.
  void fillHolesLocked(Shard& s, uint32_t holeList, uint32_t holes);
  size_t removeLocked(Shard& s, uint32_t idx);
  /// Trims the malloc heap (rate-limited) when enough was freed since the last trim, or when
  /// `removalsEnded` (this sweep freed nothing) and anything was.
  void maybeTrim(TimePoint now, bool removalsEnded);

  const PeerTableConfig config_;
  size_t shardCount_;
  uint32_t trustTicks_;  // config timeouts in ticks
  uint32_t idleTicks_;
  std::unique_ptr<Shard[]> shards_;
  ChunkPool pool_;
  std::atomic<size_t> queuedBytes_{0};
  std::atomic<size_t> freedSinceTrim_{0};  // malloc'd bytes freed since the last trim
  std::mutex trimMu_;
  TimePoint lastTrim_{};
  bool trimmed_ = false;
  PeerTableCounters counters_;
};

template <class F>
size_t PeerTable::Ref::drainQueue(std::span<uint8_t> scratch, F&& fn) {
  size_t n = 0;
  while (queuedPackets() > 0) {
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

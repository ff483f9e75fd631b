// A bounded pool of fixed-size byte chunks for the relay's per-peer packet queues.
//
// Queued packets never cost a malloc each: a peer's queue is a chain of 64-byte chunks (one cache
// line) taken from this pool. 64 rather than larger: the typical queued packet (a TCP SYN, an
// echo request, a small UDP datagram to a peer not yet trusted) is 50-110 bytes, so a peer with one
// queued packet costs one or two lines instead of a mostly empty 256-byte block; a full 1280-byte
// packet spans 22 chunks (6 % link overhead). The pool never holds more than `maxBytes`: it is the
// global queue byte cap ("everything is bounded": docs/security.md).
//
// Memory follows the chunks in use, not their high-water mark. Chunks live in slabs of 1024
// (64 KiB, mapped from the kernel: peers/slab_memory.h), mapped when needed and carved lazily, so
// no page is touched before a chunk on it is used. Every slab keeps its own free list, and a
// chunk is always taken from the lowest-numbered slab that has one: use packs into the low slabs
// and the high ones drain. The peer table's sweep calls releaseFreeSlabs(), which unmaps every
// slab with no chunk in use, so their pages leave the RSS at once, even while some queues (a
// peer that never answers its bubble) still hold chunks in other slabs. Chunks are linked by
// index, so a slab in use cannot be moved or compacted; queues are short-lived (a peer answers
// its bubble or expires within a minute), so slabs empty soon.
//
// Thread-safety: allocate(), release() and releaseFreeSlabs() take an internal mutex (they run
// only when a packet is queued for an untrusted peer, a queue is flushed, or the table is
// swept; never on the trusted fast path). data() and next() are lock-free: a chunk index is only
// handed out under the mutex after its slab was mapped, and a slab is unmapped only when none of
// its chunks is held, so the slab of a held chunk stays mapped and visible. A chain belongs to
// exactly one owner (a peer entry, under its shard lock).
// Ownership: the pool owns all chunk memory; callers hold chunk indices.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

namespace teredo::peers {

inline constexpr uint32_t kNoChunk = 0xffffffffu;

class ChunkPool {
 public:
  static constexpr size_t kChunkSize = 64;  ///< bytes of memory per chunk, link included
  static constexpr size_t kChunkPayload = kChunkSize - sizeof(uint32_t);
  static constexpr size_t kChunksPerSlab = 1024;

  /// A pool that never holds more than `maxBytes` of chunks (rounded down to whole chunks).
  explicit ChunkPool(size_t maxBytes);
  ~ChunkPool();
  ChunkPool(const ChunkPool&) = delete;
  ChunkPool& operator=(const ChunkPool&) = delete;

  /// Takes `n` chunks (n >= 1), linked head -> ... -> tail (tail's next = kNoChunk). All or
  /// nothing: returns false and takes none when fewer than `n` are available under the cap (or
  /// the kernel refused a slab).
  bool allocate(size_t n, uint32_t* head, uint32_t* tail);
  /// Returns a chain of exactly `n` chunks starting at `head` (linked through next()).
  void release(uint32_t head, size_t n);

  uint8_t* data(uint32_t chunk) { return chunkPtr(chunk)->data; }
  uint32_t& next(uint32_t chunk) { return chunkPtr(chunk)->next; }

  size_t maxChunks() const { return maxChunks_; }
  /// Unmaps every slab none of whose chunks is in use (nobody holds an index into it, so no
  /// data() or next() on it can be in flight). Returns the bytes freed.
  size_t releaseFreeSlabs();

  /// Chunks currently owned by queues.
  size_t chunksInUse() const;
  /// Bytes of slabs mapped now (<= the cap rounded up to a slab).
  size_t bytesReserved() const;

 private:
  struct Chunk {
    uint32_t next;
    uint8_t data[kChunkPayload];
  };
  static_assert(sizeof(Chunk) == kChunkSize);

  /// Bookkeeping of one slab; all zero (and `freeHead` kNoChunk) while it is not mapped.
  struct SlabState {
    uint32_t freeHead = kNoChunk;  ///< released chunks of this slab, linked through next
    uint16_t freeCount = 0;
    uint16_t carved = 0;  ///< chunks ever handed out from this mapping (the rest untouched)
  };

  Chunk* chunkPtr(uint32_t c) { return &mem_[c / kChunksPerSlab][c % kChunksPerSlab]; }
  /// Chunks slab `k` can hold: kChunksPerSlab, except a last slab cut by the cap.
  size_t slabCapacity(size_t k) const;
  /// One chunk (next = kNoChunk) from the lowest slab with room, mapping the lowest unmapped
  /// slab (mem_[k] == nullptr) when none has any; kNoChunk when the kernel refuses. Requires mu_
  /// and a chunk under the cap.
  uint32_t takeOne();
  /// Puts the `n` chunks of the chain at `head` on their slabs' free lists. Requires mu_.
  void pushFree(uint32_t head, size_t n);

  const size_t maxChunks_;
  const size_t maxSlabs_;
  const size_t words_;  // of room_
  mutable std::mutex mu_;
  std::unique_ptr<Chunk*[]> mem_;       // maxSlabs_ slots, nullptr while unmapped
  std::unique_ptr<SlabState[]> slabs_;  // maxSlabs_
  std::unique_ptr<uint64_t[]> room_;    // bit k: slab k is mapped and has a chunk to give
  size_t mapped_ = 0;
  size_t inUse_ = 0;
};

}  // namespace teredo::peers

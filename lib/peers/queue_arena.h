// A bounded pool of fixed-size byte chunks for the relay's per-peer packet queues.
//
// Queued packets never cost a malloc each: a peer's queue is a chain of 64-byte chunks (one cache
// line) taken from this pool. 64 rather than larger: the typical queued packet (a TCP SYN, an
// echo request, a small UDP datagram to a peer not yet trusted) is 50-110 bytes, so a peer with one
// queued packet costs one or two lines instead of a mostly empty 256-byte block; a full 1280-byte
// packet spans 22 chunks (6 % link overhead). Chunks are allocated lazily, a slab of 1024 chunks
// (64 KiB, mapped from the kernel: peers/slab_memory.h) at a time, and never beyond `maxBytes`:
// the pool is the global queue byte cap ("everything is bounded": docs/security.md). Freed chunks
// go back to a free list and are reused; slabs are unmapped when the pool is idle
// (releaseIfIdle(), called by the peer table's sweep once every queue is empty) or destroyed, so
// their pages leave the RSS at once: chunks are linked by index, so a partly used pool cannot be
// compacted, but queues are short-lived (a peer answers its bubble or expires within a minute).
//
// Thread-safety: allocate() and release() take an internal mutex (they run only when a packet is
// queued for an untrusted peer or a queue is flushed, not on the trusted fast path). data() and
// next() are lock-free: a chunk index is only handed out under the mutex, so its slab is visible.
// A chain belongs to exactly one owner (a peer entry, under its shard lock).
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
  /// nothing: returns false and takes none when fewer than `n` are available under the cap.
  bool allocate(size_t n, uint32_t* head, uint32_t* tail);
  /// Returns a chain of exactly `n` chunks starting at `head` (linked through next()).
  void release(uint32_t head, size_t n);

  uint8_t* data(uint32_t chunk) { return chunkPtr(chunk)->data; }
  uint32_t& next(uint32_t chunk) { return chunkPtr(chunk)->next; }

  size_t maxChunks() const { return maxChunks_; }
  /// Frees every slab when no chunk is in use (nobody holds a chunk index then, so no data() or
  /// next() can be in flight). Returns the bytes freed.
  size_t releaseIfIdle();

  /// Chunks currently owned by queues.
  size_t chunksInUse() const;
  /// Bytes of slabs allocated so far (<= the cap).
  size_t bytesReserved() const;

 private:
  struct Chunk {
    uint32_t next;
    uint8_t data[kChunkPayload];
  };
  static_assert(sizeof(Chunk) == kChunkSize);
  static_assert(kChunksPerSlab * kChunkSize % 4096 == 0, "slabs are whole pages");

  Chunk* chunkPtr(uint32_t c) { return &slabs_[c / kChunksPerSlab][c % kChunksPerSlab]; }

  const size_t maxChunks_;
  const size_t maxSlabs_;
  mutable std::mutex mu_;
  std::unique_ptr<Chunk*[]> slabs_;  // maxSlabs_ slots, [0, slabCount_) mapped
  size_t slabCount_ = 0;
  size_t carved_ = 0;  // chunks ever handed out from slabs (high-water mark)
  uint32_t freeHead_ = kNoChunk;
  size_t freeCount_ = 0;
  size_t inUse_ = 0;
};

}  // namespace teredo::peers

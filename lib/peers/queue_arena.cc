#include "peers/queue_arena.h"

#include <algorithm>

#include "peers/slab_memory.h"

namespace teredo::peers {
namespace {

constexpr size_t kNoSlab = ~size_t{0};
static_assert(ChunkPool::kChunksPerSlab * ChunkPool::kChunkSize % kSlabPage == 0,
              "slabs are whole pages");

void setBit(uint64_t* bits, size_t k) {
  bits[k / 64] |= uint64_t{1} << (k % 64);
}

void clearBit(uint64_t* bits, size_t k) {
  bits[k / 64] &= ~(uint64_t{1} << (k % 64));
}

/// The lowest set bit of `bits` (`words` words), or kNoSlab.
size_t lowestBit(const uint64_t* bits, size_t words) {
  for (size_t w = 0; w < words; ++w) {
    if (bits[w] != 0) {
      return w * 64 + static_cast<size_t>(__builtin_ctzll(bits[w]));
    }
  }
  return kNoSlab;
}

}  // namespace

ChunkPool::ChunkPool(size_t maxBytes)
    : maxChunks_(std::min<size_t>(maxBytes / kChunkSize, kNoChunk - 1)),
      maxSlabs_((maxChunks_ + kChunksPerSlab - 1) / kChunksPerSlab),
      words_((maxSlabs_ + 63) / 64),
      mem_(std::make_unique<Chunk*[]>(maxSlabs_)),
      slabs_(std::make_unique<SlabState[]>(maxSlabs_)),
      room_(std::make_unique<uint64_t[]>(words_)) {}

ChunkPool::~ChunkPool() {
  for (size_t k = 0; k < maxSlabs_; ++k) {
    unmapSlab(mem_[k], kChunksPerSlab);
  }
}

size_t ChunkPool::slabCapacity(size_t k) const {
  return std::min(kChunksPerSlab, maxChunks_ - k * kChunksPerSlab);
}

uint32_t ChunkPool::takeOne() {
  size_t k = lowestBit(room_.get(), words_);
  if (k == kNoSlab) {
    // Every mapped slab is full and a chunk is left under the cap: some slab is unmapped (the
    // bound keeps a broken invariant from indexing past the slabs). Mapping is rare (once per
    // slab's worth of chunks), so the lowest free slot is found by a scan, not kept in a bitmap.
    k = static_cast<size_t>(std::find(mem_.get(), mem_.get() + maxSlabs_, nullptr) - mem_.get());
    Chunk* slab = k == maxSlabs_ ? nullptr : mapSlab<Chunk>(kChunksPerSlab);
    if (slab == nullptr) {
      return kNoChunk;
    }
    mem_[k] = slab;  // slabs_[k] is all zero: never used, or reset when it was unmapped
    setBit(room_.get(), k);
    ++mapped_;
  }
  SlabState& s = slabs_[k];
  uint32_t c;
  if (s.freeHead != kNoChunk) {
    c = s.freeHead;
    s.freeHead = chunkPtr(c)->next;
    --s.freeCount;
  } else {
    c = static_cast<uint32_t>(k * kChunksPerSlab + s.carved++);
  }
  if (s.freeHead == kNoChunk && s.carved == slabCapacity(k)) {
    clearBit(room_.get(), k);
  }
  chunkPtr(c)->next = kNoChunk;
  return c;
}

bool ChunkPool::allocate(size_t n, uint32_t* head, uint32_t* tail) {
  std::lock_guard<std::mutex> lock(mu_);
  if (n == 0 || inUse_ + n > maxChunks_) {
    return false;
  }
  uint32_t first = kNoChunk;
  uint32_t last = kNoChunk;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t c = takeOne();
    if (c == kNoChunk) {
      // Out of memory: give back what this call took (not counted in use yet).
      if (first != kNoChunk) {
        pushFree(first, i);
      }
      return false;
    }
    if (first == kNoChunk) {
      first = c;
    } else {
      chunkPtr(last)->next = c;
    }
    last = c;
  }
  inUse_ += n;
  *head = first;
  *tail = last;
  return true;
}

void ChunkPool::release(uint32_t head, size_t n) {
  if (n == 0 || head == kNoChunk) {
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  pushFree(head, n);
  inUse_ -= n;
}

void ChunkPool::pushFree(uint32_t head, size_t n) {
  uint32_t c = head;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t following = chunkPtr(c)->next;
    const size_t k = c / kChunksPerSlab;
    SlabState& s = slabs_[k];
    chunkPtr(c)->next = s.freeHead;
    s.freeHead = c;
    ++s.freeCount;
    setBit(room_.get(), k);
    c = following;
  }
}

size_t ChunkPool::releaseFreeSlabs() {
  std::lock_guard<std::mutex> lock(mu_);
  size_t freed = 0;
  for (size_t k = 0; k < maxSlabs_ && mapped_ > 0; ++k) {
    if (mem_[k] != nullptr && slabs_[k].freeCount == slabs_[k].carved) {
      unmapSlab(mem_[k], kChunksPerSlab);
      mem_[k] = nullptr;
      slabs_[k] = SlabState{};
      clearBit(room_.get(), k);
      --mapped_;
      freed += kChunksPerSlab * kChunkSize;
    }
  }
  return freed;
}

size_t ChunkPool::chunksInUse() const {
  std::lock_guard<std::mutex> lock(mu_);
  return inUse_;
}

size_t ChunkPool::bytesReserved() const {
  std::lock_guard<std::mutex> lock(mu_);
  return mapped_ * kChunksPerSlab * kChunkSize;
}

}  // namespace teredo::peers

#include "peers/queue_arena.h"

#include <algorithm>

#include "peers/slab_memory.h"

namespace teredo::peers {

ChunkPool::ChunkPool(size_t maxBytes)
    : maxChunks_(std::min<size_t>(maxBytes / kChunkSize, kNoChunk - 1)),
      maxSlabs_((maxChunks_ + kChunksPerSlab - 1) / kChunksPerSlab),
      slabs_(std::make_unique<Chunk*[]>(maxSlabs_)) {}

ChunkPool::~ChunkPool() {
  while (slabCount_ > 0) {
    unmapSlab(slabs_[--slabCount_], kChunksPerSlab);
  }
}

bool ChunkPool::allocate(size_t n, uint32_t* head, uint32_t* tail) {
  std::lock_guard<std::mutex> lock(mu_);
  if (n == 0 || inUse_ + n > maxChunks_) {
    return false;
  }
  uint32_t first = kNoChunk;
  uint32_t last = kNoChunk;
  for (size_t i = 0; i < n; ++i) {
    uint32_t c;
    if (freeHead_ != kNoChunk) {
      c = freeHead_;
      freeHead_ = chunkPtr(c)->next;
      --freeCount_;
    } else {
      // inUse_ + n <= maxChunks_ and the free list is empty, so carved_ < maxChunks_ here.
      if (carved_ == slabCount_ * kChunksPerSlab) {
        slabs_[slabCount_] = mapSlab<Chunk>(kChunksPerSlab);
        if (slabs_[slabCount_] == nullptr) {
          // Out of memory: give back what this call took.
          if (first != kNoChunk) {
            chunkPtr(last)->next = freeHead_;
            freeHead_ = first;
            freeCount_ += i;
          }
          return false;
        }
        ++slabCount_;
      }
      c = static_cast<uint32_t>(carved_++);
    }
    chunkPtr(c)->next = kNoChunk;
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
  uint32_t c = head;
  for (size_t i = 1; i < n; ++i) {
    c = chunkPtr(c)->next;
  }
  chunkPtr(c)->next = freeHead_;
  freeHead_ = head;
  freeCount_ += n;
  inUse_ -= n;
}

size_t ChunkPool::releaseIfIdle() {
  std::lock_guard<std::mutex> lock(mu_);
  if (inUse_ != 0 || slabCount_ == 0) {
    return 0;
  }
  const size_t bytes = slabCount_ * kChunksPerSlab * kChunkSize;
  while (slabCount_ > 0) {
    unmapSlab(slabs_[--slabCount_], kChunksPerSlab);
    slabs_[slabCount_] = nullptr;
  }
  carved_ = 0;
  freeHead_ = kNoChunk;
  freeCount_ = 0;
  return bytes;
}

size_t ChunkPool::chunksInUse() const {
  std::lock_guard<std::mutex> lock(mu_);
  return inUse_;
}

size_t ChunkPool::bytesReserved() const {
  std::lock_guard<std::mutex> lock(mu_);
  return slabCount_ * kChunksPerSlab * kChunkSize;
}

}  // namespace teredo::peers

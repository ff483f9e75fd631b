// Page-backed slabs for the peer table: entries, queue descriptors and queue chunks.
//
// These slabs come and go with the traffic (a flood of new destinations, a burst of packets
// queued for peers that have not answered their bubbles yet), while the JudyL nodes of the peer
// index, which live as long as their peers, are malloc'd in between. Slabs taken from malloc would
// end up between those nodes, and once freed their pages would stay resident until a malloc_trim
// walked the heap: priming 100,000 peers through their queues left 1-2 MB of freed chunk slabs
// resident in the relay. A slab mapped straight from the kernel goes back whole the moment it is
// unmapped, whatever surrounds it, and none of its pages is resident before it is written.
//
// Slab sizes are whole 4 KiB pages (callers static_assert it), so no mapping ends in a partly used
// page. One mmap per slab (1024 objects), never per packet.
//
// Thread-safety: both functions are thread-safe (they are mmap and munmap).
// Ownership: the caller owns a slab from mapSlab until it passes it to unmapSlab with the same
// count; the memory starts zeroed.
#pragma once

#include <cstddef>
#include <type_traits>

namespace teredo::peers {

inline constexpr size_t kSlabPage = 4096;

/// `bytes` of zeroed anonymous memory, or nullptr when the kernel refuses (out of memory).
void* mapSlabMemory(size_t bytes);
/// Gives a slab from mapSlabMemory(bytes) back to the kernel.
void unmapSlabMemory(void* slab, size_t bytes);

/// A slab of `count` objects of an implicit-lifetime type (mapping memory creates them), or
/// nullptr when the kernel refuses.
template <class T>
T* mapSlab(size_t count) {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);
  return static_cast<T*>(mapSlabMemory(count * sizeof(T)));
}

template <class T>
void unmapSlab(T* slab, size_t count) {
  unmapSlabMemory(slab, count * sizeof(T));
}

}  // namespace teredo::peers

#include "peers/slab_memory.h"

#include <sys/mman.h>

namespace teredo::peers {

void* mapSlabMemory(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void unmapSlabMemory(void* slab, size_t bytes) {
  if (slab != nullptr) {
    munmap(slab, bytes);
  }
}

}  // namespace teredo::peers

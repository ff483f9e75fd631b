// ChunkPool (lib/peers/queue_arena.h): the bounded chunk pool behind the per-peer queues. All or
// nothing under the cap, chains linked head to tail, freed chunks reused, slabs carved lazily and
// their pages given back when the pool is idle.
#include "peers/queue_arena.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "peer_test_util.h"

namespace teredo::peers {
namespace {

constexpr size_t kChunk = ChunkPool::kChunkSize;
constexpr size_t kSlabBytes = ChunkPool::kChunksPerSlab * kChunk;

/// Follows a chain of `n` chunks from `head`; returns its chunks (empty if it is not `n` long or
/// does not end at `tail`).
std::vector<uint32_t> walk(ChunkPool& pool, uint32_t head, uint32_t tail, size_t n) {
  std::vector<uint32_t> chain;
  for (uint32_t c = head; c != kNoChunk && chain.size() <= n; c = pool.next(c)) {
    chain.push_back(c);
  }
  if (chain.size() != n || chain.back() != tail) {
    return {};
  }
  return chain;
}

TEST(ChunkPool, CapIsRoundedDownToWholeChunks) {
  struct Row {
    size_t maxBytes;
    size_t chunks;
  };
  for (const Row& r : {Row{0, 0}, Row{kChunk - 1, 0}, Row{kChunk, 1}, Row{3 * kChunk + 63, 3},
                       Row{64 << 20, (64u << 20) / kChunk}}) {
    SCOPED_TRACE(r.maxBytes);
    ChunkPool pool(r.maxBytes);
    EXPECT_EQ(pool.maxChunks(), r.chunks);
    EXPECT_EQ(pool.chunksInUse(), 0u);
    EXPECT_EQ(pool.bytesReserved(), 0u);  // nothing carved before the first allocation
  }
}

TEST(ChunkPool, AllocationsAreAllOrNothingUnderTheCap) {
  ChunkPool pool(10 * kChunk);
  // Steps: allocate n (expect ok?) or release chain #i; then chunks in use.
  struct Step {
    std::string what;
    bool allocate;
    size_t n;  // allocate: chunks; release: index of the chain in `chains`
    bool ok;   // allocate only
    size_t inUse;
  };
  const std::vector<Step> steps = {
      {"four", true, 4, true, 4},
      {"seven do not fit", true, 7, false, 4},
      {"six fit exactly", true, 6, true, 10},
      {"one more does not", true, 1, false, 10},
      {"release the four", false, 0, true, 6},
      {"four again", true, 4, true, 10},
      {"release the six", false, 1, true, 4},
      {"release the last four", false, 2, true, 0},
      {"the whole pool", true, 10, true, 10},
  };
  struct Chain {
    uint32_t head;
    uint32_t tail;
    size_t n;
  };
  std::vector<Chain> chains;
  for (const Step& s : steps) {
    SCOPED_TRACE(s.what);
    if (s.allocate) {
      uint32_t head = 12345;
      uint32_t tail = 12345;
      ASSERT_EQ(pool.allocate(s.n, &head, &tail), s.ok);
      if (s.ok) {
        EXPECT_EQ(walk(pool, head, tail, s.n).size(), s.n);
        EXPECT_EQ(pool.next(tail), kNoChunk);
        chains.push_back({head, tail, s.n});
      } else {
        EXPECT_EQ(head, 12345u);  // untouched on failure
        EXPECT_EQ(tail, 12345u);
      }
    } else {
      pool.release(chains[s.n].head, chains[s.n].n);
    }
    EXPECT_EQ(pool.chunksInUse(), s.inUse);
  }
  // Ten chunks were ever carved: released ones were reused, one slab was enough.
  EXPECT_EQ(pool.bytesReserved(), kSlabBytes);
}

TEST(ChunkPool, ChunksHoldTheirBytesAndNeverOverlap) {
  ChunkPool pool(64 * kChunk);
  uint32_t headA = 0;
  uint32_t tailA = 0;
  uint32_t headB = 0;
  uint32_t tailB = 0;
  ASSERT_TRUE(pool.allocate(20, &headA, &tailA));
  ASSERT_TRUE(pool.allocate(30, &headB, &tailB));
  const std::vector<uint32_t> a = walk(pool, headA, tailA, 20);
  const std::vector<uint32_t> b = walk(pool, headB, tailB, 30);
  ASSERT_EQ(a.size(), 20u);
  ASSERT_EQ(b.size(), 30u);
  std::set<uint32_t> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  EXPECT_EQ(all.size(), 50u);
  uint8_t v = 0;
  for (uint32_t c : all) {
    for (size_t i = 0; i < ChunkPool::kChunkPayload; ++i) {
      pool.data(c)[i] = static_cast<uint8_t>(v + i);
    }
    ++v;
  }
  v = 0;
  for (uint32_t c : all) {
    for (size_t i = 0; i < ChunkPool::kChunkPayload; ++i) {
      ASSERT_EQ(pool.data(c)[i], static_cast<uint8_t>(v + i)) << "chunk " << c;
    }
    ++v;
  }
  // The links survived the payload writes.
  EXPECT_EQ(walk(pool, headA, tailA, 20), a);
  EXPECT_EQ(walk(pool, headB, tailB, 30), b);
}

TEST(ChunkPool, SlabsAreCarvedOnlyWhenNeeded) {
  ChunkPool pool(3 * ChunkPool::kChunksPerSlab * kChunk);
  uint32_t head = 0;
  uint32_t tail = 0;
  ASSERT_TRUE(pool.allocate(1, &head, &tail));
  EXPECT_EQ(pool.bytesReserved(), kSlabBytes);
  // A chain that crosses into a second slab.
  uint32_t head2 = 0;
  uint32_t tail2 = 0;
  ASSERT_TRUE(pool.allocate(ChunkPool::kChunksPerSlab, &head2, &tail2));
  EXPECT_EQ(pool.bytesReserved(), 2 * kSlabBytes);
  EXPECT_EQ(walk(pool, head2, tail2, ChunkPool::kChunksPerSlab).size(), ChunkPool::kChunksPerSlab);
  // Released chunks are reused before a third slab is carved.
  pool.release(head2, ChunkPool::kChunksPerSlab);
  ASSERT_TRUE(pool.allocate(ChunkPool::kChunksPerSlab, &head2, &tail2));
  EXPECT_EQ(pool.bytesReserved(), 2 * kSlabBytes);
  EXPECT_EQ(pool.chunksInUse(), ChunkPool::kChunksPerSlab + 1);
}

// An idle pool gives its slabs back (the peer table's sweep calls this); slabs in use stay.
TEST(ChunkPool, IdleSlabsAreReleased) {
  ChunkPool pool(3 * ChunkPool::kChunksPerSlab * kChunk);
  uint32_t head = 0;
  uint32_t tail = 0;
  ASSERT_TRUE(pool.allocate(ChunkPool::kChunksPerSlab + 1, &head, &tail));
  EXPECT_EQ(pool.releaseFreeSlabs(), 0u);  // chunks in use
  EXPECT_EQ(pool.bytesReserved(), 2 * kSlabBytes);
  pool.release(head, ChunkPool::kChunksPerSlab + 1);
  EXPECT_EQ(pool.releaseFreeSlabs(), 2 * kSlabBytes);
  EXPECT_EQ(pool.bytesReserved(), 0u);
  EXPECT_EQ(pool.releaseFreeSlabs(), 0u);
  // Usable again afterwards, from a fresh first slab.
  ASSERT_TRUE(pool.allocate(3, &head, &tail));
  EXPECT_EQ(walk(pool, head, tail, 3).size(), 3u);
  EXPECT_EQ(pool.bytesReserved(), kSlabBytes);
  EXPECT_EQ(pool.chunksInUse(), 3u);
}

// A few queues that linger (peers that never answer their bubbles) must not pin the slabs that
// every other queue has left: chunks come from the lowest slab with room, and a sweep unmaps each
// slab with nothing in use, whatever the others hold.
TEST(ChunkPool, FreeSlabsAreReleasedWhileOthersAreInUse) {
  constexpr size_t kPer = ChunkPool::kChunksPerSlab;
  ChunkPool pool(4 * kPer * kChunk);
  struct Chain {
    uint32_t head;
    uint32_t tail;
  };
  std::vector<Chain> chains(4);
  for (Chain& c : chains) {  // one slab each: the lowest with room is always full
    ASSERT_TRUE(pool.allocate(kPer, &c.head, &c.tail));
    for (uint32_t x = c.head; x != kNoChunk; x = pool.next(x)) {
      std::memset(pool.data(x), static_cast<int>(&c - chains.data()), ChunkPool::kChunkPayload);
    }
  }
  EXPECT_EQ(pool.bytesReserved(), 4 * kSlabBytes);
  EXPECT_EQ(pool.chunksInUse(), 4 * kPer);
  // Keep slab 2's chain (the lingering queue); the others are flushed.
  pool.release(chains[0].head, kPer);
  pool.release(chains[1].head, kPer);
  pool.release(chains[3].head, kPer);
  EXPECT_EQ(pool.releaseFreeSlabs(), 3 * kSlabBytes);
  EXPECT_EQ(pool.bytesReserved(), kSlabBytes);
  EXPECT_EQ(pool.releaseFreeSlabs(), 0u);
  // The held chain kept its links and bytes.
  const std::vector<uint32_t> held = walk(pool, chains[2].head, chains[2].tail, kPer);
  ASSERT_EQ(held.size(), kPer);
  for (const uint32_t x : held) {
    ASSERT_EQ(pool.data(x)[0], 2);
    ASSERT_EQ(pool.data(x)[ChunkPool::kChunkPayload - 1], 2);
  }
  // New chunks come from the lowest slab (0, mapped again), not after the held one.
  uint32_t head = 0;
  uint32_t tail = 0;
  ASSERT_TRUE(pool.allocate(3, &head, &tail));
  for (const uint32_t x : walk(pool, head, tail, 3)) {
    EXPECT_LT(x, kPer);
  }
  EXPECT_EQ(pool.bytesReserved(), 2 * kSlabBytes);
  // Slab 0 partly freed: chunks are reused there before anything else is carved.
  pool.release(head, 3);
  ASSERT_TRUE(pool.allocate(2, &head, &tail));
  for (const uint32_t x : walk(pool, head, tail, 2)) {
    EXPECT_LT(x, kPer);
  }
  pool.release(head, 2);
  pool.release(chains[2].head, kPer);
  EXPECT_EQ(pool.releaseFreeSlabs(), 2 * kSlabBytes);
  EXPECT_EQ(pool.chunksInUse(), 0u);
}

// A cap that is not a whole number of slabs: the last slab holds only what the cap leaves, and
// the whole cap can be used.
TEST(ChunkPool, TheLastSlabStopsAtTheCap) {
  constexpr size_t kPer = ChunkPool::kChunksPerSlab;
  ChunkPool pool((kPer + 5) * kChunk);
  uint32_t head = 0;
  uint32_t tail = 0;
  ASSERT_TRUE(pool.allocate(kPer + 5, &head, &tail));
  const std::vector<uint32_t> all = walk(pool, head, tail, kPer + 5);
  ASSERT_EQ(all.size(), kPer + 5);
  EXPECT_EQ(*std::max_element(all.begin(), all.end()), kPer + 4);
  EXPECT_FALSE(pool.allocate(1, &head, &tail));
  pool.release(all.front(), kPer + 5);
  EXPECT_EQ(pool.releaseFreeSlabs(), 2 * kSlabBytes);
}

// The pool's slabs come and go with queued traffic while long-lived memory is malloc'd in between
// (the peer table's JudyL nodes). Releasing an idle pool must give the slabs' pages back at once,
// without a malloc_trim: they are mapped, not malloc'd (peers/slab_memory.h). Malloc'd slabs
// would be free holes between the live blocks, still resident.
TEST(ChunkPool, AnIdlePoolGivesItsPagesBackEvenBetweenLiveAllocations) {
  if (peertest::kSanitizer) {
    GTEST_SKIP() << "sanitizer allocators change RSS";
  }
  constexpr size_t kSlabs = 64;  // 4 MiB of chunks
  ChunkPool pool(kSlabs * kSlabBytes);
  std::vector<std::unique_ptr<uint8_t[]>> live;  // stays allocated throughout
  std::vector<uint32_t> heads;
  const size_t before = peertest::rssBytes();
  for (size_t i = 0; i < kSlabs; ++i) {
    uint32_t head = kNoChunk;
    uint32_t tail = kNoChunk;
    ASSERT_TRUE(pool.allocate(ChunkPool::kChunksPerSlab, &head, &tail));
    for (uint32_t c = head; c != kNoChunk; c = pool.next(c)) {
      std::memset(pool.data(c), 0xab, ChunkPool::kChunkPayload);
    }
    heads.push_back(head);
    live.emplace_back(new uint8_t[1024]);
    std::memset(live.back().get(), 1, 1024);
  }
  const size_t full = peertest::rssBytes();
  EXPECT_GE(full, before + kSlabs * kSlabBytes * 9 / 10);  // the chunks were resident
  for (const uint32_t head : heads) {
    pool.release(head, ChunkPool::kChunksPerSlab);
  }
  EXPECT_EQ(pool.releaseFreeSlabs(), kSlabs * kSlabBytes);
  EXPECT_EQ(pool.bytesReserved(), 0u);
  const size_t after = peertest::rssBytes();
  EXPECT_LE(after, before + kSlabs * 1024 + (256u << 10));  // the live blocks and some slack
}

}  // namespace
}  // namespace teredo::peers

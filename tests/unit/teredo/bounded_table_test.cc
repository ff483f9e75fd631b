// BoundedTable (lib/teredo/bounded_table.h): fixed memory, least-recently-used eviction within a
// set, sweeps.
#include "teredo/bounded_table.h"

#include <gtest/gtest.h>

namespace teredo {
namespace {

TEST(BoundedTable, NeverGrowsAndEvictsLeastRecentlyUsedInSet) {
  BoundedTable<int, 4> t(64);
  EXPECT_EQ(t.capacity(), 64u);
  const size_t before = t.memoryBytes();
  bool fresh = false;
  for (uint64_t k = 0; k < 100000; ++k) {
    t.findOrInsert(k, k, fresh) = static_cast<int>(k);
    EXPECT_TRUE(fresh);
  }
  EXPECT_EQ(t.size(), 64u);
  EXPECT_EQ(t.memoryBytes(), before);
  EXPECT_EQ(t.evictions(), 100000u - 64u);
  // The most recent keys survive.
  EXPECT_NE(t.find(99999, 100000), nullptr);
  EXPECT_EQ(*t.find(99999, 100000), 99999);
}

TEST(BoundedTable, SweepErases) {
  BoundedTable<int, 2> t(8);
  bool fresh = false;
  for (uint64_t k = 0; k < 4; ++k) {
    t.findOrInsert(k, k, fresh);
  }
  t.sweep([](uint64_t key, int&, uint64_t) { return key % 2 == 0; });
  EXPECT_EQ(t.find(0, 10), nullptr);
  EXPECT_NE(t.find(1, 10), nullptr);
}

}  // namespace
}  // namespace teredo

// Unit tests for lib/agent/runtime_holder.h: workers load() whole snapshots the main thread
// store()s, generation() moves on every store, and an old snapshot lives while a worker holds it.
#include "agent/runtime_holder.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace teredo::agent {
namespace {

// A "runtime" whose fields must always be seen together: b == 2 * a in every snapshot.
struct Runtime {
  int a = 0;
  int b = 0;
  bool consistent() const { return b == 2 * a; }
};

std::shared_ptr<const Runtime> make(int a) {
  return std::make_shared<const Runtime>(Runtime{a, 2 * a});
}

TEST(RuntimeHolder, LoadReturnsTheInitialSnapshot) {
  auto initial = make(1);
  RuntimeHolder<Runtime> holder(initial);
  EXPECT_EQ(holder.load(), initial) << "the same object, not a copy";
  EXPECT_EQ(holder.load()->a, 1);
}

TEST(RuntimeHolder, StorePublishesTheNewSnapshot) {
  RuntimeHolder<Runtime> holder(make(1));
  auto next = make(2);
  holder.store(next);
  EXPECT_EQ(holder.load(), next);
  EXPECT_EQ(holder.load()->a, 2);
}

TEST(RuntimeHolder, GenerationMovesOnEveryStoreOnly) {
  RuntimeHolder<Runtime> holder(make(1));
  const uint64_t g0 = holder.generation();
  (void)holder.load();
  EXPECT_EQ(holder.generation(), g0) << "load() does not bump the generation";
  holder.store(make(2));
  const uint64_t g1 = holder.generation();
  EXPECT_EQ(g1, g0 + 1);
  // Storing the very same snapshot again still counts as a store.
  holder.store(holder.load());
  EXPECT_EQ(holder.generation(), g1 + 1);
}

// A worker remembers the generation it last saw and reloads only when it moved.
TEST(RuntimeHolder, WorkerSkipsReloadWhenGenerationUnchanged) {
  RuntimeHolder<Runtime> holder(make(1));
  uint64_t seen = holder.generation();
  std::shared_ptr<const Runtime> mine = holder.load();
  int reloads = 0;
  auto batch = [&] {
    if (holder.generation() != seen) {
      seen = holder.generation();
      mine = holder.load();
      ++reloads;
    }
  };
  batch();
  batch();
  EXPECT_EQ(reloads, 0);
  holder.store(make(5));
  batch();
  batch();
  EXPECT_EQ(reloads, 1);
  EXPECT_EQ(mine->a, 5);
}

TEST(RuntimeHolder, OldSnapshotLivesWhileAWorkerHoldsIt) {
  RuntimeHolder<Runtime> holder(make(1));
  std::shared_ptr<const Runtime> held = holder.load();
  std::weak_ptr<const Runtime> watch = held;
  holder.store(make(2));
  ASSERT_FALSE(watch.expired()) << "the worker still holds it";
  EXPECT_EQ(held->a, 1) << "a held snapshot never changes under the worker";
  held.reset();
  EXPECT_TRUE(watch.expired()) << "released once the last holder lets go";
}

TEST(RuntimeHolder, NullSnapshotsAreHeldAsIs) {
  RuntimeHolder<Runtime> holder(nullptr);
  EXPECT_EQ(holder.load(), nullptr);
  holder.store(make(3));
  ASSERT_NE(holder.load(), nullptr);
  EXPECT_EQ(holder.load()->a, 3);
}

// Every method from any thread: one writer stores increasing snapshots while readers load. Each
// reader only ever sees whole snapshots and never goes back in time, and a load() after reading
// generation() returns a snapshot at least as new as that generation (so a worker that skips its
// reload while the generation is unchanged never misses a store).
TEST(RuntimeHolder, ReadersSeeWholeSnapshotsInOrderWhileAWriterStores) {
  RuntimeHolder<Runtime> holder(make(0));
  const uint64_t g0 = holder.generation();  // snapshot i is published as generation g0 + i
  constexpr int kStores = 20000;
  constexpr int kReaders = 3;
  std::atomic<bool> done{false};
  std::atomic<int> inconsistent{0};
  std::atomic<int> wentBack{0};
  std::atomic<int> olderThanGeneration{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      int last = 0;
      uint64_t lastGen = 0;
      while (!done.load()) {
        const uint64_t gen = holder.generation();
        const std::shared_ptr<const Runtime> rt = holder.load();
        if (!rt->consistent()) {
          ++inconsistent;
        }
        if (rt->a < last || gen < lastGen) {
          ++wentBack;
        }
        if (static_cast<uint64_t>(rt->a) < gen - g0) {
          ++olderThanGeneration;
        }
        last = rt->a;
        lastGen = gen;
      }
    });
  }
  for (int i = 1; i <= kStores; ++i) {
    holder.store(make(i));
  }
  done = true;
  for (auto& t : readers) {
    t.join();
  }
  EXPECT_EQ(inconsistent.load(), 0);
  EXPECT_EQ(wentBack.load(), 0);
  EXPECT_EQ(olderThanGeneration.load(), 0);
  EXPECT_EQ(holder.generation(), g0 + kStores);
  EXPECT_EQ(holder.load()->a, kStores);
}

}  // namespace
}  // namespace teredo::agent

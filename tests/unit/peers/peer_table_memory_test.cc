// Memory and representation tests for lib/peers/peer_table.h: bytes per peer (RSS delta at 1M
// peers; peers made trusted through their queues cost the same), memory given back to the OS
// after expiry (every peer, and most peers), compaction on removal (entries keep their state,
// lookups, queues and list order), dense queue descriptors, and the 32-bit tick clock (epochs
// near TimePoint{}, sentinels, rebasing over months).
// The 10M-peer check is DISABLED_ (a gigabyte and a minute): run it with
// --gtest_also_run_disabled_tests --gtest_filter='*TenMillion*'.
#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <functional>
#include <iostream>
#include <random>
#include <vector>

#include "peer_test_util.h"
#include "peers/peer_table.h"

namespace teredo::peers {
namespace {

using peertest::peerAddr;
PeerTableConfig tableConfig(size_t maxPeers, size_t shards) {
  return peertest::tableConfig(maxPeers, shards, 77);
}

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

const TimePoint kT0 = TimePoint{} + hours(1);

using peertest::kSanitizer;
using peertest::rssBytes;

Endpoint mappingOf(uint64_t i) {
  return Endpoint{0xc6336400u + static_cast<uint32_t>(i), static_cast<uint16_t>(1024 + i % 50000)};
}

std::vector<uint8_t> packetFor(uint64_t i, size_t n) {
  std::vector<uint8_t> p(1 + (i * 37 + n * 11) % 300);
  for (size_t k = 0; k < p.size(); ++k) {
    p[k] = static_cast<uint8_t>(i * 13 + n * 7 + k);
  }
  return p;
}

/// RSS once malloc has given its free pages back: a baseline that later allocations cannot hide
/// in (they must fault in new pages, which the delta then counts).
size_t trimmedRss() {
  malloc_trim(0);
  return rssBytes();
}

/// Runs every code path once (create, queue, expire, trim) in a throwaway table, so that the
/// baseline of a memory-return check already holds the code pages it faults in (RssFile grows by
/// ~170 KiB the first time; that is not memory the peers kept).
void warmUp() {
  PeerTable w(tableConfig(1u << 17, kDefaultShards));
  for (uint64_t i = 0; i < (1u << 16); ++i) {
    auto ref = w.findOrCreate(peerAddr(i), kT0);
    ref.markReceived(mappingOf(i), kT0);
    (void)ref.enqueue(packetFor(i, 0));
  }
  w.expire(kT0 + seconds(31));
  w.expire(kT0 + seconds(62));
}

void createTrusted(PeerTable& t, uint64_t first, size_t n, TimePoint now) {
  for (uint64_t i = first; i < first + n; ++i) {
    auto ref = t.findOrCreate(peerAddr(i), now);
    ASSERT_TRUE(ref.found());
    ref.markReceived(mappingOf(i), now);
  }
}

double mib(size_t bytes) {
  return static_cast<double>(bytes) / (1 << 20);
}

// ----- bytes per peer ----------------------------------------------------------------------------

// The published bytes-per-peer number: RSS delta (entry slabs are mmap'd, JudyL nodes malloc'd,
// both only count once touched) over 1,000,000 trusted peers with nothing queued.
TEST(PeerTableMemory, BytesPerTrustedPeerAtOneMillion) {
  if (kSanitizer) {
    GTEST_SKIP() << "sanitizer allocators change RSS";
  }
  constexpr size_t kPeers = 1'000'000;
  PeerTable t(tableConfig(2 * kPeers, kDefaultShards));  // no eviction; built before the baseline
  const size_t before = trimmedRss();
  createTrusted(t, 0, kPeers, kT0);
  ASSERT_EQ(t.size(), kPeers);
  const size_t grown = rssBytes() - before;
  const double perPeer = static_cast<double>(grown) / kPeers;
  std::cout << "bytes per trusted peer (RSS delta at 1M): " << perPeer
            << ", JudyL: " << static_cast<double>(t.indexBytes()) / kPeers
            << ", slabs: " << static_cast<double>(t.slabBytes()) / kPeers << "\n";
  RecordProperty("bytes_per_peer", static_cast<int>(perPeer + 0.5));
  // The measurement sees the slabs (mapped lazily, touched by the entries): it is not vacuous.
  EXPECT_GE(grown + (2u << 20), t.slabBytes());
  EXPECT_LE(perPeer, 100.0);
  EXPECT_LE(perPeer, static_cast<double>(bytesPerPeerEstimate()));
}

// ----- memory returned ---------------------------------------------------------------------------

// Miredo keeps its peak forever; this table gives slabs back at once and JudyL's freed nodes
// through malloc_trim after the sweep. The test does not trim: expire() must have.
TEST(PeerTableMemory, MemoryGoesBackAfterEveryPeerExpired) {
  if (kSanitizer) {
    GTEST_SKIP() << "sanitizer allocators change RSS";
  }
  constexpr size_t kPeers = 1'000'000;
  PeerTable t(tableConfig(2 * kPeers, kDefaultShards));
  warmUp();
  const size_t before = trimmedRss();
  for (uint64_t i = 0; i < kPeers; ++i) {
    auto ref = t.findOrCreate(peerAddr(i), kT0);
    if (i % 4 != 0) {
      ref.markReceived(mappingOf(i), kT0);
    }
    if (i % 64 == 0) {  // some queues too: descriptors and chunks must go back as well
      ASSERT_EQ(ref.enqueue(packetFor(i, 0)), EnqueueResult::Ok);
    }
  }
  const size_t peak = rssBytes();
  const ExpireStats first = t.expire(kT0 + seconds(31));  // untrusted gone, trusted demoted
  EXPECT_EQ(first.expired, kPeers / 4);
  EXPECT_EQ(first.demoted, kPeers - kPeers / 4);
  const ExpireStats second = t.expire(kT0 + seconds(62));
  EXPECT_EQ(second.expired, kPeers - kPeers / 4);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.slabBytes(), 0u);
  EXPECT_EQ(t.queueArenaBytesInUse(), 0u);
  EXPECT_GE(t.counters().memoryTrims.load(), 1u);
  const size_t after = rssBytes();
  std::cout << "RSS before " << mib(before) << " MiB, with 1M peers " << mib(peak)
            << " MiB, after expiry " << mib(after) << " MiB\n";
  EXPECT_GT(peak, before + 50 * (1u << 20));  // the peers did cost memory
  EXPECT_LE(after, before + before / 10);
}

// Peers created over a few seconds expire over a few sweeps. The first sweeps free enough to
// trim at once; the last ones free less than the trim threshold, within the rate limit of the
// first trim. What they freed must still go back: the first sweep that frees nothing after them
// trims (rate-limited), instead of leaving the wave's tail resident until the next wave.
TEST(PeerTableMemory, TheTailOfAnExpiryWaveIsTrimmedWhenTheWaveEnds) {
  constexpr size_t kBulk = 200'000;  // about 4.8 MB of JudyL by the table's count: trims at once
  constexpr size_t kTail = 2'000;    // about 48 KB: under the threshold
  PeerTable t(tableConfig(2 * kBulk, kDefaultShards));
  for (uint64_t i = 0; i < kBulk; ++i) {
    t.findOrCreate(peerAddr(i), kT0);  // untrusted: removed 30 s after this
  }
  for (uint64_t i = kBulk; i < kBulk + kTail; ++i) {
    t.findOrCreate(peerAddr(i), kT0 + seconds(1));
  }
  struct Sweep {
    seconds at;
    size_t expired;
    uint64_t trims;  // after the sweep
  };
  const Sweep sweeps[] = {
      {seconds(31), kBulk, 1},  // the bulk: past the threshold
      {seconds(32), kTail, 1},  // the tail: under the threshold, 1 s after the trim
      {seconds(33), 0, 1},      // removals ended, but within 10 s of the trim
      {seconds(40), 0, 1},      // still within 10 s
      {seconds(41), 0, 2},      // 10 s after: the tail is trimmed
      {seconds(60), 0, 2},      // nothing freed since: no more trims
  };
  for (const Sweep& w : sweeps) {
    const ExpireStats st = t.expire(kT0 + w.at);
    EXPECT_EQ(st.expired, w.expired) << w.at.count();
    EXPECT_EQ(t.counters().memoryTrims.load(), w.trims) << w.at.count();
  }
  EXPECT_EQ(t.size(), 0u);
}

// The partial case: 1M -> 10k live peers. Compaction on removal moves the survivors into the
// lowest slots, so the slabs above them go back, not only when a shard empties.
TEST(PeerTableMemory, MostMemoryGoesBackWhenMostPeersExpired) {
  if (kSanitizer) {
    GTEST_SKIP() << "sanitizer allocators change RSS";
  }
  constexpr size_t kPeers = 1'000'000;
  constexpr size_t kKeep = 100;  // one in kKeep survives
  PeerTable t(tableConfig(2 * kPeers, kDefaultShards));
  warmUp();
  const size_t before = trimmedRss();
  for (uint64_t i = 0; i < kPeers; ++i) {
    t.findOrCreate(peerAddr(i), kT0).setMapped(mappingOf(i));  // untrusted, idle from kT0
  }
  const size_t peak = rssBytes();
  for (uint64_t i = 0; i < kPeers; i += kKeep) {
    t.lock(peerAddr(i), kT0 + seconds(20)).markReceived(mappingOf(i), kT0 + seconds(20));
  }
  const ExpireStats st = t.expire(kT0 + seconds(31));
  EXPECT_EQ(st.expired, kPeers - kPeers / kKeep);
  ASSERT_EQ(t.size(), kPeers / kKeep);
  const size_t after = rssBytes();
  const double released = static_cast<double>(peak - after) / static_cast<double>(peak - before);
  std::cout << "RSS before " << mib(before) << " MiB, with 1M peers " << mib(peak) << " MiB, with "
            << kPeers / kKeep << " left " << mib(after) << " MiB (" << released * 100
            << " % of the growth released); slabs " << mib(t.slabBytes()) << " MiB\n";
  // Slabs: at most one partly used slab per shard beyond the live entries.
  EXPECT_LE(t.slabBytes(), (kPeers / kKeep) * 56 + kDefaultShards * 57344);
  EXPECT_GE(released, 0.85);
  EXPECT_TRUE(t.selfCheck());
  for (uint64_t i = 0; i < kPeers; i += kKeep) {
    auto ref = t.lock(peerAddr(i), kT0 + seconds(31));
    ASSERT_TRUE(ref.found()) << i;
    ASSERT_TRUE(ref.trusted());
    ASSERT_EQ(ref.entry().mapped, mappingOf(i));
    ASSERT_EQ(ref.entry().lastRx, kT0 + seconds(20));
  }
}

// Issue 13 target: 10M trusted peers in less than 1 GiB, and most of it back after 99% expire.
// Disabled by default (about 1 GiB and a minute); run it by hand, see the file comment.
TEST(PeerTableMemory, DISABLED_TenMillionPeersFitInOneGiB) {
  if (kSanitizer) {
    GTEST_SKIP() << "sanitizer allocators change RSS";
  }
  constexpr size_t kPeers = 10'000'000;
  constexpr size_t kKeep = 100;
  PeerTable t(tableConfig(16'000'000, kDefaultShards));
  warmUp();
  const size_t before = trimmedRss();
  createTrusted(t, 0, kPeers, kT0);
  ASSERT_EQ(t.size(), kPeers);
  const size_t peak = rssBytes();
  std::cout << "10M trusted peers: " << mib(peak - before) << " MiB, "
            << static_cast<double>(peak - before) / kPeers << " bytes per peer (JudyL "
            << static_cast<double>(t.indexBytes()) / kPeers << ")\n";
  EXPECT_LT(peak - before, size_t{1} << 30);
  // Keep 1%: refreshed at +40 s and +60 s, the rest demoted at +41 s and removed at +72 s.
  for (uint64_t i = 0; i < kPeers; i += kKeep) {
    t.lock(peerAddr(i), kT0 + seconds(40)).markReceived(mappingOf(i), kT0 + seconds(40));
  }
  EXPECT_EQ(t.expire(kT0 + seconds(41)).demoted, kPeers - kPeers / kKeep);
  for (uint64_t i = 0; i < kPeers; i += kKeep) {
    t.lock(peerAddr(i), kT0 + seconds(60)).markReceived(mappingOf(i), kT0 + seconds(60));
  }
  EXPECT_EQ(t.expire(kT0 + seconds(72)).expired, kPeers - kPeers / kKeep);
  ASSERT_EQ(t.size(), kPeers / kKeep);
  const size_t partial = rssBytes();
  const double released = static_cast<double>(peak - partial) / static_cast<double>(peak - before);
  std::cout << "100k left: " << mib(partial - before) << " MiB above the baseline ("
            << released * 100 << " % of the growth released)\n";
  EXPECT_GE(released, 0.85);
  EXPECT_EQ(t.expire(kT0 + seconds(200)).demoted, kPeers / kKeep);
  EXPECT_EQ(t.expire(kT0 + seconds(300)).expired, kPeers / kKeep);
  EXPECT_EQ(t.size(), 0u);
  const size_t after = rssBytes();
  std::cout << "RSS before " << mib(before) << " MiB, after all expired " << mib(after) << " MiB\n";
  EXPECT_LE(after, before + before / 10);
}

// ----- compaction
// ---------------------------------------------------------------------------------

struct CompactionCase {
  const char* name;
  size_t peers;
  size_t shards;
  std::function<bool(uint64_t)> erased;
};

// Per peer i (created at kT0 + i ms): trusted when i % 3 == 0 (last_rx = creation), a queue of
// 1-3 packets when i % 7 == 0, distinct mapping, last_tx and bubbles.
struct Expected {
  bool trusted;
  Endpoint mapped;
  TimePoint lastRx;
  TimePoint lastTx;
  TimePoint lastBubble;
  uint8_t bubbles;
  std::vector<std::vector<uint8_t>> queue;
};

TimePoint createdAt(uint64_t i) {
  return kT0 + milliseconds(i);
}

Expected expectedFor(uint64_t i) {
  Expected e;
  e.trusted = i % 3 == 0;
  e.mapped = mappingOf(i);
  e.lastRx = e.trusted ? createdAt(i) : TimePoint{};
  e.lastTx = createdAt(i) + milliseconds(5);
  e.bubbles = static_cast<uint8_t>(i % 4);
  e.lastBubble = e.bubbles == 0 ? TimePoint{} : createdAt(i) - seconds(2);
  if (i % 7 == 0) {
    for (size_t n = 0; n < 1 + i % 3; ++n) {
      e.queue.push_back(packetFor(i, n));
    }
  }
  return e;
}

void PrintTo(const CompactionCase& c, std::ostream* os) {
  *os << c.name;
}

class Compaction : public ::testing::TestWithParam<CompactionCase> {};

TEST_P(Compaction, SurvivorsKeepStateQueuesAndListOrder) {
  const CompactionCase& c = GetParam();
  PeerTableConfig cfg = tableConfig(2 * c.peers, c.shards);
  cfg.peerQueueBytes = 4096;
  PeerTable t(cfg);
  std::vector<Expected> want(c.peers);
  for (uint64_t i = 0; i < c.peers; ++i) {
    want[i] = expectedFor(i);
    auto ref = t.findOrCreate(peerAddr(i), createdAt(i));
    ASSERT_TRUE(ref.found());
    if (want[i].trusted) {
      ref.markReceived(want[i].mapped, createdAt(i));
    } else {
      ref.setMapped(want[i].mapped);
    }
    ref.setLastTx(want[i].lastTx);
    ref.setBubbles(want[i].bubbles, want[i].lastBubble);
    for (const auto& p : want[i].queue) {
      ASSERT_EQ(ref.enqueue(p), EnqueueResult::Ok);
    }
  }
  const size_t fullSlabs = t.slabBytes();
  // Erase in a shuffled order, so holes are filled from every position.
  std::vector<uint64_t> order(c.peers);
  for (uint64_t i = 0; i < c.peers; ++i) {
    order[i] = i;
  }
  std::shuffle(order.begin(), order.end(), std::mt19937_64(c.peers));
  size_t survivors = c.peers;
  for (uint64_t i : order) {
    if (c.erased(i)) {
      ASSERT_TRUE(t.erase(peerAddr(i)));
      --survivors;
    }
  }
  ASSERT_EQ(t.size(), survivors);
  ASSERT_TRUE(t.selfCheck());
  // Drain a few survivors' queues: their descriptors go, others move into the holes.
  for (uint64_t i = 0; i < c.peers; i += 21) {
    if (!c.erased(i)) {
      auto ref = t.lock(peerAddr(i), TimePoint{});
      std::vector<uint8_t> scratch(4096);
      for (const auto& p : want[i].queue) {
        const size_t len = ref.popPacket(scratch);
        ASSERT_EQ(std::vector<uint8_t>(scratch.begin(), scratch.begin() + static_cast<long>(len)),
                  p);
      }
      want[i].queue.clear();
      ASSERT_EQ(ref.queuedPackets(), 0u);
    }
  }
  ASSERT_TRUE(t.selfCheck());

  // Every survivor reads back exactly (lock at TimePoint{}: read-only, never demotes).
  size_t queuedBytes = 0;
  for (uint64_t i = 0; i < c.peers; ++i) {
    auto ref = t.lock(peerAddr(i), TimePoint{});
    ASSERT_EQ(ref.found(), !c.erased(i)) << i;
    if (!ref.found()) {
      continue;
    }
    const PeerEntry e = ref.entry();
    const Expected& w = want[i];
    ASSERT_EQ(e.addr, peerAddr(i));
    ASSERT_EQ(e.trusted(), w.trusted) << i;
    ASSERT_EQ(e.mapped, w.mapped) << i;
    ASSERT_EQ(e.lastRx, w.lastRx) << i;
    ASSERT_EQ(e.lastTx, w.lastTx) << i;
    ASSERT_EQ(e.lastBubble, w.lastBubble) << i;
    ASSERT_EQ(e.bubbles, w.bubbles) << i;
    ASSERT_EQ(e.listTime, createdAt(i)) << i;
    ASSERT_EQ(e.queuedPackets, w.queue.size()) << i;
    for (const auto& p : w.queue) {
      queuedBytes += p.size();
    }
  }
  EXPECT_EQ(t.queuedBytes(), queuedBytes);

  // List order: sweeps at rising instants must take exactly the survivors created before each
  // one, oldest first (a sweep stops at the first young head, so a misplaced link shows).
  constexpr size_t kStep = 97;
  for (size_t k = kStep; k < c.peers + kStep; k += kStep) {
    size_t demote = 0;
    size_t expire = 0;
    for (uint64_t i = k - kStep; i < std::min(k, c.peers); ++i) {
      if (!c.erased(i)) {
        ++(want[i].trusted ? demote : expire);
      }
    }
    const ExpireStats st = t.expire(createdAt(k) + seconds(30));
    ASSERT_EQ(st.demoted, demote) << "k " << k;
    ASSERT_EQ(st.expired, expire) << "k " << k;
  }
  ASSERT_TRUE(t.selfCheck());

  // Queues intact: pop everything, in order.
  std::vector<uint8_t> scratch(4096);
  for (uint64_t i = 0; i < c.peers; ++i) {
    if (c.erased(i) || want[i].trusted) {
      continue;  // erased, or demoted and still there: checked below
    }
    ASSERT_FALSE(t.lock(peerAddr(i), TimePoint{}).found()) << "expired " << i;
  }
  for (uint64_t i = 0; i < c.peers; ++i) {
    if (c.erased(i) || !want[i].trusted) {
      continue;
    }
    auto ref = t.lock(peerAddr(i), TimePoint{});
    ASSERT_TRUE(ref.found()) << i;
    ASSERT_FALSE(ref.trusted());
    std::vector<std::vector<uint8_t>> got;
    ref.drainQueue(scratch,
                   [&](std::span<const uint8_t> p) { got.emplace_back(p.begin(), p.end()); });
    ASSERT_EQ(got, want[i].queue) << i;
  }
  EXPECT_EQ(t.queuedBytes(), 0u);
  EXPECT_EQ(t.queueArenaBytesInUse(), 0u);

  // Memory follows the live count: a sweep leaves only the slabs the survivors need.
  t.expire(createdAt(c.peers) + seconds(30));
  if (c.shards == 1) {
    constexpr size_t kSlab = 1024 * 56;
    EXPECT_EQ(t.slabBytes(), (t.size() + 1023) / 1024 * kSlab);
  }
  EXPECT_LE(t.slabBytes(), fullSlabs);
  t.expire(createdAt(c.peers) + seconds(120));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.slabBytes(), 0u);
}

uint64_t mix(uint64_t i) {
  i ^= i >> 31;
  i *= 0x9e3779b97f4a7c15ull;
  return i ^ (i >> 29);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Compaction,
    ::testing::Values(CompactionCase{"none", 1500, 1, [](uint64_t) { return false; }},
                      CompactionCase{"every_other", 3000, 1, [](uint64_t i) { return i % 2 == 0; }},
                      // One shard: creation order is slot order, so the newest half leaves no hole
                      // to fill and the oldest half makes every removal move an entry from the top.
                      CompactionCase{"newest_half", 3000, 1, [](uint64_t i) { return i >= 1500; }},
                      CompactionCase{"oldest_half", 3000, 1, [](uint64_t i) { return i < 1500; }},
                      CompactionCase{"all_but_one", 2500, 1, [](uint64_t i) { return i != 1234; }},
                      CompactionCase{"all", 2048, 1, [](uint64_t) { return true; }},
                      CompactionCase{"queued_only", 3000, 1, [](uint64_t i) { return i % 7 == 0; }},
                      CompactionCase{"random_90pct_4_shards", 6000, 4,
                                     [](uint64_t i) { return mix(i) % 10 != 0; }},
                      CompactionCase{"random_half_16_shards", 6000, 16,
                                     [](uint64_t i) { return mix(i) % 2 == 0; }}),
    [](const ::testing::TestParamInfo<CompactionCase>& p) { return p.param.name; });

// Eviction (table full) puts the new entry in the victim's slot; the eviction order is
// still oldest untrusted first.
TEST(PeerTableMemory, EvictionReusesTheVictimSlotAndKeepsOrder) {
  constexpr size_t kCap = 2500;
  PeerTable t(tableConfig(kCap, 1));
  for (uint64_t i = 0; i < kCap; ++i) {
    auto ref = t.findOrCreate(peerAddr(i), createdAt(i));
    if (i % 2 == 0) {
      ref.markReceived(mappingOf(i), createdAt(i));
    }
  }
  // Full: each new (untrusted) peer evicts the oldest untrusted one: the originals 1, 3, 5, ...,
  // then the new peers themselves, oldest first. The trusted originals all stay.
  constexpr uint64_t kNew = 1'000'000;
  for (uint64_t n = 0; n < kCap / 2 + 100; ++n) {
    CreateResult r;
    t.findOrCreate(peerAddr(kNew + n), createdAt(kCap + n), &r);
    ASSERT_EQ(r, CreateResult::CreatedEvictedUntrusted) << n;
    const bool original = n < kCap / 2;
    const uint64_t victim = original ? 2 * n + 1 : kNew + (n - kCap / 2);
    const uint64_t nextVictim = n + 1 < kCap / 2 ? victim + 2 : kNew + (n + 1 - kCap / 2);
    ASSERT_FALSE(t.lock(peerAddr(victim), TimePoint{}).found()) << n;
    ASSERT_TRUE(t.lock(peerAddr(nextVictim), TimePoint{}).found()) << n;
  }
  EXPECT_EQ(t.size(), kCap);
  EXPECT_TRUE(t.selfCheck());
  for (uint64_t i = 0; i < kCap; i += 2) {
    auto ref = t.lock(peerAddr(i), TimePoint{});
    ASSERT_TRUE(ref.found()) << i;
    ASSERT_EQ(ref.entry().mapped, mappingOf(i));
    ASSERT_EQ(ref.entry().lastRx, createdAt(i));
  }
}

// ----- queue descriptors -------------------------------------------------------------------------

TEST(PeerTableMemory, QueueDescriptorsExistOnlyWhileSomethingIsQueued) {
  constexpr size_t kPeers = 3000;
  PeerTable t(tableConfig(kPeers, 1));
  for (uint64_t i = 0; i < kPeers; ++i) {
    t.findOrCreate(peerAddr(i), kT0);
  }
  t.expire(kT0);
  const size_t entriesOnly = t.slabBytes();
  for (uint64_t i = 0; i < kPeers; ++i) {
    auto ref = t.lock(peerAddr(i), kT0);
    ASSERT_EQ(ref.enqueue(packetFor(i, 0)), EnqueueResult::Ok);
    ASSERT_EQ(ref.enqueue(packetFor(i, 1)), EnqueueResult::Ok);
  }
  EXPECT_GT(t.slabBytes(), entriesOnly);  // descriptors
  // Drain in a shuffled order: the remaining descriptors move, their queues must not mix.
  std::vector<uint64_t> order(kPeers);
  for (uint64_t i = 0; i < kPeers; ++i) {
    order[i] = i;
  }
  std::shuffle(order.begin(), order.end(), std::mt19937_64(5));
  std::vector<uint8_t> scratch(2048);
  for (size_t n = 0; n < kPeers; ++n) {
    auto ref = t.lock(peerAddr(order[n]), kT0);
    std::vector<std::vector<uint8_t>> got;
    ref.drainQueue(scratch,
                   [&](std::span<const uint8_t> p) { got.emplace_back(p.begin(), p.end()); });
    ASSERT_EQ(got,
              (std::vector<std::vector<uint8_t>>{packetFor(order[n], 0), packetFor(order[n], 1)}));
  }
  EXPECT_TRUE(t.selfCheck());
  EXPECT_EQ(t.queuedBytes(), 0u);
  t.expire(kT0);
  EXPECT_EQ(t.slabBytes(), entriesOnly);
  EXPECT_EQ(t.queueArenaBytesInUse(), 0u);
}

// How the relay makes a peer trusted (RFC 4380 §5.4.1 case 3, then §5.2.4): a native packet
// creates an untrusted entry and is queued; the client's bubble makes it trusted and the queue is
// flushed. Queue descriptors and chunks come and go while the peers' JudyL nodes are malloc'd in
// between; once the queues are empty those peers must cost what peers created trusted cost, with
// no malloc_trim: the slabs are mapped (peers/slab_memory.h), so their pages leave at once.
// Malloc'd slabs would stay resident in the holes between the nodes until a trim.
TEST(PeerTableMemory, PeersTrustedThroughTheirQueuesCostWhatTrustedPeersCost) {
  if (kSanitizer) {
    GTEST_SKIP() << "sanitizer allocators change RSS";
  }
  constexpr size_t kPeers = 200'000;
  const std::vector<uint8_t> hello(53, 0x5a);  // an IPv6/UDP datagram of 5 bytes: one chunk
  warmUp();
  size_t direct = 0;
  {
    PeerTable t(tableConfig(2 * kPeers, kDefaultShards));
    const size_t before = trimmedRss();
    createTrusted(t, 0, kPeers, kT0);
    direct = rssBytes() - before;
  }
  PeerTable t(tableConfig(2 * kPeers, kDefaultShards));
  const size_t before = trimmedRss();
  for (uint64_t i = 0; i < kPeers; ++i) {
    auto ref = t.findOrCreate(peerAddr(i), kT0);
    ASSERT_TRUE(ref.found());
    ASSERT_EQ(ref.enqueue(hello), EnqueueResult::Ok);
  }
  const size_t queued = rssBytes() - before;
  std::vector<uint8_t> scratch(1280);
  for (uint64_t i = 0; i < kPeers; ++i) {
    auto ref = t.lock(peerAddr(i), kT0 + seconds(1));
    ref.markReceived(mappingOf(i), kT0 + seconds(1));
    ASSERT_EQ(ref.drainQueue(scratch, [](std::span<const uint8_t>) {}), 1u);
  }
  const size_t drained = rssBytes() - before;
  const ExpireStats st = t.expire(kT0 + seconds(2));  // nothing lapses; the idle pool goes back
  EXPECT_EQ(st.expired + st.demoted, 0u);
  EXPECT_EQ(t.queueArenaBytesInUse(), 0u);
  EXPECT_EQ(t.counters().memoryTrims.load(), 0u);  // nothing was left for a trim to find
  const size_t swept = rssBytes() - before;
  std::cout << "RSS growth over " << kPeers << " peers: created trusted " << mib(direct)
            << " MiB; through their queues " << mib(queued) << " MiB queued, " << mib(drained)
            << " MiB drained, " << mib(swept) << " MiB after the sweep\n";
  // The queues did cost memory (a 64-byte chunk and a 20-byte descriptor per peer), and it left.
  EXPECT_GT(queued, direct + kPeers * 64);
  EXPECT_LE(drained, direct + kPeers * 64 + (1u << 20));  // descriptors left as they emptied
  EXPECT_LE(swept, direct + (1u << 20));
}

// ----- the tick clock ----------------------------------------------------------------------------

struct ClockCase {
  const char* name;
  TimePoint base;
};

void PrintTo(const ClockCase& c, std::ostream* os) {
  *os << c.name;
}

class TickClock : public ::testing::TestWithParam<ClockCase> {};

// Whatever the injected clock's origin, times read back exactly (whole milliseconds), the
// TimePoint{} sentinels survive, and the 30 s boundaries fall where TimePoint arithmetic puts them.
TEST_P(TickClock, TimesRoundTripAndBoundariesAreExact) {
  const TimePoint base = GetParam().base;
  PeerTableConfig cfg = tableConfig(16, 1);
  PeerTable t(cfg);
  const Endpoint m{0xcb007101, 4000};
  {
    auto ref = t.findOrCreate(peerAddr(1), base);
    const PeerEntry e = ref.entry();
    EXPECT_EQ(e.lastRx, TimePoint{});  // RFC 4380 §5.2.3: nothing received yet
    EXPECT_EQ(e.lastTx, TimePoint{});
    EXPECT_EQ(e.lastBubble, TimePoint{});  // no bubble ever sent
    EXPECT_EQ(e.listTime, base);
    ref.setLastTx(base + milliseconds(1));
    ref.setBubbles(2, base - seconds(2));  // slightly before the first creation
    ref.markReceived(m, base + seconds(1));
    const PeerEntry f = ref.entry();
    EXPECT_EQ(f.lastRx, base + seconds(1));
    EXPECT_EQ(f.lastTx, base + milliseconds(1));
    EXPECT_EQ(f.lastBubble, base - seconds(2));
    EXPECT_EQ(f.bubbles, 0);  // markReceived resets the count, not the time
    ref.setBubbles(0, TimePoint{});
    EXPECT_EQ(ref.entry().lastBubble, TimePoint{});
  }
  EXPECT_TRUE(t.lock(peerAddr(1), base + seconds(31)).trusted());  // now - last_rx == 30 s
  {
    auto ref = t.lock(peerAddr(1), base + seconds(31) + milliseconds(1));
    EXPECT_FALSE(ref.trusted());
    EXPECT_EQ(ref.entry().lastRx, base + seconds(1));
    EXPECT_EQ(ref.entry().listTime, base + seconds(31) + milliseconds(1));
  }
  EXPECT_EQ(t.expire(base + seconds(61) + milliseconds(1)).expired, 0u);
  EXPECT_EQ(t.expire(base + seconds(61) + milliseconds(2)).expired, 1u);
  // An empty shard takes a new epoch from its next peer: a much later origin works the same.
  const TimePoint later = base + hours(24 * 400);
  t.findOrCreate(peerAddr(2), later).setBubbles(1, later + milliseconds(3));
  EXPECT_EQ(t.lock(peerAddr(2), later).entry().lastBubble, later + milliseconds(3));
  EXPECT_EQ(t.expire(later + seconds(30)).expired, 0u);
  EXPECT_EQ(t.expire(later + seconds(30) + milliseconds(1)).expired, 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Origins, TickClock,
    ::testing::Values(
        ClockCase{"zero", TimePoint{}}, ClockCase{"one_ms", TimePoint{} + milliseconds(1)},
        ClockCase{"one_hour", kT0}, ClockCase{"forty_nine_days", TimePoint{} + hours(24 * 49)},
        ClockCase{"three_hundred_days", TimePoint{} + hours(24 * 300)},
        ClockCase{"steady_now", Clock::now()}, ClockCase{"before_zero", TimePoint{} - hours(5)}),
    [](const ::testing::TestParamInfo<ClockCase>& p) { return p.param.name; });

// A trusted peer that keeps answering for 60 days (more than a 32-bit millisecond count holds):
// the shard is rebased twice; exact times stay exact, old ones become "a day ago or more" but
// never the "never" sentinel, and expiry boundaries stay exact afterwards.
TEST(PeerTableMemory, LongRunningPeerAcrossRebases) {
  PeerTable t(tableConfig(16, 1));
  const Endpoint m{0xcb007101, 4000};
  {
    auto ref = t.findOrCreate(peerAddr(1), kT0);
    ref.setBubbles(1, kT0);
    ref.setLastTx(kT0);
  }
  TimePoint now = kT0;
  const TimePoint end = kT0 + hours(24 * 60);
  for (; now < end; now += seconds(10)) {
    {
      auto ref = t.lock(peerAddr(1), now);
      ASSERT_TRUE(ref.found());
      ASSERT_TRUE(now == kT0 || ref.trusted()) << (now - kT0) / seconds(1);
      ref.markReceived(m, now);
    }
    if ((now - kT0) % hours(1) == Clock::duration::zero()) {
      ASSERT_EQ(t.expire(now).demoted, 0u);
    }
  }
  const TimePoint last = now - seconds(10);
  {
    auto ref = t.lock(peerAddr(1), now);
    const PeerEntry e = ref.entry();
    EXPECT_TRUE(e.trusted());
    EXPECT_EQ(e.lastRx, last);
    EXPECT_NE(e.lastBubble, TimePoint{});  // sent once, long ago: not "never"
    EXPECT_LE(e.lastBubble, now - hours(24));
    EXPECT_NE(e.lastTx, TimePoint{});
    EXPECT_LE(e.lastTx, now - hours(24));
    EXPECT_EQ(e.bubbles, 0);
  }
  t.findOrCreate(peerAddr(2), now);
  EXPECT_EQ(t.lock(peerAddr(2), now).entry().listTime, now);
  // Peer 1 (last_rx = now - 10 s) loses trust exactly 30 s after its last reception, peer 2
  // (created at now) expires exactly 30 s after its creation.
  ExpireStats st = t.expire(now + seconds(20));
  EXPECT_EQ(st.demoted, 0u);
  st = t.expire(now + seconds(20) + milliseconds(1));
  EXPECT_EQ(st.demoted, 1u);
  EXPECT_EQ(st.expired, 0u);
  EXPECT_EQ(t.expire(now + seconds(30)).expired, 0u);
  EXPECT_EQ(t.expire(now + seconds(30) + milliseconds(1)).expired, 1u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.selfCheck());
}

// A `now` that jumps far ahead at once (a suspended host): everything stored becomes "long ago".
TEST(PeerTableMemory, ClockJumpOfMonthsDemotesAndExpiresNormally) {
  PeerTable t(tableConfig(16, 1));
  t.findOrCreate(peerAddr(1), kT0).markReceived(Endpoint{1, 2}, kT0);
  const TimePoint later = kT0 + hours(24 * 100);
  {
    auto ref = t.lock(peerAddr(1), later);
    ASSERT_TRUE(ref.found());
    EXPECT_FALSE(ref.trusted());
    EXPECT_NE(ref.entry().lastRx, TimePoint{});
    // The oldest representable time: the rebased epoch (a day before) plus one tick.
    EXPECT_LE(ref.entry().lastRx, later - hours(24) + milliseconds(1));
    EXPECT_EQ(ref.entry().listTime, later);  // demoted now
  }
  EXPECT_EQ(t.expire(later + seconds(30)).expired, 0u);
  EXPECT_EQ(t.expire(later + seconds(31)).expired, 1u);
}

}  // namespace
}  // namespace teredo::peers

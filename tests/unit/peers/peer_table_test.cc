// Unit tests for lib/peers/peer_table.h: caps, eviction order, expiry with an injected clock, FIFO
// queues, per-peer and global queue caps, two threads, and a 200k-peer stress. Memory, compaction
// and the tick clock are in peer_table_memory_test.cc.
#include "peers/peer_table.h"
#include "peer_test_util.h"

#include <gtest/gtest.h>

#include <iostream>
#include <random>
#include <thread>
#include <vector>

namespace teredo::peers {
namespace {

using peertest::peerAddr;
PeerTableConfig smallConfig(size_t maxPeers, size_t shards) {
  return peertest::tableConfig(maxPeers, shards, 42);
}

using std::chrono::seconds;

const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);

std::vector<uint8_t> packetBytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> p(n);
  for (size_t i = 0; i < n; ++i) {
    p[i] = static_cast<uint8_t>(seed * 31 + i * 7);
  }
  return p;
}

TEST(PeerTable, HardCapIsNeverExceeded) {
  PeerTable t(smallConfig(64, 4));
  EXPECT_EQ(t.capacity(), 64u);
  for (uint64_t i = 0; i < 1000; ++i) {
    CreateResult r;
    auto ref = t.findOrCreate(peerAddr(i), kT0 + seconds(i), &r);
    ASSERT_TRUE(ref.found());
    ASSERT_NE(r, CreateResult::Exists);
  }
  EXPECT_EQ(t.size(), 64u);
  EXPECT_EQ(t.counters().created.load(), 1000u);
  EXPECT_EQ(t.counters().evictedCapacityUntrusted.load(), 1000u - 64u);
  EXPECT_EQ(t.counters().evictedCapacityTrusted.load(), 0u);
}

TEST(PeerTable, CapIsConfigurableBeyondMiredo) {
  PeerTableConfig c = smallConfig(30'000'000, 64);
  PeerTable t(c);  // no eager allocation proportional to the cap
  EXPECT_EQ(t.capacity(), 30'000'000u);
  EXPECT_EQ(t.shardCount(), 64u);
  EXPECT_EQ(t.size(), 0u);
}

// R13: untrusted entries go first, oldest first; trusted only when no untrusted is left.
TEST(PeerTable, EvictionUntrustedFirstThenOldest) {
  PeerTable t(smallConfig(4, 1));
  for (uint64_t i = 0; i < 4; ++i) {
    auto ref = t.findOrCreate(peerAddr(i), kT0 + seconds(i));
    if (i % 2 == 1) {
      ref.markReceived(Endpoint{0xcb007100u + static_cast<uint32_t>(i), 4000}, kT0 + seconds(i));
    }
  }
  // 0 and 2 untrusted (0 older), 1 and 3 trusted.
  CreateResult r;
  t.findOrCreate(peerAddr(10), kT0 + seconds(5), &r);
  EXPECT_EQ(r, CreateResult::CreatedEvictedUntrusted);
  EXPECT_FALSE(t.lock(peerAddr(0), kT0 + seconds(5)).found());
  EXPECT_TRUE(t.lock(peerAddr(2), kT0 + seconds(5)).found());
  t.findOrCreate(peerAddr(11), kT0 + seconds(6), &r);
  EXPECT_EQ(r, CreateResult::CreatedEvictedUntrusted);
  EXPECT_FALSE(t.lock(peerAddr(2), kT0 + seconds(6)).found());
  // Untrusted now: 10, 11. Trusted: 1, 3. Make 10 and 11 trusted; refresh 1 so 3 is oldest.
  for (uint64_t i : {10u, 11u}) {
    t.lock(peerAddr(i), kT0 + seconds(7)).markReceived(Endpoint{0xcb007150, 1}, kT0 + seconds(7));
  }
  t.lock(peerAddr(1), kT0 + seconds(8)).markReceived(Endpoint{0xcb007101, 4000}, kT0 + seconds(8));
  t.findOrCreate(peerAddr(12), kT0 + seconds(9), &r);
  EXPECT_EQ(r, CreateResult::CreatedEvictedTrusted);
  EXPECT_FALSE(t.lock(peerAddr(3), kT0 + seconds(9)).found());
  EXPECT_TRUE(t.lock(peerAddr(1), kT0 + seconds(9)).found());
  // 12 is untrusted, so it goes before any trusted peer.
  t.findOrCreate(peerAddr(13), kT0 + seconds(10), &r);
  EXPECT_EQ(r, CreateResult::CreatedEvictedUntrusted);
  EXPECT_FALSE(t.lock(peerAddr(12), kT0 + seconds(10)).found());
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.counters().evictedCapacityTrusted.load(), 1u);
  EXPECT_EQ(t.counters().evictedCapacityUntrusted.load(), 3u);
}

TEST(PeerTable, TrustLastsThirtySecondsAfterLastReceive) {
  PeerTable t(smallConfig(16, 1));
  t.findOrCreate(peerAddr(1), kT0).markReceived(Endpoint{0xcb007101, 1234}, kT0);
  {
    auto ref = t.lock(peerAddr(1), kT0 + seconds(30));
    ASSERT_TRUE(ref.found());
    EXPECT_TRUE(ref.entry().trusted());  // RFC 4380 §5.2.4: valid while now - last_rx <= 30 s
    EXPECT_EQ(ref.entry().mapped, (Endpoint{0xcb007101, 1234}));
  }
  {
    auto ref = t.lock(peerAddr(1), kT0 + seconds(31));
    ASSERT_TRUE(ref.found());
    EXPECT_FALSE(ref.entry().trusted());
  }
}

TEST(PeerTable, ExpiryWithInjectedClock) {
  PeerTableConfig c = smallConfig(16, 2);
  c.trustTimeout = seconds(30);
  c.idleTimeout = seconds(30);
  PeerTable t(c);
  {
    auto a = t.findOrCreate(peerAddr(1), kT0);  // untrusted, idle from kT0
    ASSERT_EQ(a.enqueue(packetBytes(100, 1)), EnqueueResult::Ok);
  }
  t.findOrCreate(peerAddr(2), kT0).markReceived(Endpoint{0xcb007102, 1}, kT0);  // trusted
  ExpireStats s = t.expire(kT0 + seconds(30));
  EXPECT_EQ(s.expired, 0u);
  EXPECT_EQ(s.demoted, 0u);
  s = t.expire(kT0 + seconds(31));
  EXPECT_EQ(s.expired, 1u);  // peer 1: untrusted and idle > 30 s
  EXPECT_EQ(s.packetsDropped, 1u);
  EXPECT_EQ(s.demoted, 1u);  // peer 2: trust lapsed, kept as untrusted
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.queuedBytes(), 0u);
  EXPECT_EQ(t.queueArenaBytesInUse(), 0u);
  s = t.expire(kT0 + seconds(61));
  EXPECT_EQ(s.expired, 0u);  // demoted at +31: idle counts from there
  s = t.expire(kT0 + seconds(62));
  EXPECT_EQ(s.expired, 1u);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.counters().evictedExpired.load(), 2u);
}

TEST(PeerTable, TouchKeepsUntrustedEntryAlive) {
  PeerTable t(smallConfig(16, 1));
  t.findOrCreate(peerAddr(1), kT0);
  t.lock(peerAddr(1), kT0 + seconds(20)).touch(kT0 + seconds(20));
  EXPECT_EQ(t.expire(kT0 + seconds(45)).expired, 0u);
  EXPECT_EQ(t.expire(kT0 + seconds(51)).expired, 1u);
}

TEST(PeerTable, QueueIsFifo) {
  PeerTableConfig c = smallConfig(16, 1);
  c.peerQueueBytes = 1 << 20;
  PeerTable t(c);
  auto ref = t.findOrCreate(peerAddr(1), kT0);
  std::vector<std::vector<uint8_t>> sent;
  std::vector<std::vector<uint8_t>> got;
  std::vector<uint8_t> scratch(65536);
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    const int n = 1 + static_cast<int>(rng() % 10);
    for (int i = 0; i < n; ++i) {
      const size_t len = 1 + rng() % 700;  // crosses 252-byte chunk boundaries
      sent.push_back(packetBytes(len, static_cast<uint8_t>(sent.size())));
      ASSERT_EQ(ref.enqueue(sent.back()), EnqueueResult::Ok);
    }
    // Pop a few in the middle, drain the rest later.
    for (int i = 0; i < n / 2; ++i) {
      const size_t len = ref.popPacket(scratch);
      ASSERT_GT(len, 0u);
      got.emplace_back(scratch.begin(), scratch.begin() + static_cast<long>(len));
    }
  }
  ref.drainQueue(scratch,
                 [&](std::span<const uint8_t> p) { got.emplace_back(p.begin(), p.end()); });
  EXPECT_EQ(got, sent);
  EXPECT_EQ(ref.entry().queuedPackets, 0u);
  EXPECT_EQ(ref.entry().queuedBytes, 0u);
  EXPECT_EQ(t.queueArenaBytesInUse(), 0u);
}

TEST(PeerTable, PerPeerQueueCap) {
  PeerTable t(smallConfig(16, 1));  // 1280 bytes per peer (Miredo)
  auto ref = t.findOrCreate(peerAddr(1), kT0);
  const auto big = packetBytes(1280, 1);
  EXPECT_EQ(ref.enqueue(big), EnqueueResult::Ok);
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(ref.enqueue(big), EnqueueResult::QueueFull);
  }
  EXPECT_EQ(ref.entry().queuedBytes, 1280u);
  EXPECT_EQ(t.counters().queueDropPeerFull.load(), 9u);
  EXPECT_EQ(ref.dropQueue(), 1u);
  const auto mid = packetBytes(500, 2);
  EXPECT_EQ(ref.enqueue(mid), EnqueueResult::Ok);
  EXPECT_EQ(ref.enqueue(mid), EnqueueResult::Ok);
  EXPECT_EQ(ref.enqueue(mid), EnqueueResult::QueueFull);
  EXPECT_EQ(ref.enqueue(packetBytes(280, 3)), EnqueueResult::Ok);  // exactly 1280
  EXPECT_EQ(ref.enqueue({}), EnqueueResult::TooBig);
}

TEST(PeerTable, GlobalQueueCapBoundsArenaMemory) {
  PeerTableConfig c = smallConfig(64, 4);
  // A 1002-byte record (2-byte length + 1000 bytes) takes kPer chunks; room for exactly four.
  constexpr size_t kPer = (1002 + ChunkPool::kChunkPayload - 1) / ChunkPool::kChunkPayload;
  c.globalQueueBytes = 4 * kPer * ChunkPool::kChunkSize;
  PeerTable t(c);
  const auto p = packetBytes(1000, 9);
  for (uint64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(t.findOrCreate(peerAddr(i), kT0).enqueue(p), EnqueueResult::Ok) << i;
  }
  EXPECT_EQ(t.findOrCreate(peerAddr(4), kT0).enqueue(p), EnqueueResult::GlobalQueueFull);
  EXPECT_EQ(t.counters().queueDropGlobalFull.load(), 1u);
  EXPECT_LE(t.queueArenaBytesInUse(), c.globalQueueBytes);
  std::vector<uint8_t> scratch(2048);
  EXPECT_EQ(t.lock(peerAddr(0), kT0).popPacket(scratch), 1000u);
  EXPECT_EQ(t.lock(peerAddr(4), kT0).enqueue(p), EnqueueResult::Ok);
  // Erasing a peer gives its chunks back.
  EXPECT_TRUE(t.erase(peerAddr(1)));
  EXPECT_EQ(t.counters().queueDropEvicted.load(), 1u);
  EXPECT_EQ(t.queueArenaBytesInUse(), 3 * kPer * ChunkPool::kChunkSize);
  EXPECT_EQ(t.queuedBytes(), 3000u);
}

TEST(PeerTable, TwoThreadsConcurrently) {
  PeerTableConfig c = smallConfig(2048, 4);
  c.globalQueueBytes = 256 * 1024;
  PeerTable t(c);
  auto worker = [&t](uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> scratch(2048);
    const auto pkt = packetBytes(300, static_cast<uint8_t>(seed));
    for (int i = 0; i < 200'000; ++i) {
      const TimePoint now = kT0 + std::chrono::milliseconds(i);
      const Ipv6Addr a = peerAddr(rng() % 5000);
      switch (rng() % 8) {
        case 0:
        case 1: {
          auto ref = t.findOrCreate(a, now);
          if (ref.found()) {
            (void)ref.enqueue(pkt);
          }
          break;
        }
        case 2: {
          auto ref = t.lock(a, now);
          if (ref.found()) {
            ref.markReceived(Endpoint{0xcb007101, static_cast<uint16_t>(i)}, now);
            ref.drainQueue(scratch, [](std::span<const uint8_t>) {});
          }
          break;
        }
        case 3:
          t.erase(a);
          break;
        case 4:
          if (i % 1000 == 0) {
            t.expire(now);
          }
          break;
        default: {
          auto ref = t.lock(a, now);
          if (ref.found()) {
            (void)ref.popPacket(scratch);
          }
        }
      }
    }
  };
  std::thread a(worker, 1);
  std::thread b(worker, 2);
  a.join();
  b.join();
  EXPECT_LE(t.size(), 2048u);
  EXPECT_TRUE(t.selfCheck());
  // Every queued byte is accounted for: dropping all queues empties the arena.
  for (uint64_t i = 0; i < 5000; ++i) {
    auto ref = t.lock(peerAddr(i), kT0);
    if (ref.found()) {
      ref.dropQueue();
    }
  }
  EXPECT_EQ(t.queuedBytes(), 0u);
  EXPECT_EQ(t.queueArenaBytesInUse(), 0u);
}

TEST(PeerTable, Stress200kRandomPeers) {
  constexpr size_t kPeers = 200'000;
  PeerTable t(smallConfig(kDefaultMaxPeers, kDefaultShards));
  std::mt19937_64 rng(99);
  std::vector<Ipv6Addr> addrs;
  addrs.reserve(kPeers);
  for (size_t i = 0; i < kPeers; ++i) {
    Ipv6Addr a;
    for (auto& b : a.bytes) {
      b = static_cast<uint8_t>(rng());
    }
    addrs.push_back(a);
    CreateResult r;
    t.findOrCreate(a, kT0, &r).setMapped(Endpoint{static_cast<uint32_t>(i), 1});
    ASSERT_EQ(r, CreateResult::Created);
  }
  EXPECT_EQ(t.size(), kPeers);
  for (size_t i = 0; i < kPeers; ++i) {
    auto ref = t.lock(addrs[i], kT0);
    ASSERT_TRUE(ref.found());
    ASSERT_EQ(ref.entry().mapped.addr, i);
  }
  for (size_t i = 0; i < kPeers; i += 2) {
    ASSERT_TRUE(t.erase(addrs[i]));
  }
  EXPECT_EQ(t.size(), kPeers / 2);
  EXPECT_TRUE(t.selfCheck());
  for (size_t i = 0; i < kPeers; ++i) {
    auto ref = t.lock(addrs[i], kT0);
    ASSERT_EQ(ref.found(), i % 2 == 1);
    if (ref.found()) {
      ASSERT_EQ(ref.entry().mapped.addr, i);  // moved entries kept their state
    }
  }
  EXPECT_EQ(t.expire(kT0 + seconds(31)).expired, kPeers / 2);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.slabBytes(), 0u);  // every slab went back
  EXPECT_TRUE(t.selfCheck());
}

}  // namespace
}  // namespace teredo::peers

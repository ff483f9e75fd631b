// Randomized model check of PeerTable against a simple std::map reference that implements the
// documented semantics (one shard, so eviction order is exact): random creates, receives,
// demotions, queue operations, erases and sweeps with an advancing injected clock.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <random>
#include <vector>

#include "peers/peer_table.h"

namespace teredo::peers {
namespace {

using std::chrono::milliseconds;

struct ModelPeer {
  bool trusted = false;
  Endpoint mapped;
  TimePoint lastRx{};
  TimePoint listTime{};
  uint64_t seq = 0;  // position in its list (lists only ever append at the tail)
  std::deque<std::vector<uint8_t>> queue;
  size_t queuedBytes = 0;
};

class Model {
 public:
  Model(size_t cap, size_t peerQueue, milliseconds trust, milliseconds idle)
      : cap_(cap), peerQueue_(peerQueue), trust_(trust), idle_(idle) {}

  std::map<uint64_t, ModelPeer> peers;

  void place(ModelPeer& p, TimePoint listTime) {
    p.listTime = listTime;
    p.seq = ++seq_;
  }
  void lock(uint64_t k, TimePoint now) {
    auto it = peers.find(k);
    if (it != peers.end() && it->second.trusted && now - it->second.lastRx > trust_) {
      it->second.trusted = false;
      place(it->second, now);
    }
  }
  CreateResult create(uint64_t k, TimePoint now) {
    lock(k, now);
    if (peers.count(k) != 0) {
      return CreateResult::Exists;
    }
    CreateResult r = CreateResult::Created;
    if (peers.size() >= cap_) {
      const bool untrusted = oldest(false) != peers.end();
      auto victim = untrusted ? oldest(false) : oldest(true);
      peers.erase(victim);
      r = untrusted ? CreateResult::CreatedEvictedUntrusted : CreateResult::CreatedEvictedTrusted;
    }
    ModelPeer p;
    place(p, now);
    peers[k] = p;
    return r;
  }
  void markReceived(ModelPeer& p, Endpoint m, TimePoint now) {
    p.mapped = m;
    if (!(p.trusted && p.lastRx == now)) {
      p.trusted = true;
      p.lastRx = now;
      place(p, now);
    }
  }
  EnqueueResult enqueue(ModelPeer& p, const std::vector<uint8_t>& pkt) {
    if (p.queuedBytes + pkt.size() > peerQueue_) {
      return EnqueueResult::QueueFull;
    }
    p.queue.push_back(pkt);
    p.queuedBytes += pkt.size();
    return EnqueueResult::Ok;
  }
  ExpireStats expire(TimePoint now) {
    ExpireStats st;
    std::vector<std::pair<uint64_t, uint64_t>> demote;  // (seq, key)
    for (auto& [k, p] : peers) {
      if (p.trusted && now - p.listTime > trust_) {
        demote.emplace_back(p.seq, k);
      }
    }
    std::sort(demote.begin(), demote.end());
    for (auto& [s, k] : demote) {
      peers[k].trusted = false;
      place(peers[k], now);
      ++st.demoted;
    }
    for (auto it = peers.begin(); it != peers.end();) {
      if (!it->second.trusted && now - it->second.listTime > idle_) {
        st.packetsDropped += it->second.queue.size();
        it = peers.erase(it);
        ++st.expired;
      } else {
        ++it;
      }
    }
    return st;
  }

 private:
  std::map<uint64_t, ModelPeer>::iterator oldest(bool trusted) {
    auto best = peers.end();
    for (auto it = peers.begin(); it != peers.end(); ++it) {
      if (it->second.trusted == trusted &&
          (best == peers.end() || it->second.seq < best->second.seq)) {
        best = it;
      }
    }
    return best;
  }

  size_t cap_;
  size_t peerQueue_;
  milliseconds trust_;
  milliseconds idle_;
  uint64_t seq_ = 0;
};

Ipv6Addr keyAddr(uint64_t k) {
  Ipv6Addr a;
  a.setWord(0, 0x20010000);
  a.setWord(3, static_cast<uint32_t>(k));
  return a;
}

class PeerTableModel : public ::testing::TestWithParam<uint32_t> {};

TEST_P(PeerTableModel, MatchesReference) {
  constexpr size_t kCap = 24;
  constexpr uint64_t kKeys = 80;
  PeerTableConfig c;
  c.maxPeers = kCap;
  c.shards = 1;
  c.peerQueueBytes = 1280;
  c.globalQueueBytes = 64 << 20;  // global cap is tested separately (chunk granularity)
  c.trustTimeout = milliseconds(30'000);
  c.idleTimeout = milliseconds(30'000);
  c.hashKey.bytes[3] = static_cast<uint8_t>(GetParam());
  PeerTable t(c);
  Model m(kCap, c.peerQueueBytes, milliseconds(30'000), milliseconds(30'000));
  std::mt19937 rng(GetParam());
  TimePoint now = TimePoint{} + std::chrono::hours(1);
  std::vector<uint8_t> scratch(2000);

  for (int step = 0; step < 20'000; ++step) {
    now += milliseconds(rng() % 1500);
    const uint64_t k = rng() % kKeys;
    const Ipv6Addr a = keyAddr(k);
    const int op = static_cast<int>(rng() % 100);
    SCOPED_TRACE(::testing::Message() << "step " << step << " op " << op << " key " << k);
    if (op < 25) {
      CreateResult r;
      auto ref = t.findOrCreate(a, now, &r);
      ASSERT_EQ(r, m.create(k, now));
    } else if (op < 40) {
      auto ref = t.lock(a, now);
      m.lock(k, now);
      ASSERT_EQ(ref.found(), m.peers.count(k) == 1);
      if (ref.found()) {
        const Endpoint e{static_cast<uint32_t>(rng()), static_cast<uint16_t>(rng())};
        ref.markReceived(e, now);
        m.markReceived(m.peers[k], e, now);
      }
    } else if (op < 65) {
      auto ref = t.lock(a, now);
      m.lock(k, now);
      if (ref.found()) {
        std::vector<uint8_t> pkt(1 + rng() % 600);
        for (auto& b : pkt) {
          b = static_cast<uint8_t>(rng());
        }
        ASSERT_EQ(ref.enqueue(pkt), m.enqueue(m.peers[k], pkt));
      }
    } else if (op < 80) {
      auto ref = t.lock(a, now);
      m.lock(k, now);
      if (ref.found()) {
        ModelPeer& p = m.peers[k];
        const size_t len = ref.popPacket(scratch);
        if (p.queue.empty()) {
          ASSERT_EQ(len, 0u);
        } else {
          ASSERT_EQ(std::vector<uint8_t>(scratch.begin(), scratch.begin() + static_cast<long>(len)),
                    p.queue.front());
          p.queuedBytes -= p.queue.front().size();
          p.queue.pop_front();
        }
      }
    } else if (op < 85) {
      auto ref = t.lock(a, now);
      m.lock(k, now);
      if (ref.found()) {
        ref.touch(now);
        ModelPeer& p = m.peers[k];
        if (!p.trusted) {
          m.place(p, now);
        }
      }
    } else if (op < 92) {
      ASSERT_EQ(t.erase(a), m.peers.erase(k) == 1);
    } else {
      const ExpireStats s = t.expire(now);
      const ExpireStats e = m.expire(now);
      ASSERT_EQ(s.demoted, e.demoted);
      ASSERT_EQ(s.expired, e.expired);
      ASSERT_EQ(s.packetsDropped, e.packetsDropped);
    }
    ASSERT_EQ(t.size(), m.peers.size());
    if (step % 97 == 0) {
      // Full comparison (read-only: lock() at an old time never demotes).
      size_t bytes = 0;
      for (uint64_t key = 0; key < kKeys; ++key) {
        auto ref = t.lock(keyAddr(key), TimePoint{});
        auto it = m.peers.find(key);
        ASSERT_EQ(ref.found(), it != m.peers.end()) << key;
        if (ref.found()) {
          ASSERT_EQ(ref.entry().trusted(), it->second.trusted) << key;
          ASSERT_EQ(ref.entry().mapped, it->second.mapped) << key;
          ASSERT_EQ(ref.entry().queuedBytes, it->second.queuedBytes) << key;
          ASSERT_EQ(ref.entry().queuedPackets, it->second.queue.size()) << key;
          bytes += it->second.queuedBytes;
        }
      }
      ASSERT_EQ(t.queuedBytes(), bytes);
      ASSERT_TRUE(t.selfCheck());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, PeerTableModel, ::testing::Values(1u, 2u, 3u, 4u));

}  // namespace
}  // namespace teredo::peers

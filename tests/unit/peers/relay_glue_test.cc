// Unit tests for lib/peers/relay_glue.h: loadPeerState() shows a locked slot as the relay
// decisions see it, and storePeerState() writes a decided state back into a real PeerTable
// (creating the entry when needed, never deleting one, and touching idle entries on request).
// Time is injected; expiry is driven with expire() at chosen instants.
#include "peers/relay_glue.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace teredo::peers {
namespace {

using std::chrono::seconds;

const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);
const Endpoint kMapped{0xC000022D, 40000};  // 192.0.2.45:40000
const Endpoint kOtherMapped{0xC6336407, 3545};

Ipv6Addr peerAddr(uint32_t i) {
  Ipv6Addr a;
  a.setWord(0, 0x20010000);
  a.setWord(1, 0x4136e378);
  a.setWord(2, 0x800063bf);
  a.setWord(3, i);
  return a;
}

// One shard, default 30 s trust and idle timeouts.
PeerTableConfig tableConfig() {
  PeerTableConfig c;
  c.maxPeers = 16;
  c.shards = 1;
  c.hashKey.bytes[0] = 3;
  return c;
}

// A state the decisions could have produced for a peer that just answered.
teredo::PeerState trustedState(TimePoint rx) {
  teredo::PeerState s;
  s.exists = true;
  s.trusted = true;
  s.mapped = kMapped;
  s.lastRx = rx;
  s.lastTx = rx - seconds(1);
  s.lastBubble = rx - seconds(2);
  s.bubbles = 1;
  return s;
}

// ----- loadPeerState -----------------------------------------------------------------------------

TEST(RelayGlue, LoadOfAnEmptySlotIsTheDefaultState) {
  PeerTable t(tableConfig());
  auto ref = t.lock(peerAddr(1), kT0);
  ASSERT_FALSE(ref.found());
  const teredo::PeerState s = loadPeerState(ref);
  EXPECT_FALSE(s.exists);
  EXPECT_EQ(s, teredo::PeerState{});
}

TEST(RelayGlue, LoadMirrorsEveryEntryField) {
  PeerTable t(tableConfig());
  auto ref = t.findOrCreate(peerAddr(1), kT0);
  ref.markReceived(kMapped, kT0 + seconds(1));
  ref.setLastTx(kT0 + seconds(2));
  ref.setBubbles(3, kT0 + seconds(3));
  const std::vector<uint8_t> packet(100, 0xab);
  ASSERT_EQ(ref.enqueue(packet), EnqueueResult::Ok);
  ASSERT_EQ(ref.enqueue(packet), EnqueueResult::Ok);

  const teredo::PeerState s = loadPeerState(ref);
  EXPECT_TRUE(s.exists);
  EXPECT_TRUE(s.trusted);
  EXPECT_EQ(s.mapped, kMapped);
  EXPECT_EQ(s.lastRx, kT0 + seconds(1));
  EXPECT_EQ(s.lastTx, kT0 + seconds(2));
  EXPECT_EQ(s.lastBubble, kT0 + seconds(3));
  EXPECT_EQ(s.bubbles, 3);
  EXPECT_EQ(s.queuedPackets, 2u);
}

TEST(RelayGlue, LoadOfAFreshEntryIsUntrustedWithNothingReceived) {
  PeerTable t(tableConfig());
  auto ref = t.findOrCreate(peerAddr(1), kT0);
  const teredo::PeerState s = loadPeerState(ref);
  EXPECT_TRUE(s.exists);
  EXPECT_FALSE(s.trusted);
  EXPECT_EQ(s.mapped, Endpoint{});
  EXPECT_EQ(s.lastRx, TimePoint{});
  EXPECT_EQ(s.bubbles, 0);
  EXPECT_EQ(s.queuedPackets, 0u);
}

// ----- storePeerState ----------------------------------------------------------------------------

TEST(RelayGlue, NonexistentAfterNeverCreatesAnEntry) {
  PeerTable t(tableConfig());
  {
    auto ref = t.lock(peerAddr(1), kT0);
    teredo::PeerState before = loadPeerState(ref);
    teredo::PeerState after = before;
    after.bubbles = 5;  // whatever else changed, exists = false wins
    EXPECT_TRUE(storePeerState(ref, before, after, kT0, /*touch=*/true));
    EXPECT_FALSE(ref.found());
  }
  EXPECT_EQ(t.size(), 0u);
}

TEST(RelayGlue, NonexistentAfterNeverDeletesOrChangesAnEntry) {
  PeerTable t(tableConfig());
  {
    auto ref = t.findOrCreate(peerAddr(1), kT0);
    ref.markReceived(kMapped, kT0);
  }
  {
    auto ref = t.lock(peerAddr(1), kT0 + seconds(1));
    const teredo::PeerState before = loadPeerState(ref);
    teredo::PeerState after;  // exists = false: "decisions never delete entries; expiry does"
    EXPECT_TRUE(storePeerState(ref, before, after, kT0 + seconds(1), false));
    ASSERT_TRUE(ref.found());
    EXPECT_EQ(loadPeerState(ref), before);
  }
  EXPECT_EQ(t.size(), 1u);
}

TEST(RelayGlue, CreatesATrustedEntryWhenTheSlotIsEmpty) {
  PeerTable t(tableConfig());
  const TimePoint now = kT0 + seconds(5);
  {
    auto ref = t.lock(peerAddr(1), now);
    const teredo::PeerState before = loadPeerState(ref);
    const teredo::PeerState after = trustedState(now);
    ASSERT_TRUE(storePeerState(ref, before, after, now, false));
    ASSERT_TRUE(ref.found());
    EXPECT_EQ(loadPeerState(ref), after);
  }
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.counters().created.load(), 1u);
  // Trusted until last_rx + trust timeout, as if the table had seen the packet itself.
  auto ref = t.lock(peerAddr(1), now + seconds(30));
  ASSERT_TRUE(ref.found());
  EXPECT_TRUE(ref.entry().trusted());
}

TEST(RelayGlue, CreatesAnUntrustedEntryWhenTheSlotIsEmpty) {
  PeerTable t(tableConfig());
  auto ref = t.lock(peerAddr(1), kT0);
  const teredo::PeerState before = loadPeerState(ref);
  teredo::PeerState after;  // a destination we just bubbled
  after.exists = true;
  after.mapped = kMapped;
  after.lastTx = kT0;
  after.lastBubble = kT0;
  after.bubbles = 1;
  ASSERT_TRUE(storePeerState(ref, before, after, kT0, true));
  ASSERT_TRUE(ref.found());
  EXPECT_EQ(loadPeerState(ref), after);
  EXPECT_FALSE(ref.entry().trusted());
}

TEST(RelayGlue, WritesEveryChangedField) {
  PeerTable t(tableConfig());
  auto ref = t.findOrCreate(peerAddr(1), kT0);
  const teredo::PeerState before = loadPeerState(ref);
  const TimePoint now = kT0 + seconds(3);
  teredo::PeerState after = trustedState(now);
  after.mapped = kOtherMapped;
  after.bubbles = 2;
  ASSERT_TRUE(storePeerState(ref, before, after, now, false));
  EXPECT_EQ(loadPeerState(ref), after);
}

TEST(RelayGlue, TrustLapseIsWrittenBackAndKeepsLastRx) {
  PeerTable t(tableConfig());
  auto ref = t.findOrCreate(peerAddr(1), kT0);
  ref.markReceived(kMapped, kT0);
  const teredo::PeerState before = loadPeerState(ref);
  ASSERT_TRUE(before.trusted);
  teredo::PeerState after = before;  // the decisions demoted it and bubbled again
  after.trusted = false;
  after.bubbles = 1;
  after.lastBubble = kT0 + seconds(10);
  ASSERT_TRUE(storePeerState(ref, before, after, kT0 + seconds(10), false));
  EXPECT_FALSE(ref.entry().trusted());
  EXPECT_EQ(loadPeerState(ref), after);
}

TEST(RelayGlue, UnchangedStateWithoutTouchLeavesTheEntryAsItWas) {
  PeerTable t(tableConfig());
  {
    auto ref = t.findOrCreate(peerAddr(1), kT0);  // untrusted, idle clock starts at kT0
    const teredo::PeerState s = loadPeerState(ref);
    const PeerEntry copy = ref.entry();
    EXPECT_TRUE(storePeerState(ref, s, s, kT0 + seconds(20), /*touch=*/false));
    EXPECT_EQ(ref.entry().listTime, copy.listTime);
    EXPECT_EQ(loadPeerState(ref), s);
  }
  // Not touched: idle since kT0, so the 30 s idle timeout removes it at kT0 + 31 s.
  EXPECT_EQ(t.expire(kT0 + seconds(31)).expired, 1u);
  EXPECT_EQ(t.size(), 0u);
}

TEST(RelayGlue, TouchKeepsAnUnchangedUntrustedEntryFromIdleExpiry) {
  PeerTable t(tableConfig());
  {
    auto ref = t.findOrCreate(peerAddr(1), kT0);
    const teredo::PeerState s = loadPeerState(ref);
    EXPECT_TRUE(storePeerState(ref, s, s, kT0 + seconds(20), /*touch=*/true));
    EXPECT_EQ(loadPeerState(ref), s) << "touch changes no decision state";
  }
  // Touched at kT0 + 20 s: still there 31 s after creation, gone 31 s after the touch.
  EXPECT_EQ(t.expire(kT0 + seconds(31)).expired, 0u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.expire(kT0 + seconds(51)).expired, 1u);
  EXPECT_EQ(t.size(), 0u);
}

TEST(RelayGlue, TouchWithAChangedUntrustedStateAlsoRefreshes) {
  PeerTable t(tableConfig());
  {
    auto ref = t.findOrCreate(peerAddr(1), kT0);
    const teredo::PeerState before = loadPeerState(ref);
    teredo::PeerState after = before;
    after.bubbles = 1;
    after.lastBubble = kT0 + seconds(20);
    after.lastTx = kT0 + seconds(20);
    EXPECT_TRUE(storePeerState(ref, before, after, kT0 + seconds(20), /*touch=*/true));
    EXPECT_EQ(loadPeerState(ref), after);
  }
  EXPECT_EQ(t.expire(kT0 + seconds(31)).expired, 0u);
  EXPECT_EQ(t.size(), 1u);
}

TEST(RelayGlue, TouchDoesNotExtendTrust) {
  PeerTable t(tableConfig());
  {
    auto ref = t.findOrCreate(peerAddr(1), kT0);
    ref.markReceived(kMapped, kT0);
    const teredo::PeerState s = loadPeerState(ref);
    EXPECT_TRUE(storePeerState(ref, s, s, kT0 + seconds(25), /*touch=*/true));
  }
  // Trust lasts 30 s after the last reception, touched or not.
  auto ref = t.lock(peerAddr(1), kT0 + seconds(31));
  ASSERT_TRUE(ref.found());
  EXPECT_FALSE(ref.entry().trusted());
  EXPECT_EQ(ref.entry().lastRx, kT0);
}

// The data-path sequence of the header comment, twice: the second packet sees what the first
// one stored.
TEST(RelayGlue, LoadStoreRoundTripAcrossPackets) {
  PeerTable t(tableConfig());
  const teredo::PeerState first = trustedState(kT0);
  {
    auto ref = t.lock(peerAddr(7), kT0);
    const teredo::PeerState before = loadPeerState(ref);
    ASSERT_TRUE(storePeerState(ref, before, first, kT0, true));
  }
  {
    auto ref = t.lock(peerAddr(7), kT0 + seconds(1));
    EXPECT_EQ(loadPeerState(ref), first);
  }
  // Other slots are unaffected.
  auto other = t.lock(peerAddr(8), kT0 + seconds(1));
  EXPECT_FALSE(other.found());
}

}  // namespace
}  // namespace teredo::peers

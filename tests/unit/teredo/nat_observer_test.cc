// NatObserver (lib/teredo/nat_observer.h): what the server infers from qualification RSs.
#include "teredo/nat_observer.h"

#include <gtest/gtest.h>

#include <vector>

namespace teredo {
namespace {

Endpoint ep(uint32_t a, uint16_t p) {
  return Endpoint{a, p};
}

// A client's qualification (RFC 4380 §5.2.1) as the server sees it, in milliseconds.
struct Rs {
  uint64_t atMs;
  bool cone;
  bool secondary;
  uint16_t port;
};

// The RS sequences of the three outcomes, with T = 4 s and N = 3 (what the server sees).
std::vector<Rs> coneClient(uint64_t t0, uint16_t port) {
  return {{t0, true, false, port}};  // answered at once from the secondary
}
std::vector<Rs> restrictedClient(uint64_t t0, uint16_t port) {
  return {{t0, true, false, port},
          {t0 + 4000, true, false, port},
          {t0 + 8000, true, false, port},
          {t0 + 12000, false, false, port},
          {t0 + 12010, false, true, port}};
}
std::vector<Rs> symmetricClient(uint64_t t0, uint16_t port) {
  auto rs = restrictedClient(t0, port);
  rs.back().port = static_cast<uint16_t>(port + 1);
  return rs;
}

void play(NatObserver& obs, uint32_t addr, const std::vector<Rs>& rs) {
  for (const Rs& r : rs) {
    obs.observe(ep(addr, r.port), r.secondary, r.cone, r.atMs);
  }
}

TEST(NatObserver, ClassifiesTheQualificationOutcomes) {
  NatObserver obs(1024, std::chrono::seconds(60));
  obs.rotate(600'000);  // window [600 s, 660 s)
  play(obs, 0xCB007101, restrictedClient(601'000, 4000));
  play(obs, 0xCB007102, symmetricClient(601'000, 4000));
  play(obs, 0xCB007103, coneClient(601'000, 5000));
  obs.observe(ep(0xCB007104, 6000), false, false, 601'000);  // Miredo: plain RSs only
  obs.observe(ep(0xCB007104, 6000), false, false, 631'000);
  EXPECT_FALSE(obs.rotate(659'999));
  ASSERT_TRUE(obs.rotate(660'000));
  const NatCounts w = obs.lastWindow();
  EXPECT_EQ(w[NatClass::Restricted], 1u);
  EXPECT_EQ(w[NatClass::Symmetric], 1u);
  EXPECT_EQ(w[NatClass::Cone], 1u);
  EXPECT_EQ(w[NatClass::Unknown], 1u);
  EXPECT_NEAR(obs.lastWindowClients(), 5.0, 0.5);  // five distinct mapped endpoints
}

TEST(NatObserver, UnansweredConeRetriesAreNotACone) {
  // Bug found by tests/integration/nat_types.sh: a window that closed between a restricted
  // client's cone retries and its plain fallback counted it as cone.
  NatObserver obs(1024, std::chrono::seconds(2));
  obs.rotate(0);
  play(obs, 0xCB007101, {{500, true, false, 4000}, {1500, true, false, 4000}});
  ASSERT_TRUE(obs.rotate(2000));
  EXPECT_EQ(obs.lastWindow()[NatClass::Cone], 0u);
  EXPECT_EQ(obs.lastWindow()[NatClass::Unknown], 1u);
  play(obs, 0xCB007101,
       {{2500, true, false, 4000}, {3500, false, false, 4000}, {3510, false, true, 4000}});
  ASSERT_TRUE(obs.rotate(4000));
  EXPECT_EQ(obs.lastWindow()[NatClass::Restricted], 1u);
  EXPECT_EQ(obs.totals()[NatClass::Cone], 0u);
}

TEST(NatObserver, EachProbePairsWithItsOwnPrimaryMapping) {
  // Bug found by nat_types.sh: a second qualification from a new port was compared with the
  // first one's secondary port and counted as symmetric.
  NatObserver obs(1024, std::chrono::seconds(60));
  obs.rotate(0);
  play(obs, 0xCB007101, restrictedClient(1000, 40000));
  play(obs, 0xCB007101, restrictedClient(20000, 40001));
  ASSERT_TRUE(obs.rotate(60'000));
  EXPECT_EQ(obs.lastWindow()[NatClass::Restricted], 1u);
  EXPECT_EQ(obs.lastWindow()[NatClass::Symmetric], 0u);
}

TEST(NatObserver, NoClientIsLostAtAWindowBoundary) {
  // Bug found by nat_types.sh: an RS between a window's end and the 1 s rotation tick moved its
  // client into the new window before the old one was counted.
  NatObserver obs(1024, std::chrono::seconds(2));
  obs.rotate(0);
  play(obs, 0xCB007101, {{1000, false, false, 4000}, {1010, false, true, 4000}});
  obs.observe(ep(0xCB007101, 4000), false, false, 2050);  // window 1, before the tick
  ASSERT_TRUE(obs.rotate(2100));
  EXPECT_EQ(obs.lastWindow()[NatClass::Restricted], 1u);
  ASSERT_TRUE(obs.rotate(4100));
  // The evidence sticks: a restricted client refreshes with plain RSs to the primary only.
  EXPECT_EQ(obs.lastWindow()[NatClass::Restricted], 1u);
  EXPECT_EQ(obs.totals()[NatClass::Restricted], 2u);
}

TEST(NatObserver, OncePerWindowAndConeConfirmedByTime) {
  NatObserver obs(1024, std::chrono::seconds(60));
  obs.rotate(0);
  play(obs, 0xCB007103, coneClient(1000, 5000));
  for (uint64_t t = 31'000; t < 59'000; t += 1000) {
    obs.observe(ep(0xCB007105, 6000), false, false, t);  // 28 RSs, one client
  }
  ASSERT_TRUE(obs.rotate(60'000));
  EXPECT_EQ(obs.lastWindow()[NatClass::Cone], 1u);  // no retry within 12 s: answered
  EXPECT_EQ(obs.lastWindow()[NatClass::Unknown], 1u);
  // A cone client's refresh (RFC: every 30 s, same cone value) keeps it a cone.
  obs.observe(ep(0xCB007103, 5000), false, true, 61'000);
  ASSERT_TRUE(obs.rotate(120'000));
  EXPECT_EQ(obs.lastWindow()[NatClass::Cone], 1u);
  EXPECT_EQ(obs.totals()[NatClass::Cone], 2u);
}

TEST(NatObserver, BoundedUnderSpoofedSources) {
  NatObserver obs(4096, std::chrono::seconds(60));
  for (uint32_t i = 0; i < 200000; ++i) {
    obs.observe(ep(0x0B000000u + i, 1000), false, false, 10'000);
  }
  EXPECT_LE(obs.trackedClients(), obs.capacity());
  EXPECT_LE(obs.capacity(), 4096u + 16 * 4);
}

}  // namespace
}  // namespace teredo

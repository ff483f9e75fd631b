// Unit tests for lib/agent/health.h: Heartbeats (liveness) with an injected MonoClock, and
// Readiness (named conditions plus draining). No real time is read or asserted.
#include "agent/health.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace teredo::agent {
namespace {

using std::chrono::seconds;

constexpr int64_t kSecNs = 1'000'000'000;

// A fake monotonic clock the test moves by hand.
struct FakeClock {
  std::atomic<int64_t> nowNs{100 * kSecNs};
  MonoClock fn() {
    return [this] { return nowNs.load(); };
  }
  void advance(int64_t ns) { nowNs += ns; }
};

// ----- Heartbeats --------------------------------------------------------------------------------

TEST(Heartbeats, FreshAtConstructionEverySlotCountsAsBeaten) {
  FakeClock clock;
  Heartbeats hb(3, seconds(5), clock.fn());
  EXPECT_EQ(hb.slotCount(), 3u);
  std::string detail = "unchanged";
  EXPECT_TRUE(hb.fresh(&detail));
  EXPECT_EQ(detail, "ok");
  EXPECT_TRUE(hb.fresh(nullptr));  // detail is optional
}

TEST(Heartbeats, ExactlyMaxAgeIsStillFreshOneNanosecondMoreIsStale) {
  FakeClock clock;
  Heartbeats hb(1, seconds(5), clock.fn());
  clock.advance(5 * kSecNs);
  EXPECT_TRUE(hb.fresh(nullptr)) << "the bound is inclusive: beat within maxAge";
  clock.advance(1);
  std::string detail;
  EXPECT_FALSE(hb.fresh(&detail));
  EXPECT_EQ(detail.rfind("stale: event loop 0 ", 0), 0u) << detail;
}

TEST(Heartbeats, BeatingEverySlotKeepsItFresh) {
  FakeClock clock;
  Heartbeats hb(2, seconds(5), clock.fn());
  for (int turn = 0; turn < 10; ++turn) {
    clock.advance(4 * kSecNs);  // well past maxAge in total, but every slot beats each turn
    hb.beat(0);
    hb.beat(1);
    ASSERT_TRUE(hb.fresh(nullptr)) << "turn " << turn;
  }
}

TEST(Heartbeats, OneSilentSlotMakesTheProcessStale) {
  FakeClock clock;
  Heartbeats hb(4, seconds(5), clock.fn());
  clock.advance(6 * kSecNs);
  hb.beat(0);
  hb.beat(1);
  hb.beat(3);  // slot 2 stays silent
  std::string detail;
  EXPECT_FALSE(hb.fresh(&detail));
  EXPECT_NE(detail.find("event loop 2 "), std::string::npos) << detail;
  // Once it beats again the process is alive again.
  hb.beat(2);
  EXPECT_TRUE(hb.fresh(&detail));
  EXPECT_EQ(detail, "ok");
}

TEST(Heartbeats, DetailNamesTheStalestSlotWithAgeAndBound) {
  FakeClock clock;
  Heartbeats hb(3, seconds(5), clock.fn());
  // All start at t0. Slot 0 beats at t0+2 s, slot 2 at t0+4 s; slot 1 never beats again.
  clock.advance(2 * kSecNs);
  hb.beat(0);
  clock.advance(2 * kSecNs);
  hb.beat(2);
  clock.advance(3 * kSecNs);  // now t0+7 s: ages 5 s, 7 s, 3 s
  std::string detail;
  EXPECT_FALSE(hb.fresh(&detail));
  EXPECT_EQ(detail, "stale: event loop 1 last beat 7.000 s ago (max 5.000 s)");

  // Slot 1 beats; slot 0 (age 5 s, within the bound) is then the oldest but not stale.
  hb.beat(1);
  EXPECT_TRUE(hb.fresh(&detail));
  clock.advance(kSecNs / 2);  // ages: 5.5 s, 0.5 s, 3.5 s
  EXPECT_FALSE(hb.fresh(&detail));
  EXPECT_EQ(detail, "stale: event loop 0 last beat 5.500 s ago (max 5.000 s)");
}

TEST(Heartbeats, LastSlotCanBeTheStalest) {
  FakeClock clock;
  constexpr size_t kSlots = 8;
  Heartbeats hb(kSlots, seconds(1), clock.fn());
  clock.advance(2 * kSecNs);
  for (size_t i = 0; i + 1 < kSlots; ++i) {
    hb.beat(i);
  }
  std::string detail;
  EXPECT_FALSE(hb.fresh(&detail));
  EXPECT_NE(detail.find("event loop 7 "), std::string::npos) << detail;
}

// beat(i) from the slot's owner thread while another thread asks fresh(): each worker beats only
// its own slot. The clock is frozen, so the answer is deterministic.
TEST(Heartbeats, OwnersBeatWhileAnotherThreadChecks) {
  FakeClock clock;
  constexpr size_t kSlots = 4;
  Heartbeats hb(kSlots, seconds(5), clock.fn());
  clock.advance(10 * kSecNs);  // all stale until their owners beat
  std::vector<std::thread> workers;
  for (size_t i = 0; i < kSlots; ++i) {
    workers.emplace_back([&hb, i] {
      for (int n = 0; n < 1000; ++n) {
        hb.beat(i);
      }
    });
  }
  std::string detail;
  for (int n = 0; n < 1000; ++n) {
    (void)hb.fresh(&detail);
  }
  for (auto& t : workers) {
    t.join();
  }
  EXPECT_TRUE(hb.fresh(&detail)) << detail;
}

TEST(SteadyNowNs, IsMonotonic) {
  const int64_t a = steadyNowNs();
  const int64_t b = steadyNowNs();
  EXPECT_GT(a, 0);
  EXPECT_GE(b, a);
}

// ----- Readiness ---------------------------------------------------------------------------------

TEST(Readiness, NoConditionsAndNotDrainingIsReady) {
  Readiness r;
  std::string detail;
  EXPECT_TRUE(r.ready(&detail));
  EXPECT_EQ(detail, "ready");
  EXPECT_TRUE(r.ready(nullptr));
  EXPECT_FALSE(r.draining());
}

TEST(Readiness, ConditionsStartFalseAndAllMustHold) {
  Readiness r;
  const size_t sockets = r.addCondition(Readiness::kSocketsBound);
  const size_t tun = r.addCondition(Readiness::kTunUp);
  const size_t config = r.addCondition(Readiness::kConfigApplied);
  EXPECT_NE(sockets, tun);
  EXPECT_NE(tun, config);
  EXPECT_NE(sockets, config);

  std::string detail;
  EXPECT_FALSE(r.ready(&detail));
  EXPECT_EQ(detail, "not ready: sockets_bound=false tun_up=false config_applied=false");

  r.set(sockets, true);
  r.set(config, true);
  EXPECT_FALSE(r.ready(&detail));
  EXPECT_EQ(detail, "not ready: tun_up=false");

  r.set(tun, true);
  EXPECT_TRUE(r.ready(&detail));
  EXPECT_EQ(detail, "ready");

  // A condition can be lost again (e.g. the tun device went down).
  r.set(tun, false);
  EXPECT_FALSE(r.ready(&detail));
  EXPECT_EQ(detail, "not ready: tun_up=false");
}

TEST(Readiness, ReAddingANameReturnsTheSameIdAndKeepsItsValue) {
  Readiness r;
  const size_t a = r.addCondition("a");
  r.set(a, true);
  EXPECT_EQ(r.addCondition("a"), a);
  EXPECT_TRUE(r.ready(nullptr)) << "re-adding must not reset the condition to false";
  const size_t b = r.addCondition("b");
  EXPECT_NE(b, a);
  EXPECT_EQ(r.addCondition("b"), b);
  std::string detail;
  EXPECT_FALSE(r.ready(&detail));
  EXPECT_EQ(detail, "not ready: b=false") << "one entry per name";
}

TEST(Readiness, SetByName) {
  Readiness r;
  r.addCondition(Readiness::kSocketsBound);
  EXPECT_TRUE(r.set(Readiness::kSocketsBound, true));
  EXPECT_TRUE(r.ready(nullptr));
  EXPECT_TRUE(r.set(std::string(Readiness::kSocketsBound), false));
  EXPECT_FALSE(r.ready(nullptr));
}

TEST(Readiness, SetByUnknownNameIsRefusedAndAddsNothing) {
  Readiness r;
  r.addCondition("known");
  r.set("known", true);
  EXPECT_FALSE(r.set("never_added", false));
  std::string detail;
  EXPECT_TRUE(r.ready(&detail)) << detail;
  EXPECT_EQ(detail, "ready");
}

TEST(Readiness, DrainingMakesNotReadyWhateverTheConditions) {
  Readiness r;
  const size_t id = r.addCondition(Readiness::kConfigApplied);
  r.set(id, true);
  ASSERT_TRUE(r.ready(nullptr));

  r.setDraining(true);
  EXPECT_TRUE(r.draining());
  std::string detail;
  EXPECT_FALSE(r.ready(&detail));
  EXPECT_EQ(detail, "not ready: draining=true");

  // Failing conditions and draining are reported together, draining last.
  r.set(id, false);
  EXPECT_FALSE(r.ready(&detail));
  EXPECT_EQ(detail, "not ready: config_applied=false draining=true");

  r.set(id, true);
  r.setDraining(false);
  EXPECT_FALSE(r.draining());
  EXPECT_TRUE(r.ready(&detail));
  EXPECT_EQ(detail, "ready");
}

TEST(Readiness, DrainingWithoutConditions) {
  Readiness r;
  r.setDraining(true);
  std::string detail;
  EXPECT_FALSE(r.ready(&detail));
  EXPECT_EQ(detail, "not ready: draining=true");
}

// All methods may be called from any thread: setters and ready() race here, and the final state
// is what the last writes said.
TEST(Readiness, ConcurrentSettersAndReaders) {
  Readiness r;
  constexpr int kConditions = 4;
  std::vector<size_t> ids;
  for (int i = 0; i < kConditions; ++i) {
    ids.push_back(r.addCondition("c" + std::to_string(i)));
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < kConditions; ++i) {
    threads.emplace_back([&r, &ids, i] {
      for (int n = 0; n < 1000; ++n) {
        r.set(ids[i], n % 2 == 0);
        r.setDraining(n % 3 == 0);
      }
      r.set(ids[i], true);
    });
  }
  threads.emplace_back([&r] {
    std::string detail;
    for (int n = 0; n < 1000; ++n) {
      (void)r.ready(&detail);
      EXPECT_TRUE(detail == "ready" || detail.rfind("not ready:", 0) == 0) << detail;
    }
  });
  for (auto& t : threads) {
    t.join();
  }
  r.setDraining(false);
  std::string detail;
  EXPECT_TRUE(r.ready(&detail)) << detail;
}

}  // namespace
}  // namespace teredo::agent

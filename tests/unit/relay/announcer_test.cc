// The relay's anycast announcer against a recording route sink: what is in the announce table
// for each state of the relay, re-assertion, reconfiguration, kernel refusals and the metrics.
#include "announcer.h"

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "base/status.h"
#include "config/config.h"
#include "teredo/address.h"

namespace teredo::relay {
namespace {

using agent::AnnounceInputs;
using agent::AnnounceReason;

config::Ipv6Prefix prefix(const char* text, uint8_t len) {
  return config::Ipv6Prefix{*parseIpv6(text), len};
}

/// The kernel's announce tables as a map; failures on demand.
struct Kernel {
  // (table, "prefix/len") -> (protocol, metric)
  std::map<std::tuple<uint32_t, std::string>, std::tuple<uint8_t, uint32_t>> routes;
  int adds = 0;
  int removes = 0;
  StatusCode addFails = StatusCode::kOk;
};

class RecordingSink final : public RouteSink {
 public:
  explicit RecordingSink(Kernel& k) : k_(k) {}
  Status add(const config::Ipv6Prefix& p, const net::RouteAttributes& a) override {
    ++k_.adds;
    if (k_.addFails != StatusCode::kOk) {
      return Status::error(k_.addFails, "refused");
    }
    k_.routes[{a.table, config::formatIpv6Prefix(p)}] = {a.protocol, a.metric};
    return Status();
  }
  Status remove(const config::Ipv6Prefix& p, const net::RouteAttributes& a) override {
    ++k_.removes;
    if (k_.routes.erase({a.table, config::formatIpv6Prefix(p)}) == 0) {
      return Status::error(StatusCode::kNotFound, "no such route");
    }
    return Status();
  }

 private:
  Kernel& k_;
};

config::RelayAnnounce enabledBlock() {
  config::RelayAnnounce a;
  a.enabled = true;
  a.prefixes = {prefix("2001::", 32)};
  return a;
}

AnnounceInputs healthy() {
  AnnounceInputs in;
  in.workersFresh = true;
  in.ready = true;
  return in;
}

uint64_t transitions(const AnnounceSnapshot& s, AnnounceAction a, AnnounceReason r) {
  return s.transitions[static_cast<size_t>(a)][static_cast<size_t>(r)];
}

TEST(AnnouncerTest, DisabledNeverTouchesTheKernel) {
  Kernel k;
  config::RelayAnnounce block = enabledBlock();
  block.enabled = false;
  Announcer a(std::make_unique<RecordingSink>(k), block);
  const agent::AnnounceDecision d = a.update(healthy());
  EXPECT_FALSE(d.announce);
  EXPECT_EQ(d.reason, AnnounceReason::Disabled);
  EXPECT_EQ(k.adds + k.removes, 0);
  EXPECT_EQ(a.withdrawGrace(), std::chrono::milliseconds(0));  // nothing to move away
  const AnnounceSnapshot s = a.snapshot();
  ASSERT_EQ(s.prefixes.size(), 1u);
  EXPECT_FALSE(s.prefixes[0].announced);
}

TEST(AnnouncerTest, ReadyAnnouncesEveryPrefixWithTheConfiguredAttributesOnce) {
  Kernel k;
  config::RelayAnnounce block = enabledBlock();
  block.prefixes = {prefix("2001::", 33), prefix("2001:0:8000::", 33)};
  block.table = 4000000000u;
  block.protocol = 250;
  block.metric = 7;
  Announcer a(std::make_unique<RecordingSink>(k), block);
  EXPECT_TRUE(a.update(healthy()).announce);
  EXPECT_TRUE(a.update(healthy()).announce);
  const auto expected = std::make_tuple(uint8_t{250}, uint32_t{7});
  ASSERT_EQ(k.routes.size(), 2u);
  EXPECT_EQ((k.routes[{4000000000u, "2001::/33"}]), expected);
  EXPECT_EQ((k.routes[{4000000000u, "2001:0:8000::/33"}]), expected);
  EXPECT_EQ(k.adds, 4);  // re-asserted on the second update
  const AnnounceSnapshot s = a.snapshot();
  EXPECT_EQ(transitions(s, AnnounceAction::Announce, AnnounceReason::Ready), 1u);
  EXPECT_TRUE(s.prefixes[0].announced && s.prefixes[1].announced);
  EXPECT_EQ(s.reason, AnnounceReason::Ready);
}

TEST(AnnouncerTest, ARouteFlushedBySomeoneElseComesBackOnTheNextUpdate) {
  Kernel k;
  Announcer a(std::make_unique<RecordingSink>(k), enabledBlock());
  a.update(healthy());
  k.routes.clear();  // `ip route flush table 100`
  a.update(healthy());
  EXPECT_EQ(k.routes.size(), 1u);
  EXPECT_EQ(transitions(a.snapshot(), AnnounceAction::Announce, AnnounceReason::Ready), 1u);
}

struct WithdrawCase {
  const char* name;
  AnnounceInputs in;
  AnnounceReason reason;
};

TEST(AnnouncerTest, EveryUnhealthyStateWithdrawsAndCountsItsReason) {
  const WithdrawCase cases[] = {
      {"stopping", {false, true, false, true, true}, AnnounceReason::Stopping},
      {"draining", {false, false, true, true, false}, AnnounceReason::Draining},
      {"stalled", {false, false, false, false, true}, AnnounceReason::WorkerStalled},
      {"not ready", {false, false, false, true, false}, AnnounceReason::NotReady},
  };
  for (const WithdrawCase& c : cases) {
    SCOPED_TRACE(c.name);
    Kernel k;
    Announcer a(std::make_unique<RecordingSink>(k), enabledBlock());
    ASSERT_TRUE(a.update(healthy()).announce);
    ASSERT_EQ(k.routes.size(), 1u);
    const agent::AnnounceDecision d = a.update(c.in);
    EXPECT_FALSE(d.announce);
    EXPECT_EQ(d.reason, c.reason);
    EXPECT_TRUE(k.routes.empty());
    a.update(c.in);  // staying down is not another transition, and removes nothing more
    EXPECT_EQ(k.removes, 1);
    const AnnounceSnapshot s = a.snapshot();
    EXPECT_EQ(transitions(s, AnnounceAction::Withdraw, c.reason), 1u);
    EXPECT_FALSE(s.prefixes[0].announced);
    EXPECT_EQ(s.reason, c.reason);
    // Back to health: announced again.
    EXPECT_TRUE(a.update(healthy()).announce);
    EXPECT_EQ(k.routes.size(), 1u);
    EXPECT_EQ(transitions(a.snapshot(), AnnounceAction::Announce, AnnounceReason::Ready), 2u);
  }
}

TEST(AnnouncerTest, ReconfigurationWithdrawsWhatTheOldBlockAnnouncedFirst) {
  Kernel k;
  Announcer a(std::make_unique<RecordingSink>(k), enabledBlock());
  a.update(healthy());
  ASSERT_EQ(k.routes.count({100u, "2001::/32"}), 1u);

  config::RelayAnnounce moved = enabledBlock();
  moved.table = 101;
  moved.prefixes = {prefix("2001::", 33)};
  a.configure(moved);
  EXPECT_TRUE(k.routes.empty()) << "the old table's route must go at once";
  a.update(healthy());
  ASSERT_EQ(k.routes.size(), 1u);
  EXPECT_EQ(k.routes.count({101u, "2001::/33"}), 1u);

  // Same prefix, another metric: replaced, not doubled.
  config::RelayAnnounce metric = moved;
  metric.metric = 5;
  a.configure(metric);
  a.update(healthy());
  ASSERT_EQ(k.routes.size(), 1u);
  EXPECT_EQ(std::get<1>(k.routes[{101u, "2001::/33"}]), 5u);

  // An unchanged block keeps its routes across configure().
  const int removes = k.removes;
  a.configure(metric);
  EXPECT_EQ(k.removes, removes);
  EXPECT_EQ(k.routes.size(), 1u);
}

TEST(AnnouncerTest, AKernelRefusalIsCountedAndNotReportedAsAnnounced) {
  Kernel k;
  Announcer a(std::make_unique<RecordingSink>(k), enabledBlock());
  k.addFails = StatusCode::kPermissionDenied;  // CAP_NET_ADMIN dropped
  EXPECT_TRUE(a.update(healthy()).announce);   // the decision stands...
  a.update(healthy());
  AnnounceSnapshot s = a.snapshot();
  EXPECT_FALSE(s.prefixes[0].announced);  // ...but nothing is announced
  EXPECT_EQ(s.routeErrorsAdd, 2u);
  EXPECT_EQ(s.reason, AnnounceReason::Ready);

  k.addFails = StatusCode::kOk;
  a.update(healthy());
  s = a.snapshot();
  EXPECT_TRUE(s.prefixes[0].announced);
  EXPECT_EQ(s.routeErrorsAdd, 2u);

  // A route already gone (the tun went with it) withdraws without an error.
  k.routes.clear();
  a.update(AnnounceInputs{false, true, false, true, true});
  EXPECT_EQ(a.snapshot().routeErrorsRemove, 0u);
}

TEST(AnnouncerTest, GraceIsTheConfiguredOneWhenEnabled) {
  Kernel k;
  config::RelayAnnounce block = enabledBlock();
  block.withdrawGrace = std::chrono::milliseconds(2500);
  Announcer a(std::make_unique<RecordingSink>(k), block);
  EXPECT_EQ(a.withdrawGrace(), std::chrono::milliseconds(2500));
  EXPECT_TRUE(a.enabled());
}

const prometheus::MetricFamily* family(const std::vector<prometheus::MetricFamily>& fs,
                                       const std::string& name) {
  for (const auto& f : fs) {
    if (f.name == name) {
      return &f;
    }
  }
  return nullptr;
}

TEST(AnnouncerTest, MetricsCarryPrefixesAndReasonsOnly) {
  Kernel k;
  Announcer a(std::make_unique<RecordingSink>(k), enabledBlock());
  a.update(healthy());
  a.update(AnnounceInputs{false, false, true, true, false});  // drained
  const auto fs = announceFamilies(a.snapshot());

  const prometheus::MetricFamily* announced = family(fs, "teredo_relay_announced");
  ASSERT_NE(announced, nullptr);
  ASSERT_EQ(announced->metric.size(), 1u);
  EXPECT_EQ(announced->metric[0].label[0].value, "2001::/32");
  EXPECT_EQ(announced->metric[0].gauge.value, 0);

  const prometheus::MetricFamily* decision = family(fs, "teredo_relay_announce_decision");
  ASSERT_NE(decision, nullptr);
  EXPECT_EQ(decision->metric.size(), agent::kAnnounceReasonCount);
  double ones = 0;
  for (const auto& m : decision->metric) {
    ones += m.gauge.value;
    if (m.label[0].value == "draining") {
      EXPECT_EQ(m.gauge.value, 1);
    }
  }
  EXPECT_EQ(ones, 1);

  const prometheus::MetricFamily* transitions =
      family(fs, "teredo_relay_announce_transitions_total");
  ASSERT_NE(transitions, nullptr);
  double announces = 0;
  double drains = 0;
  for (const auto& m : transitions->metric) {
    ASSERT_EQ(m.label.size(), 2u);
    if (m.label[0].value == "announce") {
      EXPECT_EQ(m.label[1].value, "ready");
      announces += m.counter.value;
    } else if (m.label[1].value == "draining") {
      drains += m.counter.value;
    }
  }
  EXPECT_EQ(announces, 1);
  EXPECT_EQ(drains, 1);
  EXPECT_NE(family(fs, "teredo_relay_announce_route_errors_total"), nullptr);
}

}  // namespace
}  // namespace teredo::relay

// Unit tests for services/controller/metrics.h: what FleetCollectable exports from a Controller
// driven with a fake clock and fake sinks (no threads, no sockets). Every series a dashboard or
// alert needs exists from the start (zeros included), labels stay within the bounded set the
// header lists (never an agent id or an address), and the values follow the fleet: agents by
// role and state, config status, drain, worst config lag, pushes and fleet traffic.
#include "metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "controller.h"
#include "stats_report.h"
#include "teredo/build_info.h"
#include "teredo/drop_reason.h"

namespace teredo::controller {
namespace {

using std::chrono::milliseconds;
using teredo::v1::AgentConfig;
using Labels = std::map<std::string, std::string>;

class FakeSink : public AgentSink {
 public:
  void send(const teredo::v1::ControllerMessage& msg) override {
    if (msg.has_snapshot()) {
      snapshots.push_back(msg.snapshot());
    }
  }
  void close(const Status&) override {}
  std::vector<teredo::v1::ConfigSnapshot> snapshots;
};

AgentConfig relayConfig(uint32_t maxPeers) {
  AgentConfig c;
  c.mutable_relay()->mutable_relay()->set_max_peers(maxPeers);
  return c;
}

teredo::v1::Hello hello(const std::string& id, teredo::v1::Role role, const std::string& uid) {
  teredo::v1::Hello h;
  h.set_agent_id(id);
  h.set_instance_uid(uid);
  h.set_role(role);
  h.set_build_version("test");
  return h;
}

// One scrape, with lookups by family name and exact label set.
class Scrape {
 public:
  explicit Scrape(const Controller& c) : families_(FleetCollectable(c).Collect()) {}

  const std::vector<prometheus::MetricFamily>& families() const { return families_; }
  const prometheus::MetricFamily* family(const std::string& name) const {
    for (const auto& f : families_) {
      if (f.name == name) {
        return &f;
      }
    }
    return nullptr;
  }
  /// The value of the sample of `name` whose labels are exactly `labels`; nullopt when absent.
  std::optional<double> value(const std::string& name, const Labels& labels = {}) const {
    const prometheus::MetricFamily* f = family(name);
    if (f == nullptr) {
      return std::nullopt;
    }
    for (const auto& m : f->metric) {
      if (labelsOf(m) == labels) {
        return f->type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
      }
    }
    return std::nullopt;
  }
  /// The label sets of every sample of `name`.
  std::set<Labels> series(const std::string& name) const {
    std::set<Labels> out;
    if (const prometheus::MetricFamily* f = family(name)) {
      for (const auto& m : f->metric) {
        out.insert(labelsOf(m));
      }
    }
    return out;
  }
  static Labels labelsOf(const prometheus::ClientMetric& m) {
    Labels l;
    for (const auto& label : m.label) {
      l[label.name] = label.value;
    }
    return l;
  }

 private:
  std::vector<prometheus::MetricFamily> families_;
};

class FleetMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ControllerOptions opts;
    opts.debounce = milliseconds(100);
    opts.ackTimeout = milliseconds(30000);
    ctl_ = std::make_unique<Controller>(
        opts, nullptr, [](const AgentConfig&) { return std::vector<Violation>{}; },
        [this] { return now_; }, [this] { return "n" + std::to_string(++nonce_); });
    ASSERT_TRUE(ctl_->load().ok());
  }

  SessionId connect(const std::string& id, teredo::v1::Role role, FakeSink* sink) {
    StatusOr<SessionId> s = ctl_->hello(hello(id, role, "uid-" + id), sink);
    EXPECT_TRUE(s.ok()) << s.status().toString();
    return s.ok() ? *s : 0;
  }
  void advance(milliseconds d) {
    now_ += d;
    ctl_->tick();
  }
  void publishRelay(uint32_t maxPeers) {
    teredo::v1::SetConfigRequest req;
    req.set_role(teredo::v1::ROLE_RELAY);
    *req.mutable_config() = relayConfig(maxPeers);
    teredo::v1::SetConfigResponse resp;
    ASSERT_TRUE(ctl_->setConfig(req, &resp).ok());
    advance(milliseconds(100));  // past the debounce: pushed
  }
  void ackLast(SessionId s, const FakeSink& sink) {
    ASSERT_FALSE(sink.snapshots.empty());
    teredo::v1::Ack ack;
    ack.set_version(sink.snapshots.back().version());
    ack.set_nonce(sink.snapshots.back().nonce());
    ctl_->ack(s, ack);
  }
  void nackLast(SessionId s, const FakeSink& sink) {
    ASSERT_FALSE(sink.snapshots.empty());
    teredo::v1::Nack nack;
    nack.set_version(sink.snapshots.back().version());
    nack.set_nonce(sink.snapshots.back().nonce());
    nack.mutable_error_detail()->set_message("relay.mtu: must be >= 1280");
    ctl_->nack(s, nack);
  }
  double lagOf(const std::string& id) {
    teredo::v1::GetAgentRequest req;
    req.set_agent_id(id);
    teredo::v1::GetAgentResponse resp;
    EXPECT_TRUE(ctl_->getAgent(req, &resp).ok());
    return resp.agent().config_lag_seconds();
  }

  TimePoint now_ = TimePoint(std::chrono::seconds(1700000000));
  int nonce_ = 0;
  std::unique_ptr<Controller> ctl_;
};

const char* const kRoles[] = {"server", "relay"};
const char* const kSyncStates[] = {"synced", "pending", "nacked", "not_sent"};

TEST_F(FleetMetricsTest, EmptyControllerExportsEverySeriesAtZero) {
  const Scrape s(*ctl_);
  EXPECT_EQ(s.value("teredo_controller_config_version"), 0.0);
  for (const char* result : {"sent", "ack", "nack", "superseded", "timeout", "stale_reply"}) {
    EXPECT_EQ(s.value("teredo_controller_pushes_total", {{"result", result}}), 0.0) << result;
  }
  EXPECT_EQ(s.series("teredo_controller_pushes_total").size(), 6u);
  EXPECT_EQ(s.value("teredo_controller_nack_resends_suppressed_total"), 0.0);
  EXPECT_EQ(s.value("teredo_controller_agent_restarts_total"), 0.0);

  std::set<Labels> agents, config, perRole;
  for (const char* role : kRoles) {
    agents.insert(Labels{{"role", role}, {"state", "connected"}});
    agents.insert(Labels{{"role", role}, {"state", "disconnected"}});
    for (const char* state : kSyncStates) {
      config.insert(Labels{{"role", role}, {"state", state}});
    }
    perRole.insert(Labels{{"role", role}});
  }
  EXPECT_EQ(s.series("teredo_controller_agents"), agents);
  EXPECT_EQ(s.series("teredo_controller_agents_config"), config)
      << "unspecified is not a state an operator sees";
  EXPECT_EQ(s.series("teredo_controller_agents_draining"), perRole);
  EXPECT_EQ(s.series("teredo_controller_agent_config_lag_seconds"), perRole);
  for (const char* name :
       {"teredo_controller_agents", "teredo_controller_agents_config",
        "teredo_controller_agents_draining", "teredo_controller_agent_config_lag_seconds"}) {
    for (const auto& m : s.family(name)->metric) {
      EXPECT_EQ(m.gauge.value, 0.0) << name;
    }
  }
  // Fleet traffic per role, zeros included; never a series for the fleet-wide aggregate.
  EXPECT_EQ(s.series("teredo_fleet_relay_peers"), perRole);
  EXPECT_EQ(s.value("teredo_fleet_packets_total", {{"role", "relay"}, {"direction", "udp_in"}}),
            0.0);
}

TEST_F(FleetMetricsTest, BuildInfoIsOneWithVersionCommitAndRole) {
  const Scrape s(*ctl_);
  EXPECT_EQ(s.value("teredo_build_info", {{"version", teredo::build::kVersion},
                                          {"commit", teredo::build::kCommit},
                                          {"role", "controller"}}),
            1.0);
  EXPECT_EQ(s.series("teredo_build_info").size(), 1u);
}

// One family per name, each sample's label set distinct within its family (a scrape with
// duplicates is rejected), types consistent with the name, labels from the bounded set only.
TEST_F(FleetMetricsTest, FamiliesAreWellFormedAndLabelsBounded) {
  FakeSink r1, s1;
  const SessionId relay = connect("relay-agent-1", teredo::v1::ROLE_RELAY, &r1);
  connect("server-agent-1", teredo::v1::ROLE_SERVER, &s1);
  ctl_->stats(relay, report("uid-relay-agent-1", 10, 3, 1));
  const std::set<std::string> allowedLabels = {
      "role",  "state",  "result", "direction", "reason", "nat_type", "path",
      "cause", "socket", "cone",   "version",   "commit", "prefix"};
  std::set<std::string> names;
  const Scrape s(*ctl_);
  ASSERT_FALSE(s.families().empty());
  for (const auto& f : s.families()) {
    EXPECT_TRUE(names.insert(f.name).second) << "family twice: " << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
    const bool total = f.name.size() > 6 && f.name.substr(f.name.size() - 6) == "_total";
    EXPECT_EQ(f.type == prometheus::MetricType::Counter, total) << f.name;
    std::set<Labels> seen;
    for (const auto& m : f.metric) {
      const Labels labels = Scrape::labelsOf(m);
      EXPECT_TRUE(seen.insert(labels).second) << "duplicate series in " << f.name;
      for (const auto& [name, value] : labels) {
        EXPECT_TRUE(allowedLabels.count(name)) << f.name << " label " << name;
        EXPECT_EQ(value.find("agent-1"), std::string::npos) << f.name << " " << name;
        EXPECT_EQ(value.find("uid-"), std::string::npos) << f.name << " " << name;
        EXPECT_NE(value, "unspecified") << f.name << " " << name;
      }
    }
  }
}

TEST_F(FleetMetricsTest, AgentsCountedByRoleAndState) {
  FakeSink a, b, c;
  connect("r1", teredo::v1::ROLE_RELAY, &a);
  const SessionId r2 = connect("r2", teredo::v1::ROLE_RELAY, &b);
  connect("s1", teredo::v1::ROLE_SERVER, &c);
  ctl_->disconnect(r2);
  const Scrape s(*ctl_);
  EXPECT_EQ(s.value("teredo_controller_agents", {{"role", "relay"}, {"state", "connected"}}), 1.0);
  EXPECT_EQ(s.value("teredo_controller_agents", {{"role", "relay"}, {"state", "disconnected"}}),
            1.0);
  EXPECT_EQ(s.value("teredo_controller_agents", {{"role", "server"}, {"state", "connected"}}), 1.0);
  EXPECT_EQ(s.value("teredo_controller_agents", {{"role", "server"}, {"state", "disconnected"}}),
            0.0);
}

TEST_F(FleetMetricsTest, PushesAndConfigStatusFollowAcksAndNacks) {
  FakeSink a, b;
  const SessionId r1 = connect("r1", teredo::v1::ROLE_RELAY, &a);
  const SessionId r2 = connect("r2", teredo::v1::ROLE_RELAY, &b);
  {
    const Scrape s(*ctl_);
    EXPECT_EQ(s.value("teredo_controller_agents_config", {{"role", "relay"}, {"state", "synced"}}),
              2.0);
  }
  publishRelay(100);
  ASSERT_EQ(a.snapshots.size(), 1u);
  ASSERT_EQ(b.snapshots.size(), 1u);
  {
    const Scrape s(*ctl_);
    EXPECT_EQ(s.value("teredo_controller_config_version"), 1.0);
    EXPECT_EQ(s.value("teredo_controller_pushes_total", {{"result", "sent"}}), 2.0);
    EXPECT_EQ(s.value("teredo_controller_agents_config", {{"role", "relay"}, {"state", "pending"}}),
              2.0);
    EXPECT_EQ(s.value("teredo_controller_agents_config", {{"role", "relay"}, {"state", "synced"}}),
              0.0);
  }
  ackLast(r1, a);
  nackLast(r2, b);
  const Scrape s(*ctl_);
  EXPECT_EQ(s.value("teredo_controller_pushes_total", {{"result", "ack"}}), 1.0);
  EXPECT_EQ(s.value("teredo_controller_pushes_total", {{"result", "nack"}}), 1.0);
  EXPECT_EQ(s.value("teredo_controller_agents_config", {{"role", "relay"}, {"state", "synced"}}),
            1.0);
  EXPECT_EQ(s.value("teredo_controller_agents_config", {{"role", "relay"}, {"state", "nacked"}}),
            1.0);
  EXPECT_EQ(s.value("teredo_controller_agents_config", {{"role", "relay"}, {"state", "pending"}}),
            0.0);
  // The server role is untouched.
  EXPECT_EQ(s.value("teredo_controller_agents_config", {{"role", "server"}, {"state", "synced"}}),
            0.0);
}

TEST_F(FleetMetricsTest, ConfigLagIsTheWorstAgentOfTheRole) {
  FakeSink a, b;
  const SessionId r1 = connect("r1", teredo::v1::ROLE_RELAY, &a);
  connect("r2", teredo::v1::ROLE_RELAY, &b);
  publishRelay(100);
  advance(milliseconds(5000));  // both behind for a while; r1 then catches up, r2 does not
  ackLast(r1, a);
  const double r1Lag = lagOf("r1");
  const double r2Lag = lagOf("r2");
  EXPECT_EQ(r1Lag, 0.0);
  EXPECT_GT(r2Lag, 0.0);
  const Scrape s(*ctl_);
  EXPECT_EQ(s.value("teredo_controller_agent_config_lag_seconds", {{"role", "relay"}}),
            std::max(r1Lag, r2Lag));
  EXPECT_EQ(s.value("teredo_controller_agent_config_lag_seconds", {{"role", "server"}}), 0.0);
}

TEST_F(FleetMetricsTest, DrainingCountedPerRole) {
  FakeSink a, b, c;
  connect("r1", teredo::v1::ROLE_RELAY, &a);
  connect("r2", teredo::v1::ROLE_RELAY, &b);
  connect("s1", teredo::v1::ROLE_SERVER, &c);
  teredo::v1::DrainRequest req;
  req.set_agent_id("r2");
  teredo::v1::DrainResponse resp;
  ASSERT_TRUE(ctl_->drain(req, &resp).ok());
  const Scrape s(*ctl_);
  EXPECT_EQ(s.value("teredo_controller_agents_draining", {{"role", "relay"}}), 1.0);
  EXPECT_EQ(s.value("teredo_controller_agents_draining", {{"role", "server"}}), 0.0);
}

TEST_F(FleetMetricsTest, FleetTrafficFromStatsReportsByRole) {
  FakeSink a;
  const SessionId r1 = connect("r1", teredo::v1::ROLE_RELAY, &a);
  ctl_->stats(r1, report("uid-r1", 10, 3, 1));
  const Scrape s(*ctl_);
  EXPECT_EQ(s.value("teredo_fleet_packets_total", {{"role", "relay"}, {"direction", "udp_in"}}),
            10.0);
  EXPECT_EQ(s.value("teredo_fleet_packets_total", {{"role", "server"}, {"direction", "udp_in"}}),
            0.0);
  EXPECT_EQ(s.value("teredo_fleet_packets_dropped_total",
                    {{"role", "relay"}, {"reason", "spoofed_source"}}),
            3.0);
  EXPECT_EQ(
      s.value("teredo_fleet_nat_classifications_total", {{"role", "relay"}, {"nat_type", "cone"}}),
      1.0);
  EXPECT_EQ(s.value("teredo_fleet_relay_peers", {{"role", "relay"}}), 10.0);
  // Directions, paths and causes: every value present for both roles.
  std::set<std::string> directions;
  for (const Labels& l : s.series("teredo_fleet_packets_total")) {
    directions.insert(l.at("direction"));
  }
  EXPECT_EQ(directions, (std::set<std::string>{"udp_in", "udp_out", "ipv6_in", "ipv6_out"}));
  EXPECT_EQ(s.series("teredo_fleet_packets_total").size(), 8u);
  EXPECT_EQ(s.series("teredo_fleet_packets_dropped_total").size(), 2 * teredo::kDropReasonCount);
  EXPECT_EQ(s.series("teredo_fleet_router_solicitations_total").size(), 2u * 4u);
  EXPECT_EQ(s.series("teredo_fleet_router_advertisements_sent_total").size(), 2u * 2u);
  EXPECT_EQ(s.series("teredo_fleet_packets_forwarded_total").size(), 2u * 4u);
  EXPECT_EQ(s.series("teredo_fleet_peer_evictions_total").size(), 2u * 2u);
  EXPECT_EQ(s.series("teredo_fleet_nat_classifications_total").size(), 2u * 4u);
}

// A DropReason label is never empty: DropReason::None is not exported.
TEST_F(FleetMetricsTest, NoDropSeriesForNone) {
  const Scrape s(*ctl_);
  for (const Labels& l : s.series("teredo_fleet_packets_dropped_total")) {
    EXPECT_FALSE(l.at("reason").empty());
  }
}

TEST_F(FleetMetricsTest, RelaysAnnouncingEachPrefix) {
  FakeSink a, b;
  const SessionId r1 = connect("r1", teredo::v1::ROLE_RELAY, &a);
  const SessionId r2 = connect("r2", teredo::v1::ROLE_RELAY, &b);
  auto announcing = [](const std::string& uid, bool announced) {
    teredo::v1::StatsReport r;
    r.set_instance_uid(uid);
    r.mutable_announce()->set_enabled(true);
    r.mutable_announce()->set_reason(announced ? "ready" : "draining");
    auto* p = r.mutable_announce()->add_prefixes();
    p->set_prefix("2001::/32");
    p->set_announced(announced);
    return r;
  };
  ctl_->stats(r1, announcing("uid-r1", true));
  ctl_->stats(r2, announcing("uid-r2", true));
  EXPECT_EQ(Scrape(*ctl_).value("teredo_controller_prefix_announcers", {{"prefix", "2001::/32"}}),
            2.0);
  ctl_->stats(r2, announcing("uid-r2", false));  // drained
  ctl_->disconnect(r1);                          // crashed
  const Scrape s(*ctl_);
  // The series stays, at zero, so that "no relay announces the prefix" can alert.
  EXPECT_EQ(s.value("teredo_controller_prefix_announcers", {{"prefix", "2001::/32"}}), 0.0);
  EXPECT_EQ(s.value("teredo_controller_prefix_relays_configured", {{"prefix", "2001::/32"}}), 2.0);
}

}  // namespace
}  // namespace teredo::controller

// The read-only admin queries: agent status (sync states, lag, headline stats), listing
// filters, NOT_FOUND cases, configs by version / role / agent, and the version listing.
#include "admin_queries.h"

#include <gtest/gtest.h>

namespace teredo::controller {
namespace {

class NullSink : public AgentSink {
 public:
  void send(const teredo::v1::ControllerMessage&) override {}
  void close(const Status&) override {}
};

teredo::v1::FleetConfig fleet(uint32_t maxPeers, uint32_t serverMtu) {
  teredo::v1::FleetConfig f;
  f.mutable_relay_defaults()->mutable_relay()->mutable_relay()->set_max_peers(maxPeers);
  f.mutable_server_defaults()->mutable_server()->mutable_server()->set_mtu(serverMtu);
  return f;
}

class AdminQueriesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.publish(fleet(1, 1280), "v1", "", 0, now_, {}).ok());
    ASSERT_TRUE(store_.publish(fleet(2, 1280), "v2", "", 0, now_, {}).ok());
    ASSERT_TRUE(store_.publish(fleet(3, 1280), "v3", "", 0, now_, {}).ok());
  }

  Agent& connect(const std::string& id, teredo::v1::Role role) {
    teredo::v1::Hello h;
    h.set_agent_id(id);
    h.set_instance_uid("u-" + id);
    h.set_role(role);
    return **agents_.connect(h, &sink_, now_);
  }

  TimePoint now_ = TimePoint(std::chrono::seconds(1700000000));
  NullSink sink_;
  AgentRegistry agents_{100};
  ConfigStore store_{nullptr, 100};
  StatsAggregator stats_;
  AdminQueries queries_{agents_, store_, stats_};
};

TEST_F(AdminQueriesTest, SyncStates) {
  Agent& a = connect("r1", teredo::v1::ROLE_RELAY);
  struct Case {
    const char* name;
    bool connected;
    uint64_t desired;
    uint64_t applied;
    uint64_t nacked;  // version of the last NACK, 0 for none
    teredo::v1::SyncState want;
  } cases[] = {
      {"nothing to send", true, 0, 0, 0, teredo::v1::SYNC_STATE_SYNCED},
      {"applied", true, 3, 3, 0, teredo::v1::SYNC_STATE_SYNCED},
      {"pending", true, 3, 2, 0, teredo::v1::SYNC_STATE_PENDING},
      {"nacked", true, 3, 2, 3, teredo::v1::SYNC_STATE_NACKED},
      {"older nack", true, 3, 2, 2, teredo::v1::SYNC_STATE_PENDING},
      {"disconnected", false, 3, 2, 0, teredo::v1::SYNC_STATE_NOT_SENT},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    a.connected = c.connected;
    a.desiredVersion = c.desired;
    a.appliedVersion = c.applied;
    a.desiredSince = now_;
    a.lastNack.reset();
    if (c.nacked != 0) {
      a.lastNack.emplace().set_version(c.nacked);
    }
    const auto s = queries_.agentStatus(a, now_ + std::chrono::seconds(4));
    EXPECT_EQ(s.sync_state(), c.want);
    const bool synced = c.desired == 0 || c.applied == c.desired;
    EXPECT_EQ(s.config_lag_seconds(), synced ? 0.0 : 4.0);
    EXPECT_EQ(s.state(), c.connected ? teredo::v1::AGENT_STATE_CONNECTED
                                     : teredo::v1::AGENT_STATE_DISCONNECTED);
  }
}

TEST_F(AdminQueriesTest, AgentsListAndDetails) {
  connect("r1", teredo::v1::ROLE_RELAY);
  connect("s1", teredo::v1::ROLE_SERVER).connected = false;
  teredo::v1::StatsReport report;
  report.set_instance_uid("u-r1");
  (*report.mutable_counters()->mutable_drops())["spoofed_source"] = 4;
  report.mutable_gauges()->set_relay_peers(9);
  stats_.addReport("r1", teredo::v1::ROLE_RELAY, report);

  struct Case {
    teredo::v1::Role role;
    teredo::v1::AgentState state;
    std::vector<std::string> ids;
  } cases[] = {
      {teredo::v1::ROLE_UNSPECIFIED, teredo::v1::AGENT_STATE_UNSPECIFIED, {"r1", "s1"}},
      {teredo::v1::ROLE_RELAY, teredo::v1::AGENT_STATE_UNSPECIFIED, {"r1"}},
      {teredo::v1::ROLE_UNSPECIFIED, teredo::v1::AGENT_STATE_DISCONNECTED, {"s1"}},
      {teredo::v1::ROLE_SERVER, teredo::v1::AGENT_STATE_CONNECTED, {}},
  };
  for (const auto& c : cases) {
    teredo::v1::ListAgentsRequest req;
    req.set_role(c.role);
    req.set_state(c.state);
    teredo::v1::ListAgentsResponse resp;
    ASSERT_TRUE(queries_.listAgents(req, now_, &resp).ok());
    std::vector<std::string> ids;
    for (const auto& a : resp.agents()) {
      ids.push_back(a.agent_id());
    }
    EXPECT_EQ(ids, c.ids) << c.role << " " << c.state;
  }

  teredo::v1::GetAgentRequest req;
  req.set_agent_id("r1");
  teredo::v1::GetAgentResponse resp;
  ASSERT_TRUE(queries_.getAgent(req, now_, &resp).ok());
  EXPECT_EQ(resp.agent().headline().relay_peers(), 9u);
  EXPECT_EQ(resp.agent().headline().drops_total(), 4u);
  EXPECT_EQ(resp.agent().connected_since().seconds(), 1700000000);
  EXPECT_EQ(resp.desired_config().relay().relay().max_peers(), 3u) << "effective when not pushed";
  EXPECT_EQ(resp.last_report().instance_uid(), "u-r1");
  req.set_agent_id("nobody");
  const Status missing = queries_.getAgent(req, now_, &resp);
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), "agent nobody is unknown");
}

TEST_F(AdminQueriesTest, Configs) {
  connect("r1", teredo::v1::ROLE_RELAY);
  struct Case {
    const char* name;
    uint64_t version;
    teredo::v1::Role role;
    std::string agent;
    StatusCode code;
    uint64_t gotVersion;
    uint32_t effectiveMaxPeers;  // 0: no relay effective config
  } cases[] = {
      {"current", 0, teredo::v1::ROLE_UNSPECIFIED, "", StatusCode::kOk, 3, 0},
      {"current by number", 3, teredo::v1::ROLE_RELAY, "", StatusCode::kOk, 3, 3},
      {"historical", 1, teredo::v1::ROLE_RELAY, "", StatusCode::kOk, 1, 1},
      {"agent", 2, teredo::v1::ROLE_UNSPECIFIED, "r1", StatusCode::kOk, 2, 2},
      {"unknown version", 9, teredo::v1::ROLE_UNSPECIFIED, "", StatusCode::kNotFound, 0, 0},
      {"unknown agent", 0, teredo::v1::ROLE_UNSPECIFIED, "x", StatusCode::kNotFound, 3, 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    teredo::v1::GetConfigRequest req;
    req.set_version(c.version);
    req.set_role(c.role);
    req.set_agent_id(c.agent);
    teredo::v1::GetConfigResponse resp;
    const Status s = queries_.getConfig(req, &resp);
    EXPECT_EQ(s.code(), c.code) << s.toString();
    EXPECT_EQ(resp.version(), c.gotVersion);
    EXPECT_EQ(resp.effective().relay().relay().max_peers(), c.effectiveMaxPeers);
  }
}

TEST_F(AdminQueriesTest, VersionsNewestFirst) {
  struct Case {
    uint32_t limit;
    std::vector<uint64_t> versions;
  } cases[] = {{0, {3, 2, 1}}, {2, {3, 2}}, {5, {3, 2, 1}}};
  for (const auto& c : cases) {
    teredo::v1::ListConfigVersionsRequest req;
    req.set_limit(c.limit);
    teredo::v1::ListConfigVersionsResponse resp;
    ASSERT_TRUE(queries_.listConfigVersions(req, &resp).ok());
    std::vector<uint64_t> got;
    for (const auto& v : resp.versions()) {
      got.push_back(v.version());
    }
    EXPECT_EQ(got, c.versions) << "limit " << c.limit;
  }
}

teredo::v1::StatsReport announceReport(const std::string& uid, const std::string& reason,
                                       std::vector<std::pair<std::string, bool>> prefixes) {
  teredo::v1::StatsReport r;
  r.set_instance_uid(uid);
  r.mutable_announce()->set_enabled(true);
  r.mutable_announce()->set_reason(reason);
  for (const auto& [prefix, announced] : prefixes) {
    auto* p = r.mutable_announce()->add_prefixes();
    p->set_prefix(prefix);
    p->set_announced(announced);
  }
  return r;
}

TEST_F(AdminQueriesTest, FleetCountsTheRelaysAnnouncingEachPrefix) {
  connect("r1", teredo::v1::ROLE_RELAY);
  connect("r2", teredo::v1::ROLE_RELAY);
  connect("r3", teredo::v1::ROLE_RELAY).connected = false;  // crashed while announcing
  connect("r4", teredo::v1::ROLE_RELAY);                    // does not announce
  connect("s1", teredo::v1::ROLE_SERVER);
  stats_.addReport("r1", teredo::v1::ROLE_RELAY,
                   announceReport("u-r1", "ready", {{"2001::/32", true}}));
  stats_.addReport("r2", teredo::v1::ROLE_RELAY,
                   announceReport("u-r2", "draining", {{"2001::/32", false}}));
  stats_.addReport("r3", teredo::v1::ROLE_RELAY,
                   announceReport("u-r3", "ready", {{"2001::/32", true}, {"2001::/33", true}}));
  teredo::v1::StatsReport plain;
  plain.set_instance_uid("u-r4");
  plain.mutable_announce()->set_reason("disabled");
  stats_.addReport("r4", teredo::v1::ROLE_RELAY, plain);

  teredo::v1::GetFleetStatsResponse resp;
  ASSERT_TRUE(queries_.getFleetStats({}, now_, &resp).ok());
  ASSERT_EQ(resp.announcements_size(), 2);
  const auto& whole = resp.announcements(0);
  EXPECT_EQ(whole.prefix(), "2001::/32");
  EXPECT_EQ(whole.relays_configured(), 3u);
  EXPECT_EQ(whole.relays_announcing(), 1u);
  ASSERT_EQ(whole.announcing_agents_size(), 1);
  EXPECT_EQ(whole.announcing_agents(0), "r1");
  // Only the disconnected relay had the /33: configured, announced by nobody the controller
  // can vouch for.
  EXPECT_EQ(resp.announcements(1).prefix(), "2001::/33");
  EXPECT_EQ(resp.announcements(1).relays_configured(), 1u);
  EXPECT_EQ(resp.announcements(1).relays_announcing(), 0u);

  teredo::v1::GetAgentRequest req;
  req.set_agent_id("r3");
  teredo::v1::GetAgentResponse agent;
  ASSERT_TRUE(queries_.getAgent(req, now_, &agent).ok());
  EXPECT_EQ(agent.agent().announce().reason(), "disconnected");
  EXPECT_FALSE(agent.agent().announce().prefixes(0).announced());
}

}  // namespace
}  // namespace teredo::controller

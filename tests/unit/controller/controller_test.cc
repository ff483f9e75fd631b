// The Controller as its parts compose: Hello -> registry -> push, admin changes -> config store
// -> debounced pushes, ACK/NACK, drain, persistence across a restart, stats on the stream into
// fleet stats and /metrics. Deterministic: fake clock, counting nonces, no threads or sockets.
// Each part also has its own test file (agent_registry_test.cc, config_push_test.cc, ...).
#include "controller.h"
#include "metrics.h"
#include "teredo/drop_reason.h"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "stats_report.h"
#include "temp_dir.h"

namespace teredo::controller {
namespace {

using std::chrono::milliseconds;
using teredo::v1::AgentConfig;
using teredo::v1::ControllerMessage;

class FakeSink : public AgentSink {
 public:
  void send(const ControllerMessage& msg) override { messages.push_back(msg); }
  void close(const Status& status) override {
    closed = true;
    closeCode = status.code();
  }
  std::vector<teredo::v1::ConfigSnapshot> snapshots() const {
    std::vector<teredo::v1::ConfigSnapshot> out;
    for (const auto& m : messages) {
      if (m.has_snapshot()) {
        out.push_back(m.snapshot());
      }
    }
    return out;
  }
  std::vector<ControllerMessage> messages;
  bool closed = false;
  StatusCode closeCode = StatusCode::kOk;
};

// Rejects max_peers == 0 and relays without a bind address, like lib/config would.
std::vector<Violation> fakeValidator(const AgentConfig& c) {
  std::vector<Violation> out;
  if (c.has_relay()) {
    if (c.relay().relay().has_max_peers() && c.relay().relay().max_peers() == 0) {
      out.push_back(fieldViolation("relay.relay.max_peers", "must be > 0"));
    }
    if (!c.relay().relay().has_bind_address()) {
      out.push_back(fieldViolation("relay.relay.bind_address", "required"));
    }
  }
  return out;
}

AgentConfig relayConfig(uint32_t maxPeers, const std::string& bind = "198.51.100.1") {
  AgentConfig c;
  c.mutable_relay()->mutable_relay()->set_max_peers(maxPeers);
  if (!bind.empty()) {
    c.mutable_relay()->mutable_relay()->set_bind_address(bind);
  }
  return c;
}

AgentConfig serverConfig(uint32_t mtu) {
  AgentConfig c;
  c.mutable_server()->mutable_server()->set_mtu(mtu);
  return c;
}

teredo::v1::Hello hello(const std::string& id, teredo::v1::Role role, uint64_t applied = 0,
                        const std::string& uid = "uid-1") {
  teredo::v1::Hello h;
  h.set_agent_id(id);
  h.set_instance_uid(uid);
  h.set_role(role);
  h.set_build_version("test");
  h.set_applied_version(applied);
  return h;
}

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override { make(nullptr); }

  void make(std::unique_ptr<StateStore> store) {
    ControllerOptions opts;
    opts.debounce = milliseconds(100);
    opts.debounceCeiling = milliseconds(10000);
    opts.ackTimeout = milliseconds(30000);
    ctl_ = std::make_unique<Controller>(
        opts, std::move(store), fakeValidator, [this] { return now_; },
        [this] { return "n" + std::to_string(++nonce_); });
    const Status loaded = ctl_->load();
    ASSERT_TRUE(loaded.ok()) << loaded.toString();
  }

  std::unique_ptr<StateStore> openStore(const std::string& dir) {
    StatusOr<std::unique_ptr<StateStore>> store = openFileStateStore(dir);
    EXPECT_TRUE(store.ok()) << store.status().toString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // hello() with the session written to `*session` (0 on error).
  Status connect(const teredo::v1::Hello& h, AgentSink* sink, SessionId* session) {
    StatusOr<SessionId> s = ctl_->hello(h, sink);
    *session = s.ok() ? *s : 0;
    return s.status();
  }

  void advance(milliseconds d) {
    now_ += d;
    ctl_->tick();
  }

  Status setRole(teredo::v1::Role role, const AgentConfig& c, bool dryRun = false) {
    teredo::v1::SetConfigRequest req;
    req.set_role(role);
    *req.mutable_config() = c;
    req.set_dry_run(dryRun);
    teredo::v1::SetConfigResponse resp;
    auto s = ctl_->setConfig(req, &resp);
    lastSet_ = resp;
    return s;
  }

  Status setAgent(const std::string& id, const AgentConfig& c) {
    teredo::v1::SetConfigRequest req;
    req.set_agent_id(id);
    *req.mutable_config() = c;
    teredo::v1::SetConfigResponse resp;
    auto s = ctl_->setConfig(req, &resp);
    lastSet_ = resp;
    return s;
  }

  teredo::v1::AgentStatus status(const std::string& id) {
    teredo::v1::GetAgentRequest req;
    req.set_agent_id(id);
    teredo::v1::GetAgentResponse resp;
    EXPECT_TRUE(ctl_->getAgent(req, &resp).ok());
    return resp.agent();
  }

  void ackLast(SessionId s, const FakeSink& sink) {
    teredo::v1::Ack ack;
    ack.set_version(sink.snapshots().back().version());
    ack.set_nonce(sink.snapshots().back().nonce());
    ctl_->ack(s, ack);
  }

  void nackLast(SessionId s, const FakeSink& sink, uint64_t applied) {
    teredo::v1::Nack nack;
    nack.set_version(sink.snapshots().back().version());
    nack.set_nonce(sink.snapshots().back().nonce());
    nack.set_applied_version(applied);
    nack.mutable_error_detail()->set_message("relay.mtu: must be 1280");
    ctl_->nack(s, nack);
  }

  TimePoint now_ = TimePoint(std::chrono::seconds(1700000000));
  int nonce_ = 0;
  std::unique_ptr<Controller> ctl_;
  teredo::v1::SetConfigResponse lastSet_;
};

TEST_F(ControllerTest, HelloGetsSettingsAndDrainButNoSnapshotWithoutConfig) {
  FakeSink sink;
  SessionId s = 0;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &sink, &s).ok());
  ASSERT_EQ(sink.messages.size(), 2u);
  EXPECT_TRUE(sink.messages[0].has_settings());
  EXPECT_TRUE(sink.messages[1].has_drain());
  EXPECT_FALSE(sink.messages[1].drain().draining());
  EXPECT_EQ(status("r1").sync_state(), teredo::v1::SYNC_STATE_SYNCED);
}

TEST_F(ControllerTest, InvalidHelloRefused) {
  FakeSink sink;
  SessionId s = 0;
  auto st = connect(hello("", teredo::v1::ROLE_UNSPECIFIED), &sink, &s);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  ASSERT_EQ(st.violations().size(), 2u);
  EXPECT_EQ(st.violations()[0].key, "agent_id");
  EXPECT_EQ(st.violations()[1].key, "role");
  EXPECT_EQ(st.message(), "invalid Hello");
  EXPECT_TRUE(sink.messages.empty());
}

TEST_F(ControllerTest, ChangeIsDebouncedThenPushedAndAcked) {
  FakeSink sink;
  SessionId s = 0;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &sink, &s).ok());
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(100)).ok());
  EXPECT_EQ(lastSet_.version(), 1u);
  advance(milliseconds(50));
  EXPECT_TRUE(sink.snapshots().empty());
  EXPECT_EQ(status("r1").sync_state(), teredo::v1::SYNC_STATE_SYNCED);  // not published yet
  advance(milliseconds(50));
  ASSERT_EQ(sink.snapshots().size(), 1u);
  EXPECT_EQ(sink.snapshots()[0].version(), 1u);
  EXPECT_EQ(sink.snapshots()[0].config().relay().relay().max_peers(), 100u);
  EXPECT_EQ(status("r1").sync_state(), teredo::v1::SYNC_STATE_PENDING);
  ackLast(s, sink);
  EXPECT_EQ(status("r1").applied_version(), 1u);
  EXPECT_EQ(status("r1").sync_state(), teredo::v1::SYNC_STATE_SYNCED);
  EXPECT_EQ(ctl_->snapshot().pushes.acked, 1u);
}

TEST_F(ControllerTest, DebounceCeilingBoundsContinuousChanges) {
  FakeSink sink;
  SessionId s = 0;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &sink, &s).ok());
  int ms = 0;
  for (uint32_t i = 1; sink.snapshots().empty() && i < 1000; ++i) {
    ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(i)).ok());
    advance(milliseconds(50));
    ms += 50;
  }
  ASSERT_EQ(sink.snapshots().size(), 1u);
  EXPECT_EQ(ms, 10000);
}

TEST_F(ControllerTest, StaleAckByNonceIgnored) {
  FakeSink sink;
  SessionId s = 0;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &sink, &s).ok());
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(100)).ok());
  advance(milliseconds(100));
  teredo::v1::Ack ack;
  ack.set_version(1);
  ack.set_nonce("wrong");
  ctl_->ack(s, ack);
  EXPECT_EQ(status("r1").applied_version(), 0u);
  EXPECT_EQ(ctl_->snapshot().pushes.staleReplies, 1u);
}

TEST_F(ControllerTest, NackedVersionIsNeverResent) {
  FakeSink sink;
  SessionId s = 0;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &sink, &s).ok());
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(100)).ok());
  advance(milliseconds(100));
  nackLast(s, sink, 0);
  auto st = status("r1");
  EXPECT_EQ(st.sync_state(), teredo::v1::SYNC_STATE_NACKED);
  EXPECT_EQ(st.last_nack().version(), 1u);
  EXPECT_EQ(st.last_nack().error_detail().message(), "relay.mtu: must be 1280");
  EXPECT_EQ(st.last_nack().time().seconds(), 1700000000);
  // Neither time, nor an unrelated change, nor a reconnect resends version 1.
  advance(milliseconds(60000));
  ASSERT_TRUE(setRole(teredo::v1::ROLE_SERVER, serverConfig(1280)).ok());
  advance(milliseconds(100));
  ctl_->disconnect(s);
  FakeSink sink2;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &sink2, &s).ok());
  EXPECT_EQ(sink.snapshots().size(), 1u);
  EXPECT_TRUE(sink2.snapshots().empty());
  EXPECT_GT(ctl_->snapshot().pushes.nackResendsSuppressed, 0u);
  // New content does go out, under a new version.
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(200)).ok());
  advance(milliseconds(100));
  ASSERT_EQ(sink2.snapshots().size(), 1u);
  EXPECT_EQ(sink2.snapshots()[0].version(), 3u);
}

TEST_F(ControllerTest, NewerSnapshotReplacesPendingOneAndWaitsForAck) {
  FakeSink sink;
  SessionId s = 0;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &sink, &s).ok());
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(1)).ok());
  advance(milliseconds(100));
  ASSERT_EQ(sink.snapshots().size(), 1u);
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(2)).ok());
  advance(milliseconds(100));
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(3)).ok());
  advance(milliseconds(100));
  EXPECT_EQ(sink.snapshots().size(), 1u);  // one un-ACKed push at most
  EXPECT_EQ(ctl_->snapshot().pushes.superseded, 2u);
  ackLast(s, sink);
  ASSERT_EQ(sink.snapshots().size(), 2u);
  EXPECT_EQ(sink.snapshots()[1].version(), 3u);  // version 2 was never sent
  EXPECT_EQ(sink.snapshots()[1].config().relay().relay().max_peers(), 3u);
}

TEST_F(ControllerTest, AckTimeoutAllowsTheNextPush) {
  FakeSink sink;
  SessionId s = 0;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &sink, &s).ok());
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(1)).ok());
  advance(milliseconds(100));
  advance(milliseconds(29999));
  EXPECT_EQ(sink.snapshots().size(), 1u);
  advance(milliseconds(1));
  ASSERT_EQ(sink.snapshots().size(), 2u);
  EXPECT_NE(sink.snapshots()[0].nonce(), sink.snapshots()[1].nonce());
  EXPECT_EQ(ctl_->snapshot().pushes.timedOut, 1u);
}

TEST_F(ControllerTest, RelayChangeDoesNotPushServers) {
  FakeSink relay, server;
  SessionId rs = 0, ss = 0;
  ASSERT_TRUE(connect(hello("s1", teredo::v1::ROLE_SERVER), &server, &ss).ok());
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &relay, &rs).ok());
  ASSERT_TRUE(setRole(teredo::v1::ROLE_SERVER, serverConfig(1280)).ok());
  advance(milliseconds(100));
  ackLast(ss, server);
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(10)).ok());
  ASSERT_EQ(lastSet_.affected_agents_size(), 1);
  EXPECT_EQ(lastSet_.affected_agents(0), "r1");
  advance(milliseconds(100));
  EXPECT_EQ(server.snapshots().size(), 1u);
  EXPECT_EQ(relay.snapshots().size(), 1u);
  EXPECT_EQ(status("s1").desired_version(), 1u);
  EXPECT_EQ(status("s1").sync_state(), teredo::v1::SYNC_STATE_SYNCED);
}

TEST_F(ControllerTest, OverrideMergesOverRoleDefaults) {
  FakeSink sink;
  SessionId s = 0;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &sink, &s).ok());
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(100)).ok());
  AgentConfig override;
  override.mutable_relay()->mutable_relay()->set_mtu(1400);
  ASSERT_TRUE(setAgent("r1", override).ok());
  advance(milliseconds(100));
  ASSERT_EQ(sink.snapshots().size(), 1u);
  const auto snaps = sink.snapshots();
  const auto& c = snaps[0].config().relay().relay();
  EXPECT_EQ(c.max_peers(), 100u);
  EXPECT_EQ(c.mtu(), 1400u);
  EXPECT_EQ(c.bind_address(), "198.51.100.1");
  EXPECT_EQ(sink.snapshots()[0].version(), 2u);
}

TEST_F(ControllerTest, SetConfigValidationErrors) {
  struct Case {
    const char* name;
    teredo::v1::SetConfigRequest req;
    StatusCode code;
    std::string field;
  };
  std::vector<Case> cases;
  {
    Case c{"invalid value", {}, StatusCode::kInvalidArgument, "config.relay.relay.max_peers"};
    c.req.set_role(teredo::v1::ROLE_RELAY);
    *c.req.mutable_config() = relayConfig(0);
    cases.push_back(c);
  }
  {
    Case c{"role mismatch", {}, StatusCode::kInvalidArgument, "config"};
    c.req.set_role(teredo::v1::ROLE_SERVER);
    *c.req.mutable_config() = relayConfig(5);
    cases.push_back(c);
  }
  {
    Case c{"no target", {}, StatusCode::kInvalidArgument, "target"};
    *c.req.mutable_config() = relayConfig(5);
    cases.push_back(c);
  }
  {
    Case c{"unspecified role", {}, StatusCode::kInvalidArgument, "role"};
    c.req.set_role(teredo::v1::ROLE_UNSPECIFIED);
    cases.push_back(c);
  }
  {
    Case c{"remove missing override", {}, StatusCode::kNotFound, ""};
    c.req.set_agent_id("ghost");
    c.req.set_remove_override(true);
    cases.push_back(c);
  }
  {
    Case c{"stale expected_version", {}, StatusCode::kFailedPrecondition, ""};
    c.req.set_role(teredo::v1::ROLE_RELAY);
    *c.req.mutable_config() = relayConfig(5);
    c.req.set_expected_version(7);
    cases.push_back(c);
  }
  {
    Case c{"override makes it invalid",
           {},
           StatusCode::kInvalidArgument,
           "config.relay.relay.bind_address"};
    c.req.set_agent_id("r9");
    *c.req.mutable_config() = relayConfig(5, "");
    cases.push_back(c);
  }
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    teredo::v1::SetConfigResponse resp;
    auto st = ctl_->setConfig(c.req, &resp);
    EXPECT_EQ(st.code(), c.code) << st.message();
    if (!c.field.empty()) {
      const auto& v = st.violations();
      ASSERT_EQ(v.size(), 1u);
      EXPECT_EQ(v[0].key, c.field);
    }
  }
  EXPECT_EQ(ctl_->currentVersion(), 0u);
}

TEST_F(ControllerTest, DryRunPublishesNothing) {
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(5), /*dryRun=*/true).ok());
  EXPECT_TRUE(lastSet_.changed());
  EXPECT_TRUE(lastSet_.dry_run());
  EXPECT_EQ(ctl_->currentVersion(), 0u);
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(5)).ok());
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(5)).ok());  // identical: no version
  EXPECT_FALSE(lastSet_.changed());
  EXPECT_EQ(ctl_->currentVersion(), 1u);
}

TEST_F(ControllerTest, RollbackRepublishesOldContentUnderNewVersion) {
  FakeSink sink;
  SessionId s = 0;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &sink, &s).ok());
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(10)).ok());
  advance(milliseconds(100));
  ackLast(s, sink);
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(20)).ok());
  advance(milliseconds(100));
  ackLast(s, sink);
  teredo::v1::RollbackRequest req;
  req.set_to_version(1);
  teredo::v1::RollbackResponse resp;
  ASSERT_TRUE(ctl_->rollback(req, &resp).ok());
  EXPECT_EQ(resp.version(), 3u);
  advance(milliseconds(100));
  ASSERT_EQ(sink.snapshots().size(), 3u);
  EXPECT_EQ(sink.snapshots()[2].version(), 3u);
  EXPECT_EQ(sink.snapshots()[2].config().relay().relay().max_peers(), 10u);
  teredo::v1::ListConfigVersionsResponse versions;
  ASSERT_TRUE(ctl_->listConfigVersions({}, &versions).ok());
  ASSERT_EQ(versions.versions_size(), 3);
  EXPECT_EQ(versions.versions(0).version(), 3u);
  EXPECT_EQ(versions.versions(0).rollback_of(), 1u);
  req.set_to_version(42);
  EXPECT_EQ(ctl_->rollback(req, &resp).code(), StatusCode::kNotFound);
}

TEST_F(ControllerTest, NewStreamReplacesOldOne) {
  FakeSink a, b;
  SessionId sa = 0, sb = 0;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &a, &sa).ok());
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY, 0, "uid-2"), &b, &sb).ok());
  EXPECT_TRUE(a.closed);
  EXPECT_EQ(a.closeCode, StatusCode::kAborted);
  ctl_->disconnect(sa);  // the old stream's late disconnect must not affect the new one
  EXPECT_EQ(status("r1").state(), teredo::v1::AGENT_STATE_CONNECTED);
  EXPECT_EQ(status("r1").instance_uid(), "uid-2");
}

TEST_F(ControllerTest, DrainSendsStateToAgent) {
  FakeSink sink;
  SessionId s = 0;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &sink, &s).ok());
  teredo::v1::DrainRequest req;
  req.set_role(teredo::v1::ROLE_RELAY);
  teredo::v1::DrainResponse resp;
  ASSERT_TRUE(ctl_->drain(req, &resp).ok());
  ASSERT_EQ(resp.agent_ids_size(), 1);
  ASSERT_TRUE(sink.messages.back().has_drain());
  EXPECT_TRUE(sink.messages.back().drain().draining());
  EXPECT_TRUE(status("r1").draining());
  teredo::v1::UndrainRequest un;
  un.set_agent_id("nobody");
  teredo::v1::UndrainResponse unResp;
  EXPECT_EQ(ctl_->undrain(un, &unResp).code(), StatusCode::kNotFound);
  un.set_agent_id("r1");
  ASSERT_TRUE(ctl_->undrain(un, &unResp).ok());
  EXPECT_FALSE(sink.messages.back().drain().draining());
}

TEST_F(ControllerTest, ForgetAgentRefusedWhileConnectedThenDecommissions) {
  TempDir dir;
  make(openStore(dir.path()));
  FakeSink sink;
  SessionId s = 0;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &sink, &s).ok());
  ASSERT_TRUE(setAgent("r1", relayConfig(7)).ok());
  teredo::v1::DrainRequest drain;
  drain.set_agent_id("r1");
  teredo::v1::DrainResponse drainResp;
  ASSERT_TRUE(ctl_->drain(drain, &drainResp).ok());
  const uint64_t before = ctl_->currentVersion();

  struct Case {
    const char* name;
    std::string id;
    StatusCode code;
  } refused[] = {{"no id", "", StatusCode::kInvalidArgument},
                 {"unknown", "nobody", StatusCode::kNotFound},
                 {"connected", "r1", StatusCode::kFailedPrecondition}};
  for (const auto& c : refused) {
    SCOPED_TRACE(c.name);
    teredo::v1::ForgetAgentRequest req;
    req.set_agent_id(c.id);
    teredo::v1::ForgetAgentResponse resp;
    EXPECT_EQ(ctl_->forgetAgent(req, &resp, "token:alice").code(), c.code);
    EXPECT_EQ(ctl_->currentVersion(), before) << "a refused forget publishes nothing";
  }

  ctl_->disconnect(s);
  teredo::v1::ForgetAgentRequest req;
  req.set_agent_id("r1");
  req.set_comment("rack 4 retired");
  teredo::v1::ForgetAgentResponse resp;
  ASSERT_TRUE(ctl_->forgetAgent(req, &resp, "token:alice").ok());
  EXPECT_EQ(resp.version(), before + 1);
  EXPECT_TRUE(resp.override_removed());
  teredo::v1::GetAgentRequest get;
  get.set_agent_id("r1");
  teredo::v1::GetAgentResponse got;
  EXPECT_EQ(ctl_->getAgent(get, &got).code(), StatusCode::kNotFound);
  teredo::v1::ListAgentsResponse list;
  ASSERT_TRUE(ctl_->listAgents({}, &list).ok());
  EXPECT_EQ(list.agents_size(), 0);
  EXPECT_TRUE(ctl_->snapshot().agents.empty()) << "its per-agent series leave /metrics";
  teredo::v1::ListConfigVersionsResponse versions;
  ASSERT_TRUE(ctl_->listConfigVersions({}, &versions).ok());
  ASSERT_GE(versions.versions_size(), 1);
  EXPECT_EQ(versions.versions(0).description(), "forget agent r1");
  EXPECT_EQ(versions.versions(0).comment(), "rack 4 retired");
  EXPECT_EQ(versions.versions(0).author(), "token:alice");
  teredo::v1::GetConfigResponse cfg;
  ASSERT_TRUE(ctl_->getConfig({}, &cfg).ok());
  EXPECT_FALSE(cfg.config().agent_overrides().contains("r1"));

  // After a restart the drained record does not come back; a second forget finds nothing.
  make(openStore(dir.path()));
  ASSERT_TRUE(ctl_->listAgents({}, &list).ok());
  EXPECT_EQ(list.agents_size(), 0);
  EXPECT_EQ(ctl_->forgetAgent(req, &resp).code(), StatusCode::kNotFound);
  // The same id may come back later as a new agent.
  FakeSink again;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &again, &s).ok());
  EXPECT_FALSE(status("r1").draining());
}

TEST_F(ControllerTest, HistoryRecordsTheAuthor) {
  teredo::v1::SetConfigRequest set;
  set.set_role(teredo::v1::ROLE_RELAY);
  *set.mutable_config() = relayConfig(10);
  teredo::v1::SetConfigResponse setResp;
  ASSERT_TRUE(ctl_->setConfig(set, &setResp, "cert:oncall").ok());
  teredo::v1::RollbackRequest rb;
  rb.set_to_version(setResp.version());
  teredo::v1::RollbackResponse rbResp;
  ASSERT_TRUE(ctl_->rollback(rb, &rbResp, "token:bob").ok());
  teredo::v1::ListConfigVersionsResponse versions;
  ASSERT_TRUE(ctl_->listConfigVersions({}, &versions).ok());
  ASSERT_EQ(versions.versions_size(), 2);
  EXPECT_EQ(versions.versions(0).author(), "token:bob");
  EXPECT_EQ(versions.versions(1).author(), "cert:oncall");
}

// ----- Persistence ----------------------------------------------------------------------------

TEST_F(ControllerTest, StateSurvivesRestart) {
  TempDir dir;
  make(openStore(dir.path()));
  FakeSink sink;
  SessionId s = 0;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &sink, &s).ok());
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(10)).ok());
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(20)).ok());
  advance(milliseconds(100));
  nackLast(s, sink, 0);
  teredo::v1::DrainRequest drain;
  drain.set_agent_id("r1");
  teredo::v1::DrainResponse drainResp;
  ASSERT_TRUE(ctl_->drain(drain, &drainResp).ok());

  // "Restart": a new controller on the same directory.
  make(openStore(dir.path()));
  EXPECT_EQ(ctl_->currentVersion(), 2u);
  teredo::v1::GetConfigResponse cfg;
  ASSERT_TRUE(ctl_->getConfig({}, &cfg).ok());
  EXPECT_EQ(cfg.config().relay_defaults().relay().relay().max_peers(), 20u);
  teredo::v1::ListConfigVersionsResponse versions;
  ASSERT_TRUE(ctl_->listConfigVersions({}, &versions).ok());
  EXPECT_EQ(versions.versions_size(), 2);
  // The remembered NACK still blocks a resend of version 2, and drain is still on.
  FakeSink sink2;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &sink2, &s).ok());
  EXPECT_TRUE(sink2.snapshots().empty());
  EXPECT_TRUE(sink2.messages[1].drain().draining());
  EXPECT_EQ(status("r1").sync_state(), teredo::v1::SYNC_STATE_NACKED);
  // Versions keep counting from the persisted counter.
  ASSERT_TRUE(setRole(teredo::v1::ROLE_RELAY, relayConfig(30)).ok());
  EXPECT_EQ(lastSet_.version(), 3u);
}

// ----- Aggregation ----------------------------------------------------------------------------

TEST_F(ControllerTest, StatsOnStreamReachFleetStats) {
  FakeSink sink;
  SessionId s = 0;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &sink, &s).ok());
  ctl_->stats(s, report("uid-1", 10, 1, 1));
  auto bad = report("uid-1", 999, 1, 2);
  bad.set_agent_id("someone-else");
  ctl_->stats(s, bad);
  teredo::v1::GetFleetStatsResponse resp;
  ASSERT_TRUE(ctl_->getFleetStats({}, &resp).ok());
  ASSERT_EQ(resp.roles_size(), 2);
  EXPECT_EQ(resp.roles(1).counters().traffic().udp_received().packets(), 10u);
  EXPECT_EQ(resp.fleet().counters().traffic().udp_received().packets(), 10u);
  teredo::v1::GetNatStatsResponse nat;
  ASSERT_TRUE(ctl_->getNatStats({}, &nat).ok());
  EXPECT_EQ(nat.nat().cone(), 1u);
  EXPECT_EQ(nat.distinct_clients_sketch().registers().size(), 4096u);
}

TEST_F(ControllerTest, FleetDropsExportEveryReasonAndOnlyKnownOnes) {
  FakeSink sink;
  SessionId s = 0;
  ASSERT_TRUE(connect(hello("r1", teredo::v1::ROLE_RELAY), &sink, &s).ok());
  ctl_->stats(s, report("uid-1", 10, 3, 1));  // spoofed_source 3, made_up_reason 1000
  std::map<std::string, std::map<std::string, double>> drops;  // role -> reason -> value
  for (const auto& family : FleetCollectable(*ctl_).Collect()) {
    if (family.name != "teredo_fleet_packets_dropped_total") {
      continue;
    }
    for (const auto& m : family.metric) {
      std::string role, reason;
      for (const auto& l : m.label) {
        (l.name == "role" ? role : reason) = l.value;
      }
      drops[role][reason] = m.counter.value;
    }
  }
  for (const char* role : {"server", "relay"}) {
    // Zeros included, so the first drop of a reason is not lost to rate().
    EXPECT_EQ(drops[role].size(), teredo::kDropReasonCount) << role;
    EXPECT_EQ(drops[role].count("made_up_reason"), 0u) << "agents cannot add label values";
  }
  EXPECT_EQ(drops["relay"]["spoofed_source"], 3.0);
  EXPECT_EQ(drops["relay"]["rate_limited"], 0.0);
  EXPECT_EQ(drops["server"]["spoofed_source"], 0.0);
}

}  // namespace
}  // namespace teredo::controller

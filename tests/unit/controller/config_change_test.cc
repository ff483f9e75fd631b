// SetConfig and Rollback planning: request checks with field violations, validation of every
// agent a change reaches (keys prefixed per target), the affected agents, descriptions, and
// that planning never changes the store.
#include "config_change.h"

#include <gtest/gtest.h>

namespace teredo::controller {
namespace {

using teredo::v1::AgentConfig;

// Relays need max_peers > 0.
std::vector<Violation> validator(const AgentConfig& c) {
  std::vector<Violation> out;
  if (c.has_relay() && c.relay().relay().max_peers() == 0) {
    out.push_back(fieldViolation("relay.relay.max_peers", "must be > 0"));
  }
  return out;
}

AgentConfig relay(uint32_t maxPeers) {
  AgentConfig c;
  c.mutable_relay()->mutable_relay()->set_max_peers(maxPeers);
  return c;
}

class NullSink : public AgentSink {
 public:
  void send(const teredo::v1::ControllerMessage&) override {}
  void close(const Status&) override {}
};

class ConfigChangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {"r1", "r2"}) {
      teredo::v1::Hello h;
      h.set_agent_id(id);
      h.set_instance_uid("u");
      h.set_role(teredo::v1::ROLE_RELAY);
      ASSERT_TRUE(agents_.connect(h, &sink_, TimePoint()).ok());
    }
    teredo::v1::FleetConfig f;
    *f.mutable_relay_defaults() = relay(10);
    ASSERT_TRUE(store_.publish(f, "set role relay", "", 0, TimePoint(), {}).ok());
  }

  NullSink sink_;
  AgentRegistry agents_{100};
  ConfigStore store_{nullptr, 100};
};

TEST_F(ConfigChangeTest, RequestErrors) {
  struct Case {
    const char* name;
    teredo::v1::SetConfigRequest req;
    StatusCode code;
    std::string key;
    std::string message;
  };
  std::vector<Case> cases;
  auto add = [&](const char* name, StatusCode code, std::string key, std::string message,
                 auto fill) {
    Case c{name, {}, code, std::move(key), std::move(message)};
    fill(c.req);
    cases.push_back(std::move(c));
  };
  add("no target", StatusCode::kInvalidArgument, "target", "set role or agent_id",
      [](auto& r) { *r.mutable_config() = relay(1); });
  add("bad role", StatusCode::kInvalidArgument, "role", "must be ROLE_SERVER or ROLE_RELAY",
      [](auto& r) { r.set_role(teredo::v1::ROLE_UNSPECIFIED); });
  add("remove_override with role", StatusCode::kInvalidArgument, "remove_override",
      "only valid with agent_id", [](auto& r) {
        r.set_role(teredo::v1::ROLE_RELAY);
        r.set_remove_override(true);
      });
  add("role mismatch", StatusCode::kInvalidArgument, "config", "must set `server` for server",
      [](auto& r) {
        r.set_role(teredo::v1::ROLE_SERVER);
        *r.mutable_config() = relay(1);
      });
  add("agent id too long", StatusCode::kInvalidArgument, "agent_id", "must be 1-253 characters",
      [](auto& r) {
        r.set_agent_id(std::string(254, 'a'));
        *r.mutable_config() = relay(1);
      });
  add("config with remove_override", StatusCode::kInvalidArgument, "config",
      "must be unset with remove_override", [](auto& r) {
        r.set_agent_id("r1");
        r.set_remove_override(true);
        *r.mutable_config() = relay(1);
      });
  add("override without role", StatusCode::kInvalidArgument, "config",
      "must set `server` or `relay`", [](auto& r) {
        r.set_agent_id("r1");
        r.mutable_config();
      });
  add("override of the other role", StatusCode::kInvalidArgument, "config", "agent r1 is a relay",
      [](auto& r) {
        r.set_agent_id("r1");
        r.mutable_config()->mutable_server();
      });
  add("remove a missing override", StatusCode::kNotFound, "", "agent r1 has no override",
      [](auto& r) {
        r.set_agent_id("r1");
        r.set_remove_override(true);
      });
  add("stale expected_version", StatusCode::kFailedPrecondition, "", "current version is 1, not 7",
      [](auto& r) {
        r.set_role(teredo::v1::ROLE_RELAY);
        *r.mutable_config() = relay(1);
        r.set_expected_version(7);
      });
  add("invalid for one agent", StatusCode::kInvalidArgument, "config.relay.relay.max_peers",
      "must be > 0", [](auto& r) {
        r.set_agent_id("r2");
        *r.mutable_config() = relay(0);
      });
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    StatusOr<ConfigChange> change = planSetConfig(c.req, store_, agents_, validator);
    ASSERT_FALSE(change.ok());
    EXPECT_EQ(change.status().code(), c.code) << change.status().toString();
    if (c.key.empty()) {
      EXPECT_TRUE(change.status().violations().empty());
      EXPECT_EQ(change.status().message(), c.message);
    } else {
      ASSERT_EQ(change.status().violations().size(), 1u);
      EXPECT_EQ(change.status().violations()[0].key, c.key);
      EXPECT_EQ(change.status().violations()[0].message, c.message);
    }
  }
  EXPECT_EQ(store_.version(), 1u);
}

TEST_F(ConfigChangeTest, RoleChangeIsCheckedForEveryAgentOfTheRole) {
  teredo::v1::SetConfigRequest req;
  req.set_role(teredo::v1::ROLE_RELAY);
  *req.mutable_config() = relay(0);
  StatusOr<ConfigChange> change = planSetConfig(req, store_, agents_, validator);
  ASSERT_FALSE(change.ok());
  EXPECT_EQ(change.status().message(), "config rejected");
  ASSERT_EQ(change.status().violations().size(), 2u);
  EXPECT_EQ(change.status().violations()[0].key, "agent[r1].relay.relay.max_peers");
  EXPECT_EQ(change.status().violations()[1].key, "agent[r2].relay.relay.max_peers");
}

TEST_F(ConfigChangeTest, PlansAndDescriptions) {
  struct Case {
    const char* name;
    teredo::v1::SetConfigRequest req;
    bool changed;
    std::vector<std::string> affected;
    std::string description;
  };
  teredo::v1::SetConfigRequest same, role, agent;
  same.set_role(teredo::v1::ROLE_RELAY);
  *same.mutable_config() = relay(10);
  role.set_role(teredo::v1::ROLE_RELAY);
  *role.mutable_config() = relay(20);
  agent.set_agent_id("r2");
  *agent.mutable_config() = relay(30);
  const Case cases[] = {
      {"unchanged", same, false, {}, "set role relay"},
      {"role defaults", role, true, {"r1", "r2"}, "set role relay"},
      {"one override", agent, true, {"r2"}, "set agent r2"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    StatusOr<ConfigChange> change = planSetConfig(c.req, store_, agents_, validator);
    ASSERT_TRUE(change.ok()) << change.status().toString();
    EXPECT_EQ(change->changed, c.changed);
    EXPECT_EQ(change->affected, c.affected);
    EXPECT_EQ(change->description, c.description);
    EXPECT_EQ(change->rollbackOf, 0u);
  }
  EXPECT_EQ(store_.version(), 1u) << "planning publishes nothing";
}

TEST_F(ConfigChangeTest, Rollback) {
  teredo::v1::FleetConfig bad;
  *bad.mutable_relay_defaults() = relay(0);  // stored before a validation rule existed
  ASSERT_TRUE(store_.publish(bad, "old", "", 0, TimePoint(), {}).ok());
  teredo::v1::RollbackRequest req;
  req.set_to_version(1);
  StatusOr<ConfigChange> change = planRollback(req, store_, agents_, validator);
  ASSERT_TRUE(change.ok()) << change.status().toString();
  EXPECT_EQ(change->description, "rollback to 1");
  EXPECT_EQ(change->rollbackOf, 1u);
  EXPECT_EQ(change->affected, (std::vector<std::string>{"r1", "r2"}));
  EXPECT_EQ(change->next.relay_defaults().relay().relay().max_peers(), 10u);
  req.set_to_version(2);
  change = planRollback(req, store_, agents_, validator);
  ASSERT_FALSE(change.ok());
  EXPECT_EQ(change.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(change.status().message(), "version 2 no longer validates");
  EXPECT_EQ(change.status().violations().size(), 2u);
  req.set_to_version(42);
  EXPECT_EQ(planRollback(req, store_, agents_, validator).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace teredo::controller

// The agent registry: sessions, a newer stream replacing an older one (closed ABORTED), the
// agent limit, disconnects, the role of an agent (Hello, else override), and the records that
// survive a restart.
#include "agent_registry.h"

#include <vector>

#include <gtest/gtest.h>

namespace teredo::controller {
namespace {

class RecordingSink : public AgentSink {
 public:
  void send(const teredo::v1::ControllerMessage& msg) override { messages.push_back(msg); }
  void close(const Status& status) override { closes.push_back(status); }
  std::vector<teredo::v1::ControllerMessage> messages;
  std::vector<Status> closes;
};

teredo::v1::Hello hello(const std::string& id, teredo::v1::Role role, uint64_t applied = 0) {
  teredo::v1::Hello h;
  h.set_agent_id(id);
  h.set_instance_uid("uid");
  h.set_role(role);
  h.set_applied_version(applied);
  return h;
}

const TimePoint kT0 = TimePoint(std::chrono::seconds(1700000000));

TEST(AgentRegistryTest, SessionsAndReplacement) {
  AgentRegistry reg(10);
  RecordingSink a, b;
  StatusOr<Agent*> first = reg.connect(hello("r1", teredo::v1::ROLE_RELAY, 4), &a, kT0);
  ASSERT_TRUE(first.ok());
  const SessionId s1 = (*first)->session;
  EXPECT_EQ((*first)->appliedVersion, 4u);
  EXPECT_TRUE((*first)->known);
  EXPECT_EQ(reg.findSession(s1), *first);
  StatusOr<Agent*> second = reg.connect(hello("r1", teredo::v1::ROLE_RELAY), &b, kT0);
  ASSERT_TRUE(second.ok());
  EXPECT_NE((*second)->session, s1);
  ASSERT_EQ(a.closes.size(), 1u);
  EXPECT_EQ(a.closes[0].code(), StatusCode::kAborted);
  EXPECT_TRUE(b.closes.empty());
  EXPECT_EQ(reg.findSession(s1), nullptr) << "the replaced stream's session is gone";
  EXPECT_EQ(reg.disconnect(s1, kT0), nullptr) << "a late disconnect of the old stream";
  EXPECT_TRUE((*second)->connected);
  Agent* gone = reg.disconnect((*second)->session, kT0 + std::chrono::seconds(5));
  ASSERT_EQ(gone, *second);
  EXPECT_FALSE(gone->connected);
  EXPECT_EQ(gone->sink, nullptr);
  EXPECT_EQ(gone->lastSeen, kT0 + std::chrono::seconds(5));
  EXPECT_EQ(reg.all().size(), 1u) << "disconnected agents are remembered";
}

TEST(AgentRegistryTest, RoleChangeDropsDesiredConfig) {
  AgentRegistry reg(10);
  RecordingSink sink;
  Agent* a = *reg.connect(hello("x", teredo::v1::ROLE_RELAY), &sink, kT0);
  a->desired = teredo::v1::AgentConfig();
  a->desiredVersion = 3;
  a->inFlight = PendingPush{3, "n", kT0};
  a = *reg.connect(hello("x", teredo::v1::ROLE_RELAY), &sink, kT0);
  EXPECT_EQ(a->desiredVersion, 3u) << "same role: kept";
  EXPECT_FALSE(a->inFlight) << "a new stream has nothing in flight";
  a = *reg.connect(hello("x", teredo::v1::ROLE_SERVER), &sink, kT0);
  EXPECT_EQ(a->desiredVersion, 0u);
  EXPECT_FALSE(a->desired);
}

TEST(AgentRegistryTest, LimitRefusesOnlyNewAgents) {
  AgentRegistry reg(2);
  RecordingSink sink;
  ASSERT_TRUE(reg.connect(hello("a", teredo::v1::ROLE_RELAY), &sink, kT0).ok());
  ASSERT_TRUE(reg.connect(hello("b", teredo::v1::ROLE_RELAY), &sink, kT0).ok());
  StatusOr<Agent*> third = reg.connect(hello("c", teredo::v1::ROLE_RELAY), &sink, kT0);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(reg.find("c"), nullptr);
  EXPECT_TRUE(reg.connect(hello("a", teredo::v1::ROLE_RELAY), &sink, kT0).ok())
      << "a known agent reconnects at the limit";
}

TEST(AgentRegistryTest, RoleOf) {
  AgentRegistry reg(10);
  RecordingSink sink;
  ASSERT_TRUE(reg.connect(hello("s1", teredo::v1::ROLE_SERVER), &sink, kT0).ok());
  teredo::v1::FleetConfig fleet;
  (*fleet.mutable_agent_overrides())["s1"].mutable_relay();  // the Hello wins
  (*fleet.mutable_agent_overrides())["r9"].mutable_relay();
  (*fleet.mutable_agent_overrides())["empty"];
  struct Case {
    const char* id;
    teredo::v1::Role role;
  } cases[] = {{"s1", teredo::v1::ROLE_SERVER},
               {"r9", teredo::v1::ROLE_RELAY},
               {"empty", teredo::v1::ROLE_UNSPECIFIED},
               {"ghost", teredo::v1::ROLE_UNSPECIFIED}};
  for (const auto& c : cases) {
    EXPECT_EQ(reg.roleOf(c.id, fleet), c.role) << c.id;
  }
}

TEST(AgentRegistryTest, RememberedRecordsRoundTrip) {
  AgentRegistry reg(10);
  RecordingSink sink;
  Agent* drained = *reg.connect(hello("d", teredo::v1::ROLE_SERVER), &sink, kT0);
  drained->draining = true;
  Agent* nacked = *reg.connect(hello("n", teredo::v1::ROLE_RELAY), &sink, kT0);
  teredo::v1::NackInfo nack;
  nack.set_version(7);
  nacked->lastNack = nack;
  ASSERT_TRUE(reg.connect(hello("plain", teredo::v1::ROLE_RELAY), &sink, kT0).ok());
  const auto stored = reg.remembered();
  ASSERT_EQ(stored.size(), 2u) << "only agents with something to remember";
  EXPECT_EQ(stored[0].agent_id(), "d");
  EXPECT_TRUE(stored[0].draining());
  EXPECT_EQ(stored[0].role(), teredo::v1::ROLE_SERVER);
  EXPECT_EQ(stored[1].agent_id(), "n");
  EXPECT_EQ(stored[1].last_nack().version(), 7u);

  google::protobuf::RepeatedPtrField<teredo::v1::StoredAgent> field(stored.begin(), stored.end());
  AgentRegistry restored(10);
  restored.restore(field);
  ASSERT_NE(restored.find("d"), nullptr);
  EXPECT_TRUE(restored.find("d")->draining);
  EXPECT_FALSE(restored.find("d")->connected);
  EXPECT_FALSE(restored.find("d")->known) << "no Hello since this start";
  EXPECT_EQ(restored.roleOf("d", {}), teredo::v1::ROLE_SERVER);
  ASSERT_TRUE(restored.find("n")->lastNack);
  EXPECT_EQ(restored.find("n")->lastNack->version(), 7u);
  EXPECT_EQ(restored.remembered().size(), 2u);
}

}  // namespace
}  // namespace teredo::controller

// The push state machine on its own (the Controller-level scenarios are in controller_test.cc):
// Settings and Drain on connect, ACK/NACK matching by nonce and version, one push in flight,
// NACKed versions never resent, the desired version being the one at which an agent's content
// last changed, debounce and ceiling, ACK timeouts, nextDeadline(), and timing changed by a
// reload.
#include "config_push.h"

#include <gtest/gtest.h>

namespace teredo::controller {
namespace {

using std::chrono::milliseconds;

class FakeSink : public AgentSink {
 public:
  void send(const teredo::v1::ControllerMessage& msg) override { messages.push_back(msg); }
  void close(const Status&) override {}
  std::vector<teredo::v1::ConfigSnapshot> snapshots() const {
    std::vector<teredo::v1::ConfigSnapshot> out;
    for (const auto& m : messages) {
      if (m.has_snapshot()) {
        out.push_back(m.snapshot());
      }
    }
    return out;
  }
  std::vector<teredo::v1::ControllerMessage> messages;
};

teredo::v1::FleetConfig withRelay(uint32_t maxPeers, uint32_t serverMtu = 1280) {
  teredo::v1::FleetConfig f;
  f.mutable_relay_defaults()->mutable_relay()->mutable_relay()->set_max_peers(maxPeers);
  f.mutable_server_defaults()->mutable_server()->mutable_server()->set_mtu(serverMtu);
  return f;
}

class ConfigPushTest : public ::testing::Test {
 protected:
  ConfigPushTest() : push_(options(), [this] { return "n" + std::to_string(++nonce_); }) {}

  static PushOptions options() {
    PushOptions o;
    o.debounce = milliseconds(100);
    o.debounceCeiling = milliseconds(1000);
    o.ackTimeout = milliseconds(5000);
    o.statsInterval = milliseconds(2500);
    return o;
  }

  void publish(const teredo::v1::FleetConfig& f) {
    ASSERT_TRUE(store_.publish(f, "", "", 0, now_, {}).ok());
    push_.changed(now_);
  }

  Agent& connect(const std::string& id, teredo::v1::Role role, FakeSink* sink,
                 uint64_t applied = 0) {
    teredo::v1::Hello h;
    h.set_agent_id(id);
    h.set_instance_uid("u");
    h.set_role(role);
    h.set_applied_version(applied);
    Agent* a = *agents_.connect(h, sink, now_);
    push_.connected(*a, store_, now_);
    return *a;
  }

  void advance(milliseconds d) {
    now_ += d;
    push_.tick(agents_, store_, now_);
  }

  TimePoint now_ = TimePoint(std::chrono::seconds(1700000000));
  int nonce_ = 0;
  AgentRegistry agents_{100};
  ConfigStore store_{nullptr, 100};
  ConfigPush push_;
};

TEST_F(ConfigPushTest, ConnectSendsSettingsDrainAndSnapshotAtOnce) {
  publish(withRelay(5));
  FakeSink sink;
  Agent& a = connect("r1", teredo::v1::ROLE_RELAY, &sink);
  ASSERT_EQ(sink.messages.size(), 3u);
  EXPECT_EQ(sink.messages[0].settings().stats_interval().seconds(), 2);
  EXPECT_EQ(sink.messages[0].settings().stats_interval().nanos(), 500000000);
  EXPECT_FALSE(sink.messages[1].drain().draining());
  EXPECT_EQ(sink.messages[2].snapshot().version(), 1u);
  EXPECT_EQ(sink.messages[2].snapshot().nonce(), "n1");
  EXPECT_EQ(a.sentVersion, 1u);
  ASSERT_TRUE(a.inFlight);
  EXPECT_EQ(push_.counters().sent, 1u);
  // An agent already running the version gets none.
  FakeSink synced;
  connect("r2", teredo::v1::ROLE_RELAY, &synced, 1);
  EXPECT_TRUE(synced.snapshots().empty());
}

TEST_F(ConfigPushTest, RepliesMatchByNonceAndVersion) {
  struct Case {
    const char* name;
    bool ack;
    std::string nonce;
    uint64_t version;
    bool matches;
  } cases[] = {
      {"ack", true, "n1", 1, true},
      {"nack", false, "n1", 1, true},
      {"ack wrong nonce", true, "x", 1, false},
      {"nack wrong nonce", false, "x", 1, false},
      {"ack wrong version", true, "n1", 2, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    nonce_ = 0;
    AgentRegistry agents(10);
    ConfigStore store(nullptr, 10);
    ConfigPush push(options(), [this] { return "n" + std::to_string(++nonce_); });
    ASSERT_TRUE(store.publish(withRelay(5), "", "", 0, now_, {}).ok());
    FakeSink sink;
    teredo::v1::Hello h;
    h.set_agent_id("r1");
    h.set_instance_uid("u");
    h.set_role(teredo::v1::ROLE_RELAY);
    Agent& a = **agents.connect(h, &sink, now_);
    push.connected(a, store, now_);
    if (c.ack) {
      teredo::v1::Ack ack;
      ack.set_nonce(c.nonce);
      ack.set_version(c.version);
      push.ack(a, ack, now_);
      EXPECT_EQ(a.appliedVersion, c.matches ? 1u : 0u);
      EXPECT_EQ(push.counters().acked, c.matches ? 1u : 0u);
    } else {
      teredo::v1::Nack nack;
      nack.set_nonce(c.nonce);
      nack.set_version(c.version);
      EXPECT_EQ(push.nack(a, nack, now_), c.matches);
      EXPECT_EQ(a.lastNack.has_value(), c.matches);
      EXPECT_EQ(push.counters().nacked, c.matches ? 1u : 0u);
    }
    EXPECT_EQ(a.inFlight.has_value(), !c.matches);
    EXPECT_EQ(push.counters().staleReplies, c.matches ? 0u : 1u);
  }
}

TEST_F(ConfigPushTest, NackedVersionIsNotResentUntilContentChanges) {
  publish(withRelay(5));
  FakeSink sink;
  Agent& a = connect("r1", teredo::v1::ROLE_RELAY, &sink);
  teredo::v1::Nack nack;
  nack.set_nonce("n1");
  nack.set_version(1);
  ASSERT_TRUE(push_.nack(a, nack, now_));
  EXPECT_EQ(a.lastNack->time().seconds(), 1700000000);
  push_.trySend(a, now_);
  advance(milliseconds(10000));
  EXPECT_EQ(sink.snapshots().size(), 1u);
  EXPECT_GE(push_.counters().nackResendsSuppressed, 1u);
  publish(withRelay(5, 1400));  // a server-only change: the relay's content stays version 1
  advance(milliseconds(100));
  EXPECT_EQ(a.desiredVersion, 1u);
  EXPECT_EQ(sink.snapshots().size(), 1u);
  publish(withRelay(6, 1400));
  advance(milliseconds(100));
  ASSERT_EQ(sink.snapshots().size(), 2u);
  EXPECT_EQ(sink.snapshots()[1].version(), 3u);
}

TEST_F(ConfigPushTest, DesiredVersionIsWhereTheContentLastChanged) {
  publish(withRelay(5, 1280));
  publish(withRelay(5, 1300));
  publish(withRelay(5, 1400));
  FakeSink relay, server;
  EXPECT_EQ(connect("r1", teredo::v1::ROLE_RELAY, &relay).desiredVersion, 1u);
  EXPECT_EQ(connect("s1", teredo::v1::ROLE_SERVER, &server).desiredVersion, 3u);
}

TEST_F(ConfigPushTest, DebounceCeilingAndDeadlines) {
  FakeSink sink;
  Agent& a = connect("r1", teredo::v1::ROLE_RELAY, &sink);
  EXPECT_FALSE(push_.nextDeadline(agents_)) << "nothing to do";
  const TimePoint first = now_;
  publish(withRelay(1));
  EXPECT_EQ(push_.nextDeadline(agents_), first + milliseconds(100));
  // Changes every 90 ms keep postponing the flush, up to the ceiling.
  for (int i = 2; i <= 11; ++i) {
    advance(milliseconds(90));
    EXPECT_TRUE(sink.snapshots().empty()) << i;
    publish(withRelay(static_cast<uint32_t>(i)));
  }
  EXPECT_EQ(push_.nextDeadline(agents_), first + milliseconds(1000));
  advance(milliseconds(100));
  ASSERT_EQ(sink.snapshots().size(), 1u);
  EXPECT_EQ(sink.snapshots()[0].version(), 11u);
  // Now the ACK timeout is the only deadline.
  EXPECT_EQ(push_.nextDeadline(agents_), now_ + milliseconds(5000));
  advance(milliseconds(4999));
  EXPECT_TRUE(a.inFlight);
  advance(milliseconds(1));
  EXPECT_EQ(push_.counters().timedOut, 1u);
  ASSERT_EQ(sink.snapshots().size(), 2u) << "resent after the timeout";
  EXPECT_EQ(sink.snapshots()[1].nonce(), "n2");
}

TEST_F(ConfigPushTest, SetTimingResendsSettingsToConnectedAgentsOnly) {
  FakeSink s1;
  FakeSink s2;
  connect("r1", teredo::v1::ROLE_RELAY, &s1);
  Agent& gone = connect("r2", teredo::v1::ROLE_RELAY, &s2);
  agents_.disconnect(gone.session, now_);
  const size_t before1 = s1.messages.size();
  const size_t before2 = s2.messages.size();
  // Same interval: nothing to tell anyone; the debounce still changes.
  push_.setTiming(milliseconds(300), milliseconds(2500), agents_);
  EXPECT_EQ(s1.messages.size(), before1);
  publish(withRelay(1));
  EXPECT_EQ(push_.nextDeadline(agents_), now_ + milliseconds(300));
  // A new interval goes out at once to the connected agent, in whole seconds and nanos.
  push_.setTiming(milliseconds(300), milliseconds(1250), agents_);
  ASSERT_EQ(s1.messages.size(), before1 + 1);
  EXPECT_EQ(s1.messages.back().settings().stats_interval().seconds(), 1);
  EXPECT_EQ(s1.messages.back().settings().stats_interval().nanos(), 250000000);
  EXPECT_EQ(s2.messages.size(), before2) << "a disconnected agent's sink is never used";
  // An agent connecting later gets the new interval.
  FakeSink s3;
  connect("r3", teredo::v1::ROLE_RELAY, &s3);
  ASSERT_FALSE(s3.messages.empty());
  EXPECT_EQ(s3.messages[0].settings().stats_interval().seconds(), 1);
}

TEST_F(ConfigPushTest, NewerContentWaitsForTheReplyAndSupersedes) {
  publish(withRelay(1));
  FakeSink sink;
  Agent& a = connect("r1", teredo::v1::ROLE_RELAY, &sink);
  publish(withRelay(2));
  advance(milliseconds(100));
  publish(withRelay(3));
  advance(milliseconds(100));
  EXPECT_EQ(sink.snapshots().size(), 1u);
  EXPECT_EQ(push_.counters().superseded, 2u);
  teredo::v1::Ack ack;
  ack.set_nonce("n1");
  ack.set_version(1);
  push_.ack(a, ack, now_);
  ASSERT_EQ(sink.snapshots().size(), 2u);
  EXPECT_EQ(sink.snapshots()[1].version(), 3u);
}

TEST_F(ConfigPushTest, DrainGoesOnlyToConnectedAgents) {
  FakeSink sink;
  Agent& a = connect("r1", teredo::v1::ROLE_RELAY, &sink);
  a.draining = true;
  push_.sendDrain(a);
  ASSERT_TRUE(sink.messages.back().has_drain());
  EXPECT_TRUE(sink.messages.back().drain().draining());
  const size_t sent = sink.messages.size();
  agents_.disconnect(a.session, now_);
  push_.sendDrain(a);
  EXPECT_EQ(sink.messages.size(), sent);
}

}  // namespace
}  // namespace teredo::controller

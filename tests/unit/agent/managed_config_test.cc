// ManagedConfig (lib/agent/managed_config.h): every way a config change ends (applied, invalid,
// restart required), the last-known-good boot and controller snapshots over the file.
#include "agent/managed_config.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "agent_test_util.h"

namespace teredo::agent {
namespace {

using Managed = ManagedConfig<config::ServerConfig>;
using test::ConfigDir;
using test::serverSnapshot;

struct Published {
  uint32_t mtu;
  uint64_t version;
};

class ManagedConfigTest : public ::testing::Test {
 protected:
  std::unique_ptr<Managed> make() {
    auto loaded = config::loadServerConfigFile(dir_.path());
    EXPECT_TRUE(loaded.ok()) << loaded.status().message();
    auto m = std::make_unique<Managed>(dir_.path(), *loaded, std::make_shared<AgentMetrics>(),
                                       std::make_shared<Readiness>());
    m->start(
        [this](const config::ServerConfig& c, uint64_t version) {
          published_.push_back({c.server.mtu, version});
        },
        {});
    return m;
  }

  void saveLkg(const v1::AgentConfig& c, uint64_t version) {
    std::string payload;
    ASSERT_TRUE(c.SerializeToString(&payload));
    const Status saved = LkgStore(dir_.stateDir()).save({version, payload});
    ASSERT_TRUE(saved.ok()) << saved.message();
  }

  ConfigDir dir_;
  std::vector<Published> published_;
};

// A SIGHUP re-reads the file; the outcome depends on what changed.
struct ReloadCase {
  const char* name;
  std::string serverExtra;  // the rewritten file's extra server keys
  StatusCode code;
  std::string violationKey;  // first violation's key ("" when applied)
  uint32_t runningMtu;       // the running config's server.mtu afterwards
};

class ManagedConfigReload : public ManagedConfigTest,
                            public ::testing::WithParamInterface<ReloadCase> {};

TEST_P(ManagedConfigReload, EndsAsExpectedAndRefusalsKeepTheRunningConfig) {
  const ReloadCase& c = GetParam();
  dir_.write("  mtu: 1400\n");
  auto m = make();
  dir_.write(c.serverExtra);
  const Status st = m->reloadFile();
  EXPECT_EQ(st.code(), c.code) << st.message();
  EXPECT_EQ(m->current()->server.mtu, c.runningMtu);
  if (c.code == StatusCode::kOk) {
    ASSERT_EQ(published_.size(), 1u);
    EXPECT_EQ(published_[0].mtu, c.runningMtu);
    EXPECT_EQ(published_[0].version, 0u);
  } else {
    EXPECT_TRUE(published_.empty());
    ASSERT_FALSE(st.violations().empty());
    EXPECT_EQ(st.violations()[0].key, c.violationKey);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Outcomes, ManagedConfigReload,
    ::testing::Values(ReloadCase{"LiveKeyApplied", "  mtu: 1300\n", StatusCode::kOk, "", 1300},
                      ReloadCase{"InvalidValueRefused", "  mtu: 99\n", StatusCode::kInvalidArgument,
                                 "server.mtu", 1400},
                      ReloadCase{"UnknownKeyRefused", "  mtu: 1300\n  mtuu: 1\n",
                                 StatusCode::kInvalidArgument, "server.mtuu", 1400},
                      ReloadCase{"PortNeedsRestart", "  mtu: 1300\n  port: 3545\n",
                                 StatusCode::kFailedPrecondition, "server.port", 1400},
                      ReloadCase{"WorkersNeedRestart", "  mtu: 1400\n  workers: 3\n",
                                 StatusCode::kFailedPrecondition, "server.workers", 1400}),
    [](const auto& param) { return std::string(param.param.name); });

TEST_F(ManagedConfigTest, InvalidFileNamesTheFileAndLine) {
  dir_.write("  mtu: 1400\n");
  auto m = make();
  dir_.write("  mtu: 99\n");
  const Status st = m->reloadFile();
  ASSERT_EQ(st.violations().size(), 1u);
  EXPECT_EQ(st.violations()[0].file, dir_.path());
  EXPECT_EQ(st.violations()[0].line, 4);
  EXPECT_NE(st.message().find(dir_.path() + ":4"), std::string::npos) << st.message();
}

TEST_F(ManagedConfigTest, ControllerSnapshotAppliesAndSurvivesAFileReload) {
  dir_.write("  mtu: 1400\n", "127.0.0.1:1");
  auto loaded = config::loadServerConfigFile(dir_.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  // No start(): the controller client stays off; snapshots are applied directly.
  Managed m(dir_.path(), *loaded, std::make_shared<AgentMetrics>(), std::make_shared<Readiness>());
  ASSERT_TRUE(m.applySnapshot(serverSnapshot(1350), 9).ok());
  EXPECT_EQ(m.current()->server.mtu, 1350u);
  EXPECT_EQ(m.version(), 9u);

  // The file changes a key the snapshot does not set: both apply, the snapshot still wins mtu.
  dir_.write("  mtu: 1300\n  strict_rs: true\n", "127.0.0.1:1");
  ASSERT_TRUE(m.reloadFile().ok());
  EXPECT_EQ(m.current()->server.mtu, 1350u);
  EXPECT_TRUE(m.current()->server.strictRs);
  EXPECT_EQ(m.version(), 9u);
}

TEST_F(ManagedConfigTest, SnapshotRefusals) {
  dir_.write("  mtu: 1400\n");
  auto m = make();
  struct Row {
    const char* name;
    v1::AgentConfig snapshot;
    StatusCode code;
    std::string key;
  };
  v1::AgentConfig relay;
  relay.mutable_relay()->mutable_relay()->set_mtu(1400);
  const Row rows[] = {
      {"invalid", serverSnapshot(99), StatusCode::kInvalidArgument, "server.mtu"},
      {"restart", serverSnapshot(1400, 3545), StatusCode::kFailedPrecondition, "server.port"},
      {"other role", relay, StatusCode::kInvalidArgument, "role"},
  };
  for (const Row& r : rows) {
    const Status st = m->applySnapshot(r.snapshot, 4);
    EXPECT_EQ(st.code(), r.code) << r.name << ": " << st.message();
    ASSERT_FALSE(st.violations().empty()) << r.name;
    EXPECT_EQ(st.violations()[0].key, r.key) << r.name;
    EXPECT_EQ(m->current()->server.mtu, 1400u) << r.name;
    EXPECT_EQ(m->version(), 0u) << r.name;
  }
  EXPECT_TRUE(published_.empty());
}

TEST_F(ManagedConfigTest, BootsFromTheLastKnownGoodSnapshot) {
  dir_.write("  mtu: 1400\n", "127.0.0.1:1");
  saveLkg(serverSnapshot(1350), 7);
  auto loaded = config::loadServerConfigFile(dir_.path());
  ASSERT_TRUE(loaded.ok());
  Managed m(dir_.path(), *loaded, std::make_shared<AgentMetrics>(), std::make_shared<Readiness>());
  EXPECT_EQ(m.current()->server.mtu, 1350u);
  EXPECT_EQ(m.version(), 7u);
}

TEST_F(ManagedConfigTest, LastKnownGoodIgnoredWhenItCannotApply) {
  v1::AgentConfig relay;
  relay.mutable_relay()->mutable_relay()->set_mtu(1400);
  struct Row {
    const char* name;
    v1::AgentConfig snapshot;
    std::string controller;
  };
  const Row rows[] = {
      {"invalid", serverSnapshot(99), "127.0.0.1:1"},
      {"pins a restart key", serverSnapshot(1350, 3545), "127.0.0.1:1"},
      {"another role", relay, "127.0.0.1:1"},
      {"no controller configured", serverSnapshot(1350), ""},
  };
  for (const Row& r : rows) {
    dir_.write("  mtu: 1400\n", r.controller);
    saveLkg(r.snapshot, 7);
    auto loaded = config::loadServerConfigFile(dir_.path());
    ASSERT_TRUE(loaded.ok()) << r.name;
    Managed m(dir_.path(), *loaded, std::make_shared<AgentMetrics>(),
              std::make_shared<Readiness>());
    EXPECT_EQ(m.current()->server.mtu, 1400u) << r.name;
    EXPECT_EQ(m.version(), 0u) << r.name;
  }
}

}  // namespace
}  // namespace teredo::agent

// AgentHost (lib/agent/agent_host.h) driving a fake role: boot, admin endpoints, reload,
// controller push, drain, last-known-good and shutdown — the life cycle every agent shares.
#include "agent/agent_host.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

#include "agent_test_util.h"
#include "fake_controller.h"
#include "http_get.h"

namespace teredo::agent {
namespace {

using Host = AgentHost<config::ServerConfig>;
using test::ConfigDir;
using test::httpGet;
using test::serverSnapshot;

/// What the fake role saw, shared with the test (the host owns the role).
struct RoleLog {
  std::mutex mu;
  std::vector<std::pair<uint32_t, uint64_t>> applied;  // (server.mtu, version)
  std::vector<bool> drains;
  int started = 0;
  int stopped = 0;
  int ticks = 0;
  int stopsBegun = 0;

  template <class F>
  auto with(F f) {
    std::lock_guard<std::mutex> lock(mu);
    return f(*this);
  }
};

class RoleGauge : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily f{
        "fake_role_up", "The fake role's own metric.", prometheus::MetricType::Gauge, {}};
    prometheus::ClientMetric m;
    m.gauge.value = 1;
    f.metric.push_back(m);
    return {f};
  }
};

class FakeRole final : public RoleAgent<config::ServerConfig> {
 public:
  explicit FakeRole(std::shared_ptr<RoleLog> log) : log_(std::move(log)) {}
  size_t lanes() const override { return 2; }
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables() override {
    return {std::make_shared<RoleGauge>()};
  }
  std::vector<std::string> addresses() const override { return {"198.51.100.10"}; }
  void start(Heartbeats& heartbeats) override {
    heartbeats.beat(0);
    heartbeats.beat(1);
    log_->with([](RoleLog& l) { return ++l.started; });
  }
  void apply(const config::ServerConfig& c, uint64_t version) override {
    log_->with([&](RoleLog& l) {
      l.applied.emplace_back(c.server.mtu, version);
      return 0;
    });
  }
  void fillStats(v1::StatsReport* report) override {
    report->mutable_counters()->set_kernel_drops(11);
  }
  void setDraining(bool draining) override {
    log_->with([&](RoleLog& l) {
      l.drains.push_back(draining);
      return 0;
    });
  }
  void tick() override {
    log_->with([](RoleLog& l) { return ++l.ticks; });
  }
  std::chrono::milliseconds beginStop() override {
    log_->with([](RoleLog& l) { return ++l.stopsBegun; });
    return std::chrono::milliseconds(250);
  }
  void stop() override {
    log_->with([](RoleLog& l) { return ++l.stopped; });
  }

 private:
  std::shared_ptr<RoleLog> log_;
};

class AgentHostTest : public ::testing::Test {
 protected:
  /// An opener recording the config and version the host booted with.
  Host::Open opener() {
    return [this](const config::ServerConfig& c, uint64_t version,
                  Readiness&) -> StatusOr<std::unique_ptr<RoleAgent<config::ServerConfig>>> {
      ++opens_;
      bootMtu_ = c.server.mtu;
      bootVersion_ = version;
      return std::unique_ptr<RoleAgent<config::ServerConfig>>(std::make_unique<FakeRole>(log_));
    };
  }

  std::unique_ptr<Host> boot() {
    auto host = Host::boot(dir_.path(), opener(), {.dropPrivileges = false});
    EXPECT_TRUE(host.ok()) << host.status().message();
    return host.ok() ? std::move(host).value() : nullptr;
  }

  std::string startController() {
    fake_ = std::make_unique<FakeController>();
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(fake_.get());
    server_ = b.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    return "127.0.0.1:" + std::to_string(port);
  }

  void TearDown() override {
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now());
      server_->Wait();
    }
  }

  ConfigDir dir_;
  std::shared_ptr<RoleLog> log_ = std::make_shared<RoleLog>();
  int opens_ = 0;
  uint32_t bootMtu_ = 0;
  uint64_t bootVersion_ = 0;
  std::unique_ptr<FakeController> fake_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(AgentHostTest, BootOpensTheRoleAndServesTheAdminEndpoints) {
  dir_.write("  mtu: 1400\n");
  auto host = boot();
  ASSERT_NE(host, nullptr);
  EXPECT_EQ(opens_, 1);
  EXPECT_EQ(bootMtu_, 1400u);
  EXPECT_EQ(bootVersion_, 0u);
  ASSERT_NE(host->adminPort(), 0);
  host->start();
  host->tick();
  EXPECT_EQ(log_->with([](RoleLog& l) { return l.started; }), 1);
  EXPECT_GE(log_->with([](RoleLog& l) { return l.ticks; }), 1);
  EXPECT_EQ(httpGet(host->adminPort(), "/readyz").status, 200);
  EXPECT_EQ(httpGet(host->adminPort(), "/healthz").status, 200);
  const auto metrics = httpGet(host->adminPort(), "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("fake_role_up 1"), std::string::npos);
  EXPECT_NE(metrics.body.find("teredo_config_applied_version"), std::string::npos);
}

TEST_F(AgentHostTest, BootFailures) {
  // A bad file: kInvalidArgument with the key, the role is never opened.
  dir_.write("  mtu: 99\n");
  auto bad = Host::boot(dir_.path(), opener(), {.dropPrivileges = false});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().violations().at(0).key, "server.mtu");
  EXPECT_EQ(opens_, 0);

  // The role cannot open its resources: its error comes back unchanged (an environment error).
  dir_.write("  mtu: 1400\n");
  auto failed = Host::boot(
      dir_.path(),
      [](const config::ServerConfig&, uint64_t,
         Readiness&) -> StatusOr<std::unique_ptr<RoleAgent<config::ServerConfig>>> {
        return Status::error(StatusCode::kUnavailable, "server.primary_address: cannot bind");
      },
      {.dropPrivileges = false});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(failed.status().message(), "server.primary_address: cannot bind");
}

TEST_F(AgentHostTest, ReloadAppliesLiveKeysAndRefusesTheRest) {
  dir_.write("  mtu: 1400\n");
  auto host = boot();
  ASSERT_NE(host, nullptr);
  host->start();
  dir_.write("  mtu: 1300\n");
  ASSERT_TRUE(host->reload().ok());
  dir_.write("  mtu: 1300\n  port: 3545\n");
  EXPECT_EQ(host->reload().code(), StatusCode::kFailedPrecondition);
  dir_.write("  mtu: 12\n");
  EXPECT_EQ(host->reload().code(), StatusCode::kInvalidArgument);
  const auto applied = log_->with([](RoleLog& l) { return l.applied; });
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0], std::make_pair(1300u, uint64_t{0}));
  EXPECT_EQ(host->managed().current()->server.mtu, 1300u);
}

TEST_F(AgentHostTest, ControllerPushDrainAndLastKnownGood) {
  const std::string address = startController();
  dir_.write("  mtu: 1400\n", address);
  {
    auto host = boot();
    ASSERT_NE(host, nullptr);
    host->start();
    const auto hello = fake_->waitFor([](const v1::AgentMessage& m) { return m.has_hello(); });
    ASSERT_TRUE(hello.has_value());
    EXPECT_EQ(hello->hello().role(), v1::ROLE_SERVER);
    ASSERT_EQ(hello->hello().addresses_size(), 1);
    EXPECT_EQ(hello->hello().addresses(0), "198.51.100.10");

    // A valid push reaches the role with its version; an invalid one is NACKed and not applied.
    v1::ControllerMessage push;
    push.mutable_snapshot()->set_version(3);
    push.mutable_snapshot()->set_nonce("n3");
    *push.mutable_snapshot()->mutable_config() = serverSnapshot(1350);
    ASSERT_TRUE(fake_->send(push));
    ASSERT_TRUE(fake_->waitFor(
        [](const v1::AgentMessage& m) { return m.has_ack() && m.ack().version() == 3; }));
    push.mutable_snapshot()->set_version(4);
    *push.mutable_snapshot()->mutable_config() = serverSnapshot(1350, 3545);
    ASSERT_TRUE(fake_->send(push));
    const auto nack = fake_->waitFor([](const v1::AgentMessage& m) { return m.has_nack(); });
    ASSERT_TRUE(nack.has_value());
    EXPECT_EQ(nack->nack().error_detail().field_violations(0).field(), "server.port");
    EXPECT_EQ(host->metrics().appliedVersion(), 3u);

    v1::ControllerMessage drain;
    drain.mutable_drain()->set_draining(true);
    ASSERT_TRUE(fake_->send(drain));
    // Messages are handled in order: the ACK of a later snapshot proves the drain was seen.
    push.mutable_snapshot()->set_version(5);
    *push.mutable_snapshot()->mutable_config() = serverSnapshot(1360);
    ASSERT_TRUE(fake_->send(push));
    ASSERT_TRUE(fake_->waitFor(
        [](const v1::AgentMessage& m) { return m.has_ack() && m.ack().version() == 5; }));
    EXPECT_EQ(log_->with([](RoleLog& l) { return l.drains; }), std::vector<bool>{true});
    std::string why;
    EXPECT_FALSE(host->readiness().ready(&why));
    EXPECT_EQ(httpGet(host->adminPort(), "/readyz").status, 503);

    const auto applied = log_->with([](RoleLog& l) { return l.applied; });
    ASSERT_EQ(applied.size(), 2u);
    EXPECT_EQ(applied[0], std::make_pair(1350u, uint64_t{3}));
    EXPECT_EQ(applied[1], std::make_pair(1360u, uint64_t{5}));
    host->shutdown();
  }
  // A restart boots from the last snapshot the controller pushed, before it is reachable.
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
  server_.reset();
  auto again = boot();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(bootMtu_, 1360u);
  EXPECT_EQ(bootVersion_, 5u);
  EXPECT_EQ(again->metrics().appliedVersion(), 5u);
}

TEST_F(AgentHostTest, SigtermBeginsWithTheRolesGraceAndNotReady) {
  dir_.write("  mtu: 1400\n");
  auto host = boot();
  ASSERT_NE(host, nullptr);
  host->start();
  EXPECT_EQ(httpGet(host->adminPort(), "/readyz").status, 200);
  EXPECT_EQ(host->beginStop(), std::chrono::milliseconds(250));
  EXPECT_EQ(log_->with([](RoleLog& l) { return l.stopsBegun; }), 1);
  // Still serving (workers running, metrics up) but no longer ready for new traffic.
  EXPECT_EQ(httpGet(host->adminPort(), "/readyz").status, 503);
  EXPECT_EQ(httpGet(host->adminPort(), "/metrics").status, 200);
  EXPECT_EQ(log_->with([](RoleLog& l) { return l.stopped; }), 0);
  host->shutdown();
  EXPECT_EQ(log_->with([](RoleLog& l) { return l.stopped; }), 1);
}

TEST_F(AgentHostTest, ShutdownStopsTheRoleOnceAndClosesAdmin) {
  dir_.write("  mtu: 1400\n");
  auto host = boot();
  ASSERT_NE(host, nullptr);
  host->start();
  const uint16_t port = host->adminPort();
  host->shutdown();
  host->shutdown();
  EXPECT_EQ(log_->with([](RoleLog& l) { return l.stopped; }), 1);
  EXPECT_EQ(httpGet(port, "/readyz").status, 0);  // nothing listens any more
  host.reset();
  EXPECT_EQ(log_->with([](RoleLog& l) { return l.stopped; }), 1);
}

}  // namespace
}  // namespace teredo::agent

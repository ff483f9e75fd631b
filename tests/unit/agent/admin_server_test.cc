#include "agent/admin_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "agent/agent_metrics.h"
#include "agent/stats.h"
#include "http_get.h"
#include "teredo/build_info.h"

namespace teredo::agent {
namespace {

using test::httpGet;
using test::httpRequest;

#define ADMIN_TEST_STATS(COUNTER, GAUGE, LABELED) \
  COUNTER(hits, "teredo_admin_test_hits_total", "Test hits.")
TEREDO_STATS_STRUCT(AdminTestStats, ADMIN_TEST_STATS);

struct Fixture {
  std::atomic<int64_t> nowNs{1'000'000'000};
  std::shared_ptr<Heartbeats> heartbeats =
      std::make_shared<Heartbeats>(2, std::chrono::seconds(5), [this] { return nowNs.load(); });
  std::shared_ptr<Readiness> readiness = std::make_shared<Readiness>();
  std::shared_ptr<StatsCollectable<AdminTestStats>> stats =
      std::make_shared<StatsCollectable<AdminTestStats>>(2);
  std::shared_ptr<AgentMetrics> agent = std::make_shared<AgentMetrics>(1700000000.0);
  std::unique_ptr<AdminServer> server;

  Fixture() {
    readiness->addCondition(Readiness::kSocketsBound);
    readiness->addCondition(Readiness::kConfigApplied);
    AdminServerOptions o;
    o.listen = "127.0.0.1:0";
    o.collectables = {stats, agent};
    o.heartbeats = heartbeats;
    o.readiness = readiness;
    StatusOr<std::unique_ptr<AdminServer>> started = AdminServer::start(o);
    EXPECT_TRUE(started.ok()) << started.status().message();
    if (started.ok()) {
      server = std::move(started).value();
    }
  }
};

TEST(AdminServer, MetricsServesCollectablesInPrometheusTextFormat) {
  Fixture f;
  ASSERT_NE(f.server, nullptr);
  ASSERT_NE(f.server->port(), 0);
  f.stats->worker(0).hits.inc(2);
  f.stats->worker(1).hits.inc(5);
  f.agent->countConfigAck();
  f.agent->setAppliedConfig(42, 1700000100.5);
  const auto r = httpGet(f.server->port(), "/metrics");
  ASSERT_EQ(r.status, 200) << r.headers;
  EXPECT_NE(r.headers.find("text/plain; version=0.0.4"), std::string::npos) << r.headers;
  const std::string buildInfo = std::string("teredo_build_info{commit=\"") + build::kCommit +
                                "\",version=\"" + build::kVersion + "\"} 1\n";
  for (const std::string& line :
       {std::string("teredo_admin_test_hits_total 7\n"), buildInfo,
        std::string("process_start_time_seconds 1700000000\n"),
        std::string("teredo_controller_connected 0\n"),
        std::string("teredo_config_updates_total{result=\"ack\"} 1\n"),
        std::string("teredo_config_updates_total{result=\"nack\"} 0\n"),
        std::string("teredo_config_applied_version 42\n"),
        std::string("teredo_config_last_applied_timestamp_seconds 1700000100.5\n"),
        std::string("# TYPE teredo_bugs_total counter\n")}) {
    EXPECT_NE(r.body.find(line), std::string::npos) << "missing: " << line << "in\n" << r.body;
  }
}

TEST(AdminServer, HealthzFollowsHeartbeats) {
  Fixture f;
  ASSERT_NE(f.server, nullptr);
  auto r = httpGet(f.server->port(), "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");

  f.nowNs += 4'000'000'000;  // 4 s: within the 5 s limit
  EXPECT_EQ(httpGet(f.server->port(), "/healthz").status, 200);

  f.heartbeats->beat(0);
  f.nowNs += 2'000'000'000;  // loop 1 is now 6 s stale, loop 0 only 2 s
  r = httpGet(f.server->port(), "/healthz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("event loop 1"), std::string::npos) << r.body;

  f.heartbeats->beat(1);
  EXPECT_EQ(httpGet(f.server->port(), "/healthz").status, 200);
}

TEST(AdminServer, ReadyzNamesEveryFailingCondition) {
  Fixture f;
  ASSERT_NE(f.server, nullptr);
  auto r = httpGet(f.server->port(), "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "not ready: sockets_bound=false config_applied=false\n");

  f.readiness->set(Readiness::kSocketsBound, true);
  r = httpGet(f.server->port(), "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "not ready: config_applied=false\n");

  f.readiness->set(Readiness::kConfigApplied, true);
  r = httpGet(f.server->port(), "/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ready\n");

  f.readiness->setDraining(true);
  r = httpGet(f.server->port(), "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "not ready: draining=true\n");
  // Draining never affects liveness.
  EXPECT_EQ(httpGet(f.server->port(), "/healthz").status, 200);
}

TEST(AdminServer, UnknownPathAndMethod) {
  Fixture f;
  ASSERT_NE(f.server, nullptr);
  EXPECT_EQ(httpGet(f.server->port(), "/nope").status, 404);
  EXPECT_EQ(httpRequest(f.server->port(), "POST", "/readyz").status, 405);
  const auto head = httpRequest(f.server->port(), "HEAD", "/healthz");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
}

TEST(AdminServer, BadListenSettingsAreClearErrors) {
  struct Case {
    const char* listen;
    const char* expect;
  };
  const Case cases[] = {
      {"::1:9544", "brackets"},   {"localhost:9544", "IPv4"},  {"[localhost]:9544", "IPv6"},
      {"127.0.0.1", "host:port"}, {"127.0.0.1:70000", "port"}, {"127.0.0.1:", "host:port"},
      {"127.0.0.1:12ab", "port"},
  };
  for (const auto& c : cases) {
    AdminServerOptions o;
    o.listen = c.listen;
    const StatusOr<std::unique_ptr<AdminServer>> started = AdminServer::start(o);
    ASSERT_FALSE(started.ok()) << c.listen;
    EXPECT_EQ(started.status().code(), StatusCode::kInvalidArgument) << c.listen;
    const std::string& err = started.status().message();
    EXPECT_EQ(err.rfind("admin.listen: ", 0), 0u) << err;
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.listen << " -> " << err;
  }
}

TEST(AdminServer, ServesOnIpv6Loopback) {
  auto readiness = std::make_shared<Readiness>();
  AdminServerOptions o;
  o.listen = "[::1]:0";
  o.readiness = readiness;
  const StatusOr<std::unique_ptr<AdminServer>> started = AdminServer::start(o);
  ASSERT_TRUE(started.ok()) << started.status().message();
  const uint16_t port = (*started)->port();
  ASSERT_NE(port, 0);
  auto r = httpRequest(port, "GET", "/readyz", /*ipv6=*/true);
  EXPECT_EQ(r.status, 200) << r.headers;
  EXPECT_EQ(r.body, "ready\n");
  readiness->setDraining(true);
  r = httpRequest(port, "GET", "/readyz", true);
  EXPECT_EQ(r.status, 503) << r.headers;
  EXPECT_EQ(r.body, "not ready: draining=true\n");
  EXPECT_EQ(httpRequest(port, "GET", "/metrics", true).status, 200);
  EXPECT_EQ(httpRequest(port, "GET", "/healthz", true).status, 200);
  EXPECT_EQ(httpGet(port, "/healthz").status, 0) << "[::1] is not reachable over IPv4";
}

TEST(AdminServer, PortInUseIsAnError) {
  Fixture f;
  ASSERT_NE(f.server, nullptr);
  AdminServerOptions o;
  o.listen = "127.0.0.1:" + std::to_string(f.server->port());
  const StatusOr<std::unique_ptr<AdminServer>> started = AdminServer::start(o);
  ASSERT_FALSE(started.ok());
  const std::string& err = started.status().message();
  EXPECT_EQ(err.rfind("admin.listen: cannot serve on", 0), 0u) << err;
}

}  // namespace
}  // namespace teredo::agent

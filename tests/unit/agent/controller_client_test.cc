// ControllerClient against a tiny in-test controller (gRPC on a unix socket in a temp dir).
// Assertions wait generously for behaviour (messages seen, state reached), never for timings.
#include "agent/controller_client.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "fake_controller.h"
#include "teredo/v1/agent.grpc.pb.h"

namespace teredo::agent {
namespace {

class ControllerClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/teredo-agent-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    address_ = "unix:" + dir_ + "/controller.sock";
    startController();
  }
  void TearDown() override {
    client_.reset();
    stopController();
    std::filesystem::remove_all(dir_);
  }

  void startController(std::shared_ptr<grpc::ServerCredentials> creds = nullptr) {
    fake_ = std::make_unique<FakeController>();
    grpc::ServerBuilder b;
    b.AddListeningPort(address_, creds ? creds : grpc::InsecureServerCredentials());
    b.RegisterService(fake_.get());
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void stopController() {
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now());  // cancels open streams
      server_->Wait();
      server_.reset();
    }
    fake_.reset();
  }

  void startClient(uint64_t appliedVersion = 0, bool tls = false) {
    ControllerClientOptions o;
    o.address = address_;
    if (tls) {
      o.caFile = dir_ + "/client/ca.crt";
      o.certFile = dir_ + "/client/tls.crt";
      o.keyFile = dir_ + "/client/tls.key";
      o.serverName = "controller.test";
    }
    o.agentId = "relay-a";
    o.role = v1::ROLE_RELAY;
    o.addresses = {"203.0.113.10:3545"};
    o.backoffInitial = std::chrono::milliseconds(20);
    o.backoffMax = std::chrono::milliseconds(200);
    o.seed = 42;
    o.lkg = lkg_;
    o.metrics = metrics_;
    o.readiness = readiness_;
    ControllerCallbacks cb;
    cb.validate = [](const v1::AgentConfig& c, v1::ConfigError* e) {
      if (c.relay().relay().mtu() < 1280) {
        e->set_message("relay.mtu below 1280");
        auto* v = e->add_field_violations();
        v->set_field("relay.mtu");
        v->set_description("must be >= 1280 (RFC 8200 §5)");
        return false;
      }
      return true;
    };
    cb.apply = [this](const v1::AgentConfig& c, uint64_t version, v1::ConfigError*) {
      std::lock_guard<std::mutex> lock(mu_);
      running_ = c;
      runningVersion_ = version;
      ++applies_;
      return true;
    };
    cb.fillStats = [](v1::StatsReport* r) {
      r->mutable_counters()->set_kernel_drops(7);
      (*r->mutable_counters()->mutable_drops())["spoofed_source"] = 3;
    };
    client_ = std::make_unique<ControllerClient>(o, cb, appliedVersion);
    client_->start();
  }

  static v1::ControllerMessage snapshot(uint64_t version, const std::string& nonce, uint32_t mtu) {
    v1::ControllerMessage m;
    auto* s = m.mutable_snapshot();
    s->set_version(version);
    s->set_nonce(nonce);
    s->mutable_config()->mutable_relay()->mutable_relay()->set_mtu(mtu);
    return m;
  }

  static auto isAck(uint64_t version) {
    return [version](const v1::AgentMessage& m) {
      return m.has_ack() && m.ack().version() == version;
    };
  }

  std::string dir_;
  std::string address_;
  std::unique_ptr<FakeController> fake_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<LkgStore> lkg_;
  std::shared_ptr<AgentMetrics> metrics_ = std::make_shared<AgentMetrics>();
  std::shared_ptr<Readiness> readiness_ = std::make_shared<Readiness>();
  std::unique_ptr<ControllerClient> client_;

  std::mutex mu_;
  v1::AgentConfig running_;
  uint64_t runningVersion_ = 0;
  int applies_ = 0;

  void useLkg() { lkg_ = std::make_shared<LkgStore>(dir_ + "/state"); }
  uint64_t runningVersion() {
    std::lock_guard<std::mutex> lock(mu_);
    return runningVersion_;
  }
};

TEST_F(ControllerClientTest, HelloThenAckAfterValidSnapshotAndLkgSaved) {
  useLkg();
  startClient();
  const auto hello = fake_->waitFor([](const auto& m) { return m.has_hello(); });
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->hello().agent_id(), "relay-a");
  EXPECT_EQ(hello->hello().role(), v1::ROLE_RELAY);
  EXPECT_EQ(hello->hello().instance_uid(), client_->instanceUid());
  EXPECT_EQ(hello->hello().instance_uid().size(), 36u);
  EXPECT_EQ(hello->hello().applied_version(), 0u);
  EXPECT_FALSE(hello->hello().build_version().empty());
  ASSERT_EQ(hello->hello().addresses_size(), 1);

  ASSERT_TRUE(fake_->send(snapshot(5, "n5", 1400)));
  const auto ack = fake_->waitFor(isAck(5));
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->ack().nonce(), "n5");
  EXPECT_EQ(client_->appliedVersion(), 5u);
  EXPECT_EQ(runningVersion(), 5u);
  EXPECT_TRUE(client_->connected());
  EXPECT_TRUE(metrics_->controllerConnected());
  EXPECT_EQ(metrics_->configAcks(), 1u);
  EXPECT_EQ(metrics_->appliedVersion(), 5u);

  const StatusOr<LkgSnapshot> saved = lkg_->load();
  ASSERT_TRUE(saved.ok()) << saved.status().message();
  EXPECT_EQ(saved->version, 5u);
  v1::AgentConfig restored;
  ASSERT_TRUE(restored.ParseFromString(saved->payload));
  EXPECT_EQ(restored.relay().relay().mtu(), 1400u);
}

TEST_F(ControllerClientTest, InvalidSnapshotIsNackedAndOldConfigKept) {
  useLkg();
  startClient();
  ASSERT_TRUE(fake_->waitForStreams(1));
  ASSERT_TRUE(fake_->send(snapshot(1, "n1", 1280)));
  ASSERT_TRUE(fake_->waitFor(isAck(1)).has_value());

  ASSERT_TRUE(fake_->send(snapshot(2, "n2", 576)));
  const auto nack = fake_->waitFor([](const auto& m) { return m.has_nack(); });
  ASSERT_TRUE(nack.has_value());
  EXPECT_EQ(nack->nack().version(), 2u);
  EXPECT_EQ(nack->nack().nonce(), "n2");
  EXPECT_EQ(nack->nack().applied_version(), 1u);
  EXPECT_EQ(nack->nack().error_detail().message(), "relay.mtu below 1280");
  ASSERT_EQ(nack->nack().error_detail().field_violations_size(), 1);
  EXPECT_EQ(nack->nack().error_detail().field_violations(0).field(), "relay.mtu");

  EXPECT_EQ(client_->appliedVersion(), 1u);
  EXPECT_EQ(runningVersion(), 1u);
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(running_.relay().relay().mtu(), 1280u);
    EXPECT_EQ(applies_, 1);
  }
  EXPECT_EQ(metrics_->configNacks(), 1u);
  const StatusOr<LkgSnapshot> saved = lkg_->load();
  ASSERT_TRUE(saved.ok()) << saved.status().message();
  EXPECT_EQ(saved->version, 1u);

  // The stream stays usable: a later valid snapshot is applied.
  ASSERT_TRUE(fake_->send(snapshot(3, "n3", 1300)));
  ASSERT_TRUE(fake_->waitFor(isAck(3)).has_value());
  EXPECT_EQ(runningVersion(), 3u);
}

TEST_F(ControllerClientTest, SnapshotForOtherRoleIsNacked) {
  startClient();
  ASSERT_TRUE(fake_->waitForStreams(1));
  v1::ControllerMessage m;
  m.mutable_snapshot()->set_version(9);
  m.mutable_snapshot()->set_nonce("n9");
  m.mutable_snapshot()->mutable_config()->mutable_server();
  ASSERT_TRUE(fake_->send(m));
  const auto nack = fake_->waitFor([](const auto& x) { return x.has_nack(); });
  ASSERT_TRUE(nack.has_value());
  EXPECT_NE(nack->nack().error_detail().message().find("relay"), std::string::npos);
  EXPECT_EQ(client_->appliedVersion(), 0u);
}

TEST_F(ControllerClientTest, ReconnectsAfterControllerRestartWithAppliedVersion) {
  startClient(4);  // e.g. restored from last-known-good
  ASSERT_TRUE(fake_->waitForStreams(1));
  ASSERT_TRUE(fake_->send(snapshot(6, "n6", 1280)));
  ASSERT_TRUE(fake_->waitFor(isAck(6)).has_value());

  stopController();
  startController();
  ASSERT_TRUE(fake_->waitForStreams(1));
  const auto hello = fake_->waitFor([](const auto& m) { return m.has_hello(); });
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->hello().applied_version(), 6u);
  EXPECT_EQ(hello->hello().instance_uid(), client_->instanceUid());  // same process
  // Re-sending the running version is acknowledged without applying it again.
  ASSERT_TRUE(fake_->send(snapshot(6, "n6b", 1280)));
  const auto ack = fake_->waitFor(isAck(6));
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->ack().nonce(), "n6b");
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_EQ(applies_, 1);
}

TEST_F(ControllerClientTest, DialsUntilControllerAppears) {
  stopController();
  startClient();
  EXPECT_FALSE(client_->connected());
  startController();
  ASSERT_TRUE(fake_->waitForStreams(1));
  ASSERT_TRUE(fake_->waitFor([](const auto& m) { return m.has_hello(); }).has_value());
}

TEST_F(ControllerClientTest, StatsSentAtTheControllerInterval) {
  v1::ControllerMessage settings;
  settings.mutable_settings()->mutable_stats_interval()->set_nanos(20 * 1000 * 1000);
  fake_->sendOnConnect(settings);
  startClient();
  size_t idx = 0;
  for (int i = 0; i < 3; ++i) {
    const auto stats =
        fake_->waitFor([](const auto& m) { return m.has_stats(); }, &idx, i == 0 ? 0 : idx + 1);
    ASSERT_TRUE(stats.has_value()) << "report " << i;
    EXPECT_EQ(stats->stats().agent_id(), "relay-a");
    EXPECT_EQ(stats->stats().instance_uid(), client_->instanceUid());
    EXPECT_EQ(stats->stats().counters().kernel_drops(), 7u);
    EXPECT_EQ(stats->stats().counters().drops().at("spoofed_source"), 3u);
    EXPECT_GT(stats->stats().timestamp().seconds(), 0);
  }
}

TEST_F(ControllerClientTest, NoStatsWithoutSettings) {
  startClient();
  ASSERT_TRUE(fake_->waitForStreams(1));
  // A snapshot round trip proves the stream is live; no report may precede it.
  ASSERT_TRUE(fake_->send(snapshot(1, "n1", 1280)));
  ASSERT_TRUE(fake_->waitFor(isAck(1)).has_value());
  EXPECT_EQ(fake_->count(v1::AgentMessage::kStats), 0u);
}

TEST_F(ControllerClientTest, DrainSetsReadinessAndClears) {
  readiness_->addCondition(Readiness::kConfigApplied);
  readiness_->set(Readiness::kConfigApplied, true);
  startClient();
  ASSERT_TRUE(fake_->waitForStreams(1));
  v1::ControllerMessage drain;
  drain.mutable_drain()->set_draining(true);
  ASSERT_TRUE(fake_->send(drain));
  // Drain is processed in order: a snapshot ACK after it proves it was seen.
  ASSERT_TRUE(fake_->send(snapshot(1, "n1", 1280)));
  ASSERT_TRUE(fake_->waitFor(isAck(1)).has_value());
  std::string detail;
  EXPECT_FALSE(readiness_->ready(&detail));
  EXPECT_EQ(detail, "not ready: draining=true");
  EXPECT_TRUE(client_->draining());

  drain.mutable_drain()->set_draining(false);
  ASSERT_TRUE(fake_->send(drain));
  ASSERT_TRUE(fake_->send(snapshot(2, "n2", 1280)));
  ASSERT_TRUE(fake_->waitFor(isAck(2)).has_value());
  EXPECT_TRUE(readiness_->ready(&detail)) << detail;
  EXPECT_FALSE(client_->draining());
}

TEST_F(ControllerClientTest, DisconnectClearsConnectedAndStopIsPrompt) {
  startClient();
  ASSERT_TRUE(fake_->waitForStreams(1));
  ASSERT_TRUE(fake_->send(snapshot(1, "n1", 1280)));
  ASSERT_TRUE(fake_->waitFor(isAck(1)).has_value());
  EXPECT_TRUE(metrics_->controllerConnected());
  stopController();
  // Wait (generously) for the client to notice.
  for (int i = 0; i < 2000 && metrics_->controllerConnected(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(metrics_->controllerConnected());
  EXPECT_FALSE(client_->connected());
  client_->stop();  // must return while redialling a missing controller
}

// Makes a CA, a controller certificate (controller.test) and an agent certificate (CN relay-a)
// under dir/<ca>/ with the openssl CLI, copies the agent's material to dir/client/ (what the
// agent watches) and returns mTLS server credentials requiring a client cert from that CA.
std::shared_ptr<grpc::ServerCredentials> makePki(const std::string& dir, const std::string& ca) {
  const std::string d = dir + "/" + ca;
  const std::string scriptPath = dir + "/pki-" + ca + ".sh";
  {
    std::ofstream sh(scriptPath);
    sh << "set -e\n"
       << "mkdir -p " << d << " " << dir << "/client\n"
       << "cd " << d << "\n"
       << "k='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
       << "openssl req -x509 $k -keyout ca.key -out ca.crt -subj /CN=" << ca << " -days 2\n"
       << "echo subjectAltName=DNS:controller.test > srv.ext\n"
       << "echo subjectAltName=DNS:relay-a > cli.ext\n"
       << "openssl req $k -keyout srv.key -out srv.csr -subj /CN=controller.test\n"
       << "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -set_serial 1 -days 2 "
          "-extfile srv.ext -out srv.crt\n"
       << "openssl req $k -keyout cli.key -out cli.csr -subj /CN=relay-a\n"
       << "openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -set_serial 2 -days 2 "
          "-extfile cli.ext -out cli.crt\n"
       // Replace the watched files by rename, as a certificate manager would.
       << "cp ca.crt ../client/ca.crt.new; cp cli.crt ../client/tls.crt.new\n"
       << "cp cli.key ../client/tls.key.new\n"
       << "for f in ca.crt tls.crt tls.key; do mv ../client/$f.new ../client/$f; done\n";
  }
  const std::string cmd = "sh " + scriptPath + " >" + scriptPath + ".log 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    return nullptr;
  }
  auto read = [](const std::string& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  o.pem_root_certs = read(d + "/ca.crt");
  o.pem_key_cert_pairs.push_back({read(d + "/srv.key"), read(d + "/srv.crt")});
  return grpc::SslServerCredentials(o);
}

TEST_F(ControllerClientTest, MutualTlsAndCertificateRotation) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "openssl CLI not installed";
  }
  stopController();
  auto creds = makePki(dir_, "ca-one");
  ASSERT_NE(creds, nullptr);
  startController(creds);
  startClient(0, /*tls=*/true);
  ASSERT_TRUE(fake_->waitForStreams(1));
  ASSERT_TRUE(fake_->waitFor([](const auto& m) { return m.has_hello(); }).has_value());
  EXPECT_EQ(fake_->peerNames(), std::vector<std::string>{"relay-a"});

  // Rotate everything (new CA): the agent's files change, then the controller restarts with
  // material from the new CA. The next dial must use the new files.
  creds = makePki(dir_, "ca-two");
  ASSERT_NE(creds, nullptr);
  stopController();
  startController(creds);
  ASSERT_TRUE(fake_->waitForStreams(1));
  ASSERT_TRUE(fake_->waitFor([](const auto& m) { return m.has_hello(); }).has_value());
  EXPECT_EQ(fake_->peerNames(), std::vector<std::string>{"relay-a"});
}

TEST(Backoff, JitteredExponentialCappedAndReset) {
  Backoff b(std::chrono::milliseconds(500), std::chrono::milliseconds(30000), 7);
  const int64_t expected[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
  for (int64_t d : expected) {
    const auto got = b.next().count();
    EXPECT_GE(got, d / 2) << d;
    EXPECT_LE(got, d) << d;
  }
  for (int i = 0; i < 100; ++i) {
    EXPECT_LE(b.next().count(), 30000);
  }
  b.reset();
  EXPECT_LE(b.next().count(), 500);
  // Same seed, same sequence; different seeds spread out.
  Backoff x(std::chrono::milliseconds(500), std::chrono::milliseconds(30000), 1);
  Backoff y(std::chrono::milliseconds(500), std::chrono::milliseconds(30000), 1);
  Backoff z(std::chrono::milliseconds(500), std::chrono::milliseconds(30000), 2);
  bool differs = false;
  for (int i = 0; i < 10; ++i) {
    const auto xv = x.next();
    EXPECT_EQ(xv, y.next());
    differs = differs || xv != z.next();
  }
  EXPECT_TRUE(differs);
}

TEST(RandomUuid, Version4Format) {
  std::mt19937_64 rng(3);
  const std::string u = randomUuid(rng);
  ASSERT_EQ(u.size(), 36u);
  EXPECT_EQ(u[8], '-');
  EXPECT_EQ(u[14], '4');
  EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos) << u;
  EXPECT_NE(randomUuid(rng), u);
}

}  // namespace
}  // namespace teredo::agent

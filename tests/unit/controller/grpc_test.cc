// The controller's gRPC wiring, in process on 127.0.0.1 port 0: the Status -> grpc::Status edge
// conversion (codes 1:1, violations as BadRequest details), admin token auth, the agent stream
// end to end (Hello -> Settings/Drain/snapshot -> ACK), refusals, and the mTLS identity check
// with a throwaway CA made by the openssl CLI.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "controller.h"
#include "grpc_services.h"
#include "metrics.h"
#include "teredo/v1/admin.grpc.pb.h"
#include "teredo/v1/agent.grpc.pb.h"

namespace teredo::controller {
namespace {

std::vector<Violation> noViolations(const teredo::v1::AgentConfig&) {
  return {};
}

// Relays need max_peers > 0.
std::vector<Violation> maxPeersValidator(const teredo::v1::AgentConfig& c) {
  if (c.has_relay() && c.relay().relay().max_peers() == 0) {
    return {fieldViolation("relay.relay.max_peers", "must be > 0")};
  }
  return {};
}

class Fixture {
 public:
  explicit Fixture(ServerOptions options, ConfigValidator validator = noViolations) {
    ControllerOptions opts;
    opts.debounce = std::chrono::milliseconds(1);
    controller = std::make_unique<Controller>(
        opts, nullptr, std::move(validator), [] { return std::chrono::system_clock::now(); },
        [this] { return "nonce-" + std::to_string(++nonce); });
    EXPECT_TRUE(controller->load().ok());
    options.tickInterval = std::chrono::milliseconds(5);
    server = std::make_unique<ControllerServer>(*controller, options);
    const Status s = server->start();
    started = s.ok();
    EXPECT_TRUE(started) << s.toString();
  }
  /// An agent's stub on the plaintext agent listener.
  std::unique_ptr<teredo::v1::AgentService::Stub> agentStub() const {
    return teredo::v1::AgentService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server->agentPort()), grpc::InsecureChannelCredentials()));
  }
  std::unique_ptr<Controller> controller;
  std::unique_ptr<ControllerServer> server;
  bool started = false;
  int nonce = 0;
};

/// The error with which a controller server refuses to start (fails the test if it starts).
std::string startError(const ServerOptions& opts) {
  ControllerOptions copts;
  Controller controller(
      copts, nullptr, noViolations, [] { return std::chrono::system_clock::now(); },
      [] { return std::string("n"); });
  ControllerServer server(controller, opts);
  const Status s = server.start();
  EXPECT_FALSE(s.ok());
  return s.message();
}

std::unique_ptr<teredo::v1::AdminService::Stub> adminStub(int port) {
  return teredo::v1::AdminService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
}

// ----- The edge conversion ----------------------------------------------------------------------

TEST(GrpcStatusTest, CodesConvertOneToOne) {
  for (int code = 1; code <= 16; ++code) {
    SCOPED_TRACE(code);
    const Status s = Status::error(static_cast<StatusCode>(code), "boom " + std::to_string(code));
    const grpc::Status g = toGrpcStatus(s);
    EXPECT_EQ(static_cast<int>(g.error_code()), code);
    EXPECT_EQ(g.error_message(), "boom " + std::to_string(code));
    EXPECT_TRUE(g.error_details().empty()) << "no violations, no details";
  }
  EXPECT_TRUE(toGrpcStatus(Status()).ok());
  EXPECT_EQ(toGrpcStatus(Status::error(StatusCode::kNotFound, "x")).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(toGrpcStatus(Status::error(StatusCode::kUnauthenticated, "x")).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(GrpcStatusTest, ViolationsBecomeBadRequestDetails) {
  struct Case {
    const char* name;
    std::vector<Violation> violations;
  } cases[] = {
      {"one", {fieldViolation("role", "must be ROLE_SERVER or ROLE_RELAY")}},
      {"two",
       {fieldViolation("agent[r1].relay.mtu", "must be >= 1280"),
        fieldViolation("config", "must set `server` or `relay`")}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const grpc::Status g = toGrpcStatus(Status::invalid(c.violations, "config rejected"));
    EXPECT_EQ(g.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(g.error_message(), "config rejected");
    // The details are an RpcStatus (code, message, one BadRequest), as clients decode them.
    teredo::v1::RpcStatus rpc;
    ASSERT_TRUE(rpc.ParseFromString(g.error_details()));
    EXPECT_EQ(rpc.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
    EXPECT_EQ(rpc.message(), "config rejected");
    ASSERT_EQ(rpc.details_size(), 1);
    EXPECT_EQ(rpc.details(0).type_url(), "type.googleapis.com/google.rpc.BadRequest");
    const auto decoded = fieldViolations(g);
    ASSERT_EQ(decoded.size(), c.violations.size());
    for (size_t i = 0; i < decoded.size(); ++i) {
      EXPECT_EQ(decoded[i].field(), c.violations[i].key);
      EXPECT_EQ(decoded[i].description(), c.violations[i].message);
    }
  }
  EXPECT_TRUE(fieldViolations(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "x")).empty());
  EXPECT_TRUE(
      fieldViolations(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "x", "\xff\xff")).empty());
}

TEST(GrpcTest, RejectedSetConfigCarriesFieldViolations) {
  Fixture f(ServerOptions{}, maxPeersValidator);
  ASSERT_TRUE(f.started);
  auto admin = adminStub(f.server->adminPort());
  grpc::ClientContext ctx;
  teredo::v1::SetConfigRequest req;
  req.set_role(teredo::v1::ROLE_RELAY);
  req.mutable_config()->mutable_relay()->mutable_relay()->set_max_peers(0);
  teredo::v1::SetConfigResponse resp;
  const grpc::Status s = admin->SetConfig(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "config rejected");
  const auto v = fieldViolations(s);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].field(), "config.relay.relay.max_peers");
  EXPECT_EQ(v[0].description(), "must be > 0");
  EXPECT_EQ(f.controller->currentVersion(), 0u);
}

TEST(GrpcTest, InvalidHelloEndsTheStreamWithViolations) {
  Fixture f(ServerOptions{});
  ASSERT_TRUE(f.started);
  auto agent = f.agentStub();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = agent->Connect(&ctx);
  teredo::v1::AgentMessage hello;
  hello.mutable_hello()->set_agent_id("relay-1");
  hello.mutable_hello()->set_role(teredo::v1::ROLE_RELAY);  // no instance_uid
  ASSERT_TRUE(stream->Write(hello));
  stream->WritesDone();
  teredo::v1::ControllerMessage msg;
  while (stream->Read(&msg)) {
  }
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const auto v = fieldViolations(s);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].field(), "instance_uid");
}

// ----- Authentication and streams ---------------------------------------------------------------

TEST(GrpcTest, AdminApiAuthenticatesAndChecksRoles) {
  ServerOptions opts;
  ASSERT_TRUE(
      addPrincipal(opts.access, {"admin", AccessRole::kAdmin, CredentialKind::kToken, "tok-123"})
          .ok());
  ASSERT_TRUE(
      addPrincipal(opts.access, {"viewer", AccessRole::kRead, CredentialKind::kToken, "view-456"})
          .ok());
  Fixture f(opts);
  ASSERT_TRUE(f.started);
  auto stub = adminStub(f.server->adminPort());
  struct Case {
    const char* header;
    bool write;
    grpc::StatusCode code;
  } cases[] = {{nullptr, false, grpc::StatusCode::UNAUTHENTICATED},
               {"Bearer wrong", false, grpc::StatusCode::UNAUTHENTICATED},
               {"Basic tok-123", false, grpc::StatusCode::UNAUTHENTICATED},
               {"Bearer tok-123", false, grpc::StatusCode::OK},
               {"Bearer view-456", false, grpc::StatusCode::OK},
               {"Bearer view-456", true, grpc::StatusCode::PERMISSION_DENIED},
               {"Bearer tok-123", true, grpc::StatusCode::OK},
               {nullptr, true, grpc::StatusCode::UNAUTHENTICATED}};
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.header == nullptr ? "none" : c.header) +
                 (c.write ? " Drain" : " ListAgents"));
    grpc::ClientContext ctx;
    if (c.header != nullptr) {
      ctx.AddMetadata("authorization", c.header);
    }
    grpc::Status s;
    if (c.write) {
      teredo::v1::DrainRequest req;
      req.set_role(teredo::v1::ROLE_RELAY);
      teredo::v1::DrainResponse resp;
      s = stub->Drain(&ctx, req, &resp);
    } else {
      teredo::v1::ListAgentsResponse resp;
      s = stub->ListAgents(&ctx, {}, &resp);
    }
    EXPECT_EQ(s.error_code(), c.code) << s.error_message();
  }
  // A new access list applies to the next call: the rotated token works, the old one not.
  AccessList rotated;
  ASSERT_TRUE(
      addPrincipal(rotated, {"admin", AccessRole::kAdmin, CredentialKind::kToken, "tok-789"}).ok());
  f.server->setAccess(rotated);
  for (const auto& [token, code] : {std::pair{"Bearer tok-123", grpc::StatusCode::UNAUTHENTICATED},
                                    std::pair{"Bearer tok-789", grpc::StatusCode::OK}}) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", token);
    teredo::v1::ListAgentsResponse resp;
    EXPECT_EQ(stub->ListAgents(&ctx, {}, &resp).error_code(), code) << token;
  }
}

TEST(GrpcTest, AgentStreamReceivesSnapshotAndAcks) {
  Fixture f(ServerOptions{});
  ASSERT_TRUE(f.started);
  auto admin = adminStub(f.server->adminPort());
  {
    grpc::ClientContext ctx;
    teredo::v1::SetConfigRequest req;
    req.set_role(teredo::v1::ROLE_RELAY);
    req.mutable_config()->mutable_relay()->mutable_relay()->set_max_peers(77);
    teredo::v1::SetConfigResponse resp;
    ASSERT_TRUE(admin->SetConfig(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.version(), 1u);
  }
  auto agent = f.agentStub();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = agent->Connect(&ctx);
  teredo::v1::AgentMessage hello;
  hello.mutable_hello()->set_agent_id("relay-1");
  hello.mutable_hello()->set_instance_uid("u1");
  hello.mutable_hello()->set_role(teredo::v1::ROLE_RELAY);
  ASSERT_TRUE(stream->Write(hello));
  teredo::v1::ControllerMessage msg;
  ASSERT_TRUE(stream->Read(&msg));
  EXPECT_TRUE(msg.has_settings());
  ASSERT_TRUE(stream->Read(&msg));
  EXPECT_TRUE(msg.has_drain());
  ASSERT_TRUE(stream->Read(&msg));
  ASSERT_TRUE(msg.has_snapshot());
  EXPECT_EQ(msg.snapshot().version(), 1u);
  EXPECT_EQ(msg.snapshot().config().relay().relay().max_peers(), 77u);
  teredo::v1::AgentMessage ack;
  ack.mutable_ack()->set_version(msg.snapshot().version());
  ack.mutable_ack()->set_nonce(msg.snapshot().nonce());
  ASSERT_TRUE(stream->Write(ack));
  ASSERT_TRUE(stream->WritesDone());
  while (stream->Read(&msg)) {
  }
  EXPECT_TRUE(stream->Finish().ok());  // the server handled the ACK before ending the call
  grpc::ClientContext getCtx;
  teredo::v1::GetAgentRequest req;
  req.set_agent_id("relay-1");
  teredo::v1::GetAgentResponse resp;
  ASSERT_TRUE(admin->GetAgent(&getCtx, req, &resp).ok());
  EXPECT_EQ(resp.agent().applied_version(), 1u);
  EXPECT_EQ(resp.agent().state(), teredo::v1::AGENT_STATE_DISCONNECTED);

  FleetCollectable metrics(*f.controller);
  bool sawAck = false;
  for (const auto& family : metrics.Collect()) {
    for (const auto& m : family.metric) {
      for (const auto& l : m.label) {
        EXPECT_NE(l.value, "relay-1") << family.name << ": agent ids never go into labels";
        if (family.name == "teredo_controller_pushes_total" && l.value == "ack") {
          sawAck = m.counter.value == 1;
        }
      }
    }
  }
  EXPECT_TRUE(sawAck);
}

TEST(GrpcTest, StreamMustStartWithHello) {
  Fixture f(ServerOptions{});
  ASSERT_TRUE(f.started);
  auto agent = f.agentStub();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = agent->Connect(&ctx);
  teredo::v1::AgentMessage ack;
  ack.mutable_ack()->set_version(1);
  ASSERT_TRUE(stream->Write(ack));
  stream->WritesDone();
  teredo::v1::ControllerMessage msg;
  while (stream->Read(&msg)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// ----- mTLS -------------------------------------------------------------------------------------

std::string readAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class MtlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/teredo-mtls-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    const std::string script = dir_ + "/make-certs.sh";
    std::ofstream(script) << "set -e\ncd " << dir_ << "\n"
                          << "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                             " -days 1 -subj /CN=test-ca -keyout ca.key -out ca.crt\n"
                          << "for n in controller relay-1 operator; do\n"
                             "  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                             " -subj /CN=$n -keyout $n.key -out $n.csr\n"
                             "  echo subjectAltName=DNS:$n > $n.ext\n"
                             "  openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key"
                             " -CAcreateserial -days 1 -extfile $n.ext -out $n.crt\n"
                             "done\n"
                          // A second CA, and a controller certificate it signs: the rotation.
                          << "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                             " -days 1 -subj /CN=test-ca-2 -keyout ca2.key -out ca2.crt\n"
                             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                             " -subj /CN=controller -keyout next.key -out next.csr\n"
                             "openssl x509 -req -in next.csr -CA ca2.crt -CAkey ca2.key"
                             " -CAcreateserial -days 1 -extfile controller.ext -out next.crt\n";
    if (std::system(("bash " + script + " >/dev/null 2>&1").c_str()) != 0) {
      GTEST_SKIP() << "openssl CLI could not make test certificates";
    }
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  grpc::Status helloAs(int port, const std::string& agentId) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = readAll(dir_ + "/ca.crt");
    ssl.pem_private_key = readAll(dir_ + "/relay-1.key");
    ssl.pem_cert_chain = readAll(dir_ + "/relay-1.crt");
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("controller");
    auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                             grpc::SslCredentials(ssl), args);
    auto agent = teredo::v1::AgentService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    auto stream = agent->Connect(&ctx);
    teredo::v1::AgentMessage hello;
    hello.mutable_hello()->set_agent_id(agentId);
    hello.mutable_hello()->set_instance_uid("u1");
    hello.mutable_hello()->set_role(teredo::v1::ROLE_RELAY);
    stream->Write(hello);
    teredo::v1::ControllerMessage msg;
    if (stream->Read(&msg)) {
      EXPECT_TRUE(msg.has_settings());
    }
    stream->WritesDone();
    while (stream->Read(&msg)) {
      // Finish() only returns once every message from the server has been read.
    }
    return stream->Finish();
  }

  /// Whether an admin call over TLS succeeds for a client that trusts only `caFile` (a new
  /// connection each time: local subchannel pool).
  bool trustedBy(int port, const std::string& caFile) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = readAll(caFile);
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("controller");
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto admin = teredo::v1::AdminService::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(port), grpc::SslCredentials(ssl), args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    teredo::v1::ListAgentsResponse resp;
    return admin->ListAgents(&ctx, {}, &resp).ok();
  }

  /// Replaces `to` with the contents of `from` atomically (write, then rename).
  void replaceFile(const std::string& from, const std::string& to) {
    std::ofstream(to + ".tmp") << readAll(from);
    ASSERT_EQ(std::rename((to + ".tmp").c_str(), to.c_str()), 0);
  }

  std::string dir_;
};

TEST_F(MtlsTest, RotatedCertificateAppliesWithoutRestart) {
  replaceFile(dir_ + "/controller.crt", dir_ + "/live.crt");
  replaceFile(dir_ + "/controller.key", dir_ + "/live.key");
  ServerOptions opts;
  opts.tls.certFile = dir_ + "/live.crt";
  opts.tls.keyFile = dir_ + "/live.key";
  opts.tls.refresh = std::chrono::seconds(1);
  Fixture f(opts);
  ASSERT_TRUE(f.started);
  const int port = f.server->adminPort();
  EXPECT_TRUE(trustedBy(port, dir_ + "/ca.crt"));
  EXPECT_FALSE(trustedBy(port, dir_ + "/ca2.crt"));

  // Rotate to the certificate signed by the second CA; the running controller picks it up.
  replaceFile(dir_ + "/next.key", dir_ + "/live.key");
  replaceFile(dir_ + "/next.crt", dir_ + "/live.crt");
  bool rotated = false;
  for (int i = 0; i < 60 && !rotated; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    rotated = trustedBy(port, dir_ + "/ca2.crt");
  }
  EXPECT_TRUE(rotated) << "the new certificate was not served within 15 s";
  EXPECT_FALSE(trustedBy(port, dir_ + "/ca.crt")) << "the old certificate is still served";
}

TEST_F(MtlsTest, FileWithoutPemIsAStartError) {
  std::ofstream(dir_ + "/garbage.crt") << "not a certificate\n";
  ServerOptions opts;
  opts.tls.certFile = dir_ + "/garbage.crt";
  opts.tls.keyFile = dir_ + "/controller.key";
  const std::string error = startError(opts);
  EXPECT_NE(error.find("tls.cert_file"), std::string::npos) << error;
  EXPECT_NE(error.find("no PEM"), std::string::npos) << error;
}

TEST_F(MtlsTest, HelloIdMustMatchClientCertificate) {
  ServerOptions opts;
  opts.tls.certFile = dir_ + "/controller.crt";
  opts.tls.keyFile = dir_ + "/controller.key";
  opts.tls.caFile = dir_ + "/ca.crt";
  opts.tls.requireClientCert = true;
  Fixture f(opts);
  ASSERT_TRUE(f.started);
  EXPECT_TRUE(helloAs(f.server->agentPort(), "relay-1").ok());
  const auto refused = helloAs(f.server->agentPort(), "relay-2");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED) << refused.error_message();
  // A client without a certificate does not get in at all.
  auto plain = teredo::v1::AdminService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(f.server->adminPort()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  teredo::v1::ListAgentsResponse resp;
  EXPECT_FALSE(plain->ListAgents(&ctx, {}, &resp).ok());
}

TEST_F(MtlsTest, AgentCertificatesNeverAuthoriseAdminCalls) {
  ServerOptions opts;
  opts.tls.certFile = dir_ + "/controller.crt";
  opts.tls.keyFile = dir_ + "/controller.key";
  opts.tls.caFile = dir_ + "/ca.crt";
  opts.tls.requireClientCert = true;
  ASSERT_TRUE(
      addPrincipal(opts.access, {"admin", AccessRole::kAdmin, CredentialKind::kToken, "tok-123"})
          .ok());
  ASSERT_TRUE(
      addPrincipal(opts.access, {"ops", AccessRole::kAdmin, CredentialKind::kCert, "operator"})
          .ok());
  Fixture f(opts);
  ASSERT_TRUE(f.started);
  auto drainAs = [&](const std::string& cert, const char* token) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = readAll(dir_ + "/ca.crt");
    ssl.pem_private_key = readAll(dir_ + "/" + cert + ".key");
    ssl.pem_cert_chain = readAll(dir_ + "/" + cert + ".crt");
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("controller");
    auto stub = teredo::v1::AdminService::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(f.server->adminPort()), grpc::SslCredentials(ssl), args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (token != nullptr) {
      ctx.AddMetadata("authorization", token);
    }
    teredo::v1::DrainRequest req;
    req.set_role(teredo::v1::ROLE_RELAY);
    teredo::v1::DrainResponse resp;
    return stub->Drain(&ctx, req, &resp);
  };
  const grpc::Status agent = drainAs("relay-1", nullptr);
  EXPECT_EQ(agent.error_code(), grpc::StatusCode::UNAUTHENTICATED) << agent.error_message();
  EXPECT_NE(agent.error_message().find("relay-1"), std::string::npos) << agent.error_message();
  EXPECT_TRUE(drainAs("operator", nullptr).ok()) << "a listed certificate is enough";
  EXPECT_TRUE(drainAs("relay-1", "Bearer tok-123").ok()) << "the token identifies the caller";
}

TEST(GrpcTest, MissingTlsFilesAreAStartError) {
  ServerOptions opts;
  opts.tls.certFile = "/nonexistent/cert.pem";
  EXPECT_NE(startError(opts).find("tls.cert_file"), std::string::npos);
}

}  // namespace
}  // namespace teredo::controller

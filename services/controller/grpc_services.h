// gRPC wiring of teredo-controller: AgentService (one bidi stream per agent, translated into
// Controller calls), AdminService (named principals by token or client certificate, roles read and
// admin: access.h), and a ControllerServer that owns two grpc::Server instances (agent port, admin
// port), the health and reflection services, and the tick thread that drives debouncing and ACK
// timeouts.
//
// This is the controller's gRPC edge: the core returns teredo::Status, and toGrpcStatus() is
// where it becomes a grpc::Status (same code, same message, violations as the
// google.rpc.BadRequest details clients decode).
//
// Thread-safety: ControllerServer::start/shutdown from one thread; the services are called by
// gRPC's threads and only use the thread-safe Controller. Each agent stream uses the handler
// thread for reads and one writer thread for writes.
// Ownership: ControllerServer borrows the Controller, which must outlive it.
#pragma once

#include <chrono>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "access.h"
#include "base/status.h"
#include "controller.h"
#include "teredo/v1/admin.grpc.pb.h"
#include "teredo/v1/agent.grpc.pb.h"

namespace teredo::controller {

/// Server-side TLS for both listeners. Off when certFile is empty.
struct TlsFiles {
  std::string certFile;
  std::string keyFile;
  /// CA that signs client certificates; with it, client certificates are verified.
  std::string caFile;
  /// Refuse connections without a valid client certificate (mTLS).
  bool requireClientCert = false;
  /// How often the three files are re-read: a rotated certificate, key or CA applies to the
  /// connections made after the next refresh, without a restart (existing ones keep theirs).
  std::chrono::seconds refresh{60};
};

struct ServerOptions {
  /// "host:port" (port 0 = pick one) or "unix:/path".
  std::string agentListen = "127.0.0.1:0";
  std::string adminListen = "127.0.0.1:0";
  TlsFiles tls;
  /// Who may call the admin API (access.h); empty = authentication off (tests only).
  AccessList access;
  std::chrono::milliseconds tickInterval{50};
};

/// The gRPC status of a core status: the same code (the numbers are gRPC's) and message. When
/// `status` carries violations, the binary details hold an RpcStatus (admin.proto) with a
/// BadRequest whose field violations are {field = key, description = message} (requests do not
/// come from files, so violations carry no file position here).
grpc::Status toGrpcStatus(const Status& status);
/// Decodes the violations of a status built by toGrpcStatus() (empty if none).
std::vector<teredo::v1::FieldViolation> fieldViolations(const grpc::Status& status);

/// True when `header` is exactly "Bearer <token>", compared in constant time.

/// The identities (CN and SANs) of the peer's verified certificate; empty without one.
std::vector<std::string> peerIdentities(const grpc::ServerContext& context);

class AgentServiceImpl final : public teredo::v1::AgentService::Service {
 public:
  /// With `requireIdentity`, a Hello whose agent_id is not among the certificate's identities is
  /// refused (PERMISSION_DENIED); without it, the check is done whenever a certificate exists.
  AgentServiceImpl(Controller& controller, bool requireIdentity)
      : controller_(controller), requireIdentity_(requireIdentity) {}

  grpc::Status Connect(grpc::ServerContext* context,
                       grpc::ServerReaderWriter<teredo::v1::ControllerMessage,
                                                teredo::v1::AgentMessage>* stream) override;

 private:
  Controller& controller_;
  const bool requireIdentity_;
};

/// The admin API. Every call is authorised by authorizeCall() against the access list: read-only
/// methods need role read, the ones that change state (SetConfig, Rollback, Drain, Undrain,
/// ForgetAgent) need
/// admin and write one audit log line each; SetConfig, Rollback and
/// ForgetAgent also keep the principal as the history entry's author (method, caller, peer, target,
/// result; dry runs and refused calls included).
class AdminServiceImpl final : public teredo::v1::AdminService::Service {
 public:
  AdminServiceImpl(Controller& controller, AccessList access)
      : controller_(controller), access_(std::make_shared<const AccessList>(std::move(access))) {}

  /// Replaces the access list (SIGHUP after a rotation); calls already authorised finish.
  /// Any thread.
  void setAccess(AccessList access) {
    access_.store(std::make_shared<const AccessList>(std::move(access)));
  }

#define TEREDO_ADMIN_METHOD(Name)                                                       \
  grpc::Status Name(grpc::ServerContext* context, const teredo::v1::Name##Request* req, \
                    teredo::v1::Name##Response* resp) override;
  TEREDO_ADMIN_METHOD(ListAgents)
  TEREDO_ADMIN_METHOD(GetAgent)
  TEREDO_ADMIN_METHOD(GetFleetStats)
  TEREDO_ADMIN_METHOD(GetNatStats)
  TEREDO_ADMIN_METHOD(GetConfig)
  TEREDO_ADMIN_METHOD(SetConfig)
  TEREDO_ADMIN_METHOD(ListConfigVersions)
  TEREDO_ADMIN_METHOD(Rollback)
  TEREDO_ADMIN_METHOD(Drain)
  TEREDO_ADMIN_METHOD(Undrain)
  TEREDO_ADMIN_METHOD(ForgetAgent)
#undef TEREDO_ADMIN_METHOD

 private:
  AccessDecision authorize(const grpc::ServerContext& context, bool changesState) const;

  Controller& controller_;
  std::atomic<std::shared_ptr<const AccessList>> access_;
};

class ControllerServer {
 public:
  ControllerServer(Controller& controller, ServerOptions options);
  ~ControllerServer();

  /// Binds both listeners and starts serving. An error naming the setting on failure.
  Status start();
  /// Stops accepting, ends streams, joins threads. Idempotent.
  void shutdown();
  /// Block until shutdown() is called from another thread.
  void wait();

  /// Replaces the admin API's access list (see AdminServiceImpl::setAccess); after start().
  void setAccess(AccessList access) {
    if (adminService_) {
      adminService_->setAccess(std::move(access));
    }
  }

  /// Bound TCP ports (0 for unix sockets), valid after start().
  int agentPort() const { return agentPort_; }
  int adminPort() const { return adminPort_; }

 private:
  StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials() const;

  Controller& controller_;
  const ServerOptions options_;
  std::unique_ptr<AgentServiceImpl> agentService_;
  std::unique_ptr<AdminServiceImpl> adminService_;
  std::unique_ptr<grpc::Server> agentServer_;
  std::unique_ptr<grpc::Server> adminServer_;
  int agentPort_ = 0;
  int adminPort_ = 0;
  std::thread ticker_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

}  // namespace teredo::controller

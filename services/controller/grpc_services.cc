#include "grpc_services.h"

#include <algorithm>
#include <deque>
#include <optional>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "agent/log.h"
#include "base/file.h"
#include "config/proto_translate.h"

namespace teredo::controller {
namespace {

// Bounded per-stream outbound queue. The Controller pushes at most one snapshot per agent
// at a time, so a full queue means a stuck stream: it is cancelled.
constexpr size_t kMaxQueuedMessages = 64;

constexpr const char* kBadRequestType = "type.googleapis.com/google.rpc.BadRequest";

// Queues messages from the Controller (under its lock) for the stream's writer thread.
class StreamSink final : public AgentSink {
 public:
  explicit StreamSink(grpc::ServerContext* context) : context_(context) {}

  void send(const teredo::v1::ControllerMessage& msg) override {
    std::lock_guard lock(mu_);
    if (done_) {
      return;
    }
    if (queue_.size() >= kMaxQueuedMessages) {
      closeLocked(Status::error(StatusCode::kResourceExhausted, "agent not reading"));
      return;
    }
    queue_.push_back(msg);
    cv_.notify_one();
  }

  void close(const Status& status) override {
    std::lock_guard lock(mu_);
    closeLocked(status);
  }

  /// Writer loop: runs until stop() or close(), or until a write fails.
  void run(
      grpc::ServerReaderWriter<teredo::v1::ControllerMessage, teredo::v1::AgentMessage>* stream) {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return done_ || !queue_.empty(); });
      if (done_) {
        return;
      }
      const teredo::v1::ControllerMessage msg = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      const bool ok = stream->Write(msg);
      lock.lock();
      if (!ok) {
        closeLocked(Status::error(StatusCode::kUnavailable, "write failed"));
        return;
      }
    }
  }

  void stop() {
    std::lock_guard lock(mu_);
    done_ = true;
    cv_.notify_all();
  }

  /// The status set by close(), if any.
  std::optional<Status> closeStatus() {
    std::lock_guard lock(mu_);
    return closeStatus_;
  }

 private:
  void closeLocked(const Status& status) {
    if (!closeStatus_) {
      closeStatus_ = status;
    }
    done_ = true;
    cv_.notify_all();
    context_->TryCancel();  // unblocks the handler's Read()
  }

  grpc::ServerContext* const context_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<teredo::v1::ControllerMessage> queue_;
  bool done_ = false;
  std::optional<Status> closeStatus_;
};

}  // namespace

grpc::Status toGrpcStatus(const Status& status) {
  if (status.ok()) {
    return grpc::Status::OK;
  }
  const auto code = static_cast<grpc::StatusCode>(status.code());
  if (status.violations().empty()) {
    return grpc::Status(code, status.message());
  }
  teredo::v1::BadRequest bad;
  for (const Violation& v : status.violations()) {
    teredo::v1::FieldViolation* out = bad.add_field_violations();
    out->set_field(v.key);
    out->set_description(v.message);
  }
  teredo::v1::RpcStatus rpc;
  rpc.set_code(static_cast<int32_t>(code));
  rpc.set_message(status.message());
  auto* any = rpc.add_details();
  any->set_type_url(kBadRequestType);
  any->set_value(bad.SerializeAsString());
  return grpc::Status(code, status.message(), rpc.SerializeAsString());
}

std::vector<teredo::v1::FieldViolation> fieldViolations(const grpc::Status& status) {
  std::vector<teredo::v1::FieldViolation> out;
  teredo::v1::RpcStatus rpc;
  if (status.error_details().empty() || !rpc.ParseFromString(status.error_details())) {
    return out;
  }
  for (const auto& any : rpc.details()) {
    teredo::v1::BadRequest bad;
    if (any.type_url() == kBadRequestType && bad.ParseFromString(any.value())) {
      out.insert(out.end(), bad.field_violations().begin(), bad.field_violations().end());
    }
  }
  return out;
}

std::vector<std::string> peerIdentities(const grpc::ServerContext& context) {
  std::vector<std::string> out;
  const auto auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) {
    return out;
  }
  for (const char* property : {"x509_common_name", "x509_subject_alternative_name"}) {
    for (const auto& value : auth->FindPropertyValues(property)) {
      out.emplace_back(value.data(), value.size());
    }
  }
  return out;
}

grpc::Status AgentServiceImpl::Connect(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<teredo::v1::ControllerMessage, teredo::v1::AgentMessage>* stream) {
  teredo::v1::AgentMessage first;
  if (!stream->Read(&first)) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "stream closed before Hello");
  }
  if (!first.has_hello()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first message must be a Hello");
  }
  const auto identities = peerIdentities(*context);
  if (requireIdentity_ || !identities.empty()) {
    if (std::find(identities.begin(), identities.end(), first.hello().agent_id()) ==
        identities.end()) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "agent_id " + first.hello().agent_id() +
                              " matches neither the CN nor a SAN of the client certificate");
    }
  }
  StreamSink sink(context);
  const StatusOr<SessionId> hello = controller_.hello(first.hello(), &sink);
  if (!hello.ok()) {
    return toGrpcStatus(hello.status());
  }
  const SessionId session = *hello;
  std::thread writer([&] { sink.run(stream); });
  teredo::v1::AgentMessage msg;
  grpc::Status result = grpc::Status::OK;
  while (stream->Read(&msg)) {
    switch (msg.kind_case()) {
      case teredo::v1::AgentMessage::kAck:
        controller_.ack(session, msg.ack());
        break;
      case teredo::v1::AgentMessage::kNack:
        controller_.nack(session, msg.nack());
        break;
      case teredo::v1::AgentMessage::kStats:
        controller_.stats(session, msg.stats());
        break;
      case teredo::v1::AgentMessage::kHello:
        result = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a second Hello");
        context->TryCancel();
        break;
      default:
        break;  // unknown kinds from newer agents are ignored
    }
    if (!result.ok()) {
      break;
    }
  }
  controller_.disconnect(session);
  sink.stop();
  writer.join();
  if (auto closed = sink.closeStatus()) {
    return toGrpcStatus(*closed);
  }
  return result;
}

AccessDecision AdminServiceImpl::authorize(const grpc::ServerContext& context,
                                           bool changesState) const {
  const std::shared_ptr<const AccessList> access = access_.load();
  const auto& md = context.client_metadata();
  const auto it = md.find("authorization");
  std::optional<std::string_view> header;
  if (it != md.end()) {
    header = std::string_view(it->second.data(), it->second.size());
  }
  return authorizeCall(*access, header, peerIdentities(context), changesState);
}

namespace {

// What an audited call acted on, for its log line.
std::string roleOrAgent(const std::string& agentId, teredo::v1::Role role) {
  return agentId.empty() ? "role " + std::string(config::roleName(role)) : "agent " + agentId;
}
std::string auditTarget(const teredo::v1::SetConfigRequest& req,
                        const teredo::v1::SetConfigResponse& resp) {
  std::string t = req.has_agent_id() ? "agent " + req.agent_id()
                                     : "role " + std::string(config::roleName(req.role()));
  t += req.remove_override() ? ", remove override" : "";
  t += req.dry_run() ? ", dry run" : "";
  return t + ", version " + std::to_string(resp.version());
}
std::string auditTarget(const teredo::v1::RollbackRequest& req,
                        const teredo::v1::RollbackResponse& resp) {
  return "to version " + std::to_string(req.to_version()) + (req.dry_run() ? ", dry run" : "") +
         ", version " + std::to_string(resp.version());
}
std::string auditTarget(const teredo::v1::DrainRequest& req, const teredo::v1::DrainResponse&) {
  return roleOrAgent(req.agent_id(), req.role());
}
std::string auditTarget(const teredo::v1::UndrainRequest& req, const teredo::v1::UndrainResponse&) {
  return roleOrAgent(req.agent_id(), req.role());
}
std::string auditTarget(const teredo::v1::ForgetAgentRequest& req,
                        const teredo::v1::ForgetAgentResponse& resp) {
  return "agent " + req.agent_id() + ", version " + std::to_string(resp.version());
}

}  // namespace

// Read-only calls: role read, not audited.
#define TEREDO_ADMIN_IMPL(Name, method)                                                   \
  grpc::Status AdminServiceImpl::Name(grpc::ServerContext* context,                       \
                                      const teredo::v1::Name##Request* req,               \
                                      teredo::v1::Name##Response* resp) {                 \
    if (const AccessDecision d = authorize(*context, false); d.code != StatusCode::kOk) { \
      return grpc::Status(static_cast<grpc::StatusCode>(d.code), d.message);              \
    }                                                                                     \
    return toGrpcStatus(controller_.method(*req, resp));                                  \
  }
// Calls that change state: role admin, one audit line each, refused ones included. Extra
// arguments (the caller, as the history entry's author) follow the request and response.
#define TEREDO_ADMIN_AUDITED_IMPL(Name, method, ...)                                    \
  grpc::Status AdminServiceImpl::Name(grpc::ServerContext* context,                     \
                                      const teredo::v1::Name##Request* req,             \
                                      teredo::v1::Name##Response* resp) {               \
    const AccessDecision d = authorize(*context, true);                                 \
    grpc::Status s(static_cast<grpc::StatusCode>(d.code), d.message);                   \
    if (s.ok()) {                                                                       \
      s = toGrpcStatus(controller_.method(*req, resp __VA_OPT__(, ) __VA_ARGS__));      \
    }                                                                                   \
    TEREDO_LOG(s.ok() ? agent::LogLevel::Info : agent::LogLevel::Warn, "admin change",  \
               {"method", #Name}, {"caller", d.caller}, {"peer", context->peer()},      \
               {"target", auditTarget(*req, *resp)},                                    \
               {"result", s.ok() ? std::string("ok") : std::to_string(s.error_code())}, \
               {"detail", s.error_message()});                                          \
    return s;                                                                           \
  }
TEREDO_ADMIN_IMPL(ListAgents, listAgents)
TEREDO_ADMIN_IMPL(GetAgent, getAgent)
TEREDO_ADMIN_IMPL(GetFleetStats, getFleetStats)
TEREDO_ADMIN_IMPL(GetNatStats, getNatStats)
TEREDO_ADMIN_IMPL(GetConfig, getConfig)
TEREDO_ADMIN_AUDITED_IMPL(SetConfig, setConfig, d.caller)
TEREDO_ADMIN_IMPL(ListConfigVersions, listConfigVersions)
TEREDO_ADMIN_AUDITED_IMPL(Rollback, rollback, d.caller)
TEREDO_ADMIN_AUDITED_IMPL(Drain, drain)
TEREDO_ADMIN_AUDITED_IMPL(Undrain, undrain)
TEREDO_ADMIN_AUDITED_IMPL(ForgetAgent, forgetAgent, d.caller)
#undef TEREDO_ADMIN_AUDITED_IMPL
#undef TEREDO_ADMIN_IMPL

ControllerServer::ControllerServer(Controller& controller, ServerOptions options)
    : controller_(controller), options_(std::move(options)) {}

ControllerServer::~ControllerServer() {
  shutdown();
}

StatusOr<std::shared_ptr<grpc::ServerCredentials>> ControllerServer::credentials() const {
  const TlsFiles& tls = options_.tls;
  if (tls.certFile.empty()) {
    if (tls.requireClientCert) {
      return Status::error(StatusCode::kInvalidArgument,
                           "tls.require_client_cert needs tls.cert_file and tls.key_file");
    }
    return grpc::InsecureServerCredentials();
  }
  // Checked here so that a wrong path or a file that holds no PEM block is a start error naming
  // the key. Afterwards gRPC's file watcher re-reads the files every tls.refresh, so rotated
  // certificates apply to new connections without a restart (as on the agent side).
  const struct {
    const std::string* path;
    const char* key;
  } files[] = {{&tls.certFile, "tls.cert_file"},
               {&tls.keyFile, "tls.key_file"},
               {&tls.caFile, "tls.ca_file"}};
  for (const auto& f : files) {
    if (f.path->empty()) {
      continue;
    }
    const StatusOr<std::string> text = readFile(*f.path);
    if (!text.ok()) {
      return text.status().withContext(std::string("cannot read ") + f.key);
    }
    if (text->find("-----BEGIN ") == std::string::npos) {
      return Status::error(StatusCode::kInvalidArgument,
                           std::string(f.key) + " " + *f.path + " holds no PEM data");
    }
  }
  if (tls.caFile.empty() && tls.requireClientCert) {
    return Status::error(StatusCode::kInvalidArgument, "tls.require_client_cert needs tls.ca_file");
  }
  const auto refresh = static_cast<unsigned>(std::max<int64_t>(1, tls.refresh.count()));
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      tls.keyFile, tls.certFile, tls.caFile, refresh);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (tls.caFile.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(tls.requireClientCert
                                      ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                      : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

Status ControllerServer::start() {
  StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds = credentials();
  if (!creds.ok()) {
    return creds.status();
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  agentService_ = std::make_unique<AgentServiceImpl>(controller_, options_.tls.requireClientCert);
  adminService_ = std::make_unique<AdminServiceImpl>(controller_, options_.access);
  {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(options_.agentListen, *creds, &agentPort_);
    builder.RegisterService(agentService_.get());
    agentServer_ = builder.BuildAndStart();
    if (agentServer_ == nullptr) {
      return Status::error(StatusCode::kUnavailable,
                           "cannot listen on controller.agent_listen " + options_.agentListen);
    }
  }
  {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(options_.adminListen, *creds, &adminPort_);
    builder.RegisterService(adminService_.get());
    adminServer_ = builder.BuildAndStart();
    if (adminServer_ == nullptr) {
      agentServer_->Shutdown();
      agentServer_.reset();
      return Status::error(StatusCode::kUnavailable,
                           "cannot listen on controller.admin_listen " + options_.adminListen);
    }
  }
  ticker_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      controller_.tick();
      lock.lock();
      cv_.wait_for(lock, options_.tickInterval, [this] { return stopping_; });
    }
  });
  return Status();
}

void ControllerServer::shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !ticker_.joinable() && agentServer_ == nullptr) {
      return;
    }
    stopping_ = true;
    cv_.notify_all();
  }
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(2);
  if (agentServer_ != nullptr) {
    agentServer_->Shutdown(deadline);  // cancels agent streams still open at the deadline
  }
  if (adminServer_ != nullptr) {
    adminServer_->Shutdown(deadline);
  }
  if (ticker_.joinable()) {
    ticker_.join();
  }
  agentServer_.reset();
  adminServer_.reset();
}

void ControllerServer::wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return stopping_; });
}

}  // namespace teredo::controller

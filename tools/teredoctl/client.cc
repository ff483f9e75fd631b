// teredoctl's gRPC channel, credentials and error reports; see client.h.
#include "client.h"

#include "base/file.h"

namespace teredoctl {

namespace {

const char* codeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    default:
      return "ERROR";
  }
}

// The content of the file an option names; the error says which option.
teredo::StatusOr<std::string> readOptionFile(const std::string& option, const std::string& path) {
  auto content = teredo::readFile(path);
  if (!content.ok()) {
    return content.status().withContext(option);
  }
  return content;
}

}  // namespace

teredo::StatusOr<std::unique_ptr<AdminClient>> AdminClient::create(const GlobalOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  grpc::ChannelArguments args;
  if (!options.caFile.empty() || !options.certFile.empty()) {
    grpc::SslCredentialsOptions ssl;
    if (!options.caFile.empty()) {
      auto ca = readOptionFile("--tls-ca", options.caFile);
      if (!ca.ok()) {
        return ca.status();
      }
      ssl.pem_root_certs = std::move(*ca);
    }
    if (!options.certFile.empty()) {
      auto cert = readOptionFile("--tls-cert", options.certFile);
      if (!cert.ok()) {
        return cert.status();
      }
      auto key = readOptionFile("--tls-key", options.keyFile);
      if (!key.ok()) {
        return key.status();
      }
      ssl.pem_cert_chain = std::move(*cert);
      ssl.pem_private_key = std::move(*key);
    }
    if (!options.serverName.empty()) {
      args.SetSslTargetNameOverride(options.serverName);
    }
    creds = grpc::SslCredentials(ssl);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  std::string token;
  if (!options.tokenFile.empty()) {
    auto content = readOptionFile("--token-file", options.tokenFile);
    if (!content.ok()) {
      return content.status();
    }
    token = std::move(*content);
    while (!token.empty() &&
           (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
      token.pop_back();
    }
  }
  auto stub = v1::AdminService::NewStub(grpc::CreateCustomChannel(options.controller, creds, args));
  return std::unique_ptr<AdminClient>(new AdminClient(
      std::move(stub), std::move(token), std::chrono::seconds(options.timeoutSeconds)));
}

int reportRpcError(std::ostream& err, const grpc::Status& status) {
  err << "teredoctl: " << codeName(status.error_code()) << ": " << status.error_message() << "\n";
  v1::RpcStatus rpc;
  if (!status.error_details().empty() && rpc.ParseFromString(status.error_details())) {
    for (const auto& any : rpc.details()) {
      v1::BadRequest bad;
      if (any.type_url() == "type.googleapis.com/google.rpc.BadRequest" &&
          bad.ParseFromString(any.value())) {
        for (const auto& v : bad.field_violations()) {
          err << "  " << v.field() << ": " << v.description() << "\n";
        }
      }
    }
  }
  return status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ? kExitInvalidArgument
                                                                   : kExitFailure;
}

}  // namespace teredoctl

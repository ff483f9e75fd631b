// AdminClient: teredoctl's connection to teredo-controller's AdminService. Builds the channel
// from the global options (plain, TLS with --tls-ca, mTLS with --tls-cert/--tls-key, the
// expected server name), reads the bearer token, and makes each call with the token and the
// --timeout deadline. reportRpcError() prints a failed call and gives its exit status.
//
// Thread-safety: an AdminClient is used by one thread at a time (teredoctl has one); the
// underlying gRPC channel itself is thread-safe.
// Ownership: an AdminClient owns its channel stub and a copy of what it needs of the options.
#pragma once

#include <chrono>
#include <memory>
#include <ostream>
#include <string>

#include <grpcpp/grpcpp.h>

#include "base/status.h"
#include "cli.h"
#include "teredo/v1/admin.grpc.pb.h"

namespace teredoctl {

class AdminClient {
 public:
  /// A client for `options.controller`; an error when a TLS file or the token file cannot be
  /// read. Does not contact the controller (the first call does).
  static teredo::StatusOr<std::unique_ptr<AdminClient>> create(const GlobalOptions& options);

  /// Calls `method` of the stub (e.g. &v1::AdminService::Stub::GetAgent) with the token and
  /// the deadline.
  template <class Req, class Resp>
  grpc::Status call(grpc::Status (v1::AdminService::Stub::*method)(grpc::ClientContext*, const Req&,
                                                                   Resp*),
                    const Req& request, Resp* response) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout_);
    if (!token_.empty()) {
      ctx.AddMetadata("authorization", "Bearer " + token_);
    }
    return (stub_.get()->*method)(&ctx, request, response);
  }

 private:
  AdminClient(std::unique_ptr<v1::AdminService::Stub> stub, std::string token,
              std::chrono::seconds timeout)
      : stub_(std::move(stub)), token_(std::move(token)), timeout_(timeout) {}

  std::unique_ptr<v1::AdminService::Stub> stub_;
  std::string token_;
  std::chrono::seconds timeout_;
};

/// Prints "teredoctl: CODE: message" and the request's field violations (google.rpc.BadRequest
/// details) on `err`; returns kExitInvalidArgument for INVALID_ARGUMENT, else kExitFailure.
int reportRpcError(std::ostream& err, const grpc::Status& status);

}  // namespace teredoctl

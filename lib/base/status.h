// Status and StatusOr<T>: the one error type of every library under lib/ and of the services'
// cores. gRPC statuses exist only at the gRPC edge (services/controller/grpc_services.cc,
// lib/agent/controller_client.cc, tools/teredoctl), which converts with the same code numbers.
//
// A Status is OK, or carries
//   - a code (the gRPC numbering, so the edge converts 1:1),
//   - a message naming the operation and the object involved ("bind 198.51.100.7:3544: Cannot
//     assign requested address"), printable as one error line,
//   - the errno value when it came from a system call (0 otherwise),
//   - violations: the fields a caller got wrong, each with its file:line when it came from a
//     file (config errors; the gRPC edge turns them into google.rpc.BadRequest details).
//
// The packet path never builds a Status (it allocates): per-packet functions return a typed
// decision or a DropReason (lib/teredo/drop_reason.h), and per-packet system calls a negative
// errno.
//
// Thread-safety: values; distinct objects may be used from distinct threads freely.
// Ownership: a Status owns its strings.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace teredo {

/// The gRPC status codes, same numbers (grpc::StatusCode / google.rpc.Code).
enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

/// "INVALID_ARGUMENT", as gRPC prints codes.
std::string_view statusCodeName(StatusCode code);

/// One thing a caller got wrong: a config key or request field, where it was written (file,
/// line and column; empty/0 when it did not come from a file) and what is wrong with it.
struct Violation {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key;  ///< dotted path, e.g. "server.mtu" or "config.relay.mtu"
  std::string message;
  /// "file:line:column: key: message" (unknown parts left out).
  std::string format() const;
  friend bool operator==(const Violation&, const Violation&) = default;
};

class [[nodiscard]] Status {
 public:
  /// OK.
  Status() = default;

  /// An error with `code`, a full message and the violations behind it, if any. `code` must
  /// not be kOk.
  static Status error(StatusCode code, std::string message, std::vector<Violation> violations = {});
  /// A system call's failure: "<context>: <strerror(err)>", code derived from errno.
  static Status fromErrno(int err, std::string_view context);
  /// kInvalidArgument carrying `violations`; the message is `summary`, or every violation
  /// formatted one per line when `summary` is empty.
  static Status invalid(std::vector<Violation> violations, std::string summary = {});

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  /// The errno value, or 0 when the error did not come from a system call.
  int sysErrno() const { return errno_; }
  /// Empty when OK.
  const std::string& message() const { return message_; }
  const std::vector<Violation>& violations() const { return violations_; }

  /// This status with "<context>: " put in front of its message (OK stays OK).
  Status withContext(std::string_view context) const&;

  /// "OK" or "CODE: message".
  std::string toString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  int errno_ = 0;
  std::string message_;
  std::vector<Violation> violations_;
};

/// The errno text of `err`, e.g. "Cannot assign requested address". Thread-safe.
std::string errnoText(int err);

/// Either a T or an error Status. T may be move-only.
template <class T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}         // NOLINT(implicit)
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT(implicit)
    assert(!status_.ok());
  }

  bool ok() const { return value_.has_value(); }
  /// OK when a value is held.
  const Status& status() const { return status_; }
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace teredo

#include "base/status.h"

#include <cerrno>
#include <system_error>

namespace teredo {
namespace {

StatusCode codeForErrno(int err) {
  switch (err) {
    case EACCES:
    case EPERM:
      return StatusCode::kPermissionDenied;
    case ENOENT:
    case ENODEV:
    case ENXIO:
    case ESRCH:  // rtnetlink: no such route
      return StatusCode::kNotFound;
    case EEXIST:
    case EADDRINUSE:
      return StatusCode::kAlreadyExists;
    case EINVAL:
      return StatusCode::kInvalidArgument;
    case ENOMEM:
    case ENOBUFS:
    case EMFILE:
    case ENFILE:
    case ENOSPC:
      return StatusCode::kResourceExhausted;
    case EAGAIN:
    case EADDRNOTAVAIL:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ECONNREFUSED:
      return StatusCode::kUnavailable;
    case ETIMEDOUT:
      return StatusCode::kDeadlineExceeded;
    default:
      return StatusCode::kInternal;
  }
}

}  // namespace

std::string_view statusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kCancelled:
      return "CANCELLED";
    case StatusCode::kUnknown:
      return "UNKNOWN";
    case StatusCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case StatusCode::kDeadlineExceeded:
      return "DEADLINE_EXCEEDED";
    case StatusCode::kNotFound:
      return "NOT_FOUND";
    case StatusCode::kAlreadyExists:
      return "ALREADY_EXISTS";
    case StatusCode::kPermissionDenied:
      return "PERMISSION_DENIED";
    case StatusCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case StatusCode::kFailedPrecondition:
      return "FAILED_PRECONDITION";
    case StatusCode::kAborted:
      return "ABORTED";
    case StatusCode::kOutOfRange:
      return "OUT_OF_RANGE";
    case StatusCode::kUnimplemented:
      return "UNIMPLEMENTED";
    case StatusCode::kInternal:
      return "INTERNAL";
    case StatusCode::kUnavailable:
      return "UNAVAILABLE";
    case StatusCode::kDataLoss:
      return "DATA_LOSS";
    case StatusCode::kUnauthenticated:
      return "UNAUTHENTICATED";
  }
  return "UNKNOWN";
}

std::string Violation::format() const {
  std::string out;
  if (!file.empty()) {
    out += file;
    if (line > 0) {
      out += ':' + std::to_string(line);
      if (column > 0) {
        out += ':' + std::to_string(column);
      }
    }
    out += ": ";
  }
  if (!key.empty()) {
    out += key;
    out += ": ";
  }
  out += message;
  return out;
}

std::string errnoText(int err) {
  return std::error_code(err, std::system_category()).message();
}

Status Status::error(StatusCode code, std::string message, std::vector<Violation> violations) {
  assert(code != StatusCode::kOk);
  Status s;
  s.code_ = code == StatusCode::kOk ? StatusCode::kUnknown : code;
  s.message_ = std::move(message);
  s.violations_ = std::move(violations);
  return s;
}

Status Status::fromErrno(int err, std::string_view context) {
  std::string message(context);
  message += ": ";
  message += errnoText(err);
  Status s = error(codeForErrno(err), std::move(message));
  s.errno_ = err;
  return s;
}

Status Status::invalid(std::vector<Violation> violations, std::string summary) {
  if (summary.empty()) {
    for (const Violation& v : violations) {
      if (!summary.empty()) {
        summary += '\n';
      }
      summary += v.format();
    }
  }
  return error(StatusCode::kInvalidArgument, std::move(summary), std::move(violations));
}

Status Status::withContext(std::string_view context) const& {
  if (ok()) {
    return *this;
  }
  Status s = *this;
  s.message_ = std::string(context) + ": " + message_;
  return s;
}

std::string Status::toString() const {
  if (ok()) {
    return "OK";
  }
  return std::string(statusCodeName(code_)) + ": " + message_;
}

}  // namespace teredo

// Status and StatusOr: error values for lib/net, so setup code needs no exceptions.
//
// A Status is either OK or carries an errno value and a message that names the operation and the
// address or device involved ("bind 198.51.100.7:3544: Cannot assign requested address"), so a
// service can print it as its one startup error line.
//
// Thread-safety: values; distinct objects may be used from distinct threads freely.
// Ownership: a Status owns its message string. Statuses are built on setup and error paths only;
// per-packet paths return plain integers (errno values or counts) instead.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace teredo::net {

class [[nodiscard]] Status {
 public:
  /// OK.
  Status() = default;

  /// An error with errno value `code` (0 when there is no errno) and a full message.
  static Status error(int code, std::string message) {
    Status s;
    s.ok_ = false;
    s.code_ = code;
    s.message_ = std::move(message);
    return s;
  }
  /// An error "<context>: <strerror(code)>".
  static Status fromErrno(int code, std::string_view context);

  bool ok() const { return ok_; }
  /// The errno value, or 0 when OK or when the error did not come from a system call.
  int code() const { return code_; }
  /// Empty when OK.
  const std::string& message() const { return message_; }

 private:
  bool ok_ = true;
  int code_ = 0;
  std::string message_;
};

/// The errno text of `code`, e.g. "Cannot assign requested address". Thread-safe.
std::string errnoText(int code);

/// Either a T or an error Status. T may be move-only.
template <class T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}         // NOLINT(implicit)
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT(implicit)
    assert(!status_.ok());
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  T* operator->() { return &value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace teredo::net

#include "net/status.h"

#include <system_error>

namespace teredo::net {

std::string errnoText(int code) {
  return std::error_code(code, std::system_category()).message();
}

Status Status::fromErrno(int code, std::string_view context) {
  std::string message(context);
  message += ": ";
  message += errnoText(code);
  return error(code, std::move(message));
}

}  // namespace teredo::net

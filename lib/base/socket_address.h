// A TCP listen address as operators write it: "a.b.c.d:port" or "[ipv6]:port" (RFC 3986 §3.2.2
// brackets), port 0..65535 (0: any free port). Used by the admin HTTP listener and its config
// validation, so both accept exactly the same strings.
//
// Thread-safety: pure functions; SocketAddress is a value.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace teredo {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  bool ipv6 = false;
  std::string host;  ///< as written, without brackets
  uint16_t port = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

/// Parses "ipv4:port" or "[ipv6]:port". kInvalidArgument saying what is wrong otherwise (a host
/// name, an IPv6 address without brackets, a missing or out-of-range port).
StatusOr<SocketAddress> parseSocketAddress(std::string_view text);

}  // namespace teredo

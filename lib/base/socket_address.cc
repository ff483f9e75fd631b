#include "base/socket_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace teredo {

StatusOr<SocketAddress> parseSocketAddress(std::string_view text) {
  const std::string s(text);
  auto invalid = [&s](const std::string& why) {
    return Status::error(StatusCode::kInvalidArgument,
                         why + " in \"" + s + "\" (expected \"ipv4:port\" or \"[ipv6]:port\")");
  };
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) {
    return invalid("no host:port");
  }
  SocketAddress out;
  std::string host = s.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') {
      return invalid("unbalanced brackets");
    }
    host = host.substr(1, host.size() - 2);
    out.ipv6 = true;
  } else if (host.find(':') != std::string::npos) {
    return invalid("an IPv6 address needs brackets");
  }
  unsigned port = 0;
  const char* b = s.data() + colon + 1;
  const char* e = s.data() + s.size();
  const auto r = std::from_chars(b, e, port);
  if (r.ec != std::errc() || r.ptr != e || port > 65535) {
    return invalid("port is not a number in 0..65535");
  }
  out.port = static_cast<uint16_t>(port);
  out.host = host;
  if (out.ipv6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(out.port);
    if (inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) != 1) {
      return invalid("host is not an IPv6 address");
    }
    std::memcpy(&out.storage, &a, sizeof(a));
    out.length = sizeof(a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(out.port);
    if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
      return invalid("host is not an IPv4 address");
    }
    std::memcpy(&out.storage, &a, sizeof(a));
    out.length = sizeof(a);
  }
  return out;
}

}  // namespace teredo

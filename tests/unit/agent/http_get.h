// A minimal blocking HTTP/1.0 client for tests: one request to 127.0.0.1 or [::1].
#pragma once

#include <cstdint>
#include <string>

namespace teredo::agent::test {

struct HttpResponse {
  int status = 0;  // 0: no response
  std::string headers;
  std::string body;
};

HttpResponse httpRequest(uint16_t port, const std::string& method, const std::string& path,
                         bool ipv6 = false);
inline HttpResponse httpGet(uint16_t port, const std::string& path) {
  return httpRequest(port, "GET", path);
}

}  // namespace teredo::agent::test

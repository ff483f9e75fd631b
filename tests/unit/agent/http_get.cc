#include "http_get.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace teredo::agent::test {

HttpResponse httpRequest(uint16_t port, const std::string& method, const std::string& path,
                         bool ipv6) {
  HttpResponse r;
  const int fd = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return r;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sockaddr_in6 sa6{};
  sa6.sin6_family = AF_INET6;
  sa6.sin6_port = htons(port);
  sa6.sin6_addr = in6addr_loopback;
  const int rc = ipv6 ? ::connect(fd, reinterpret_cast<sockaddr*>(&sa6), sizeof(sa6))
                      : ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  if (rc != 0) {
    ::close(fd);
    return r;
  }
  const std::string host = ipv6 ? "[::1]" : "127.0.0.1";
  const std::string req = method + " " + path + " HTTP/1.0\r\nHost: " + host + "\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return r;
  }
  std::string all;
  char buf[4096];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      break;
    }
    all.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  const auto sp = all.find(' ');
  const auto end = all.find("\r\n\r\n");
  if (all.rfind("HTTP/1.", 0) != 0 || sp == std::string::npos || end == std::string::npos) {
    return r;
  }
  r.status = std::atoi(all.c_str() + sp + 1);
  r.headers = all.substr(0, end);
  r.body = all.substr(end + 4);
  return r;
}

}  // namespace teredo::agent::test

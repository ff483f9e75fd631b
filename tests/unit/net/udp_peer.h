// Test helpers for the worker tests (tests/unit/server, tests/unit/relay): a plain UDP/IPv4
// socket standing for a client, a peer or another server; extra IPv4 addresses on `lo` inside a
// private network namespace; and a bounded wait for a condition another thread makes true.
#pragma once

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "teredo/address.h"
#include "teredo/packet.h"

namespace teredo::net::testing {

/// Adds `addr`/`prefixLen` to `lo` under the alias `label` (e.g. "lo:1") with the old ioctls
/// (test-only). On the loopback device the kernel makes the whole prefix local, so every address
/// of it can then be bound. Needs CAP_NET_ADMIN: use inside runInNetns().
inline bool addLoopbackIpv4(const char* label, uint32_t addr, int prefixLen) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, label, IFNAMSIZ - 1);
  auto* sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = htonl(addr);
  bool ok = ::ioctl(fd, SIOCSIFADDR, &ifr) == 0;
  const uint32_t mask = prefixLen == 0 ? 0 : ~uint32_t{0} << (32 - prefixLen);
  sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_netmask);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = htonl(mask);
  ok = ok && ::ioctl(fd, SIOCSIFNETMASK, &ifr) == 0;
  ::close(fd);
  return ok;
}

/// Polls `done` until it holds or `timeout` passes (then one last look). For counters another
/// thread updates: the deadline only bounds a failing test, it is never what a test asserts.
template <class Pred>
bool waitUntil(Pred done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) {
      return true;
    }
    const timespec pause{0, 1'000'000};
    ::nanosleep(&pause, nullptr);
  }
  return done();
}

/// One received datagram, copied out.
struct Datagram {
  Endpoint from;
  std::vector<uint8_t> bytes;
};

/// A bound, non-blocking UDP/IPv4 socket (host byte order endpoints, like lib/net).
class UdpPeer {
 public:
  explicit UdpPeer(const Endpoint& bindTo) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) {
      return;
    }
    sockaddr_in sin = toSockaddr(bindTo);
    socklen_t len = sizeof sin;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sin), &len) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    local_ = Endpoint{ntohl(sin.sin_addr.s_addr), ntohs(sin.sin_port)};
  }
  UdpPeer(const UdpPeer&) = delete;
  UdpPeer& operator=(const UdpPeer&) = delete;
  ~UdpPeer() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }

  bool ok() const { return fd_ >= 0; }
  Endpoint local() const { return local_; }

  bool send(const Endpoint& to, Bytes data) const {
    const sockaddr_in sin = toSockaddr(to);
    return ::sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&sin),
                    sizeof sin) == static_cast<ssize_t>(data.size());
  }

  /// The next datagram, waiting at most `timeoutMs` for it.
  std::optional<Datagram> receive(int timeoutMs = 10000) const {
    struct pollfd p {
      fd_, POLLIN, 0
    };
    if (::poll(&p, 1, timeoutMs) != 1) {
      return std::nullopt;
    }
    return receiveNow();
  }

  /// A datagram already queued, without waiting.
  std::optional<Datagram> receiveNow() const {
    std::vector<uint8_t> buf(65536);
    sockaddr_in sin{};
    socklen_t len = sizeof sin;
    const ssize_t n =
        ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&sin), &len);
    if (n < 0) {
      return std::nullopt;
    }
    buf.resize(static_cast<size_t>(n));
    return Datagram{Endpoint{ntohl(sin.sin_addr.s_addr), ntohs(sin.sin_port)}, std::move(buf)};
  }

 private:
  static sockaddr_in toSockaddr(const Endpoint& e) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(e.addr);
    sin.sin_port = htons(e.port);
    return sin;
  }

  int fd_ = -1;
  Endpoint local_;
};

}  // namespace teredo::net::testing

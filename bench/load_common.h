// Shared pieces of the benchmark load generator (bench/teredo_load.cc, bench/relay_flows.cc):
// command-line parsing, address parsing, checksums and sockets in another network namespace.
// Not part of the daemons; every function dies with a message on bad input (the generator is a
// bounded command-line tool, not a data path).
//
// Thread-safety: none needed (the generator is single-threaded). Ownership: plain values.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/fd.h"
#include "teredo/address.h"
#include "teredo/packet.h"

namespace teredo::bench {

inline constexpr uint16_t kNativeSourcePort = 40000;

inline uint64_t nowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

[[noreturn]] inline void die(const std::string& message) {
  std::fprintf(stderr, "teredo_load: %s\n", message.c_str());
  std::exit(2);
}

// ---------------------------------------------------------------------------------------------
// Command line: "--key value" pairs after the mode.

class Args {
 public:
  Args(int argc, char** argv) {
    for (int i = 2; i < argc; ++i) {
      std::string_view key = argv[i];
      if (key.substr(0, 2) != "--" || i + 1 >= argc) {
        die("expected --key value, got '" + std::string(key) + "'");
      }
      values_[std::string(key.substr(2))] = argv[++i];
    }
  }
  std::optional<std::string> get(const std::string& key) {
    auto it = values_.find(key);
    if (it == values_.end()) {
      return std::nullopt;
    }
    used_.push_back(key);
    return it->second;
  }
  std::string required(const std::string& key) {
    auto v = get(key);
    if (!v) {
      die("missing --" + key);
    }
    return *v;
  }
  double number(const std::string& key, double fallback) {
    auto v = get(key);
    if (!v) {
      return fallback;
    }
    char* end = nullptr;
    double d = std::strtod(v->c_str(), &end);
    if (end == v->c_str() || *end != '\0' || !std::isfinite(d) || d < 0) {
      die("--" + key + ": not a non-negative number: " + *v);
    }
    return d;
  }
  /// Fails on keys nobody asked for (typos must not silently fall back to defaults).
  void checkAllUsed() const {
    for (const auto& [key, value] : values_) {
      if (std::find(used_.begin(), used_.end(), key) == used_.end()) {
        die("unknown option --" + key);
      }
    }
  }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> used_;
};

inline uint32_t ipv4OrDie(std::string_view text) {
  auto a = parseIpv4(text);
  if (!a) {
    die("not an IPv4 address: " + std::string(text));
  }
  return *a;
}

inline Endpoint endpointOrDie(const std::string& text, uint16_t defaultPort) {
  auto colon = text.find(':');
  Endpoint e{ipv4OrDie(std::string_view(text).substr(0, colon)), defaultPort};
  if (colon != std::string::npos) {
    long port = std::strtol(text.c_str() + colon + 1, nullptr, 10);
    if (port <= 0 || port > 65535) {
      die("bad port in " + text);
    }
    e.port = static_cast<uint16_t>(port);
  }
  return e;
}

inline std::vector<uint32_t> ipv4ListOrDie(const std::string& text) {
  std::vector<uint32_t> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) {
      comma = text.size();
    }
    out.push_back(ipv4OrDie(std::string_view(text).substr(start, comma - start)));
    start = comma + 1;
  }
  return out;
}

inline Ipv6Addr ipv6OrDie(const std::string& text) {
  auto a = parseIpv6(text);
  if (!a) {
    die("not an IPv6 address: " + text);
  }
  return *a;
}

/// Adds `n` bytes at `p` to a one's complement sum (RFC 1071) as big-endian 16-bit words, a
/// trailing odd byte padded with zero.
inline uint64_t addWords(uint64_t sum, const uint8_t* p, size_t n) {
  for (size_t i = 0; i + 1 < n; i += 2) {
    sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  }
  if (n % 2 != 0) {
    sum += static_cast<uint32_t>(p[n - 1] << 8);
  }
  return sum;
}

/// The checksum to store for a sum over pseudo-header and data (0 sent as 0xffff, as UDP must).
inline uint16_t finishChecksum(uint64_t sum) {
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  auto c = static_cast<uint16_t>(~sum & 0xffff);
  return c == 0 ? 0xffff : c;
}

/// Internet checksum over an IPv6 pseudo-header (RFC 8200 §8.1) and `data` (upper-layer header
/// and payload, checksum field zero). Returns the value to store (0 sent as 0xffff for UDP).
inline uint16_t upperLayerChecksum(const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t nextHeader,
                                   Bytes data) {
  uint64_t sum = addWords(0, src.bytes.data(), 16);
  sum = addWords(sum, dst.bytes.data(), 16);
  sum += static_cast<uint32_t>(data.size());
  sum += nextHeader;
  return finishChecksum(addWords(sum, data.data(), data.size()));
}

/// UDP checksum over the IPv4 pseudo-header (RFC 768: source, destination, zero, protocol, UDP
/// length; addresses in host order) and `udp` (header and payload, checksum field zero).
inline uint16_t udp4Checksum(uint32_t src, uint32_t dst, Bytes udp) {
  uint64_t sum = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff);
  sum += 17 + static_cast<uint32_t>(udp.size());
  return finishChecksum(addWords(sum, udp.data(), udp.size()));
}

/// IPv6 + UDP (+ zero-filled payload with a marker) into `out`; returns the length.
inline size_t writeIpv6Udp(MutableBytes out, const Ipv6Addr& src, const Ipv6Addr& dst,
                           uint16_t sport, uint16_t dport, size_t payloadSize) {
  const size_t udpLen = 8 + payloadSize;
  if (out.size() < kIpv6HeaderSize + udpLen || udpLen > 65535) {
    return 0;
  }
  writeIpv6Header(out, src, dst, kNextHeaderUdp, static_cast<uint16_t>(udpLen), 64);
  uint8_t* udp = out.data() + kIpv6HeaderSize;
  std::memset(udp, 0, udpLen);
  udp[0] = static_cast<uint8_t>(sport >> 8);
  udp[1] = static_cast<uint8_t>(sport);
  udp[2] = static_cast<uint8_t>(dport >> 8);
  udp[3] = static_cast<uint8_t>(dport);
  udp[4] = static_cast<uint8_t>(udpLen >> 8);
  udp[5] = static_cast<uint8_t>(udpLen);
  std::memcpy(udp + 8, "teredo-bench", std::min<size_t>(payloadSize, 12));
  uint16_t c = upperLayerChecksum(src, dst, kNextHeaderUdp, Bytes(udp, udpLen));
  udp[6] = static_cast<uint8_t>(c >> 8);
  udp[7] = static_cast<uint8_t>(c);
  return kIpv6HeaderSize + udpLen;
}

/// A non-blocking socket(domain, type, protocol) created inside the network namespace
/// `netnsPath` (e.g. /run/netns/NAME); the calling thread returns to its own namespace afterwards.
/// Sockets stay in the namespace they were created in.
inline net::Fd socketIn(const std::string& netnsPath, int domain, int type, int protocol) {
  net::Fd self(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  net::Fd target(open(netnsPath.c_str(), O_RDONLY | O_CLOEXEC));
  if (!self.valid() || !target.valid()) {
    die("open netns " + netnsPath + ": " + std::strerror(errno));
  }
  if (setns(target.get(), CLONE_NEWNET) != 0) {
    die("setns " + netnsPath + ": " + std::strerror(errno));
  }
  net::Fd s(socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol));
  int err = errno;
  if (setns(self.get(), CLONE_NEWNET) != 0) {
    die(std::string("setns back: ") + std::strerror(errno));
  }
  if (!s.valid()) {
    die("socket(" + std::to_string(domain) + ", " + std::to_string(type) + ") in " + netnsPath +
        ": " + std::strerror(err));
  }
  return s;
}

/// A non-blocking IPv6 UDP socket inside `netnsPath` (see socketIn).
inline net::Fd ipv6SocketIn(const std::string& netnsPath) {
  return socketIn(netnsPath, AF_INET6, SOCK_DGRAM, 0);
}

/// Sends one small datagram from `s` to [dst]:port; false when the kernel refused it.
inline bool sendIpv6(int s, const Ipv6Addr& dst, uint16_t port, Bytes payload) {
  struct sockaddr_in6 sa {};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  std::memcpy(&sa.sin6_addr, dst.bytes.data(), 16);
  for (int attempt = 0; attempt < 100; ++attempt) {
    ssize_t n = sendto(s, payload.data(), payload.size(), 0,
                       reinterpret_cast<const struct sockaddr*>(&sa), sizeof(sa));
    if (n >= 0) {
      return true;
    }
    if (errno != EAGAIN && errno != ENOBUFS) {
      return false;
    }
    usleep(1000);
  }
  return false;
}

/// Modes implemented in bench/relay_flows.cc.
int runPrime(Args& args);
int runFlow(Args& args);

}  // namespace teredo::bench

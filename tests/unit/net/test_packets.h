// Test helpers: ICMPv6 echo packets and small /proc readers for the tun and raw-socket tests.
#pragma once

#include <poll.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "teredo/address.h"
#include "teredo/packet.h"

namespace teredo::net::testing {

/// An ICMPv6 echo request or reply (RFC 4443 §4.1) with a valid checksum.
inline std::vector<uint8_t> icmpv6Echo(const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t type,
                                       uint16_t id, uint16_t seq, size_t payloadSize) {
  std::vector<uint8_t> p(kIpv6HeaderSize + 8 + payloadSize);
  writeIpv6Header(p, src, dst, kNextHeaderIcmpv6, static_cast<uint16_t>(8 + payloadSize), 64);
  uint8_t* icmp = p.data() + kIpv6HeaderSize;
  icmp[0] = type;
  icmp[4] = static_cast<uint8_t>(id >> 8);
  icmp[5] = static_cast<uint8_t>(id);
  icmp[6] = static_cast<uint8_t>(seq >> 8);
  icmp[7] = static_cast<uint8_t>(seq);
  for (size_t i = 0; i < payloadSize; ++i) {
    icmp[8 + i] = static_cast<uint8_t>(i * 3 + 1);
  }
  uint16_t sum = icmpv6Checksum(src, dst, Bytes(icmp, 8 + payloadSize));
  icmp[2] = static_cast<uint8_t>(sum >> 8);
  icmp[3] = static_cast<uint8_t>(sum);
  return p;
}

inline Ipv6Addr v6(const char* text) {
  return parseIpv6(text).value();
}

inline std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Waits (bounded) until any of `fds` is readable.
inline bool waitAnyReadable(const std::vector<int>& fds, int timeoutMs = 5000) {
  std::vector<struct pollfd> p;
  for (int fd : fds) {
    p.push_back({fd, POLLIN, 0});
  }
  return ::poll(p.data(), p.size(), timeoutMs) > 0;
}

}  // namespace teredo::net::testing

#include "icmp_sender.h"

#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace teredo::relay {

Status IcmpSender::open() {
  const int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMPV6);
  if (fd < 0) {
    return Status::fromErrno(errno, "socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)");
  }
  fd_.reset(fd);
  icmp6_filter filter;
  ICMP6_FILTER_SETBLOCKALL(&filter);
  if (setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter) != 0) {
    Status st = Status::fromErrno(errno, "setsockopt(ICMP6_FILTER)");
    fd_.reset();
    return st;
  }
  // The kernel computes the ICMPv6 checksum for raw ICMPv6 sockets on Linux; setting the offset
  // explicitly would be refused (EINVAL), so nothing else to do here.
  const int hops = 255;
  setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops);
  return {};
}

bool IcmpSender::send(uint8_t type, uint8_t code, Bytes offending) {
  if (!fd_.valid() || offending.size() < kIpv6HeaderSize) {
    return false;
  }
  // RFC 4443 §2.4(c): as much of the offending packet as fits in the minimum MTU.
  uint8_t msg[kMinMtu - kIpv6HeaderSize];
  const size_t quote = std::min(offending.size(), sizeof msg - 8);
  std::memset(msg, 0, 8);
  msg[0] = type;
  msg[1] = code;
  std::memcpy(msg + 8, offending.data(), quote);
  sockaddr_in6 dst{};
  dst.sin6_family = AF_INET6;
  std::memcpy(&dst.sin6_addr, offending.data() + 8, 16);  // the offending packet's source
  return sendto(fd_.get(), msg, 8 + quote, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&dst),
                sizeof dst) == static_cast<ssize_t>(8 + quote);
}

}  // namespace teredo::relay

#include "net/raw.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace teredo::net {
namespace {

bool isQueuedAsyncError(int err) {
  switch (err) {
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EACCES:
    case ECONNREFUSED:
    case EMSGSIZE:
    case EPROTO:
      return true;
    default:
      return false;
  }
}

}  // namespace

StatusOr<RawIpv6Socket> RawIpv6Socket::open() {
  Fd fd(::socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_RAW));
  if (!fd.valid()) {
    return Status::fromErrno(errno, "socket(AF_INET6, SOCK_RAW, IPPROTO_RAW)");
  }
  RawIpv6Socket s;
  s.fd_ = std::move(fd);
  return s;
}

int RawIpv6Socket::send(Bytes packet) {
  if (packet.size() < kIpv6HeaderSize || (packet[0] >> 4) != 6 ||
      kIpv6HeaderSize + ((size_t{packet[4]} << 8) | packet[5]) != packet.size()) {
    ++stats_.malformed;
    ++stats_.failed;
    return -EINVAL;
  }
  struct sockaddr_in6 dst {};
  dst.sin6_family = AF_INET6;
  std::memcpy(&dst.sin6_addr, packet.data() + 24, 16);  // RFC 8200 §3: destination at 24..39
  int err = 0;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    if (attempt > 0) {
      ++stats_.retries;
    }
    ssize_t n = ::sendto(fd_.get(), packet.data(), packet.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                         reinterpret_cast<const struct sockaddr*>(&dst), sizeof(dst));
    if (n == static_cast<ssize_t>(packet.size())) {
      ++stats_.sent;
      return 0;
    }
    err = n < 0 ? errno : EIO;
    if (err != EINTR && !isQueuedAsyncError(err)) {
      break;
    }
  }
  ++stats_.failed;
  return -err;
}

}  // namespace teredo::net

#include "net/udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace teredo::net {
namespace {

/// Bounded retries for EINTR, so no loop here can spin forever.
constexpr int kEintrRetries = 8;
/// Control space per received message: SO_RXQ_OVFL carries one uint32_t.
constexpr size_t kControlSize = CMSG_SPACE(sizeof(uint32_t));

std::string where(const Endpoint& e) {
  return formatEndpoint(e);
}

Status setOption(int fd, int level, int name, int value, const char* label, const Endpoint& e) {
  if (::setsockopt(fd, level, name, &value, sizeof(value)) != 0) {
    return Status::fromErrno(errno, std::string("setsockopt(") + label + ") on " + where(e));
  }
  return {};
}

Status setBuffer(int fd, int forceName, int name, int bytes, const char* label, const Endpoint& e) {
  if (bytes <= 0) {
    return {};
  }
  // The FORCE variant needs CAP_NET_ADMIN; without it fall back to the capped one.
  if (::setsockopt(fd, SOL_SOCKET, forceName, &bytes, sizeof(bytes)) == 0) {
    return {};
  }
  return setOption(fd, SOL_SOCKET, name, bytes, label, e);
}

}  // namespace

struct sockaddr_in toSockaddr(const Endpoint& e) {
  struct sockaddr_in sa {};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(e.addr);
  sa.sin_port = htons(e.port);
  return sa;
}

Endpoint fromSockaddr(const struct sockaddr_in& sa) {
  return Endpoint{ntohl(sa.sin_addr.s_addr), ntohs(sa.sin_port)};
}

StatusOr<UdpSocket> UdpSocket::open(const Endpoint& bind, const UdpOptions& options) {
  int type = SOCK_DGRAM | SOCK_CLOEXEC | (options.nonBlocking ? SOCK_NONBLOCK : 0);
  Fd fd(::socket(AF_INET, type, IPPROTO_UDP));
  if (!fd.valid()) {
    return Status::fromErrno(errno, "socket(AF_INET, SOCK_DGRAM) for " + where(bind));
  }
  if (options.reusePort) {
    if (Status s = setOption(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT", bind);
        !s.ok()) {
      return s;
    }
  }
  if (options.freeBind) {
    if (Status s = setOption(fd.get(), IPPROTO_IP, IP_FREEBIND, 1, "IP_FREEBIND", bind); !s.ok()) {
      return s;
    }
  }
  // RFC 4380 §5.1.1 / Miredo: never set DF on Teredo packets.
  if (Status s = setOption(fd.get(), IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT,
                           "IP_MTU_DISCOVER", bind);
      !s.ok()) {
    return s;
  }
  if (Status s = setOption(fd.get(), SOL_SOCKET, SO_RXQ_OVFL, 1, "SO_RXQ_OVFL", bind); !s.ok()) {
    return s;
  }
  if (Status s = setBuffer(fd.get(), SO_RCVBUFFORCE, SO_RCVBUF, options.rcvbuf, "SO_RCVBUF", bind);
      !s.ok()) {
    return s;
  }
  if (Status s = setBuffer(fd.get(), SO_SNDBUFFORCE, SO_SNDBUF, options.sndbuf, "SO_SNDBUF", bind);
      !s.ok()) {
    return s;
  }
  if (options.receiveTimeoutMs > 0) {
    struct timeval tv {};
    tv.tv_sec = options.receiveTimeoutMs / 1000;
    tv.tv_usec = (options.receiveTimeoutMs % 1000) * 1000;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
      return Status::fromErrno(errno, "setsockopt(SO_RCVTIMEO) on " + where(bind));
    }
  }
  struct sockaddr_in sa = toSockaddr(bind);
  if (::bind(fd.get(), reinterpret_cast<const struct sockaddr*>(&sa), sizeof(sa)) != 0) {
    return Status::fromErrno(errno, "bind " + where(bind));
  }
  struct sockaddr_in local {};
  socklen_t len = sizeof(local);
  if (::getsockname(fd.get(), reinterpret_cast<struct sockaddr*>(&local), &len) != 0) {
    return Status::fromErrno(errno, "getsockname after bind " + where(bind));
  }
  UdpSocket socket;
  socket.fd_ = std::move(fd);
  socket.local_ = fromSockaddr(local);
  return socket;
}

RecvBatch::RecvBatch(size_t capacity, size_t slotSize)
    : capacity_(std::clamp<size_t>(capacity, 1, kMaxCapacity)),
      slotSize_(std::max<size_t>(slotSize, 1)),
      buffer_(capacity_ * slotSize_),
      headers_(capacity_),
      iovecs_(capacity_),
      addrs_(capacity_),
      control_(capacity_ * kControlSize),
      messages_(capacity_) {
  for (size_t i = 0; i < capacity_; ++i) {
    iovecs_[i].iov_base = buffer_.data() + i * slotSize_;
    iovecs_[i].iov_len = slotSize_;
    struct msghdr& h = headers_[i].msg_hdr;
    h.msg_iov = &iovecs_[i];
    h.msg_iovlen = 1;
    h.msg_name = &addrs_[i];
    h.msg_control = control_.data() + i * kControlSize;
  }
}

int RecvBatch::receive(UdpSocket& socket, RecvWait wait) {
  count_ = 0;
  newKernelDrops_ = 0;
  // The kernel overwrites these lengths and flags: reset them for every slot.
  for (size_t i = 0; i < capacity_; ++i) {
    struct msghdr& h = headers_[i].msg_hdr;
    h.msg_namelen = sizeof(struct sockaddr_in);
    h.msg_controllen = kControlSize;
    h.msg_flags = 0;
  }
  const int flags = wait == RecvWait::ForOne ? MSG_WAITFORONE : MSG_DONTWAIT;
  int n = -1;
  for (int attempt = 0; attempt <= kEintrRetries; ++attempt) {
    n = ::recvmmsg(socket.fd(), headers_.data(), static_cast<unsigned>(capacity_), flags, nullptr);
    if (n >= 0 || errno != EINTR) {
      break;
    }
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      return 0;
    }
    return -errno;
  }
  bool sawOverflow = false;
  uint32_t overflow = 0;
  for (int i = 0; i < n; ++i) {
    struct msghdr& h = headers_[i].msg_hdr;
    RecvMessage& m = messages_[i];
    size_t len = std::min<size_t>(headers_[i].msg_len, slotSize_);
    m.data = Bytes(buffer_.data() + i * slotSize_, len);
    m.source = h.msg_namelen >= sizeof(struct sockaddr_in) ? fromSockaddr(addrs_[i]) : Endpoint{};
    m.truncated = (h.msg_flags & MSG_TRUNC) != 0;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL &&
          c->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
        std::memcpy(&overflow, CMSG_DATA(c), sizeof(overflow));
        sawOverflow = true;
      }
    }
  }
  // The counter is cumulative per socket and only sent once non-zero; take the newest value
  // and widen it across the 32-bit wrap.
  if (sawOverflow && overflow != socket.lastOverflow_) {
    newKernelDrops_ = static_cast<uint32_t>(overflow - socket.lastOverflow_);
    socket.lastOverflow_ = overflow;
    socket.kernelDrops_ += newKernelDrops_;
  }
  count_ = static_cast<size_t>(n);
  return n;
}

SendBatch::SendBatch(size_t capacity, size_t slotSize)
    : capacity_(std::clamp<size_t>(capacity, 1, kMaxCapacity)),
      slotSize_(std::max<size_t>(slotSize, 1)),
      buffer_(capacity_ * slotSize_),
      headers_(capacity_),
      iovecs_(2 * capacity_),
      addrs_(capacity_) {
  for (size_t i = 0; i < capacity_; ++i) {
    struct msghdr& h = headers_[i].msg_hdr;
    h.msg_iov = &iovecs_[2 * i];
    h.msg_name = &addrs_[i];
    h.msg_namelen = sizeof(struct sockaddr_in);
  }
}

void SendBatch::fillHeader(size_t i, const Endpoint& dst, size_t iovCount) {
  addrs_[i] = toSockaddr(dst);
  struct msghdr& h = headers_[i].msg_hdr;
  h.msg_iovlen = iovCount;
  h.msg_control = nullptr;
  h.msg_controllen = 0;
  h.msg_flags = 0;
  headers_[i].msg_len = 0;
}

bool SendBatch::add(const Endpoint& dst, Bytes head, Bytes body) {
  if (count_ == capacity_ || head.size() + body.size() > slotSize_) {
    return false;
  }
  uint8_t* p = slot(count_);
  if (!head.empty()) {
    std::memcpy(p, head.data(), head.size());
  }
  if (!body.empty()) {
    std::memcpy(p + head.size(), body.data(), body.size());
  }
  iovecs_[2 * count_] = {p, head.size() + body.size()};
  fillHeader(count_, dst, 1);
  ++count_;
  return true;
}

bool SendBatch::addBorrowed(const Endpoint& dst, Bytes head, Bytes body) {
  if (count_ == capacity_ || head.size() > slotSize_) {
    return false;
  }
  uint8_t* p = slot(count_);
  if (!head.empty()) {
    std::memcpy(p, head.data(), head.size());
  }
  iovecs_[2 * count_] = {p, head.size()};
  // The kernel only reads through this iovec; the const_cast never leads to a write.
  iovecs_[2 * count_ + 1] = {const_cast<uint8_t*>(body.data()), body.size()};
  fillHeader(count_, dst, 2);
  ++count_;
  return true;
}

FlushResult SendBatch::flush(UdpSocket& socket) {
  FlushResult r;
  size_t i = 0;
  int eintrLeft = kEintrRetries;
  while (i < count_) {
    int n = ::sendmmsg(socket.fd(), &headers_[i], static_cast<unsigned>(count_ - i),
                       MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      r.sent += static_cast<size_t>(n);
      i += static_cast<size_t>(n);
      if (i < count_) {
        // A partial send stops at a message that failed. For errors other than EAGAIN the
        // kernel parks the error in SO_ERROR for the next call, where it would be blamed on the
        // wrong message: read (and so clear) it now and charge it to message i.
        int err = 0;
        socklen_t len = sizeof(err);
        if (::getsockopt(socket.fd(), SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
          ++r.failed;
          r.lastError = -err;
          ++i;
        }
        // err == 0: stopped by EAGAIN; the next call reports it.
      }
      continue;
    }
    int err = n == 0 ? EAGAIN : errno;
    if (err == EINTR && eintrLeft-- > 0) {
      continue;
    }
    r.lastError = -err;
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == EINTR) {
      // The send buffer is full: never block; everything left is a drop.
      r.failed += count_ - i;
      break;
    }
    // sendmmsg fails as a whole only when its first message fails: skip that one.
    ++r.failed;
    ++i;
  }
  count_ = 0;
  return r;
}

}  // namespace teredo::net

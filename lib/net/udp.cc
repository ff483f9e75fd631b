#include "net/udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace teredo::net {
namespace {

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/// Bounded retries for EINTR, so no loop here can spin forever.
constexpr int kEintrRetries = 8;
/// Control space per received message: SO_RXQ_OVFL carries one uint32_t, UDP_GRO one int (the
/// gso_size). Always room for both: a cut-off UDP_GRO message (MSG_CTRUNC) would make a
/// coalesced buffer look like one datagram.
constexpr size_t kControlSize = CMSG_SPACE(sizeof(uint32_t)) + CMSG_SPACE(sizeof(int));
/// Control space per GSO message: UDP_SEGMENT carries one uint16_t.
constexpr size_t kGsoControlSize = CMSG_SPACE(sizeof(uint16_t));
/// The kernel's internal ENOTSUPP, which can leak to user space from offload paths.
constexpr int kEnotsupp = 524;

/// An error for a GSO message that says "not as one GSO message" rather than "not at all", so
/// its datagrams are resent one by one.
bool isGsoRefusal(int err) {
  return err == EINVAL || err == EMSGSIZE || err == EIO || err == EOPNOTSUPP || err == kEnotsupp ||
         err == ENOPROTOOPT;
}

constexpr const char* kGsoUnsupported = "the kernel does not support UDP_SEGMENT (GSO)";
constexpr const char* kGsoCapped =
    "the kernel refused a GSO message larger than the route MTU: larger datagrams are sent one "
    "by one";
constexpr const char* kGsoRefused =
    "the kernel refused GSO on this socket (IPsec on the route, SO_NO_CHECK, or on older kernels "
    "a device without checksum offload): GSO disabled";

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

UdpSocket& UdpSocket::operator=(UdpSocket&& other) noexcept {
  if (this != &other) {
    fd_ = std::move(other.fd_);
    local_ = other.local_;
    lastOverflow_ = other.lastOverflow_;
    kernelDrops_ = other.kernelDrops_;
    gro_ = other.gro_;
    gsoMaxSegment_.store(other.gsoMaxSegment_.load(std::memory_order_relaxed),
                         std::memory_order_relaxed);
    gsoReason_.store(other.gsoReason_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    gsoError_.store(other.gsoError_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  return *this;
}

void UdpSocket::noteGsoRefusal(int error, size_t segmentSize) {
  gsoError_.store(-error, std::memory_order_relaxed);
  if ((error == EINVAL || error == EMSGSIZE) && segmentSize > kMinGsoMtuPayload) {
    // Segment + headers above the route MTU: keep GSO for smaller datagrams. Lower only, never
    // raise, even when another thread lowers it at the same time.
    const auto cap = static_cast<uint32_t>(segmentSize - 1);
    uint32_t cur = gsoMaxSegment_.load(std::memory_order_relaxed);
    while (cur > cap &&
           !gsoMaxSegment_.compare_exchange_weak(cur, cap, std::memory_order_relaxed)) {
    }
    gsoReason_.store(kGsoCapped, std::memory_order_relaxed);
    return;
  }
  gsoMaxSegment_.store(0, std::memory_order_relaxed);
  gsoReason_.store(kGsoRefused, std::memory_order_relaxed);
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
  // Both offloads are optional: a kernel without them leaves a working socket without them.
  if (options.gro) {
    const int one = 1;
    socket.gro_ = ::setsockopt(fd.get(), SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
  }
  if (options.gso) {
    // gso_size 0 on the socket changes nothing (each message brings its own); the call only
    // tells whether this kernel knows UDP_SEGMENT at all. A kernel that does not would ignore
    // the control message and send a whole group as one datagram, so never try it there.
    const int zero = 0;
    if (::setsockopt(fd.get(), SOL_UDP, UDP_SEGMENT, &zero, sizeof(zero)) == 0) {
      socket.gsoMaxSegment_.store(kMaxUdpPayload, std::memory_order_relaxed);
    } else {
      socket.gsoError_.store(-errno, std::memory_order_relaxed);
      socket.gsoReason_.store(kGsoUnsupported, std::memory_order_relaxed);
    }
  }
  socket.fd_ = std::move(fd);
  socket.local_ = fromSockaddr(local);
  return socket;
}

RecvBatch::RecvBatch(size_t capacity, size_t slotSize, size_t segmentsPerSlot)
    : capacity_(std::clamp<size_t>(capacity, 1, kMaxCapacity)),
      slotSize_(std::max<size_t>(slotSize, 1)),
      buffer_(new uint8_t[capacity_ * slotSize_]),
      headers_(capacity_),
      iovecs_(capacity_),
      addrs_(capacity_),
      control_(capacity_ * kControlSize),
      slots_(capacity_),
      messages_(capacity_ * std::clamp<size_t>(segmentsPerSlot, 1, kMaxSegmentsPerSlot)) {
  for (size_t i = 0; i < capacity_; ++i) {
    iovecs_[i].iov_base = buffer_.get() + i * slotSize_;
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
  newGroSegments_ = 0;
  received_ = 0;
  if (pending()) {
    // The slots still hold the rest of the last recvmmsg: hand that out first.
    emit();
    return static_cast<int>(count_);
  }
  filled_ = 0;
  nextSlot_ = 0;
  nextOffset_ = 0;
  // The kernel overwrites these lengths and flags: reset them for every slot.
  for (size_t i = 0; i < capacity_; ++i) {
    struct msghdr& h = headers_[i].msg_hdr;
    h.msg_namelen = sizeof(struct sockaddr_in);
    h.msg_controllen = kControlSize;
    h.msg_flags = 0;
  }
  // MSG_TRUNC: msg_len is the real length of each buffer, even when the slot cut it, so the
  // datagrams of a coalesced buffer beyond the slot are still counted (as truncated).
  const int flags = (wait == RecvWait::ForOne ? MSG_WAITFORONE : MSG_DONTWAIT) | MSG_TRUNC;
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
    SlotInfo& slot = slots_[i];
    slot.length = headers_[i].msg_len;
    slot.segment = 0;
    slot.cut = (h.msg_flags & MSG_TRUNC) != 0;
    slot.source =
        h.msg_namelen >= sizeof(struct sockaddr_in) ? fromSockaddr(addrs_[i]) : Endpoint{};
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL &&
          c->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
        std::memcpy(&overflow, CMSG_DATA(c), sizeof(overflow));
        sawOverflow = true;
      } else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
                 c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        int gsoSize = 0;
        std::memcpy(&gsoSize, CMSG_DATA(c), sizeof(gsoSize));
        slot.segment = gsoSize > 0 ? static_cast<uint32_t>(gsoSize) : 0;
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
  filled_ = static_cast<size_t>(n);
  received_ = filled_;
  emit();
  return static_cast<int>(count_);
}

void RecvBatch::emit() {
  while (nextSlot_ < filled_ && count_ < messages_.size()) {
    const SlotInfo& slot = slots_[nextSlot_];
    const size_t length = slot.length;
    const size_t copied = std::min(length, slotSize_);
    // Not coalesced (no UDP_GRO, or a gso_size that covers it all): the buffer is one datagram.
    const bool coalesced = slot.segment != 0 && slot.segment < length;
    const size_t segment = coalesced ? slot.segment : length;
    const size_t start = nextOffset_;
    const size_t end = std::min(start + segment, length);
    const uint8_t* base = buffer_.get() + nextSlot_ * slotSize_;
    RecvMessage& m = messages_[count_++];
    m.data = Bytes(base + std::min(start, copied), std::min(end, copied) - std::min(start, copied));
    m.source = slot.source;
    // end > copied: this datagram did not fit the slot. slot.cut without it only when the
    // kernel reported the copied length instead of the real one: blame the last datagram.
    m.truncated = end > copied || (slot.cut && end == length);
    if (coalesced) {
      ++newGroSegments_;
    }
    if (end >= length) {
      ++nextSlot_;
      nextOffset_ = 0;
    } else {
      nextOffset_ = end;
    }
  }
  groSegments_ += newGroSegments_;
}

SendBatch::SendBatch(size_t capacity, size_t slotSize)
    : capacity_(std::clamp<size_t>(capacity, 1, kMaxCapacity)),
      slotSize_(std::max<size_t>(slotSize, 1)),
      buffer_(capacity_ * slotSize_),
      headers_(capacity_),
      iovecs_(2 * capacity_),
      addrs_(capacity_),
      gsoHeaders_(capacity_),
      groups_(capacity_),
      gsoControl_(capacity_ * kGsoControlSize) {
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
  // Unused by this message, but a GSO message spans both iovecs of each of its datagrams.
  iovecs_[2 * count_ + 1] = {p, 0};
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

size_t SendBatch::buildGroups(size_t maxSegment) {
  size_t m = 0;
  for (size_t i = 0; i < count_;) {
    const size_t size = datagramSize(i);
    size_t k = 1;
    size_t total = size;
    if (size > 0 && size <= maxSegment) {
      const struct sockaddr_in& dst = addrs_[i];
      while (i + k < count_ && k < UdpSocket::kMaxGsoSegments) {
        const size_t next = datagramSize(i + k);
        const struct sockaddr_in& to = addrs_[i + k];
        // An empty datagram cannot be a segment: the kernel would merge it into the previous.
        if (next == 0 || next > size || total + next > UdpSocket::kMaxUdpPayload ||
            to.sin_addr.s_addr != dst.sin_addr.s_addr || to.sin_port != dst.sin_port) {
          break;
        }
        total += next;
        ++k;
        if (next < size) {
          break;  // only the last segment may be shorter
        }
      }
    }
    struct mmsghdr& out = gsoHeaders_[m];
    if (k == 1) {
      out = headers_[i];
    } else {
      struct msghdr& h = out.msg_hdr;
      h.msg_name = &addrs_[i];
      h.msg_namelen = sizeof(struct sockaddr_in);
      // head1 body1 head2 body2 ...: the kernel cuts the concatenation every `size` bytes, and
      // each datagram's head + body is exactly `size` bytes (the last at most that).
      h.msg_iov = &iovecs_[2 * i];
      h.msg_iovlen = 2 * k;
      uint8_t* control = gsoControl_.data() + m * kGsoControlSize;
      std::memset(control, 0, kGsoControlSize);
      h.msg_control = control;
      h.msg_controllen = kGsoControlSize;
      h.msg_flags = 0;
      struct cmsghdr* c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const auto gsoSize = static_cast<uint16_t>(size);
      std::memcpy(CMSG_DATA(c), &gsoSize, sizeof(gsoSize));
      out.msg_len = 0;
    }
    groups_[m] = {static_cast<uint32_t>(i), static_cast<uint32_t>(k)};
    ++m;
    i += k;
  }
  return m;
}

void SendBatch::sendMessages(UdpSocket& socket, struct mmsghdr* msgs, const Group* groups, size_t n,
                             FlushResult& r) {
  auto datagrams = [&](size_t k) -> size_t { return groups == nullptr ? 1 : groups[k].count; };
  // Message k was refused with `err`: resend a GSO message one by one, else count its drops.
  auto refused = [&](size_t k, int err) {
    if (groups != nullptr && groups[k].count > 1 && isGsoRefusal(err)) {
      socket.noteGsoRefusal(err, datagramSize(groups[k].first));
      ++r.gsoFallbacks;
      sendMessages(socket, &headers_[groups[k].first], nullptr, groups[k].count, r);
      return;
    }
    r.failed += datagrams(k);
    r.lastError = -err;
  };
  size_t i = 0;
  int eintrLeft = kEintrRetries;
  while (i < n) {
    int sent = ::sendmmsg(socket.fd(), &msgs[i], static_cast<unsigned>(n - i),
                          MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent > 0) {
      for (size_t k = i; k < i + static_cast<size_t>(sent); ++k) {
        const size_t d = datagrams(k);
        r.sent += d;
        if (d > 1) {
          ++r.gsoMessages;
          r.gsoSegments += d;
        }
      }
      i += static_cast<size_t>(sent);
      if (i < n) {
        // A partial send stops at a message that failed. For errors other than EAGAIN the
        // kernel parks the error in SO_ERROR for the next call, where it would be blamed on the
        // wrong message: read (and so clear) it now and charge it to message i.
        int err = 0;
        socklen_t len = sizeof(err);
        if (::getsockopt(socket.fd(), SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
          refused(i, err);
          ++i;
        }
        // err == 0: stopped by EAGAIN; the next call reports it.
      }
      continue;
    }
    int err = sent == 0 ? EAGAIN : errno;
    if (err == EINTR && eintrLeft-- > 0) {
      continue;
    }
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == EINTR) {
      // The send buffer is full: never block; everything left is a drop.
      r.lastError = -err;
      for (; i < n; ++i) {
        r.failed += datagrams(i);
      }
      break;
    }
    // sendmmsg fails as a whole only when its first message fails: skip that one.
    refused(i, err);
    ++i;
  }
}

FlushResult SendBatch::flush(UdpSocket& socket) {
  FlushResult r;
  const size_t maxSegment = count_ > 1 ? socket.gsoMaxSegmentSize() : 0;
  const size_t messages = maxSegment != 0 ? buildGroups(maxSegment) : count_;
  if (messages == count_) {
    // No group of two or more: the per-datagram headers as they are.
    sendMessages(socket, headers_.data(), nullptr, count_, r);
  } else {
    sendMessages(socket, gsoHeaders_.data(), groups_.data(), messages, r);
  }
  count_ = 0;
  return r;
}

}  // namespace teredo::net

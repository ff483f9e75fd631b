#include "net/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace teredo::net {
namespace {

constexpr int kEintrRetries = 8;
constexpr const char* kTunPath = "/dev/net/tun";

}  // namespace

PacketBatch::PacketBatch(size_t capacity, size_t slotSize)
    : capacity_(std::max<size_t>(capacity, 1)),
      slotSize_(std::max<size_t>(slotSize, 1)),
      buffer_(capacity_ * slotSize_),
      lengths_(capacity_) {}

StatusOr<Tun> Tun::open(std::string_view name, size_t queues) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return Status::error(StatusCode::kInvalidArgument,
                         "tun name \"" + std::string(name) + "\" must be 1 to " +
                             std::to_string(IFNAMSIZ - 1) + " characters");
  }
  if (queues == 0 || queues > kMaxQueues) {
    return Status::error(StatusCode::kInvalidArgument,
                         "tun " + std::string(name) + ": queue count " + std::to_string(queues) +
                             " is not in 1.." + std::to_string(kMaxQueues));
  }
  Tun tun;
  tun.name_ = std::string(name);
  for (size_t q = 0; q < queues; ++q) {
    Fd fd(::open(kTunPath, O_RDWR | O_CLOEXEC | O_NONBLOCK));
    if (!fd.valid()) {
      return Status::fromErrno(errno, std::string("open ") + kTunPath + " for " + tun.name_);
    }
    struct ifreq ifr {};
    std::memcpy(ifr.ifr_name, tun.name_.data(), tun.name_.size());
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
    if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) {
      return Status::fromErrno(errno, "TUNSETIFF " + tun.name_ +
                                          " (IFF_TUN|IFF_NO_PI|"
                                          "IFF_MULTI_QUEUE), queue " +
                                          std::to_string(q + 1) + " of " + std::to_string(queues));
    }
    // The kernel resolves "%d" on the first queue; later queues attach to that name.
    tun.name_ = std::string(ifr.ifr_name, ::strnlen(ifr.ifr_name, IFNAMSIZ));
    tun.queues_.push_back(std::move(fd));
  }
  tun.ifindex_ = static_cast<int>(::if_nametoindex(tun.name_.c_str()));
  if (tun.ifindex_ == 0) {
    return Status::fromErrno(errno, "if_nametoindex " + tun.name_);
  }
  StatusOr<Netlink> nl = Netlink::open();
  if (!nl.ok()) {
    return nl.status();
  }
  tun.netlink_ = std::move(nl).value();
  return tun;
}

Tun::Tun(Tun&& other) noexcept
    : name_(std::move(other.name_)),
      ifindex_(std::exchange(other.ifindex_, 0)),
      queues_(std::move(other.queues_)),
      netlink_(std::move(other.netlink_)),
      routes_(std::move(other.routes_)) {
  other.queues_.clear();
  other.routes_.clear();
}

Tun& Tun::operator=(Tun&& other) noexcept {
  if (this != &other) {
    close();
    name_ = std::move(other.name_);
    ifindex_ = std::exchange(other.ifindex_, 0);
    queues_ = std::move(other.queues_);
    netlink_ = std::move(other.netlink_);
    routes_ = std::move(other.routes_);
    other.queues_.clear();
    other.routes_.clear();
  }
  return *this;
}

Status Tun::setMtu(uint32_t mtu) {
  return netlink_.setMtu(ifindex_, name_, mtu);
}

Status Tun::setUp(bool up) {
  return netlink_.setUp(ifindex_, name_, up);
}

Status Tun::addAddress(const Ipv6Addr& addr, uint8_t prefixLen) {
  return netlink_.addAddress(ifindex_, name_, addr, prefixLen);
}

Status Tun::addRoute(const Ipv6Addr& prefix, uint8_t len, const Ipv6Addr& from, uint8_t fromLen) {
  Status s = netlink_.addRoute(ifindex_, name_, prefix, len, from, fromLen);
  if (s.ok()) {
    routes_.push_back({prefix, len, from, fromLen});
  }
  return s;
}

Status Tun::deleteRoute(const Ipv6Addr& prefix, uint8_t len, const Ipv6Addr& from,
                        uint8_t fromLen) {
  Status s = netlink_.deleteRoute(ifindex_, name_, prefix, len, from, fromLen);
  if (s.ok() || s.sysErrno() == ESRCH) {
    std::erase_if(routes_, [&](const Route& r) {
      return r.prefix == prefix && r.len == len && r.from == from && r.fromLen == fromLen;
    });
  }
  return s;
}

Status Tun::setIpv6Sysctl(std::string_view key, std::string_view value) {
  std::string path = "/proc/sys/net/ipv6/conf/" + name_ + "/" + std::string(key);
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return Status::fromErrno(errno, "open " + path);
  }
  ssize_t n = ::write(fd.get(), value.data(), value.size());
  if (n != static_cast<ssize_t>(value.size())) {
    return Status::fromErrno(n < 0 ? errno : EIO,
                             "write \"" + std::string(value) + "\" to " + path);
  }
  return {};
}

StatusOr<std::string> Tun::ipv6Sysctl(std::string_view key) const {
  std::string path = "/proc/sys/net/ipv6/conf/" + name_ + "/" + std::string(key);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return Status::fromErrno(errno, "open " + path);
  }
  char buf[64];
  ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n < 0) {
    return Status::fromErrno(errno, "read " + path);
  }
  std::string value(buf, static_cast<size_t>(n));
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) {
    value.pop_back();
  }
  return value;
}

Status Tun::applyTunnelSysctls(std::vector<std::string>* notApplied) {
  struct Setting {
    const char* key;
    const char* value;
    bool required;
  };
  static constexpr Setting kSettings[] = {{"disable_ipv6", "0", true},
                                          {"accept_ra", "0", false},
                                          {"accept_redirects", "0", false},
                                          {"autoconf", "0", false}};
  for (const Setting& s : kSettings) {
    StatusOr<std::string> current = ipv6Sysctl(s.key);
    if (current.ok() && current.value() == s.value) {
      continue;  // nothing to write (and nothing to fail on a read-only /proc/sys)
    }
    Status st = setIpv6Sysctl(s.key, s.value);
    if (st.ok()) {
      continue;
    }
    if (s.required) {
      return st;
    }
    if (notApplied != nullptr) {
      notApplied->push_back(std::string(s.key) + ": " + st.message());
    }
  }
  return {};
}

int Tun::readBatch(size_t queue, PacketBatch& batch) {
  batch.clear();
  if (queue >= queues_.size()) {
    return -EBADF;
  }
  int fd = queues_[queue].get();
  int eintrLeft = kEintrRetries;
  // Cut packets do not fill the batch, so bound the reads too: one call does bounded work.
  size_t readsLeft = 2 * batch.capacity_;
  while (batch.count_ < batch.capacity_ && readsLeft-- > 0) {
    ssize_t n = ::read(fd, batch.slot(batch.count_), batch.slotSize_);
    if (n < 0) {
      if (errno == EINTR && eintrLeft-- > 0) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || batch.count_ > 0) {
        break;
      }
      return -errno;
    }
    size_t len = static_cast<size_t>(n);
    if (len >= batch.slotSize_) {
      ++batch.truncated_;  // cut by the slot: never handed on as if it were whole
      continue;
    }
    batch.lengths_[batch.count_++] = len;
  }
  return static_cast<int>(batch.count_);
}

int Tun::write(size_t queue, Bytes packet) {
  if (queue >= queues_.size()) {
    return -EBADF;
  }
  for (int attempt = 0; attempt <= kEintrRetries; ++attempt) {
    ssize_t n = ::write(queues_[queue].get(), packet.data(), packet.size());
    if (n == static_cast<ssize_t>(packet.size())) {
      return 0;
    }
    if (n >= 0) {
      return -EIO;
    }
    if (errno != EINTR) {
      return -errno;
    }
  }
  return -EINTR;
}

TunWriteResult Tun::writeBatch(size_t queue, std::span<const Bytes> packets) {
  TunWriteResult r;
  for (Bytes p : packets) {
    int err = write(queue, p);
    if (err == 0) {
      ++r.written;
    } else {
      ++r.failed;
      r.lastError = err;
    }
  }
  return r;
}

void Tun::close() {
  if (!queues_.empty()) {
    for (const Route& route : routes_) {
      (void)netlink_.deleteRoute(ifindex_, name_, route.prefix, route.len, route.from,
                                 route.fromLen);
    }
  }
  routes_.clear();
  queues_.clear();
}

}  // namespace teredo::net

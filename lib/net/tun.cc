#include "net/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

// Linux 6.2 added USO to the tun; older userspace headers (Debian 12 ships 6.1) lack the names.
// The values are the kernel's UAPI (include/uapi/linux/if_tun.h).
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

namespace teredo::net {
namespace {

constexpr int kEintrRetries = 8;
constexpr const char* kTunPath = "/dev/net/tun";

// teredo/offload.h carries the virtio_net_hdr layout and constants itself: <linux/virtio_net.h>
// cannot be included from C++ (a struct member there is named `class`).

/// TunOffload bits as TUNSETOFFLOAD flags.
unsigned int tunFlags(uint32_t offloads) {
  unsigned int f = 0;
  f |= (offloads & kTunOffloadCsum) != 0 ? TUN_F_CSUM : 0;
  f |= (offloads & kTunOffloadTso6) != 0 ? TUN_F_TSO6 : 0;
  f |= (offloads & kTunOffloadTsoEcn) != 0 ? TUN_F_TSO_ECN : 0;
  // The kernel takes USO only for both families at once (set_offload() in drivers/net/tun.c
  // refuses TUN_F_USO6 alone with EINVAL; verified on 6.18). This tun never carries IPv4.
  f |= (offloads & kTunOffloadUso) != 0 ? TUN_F_USO4 | TUN_F_USO6 : 0;
  return f;
}

int retryingWritev(int fd, const struct iovec* iov, int count, size_t total) {
  for (int attempt = 0; attempt <= kEintrRetries; ++attempt) {
    ssize_t n = ::writev(fd, iov, count);
    if (n == static_cast<ssize_t>(total)) {
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

}  // namespace

std::string tunOffloadNames(uint32_t offloads) {
  static constexpr struct {
    uint32_t bit;
    const char* name;
  } kNames[] = {{kTunOffloadCsum, "csum"},
                {kTunOffloadTso6, "tso6"},
                {kTunOffloadTsoEcn, "tso_ecn"},
                {kTunOffloadUso, "uso"}};
  std::string out;
  for (const auto& n : kNames) {
    if ((offloads & n.bit) != 0) {
      out += out.empty() ? "" : "|";
      out += n.name;
    }
  }
  return out.empty() ? "none" : out;
}

std::vector<uint32_t> tunOffloadFallbacks(uint32_t requested) {
  std::vector<uint32_t> sets;
  uint32_t s = requested & kTunOffloadAll;
  auto add = [&](uint32_t set) {
    if (std::find(sets.begin(), sets.end(), set) == sets.end()) {
      sets.push_back(set);
    }
  };
  add(s);
  s &= ~kTunOffloadUso;
  add(s);
  s &= ~kTunOffloadTsoEcn;
  add(s);
  s &= ~kTunOffloadTso6;
  add(s);
  add(0);
  return sets;
}

VnetPacketBatch::VnetPacketBatch(size_t capacity, size_t arenaSize)
    : entries_(std::max<size_t>(capacity, 1)), arena_(std::max(arenaSize, kReadWindow)) {}

PacketBatch::PacketBatch(size_t capacity, size_t slotSize)
    : capacity_(std::max<size_t>(capacity, 1)),
      slotSize_(std::max<size_t>(slotSize, 1)),
      buffer_(capacity_ * slotSize_),
      lengths_(capacity_) {}

StatusOr<Tun> Tun::open(std::string_view name, size_t queues) {
  return open(name, queues, TunOptions{});
}

StatusOr<Tun> Tun::open(std::string_view name, size_t queues, const TunOptions& options) {
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
  const uint32_t wanted = options.offloads;
  const char* badOffloads =
      (wanted & ~kTunOffloadAll) != 0      ? "unknown offload bits"
      : wanted != 0 && !options.vnetHeader ? "offloads need the vnet header"
      : (wanted & (kTunOffloadTso6 | kTunOffloadUso)) != 0 && (wanted & kTunOffloadCsum) == 0
          ? "TSO and USO need checksum offload"
      : (wanted & kTunOffloadTsoEcn) != 0 && (wanted & kTunOffloadTso6) == 0 ? "TSO_ECN needs TSO6"
                                                                             : nullptr;
  if (badOffloads != nullptr) {
    return Status::error(
        StatusCode::kInvalidArgument,
        "tun " + std::string(name) + ": offloads " + tunOffloadNames(wanted) + ": " + badOffloads);
  }
  Tun tun;
  tun.name_ = std::string(name);
  tun.offloads_.requested = wanted;
  tun.vnetApi_ = options.vnetHeader;
  short vnetFlag = 0;
  if (options.vnetHeader) {
    // TUNGETFEATURES lists the TUNSETIFF flags this kernel knows.
    Fd probe(::open(kTunPath, O_RDWR | O_CLOEXEC));
    unsigned int features = 0;
    if (!probe.valid()) {
      return Status::fromErrno(errno, std::string("open ") + kTunPath + " for " + tun.name_);
    }
    if (::ioctl(probe.get(), TUNGETFEATURES, &features) == 0 && (features & IFF_VNET_HDR) != 0) {
      vnetFlag = IFF_VNET_HDR;
    } else {
      tun.offloads_.fallback = "IFF_VNET_HDR not supported by the kernel; offloads none";
    }
  }
  for (size_t q = 0; q < queues; ++q) {
    Fd fd(::open(kTunPath, O_RDWR | O_CLOEXEC | O_NONBLOCK));
    if (!fd.valid()) {
      return Status::fromErrno(errno, std::string("open ") + kTunPath + " for " + tun.name_);
    }
    struct ifreq ifr {};
    std::memcpy(ifr.ifr_name, tun.name_.data(), tun.name_.size());
    // Every queue of a device must ask for the same flags.
    ifr.ifr_flags = static_cast<short>(IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | vnetFlag);
    if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) {
      return Status::fromErrno(errno, "TUNSETIFF " + tun.name_ + " (IFF_TUN|IFF_NO_PI|" +
                                          (vnetFlag != 0 ? "IFF_VNET_HDR|" : "") +
                                          "IFF_MULTI_QUEUE), queue " + std::to_string(q + 1) +
                                          " of " + std::to_string(queues));
    }
    // The kernel resolves "%d" on the first queue; later queues attach to that name.
    tun.name_ = std::string(ifr.ifr_name, ::strnlen(ifr.ifr_name, IFNAMSIZ));
    tun.queues_.push_back(std::move(fd));
  }
  if (vnetFlag != 0) {
    // Header size, byte order and offloads belong to the device, not to a queue.
    const int fd = tun.queues_[0].get();
    int size = static_cast<int>(kVirtioNetHdrSize);
    if (::ioctl(fd, TUNSETVNETHDRSZ, &size) != 0) {
      return Status::fromErrno(errno, "TUNSETVNETHDRSZ 10 on " + tun.name_);
    }
    // Little-endian headers whatever the host (legacy virtio headers are native-endian). A
    // kernel without TUNSETVNETLE uses native order, which is little endian on such a host.
    int le = 1;
    if (::ioctl(fd, TUNSETVNETLE, &le) != 0 && std::endian::native != std::endian::little) {
      return Status::fromErrno(errno, "TUNSETVNETLE on " + tun.name_);
    }
    tun.offloads_.vnetHeader = true;
    int firstError = 0;
    for (uint32_t set : tunOffloadFallbacks(wanted)) {
      if (set == 0 && wanted == 0) {
        break;  // nothing asked for: the device starts without offloads
      }
      if (::ioctl(fd, TUNSETOFFLOAD, tunFlags(set)) == 0) {
        tun.offloads_.active = set;
        break;
      }
      if (firstError == 0) {
        firstError = errno;
      }
    }
    if (tun.offloads_.active != wanted) {
      tun.offloads_.fallback = "TUNSETOFFLOAD " + tunOffloadNames(wanted) + ": " +
                               std::strerror(firstError) + "; using " +
                               tunOffloadNames(tun.offloads_.active);
    }
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
      routes_(std::move(other.routes_)),
      offloads_(std::exchange(other.offloads_, TunOffloadState{})),
      vnetApi_(std::exchange(other.vnetApi_, false)) {
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
    offloads_ = std::exchange(other.offloads_, TunOffloadState{});
    vnetApi_ = std::exchange(other.vnetApi_, false);
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
  if (offloads_.vnetHeader) {
    return -EINVAL;  // reads carry a header and may be 64 KiB: readVnetBatch()
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
  if (offloads_.vnetHeader) {
    return writeVnet(queue, VirtioNetHdr{}, std::span<const Bytes>(&packet, 1));
  }
  const struct iovec iov { const_cast<uint8_t*>(packet.data()), packet.size() };
  return retryingWritev(queues_[queue].get(), &iov, 1, packet.size());
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

int Tun::readVnetBatch(size_t queue, VnetPacketBatch& batch) {
  batch.clear();
  if (queue >= queues_.size()) {
    return -EBADF;
  }
  if (!vnetApi_) {
    return -EINVAL;  // opened without TunOptions::vnetHeader
  }
  const size_t hdrSize = offloads_.vnetHeader ? kVirtioNetHdrSize : 0;
  const int fd = queues_[queue].get();
  int eintrLeft = kEintrRetries;
  size_t used = 0;
  size_t readsLeft = 2 * batch.capacity();
  while (batch.count_ < batch.capacity() &&
         batch.arena_.size() - used >= VnetPacketBatch::kReadWindow && readsLeft-- > 0) {
    uint8_t* at = batch.arena_.data() + used;
    ssize_t n = ::read(fd, at, VnetPacketBatch::kReadWindow);
    if (n < 0) {
      if (errno == EINTR && eintrLeft-- > 0) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || batch.count_ > 0) {
        break;
      }
      return -errno;
    }
    const size_t len = static_cast<size_t>(n);
    if (len >= VnetPacketBatch::kReadWindow || len < hdrSize) {
      ++batch.truncated_;
      continue;
    }
    VnetPacketBatch::Entry& e = batch.entries_[batch.count_++];
    e.hdr = hdrSize != 0 ? decodeVirtioNetHdr(Bytes(at, hdrSize)) : VirtioNetHdr{};
    e.offset = used + hdrSize;
    e.length = len - hdrSize;
    used += (len + 7) & ~size_t{7};
  }
  batch.filled_ =
      batch.count_ == batch.capacity() || batch.arena_.size() - used < VnetPacketBatch::kReadWindow;
  return static_cast<int>(batch.count_);
}

int Tun::writeVnet(size_t queue, const VirtioNetHdr& hdr, std::span<const Bytes> pieces) {
  if (queue >= queues_.size()) {
    return -EBADF;
  }
  if (pieces.size() > kMaxWritePieces) {
    return -EMSGSIZE;
  }
  std::array<uint8_t, kVirtioNetHdrSize> header;
  std::array<struct iovec, kMaxWritePieces + 1> iov;
  int count = 0;
  size_t total = 0;
  if (offloads_.vnetHeader) {
    encodeVirtioNetHdr(hdr, header);
    iov[count++] = {header.data(), header.size()};
    total += header.size();
  } else if (hdr.gsoType != kGsoNone || (hdr.flags & kVirtioNetHdrNeedsCsum) != 0) {
    return -EINVAL;  // nobody to finish the checksum or cut the segments
  }
  for (Bytes p : pieces) {
    if (!p.empty()) {
      iov[count++] = {const_cast<uint8_t*>(p.data()), p.size()};
      total += p.size();
    }
  }
  return retryingWritev(queues_[queue].get(), iov.data(), count, total);
}

TunWriteResult Tun::writeCoalesced(size_t queue, std::span<const CoalescedPacket> packets,
                                   std::span<const Bytes> pieces) {
  TunWriteResult r;
  for (const CoalescedPacket& p : packets) {
    int err = -EINVAL;
    if (p.firstPiece <= pieces.size() && p.pieceCount <= pieces.size() - p.firstPiece) {
      err = writeVnet(queue, p.hdr, pieces.subspan(p.firstPiece, p.pieceCount));
    }
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

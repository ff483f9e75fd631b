// A multi-queue Linux tun device for the relay's native IPv6 side (docs/architecture.md).
//
// The device is opened with IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE: one non-blocking descriptor
// per queue (one queue per worker thread), packets are bare IPv6 packets (no 4-byte packet
// information header, unlike Miredo). Link, address and route changes go
// through rtnetlink (net/netlink.h), never through an exec of `ip`.
//
// Byte order: packets are raw wire bytes; Ipv6Addr is network order.
// Thread-safety: readBatch/write/writeBatch on *different* queues may run concurrently (one
// worker per queue); calls on the same queue must be serialised by the caller. The setup calls
// (setMtu, setUp, addAddress, addRoute, deleteRoute, setIpv6Sysctl, close) must not run
// concurrently with anything else on the object.
// Ownership: Tun owns its queue descriptors and its rtnetlink socket (move-only). The device is
// not persistent: it disappears when the last queue descriptor is closed. close() (also run by
// the destructor) first deletes the routes this object added, then closes the queues.
// PacketBatch owns preallocated storage; its views are valid until the next readBatch into it.
// Errors: setup calls return a Status; the per-packet calls (readBatch, write, writeBatch) return
// a count or 0 on success and a negative errno value on failure, like every per-packet call in
// lib/net (never a positive errno).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "net/fd.h"
#include "net/netlink.h"
#include "teredo/address.h"
#include "teredo/packet.h"

namespace teredo::net {

/// Preallocated storage for up to capacity() packets of up to slotSize() bytes (tun reads).
/// A read that fills its slot completely may have been cut, so it is never returned: it is
/// counted in truncated() instead. Use a slotSize() larger than the device MTU (slotSizeFor()).
class PacketBatch {
 public:
  static constexpr size_t kDefaultCapacity = 64;
  static constexpr size_t kDefaultSlotSize = 2048;

  explicit PacketBatch(size_t capacity = kDefaultCapacity, size_t slotSize = kDefaultSlotSize);

  /// A slot that holds any packet of a device with this MTU, and one byte more (so that a full
  /// slot always means a cut packet).
  static constexpr size_t slotSizeFor(uint32_t mtu) {
    return mtu + 1u > kDefaultSlotSize ? mtu + 1u : kDefaultSlotSize;
  }

  size_t size() const { return count_; }
  size_t capacity() const { return capacity_; }
  size_t slotSize() const { return slotSize_; }
  /// Packet i of the last read.
  Bytes operator[](size_t i) const { return {slot(i), lengths_[i]}; }
  MutableBytes mutableData(size_t i) { return {slot(i), lengths_[i]}; }
  /// Packets of the last read that filled their slot completely and so may have been cut; they
  /// are not among the size() packets returned.
  size_t truncated() const { return truncated_; }
  void clear() {
    count_ = 0;
    truncated_ = 0;
  }

 private:
  friend class Tun;
  uint8_t* slot(size_t i) { return buffer_.data() + i * slotSize_; }
  const uint8_t* slot(size_t i) const { return buffer_.data() + i * slotSize_; }

  size_t capacity_;
  size_t slotSize_;
  size_t count_ = 0;
  size_t truncated_ = 0;
  std::vector<uint8_t> buffer_;
  std::vector<size_t> lengths_;
};

/// The outcome of Tun::writeBatch: written + failed == packets given.
struct TunWriteResult {
  size_t written = 0;
  /// Packets the kernel refused (count them as drops), with -errno of the last one (0 if none).
  size_t failed = 0;
  int lastError = 0;
};

class Tun {
 public:
  /// Upper bound on queues (the kernel allows 256 per device).
  static constexpr size_t kMaxQueues = 256;

  /// Creates (or attaches to) tun device `name` with `queues` queues (1..kMaxQueues). `name` may
  /// contain "%d" to let the kernel pick a number; name() reports the result. Needs
  /// CAP_NET_ADMIN. The device starts down, without addresses.
  static StatusOr<Tun> open(std::string_view name, size_t queues = 1);

  Tun() = default;
  Tun(Tun&& other) noexcept;
  Tun& operator=(Tun&& other) noexcept;
  ~Tun() { close(); }

  const std::string& name() const { return name_; }
  int ifindex() const { return ifindex_; }
  size_t queueCount() const { return queues_.size(); }
  int fd(size_t queue) const { return queues_[queue].get(); }

  Status setMtu(uint32_t mtu);
  Status setUp(bool up = true);
  /// Adds an IPv6 address (no DAD), e.g. fe80::1/64.
  Status addAddress(const Ipv6Addr& addr, uint8_t prefixLen);
  /// Routes prefix/len through this device (e.g. 2001::/32); remembered and deleted by close().
  /// With `fromLen` > 0 only packets whose source is in from/fromLen take the route.
  Status addRoute(const Ipv6Addr& prefix, uint8_t len, const Ipv6Addr& from = {},
                  uint8_t fromLen = 0);
  Status deleteRoute(const Ipv6Addr& prefix, uint8_t len, const Ipv6Addr& from = {},
                     uint8_t fromLen = 0);
  /// Writes /proc/sys/net/ipv6/conf/<name>/<key>, e.g. ("accept_ra", "0").
  Status setIpv6Sysctl(std::string_view key, std::string_view value);
  /// Reads /proc/sys/net/ipv6/conf/<name>/<key> (trailing newline removed).
  StatusOr<std::string> ipv6Sysctl(std::string_view key) const;
  /// What a tunnel wants (Miredo sets the same on its interface): disable_ipv6=0, accept_ra=0,
  /// accept_redirects=0, autoconf=0. A setting that already holds its value is not written, so
  /// this works where /proc/sys is read-only (containers) as long as IPv6 is enabled on the
  /// device: that one is required; the other three are hardening only (the relay never writes
  /// router advertisements, redirects or link-local traffic to the tun), so one that cannot be
  /// written is reported in `*notApplied` ("key: reason") and skipped.
  Status applyTunnelSysctls(std::vector<std::string>* notApplied = nullptr);

  /// Reads up to batch.capacity() packets from `queue` with repeated read() until EAGAIN (at most
  /// twice the capacity reads). Returns the number of whole packets in the batch (0 when none is
  /// waiting or every one was cut: see batch.truncated()), or -errno when the first read fails
  /// with anything but EAGAIN. Never blocks; EINTR is retried a bounded number of times.
  int readBatch(size_t queue, PacketBatch& batch);
  /// Writes one IPv6 packet to `queue`. Returns 0 or -errno (-EBADF for a queue that does not
  /// exist, -EIO for a short write).
  int write(size_t queue, Bytes packet);
  /// Writes each packet with one write() call; failures are counted, never retried.
  TunWriteResult writeBatch(size_t queue, std::span<const Bytes> packets);

  /// Deletes the routes added through this object (best effort: the device going away removes
  /// them anyway), closes every queue and so removes the device. Idempotent.
  void close();

 private:
  struct Route {
    Ipv6Addr prefix;
    uint8_t len;
    Ipv6Addr from;
    uint8_t fromLen;
  };

  std::string name_;
  int ifindex_ = 0;
  std::vector<Fd> queues_;
  Netlink netlink_;
  std::vector<Route> routes_;
};

}  // namespace teredo::net

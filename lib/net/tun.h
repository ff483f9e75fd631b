// A multi-queue Linux tun device for the relay's native IPv6 side (docs/architecture.md).
//
// The device is opened with IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE: one non-blocking descriptor
// per queue (one queue per worker thread), packets are bare IPv6 packets (no 4-byte packet
// information header, unlike Miredo). Link, address and route changes go
// through rtnetlink (net/netlink.h), never through an exec of `ip`.
//
// Offloads (opt-in, TunOptions): with IFF_VNET_HDR every packet on the device is preceded by a
// 10-byte virtio_net_hdr (TUNSETVNETHDRSZ 10, little endian: TUNSETVNETLE), and TUNSETOFFLOAD
// lets the kernel hand over packets whose checksum is still to be completed and TCP/UDP
// super-packets of up to 64 KiB (GSO), which teredo/offload.h splits; in the other direction
// the relay may write super-packets that teredo/offload.h coalesced. Such a tun is read with
// readVnetBatch() and written with writeVnet()/writeCoalesced(); readBatch() refuses it (its
// reads carry headers and may be 64 KiB), write()/writeBatch() still work (they send a header
// of zeros, GSO_NONE). A kernel that refuses an offload gets fewer (offloads() says which are on
// and why some are not), down to none, and one without IFF_VNET_HDR a plain tun: the vnet calls
// then work without headers (GSO_NONE only). Without TunOptions nothing changes.
//
// Byte order: packets are raw wire bytes; Ipv6Addr is network order.
// Thread-safety: readBatch/readVnetBatch/write/writeBatch/writeVnet/writeCoalesced on *different*
// queues may run concurrently (one worker per queue); calls on the same queue must be
// serialised by the caller. offloads() is immutable after open(). The setup calls (setMtu,
// setUp, addAddress, addRoute, deleteRoute, setIpv6Sysctl, close) must not run concurrently
// with anything else on the object.
// Ownership: Tun owns its queue descriptors and its rtnetlink socket (move-only). The device is
// not persistent: it disappears when the last queue descriptor is closed. close() (also run by
// the destructor) first deletes the routes this object added, then closes the queues.
// PacketBatch and VnetPacketBatch own preallocated storage; their views are valid until the next
// read into them. writeVnet()/writeCoalesced() only borrow the pieces for the call (no copy).
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
#include "teredo/offload.h"
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

/// Storage for reads of a vnet-header tun (Tun::readVnetBatch): up to capacity() packets, each
/// with its decoded virtio_net_hdr, one after the other in an arena. A read is only attempted
/// with kReadWindow bytes free (a 64 KiB super-packet, its header and one byte more, so that a
/// read filling the window means a cut packet, counted in truncated() and never returned), so
/// the arena holds at least (arenaSize - kReadWindow) / (MTU + 10) small packets, and at least
/// arenaSize / kReadWindow super-packets. The default (512 KiB) takes 64 packets of a 1280-MTU
/// tun or 7 super-packets per call.
class VnetPacketBatch {
 public:
  static constexpr size_t kReadWindow = kVirtioNetHdrSize + kMaxIpv6Packet + 1;
  static constexpr size_t kDefaultCapacity = 64;
  static constexpr size_t kDefaultArenaSize = 512 * 1024;

  /// `arenaSize` is raised to kReadWindow if smaller; capacity to 1.
  explicit VnetPacketBatch(size_t capacity = kDefaultCapacity,
                           size_t arenaSize = kDefaultArenaSize);

  size_t size() const { return count_; }
  size_t capacity() const { return entries_.size(); }
  size_t arenaSize() const { return arena_.size(); }
  /// Header of packet i (all zeros when the tun has no vnet header).
  const VirtioNetHdr& header(size_t i) const { return entries_[i].hdr; }
  /// The IPv6 packet i (header not included). Mutable for splitOffload(), which completes a
  /// checksum in place.
  Bytes packet(size_t i) const { return {arena_.data() + entries_[i].offset, entries_[i].length}; }
  MutableBytes mutablePacket(size_t i) {
    return {arena_.data() + entries_[i].offset, entries_[i].length};
  }
  /// Reads of the last call that were cut (filled the window) or shorter than a header.
  size_t truncated() const { return truncated_; }
  /// The last read stopped because the batch was full (capacity or arena), not because the queue
  /// was empty: more packets may be waiting.
  bool filled() const { return filled_; }
  void clear() {
    count_ = 0;
    truncated_ = 0;
    filled_ = false;
  }

 private:
  friend class Tun;
  struct Entry {
    VirtioNetHdr hdr;
    size_t offset = 0;
    size_t length = 0;
  };
  std::vector<Entry> entries_;
  std::vector<uint8_t> arena_;
  size_t count_ = 0;
  size_t truncated_ = 0;
  bool filled_ = false;
};

/// Offloads a vnet-header tun can ask the kernel for (TUNSETOFFLOAD); a bitmask. The kernel
/// takes TSO and USO only together with checksum offload, so open() refuses such requests.
enum TunOffload : uint32_t {
  /// TUN_F_CSUM: reads may carry NEEDS_CSUM (the checksum still to be completed).
  kTunOffloadCsum = 1u << 0,
  /// TUN_F_TSO6: reads may be GSO_TCPV6 super-packets. Needs kTunOffloadCsum.
  kTunOffloadTso6 = 1u << 1,
  /// TUN_F_TSO_ECN: TCP super-packets also when they carry CWR (GSO_ECN). Needs kTunOffloadTso6.
  kTunOffloadTsoEcn = 1u << 2,
  /// TUN_F_USO4 | TUN_F_USO6 (Linux >= 6.2, which takes them only as a pair): reads may be
  /// GSO_UDP_L4 super-packets (from UDP_SEGMENT senders). Needs kTunOffloadCsum.
  kTunOffloadUso = 1u << 3,
};
inline constexpr uint32_t kTunOffloadAll =
    kTunOffloadCsum | kTunOffloadTso6 | kTunOffloadTsoEcn | kTunOffloadUso;

/// How Tun::open sets the device up beyond IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE.
struct TunOptions {
  /// IFF_VNET_HDR: a virtio_net_hdr before every packet (use the vnet read/write calls).
  bool vnetHeader = false;
  /// TunOffload bits wanted; needs vnetHeader.
  uint32_t offloads = 0;
};

/// What open() obtained: report it once (log line, metric) at start-up.
struct TunOffloadState {
  bool vnetHeader = false;  ///< IFF_VNET_HDR in use
  uint32_t requested = 0;   ///< TunOffload bits asked for
  uint32_t active = 0;      ///< TunOffload bits the kernel took (a subset of requested)
  /// Why vnetHeader or active falls short of the request, e.g. "TUNSETOFFLOAD csum|tso6|uso:
  /// Invalid argument; using csum|tso6"; empty when everything asked for is on.
  std::string fallback;
  bool has(uint32_t offload) const { return (active & offload) == offload; }
};

/// "csum|tso6|tso_ecn|uso" (the bits set, in that order), "none" for 0.
std::string tunOffloadNames(uint32_t offloads);
/// The offload sets open() tries, in order: `requested`, then without uso, without tso_ecn,
/// without tso6, and finally none (0). Sets equal to an earlier one are left out.
std::vector<uint32_t> tunOffloadFallbacks(uint32_t requested);

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
  /// The same with a vnet header and offloads: kInvalidArgument when offloads are asked without
  /// vnetHeader, or TSO/USO without checksum offload, or TSO_ECN without TSO6. A kernel that
  /// refuses offloads or IFF_VNET_HDR is not an error: see offloads().
  static StatusOr<Tun> open(std::string_view name, size_t queues, const TunOptions& options);
  /// The most pieces writeVnet() takes (IOV_MAX 1024, one iovec for the header).
  static constexpr size_t kMaxWritePieces = 1023;

  Tun() = default;
  Tun(Tun&& other) noexcept;
  Tun& operator=(Tun&& other) noexcept;
  ~Tun() { close(); }

  const std::string& name() const { return name_; }
  int ifindex() const { return ifindex_; }
  size_t queueCount() const { return queues_.size(); }
  int fd(size_t queue) const { return queues_[queue].get(); }
  /// Vnet header and offloads in effect (all false/0 for open() without TunOptions).
  const TunOffloadState& offloads() const { return offloads_; }
  /// Opened with TunOptions::vnetHeader: use readVnetBatch()/writeVnet()/writeCoalesced() (they
  /// work, with zero headers, even when the kernel refused IFF_VNET_HDR).
  bool vnetCalls() const { return vnetApi_; }

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
  /// with anything but EAGAIN (-EINVAL on a tun with a vnet header: use readVnetBatch()). Never
  /// blocks; EINTR is retried a bounded number of times.
  int readBatch(size_t queue, PacketBatch& batch);
  /// Writes one IPv6 packet to `queue` (on a vnet-header tun after a GSO_NONE header of zeros).
  /// Returns 0 or -errno (-EBADF for a queue that does not exist, -EIO for a short write).
  int write(size_t queue, Bytes packet);
  /// Writes each packet with one write() call; failures are counted, never retried.
  TunWriteResult writeBatch(size_t queue, std::span<const Bytes> packets);

  /// Reads like readBatch(), from a tun opened with TunOptions::vnetHeader: each packet comes
  /// with its virtio_net_hdr (decoded; all zeros when the kernel refused IFF_VNET_HDR) and may
  /// be a super-packet of up to 64 KiB; give it to splitOffload(). Returns the number of packets
  /// or -errno; -EINVAL on a tun without the option.
  int readVnetBatch(size_t queue, VnetPacketBatch& batch);
  /// Writes one packet, `pieces` in order after the header `hdr`, with one writev() (the pieces
  /// are not copied). Returns 0 or -errno: -EBADF for no such queue, -EMSGSIZE for more than
  /// kMaxWritePieces pieces, -EINVAL for NEEDS_CSUM or GSO on a tun without a vnet header,
  /// -EIO for a short write, and the kernel's errors (-EINVAL for a header it refuses).
  int writeVnet(size_t queue, const VirtioNetHdr& hdr, std::span<const Bytes> pieces);
  /// Writes coalesce()'s output: each packet with writeVnet(); failures are counted, never
  /// retried (a packet that names pieces beyond `pieces` fails with -EINVAL).
  TunWriteResult writeCoalesced(size_t queue, std::span<const CoalescedPacket> packets,
                                std::span<const Bytes> pieces);

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
  TunOffloadState offloads_;
  bool vnetApi_ = false;  ///< opened with TunOptions::vnetHeader (readVnetBatch allowed)
};

}  // namespace teredo::net

// UDP/IPv4 sockets with batched receive (recvmmsg) and send (sendmmsg) for the Teredo server and
// relay (one socket per worker with SO_REUSEPORT; docs/architecture.md).
//
// Byte order: every Endpoint in this API is in *host* byte order (teredo/address.h); conversion
// to and from sockaddr_in happens here. Payload bytes are raw wire bytes.
//
// Thread-safety: a UdpSocket may be used by several threads at once for send/receive (the kernel
// serialises), but open/close must not race with use. A RecvBatch or SendBatch belongs to one
// thread (one per worker); they are not synchronised.
//
// Errors: open() returns a Status (setup path); the per-packet calls return a count on success
// and a negative errno value on failure (receive(), FlushResult::lastError), like every
// per-packet call in lib/net (never a positive errno).
//
// Ownership: UdpSocket owns its descriptor (closed on destruction; move-only). RecvBatch and
// SendBatch own all their storage, allocated once at construction: receive(), add() and flush()
// never allocate. See each class for how long the returned views stay valid.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "net/fd.h"
#include "teredo/address.h"
#include "teredo/packet.h"

namespace teredo::net {

/// Socket options for UdpSocket::open.
struct UdpOptions {
  /// SO_REUSEPORT: several sockets (one per worker thread) bind the same address and port and the
  /// kernel spreads flows over them.
  bool reusePort = false;
  /// SO_RCVBUF / SO_SNDBUF in bytes, 0 = kernel default. Tried with the *FORCE variants first
  /// (which ignore net.core.rmem_max/wmem_max when the process has CAP_NET_ADMIN).
  int rcvbuf = 0;
  int sndbuf = 0;
  /// O_NONBLOCK. Batched I/O always passes MSG_DONTWAIT anyway, so this only matters for callers
  /// that use the descriptor themselves.
  bool nonBlocking = true;
  /// IP_FREEBIND: bind an address that is not (yet) configured on this host, e.g. a server's
  /// secondary address that a floating-IP agent adds later. Off by default, so a typo in the
  /// configured address fails at startup with EADDRNOTAVAIL.
  bool freeBind = false;
  /// SO_RCVTIMEO in milliseconds, 0 = none: how long RecvBatch::receive(socket, RecvWait::ForOne)
  /// blocks on a blocking socket before it returns 0, so a thread that waits in the kernel still
  /// wakes up to beat its heartbeat and notice a stop request.
  int receiveTimeoutMs = 0;
};

/// Whether RecvBatch::receive waits for the first datagram.
enum class RecvWait {
  /// Never block (MSG_DONTWAIT): 0 when nothing is queued. For sockets behind epoll.
  No,
  /// Block until one datagram is queued or the socket's receive timeout passes (0), then take
  /// whatever else is already queued without waiting (MSG_WAITFORONE). One syscall per wake-up
  /// instead of epoll_wait + recvmmsg. Needs a blocking socket (UdpOptions::nonBlocking = false);
  /// on a non-blocking one it behaves like No.
  ForOne,
};

/// A bound UDP/IPv4 socket. Always set: IP_MTU_DISCOVER = IP_PMTUDISC_DONT (RFC 4380 §5.1.1:
/// Teredo packets are sent without DF and may be fragmented by IPv4), SO_RXQ_OVFL (the kernel's
/// per-socket drop counter arrives with received datagrams) and close-on-exec. Never set:
/// SO_BROADCAST (sends to a broadcast address fail with EACCES and are counted as drops), and
/// IP_RECVERR (ICMP errors for unconnected sockets stay silent, as in Miredo's server).
class UdpSocket {
 public:
  /// Creates, configures and binds a socket to `bind` (addr 0 = any, port 0 = ephemeral).
  /// Errors name the step and the address, e.g. "bind 198.51.100.7:3544: Cannot assign
  /// requested address".
  static StatusOr<UdpSocket> open(const Endpoint& bind, const UdpOptions& options = {});

  UdpSocket() = default;
  UdpSocket(UdpSocket&&) = default;
  UdpSocket& operator=(UdpSocket&&) = default;

  bool valid() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  /// The bound address and port as reported by getsockname (port resolved when 0 was asked).
  Endpoint localEndpoint() const { return local_; }
  /// The kernel's cumulative drop counter for this socket (SO_RXQ_OVFL) as last seen by
  /// RecvBatch::receive; widened to 64 bits across the kernel's 32-bit wrap.
  uint64_t kernelDrops() const { return kernelDrops_; }
  void close() { fd_.reset(); }

 private:
  friend class RecvBatch;
  Fd fd_;
  Endpoint local_;
  uint32_t lastOverflow_ = 0;  ///< last raw SO_RXQ_OVFL value seen
  uint64_t kernelDrops_ = 0;
};

/// One received datagram (a view into RecvBatch storage).
struct RecvMessage {
  /// The datagram bytes; at most RecvBatch::slotSize() long.
  Bytes data;
  /// The sender, host byte order.
  Endpoint source;
  /// MSG_TRUNC: the datagram was longer than the slot and was cut. The caller should count it as
  /// a drop (it cannot be a valid Teredo packet of the size the slot was chosen for).
  bool truncated = false;
};

/// Preallocated storage for up to capacity() datagrams of up to slotSize() bytes each, filled by
/// one recvmmsg call.
///
/// Ownership: the views in messages() point into this object and are valid until the next
/// receive() or until it is destroyed (or moved from). Move-only.
class RecvBatch {
 public:
  static constexpr size_t kDefaultCapacity = 64;
  static constexpr size_t kDefaultSlotSize = 2048;
  /// At most UIO_MAXIOV (1024) messages per syscall.
  static constexpr size_t kMaxCapacity = 1024;

  /// `capacity` is clamped to [1, kMaxCapacity]; `slotSize` to at least 1.
  explicit RecvBatch(size_t capacity = kDefaultCapacity, size_t slotSize = kDefaultSlotSize);
  RecvBatch(RecvBatch&&) = default;
  RecvBatch& operator=(RecvBatch&&) = default;
  RecvBatch(const RecvBatch&) = delete;
  RecvBatch& operator=(const RecvBatch&) = delete;

  /// Receives up to capacity() datagrams, without blocking (RecvWait::No) or waiting for the
  /// first one (RecvWait::ForOne). Returns the number received (0 when none is queued or the
  /// wait timed out: EAGAIN is not an error), or -errno on another error. EINTR is retried a
  /// bounded number of times. Updates socket.kernelDrops() and newKernelDrops().
  int receive(UdpSocket& socket, RecvWait wait = RecvWait::No);

  /// The datagrams of the last receive().
  std::span<const RecvMessage> messages() const { return {messages_.data(), count_}; }
  size_t size() const { return count_; }
  const RecvMessage& operator[](size_t i) const { return messages_[i]; }
  /// Writable view of message i's bytes (e.g. to realign in place); same lifetime as data.
  MutableBytes mutableData(size_t i) {
    return {buffer_.data() + i * slotSize_, messages_[i].data.size()};
  }
  /// Datagrams the kernel dropped on the socket (receive queue full) that were first reported
  /// by the last receive(). Add this to a drop counter.
  uint64_t newKernelDrops() const { return newKernelDrops_; }

  size_t capacity() const { return capacity_; }
  size_t slotSize() const { return slotSize_; }

 private:
  size_t capacity_;
  size_t slotSize_;
  size_t count_ = 0;
  uint64_t newKernelDrops_ = 0;
  std::vector<uint8_t> buffer_;
  std::vector<struct mmsghdr> headers_;
  std::vector<struct iovec> iovecs_;
  std::vector<struct sockaddr_in> addrs_;
  std::vector<uint8_t> control_;
  std::vector<RecvMessage> messages_;
};

/// The outcome of SendBatch::flush. sent + failed == number of messages that were queued.
struct FlushResult {
  size_t sent = 0;
  /// Messages that were not sent: count them as drops. Includes messages refused by the kernel
  /// (e.g. EACCES for a broadcast destination, EMSGSIZE, ENETUNREACH, EPERM from a firewall)
  /// and, after EAGAIN/ENOBUFS on the send buffer, every message still waiting.
  size_t failed = 0;
  /// -errno of the last failure, 0 when none.
  int lastError = 0;
};

/// Preallocated storage for up to capacity() outgoing datagrams, sent by flush() with sendmmsg.
/// Each datagram is `head` followed by `body` (two iovecs): a server prepends the 8-byte origin
/// indication (RFC 4380 §5.1.1) to a received packet without copying it (see addBorrowed).
///
/// Ownership: add() copies head and body into a preallocated slot, so the caller's buffers may
/// change right after. addBorrowed() copies only head and *references* body: body must stay
/// valid and unchanged until the next flush() or clear() (for example a RecvBatch view, as long
/// as receive() is not called on that RecvBatch before flush()). Move-only.
class SendBatch {
 public:
  static constexpr size_t kDefaultCapacity = 64;
  static constexpr size_t kDefaultSlotSize = 2048;
  static constexpr size_t kMaxCapacity = 1024;

  explicit SendBatch(size_t capacity = kDefaultCapacity, size_t slotSize = kDefaultSlotSize);
  SendBatch(SendBatch&&) = default;
  SendBatch& operator=(SendBatch&&) = default;
  SendBatch(const SendBatch&) = delete;
  SendBatch& operator=(const SendBatch&) = delete;

  /// Queues head+body for `dst` (host order), copying both into a slot. False (nothing queued)
  /// when the batch is full or head.size() + body.size() > slotSize(): the caller flushes and
  /// retries, or counts a drop.
  bool add(const Endpoint& dst, Bytes head, Bytes body = {});
  /// Like add(), but copies only `head` (at most slotSize() bytes) and references `body`.
  bool addBorrowed(const Endpoint& dst, Bytes head, Bytes body);

  /// Sends everything queued with sendmmsg(MSG_DONTWAIT), then empties the batch. Never blocks:
  /// after a partial send the rest is retried; a message the kernel refuses is skipped and
  /// counted; EAGAIN/ENOBUFS (send buffer full) ends the flush and counts every message left.
  /// EINTR is retried a bounded number of times.
  FlushResult flush(UdpSocket& socket);
  /// Drops everything queued without sending.
  void clear() { count_ = 0; }

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  bool full() const { return count_ == capacity_; }
  size_t capacity() const { return capacity_; }
  size_t slotSize() const { return slotSize_; }

 private:
  uint8_t* slot(size_t i) { return buffer_.data() + i * slotSize_; }
  void fillHeader(size_t i, const Endpoint& dst, size_t iovCount);

  size_t capacity_;
  size_t slotSize_;
  size_t count_ = 0;
  std::vector<uint8_t> buffer_;
  std::vector<struct mmsghdr> headers_;
  std::vector<struct iovec> iovecs_;  ///< two per message
  std::vector<struct sockaddr_in> addrs_;
};

/// Host-order Endpoint <-> sockaddr_in.
struct sockaddr_in toSockaddr(const Endpoint& e);
Endpoint fromSockaddr(const struct sockaddr_in& sa);

}  // namespace teredo::net

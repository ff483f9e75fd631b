// UDP/IPv4 sockets with batched receive (recvmmsg) and send (sendmmsg) for the Teredo server and
// relay (one socket per worker with SO_REUSEPORT; docs/architecture.md).
//
// Byte order: every Endpoint in this API is in *host* byte order (teredo/address.h); conversion
// to and from sockaddr_in happens here. Payload bytes are raw wire bytes.
//
// Thread-safety: a UdpSocket may be used by several threads at once for send/receive (the kernel
// serialises), but open/close must not race with use. Its GSO state (gsoActive() and friends) is
// atomic: any SendBatch::flush may lower or disable it while other threads read it. A RecvBatch
// or SendBatch belongs to one thread (one per worker); they are not synchronised.
//
// Offloads (both opt-in through UdpOptions, both invisible to callers that do not opt in):
// - UDP GRO (receive): the kernel may hand several same-size datagrams of one flow to user space
//   as one coalesced buffer. RecvBatch splits such a buffer again, so every datagram is still one
//   RecvMessage with the same source; only the slot size must allow a 64 KiB buffer
//   (RecvBatch::forGro()).
// - UDP GSO (send): SendBatch::flush sends a run of datagrams to one destination that have the
//   same size (the last may be shorter) as one sendmmsg message with a UDP_SEGMENT control
//   message; the kernel cuts it into the original datagrams. The receivers see no difference.
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

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
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
  /// UDP_GRO: let the kernel coalesce received datagrams of one flow into one buffer (a Linux
  /// offload, kernel 5.0+). Receive with a RecvBatch whose slots hold 64 KiB
  /// (RecvBatch::forGro()); smaller slots still work but coalesced datagrams beyond the slot are
  /// reported as truncated. A kernel without UDP_GRO is not an error: groActive() says false.
  bool gro = false;
  /// UDP GSO: SendBatch::flush sends runs of same-size datagrams to one destination as one
  /// UDP_SEGMENT message. Probed at open (setsockopt UDP_SEGMENT 0); a kernel without it is not
  /// an error: gsoActive() says false and gsoFallbackReason() why.
  bool gso = false;
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
  /// The largest UDP payload over IPv4 (65535 - 20 - 8): the limit of one GSO message.
  static constexpr size_t kMaxUdpPayload = 65507;
  /// At most this many datagrams per GSO message (UDP_MAX_SEGMENTS of every kernel with GSO;
  /// newer kernels accept 128).
  static constexpr size_t kMaxGsoSegments = 64;
  /// The kernel refuses a GSO message whose segment plus IPv4 and UDP headers exceeds the route
  /// MTU (EMSGSIZE on current kernels, EINVAL on older ones): it never fragments a GSO segment,
  /// even though these sockets send without DF (IP_PMTUDISC_DONT). Such a refusal for a segment
  /// size at or below this (576 - 20 - 8) cannot be explained by an MTU: GSO is then disabled
  /// instead of capped.
  static constexpr size_t kMinGsoMtuPayload = 548;

  /// Creates, configures and binds a socket to `bind` (addr 0 = any, port 0 = ephemeral).
  /// Errors name the step and the address, e.g. "bind 198.51.100.7:3544: Cannot assign
  /// requested address".
  static StatusOr<UdpSocket> open(const Endpoint& bind, const UdpOptions& options = {});

  UdpSocket() = default;
  UdpSocket(UdpSocket&& other) noexcept { *this = std::move(other); }
  UdpSocket& operator=(UdpSocket&& other) noexcept;

  bool valid() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  /// The bound address and port as reported by getsockname (port resolved when 0 was asked).
  Endpoint localEndpoint() const { return local_; }
  /// The kernel's cumulative drop counter for this socket (SO_RXQ_OVFL) as last seen by
  /// RecvBatch::receive; widened to 64 bits across the kernel's 32-bit wrap.
  uint64_t kernelDrops() const { return kernelDrops_; }
  void close() { fd_.reset(); }

  /// UDP_GRO is on (UdpOptions::gro asked and the kernel accepted it).
  bool groActive() const { return gro_; }
  /// SendBatch::flush currently builds GSO messages on this socket: UdpOptions::gso was asked,
  /// the kernel supports UDP_SEGMENT and has not refused it for good (see gsoFallbackReason()).
  bool gsoActive() const { return gsoMaxSegment_.load(std::memory_order_relaxed) != 0; }
  /// The largest datagram that may be a GSO segment: kMaxUdpPayload at open, lowered below a
  /// size the kernel refused because of the route MTU; 0 when GSO is off. Never raised again
  /// (a route MTU that grows later is not noticed; those datagrams are simply sent one by one).
  size_t gsoMaxSegmentSize() const { return gsoMaxSegment_.load(std::memory_order_relaxed); }
  /// Why GSO is off or capped, for one log line: "" while nothing happened, else a static
  /// string (valid for the life of the program). Changes at most a few times per socket.
  const char* gsoFallbackReason() const { return gsoReason_.load(std::memory_order_relaxed); }
  /// -errno that caused the last GSO fallback (or the failed probe), 0 when none.
  int gsoFallbackError() const { return gsoError_.load(std::memory_order_relaxed); }

 private:
  friend class RecvBatch;
  friend class SendBatch;
  /// The kernel refused a GSO message of `segmentSize` with -`error`: cap or disable GSO.
  void noteGsoRefusal(int error, size_t segmentSize);

  Fd fd_;
  Endpoint local_;
  uint32_t lastOverflow_ = 0;  ///< last raw SO_RXQ_OVFL value seen
  uint64_t kernelDrops_ = 0;
  bool gro_ = false;
  std::atomic<uint32_t> gsoMaxSegment_{0};  ///< 0 = GSO off
  std::atomic<const char*> gsoReason_{""};
  std::atomic<int> gsoError_{0};
};

/// One received datagram (a view into RecvBatch storage). A datagram that arrived inside a
/// GRO-coalesced buffer looks exactly like one that arrived alone.
struct RecvMessage {
  /// The datagram bytes; at most RecvBatch::slotSize() long.
  Bytes data;
  /// The sender, host byte order.
  Endpoint source;
  /// The datagram was longer than what the slot held and was cut (MSG_TRUNC; for a coalesced
  /// GRO buffer larger than the slot, every datagram not wholly inside the slot, possibly with
  /// empty data). The caller should count it as a drop (it cannot be a valid Teredo packet of
  /// the size the slot was chosen for).
  bool truncated = false;
};

/// Preallocated storage for up to capacity() received buffers of up to slotSize() bytes each,
/// filled by one recvmmsg call, and up to maxMessages() datagram views into them. Without GRO a
/// buffer is one datagram. With GRO (UdpOptions::gro) a buffer may hold several datagrams of the
/// same size (the kernel's gso_size, UDP_GRO control message; the last may be shorter): each one
/// becomes its own RecvMessage, in order, with the buffer's source.
///
/// When the buffers of one recvmmsg hold more datagrams than maxMessages(), receive() returns
/// the first maxMessages() and keeps the rest: pending() is true and the next receive() returns
/// them without a system call (nothing is lost). forGro() sizes the views for the worst case
/// the kernel's GRO produces (64 datagrams per buffer), so this only happens with GSO senders on
/// this host (up to 128 per buffer) or with a batch not made by forGro().
///
/// Ownership: the views in messages() point into this object and are valid until the next
/// receive() or until it is destroyed (or moved from). Move-only.
class RecvBatch {
 public:
  static constexpr size_t kDefaultCapacity = 64;
  static constexpr size_t kDefaultSlotSize = 2048;
  /// At most UIO_MAXIOV (1024) messages per syscall.
  static constexpr size_t kMaxCapacity = 1024;
  /// forGro(): fewer, larger slots. A coalesced buffer never exceeds 64 KiB.
  static constexpr size_t kGroCapacity = 16;
  static constexpr size_t kGroSlotSize = 65535;
  /// The kernel's GRO merges at most 64 datagrams into one buffer (UDP_GRO_CNT_MAX).
  static constexpr size_t kGroSegmentsPerSlot = 64;
  /// Upper bound for `segmentsPerSlot` (UDP_MAX_SEGMENTS of newer kernels).
  static constexpr size_t kMaxSegmentsPerSlot = 128;

  /// `capacity` (buffers per recvmmsg) is clamped to [1, kMaxCapacity]; `slotSize` to at least
  /// 1; `segmentsPerSlot` to [1, kMaxSegmentsPerSlot]: maxMessages() is capacity *
  /// segmentsPerSlot. The defaults suit a socket without GRO (one datagram per buffer).
  explicit RecvBatch(size_t capacity = kDefaultCapacity, size_t slotSize = kDefaultSlotSize,
                     size_t segmentsPerSlot = 1);
  /// A batch for a socket opened with UdpOptions::gro: `capacity` slots of kGroSlotSize bytes
  /// (16 x 64 KiB = 1 MiB by default) and views for kGroSegmentsPerSlot datagrams per slot.
  static RecvBatch forGro(size_t capacity = kGroCapacity) {
    return RecvBatch(capacity, kGroSlotSize, kGroSegmentsPerSlot);
  }
  RecvBatch(RecvBatch&&) = default;
  RecvBatch& operator=(RecvBatch&&) = default;
  RecvBatch(const RecvBatch&) = delete;
  RecvBatch& operator=(const RecvBatch&) = delete;

  /// Receives up to capacity() buffers, without blocking (RecvWait::No) or waiting for the
  /// first one (RecvWait::ForOne), and returns the number of datagrams in messages() (0 when
  /// none is queued or the wait timed out: EAGAIN is not an error), or -errno on another error.
  /// Without GRO that is the number of buffers. When pending() is true it instead returns the
  /// datagrams kept from the previous call, without a system call. EINTR is retried a bounded
  /// number of times. Updates socket.kernelDrops() and newKernelDrops().
  int receive(UdpSocket& socket, RecvWait wait = RecvWait::No);

  /// The datagrams of the last receive().
  std::span<const RecvMessage> messages() const { return {messages_.data(), count_}; }
  size_t size() const { return count_; }
  const RecvMessage& operator[](size_t i) const { return messages_[i]; }
  /// Writable view of message i's bytes (e.g. to realign in place); same lifetime as data.
  MutableBytes mutableData(size_t i) {
    const RecvMessage& m = messages_[i];
    return {buffer_.get() + (m.data.data() - buffer_.get()), m.data.size()};
  }
  /// Datagrams the kernel dropped on the socket (receive queue full) that were first reported
  /// by the last receive(). Add this to a drop counter.
  uint64_t newKernelDrops() const { return newKernelDrops_; }
  /// Datagrams in messages() that arrived inside a GRO-coalesced buffer (of two or more).
  uint64_t newGroSegments() const { return newGroSegments_; }
  /// The sum of newGroSegments() over the life of this batch.
  uint64_t groSegments() const { return groSegments_; }
  /// Datagrams of the last recvmmsg not yet returned: call receive() again before waiting for
  /// the socket (epoll does not know about them).
  bool pending() const { return nextSlot_ < filled_; }
  /// Buffers the last receive() took from the kernel (0 when it returned pending datagrams).
  /// A return value below capacity() still means "drained, nothing pending" (every buffer holds
  /// at least one datagram, and pending() implies maxMessages() were returned); with GRO a
  /// larger value no longer means the kernel had more.
  size_t buffersReceived() const { return received_; }

  size_t capacity() const { return capacity_; }
  size_t slotSize() const { return slotSize_; }
  /// The most datagrams one receive() returns.
  size_t maxMessages() const { return messages_.size(); }

 private:
  /// What recvmmsg reported for one slot.
  struct SlotInfo {
    uint32_t length = 0;   ///< the buffer's real length (may exceed slotSize_: MSG_TRUNC)
    uint32_t segment = 0;  ///< the UDP_GRO gso_size, 0 when not coalesced
    bool cut = false;      ///< MSG_TRUNC in msg_flags
    Endpoint source;
  };
  /// Turns slots [nextSlot_, filled_) into messages_ until messages_ is full.
  void emit();

  size_t capacity_;
  size_t slotSize_;
  size_t count_ = 0;
  size_t filled_ = 0;    ///< slots the last recvmmsg filled
  size_t received_ = 0;  ///< buffersReceived()
  size_t nextSlot_ = 0;  ///< first slot not wholly handed out
  size_t nextOffset_ = 0;
  uint64_t newKernelDrops_ = 0;
  uint64_t newGroSegments_ = 0;
  uint64_t groSegments_ = 0;
  // Not zero-filled: a page counts in RSS only once the kernel writes a datagram into it, so
  // 64 KiB GRO slots that mostly receive small datagrams cost little memory.
  std::unique_ptr<uint8_t[]> buffer_;
  std::vector<struct mmsghdr> headers_;
  std::vector<struct iovec> iovecs_;
  std::vector<struct sockaddr_in> addrs_;
  std::vector<uint8_t> control_;
  std::vector<SlotInfo> slots_;
  std::vector<RecvMessage> messages_;
};

/// The outcome of SendBatch::flush, counted in datagrams (a GSO message of k datagrams counts
/// k). sent + failed == number of datagrams that were queued.
struct FlushResult {
  size_t sent = 0;
  /// Datagrams that were not sent: count them as drops. Includes datagrams refused by the
  /// kernel (e.g. EACCES for a broadcast destination, EMSGSIZE, ENETUNREACH, EPERM from a
  /// firewall) and, after EAGAIN/ENOBUFS on the send buffer, every datagram still waiting.
  size_t failed = 0;
  /// -errno of the last failure, 0 when none. A GSO refusal that was resent one by one is not a
  /// failure (see gsoFallbacks).
  int lastError = 0;
  /// GSO messages the kernel accepted, and the datagrams (of `sent`) they carried.
  size_t gsoMessages = 0;
  size_t gsoSegments = 0;
  /// GSO messages the kernel refused (the socket's gsoFallbackReason() says why) whose
  /// datagrams were then sent one by one (each counted in sent or failed as usual).
  size_t gsoFallbacks = 0;
};

/// Preallocated storage for up to capacity() outgoing datagrams, sent by flush() with sendmmsg.
/// Each datagram is `head` followed by `body` (two iovecs): a server prepends the 8-byte origin
/// indication (RFC 4380 §5.1.1) to a received packet without copying it (see addBorrowed).
///
/// GSO: when the socket's gsoActive(), flush() groups consecutive datagrams (in queue order,
/// never reordered) into one UDP_SEGMENT message while they go to the same destination, are not
/// empty, have the size of the first one (the last of a group may be shorter, which ends it), are
/// at most UdpSocket::kMaxGsoSegments and UdpSocket::gsoMaxSegmentSize() long each and
/// UdpSocket::kMaxUdpPayload together. The message's iovecs are the datagrams' own head/body
/// pairs, so borrowed bodies stay uncopied. If the kernel refuses such a message (EINVAL,
/// EMSGSIZE: larger than the route MTU; EIO, EOPNOTSUPP: no offload on the route), its
/// datagrams are sent one by one at once and the socket's GSO state is capped or disabled.
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
  /// counted; EAGAIN/ENOBUFS (send buffer full) ends the flush and counts every datagram left.
  /// EINTR is retried a bounded number of times. Uses GSO when socket.gsoActive() (see above).
  FlushResult flush(UdpSocket& socket);
  /// Drops everything queued without sending.
  void clear() { count_ = 0; }

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  bool full() const { return count_ == capacity_; }
  size_t capacity() const { return capacity_; }
  size_t slotSize() const { return slotSize_; }

 private:
  /// Datagrams [first, first + count) of the queue, sent as one message.
  struct Group {
    uint32_t first = 0;
    uint32_t count = 0;
  };

  uint8_t* slot(size_t i) { return buffer_.data() + i * slotSize_; }
  void fillHeader(size_t i, const Endpoint& dst, size_t iovCount);
  size_t datagramSize(size_t i) const {
    return iovecs_[2 * i].iov_len + iovecs_[2 * i + 1].iov_len;
  }
  /// Fills gsoHeaders_ and groups_ for the queue; returns the number of messages.
  size_t buildGroups(size_t maxSegment);
  /// Sends `n` messages; `groups` maps them to datagrams (nullptr: one datagram each).
  void sendMessages(UdpSocket& socket, struct mmsghdr* msgs, const Group* groups, size_t n,
                    FlushResult& r);

  size_t capacity_;
  size_t slotSize_;
  size_t count_ = 0;
  std::vector<uint8_t> buffer_;
  std::vector<struct mmsghdr> headers_;  ///< one per datagram, filled by add()
  std::vector<struct iovec> iovecs_;     ///< two per datagram (head, body; body may be empty)
  std::vector<struct sockaddr_in> addrs_;
  std::vector<struct mmsghdr> gsoHeaders_;  ///< one per message, filled by flush() with GSO
  std::vector<Group> groups_;
  std::vector<uint8_t> gsoControl_;  ///< one UDP_SEGMENT control message per gsoHeaders_ entry
};

/// Host-order Endpoint <-> sockaddr_in.
struct sockaddr_in toSockaddr(const Endpoint& e);
Endpoint fromSockaddr(const struct sockaddr_in& sa);

}  // namespace teredo::net

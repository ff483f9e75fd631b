// io_uring for one tun queue: many reads and many writes per system call (docs/architecture.md,
// the relay's packet walks).
//
// A tun has no recvmmsg()/sendmmsg(): without this, every packet costs one read() or one
// writev(), and on a virtual machine a system call's entry and exit cost as much as the packet
// itself. TunRing uses two rings (Debian liburing-dev, Linux >= 6.7):
//  - reads: one multishot read (IORING_OP_READ_MULTISHOT) into a ring of provided buffers. The
//    kernel reads every packet the queue gets into the next free buffer and posts a completion;
//    the ring is set up with IORING_SETUP_DEFER_TASKRUN, so that work waits for the owner's next
//    collect() (one io_uring_enter for the whole backlog). The owner learns that packets wait by
//    polling the tun descriptor itself (epoll, level-triggered, as without the ring): the reads
//    only happen inside collect(), so the tun stays readable until then. (An eventfd registered
//    with the ring is no substitute: on Linux 6.18 its signal for deferred work comes an RCU
//    grace period late, 10-15 ms.)
//  - writes: one IORING_OP_WRITEV per packet, queued with queueWrite() and handed to the kernel
//    together by submitWrites() (one io_uring_enter, which also waits for them).
// Packets keep their order: the multishot read completes in the order the tun queued them, and
// a tun write completes inline in the submitting call, in submission order.
//
// Thread-safety: none. open() and every other call must run on the one thread that owns the
// object (IORING_SETUP_SINGLE_ISSUER: the kernel refuses submissions from any other task).
// Ownership: TunRing owns its two rings and the read buffers (mmap'd); it borrows the
// tun descriptor, which must outlive it. The bytes of read(i) are valid until release(); the
// pieces given to queueWrite() are borrowed until submitWrites() returns (never copied).
// Errors: open() returns a Status naming what the kernel refused (kUnavailable: io_uring
// disabled, e.g. by a container's seccomp profile or kernel.io_uring_disabled; kUnimplemented:
// a kernel without multishot reads or deferred task work); the caller then uses plain reads and
// writes. The per-packet calls return counts or -errno, like the rest of lib/net.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/status.h"
#include "teredo/offload.h"
#include "teredo/packet.h"

struct io_uring;
struct io_uring_buf_ring;

namespace teredo::net {

struct TunRingOptions {
  /// Provided read buffers: at most this many packets wait between two collect() calls before
  /// the kernel leaves the rest in the tun's queue. A power of two, 1..32768.
  size_t buffers = 256;
  /// Bytes per buffer: a whole read and one byte more (a read that fills its buffer may have
  /// been cut and is counted in truncated(), never returned), e.g. PacketBatch::slotSizeFor(mtu)
  /// or VnetPacketBatch::kReadWindow on a tun with vnet headers.
  size_t bufferSize = 2048;
  /// Writes per submitWrites() (queueWrite() refuses more), and the iovecs they may use.
  size_t maxWrites = 64;
  size_t maxWritePieces = 1024;
  /// Every write starts with a virtio_net_hdr (a tun opened with IFF_VNET_HDR).
  bool vnetHeader = false;
};

class TunRing {
 public:
  /// Sets the rings up for `tunFd` and arms the multishot read. Must run on the owning thread.
  static StatusOr<std::unique_ptr<TunRing>> open(int tunFd, const TunRingOptions& options);

  ~TunRing();
  TunRing(const TunRing&) = delete;
  TunRing& operator=(const TunRing&) = delete;

  /// Call when the tun descriptor polls readable, or pending() is true.
  /// Runs the deferred reads (one io_uring_enter) and takes up to `max` packets read: read(i) for
  /// i < the returned count. Returns -errno if the enter fails. The buffers stay taken until
  /// release() (which collect() calls first if the owner has not).
  int collect(size_t max);
  /// Packet i of the last collect(), with its virtio_net_hdr on a vnet tun. Mutable for
  /// splitOffload(), which completes checksums in place.
  MutableBytes read(size_t i) { return {buffer(taken_[i].buffer), taken_[i].length}; }
  /// Reads of the last collect() that filled their buffer (perhaps cut): dropped, not returned.
  size_t truncated() const { return truncated_; }
  /// Completions are still waiting after the last collect() stopped at `max` (or appeared when
  /// release() armed the read again): collect again without waiting for the tun to poll
  /// readable, as they are out of its queue already.
  bool pending() const;
  /// Gives the buffers of the last collect() back to the kernel. If the multishot read ended (the
  /// kernel had no free buffer: the packets it left wait in the tun's queue), it is armed again
  /// and submitted at once.
  void release();

  /// Queues one write: `hdr` (ignored without vnetHeader) and `pieces` in order. False, queueing
  /// nothing, when maxWrites writes or maxWritePieces pieces are already queued (submit first)
  /// or the packet alone has more pieces than that.
  bool queueWrite(const VirtioNetHdr& hdr, std::span<const Bytes> pieces);
  size_t queuedWrites() const { return writeCount_; }
  /// Hands every queued write to the kernel and waits for them (one io_uring_enter unless the
  /// kernel deferred one). The result of write i (0, or -errno; -EIO for a short write) is
  /// element i of the returned span, valid until the next queueWrite(). The queue is empty after.
  std::span<const int> submitWrites();

  /// The multishot read ended with an error other than running out of buffers (-errno), and is
  /// not armed again: the owner goes back to plain reads. 0 while reads work.
  int readError() const { return readError_; }
  /// Multishot reads armed again after the kernel ran out of free buffers, since open().
  uint64_t rearms() const { return rearms_; }

 private:
  struct Taken {
    uint16_t buffer;
    uint32_t length;
  };
  struct Write {
    uint32_t firstIov;
    uint32_t iovCount;
    size_t bytes;
  };
  TunRing() = default;
  uint8_t* buffer(uint16_t id) { return buffers_ + size_t{id} * options_.bufferSize; }
  /// Puts the multishot read SQE on the read ring (not submitted).
  bool prepareRead();

  TunRingOptions options_;
  int tunFd_ = -1;
  std::unique_ptr<io_uring> readRing_;
  std::unique_ptr<io_uring> writeRing_;
  bool readRingUp_ = false;
  bool writeRingUp_ = false;
  io_uring_buf_ring* bufRing_ = nullptr;
  size_t bufRingBytes_ = 0;
  uint8_t* buffers_ = nullptr;
  size_t buffersBytes_ = 0;
  bool armed_ = false;
  int readError_ = 0;
  std::vector<Taken> taken_;  ///< the last collect()'s packets (capacity: buffers)
  size_t truncated_ = 0;
  std::vector<uint16_t> truncatedIds_;  ///< cut reads' buffers, given back by release()
  std::vector<struct iovec> iov_;       ///< maxWritePieces, sized once
  std::vector<uint8_t> headers_;        ///< a virtio_net_hdr per queued write
  std::vector<Write> writes_;           ///< maxWrites, sized once
  std::vector<int> results_;
  size_t writeCount_ = 0;
  size_t iovCount_ = 0;
  uint32_t writeGeneration_ = 0;  ///< tags completions, so that none is taken for a later write
  uint64_t rearms_ = 0;
};

}  // namespace teredo::net

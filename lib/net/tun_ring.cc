#include "net/tun_ring.h"

#include <liburing.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace teredo::net {
namespace {

/// IORING_OP_READ_MULTISHOT (Linux 6.7): one SQE, a completion per read into a provided buffer.
/// Debian 12's liburing 2.3 predates the name; the number is the kernel's ABI.
constexpr uint8_t kOpReadMultishot = 49;
static_assert(IORING_OP_LAST <= kOpReadMultishot, "liburing knows the opcode: use its name");
constexpr uint16_t kBufferGroup = 1;
constexpr uint64_t kReadTag = ~uint64_t{0};
/// Submitting a batch of writes is retried this often when the kernel is interrupted.
constexpr int kEintrRetries = 8;

std::string errnoText(int negErrno) {
  return std::strerror(-negErrno);
}

/// What a failed io_uring set-up call means for the caller, who then uses plain reads/writes.
Status setupError(const char* what, int negErrno) {
  // ENOSYS: no io_uring; EPERM: kernel.io_uring_disabled or a seccomp profile (containers);
  // EINVAL/EOPNOTSUPP: a kernel older than the flags or operation asked for.
  const StatusCode code = (negErrno == -EINVAL || negErrno == -EOPNOTSUPP)
                              ? StatusCode::kUnimplemented
                              : StatusCode::kUnavailable;
  return Status::error(code, std::string(what) + ": " + errnoText(negErrno));
}

void* mapAnonymous(size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

size_t pageRound(size_t bytes) {
  const size_t page = 4096;
  return (bytes + page - 1) / page * page;
}

}  // namespace

StatusOr<std::unique_ptr<TunRing>> TunRing::open(int tunFd, const TunRingOptions& options) {
  const size_t n = options.buffers;
  if (n == 0 || n > 32768 || (n & (n - 1)) != 0 || options.bufferSize == 0 ||
      options.bufferSize > UINT32_MAX || options.maxWrites == 0 ||
      options.maxWritePieces < options.maxWrites + (options.vnetHeader ? options.maxWrites : 0)) {
    return Status::error(StatusCode::kInvalidArgument,
                         "tun ring: buffers must be a power of two up to 32768, and every write "
                         "needs room for its pieces");
  }
  std::unique_ptr<TunRing> r(new TunRing());
  r->options_ = options;
  r->tunFd_ = tunFd;

  // Reads: completions deferred to this thread (no interruption per packet), a completion queue
  // that holds one entry per buffer and the read's final one.
  r->readRing_ = std::make_unique<io_uring>();
  struct io_uring_params p {};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
  p.cq_entries = static_cast<uint32_t>(2 * n);
  int err = io_uring_queue_init_params(4, r->readRing_.get(), &p);
  if (err < 0) {
    return setupError("io_uring_setup (single issuer, deferred task work)", err);
  }
  r->readRingUp_ = true;
  struct io_uring_probe* probe = io_uring_get_probe_ring(r->readRing_.get());
  const bool multishot =
      probe != nullptr && io_uring_opcode_supported(probe, kOpReadMultishot) != 0;
  if (probe != nullptr) {
    io_uring_free_probe(probe);
  }
  if (!multishot) {
    return Status::error(StatusCode::kUnimplemented,
                         "io_uring: the kernel has no multishot read (Linux >= 6.7)");
  }
  // Saves a descriptor lookup per io_uring_enter; optional.
  (void)io_uring_register_ring_fd(r->readRing_.get());

  // The provided buffers: a ring of descriptors the kernel takes from, and the buffers (touched
  // only where packets land).
  r->bufRingBytes_ = pageRound(n * sizeof(struct io_uring_buf));
  r->bufRing_ = static_cast<io_uring_buf_ring*>(mapAnonymous(r->bufRingBytes_));
  r->buffersBytes_ = pageRound(n * options.bufferSize);
  r->buffers_ = static_cast<uint8_t*>(mapAnonymous(r->buffersBytes_));
  if (r->bufRing_ == nullptr || r->buffers_ == nullptr) {
    return Status::error(StatusCode::kResourceExhausted, "tun ring: cannot map the read buffers");
  }
  struct io_uring_buf_reg reg {};
  reg.ring_addr = reinterpret_cast<uintptr_t>(r->bufRing_);
  reg.ring_entries = static_cast<uint32_t>(n);
  reg.bgid = kBufferGroup;
  if ((err = io_uring_register_buf_ring(r->readRing_.get(), &reg, 0)) < 0) {
    return setupError("io_uring_register_buf_ring", err);
  }
  io_uring_buf_ring_init(r->bufRing_);
  const int mask = io_uring_buf_ring_mask(static_cast<uint32_t>(n));
  for (size_t i = 0; i < n; ++i) {
    io_uring_buf_ring_add(r->bufRing_, r->buffer(static_cast<uint16_t>(i)),
                          static_cast<uint32_t>(options.bufferSize), static_cast<uint16_t>(i), mask,
                          static_cast<int>(i));
  }
  io_uring_buf_ring_advance(r->bufRing_, static_cast<int>(n));
  if (!r->prepareRead()) {
    return Status::error(StatusCode::kInternal, "tun ring: no submission entry for the read");
  }
  if ((err = io_uring_submit(r->readRing_.get())) < 0) {
    return setupError("io_uring_enter (multishot read)", err);
  }

  // Writes: completed inline by the submitting call; deferred task work only for the rare write
  // the kernel punts to a worker thread.
  r->writeRing_ = std::make_unique<io_uring>();
  struct io_uring_params wp {};
  wp.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if ((err = io_uring_queue_init_params(static_cast<unsigned>(options.maxWrites),
                                        r->writeRing_.get(), &wp)) < 0) {
    return setupError("io_uring_setup (writes)", err);
  }
  r->writeRingUp_ = true;
  (void)io_uring_register_ring_fd(r->writeRing_.get());

  r->taken_.reserve(n);
  r->truncatedIds_.reserve(n);
  r->iov_.resize(options.maxWritePieces);
  r->headers_.resize(options.maxWrites * kVirtioNetHdrSize);
  r->writes_.resize(options.maxWrites);
  r->results_.resize(options.maxWrites);
  return r;
}

TunRing::~TunRing() {
  if (readRingUp_) {
    io_uring_queue_exit(readRing_.get());  // cancels the read before the buffers go away
  }
  if (writeRingUp_) {
    io_uring_queue_exit(writeRing_.get());
  }
  if (buffers_ != nullptr) {
    ::munmap(buffers_, buffersBytes_);
  }
  if (bufRing_ != nullptr) {
    ::munmap(bufRing_, bufRingBytes_);
  }
}

bool TunRing::prepareRead() {
  struct io_uring_sqe* sqe = io_uring_get_sqe(readRing_.get());
  if (sqe == nullptr) {
    return false;
  }
  // Length 0 and no address: each read takes a whole buffer of the group.
  io_uring_prep_rw(kOpReadMultishot, sqe, tunFd_, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(sqe, kReadTag);
  armed_ = true;
  return true;
}

int TunRing::collect(size_t max) {
  if (!taken_.empty() || !truncatedIds_.empty()) {
    release();  // the caller forgot: no buffer is ever lost
  }
  truncated_ = 0;
  // The deferred task work (the reads themselves) runs in this call.
  const int err = io_uring_get_events(readRing_.get());
  if (err < 0 && err != -EINTR) {
    return err;
  }
  struct io_uring_cqe* cqe = nullptr;
  while (taken_.size() + truncatedIds_.size() < max &&
         io_uring_peek_cqe(readRing_.get(), &cqe) == 0 && cqe != nullptr) {
    if (cqe->user_data == kReadTag) {
      const bool hasBuffer = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
      const auto id = static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
      if (hasBuffer && cqe->res > 0 && static_cast<size_t>(cqe->res) < options_.bufferSize) {
        taken_.push_back(Taken{id, static_cast<uint32_t>(cqe->res)});
      } else if (hasBuffer) {
        if (cqe->res > 0) {
          ++truncated_;  // filled the whole buffer: perhaps cut, never handed on
        }
        truncatedIds_.push_back(id);
      }
      if ((cqe->flags & IORING_CQE_F_MORE) == 0) {
        armed_ = false;
        // -ENOBUFS: every buffer was taken; the packets wait in the tun's queue until release()
        // arms the read again. Anything else would repeat: plain reads from now on.
        if (cqe->res < 0 && cqe->res != -ENOBUFS && cqe->res != -EINTR) {
          readError_ = cqe->res;
        }
      }
    }
    io_uring_cqe_seen(readRing_.get(), cqe);
  }
  return static_cast<int>(taken_.size());
}

bool TunRing::pending() const {
  return io_uring_cq_ready(readRing_.get()) != 0;
}

void TunRing::release() {
  const int mask = io_uring_buf_ring_mask(static_cast<uint32_t>(options_.buffers));
  int added = 0;
  for (const Taken& t : taken_) {
    io_uring_buf_ring_add(bufRing_, buffer(t.buffer), static_cast<uint32_t>(options_.bufferSize),
                          t.buffer, mask, added++);
  }
  for (const uint16_t id : truncatedIds_) {
    io_uring_buf_ring_add(bufRing_, buffer(id), static_cast<uint32_t>(options_.bufferSize), id,
                          mask, added++);
  }
  if (added != 0) {
    io_uring_buf_ring_advance(bufRing_, added);
  }
  taken_.clear();
  truncatedIds_.clear();
  if (!armed_ && readError_ == 0 && prepareRead()) {
    ++rearms_;
    if (const int err = io_uring_submit(readRing_.get()); err < 0 && err != -EINTR) {
      readError_ = err;
    }
  }
}

bool TunRing::queueWrite(const VirtioNetHdr& hdr, std::span<const Bytes> pieces) {
  size_t need = options_.vnetHeader ? 1 : 0;
  size_t bytes = 0;
  for (Bytes p : pieces) {
    need += p.empty() ? 0 : 1;
    bytes += p.size();
  }
  if (writeCount_ == options_.maxWrites || need > options_.maxWritePieces - iovCount_) {
    return false;
  }
  Write& w = writes_[writeCount_];
  w.firstIov = static_cast<uint32_t>(iovCount_);
  if (options_.vnetHeader) {
    uint8_t* h = headers_.data() + writeCount_ * kVirtioNetHdrSize;
    encodeVirtioNetHdr(hdr, std::span<uint8_t, kVirtioNetHdrSize>(h, kVirtioNetHdrSize));
    iov_[iovCount_++] = {h, kVirtioNetHdrSize};
    bytes += kVirtioNetHdrSize;
  }
  for (Bytes p : pieces) {
    if (!p.empty()) {
      iov_[iovCount_++] = {const_cast<uint8_t*>(p.data()), p.size()};
    }
  }
  w.iovCount = static_cast<uint32_t>(iovCount_ - w.firstIov);
  w.bytes = bytes;
  ++writeCount_;
  return true;
}

std::span<const int> TunRing::submitWrites() {
  const size_t count = writeCount_;
  writeCount_ = 0;
  iovCount_ = 0;
  if (count == 0) {
    return {};
  }
  ++writeGeneration_;
  size_t prepared = 0;
  for (size_t i = 0; i < count; ++i) {
    results_[i] = -EIO;
    struct io_uring_sqe* sqe = io_uring_get_sqe(writeRing_.get());
    if (sqe == nullptr) {
      results_[i] = -EAGAIN;  // cannot happen: the ring has maxWrites entries, all free
      continue;
    }
    const Write& w = writes_[i];
    // Offset -1: the tun is a stream, there is no position to write at.
    io_uring_prep_writev(sqe, tunFd_, &iov_[w.firstIov], w.iovCount, static_cast<__u64>(-1));
    io_uring_sqe_set_data64(sqe, (uint64_t{writeGeneration_} << 32) | i);
    ++prepared;
  }
  int err = io_uring_submit_and_wait(writeRing_.get(), static_cast<unsigned>(prepared));
  for (int retry = 0; err == -EINTR && retry < kEintrRetries; ++retry) {
    err = io_uring_submit_and_wait(writeRing_.get(), static_cast<unsigned>(prepared));
  }
  size_t reaped = 0;
  struct io_uring_cqe* cqe = nullptr;
  // Every write's completion, including one the kernel finished on a worker thread after the
  // enter returned (bounded: each wait either returns a completion or an error).
  for (int waits = 0; reaped < prepared && waits < static_cast<int>(prepared) + kEintrRetries;) {
    if (io_uring_peek_cqe(writeRing_.get(), &cqe) != 0 || cqe == nullptr) {
      ++waits;
      if (const int w = io_uring_wait_cqe(writeRing_.get(), &cqe); w < 0 && w != -EINTR) {
        break;
      }
      continue;
    }
    const uint64_t tag = cqe->user_data;
    const size_t i = tag & 0xffffffffu;
    if ((tag >> 32) == writeGeneration_ && i < count) {
      const int res = cqe->res;
      results_[i] = res < 0 ? res : (static_cast<size_t>(res) == writes_[i].bytes ? 0 : -EIO);
      ++reaped;
    }
    io_uring_cqe_seen(writeRing_.get(), cqe);
  }
  if (err < 0 && reaped == 0) {
    for (size_t i = 0; i < count; ++i) {
      results_[i] = err;
    }
  }
  return {results_.data(), count};
}

}  // namespace teredo::net

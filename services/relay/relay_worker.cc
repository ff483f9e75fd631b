#include "relay_worker.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <string>
#include <string_view>
#include <variant>

#include "agent/log.h"
#include "peers/relay_glue.h"

namespace teredo::relay {
namespace {

constexpr int kBatchesPerWake = 8;
constexpr uint32_t kUdpTag = 0;
constexpr uint32_t kTunTag = 1;
constexpr uint32_t kWakeTag = 2;

/// Coalescing of the packets one flush() writes to the tun: the batch holds at most kBatch.
constexpr CoalesceParams kCoalesceParams{
    .maxFlows = 8, .maxSegments = 64, .maxPacketSize = kMaxIpv6Packet};

/// One log line per process and offload: a fallback repeats on every worker.
void logOffloadFallbackOnce(Offload offload, const char* reason, int error) {
  static std::atomic<bool> logged[kOffloadCount] = {};
  if (!logged[static_cast<size_t>(offload)].exchange(true)) {
    TEREDO_LOG(agent::LogLevel::Warn,
               "the kernel refused a segmentation offload; those packets are sent one by one",
               {"offload", std::string(offloadLabel(offload))}, {"reason", reason},
               {"errno", std::to_string(-error)});
  }
}

void sleepUs(uint32_t us) {
  const struct timespec ts { 0, static_cast<long>(us) * 1000 };
  clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
}

uint64_t steadyNs(RelayTime t) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

}  // namespace

RelayWorker::RelayWorker(size_t index, net::UdpSocket udp, const WorkerShared& shared,
                         RelayStats& stats)
    : index_(index),
      udp_(std::move(udp)),
      // UDP GRO: 64 KiB slots, each split back into the datagrams it holds; as many as without
      // GRO, for the many peers whose datagrams the kernel cannot coalesce.
      recv_(udp_.groActive() ? net::RecvBatch::forGro(kBatch)
                             : net::RecvBatch(kBatch, udpSlotFor(shared.mtu))),
      send_(kBatch, sendSlotFor(shared.mtu)),
      tunIn_(shared.tun != nullptr && shared.tun->vnetCalls() ? 1 : kBatch,
             net::PacketBatch::slotSizeFor(shared.mtu)),
      vnet_(shared.tun != nullptr && shared.tun->vnetCalls()),
      coalesceOn_(vnet_ && shared.tun->offloads().vnetHeader),
      tunVnetIn_(vnet_ ? kBatch : 1, vnet_ ? net::VnetPacketBatch::kDefaultArenaSize : 0),
      // Room to split a whole 64 KiB super-packet in one call (headers repeated per segment).
      splitArena_(vnet_ ? 2 * kMaxIpv6Packet : 0),
      splitOut_(vnet_ ? kBatch : 0),
      coalesce_(vnet_ ? kBatch : 1),
      shared_(shared),
      stats_(stats),
      runtime_(shared.runtime->load()),
      generation_(shared.runtime->generation()),
      staged_(config::kMaxQueueBytesPerPeer),
      epoll_(epoll_create1(EPOLL_CLOEXEC)),
      wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  tunOut_.reserve(kBatch);
  ringCoalesced_.reserve(kBatch);
  // A queue of packets of at least an IPv6 header each: no allocation on the data path.
  stagedLengths_.reserve(config::kMaxQueueBytesPerPeer / kIpv6HeaderSize + 1);
  auto add = [&](int fd, uint32_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = tag;
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  };
  add(udp_.fd(), kUdpTag);
  if (shared_.tun != nullptr) {
    add(shared_.tun->fd(index_), kTunTag);
  }
  add(wake_.get(), kWakeTag);
}

void RelayWorker::stop() {
  stopping_.store(true, std::memory_order_relaxed);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_.get(), &one, sizeof one);
}

void RelayWorker::reloadIfChanged() {
  const uint64_t gen = shared_.runtime->generation();
  if (gen != generation_) {
    generation_ = gen;
    runtime_ = shared_.runtime->load();
  }
}

void RelayWorker::run() {
  if (shared_.ioUring && shared_.tun != nullptr) {
    openRing();
  }
  epoll_event events[3];
  bool flowing = false;    // the last wake-up found packets: more are likely on their way
  bool saturated = false;  // ... and left packets waiting: take them at once
  while (!stopping_.load(std::memory_order_relaxed)) {
    if (shared_.heartbeats != nullptr) {
      shared_.heartbeats->beat(index_);
    }
    const uint32_t delayUs = runtime_->batchDelayUs;
    int timeoutMs = 250;
    if (saturated) {
      timeoutMs = 0;
    } else if (flowing && delayUs > 0) {
      // Interrupt moderation, in userspace: while traffic flows, sleep a fixed short time and
      // then take everything that arrived meanwhile, instead of being woken for every packet.
      // A wake-up (two context switches) costs more than the packet it carries; the socket and
      // tun queues hold what arrives in between. Latency grows by at most the delay. A worker
      // that could not empty its queues does not sleep: it would only lose packets.
      sleepUs(delayUs);
      timeoutMs = 0;
    }
    // Completions left by a bounded ring drain are not in the tun's queue any more, so epoll
    // cannot see them: no sleep then.
    const bool blocking = !ringBacklog_ && timeoutMs > 0;
    const RelayTime blockedAt = blocking && delayUs > 0 ? RelayClock::now() : RelayTime{};
    const int n = epoll_wait(epoll_.get(), events, 3, ringBacklog_ ? 0 : timeoutMs);
    // Woken after a quiet spell longer than the delay: most often by the head of a burst (a TCP
    // window, a sender's batch) whose rest is microseconds behind. Hold off a quarter of the
    // delay and take the whole burst in this one wake-up, as a NIC's interrupt coalescing does,
    // and then wait in epoll rather than on the timer: a timed sleep after the burst would only
    // find nothing (one wasted wake-up per burst). Steady traffic never waits that long between
    // packets, so it keeps the timed sleeps.
    const bool afterQuiet = blocking && n > 0 && delayUs > 0 &&
                            RelayClock::now() - blockedAt >= std::chrono::microseconds(delayUs);
    if (afterQuiet) {
      sleepUs(delayUs / 4);
    }
    if (n <= 0 && !ringBacklog_) {
      flowing = false;  // idle: block until the next packet
      saturated = false;
      if (n == 0 && timeoutMs > 0 && ring_ != nullptr) {
        // A quiet 250 ms: look at the ring once anyway (one system call), so that nothing the
        // kernel completed without the tun polling readable could ever wait longer than that.
        ringBacklog_ = true;
      }
      continue;
    }
    reloadIfChanged();
    saturated = false;
    bool tunDrained = false;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u32 == kUdpTag) {
        saturated = drainUdp() || saturated;
      } else if (events[i].data.u32 == kTunTag) {
        saturated = drainTunAny() || saturated;
        tunDrained = true;
      }
    }
    if (ringBacklog_ && !tunDrained) {
      saturated = drainTunAny() || saturated;
    }
    // After a burst taken whole, the next epoll_wait returns at once if more has arrived (and
    // then, no longer after a quiet spell, the timed sleeps resume); otherwise it blocks.
    flowing = !afterQuiet;
  }
}

bool RelayWorker::drainUdp() {
  // Datagrams a GRO receive could not hand out yet (pending()) are invisible to epoll: take them
  // before going back to sleep.
  for (int round = 0; round < kBatchesPerWake || recv_.pending(); ++round) {
    const int n = recv_.receive(udp_);
    if (recv_.newKernelDrops() != 0) {
      stats_.kernelDrops.inc(recv_.newKernelDrops());
    }
    if (n <= 0) {
      return false;
    }
    stats_.batches.inc();
    const RelayTime now = RelayClock::now();
    for (const net::RecvMessage& m : recv_.messages()) {
      fromUdp(m, now, steadyNs(now));
    }
    if (recv_.newGroSegments() != 0) {
      stats_.offloadPackets.inc(Offload::UdpGro, recv_.newGroSegments());
    }
    flush();  // tun writes borrow the receive buffers
    if (!recv_.pending() && recv_.buffersReceived() < recv_.capacity()) {
      return false;
    }
  }
  return true;
}

bool RelayWorker::drainTunAny() {
  if (ring_ != nullptr) {
    return drainTunRing();
  }
  return vnet_ ? drainTunVnet() : drainTun();
}

void RelayWorker::openRing() {
  net::TunRingOptions o;
  // Vnet reads may be 64 KiB super-packets: fewer, larger buffers (touched only where packets
  // land). Plain reads: slots of the MTU, enough for a batch delay's worth of small packets.
  o.buffers = vnet_ ? 64 : 256;
  o.bufferSize = vnet_ ? net::VnetPacketBatch::kReadWindow : tunIn_.slotSize();
  o.maxWrites = kBatch;
  o.maxWritePieces = net::Tun::kMaxWritePieces + 1;
  o.vnetHeader = vnet_ && shared_.tun->offloads().vnetHeader;
  auto ring = net::TunRing::open(shared_.tun->fd(index_), o);
  if (!ring.ok()) {
    stats_.offloadFallbacks.inc(Offload::TunIoUring);
    logOffloadFallbackOnce(Offload::TunIoUring, ring.status().message().c_str(), 0);
    return;
  }
  // epoll keeps watching the tun descriptor: the ring reads only inside collect(), so the tun
  // polls readable until the worker has taken what waits.
  ring_ = std::move(ring).value();
  ringActive_.store(true, std::memory_order_relaxed);
  ringBacklog_ = true;  // whatever arrived before the ring was armed
}

void RelayWorker::closeRing(int error) {
  stats_.offloadFallbacks.inc(Offload::TunIoUring);
  logOffloadFallbackOnce(Offload::TunIoUring, "the multishot tun read failed", error);
  ring_.reset();
  ringActive_.store(false, std::memory_order_relaxed);
  ringBacklog_ = false;
}

bool RelayWorker::drainTunRing() {
  ringBacklog_ = false;
  const size_t hdrSize = shared_.tun->offloads().vnetHeader ? kVirtioNetHdrSize : 0;
  for (int round = 0; round < kBatchesPerWake; ++round) {
    const int n = ring_->collect(kBatch);
    if (ring_->truncated() != 0) {
      // Larger than the tun MTU (or a 64 KiB super-packet) allows: never forwarded.
      stats_.dropped.inc(DropReason::TooBig, ring_->truncated());
    }
    if (n > 0) {
      stats_.batches.inc();
      stats_.offloadPackets.inc(Offload::TunIoUring, static_cast<uint64_t>(n));
      const RelayTime now = RelayClock::now();
      const uint64_t nowNs = steadyNs(now);
      for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
        const MutableBytes raw = ring_->read(i);
        if (!vnet_) {
          fromTun(raw, now, nowNs);
        } else if (raw.size() < hdrSize) {
          stats_.dropped.inc(DropReason::TooBig);  // as a vnet read shorter than its header
        } else {
          const VirtioNetHdr hdr =
              hdrSize != 0 ? decodeVirtioNetHdr(raw.first(hdrSize)) : VirtioNetHdr{};
          fromTunOffload(hdr, raw.subspan(hdrSize), now, nowNs);
        }
      }
      flush();
    }
    ring_->release();  // after flush(): the UDP send batch copied what it keeps
    if (ring_->readError() != 0) {
      closeRing(ring_->readError());
      return true;  // the tun queue may hold packets: read it at once
    }
    if (n < 0) {
      closeRing(n);  // io_uring_enter itself failed: it would again
      return true;
    }
    if (static_cast<size_t>(n) + ring_->truncated() < kBatch && !ring_->pending()) {
      // The enter ran every read the kernel had pending, and collect() took all it completed
      // (release() may have armed the read again: pending() saw what that read at once). A
      // packet from now on makes the tun poll readable again.
      return false;
    }
  }
  ringBacklog_ = true;
  return true;
}

bool RelayWorker::drainTun() {
  for (int round = 0; round < kBatchesPerWake; ++round) {
    const int n = shared_.tun->readBatch(index_, tunIn_);
    if (tunIn_.truncated() != 0) {
      // Larger than the tun MTU allows (relay.mtu sizes the slots): never forwarded.
      stats_.dropped.inc(DropReason::TooBig, tunIn_.truncated());
    }
    if (n <= 0) {
      return false;
    }
    stats_.batches.inc();
    const RelayTime now = RelayClock::now();
    for (size_t i = 0; i < tunIn_.size(); ++i) {
      fromTun(tunIn_[i], now, steadyNs(now));
    }
    flush();
    if (static_cast<size_t>(n) < tunIn_.capacity()) {
      return false;
    }
  }
  return true;
}

bool RelayWorker::drainTunVnet() {
  for (int round = 0; round < kBatchesPerWake; ++round) {
    const int n = shared_.tun->readVnetBatch(index_, tunVnetIn_);
    if (tunVnetIn_.truncated() != 0) {
      // Larger than a 64 KiB super-packet, or shorter than its header: never forwarded.
      stats_.dropped.inc(DropReason::TooBig, tunVnetIn_.truncated());
    }
    if (n <= 0) {
      return false;
    }
    stats_.batches.inc();
    const RelayTime now = RelayClock::now();
    const uint64_t nowNs = steadyNs(now);
    for (size_t i = 0; i < tunVnetIn_.size(); ++i) {
      fromTunOffload(tunVnetIn_.header(i), tunVnetIn_.mutablePacket(i), now, nowNs);
    }
    flush();
    if (!tunVnetIn_.filled()) {
      return false;
    }
  }
  return true;
}

void RelayWorker::fromTunOffload(const VirtioNetHdr& hdr, MutableBytes packet, RelayTime now,
                                 uint64_t nowNs) {
  const bool gso = (hdr.gsoType & ~kGsoEcnBit) != kGsoNone;
  size_t next = 0;
  for (;;) {
    const SplitResult r = splitOffload(hdr, packet, splitArena_, splitOut_, next);
    if (!r.ok()) {
      // A read the kernel described in a way we cannot honour: one packet, counted and dropped
      // before any RFC 4380 decision (like a packet too short to parse).
      stats_.packets.inc(Direction::ToTeredo);
      stats_.bytes.inc(Direction::ToTeredo, packet.size());
      drop(offloadDropReason(r.error));
      return;
    }
    for (size_t i = 0; i < r.count; ++i) {
      if (splitOut_[i].size() > shared_.mtu) {
        drop(DropReason::TooBig);  // as a plain read larger than the tun MTU
        continue;
      }
      // Every segment goes through exactly the checks and counters of a plain read. fromTun()
      // copies what it keeps (send batch, peer queue), so the arena is free again on return.
      fromTun(splitOut_[i], now, nowNs);
    }
    if (gso) {
      stats_.offloadPackets.inc(Offload::TunTso, r.count);
    }
    if (r.done() || r.count == 0) {
      return;
    }
    next = r.nextSegment;
  }
}

void RelayWorker::fromTun(Bytes ipv6, RelayTime now, uint64_t nowNs) {
  stats_.packets.inc(Direction::ToTeredo);
  stats_.bytes.inc(Direction::ToTeredo, ipv6.size());
  const RelayRuntime& rt = *runtime_;
  // The drain flag is the one input that is not config: a copy of the parameters carries it
  // only while it is set.
  const RelayParams* params = &rt.params;
  RelayParams drainingParams;
  if (shared_.draining != nullptr && shared_.draining->load(std::memory_order_relaxed)) {
    drainingParams = rt.params;
    drainingParams.draining = true;
    params = &drainingParams;
  }
  const auto key = transmitPeerKey(ipv6);
  if (!key) {
    PeerState none;
    decideTransmit(ipv6, *params, none, now, out_);
    emit(out_, nowNs);
    return;
  }
  // touch: a destination still in use keeps its bubble budget.
  if (decideLocked(*key, now, /*touch=*/true,
                   [&](PeerState& st) { decideTransmit(ipv6, *params, st, now, out_); })) {
    emit(out_, nowNs);
  }
}

template <class Decide>
bool RelayWorker::decideLocked(const Ipv6Addr& key, RelayTime now, bool touch, Decide&& decide) {
  peers::PeerTable::Ref ref = shared_.table->lock(key, now);
  PeerState st = peers::loadPeerState(ref);
  const PeerState before = st;
  decide(st);
  if (!peers::storePeerState(ref, before, st, now, touch)) {
    drop(DropReason::PeerTableFull);
    return false;
  }
  applyToTable(out_, ref);
  return true;
}  // the shard lock is released here, before emit() makes any system call

void RelayWorker::fromUdp(const net::RecvMessage& m, RelayTime now, uint64_t nowNs) {
  stats_.packets.inc(Direction::FromTeredo);
  stats_.bytes.inc(Direction::FromTeredo, m.data.size());
  if (m.truncated) {
    drop(DropReason::TooBig);
    return;
  }
  const Result<TeredoPacket> parsed = parsePacket(m.data);
  if (!parsed) {
    drop(parsed.reason());
    return;
  }
  const RelayRuntime& rt = *runtime_;
  if (decideLocked(parsed->ip.src, now, /*touch=*/false, [&](PeerState& st) {
        decideReceive(*parsed, m.source, rt.params, st, now, out_);
      })) {
    emit(out_, nowNs);
  }
}

void RelayWorker::sendUdp(const Endpoint& dst, Bytes payload) {
  if (send_.full()) {
    flush();
  }
  if (!send_.add(dst, payload)) {
    drop(DropReason::TooBig);
  }
}

void RelayWorker::applyToTable(const RelayOutput& out, peers::PeerTable::Ref& ref) {
  stagedLengths_.clear();
  size_t stagedBytes = 0;
  for (const RelayAction& action : out.actions()) {
    if (const auto* q = std::get_if<QueuePacket>(&action)) {
      if (ref.found() && ref.enqueue(q->packet) == peers::EnqueueResult::Ok) {
        stats_.queuedPackets.inc();
      } else {
        drop(DropReason::QueueFull);
        stats_.queueDroppedBytes.inc(q->packet.size());
      }
    } else if (std::holds_alternative<FlushQueue>(action) && ref.found()) {
      // RFC 4380 §5.4.2: the queued packets go out in their original order (R3). They are copied
      // out here, under the lock, and sent by emit() once it is released. The staging area holds
      // a whole queue (relay.queue_bytes_per_peer is at most its size).
      while (ref.entry().queuedPackets > 0) {
        bool cut = false;
        const size_t len = ref.popPacket(MutableBytes(staged_).subspan(stagedBytes), &cut);
        if (cut) {
          // Cannot happen: the staging area holds relay.queue_bytes_per_peer at its maximum.
          TEREDO_BUG("a queued packet did not fit the relay's staging area");
          drop(DropReason::TooBig);
          continue;
        }
        stagedLengths_.push_back(static_cast<uint32_t>(len));
        stagedBytes += len;
      }
    } else if (const auto* dq = std::get_if<DropQueue>(&action)) {
      if (ref.found()) {
        stats_.dropped.inc(dq->reason, ref.dropQueue());
      }
    }
  }
}

void RelayWorker::emit(const RelayOutput& out, uint64_t nowNs) {
  if (out.overflowed()) {
    TEREDO_BUG("a relay decision emitted more actions than RelayOutput holds");
  }
  for (const RelayAction& action : out.actions()) {
    if (const auto* d = std::get_if<Drop>(&action)) {
      drop(d->reason);
    } else if (const auto* s = std::get_if<SendUdp>(&action)) {
      sendUdp(s->dst, s->payload);
      stats_.delivered.inc(Direction::ToTeredo);
    } else if (const auto* b = std::get_if<SendBubble>(&action)) {
      sendUdp(b->dst, b->payload);
      stats_.bubblesSent.inc(b->kind);
    } else if (const auto* t = std::get_if<WriteTun>(&action)) {
      if (tunOut_.size() == kBatch) {
        flush();
      }
      tunOut_.push_back(t->packet);
      stats_.delivered.inc(Direction::FromTeredo);
    } else if (const auto* f = std::get_if<FlushQueue>(&action)) {
      size_t off = 0;
      for (const uint32_t len : stagedLengths_) {
        sendUdp(f->dst, Bytes(staged_).subspan(off, len));
        off += len;
      }
      stats_.flushedPackets.inc(stagedLengths_.size());
      stats_.delivered.inc(Direction::ToTeredo, stagedLengths_.size());
    } else if (const auto* e = std::get_if<Icmpv6Error>(&action)) {
      if (shared_.icmp == nullptr || !shared_.icmp->allow(nowNs)) {
        stats_.icmpRateLimited.inc();
      } else if (shared_.icmp->send(e->type, e->code, e->offending)) {
        stats_.icmpSent.inc();
      } else {
        drop(DropReason::SendFailed);
      }
    } else if (std::holds_alternative<ConsumeBubble>(action)) {
      stats_.bubblesReceived.inc();
    } else if (std::holds_alternative<BubbleSuppressed>(action)) {
      stats_.bubblesSuppressed.inc();
    }
    // QueuePacket and DropQueue were done under the lock (applyToTable).
  }
}

void RelayWorker::flush() {
  if (!send_.empty()) {
    const net::FlushResult r = send_.flush(udp_);
    if (r.failed != 0) {
      stats_.dropped.inc(DropReason::SendFailed, r.failed);
    }
    if (r.gsoSegments != 0) {
      stats_.offloadPackets.inc(Offload::UdpGso, r.gsoSegments);
    }
    if (r.gsoFallbacks != 0) {
      // The datagrams went out one by one; the socket now caps or stops GSO by itself.
      stats_.offloadFallbacks.inc(Offload::UdpGso, r.gsoFallbacks);
      logOffloadFallbackOnce(Offload::UdpGso, udp_.gsoFallbackReason(), udp_.gsoFallbackError());
    }
  }
  if (!tunOut_.empty()) {
    if (tunOut_.size() > 1 && coalesceOn_.load(std::memory_order_relaxed)) {
      flushTunCoalesced();
    } else {
      writeTunPlain();
    }
    tunOut_.clear();
  }
}

void RelayWorker::writeTunPlain() {
  if (ring_ == nullptr || tunOut_.size() == 1) {  // one packet: writev() is one call as well
    const net::TunWriteResult r = shared_.tun->writeBatch(index_, tunOut_);
    if (r.failed != 0) {
      stats_.dropped.inc(DropReason::SendFailed, r.failed);
    }
    return;
  }
  auto submit = [&] {
    for (const int err : ring_->submitWrites()) {
      if (err != 0) {
        drop(DropReason::SendFailed);
      }
    }
  };
  for (const Bytes& p : tunOut_) {
    if (!ring_->queueWrite(VirtioNetHdr{}, std::span<const Bytes>(&p, 1))) {
      submit();  // the ring's batch is full (it holds kBatch writes, as tunOut_: not reached)
      if (!ring_->queueWrite(VirtioNetHdr{}, std::span<const Bytes>(&p, 1))) {
        drop(DropReason::SendFailed);
        continue;
      }
    }
  }
  stats_.offloadPackets.inc(Offload::TunIoUring, ring_->queuedWrites());
  submit();
}

void RelayWorker::flushTunCoalesced() {
  const CoalesceResult r = coalesce(tunOut_, kCoalesceParams, coalesce_.output());
  if (!r.ok()) {  // cannot happen: coalesce_ holds kBatch inputs and tunOut_ never more
    const net::TunWriteResult w = shared_.tun->writeBatch(index_, tunOut_);
    stats_.dropped.inc(DropReason::SendFailed, w.failed);
    return;
  }
  const std::span<const CoalescedPacket> packets = coalesce_.packets(r);
  auto pieces = [&](const CoalescedPacket& p) {
    return coalesce_.pieces().subspan(p.firstPiece, p.pieceCount);
  };
  if (ring_ == nullptr || packets.size() == 1) {
    for (const CoalescedPacket& p : packets) {
      finishCoalesced(p, shared_.tun->writeVnet(index_, p.hdr, pieces(p)));
    }
    return;
  }
  // Through the ring: all of them in one system call, each then accounted as if written alone.
  auto submit = [&] {
    const std::span<const int> results = ring_->submitWrites();
    for (size_t i = 0; i < results.size(); ++i) {
      finishCoalesced(*ringCoalesced_[i], results[i]);
    }
    ringCoalesced_.clear();
  };
  for (const CoalescedPacket& p : packets) {
    if (!ring_->queueWrite(p.hdr, pieces(p))) {
      submit();  // the ring's batch is full (its pieces): write what it holds first
      if (!ring_->queueWrite(p.hdr, pieces(p))) {
        finishCoalesced(p, shared_.tun->writeVnet(index_, p.hdr, pieces(p)));
        continue;
      }
    }
    ringCoalesced_.push_back(&p);
    stats_.offloadPackets.inc(Offload::TunIoUring);
  }
  submit();
}

void RelayWorker::finishCoalesced(const CoalescedPacket& p, int err) {
  if (err == 0) {
    if (p.segments > 1) {
      stats_.offloadPackets.inc(Offload::TunCoalesce, p.segments);
    }
    return;
  }
  if (p.segments == 1 || err != -EINVAL) {
    stats_.dropped.inc(DropReason::SendFailed, p.segments);
    return;
  }
  // The kernel refused the super-packet itself (a tun without GSO on write): its segments go
  // one by one, and this worker coalesces no more.
  if (coalesceOn_.exchange(false, std::memory_order_relaxed)) {
    stats_.offloadFallbacks.inc(Offload::TunCoalesce);
    logOffloadFallbackOnce(Offload::TunCoalesce, "tun write of a TCP super-packet refused", err);
  }
  for (uint32_t i = p.firstInput; i != kCoalesceEnd; i = coalesce_.links()[i]) {
    if (shared_.tun->write(index_, tunOut_[i]) != 0) {
      drop(DropReason::SendFailed);
    }
  }
}

}  // namespace teredo::relay

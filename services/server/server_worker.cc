#include "server_worker.h"

#include <time.h>

#include "agent/log.h"

namespace teredo::server {
namespace {

uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

ServerWorker::ServerWorker(size_t index, ServerSocket receiveOn,
                           std::shared_ptr<SocketPair> sockets, const WorkerShared& shared,
                           ServerStats& stats)
    : index_(index),
      receiveOn_(receiveOn),
      pair_(std::move(sockets)),
      recv_(kBatch, kSlot),
      sends_{net::SendBatch(kBatch, kSendSlot), net::SendBatch(kBatch, kSendSlot)},
      shared_(shared),
      stats_(stats),
      runtime_(shared.runtime->load()),
      generation_(shared.runtime->generation()),
      rsLimiter_(runtime_->rsPerSecond, runtime_->rsBurst, shared.rateLimitTableSize),
      forwardLimiter_(runtime_->forwardPerSecond, runtime_->forwardBurst,
                      shared.rateLimitTableSize) {}

void ServerWorker::stop() {
  stopping_.store(true, std::memory_order_relaxed);
}

void ServerWorker::reloadIfChanged() {
  const uint64_t gen = shared_.runtime->generation();
  if (gen == generation_) {
    return;
  }
  generation_ = gen;
  runtime_ = shared_.runtime->load();
  rsLimiter_.setRate(runtime_->rsPerSecond, runtime_->rsBurst);
  forwardLimiter_.setRate(runtime_->forwardPerSecond, runtime_->forwardBurst);
}

void ServerWorker::run() {
  net::UdpSocket& rx = socket(receiveOn_);
  while (!stopping_.load(std::memory_order_relaxed)) {
    if (shared_.heartbeats != nullptr) {
      shared_.heartbeats->beat(index_);
    }
    // Waits for the first datagram (at most kReceiveTimeoutMs, so the heartbeat stays fresh on
    // an idle server and stop() is noticed), then takes whatever else is queued.
    const int n = recv_.receive(rx, net::RecvWait::ForOne);
    if (recv_.newKernelDrops() != 0) {
      stats_.kernelDrops.inc(receiveOn_, recv_.newKernelDrops());
    }
    if (n <= 0) {
      if (n < 0) {
        // Not expected on a bound UDP socket; never let it spin a core.
        stats_.receiveErrors.inc();
        const timespec pause{0, 10'000'000};
        nanosleep(&pause, nullptr);
      }
      continue;
    }
    reloadIfChanged();
    const uint64_t nowNs = monotonicNs();
    stats_.batches.inc();
    for (const net::RecvMessage& m : recv_.messages()) {
      process(m, receiveOn_, nowNs);
    }
    // Forwards borrow the receive buffers: send them before the next receive() reuses them.
    flush();
  }
}

bool ServerWorker::queue(ServerSocket from, const Endpoint& to, Bytes head, Bytes body,
                         bool borrowed) {
  net::SendBatch& b = batch(from);
  if (b.full()) {
    flush();
  }
  const bool ok = borrowed ? b.addBorrowed(to, head, body) : b.add(to, head, body);
  if (!ok) {
    drop(DropReason::TooBig);
  }
  return ok;
}

void ServerWorker::flush() {
  for (size_t i = 0; i < kSocketCount; ++i) {
    if (sends_[i].empty()) {
      continue;
    }
    const net::FlushResult r = sends_[i].flush(pair_->sockets[i]);
    if (r.failed != 0) {
      stats_.dropped.inc(DropReason::SendFailed, r.failed);
    }
  }
}

bool ServerWorker::admitForward(const Endpoint& source, uint64_t nowNs) {
  if (!forwardLimiter_.allow(source.addr, nowNs)) {
    stats_.rateLimited.inc(Limiter::Forward);
    drop(DropReason::RateLimited);
    return false;
  }
  if (shared_.forwardBudget != nullptr && !shared_.forwardBudget->allow(nowNs)) {
    stats_.rateLimited.inc(Limiter::ForwardGlobal);
    drop(DropReason::RateLimited);
    return false;
  }
  return true;
}

void ServerWorker::process(const net::RecvMessage& m, ServerSocket arrivedOn, uint64_t nowNs) {
  stats_.packetsReceived.inc(arrivedOn);
  stats_.bytesReceived.inc(arrivedOn, m.data.size());
  if (m.truncated) {
    drop(DropReason::TooBig);
    return;
  }
  const Result<TeredoPacket> parsed = parsePacket(m.data);
  if (!parsed) {
    drop(parsed.reason());  // RFC 4380 §5.3.1 case 1: malformed, silently dropped
    return;
  }
  const TeredoPacket& p = *parsed;
  const ServerRuntime& rt = *runtime_;
  const ServerAction a = decideServer(p, m.source, arrivedOn, rt.policy);
  switch (a.kind) {
    case ServerAction::Kind::Drop:
      drop(a.reason);
      return;
    case ServerAction::Kind::SendRa: {
      const RsKind kind = rsKind(a.cone, arrivedOn);
      stats_.solicitations.inc(kind);
      if (!rsLimiter_.allow(m.source.addr, nowNs)) {
        stats_.rateLimited.inc(Limiter::Solicitation);
        drop(DropReason::RateLimited);
        return;
      }
      if (rt.natObservation && shared_.nat != nullptr) {
        shared_.nat->observe(m.source, arrivedOn == ServerSocket::Secondary, a.cone,
                             nowNs / 1'000'000ull);
      }
      const size_t n = buildServerRa(scratch_, p, m.source, rt.policy, rt.raMtu);
      if (n == 0) {
        // Cannot happen: an RA is at most 117 bytes and the scratch slot is kSendSlot.
        TEREDO_BUG("the RA did not fit the server's scratch buffer");
        drop(DropReason::TooBig);
        return;
      }
      if (queue(a.from, a.to, Bytes(scratch_, n), {}, false)) {
        stats_.advertisements.inc(kind);
        stats_.bytesSent.inc(n);
      }
      return;
    }
    case ServerAction::Kind::ForwardUdp: {
      if (!admitForward(m.source, nowNs)) {
        return;
      }
      // RFC 4380 §5.3.1: the origin indication carries the IPv4 source and port we saw.
      uint8_t origin[kOriginSize];
      const size_t headLen = a.withOrigin ? writeOrigin(origin, m.source) : 0;
      if (queue(a.from, a.to, Bytes(origin, headLen), p.encapsulated, true)) {
        stats_.forwarded.inc(a.withOrigin ? ForwardPath::UdpOwnClient
                                          : ForwardPath::UdpOtherServer);
        stats_.bytesSent.inc(headLen + p.encapsulated.size());
      }
      return;
    }
    case ServerAction::Kind::ForwardIpv6: {
      if (!admitForward(m.source, nowNs)) {
        return;
      }
      // Only 40 + payload length bytes: RFC 6081 trailers never leave on native IPv6.
      if (shared_.ipv6 == nullptr || !shared_.ipv6->send(p.ipv6)) {
        drop(DropReason::SendFailed);
        return;
      }
      stats_.forwarded.inc(ForwardPath::Ipv6);
      return;
    }
  }
}

}  // namespace teredo::server

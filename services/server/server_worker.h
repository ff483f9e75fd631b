// One teredo-server worker thread: its own SO_REUSEPORT sockets on the primary and secondary
// addresses, batched receive and send, per-worker rate limiters and counters (design.md §3).
// The loop only executes what decideServer (lib/teredo/server.h) decided.
//
// Thread-safety: a worker is driven by exactly one thread (run()); stop() may be called from any
// thread. The NAT observer and the IPv6 sender are shared between workers and are thread-safe.
// Ownership: the worker owns its sockets and batches; it borrows the shared objects passed to its
// constructor, which must outlive it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "agent/health.h"
#include "net/fd.h"
#include "net/udp.h"
#include "server_runtime.h"
#include "server_stats.h"
#include "teredo/nat_observer.h"
#include "teredo/rate_limiter.h"

namespace teredo::server {

/// Sends an IPv6 packet onto native IPv6 (a raw socket in production, a fake in tests).
class Ipv6Sender {
 public:
  virtual ~Ipv6Sender() = default;
  /// Thread-safe. False when the kernel refused the packet.
  virtual bool send(Bytes ipv6Packet) = 0;
};

struct WorkerShared {
  const RuntimeHolder* runtime = nullptr;
  NatObserver* nat = nullptr;  ///< may be null (observation disabled)
  Ipv6Sender* ipv6 = nullptr;  ///< may be null (native forwarding impossible)
  agent::Heartbeats* heartbeats = nullptr;
  size_t rateLimitTableSize = 65536;
};

class ServerWorker {
 public:
  static constexpr size_t kBatch = 64;
  static constexpr size_t kSlot = 2048;  ///< larger datagrams are truncated and dropped

  ServerWorker(size_t index, net::UdpSocket primary, net::UdpSocket secondary,
               const WorkerShared& shared, ServerStats& stats);

  /// The event loop; returns after stop().
  void run();
  void stop();

  /// Handles one datagram (public for tests). Queues replies; flush() sends them.
  void process(const net::RecvMessage& m, ServerSocket arrivedOn, uint64_t nowNs);
  void flush();

 private:
  void reloadIfChanged();
  void drainSocket(ServerSocket s, uint64_t nowNs);
  void drop(DropReason r) { stats_.dropped.inc(r); }
  net::UdpSocket& socket(ServerSocket s) { return sockets_[static_cast<size_t>(s)]; }
  net::SendBatch& batch(ServerSocket s) { return sends_[static_cast<size_t>(s)]; }
  bool queue(ServerSocket from, const Endpoint& to, Bytes head, Bytes body, bool borrowed);

  size_t index_;
  net::UdpSocket sockets_[kSocketCount];
  net::RecvBatch recv_;
  net::SendBatch sends_[kSocketCount];
  WorkerShared shared_;
  ServerStats& stats_;
  std::shared_ptr<const ServerRuntime> runtime_;
  uint64_t generation_ = 0;
  RateLimiter rsLimiter_;
  RateLimiter forwardLimiter_;
  net::Fd epoll_;
  net::Fd wake_;
  std::atomic<bool> stopping_{false};
  uint8_t scratch_[160];  ///< one RA (117 bytes at most); SendBatch::add copies it
};

}  // namespace teredo::server

// One teredo-server receive lane: a thread that waits in recvmmsg(MSG_WAITFORONE) on one socket
// of its worker's SO_REUSEPORT pair (primary or secondary address) and answers through either
// socket of the pair; batched receive and send, per-lane rate limiters and counters
// (docs/architecture.md). Each worker is two lanes over one socket pair. Waiting in the receive
// call itself costs one syscall per wake-up less than epoll_wait + recvmmsg, which is most of the
// server's CPU at moderate rates (bench/run.sh, docs/benchmarks.md). The loop only executes what
// decideServer (lib/teredo/server.h) decided.
//
// Thread-safety: a lane is driven by exactly one thread (run()); stop() may be called from any
// thread. The socket pair is shared by the worker's two lanes (sending on a socket from two
// threads is safe; each socket is received on by one lane only). The NAT observer and the IPv6
// sender are shared between lanes and are thread-safe.
// Ownership: a lane owns its batches and shares ownership of its socket pair; it borrows the
// shared objects passed to its constructor, which must outlive it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "agent/health.h"
#include "net/udp.h"
#include "server_runtime.h"
#include "server_stats.h"
#include "teredo/nat_observer.h"
#include "teredo/rate_limiter.h"
#include "teredo/shared_rate_limiter.h"

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
  /// The forwarding budget of the whole process (server.rate_limit.forward_global_*); may be
  /// null (no global budget).
  SharedRateLimiter* forwardBudget = nullptr;
  size_t rateLimitTableSize = 65536;
};

/// A worker's two sockets (opened blocking, with a receive timeout: see
/// ServerWorker::kReceiveTimeoutMs), indexed by ServerSocket.
struct SocketPair {
  net::UdpSocket sockets[kSocketCount];
};

class ServerWorker {
 public:
  static constexpr size_t kBatch = 64;
  static constexpr size_t kSlot = 2048;  ///< larger datagrams are truncated and dropped
  /// Send slots only ever hold an RA (117 bytes at most) or an 8-byte origin indication:
  /// forwarded packets are borrowed from the receive buffer, never copied.
  static constexpr size_t kSendSlot = 256;
  /// The sockets' SO_RCVTIMEO: how often an idle lane wakes to beat its heartbeat, and how long
  /// stop() may take.
  static constexpr int kReceiveTimeoutMs = 250;

  /// A lane that receives on `sockets->sockets[receiveOn]`.
  ServerWorker(size_t index, ServerSocket receiveOn, std::shared_ptr<SocketPair> sockets,
               const WorkerShared& shared, ServerStats& stats);

  /// The receive loop; returns within kReceiveTimeoutMs of stop().
  void run();
  void stop();

  /// Handles one datagram (public for tests). Queues replies; flush() sends them.
  void process(const net::RecvMessage& m, ServerSocket arrivedOn, uint64_t nowNs);
  void flush();

 private:
  void reloadIfChanged();
  void drop(DropReason r) { stats_.dropped.inc(r); }
  net::UdpSocket& socket(ServerSocket s) { return pair_->sockets[static_cast<size_t>(s)]; }
  net::SendBatch& batch(ServerSocket s) { return sends_[static_cast<size_t>(s)]; }
  bool queue(ServerSocket from, const Endpoint& to, Bytes head, Bytes body, bool borrowed);
  /// The per-source bucket, then the process-wide budget (RFC 4380 §7.4 reflection); counts
  /// and drops what neither admits.
  bool admitForward(const Endpoint& source, uint64_t nowNs);

  size_t index_;
  ServerSocket receiveOn_;
  std::shared_ptr<SocketPair> pair_;
  net::RecvBatch recv_;
  net::SendBatch sends_[kSocketCount];
  WorkerShared shared_;
  ServerStats& stats_;
  std::shared_ptr<const ServerRuntime> runtime_;
  uint64_t generation_ = 0;
  RateLimiter rsLimiter_;
  RateLimiter forwardLimiter_;
  std::atomic<bool> stopping_{false};
  uint8_t scratch_[160];  ///< one RA (117 bytes at most); SendBatch::add copies it
};

}  // namespace teredo::server

// One teredo-relay worker thread: its own SO_REUSEPORT UDP socket and its own tun queue
// (IFF_MULTI_QUEUE), batched I/O, and the decisions of lib/teredo/relay.h executed against the
// shared peer table (docs/architecture.md).
//
// Thread-safety: run() on exactly one thread; stop() from any thread. The peer table, the ICMPv6
// sender and the runtime holder are shared between workers and are thread-safe.
// Ownership: the worker owns its socket and batches and borrows the shared objects, which must
// outlive it. The tun queue descriptor is owned by the Tun object (borrowed by index).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "agent/health.h"
#include "icmp_sender.h"
#include "net/fd.h"
#include "net/tun.h"
#include "net/tun_ring.h"
#include "net/udp.h"
#include "peers/peer_table.h"
#include "relay_runtime.h"
#include "relay_stats.h"
#include "teredo/offload.h"

namespace teredo::relay {

struct WorkerShared {
  const RuntimeHolder* runtime = nullptr;
  peers::PeerTable* table = nullptr;
  net::Tun* tun = nullptr;
  IcmpSender* icmp = nullptr;
  agent::Heartbeats* heartbeats = nullptr;
  const std::atomic<bool>* draining = nullptr;  ///< no new peers while set
  uint32_t mtu = 1280;   ///< relay.mtu: sizes the tun, UDP receive and send slots
  bool ioUring = false;  ///< relay.io_uring: tun reads and writes through an io_uring
};

class RelayWorker {
 public:
  static constexpr size_t kBatch = 64;
  static constexpr size_t kSlot = 2048;
  /// Room for the Teredo headers around an MTU-sized IPv6 packet in a datagram: authentication
  /// (13 + two 255-byte fields), origin indication (8), and RFC 6081 trailers.
  static constexpr size_t kHeadroom = 1024;
  /// UDP receive slot: an MTU-sized packet with every header; larger datagrams are dropped.
  static constexpr size_t udpSlotFor(uint32_t mtu) {
    return mtu + kHeadroom > kSlot ? mtu + kHeadroom : kSlot;
  }
  /// UDP send slot: one IPv6 packet (a tun read) or a bubble.
  static constexpr size_t sendSlotFor(uint32_t mtu) { return mtu > kSlot ? mtu : kSlot; }

  RelayWorker(size_t index, net::UdpSocket udp, const WorkerShared& shared, RelayStats& stats);

  void run();
  void stop();
  /// The worker's socket, for the offload state (groActive(), gsoActive(); thread-safe reads).
  const net::UdpSocket& socket() const { return udp_; }
  /// Decapsulated TCP segments are coalesced into tun writes (relay.offloads on a tun with vnet
  /// headers, until the kernel refuses a super-packet). Thread-safe.
  bool coalescing() const { return coalesceOn_.load(std::memory_order_relaxed); }
  /// The worker reads and writes its tun queue through an io_uring (relay.io_uring, and the
  /// kernel allowed it). Set by run() once it has set the ring up. Thread-safe.
  bool ioUringActive() const { return ringActive_.load(std::memory_order_relaxed); }

  /// IPv6 from the tun towards a Teredo client (RFC 4380 §5.4.1). Public for tests.
  void fromTun(Bytes ipv6, RelayTime now, uint64_t nowNs);
  /// A datagram from a client (RFC 4380 §5.4.2). Public for tests.
  void fromUdp(const net::RecvMessage& m, RelayTime now, uint64_t nowNs);
  void flush();

 private:
  void reloadIfChanged();
  // Each drain takes up to kBatchesPerWake batches and returns true when it stopped at that
  // limit with packets still waiting (the worker is saturated: no moderation sleep then).
  bool drainUdp();
  bool drainTun();
  bool drainTunVnet();
  bool drainTunRing();
  bool drainTunAny();
  /// Sets up ring_ on the worker's thread (the ring accepts submissions from its creator only;
  /// epoll keeps watching the tun descriptor); a refusal is logged and counted, and
  /// the worker keeps plain reads and writes.
  void openRing();
  /// Back to plain reads and writes (the multishot read failed for good).
  void closeRing(int error);
  /// Writes tunOut_ without coalescing: with one writev() each, or through the ring.
  void writeTunPlain();
  /// The outcome of writing coalesced packet `p`: counters, and the fallback to single segments
  /// when the kernel refuses super-packets.
  void finishCoalesced(const CoalescedPacket& p, int err);
  /// One read of a vnet-header tun: split into the IPv6 packets it stands for (a TCP or UDP
  /// super-packet, a checksum to complete), each then handled by fromTun().
  void fromTunOffload(const VirtioNetHdr& hdr, MutableBytes packet, RelayTime now, uint64_t nowNs);
  /// Writes tunOut_ to a vnet-header tun, TCP segments of one flow coalesced.
  void flushTunCoalesced();
  /// Locks the peer `key`, runs decide(PeerState&) on its state, stores the state back and
  /// applies the table actions; the lock is released on return. False (counted) when the entry
  /// could not be created.
  template <class Decide>
  bool decideLocked(const Ipv6Addr& key, RelayTime now, bool touch, Decide&& decide);
  /// Under the peer's shard lock: the actions on the peer table (queue, flush into the staging
  /// area, drop the queue). No system call.
  void applyToTable(const RelayOutput& out, peers::PeerTable::Ref& ref);
  /// After the lock: sends, tun writes, ICMPv6 errors and counters, in the decision's order.
  void emit(const RelayOutput& out, uint64_t nowNs);
  void sendUdp(const Endpoint& dst, Bytes payload);
  void drop(DropReason r) { stats_.dropped.inc(r); }

  size_t index_;
  net::UdpSocket udp_;
  net::RecvBatch recv_;
  net::SendBatch send_;
  net::PacketBatch tunIn_;
  std::vector<Bytes> tunOut_;  ///< views into recv_ until flush(); capacity reserved once
  // A tun opened with a vnet header (relay.offloads): reads with their virtio_net_hdr, split
  // into packets in splitArena_; writes coalesced in coalesce_. Sized once.
  bool vnet_ = false;
  std::atomic<bool> coalesceOn_{false};  ///< off after the kernel refused a coalesced write
  net::VnetPacketBatch tunVnetIn_;
  std::vector<uint8_t> splitArena_;
  std::vector<Bytes> splitOut_;
  CoalesceStorage coalesce_;
  WorkerShared shared_;
  RelayStats& stats_;
  std::shared_ptr<const RelayRuntime> runtime_;
  uint64_t generation_ = 0;
  RelayOutput out_;
  std::vector<uint8_t> staged_;          ///< a flushed queue, copied out under the lock
  std::vector<uint32_t> stagedLengths_;  ///< its packets' lengths; capacity reserved once
  // relay.io_uring: the tun queue's reads and writes, many per system call (created by run()).
  std::unique_ptr<net::TunRing> ring_;
  std::atomic<bool> ringActive_{false};
  bool ringBacklog_ = false;  ///< the last ring drain stopped with completions left
  std::vector<const CoalescedPacket*> ringCoalesced_;  ///< queued coalesced writes, in order
  net::Fd epoll_;
  net::Fd wake_;
  std::atomic<bool> stopping_{false};
};

}  // namespace teredo::relay

// teredo-relay's per-worker metrics, declared once, in the X-macro below (lib/agent/stats.h).
// Labels are bounded enums only: direction, kind, reason. Never an address.
// Peer-table metrics (peers, capacity, evictions, queued bytes) are read from the table at
// scrape time by TableCollectable (relay_agent.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/stats.h"
#include "teredo/drop_reason.h"
#include "teredo/relay.h"

namespace teredo::relay {

/// to_teredo: IPv6 Internet -> Teredo client (tun -> UDP); from_teredo: the other way.
enum class Direction : uint8_t { ToTeredo, FromTeredo };
constexpr size_t kDirectionCount = 2;
constexpr std::string_view directionLabel(Direction d) {
  return d == Direction::ToTeredo ? "to_teredo" : "from_teredo";
}

constexpr size_t kBubbleKindCount = 2;
constexpr std::string_view bubbleKindLabel(BubbleKind k) {
  return k == BubbleKind::Indirect ? "indirect" : "direct";
}

/// The kernel offloads a worker uses (relay.offloads): udp_gro (datagrams that arrived coalesced),
/// udp_gso (datagrams sent inside a UDP_SEGMENT message), tun_tso (IPv6 packets split from a TCP
/// super-packet read from the tun), tun_coalesce (TCP segments written to the tun inside a
/// coalesced super-packet); and relay.io_uring: tun_io_uring (tun reads and writes that went
/// through the worker's io_uring, many per system call: net/tun_ring.h).
enum class Offload : uint8_t { UdpGro, UdpGso, TunTso, TunCoalesce, TunIoUring };
constexpr size_t kOffloadCount = 5;
constexpr std::string_view offloadLabel(Offload o) {
  switch (o) {
    case Offload::UdpGro:
      return "udp_gro";
    case Offload::UdpGso:
      return "udp_gso";
    case Offload::TunTso:
      return "tun_tso";
    case Offload::TunCoalesce:
      return "tun_coalesce";
    case Offload::TunIoUring:
      return "tun_io_uring";
  }
  return "udp_gro";
}

#define TEREDO_RELAY_STATS(COUNTER, GAUGE, LABELED)                                                \
  LABELED(packets, "teredo_relay_packets_total",                                                   \
          "Packets handled, by direction (to_teredo: from the tun towards clients; "               \
          "from_teredo: from clients towards IPv6).",                                              \
          "direction", ::teredo::relay::Direction, ::teredo::relay::kDirectionCount,               \
          ::teredo::relay::directionLabel)                                                         \
  LABELED(bytes, "teredo_relay_bytes_total", "IPv6 bytes handled, by direction.", "direction",     \
          ::teredo::relay::Direction, ::teredo::relay::kDirectionCount,                            \
          ::teredo::relay::directionLabel)                                                         \
  LABELED(delivered, "teredo_relay_packets_delivered_total",                                       \
          "Packets that left the relay (encapsulated to a client, or written to the tun), "        \
          "by direction.",                                                                         \
          "direction", ::teredo::relay::Direction, ::teredo::relay::kDirectionCount,               \
          ::teredo::relay::directionLabel)                                                         \
  LABELED(dropped, "teredo_relay_packets_dropped_total",                                           \
          "Packets dropped, by reason (lib/teredo/drop_reason.h).", "reason",                      \
          ::teredo::DropReason, ::teredo::kDropReasonCount, ::teredo::dropReasonLabel)             \
  LABELED(bubblesSent, "teredo_relay_bubbles_sent_total",                                          \
          "Bubbles sent: indirect through the client's server, direct to its mapping.", "kind",    \
          ::teredo::BubbleKind, ::teredo::relay::kBubbleKindCount,                                 \
          ::teredo::relay::bubbleKindLabel)                                                        \
  COUNTER(bubblesSuppressed, "teredo_relay_bubbles_suppressed_total",                              \
          "Packets to an untrusted peer that sent no bubble (spacing or budget, RFC 4380 "         \
          "§5.2.6).")                                                                              \
  COUNTER(bubblesReceived, "teredo_relay_bubbles_received_total",                                  \
          "Bubbles received from clients and consumed.")                                           \
  COUNTER(queuedPackets, "teredo_relay_packets_queued_total",                                      \
          "Packets queued for an untrusted peer.")                                                 \
  COUNTER(flushedPackets, "teredo_relay_queue_flushed_packets_total",                              \
          "Queued packets sent when their peer became trusted.")                                   \
  COUNTER(queueDroppedBytes, "teredo_relay_queue_dropped_bytes_total",                             \
          "Bytes refused by a full per-peer or global queue, or freed with an unreachable "        \
          "peer's queue.")                                                                         \
  COUNTER(icmpSent, "teredo_relay_icmpv6_errors_sent_total",                                       \
          "ICMPv6 errors sent (destination unreachable).")                                         \
  COUNTER(icmpRateLimited, "teredo_relay_icmpv6_ratelimited_total",                                \
          "ICMPv6 errors not sent because of relay.icmp_errors_per_second.")                       \
  COUNTER(kernelDrops, "teredo_socket_kernel_drops_total",                                         \
          "Datagrams the kernel dropped because the UDP receive queue was full "                   \
          "(SO_RXQ_OVFL).")                                                                        \
  COUNTER(batches, "teredo_relay_batches_total",                                                   \
          "Receive batches (UDP recvmmsg or tun reads) that returned at least one packet.")        \
  LABELED(offloadPackets, "teredo_relay_offload_packets_total",                                    \
          "Packets that went through a kernel offload or io_uring, by offload.", "offload",        \
          ::teredo::relay::Offload, ::teredo::relay::kOffloadCount, ::teredo::relay::offloadLabel) \
  LABELED(offloadFallbacks, "teredo_relay_offload_fallbacks_total",                                \
          "Times the kernel refused an offload at run time and the relay fell back to one "        \
          "packet per call, by offload.",                                                          \
          "offload", ::teredo::relay::Offload, ::teredo::relay::kOffloadCount,                     \
          ::teredo::relay::offloadLabel)

TEREDO_STATS_STRUCT(RelayStats, TEREDO_RELAY_STATS);

}  // namespace teredo::relay

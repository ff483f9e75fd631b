// teredo-server's metrics, declared once, in the X-macro below (lib/agent/stats.h).
// Labels are bounded enums only: socket, kind, path, limiter, reason. Never an address.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/stats.h"
#include "teredo/drop_reason.h"
#include "teredo/server.h"

namespace teredo::server {

constexpr size_t kSocketCount = 2;
constexpr std::string_view socketLabel(ServerSocket s) {
  return s == ServerSocket::Primary ? "primary" : "secondary";
}

/// A Router Solicitation by its cone flag and the address it reached (RFC 4380 §5.3.2: a cone
/// RS is answered from the other address, a plain one from the same).
enum class RsKind : uint8_t { PlainPrimary, PlainSecondary, ConePrimary, ConeSecondary };
constexpr size_t kRsKindCount = 4;
constexpr std::string_view rsKindLabel(RsKind k) {
  constexpr std::string_view kLabels[] = {"plain_primary", "plain_secondary", "cone_primary",
                                          "cone_secondary"};
  return kLabels[static_cast<size_t>(k)];
}
constexpr RsKind rsKind(bool cone, ServerSocket arrivedOn) {
  return static_cast<RsKind>((cone ? 2 : 0) + (arrivedOn == ServerSocket::Secondary ? 1 : 0));
}

/// Where a forwarded packet went (RFC 4380 §5.3.1 destination processing).
enum class ForwardPath : uint8_t { UdpOwnClient, UdpOtherServer, Ipv6 };
constexpr size_t kForwardPathCount = 3;
constexpr std::string_view forwardPathLabel(ForwardPath p) {
  constexpr std::string_view kLabels[] = {"udp_own_client", "udp_other_server", "ipv6"};
  return kLabels[static_cast<size_t>(p)];
}

/// solicitation and forward: per source; forward_global: all sources together.
enum class Limiter : uint8_t { Solicitation, Forward, ForwardGlobal };
constexpr size_t kLimiterCount = 3;
constexpr std::string_view limiterLabel(Limiter l) {
  return l == Limiter::Solicitation ? "solicitation"
         : l == Limiter::Forward    ? "forward"
                                    : "forward_global";
}

#define TEREDO_SERVER_STATS(COUNTER, GAUGE, LABELED)                                               \
  LABELED(packetsReceived, "teredo_server_packets_received_total",                                 \
          "UDP datagrams received, by the server socket they reached.", "socket",                  \
          ::teredo::ServerSocket, ::teredo::server::kSocketCount, ::teredo::server::socketLabel)   \
  LABELED(bytesReceived, "teredo_server_bytes_received_total",                                     \
          "UDP payload bytes received, by socket.", "socket", ::teredo::ServerSocket,              \
          ::teredo::server::kSocketCount, ::teredo::server::socketLabel)                           \
  LABELED(solicitations, "teredo_server_router_solicitations_total",                               \
          "Valid Router Solicitations, by cone flag and the address they reached.", "kind",        \
          ::teredo::server::RsKind, ::teredo::server::kRsKindCount, ::teredo::server::rsKindLabel) \
  LABELED(advertisements, "teredo_server_router_advertisements_sent_total",                        \
          "Router Advertisements sent, by the kind of solicitation answered (plain: from the "     \
          "address the RS reached; cone: from the other address).",                                \
          "kind", ::teredo::server::RsKind, ::teredo::server::kRsKindCount,                        \
          ::teredo::server::rsKindLabel)                                                           \
  LABELED(forwarded, "teredo_server_packets_forwarded_total",                                      \
          "Packets forwarded, by path: to this server's clients with an origin indication, "       \
          "to other servers' clients, or onto native IPv6.",                                       \
          "path", ::teredo::server::ForwardPath, ::teredo::server::kForwardPathCount,              \
          ::teredo::server::forwardPathLabel)                                                      \
  LABELED(dropped, "teredo_server_packets_dropped_total",                                          \
          "Packets dropped, by reason (lib/teredo/drop_reason.h; rate_limited and "                \
          "send_failed included).",                                                                \
          "reason", ::teredo::DropReason, ::teredo::kDropReasonCount, ::teredo::dropReasonLabel)   \
  LABELED(rateLimited, "teredo_server_rate_limited_total",                                         \
          "Packets refused by a per-source token bucket, by limiter.", "limiter",                  \
          ::teredo::server::Limiter, ::teredo::server::kLimiterCount,                              \
          ::teredo::server::limiterLabel)                                                          \
  LABELED(kernelDrops, "teredo_socket_kernel_drops_total",                                         \
          "Datagrams the kernel dropped because a socket's receive queue was full "                \
          "(SO_RXQ_OVFL).",                                                                        \
          "socket", ::teredo::ServerSocket, ::teredo::server::kSocketCount,                        \
          ::teredo::server::socketLabel)                                                           \
  COUNTER(bytesSent, "teredo_server_bytes_sent_total", "UDP payload bytes sent.")                  \
  COUNTER(batches, "teredo_server_receive_batches_total",                                          \
          "recvmmsg calls that returned at least one datagram; packets/batches is the "            \
          "average batch size.")                                                                   \
  COUNTER(receiveErrors, "teredo_server_receive_errors_total",                                     \
          "recvmmsg calls that failed with an error other than a timeout (the lane pauses 10 ms "  \
          "after each).")

TEREDO_STATS_STRUCT(ServerStats, TEREDO_SERVER_STATS);

}  // namespace teredo::server

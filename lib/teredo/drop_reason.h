// The one list of reasons why a server or relay drops a packet. The same enumerators drive the
// metric label `reason` of teredo_*_packets_dropped_total, the log lines and the tests.
//
// DropReason::None is not a reason: it is the value of "no drop" (a Result that holds a value,
// a decision that delivers). It comes after every reason, so the reasons are exactly
// 0..kDropReasonCount-1; None is not among them, has no label (dropReasonLabel gives "") and is
// never counted (LabeledStatCounter ignores it).
//
// Thread-safety: constants only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace teredo {

// X(enumerator, metric label). Labels are stable: dashboards and alerts use them.
#define TEREDO_DROP_REASONS(X)                                             \
  /* Framing (RFC 4380 §5.1.1, §5.2.3; server case 1) */                 \
  X(TruncatedAuth, "truncated_auth")                                       \
  X(TruncatedOrigin, "truncated_origin")                                   \
  X(UnknownEncapsulation, "unknown_encapsulation")                         \
  X(NotIpv6, "not_ipv6")                                                   \
  X(TruncatedIpv6, "truncated_ipv6")                                       \
  X(BadPayloadLength, "bad_payload_length")                                \
  /* RFC 6081 §4 trailers after the IPv6 packet */                        \
  X(MalformedTrailer, "malformed_trailer")                                 \
  /* Server validation (RFC 4380 §5.3.1 cases 2-7) */                     \
  X(NotBubbleOrIcmpv6, "not_bubble_or_icmpv6")                             \
  X(SrcNotGlobal, "src_not_global")                                        \
  X(SpoofedSource, "spoofed_source")                                       \
  X(NotOurClient, "not_our_client")                                        \
  X(LoopGuard, "loop_guard")                                               \
  /* Router Solicitation checks (RFC 4380 §5.2.1, RFC 4861 §6.1.1) */    \
  X(RsBadSource, "rs_bad_source")                                          \
  X(RsBadHopLimit, "rs_bad_hop_limit")                                     \
  X(RsBadChecksum, "rs_bad_checksum")                                      \
  X(RsMalformed, "rs_malformed")                                           \
  X(LocalUnhandled, "local_unhandled")                                     \
  /* Forwarding policy (RFC 4380 §5.3.1 second half, §7.4) */            \
  X(DstNotGlobalScope, "dst_not_global_scope")                             \
  X(DstIpv4NotGlobal, "dst_ipv4_not_global")                               \
  X(DstServerNotGlobal, "dst_server_not_global")                           \
  X(DstOwnAddress, "dst_own_address")                                      \
  X(OtherServerClient, "other_server_client")                              \
  X(Icmpv6TypeNotAllowed, "icmpv6_type_not_allowed")                       \
  X(Icmpv6TooBig, "icmpv6_too_big")                                        \
  X(BubbleTooBig, "bubble_too_big")                                        \
  X(NativeForwardDisabled, "native_forward_disabled")                      \
  X(RateLimited, "rate_limited")                                           \
  /* Relay (RFC 4380 §5.4) */                                             \
  X(DstNotTeredo, "dst_not_teredo")                                        \
  X(DstMulticast, "dst_multicast")                                         \
  X(SrcNotTeredo, "src_not_teredo")                                        \
  X(UnknownPeer, "unknown_peer")                                           \
  X(DstNotServed, "dst_not_served")                                        \
  X(DstTeredo, "dst_teredo")                                               \
  X(SrcNotServed, "src_not_served")                                        \
  X(PeerTableFull, "peer_table_full")                                      \
  X(QueueFull, "queue_full")                                               \
  X(PeerUnreachable, "peer_unreachable")                                   \
  X(Draining, "draining")                                                  \
  X(TooBig, "too_big")                                                     \
  /* Local I/O */                                                          \
  X(SendFailed, "send_failed")                                             \
  /* Tun offload metadata the relay cannot split (lib/teredo/offload.h) */ \
  X(OffloadMalformed, "offload_malformed")

enum class DropReason : uint8_t {
#define TEREDO_DROP_ENUM(name, label) name,
  TEREDO_DROP_REASONS(TEREDO_DROP_ENUM)
#undef TEREDO_DROP_ENUM
  /// Not a reason: no drop. Not counted, no label.
  None,
};

inline constexpr size_t kDropReasonCount = 0
#define TEREDO_DROP_COUNT(name, label) +1
    TEREDO_DROP_REASONS(TEREDO_DROP_COUNT)
#undef TEREDO_DROP_COUNT
    ;
static_assert(static_cast<size_t>(DropReason::None) == kDropReasonCount,
              "None comes after every reason and is not counted among them");

/// The metric label for `r` (lower_snake_case, stable); "" for DropReason::None.
constexpr std::string_view dropReasonLabel(DropReason r) {
  constexpr std::string_view kLabels[] = {
#define TEREDO_DROP_LABEL(name, label) label,
      TEREDO_DROP_REASONS(TEREDO_DROP_LABEL)
#undef TEREDO_DROP_LABEL
  };
  const auto i = static_cast<size_t>(r);
  return i < kDropReasonCount ? kLabels[i] : std::string_view();
}

}  // namespace teredo

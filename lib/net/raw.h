// Raw IPv6 socket for sending whole IPv6 packets to native IPv6 (the server forwards small
// ICMPv6 from clients this way; Miredo's server uses the same socket type).
//
// socket(AF_INET6, SOCK_RAW, IPPROTO_RAW): the caller supplies the IPv6 header (IPV6_HDRINCL is
// implied by IPPROTO_RAW on Linux); the destination passed to sendto() is taken from the header.
// The socket never receives.
//
// Byte order: packets are raw wire bytes.
// Errors: open() returns a Status (setup path); send() is per packet and returns 0 or a negative
// errno value, like every per-packet call in lib/net (never a positive errno).
// Thread-safety: send() may be called from several threads at once (the kernel serialises);
// stats() are plain counters per object and must only be bumped from one thread, so give each
// worker its own RawIpv6Socket or guard it.
// Ownership: owns its descriptor (move-only). Needs CAP_NET_RAW to open, not to send.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "net/fd.h"
#include "teredo/packet.h"

namespace teredo::net {

struct RawSendStats {
  uint64_t sent = 0;
  /// Packets given up on: counted as drops by the caller (send() returned non-zero).
  uint64_t failed = 0;
  /// Extra attempts after a queued asynchronous error (see send()).
  uint64_t retries = 0;
  /// Rejected before any syscall: shorter than an IPv6 header, not version 6, or payload length
  /// disagreeing with the buffer size.
  uint64_t malformed = 0;
};

class RawIpv6Socket {
 public:
  /// Attempts per packet when the kernel reports a queued asynchronous error.
  static constexpr int kMaxAttempts = 4;

  /// Opens a non-blocking, close-on-exec IPPROTO_RAW socket.
  static StatusOr<RawIpv6Socket> open();
  RawIpv6Socket() = default;
  RawIpv6Socket(RawIpv6Socket&&) = default;
  RawIpv6Socket& operator=(RawIpv6Socket&&) = default;

  /// Sends one IPv6 packet (header included) to the destination address in its header. Returns
  /// 0 on success, or -errno of the last failure (-EINVAL for a malformed packet).
  ///
  /// Like Miredo's server: ENETUNREACH, EHOSTUNREACH, EACCES, ECONNREFUSED, EMSGSIZE and EPROTO
  /// may be an ICMP error that an *earlier* packet caused, reported on this call; the packet is
  /// retried up to kMaxAttempts times in total. EAGAIN (send buffer full) is not retried.
  int send(Bytes ipv6Packet);

  const RawSendStats& stats() const { return stats_; }
  bool valid() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }

 private:
  Fd fd_;
  RawSendStats stats_;
};

}  // namespace teredo::net

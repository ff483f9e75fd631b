// Sends ICMPv6 errors (RFC 4443) from the relay to native IPv6 hosts, e.g. destination
// unreachable for a Teredo peer that never answered its bubbles (RFC 4380 §5.4.1) or for a
// destination outside the Teredo prefix (R10, docs/conformance.md).
//
// A raw IPPROTO_ICMPV6 socket lets the kernel choose the source address (the relay's native IPv6
// address towards that host) and compute the checksum (IPV6_CHECKSUM offset 2); it never receives
// (ICMP6_FILTER blocks every type). Miredo's relay does the same. Opening it needs CAP_NET_RAW;
// sending does not. Errors are paced for the whole process (RFC 4443 §2.4(f); Miredo: 10/s, no
// burst) by a shared token bucket: relay.icmp_errors_per_second on average, up to
// relay.icmp_errors_burst back to back, so a short scan still gets its errors and a long one gets
// the rate, never more.
//
// Thread-safety: send() from any thread. Ownership: owns the socket.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "net/fd.h"
#include "teredo/packet.h"
#include "teredo/shared_rate_limiter.h"

namespace teredo::relay {

class IcmpSender {
 public:
  /// Opens the socket; the error names the call that failed.
  Status open();

  bool valid() const { return fd_.valid(); }

  /// Sets the budget (rate 0: no errors at all). Thread-safe; applies to what follows.
  void setRate(double perSecond, double burst) { limiter_.configure(perSecond, burst); }

  /// True when an error may be sent now; takes the slot.
  bool allow(uint64_t nowNs) { return limiter_.allow(nowNs); }

  /// Sends type/code with the offending packet quoted (at most what fits in 1280 bytes) to the
  /// offending packet's source. False when the kernel refused it.
  bool send(uint8_t type, uint8_t code, Bytes offending);

 private:
  net::Fd fd_;
  SharedRateLimiter limiter_{SharedRateLimiter::ZeroRate::Nothing};
};

}  // namespace teredo::relay

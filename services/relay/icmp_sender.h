// Sends ICMPv6 errors (RFC 4443) from the relay to native IPv6 hosts, e.g. destination
// unreachable for a Teredo peer that never answered its bubbles (RFC 4380 §5.4.1) or for a
// destination outside the Teredo prefix (spec R10).
//
// A raw IPPROTO_ICMPV6 socket lets the kernel choose the source address (the relay's native IPv6
// address towards that host) and compute the checksum (IPV6_CHECKSUM offset 2); it never receives
// (ICMP6_FILTER blocks every type). Miredo's relay does the same. Opening it needs CAP_NET_RAW;
// sending does not. Errors are paced globally (Miredo: 10/s) with a lock-free timestamp.
//
// Thread-safety: send() from any thread. Ownership: owns the socket.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "net/fd.h"
#include "teredo/packet.h"

namespace teredo::relay {

class IcmpSender {
 public:
  /// Opens the socket; on failure returns false and sets `*error`.
  bool open(std::string* error);

  bool valid() const { return fd_.valid(); }

  /// True when an error may be sent now under `perSecond` (0 = never); takes the slot.
  bool allow(uint64_t nowNs, double perSecond);

  /// Sends type/code with the offending packet quoted (at most what fits in 1280 bytes) to the
  /// offending packet's source. False when the kernel refused it.
  bool send(uint8_t type, uint8_t code, Bytes offending);

 private:
  net::Fd fd_;
  std::atomic<uint64_t> lastNs_{0};
};

}  // namespace teredo::relay

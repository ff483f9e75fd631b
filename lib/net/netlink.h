// Minimal rtnetlink client (NETLINK_ROUTE) for link, IPv6 address and IPv6 route changes, so the
// relay never execs `ip`. Used by Tun; usable on its own (tests, other devices).
//
// Every request is sent with NLM_F_ACK and waits (at most kReplyTimeout) for the kernel's answer;
// errors name the operation, the device and the address or prefix.
//
// Byte order: Ipv6Addr is network order (as on the wire); MTU and interface indexes are host
// integers.
// Thread-safety: one Netlink object must not be used by two threads at once.
// Ownership: owns its socket (move-only). Requests need CAP_NET_ADMIN both when the socket is
// opened and when a request is sent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "net/fd.h"
#include "teredo/address.h"

namespace teredo::net {

/// Which routing table a route goes into and who it says it is from (rtnetlink's rtm_table,
/// rtm_protocol and RTA_PRIORITY). The defaults are a static route in the main table with the
/// kernel's default metric.
struct RouteAttributes {
  uint32_t table = 254;  ///< RT_TABLE_MAIN; any id in 1..2^32-1 except 0 (unspecified).
  uint8_t protocol = 4;  ///< RTPROT_STATIC; a speaker can select routes by it.
  uint32_t metric = 0;   ///< 0 = the kernel's default (1024 for IPv6).
  friend bool operator==(const RouteAttributes&, const RouteAttributes&) = default;
};

class Netlink {
 public:
  /// Receive timeout for one acknowledgement, so a request never blocks forever.
  static constexpr int kReplyTimeoutMs = 2000;

  static StatusOr<Netlink> open();
  Netlink() = default;
  Netlink(Netlink&&) = default;
  Netlink& operator=(Netlink&&) = default;

  /// `ifname` is only used in error messages.
  Status setMtu(int ifindex, std::string_view ifname, uint32_t mtu);
  Status setUp(int ifindex, std::string_view ifname, bool up);
  /// Adds `addr`/`prefixLen` to the device, without duplicate address detection (a point-to-point
  /// tunnel has no neighbours to collide with). Replaces an identical existing address.
  Status addAddress(int ifindex, std::string_view ifname, const Ipv6Addr& addr, uint8_t prefixLen);
  /// Adds a unicast route for prefix/len through the device in the main table. Fails with EEXIST
  /// when that exact route is already there.
  /// `fromLen` > 0 makes it a source-specific route (only packets from `from`/`fromLen`).
  Status addRoute(int ifindex, std::string_view ifname, const Ipv6Addr& prefix, uint8_t len,
                  const Ipv6Addr& from = {}, uint8_t fromLen = 0);
  Status deleteRoute(int ifindex, std::string_view ifname, const Ipv6Addr& prefix, uint8_t len,
                     const Ipv6Addr& from = {}, uint8_t fromLen = 0);

  /// Adds prefix/len through the device to `attrs.table`, or replaces the route to the same
  /// prefix with the same metric there: idempotent, so a caller can re-assert a route it owns.
  Status replaceRoute(int ifindex, std::string_view ifname, const Ipv6Addr& prefix, uint8_t len,
                      const RouteAttributes& attrs);
  /// Deletes that route; fails with ESRCH/ENOENT when it is not there.
  Status deleteRoute(int ifindex, std::string_view ifname, const Ipv6Addr& prefix, uint8_t len,
                     const RouteAttributes& attrs);

  bool valid() const { return fd_.valid(); }

 private:
  /// Sends the request in `buf` (an nlmsghdr followed by its body) and waits for its ACK.
  Status request(void* buf, const std::string& what);

  Fd fd_;
  uint32_t seq_ = 0;
};

}  // namespace teredo::net

// Teredo server decisions (RFC 4380 §5.3): a pure function from a parsed packet to one typed
// action. The socket loop only executes actions (docs/architecture.md); tests go table by table.
//
// Policies the RFC leaves open, as decided here and documented in docs/server-policies.md
// (same row numbers):
//  1. Secure qualification is not implemented: the nonce is echoed, ID and auth value ignored.
//  2. The cone bit in an RS selects the answering address; it is ignored everywhere else.
//  4. ICMPv6 to the server's own link-local address is not answered (LocalUnhandled), as Miredo.
//  5. Only bubbles of at most 128 bytes and, by default, ICMPv6 echo request/reply of at most
//     128 bytes are forwarded, both measured over everything relayed (the IPv6 packet and its
//     RFC 6081 trailers); all three limits are configurable.
//  6. RS hop limit 255, code 0 and checksum are enforced by default (`strict_rs`).
//  7. The RA uses Miredo's values (router lifetime 0, no L flag, retrans 2000 ms).
//  8. Packets from our clients to another server's clients are forwarded without an origin
//     indication (Miredo) unless `other_server_clients: drop`.
//  13. The hop limit is not decremented (Miredo; the server is a control-plane hop).
//
// Thread-safety: pure functions. Byte order: host order in ServerPolicy.
#pragma once

#include <cstdint>

#include "teredo/address.h"
#include "teredo/drop_reason.h"
#include "teredo/packet.h"

namespace teredo {

/// The socket a datagram arrived on or leaves from.
enum class ServerSocket : uint8_t { Primary = 0, Secondary = 1 };

/// What decideServer needs to know (a subset of the server config, resolved).
struct ServerPolicy {
  uint32_t primary = 0;
  uint32_t secondary = 0;
  uint16_t port = kTeredoPort;
  uint32_t prefix = kDefaultPrefix;
  bool strictRs = true;
  GlobalPolicy global;
  bool forwardNative = true;  ///< send small ICMPv6 from clients onto native IPv6
  bool echoOnly = true;       ///< forward only ICMPv6 echo request/reply (and bubbles)
  /// Non-bubbles: the IPv6 packet plus its RFC 6081 trailers, as relayed; 0 = no limit.
  uint16_t maxForwardBytes = 128;
  /// Bubbles: the 40-byte header plus trailers, as relayed (a reflector bound); 0 = no limit.
  uint16_t maxBubbleBytes = 128;
  bool forwardToOtherServers = true;  ///< S22: forward (no origin) vs drop
};

/// The action for one datagram.
struct ServerAction {
  enum class Kind : uint8_t {
    Drop,         ///< count `reason`
    SendRa,       ///< answer the RS from `from` to the packet's UDP source
    ForwardUdp,   ///< send `encapsulated` to `to` from the primary socket, maybe with origin
    ForwardIpv6,  ///< send the IPv6 packet (no trailers) onto native IPv6
  };
  Kind kind = Kind::Drop;
  DropReason reason = DropReason::None;  ///< a real reason when kind == Drop
  ServerSocket from = ServerSocket::Primary;
  Endpoint to;
  bool withOrigin = false;
  bool cone = false;  ///< SendRa: the RS had the cone bit

  static ServerAction drop(DropReason r) {
    ServerAction a;
    a.reason = r;
    return a;
  }
};

/// RFC 4380 §5.3.1 validation cases 1-7 in order, Miredo's loop guard, then §5.3.1 destination
/// processing and §5.3.2 for RSs. `source` is the datagram's UDP source, `arrivedOn` the socket.
/// Case 6 (destination: a Teredo address allocated through this server) accepts any source,
/// Teredo or not: a client behind a port-symmetric NAT reaches a peer's server from another
/// port than the one in its address (RFC 6081 §5.2, §6.1), and the origin indication tells the
/// peer where the packet really came from. A Teredo source matching neither case 5 nor 6 is
/// dropped as SpoofedSource.
ServerAction decideServer(const TeredoPacket& p, const Endpoint& source, ServerSocket arrivedOn,
                          const ServerPolicy& policy);

/// Builds the RA for an RS that decideServer answered with SendRa (RFC 4380 §5.3.2): into `out`,
/// returns the byte count (0 if `out` is too small). `mtu` 0 omits the MTU option.
size_t buildServerRa(MutableBytes out, const TeredoPacket& rs, const Endpoint& source,
                     const ServerPolicy& policy, uint16_t mtu);

}  // namespace teredo

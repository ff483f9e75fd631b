// Teredo UDP payload parsing and packet builders (RFC 4380 §5.1.1, §5.2.1, §5.3.2, §2.8;
// RFC 4861 §4.1-4.2; RFC 6081 §4 trailers).
//
// Parsing never allocates and never copies payload bytes: a TeredoPacket holds views into the
// caller's buffer, which must outlive it. Builders write into a caller-provided buffer and
// return the number of bytes written, or 0 when the buffer is too small.
// Thread-safety: all functions are pure and reentrant.
// Byte order: header fields in the structs below are host order; views are raw wire bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "teredo/address.h"
#include "teredo/drop_reason.h"

namespace teredo {

using Bytes = std::span<const uint8_t>;
using MutableBytes = std::span<uint8_t>;

inline constexpr size_t kIpv6HeaderSize = 40;
inline constexpr size_t kOriginSize = 8;
inline constexpr size_t kAuthFixedSize = 13;  ///< 4 + nonce 8 + confirmation 1
inline constexpr size_t kMaxTeredoPayload = 65507;
inline constexpr uint16_t kMinMtu = 1280;

inline constexpr uint8_t kNextHeaderHopByHop = 0;
inline constexpr uint8_t kNextHeaderTcp = 6;
inline constexpr uint8_t kNextHeaderUdp = 17;
inline constexpr uint8_t kNextHeaderRouting = 43;
inline constexpr uint8_t kNextHeaderFragment = 44;
inline constexpr uint8_t kNextHeaderIcmpv6 = 58;
inline constexpr uint8_t kNextHeaderNone = 59;

inline constexpr uint8_t kIcmpDestUnreachable = 1;
inline constexpr uint8_t kIcmpPacketTooBig = 2;
inline constexpr uint8_t kIcmpTimeExceeded = 3;
inline constexpr uint8_t kIcmpEchoRequest = 128;
inline constexpr uint8_t kIcmpEchoReply = 129;
inline constexpr uint8_t kIcmpRouterSolicitation = 133;
inline constexpr uint8_t kIcmpRouterAdvertisement = 134;

/// A tiny either-value-or-DropReason, so the packet path needs no exceptions. This is the packet
/// path's typed decision (no allocation), not an error type: errors everywhere else are
/// teredo::Status (lib/base/status.h). reason() is DropReason::None when ok().
template <class T>
class Result {
 public:
  Result(const T& value) : value_(value), ok_(true) {}        // NOLINT(implicit)
  Result(DropReason reason) : reason_(reason), ok_(false) {}  // NOLINT(implicit)
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const T& value() const { return value_; }
  const T& operator*() const { return value_; }
  const T* operator->() const { return &value_; }
  DropReason reason() const { return reason_; }

 private:
  T value_{};
  DropReason reason_ = DropReason::None;
  bool ok_;
};

/// The decoded fixed IPv6 header (RFC 8200 §3).
struct Ipv6Header {
  uint8_t trafficClass = 0;
  uint32_t flowLabel = 0;
  uint16_t payloadLength = 0;
  uint8_t nextHeader = 0;
  uint8_t hopLimit = 0;
  Ipv6Addr src;
  Ipv6Addr dst;
};

/// Authentication encapsulation (RFC 4380 §5.1.1), views into the datagram.
struct AuthHeader {
  Bytes clientId;
  Bytes authValue;
  std::array<uint8_t, 8> nonce{};
  uint8_t confirmation = 0;
};

/// RFC 6081 §4 trailer types (type-length-value, after the IPv6 packet).
inline constexpr uint8_t kTrailerNonce = 0x01;              ///< 4-byte nonce
inline constexpr uint8_t kTrailerAlternateAddress = 0x03;   ///< 2 reserved + N x (IPv4, port)
inline constexpr uint8_t kTrailerNeighborDiscovery = 0x04;  ///< DiscoveryType + 3 reserved
inline constexpr uint8_t kTrailerRandomPort = 0x05;         ///< 2-byte port
/// Neighbor Discovery Option trailer DiscoveryType values (RFC 6081 §4, Server Load Reduction).
inline constexpr uint8_t kDiscoverySolicitation = 0;
inline constexpr uint8_t kDiscoveryAdvertisement = 1;
/// At most this many trailers are walked per packet; more is a malformed packet (bounded work).
inline constexpr size_t kMaxTrailers = 16;
inline constexpr size_t kAlternateAddressEntry = 6;  ///< IPv4 (4) + port (2)

/// The RFC 6081 trailers of one packet, decoded. Views point into the datagram.
struct Trailers {
  uint8_t count = 0;  ///< trailers present, known and unknown
  bool hasNonce = false;
  std::array<uint8_t, 4> nonce{};
  /// The address list of an Alternate Address trailer: N entries of kAlternateAddressEntry
  /// bytes (IPv4, port, network order); empty when there is none.
  Bytes alternateAddresses;
  bool hasDiscovery = false;
  uint8_t discoveryType = 0;  ///< kDiscoverySolicitation or kDiscoveryAdvertisement
  bool hasRandomPort = false;
  uint16_t randomPort = 0;
  uint8_t unknown = 0;  ///< trailers of types not defined by RFC 6081, skipped
};

/// Walks the trailers after an IPv6 packet (RFC 6081 §4): each is type (1 byte), length of the
/// value (1 byte), value. Unknown types are skipped. MalformedTrailer when a trailer runs past
/// the datagram, a defined type has the wrong length (Nonce 4, Neighbor Discovery 4 with
/// DiscoveryType 0 or 1, Random Port 2, Alternate Address 2 + 6 N with 1 <= N <= 4), a defined
/// type appears twice, an Alternate Address trailer rides on anything but a bubble (RFC 6081
/// allows it in bubbles only), or there are more than kMaxTrailers.
Result<Trailers> parseTrailers(Bytes trailers, bool bubble);

/// A parsed Teredo UDP payload.
struct TeredoPacket {
  bool hasAuth = false;
  AuthHeader auth;
  bool hasOrigin = false;
  Endpoint origin;     ///< de-obfuscated origin indication
  Ipv6Header ip;       ///< decoded header of `ipv6`
  Bytes ipv6;          ///< the IPv6 packet: exactly 40 + payload length bytes
  Bytes trailers;      ///< bytes after the IPv6 packet (RFC 6081 trailers), maybe empty
  Trailers trailer;    ///< `trailers`, decoded and validated
  Bytes encapsulated;  ///< `ipv6` followed by `trailers`: what a server relays over UDP

  Bytes ipv6Payload() const { return ipv6.subspan(kIpv6HeaderSize); }
  /// RFC 4380 §2.8: payload length 0 and next header 59; trailers do not matter (RFC 6081).
  bool isBubble() const { return ip.payloadLength == 0 && ip.nextHeader == kNextHeaderNone; }
  bool isIcmpv6() const { return ip.nextHeader == kNextHeaderIcmpv6; }
};

/// Parses a Teredo UDP payload: [auth] [origin] IPv6 [trailers] (RFC 4380 §5.1.1, §5.2.3).
/// Accepts 40 + payload length <= remaining bytes (RFC 6081 trailers). Rejects auth or origin
/// headers that run past the datagram, `00 02`-style unknown encapsulations, IP version != 6,
/// fewer than 40 bytes of IPv6, a payload length larger than the data, and malformed trailers
/// (parseTrailers()).
Result<TeredoPacket> parsePacket(Bytes datagram);

/// Decodes a 40-byte IPv6 header; `data` must hold at least 40 bytes.
Ipv6Header decodeIpv6Header(Bytes data);

/// Internet checksum of ICMPv6 (RFC 4443 §2.3) over the pseudo-header and `message`. Returns
/// the value to store in the checksum field (the one's complement of the sum). Verifying a
/// received message: the result over the message as received is 0.
uint16_t icmpv6Checksum(const Ipv6Addr& src, const Ipv6Addr& dst, Bytes message);

/// Origin indication (RFC 4380 §5.1.1): 00 00 ~port ~addr. Writes 8 bytes.
size_t writeOrigin(MutableBytes out, const Endpoint& origin);

/// Authentication header as a Teredo server echoes it (RFC 4380 §5.3.2): ID-len = AU-len = 0,
/// the client's nonce, confirmation byte. Writes 13 bytes.
size_t writeAuthEcho(MutableBytes out, const std::array<uint8_t, 8>& nonce, uint8_t confirmation);

/// A fixed IPv6 header. Writes 40 bytes.
size_t writeIpv6Header(MutableBytes out, const Ipv6Addr& src, const Ipv6Addr& dst,
                       uint8_t nextHeader, uint16_t payloadLength, uint8_t hopLimit);

/// A bubble (RFC 4380 §2.8): IPv6 header only, next header 59, payload length 0. Hop limit 0
/// as Miredo sends it; receivers accept any value. Writes 40 bytes.
size_t writeBubble(MutableBytes out, const Ipv6Addr& src, const Ipv6Addr& dst);

/// A Neighbor Discovery Option trailer (RFC 6081 §4): 04 04 <discoveryType> 00 00 00. Writes 6
/// bytes.
size_t writeDiscoveryTrailer(MutableBytes out, uint8_t discoveryType);

/// What goes into a Router Advertisement (RFC 4380 §5.3.2; values of Miredo's profile,
/// docs/server-policies.md row 7): router lifetime 0, retrans timer 2000 ms, one PIO with A=1,
/// lifetimes 0xffffffff.
struct RouterAdvertisementParams {
  uint32_t prefix = kDefaultPrefix;  ///< first 32 bits of the advertised /64
  uint32_t serverPrimary = 0;        ///< embedded in the /64 and in the RA source
  Endpoint origin;                   ///< where the RS came from (mapped address and port)
  Ipv6Addr destination;              ///< the RS's link-local source
  bool echoAuth = false;             ///< the RS carried an authentication header
  std::array<uint8_t, 8> nonce{};
  uint16_t mtu = kMinMtu;  ///< 0: no MTU option (109-byte Microsoft shape)
};

/// Writes the whole UDP payload of an RA: [auth 13] origin 8, IPv6 header 40, RA 16, PIO 32,
/// [MTU option 8]. 117 bytes with auth and MTU option (Miredo shape), 109 with auth and without
/// the MTU option (Microsoft shape).
size_t writeRouterAdvertisement(MutableBytes out, const RouterAdvertisementParams& p);

/// Writes an ICMPv6 error (RFC 4443 §3) from `src` to the source of `offending`, quoting as much
/// of `offending` as fits in the IPv6 minimum MTU (1280 bytes total). Hop limit 255.
size_t writeIcmpv6Error(MutableBytes out, const Ipv6Addr& src, uint8_t type, uint8_t code,
                        uint32_t param, Bytes offending);

/// The parameters of an RS carried in a Teredo packet, after the checks of RFC 4380 §5.3.1 case 4
/// and RFC 4861 §6.1.1 that the caller chose to apply.
/// Checks that `p` is an RS from a link-local source to ff02::2 with at least 8 bytes of ICMPv6
/// (options allowed). `strict` adds RFC 4861 §6.1.1: hop limit 255, code 0 and a valid ICMPv6
/// checksum (Miredo checks none of them). Returns the RS's cone bit (bit 64 of its source).
Result<bool> checkRouterSolicitation(const TeredoPacket& p, bool strict);

}  // namespace teredo

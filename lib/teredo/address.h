// Teredo addresses and IPv4/IPv6 address helpers (RFC 4380 §4, RFC 5991 §3 flags).
//
// Byte order: every IPv4 address and port in these APIs is a plain integer in *host* byte order
// (192.0.2.45 is 0xC000022D). IPv6 addresses are 16 bytes in network order, as on the wire.
// Thread-safety: all functions are pure and reentrant. Ownership: values only, no heap.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace teredo {

/// UDP port of a Teredo server (RFC 4380 §2.7).
inline constexpr uint16_t kTeredoPort = 3544;
/// The Global Teredo IPv6 Service Prefix 2001:0000::/32 (RFC 4380 §2.6), as its first 32 bits.
inline constexpr uint32_t kDefaultPrefix = 0x20010000;
/// Microsoft's pre-RFC experimental prefix 3ffe:831f::/32 still used by old Windows XP clients.
inline constexpr uint32_t kLegacyPrefix = 0x3ffe831f;

/// Flags field of a Teredo address, RFC 4380 §4 as updated by RFC 5991 §3: `CRAAAAUG AAAAAAAA`.
inline constexpr uint16_t kFlagCone = 0x8000;
inline constexpr uint16_t kFlagRandomMask = 0x3CFF;
/// R, U and G: sent as 0, ignored on receipt (never used to reject an address).
inline constexpr uint16_t kFlagReservedMask = 0x4300;

/// An IPv4 endpoint, host byte order.
struct Endpoint {
  uint32_t addr = 0;
  uint16_t port = 0;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

/// An IPv6 address in network byte order.
struct Ipv6Addr {
  std::array<uint8_t, 16> bytes{};

  friend bool operator==(const Ipv6Addr&, const Ipv6Addr&) = default;

  /// The 32-bit word at bit offset 32*i, host order.
  constexpr uint32_t word(int i) const {
    return (uint32_t{bytes[4 * i]} << 24) | (uint32_t{bytes[4 * i + 1]} << 16) |
           (uint32_t{bytes[4 * i + 2]} << 8) | uint32_t{bytes[4 * i + 3]};
  }
  constexpr void setWord(int i, uint32_t v) {
    bytes[4 * i] = static_cast<uint8_t>(v >> 24);
    bytes[4 * i + 1] = static_cast<uint8_t>(v >> 16);
    bytes[4 * i + 2] = static_cast<uint8_t>(v >> 8);
    bytes[4 * i + 3] = static_cast<uint8_t>(v);
  }
  static Ipv6Addr fromBytes(const uint8_t* p) {
    Ipv6Addr a;
    std::memcpy(a.bytes.data(), p, 16);
    return a;
  }

  constexpr bool isUnspecified() const {
    for (uint8_t b : bytes) {
      if (b != 0) {
        return false;
      }
    }
    return true;
  }
  constexpr bool isLoopback() const {
    for (int i = 0; i < 15; ++i) {
      if (bytes[i] != 0) {
        return false;
      }
    }
    return bytes[15] == 1;
  }
  /// fe80::/10.
  constexpr bool isLinkLocal() const { return bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80; }
  /// ff00::/8.
  constexpr bool isMulticast() const { return bytes[0] == 0xff; }
  /// Global scope in the sense of RFC 4380 §5.3.1 ("MUST NOT forward" otherwise): not
  /// unspecified, loopback, link-local, site-local (fec0::/10), or multicast.
  constexpr bool isGlobalScope() const {
    return !isUnspecified() && !isLoopback() && !isLinkLocal() && !isMulticast() &&
           !(bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0xc0);
  }
};

/// ff02::2, the all-routers link-local multicast address (RS destination, RFC 4380 §5.2.1).
Ipv6Addr allRoutersMulticast();

/// The fields embedded in a Teredo address, de-obfuscated (host order).
struct TeredoFields {
  uint32_t server = 0;      ///< the qualifying server's primary IPv4
  uint16_t flags = 0;       ///< C R A A A A U G A A A A A A A A
  uint16_t mappedPort = 0;  ///< the client's NAT-mapped port (stored XOR 0xFFFF)
  uint32_t mappedAddr = 0;  ///< the client's NAT-mapped IPv4 (stored XOR 0xFFFFFFFF)
  friend bool operator==(const TeredoFields&, const TeredoFields&) = default;
  Endpoint mapped() const { return Endpoint{mappedAddr, mappedPort}; }
  bool cone() const { return (flags & kFlagCone) != 0; }
};

/// True when the first 32 bits of `a` equal `prefix`.
constexpr bool isTeredo(const Ipv6Addr& a, uint32_t prefix) {
  return a.word(0) == prefix;
}

/// Decodes bits 32..127 of `a` (RFC 4380 §4). Does not check the prefix; reserved flag bits are
/// returned as they are (RFC 5991: ignored on receipt).
TeredoFields decodeTeredo(const Ipv6Addr& a);

/// Builds `prefix`:server:flags:~port:~addr.
Ipv6Addr encodeTeredo(uint32_t prefix, const TeredoFields& f);

/// The server's link-local address used as RA source (RFC 4380 §5.3.2 with §4 obfuscation):
/// fe80::8000:f227:~primary.
Ipv6Addr serverLinkLocal(uint32_t primary);

/// Which special-purpose IPv4 blocks beyond RFC 4380's list count as non-global.
struct GlobalPolicy {
  /// RFC 6890 blocks that postdate RFC 4380: 100.64.0.0/10 (shared CGN space), 192.0.0.0/24,
  /// 198.18.0.0/15 (benchmarking) and 240.0.0.0/4 (reserved). Default on: treated as
  /// non-global. Turn off for labs that use these ranges.
  bool rfc6890NonGlobal = true;
  friend bool operator==(const GlobalPolicy&, const GlobalPolicy&) = default;
};

/// The "global unicast IPv4" test of RFC 4380 §5.2.4 (used by §5.3.1 case 3, §5.3.2, §5.4.1):
/// false for 0/8, 127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, 192.88.99/24, 224/4 and
/// 255.255.255.255, plus the RFC 6890 blocks when the policy says so. Directed broadcasts of
/// attached subnets cannot be known here; sockets never set SO_BROADCAST instead.
bool isGlobalUnicast(uint32_t addr, const GlobalPolicy& policy = {});

/// Textual forms. Parsing accepts only dotted-quad IPv4 and RFC 4291 IPv6 literals.
std::optional<uint32_t> parseIpv4(std::string_view text);
std::optional<Ipv6Addr> parseIpv6(std::string_view text);
std::string formatIpv4(uint32_t addr);
std::string formatIpv6(const Ipv6Addr& a);
std::string formatEndpoint(const Endpoint& e);

}  // namespace teredo

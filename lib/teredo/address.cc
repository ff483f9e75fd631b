#include "teredo/address.h"

#include <arpa/inet.h>

#include <string>

namespace teredo {

Ipv6Addr allRoutersMulticast() {
  Ipv6Addr a;
  a.bytes[0] = 0xff;
  a.bytes[1] = 0x02;
  a.bytes[15] = 0x02;
  return a;
}

TeredoFields decodeTeredo(const Ipv6Addr& a) {
  TeredoFields f;
  f.server = a.word(1);
  const uint32_t w2 = a.word(2);
  f.flags = static_cast<uint16_t>(w2 >> 16);
  f.mappedPort = static_cast<uint16_t>(~w2 & 0xffff);  // RFC 4380 §4: port XOR 0xFFFF
  f.mappedAddr = ~a.word(3);                           // address XOR 0xFFFFFFFF
  return f;
}

Ipv6Addr encodeTeredo(uint32_t prefix, const TeredoFields& f) {
  Ipv6Addr a;
  a.setWord(0, prefix);
  a.setWord(1, f.server);
  a.setWord(2, (uint32_t{f.flags} << 16) | static_cast<uint16_t>(~f.mappedPort));
  a.setWord(3, ~f.mappedAddr);
  return a;
}

Ipv6Addr serverLinkLocal(uint32_t primary) {
  // RFC 4380 §5.3.2: fe80::/64 + cone flag + obfuscated port 3544 + obfuscated server IPv4.
  // Miredo 1.1.6 and Windows Vista+ agree on the obfuscated port (0xf227).
  Ipv6Addr a;
  a.bytes[0] = 0xfe;
  a.bytes[1] = 0x80;
  a.setWord(2, (uint32_t{kFlagCone} << 16) | static_cast<uint16_t>(~kTeredoPort));
  a.setWord(3, ~primary);
  return a;
}

namespace {

constexpr bool inBlock(uint32_t addr, uint32_t net, int len) {
  const uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
  return (addr & mask) == net;
}

}  // namespace

bool isGlobalUnicast(uint32_t addr, const GlobalPolicy& policy) {
  // RFC 4380 §5.2.4, the list of non-global IPv4 ranges.
  struct Block {
    uint32_t net;
    int len;
  };
  static constexpr Block kRfc4380[] = {
      {0x00000000, 8},   // 0.0.0.0/8 "this network"
      {0x7f000000, 8},   // 127.0.0.0/8 loopback
      {0x0a000000, 8},   // 10.0.0.0/8 private
      {0xac100000, 12},  // 172.16.0.0/12 private
      {0xc0a80000, 16},  // 192.168.0.0/16 private
      {0xa9fe0000, 16},  // 169.254.0.0/16 link-local
      {0xc0586300, 24},  // 192.88.99.0/24 6to4 relay anycast
      {0xe0000000, 4},   // 224.0.0.0/4 multicast
      {0xffffffff, 32},  // limited broadcast
  };
  // RFC 6890 special-purpose blocks that RFC 4380 predates (policy switch).
  static constexpr Block kRfc6890[] = {
      {0x64400000, 10},  // 100.64.0.0/10 shared address space (CGN)
      {0xc0000000, 24},  // 192.0.0.0/24 IETF protocol assignments
      {0xc6120000, 15},  // 198.18.0.0/15 benchmarking
      {0xf0000000, 4},   // 240.0.0.0/4 reserved
  };
  for (const Block& b : kRfc4380) {
    if (inBlock(addr, b.net, b.len)) {
      return false;
    }
  }
  if (policy.rfc6890NonGlobal) {
    for (const Block& b : kRfc6890) {
      if (inBlock(addr, b.net, b.len)) {
        return false;
      }
    }
  }
  return true;
}

std::optional<uint32_t> parseIpv4(std::string_view text) {
  // inet_pton(AF_INET) accepts exactly the dotted-quad form, unlike inet_aton.
  if (text.empty() || text.size() > 15) {
    return std::nullopt;
  }
  char buf[16];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  in_addr a{};
  if (inet_pton(AF_INET, buf, &a) != 1) {
    return std::nullopt;
  }
  return ntohl(a.s_addr);
}

std::optional<Ipv6Addr> parseIpv6(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  Ipv6Addr a;
  if (inet_pton(AF_INET6, buf, a.bytes.data()) != 1) {
    return std::nullopt;
  }
  return a;
}

std::string formatIpv4(uint32_t addr) {
  return std::to_string(addr >> 24) + "." + std::to_string((addr >> 16) & 0xff) + "." +
         std::to_string((addr >> 8) & 0xff) + "." + std::to_string(addr & 0xff);
}

std::string formatIpv6(const Ipv6Addr& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, a.bytes.data(), buf, sizeof buf);
  return buf;
}

std::string formatEndpoint(const Endpoint& e) {
  return formatIpv4(e.addr) + ":" + std::to_string(e.port);
}

}  // namespace teredo

#include "teredo/packet.h"

#include <algorithm>
#include <cstring>

#include "teredo/byte_order.h"

namespace teredo {
namespace {

// One's-complement sum of 16-bit words (RFC 1071), not yet folded.
uint32_t sum16(Bytes data, uint32_t acc) {
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) {
    acc += load16(&data[i]);
  }
  if (i < data.size()) {
    acc += uint32_t{data[i]} << 8;
  }
  return acc;
}

uint16_t fold(uint32_t acc) {
  while (acc >> 16) {
    acc = (acc & 0xffff) + (acc >> 16);
  }
  return static_cast<uint16_t>(acc);
}

}  // namespace

Ipv6Header decodeIpv6Header(Bytes d) {
  Ipv6Header h;
  const uint32_t w0 = load32(d.data());
  h.trafficClass = static_cast<uint8_t>(w0 >> 20);
  h.flowLabel = w0 & 0xfffff;
  h.payloadLength = load16(&d[4]);
  h.nextHeader = d[6];
  h.hopLimit = d[7];
  h.src = Ipv6Addr::fromBytes(&d[8]);
  h.dst = Ipv6Addr::fromBytes(&d[24]);
  return h;
}

Result<TeredoPacket> parsePacket(Bytes d) {
  TeredoPacket p;
  size_t off = 0;
  // RFC 4380 §5.1.1: authentication (00 01) must come before origin indication (00 00).
  if (d.size() >= 2 && d[0] == 0x00 && d[1] == 0x01) {
    if (d.size() < 4) {
      return DropReason::TruncatedAuth;
    }
    const size_t idLen = d[2];
    const size_t auLen = d[3];
    const size_t total = kAuthFixedSize + idLen + auLen;
    if (d.size() < total) {
      return DropReason::TruncatedAuth;
    }
    p.hasAuth = true;
    p.auth.clientId = d.subspan(4, idLen);
    p.auth.authValue = d.subspan(4 + idLen, auLen);
    std::memcpy(p.auth.nonce.data(), &d[4 + idLen + auLen], 8);
    p.auth.confirmation = d[4 + idLen + auLen + 8];
    off = total;
  }
  if (d.size() - off >= 2 && d[off] == 0x00 && d[off + 1] == 0x00) {
    if (d.size() - off < kOriginSize + kIpv6HeaderSize) {
      return DropReason::TruncatedOrigin;
    }
    p.hasOrigin = true;
    p.origin.port = static_cast<uint16_t>(~load16(&d[off + 2]));
    p.origin.addr = ~load32(&d[off + 4]);
    off += kOriginSize;
  }
  const Bytes rest = d.subspan(off);
  if (rest.empty()) {
    return DropReason::TruncatedIpv6;
  }
  if ((rest[0] >> 4) != 6) {
    // Covers `00 02 ...` and any other unknown encapsulation type: never read as IPv6.
    return rest[0] == 0x00 ? DropReason::UnknownEncapsulation : DropReason::NotIpv6;
  }
  if (rest.size() < kIpv6HeaderSize) {
    return DropReason::TruncatedIpv6;
  }
  p.ip = decodeIpv6Header(rest);
  // RFC 4380 §5.2.3 and RFC 6081 §4: 40 + payload length must fit; extra bytes are trailers.
  const size_t ipLen = kIpv6HeaderSize + p.ip.payloadLength;
  if (ipLen > rest.size()) {
    return DropReason::BadPayloadLength;
  }
  p.ipv6 = rest.first(ipLen);
  p.trailers = rest.subspan(ipLen);
  p.encapsulated = rest;
  if (!p.trailers.empty()) {
    const Result<Trailers> t = parseTrailers(p.trailers, p.isBubble());
    if (!t) {
      return t.reason();
    }
    p.trailer = *t;
  }
  return p;
}

Result<Trailers> parseTrailers(Bytes d, bool bubble) {
  Trailers t;
  size_t off = 0;
  while (off < d.size()) {
    if (t.count == kMaxTrailers || d.size() - off < 2) {
      return DropReason::MalformedTrailer;
    }
    const uint8_t type = d[off];
    const size_t len = d[off + 1];
    if (d.size() - off - 2 < len) {
      return DropReason::MalformedTrailer;  // runs past the datagram
    }
    const Bytes value = d.subspan(off + 2, len);
    ++t.count;
    switch (type) {
      case kTrailerNonce:
        if (t.hasNonce || len != t.nonce.size()) {
          return DropReason::MalformedTrailer;
        }
        t.hasNonce = true;
        std::memcpy(t.nonce.data(), value.data(), t.nonce.size());
        break;
      case kTrailerAlternateAddress: {
        // 2 reserved bytes, then 1 to 4 (IPv4, port) entries; only ever sent in bubbles.
        const size_t entries = len < 2 ? 0 : (len - 2) / kAlternateAddressEntry;
        if (!bubble || !t.alternateAddresses.empty() || len < 2 ||
            (len - 2) % kAlternateAddressEntry != 0 || entries < 1 || entries > 4) {
          return DropReason::MalformedTrailer;
        }
        t.alternateAddresses = value.subspan(2);
        break;
      }
      case kTrailerNeighborDiscovery:
        if (t.hasDiscovery || len != 4 ||
            (value[0] != kDiscoverySolicitation && value[0] != kDiscoveryAdvertisement)) {
          return DropReason::MalformedTrailer;
        }
        t.hasDiscovery = true;
        t.discoveryType = value[0];
        break;
      case kTrailerRandomPort:
        if (t.hasRandomPort || len != 2) {
          return DropReason::MalformedTrailer;
        }
        t.hasRandomPort = true;
        t.randomPort = load16(value.data());
        break;
      default:
        ++t.unknown;  // RFC 6081 §4: a receiver skips trailers it does not know
        break;
    }
    off += 2 + len;
  }
  return t;
}

uint16_t icmpv6Checksum(const Ipv6Addr& src, const Ipv6Addr& dst, Bytes message) {
  // RFC 8200 §8.1 pseudo-header: src, dst, upper-layer length (32 bits), zero, next header.
  uint32_t acc = sum16(Bytes(src.bytes), 0);
  acc = sum16(Bytes(dst.bytes), acc);
  const uint32_t len = static_cast<uint32_t>(message.size());
  acc += len >> 16;
  acc += len & 0xffff;
  acc += kNextHeaderIcmpv6;
  acc = sum16(message, acc);
  return static_cast<uint16_t>(~fold(acc));
}

size_t writeOrigin(MutableBytes out, const Endpoint& origin) {
  if (out.size() < kOriginSize) {
    return 0;
  }
  out[0] = 0;
  out[1] = 0;
  store16(&out[2], static_cast<uint16_t>(~origin.port));
  store32(&out[4], ~origin.addr);
  return kOriginSize;
}

size_t writeAuthEcho(MutableBytes out, const std::array<uint8_t, 8>& nonce, uint8_t confirmation) {
  if (out.size() < kAuthFixedSize) {
    return 0;
  }
  out[0] = 0x00;
  out[1] = 0x01;
  out[2] = 0;  // ID-len
  out[3] = 0;  // AU-len
  std::memcpy(&out[4], nonce.data(), 8);
  out[12] = confirmation;
  return kAuthFixedSize;
}

size_t writeIpv6Header(MutableBytes out, const Ipv6Addr& src, const Ipv6Addr& dst,
                       uint8_t nextHeader, uint16_t payloadLength, uint8_t hopLimit) {
  if (out.size() < kIpv6HeaderSize) {
    return 0;
  }
  store32(&out[0], 0x60000000);
  store16(&out[4], payloadLength);
  out[6] = nextHeader;
  out[7] = hopLimit;
  std::memcpy(&out[8], src.bytes.data(), 16);
  std::memcpy(&out[24], dst.bytes.data(), 16);
  return kIpv6HeaderSize;
}

size_t writeBubble(MutableBytes out, const Ipv6Addr& src, const Ipv6Addr& dst) {
  return writeIpv6Header(out, src, dst, kNextHeaderNone, 0, 0);
}

size_t writeDiscoveryTrailer(MutableBytes out, uint8_t discoveryType) {
  if (out.size() < 6) {
    return 0;
  }
  out[0] = kTrailerNeighborDiscovery;
  out[1] = 4;
  out[2] = discoveryType;
  out[3] = 0;
  out[4] = 0;
  out[5] = 0;
  return 6;
}

size_t writeRouterAdvertisement(MutableBytes out, const RouterAdvertisementParams& p) {
  constexpr size_t kRaSize = 16;
  constexpr size_t kPioSize = 32;
  constexpr size_t kMtuOptSize = 8;
  const size_t icmpLen = kRaSize + kPioSize + (p.mtu != 0 ? kMtuOptSize : 0);
  const size_t total = (p.echoAuth ? kAuthFixedSize : 0) + kOriginSize + kIpv6HeaderSize + icmpLen;
  if (out.size() < total) {
    return 0;
  }
  size_t off = 0;
  if (p.echoAuth) {
    // RFC 4380 §5.3.2: echo the nonce; confirmation 0 (no secure qualification: nothing to renew).
    off += writeAuthEcho(out.subspan(off), p.nonce, 0);
  }
  off += writeOrigin(out.subspan(off), p.origin);
  const Ipv6Addr src = serverLinkLocal(p.serverPrimary);
  off += writeIpv6Header(out.subspan(off), src, p.destination, kNextHeaderIcmpv6,
                         static_cast<uint16_t>(icmpLen), 255);
  uint8_t* icmp = &out[off];
  std::memset(icmp, 0, icmpLen);
  icmp[0] = kIcmpRouterAdvertisement;
  // Cur hop limit 0, M/O 0, router lifetime 0, reachable time 0 (Miredo profile).
  store32(&icmp[12], 2000);  // retrans timer, ms
  uint8_t* pio = icmp + kRaSize;
  pio[0] = 3;                    // Prefix Information (RFC 4861 §4.6.2)
  pio[1] = 4;                    // length in units of 8 bytes
  pio[2] = 64;                   // prefix length
  pio[3] = 0x40;                 // A flag only
  store32(&pio[4], 0xffffffff);  // valid lifetime
  store32(&pio[8], 0xffffffff);  // preferred lifetime
  store32(&pio[16], p.prefix);
  store32(&pio[20], p.serverPrimary);  // RFC 4380 §5.3.2: always the primary address
  if (p.mtu != 0) {
    uint8_t* mtu = pio + kPioSize;
    mtu[0] = 5;  // MTU option (RFC 4861 §4.6.4)
    mtu[1] = 1;
    store32(&mtu[4], p.mtu);
  }
  store16(&icmp[2], icmpv6Checksum(src, p.destination, Bytes(icmp, icmpLen)));
  return total;
}

size_t writeIcmpv6Error(MutableBytes out, const Ipv6Addr& src, uint8_t type, uint8_t code,
                        uint32_t param, Bytes offending) {
  if (offending.size() < kIpv6HeaderSize) {
    return 0;
  }
  // RFC 4443 §2.4(c): quote as much as fits without exceeding the minimum MTU.
  constexpr size_t kMaxTotal = kMinMtu;
  const size_t quote = std::min(offending.size(), kMaxTotal - kIpv6HeaderSize - 8);
  const size_t icmpLen = 8 + quote;
  if (out.size() < kIpv6HeaderSize + icmpLen) {
    return 0;
  }
  const Ipv6Addr dst = Ipv6Addr::fromBytes(&offending[8]);
  writeIpv6Header(out, src, dst, kNextHeaderIcmpv6, static_cast<uint16_t>(icmpLen), 255);
  uint8_t* icmp = &out[kIpv6HeaderSize];
  icmp[0] = type;
  icmp[1] = code;
  icmp[2] = 0;
  icmp[3] = 0;
  store32(&icmp[4], param);
  std::memcpy(&icmp[8], offending.data(), quote);
  store16(&icmp[2], icmpv6Checksum(src, dst, Bytes(icmp, icmpLen)));
  return kIpv6HeaderSize + icmpLen;
}

Result<bool> checkRouterSolicitation(const TeredoPacket& p, bool strict) {
  // RFC 4380 §5.3.1 case 4: link-local source, destination ff02::2, ICMPv6 RS.
  if (!p.isIcmpv6() || p.ip.payloadLength < 8 ||
      p.ipv6[kIpv6HeaderSize] != kIcmpRouterSolicitation) {
    return DropReason::RsMalformed;
  }
  if (!p.ip.src.isLinkLocal() || p.ip.dst != allRoutersMulticast()) {
    return DropReason::RsBadSource;
  }
  if (strict) {
    // RFC 4861 §6.1.1: hop limit 255, code 0, valid checksum.
    if (p.ip.hopLimit != 255) {
      return DropReason::RsBadHopLimit;
    }
    if (p.ipv6[kIpv6HeaderSize + 1] != 0) {
      return DropReason::RsMalformed;
    }
    if (icmpv6Checksum(p.ip.src, p.ip.dst, p.ipv6Payload()) != 0) {
      return DropReason::RsBadChecksum;
    }
  }
  return (p.ip.src.bytes[8] & 0x80) != 0;  // cone bit = bit 64 of the source (RFC 4380 §5.3.2)
}

}  // namespace teredo

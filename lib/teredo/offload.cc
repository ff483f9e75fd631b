#include "teredo/offload.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "teredo/byte_order.h"

namespace teredo {
namespace {

uint16_t loadLe16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | p[1] << 8);
}
void storeLe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

// TCP data offset in bytes (RFC 9293 §3.1).
size_t tcpHeaderLength(const uint8_t* tcp) {
  return static_cast<size_t>(tcp[12] >> 4) * 4;
}

uint16_t fold(uint64_t acc) {
  while (acc >> 16) {
    acc = (acc & 0xffff) + (acc >> 16);
  }
  return static_cast<uint16_t>(acc);
}

// The one's complement sum (RFC 1071) of `data` as 16-bit big-endian words, a trailing odd byte
// padded with zero, folded to 16 bits. The sum does not depend on byte order (RFC 1071 §2(B)), so
// it is added up in native 32-bit words and swapped once at the end on little-endian hosts.
// The caller starts every piece at an even offset of the checksummed data.
uint16_t sumBytes(Bytes data) {
  const uint8_t* p = data.data();
  size_t n = data.size();
  uint64_t acc = 0;
  while (n >= 8) {
    uint32_t a;
    uint32_t b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + 4, 4);
    acc += uint64_t{a} + b;
    p += 8;
    n -= 8;
  }
  if (n >= 4) {
    uint32_t a;
    std::memcpy(&a, p, 4);
    acc += a;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t a;
    std::memcpy(&a, p, 2);
    acc += a;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    const uint8_t last[2] = {p[0], 0};
    uint16_t a;
    std::memcpy(&a, last, 2);
    acc += a;
  }
  uint16_t s = fold(acc);
  if constexpr (std::endian::native == std::endian::little) {
    s = static_cast<uint16_t>(s << 8 | s >> 8);
  }
  return s;
}

// RFC 8200 §8.1: source, destination, upper-layer packet length (32 bits), three zero bytes,
// next header (the upper-layer protocol, not the first extension header).
uint64_t pseudoHeaderSum(const uint8_t* ipv6, uint32_t upperLength, uint8_t protocol) {
  uint64_t acc = sumBytes(Bytes(ipv6 + 8, 32));
  acc += upperLength >> 16;
  acc += upperLength & 0xffff;
  acc += protocol;
  return acc;
}

// The checksum to store over the upper-layer packet `l4` (its checksum field must hold 0).
uint16_t transportChecksum(const uint8_t* ipv6, uint8_t protocol, Bytes l4) {
  uint64_t acc = pseudoHeaderSum(ipv6, static_cast<uint32_t>(l4.size()), protocol);
  acc += sumBytes(l4);
  return static_cast<uint16_t>(~fold(acc));
}

bool isIpv6Basic(Bytes p, OffloadError* err) {
  if (p.size() < kIpv6HeaderSize) {
    *err = OffloadError::TruncatedIpv6;
    return false;
  }
  if ((p[0] >> 4) != 6) {
    *err = OffloadError::NotIpv6;
    return false;
  }
  if (kIpv6HeaderSize + load16(&p[4]) != p.size()) {
    *err = OffloadError::BadPayloadLength;
    return false;
  }
  return true;
}

// The upper-layer header behind the extension headers (RFC 8200 §4): its protocol and offset.
struct Chain {
  OffloadError error = OffloadError::None;
  uint8_t protocol = 0;
  size_t offset = kIpv6HeaderSize;
};

Chain walkChain(Bytes p) {
  Chain c;
  uint8_t nh = p[6];
  size_t off = kIpv6HeaderSize;
  for (size_t count = 0;; ++count) {
    if (nh != kNextHeaderHopByHop && nh != kNextHeaderDestOptions && nh != kNextHeaderRouting &&
        nh != kNextHeaderFragment) {
      c.protocol = nh;
      c.offset = off;
      return c;
    }
    // RFC 8200 §4.1: Hop-by-Hop only right after the IPv6 header. A Fragment header never comes
    // with offloads (the kernel fragments after segmentation). A Routing header with segments
    // left would make the pseudo-header use another destination (§8.1): not supported.
    if (count >= kMaxExtensionHeaders || (nh == kNextHeaderHopByHop && count > 0) ||
        nh == kNextHeaderFragment || p.size() - off < 8) {
      c.error = OffloadError::BadExtensionHeader;
      return c;
    }
    if (nh == kNextHeaderRouting && p[off + 3] != 0) {
      c.error = OffloadError::BadExtensionHeader;
      return c;
    }
    const size_t len = (size_t{p[off + 1]} + 1) * 8;
    if (p.size() - off < len) {
      c.error = OffloadError::BadExtensionHeader;
      return c;
    }
    nh = p[off];
    off += len;
  }
}

constexpr uint8_t kKnownFlags = kVirtioNetHdrNeedsCsum | kVirtioNetHdrDataValid;

}  // namespace

VirtioNetHdr decodeVirtioNetHdr(Bytes data) {
  VirtioNetHdr h;
  h.flags = data[0];
  h.gsoType = data[1];
  h.hdrLen = loadLe16(&data[2]);
  h.gsoSize = loadLe16(&data[4]);
  h.csumStart = loadLe16(&data[6]);
  h.csumOffset = loadLe16(&data[8]);
  return h;
}

void encodeVirtioNetHdr(const VirtioNetHdr& h, std::span<uint8_t, kVirtioNetHdrSize> out) {
  out[0] = h.flags;
  out[1] = h.gsoType;
  storeLe16(&out[2], h.hdrLen);
  storeLe16(&out[4], h.gsoSize);
  storeLe16(&out[6], h.csumStart);
  storeLe16(&out[8], h.csumOffset);
}

std::string_view offloadErrorLabel(OffloadError e) {
  constexpr std::string_view kLabels[] = {
#define TEREDO_OFFLOAD_LABEL(name, label) label,
      TEREDO_OFFLOAD_ERRORS(TEREDO_OFFLOAD_LABEL)
#undef TEREDO_OFFLOAD_LABEL
  };
  const auto i = static_cast<size_t>(e);
  return i < kOffloadErrorCount ? kLabels[i] : std::string_view();
}

DropReason offloadDropReason(OffloadError e) {
  switch (e) {
    case OffloadError::None:
      return DropReason::None;
    case OffloadError::NotIpv6:
      return DropReason::NotIpv6;
    case OffloadError::TruncatedIpv6:
      return DropReason::TruncatedIpv6;
    case OffloadError::BadPayloadLength:
      return DropReason::BadPayloadLength;
    default:
      // The packet is IPv6 but its virtio_net_hdr cannot be honoured.
      return DropReason::OffloadMalformed;
  }
}

OffloadError analyzeOffload(const VirtioNetHdr& hdr, Bytes packet, OffloadLayout* layout) {
  OffloadError err = OffloadError::None;
  if (!isIpv6Basic(packet, &err)) {
    return err;
  }
  if ((hdr.flags & ~kKnownFlags) != 0) {
    return OffloadError::UnknownFlags;
  }
  if (hdr.hdrLen > packet.size()) {
    return OffloadError::BadHdrLen;
  }
  const uint8_t gso = hdr.gsoType & static_cast<uint8_t>(~kGsoEcnBit);
  if (gso != kGsoNone && gso != kGsoTcpv6 && gso != kGsoUdpL4) {
    return OffloadError::UnknownGsoType;
  }
  if ((hdr.gsoType & kGsoEcnBit) != 0 && gso != kGsoTcpv6) {
    return OffloadError::BadEcn;
  }
  const bool needsCsum = (hdr.flags & kVirtioNetHdrNeedsCsum) != 0;
  OffloadLayout l;
  l.protocol = packet[6];
  l.transportOffset = kIpv6HeaderSize;
  l.maxSegmentSize = packet.size();
  if (gso == kGsoNone && !needsCsum) {
    if (layout != nullptr) {
      *layout = l;
    }
    return OffloadError::None;
  }
  const Chain chain = walkChain(packet);
  if (chain.error != OffloadError::None) {
    return chain.error;
  }
  l.protocol = chain.protocol;
  l.transportOffset = static_cast<uint16_t>(chain.offset);
  const size_t l4Available = packet.size() - chain.offset;
  if (needsCsum) {
    if (hdr.csumStart != chain.offset) {
      return OffloadError::BadCsumStart;
    }
    const uint16_t want = chain.protocol == kNextHeaderTcp      ? kTcpChecksumOffset
                          : chain.protocol == kNextHeaderUdp    ? kUdpChecksumOffset
                          : chain.protocol == kNextHeaderIcmpv6 ? kIcmpv6ChecksumOffset
                                                                : hdr.csumOffset;
    if (hdr.csumOffset != want || size_t{hdr.csumOffset} + 2 > l4Available) {
      return OffloadError::BadCsumOffset;
    }
  }
  if (gso != kGsoNone) {
    size_t l4Header = 0;
    if (gso == kGsoTcpv6) {
      if (chain.protocol != kNextHeaderTcp) {
        return OffloadError::GsoProtocolMismatch;
      }
      if (l4Available < kTcpMinHeaderSize) {
        return OffloadError::TruncatedTransport;
      }
      const uint8_t* tcp = &packet[chain.offset];
      l4Header = tcpHeaderLength(tcp);
      if (l4Header < kTcpMinHeaderSize || l4Header > l4Available) {
        return OffloadError::TruncatedTransport;
      }
      if ((tcp[13] & (kTcpSyn | kTcpRst)) != 0) {
        return OffloadError::BadTcpFlags;
      }
    } else {
      if (chain.protocol != kNextHeaderUdp) {
        return OffloadError::GsoProtocolMismatch;
      }
      if (l4Available < kUdpHeaderSize) {
        return OffloadError::TruncatedTransport;
      }
      l4Header = kUdpHeaderSize;
    }
    if (hdr.gsoSize == 0) {
      return OffloadError::BadGsoSize;
    }
    l.headerSize = static_cast<uint16_t>(chain.offset + l4Header);
    l.payloadSize = packet.size() - l.headerSize;
    l.segments = l.payloadSize == 0 ? 1 : (l.payloadSize + hdr.gsoSize - 1) / hdr.gsoSize;
    l.maxSegmentSize = l.headerSize + std::min<size_t>(l.payloadSize, hdr.gsoSize);
  }
  if (layout != nullptr) {
    *layout = l;
  }
  return OffloadError::None;
}

SplitResult splitOffload(const VirtioNetHdr& hdr, MutableBytes packet, MutableBytes arena,
                         std::span<Bytes> out, size_t firstSegment) {
  SplitResult r;
  OffloadLayout l;
  r.error = analyzeOffload(hdr, packet, &l);
  if (!r.ok()) {
    return r;
  }
  r.totalSegments = l.segments;
  r.nextSegment = std::min(firstSegment, l.segments);
  if (r.nextSegment >= r.totalSegments) {
    return r;
  }
  if (out.empty()) {
    r.error = OffloadError::BufferTooSmall;
    return r;
  }
  const uint8_t gso = hdr.gsoType & static_cast<uint8_t>(~kGsoEcnBit);
  if (gso == kGsoNone) {
    if ((hdr.flags & kVirtioNetHdrNeedsCsum) != 0) {
      // The kernel's software fallback: the field holds the pseudo-header sum already.
      uint8_t* field = &packet[size_t{hdr.csumStart} + hdr.csumOffset];
      uint16_t sum = static_cast<uint16_t>(~sumBytes(Bytes(packet).subspan(hdr.csumStart)));
      store16(field, sum == 0 ? 0xffff : sum);
    }
    out[0] = packet;
    r.count = 1;
    r.nextSegment = 1;
    return r;
  }
  const bool tcp = gso == kGsoTcpv6;
  const size_t hdrSize = l.headerSize;
  const size_t gsoSize = hdr.gsoSize;
  const uint8_t* src = packet.data();
  size_t used = 0;
  for (size_t i = r.nextSegment; i < l.segments && r.count < out.size(); ++i) {
    const size_t offset = i * gsoSize;  // into the payload
    const size_t chunk = std::min(gsoSize, l.payloadSize - std::min(offset, l.payloadSize));
    const size_t segSize = hdrSize + chunk;
    if (arena.size() - used < segSize) {
      break;
    }
    uint8_t* seg = arena.data() + used;
    std::memcpy(seg, src, hdrSize);
    if (chunk != 0) {
      std::memcpy(seg + hdrSize, src + hdrSize + offset, chunk);
    }
    store16(seg + 4, static_cast<uint16_t>(segSize - kIpv6HeaderSize));
    uint8_t* l4 = seg + l.transportOffset;
    const size_t l4Size = segSize - l.transportOffset;
    if (tcp) {
      store32(l4 + 4, load32(l4 + 4) + static_cast<uint32_t>(offset));
      uint8_t flags = l4[13];
      if (i + 1 < l.segments) {
        flags &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
      }
      if (i > 0) {
        flags &= static_cast<uint8_t>(~kTcpCwr);
      }
      l4[13] = flags;
      store16(l4 + kTcpChecksumOffset, 0);
      store16(l4 + kTcpChecksumOffset, transportChecksum(seg, kNextHeaderTcp, Bytes(l4, l4Size)));
    } else {
      store16(l4 + 4, static_cast<uint16_t>(l4Size));
      store16(l4 + kUdpChecksumOffset, 0);
      const uint16_t sum = transportChecksum(seg, kNextHeaderUdp, Bytes(l4, l4Size));
      store16(l4 + kUdpChecksumOffset, sum == 0 ? 0xffff : sum);
    }
    out[r.count++] = Bytes(seg, segSize);
    used += segSize;
    r.nextSegment = i + 1;
  }
  if (r.count == 0) {
    r.error = OffloadError::BufferTooSmall;
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// coalesce

namespace {

// A TCP segment coalesce() may merge (see the header for the conditions).
struct Candidate {
  bool ok = false;
  bool badChecksum = false;
  size_t tcpHeader = 0;
  size_t payload = 0;
  uint32_t seq = 0;
  bool psh = false;
};

Candidate classify(Bytes p) {
  Candidate c;
  if (p.size() < kIpv6HeaderSize + kTcpMinHeaderSize || (p[0] >> 4) != 6 ||
      p[6] != kNextHeaderTcp || kIpv6HeaderSize + load16(&p[4]) != p.size()) {
    return c;
  }
  const uint8_t* tcp = &p[kIpv6HeaderSize];
  const size_t thlen = tcpHeaderLength(tcp);
  const size_t l4Size = p.size() - kIpv6HeaderSize;
  if (thlen < kTcpMinHeaderSize || thlen >= l4Size) {
    return c;  // cut header or no payload
  }
  if ((tcp[12] & 0x0f) != 0 || (tcp[13] & ~kTcpPsh) != kTcpAck) {
    return c;
  }
  // The exact value, so that a split of the super-packet gives back the same bytes (a checksum
  // of 0xffff where 0 is computed verifies too, RFC 1071, but would not round-trip).
  uint64_t acc = pseudoHeaderSum(p.data(), static_cast<uint32_t>(l4Size), kNextHeaderTcp);
  acc += sumBytes(Bytes(tcp, kTcpChecksumOffset));
  acc += sumBytes(Bytes(tcp + kTcpChecksumOffset + 2, l4Size - kTcpChecksumOffset - 2));
  if (static_cast<uint16_t>(~fold(acc)) != load16(tcp + kTcpChecksumOffset)) {
    c.badChecksum = true;
    return c;
  }
  c.ok = true;
  c.tcpHeader = thlen;
  c.payload = l4Size - thlen;
  c.seq = load32(tcp + 4);
  c.psh = (tcp[13] & kTcpPsh) != 0;
  return c;
}

// Same flow and same header bytes except payload length, sequence number, PSH and checksum.
bool sameHeaders(Bytes a, Bytes b, size_t thlen) {
  const uint8_t* x = a.data();
  const uint8_t* y = b.data();
  if (std::memcmp(x, y, 4) != 0 || std::memcmp(x + 6, y + 6, 34) != 0) {
    return false;
  }
  x += kIpv6HeaderSize;
  y += kIpv6HeaderSize;
  if ((x[12] >> 4) != (y[12] >> 4)) {
    return false;
  }
  return std::memcmp(x, y, 4) == 0 && std::memcmp(x + 8, y + 8, 5) == 0 &&
         std::memcmp(x + 14, y + 14, 2) == 0 && std::memcmp(x + 18, y + 18, thlen - 18) == 0;
}

struct Flow {
  bool used = false;
  uint32_t output = 0;  // index into out.packets
  uint32_t first = 0;   // input index of the first segment
  uint32_t last = 0;    // input index of the last segment
  uint32_t nextSeq = 0;
  size_t gsoSize = 0;
  size_t tcpHeader = 0;
  size_t packetSize = 0;  // IPv6 bytes so far
};

// A packet that is not merged closes the super-packets of the flows it may belong to, so that no
// later segment of theirs overtakes it: the TCP flow it names, or, when its header chain cannot
// be read to the end, every flow between the same addresses. UDP and ICMPv6 belong to none.
void closeRelatedFlows(Bytes p, std::span<const Bytes> inputs, std::span<Flow> flows) {
  if (p.size() < kIpv6HeaderSize || (p[0] >> 4) != 6) {
    return;  // not a packet the receiver of any flow would take
  }
  const uint8_t* ports = nullptr;
  if (p[6] == kNextHeaderTcp) {
    if (p.size() < kIpv6HeaderSize + 4) {
      return;
    }
    ports = &p[kIpv6HeaderSize];
  } else if (p[6] == kNextHeaderUdp || p[6] == kNextHeaderIcmpv6) {
    return;
  } else {
    const size_t len = std::min<size_t>(p.size(), kIpv6HeaderSize + load16(&p[4]));
    const Chain chain = walkChain(p.first(len));
    if (chain.error == OffloadError::None) {
      if (chain.protocol == kNextHeaderUdp || chain.protocol == kNextHeaderIcmpv6) {
        return;
      }
      if (chain.protocol == kNextHeaderTcp && len - chain.offset >= 4) {
        ports = &p[chain.offset];
      }
    }
  }
  for (Flow& f : flows) {
    if (!f.used) {
      continue;
    }
    const Bytes first = inputs[f.first];
    if (std::memcmp(&first[8], &p[8], 32) == 0 &&
        (ports == nullptr || std::memcmp(&first[kIpv6HeaderSize], ports, 4) == 0)) {
      f.used = false;
    }
  }
}

Flow* findFlow(Bytes p, std::span<const Bytes> inputs, std::span<Flow> flows) {
  for (Flow& f : flows) {
    if (f.used) {
      const Bytes first = inputs[f.first];
      if (std::memcmp(&first[8], &p[8], 32) == 0 &&
          std::memcmp(&first[kIpv6HeaderSize], &p[kIpv6HeaderSize], 4) == 0) {
        return &f;
      }
    }
  }
  return nullptr;
}

// A free entry, or the one whose super-packet was opened first (its super-packet is closed).
Flow& slotFor(std::span<Flow> flows) {
  Flow* oldest = &flows[0];
  for (Flow& f : flows) {
    if (!f.used) {
      return f;
    }
    if (f.output < oldest->output) {
      oldest = &f;
    }
  }
  return *oldest;
}

}  // namespace

CoalesceResult coalesce(std::span<const Bytes> inputs, const CoalesceParams& params,
                        const CoalesceOutput& out) {
  CoalesceResult r;
  const size_t n = inputs.size();
  if (out.packets.size() < n || out.pieces.size() < coalescePiecesFor(n) ||
      out.arena.size() < coalesceArenaFor(n) || out.scratch.size() < n || n >= kCoalesceEnd) {
    r.error = OffloadError::BufferTooSmall;
    return r;
  }
  const size_t maxFlows = std::clamp<size_t>(params.maxFlows, 1, kMaxCoalesceFlows);
  const size_t maxSegments = std::clamp<size_t>(params.maxSegments, 2, 65535);
  const size_t maxPacket = std::min(params.maxPacketSize, kMaxIpv6Packet);
  std::array<Flow, kMaxCoalesceFlows> table{};
  const std::span<Flow> flows(table.data(), maxFlows);

  // Pass 1: assign every input to an output packet, in order; segments of one super-packet are
  // linked through out.scratch.
  size_t np = 0;
  for (size_t i = 0; i < n; ++i) {
    const Bytes p = inputs[i];
    const auto idx = static_cast<uint32_t>(i);
    out.scratch[i] = kCoalesceEnd;
    const Candidate c = classify(p);
    if (!c.ok) {
      r.badChecksum += c.badChecksum ? 1 : 0;
      closeRelatedFlows(p, inputs, flows);
      out.packets[np++] = CoalescedPacket{{}, 0, 0, idx, 1, 0};
      continue;
    }
    if (Flow* f = findFlow(p, inputs, flows)) {
      CoalescedPacket& cp = out.packets[f->output];
      if (c.tcpHeader == f->tcpHeader && c.seq == f->nextSeq && c.payload <= f->gsoSize &&
          cp.segments < maxSegments && f->packetSize + c.payload <= maxPacket &&
          sameHeaders(inputs[f->first], p, c.tcpHeader)) {
        out.scratch[f->last] = idx;
        f->last = idx;
        f->nextSeq += static_cast<uint32_t>(c.payload);
        f->packetSize += c.payload;
        ++cp.segments;
        if (c.psh || c.payload < f->gsoSize) {
          f->used = false;  // PSH or a short segment ends a super-packet
        }
        continue;
      }
      f->used = false;  // out of sequence or different headers: close, start anew
    }
    const auto output = static_cast<uint32_t>(np);
    out.packets[np++] = CoalescedPacket{{}, 0, 0, idx, 1, 0};
    if (!c.psh) {
      Flow& f = slotFor(flows);
      f = Flow{true,      output,      idx,     idx, c.seq + static_cast<uint32_t>(c.payload),
               c.payload, c.tcpHeader, p.size()};
    }
  }

  // Pass 2: headers and pieces.
  size_t piece = 0;
  size_t arenaUsed = 0;
  for (size_t k = 0; k < np; ++k) {
    CoalescedPacket& cp = out.packets[k];
    const Bytes first = inputs[cp.firstInput];
    cp.firstPiece = static_cast<uint32_t>(piece);
    if (cp.segments == 1) {
      cp.hdr = VirtioNetHdr{};
      cp.pieceCount = 1;
      cp.size = static_cast<uint32_t>(first.size());
      out.pieces[piece++] = first;
      continue;
    }
    const size_t thlen = tcpHeaderLength(&first[kIpv6HeaderSize]);
    const size_t hdrSize = kIpv6HeaderSize + thlen;
    uint8_t* h = out.arena.data() + arenaUsed;
    arenaUsed += hdrSize;
    std::memcpy(h, first.data(), hdrSize);
    out.pieces[piece] = Bytes(h, hdrSize);
    size_t total = 0;
    uint32_t j = cp.firstInput;
    uint32_t last = j;
    for (uint32_t m = 0; m < cp.segments; ++m) {
      const Bytes seg = inputs[j];
      out.pieces[piece + 1 + m] = seg.subspan(hdrSize);
      total += seg.size() - hdrSize;
      last = j;
      j = out.scratch[j];
    }
    uint8_t* tcp = h + kIpv6HeaderSize;
    store16(h + 4, static_cast<uint16_t>(thlen + total));
    tcp[13] |= inputs[last][kIpv6HeaderSize + 13] & kTcpPsh;
    // NEEDS_CSUM: the field holds the pseudo-header sum, not complemented, over the whole TCP
    // length; the kernel adjusts the length for each segment it cuts.
    store16(tcp + kTcpChecksumOffset,
            fold(pseudoHeaderSum(h, static_cast<uint32_t>(thlen + total), kNextHeaderTcp)));
    cp.hdr = VirtioNetHdr{kVirtioNetHdrNeedsCsum,
                          kGsoTcpv6,
                          static_cast<uint16_t>(hdrSize),
                          static_cast<uint16_t>(first.size() - hdrSize),
                          static_cast<uint16_t>(kIpv6HeaderSize),
                          kTcpChecksumOffset};
    cp.pieceCount = cp.segments + 1;
    cp.size = static_cast<uint32_t>(hdrSize + total);
    piece += cp.pieceCount;
    ++r.superPackets;
    r.merged += cp.segments;
  }
  r.packets = np;
  r.pieces = piece;
  return r;
}

CoalesceStorage::CoalesceStorage(size_t maxInputs)
    : maxInputs_(maxInputs),
      packets_(maxInputs),
      pieces_(coalescePiecesFor(maxInputs)),
      arena_(coalesceArenaFor(maxInputs)),
      scratch_(maxInputs) {}

CoalesceOutput CoalesceStorage::output() {
  return CoalesceOutput{packets_, pieces_, arena_, scratch_};
}

}  // namespace teredo

// libFuzzer target: splitOffload() (lib/teredo/offload.h) on every virtio_net_hdr + packet a
// vnet tun read could hold. Input: 10 bytes of header (little endian, as on the tun), then the
// IPv6 packet; the header's bytes are also taken as a second, smaller buffer configuration.
// Invariants (any violation is __builtin_trap): analyzeOffload() and splitOffload() agree;
// every output is a well-formed IPv6 packet no larger than the layout's maxSegmentSize, lies in
// the caller's buffers, and for GSO carries a TCP/UDP checksum that verifies (checked here
// independently), consecutive sequence numbers and, joined, exactly the input's payload;
// splitting with tiny buffers over many calls gives the same bytes as one call with large ones.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "teredo/byte_order.h"
#include "teredo/offload.h"

namespace {

using namespace teredo;

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

// Naive RFC 1071 sum over the RFC 8200 §8.1 pseudo-header and the upper-layer packet at `off`.
uint16_t upperSum(Bytes p, size_t off, uint8_t proto) {
  const size_t len = p.size() - off;
  uint32_t acc = static_cast<uint32_t>(len >> 16) + (len & 0xffff) + proto;
  for (size_t i = 8; i < 40; i += 2) {
    acc += load16(&p[i]);
  }
  for (size_t i = off; i < p.size(); i += 2) {
    acc += static_cast<uint32_t>(p[i] << 8) + (i + 1 < p.size() ? p[i + 1] : 0);
  }
  while (acc > 0xffff) {
    acc = (acc & 0xffff) + (acc >> 16);
  }
  return static_cast<uint16_t>(acc);
}

bool inside(Bytes part, const uint8_t* base, size_t size) {
  return part.data() >= base && part.data() + part.size() <= base + size;
}

// Splits the whole read in calls of at most `outSlots` packets and an arena of `arenaSize`
// bytes, appending every packet to `flat` (lengths in `sizes`). Returns the first call's result
// error, or None.
OffloadError splitAll(const VirtioNetHdr& hdr, std::vector<uint8_t>& packet, size_t arenaSize,
                      size_t outSlots, std::vector<uint8_t>* flat, std::vector<size_t>* sizes,
                      const OffloadLayout& layout) {
  std::vector<uint8_t> arena(arenaSize);
  std::vector<Bytes> out(outSlots);
  size_t next = 0;
  for (size_t calls = 0; calls <= layout.segments; ++calls) {
    const SplitResult r = splitOffload(hdr, packet, arena, out, next);
    if (!r.ok()) {
      check(r.count == 0);
      return r.error;
    }
    check(r.totalSegments == layout.segments);
    check(r.count <= outSlots && r.nextSegment == next + r.count);
    for (size_t i = 0; i < r.count; ++i) {
      const Bytes s = out[i];
      check(inside(s, arena.data(), arena.size()) || inside(s, packet.data(), packet.size()));
      flat->insert(flat->end(), s.begin(), s.end());
      sizes->push_back(s.size());
    }
    next = r.nextSegment;
    if (r.done()) {
      return OffloadError::None;
    }
    check(r.count > 0);
  }
  __builtin_trap();  // more calls than segments: no progress
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kVirtioNetHdrSize) {
    return 0;
  }
  const VirtioNetHdr hdr = decodeVirtioNetHdr(Bytes(data, kVirtioNetHdrSize));
  const std::vector<uint8_t> original(data + kVirtioNetHdrSize, data + size);

  OffloadLayout layout;
  const OffloadError analyzed = analyzeOffload(hdr, original, &layout);

  // One call, buffers large enough for everything.
  std::vector<uint8_t> packet = original;
  std::vector<uint8_t> flat;
  std::vector<size_t> sizes;
  const OffloadError e = splitAll(hdr, packet, layout.segments * (layout.maxSegmentSize + 1) + 1,
                                  layout.segments + 1, &flat, &sizes, layout);
  check(e == analyzed);
  if (e != OffloadError::None) {
    check(packet == original);  // a refused read is left alone
    return 0;
  }
  check(sizes.size() == layout.segments);
  const uint8_t gso = hdr.gsoType & static_cast<uint8_t>(~kGsoEcnBit);
  size_t at = 0;
  size_t payloadAt = layout.headerSize;
  const size_t l4 = layout.transportOffset;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const Bytes s(flat.data() + at, sizes[i]);
    at += sizes[i];
    check(s.size() >= kIpv6HeaderSize && (s[0] >> 4) == 6);
    check(kIpv6HeaderSize + load16(&s[4]) == s.size());
    check(s.size() <= layout.maxSegmentSize);
    if (gso == kGsoNone) {
      check(s.size() == original.size());
      // Only the checksum field may have changed.
      for (size_t k = 0; k < s.size(); ++k) {
        const bool field = (hdr.flags & kVirtioNetHdrNeedsCsum) != 0 &&
                           k >= size_t{hdr.csumStart} + hdr.csumOffset &&
                           k < size_t{hdr.csumStart} + hdr.csumOffset + 2;
        check(field || s[k] == original[k]);
      }
      continue;
    }
    // Headers up to the upper layer copied; payload is the next piece of the original's.
    check(std::memcmp(s.data(), original.data(), 4) == 0);
    check(std::memcmp(s.data() + 6, original.data() + 6, l4 - 6) == 0);
    const size_t chunk = s.size() - layout.headerSize;
    check(chunk <= hdr.gsoSize && (chunk == hdr.gsoSize || i + 1 == sizes.size()));
    check(std::memcmp(s.data() + layout.headerSize, original.data() + payloadAt, chunk) == 0);
    if (gso == kGsoTcpv6) {
      check(upperSum(s, l4, kNextHeaderTcp) == 0xffff);
      check(load32(&s[l4 + 4]) ==
            load32(&original[l4 + 4]) + static_cast<uint32_t>(payloadAt - layout.headerSize));
      const uint8_t flags = s[l4 + 13];
      const uint8_t want = original[l4 + 13];
      check((flags & (kTcpFin | kTcpPsh)) ==
            (i + 1 == sizes.size() ? (want & (kTcpFin | kTcpPsh)) : 0));
      check((flags & kTcpCwr) == (i == 0 ? (want & kTcpCwr) : 0));
    } else {
      check(upperSum(s, l4, kNextHeaderUdp) == 0xffff);
      check(load16(&s[l4 + 4]) == s.size() - l4);
    }
    payloadAt += chunk;
  }
  if (gso != kGsoNone) {
    check(payloadAt == original.size());
  }

  // Again in pieces: tiny buffers chosen by the header's bytes give the same packets.
  if (gso != kGsoNone) {
    std::vector<uint8_t> again = original;
    std::vector<uint8_t> flat2;
    std::vector<size_t> sizes2;
    const size_t slots = 1 + data[2] % 3;
    const size_t arena = layout.maxSegmentSize * (1 + data[3] % 2);
    check(splitAll(hdr, again, arena, slots, &flat2, &sizes2, layout) == OffloadError::None);
    check(flat2 == flat && sizes2 == sizes);
    std::vector<uint8_t> tooSmall(layout.maxSegmentSize - 1);
    Bytes one[1];
    check(splitOffload(hdr, again, tooSmall, one, 0).error == OffloadError::BufferTooSmall);
  }
  return 0;
}

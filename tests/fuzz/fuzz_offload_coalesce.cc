// libFuzzer target: coalesce() (lib/teredo/offload.h) on batches of packets as the relay
// decapsulates them from Teredo clients. Random bytes almost never form TCP segments with valid
// checksums, so the input mostly describes segments that this harness builds (three flows,
// valid checksums, with variations that must or must not prevent merging), mixed with raw
// packets taken as they are. Input: byte 0 = limits, then records:
//   kind < 0xc0: a TCP segment, 3 more bytes (payload size, variations, header tweaks);
//   kind >= 0xc0: a raw packet, 1 length byte then that many bytes (kind & 1: fix its IPv6
//   payload length, next header TCP and TCP checksum, so that it may merge).
// Invariants (any violation is __builtin_trap): bounded outputs (packets, pieces, arena, segments,
// bytes); a passed-through packet is its input, unchanged, with a zero header; a super-packet's
// pieces are its header in the arena and views into its inputs; splitting it with its header
// (splitOffload) gives back exactly the inputs it was made of (so the kernel's segmentation
// recreates what the clients sent); every input comes out exactly once; within a TCP flow the
// order is kept; no segment with a bad checksum is ever merged.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "teredo/byte_order.h"
#include "teredo/offload.h"

namespace {

using namespace teredo;
using Packet = std::vector<uint8_t>;

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

// Naive RFC 1071 sum over the RFC 8200 §8.1 pseudo-header and the TCP segment at offset 40.
uint16_t tcpSum(const Packet& p) {
  const size_t len = p.size() - 40;
  uint32_t acc = static_cast<uint32_t>(len >> 16) + (len & 0xffff) + kNextHeaderTcp;
  for (size_t i = 8; i < p.size(); i += 2) {
    acc += static_cast<uint32_t>(p[i] << 8) + (i + 1 < p.size() ? p[i + 1] : 0);
  }
  while (acc > 0xffff) {
    acc = (acc & 0xffff) + (acc >> 16);
  }
  return static_cast<uint16_t>(acc);
}

void setTcpChecksum(Packet& p) {
  store16(&p[56], 0);
  store16(&p[56], static_cast<uint16_t>(~tcpSum(p)));
}

bool isMergeableShape(const Packet& p) {
  return p.size() >= 61 && (p[0] >> 4) == 6 && p[6] == kNextHeaderTcp &&
         40u + load16(&p[4]) == p.size();
}

struct Flow {
  uint8_t srcLast;
  uint16_t sport;
  uint32_t next;
};

Packet segment(Flow& f, uint8_t sizeSel, uint8_t vary, uint8_t tweak, size_t salt) {
  constexpr size_t kMss = 100;
  const size_t payload = (sizeSel & 0x80) != 0 ? kMss : 1 + sizeSel % 120;
  const bool ext = (vary & 0x80) != 0;
  const bool ts = (vary & 0x40) != 0;
  const size_t thlen = ts ? 32 : 20;
  const size_t l4 = ext ? 48 : 40;
  Packet p(l4 + thlen + payload);
  p[0] = static_cast<uint8_t>(0x60 | ((tweak & 2) != 0 ? 1 : 0));  // traffic class
  p[1] = 0x02;                                                     // flow label
  store16(&p[4], static_cast<uint32_t>(p.size() - 40));
  p[6] = ext ? kNextHeaderDestOptions : kNextHeaderTcp;
  p[7] = (tweak & 1) != 0 ? 63 : 64;
  p[8] = 0x20;
  p[9] = 0x01;
  p[23] = f.srcLast;
  p[24] = 0x20;
  p[25] = 0x01;
  p[39] = 2;
  if (ext) {
    p[40] = kNextHeaderTcp;
    p[42] = 1;  // PadN
    p[43] = 4;
  }
  uint8_t* tcp = &p[l4];
  store16(tcp, f.sport);
  store16(tcp + 2, 443);
  const uint32_t seq = f.next + ((vary & 0x10) != 0 ? 1 : 0);
  store32(tcp + 4, seq);
  store32(tcp + 8, 7000 + ((vary & 0x08) != 0 ? 1 : 0));
  tcp[12] = static_cast<uint8_t>(thlen / 4 << 4);
  uint8_t flags = kTcpAck;
  flags |= (vary & 0x01) != 0 ? kTcpPsh : 0;
  flags |= (vary & 0x02) != 0 ? kTcpFin : 0;
  flags |= (vary & 0x20) != 0 ? kTcpSyn : 0;
  tcp[13] = flags;
  store16(tcp + 14, (tweak & 4) != 0 ? 999 : 1000);
  store16(tcp + 18, (tweak & 8) != 0 ? 1 : 0);
  if (ts) {
    const uint8_t opts[12] = {1, 1, 8, 10, 0, 0, 0, static_cast<uint8_t>(tweak >> 4), 0, 0, 0, 9};
    std::memcpy(tcp + 20, opts, sizeof(opts));
  }
  for (size_t i = 0; i < payload; ++i) {
    tcp[thlen + i] = static_cast<uint8_t>(salt * 31 + i);
  }
  if (!ext) {
    setTcpChecksum(p);
  }
  if ((vary & 0x04) != 0) {
    tcp[16] ^= 0x40;  // corrupt
  }
  f.next = seq + static_cast<uint32_t>(payload);
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) {
    return 0;
  }
  CoalesceParams params;
  params.maxFlows = 1 + (data[0] & 3);
  params.maxSegments = 2 + ((data[0] >> 2) & 7);
  if ((data[0] & 0x20) != 0) {
    params.maxPacketSize = 40 + 32 + 350;
  }
  if ((data[0] & 0x40) != 0) {
    params.maxSegments = 64;
  }
  std::array<Flow, 3> flows = {{{1, 1000, 1}, {1, 1001, 5000}, {9, 1000, 90000}}};
  std::vector<Packet> inputs;
  size_t at = 1;
  while (at < size && inputs.size() < 256) {
    const uint8_t kind = data[at++];
    if (kind < 0xc0) {
      if (size - at < 3) {
        break;
      }
      inputs.push_back(
          segment(flows[kind % 3], data[at], data[at + 1], data[at + 2], inputs.size()));
      at += 3;
      continue;
    }
    if (at >= size) {
      break;
    }
    const size_t want = data[at++];
    const size_t len = std::min(want, size - at);
    Packet raw(data + at, data + at + len);
    at += len;
    if ((kind & 1) != 0 && raw.size() >= 61) {
      raw[0] = static_cast<uint8_t>(0x60 | (raw[0] & 0x0f));
      raw[6] = kNextHeaderTcp;
      store16(&raw[4], static_cast<uint32_t>(raw.size() - 40));
      setTcpChecksum(raw);
    }
    inputs.push_back(std::move(raw));
  }

  const size_t n = inputs.size();
  std::vector<Bytes> views(inputs.begin(), inputs.end());
  CoalesceStorage storage(n);
  const CoalesceOutput out = storage.output();
  const CoalesceResult r = coalesce(views, params, out);
  check(r.ok());
  check(r.packets <= n && r.pieces <= coalescePiecesFor(n) && r.superPackets <= n / 2);

  std::vector<int> delivered(n);
  std::vector<size_t> order;
  size_t merged = 0;
  size_t pieceAt = 0;
  std::vector<uint8_t> arena(kMaxIpv6Packet);
  std::vector<Bytes> segs(70);
  for (const CoalescedPacket& cp : storage.packets(r)) {
    check(cp.firstPiece == pieceAt && cp.pieceCount >= 1 &&
          cp.firstPiece + cp.pieceCount <= r.pieces);
    pieceAt += cp.pieceCount;
    check(cp.firstInput < n);
    const auto pieces = storage.pieces().subspan(cp.firstPiece, cp.pieceCount);
    Packet joined;
    for (const Bytes b : pieces) {
      joined.insert(joined.end(), b.begin(), b.end());
    }
    check(joined.size() == cp.size);
    if (cp.segments == 1) {
      check(cp.hdr == VirtioNetHdr{} && cp.pieceCount == 1);
      check(pieces[0].data() == inputs[cp.firstInput].data() && joined == inputs[cp.firstInput]);
      check(storage.links()[cp.firstInput] == kCoalesceEnd);
      ++delivered[cp.firstInput];
      order.push_back(cp.firstInput);
      continue;
    }
    check(cp.segments >= 2 && cp.segments <= params.maxSegments &&
          cp.pieceCount == cp.segments + 1);
    check(cp.size <= params.maxPacketSize && pieces[0].size() <= kMaxCoalescedHeader);
    check(pieces[0].data() >= out.arena.data() &&
          pieces[0].data() + pieces[0].size() <= out.arena.data() + out.arena.size());
    check(cp.hdr.flags == kVirtioNetHdrNeedsCsum && cp.hdr.gsoType == kGsoTcpv6 &&
          cp.hdr.csumStart == 40 && cp.hdr.csumOffset == 16 && cp.hdr.hdrLen == pieces[0].size() &&
          cp.hdr.gsoSize > 0);
    merged += cp.segments;
    // Split it as the kernel would, then compare with the linked inputs.
    const SplitResult s = splitOffload(cp.hdr, joined, arena, segs);
    check(s.done() && s.count == cp.segments);
    uint32_t j = cp.firstInput;
    for (size_t k = 0; k < s.count; ++k) {
      check(j < n);
      const Packet& in = inputs[j];
      check(isMergeableShape(in) && tcpSum(in) == 0xffff);
      check(pieces[k + 1].data() >= in.data() &&
            pieces[k + 1].data() + pieces[k + 1].size() == in.data() + in.size());
      check(segs[k].size() == in.size() && std::equal(in.begin(), in.end(), segs[k].begin()));
      ++delivered[j];
      order.push_back(j);
      const uint32_t next = storage.links()[j];
      check(k + 1 == s.count ? next == kCoalesceEnd : (next > j && next < n));
      j = next;
    }
  }
  check(pieceAt == r.pieces && merged == r.merged);
  for (int d : delivered) {
    check(d == 1);
  }
  // Order within every TCP flow (addresses and ports; IPv6 with TCP right after the header).
  std::map<std::string, size_t> last;
  for (size_t i : order) {
    const Packet& p = inputs[i];
    if (p.size() < 44 || (p[0] >> 4) != 6 || p[6] != kNextHeaderTcp) {
      continue;
    }
    const std::string key(p.begin() + 8, p.begin() + 44);
    auto it = last.find(key);
    check(it == last.end() || it->second < i);
    last[key] = i;
  }
  return 0;
}

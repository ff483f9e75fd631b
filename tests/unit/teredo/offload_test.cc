// Unit tests for lib/teredo/offload.h: splitting tun reads with a virtio_net_hdr (checksum
// completion, GSO_TCPV6, GSO_UDP_L4) and coalescing TCP segments into GSO_TCPV6 super-packets.
// Every checksum is verified here with an independent, deliberately naive implementation of
// RFC 1071 over the RFC 8200 §8.1 pseudo-header.
#include "teredo/offload.h"
#include "teredo/byte_order.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace teredo {
namespace {

using Packet = std::vector<uint8_t>;

Ipv6Addr addr(uint8_t last, uint8_t first = 0x20) {
  Ipv6Addr a;
  a.bytes[0] = first;
  a.bytes[1] = 0x01;
  a.bytes[2] = 0x0d;
  a.bytes[3] = 0xb8;
  a.bytes[15] = last;
  return a;
}

// Naive RFC 1071 sum: 16-bit big-endian words, carries folded at the end.
uint32_t naiveSum(const uint8_t* p, size_t n, uint32_t acc = 0) {
  for (size_t i = 0; i < n; i += 2) {
    acc += static_cast<uint32_t>(p[i] << 8) + (i + 1 < n ? p[i + 1] : 0);
  }
  return acc;
}
uint16_t naiveFold(uint32_t acc) {
  while (acc > 0xffff) {
    acc = (acc & 0xffff) + (acc >> 16);
  }
  return static_cast<uint16_t>(acc);
}

// The upper-layer header of a packet built by this file: after the extension headers it lists.
size_t transportOffset(const Packet& p, uint8_t* proto) {
  size_t off = 40;
  uint8_t nh = p[6];
  while (nh == 0 || nh == 60 || nh == 43) {
    nh = p[off];
    off += (size_t{p[off + 1]} + 1) * 8;
  }
  *proto = nh;
  return off;
}

// True when the upper-layer checksum verifies (sum over pseudo-header and data is 0xffff).
bool checksumOk(const Packet& p) {
  uint8_t proto = 0;
  const size_t off = transportOffset(p, &proto);
  const auto len = static_cast<uint32_t>(p.size() - off);
  uint32_t acc = naiveSum(&p[8], 32);
  acc += (len >> 16) + (len & 0xffff) + proto;
  acc = naiveSum(&p[off], len, acc);
  return naiveFold(acc) == 0xffff;
}

// Stores the right checksum into the field at `off + field`.
void setChecksum(Packet& p, size_t field) {
  uint8_t proto = 0;
  const size_t off = transportOffset(p, &proto);
  store16(&p[off + field], 0);
  const auto len = static_cast<uint32_t>(p.size() - off);
  uint32_t acc = naiveSum(&p[8], 32);
  acc += (len >> 16) + (len & 0xffff) + proto;
  acc = naiveSum(&p[off], len, acc);
  uint16_t sum = static_cast<uint16_t>(~naiveFold(acc));
  if (proto == kNextHeaderUdp && sum == 0) {
    sum = 0xffff;
  }
  store16(&p[off + field], sum);
}

struct Ext {
  uint8_t type;              // 0, 43, 60 or 44
  size_t size = 8;           // multiple of 8
  uint8_t segmentsLeft = 0;  // routing only
};

struct Tcp {
  Ipv6Addr src = addr(1);
  Ipv6Addr dst = addr(2);
  uint16_t sport = 40000;
  uint16_t dport = 443;
  uint32_t seq = 1000;
  uint32_t ack = 5000;
  uint8_t flags = kTcpAck;
  uint16_t window = 512;
  uint16_t urgent = 0;
  Packet options;  // multiple of 4
  size_t payload = 100;
  uint8_t fill = 0;  // payload byte i is fill + i*7 + seq-offset, so segments differ
  uint8_t hopLimit = 64;
  uint8_t trafficClass = 0;
  uint32_t flowLabel = 0x12345;
  std::vector<Ext> ext;
  bool badChecksum = false;
};

void writeIpv6(Packet& p, const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t tc, uint32_t flow,
               uint8_t nh, uint8_t hop) {
  p[0] = static_cast<uint8_t>(0x60 | tc >> 4);
  p[1] = static_cast<uint8_t>((tc & 0x0f) << 4 | ((flow >> 16) & 0x0f));
  store16(&p[2], static_cast<uint16_t>(flow));
  store16(&p[4], static_cast<uint16_t>(p.size() - 40));
  p[6] = nh;
  p[7] = hop;
  std::memcpy(&p[8], src.bytes.data(), 16);
  std::memcpy(&p[24], dst.bytes.data(), 16);
}

// Writes the extension headers of `ext` after the IPv6 header, the last pointing at `proto`.
size_t writeExt(Packet& p, const std::vector<Ext>& ext, uint8_t proto) {
  size_t off = 40;
  for (size_t i = 0; i < ext.size(); ++i) {
    p[off] = i + 1 < ext.size() ? ext[i + 1].type : proto;
    p[off + 1] = static_cast<uint8_t>(ext[i].size / 8 - 1);
    if (ext[i].type == 43) {
      p[off + 3] = ext[i].segmentsLeft;
    } else if (ext[i].type != 44) {
      p[off + 2] = 1;  // PadN option covering the rest
      p[off + 3] = static_cast<uint8_t>(ext[i].size - 4);
    }
    off += ext[i].size;
  }
  return off;
}

Packet payloadBytes(size_t n, uint8_t fill, uint32_t offset) {
  Packet out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<uint8_t>(fill + (i + offset) * 7 + ((i + offset) >> 8));
  }
  return out;
}

size_t extSize(const std::vector<Ext>& ext) {
  size_t n = 0;
  for (const Ext& e : ext) {
    n += e.size;
  }
  return n;
}

Packet buildTcp(const Tcp& t, uint32_t payloadOffset = 0) {
  const size_t ext = extSize(t.ext);
  const size_t thlen = 20 + t.options.size();
  Packet p(40 + ext + thlen + t.payload);
  writeIpv6(p, t.src, t.dst, t.trafficClass, t.flowLabel,
            t.ext.empty() ? kNextHeaderTcp : t.ext[0].type, t.hopLimit);
  const size_t off = writeExt(p, t.ext, kNextHeaderTcp);
  uint8_t* tcp = &p[off];
  store16(tcp, t.sport);
  store16(tcp + 2, t.dport);
  store32(tcp + 4, t.seq);
  store32(tcp + 8, t.ack);
  tcp[12] = static_cast<uint8_t>((thlen / 4) << 4);
  tcp[13] = t.flags;
  store16(tcp + 14, t.window);
  store16(tcp + 18, t.urgent);
  std::copy(t.options.begin(), t.options.end(), tcp + 20);
  const Packet data = payloadBytes(t.payload, t.fill, payloadOffset);
  std::copy(data.begin(), data.end(), tcp + thlen);
  setChecksum(p, 16);
  if (t.badChecksum) {
    tcp[16] ^= 0x5a;
  }
  return p;
}

struct Udp {
  Ipv6Addr src = addr(1);
  Ipv6Addr dst = addr(3);
  uint16_t sport = 5353;
  uint16_t dport = 4433;
  size_t payload = 100;
  std::vector<Ext> ext;
};

Packet buildUdp(const Udp& u) {
  const size_t ext = extSize(u.ext);
  Packet p(40 + ext + 8 + u.payload);
  writeIpv6(p, u.src, u.dst, 0, 0, u.ext.empty() ? kNextHeaderUdp : u.ext[0].type, 64);
  const size_t off = writeExt(p, u.ext, kNextHeaderUdp);
  store16(&p[off], u.sport);
  store16(&p[off + 2], u.dport);
  store16(&p[off + 4], static_cast<uint16_t>(8 + u.payload));
  const Packet data = payloadBytes(u.payload, 0x33, 0);
  std::copy(data.begin(), data.end(), p.begin() + static_cast<ptrdiff_t>(off + 8));
  setChecksum(p, 6);
  return p;
}

Packet buildIcmpEcho(size_t payload) {
  Packet p(40 + 8 + payload, 0x42);
  writeIpv6(p, addr(1), addr(2), 0, 0, kNextHeaderIcmpv6, 64);
  p[40] = kIcmpEchoRequest;
  p[41] = 0;
  setChecksum(p, 2);
  return p;
}

// What the kernel puts in a NEEDS_CSUM packet's checksum field: the folded pseudo-header sum
// (not complemented) over the upper-layer length.
void putPartial(Packet& p, size_t field) {
  uint8_t proto = 0;
  const size_t off = transportOffset(p, &proto);
  const auto len = static_cast<uint32_t>(p.size() - off);
  uint32_t acc = naiveSum(&p[8], 32);
  acc += (len >> 16) + (len & 0xffff) + proto;
  store16(&p[off + field], naiveFold(acc));
}

VirtioNetHdr gsoHeader(const Packet& p, uint8_t gsoType, uint16_t gsoSize) {
  uint8_t proto = 0;
  const size_t off = transportOffset(p, &proto);
  const size_t l4 = proto == kNextHeaderTcp ? static_cast<size_t>(p[off + 12] >> 4) * 4 : 8;
  VirtioNetHdr h;
  h.flags = kVirtioNetHdrNeedsCsum;
  h.gsoType = gsoType;
  h.hdrLen = static_cast<uint16_t>(off + l4);
  h.gsoSize = gsoSize;
  h.csumStart = static_cast<uint16_t>(off);
  h.csumOffset = proto == kNextHeaderTcp ? kTcpChecksumOffset : kUdpChecksumOffset;
  return h;
}

// Splits in one call with generous buffers; fails the test on error.
std::vector<Packet> splitAll(const VirtioNetHdr& h, Packet p, OffloadError* error = nullptr) {
  std::vector<uint8_t> arena(4 * kMaxIpv6Packet);
  std::vector<Bytes> out(2048);
  const SplitResult r = splitOffload(h, p, arena, out);
  if (error != nullptr) {
    *error = r.error;
  }
  std::vector<Packet> segs;
  for (size_t i = 0; i < r.count; ++i) {
    segs.emplace_back(out[i].begin(), out[i].end());
  }
  if (r.ok()) {
    EXPECT_TRUE(r.done());
    EXPECT_EQ(r.count, r.totalSegments);
  }
  return segs;
}

// -------------------------------------------------------------------------------------------

TEST(VirtioNetHdr, EncodesLittleEndianInKernelFieldOrder) {
  VirtioNetHdr h{kVirtioNetHdrNeedsCsum, kGsoTcpv6 | kGsoEcnBit, 0x0102, 0x0304, 0x0506, 0x0708};
  std::array<uint8_t, kVirtioNetHdrSize> wire{};
  encodeVirtioNetHdr(h, wire);
  const std::array<uint8_t, kVirtioNetHdrSize> want = {0x01, 0x84, 0x02, 0x01, 0x04,
                                                       0x03, 0x06, 0x05, 0x08, 0x07};
  EXPECT_EQ(wire, want);
  EXPECT_EQ(decodeVirtioNetHdr(wire), h);
}

TEST(OffloadError, LabelsAndDropReasons) {
  EXPECT_EQ(offloadErrorLabel(OffloadError::BadCsumStart), "bad_csum_start");
  EXPECT_EQ(offloadErrorLabel(OffloadError::None), "");
  EXPECT_EQ(offloadErrorLabel(static_cast<OffloadError>(200)), "");
  for (size_t i = 0; i < kOffloadErrorCount; ++i) {
    const auto e = static_cast<OffloadError>(i);
    EXPECT_FALSE(offloadErrorLabel(e).empty()) << i;
    EXPECT_NE(offloadDropReason(e), DropReason::None) << offloadErrorLabel(e);
  }
  EXPECT_EQ(offloadDropReason(OffloadError::NotIpv6), DropReason::NotIpv6);
  EXPECT_EQ(offloadDropReason(OffloadError::TruncatedIpv6), DropReason::TruncatedIpv6);
  EXPECT_EQ(offloadDropReason(OffloadError::BadPayloadLength), DropReason::BadPayloadLength);
  EXPECT_EQ(offloadDropReason(OffloadError::None), DropReason::None);
  EXPECT_EQ(offloadDropReason(OffloadError::BadGsoSize), DropReason::OffloadMalformed);
}

TEST(Split, PlainPacketIsPassedThroughInPlace) {
  Packet p = buildTcp(Tcp{});
  const Packet before = p;
  std::vector<Bytes> out(4);
  const SplitResult r = splitOffload(VirtioNetHdr{}, p, {}, out);
  ASSERT_TRUE(r.done());
  ASSERT_EQ(r.count, 1u);
  EXPECT_EQ(out[0].data(), p.data());
  EXPECT_EQ(p, before);
  // DATA_VALID: the kernel checked the checksum; nothing to do either.
  VirtioNetHdr valid;
  valid.flags = kVirtioNetHdrDataValid;
  EXPECT_TRUE(splitOffload(valid, p, {}, out).done());
  EXPECT_EQ(p, before);
}

struct CsumCase {
  const char* name;
  Packet packet;
  uint16_t field;  // checksum offset within the upper-layer header
};

TEST(Split, NeedsCsumIsCompletedForEveryProtocolAndHeaderChain) {
  Tcp withExt;
  withExt.ext = {{0, 8}, {60, 16}, {43, 8, 0}};
  Udp udpExt;
  udpExt.ext = {{60, 8}};
  Tcp odd;
  odd.payload = 77;
  const CsumCase cases[] = {
      {"tcp", buildTcp(Tcp{}), 16},
      {"tcp odd payload", buildTcp(odd), 16},
      {"tcp ext headers", buildTcp(withExt), 16},
      {"udp", buildUdp(Udp{}), 6},
      {"udp ext header", buildUdp(udpExt), 6},
      {"icmpv6", buildIcmpEcho(21), 2},
  };
  for (const CsumCase& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_TRUE(checksumOk(c.packet));
    Packet p = c.packet;
    putPartial(p, c.field);
    uint8_t proto = 0;
    VirtioNetHdr h;
    h.flags = kVirtioNetHdrNeedsCsum;
    h.csumStart = static_cast<uint16_t>(transportOffset(p, &proto));
    h.csumOffset = c.field;
    std::vector<Packet> segs = splitAll(h, p);
    ASSERT_EQ(segs.size(), 1u);
    EXPECT_TRUE(checksumOk(segs[0]));
    EXPECT_EQ(segs[0], c.packet);
  }
}

TEST(Split, CompletedChecksumZeroIsSentAsAllOnes) {
  // Choose two payload bytes so that the UDP checksum computes to 0 (RFC 8200 §8.1: sent as
  // 0xffff, as the kernel's software fallback does for every protocol).
  Packet p = buildUdp(Udp{});
  store16(&p[48], 0);
  store16(&p[46], 0);
  const auto len = static_cast<uint32_t>(p.size() - 40);
  uint32_t acc = naiveSum(&p[8], 32) + (len >> 16) + (len & 0xffff) + kNextHeaderUdp;
  acc = naiveSum(&p[40], len, acc);
  store16(&p[48], static_cast<uint16_t>(~naiveFold(acc)));  // the whole sum becomes 0xffff
  putPartial(p, 6);
  VirtioNetHdr h{kVirtioNetHdrNeedsCsum, kGsoNone, 0, 0, 40, 6};
  std::vector<Packet> segs = splitAll(h, p);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(load16(&segs[0][46]), 0xffff);
  EXPECT_TRUE(checksumOk(segs[0]));
}

struct TcpGsoCase {
  const char* name;
  size_t payload;
  uint16_t gsoSize;
  uint8_t flags = kTcpAck;
  uint8_t gsoExtra = 0;
  Packet options = {};
  std::vector<Ext> ext = {};
  uint32_t seq = 1000;
  uint16_t urgent = 0;
};

TEST(Split, TcpSuperPacketsGiveTheKernelsSegments) {
  const Packet ts = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};  // NOP NOP timestamps
  const TcpGsoCase cases[] = {
      {"exactly 3 x gso", 3 * 1220, 1220},
      {"3 x gso + 1", 3 * 1220 + 1, 1220},
      {"3 x gso - 1", 3 * 1220 - 1, 1220},
      {"one byte", 1, 1220},
      {"gso 1", 5, 1},
      {"payload < gso", 100, 1220},
      {"no payload", 0, 1220},
      {"FIN and PSH only on the last", 2500, 1000, kTcpAck | kTcpPsh | kTcpFin},
      {"CWR only on the first (GSO_ECN)", 2500, 1000, kTcpAck | kTcpCwr | kTcpEce, kGsoEcnBit},
      {"CWR without the ECN bit", 2500, 1000, kTcpAck | kTcpCwr},
      {"timestamps option", 4000, 1208, kTcpAck, 0, ts},
      {"extension headers", 3000, 1100, kTcpAck | kTcpPsh, 0, {}, {{0, 8}, {60, 24}}},
      {"sequence wraps", 3000, 1000, kTcpAck, 0, {}, {}, 0xfffffc00u},
      // URG and the urgent pointer are copied to every segment, as tcp_gso_segment() does.
      {"URG copied", 2500, 1000, kTcpAck | kTcpUrg, 0, {}, {}, 1000, 1700},
      {"64 KiB", 65535 - 20 - 12, 1208, kTcpAck | kTcpPsh, 0, ts},
  };
  for (const TcpGsoCase& c : cases) {
    SCOPED_TRACE(c.name);
    Tcp t;
    t.payload = c.payload;
    t.flags = c.flags;
    t.options = c.options;
    t.ext = c.ext;
    t.seq = c.seq;
    t.urgent = c.urgent;
    Packet super = buildTcp(t);
    const VirtioNetHdr h =
        gsoHeader(super, static_cast<uint8_t>(kGsoTcpv6 | c.gsoExtra), c.gsoSize);
    putPartial(super, 16);
    OffloadLayout layout;
    ASSERT_EQ(analyzeOffload(h, super, &layout), OffloadError::None);
    const size_t hdrs = 40 + extSize(c.ext) + 20 + c.options.size();
    EXPECT_EQ(layout.headerSize, hdrs);
    EXPECT_EQ(layout.payloadSize, c.payload);
    const size_t want = c.payload == 0 ? 1 : (c.payload + c.gsoSize - 1) / c.gsoSize;
    EXPECT_EQ(layout.segments, want);
    const std::vector<Packet> segs = splitAll(h, super);
    ASSERT_EQ(segs.size(), want);
    size_t offset = 0;
    for (size_t i = 0; i < segs.size(); ++i) {
      SCOPED_TRACE(i);
      const Packet& s = segs[i];
      const size_t chunk = std::min<size_t>(c.gsoSize, c.payload - offset);
      ASSERT_EQ(s.size(), hdrs + chunk);
      EXPECT_LE(s.size(), layout.maxSegmentSize);
      EXPECT_EQ(load16(&s[4]) + 40u, s.size());
      EXPECT_TRUE(checksumOk(s));
      const size_t off = hdrs - 20 - c.options.size();
      // What the kernel would have sent: this segment built directly.
      Tcp seg = t;
      seg.payload = chunk;
      seg.seq = c.seq + static_cast<uint32_t>(offset);
      seg.flags = c.flags;
      if (i + 1 < segs.size()) {
        seg.flags &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
      }
      if (i > 0) {
        seg.flags &= static_cast<uint8_t>(~kTcpCwr);
      }
      EXPECT_EQ(s, buildTcp(seg, static_cast<uint32_t>(offset)));
      EXPECT_EQ(load32(&s[off + 4]), static_cast<uint32_t>(c.seq + offset));
      offset += chunk;
    }
    EXPECT_EQ(offset, c.payload);
  }
}

TEST(Split, SmallBuffersSplitInSeveralCallsWithTheSameResult) {
  Tcp t;
  t.payload = 10 * 1000 + 17;
  Packet super = buildTcp(t);
  const VirtioNetHdr h = gsoHeader(super, kGsoTcpv6, 1000);
  const std::vector<Packet> whole = splitAll(h, super);
  ASSERT_EQ(whole.size(), 11u);
  for (size_t outSlots : {1, 3, 4}) {
    for (size_t arenaSize : {1060, 2500, 100000}) {
      SCOPED_TRACE(std::to_string(outSlots) + " slots, arena " + std::to_string(arenaSize));
      std::vector<uint8_t> arena(arenaSize);
      std::vector<Bytes> out(outSlots);
      std::vector<Packet> got;
      size_t next = 0;
      for (int calls = 0; calls < 100; ++calls) {
        const SplitResult r = splitOffload(h, super, arena, out, next);
        ASSERT_TRUE(r.ok()) << offloadErrorLabel(r.error);
        ASSERT_GT(r.count, 0u);
        for (size_t i = 0; i < r.count; ++i) {
          got.emplace_back(out[i].begin(), out[i].end());
        }
        next = r.nextSegment;
        if (r.done()) {
          break;
        }
      }
      EXPECT_EQ(got, whole);
    }
  }
  // Not even one segment fits.
  std::vector<uint8_t> tiny(1059);
  std::vector<Bytes> out(4);
  EXPECT_EQ(splitOffload(h, super, tiny, out).error, OffloadError::BufferTooSmall);
  std::vector<uint8_t> arena(5000);
  EXPECT_EQ(splitOffload(h, super, arena, {}).error, OffloadError::BufferTooSmall);
  // Past the end: nothing more to do.
  const SplitResult past = splitOffload(h, super, arena, out, 11);
  EXPECT_TRUE(past.done());
  EXPECT_EQ(past.count, 0u);
}

TEST(Split, UdpSuperPacketsGiveDatagrams) {
  struct Case {
    const char* name;
    size_t payload;
    uint16_t gsoSize;
    std::vector<Ext> ext;
  };
  const Case cases[] = {
      {"5500 / 1000", 5500, 1000, {}},
      {"exactly 4 x 1200", 4800, 1200, {}},
      {"4 x 1200 + 1", 4801, 1200, {}},
      {"one byte", 1, 1200, {}},
      {"destination options", 3000, 1000, {{60, 16}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Udp u;
    u.payload = c.payload;
    u.ext = c.ext;
    Packet super = buildUdp(u);
    const VirtioNetHdr h = gsoHeader(super, kGsoUdpL4, c.gsoSize);
    putPartial(super, 6);
    const std::vector<Packet> segs = splitAll(h, super);
    const size_t off = 40 + extSize(c.ext);
    ASSERT_EQ(segs.size(), (c.payload + c.gsoSize - 1) / c.gsoSize);
    Packet joined;
    for (const Packet& s : segs) {
      EXPECT_TRUE(checksumOk(s));
      EXPECT_EQ(load16(&s[4]) + 40u, s.size());
      EXPECT_EQ(load16(&s[off + 4]), s.size() - off);
      EXPECT_EQ(load16(&s[off]), u.sport);
      EXPECT_LE(s.size(), off + 8 + c.gsoSize);
      joined.insert(joined.end(), s.begin() + static_cast<ptrdiff_t>(off + 8), s.end());
    }
    EXPECT_EQ(joined, payloadBytes(c.payload, 0x33, 0));
  }
}

struct ErrorCase {
  const char* name;
  Packet packet;
  VirtioNetHdr hdr;
  OffloadError want;
};

TEST(Split, MalformedReadsAreTypedErrors) {
  Tcp t;
  t.payload = 3000;
  const Packet tcp = buildTcp(t);
  const VirtioNetHdr tso = gsoHeader(tcp, kGsoTcpv6, 1000);
  const Packet udp = buildUdp(Udp{});
  const VirtioNetHdr uso = gsoHeader(udp, kGsoUdpL4, 50);
  auto with = [](VirtioNetHdr h, auto f) {
    f(h);
    return h;
  };
  auto edit = [](Packet p, auto f) {
    f(p);
    return p;
  };
  Packet ipv4(60, 0);
  ipv4[0] = 0x45;
  Tcp ext = t;
  ext.ext = {{60, 8}};
  const Packet withExt = buildTcp(ext);
  Tcp small = ext;
  small.payload = 10;
  const Packet smallExt = buildTcp(small);
  Tcp routed = t;
  routed.ext = {{43, 8, 1}};
  Tcp fragmented = t;
  fragmented.ext = {{44, 8}};
  Tcp hbhLate = t;
  hbhLate.ext = {{60, 8}, {0, 8}};
  Tcp manyExt = t;
  manyExt.ext = std::vector<Ext>(kMaxExtensionHeaders + 1, Ext{60, 8});
  Tcp syn = t;
  syn.flags = kTcpSyn | kTcpAck;
  Tcp rst = t;
  rst.flags = kTcpRst | kTcpAck;
  const ErrorCase cases[] = {
      {"empty", {}, tso, OffloadError::TruncatedIpv6},
      {"39 bytes", Packet(tcp.begin(), tcp.begin() + 39), tso, OffloadError::TruncatedIpv6},
      {"ipv4", ipv4, VirtioNetHdr{}, OffloadError::NotIpv6},
      {"ipv4 tso4", ipv4, with(tso, [](auto& h) { h.gsoType = kGsoTcpv4; }), OffloadError::NotIpv6},
      {"payload length too big", edit(tcp, [](auto& p) { store16(&p[4], load16(&p[4]) + 1); }), tso,
       OffloadError::BadPayloadLength},
      {"payload length too small", edit(tcp, [](auto& p) { store16(&p[4], load16(&p[4]) - 1); }),
       tso, OffloadError::BadPayloadLength},
      {"jumbogram", edit(tcp, [](auto& p) { store16(&p[4], 0); }), tso,
       OffloadError::BadPayloadLength},
      {"trailing byte", edit(tcp, [](auto& p) { p.push_back(0); }), tso,
       OffloadError::BadPayloadLength},
      {"unknown flag", tcp, with(tso, [](auto& h) { h.flags |= 4; }), OffloadError::UnknownFlags},
      {"hdr_len past the end", tcp,
       with(tso, [&](auto& h) { h.hdrLen = static_cast<uint16_t>(tcp.size() + 1); }),
       OffloadError::BadHdrLen},
      {"gso_size 0", tcp, with(tso, [](auto& h) { h.gsoSize = 0; }), OffloadError::BadGsoSize},
      {"tcpv4", tcp, with(tso, [](auto& h) { h.gsoType = kGsoTcpv4; }),
       OffloadError::UnknownGsoType},
      {"ufo", udp, with(uso, [](auto& h) { h.gsoType = kGsoUdp; }), OffloadError::UnknownGsoType},
      {"gso 7", tcp, with(tso, [](auto& h) { h.gsoType = 7; }), OffloadError::UnknownGsoType},
      {"ecn on none", tcp, with(tso, [](auto& h) { h.gsoType = kGsoNone | kGsoEcnBit; }),
       OffloadError::BadEcn},
      {"ecn on udp", udp, with(uso, [](auto& h) { h.gsoType = kGsoUdpL4 | kGsoEcnBit; }),
       OffloadError::BadEcn},
      {"tcpv6 on udp", udp,
       with(uso,
            [](auto& h) {
              h.gsoType = kGsoTcpv6;
              h.csumOffset = 6;
            }),
       OffloadError::GsoProtocolMismatch},
      {"udp_l4 on tcp", tcp, with(tso, [](auto& h) { h.gsoType = kGsoUdpL4; }),
       OffloadError::GsoProtocolMismatch},
      {"udp_l4 on tcp without csum", tcp,
       with(tso,
            [](auto& h) {
              h.gsoType = kGsoUdpL4;
              h.flags = 0;
            }),
       OffloadError::GsoProtocolMismatch},
      {"csum_start inside the IPv6 header", tcp, with(tso, [](auto& h) { h.csumStart = 20; }),
       OffloadError::BadCsumStart},
      {"csum_start past the end", tcp, with(tso, [](auto& h) { h.csumStart = 0xffff; }),
       OffloadError::BadCsumStart},
      {"csum_start before the extension header", withExt, gsoHeader(tcp, kGsoTcpv6, 1000),
       OffloadError::BadCsumStart},
      {"csum_offset udp's on tcp", tcp, with(tso, [](auto& h) { h.csumOffset = 6; }),
       OffloadError::BadCsumOffset},
      {"csum_offset past the end", buildIcmpEcho(0),
       VirtioNetHdr{kVirtioNetHdrNeedsCsum, kGsoNone, 0, 0, 40, 7}, OffloadError::BadCsumOffset},
      {"no next header with csum",
       edit(Packet(40), [](auto& p) { writeIpv6(p, addr(1), addr(2), 0, 0, kNextHeaderNone, 64); }),
       VirtioNetHdr{kVirtioNetHdrNeedsCsum, kGsoNone, 0, 0, 40, 0}, OffloadError::BadCsumOffset},
      {"routing header with segments left", buildTcp(routed), gsoHeader(buildTcp(ext), 4, 1000),
       OffloadError::BadExtensionHeader},
      {"fragment header", buildTcp(fragmented), gsoHeader(buildTcp(ext), 4, 1000),
       OffloadError::BadExtensionHeader},
      {"hop-by-hop not first", buildTcp(hbhLate), gsoHeader(buildTcp(hbhLate), 4, 1000),
       OffloadError::BadExtensionHeader},
      {"too many extension headers", buildTcp(manyExt), tso, OffloadError::BadExtensionHeader},
      {"extension header cut",
       edit(Packet(44),
            [](auto& p) { writeIpv6(p, addr(1), addr(2), 0, 0, kNextHeaderDestOptions, 64); }),
       VirtioNetHdr{kVirtioNetHdrNeedsCsum, kGsoNone, 0, 0, 48, 16},
       OffloadError::BadExtensionHeader},
      {"extension header longer than the packet", edit(smallExt, [](auto& p) { p[41] = 20; }),
       gsoHeader(smallExt, kGsoTcpv6, 1000), OffloadError::BadExtensionHeader},
      {"tcp header cut",
       edit(Packet(50), [](auto& p) { writeIpv6(p, addr(1), addr(2), 0, 0, kNextHeaderTcp, 64); }),
       VirtioNetHdr{0, kGsoTcpv6, 0, 1000, 0, 0}, OffloadError::TruncatedTransport},
      {"data offset 4", edit(tcp, [](auto& p) { p[52] = 0x40; }), tso,
       OffloadError::TruncatedTransport},
      {"data offset past the end",
       edit(Packet(tcp.begin(), tcp.begin() + 70),
            [](auto& p) {
              store16(&p[4], 30);
              p[52] = 0xf0;
            }),
       tso, OffloadError::TruncatedTransport},
      {"udp header cut",
       edit(Packet(46), [](auto& p) { writeIpv6(p, addr(1), addr(2), 0, 0, kNextHeaderUdp, 64); }),
       VirtioNetHdr{0, kGsoUdpL4, 0, 1000, 0, 0}, OffloadError::TruncatedTransport},
      {"syn", buildTcp(syn), tso, OffloadError::BadTcpFlags},
      {"rst", buildTcp(rst), tso, OffloadError::BadTcpFlags},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    // An exact-size heap copy: a read past the end is caught by the sanitizers.
    Packet p = c.packet;
    const Packet before = p;
    EXPECT_EQ(analyzeOffload(c.hdr, p, nullptr), c.want) << offloadErrorLabel(c.want);
    std::vector<uint8_t> arena(8000);
    std::vector<Bytes> out(8);
    const SplitResult r = splitOffload(c.hdr, p, arena, out);
    EXPECT_EQ(r.error, c.want);
    EXPECT_EQ(r.count, 0u);
    EXPECT_EQ(p, before) << "a refused packet is not modified";
  }
}

// -------------------------------------------------------------------------------------------
// coalesce

// Flattens coalesce()'s output packet k into one buffer.
Packet joinPieces(const CoalescedPacket& cp, std::span<const Bytes> pieces) {
  Packet out;
  for (uint32_t i = 0; i < cp.pieceCount; ++i) {
    const Bytes b = pieces[cp.firstPiece + i];
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

struct Coalesced {
  CoalesceResult result;
  std::vector<CoalescedPacket> packets;
  std::vector<Packet> bytes;  // each packet, pieces joined
  /// Input indices in the order the packets deliver them.
  std::vector<size_t> order;
};

// Runs coalesce() and checks the invariants every output must keep: splitting each packet gives
// back exactly its inputs, every input is delivered once, the order within each flow is kept,
// a super-packet's pieces never exceed the limits.
Coalesced runCoalesce(const std::vector<Packet>& inputs, const CoalesceParams& params = {}) {
  std::vector<Bytes> views(inputs.begin(), inputs.end());
  CoalesceStorage storage(inputs.size());
  Coalesced c;
  c.result = coalesce(views, params, storage.output());
  EXPECT_TRUE(c.result.ok());
  const auto packets = storage.packets(c.result);
  c.packets.assign(packets.begin(), packets.end());
  std::vector<int> delivered(inputs.size());
  for (const CoalescedPacket& cp : c.packets) {
    Packet joined = joinPieces(cp, storage.pieces());
    EXPECT_EQ(joined.size(), cp.size);
    c.bytes.push_back(joined);
    if (cp.segments == 1) {
      EXPECT_EQ(cp.hdr, VirtioNetHdr{});
      EXPECT_EQ(cp.pieceCount, 1u);
      EXPECT_EQ(storage.links()[cp.firstInput], kCoalesceEnd);
      EXPECT_EQ(joined, inputs[cp.firstInput]);
      c.order.push_back(cp.firstInput);
      ++delivered[cp.firstInput];
      continue;
    }
    EXPECT_EQ(cp.hdr.flags, kVirtioNetHdrNeedsCsum);
    EXPECT_EQ(cp.hdr.gsoType, kGsoTcpv6);
    EXPECT_EQ(cp.hdr.csumStart, 40);
    EXPECT_EQ(cp.hdr.csumOffset, 16);
    EXPECT_EQ(cp.hdr.hdrLen, 40 + static_cast<size_t>(joined[52] >> 4) * 4);
    EXPECT_EQ(cp.pieceCount, cp.segments + 1);
    EXPECT_LE(cp.segments, std::max<size_t>(params.maxSegments, 2));
    EXPECT_LE(joined.size(), params.maxPacketSize);
    // The checksum field holds the pseudo-header sum over the whole TCP length.
    Packet expectField = joined;
    putPartial(expectField, 16);
    EXPECT_EQ(load16(&joined[56]), load16(&expectField[56]));
    const std::vector<Packet> segs = splitAll(cp.hdr, joined);
    EXPECT_EQ(segs.size(), cp.segments);
    // The segments are exactly the inputs linked from firstInput, in input order.
    uint32_t j = cp.firstInput;
    uint32_t prev = 0;
    for (size_t k = 0; k < segs.size(); ++k) {
      if (j >= inputs.size() || (k > 0 && j <= prev)) {
        ADD_FAILURE() << "broken links after input " << cp.firstInput;
        break;
      }
      EXPECT_EQ(segs[k], inputs[j])
          << "segment " << k << " of the super-packet at " << cp.firstInput;
      EXPECT_TRUE(checksumOk(segs[k]));
      c.order.push_back(j);
      ++delivered[j];
      prev = j;
      j = storage.links()[j];
    }
    EXPECT_EQ(j, kCoalesceEnd);
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(delivered[i], 1) << "input " << i;
  }
  // Per-flow order: among the TCP packets of one flow (addresses and ports), and among the
  // other packets between the same addresses, the input order holds.
  std::map<std::string, std::vector<size_t>> flows;
  for (size_t i : c.order) {
    const Packet& p = inputs[i];
    std::string key = p.size() >= 40 ? std::string(p.begin() + 8, p.begin() + 40) : "";
    if (p.size() >= 44 && (p[0] >> 4) == 6 && p[6] == kNextHeaderTcp) {
      key.append(p.begin() + 40, p.begin() + 44);
    } else {
      key += "other";
    }
    flows[key].push_back(i);
  }
  for (const auto& [key, seq] : flows) {
    EXPECT_TRUE(std::is_sorted(seq.begin(), seq.end())) << "a flow's order changed";
  }
  return c;
}

Tcp flowA() {
  Tcp t;
  t.payload = 1000;
  return t;
}
Tcp flowB() {
  Tcp t = flowA();
  t.src = addr(9);
  t.sport = 40001;
  t.seq = 777777;
  t.fill = 0x80;
  return t;
}

// Segment i (0-based) of a flow of full `size` segments.
Packet seg(Tcp t, size_t i, size_t size = 1000) {
  t.seq += static_cast<uint32_t>(i * size);
  t.payload = size;
  return buildTcp(t, static_cast<uint32_t>(i * size));
}

TEST(Coalesce, ConsecutiveSegmentsBecomeOneSuperPacket) {
  std::vector<Packet> in;
  for (size_t i = 0; i < 5; ++i) {
    in.push_back(seg(flowA(), i));
  }
  Tcp last = flowA();
  last.seq += 5000;
  last.payload = 300;
  last.flags = kTcpAck | kTcpPsh;
  in.push_back(buildTcp(last, 5000));
  const Coalesced c = runCoalesce(in);
  ASSERT_EQ(c.packets.size(), 1u);
  EXPECT_EQ(c.result.superPackets, 1u);
  EXPECT_EQ(c.result.merged, 6u);
  const CoalescedPacket& cp = c.packets[0];
  EXPECT_EQ(cp.segments, 6u);
  EXPECT_EQ(cp.hdr.gsoSize, 1000);
  EXPECT_EQ(cp.hdr.hdrLen, 60);
  EXPECT_EQ(cp.size, 60u + 5300u);
  const Packet& super = c.bytes[0];
  EXPECT_EQ(load16(&super[4]), 20 + 5300);
  EXPECT_EQ(super[53], kTcpAck | kTcpPsh) << "PSH of the last segment";
  EXPECT_EQ(load32(&super[44]), flowA().seq);
}

TEST(Coalesce, BoundariesOfSegmentCountAndSize) {
  struct Case {
    const char* name;
    size_t inputs;
    size_t segSize;
    CoalesceParams params;
    std::vector<uint32_t> want;  // segments per output packet
  };
  CoalesceParams max4;
  max4.maxSegments = 4;
  CoalesceParams bytes3;
  bytes3.maxPacketSize = 60 + 3 * 1000;
  CoalesceParams bytes3minus1;
  bytes3minus1.maxPacketSize = 60 + 3 * 1000 - 1;
  const Case cases[] = {
      {"one segment passes through", 1, 1000, {}, {1}},
      {"two", 2, 1000, {}, {2}},
      {"exactly maxSegments", 4, 1000, max4, {4}},
      {"maxSegments + 1", 5, 1000, max4, {4, 1}},
      {"2 x maxSegments + 2", 10, 1000, max4, {4, 4, 2}},
      {"exactly maxPacketSize", 3, 1000, bytes3, {3}},
      {"maxPacketSize - 1", 3, 1000, bytes3minus1, {2, 1}},
      {"64 segments of 1 byte", 64, 1, {}, {64}},
      {"65 segments", 65, 1, {}, {64, 1}},
      {"64 KiB of 1220-byte segments", 54, 1220, {}, {53, 1}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<Packet> in;
    for (size_t i = 0; i < c.inputs; ++i) {
      in.push_back(seg(flowA(), i, c.segSize));
    }
    const Coalesced out = runCoalesce(in, c.params);
    std::vector<uint32_t> got;
    for (const CoalescedPacket& p : out.packets) {
      got.push_back(p.segments);
    }
    EXPECT_EQ(got, c.want);
  }
}

// What ends or prevents merging. Each case: the flow's segments 0 and 1, then segment 2 changed,
// then segment 3 unchanged; `want` lists the segments per output packet. A segment that differs
// closes the super-packet and starts one of its own, which segment 3 then does not match.
TEST(Coalesce, OnlyMatchingSegmentsMerge) {
  struct Case {
    const char* name;
    std::function<void(Tcp&)> change;  // applied to segment 2
    std::vector<uint32_t> want;
    size_t badChecksum = 0;
  };
  const Case cases[] = {
      {"nothing different", [](Tcp&) {}, {4}},
      {"PSH ends a super-packet", [](Tcp& t) { t.flags |= kTcpPsh; }, {3, 1}},
      {"shorter segment ends it",
       [](Tcp& t) { t.payload = 999; },
       {3, 1}},  // the next one has a gap then: seq + 1000
      {"longer segment starts anew", [](Tcp& t) { t.payload = 1001; }, {2, 1, 1}},
      {"bad checksum passes through", [](Tcp& t) { t.badChecksum = true; }, {2, 1, 1}, 1},
      {"sequence gap", [](Tcp& t) { t.seq += 1; }, {2, 1, 1}},
      {"retransmission", [](Tcp& t) { t.seq -= 1000; }, {2, 1, 1}},
      {"different ack", [](Tcp& t) { t.ack += 1; }, {2, 1, 1}},
      {"different window", [](Tcp& t) { t.window += 1; }, {2, 1, 1}},
      {"different options",
       [](Tcp& t) {
         t.options = {1, 1, 1, 1};
       },
       {2, 1, 1}},
      {"different urgent pointer field", [](Tcp& t) { t.urgent = 1; }, {2, 1, 1}},
      {"different hop limit", [](Tcp& t) { t.hopLimit = 63; }, {2, 1, 1}},
      {"ECN CE mark", [](Tcp& t) { t.trafficClass = 3; }, {2, 1, 1}},
      {"different flow label", [](Tcp& t) { t.flowLabel = 1; }, {2, 1, 1}},
      {"FIN", [](Tcp& t) { t.flags |= kTcpFin; }, {2, 1, 1}},
      {"SYN", [](Tcp& t) { t.flags |= kTcpSyn; }, {2, 1, 1}},
      {"RST", [](Tcp& t) { t.flags = kTcpRst; }, {2, 1, 1}},
      {"URG", [](Tcp& t) { t.flags |= kTcpUrg; }, {2, 1, 1}},
      {"ECE", [](Tcp& t) { t.flags |= kTcpEce; }, {2, 1, 1}},
      {"CWR", [](Tcp& t) { t.flags |= kTcpCwr; }, {2, 1, 1}},
      {"no ACK", [](Tcp& t) { t.flags = 0; }, {2, 1, 1}},
      {"pure ACK (no payload)", [](Tcp& t) { t.payload = 0; }, {2, 1, 1}},
      {"extension header",
       [](Tcp& t) {
         t.ext = {{60, 8}};
       },
       {2, 1, 1}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<Packet> in = {seg(flowA(), 0), seg(flowA(), 1)};
    Tcp odd = flowA();
    odd.seq += 2000;
    c.change(odd);
    in.push_back(buildTcp(odd, 2000));
    in.push_back(seg(flowA(), 3));
    const Coalesced out = runCoalesce(in);
    std::vector<uint32_t> got;
    for (const CoalescedPacket& p : out.packets) {
      got.push_back(p.segments);
    }
    EXPECT_EQ(got, c.want);
    EXPECT_EQ(out.result.badChecksum, c.badChecksum);
  }
}

TEST(Coalesce, BadChecksumInFirstSegmentIsNeverMerged) {
  Tcp bad = flowA();
  bad.badChecksum = true;
  std::vector<Packet> in = {buildTcp(bad), seg(flowA(), 1), seg(flowA(), 2)};
  const Coalesced out = runCoalesce(in);
  ASSERT_EQ(out.packets.size(), 2u);
  EXPECT_EQ(out.packets[0].segments, 1u);
  EXPECT_EQ(out.bytes[0], in[0]) << "passed through unchanged, so the kernel drops it";
  EXPECT_EQ(out.packets[1].segments, 2u);
  EXPECT_EQ(out.result.badChecksum, 1u);
}

TEST(Coalesce, ChecksumOfAllOnesWhereZeroIsComputedIsNotMerged) {
  // 0xffff verifies like 0 (RFC 1071) but would not survive a split; find a segment whose
  // checksum computes to 0 by adjusting two payload bytes.
  Tcp t = flowA();
  Packet p = buildTcp(t);
  store16(&p[56], 0);
  store16(&p[60 + 10], 0);
  uint32_t acc = naiveSum(&p[8], 32) + 1020 + kNextHeaderTcp;
  acc = naiveSum(&p[40], 1020, acc);
  store16(&p[70], static_cast<uint16_t>(~naiveFold(acc)));
  setChecksum(p, 16);
  ASSERT_EQ(load16(&p[56]), 0);
  Packet ones = p;
  store16(&ones[56], 0xffff);
  ASSERT_TRUE(checksumOk(ones));
  std::vector<Packet> in = {ones, seg(flowA(), 1)};
  EXPECT_EQ(runCoalesce(in).result.superPackets, 0u);
  in[0] = p;
  // p's payload differs from seg(.., 0), but a merge only needs the headers to match.
  EXPECT_EQ(runCoalesce(in).result.superPackets, 1u);
}

TEST(Coalesce, InterleavedFlowsMergeSeparatelyAndKeepTheirOrder) {
  const std::vector<Packet> in = {seg(flowA(), 0), seg(flowB(), 0), buildIcmpEcho(8),
                                  seg(flowA(), 1), buildUdp(Udp{}), seg(flowB(), 1),
                                  seg(flowA(), 2), seg(flowB(), 2)};
  const Coalesced out = runCoalesce(in);
  ASSERT_EQ(out.packets.size(), 4u);
  EXPECT_EQ(out.packets[0].segments, 3u);  // A, where A's first segment was
  EXPECT_EQ(out.packets[0].firstInput, 0u);
  EXPECT_EQ(out.packets[1].segments, 3u);  // B
  EXPECT_EQ(out.packets[1].firstInput, 1u);
  EXPECT_EQ(out.bytes[2], in[2]);  // ICMPv6 passes through
  EXPECT_EQ(out.bytes[3], in[4]);  // UDP passes through
  EXPECT_EQ(out.result.merged, 6u);
}

TEST(Coalesce, NonTcpAndUnparsablePacketsPassThroughInOrder) {
  Packet ipv4(40, 0);
  ipv4[0] = 0x45;
  Packet shortTcp = seg(flowA(), 0);
  shortTcp.resize(50);  // payload length now wrong
  const std::vector<Packet> in = {
      buildIcmpEcho(0), buildUdp(Udp{}), ipv4, Packet{}, Packet{0x60}, shortTcp, buildIcmpEcho(30),
  };
  const Coalesced out = runCoalesce(in);
  ASSERT_EQ(out.packets.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out.packets[i].firstInput, i);
    EXPECT_EQ(out.bytes[i], in[i]);
  }
  EXPECT_EQ(out.result.superPackets, 0u);
}

TEST(Coalesce, PacketsOfAFlowThatCannotBeParsedCloseIt) {
  // A fragment between the same addresses might belong to the flow: later segments must not
  // overtake it.
  Packet frag(48 + 8, 0);
  writeIpv6(frag, flowA().src, flowA().dst, 0, 0, kNextHeaderFragment, 64);
  frag[40] = kNextHeaderTcp;
  Packet otherFrag = frag;
  otherFrag[39] ^= 1;  // another destination: unrelated
  const std::vector<Packet> in = {
      seg(flowA(), 0), seg(flowA(), 1), otherFrag, seg(flowA(), 2), frag, seg(flowA(), 3)};
  const Coalesced out = runCoalesce(in);
  std::vector<uint32_t> got;
  for (const CoalescedPacket& p : out.packets) {
    got.push_back(p.segments);
  }
  EXPECT_EQ(got, (std::vector<uint32_t>{3, 1, 1, 1}));
}

TEST(Coalesce, FlowTableIsBoundedAndEvictsTheOldest) {
  Tcp c = flowA();
  c.dport = 8443;
  CoalesceParams two;
  two.maxFlows = 2;
  const std::vector<Packet> in = {seg(flowA(), 0), seg(flowB(), 0), seg(c, 0),
                                  seg(flowA(), 1), seg(flowB(), 1), seg(c, 1)};
  // C evicts A; A's second segment evicts B (oldest then), B's evicts C... nothing merges
  // except what stays tracked.
  const Coalesced out = runCoalesce(in, two);
  EXPECT_EQ(out.result.superPackets, 0u);
  EXPECT_EQ(out.packets.size(), 6u);
  // With room for three, all three merge.
  CoalesceParams three;
  three.maxFlows = 3;
  EXPECT_EQ(runCoalesce(in, three).result.superPackets, 3u);
  // maxFlows 0 is taken as 1.
  CoalesceParams zero;
  zero.maxFlows = 0;
  EXPECT_EQ(runCoalesce({seg(flowA(), 0), seg(flowA(), 1)}, zero).result.superPackets, 1u);
}

TEST(Coalesce, BuffersTooSmallAreRefused) {
  const std::vector<Packet> in = {seg(flowA(), 0), seg(flowA(), 1), seg(flowA(), 2),
                                  seg(flowA(), 3)};
  std::vector<Bytes> views(in.begin(), in.end());
  CoalesceStorage storage(4);
  CoalesceOutput out = storage.output();
  EXPECT_TRUE(coalesce(views, {}, out).ok());
  for (int which = 0; which < 4; ++which) {
    CoalesceOutput small = out;
    switch (which) {
      case 0:
        small.packets = small.packets.first(3);
        break;
      case 1:
        small.pieces = small.pieces.first(coalescePiecesFor(4) - 1);
        break;
      case 2:
        small.arena = small.arena.first(coalesceArenaFor(4) - 1);
        break;
      case 3:
        small.scratch = small.scratch.first(3);
        break;
    }
    EXPECT_EQ(coalesce(views, {}, small).error, OffloadError::BufferTooSmall) << which;
  }
  EXPECT_TRUE(coalesce({}, {}, CoalesceOutput{}).ok());
}

// Random batches of three flows with losses, reordering, corruption and other traffic: every
// invariant of runCoalesce() holds, and in-order runs do merge.
TEST(Coalesce, RandomBatchesKeepEveryInvariant) {
  std::mt19937 rng(13);
  size_t supers = 0;
  for (int round = 0; round < 300; ++round) {
    std::vector<Tcp> flows = {flowA(), flowB(), flowA()};
    flows[2].dport = 22;
    std::vector<uint32_t> next(3, 0);
    std::vector<Packet> in;
    const size_t n = 1 + rng() % 40;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t r = rng() % 100;
      if (r < 8) {
        in.push_back(buildIcmpEcho(rng() % 50));
        continue;
      }
      if (r < 12) {
        Packet junk(rng() % 80);
        for (uint8_t& b : junk) {
          b = static_cast<uint8_t>(rng());
        }
        if (!junk.empty() && (rng() & 1) != 0) {
          junk[0] = 0x60;
        }
        in.push_back(junk);
        continue;
      }
      const size_t f = rng() % 3;
      Tcp t = flows[f];
      const uint32_t size = r < 90 ? 600 : 1 + rng() % 700;
      t.payload = size;
      t.seq += next[f];
      if (r % 7 == 0) {
        t.flags |= kTcpPsh;
      }
      if (r % 29 == 0) {
        t.badChecksum = true;
      }
      if (r % 31 == 0) {
        t.seq += 600;  // a loss
      }
      in.push_back(buildTcp(t, next[f]));
      next[f] += size;
    }
    CoalesceParams p;
    p.maxFlows = 1 + rng() % 3;
    p.maxSegments = 2 + rng() % 10;
    supers += runCoalesce(in, p).result.superPackets;
    if (::testing::Test::HasFailure()) {
      FAIL() << "round " << round;
    }
  }
  EXPECT_GT(supers, 100u);
}

}  // namespace
}  // namespace teredo

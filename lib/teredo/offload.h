// Segmentation and checksum offloads between the relay's tun (IFF_VNET_HDR) and its Teredo side.
//
// With IFF_VNET_HDR and TUNSETOFFLOAD (lib/net/tun.h), every packet read from or written to the
// tun is preceded by a 10-byte virtio_net_hdr (VirtioNetHdr below):
//   - reads may carry a checksum the kernel left for us to finish (NEEDS_CSUM) and TCP or UDP
//     "super-packets" of up to 64 KiB that the kernel did not segment (GSO_TCPV6, GSO_UDP_L4).
//     splitOffload() turns one such read into the IPv6 packets the kernel would have sent without
//     the offload; each is then a Teredo payload of its own (RFC 4380 §5.4).
//   - writes may carry one TCP super-packet made of several consecutive segments of one flow.
//     coalesce() builds them from the packets decapsulated from Teredo clients, so the kernel
//     handles one large packet instead of many small ones.
//
// Sizes: the relay's tun MTU is 1280 (the IPv6 minimum, RFC 8200 §5; Teredo's MTU, RFC 4380
// §5.1.2). The kernel sizes a TCP super-packet's segments from the path MSS, which TCP derives
// from that MTU (RFC 9293 §3.7.1: MSS = MTU - 40 - extension headers - 20 - options), and checks a
// forwarded super-packet's segments against the MTU before it reaches the tun, so every segment
// splitOffload() produces from a kernel read is at most 1280 bytes: transportOffset + L4 header +
// gso_size <= MTU. splitOffload() itself does not enforce the MTU (the caller's TooBig check
// does). coalesce() never builds a segment larger than the packets it was given.
//
// Everything here is pure: no system calls, no allocation, no exceptions, no global state. The
// caller provides every output buffer; the required sizes are stated on each function.
// Byte order: VirtioNetHdr fields are host order; on the wire (the tun) they are little endian,
// because the tun is switched to little-endian headers (TUNSETVNETLE). Packets are wire bytes.
// Thread-safety: all functions are reentrant; distinct calls may run concurrently on distinct
// buffers. CoalesceStorage is a plain value (one thread at a time).
// Ownership: outputs are views into the caller's buffers (`packet`, `arena`, `inputs`); they are
// valid as long as those are and until the next call that reuses them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "teredo/drop_reason.h"
#include "teredo/packet.h"

namespace teredo {

/// struct virtio_net_hdr (<linux/virtio_net.h>): the header IFF_VNET_HDR puts before every packet
/// (TUNSETVNETHDRSZ 10, i.e. without num_buffers).
inline constexpr size_t kVirtioNetHdrSize = 10;
/// VirtioNetHdr::flags
inline constexpr uint8_t kVirtioNetHdrNeedsCsum = 0x01;  ///< VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr uint8_t kVirtioNetHdrDataValid = 0x02;  ///< VIRTIO_NET_HDR_F_DATA_VALID
/// VirtioNetHdr::gsoType
inline constexpr uint8_t kGsoNone = 0;       ///< VIRTIO_NET_HDR_GSO_NONE
inline constexpr uint8_t kGsoTcpv4 = 1;      ///< VIRTIO_NET_HDR_GSO_TCPV4 (never on this tun)
inline constexpr uint8_t kGsoUdp = 3;        ///< VIRTIO_NET_HDR_GSO_UDP (UFO, IPv4; unsupported)
inline constexpr uint8_t kGsoTcpv6 = 4;      ///< VIRTIO_NET_HDR_GSO_TCPV6
inline constexpr uint8_t kGsoUdpL4 = 5;      ///< VIRTIO_NET_HDR_GSO_UDP_L4 (USO, Linux >= 6.2)
inline constexpr uint8_t kGsoEcnBit = 0x80;  ///< VIRTIO_NET_HDR_GSO_ECN: TCP with CWR set

/// The largest IPv6 packet without a jumbogram: 40 + 65535.
inline constexpr size_t kMaxIpv6Packet = kIpv6HeaderSize + 65535;
inline constexpr size_t kTcpMinHeaderSize = 20;
inline constexpr size_t kTcpMaxHeaderSize = 60;
inline constexpr size_t kUdpHeaderSize = 8;
/// Offset of the checksum field in TCP (RFC 9293 §3.1), UDP (RFC 768) and ICMPv6 (RFC 4443 §2.1).
inline constexpr uint16_t kTcpChecksumOffset = 16;
inline constexpr uint16_t kUdpChecksumOffset = 6;
inline constexpr uint16_t kIcmpv6ChecksumOffset = 2;
/// At most this many extension headers are walked (RFC 8200 §4.1 lists at most 8 kinds, each
/// once, Destination Options at most twice); more is BadExtensionHeader (bounded work).
inline constexpr size_t kMaxExtensionHeaders = 8;
inline constexpr uint8_t kNextHeaderDestOptions = 60;

/// TCP flag bits (byte 13 of the header, RFC 9293 §3.1).
inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;
inline constexpr uint8_t kTcpUrg = 0x20;
inline constexpr uint8_t kTcpEce = 0x40;
inline constexpr uint8_t kTcpCwr = 0x80;

/// A decoded virtio_net_hdr. Offsets count from the first byte of the IPv6 header (a tun has no
/// link-layer header).
struct VirtioNetHdr {
  uint8_t flags = 0;           ///< kVirtioNetHdrNeedsCsum, kVirtioNetHdrDataValid
  uint8_t gsoType = kGsoNone;  ///< kGso*, possibly | kGsoEcnBit
  uint16_t hdrLen = 0;         ///< headers (IPv6 .. end of TCP/UDP header); a hint on reads
  uint16_t gsoSize = 0;        ///< payload bytes per segment (TCP/UDP payload, headers excluded)
  uint16_t csumStart = 0;      ///< where checksumming starts: the transport header
  uint16_t csumOffset = 0;     ///< checksum field, from csumStart (16 TCP, 6 UDP)
  friend bool operator==(const VirtioNetHdr&, const VirtioNetHdr&) = default;
};

/// Decodes the first kVirtioNetHdrSize bytes of `data` (little endian); `data` must hold them.
VirtioNetHdr decodeVirtioNetHdr(Bytes data);
/// Writes `h` as kVirtioNetHdrSize little-endian bytes.
void encodeVirtioNetHdr(const VirtioNetHdr& h, std::span<uint8_t, kVirtioNetHdrSize> out);

// Why a read cannot be split. X(enumerator, label); labels are lower_snake_case like the drop
// reasons and stable (logs and a metric may use them).
#define TEREDO_OFFLOAD_ERRORS(X)                                                                \
  X(NotIpv6, "not_ipv6")                          /* version != 6, e.g. IPv4 */                 \
  X(TruncatedIpv6, "truncated_ipv6")              /* fewer than 40 bytes */                     \
  X(BadPayloadLength, "bad_payload_length")       /* 40 + payload length != bytes read */       \
  X(BadExtensionHeader, "bad_extension_header")   /* cut, misplaced, fragment, routing */       \
  X(TruncatedTransport, "truncated_transport")    /* TCP/UDP header cut or data offset < 5 */   \
  X(UnknownFlags, "unknown_flags")                /* flags other than NEEDS_CSUM, DATA_VALID */ \
  X(BadCsumStart, "bad_csum_start")               /* not at the transport header */             \
  X(BadCsumOffset, "bad_csum_offset")             /* not the protocol's checksum field */       \
  X(BadHdrLen, "bad_hdr_len")                     /* hdr_len past the end of the packet */      \
  X(BadGsoSize, "bad_gso_size")                   /* gso_size 0 on a GSO packet */              \
  X(UnknownGsoType, "unknown_gso_type")           /* TCPV4, UDP (UFO), anything else */         \
  X(BadEcn, "bad_ecn")                            /* GSO_ECN on a packet that is not TCP GSO */ \
  X(GsoProtocolMismatch, "gso_protocol_mismatch") /* GSO_TCPV6 not on TCP, UDP_L4 not UDP */    \
  X(BadTcpFlags, "bad_tcp_flags")                 /* SYN or RST on a TCP super-packet */        \
  X(BufferTooSmall, "buffer_too_small")           /* caller's buffers cannot hold the output */

enum class OffloadError : uint8_t {
#define TEREDO_OFFLOAD_ENUM(name, label) name,
  TEREDO_OFFLOAD_ERRORS(TEREDO_OFFLOAD_ENUM)
#undef TEREDO_OFFLOAD_ENUM
  /// Not an error.
  None,
};

inline constexpr size_t kOffloadErrorCount = static_cast<size_t>(OffloadError::None);

/// "bad_csum_start" etc.; "" for None and out-of-range values.
std::string_view offloadErrorLabel(OffloadError e);

/// The drop reason to count a read that splitOffload() refused under. NotIpv6, TruncatedIpv6 and
/// BadPayloadLength map to the reasons of the same name; everything else is offload metadata
/// from the kernel that cannot be honoured, DropReason::OffloadMalformed. None maps to
/// DropReason::None.
DropReason offloadDropReason(OffloadError e);

/// What analyzeOffload() found in a read.
struct OffloadLayout {
  uint8_t protocol = 0;          ///< upper-layer protocol after the extension headers
  uint16_t transportOffset = 0;  ///< start of the upper-layer header (40 + extension headers)
  uint16_t headerSize = 0;       ///< transportOffset + TCP/UDP header; 0 when no segmentation
  size_t payloadSize = 0;        ///< TCP/UDP payload bytes (GSO packets only)
  size_t segments = 1;           ///< packets splitOffload() makes of it
  size_t maxSegmentSize = 0;     ///< the largest of them, in bytes
};

/// Validates `hdr` against the IPv6 packet it came with (RFC 8200 §3-4 header chain, RFC 9293
/// §3.1 TCP header, RFC 768 UDP header) and describes what splitting it gives. Reads nothing
/// outside `packet`. Checked, in order:
///   - IPv6: at least 40 bytes (TruncatedIpv6), version 6 (NotIpv6), 40 + payload length ==
///     packet.size() (BadPayloadLength; this also refuses jumbograms, which a tun with the default
///     64 KiB GSO limit never produces);
///   - flags other than NEEDS_CSUM | DATA_VALID (UnknownFlags), hdr_len > packet size (BadHdrLen);
///   - gso_type: NONE, TCPV6 or UDP_L4, each possibly with ECN (UnknownGsoType); ECN only with
///     TCPV6 (BadEcn);
///   - when NEEDS_CSUM or GSO is set, the extension header chain: Hop-by-Hop only first,
///     Destination Options, Routing with Segments Left 0 (the checksum pseudo-header would need
///     the final destination otherwise, RFC 8200 §8.1), never a Fragment header, each within the
///     packet, at most kMaxExtensionHeaders (BadExtensionHeader);
///   - NEEDS_CSUM: csum_start is the upper-layer header (BadCsumStart), csum_offset is TCP's 16,
///     UDP's 6 or ICMPv6's 2 for those protocols and the field lies within the packet
///     (BadCsumOffset);
///   - GSO: the protocol matches (GsoProtocolMismatch), its header is whole (TruncatedTransport),
///     gso_size > 0 (BadGsoSize), no SYN or RST on TCP (BadTcpFlags).
/// `layout` may be null.
OffloadError analyzeOffload(const VirtioNetHdr& hdr, Bytes packet, OffloadLayout* layout);

/// The result of one splitOffload() call.
struct SplitResult {
  OffloadError error = OffloadError::None;
  size_t count = 0;          ///< packets written to `out` by this call
  size_t nextSegment = 0;    ///< pass as `firstSegment` to continue
  size_t totalSegments = 0;  ///< packets the whole read makes
  bool ok() const { return error == OffloadError::None; }
  /// Every packet of the read has been produced.
  bool done() const { return ok() && nextSegment >= totalSegments; }
};

/// Produces the packets the kernel would have sent without the offloads, starting at packet
/// `firstSegment`, as many as fit in `out` and `arena`:
///   - GSO_NONE (DATA_VALID or not): the packet itself, in place. With NEEDS_CSUM the checksum is
///     completed first, as the kernel's software fallback does: the field holds the pseudo-header
///     sum, the one's complement of the sum over [csum_start, end) replaces it (0 becomes 0xffff).
///     `packet` is modified, `arena` unused; out[0] views `packet`.
///   - GSO_TCPV6: segments of gso_size payload bytes (the last may be shorter), each a copy of the
///     headers (extension headers included) followed by its payload, written one after the other
///     into `arena`; per segment the IPv6 payload length is set, the sequence number advanced by
///     the payload before it, FIN and PSH kept only on the last segment, CWR only on the first
///     (RFC 9293 §3.1, RFC 3168 §6.1.2), and the TCP checksum computed over the pseudo-header and
///     the whole segment (RFC 8200 §8.1, RFC 9293 §3.1). Other header fields (window, options,
///     ACK, ECE, URG and the urgent pointer) are copied unchanged: this is what the kernel's own
///     software segmentation (tcp_gso_segment) sends when the device has no TSO.
///   - GSO_UDP_L4: UDP datagrams of gso_size payload bytes, UDP length set, checksum computed
///     (0 becomes 0xffff, RFC 8200 §8.1).
/// `packet` is not modified for GSO types, so a read can be split in several calls with a small
/// `arena`: call again with `firstSegment = result.nextSegment` until done(). A segment takes
/// layout.headerSize + gso_size bytes of `arena` at most; an arena of kMaxIpv6Packet bytes holds
/// at least one segment of any read, and a 64 KiB arena holds 51 segments of a 1280-MTU tun.
/// Errors: analyzeOffload()'s, and BufferTooSmall when not even one packet fits (`out` empty or
/// the arena smaller than the next segment). On error nothing was produced.
SplitResult splitOffload(const VirtioNetHdr& hdr, MutableBytes packet, MutableBytes arena,
                         std::span<Bytes> out, size_t firstSegment = 0);

// ---------------------------------------------------------------------------------------------
// Coalescing (the write direction).

/// Upper bound on the flows coalesce() tracks at once (CoalesceParams::maxFlows is clamped to it).
inline constexpr size_t kMaxCoalesceFlows = 64;
/// The largest super-packet header coalesce() writes: IPv6 40 + TCP 60 (no extension headers).
inline constexpr size_t kMaxCoalescedHeader = kIpv6HeaderSize + kTcpMaxHeaderSize;

struct CoalesceParams {
  /// Flows tracked per call (1..kMaxCoalesceFlows); a new flow evicts the oldest, whose
  /// super-packet is then closed.
  size_t maxFlows = 8;
  /// Segments per super-packet (2..65535). Also bounds a super-packet's pieces to maxSegments + 1
  /// (Tun::writeVnet's iovec limit allows 1023).
  size_t maxSegments = 64;
  /// Bytes of a super-packet, IPv6 header included (up to kMaxIpv6Packet).
  size_t maxPacketSize = kMaxIpv6Packet;
};

/// One packet to write to the tun: `hdr`, then pieces[firstPiece .. firstPiece + pieceCount) in
/// order. A pass-through packet is one piece (the input, unchanged) with a GSO_NONE header of
/// zeros; a super-packet is its headers (in the arena) followed by the payload of each segment
/// (views into the inputs).
struct CoalescedPacket {
  VirtioNetHdr hdr;
  uint32_t firstPiece = 0;
  uint32_t pieceCount = 0;
  uint32_t firstInput = 0;  ///< index of its first input packet
  uint32_t segments = 0;    ///< input packets it carries (1: passed through)
  uint32_t size = 0;        ///< bytes of the IPv6 packet (all its pieces), header excluded
};

/// Caller-provided buffers of coalesce() for n inputs (CoalesceStorage owns a set).
struct CoalesceOutput {
  std::span<CoalescedPacket> packets;  ///< at least n
  std::span<Bytes> pieces;             ///< at least coalescePiecesFor(n)
  MutableBytes arena;                  ///< at least coalesceArenaFor(n) bytes (super headers)
  /// At least n. Afterwards scratch[i] is the input index of the segment that follows input i
  /// in its super-packet, kCoalesceEnd for the last one and for every passed-through input (so
  /// a packet's inputs are firstInput, scratch[firstInput], ...).
  std::span<uint32_t> scratch;
};

inline constexpr uint32_t kCoalesceEnd = UINT32_MAX;

/// A super-packet carries at least 2 inputs, so there are at most n / 2 of them, each one piece
/// more than its inputs and one header in the arena.
constexpr size_t coalescePiecesFor(size_t n) {
  return n + n / 2;
}
constexpr size_t coalesceArenaFor(size_t n) {
  return (n / 2) * kMaxCoalescedHeader;
}

struct CoalesceResult {
  OffloadError error = OffloadError::None;  ///< BufferTooSmall (nothing written) or None
  size_t packets = 0;                       ///< entries of out.packets written, in output order
  size_t pieces = 0;                        ///< entries of out.pieces used
  size_t superPackets = 0;                  ///< packets with segments > 1
  size_t merged = 0;                        ///< inputs carried inside super-packets
  size_t badChecksum = 0;  ///< TCP segments passed through because their checksum was wrong
  bool ok() const { return error == OffloadError::None; }
};

/// Groups the TCP segments among `inputs` (IPv6 packets decapsulated from Teredo, in arrival
/// order) into GSO_TCPV6 super-packets the tun accepts, and passes every other packet through.
/// A segment joins the open super-packet of its flow when:
///   - it is IPv6 with exactly 40 + payload length bytes, next header TCP (no extension headers),
///     a whole TCP header, at least one payload byte, flags ACK or ACK|PSH only, reserved bits 0;
///   - its TCP checksum is right (verified here: the kernel trusts a super-packet's segments, so a
///     corrupt one must reach it unmerged, where its own checksum check drops it);
///   - it equals the first segment in every header byte except the IPv6 payload length, the
///     sequence number, PSH and the checksum (same addresses, ports, traffic class, flow label,
///     hop limit, ACK number, window, urgent pointer, options);
///   - its sequence number is the next one expected, its payload is at most the first segment's
///     (gso_size), and the super-packet stays within maxSegments and maxPacketSize.
/// A segment with PSH, or with less payload than the first, closes its super-packet. Any other
/// packet of a tracked flow (SYN, FIN, RST, URG, a pure ACK, a bad checksum, a gap, an extension
/// header, an unparsable chain between the same addresses) closes the flow's super-packet before
/// being passed through, so the order within every flow is kept; packets of different flows may
/// change order relative to each other (a super-packet is emitted where its first segment was).
/// A flow's super-packet with a single segment is passed through unchanged.
/// Super-packet header: the first segment's IPv6 and TCP headers, payload length for the whole,
/// PSH if the last segment had it, and in the checksum field the pseudo-header sum (RFC 8200
/// §8.1, not complemented) over the whole TCP length, which is what the kernel's segmentation
/// expects with NEEDS_CSUM; virtio header NEEDS_CSUM, GSO_TCPV6, gso_size = first payload,
/// hdr_len = 40 + TCP header, csum_start 40, csum_offset 16.
/// No payload is copied: pieces view `inputs`, which must stay valid until the packets are
/// written. Returns BufferTooSmall (nothing written) when a buffer of `out` is smaller than
/// documented there for inputs.size().
CoalesceResult coalesce(std::span<const Bytes> inputs, const CoalesceParams& params,
                        const CoalesceOutput& out);

/// Buffers for coalesce() of up to maxInputs packets, allocated once by the constructor.
class CoalesceStorage {
 public:
  explicit CoalesceStorage(size_t maxInputs);
  size_t maxInputs() const { return maxInputs_; }
  CoalesceOutput output();
  /// After a call with output(): the packets and pieces it wrote.
  std::span<const CoalescedPacket> packets(const CoalesceResult& r) const {
    return std::span<const CoalescedPacket>(packets_).first(r.packets);
  }
  std::span<const Bytes> pieces() const { return pieces_; }
  std::span<const uint32_t> links() const { return scratch_; }  ///< CoalesceOutput::scratch

 private:
  size_t maxInputs_;
  std::vector<CoalescedPacket> packets_;
  std::vector<Bytes> pieces_;
  std::vector<uint8_t> arena_;
  std::vector<uint32_t> scratch_;
};

}  // namespace teredo

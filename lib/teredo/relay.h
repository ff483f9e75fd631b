// The relay's packet decisions (RFC 4380 §5.4; checks R1-R27 of docs/conformance.md): pure
// functions that take a packet, the relay's parameters, a snapshot of one peer's state and the
// time, and return typed actions. No syscalls, no allocation, no clock reads: the caller owns the
// sockets, the tun device, the peer table (lib/peers) and the clock, and executes the actions in
// order.
//
// Peer state: the caller looks the peer up (IPv6 -> Teredo: the destination, transmitPeerKey();
// Teredo -> IPv6: the IPv6 source), copies it into a PeerState, calls decide*(), then writes the
// PeerState back under the same lock. decide*() edits the PeerState in place instead of emitting
// "update peer" actions: the update is always a plain field copy, and a struct keeps the action
// list short. `exists` going from false to true means "create the entry"; all checks that must
// happen before any state (R8, R9, R10, R11, R21-R23) run before `exists` is set.
//
// Actions are written into a caller-provided RelayOutput (a fixed array of std::variant plus a
// 40-byte buffer for the bubble), so a decision allocates nothing. Payload views point into the
// input packet or into RelayOutput::bubble; they are valid until either changes.
//
// Thread-safety: all functions are pure and reentrant; a RelayOutput belongs to one thread.
// Ownership: RelayParams::servedRanges is a view the caller keeps alive.
// Byte order: IPv4 addresses and ports in Endpoint are host order; IPv6 bytes are wire order.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>

#include "teredo/address.h"
#include "teredo/drop_reason.h"
#include "teredo/keyed_hash.h"
#include "teredo/packet.h"

namespace teredo {

using RelayClock = std::chrono::steady_clock;
using RelayTime = RelayClock::time_point;

inline constexpr std::chrono::seconds kDefaultTrustTimeout{30};         // RFC 4380 §5.2.4
inline constexpr std::chrono::seconds kDefaultBubbleSpacing{2};         // RFC 4380 §5.2.6
inline constexpr uint8_t kDefaultBubbleBudget = 4;                      // RFC 4380 §5.2.6
inline constexpr std::chrono::seconds kDefaultBubbleBudgetWindow{300};  // RFC 4380 §5.2.6
/// Bubble tokens rotate every epoch; the current and the previous epoch are accepted, so a token
/// lives between one and two epochs (a reply bubble comes back within a round trip).
inline constexpr std::chrono::seconds kDefaultTokenEpoch{64};

/// An IPv6 prefix (served range).
struct Ipv6Prefix {
  Ipv6Addr addr;
  uint8_t length = 128;
  bool contains(const Ipv6Addr& a) const;
  friend bool operator==(const Ipv6Prefix&, const Ipv6Prefix&) = default;
};

/// What the decisions need from the relay's configuration.
struct RelayParams {
  uint32_t prefix = kDefaultPrefix;  ///< Teredo prefix served (first 32 bits)
  /// The relay sits behind a non-cone NAT: also send a direct bubble to open it (RFC 4380
  /// §5.4.1 case 3, R2; Miredo's `RelayType restricted`).
  bool behindNat = false;
  /// RFC 4380 §5.4.1 case 2: send directly to C=1 destinations. Off by default (docs/security.md:
  /// an easy reflection vector; Miredo never does it). R12.
  bool coneShortcut = false;
  /// RFC 4380 §5.4.2 step 3 lets relays drop packets from peers they never sent to (Miredo
  /// does: the default). true accepts them and creates the entry. R23.
  bool acceptUnknownPeers = false;
  GlobalPolicy globalPolicy;
  RelayClock::duration trustTimeout = kDefaultTrustTimeout;
  /// Miredo profile (RFC 4380 §5.2.6 pacing, R6): bubbles only when packets arrive, >= spacing
  /// apart, at most `bubbleBudget` per `bubbleBudgetWindow` after the last one; then unreachable.
  RelayClock::duration bubbleSpacing = kDefaultBubbleSpacing;
  uint8_t bubbleBudget = kDefaultBubbleBudget;
  RelayClock::duration bubbleBudgetWindow = kDefaultBubbleBudgetWindow;
  /// Destinations the relay delivers to (RFC 4380 §5.4.2 step 5, SHOULD; R26). Empty
  /// means none (fail closed): use ::/0 to serve everything. Host-specific relay (RFC 4380 §3.4,
  /// §7.3.1): the host's own addresses as /128s.
  std::span<const Ipv6Prefix> servedRanges;
  /// Key of the bubble source token (bubbleSourceAddress()), from injected randomness. Use a key
  /// distinct from the peer table's hash key.
  SipKey bubbleKey;
  /// Length of a token epoch (bubbleSourceAddress()).
  RelayClock::duration tokenEpoch = kDefaultTokenEpoch;
  /// A host-specific relay (RFC 4380 §3.4, §7.3.1) carries only its host's own traffic: the
  /// native sources it transmits for. Empty: any source (a network relay).
  std::span<const Ipv6Addr> hostSources;
  /// A draining relay keeps serving its peers but admits no new ones.
  bool draining = false;
};

/// The relay's view of one peer (RFC 4380 §5.2), in and out of decide*().
struct PeerState {
  bool exists = false;  ///< in: an entry exists; out: an entry must exist (create it)
  bool trusted = false;
  Endpoint mapped;     ///< learned mapping (host order)
  RelayTime lastRx{};  ///< new entries: long ago (RFC 4380 §5.2.3: now - 30 s)
  RelayTime lastTx{};
  RelayTime lastBubble{};
  uint8_t bubbles = 0;
  uint32_t queuedPackets = 0;  ///< in only: packets in the peer's queue
  friend bool operator==(const PeerState&, const PeerState&) = default;
};

enum class BubbleKind : uint8_t {
  Indirect,  ///< to <embedded server>:3544, which relays it to the client (RFC 4380 §5.4.1)
  Direct,    ///< to the embedded mapping, to open our own NAT (behind-NAT relays)
};

/// Encapsulate `payload` (an IPv6 packet) in UDP to `dst`.
struct SendUdp {
  Endpoint dst;
  Bytes payload;
};
/// Send the bubble in `payload` (RelayOutput::bubble: 40 bytes, 46 with the Neighbor Discovery
/// Option trailer of an RFC 6081 Server Load Reduction advertisement) in UDP to `dst`.
struct SendBubble {
  BubbleKind kind;
  Endpoint dst;
  Bytes payload;
};
/// Write `packet` (the IPv6 packet without RFC 6081 trailers) to the tun device.
struct WriteTun {
  Bytes packet;
};
/// Append `packet` to the peer's queue (the caller counts a QueueFull drop if it does not fit).
struct QueuePacket {
  Bytes packet;
};
/// Send every queued packet, oldest first (R3), in UDP to `dst`.
struct FlushQueue {
  Endpoint dst;
};
/// Discard the peer's queued packets, counting each with `reason`.
struct DropQueue {
  DropReason reason;
};
/// Send an ICMPv6 error about `offending` back to its source, if the caller's rate limiter
/// allows (Miredo: 10/s), built with writeIcmpv6Error() from the relay's own IPv6 address.
/// Only emitted where RFC 4443 §2.4(e) allows an error.
struct Icmpv6Error {
  uint8_t type;
  uint8_t code;
  Bytes offending;
};
/// A bubble was received and used (RFC 4380 §5.4.2 step 5: consumed, never delivered).
struct ConsumeBubble {};
/// A packet was queued for an untrusted peer but no bubble went out (spacing or budget, RFC 4380
/// §5.2.6): counted, so operators see peers that do not answer.
struct BubbleSuppressed {};
/// The packet is dropped; count it under `reason`.
struct Drop {
  DropReason reason;
};

using RelayAction = std::variant<Drop, SendUdp, SendBubble, WriteTun, QueuePacket, FlushQueue,
                                 DropQueue, Icmpv6Error, ConsumeBubble, BubbleSuppressed>;

/// The actions of one decision, in execution order, and the bubble bytes they reference.
class RelayOutput {
 public:
  static constexpr size_t kMaxActions = 6;

  std::span<const RelayAction> actions() const { return {actions_.data(), count_}; }
  size_t size() const { return count_; }
  void clear() {
    count_ = 0;
    overflowed_ = false;
  }
  /// Appends `a`. A decision never emits more than kMaxActions; if one ever did, the action is
  /// not kept and overflowed() tells the caller (who reports a bug: lib/teredo has no logger).
  void push(const RelayAction& a) {
    if (count_ < kMaxActions) {
      actions_[count_++] = a;
    } else {
      overflowed_ = true;
    }
  }
  bool overflowed() const { return overflowed_; }
  /// The first action of type T, or nullptr.
  template <class T>
  const T* find() const {
    for (size_t i = 0; i < count_; ++i) {
      if (const T* t = std::get_if<T>(&actions_[i])) {
        return t;
      }
    }
    return nullptr;
  }
  template <class T>
  size_t count() const {
    size_t n = 0;
    for (size_t i = 0; i < count_; ++i) {
      n += std::holds_alternative<T>(actions_[i]) ? 1 : 0;
    }
    return n;
  }

  std::array<uint8_t, kIpv6HeaderSize + 8> bubble{};  ///< bytes behind SendBubble::payload

 private:
  std::array<RelayAction, kMaxActions> actions_{};
  size_t count_ = 0;
  bool overflowed_ = false;
};

/// The token epoch of `now`: whole `epochLength`s since the clock's epoch.
uint64_t tokenEpochOf(RelayTime now, RelayClock::duration epochLength);

/// The relay's bubble source address for the peer `peer` (its full Teredo address) in token
/// epoch `epoch`: fe80::/64 + the first 8 bytes (big-endian) of SipHash-2-4(key, 'B' || epoch
/// (8 bytes, big-endian) || peer (16 bytes)), with the low two bits of byte 8 (Modified EUI-64
/// u and g) cleared. An indirect bubble carries it as its source, so the peer's reply bubble is
/// addressed to it. Hashing the epoch in makes the token rotate as a per-epoch key would; hashing
/// the whole address (server field and flags included) means a token obtained for one Teredo
/// address (for instance by naming one's own host as the server) says nothing about another.
Ipv6Addr bubbleSourceAddress(const SipKey& key, const Ipv6Addr& peer, uint64_t epoch);
/// True when `dst` is the token of `peer` in the epoch of `now` or the one before.
bool isValidBubbleToken(const SipKey& key, const Ipv6Addr& peer, const Ipv6Addr& dst, RelayTime now,
                        RelayClock::duration epochLength);

/// The peer key of an IPv6 packet from tun: its destination. nullopt when shorter than 40 bytes
/// (decideTransmit() drops it; no lookup needed).
std::optional<Ipv6Addr> transmitPeerKey(Bytes ipv6);

/// IPv6 -> Teredo (RFC 4380 §5.4.1; R1-R13). `ipv6` is one packet read from tun.
/// Order: framing; a source not in hostSources (host-specific relay) -> Drop SrcNotServed;
/// multicast destination -> silent Drop (R11); outside the Teredo prefix ->
/// Icmpv6Error(1, 3) + Drop (R10); embedded client IPv4 not global -> Drop (R8); embedded server
/// IPv4 zero or not global -> Drop (R9); then, with state: trusted and valid -> SendUdp to the
/// mapping (R4); no entry while draining -> Drop Draining; C=1 with coneShortcut -> SendUdp to
/// the embedded mapping, entry trusted (R12); otherwise QueuePacket and, when the budget allows,
/// SendBubble indirect (+ direct when behindNat) (R1, R2, R5), else BubbleSuppressed; budget
/// exhausted -> DropQueue + Icmpv6Error(1, 3) + Drop (R6).
void decideTransmit(Bytes ipv6, const RelayParams& params, PeerState& peer, RelayTime now,
                    RelayOutput& out);

/// Teredo -> IPv6 (RFC 4380 §5.4.2; R20-R27). `packet` comes from parsePacket(),
/// `udpSrc` is the datagram's source. Look the peer up by packet.ip.src.
/// Order: non-Teredo source -> Drop SrcNotTeredo (R22); the embedded mapping must equal udpSrc,
/// unless the peer is trusted with that learned mapping (R20), or (symmetric NAT, R24) the
/// packet is a bubble from the embedded IPv4 address on another port, addressed to the peer's
/// token of this or the previous epoch, while the peer's entry is untrusted and waits for an
/// answer to a bubble we sent; else Drop SpoofedSource (R21, R27; a wrong, stale or foreign
/// token, another IPv4 address, or no bubble outstanding). No entry -> Drop UnknownPeer unless
/// acceptUnknownPeers (R23). Then the entry becomes trusted with mapping = udpSrc, last_rx = now,
/// bubbles reset, FlushQueue if packets wait (R3). Bubbles -> ConsumeBubble (R25), preceded by a
/// direct advertisement bubble when the bubble carries an RFC 6081 Server Load Reduction
/// solicitation (at most one per bubble spacing per peer); others -> WriteTun when the
/// destination is served, global scope, not multicast or link-local and not a Teredo address
/// (R26; a Teredo destination would come back through the tun), else Drop.
void decideReceive(const TeredoPacket& packet, const Endpoint& udpSrc, const RelayParams& params,
                   PeerState& peer, RelayTime now, RelayOutput& out);

}  // namespace teredo

// Glue between the pure relay decisions (teredo/relay.h) and the peer table (peers/peer_table.h):
// load a PeerState from a locked slot, and write the decided state back.
//
// Typical use on the relay's data path (one packet):
//   auto ref = table.lock(key, now);               // key: transmitPeerKey() or packet.ip.src
//   teredo::PeerState st = loadPeerState(ref);
//   const teredo::PeerState before = st;
//   teredo::decideTransmit(ipv6, params, st, now, out);
//   if (!storePeerState(ref, before, st, now, /*touch=*/true)) { drop PeerTableFull }
//   ... execute out.actions() with `ref` still held (QueuePacket -> ref.enqueue, FlushQueue ->
//   ref.drainQueue, DropQueue -> ref.dropQueue) ...
//
// Thread-safety: as PeerTable::Ref (the caller holds the shard lock). Ownership: none.
#pragma once

#include "peers/peer_table.h"
#include "teredo/relay.h"

namespace teredo::peers {

/// The peer's state as the decisions see it (exists = false when the slot is empty).
inline teredo::PeerState loadPeerState(const PeerTable::Ref& ref) {
  teredo::PeerState s;
  if (!ref.found()) {
    return s;
  }
  const PeerEntry e = ref.entry();  // decoded once: times as TimePoint, queue counters
  s.exists = true;
  s.trusted = e.trusted();
  s.mapped = e.mapped;
  s.lastRx = e.lastRx;
  s.lastTx = e.lastTx;
  s.lastBubble = e.lastBubble;
  s.bubbles = e.bubbles;
  s.queuedPackets = e.queuedPackets;
  return s;
}

/// Writes `after` back when it differs from `before`, creating the entry when `after.exists` and
/// the slot is empty. `touch` keeps an untrusted entry from idle expiry even when nothing changed
/// (use it for IPv6 -> Teredo packets: a destination still in use keeps its bubble budget).
/// Returns false when the entry could not be created (out of memory): drop the packet with
/// DropReason::PeerTableFull.
inline bool storePeerState(PeerTable::Ref& ref, const teredo::PeerState& before,
                           const teredo::PeerState& after, TimePoint now, bool touch) {
  if (!after.exists) {
    return true;  // decisions never delete entries; expiry does
  }
  if (!ref.found()) {
    if (ref.create(now) == CreateResult::NoMemory) {
      return false;
    }
  } else if (before == after) {
    if (touch) {
      ref.touch(now);
    }
    return true;
  }
  ref.setMapped(after.mapped);
  if (after.trusted) {
    ref.setTrusted(after.lastRx, now);
  } else {
    ref.setUntrusted(now);
    if (touch) {
      ref.touch(now);
    }
  }
  ref.setLastTx(after.lastTx);
  ref.setBubbles(after.bubbles, after.lastBubble);
  return true;
}

}  // namespace teredo::peers

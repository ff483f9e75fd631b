// Helpers shared by the peer-table tests: distinct peer addresses and small table configs.
// Thread-safety: pure functions. Header-only, test code only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "peers/peer_table.h"

namespace teredo::peers::peertest {

/// Peer i: a Teredo address (2001:0::/32, server 203.0.113.1) with i in the last 64 bits.
inline Ipv6Addr peerAddr(uint64_t i) {
  Ipv6Addr a;
  a.setWord(0, 0x20010000);
  a.setWord(1, 0xcb007101);  // 203.0.113.1
  a.setWord(2, static_cast<uint32_t>(i >> 32));
  a.setWord(3, static_cast<uint32_t>(i));
  return a;
}

/// A table of `maxPeers` in `shards`, with a fixed hash key (one byte `keyByte` set) so that
/// shard placement is the same on every run.
inline PeerTableConfig tableConfig(size_t maxPeers, size_t shards, uint8_t keyByte = 42) {
  PeerTableConfig c;
  c.maxPeers = maxPeers;
  c.shards = shards;
  c.hashKey.bytes[0] = keyByte;
  return c;
}

}  // namespace teredo::peers::peertest

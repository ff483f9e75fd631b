// Helpers shared by the peer-table tests: distinct peer addresses, small table configs and the
// process's resident set size for the memory tests.
// Thread-safety: pure functions (rssBytes reads /proc). Header-only, test code only.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>

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

/// Sanitizer builds replace malloc: RSS checks do not apply there. GCC defines the
/// __SANITIZE_* macros; clang answers __has_feature.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitizer = true;
#elif defined(__has_feature)
inline constexpr bool kSanitizer =
    __has_feature(address_sanitizer) || __has_feature(thread_sanitizer);
#else
inline constexpr bool kSanitizer = false;
#endif

/// Resident set size of this process (what the OS has actually given it).
inline size_t rssBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0;
  size_t resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace teredo::peers::peertest

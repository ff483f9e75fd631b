// Keyed 64-bit hashing (SipHash-2-4, Aumasson & Bernstein 2012), written from the paper.
//
// Used for two things that must not be predictable to an attacker: the relay's bubble source
// address token (RFC 4380 §5.4.1 bubbles; docs/server-policies.md; verified again on the reply,
// R24), and the peer table's shard/Judy key (so nobody can aim a flood of colliding IPv6 addresses
// at one shard or one Judy slot). The key comes from injected randomness (getrandom at startup;
// fixed in tests).
//
// Thread-safety: pure functions. Ownership: values only. Byte order: the 16-byte key and the
// message are byte strings; the key is read as two little-endian 64-bit words (as in the paper).
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace teredo {

/// A 128-bit SipHash key.
struct SipKey {
  std::array<uint8_t, 16> bytes{};
  friend bool operator==(const SipKey&, const SipKey&) = default;
};

/// SipHash-2-4 of `data` under `key` (64-bit output, the paper's reference definition).
uint64_t sipHash24(const SipKey& key, std::span<const uint8_t> data);

}  // namespace teredo

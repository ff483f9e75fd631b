// Shared helpers for the relay decision tests: packet builders, reference vectors, and a harness
// that runs decisions against a real PeerTable and records what would go on the wire.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "peers/peer_table.h"
#include "peers/relay_glue.h"
#include "teredo/packet.h"
#include "teredo/relay.h"

namespace teredo::relaytest {

using std::chrono::milliseconds;
using std::chrono::seconds;

inline const RelayTime kT0 = RelayTime{} + std::chrono::hours(1);

inline Ipv6Addr v6(const char* text) {
  auto a = parseIpv6(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(Ipv6Addr{});
}
inline uint32_t v4(const char* text) {
  auto a = parseIpv4(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(0);
}

/// E1 (tests/unit/teredo/address_test.cc): 2001:0:4136:e378:8000:63bf:3fff:fdd2
/// (server 65.54.227.120, C=1, port 40000, client 192.0.2.45, which is global by RFC 4380's list).
/// Pure vectors: nothing is sent.
inline Ipv6Addr e1() {
  return v6("2001:0:4136:e378:8000:63bf:3fff:fdd2");
}
/// E1 with C=0 (what RFC 5991 clients use).
inline Ipv6Addr e1NonCone() {
  return v6("2001:0:4136:e378:0:63bf:3fff:fdd2");
}
inline Endpoint e1Mapped() {
  return Endpoint{0xC000022D, 40000};
}
inline Endpoint e1Server() {
  return Endpoint{0x4136E378, kTeredoPort};
}

/// A Teredo address for server `server` and mapping `m`, flags `flags`.
inline Ipv6Addr teredoAddr(uint32_t server, Endpoint m, uint16_t flags = 0) {
  return encodeTeredo(kDefaultPrefix, TeredoFields{server, flags, m.port, m.addr});
}

inline SipKey testKey() {
  SipKey k;
  for (int i = 0; i < 16; ++i) {
    k.bytes[i] = static_cast<uint8_t>(i);
  }
  return k;
}

/// The relay's bubble token for `peer` (its full Teredo address) at time `t` (testKey()).
inline Ipv6Addr tokenFor(const Ipv6Addr& peer, RelayTime t = kT0) {
  return bubbleSourceAddress(testKey(), peer, tokenEpochOf(t, kDefaultTokenEpoch));
}

/// An IPv6 packet: header + payload (next header given).
inline std::vector<uint8_t> ipv6Packet(const Ipv6Addr& src, const Ipv6Addr& dst,
                                       uint8_t nextHeader = kNextHeaderUdp,
                                       std::vector<uint8_t> payload = {1, 2, 3, 4, 5, 6, 7, 8},
                                       uint8_t hopLimit = 64) {
  std::vector<uint8_t> p(kIpv6HeaderSize + payload.size());
  writeIpv6Header(p, src, dst, nextHeader, static_cast<uint16_t>(payload.size()), hopLimit);
  std::copy(payload.begin(), payload.end(), p.begin() + kIpv6HeaderSize);
  return p;
}
inline std::vector<uint8_t> bubblePacket(const Ipv6Addr& src, const Ipv6Addr& dst) {
  std::vector<uint8_t> p(kIpv6HeaderSize);
  writeBubble(p, src, dst);
  return p;
}

inline std::string hex(Bytes b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

/// What the harness saw leave the relay.
struct WireEvent {
  enum Kind { Udp, Bubble, Tun, Icmp } kind;
  Endpoint dst;
  std::vector<uint8_t> bytes;
  BubbleKind bubble = BubbleKind::Indirect;
};

/// The relay's packet path as a service would wire it (minus sockets): PeerTable + decisions +
/// an ICMPv6 rate limiter (10/s like Miredo). Used for checks that span several packets.
class Harness {
 public:
  explicit Harness(peers::PeerTableConfig tc = defaultTable(), RelayParams p = defaultParams())
      : table_(tc), params_(p) {
    params_.servedRanges = served_;
  }

  static peers::PeerTableConfig defaultTable() {
    peers::PeerTableConfig c;
    c.maxPeers = 1024;
    c.shards = 4;
    c.hashKey.bytes[0] = 7;
    return c;
  }
  static RelayParams defaultParams() {
    RelayParams p;
    p.bubbleKey = testKey();
    return p;
  }

  RelayParams& params() { return params_; }
  peers::PeerTable& table() { return table_; }

  void transmit(const std::vector<uint8_t>& ipv6, RelayTime now) {
    const auto key = transmitPeerKey(ipv6);
    if (!key) {
      RelayOutput out;
      PeerState st;
      decideTransmit(ipv6, params_, st, now, out);
      execute(out, nullptr, now);
      return;
    }
    auto ref = table_.lock(*key, now);
    PeerState st = peers::loadPeerState(ref);
    const PeerState before = st;
    RelayOutput out;
    decideTransmit(ipv6, params_, st, now, out);
    if (!peers::storePeerState(ref, before, st, now, /*touch=*/true)) {
      ++drops[DropReason::PeerTableFull];
      return;
    }
    execute(out, &ref, now);
  }

  void receive(const std::vector<uint8_t>& datagram, Endpoint udpSrc, RelayTime now) {
    auto parsed = parsePacket(datagram);
    if (!parsed) {
      ++drops[parsed.reason()];
      return;
    }
    auto ref = table_.lock(parsed->ip.src, now);
    PeerState st = peers::loadPeerState(ref);
    const PeerState before = st;
    RelayOutput out;
    decideReceive(*parsed, udpSrc, params_, st, now, out);
    if (!peers::storePeerState(ref, before, st, now, /*touch=*/false)) {
      ++drops[DropReason::PeerTableFull];
      return;
    }
    execute(out, &ref, now);
  }

  std::vector<WireEvent> wire;
  std::map<DropReason, int> drops;
  int bubblesConsumed = 0;

 private:
  void execute(const RelayOutput& out, peers::PeerTable::Ref* ref, RelayTime now) {
    for (const RelayAction& a : out.actions()) {
      if (auto* s = std::get_if<SendUdp>(&a)) {
        wire.push_back({WireEvent::Udp, s->dst, {s->payload.begin(), s->payload.end()}});
      } else if (auto* b = std::get_if<SendBubble>(&a)) {
        wire.push_back(
            {WireEvent::Bubble, b->dst, {b->payload.begin(), b->payload.end()}, b->kind});
      } else if (auto* t = std::get_if<WriteTun>(&a)) {
        wire.push_back({WireEvent::Tun, {}, {t->packet.begin(), t->packet.end()}});
      } else if (auto* q = std::get_if<QueuePacket>(&a)) {
        if (ref->enqueue(q->packet) != peers::EnqueueResult::Ok) {
          ++drops[DropReason::QueueFull];
        }
      } else if (auto* f = std::get_if<FlushQueue>(&a)) {
        std::vector<uint8_t> scratch(65536);
        ref->drainQueue(scratch, [&](Bytes p) {
          wire.push_back({WireEvent::Udp, f->dst, {p.begin(), p.end()}});
        });
      } else if (auto* dq = std::get_if<DropQueue>(&a)) {
        drops[dq->reason] += static_cast<int>(ref->dropQueue());
      } else if (auto* e = std::get_if<Icmpv6Error>(&a)) {
        if (now - lastIcmp_ >= milliseconds(100)) {  // Miredo ICMP_RATE_LIMIT_MS
          lastIcmp_ = now;
          std::vector<uint8_t> buf(kMinMtu);
          const size_t n =
              writeIcmpv6Error(buf, v6("2001:db8:ffff::1"), e->type, e->code, 0, e->offending);
          buf.resize(n);
          wire.push_back({WireEvent::Icmp, {}, buf});
        } else {
          ++drops[DropReason::RateLimited];
        }
      } else if (std::holds_alternative<ConsumeBubble>(a)) {
        ++bubblesConsumed;
      } else if (auto* d = std::get_if<Drop>(&a)) {
        ++drops[d->reason];
      }
    }
  }

  peers::PeerTable table_;
  RelayParams params_;
  std::vector<Ipv6Prefix> served_{Ipv6Prefix{Ipv6Addr{}, 0}};  // ::/0
  RelayTime lastIcmp_{};
};

inline int countKind(const std::vector<WireEvent>& w, WireEvent::Kind k) {
  int n = 0;
  for (const auto& e : w) {
    n += e.kind == k ? 1 : 0;
  }
  return n;
}

}  // namespace teredo::relaytest

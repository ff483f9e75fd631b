// The tun the lib/net tests open: configured as the relay configures its own (tunnel sysctls, MTU
// 1280, up, link-local fe80::1 and 2001:db8:1::1 as addresses, 2001::/32 routed into it), so
// that a socket on 2001:db8:1::1 reaches Teredo addresses through it, and ready: right after
// set-up the kernel may drop, for a few milliseconds, what is written to the tun, so
// openConfiguredTun() returns only once an echo request written to it was answered (the answer
// is read and consumed). Use inside runInNetns().
// Thread-safety: test helpers, one thread.
#pragma once

#include <gtest/gtest.h>

#include <poll.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "net/tun.h"
#include "test_packets.h"

namespace teredo::net::testing {

/// The native host's address on the tun.
inline constexpr const char* kTunSelf = "2001:db8:1::1";

/// Opens tun `name` with `queues` queues and configures it; fails the test on any error (and
/// returns a closed Tun if it could not open it).
inline Tun openConfiguredTun(const char* name, size_t queues = 1, const TunOptions& options = {}) {
  StatusOr<Tun> t = Tun::open(name, queues, options);
  EXPECT_TRUE(t.ok()) << t.status().message();
  if (!t.ok()) {
    return Tun();
  }
  Tun tun = std::move(t).value();
  for (Status s :
       {tun.applyTunnelSysctls(), tun.setMtu(1280), tun.setUp(), tun.addAddress(v6("fe80::1"), 64),
        tun.addAddress(v6(kTunSelf), 128), tun.addRoute(v6("2001::"), 32)}) {
    EXPECT_TRUE(s.ok()) << s.message();
  }
  // Ready check: an echo request from a Teredo address to ours, answered back into the tun.
  const Ipv6Addr peer = v6("2001:0:4136:e378:8000:63bf:3fff:fdd2");
  constexpr uint16_t kProbeId = 0x7e57;
  const std::vector<uint8_t> probe =
      icmpv6Echo(peer, v6(kTunSelf), kIcmpEchoRequest, kProbeId, 1, 8);
  VnetPacketBatch vnetBatch(8);
  PacketBatch plainBatch(8);
  auto answered = [&] {  // the reply may come out of any queue (flow hash)
    std::vector<struct pollfd> fds;
    for (size_t q = 0; q < tun.queueCount(); ++q) {
      fds.push_back({tun.fd(q), POLLIN, 0});
    }
    for (int polls = 0; polls < 5 && ::poll(fds.data(), fds.size(), 20) > 0; ++polls) {
      for (size_t q = 0; q < tun.queueCount(); ++q) {
        std::vector<Bytes> packets;
        if (tun.vnetCalls()) {
          for (int i = 0, n = tun.readVnetBatch(q, vnetBatch); i < n; ++i) {
            packets.push_back(vnetBatch.packet(static_cast<size_t>(i)));
          }
        } else {
          for (int i = 0, n = tun.readBatch(q, plainBatch); i < n; ++i) {
            packets.push_back(plainBatch[static_cast<size_t>(i)]);
          }
        }
        for (Bytes r : packets) {
          if (r.size() >= kIpv6HeaderSize + 8 && r[6] == kNextHeaderIcmpv6 &&
              r[kIpv6HeaderSize] == kIcmpEchoReply && r[kIpv6HeaderSize + 4] == (kProbeId >> 8) &&
              r[kIpv6HeaderSize + 5] == (kProbeId & 0xff)) {
            return true;
          }
        }
      }
    }
    return false;
  };
  bool ready = false;
  for (int attempt = 0; attempt < 50 && !ready && tun.queueCount() > 0; ++attempt) {
    ready = tun.write(0, probe) == 0 && answered();
  }
  EXPECT_TRUE(ready) << "the kernel never answered an echo request written to the tun";
  return tun;
}

}  // namespace teredo::net::testing

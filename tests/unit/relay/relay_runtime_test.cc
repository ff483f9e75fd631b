// makeRuntime (services/relay/relay_runtime.h): every reloadable relay setting lands in the
// RelayParams the decisions read, table-driven from the defaults; the spans point into the
// runtime's own storage.
#include "relay_runtime.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace teredo::relay {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Ipv6Addr ip6(const char* s) {
  return *parseIpv6(s);
}

SipKey key(uint8_t seed) {
  SipKey k;
  for (size_t i = 0; i < k.bytes.size(); ++i) {
    k.bytes[i] = static_cast<uint8_t>(seed + i);
  }
  return k;
}

/// What a RelayRuntime should hold (it is not copyable, so the expectation is a plain struct).
struct Want {
  std::vector<Ipv6Prefix> served{Ipv6Prefix{Ipv6Addr{}, 0}};
  bool hostSpecific = false;
  std::vector<Ipv6Addr> hostAddresses;
  uint32_t prefix = kDefaultPrefix;
  bool behindNat = false;
  bool coneShortcut = false;
  bool acceptUnknownPeers = false;
  GlobalPolicy global;
  RelayClock::duration trustTimeout = seconds(30);
  RelayClock::duration bubbleSpacing = seconds(2);
  uint8_t bubbleBudget = 4;
  RelayClock::duration bubbleWindow = seconds(300);
  double icmpPerSecond = 10;
  double icmpBurst = 10;
};

struct RuntimeCase {
  std::string name;
  std::function<void(config::RelayConfig&)> configure;
  std::function<void(Want&)> expect;
};

std::vector<RuntimeCase> runtimeCases() {
  return {
      {"defaults", [](config::RelayConfig&) {}, [](Want&) {}},
      {"served_prefixes",
       [](config::RelayConfig& c) {
         c.relay.servedPrefixes = {{ip6("2001:db8::"), 32}, {ip6("2a00:1::"), 48}};
       },
       [](Want& w) {
         w.served = {{ip6("2001:db8::"), 32}, {ip6("2a00:1::"), 48}};
       }},
      {"nothing_served_fails_closed", [](config::RelayConfig& c) { c.relay.servedPrefixes = {}; },
       [](Want& w) { w.served = {}; }},
      // RFC 4380 §3.4: only the host's own addresses, as /128s, and only its own traffic; the
      // served prefixes do not apply.
      {"host_specific",
       [](config::RelayConfig& c) {
         c.relay.mode = config::RelayMode::kHostSpecific;
         c.relay.hostAddresses = {ip6("2001:db8::1"), ip6("2001:db8::2")};
         c.relay.servedPrefixes = {{ip6("2a00:1::"), 48}};
       },
       [](Want& w) {
         w.hostSpecific = true;
         w.hostAddresses = {ip6("2001:db8::1"), ip6("2001:db8::2")};
         w.served = {{ip6("2001:db8::1"), 128}, {ip6("2001:db8::2"), 128}};
       }},
      {"prefix", [](config::RelayConfig& c) { c.relay.prefix = 0x3ffe831f; },
       [](Want& w) { w.prefix = 0x3ffe831f; }},
      {"behind_nat", [](config::RelayConfig& c) { c.relay.behindNat = true; },
       [](Want& w) { w.behindNat = true; }},
      {"cone_shortcut", [](config::RelayConfig& c) { c.relay.coneShortcut = true; },
       [](Want& w) { w.coneShortcut = true; }},
      {"accept_unknown_peers", [](config::RelayConfig& c) { c.relay.acceptUnknownPeers = true; },
       [](Want& w) { w.acceptUnknownPeers = true; }},
      {"rfc6890_blocks_global",
       [](config::RelayConfig& c) { c.globalPolicy.rfc6890NonGlobal = false; },
       [](Want& w) { w.global.rfc6890NonGlobal = false; }},
      {"trust_timeout", [](config::RelayConfig& c) { c.relay.trustTimeout = milliseconds(7500); },
       [](Want& w) { w.trustTimeout = milliseconds(7500); }},
      {"bubble_pacing",
       [](config::RelayConfig& c) {
         c.relay.bubble.minInterval = milliseconds(500);
         c.relay.bubble.maxPerWindow = 9;
         c.relay.bubble.window = milliseconds(60000);
       },
       [](Want& w) {
         w.bubbleSpacing = milliseconds(500);
         w.bubbleBudget = 9;
         w.bubbleWindow = seconds(60);
       }},
      {"bubble_budget_clamped_to_8_bits",
       [](config::RelayConfig& c) { c.relay.bubble.maxPerWindow = 1000; },
       [](Want& w) { w.bubbleBudget = 255; }},
      {"icmp_budget",
       [](config::RelayConfig& c) {
         c.relay.icmpErrorsPerSecond = 0;
         c.relay.icmpErrorsBurst = 3;
       },
       [](Want& w) {
         w.icmpPerSecond = 0;
         w.icmpBurst = 3;
       }},
      // Settings that need a restart (tun, sockets, table) never reach the runtime.
      {"restart_only_settings_ignored",
       [](config::RelayConfig& c) {
         c.relay.mtu = 1400;
         c.relay.workers = 3;
         c.relay.maxPeers = 10;
         c.relay.queueBytesPerPeer = 100;
       },
       [](Want&) {}},
  };
}

class MakeRelayRuntime : public ::testing::TestWithParam<RuntimeCase> {};

TEST_P(MakeRelayRuntime, MapsTheConfig) {
  config::RelayConfig c;
  GetParam().configure(c);
  Want w;
  GetParam().expect(w);
  const std::shared_ptr<const RelayRuntime> r = makeRuntime(c, key(1), 9);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->served, w.served);
  EXPECT_EQ(r->hostSpecific, w.hostSpecific);
  EXPECT_EQ(r->hostAddresses, w.hostAddresses);
  const RelayParams& p = r->params;
  // The spans the decisions read are views of the runtime's own vectors.
  EXPECT_EQ(p.servedRanges.data(), r->served.data());
  EXPECT_EQ(p.servedRanges.size(), r->served.size());
  if (w.hostSpecific) {
    EXPECT_EQ(p.hostSources.data(), r->hostAddresses.data());
    EXPECT_EQ(p.hostSources.size(), w.hostAddresses.size());
  } else {
    EXPECT_TRUE(p.hostSources.empty());  // a network relay transmits for any source
  }
  EXPECT_EQ(p.prefix, w.prefix);
  EXPECT_EQ(p.behindNat, w.behindNat);
  EXPECT_EQ(p.coneShortcut, w.coneShortcut);
  EXPECT_EQ(p.acceptUnknownPeers, w.acceptUnknownPeers);
  EXPECT_EQ(p.globalPolicy, w.global);
  EXPECT_EQ(p.trustTimeout, w.trustTimeout);
  EXPECT_EQ(p.bubbleSpacing, w.bubbleSpacing);
  EXPECT_EQ(p.bubbleBudget, w.bubbleBudget);
  EXPECT_EQ(p.bubbleBudgetWindow, w.bubbleWindow);
  EXPECT_EQ(p.bubbleKey.bytes, key(1).bytes);
  EXPECT_FALSE(p.draining);  // a worker input, never config
  EXPECT_EQ(r->icmpErrorsPerSecond, w.icmpPerSecond);
  EXPECT_EQ(r->icmpErrorsBurst, w.icmpBurst);
  EXPECT_EQ(r->version, 9u);
}

INSTANTIATE_TEST_SUITE_P(Table, MakeRelayRuntime, ::testing::ValuesIn(runtimeCases()),
                         [](const ::testing::TestParamInfo<RuntimeCase>& i) {
                           return i.param.name;
                         });

TEST(RelayRuntimeHolder, AReloadLeavesTheOldSnapshotWhole) {
  config::RelayConfig c;
  c.relay.servedPrefixes = {{ip6("2001:db8::"), 32}};
  RuntimeHolder holder(makeRuntime(c, key(1), 1));
  const std::shared_ptr<const RelayRuntime> old = holder.load();
  const uint64_t g0 = holder.generation();
  c.relay.servedPrefixes = {{ip6("2a00:1::"), 48}, {ip6("2a00:2::"), 48}};
  holder.store(makeRuntime(c, key(1), 2));
  EXPECT_EQ(holder.generation(), g0 + 1);
  EXPECT_EQ(holder.load()->version, 2u);
  EXPECT_EQ(holder.load()->params.servedRanges.size(), 2u);
  // A worker still using the old snapshot sees its own ranges, not the new ones.
  ASSERT_EQ(old->params.servedRanges.size(), 1u);
  EXPECT_EQ(old->params.servedRanges[0], (Ipv6Prefix{ip6("2001:db8::"), 32}));
}

}  // namespace
}  // namespace teredo::relay

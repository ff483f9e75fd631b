#include "relay_runtime.h"

namespace teredo::relay {

std::shared_ptr<const RelayRuntime> makeRuntime(const config::RelayConfig& c, const SipKey& key,
                                                uint64_t version) {
  auto r = std::make_shared<RelayRuntime>();
  const config::RelaySettings& s = c.relay;
  r->hostSpecific = s.mode == config::RelayMode::kHostSpecific;
  r->hostAddresses = s.hostAddresses;
  if (r->hostSpecific) {
    // RFC 4380 §3.4: a host-specific relay serves only the host's own addresses.
    for (const Ipv6Addr& a : s.hostAddresses) {
      r->served.push_back(Ipv6Prefix{a, 128});
    }
  } else {
    for (const config::Ipv6Prefix& p : s.servedPrefixes) {
      r->served.push_back(Ipv6Prefix{p.addr, p.length});
    }
  }
  RelayParams& p = r->params;
  p.prefix = s.prefix;
  p.behindNat = s.behindNat;
  p.coneShortcut = s.coneShortcut;
  p.acceptUnknownPeers = s.acceptUnknownPeers;
  p.globalPolicy = c.globalPolicy;
  p.trustTimeout = s.trustTimeout;
  p.bubbleSpacing = s.bubble.minInterval;
  p.bubbleBudget = static_cast<uint8_t>(s.bubble.maxPerWindow > 255 ? 255 : s.bubble.maxPerWindow);
  p.bubbleBudgetWindow = s.bubble.window;
  p.servedRanges = r->served;
  if (r->hostSpecific) {
    p.hostSources = r->hostAddresses;  // RFC 4380 §3.4: only the host's own traffic
  }
  p.bubbleKey = key;
  r->icmpErrorsPerSecond = s.icmpErrorsPerSecond;
  r->icmpErrorsBurst = s.icmpErrorsBurst;
  r->batchDelayUs = s.batchDelayUs;
  r->version = version;
  return r;
}

}  // namespace teredo::relay

#include "server_runtime.h"

namespace teredo::server {

ServerRuntime makeRuntime(const config::ServerConfig& c, uint64_t version) {
  const config::ServerSettings& s = c.server;
  ServerRuntime r;
  r.policy.primary = s.primaryAddress;
  r.policy.secondary = s.secondaryAddress;
  r.policy.port = s.port;
  r.policy.prefix = s.prefix;
  r.policy.strictRs = s.strictRs;
  r.policy.global = c.globalPolicy;
  r.policy.forwardNative = s.ipv6Forward.enabled;
  r.policy.echoOnly = s.ipv6Forward.echoOnly;
  r.policy.maxForwardBytes = static_cast<uint16_t>(
      s.ipv6Forward.maxPacketBytes > 65535 ? 65535 : s.ipv6Forward.maxPacketBytes);
  r.policy.maxBubbleBytes =
      static_cast<uint16_t>(s.maxBubbleBytes > 65535 ? 65535 : s.maxBubbleBytes);
  r.policy.forwardToOtherServers = s.otherServerClients == config::OtherServerClients::kForward;
  r.raMtu = s.advertiseMtu ? static_cast<uint16_t>(s.mtu) : 0;
  r.rsPerSecond = s.rateLimit.rsPerSecond;
  r.rsBurst = s.rateLimit.rsBurst;
  r.forwardPerSecond = s.rateLimit.forwardPerSecond;
  r.forwardBurst = s.rateLimit.forwardBurst;
  r.forwardGlobalPerSecond = s.rateLimit.forwardGlobalPerSecond;
  r.forwardGlobalBurst = s.rateLimit.forwardGlobalBurst;
  r.natObservation = s.natObservation.enabled;
  r.version = version;
  return r;
}

}  // namespace teredo::server

// teredo-relay: an RFC 4380 Teredo relay. See docs/configuration.md and README.md.
#include "agent/agent_host.h"
#include "relay_agent.h"

int main(int argc, char** argv) {
  const teredo::agent::AgentInfo info{
      "teredo-relay",
      "A Teredo relay (RFC 4380 §5.4): carries IPv6 between the IPv6 Internet and Teredo\n"
      "clients through a tun device routed for the Teredo prefix (2001::/32)."};
  return teredo::agent::runAgent<teredo::config::RelayConfig>(argc, argv, info,
                                                              teredo::relay::openRelayAgent);
}

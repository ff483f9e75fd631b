// teredo-server: an RFC 4380 Teredo server. See docs/configuration.md and README.md.
#include "agent/agent_host.h"
#include "server_agent.h"

int main(int argc, char** argv) {
  const teredo::agent::AgentInfo info{
      "teredo-server",
      "A Teredo server (RFC 4380 §5.3, RFC 5991, RFC 6081): qualifies Teredo clients on two\n"
      "consecutive public IPv4 addresses and relays their bubbles and small ICMPv6."};
  return teredo::agent::runAgent<teredo::config::ServerConfig>(argc, argv, info,
                                                               teredo::server::openServerAgent);
}

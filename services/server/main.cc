// teredo-server: an RFC 4380 Teredo server. See docs/configuration.md and README.md.
#include "common/daemon.h"
#include "server_app.h"

int main(int argc, char** argv) {
  const teredo::daemon::DaemonInfo info{
      "teredo-server",
      "A Teredo server (RFC 4380 §5.3, RFC 5991, RFC 6081): qualifies Teredo clients on two\n"
      "consecutive public IPv4 addresses and relays their bubbles and small ICMPv6.",
      teredo::config::Role::kServer};
  return teredo::daemon::daemonMain(argc, argv, info, teredo::server::runServer);
}

// teredo-relay: an RFC 4380 Teredo relay. See docs/configuration.md and README.md.
#include "common/daemon.h"
#include "relay_app.h"

int main(int argc, char** argv) {
  const teredo::daemon::DaemonInfo info{
      "teredo-relay",
      "A Teredo relay (RFC 4380 §5.4): carries IPv6 between the IPv6 Internet and Teredo\n"
      "clients through a tun device routed for the Teredo prefix (2001::/32).",
      teredo::config::Role::kRelay};
  return teredo::daemon::daemonMain(argc, argv, info, teredo::relay::runRelay);
}

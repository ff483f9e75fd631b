// teredo-relay's process wiring: config, tun, sockets, peer table, workers, admin HTTP, signals.
// No protocol logic lives here (see lib/teredo/relay.h and lib/peers).
//
// Thread-safety: run on the main thread; everything it starts is stopped and joined before it
// returns. Ownership: owns all of the process's resources.
#pragma once

#include <string>

namespace teredo::relay {

/// Runs the relay until SIGTERM/SIGINT. Exit status: 0 clean stop, 1 bad config, 2 environment
/// error (tun, bind, privileges). On exit the tun device and its route are gone.
int runRelay(const std::string& configPath);

}  // namespace teredo::relay

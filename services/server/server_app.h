// teredo-server's process wiring: config, sockets, workers, admin HTTP, NAT observation,
// controller client, signals. No protocol logic lives here (see lib/teredo/server.h).
//
// Thread-safety: run() on the main thread; everything it starts is stopped and joined before it
// returns. Ownership: owns all of the process's resources.
#pragma once

#include <string>

namespace teredo::server {

/// Runs the server with the config file at `configPath` until SIGTERM/SIGINT. Returns the exit
/// status (0 clean stop, 1 bad config, 2 environment error such as a failed bind).
int runServer(const std::string& configPath);

}  // namespace teredo::server

// Runs one parsed teredoctl command (cli.h): reads the files it names (config set's YAML or
// JSON, config from-miredo's Miredo file), makes its AdminService call through AdminClient
// (client.h) and prints the response (output.h, or JSON with --json).
//
// Thread-safety: run() uses only its arguments and the streams it is given; one call at a time
// per stream.
// Ownership: nothing is kept after run() returns.
#pragma once

#include <ostream>

#include "cli.h"

namespace teredoctl {

/// Runs `invocation`; the response goes to `out`, errors and notes to `err`. Returns the exit
/// status (kExitOk, kExitFailure, kExitInvalidArgument; see cli.h).
int run(const Invocation& invocation, std::ostream& out, std::ostream& err);

}  // namespace teredoctl

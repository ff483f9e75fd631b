// teredoctl: the operator CLI for teredo-controller's AdminService. Every call of the API;
// readable tables by default, proto JSON with --json.
//
// main() only wires the parts together: cli.h parses the command line (and knows the exit
// statuses), commands.h runs the command through client.h (the gRPC channel and credentials)
// and prints with output.h.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli.h"
#include "commands.h"

int main(int argc, char** argv) {
  const char* env = std::getenv("TEREDOCTL_CONTROLLER");
  const teredoctl::ParseResult parsed =
      teredoctl::parseCommandLine(std::vector<std::string>(argv + 1, argv + argc),
                                  env != nullptr ? env : teredoctl::kDefaultController);
  if (!parsed.invocation) {
    std::cout << parsed.out;
    std::cerr << parsed.err;
    return parsed.exitCode;
  }
  return teredoctl::run(*parsed.invocation, std::cout, std::cerr);
}

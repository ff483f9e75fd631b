// teredoctl: the operator CLI for teredo-controller's AdminService. Every call of the API;
// readable tables by default, proto JSON with --json.
//
// main() only wires the parts together: cli.h parses the command line (and knows the exit
// statuses), commands.h runs the command through client.h (the gRPC channel and credentials)
// and prints with output.h.
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "base/file.h"
#include "cli.h"
#include "commands.h"
#include "contexts.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  // The context file ($TEREDOCTL_CONFIG, else ~/.config/teredoctl/config.yaml), if there is one.
  const char* home = std::getenv("HOME");
  const char* configEnv = std::getenv("TEREDOCTL_CONFIG");
  const std::string configPath = configEnv != nullptr ? configEnv
                                                      : (home != nullptr ? std::string(home) : "") +
                                                            "/.config/teredoctl/config.yaml";
  std::optional<teredoctl::ContextFile> contexts;
  if (auto text = teredo::readFile(configPath); text.ok()) {
    auto parsed = teredoctl::parseContextFile(*text, configPath, home != nullptr ? home : "");
    if (!parsed.ok()) {
      std::cerr << "teredoctl: " << parsed.status().message() << "\n";
      return teredoctl::kExitUsage;
    }
    contexts = std::move(parsed).value();
  } else if (configEnv != nullptr) {
    std::cerr << "teredoctl: TEREDOCTL_CONFIG: " << text.status().message() << "\n";
    return teredoctl::kExitUsage;
  }
  const char* env = std::getenv("TEREDOCTL_CONTROLLER");
  const auto start =
      teredoctl::startingOptions(contexts, teredoctl::contextFlag(args),
                                 env != nullptr ? std::optional<std::string>(env) : std::nullopt);
  if (!start.ok()) {
    std::cerr << "teredoctl: " << start.status().message() << "\n";
    return teredoctl::kExitUsage;
  }
  const teredoctl::ParseResult parsed = teredoctl::parseCommandLine(args, *start);
  if (!parsed.invocation) {
    std::cout << parsed.out;
    std::cerr << parsed.err;
    return parsed.exitCode;
  }
  return teredoctl::run(*parsed.invocation, std::cout, std::cerr);
}

// teredo-relay: an RFC 4380 Teredo relay. See docs/configuration.md and README.md.
#include <cstring>
#include <iostream>
#include <string>

#include "config/config.h"
#include "relay_app.h"
#include "teredo/build_info.h"

namespace {

void usage(std::ostream& out) {
  out << "Usage: teredo-relay --config FILE\n"
         "       teredo-relay --check-config FILE\n"
         "\n"
         "A Teredo relay (RFC 4380 §5.4): carries IPv6 between the IPv6 Internet and Teredo\n"
         "clients through a tun device routed for the Teredo prefix (2001::/32).\n"
         "\n"
         "Options:\n"
         "  --config FILE        run with the YAML config FILE (SIGHUP reloads it)\n"
         "  --check-config FILE  print the effective config and exit 0, or every error and\n"
         "                       exit 1\n"
         "  --help               this text\n"
         "  --version            version and commit\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string config;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage(std::cout);
      return 0;
    }
    if (arg == "--version" || arg == "-V") {
      std::cout << "teredo-relay " << teredo::build::kVersion << " (" << teredo::build::kCommit
                << ")\n";
      return 0;
    }
    if ((arg == "--check-config" || arg == "--config") && i + 1 < argc) {
      if (arg == "--check-config") {
        return teredo::config::checkConfig(teredo::config::Role::kRelay, argv[i + 1], std::cout,
                                           std::cerr);
      }
      config = argv[++i];
      continue;
    }
    std::cerr << "teredo-relay: unknown or incomplete argument '" << arg << "'\n";
    usage(std::cerr);
    return 64;
  }
  if (config.empty()) {
    std::cerr << "teredo-relay: --config FILE is required\n";
    usage(std::cerr);
    return 64;
  }
  return teredo::relay::runRelay(config);
}

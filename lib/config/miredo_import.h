// Converts a Miredo configuration file into a Teredo Fleet config, so an operator can move a
// running miredo-server or Miredo relay over without re-deriving every setting:
//   miredo-server.conf(5) -> teredo-server YAML (ServerBindAddress, ServerBindAddress2, Prefix,
//                            InterfaceMTU)
//   miredo.conf(5) in relay mode -> teredo-relay YAML (RelayType, BindAddress, BindPort, Prefix,
//                            InterfaceMTU, InterfaceName)
// The mapping is the one docs/configuration.md documents ("Replaces" column and "Miredo keys
// without an equivalent"). Miredo's syntax: one "Directive value" per line, directive names
// case-insensitive, blank lines and lines starting with '#' ignored.
//
// Every directive that cannot be carried over is an error with the Miredo file:line (a client
// config, an unknown or repeated directive, a missing or extra value); directives without an
// equivalent that do not matter for the new daemon (SyslogFacility, client-only ones in a relay
// file) become notes. The generated YAML is then loaded by the daemon's own loader, and what it
// refuses is reported against the Miredo line that produced the key.
//
// Thread-safety: a pure function. Ownership: the result is a value.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace teredo::config {

enum class MiredoRole { Server, Relay };

struct MiredoImport {
  /// The converted config file; each key carries the Miredo directive it came from as a comment.
  /// Meaningful only when errors is empty.
  std::string yaml;
  /// Why the file cannot be converted as it is (file = the Miredo file, line = its line).
  std::vector<Violation> errors;
  /// Directives deliberately not carried over, "file:line: Directive: why".
  std::vector<std::string> notes;
  bool ok() const { return errors.empty(); }
};

MiredoImport importMiredoConfig(std::string_view text, std::string_view file, MiredoRole role);

}  // namespace teredo::config

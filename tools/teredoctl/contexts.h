// teredoctl's own config file: named contexts, each a controller address with its credentials,
// like a kubeconfig. $TEREDOCTL_CONFIG, else ~/.config/teredoctl/config.yaml:
//
//   current-context: prod
//   contexts:
//     prod:
//       controller: ctl.example.net:9548
//       token-file: ~/.config/teredoctl/prod.token
//       tls-ca: /etc/teredo/ca.pem          # and tls-cert, tls-key, tls-server-name
//       timeout: 10
//     lab:
//       controller: 127.0.0.1:9548
//       token-file: /tmp/lab/admin-token
//
// `--context NAME` picks one (else current-context). Precedence: options on the command line,
// then the context, then $TEREDOCTL_CONTROLLER (the address only), then the built-in defaults.
//
// Thread-safety: pure functions. Ownership: values.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "cli.h"

namespace teredoctl {

struct ContextFile {
  std::string current;                            ///< current-context ("" = none)
  std::map<std::string, GlobalOptions> contexts;  ///< only the keys a context sets differ
};

/// Parses the file's text. Errors name `file:line` and the key (unknown keys, a context that is
/// not a mapping, a timeout that is not a number of seconds in 1..86400, a current-context that
/// names no context). "~/" at the start of a path is $HOME (`home`).
teredo::StatusOr<ContextFile> parseContextFile(std::string_view text, const std::string& file,
                                               const std::string& home);

/// The value of the last --context NAME / --context=NAME in `args`, if any.
std::optional<std::string> contextFlag(const std::vector<std::string>& args);

/// The defaults the command line starts from: `envController` (when set) over the built-in
/// ones, then the chosen context over those. A named context missing from `file` (or no file)
/// is an error; without a name and without current-context, no context applies.
teredo::StatusOr<GlobalOptions> startingOptions(const std::optional<ContextFile>& file,
                                                const std::optional<std::string>& name,
                                                const std::optional<std::string>& envController);

}  // namespace teredoctl

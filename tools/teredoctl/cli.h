// teredoctl's command line: the global options, the commands and their arguments (defined with
// CLI11 in cli.cc), and parseCommandLine(), which turns an argument vector into the request a
// command sends, or into help text, or into a usage error. Parsing is a pure function: it reads
// no files or environment and talks to no controller, so tests can drive it table by table;
// commands.h runs what it returns.
//
// Thread-safety: free functions and values; parseCommandLine() may run on several threads.
// Ownership: every result is a value owned by the caller.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "teredo/v1/admin.pb.h"

namespace teredoctl {

namespace v1 = teredo::v1;

/// Exit statuses (also listed in `teredoctl --help`).
inline constexpr int kExitOk = 0;
/// An RPC failed (any code but INVALID_ARGUMENT: unreachable controller, UNAUTHENTICATED,
/// NOT_FOUND, ...), or a local step failed (unreadable file, a Miredo directive that cannot be
/// converted).
inline constexpr int kExitFailure = 1;
/// The controller refused the request as invalid (INVALID_ARGUMENT); the field violations are
/// printed on stderr.
inline constexpr int kExitInvalidArgument = 3;
/// config diff: the file differs from the current config (the differences are printed).
inline constexpr int kExitDiffers = 2;
/// config set --wait: published, and at least one affected agent NACKed it (the others applied).
inline constexpr int kExitNacked = 4;
/// config set --wait: published, but not every affected agent applied or NACKed it in time.
inline constexpr int kExitWaitTimeout = 5;
/// The command line is wrong (EX_USAGE of sysexits.h): unknown command or option, missing or
/// malformed argument.
inline constexpr int kExitUsage = 64;

/// The controller address used when neither --controller nor $TEREDOCTL_CONTROLLER is given.
inline constexpr const char* kDefaultController = "127.0.0.1:9548";

/// How to reach the controller and how to print; given before or after the command.
struct GlobalOptions {
  std::string controller = kDefaultController;
  std::string tokenFile;   ///< --token-file: bearer token, empty = none
  std::string caFile;      ///< --tls-ca: enables TLS
  std::string certFile;    ///< --tls-cert: client certificate (mTLS)
  std::string keyFile;     ///< --tls-key: its key
  std::string serverName;  ///< --tls-server-name: expected name in the controller's certificate
  bool json = false;       ///< --json or -o json: print the response as proto JSON
  /// -o yaml: the response as YAML; for `config get --role/--agent`, the config in the daemon's
  /// file layout, which `config set` reads back unchanged.
  bool yaml = false;
  int timeoutSeconds = 10;
  friend bool operator==(const GlobalOptions&, const GlobalOptions&) = default;
};

// One struct per command, holding the request it sends.

/// agents list [--role R] [--state S]
struct ListAgents {
  v1::ListAgentsRequest request;
};
/// agents get ID
struct GetAgent {
  v1::GetAgentRequest request;
};
/// stats fleet [--role R]
struct FleetStats {
  v1::GetFleetStatsRequest request;
};
/// stats nat
struct NatStats {
  v1::GetNatStatsRequest request;
};
/// config get [--version N] [--agent ID | --role R]
struct GetConfig {
  v1::GetConfigRequest request;
};
/// config set FILE (--role R | --agent ID) [--dry-run] [--expected-version N] [--comment TEXT].
/// `request` has everything but `config`, which is read from `file` when the command runs.
struct SetConfig {
  std::string file;
  v1::SetConfigRequest request;
  /// --wait: after publishing, until every affected agent applied or NACKed the version, at
  /// most this long (0: do not wait).
  int waitSeconds = 0;
};
/// config diff FILE (--role R | --agent ID): what `config set` with the same arguments would
/// change, as a line diff of the two configs in YAML (local comparison; no change is made).
struct DiffConfig {
  std::string file;
  std::string agentId;  ///< empty: role
  v1::Role role = v1::ROLE_UNSPECIFIED;
};
/// completion bash|zsh|fish: the shell completion script (local).
struct Completion {
  std::string shell;
};
/// config remove --agent ID [--dry-run] [--comment TEXT]
struct RemoveOverride {
  v1::SetConfigRequest request;
};
/// config history [--limit N]
struct ConfigHistory {
  v1::ListConfigVersionsRequest request;
};
/// config rollback VERSION [--dry-run] [--comment TEXT]
struct Rollback {
  v1::RollbackRequest request;
};
/// drain (ID | --role R)
struct Drain {
  v1::DrainRequest request;
};
/// undrain (ID | --role R)
struct Undrain {
  v1::UndrainRequest request;
};
/// agents forget ID [--comment TEXT]
struct ForgetAgent {
  v1::ForgetAgentRequest request;
};
/// config from-miredo FILE --role R: local conversion, no controller.
struct FromMiredo {
  std::string file;
  v1::Role role = v1::ROLE_UNSPECIFIED;
};

using Command = std::variant<ListAgents, GetAgent, FleetStats, NatStats, GetConfig, SetConfig,
                             RemoveOverride, ConfigHistory, Rollback, Drain, Undrain, ForgetAgent,
                             FromMiredo, DiffConfig, Completion>;

/// A command line that names something to do.
struct Invocation {
  GlobalOptions global;
  Command command;
};

/// What parseCommandLine() made of the arguments: either an invocation to run, or text to print
/// and an exit status (--help and --version: stdout, 0; errors: stderr, kExitUsage).
struct ParseResult {
  std::optional<Invocation> invocation;
  int exitCode = kExitOk;  ///< meaningful when !invocation
  std::string out;         ///< for stdout (help, version)
  std::string err;         ///< for stderr: "teredoctl: <what is wrong>" and where to get help
};

/// Parses `args` (argv without the program name). `controller` is the default address (the
/// caller passes $TEREDOCTL_CONTROLLER, or kDefaultController).
ParseResult parseCommandLine(const std::vector<std::string>& args,
                             const std::string& controller = kDefaultController);
/// The same, starting from `start` (a context's settings, contexts.h) instead of the defaults;
/// options on the command line override it.
ParseResult parseCommandLine(const std::vector<std::string>& args, const GlobalOptions& start);

/// The completion script for `shell` ("bash", "zsh" or "fish"), generated from the command tree
/// that parseCommandLine() uses, so it offers exactly its commands, options and enum values.
std::string completionScript(const std::string& shell);

/// Parses a decimal number without sign, white space or base prefix, within [min, max].
/// nullopt when `text` is anything else (e.g. "v12", "-1", "0x10", or out of range).
std::optional<uint64_t> parseDecimal(const std::string& text, uint64_t min, uint64_t max);

}  // namespace teredoctl

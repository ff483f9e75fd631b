// teredoctl's command line, defined with CLI11 (Debian's libcli11-dev, header-only): the
// commands, their options and checks, help texts, and the translation of a parsed command line
// into the request of cli.h. See cli.h.
#include "cli.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <CLI/CLI.hpp>

#include "teredo/build_info.h"

namespace teredoctl {

namespace {

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kMaxU32 = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kMaxTimeoutSeconds = 86400;
constexpr uint64_t kMaxWaitSeconds = 86400;
constexpr int kDefaultWaitSeconds = 60;

constexpr const char* kDescription =
    "teredoctl: the operator CLI for teredo-controller's admin API (AdminService). Readable\n"
    "tables by default, the API's response as proto JSON with -o json (--json) or as YAML with\n"
    "-o yaml.";

constexpr const char* kFooter = R"(Synopsis:
  agents list [--role server|relay] [--state connected|disconnected]
  agents get ID
  agents forget ID [--comment TEXT]
  stats fleet [--role server|relay]
  stats nat
  config get [--version N] [--agent ID | --role server|relay]
  config diff FILE (--role server|relay | --agent ID)
  config set FILE (--role server|relay | --agent ID) [--dry-run] [--expected-version N]
             [--comment TEXT]
  config remove --agent ID [--dry-run] [--comment TEXT]
  config history [--limit N]
  config rollback VERSION [--dry-run] [--comment TEXT]
  config from-miredo FILE --role server|relay     (local: needs no controller)
  drain (ID | --role server|relay)
  undrain (ID | --role server|relay)
  completion bash|zsh|fish                         (local)
`teredoctl COMMAND... --help` describes one. Global options may come before or after the
command; when an option is repeated the last one counts. Numbers are decimal.

Exit status:
  0   success (config diff: no difference)
  1   the call failed (controller unreachable, UNAUTHENTICATED, NOT_FOUND, ...) or a local
      step failed (unreadable file, a Miredo directive that cannot be converted)
  2   config diff: the file differs from the current config
  3   the controller refused the request as invalid (INVALID_ARGUMENT; the fields on stderr)
  4   config set --wait: an affected agent NACKed the new version
  5   config set --wait: not every affected agent answered before --wait-timeout
  64  usage error: unknown command or option, missing or malformed argument)";

// Under every command's help: what it does not list itself.
constexpr const char* kCommandFooter =
    R"(Global options (--controller, --token-file, --tls-ca, --tls-cert, --tls-key,
--tls-server-name, --context, -o/--output, --json, --timeout) as in `teredoctl --help`, before or after the command.
Exit status: 0 success, 1 the call failed, 3 the controller refused the request as invalid
(INVALID_ARGUMENT), 2 (config diff) differences, 4 and 5 (config set --wait) an agent NACKed / the wait timed out, 64 usage
error.)";

// --- Checks --------------------------------------------------------------------------------------

// A decimal number in [min, max]: digits only, so "v12", "-1", "+1", " 1" and "0x10" are refused
// rather than read as something else.
CLI::Validator decimal(uint64_t min, uint64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        if (parseDecimal(text, min, max)) {
          return {};
        }
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
          return "'" + text + "' is not a decimal number";
        }
        return text + " is out of range (" + std::to_string(min) + " to " + std::to_string(max) +
               ")";
      },
      "", "decimal");
}

// One of `choices` ("a|b" in help and messages).
CLI::Validator oneOf(std::vector<std::string> choices) {
  std::string joined;
  for (const auto& c : choices) {
    joined += (joined.empty() ? "" : " or ") + c;
  }
  return CLI::Validator(
      [choices, joined](std::string& text) -> std::string {
        if (std::find(choices.begin(), choices.end(), text) != choices.end()) {
          return {};
        }
        return "'" + text + "' is not " + joined;
      },
      "", "one of");
}

const CLI::Validator& nonEmpty() {
  static const CLI::Validator check(
      [](std::string& text) -> std::string { return text.empty() ? "must not be empty" : ""; }, "",
      "non-empty");
  return check;
}

v1::Role toRole(const std::string& text) {
  return text == "server"  ? v1::ROLE_SERVER
         : text == "relay" ? v1::ROLE_RELAY
                           : v1::ROLE_UNSPECIFIED;
}

// --- The command tree ----------------------------------------------------------------------------

// Everything the options store into; read back once parsing succeeded.
struct Values {
  GlobalOptions global;
  std::string role, state, agent, id, file, comment;
  std::string version, expectedVersion, limit, timeout;  // validated by decimal()
  std::string output;                                    // -o: table, json or yaml
  std::string context;      // --context: applied by main() before parsing (contexts.h)
  std::string waitTimeout;  // --wait-timeout, validated
  bool wait = false;
  bool dryRun = false;
};

CLI::Option* addRole(CLI::App* cmd, Values* v, const std::string& help) {
  return cmd->add_option("--role", v->role, help)
      ->type_name("server|relay")
      ->check(oneOf({"server", "relay"}));
}

// FILE and its target, --agent ID or --role R (config set, config diff).
void addConfigTarget(CLI::App* cmd, Values* v, const std::string& agentHelp,
                     const std::string& roleHelp) {
  cmd->add_option("FILE", v->file, "YAML, or AgentConfig JSON (*.json)")
      ->type_name("")
      ->required()
      ->check(nonEmpty());
  auto* agent = cmd->add_option("--agent", v->agent, agentHelp)->type_name("ID")->check(nonEmpty());
  addRole(cmd, v, roleHelp)->excludes(agent);
}

void addComment(CLI::App* cmd, Values* v) {
  cmd->add_option("--comment", v->comment, "free text kept in the config history")
      ->type_name("TEXT");
}

void addDryRun(CLI::App* cmd, Values* v, const std::string& help) {
  cmd->add_flag("--dry-run", v->dryRun, help);
}

// The commands, as CLI11 apps; the leaves are the ones that do something.
struct Tree {
  CLI::App app{kDescription, "teredoctl"};
  CLI::App* agentsList = nullptr;
  CLI::App* agentsGet = nullptr;
  CLI::App* agentsForget = nullptr;
  CLI::App* statsFleet = nullptr;
  CLI::App* statsNat = nullptr;
  CLI::App* configGet = nullptr;
  CLI::App* configSet = nullptr;
  CLI::App* configRemove = nullptr;
  CLI::App* configHistory = nullptr;
  CLI::App* configDiff = nullptr;
  CLI::App* completion = nullptr;
  CLI::App* configRollback = nullptr;
  CLI::App* fromMiredo = nullptr;
  CLI::App* drain = nullptr;
  CLI::App* undrain = nullptr;
  std::map<const CLI::App*, std::string> notes;  // put above kCommandFooter in the help
};

void defineGlobals(CLI::App& app, Values* v) {
  // Wrappers put their defaults first (tests/integration/lab/fleet_lab.sh); a later one wins.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  // Global options are accepted after the command too, as they always were.
  app.fallthrough();
  app.require_subcommand(1);
  app.get_formatter()->column_width(28);
  app.set_version_flag("--version", std::string("teredoctl ") + teredo::build::kVersion + " (" +
                                        teredo::build::kCommit + ")");
  GlobalOptions& g = v->global;
  app.add_option("--controller", g.controller,
                 "host:port or unix:/path (default $TEREDOCTL_CONTROLLER, else " +
                     std::string(kDefaultController) + ")")
      ->type_name("ADDR")
      ->check(nonEmpty());
  app.add_option("--token-file", g.tokenFile, "bearer token for the admin API")
      ->type_name("FILE")
      ->check(nonEmpty());
  app.add_option("--tls-ca", g.caFile, "CA certificate; enables TLS")
      ->type_name("FILE")
      ->check(nonEmpty());
  auto* cert = app.add_option("--tls-cert", g.certFile, "client certificate (mTLS)")
                   ->type_name("FILE")
                   ->check(nonEmpty());
  auto* key = app.add_option("--tls-key", g.keyFile, "the client certificate's key")
                  ->type_name("FILE")
                  ->check(nonEmpty());
  cert->needs(key);
  key->needs(cert);
  app.add_option("--tls-server-name", g.serverName, "expected name in the controller's certificate")
      ->type_name("NAME");
  app.add_option("--context", v->context,
                 "settings of this context of $TEREDOCTL_CONFIG (default "
                 "~/.config/teredoctl/config.yaml) instead of its current-context")
      ->type_name("NAME");
  auto* json = app.add_flag("--json", g.json, "print the API response as JSON (= -o json)");
  app.add_option("-o,--output", v->output,
                 "table (default), json, or yaml (config get --role/--agent: a file that config "
                 "set reads back)")
      ->type_name("FORMAT")
      ->check(oneOf({"table", "json", "yaml"}))
      ->excludes(json);
  app.add_option("--timeout", v->timeout, "per-call deadline (default 10)")
      ->type_name("SECONDS")
      ->check(decimal(1, kMaxTimeoutSeconds));
}

void defineAgents(Tree* t, Values* v) {
  CLI::App* agents = t->app.add_subcommand("agents", "the agents the controller knows");
  agents->require_subcommand(1);
  t->agentsList = agents->add_subcommand(
      "list", "one line per agent: state, config sync, versions, drain, traffic");
  addRole(t->agentsList, v, "only agents of this role");
  t->agentsList->add_option("--state", v->state, "only connected or only disconnected agents")
      ->type_name("connected|disconnected")
      ->check(oneOf({"connected", "disconnected"}));
  t->agentsGet =
      agents->add_subcommand("get", "one agent in detail, with its last NACK and the reasons");
  t->agentsGet->add_option("ID", v->id, "the agent's id")
      ->type_name("")
      ->required()
      ->check(nonEmpty());
  t->agentsForget = agents->add_subcommand(
      "forget", "forget a retired agent: its record, drain, NACK, statistics and override");
  t->notes[t->agentsForget] =
      "Refused (FAILED_PRECONDITION) while the agent is connected: stop it first. The config\n"
      "history gets a version \"forget agent ID\" (with the agent's override removed, if it had\n"
      "one), so the decommission and who made it stay on record. An agent with the same id\n"
      "that connects later is a new agent.";
  t->agentsForget->add_option("ID", v->id, "the agent's id")
      ->type_name("")
      ->required()
      ->check(nonEmpty());
  addComment(t->agentsForget, v);
}

void defineStats(Tree* t, Values* v) {
  CLI::App* stats = t->app.add_subcommand("stats", "fleet statistics the controller aggregates");
  stats->require_subcommand(1);
  t->statsFleet = stats->add_subcommand(
      "fleet", "agents, packets, drops, peers, clients per role and fleet-wide");
  addRole(t->statsFleet, v, "only this role");
  t->statsNat = stats->add_subcommand("nat", "NAT classes, router solicitations, distinct clients");
}

void defineConfig(Tree* t, Values* v) {
  CLI::App* config =
      t->app.add_subcommand("config", "the fleet's versioned configuration, and its history");
  config->require_subcommand(1);

  t->configGet = config->add_subcommand(
      "get", "print a config version as JSON: the fleet's, an agent's or a role's");
  t->notes[t->configGet] =
      "Without --agent or --role: the whole fleet config (role defaults and overrides). With\n"
      "--agent: that agent's effective config; with --role: that role's defaults.";
  t->configGet->add_option("--version", v->version, "this version (default: the current one)")
      ->type_name("N")
      ->check(decimal(1, kMaxU64));
  auto* getAgent = t->configGet->add_option("--agent", v->agent, "this agent's effective config")
                       ->type_name("ID")
                       ->check(nonEmpty());
  addRole(t->configGet, v, "this role's defaults")->excludes(getAgent);

  t->configSet =
      config->add_subcommand("set", "publish FILE as a role's defaults or as one agent's override");
  t->notes[t->configSet] =
      "FILE is YAML with lib/config keys (docs/configuration.md), or an AgentConfig as proto\n"
      "JSON when its name ends in .json. An agent's override is merged over its role's\n"
      "defaults. Prints \"published version N; affected agents: ...\". With --wait, then one\n"
      "line per affected agent as it applies or NACKs the version; exit status 0 when all\n"
      "applied, 4 when one NACKed it, 5 when the timeout passed first (disconnected agents).";
  addConfigTarget(t->configSet, v, "the override of this agent", "the defaults of this role");
  addDryRun(t->configSet, v, "validate and report the affected agents; publish nothing");
  t->configSet
      ->add_option("--expected-version", v->expectedVersion,
                   "refuse (FAILED_PRECONDITION) unless N is the current version")
      ->type_name("N")
      ->check(decimal(1, kMaxU64));
  addComment(t->configSet, v);
  auto* wait = t->configSet->add_flag(
      "--wait", v->wait, "after publishing, wait until every affected agent applied or NACKed it");
  t->configSet->add_option("--wait-timeout", v->waitTimeout, "how long --wait waits (default 60)")
      ->type_name("SECONDS")
      ->check(decimal(1, kMaxWaitSeconds))
      ->needs(wait);

  t->configDiff = config->add_subcommand(
      "diff", "what `config set FILE` would change: the current config against FILE, as YAML");
  t->notes[t->configDiff] =
      "Compares FILE with the role's current defaults (--role) or the agent's current override\n"
      "(--agent), both as the keys they set, and prints the lines that differ (- current,\n"
      "+ FILE). Exit status 0 when they are the same, 2 when they differ. Changes nothing.";
  addConfigTarget(t->configDiff, v, "this agent's override", "this role's defaults");

  t->configRemove = config->add_subcommand(
      "remove", "remove an agent's override: it runs its role's defaults again");
  t->configRemove->add_option("--agent", v->agent, "the agent")
      ->type_name("ID")
      ->required()
      ->check(nonEmpty());
  addDryRun(t->configRemove, v, "report the affected agents; publish nothing");
  addComment(t->configRemove, v);

  t->configHistory =
      config->add_subcommand("history", "the config versions the controller keeps, newest first");
  t->configHistory->add_option("--limit", v->limit, "at most N versions (default: all kept)")
      ->type_name("N")
      ->check(decimal(1, kMaxU32));

  t->configRollback =
      config->add_subcommand("rollback", "publish an earlier version's content as a new version");
  t->configRollback
      ->add_option("VERSION", v->version, "the version to go back to (config history lists them)")
      ->type_name("")
      ->required()
      ->check(decimal(1, kMaxU64));
  addDryRun(t->configRollback, v, "report the affected agents; publish nothing");
  addComment(t->configRollback, v);

  t->fromMiredo = config->add_subcommand(
      "from-miredo", "convert a Miredo config file into our YAML (needs no controller)");
  t->notes[t->fromMiredo] =
      "FILE is a miredo-server.conf (--role server) or a miredo.conf (--role relay). The YAML\n"
      "goes to stdout, notes to stderr; when a directive cannot be converted nothing is\n"
      "printed and the exit status is 1.";
  t->fromMiredo->add_option("FILE", v->file, "the Miredo config file")
      ->type_name("")
      ->required()
      ->check(nonEmpty());
  t->fromMiredo->add_option("--role", v->role, "what FILE configures")
      ->type_name("server|relay")
      ->required()
      ->check(oneOf({"server", "relay"}));
}

void defineCompletion(Tree* t, Values* v) {
  t->completion = t->app.add_subcommand("completion", "print the shell completion script");
  t->notes[t->completion] =
      "bash: source <(teredoctl completion bash), or save it in\n"
      "/etc/bash_completion.d/teredoctl. zsh: the same script, after `autoload -U +X bashcompinit\n"
      "&& bashcompinit`. fish: teredoctl completion fish > "
      "~/.config/fish/completions/teredoctl.fish";
  t->completion->add_option("SHELL", v->file, "bash, zsh or fish")
      ->type_name("")
      ->required()
      ->check(oneOf({"bash", "zsh", "fish"}));
}

void defineDrain(Tree* t, Values* v) {
  t->drain =
      t->app.add_subcommand("drain", "admit no new peers on one agent, or every agent of a role");
  t->notes[t->drain] = "A draining agent keeps serving the peers and clients it has.";
  t->undrain = t->app.add_subcommand("undrain", "take a drain back");
  for (CLI::App* cmd : {t->drain, t->undrain}) {
    auto* id = cmd->add_option("ID", v->id, "one agent")->type_name("")->check(nonEmpty());
    addRole(cmd, v, "every known agent of this role")->excludes(id);
  }
}

// The footers, once every command exists (CLI11 copies a footer into commands added later).
void setFooters(const Tree& t, CLI::App* app) {
  if (app->get_parent() == nullptr) {
    app->footer(kFooter);
  } else if (const auto it = t.notes.find(app); it != t.notes.end()) {
    app->footer(it->second + "\n\n" + kCommandFooter);
  } else {
    app->footer(kCommandFooter);
  }
  for (CLI::App* sub : app->get_subcommands({})) {
    setFooters(t, sub);
  }
}

// "config rollback" for the app `cmd`.
std::string commandPath(const CLI::App* cmd) {
  std::string path;
  for (; cmd != nullptr && cmd->get_parent() != nullptr; cmd = cmd->get_parent()) {
    path = cmd->get_name() + (path.empty() ? "" : " " + path);
  }
  return path;
}

// The deepest command given on the command line (the root when none was).
const CLI::App* deepestCommand(const CLI::App& app) {
  const CLI::App* cmd = &app;
  while (!cmd->get_subcommands().empty()) {
    cmd = cmd->get_subcommands().front();
  }
  return cmd;
}

// The names of the commands under `cmd`, "list, get".
std::string commandNames(const CLI::App* cmd) {
  std::string names;
  for (const CLI::App* sub : cmd->get_subcommands({})) {
    names += (names.empty() ? "" : ", ") + sub->get_name();
  }
  return names;
}

ParseResult usageError(const CLI::App* cmd, const std::string& message) {
  const std::string path = commandPath(cmd);
  ParseResult r;
  r.exitCode = kExitUsage;
  r.err = "teredoctl: " + (path.empty() ? "" : path + ": ") + message + "\nRun 'teredoctl " +
          (path.empty() ? "" : path + " ") + "--help' for usage.\n";
  return r;
}

// CLI11's message, said in teredoctl's words where CLI11's are vague.
ParseResult parseError(const CLI::App& app, const CLI::ParseError& e) {
  const CLI::App* cmd = deepestCommand(app);
  std::string message = e.what();
  if (!cmd->get_subcommands({}).empty() &&
      (e.get_name() == "RequiredError" || e.get_name() == "ExtrasError")) {
    // "teredoctl", "teredoctl frob", "teredoctl agents frob": the word where a command belongs.
    const std::string what = cmd->get_parent() == nullptr ? "command" : "subcommand";
    const std::vector<std::string> unknown = app.remaining(true);
    if (unknown.empty()) {
      message = "a " + what + " is required";
    } else if (unknown.front().rfind('-', 0) == 0) {
      message = "unknown option '" + unknown.front() + "'; expected a " + what;
    } else {
      message = "unknown " + what + " '" + unknown.front() + "'";
    }
    message += " (" + commandNames(cmd) + ")";
  }
  return usageError(cmd, message);
}

// The whole command tree into `t`, storing into `v`: what the parser and the completion scripts
// share, so the scripts cannot drift from what is parsed.
void defineAll(Tree* t, Values* v) {
  defineGlobals(t->app, v);
  defineAgents(t, v);
  defineStats(t, v);
  defineConfig(t, v);
  defineDrain(t, v);
  defineCompletion(t, v);
}

// The request of the command `t` parsed into `v`, or a usage error.
ParseResult toInvocation(const Tree& t, const Values& v) {
  ParseResult r;
  Invocation inv{v.global, Command{}};
  inv.global.json = v.global.json || v.output == "json";
  inv.global.yaml = v.output == "yaml";
  if (!v.timeout.empty()) {
    inv.global.timeoutSeconds = static_cast<int>(*parseDecimal(v.timeout, 1, kMaxTimeoutSeconds));
  }
  const v1::Role role = toRole(v.role);
  const uint64_t version = v.version.empty() ? 0 : *parseDecimal(v.version, 1, kMaxU64);
  if (*t.agentsList) {
    ListAgents c;
    c.request.set_role(role);
    c.request.set_state(v.state == "connected"      ? v1::AGENT_STATE_CONNECTED
                        : v.state == "disconnected" ? v1::AGENT_STATE_DISCONNECTED
                                                    : v1::AGENT_STATE_UNSPECIFIED);
    inv.command = c;
  } else if (*t.agentsGet) {
    GetAgent c;
    c.request.set_agent_id(v.id);
    inv.command = c;
  } else if (*t.agentsForget) {
    ForgetAgent c;
    c.request.set_agent_id(v.id);
    c.request.set_comment(v.comment);
    inv.command = c;
  } else if (*t.statsFleet) {
    FleetStats c;
    c.request.set_role(role);
    inv.command = c;
  } else if (*t.statsNat) {
    inv.command = NatStats{};
  } else if (*t.configGet) {
    GetConfig c;
    c.request.set_version(version);
    c.request.set_agent_id(v.agent);
    c.request.set_role(role);
    inv.command = c;
  } else if (*t.configSet) {
    SetConfig c;
    c.file = v.file;
    if (!v.agent.empty()) {
      c.request.set_agent_id(v.agent);
    } else if (role != v1::ROLE_UNSPECIFIED) {
      c.request.set_role(role);
    } else {
      return usageError(t.configSet, "--role or --agent is required");
    }
    c.request.set_dry_run(v.dryRun);
    if (!v.expectedVersion.empty()) {
      c.request.set_expected_version(*parseDecimal(v.expectedVersion, 1, kMaxU64));
    }
    c.request.set_comment(v.comment);
    if (v.wait) {
      c.waitSeconds = v.waitTimeout.empty()
                          ? kDefaultWaitSeconds
                          : static_cast<int>(*parseDecimal(v.waitTimeout, 1, kMaxWaitSeconds));
    }
    inv.command = c;
  } else if (*t.completion) {
    inv.command = Completion{v.file};
  } else if (*t.configDiff) {
    if (v.agent.empty() && role == v1::ROLE_UNSPECIFIED) {
      return usageError(t.configDiff, "--role or --agent is required");
    }
    inv.command = DiffConfig{v.file, v.agent, role};
  } else if (*t.configRemove) {
    RemoveOverride c;
    c.request.set_agent_id(v.agent);
    c.request.set_remove_override(true);
    c.request.set_dry_run(v.dryRun);
    c.request.set_comment(v.comment);
    inv.command = c;
  } else if (*t.configHistory) {
    ConfigHistory c;
    if (!v.limit.empty()) {
      c.request.set_limit(static_cast<uint32_t>(*parseDecimal(v.limit, 1, kMaxU32)));
    }
    inv.command = c;
  } else if (*t.configRollback) {
    Rollback c;
    c.request.set_to_version(version);
    c.request.set_dry_run(v.dryRun);
    c.request.set_comment(v.comment);
    inv.command = c;
  } else if (*t.fromMiredo) {
    inv.command = FromMiredo{v.file, role};
  } else if (*t.drain || *t.undrain) {
    const CLI::App* cmd = *t.drain ? t.drain : t.undrain;
    if (v.id.empty() && role == v1::ROLE_UNSPECIFIED) {
      return usageError(cmd, "an agent ID or --role is required");
    }
    if (*t.drain) {
      Drain c;
      c.request.set_agent_id(v.id);
      c.request.set_role(role);
      inv.command = c;
    } else {
      Undrain c;
      c.request.set_agent_id(v.id);
      c.request.set_role(role);
      inv.command = c;
    }
  } else {
    // require_subcommand() on every group makes this unreachable; say so rather than guess.
    return usageError(deepestCommand(t.app), "a command is required");
  }
  r.invocation = std::move(inv);
  return r;
}

}  // namespace

std::optional<uint64_t> parseDecimal(const std::string& text, uint64_t min, uint64_t max) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 10);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

ParseResult parseCommandLine(const std::vector<std::string>& args, const std::string& controller) {
  GlobalOptions start;
  start.controller = controller;
  return parseCommandLine(args, start);
}

ParseResult parseCommandLine(const std::vector<std::string>& args, const GlobalOptions& start) {
  Values v;
  v.global = start;
  Tree t;
  defineAll(&t, &v);
  setFooters(t, &t.app);
  try {
    t.app.parse(std::vector<std::string>(args.rbegin(), args.rend()));  // CLI11 wants them reversed
  } catch (const CLI::Success& e) {                                     // --help, --version
    std::ostringstream out, err;
    ParseResult r;
    r.exitCode = t.app.exit(e, out, err);
    r.out = out.str();
    r.err = err.str();
    return r;
  } catch (const CLI::ParseError& e) {
    return parseError(t.app, e);
  }
  return toInvocation(t, v);
}

namespace {

// Every command path ("" for the root, "config set") with its subcommands and long options.
struct CommandInfo {
  std::string path;
  std::vector<std::string> subcommands;
  std::vector<std::string> options;
};

void collect(const CLI::App* app, const std::string& path, std::vector<CommandInfo>* out) {
  CommandInfo info{path, {}, {}};
  for (const CLI::Option* o : app->get_options()) {
    for (const std::string& l : o->get_lnames()) {
      if (l != "help") {
        info.options.push_back("--" + l);
      }
    }
  }
  std::vector<std::pair<std::string, const CLI::App*>> subs;
  for (const CLI::App* sub : app->get_subcommands({})) {
    info.subcommands.push_back(sub->get_name());
    subs.emplace_back(path.empty() ? sub->get_name() : path + " " + sub->get_name(), sub);
  }
  if (path == "completion") {
    info.subcommands = {"bash", "zsh", "fish"};  // its SHELL argument, offered like commands
  }
  out->push_back(info);
  for (const auto& [p, sub] : subs) {
    collect(sub, p, out);
  }
}

std::string joined(const std::vector<std::string>& words, const char* sep = " ") {
  std::string s;
  for (const std::string& w : words) {
    s += (s.empty() ? "" : sep) + w;
  }
  return s;
}

// Values of the options that take a fixed set, and the options that take a file.
const std::vector<std::pair<std::string, std::string>> kEnumOptions = {
    {"--role", "server relay"},
    {"--state", "connected disconnected"},
    {"--output", "table json yaml"}};
const std::vector<std::string> kFileOptions = {"--token-file", "--tls-ca", "--tls-cert",
                                               "--tls-key"};

// The arrays' keys: "teredoctl" for the root, "teredoctl config set" (bash has no empty key).
std::string bashKey(const std::string& path) {
  return path.empty() ? "teredoctl" : "teredoctl " + path;
}

std::string bashScript(const std::vector<CommandInfo>& cmds) {
  std::ostringstream s;
  s << "# teredoctl completion for bash (and zsh with bashcompinit), generated by\n"
       "# `teredoctl completion bash` from the command tree.\n"
       "declare -gA _teredoctl_subs=(\n";
  for (const CommandInfo& c : cmds) {
    s << "  [\"" << bashKey(c.path) << "\"]=\"" << joined(c.subcommands) << "\"\n";
  }
  s << ")\ndeclare -gA _teredoctl_opts=(\n";
  for (const CommandInfo& c : cmds) {
    s << "  [\"" << bashKey(c.path) << "\"]=\"" << joined(c.options) << "\"\n";
  }
  s << ")\n"
       "_teredoctl() {\n"
       "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} path=teredoctl w i\n"
       "  local words\n"
       "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
       "    w=${COMP_WORDS[i]}\n"
       "    if [[ $w != -* && \" ${_teredoctl_subs[$path]} \" == *\" $w \"* ]]; then\n"
       "      path=\"$path $w\"\n"
       "    fi\n"
       "  done\n"
       "  case $prev in\n";
  for (const auto& [opt, values] : kEnumOptions) {
    s << "    " << opt << (opt == "--output" ? "|-o" : "") << ") COMPREPLY=($(compgen -W \""
      << values << "\" -- \"$cur\")); return ;;\n";
  }
  s << "    " << joined(kFileOptions, "|") << ") COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
    << "  esac\n"
       "  if [[ $cur == -* ]]; then\n"
       "    words=\"${_teredoctl_opts[$path]} ${_teredoctl_opts[teredoctl]}\"\n"
       "  else\n"
       "    words=${_teredoctl_subs[$path]}\n"
       "  fi\n"
       "  if [[ -z $words ]]; then\n"
       "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
       "  else\n"
       "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
       "  fi\n"
       "}\n"
       "complete -F _teredoctl teredoctl\n";
  return s.str();
}

std::string fishScript(const std::vector<CommandInfo>& cmds) {
  std::ostringstream s;
  s << "# teredoctl completion for fish, generated by `teredoctl completion fish`.\n"
       "complete -c teredoctl -f\n";
  for (const CommandInfo& c : cmds) {
    if (c.subcommands.empty()) {
      continue;
    }
    // The subcommands of `c`, once its own name is on the line and none of them is yet.
    const std::string cond =
        c.path.empty() ? "__fish_use_subcommand"
                       : "__fish_seen_subcommand_from " + c.path.substr(c.path.rfind(' ') + 1) +
                             "; and not __fish_seen_subcommand_from " + joined(c.subcommands);
    s << "complete -c teredoctl -n '" << cond << "' -a '" << joined(c.subcommands) << "'\n";
  }
  std::set<std::string> seen;
  for (const CommandInfo& c : cmds) {
    for (const std::string& o : c.options) {
      if (!seen.insert(o).second) {
        continue;
      }
      s << "complete -c teredoctl -l " << o.substr(2);
      for (const auto& [opt, values] : kEnumOptions) {
        if (o == opt) {
          s << " -x -a '" << values << "'";
        }
      }
      if (std::find(kFileOptions.begin(), kFileOptions.end(), o) != kFileOptions.end()) {
        s << " -r -F";
      }
      s << "\n";
    }
  }
  return s.str();
}

}  // namespace

std::string completionScript(const std::string& shell) {
  Values v;
  Tree t;
  defineAll(&t, &v);
  std::vector<CommandInfo> cmds;
  collect(&t.app, "", &cmds);
  if (shell == "fish") {
    return fishScript(cmds);
  }
  const std::string script = bashScript(cmds);
  if (shell == "zsh") {
    return "# zsh: through bash's completion.\nautoload -U +X bashcompinit && bashcompinit\n" +
           script;
  }
  return script;
}

}  // namespace teredoctl

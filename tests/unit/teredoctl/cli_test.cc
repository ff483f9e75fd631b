// teredoctl's command line (tools/teredoctl/cli.h), table-driven: every command line the
// scripts, docs and operators use yields the expected request; malformed ones (a version that
// is not a number or out of range, an unknown command or option, a missing argument) are usage
// errors (exit status 64) naming what is wrong, never a silent default.
#include "cli.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

namespace teredoctl {
namespace {

// "ListAgents {role: ROLE_RELAY}": the command's type and its request, for comparisons that
// print readably when they fail.
std::string describe(const Command& command) {
  return std::visit(
      [](const auto& c) -> std::string {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, Completion>) {
          return "Completion " + c.shell;
        } else if constexpr (std::is_same_v<T, DiffConfig>) {
          return "DiffConfig " + c.file + " " +
                 (c.agentId.empty() ? v1::Role_Name(c.role) : c.agentId);
        } else if constexpr (std::is_same_v<T, FromMiredo>) {
          return "FromMiredo " + c.file + " " + v1::Role_Name(c.role);
        } else if constexpr (std::is_same_v<T, SetConfig>) {
          return "SetConfig " + c.file + " {" + c.request.ShortDebugString() + "}" +
                 (c.waitSeconds != 0 ? " wait " + std::to_string(c.waitSeconds) + "s" : "");
        } else {
          const char* names[] = {"ListAgents", "GetAgent",  "FleetStats",     "NatStats",
                                 "GetConfig",  "SetConfig", "RemoveOverride", "ConfigHistory",
                                 "Rollback",   "Drain",     "Undrain",        "ForgetAgent"};
          return std::string(names[Command(c).index()]) + " {" + c.request.ShortDebugString() + "}";
        }
      },
      command);
}

struct Valid {
  std::vector<std::string> args;
  std::string command;  // describe() of the expected command
};

void PrintTo(const Valid& c, std::ostream* os) {
  for (const auto& a : c.args) {
    *os << "'" << a << "' ";
  }
}

class ValidCommandLine : public testing::TestWithParam<Valid> {};

TEST_P(ValidCommandLine, YieldsTheRequest) {
  const ParseResult r = parseCommandLine(GetParam().args);
  ASSERT_TRUE(r.invocation.has_value()) << r.err;
  EXPECT_EQ(describe(r.invocation->command), GetParam().command);
  EXPECT_EQ(r.err, "");
}

INSTANTIATE_TEST_SUITE_P(
    TeredoctlCommands, ValidCommandLine,
    testing::Values(
        Valid{{"agents", "list"}, "ListAgents {}"},
        Valid{{"agents", "list", "--role", "relay", "--state", "disconnected"},
              "ListAgents {role: ROLE_RELAY state: AGENT_STATE_DISCONNECTED}"},
        Valid{{"agents", "list", "--state", "connected"},
              "ListAgents {state: AGENT_STATE_CONNECTED}"},
        Valid{{"agents", "get", "srv-a"}, "GetAgent {agent_id: \"srv-a\"}"},
        Valid{{"stats", "fleet"}, "FleetStats {}"},
        Valid{{"stats", "fleet", "--role", "relay"}, "FleetStats {role: ROLE_RELAY}"},
        Valid{{"stats", "nat"}, "NatStats {}"}, Valid{{"config", "get"}, "GetConfig {}"},
        Valid{{"config", "get", "--version", "7", "--agent", "srv-a"},
              "GetConfig {version: 7 agent_id: \"srv-a\"}"},
        Valid{{"config", "get", "--role", "server"}, "GetConfig {role: ROLE_SERVER}"},
        Valid{{"config", "set", "d.yaml", "--role", "server"},
              "SetConfig d.yaml {role: ROLE_SERVER}"},
        Valid{{"config", "set", "o.json", "--agent", "srv-a", "--comment", "lab"},
              "SetConfig o.json {agent_id: \"srv-a\" comment: \"lab\"}"},
        Valid{{"config", "set", "d.yaml", "--role", "relay", "--wait"},
              "SetConfig d.yaml {role: ROLE_RELAY} wait 60s"},
        Valid{{"config", "set", "d.yaml", "--role", "relay", "--wait", "--wait-timeout", "5"},
              "SetConfig d.yaml {role: ROLE_RELAY} wait 5s"},
        Valid{{"config", "set", "d.yaml", "--role", "relay", "--dry-run", "--expected-version", "4",
               "--comment", "two words"},
              "SetConfig d.yaml {role: ROLE_RELAY dry_run: true expected_version: 4 comment: "
              "\"two words\"}"},
        Valid{{"config", "remove", "--agent", "srv-a", "--comment", "undo"},
              "RemoveOverride {agent_id: \"srv-a\" remove_override: true comment: \"undo\"}"},
        Valid{{"config", "remove", "--agent", "srv-a", "--dry-run"},
              "RemoveOverride {agent_id: \"srv-a\" dry_run: true remove_override: true}"},
        Valid{{"config", "history"}, "ConfigHistory {}"},
        Valid{{"config", "history", "--limit", "5"}, "ConfigHistory {limit: 5}"},
        Valid{{"config", "history", "--limit", "4294967295"}, "ConfigHistory {limit: 4294967295}"},
        Valid{{"config", "rollback", "12"}, "Rollback {to_version: 12}"},
        Valid{{"config", "rollback", "3", "--dry-run", "--comment", "back"},
              "Rollback {to_version: 3 dry_run: true comment: \"back\"}"},
        Valid{{"config", "rollback", "18446744073709551615"},
              "Rollback {to_version: 18446744073709551615}"},
        Valid{{"config", "rollback", "007"}, "Rollback {to_version: 7}"},
        Valid{{"config", "from-miredo", "/etc/miredo/miredo-server.conf", "--role", "server"},
              "FromMiredo /etc/miredo/miredo-server.conf ROLE_SERVER"},
        Valid{{"config", "from-miredo", "--role", "relay", "miredo.conf"},
              "FromMiredo miredo.conf ROLE_RELAY"},
        Valid{{"drain", "srv-a"}, "Drain {agent_id: \"srv-a\"}"},
        Valid{{"drain", "--role", "server"}, "Drain {role: ROLE_SERVER}"},
        Valid{{"undrain", "rly-a"}, "Undrain {agent_id: \"rly-a\"}"},
        Valid{{"undrain", "--role", "relay"}, "Undrain {role: ROLE_RELAY}"},
        Valid{{"agents", "forget", "rly-old"}, "ForgetAgent {agent_id: \"rly-old\"}"},
        Valid{{"config", "diff", "r.yaml", "--role", "relay"}, "DiffConfig r.yaml ROLE_RELAY"},
        Valid{{"completion", "bash"}, "Completion bash"},
        Valid{{"completion", "fish"}, "Completion fish"},
        Valid{{"config", "diff", "o.yaml", "--agent", "srv-a"}, "DiffConfig o.yaml srv-a"},
        Valid{{"agents", "forget", "rly-old", "--comment", "rack 4 retired"},
              "ForgetAgent {agent_id: \"rly-old\" comment: \"rack 4 retired\"}"},
        // Global options before and after the command.
        Valid{{"--json", "agents", "list"}, "ListAgents {}"},
        Valid{{"agents", "list", "--json", "--timeout", "3"}, "ListAgents {}"},
        Valid{{"--token-file", "t", "config", "set", "d.yaml", "--role", "server"},
              "SetConfig d.yaml {role: ROLE_SERVER}"}));

GlobalOptions globalsOf(const std::vector<std::string>& args,
                        const std::string& controller = kDefaultController) {
  const ParseResult r = parseCommandLine(args, controller);
  EXPECT_TRUE(r.invocation.has_value()) << r.err;
  return r.invocation ? r.invocation->global : GlobalOptions{};
}

TEST(TeredoctlGlobalOptions, AsTheLabPassesThem) {
  // tests/integration/lab/fleet_lab.sh: fleet_ctl with FLEET_TLS=1.
  const GlobalOptions g =
      globalsOf({"--controller", "127.0.0.1:19548", "--timeout", "5", "--tls-ca", "ca.pem",
                 "--tls-cert", "operator.pem", "--tls-key", "operator.key", "--tls-server-name",
                 "controller", "--token-file", "token", "--json", "agents", "get", "srv-a"});
  GlobalOptions want;
  want.controller = "127.0.0.1:19548";
  want.timeoutSeconds = 5;
  want.caFile = "ca.pem";
  want.certFile = "operator.pem";
  want.keyFile = "operator.key";
  want.serverName = "controller";
  want.tokenFile = "token";
  want.json = true;
  EXPECT_EQ(g, want);
}

TEST(TeredoctlGlobalOptions, Defaults) {
  EXPECT_EQ(globalsOf({"stats", "nat"}), GlobalOptions{});
  EXPECT_EQ(globalsOf({"stats", "nat"}).controller, "127.0.0.1:9548");
  EXPECT_EQ(globalsOf({"stats", "nat"}).timeoutSeconds, 10);
}

TEST(TeredoctlGlobalOptions, EnvironmentDefaultAndCommandLineWins) {
  EXPECT_EQ(globalsOf({"stats", "nat"}, "unix:/run/teredo/admin.sock").controller,
            "unix:/run/teredo/admin.sock");
  EXPECT_EQ(globalsOf({"--controller", "10.0.0.1:9548", "stats", "nat"}, "unix:/x").controller,
            "10.0.0.1:9548");
}

TEST(TeredoctlGlobalOptions, OutputFormat) {
  struct Case {
    std::vector<std::string> args;
    bool json, yaml;
  } cases[] = {{{"agents", "list"}, false, false},
               {{"-o", "json", "agents", "list"}, true, false},
               {{"agents", "list", "--output", "yaml"}, false, true},
               {{"-o", "table", "agents", "list"}, false, false},
               {{"--json", "agents", "list"}, true, false}};
  for (const auto& c : cases) {
    const GlobalOptions g = globalsOf(c.args);
    EXPECT_EQ(g.json, c.json) << c.args[0];
    EXPECT_EQ(g.yaml, c.yaml) << c.args[0];
  }
}

TEST(TeredoctlGlobalOptions, AfterTheCommandAndRepeated) {
  const GlobalOptions g = globalsOf({"--token-file", "a", "--timeout", "5", "config", "history",
                                     "--json", "--token-file", "b", "--timeout", "7"});
  EXPECT_TRUE(g.json);
  EXPECT_EQ(g.tokenFile, "b");  // wrappers put defaults first; the last one counts
  EXPECT_EQ(g.timeoutSeconds, 7);
}

struct Invalid {
  std::vector<std::string> args;
  std::string message;  // must appear in the error text
};

void PrintTo(const Invalid& c, std::ostream* os) {
  for (const auto& a : c.args) {
    *os << "'" << a << "' ";
  }
}

class InvalidCommandLine : public testing::TestWithParam<Invalid> {};

TEST_P(InvalidCommandLine, IsAUsageError) {
  const ParseResult r = parseCommandLine(GetParam().args);
  EXPECT_FALSE(r.invocation.has_value());
  EXPECT_EQ(r.exitCode, kExitUsage);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("teredoctl: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(GetParam().message), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--help' for usage."), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    TeredoctlVersions, InvalidCommandLine,
    testing::Values(
        Invalid{{"config", "rollback", "v12"}, "config rollback: VERSION: 'v12' is not a decimal"},
        Invalid{{"config", "rollback", "-1"}, "VERSION: '-1' is not a decimal number"},
        Invalid{{"config", "rollback", "+1"}, "VERSION: '+1' is not a decimal number"},
        Invalid{{"config", "rollback", "0x10"}, "VERSION: '0x10' is not a decimal number"},
        Invalid{{"config", "rollback", "1.5"}, "VERSION: '1.5' is not a decimal number"},
        Invalid{{"config", "rollback", " 12"}, "VERSION: ' 12' is not a decimal number"},
        Invalid{{"config", "rollback", ""}, "VERSION: '' is not a decimal number"},
        Invalid{{"config", "rollback", "99999999999999999999"},
                "VERSION: 99999999999999999999 is out of range (1 to 18446744073709551615)"},
        Invalid{{"config", "rollback", "18446744073709551616"}, "is out of range"},
        Invalid{{"config", "rollback", "0"}, "VERSION: 0 is out of range"},
        Invalid{{"config", "rollback"}, "VERSION is required"},
        Invalid{{"config", "rollback", "3", "4"}, "4"},
        Invalid{{"config", "get", "--version", "latest"}, "--version: 'latest' is not a decimal"},
        Invalid{{"config", "get", "--version"}, "--version"},
        Invalid{{"config", "set", "d.yaml", "--role", "server", "--expected-version", "x"},
                "--expected-version: 'x' is not a decimal number"},
        Invalid{{"config", "history", "--limit", "4294967296"},
                "--limit: 4294967296 is out of range (1 to 4294967295)"},
        Invalid{{"config", "history", "--limit", "-5"}, "--limit: '-5' is not a decimal number"},
        Invalid{{"--timeout", "0", "stats", "nat"}, "--timeout: 0 is out of range (1 to 86400)"},
        Invalid{{"--timeout", "ten", "stats", "nat"}, "--timeout: 'ten' is not a decimal"}));

INSTANTIATE_TEST_SUITE_P(
    TeredoctlCommands, InvalidCommandLine,
    testing::Values(
        Invalid{{}, "a command is required (agents, stats, config, drain, undrain, completion)"},
        Invalid{{"frob"},
                "unknown command 'frob' (agents, stats, config, drain, undrain, completion)"},
        Invalid{{"agents"}, "agents: a subcommand is required (list, get, forget)"},
        Invalid{{"agents", "frob"}, "agents: unknown subcommand 'frob' (list, get, forget)"},
        Invalid{{"config", "rollbak", "3"}, "config: unknown subcommand 'rollbak'"},
        Invalid{{"stats"}, "stats: a subcommand is required (fleet, nat)"},
        Invalid{{"agents", "get"}, "agents get: ID is required"},
        Invalid{{"agents", "get", ""}, "ID: must not be empty"},
        Invalid{{"agents", "get", "a", "b"}, "The following argument was not expected: b"},
        Invalid{{"agents", "list", "--frob"}, "The following argument was not expected: --frob"},
        Invalid{{"agents", "--frob"}, "agents: unknown option '--frob'; expected a subcommand"},
        Invalid{{"agents", "list", "--role", "bogus"}, "--role: 'bogus' is not server or relay"},
        Invalid{{"agents", "list", "--state", "asleep"},
                "--state: 'asleep' is not connected or disconnected"},
        Invalid{{"agents", "list", "--role"}, "--role"},
        Invalid{{"stats", "nat", "--role", "server"}, "--role"},
        Invalid{{"config", "set", "d.yaml"}, "config set: --role or --agent is required"},
        Invalid{{"config", "set", "--role", "server"}, "FILE is required"},
        Invalid{{"config", "set", "d.yaml", "--role", "server", "--agent", "a"}, "excludes"},
        Invalid{{"config", "get", "--agent", "a", "--role", "relay"}, "excludes"},
        Invalid{{"config", "remove"}, "config remove: --agent is required"},
        Invalid{{"config", "remove", "--agent", "a", "--role", "server"}, "--role"},
        Invalid{{"config", "from-miredo", "miredo.conf"}, "--role is required"},
        Invalid{{"config", "from-miredo", "--role", "client", "miredo.conf"},
                "--role: 'client' is not server or relay"},
        Invalid{{"drain"}, "drain: an agent ID or --role is required"},
        Invalid{{"agents", "forget"}, "ID is required"},
        Invalid{{"config", "diff", "r.yaml"}, "config diff: --role or --agent is required"},
        Invalid{{"config", "diff", "--role", "relay"}, "FILE is required"},
        Invalid{{"completion", "tcsh"}, "SHELL"},
        Invalid{{"-o", "xml", "agents", "list"}, "--output"},
        Invalid{{"-o", "yaml", "--json", "agents", "list"}, "excludes"},
        Invalid{{"config", "set", "d.yaml", "--role", "relay", "--wait-timeout", "5"}, "--wait"},
        Invalid{{"config", "set", "d.yaml", "--role", "relay", "--wait", "--wait-timeout", "0"},
                "--wait-timeout"},
        Invalid{{"config", "set", "d.yaml", "--role", "relay", "--wait", "--wait-timeout", "5s"},
                "--wait-timeout"},
        Invalid{{"undrain"}, "undrain: an agent ID or --role is required"},
        Invalid{{"drain", "srv-a", "--role", "server"}, "excludes"},
        Invalid{{"--dry-run", "config", "rollback", "3"}, "--dry-run"},
        Invalid{{"--tls-cert", "c.pem", "stats", "nat"}, "--tls-key"},
        Invalid{{"stats", "nat", "--controller"}, "--controller"}));

TEST(TeredoctlUsageError, NamesTheCommandToAskForHelp) {
  const ParseResult r = parseCommandLine({"config", "rollback", "v12"});
  EXPECT_EQ(r.err,
            "teredoctl: config rollback: VERSION: 'v12' is not a decimal number\n"
            "Run 'teredoctl config rollback --help' for usage.\n");
  EXPECT_EQ(
      parseCommandLine({"frob"}).err,
      "teredoctl: unknown command 'frob' (agents, stats, config, drain, undrain, completion)\n"
      "Run 'teredoctl --help' for usage.\n");
}

ParseResult expectHelp(const std::vector<std::string>& args) {
  const ParseResult r = parseCommandLine(args);
  EXPECT_FALSE(r.invocation.has_value());
  EXPECT_EQ(r.exitCode, kExitOk);
  EXPECT_EQ(r.err, "");
  return r;
}

TEST(TeredoctlHelp, TopLevelListsCommandsGlobalOptionsAndExitStatuses) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--help"}, {"-h"}}) {
    const std::string out = expectHelp(args).out;
    for (const char* want : {"--controller", "--token-file", "--tls-ca", "--tls-cert", "--tls-key",
                             "--tls-server-name", "--json", "--timeout", "agents", "stats",
                             "config", "drain", "undrain", "config rollback VERSION", "Exit status",
                             "64  usage error", "3   the controller refused"}) {
      EXPECT_NE(out.find(want), std::string::npos) << want << " missing in\n" << out;
    }
  }
}

TEST(TeredoctlHelp, PerCommand) {
  const std::string config = expectHelp({"config", "--help"}).out;
  for (const char* want : {"get", "set", "remove", "history", "rollback", "from-miredo"}) {
    EXPECT_NE(config.find(want), std::string::npos) << want << " missing in\n" << config;
  }
  // Help wins over the missing VERSION.
  const std::string rollback = expectHelp({"config", "rollback", "--help"}).out;
  for (const char* want : {"teredoctl config rollback", "VERSION", "--dry-run", "--comment"}) {
    EXPECT_NE(rollback.find(want), std::string::npos) << want << " missing in\n" << rollback;
  }
  EXPECT_EQ(rollback.find("from-miredo"), std::string::npos) << rollback;
  const std::string set = expectHelp({"config", "set", "--help"}).out;
  EXPECT_NE(set.find("--expected-version"), std::string::npos) << set;
}

TEST(TeredoctlHelp, Version) {
  const ParseResult r = expectHelp({"--version"});
  EXPECT_EQ(r.out.rfind("teredoctl ", 0), 0u) << r.out;
  // config get's --version is the config version, not the program's.
  const ParseResult get = parseCommandLine({"config", "get", "--version", "2"});
  ASSERT_TRUE(get.invocation.has_value()) << get.err;
  EXPECT_EQ(describe(get.invocation->command), "GetConfig {version: 2}");
}

TEST(TeredoctlParseDecimal, DigitsOnlyWithinRange) {
  EXPECT_EQ(parseDecimal("0", 0, 10), 0u);
  EXPECT_EQ(parseDecimal("10", 0, 10), 10u);
  EXPECT_EQ(parseDecimal("18446744073709551615", 1, UINT64_MAX), UINT64_MAX);
  EXPECT_EQ(parseDecimal("11", 0, 10), std::nullopt);
  EXPECT_EQ(parseDecimal("0", 1, 10), std::nullopt);
  EXPECT_EQ(parseDecimal("18446744073709551616", 1, UINT64_MAX), std::nullopt);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "0x1", "1e3", "v1", "1.0"}) {
    EXPECT_EQ(parseDecimal(bad, 0, UINT64_MAX), std::nullopt) << bad;
  }
}

// What bash offers with the generated script: COMP_WORDS as typed, COMPREPLY joined by spaces.
std::string bashCompletes(const std::vector<std::string>& words) {
  char dir[] = "/tmp/teredoctl-completion-XXXXXX";
  if (::mkdtemp(dir) == nullptr) {
    return "<no temp dir>";
  }
  const std::string script = std::string(dir) + "/teredoctl.bash";
  std::ofstream(script) << completionScript("bash");
  std::string words_;
  for (const auto& w : words) {
    words_ += " '" + w + "'";
  }
  const std::string cmd =
      "cd " + std::string(dir) +
      " && bash -c 'source teredoctl.bash; COMP_WORDS=(teredoctl \"$@\"); COMP_CWORD=$#; "
      "_teredoctl; echo \"${COMPREPLY[*]}\"' _" +
      words_ + " > out 2>&1";
  std::string out;
  if (std::system(cmd.c_str()) == 0) {
    std::ifstream in(std::string(dir) + "/out");
    std::getline(in, out);
  }
  std::system(("rm -rf " + std::string(dir)).c_str());
  return out;
}

TEST(TeredoctlCompletion, BashOffersCommandsOptionsAndValues) {
  struct Case {
    std::vector<std::string> words;
    std::string offered;
  } cases[] = {
      {{"ag"}, "agents"},
      {{"agents", ""}, "list get forget"},
      {{"config", "r"}, "remove rollback"},
      {{"agents", "list", "--st"}, "--state"},
      {{"agents", "list", "--role", ""}, "server relay"},
      {{"-o", "y"}, "yaml"},
      {{"config", "set", "--wai"}, "--wait --wait-timeout"},
      {{"--json", "drain", "--r"}, "--role"},
      {{"completion", ""}, "bash zsh fish"},
      {{"config", "set", "--token-file", "/nonexistent/x"}, ""},
  };
  for (const auto& c : cases) {
    std::string typed;
    for (const auto& w : c.words) {
      typed += w + " ";
    }
    EXPECT_EQ(bashCompletes(c.words), c.offered) << typed;
  }
}

TEST(TeredoctlCompletion, ScriptsForEveryShell) {
  EXPECT_NE(completionScript("zsh").find("bashcompinit"), std::string::npos);
  const std::string fish = completionScript("fish");
  EXPECT_NE(fish.find("complete -c teredoctl -n '__fish_use_subcommand' -a 'agents stats config "
                      "drain undrain completion'"),
            std::string::npos)
      << fish;
  EXPECT_NE(fish.find("complete -c teredoctl -l role -x -a 'server relay'"), std::string::npos)
      << fish;
  EXPECT_NE(fish.find("__fish_seen_subcommand_from agents; and not __fish_seen_subcommand_from "
                      "list get forget"),
            std::string::npos)
      << fish;
}

}  // namespace
}  // namespace teredoctl

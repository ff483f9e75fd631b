// teredoctl's context file: parsing (errors with file:line), the --context flag, and how a
// context, $TEREDOCTL_CONTROLLER and the command line combine.
#include "contexts.h"

#include <gtest/gtest.h>

namespace teredoctl {
namespace {

constexpr const char* kFile = R"(current-context: lab
contexts:
  prod:
    controller: ctl.example.net:9548
    token-file: ~/.config/teredoctl/prod.token
    tls-ca: /etc/teredo/ca.pem
    tls-cert: /etc/teredo/op.pem
    tls-key: /etc/teredo/op.key
    tls-server-name: controller
    timeout: 30
  lab:
    controller: 127.0.0.1:19548
)";

ContextFile sample() {
  auto f = parseContextFile(kFile, "config.yaml", "/home/op");
  EXPECT_TRUE(f.ok()) << f.status().message();
  return f.ok() ? *f : ContextFile{};
}

TEST(TeredoctlContexts, ParsesContextsAndExpandsHome) {
  const ContextFile f = sample();
  EXPECT_EQ(f.current, "lab");
  ASSERT_EQ(f.contexts.size(), 2u);
  const GlobalOptions& prod = f.contexts.at("prod");
  EXPECT_EQ(prod.controller, "ctl.example.net:9548");
  EXPECT_EQ(prod.tokenFile, "/home/op/.config/teredoctl/prod.token");
  EXPECT_EQ(prod.caFile, "/etc/teredo/ca.pem");
  EXPECT_EQ(prod.serverName, "controller");
  EXPECT_EQ(prod.timeoutSeconds, 30);
  EXPECT_TRUE(parseContextFile("", "empty.yaml", "/h")->contexts.empty());
}

TEST(TeredoctlContexts, ErrorsNameFileLineAndKey) {
  struct Case {
    const char* name;
    const char* text;
    const char* expected;
  } cases[] = {
      {"unknown top key", "contexts: {}\nfoo: 1\n", "c.yaml:2: foo: unknown key"},
      {"unknown context key", "contexts:\n  a:\n    token: x\n",
       "c.yaml:3: contexts.a.token: unknown key"},
      {"bad timeout", "contexts:\n  a:\n    timeout: 10s\n",
       "c.yaml:3: contexts.a.timeout: seconds in 1..86400"},
      {"cert without key", "contexts:\n  a:\n    tls-cert: /c\n",
       "tls-cert and tls-key go together"},
      {"context not a map", "contexts:\n  a: 1\n", "c.yaml:2: contexts.a: expected a mapping"},
      {"dangling current", "current-context: b\ncontexts:\n  a: {controller: x:1}\n",
       "current-context b names no context"},
      {"syntax", "contexts: [\n", "YAML syntax error"},
  };
  for (const auto& c : cases) {
    const auto f = parseContextFile(c.text, "c.yaml", "/h");
    ASSERT_FALSE(f.ok()) << c.name;
    EXPECT_NE(f.status().message().find(c.expected), std::string::npos)
        << c.name << ": " << f.status().message();
  }
}

TEST(TeredoctlContexts, ContextFlagLastOneCounts) {
  EXPECT_EQ(contextFlag({"agents", "list"}), std::nullopt);
  EXPECT_EQ(contextFlag({"--context", "a", "agents", "list", "--context=b"}), "b");
  EXPECT_EQ(contextFlag({"agents", "list", "--context", "prod"}), "prod");
}

TEST(TeredoctlContexts, PrecedenceCommandLineContextEnvironmentDefaults) {
  const ContextFile f = sample();
  // No file, no flag: the environment's address over the default.
  EXPECT_EQ(startingOptions(std::nullopt, std::nullopt, "10.0.0.1:9548")->controller,
            "10.0.0.1:9548");
  EXPECT_EQ(startingOptions(std::nullopt, std::nullopt, std::nullopt)->controller,
            kDefaultController);
  // The current context over the environment.
  EXPECT_EQ(startingOptions(f, std::nullopt, "10.0.0.1:9548")->controller, "127.0.0.1:19548");
  // --context picks another one; what it does not set stays.
  const auto prod = startingOptions(f, std::string("prod"), std::nullopt);
  ASSERT_TRUE(prod.ok());
  EXPECT_EQ(prod->controller, "ctl.example.net:9548");
  EXPECT_EQ(prod->timeoutSeconds, 30);
  // The command line wins over the context.
  const ParseResult r =
      parseCommandLine({"--controller", "192.0.2.9:9548", "agents", "list"}, *prod);
  ASSERT_TRUE(r.invocation.has_value()) << r.err;
  EXPECT_EQ(r.invocation->global.controller, "192.0.2.9:9548");
  EXPECT_EQ(r.invocation->global.tokenFile, "/home/op/.config/teredoctl/prod.token");
  EXPECT_EQ(r.invocation->global.timeoutSeconds, 30);
  const ParseResult t = parseCommandLine({"agents", "list", "--timeout", "5"}, *prod);
  EXPECT_EQ(t.invocation->global.timeoutSeconds, 5);
  // Unknown names are errors, not silently the defaults.
  EXPECT_EQ(startingOptions(f, std::string("staging"), std::nullopt).status().code(),
            teredo::StatusCode::kNotFound);
  EXPECT_EQ(startingOptions(std::nullopt, std::string("prod"), std::nullopt).status().code(),
            teredo::StatusCode::kNotFound);
}

}  // namespace
}  // namespace teredoctl

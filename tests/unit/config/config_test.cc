// lib/config: YAML loading, validation rules and their messages, rendering, reload rules.
#include "config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "config/schema.h"

namespace teredo::config {
namespace {

using std::chrono::milliseconds;

constexpr const char* kMinimalServer = "server:\n  primary_address: 198.51.100.10\n";

std::string hostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

/// Loads `text` for `role` and returns the formatted errors (empty when it loaded).
std::vector<std::string> errorsOf(Role role, const std::string& text) {
  std::vector<Violation> errors;
  switch (role) {
    case Role::kServer:
      errors = loadServerConfigString(text, "t.yaml").status().violations();
      break;
    case Role::kRelay:
      errors = loadRelayConfigString(text, "t.yaml").status().violations();
      break;
    case Role::kController:
      errors = loadControllerConfigString(text, "t.yaml").status().violations();
      break;
  }
  std::vector<std::string> out;
  for (const Violation& e : errors) {
    out.push_back(e.format());
  }
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& e : v) {
    s += e + "\n";
  }
  return s;
}

// ----- Defaults --------------------------------------------------------------------------------

TEST(ServerConfigTest, MinimalFileGetsDocumentedDefaults) {
  auto r = loadServerConfigString(kMinimalServer, "server.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ServerConfig& c = **r;
  EXPECT_EQ(c.server.primaryAddress, 0xC633640Au);
  EXPECT_EQ(c.server.secondaryAddress, 0xC633640Bu);  // primary + 1
  EXPECT_EQ(c.server.port, 3544);
  EXPECT_EQ(c.server.prefix, 0x20010000u);
  EXPECT_EQ(c.server.mtu, 1280u);
  EXPECT_TRUE(c.server.advertiseMtu);
  EXPECT_TRUE(c.server.strictRs);
  EXPECT_EQ(c.server.workers, 0u);
  EXPECT_EQ(c.server.rateLimit.rsPerSecond, kDefaultRsPerSecond);
  EXPECT_TRUE(c.server.ipv6Forward.enabled);
  EXPECT_TRUE(c.server.ipv6Forward.echoOnly);
  EXPECT_EQ(c.server.ipv6Forward.maxPacketBytes, 128u);
  EXPECT_EQ(c.server.otherServerClients, OtherServerClients::kForward);
  EXPECT_EQ(c.server.natObservation.window, milliseconds(60000));
  EXPECT_EQ(c.admin.listen, "127.0.0.1:9544");
  EXPECT_EQ(c.log.level, LogLevel::kInfo);
  EXPECT_EQ(c.log.format, LogFormat::kText);
  EXPECT_EQ(c.agent.id, hostName());
  EXPECT_EQ(c.agent.stateDir, "/var/lib/teredo");
  EXPECT_FALSE(c.controller.enabled());
  EXPECT_TRUE(c.globalPolicy.rfc6890NonGlobal);
}

TEST(RelayConfigTest, EmptyFileGetsDocumentedDefaults) {
  auto r = loadRelayConfigString("", "relay.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const RelayConfig& c = **r;
  EXPECT_EQ(c.relay.bindAddress, 0u);
  EXPECT_EQ(c.relay.port, 3545);
  EXPECT_EQ(c.relay.interface, "teredo");
  EXPECT_EQ(c.relay.mtu, 1280u);
  EXPECT_EQ(c.relay.mode, RelayMode::kRelay);
  ASSERT_EQ(c.relay.servedPrefixes.size(), 1u);
  EXPECT_EQ(c.relay.servedPrefixes[0].length, 0);
  EXPECT_EQ(c.relay.socketReceiveBufferBytes, 4u << 20);  // room for a stalled worker
  EXPECT_EQ(c.relay.socketSendBufferBytes, 0u);
  EXPECT_EQ(c.relay.maxPeers, 1048576u);
  EXPECT_EQ(c.relay.queueBytesPerPeer, 4096u);
  EXPECT_EQ(c.relay.queueBytesTotal, 64ull << 20);
  EXPECT_EQ(c.relay.trustTimeout, milliseconds(30000));
  EXPECT_EQ(c.relay.bubble.minInterval, milliseconds(2000));
  EXPECT_EQ(c.relay.bubble.maxPerWindow, 4u);
  EXPECT_EQ(c.relay.bubble.window, milliseconds(300000));
  EXPECT_EQ(c.relay.icmpErrorsPerSecond, 10u);
  EXPECT_EQ(c.relay.batchDelayUs, 200u);
  EXPECT_TRUE(c.relay.offloads);
  EXPECT_TRUE(c.relay.ioUring);
  EXPECT_FALSE(c.relay.acceptUnknownPeers);
  EXPECT_FALSE(c.relay.coneShortcut);
  EXPECT_EQ(c.admin.listen, "127.0.0.1:9545");
}

TEST(ControllerConfigTest, DefaultsWithToken) {
  auto r = loadControllerConfigString("controller:\n  auth:\n    token_file: /etc/t\n", "c.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->controller.agentListen, "0.0.0.0:9546");
  EXPECT_EQ((*r)->controller.adminListen, "127.0.0.1:9548");
  EXPECT_EQ((*r)->admin.listen, "127.0.0.1:9547");
  EXPECT_EQ((*r)->controller.debounce, milliseconds(500));
  EXPECT_EQ((*r)->controller.statsInterval, milliseconds(10000));
  EXPECT_FALSE((*r)->tls.enabled());
}

TEST(ServerConfigTest, NonconsecutiveSecondaryAllowedWhenAsked) {
  auto r = loadServerConfigString(
      "server:\n  primary_address: 198.51.100.10\n  secondary_address: 203.0.113.7\n"
      "  allow_nonconsecutive: true\n",
      "s.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->server.secondaryAddress, 0xCB007107u);
}

TEST(ServerConfigTest, PrefixForms) {
  for (const char* text : {"\"2001::\"", "2001::/32", "2001:0::/32", "\"2001:0000::\""}) {
    auto r = loadServerConfigString(std::string(kMinimalServer) + "  prefix: " + text + "\n", "s");
    ASSERT_TRUE(r.ok()) << text << ": " << r.status().message();
    EXPECT_EQ((*r)->server.prefix, 0x20010000u) << text;
  }
  auto legacy =
      loadServerConfigString(std::string(kMinimalServer) + "  prefix: \"3ffe:831f::\"\n", "s");
  ASSERT_TRUE(legacy.ok()) << legacy.status().message();
  EXPECT_EQ((*legacy)->server.prefix, 0x3ffe831fu);
  auto priv = loadServerConfigString(
      std::string(kMinimalServer) + "  prefix: 2001:db8::/32\n  mtu: 1400\n", "s");
  ASSERT_TRUE(priv.ok()) << priv.status().message();
  EXPECT_EQ((*priv)->server.mtu, 1400u);
}

TEST(ServerConfigTest, LabRangesNeedThePolicySwitch) {
  // 198.18.0.0/15 (benchmarking) is non-global under the default policy.
  const std::string lab = "server:\n  primary_address: 198.18.0.10\n";
  auto refused = errorsOf(Role::kServer, lab);
  ASSERT_EQ(refused.size(), 1u) << joined(refused);
  EXPECT_NE(refused[0].find("global_policy.rfc6890_non_global: false"), std::string::npos);
  auto r = loadServerConfigString(lab + "global_policy:\n  rfc6890_non_global: false\n", "s");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE((*r)->globalPolicy.rfc6890NonGlobal);
}

TEST(RelayConfigTest, HostSpecificWithAddresses) {
  auto r = loadRelayConfigString(
      "relay:\n  mode: host-specific\n  host_addresses: [\"2001:db8::5\", \"2001:db8::6\"]\n"
      "  served_prefixes:\n    - 2001:db8::5/128\n    - 2001:db8:1::/48\n",
      "r.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->relay.mode, RelayMode::kHostSpecific);
  ASSERT_EQ((*r)->relay.hostAddresses.size(), 2u);
  ASSERT_EQ((*r)->relay.servedPrefixes.size(), 2u);
  EXPECT_EQ((*r)->relay.servedPrefixes[1].length, 48);
  EXPECT_TRUE((*r)->relay.servedPrefixes[1].contains(*parseIpv6("2001:db8:1:ffff::1")));
  EXPECT_FALSE((*r)->relay.servedPrefixes[1].contains(*parseIpv6("2001:db8:2::1")));
}

TEST(RelayConfigTest, AnnounceDefaultsToTheRelayPrefixAndFollowsIt) {
  auto defaults = loadRelayConfigString("", "r.yaml");
  ASSERT_TRUE(defaults.ok()) << defaults.status().message();
  const RelayAnnounce& a = (*defaults)->relay.announce;
  EXPECT_FALSE(a.enabled);
  ASSERT_EQ(a.prefixes.size(), 1u);
  EXPECT_EQ(formatIpv6Prefix(a.prefixes[0]), "2001::/32");
  EXPECT_EQ(a.table, 100u);
  EXPECT_EQ(a.protocol, 199u);
  EXPECT_EQ(a.metric, 1024u);
  EXPECT_EQ(a.withdrawGrace, std::chrono::seconds(10));

  // A lab relay on another /32 announces that /32 by default, and may split it.
  auto lab = loadRelayConfigString(
      "relay:\n  prefix: \"3ffe:831f::\"\n  announce:\n    enabled: true\n"
      "    table: 4000000000\n    protocol: 250\n    metric: 10\n    withdraw_grace: 0s\n",
      "r.yaml");
  ASSERT_TRUE(lab.ok()) << lab.status().message();
  ASSERT_EQ((*lab)->relay.announce.prefixes.size(), 1u);
  EXPECT_EQ(formatIpv6Prefix((*lab)->relay.announce.prefixes[0]), "3ffe:831f::/32");
  EXPECT_EQ((*lab)->relay.announce.table, 4000000000u);
  auto split = loadRelayConfigString(
      "relay:\n  announce:\n    prefixes: [\"2001::/33\", \"2001:0:8000::/33\"]\n", "r.yaml");
  ASSERT_TRUE(split.ok()) << split.status().message();
  EXPECT_EQ((*split)->relay.announce.prefixes.size(), 2u);
}

TEST(RelayConfigTest, BehindNatAllowsPrivateBindAddress) {
  EXPECT_FALSE(errorsOf(Role::kRelay, "relay:\n  bind_address: 10.0.0.5\n").empty());
  EXPECT_TRUE(
      errorsOf(Role::kRelay, "relay:\n  bind_address: 10.0.0.5\n  behind_nat: true\n").empty());
}

// ----- Every rule, with its message ------------------------------------------------------------

struct ErrorCase {
  const char* name;
  Role role;
  std::string yaml;
  std::string expectedKey;   ///< Violation::key
  std::string expectedText;  ///< substring of the message
  int expectedLine;          ///< 0 = not checked
};

std::ostream& operator<<(std::ostream& os, const ErrorCase& c) {
  return os << c.name;
}

class ConfigErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigErrorTest, RefusedWithKeyLineAndReason) {
  const ErrorCase& c = GetParam();
  std::vector<Violation> errors;
  switch (c.role) {
    case Role::kServer:
      errors = loadServerConfigString(c.yaml, "t.yaml").status().violations();
      break;
    case Role::kRelay:
      errors = loadRelayConfigString(c.yaml, "t.yaml").status().violations();
      break;
    case Role::kController:
      errors = loadControllerConfigString(c.yaml, "t.yaml").status().violations();
      break;
  }
  ASSERT_FALSE(errors.empty()) << "accepted:\n" << c.yaml;
  std::string all;
  for (const Violation& e : errors) {
    all += e.format() + "\n";
  }
  ASSERT_EQ(errors.size(), 1u) << all;
  const Violation& e = errors[0];
  EXPECT_EQ(e.file, "t.yaml");
  EXPECT_EQ(e.key, c.expectedKey) << all;
  EXPECT_NE(e.message.find(c.expectedText), std::string::npos) << all;
  if (c.expectedLine != 0) {
    EXPECT_EQ(e.line, c.expectedLine) << all;
    std::string prefix = "t.yaml:" + std::to_string(c.expectedLine);
    if (e.column > 0) {
      prefix += ":" + std::to_string(e.column);
    }
    prefix += ": ";
    if (!c.expectedKey.empty()) {
      prefix += c.expectedKey + ": ";
    }
    EXPECT_EQ(e.format().rfind(prefix, 0), 0u) << e.format();
  }
}

const std::string kSrv = "server:\n  primary_address: 198.51.100.10\n";  // line 2 = primary
const std::string kCtl = "controller:\n  auth:\n    token_file: /t\n";

INSTANTIATE_TEST_SUITE_P(
    Rules, ConfigErrorTest,
    ::testing::Values(
        // Structure and syntax.
        ErrorCase{"YamlSyntax", Role::kServer, "server:\n  primary_address: [1\n", "",
                  "YAML syntax error", 0},
        ErrorCase{"UnquotedTrailingColon", Role::kServer, kSrv + "  prefix: 2001::\n", "",
                  "quote IPv6 addresses", 3},
        ErrorCase{"UnknownTopLevel", Role::kServer, kSrv + "sever:\n  port: 1\n", "sever",
                  "unknown key (did you mean \"server\"?)", 3},
        ErrorCase{"UnknownNested", Role::kServer, kSrv + "  mtuu: 1280\n", "server.mtuu",
                  "did you mean \"server.mtu\"", 3},
        ErrorCase{"RelayKeyInServerFile", Role::kServer, kSrv + "relay:\n  port: 3545\n", "relay",
                  "unknown key", 3},
        ErrorCase{"DuplicateKey", Role::kServer, kSrv + "  primary_address: 198.51.100.12\n",
                  "server.primary_address", "duplicate key", 3},
        ErrorCase{"NullValue", Role::kServer, kSrv + "  mtu:\n", "server.mtu", "has no value", 3},
        ErrorCase{"MapForScalar", Role::kServer, kSrv + "  mtu:\n    x: 1\n", "server.mtu",
                  "not a mapping", 3},
        ErrorCase{"ScalarForSection", Role::kServer, kSrv + "log: debug\n", "log",
                  "must be a mapping", 0},
        ErrorCase{"TwoDocuments", Role::kServer, kSrv + "---\n" + kSrv, "",
                  "2 or more YAML documents", 0},
        // yaml-cpp 0.7 reports documents forever on this input: LoadAll would never return.
        ErrorCase{"ParserThatNeverEnds", Role::kServer, "- a\n\"b\",\n", "",
                  "2 or more YAML documents", 0},
        ErrorCase{"NotAMap", Role::kServer, "- a\n- b\n", "", "mapping of sections", 1},
        // Server addresses.
        ErrorCase{"PrimaryRequired", Role::kServer, "server:\n  port: 3544\n",
                  "server.primary_address", "is required", 1},
        ErrorCase{"PrimaryMissingWholeFile", Role::kServer, "", "server.primary_address",
                  "is required", 0},
        ErrorCase{"PrimaryNotIpv4", Role::kServer, "server:\n  primary_address: teredo.example\n",
                  "server.primary_address", "dotted-quad IPv4", 2},
        ErrorCase{"PrimaryPrivate", Role::kServer, "server:\n  primary_address: 10.1.2.3\n",
                  "server.primary_address", "not a global unicast IPv4 address", 2},
        ErrorCase{"PrimaryLoopback", Role::kServer, "server:\n  primary_address: 127.0.0.1\n",
                  "server.primary_address", "RFC 4380 §5.2.4", 2},
        ErrorCase{"PrimaryCgn", Role::kServer, "server:\n  primary_address: 100.64.1.1\n",
                  "server.primary_address", "rfc6890_non_global", 2},
        ErrorCase{"SecondaryNotConsecutive", Role::kServer,
                  kSrv + "  secondary_address: 198.51.100.20\n", "server.secondary_address",
                  "not server.primary_address + 1 (198.51.100.11)", 3},
        ErrorCase{"SecondaryNotConsecutiveHint", Role::kServer,
                  kSrv + "  secondary_address: 198.51.100.20\n", "server.secondary_address",
                  "server.allow_nonconsecutive: true", 3},
        ErrorCase{"SecondaryEqualsPrimary", Role::kServer,
                  kSrv + "  secondary_address: 198.51.100.10\n  allow_nonconsecutive: true\n",
                  "server.secondary_address", "must differ", 3},
        ErrorCase{"SecondaryPrivate", Role::kServer,
                  kSrv + "  secondary_address: 192.168.1.1\n  allow_nonconsecutive: true\n",
                  "server.secondary_address", "not a global unicast", 3},
        ErrorCase{"DefaultSecondaryNotGlobal", Role::kServer,
                  "server:\n  primary_address: 9.255.255.255\n", "server.secondary_address",
                  "defaults to server.primary_address + 1", 1},
        ErrorCase{"PortZero", Role::kServer, kSrv + "  port: 0\n", "server.port", "must be >= 1",
                  3},
        ErrorCase{"PortTooLarge", Role::kServer, kSrv + "  port: 70000\n", "server.port",
                  "must be <= 65535", 3},
        ErrorCase{"PortNotNumber", Role::kServer, kSrv + "  port: -1\n", "server.port",
                  "non-negative whole number", 3},
        // Prefix and MTU.
        ErrorCase{"PrefixNot32", Role::kServer, kSrv + "  prefix: 2001::/48\n", "server.prefix",
                  "must be a /32", 3},
        ErrorCase{"PrefixBitsBeyond32", Role::kServer, kSrv + "  prefix: \"2001:0:1::\"\n",
                  "server.prefix", "bits set beyond the first 32", 3},
        ErrorCase{"PrefixMulticast", Role::kServer, kSrv + "  prefix: ff02::/32\n", "server.prefix",
                  "global unicast prefix", 3},
        ErrorCase{"PrefixGarbage", Role::kServer, kSrv + "  prefix: teredo\n", "server.prefix",
                  "IPv6 /32", 3},
        ErrorCase{"MtuBelow1280", Role::kServer, kSrv + "  mtu: 1200\n", "server.mtu",
                  "must be >= 1280", 3},
        ErrorCase{"MtuAbove65535", Role::kServer, kSrv + "  prefix: 2001:db8::/32\n  mtu: 65536\n",
                  "server.mtu", "must be <= 65535", 4},
        ErrorCase{"MtuChangedWithGlobalPrefix", Role::kServer, kSrv + "  mtu: 1400\n", "server.mtu",
                  "must be 1280 with the public Teredo prefix 2001::/32", 3},
        ErrorCase{"ForwardTooSmall", Role::kServer,
                  kSrv + "  ipv6_forward:\n    max_packet_bytes: 40\n",
                  "server.ipv6_forward.max_packet_bytes", "must be >= 48", 4},
        ErrorCase{"BurstZero", Role::kServer, kSrv + "  rate_limit:\n    rs_burst: 0\n",
                  "server.rate_limit.rs_burst", "must be >= 1 when", 4},
        ErrorCase{"ForwardBurstZero", Role::kServer, kSrv + "  rate_limit:\n    forward_burst: 0\n",
                  "server.rate_limit.forward_burst", "must be >= 1 when", 4},
        ErrorCase{"ForwardGlobalBurstZero", Role::kServer,
                  kSrv + "  rate_limit:\n    forward_global_burst: 0\n",
                  "server.rate_limit.forward_global_burst", "must be >= 1 when", 4},
        ErrorCase{"BubbleCapBelowHeader", Role::kServer, kSrv + "  max_bubble_bytes: 39\n",
                  "server.max_bubble_bytes", "must be >= 40", 3},
        ErrorCase{"BubbleCapAboveMtu", Role::kServer, kSrv + "  max_bubble_bytes: 1281\n",
                  "server.max_bubble_bytes", "must be <= 1280", 3},
        ErrorCase{"IcmpBurstZero", Role::kRelay, "relay:\n  icmp_errors_burst: 0\n",
                  "relay.icmp_errors_burst", "must be >= 1", 2},
        ErrorCase{"BatchDelayTooLong", Role::kRelay, "relay:\n  batch_delay_us: 10001\n",
                  "relay.batch_delay_us", "must be <= 10000", 2},
        ErrorCase{"BadEnum", Role::kServer, kSrv + "  other_server_clients: maybe\n",
                  "server.other_server_clients", "must be one of forward, drop", 3},
        ErrorCase{"BadBool", Role::kServer, kSrv + "  strict_rs: yes\n", "server.strict_rs",
                  "must be true or false", 3},
        ErrorCase{"BadDuration", Role::kServer, kSrv + "  nat_observation:\n    window: 60\n",
                  "server.nat_observation.window", "with a unit", 4},
        ErrorCase{"DurationTooLong", Role::kServer, kSrv + "  nat_observation:\n    window: 2h\n",
                  "server.nat_observation.window", "must be between 1s and 3600s", 4},
        ErrorCase{"WorkersTooMany", Role::kServer, kSrv + "  workers: 5000\n", "server.workers",
                  "must be <= 1024", 3},
        // Shared sections.
        ErrorCase{"AdminListenIpv6NoBrackets", Role::kServer,
                  kSrv + "admin:\n  listen: \"::1:9544\"\n", "admin.listen", "[ipv6]:port", 4},
        ErrorCase{"AdminListenHostName", Role::kServer,
                  kSrv + "admin:\n  listen: \"localhost:9544\"\n", "admin.listen", "[::1]:9544", 4},
        ErrorCase{"AdminListenNoPort", Role::kServer, kSrv + "admin:\n  listen: 127.0.0.1\n",
                  "admin.listen", "ipv4:port", 4},
        ErrorCase{"LogLevel", Role::kServer, kSrv + "log:\n  level: verbose\n", "log.level",
                  "must be one of debug, info, warn, error", 4},
        ErrorCase{"AgentIdChars", Role::kServer, kSrv + "agent:\n  id: \"a b\"\n", "agent.id",
                  "letters, digits", 4},
        ErrorCase{"StateDirRelative", Role::kServer, kSrv + "agent:\n  state_dir: var/lib\n",
                  "agent.state_dir", "absolute path", 4},
        ErrorCase{"ControllerAddress", Role::kServer, kSrv + "controller:\n  address: nope\n",
                  "controller.address", "\"controller.example:9546\" or", 4},
        ErrorCase{"ControllerUnixRelative", Role::kServer,
                  kSrv + "controller:\n  address: unix:c.sock\n", "controller.address",
                  "absolute path", 4},
        ErrorCase{"TlsCertWithoutKey", Role::kServer,
                  kSrv + "controller:\n  address: c:1\n  tls:\n    cert_file: /c.pem\n",
                  "controller.tls.key_file", "is required when", 5},
        ErrorCase{"TlsWithoutController", Role::kServer,
                  kSrv + "controller:\n  tls:\n    ca_file: /ca.pem\n", "controller.address",
                  "is required when controller.tls", 3},
        // Relay.
        ErrorCase{"RelayBindPrivate", Role::kRelay, "relay:\n  bind_address: 192.168.0.1\n",
                  "relay.bind_address", "relay.behind_nat: true", 2},
        ErrorCase{"RelayPortZero", Role::kRelay, "relay:\n  port: 0\n", "relay.port", "ephemeral",
                  2},
        ErrorCase{"RelayMtu", Role::kRelay, "relay:\n  mtu: 1000\n", "relay.mtu", "must be >= 1280",
                  2},
        ErrorCase{"RelayMtuGlobalPrefix", Role::kRelay, "relay:\n  mtu: 1500\n", "relay.mtu",
                  "must be 1280 with the public Teredo prefix", 2},
        ErrorCase{"RelayPrefix", Role::kRelay, "relay:\n  prefix: 2001::/16\n", "relay.prefix",
                  "must be a /32", 2},
        ErrorCase{"RelayInterfaceLong", Role::kRelay, "relay:\n  interface: abcdefghijklmnop\n",
                  "relay.interface", "IFNAMSIZ", 2},
        ErrorCase{"RelayInterfaceSlash", Role::kRelay, "relay:\n  interface: a/b\n",
                  "relay.interface", "must not contain", 2},
        ErrorCase{"RelayMode", Role::kRelay, "relay:\n  mode: client\n", "relay.mode",
                  "must be one of relay, host-specific", 2},
        ErrorCase{"HostSpecificNeedsAddresses", Role::kRelay, "relay:\n  mode: host-specific\n",
                  "relay.host_addresses", "is required with relay.mode: host-specific", 1},
        ErrorCase{"HostAddressesInRelayMode", Role::kRelay,
                  "relay:\n  host_addresses: [\"2001:db8::1\"]\n", "relay.host_addresses",
                  "only used with relay.mode: host-specific", 2},
        ErrorCase{"HostAddressNotGlobal", Role::kRelay,
                  "relay:\n  mode: host-specific\n  host_addresses: [\"fe80::1\"]\n",
                  "relay.host_addresses", "not a global IPv6 address", 3},
        ErrorCase{"HostAddressTeredo", Role::kRelay,
                  "relay:\n  mode: host-specific\n  host_addresses: [\"2001:0:c633:640a::1\"]\n",
                  "relay.host_addresses", "is a Teredo address", 3},
        ErrorCase{"HostAddressesNotList", Role::kRelay,
                  "relay:\n  mode: host-specific\n  host_addresses: 2001:db8::1\n",
                  "relay.host_addresses", "must be a list", 3},
        ErrorCase{"ServedEmpty", Role::kRelay, "relay:\n  served_prefixes: []\n",
                  "relay.served_prefixes", "must not be empty", 2},
        ErrorCase{"ServedHostBits", Role::kRelay,
                  "relay:\n  served_prefixes: [\"2001:db8::1/32\"]\n", "relay.served_prefixes",
                  "host bits", 2},
        ErrorCase{"ServedInsideTeredo", Role::kRelay,
                  "relay:\n  served_prefixes: [\"2001:0:1::/48\"]\n", "relay.served_prefixes",
                  "inside the Teredo prefix", 2},
        ErrorCase{"MaxPeersZero", Role::kRelay, "relay:\n  max_peers: 0\n", "relay.max_peers",
                  "must be >= 1", 2},
        ErrorCase{"MaxPeersHuge", Role::kRelay, "relay:\n  max_peers: 200000000\n",
                  "relay.max_peers", "must be <= 100000000", 2},
        ErrorCase{"QueueTooSmall", Role::kRelay, "relay:\n  queue_bytes_per_peer: 100\n",
                  "relay.queue_bytes_per_peer", "one full-size packet", 2},
        ErrorCase{"QueuePerPeerAboveTotal", Role::kRelay,
                  "relay:\n  queue_bytes_per_peer: 4096\n  queue_bytes_total: 2048\n",
                  "relay.queue_bytes_per_peer", "must not exceed relay.queue_bytes_total", 2},
        ErrorCase{"TrustTimeout", Role::kRelay, "relay:\n  trust_timeout: 500ms\n",
                  "relay.trust_timeout", "must be between 1s and 600s", 2},
        ErrorCase{"SubMillisecond", Role::kRelay, "relay:\n  trust_timeout: 1.0001s\n",
                  "relay.trust_timeout", "whole milliseconds", 2},
        ErrorCase{"BubbleWindow", Role::kRelay,
                  "relay:\n  bubble:\n    min_interval: 10s\n    window: 30s\n",
                  "relay.bubble.window", "at least relay.bubble.min_interval", 4},
        // relay.announce: only inside the relay's own prefix, never from a host-specific relay.
        ErrorCase{"AnnounceOutsideRelayPrefix", Role::kRelay,
                  "relay:\n  announce:\n    prefixes: [\"2001:db8::/32\"]\n",
                  "relay.announce.prefixes", "is not inside relay.prefix 2001::/32", 3},
        ErrorCase{"AnnounceShorterThanRelayPrefix", Role::kRelay,
                  "relay:\n  announce:\n    prefixes: [\"2000::/3\"]\n", "relay.announce.prefixes",
                  "the only prefix the relay routes to its tun", 3},
        ErrorCase{"AnnounceListedTwice", Role::kRelay,
                  "relay:\n  announce:\n    prefixes: [\"2001::/32\", \"2001::/32\"]\n",
                  "relay.announce.prefixes", "2001::/32 is listed twice", 3},
        ErrorCase{"AnnounceEmpty", Role::kRelay, "relay:\n  announce:\n    prefixes: []\n",
                  "relay.announce.prefixes", "must not be empty", 3},
        ErrorCase{"AnnounceTooMany", Role::kRelay,
                  "relay:\n  announce:\n    prefixes: [\"2001::/33\", \"2001:0:8000::/33\", "
                  "\"2001::/34\", \"2001:0:4000::/34\", \"2001::/35\", \"2001:0:2000::/35\", "
                  "\"2001::/36\", \"2001:0:1000::/36\", \"2001::/37\"]\n",
                  "relay.announce.prefixes", "more than 8 entries", 3},
        ErrorCase{"AnnounceMainTable", Role::kRelay, "relay:\n  announce:\n    table: 254\n",
                  "relay.announce.table", "must be a table of its own, not 254", 3},
        ErrorCase{"AnnounceTableZero", Role::kRelay, "relay:\n  announce:\n    table: 0\n",
                  "relay.announce.table", "0 is unspecified", 3},
        ErrorCase{"AnnounceKernelProtocol", Role::kRelay, "relay:\n  announce:\n    protocol: 4\n",
                  "relay.announce.protocol", "must be >= 5", 3},
        ErrorCase{"AnnounceGraceTooLong", Role::kRelay,
                  "relay:\n  announce:\n    withdraw_grace: 11m\n", "relay.announce.withdraw_grace",
                  "must be between 0ms and 600s", 3},
        ErrorCase{"AnnounceFromHostSpecific", Role::kRelay,
                  "relay:\n  mode: host-specific\n  host_addresses: [\"2001:db8::5\"]\n"
                  "  announce:\n    enabled: true\n",
                  "relay.announce.enabled", "must be false with relay.mode: host-specific", 5},
        // Controller.
        ErrorCase{"TokenRequired", Role::kController, "", "controller.auth.token_file",
                  "or controller.auth.access_file is required", 0},
        ErrorCase{"ClientCertAloneIsNotAuthentication", Role::kController,
                  "tls:\n  cert_file: /c\n  key_file: /k\n  ca_file: /a\n"
                  "  require_client_cert: true\n",
                  "controller.auth.token_file", "a client certificate alone authorises nothing", 0},
        ErrorCase{"ClientCertNeedsCa", Role::kController,
                  kCtl + "tls:\n  cert_file: /c\n  key_file: /k\n  require_client_cert: true\n",
                  "tls.require_client_cert", "tls.ca_file", 7},
        ErrorCase{"ServerTlsKeyMissing", Role::kController, kCtl + "tls:\n  cert_file: /c\n",
                  "tls.key_file", "is required when tls.cert_file", 4},
        ErrorCase{"AgentListenBad", Role::kController,
                  kCtl + "  agent_listen: \"localhost:9546\"\n", "controller.agent_listen",
                  "0.0.0.0:9546", 4},
        ErrorCase{"ListenSame", Role::kController, kCtl + "  agent_listen: 127.0.0.1:9548\n",
                  "controller.admin_listen", "must differ", 1},
        ErrorCase{"StatsIntervalZero", Role::kController, kCtl + "  stats_interval: 0s\n",
                  "controller.stats_interval", "must be between 1s", 4},
        ErrorCase{"ControllerUnknownAgentKey", Role::kController, kCtl + "agent:\n  id: x\n",
                  "agent", "unknown key", 4}),
    [](const ::testing::TestParamInfo<ErrorCase>& p) { return std::string(p.param.name); });

TEST(ConfigErrorsTest, EveryErrorIsReportedNotJustTheFirst) {
  auto errors = errorsOf(Role::kServer,
                         "server:\n"
                         "  primary_address: 10.0.0.1\n"
                         "  mtu: 1000\n"
                         "  prefix: 2001::/64\n"
                         "  bogus: 1\n"
                         "log:\n"
                         "  level: loud\n");
  EXPECT_EQ(errors.size(), 5u) << joined(errors);
  std::string all = joined(errors);
  for (const char* expected : {"t.yaml:2:3: server.primary_address:", "t.yaml:3:3: server.mtu:",
                               "t.yaml:4:3: server.prefix:",
                               "t.yaml:5:3: server.bogus: unknown key", "t.yaml:7:3: log.level:"}) {
    EXPECT_NE(all.find(expected), std::string::npos) << expected << "\n" << all;
  }
}

TEST(ConfigErrorsTest, FormatLeavesOutUnknownParts) {
  EXPECT_EQ((Violation{"f.yaml", 3, 5, "server.mtu", "must be >= 1280"}).format(),
            "f.yaml:3:5: server.mtu: must be >= 1280");
  EXPECT_EQ((Violation{"f.yaml", 0, 0, "server.mtu", "x"}).format(), "f.yaml: server.mtu: x");
  EXPECT_EQ((Violation{"", 0, 0, "server.mtu", "must be >= 1280"}).format(),
            "server.mtu: must be >= 1280");
  EXPECT_EQ((Violation{"f.yaml", 2, 1, "", "YAML syntax error: x"}).format(),
            "f.yaml:2:1: YAML syntax error: x");
}

TEST(ConfigErrorsTest, OversizedInputIsRefusedBeforeParsing) {
  std::string big = std::string(kMinimalServer) + "#" + std::string(kMaxConfigBytes, 'x') + "\n";
  auto r = loadServerConfigString(big, "big.yaml");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.status().violations().size(), 1u);
  EXPECT_EQ(r.status().violations()[0].format(),
            "big.yaml: is larger than 1048576 bytes; refusing to parse it");
}

TEST(ConfigErrorsTest, SyntaxErrorHasLine) {
  auto r = loadServerConfigString("server:\n  primary_address: 198.51.100.10\n  mtu: [\n", "s");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.status().violations().size(), 1u);
  EXPECT_GE(r.status().violations()[0].line, 3);
}

// ----- Values ----------------------------------------------------------------------------------

TEST(ConfigValuesTest, Durations) {
  using detail::parseDuration;
  EXPECT_EQ(parseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(parseDuration("30s"), milliseconds(30000));
  EXPECT_EQ(parseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(parseDuration("5m"), milliseconds(300000));
  EXPECT_EQ(parseDuration("1h"), milliseconds(3600000));
  EXPECT_EQ(parseDuration("0s"), milliseconds(0));
  for (const char* bad : {"", "30", "s", "1.s", "-1s", "1.0001s", "1 s", "1sec", "0.5ms"}) {
    EXPECT_FALSE(parseDuration(bad).has_value()) << bad;
  }
  EXPECT_EQ(detail::formatDuration(milliseconds(2000)), "2s");
  EXPECT_EQ(detail::formatDuration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(detail::formatDuration(milliseconds(0)), "0ms");
}

TEST(ConfigValuesTest, Numbers) {
  EXPECT_EQ(detail::parseUint("0"), 0u);
  EXPECT_EQ(detail::parseUint("18446744073709551615"), UINT64_MAX);
  for (const char* bad : {"", "-1", "+1", "1e3", "0x10", "18446744073709551616", "1_000"}) {
    EXPECT_FALSE(detail::parseUint(bad).has_value()) << bad;
  }
}

TEST(ConfigValuesTest, ListenAndTargetForms) {
  for (const char* ok : {"0.0.0.0:9546", "[::]:9546", "unix:/run/teredo/c.sock", "127.0.0.1:0"}) {
    EXPECT_TRUE(errorsOf(Role::kController, kCtl + "  agent_listen: \"" + ok + "\"\n").empty())
        << ok;
  }
  for (const char* ok :
       {"controller.example:9546", "198.51.100.1:9546", "[2001:db8::1]:9546", "unix:/c.sock"}) {
    EXPECT_TRUE(errorsOf(Role::kServer, kSrv + "controller:\n  address: \"" + ok + "\"\n").empty())
        << ok;
  }
}

// ----- Rendering -------------------------------------------------------------------------------

TEST(RenderTest, ServerRoundTripsWithEveryKey) {
  auto r = loadServerConfigString(
      "server:\n  primary_address: 198.51.100.10\n  secondary_address: 203.0.113.9\n"
      "  allow_nonconsecutive: true\n  prefix: 2001:db8::/32\n  mtu: 1400\n"
      "  advertise_mtu: false\n  other_server_clients: drop\n"
      "  nat_observation:\n    window: 1500ms\n"
      "log:\n  level: debug\n  format: json\n"
      "agent:\n  id: s1\n"
      "controller:\n  address: unix:/run/c.sock\n",
      "s");
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::string yaml = renderYaml(**r);
  auto again = loadServerConfigString(yaml, "rendered");
  ASSERT_TRUE(again.ok()) << again.status().message() << yaml;
  EXPECT_EQ(**again, **r) << yaml;
  // Every key appears, defaults included.
  for (const auto& f : detail::serverSchema().fields) {
    std::string leaf = f.key.substr(f.key.rfind('.') + 1) + ":";
    EXPECT_NE(yaml.find(leaf), std::string::npos) << f.key << "\n" << yaml;
  }
  EXPECT_NE(yaml.find("window: 1500ms"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("server_name: \"\""), std::string::npos) << yaml;
}

TEST(RenderTest, RelayAndControllerRoundTrip) {
  auto relay = loadRelayConfigString(
      "relay:\n  mode: host-specific\n  host_addresses: [\"2001:db8::5\"]\n"
      "  served_prefixes: [\"2001:db8::/32\", \"::/0\"]\n  bubble:\n    window: 10m\n",
      "r");
  ASSERT_TRUE(relay.ok()) << relay.status().message();
  std::string yaml = renderYaml(**relay);
  auto relayAgain = loadRelayConfigString(yaml, "rendered");
  ASSERT_TRUE(relayAgain.ok()) << relayAgain.status().message() << yaml;
  EXPECT_EQ(**relayAgain, **relay) << yaml;
  EXPECT_NE(yaml.find("mode: host-specific"), std::string::npos) << yaml;

  auto defaults = loadRelayConfigString("", "r");
  std::string defaultYaml = renderYaml(**defaults);
  EXPECT_NE(defaultYaml.find("host_addresses: []"), std::string::npos) << defaultYaml;
  auto defaultsAgain = loadRelayConfigString(defaultYaml, "rendered");
  ASSERT_TRUE(defaultsAgain.ok()) << defaultsAgain.status().message() << defaultYaml;
  EXPECT_EQ(**defaultsAgain, **defaults);

  auto ctl = loadControllerConfigString(kCtl + "  debounce: 0s\n", "c");
  ASSERT_TRUE(ctl.ok()) << ctl.status().message();
  auto ctlAgain = loadControllerConfigString(renderYaml(**ctl), "rendered");
  ASSERT_TRUE(ctlAgain.ok()) << ctlAgain.status().message();
  EXPECT_EQ(**ctlAgain, **ctl);
}

// ----- Reload ----------------------------------------------------------------------------------

TEST(RestartRequiredTest, OnlyBindingKeysNeedRestart) {
  auto base = loadServerConfigString(kMinimalServer, "a");
  auto live = loadServerConfigString(std::string(kMinimalServer) +
                                         "  mtu: 1280\n  strict_rs: false\n"
                                         "  rate_limit:\n    rs_per_second: 5\n"
                                         "log:\n  level: debug\n",
                                     "b");
  ASSERT_TRUE(base.ok() && live.ok());
  EXPECT_TRUE(restartRequired(**base, **live).empty());
  auto moved = loadServerConfigString(
      "server:\n  primary_address: 198.51.100.20\n  workers: 4\nadmin:\n  listen: 0.0.0.0:9544\n",
      "c");
  ASSERT_TRUE(moved.ok()) << moved.status().message();
  EXPECT_EQ(restartRequired(**base, **moved),
            (std::vector<std::string>{"admin.listen", "server.primary_address",
                                      "server.secondary_address", "server.workers"}));

  auto r1 = loadRelayConfigString("", "a");
  auto r2 = loadRelayConfigString(
      "relay:\n  interface: teredo1\n  max_peers: 10\n"
      "  trust_timeout: 20s\n  icmp_errors_per_second: 5\n"
      "  announce:\n    table: 101\n    protocol: 200\n    metric: 5\n"
      "    withdraw_grace: 1s\n    prefixes: [\"2001::/33\"]\n",
      "b");
  ASSERT_TRUE(r1.ok() && r2.ok());
  // The peer table's limits and expiry are fixed when it is built: restart keys too. The
  // announcement is live: the relay withdraws the old routes and adds the new ones.
  EXPECT_EQ(
      restartRequired(**r1, **r2),
      (std::vector<std::string>{"relay.interface", "relay.max_peers", "relay.trust_timeout"}));
  auto r3 = loadRelayConfigString("relay:\n  announce:\n    enabled: true\n", "c");
  ASSERT_TRUE(r3.ok()) << r3.status().message();
  EXPECT_EQ(restartRequired(**r1, **r3), (std::vector<std::string>{"relay.announce.enabled"}));
}

// ----- --check-config and the shipped examples ------------------------------------------------

std::string writeTemp(const std::string& text) {
  char path[] = "/tmp/teredo-config-test-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

TEST(CheckConfigTest, PrintsEffectiveConfigAndExitsZero) {
  std::string path = writeTemp(kMinimalServer);
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(checkConfig(Role::kServer, path, out, err), 0);
  EXPECT_EQ(err.str(), "");
  EXPECT_NE(out.str().find("secondary_address: \"198.51.100.11\""), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("port: 3544"), std::string::npos);
  std::remove(path.c_str());
}

TEST(CheckConfigTest, PrintsEveryErrorAndExitsOne) {
  std::string path = writeTemp("server:\n  primary_address: 10.0.0.1\n  mtu: 1000\n");
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(checkConfig(Role::kServer, path, out, err), 1);
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(err.str(),
            path +
                ":2:3: server.primary_address: 10.0.0.1 is not a global unicast IPv4 address "
                "(RFC 4380 §5.2.4); clients must reach the server at it\n" +
                path +
                ":3:3: server.mtu: must be >= 1280, got 1000 (IPv6 minimum link MTU, RFC "
                "8200 §5; RFC 4861 §4.6.4)\n");
  std::remove(path.c_str());
}

TEST(CheckConfigTest, MissingFile) {
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(checkConfig(Role::kRelay, "/nonexistent/relay.yaml", out, err), 1);
  EXPECT_EQ(err.str(), "/nonexistent/relay.yaml: cannot open the file\n");
}

TEST(ExamplesTest, ShippedExamplesLoad) {
  const std::string dir = std::string(TEREDO_SOURCE_DIR) + "/deploy/examples/";
  auto server = loadServerConfigFile(dir + "server.yaml");
  EXPECT_TRUE(server.ok()) << server.status().message();
  auto relay = loadRelayConfigFile(dir + "relay.yaml");
  EXPECT_TRUE(relay.ok()) << relay.status().message();
  auto controller = loadControllerConfigFile(dir + "controller.yaml");
  EXPECT_TRUE(controller.ok()) << controller.status().message();
  if (server.ok()) {
    EXPECT_EQ(teredo::formatIpv4((*server)->server.secondaryAddress), "198.51.100.11");
    EXPECT_TRUE((*server)->controller.tls.mutual());
  }
  if (relay.ok()) {
    EXPECT_EQ((*relay)->relay.port, 3545);
  }
  if (controller.ok()) {
    EXPECT_TRUE((*controller)->tls.requireClientCert);
  }
}

// ----- Documentation ---------------------------------------------------------------------------

template <class T>
void expectDocumented(const detail::Schema<T>& schema, const std::string& doc) {
  for (const auto& f : schema.fields) {
    std::string row = "| `" + f.key + "` |";
    size_t at = doc.find("\n" + row);
    ASSERT_NE(at, std::string::npos) << f.key << " is not documented in docs/configuration.md";
    std::string line = doc.substr(at + 1, doc.find('\n', at + 1) - at - 1);
    bool restart = line.find("| restart |") != std::string::npos;
    bool live = line.find("| live |") != std::string::npos;
    EXPECT_NE(restart, live) << line;
    EXPECT_EQ(restart, f.restart) << f.key << ": docs and restartRequired() disagree";
  }
}

TEST(DocumentationTest, EveryKeyDocumentedWithItsReloadClass) {
  std::ifstream in(std::string(TEREDO_SOURCE_DIR) + "/docs/configuration.md");
  std::ostringstream text;
  text << in.rdbuf();
  ASSERT_FALSE(text.str().empty());
  expectDocumented(detail::serverSchema(), text.str());
  expectDocumented(detail::relaySchema(), text.str());
  expectDocumented(detail::controllerSchema(), text.str());
}

// Found by fuzz_config: a value with a raw non-UTF-8 byte loaded, but rendered back to a
// different value; and yaml-cpp 0.7 spun for minutes on other invalid UTF-8. Files must be
// UTF-8 text (checked before parsing, with the position), and values printable (a YAML escape
// such as "\x01" produces a control character after parsing: refused with the key).
TEST(ServerConfigTest, ValuesMustBePrintableUtf8) {
  const std::string base = "server:\n  primary_address: 198.51.100.10\nagent:\n  state_dir: ";
  for (const std::string& bad : {std::string("\"/var/\x01lib\""), std::string("/var/\xa9lib"),
                                 std::string("/var/\xe2\x82lib")}) {
    auto r = loadServerConfigString(base + bad + "\n", "s.yaml");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().violations().at(0).line, 4);
    EXPECT_GT(r.status().violations().at(0).column, 12);
  }
  auto escaped = loadServerConfigString(base + "\"/var/\\x01lib\"\n", "s.yaml");
  ASSERT_FALSE(escaped.ok());
  EXPECT_EQ(escaped.status().violations().at(0).key, "agent.state_dir");
  EXPECT_EQ(escaped.status().violations().at(0).line, 4);
  auto ok = loadServerConfigString(base + "/var/lib/t\xc3\xa9redo\n", "s.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  auto again = loadServerConfigString(renderYaml(**ok), "rendered.yaml");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE(**again == **ok);
}

}  // namespace
}  // namespace teredo::config

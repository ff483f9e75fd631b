// Unit tests for services/controller/validation.h: SetConfig refuses exactly what an agent would
// NACK. Table-driven: valid server and relay configs pass with no violation; each bad config is
// refused with violations naming the offending lib/config key, and the messages are the ones the
// agent itself would report (lib/config's validateAgentConfig).
#include "validation.h"

#include <gtest/gtest.h>

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "config/proto_translate.h"

namespace teredo::controller {
namespace {

using teredo::v1::AgentConfig;

struct Case {
  const char* name;
  std::function<void(AgentConfig&)> build;
  std::vector<std::string> keys;  ///< the violations' keys, in order; empty: valid
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

teredo::v1::ServerSettings& server(AgentConfig& c) {
  return *c.mutable_server()->mutable_server();
}
teredo::v1::RelaySettings& relay(AgentConfig& c) {
  return *c.mutable_relay()->mutable_relay();
}
void serverWithPrimary(AgentConfig& c) {
  server(c).set_primary_address("198.51.100.10");
}

const std::vector<Case>& cases() {
  static const std::vector<Case> kCases = {
      // ----- accepted -----
      {"ServerWithPrimaryAddress", serverWithPrimary, {}},
      {"ServerWithConsecutiveSecondary",
       [](AgentConfig& c) {
         serverWithPrimary(c);
         server(c).set_secondary_address("198.51.100.11");
       },
       {}},
      // Role defaults (no primary address): the agent takes it from its bootstrap file.
      {"ServerRoleDefaultsWithoutPrimary",
       [](AgentConfig& c) { server(c).mutable_rate_limit()->set_rs_per_second(5); },
       {}},
      {"ServerEmptySnapshot", [](AgentConfig& c) { c.mutable_server(); }, {}},
      {"ServerPrivatePrefixAllowsOtherMtu",
       [](AgentConfig& c) {
         serverWithPrimary(c);
         server(c).set_prefix("2001:db8::/32");
         server(c).set_mtu(1400);
       },
       {}},
      {"RelayDefaults", [](AgentConfig& c) { c.mutable_relay(); }, {}},
      {"RelayTypical",
       [](AgentConfig& c) {
         relay(c).set_max_peers(100000);
         relay(c).set_port(3545);
         relay(c).add_served_prefixes("::/0");
         relay(c).mutable_trust_timeout()->set_seconds(30);
         c.mutable_relay()->mutable_log()->set_level(teredo::v1::LOG_LEVEL_INFO);
       },
       {}},
      {"RelayHostSpecificWithAddresses",
       [](AgentConfig& c) {
         relay(c).set_mode(teredo::v1::RELAY_MODE_HOST_SPECIFIC);
         relay(c).add_host_addresses("2001:4860::1");
       },
       {}},
      {"RelayNoQueueing", [](AgentConfig& c) { relay(c).set_queue_bytes_per_peer(0); }, {}},

      // ----- refused -----
      {"NoRole", [](AgentConfig&) {}, {"role"}},
      {"ServerMtuBelowMinimum",
       [](AgentConfig& c) {
         serverWithPrimary(c);
         server(c).set_mtu(1000);
       },
       {"server.mtu"}},
      {"ServerMtuOtherThan1280WithPublicPrefix",
       [](AgentConfig& c) {
         serverWithPrimary(c);
         server(c).set_mtu(1400);
       },
       {"server.mtu"}},
      {"ServerPrimaryNotAnAddress",
       [](AgentConfig& c) { server(c).set_primary_address("nowhere"); },
       {"server.primary_address"}},
      {"ServerPrimaryNotGlobal",
       [](AgentConfig& c) { server(c).set_primary_address("10.0.0.1"); },
       {"server.primary_address"}},
      {"ServerSecondaryEqualsPrimary",
       [](AgentConfig& c) {
         serverWithPrimary(c);
         server(c).set_secondary_address("198.51.100.10");
       },
       {"server.secondary_address"}},
      {"ServerSecondaryNotConsecutive",
       [](AgentConfig& c) {
         serverWithPrimary(c);
         server(c).set_secondary_address("198.51.100.99");
       },
       {"server.secondary_address"}},
      {"ServerRsBurstZeroWithRate",
       [](AgentConfig& c) {
         serverWithPrimary(c);
         server(c).mutable_rate_limit()->set_rs_per_second(10);
         server(c).mutable_rate_limit()->set_rs_burst(0);
       },
       {"server.rate_limit.rs_burst"}},
      {"ServerLogLevelUnspecified",
       [](AgentConfig& c) {
         serverWithPrimary(c);
         c.mutable_server()->mutable_log()->set_level(teredo::v1::LOG_LEVEL_UNSPECIFIED);
       },
       {"log.level"}},
      // Role defaults are not exempt from the other checks.
      {"ServerRoleDefaultsStillChecked",
       [](AgentConfig& c) { server(c).set_mtu(1000); },
       {"server.mtu"}},
      {"ServerSeveralErrorsAllReported",
       [](AgentConfig& c) {
         serverWithPrimary(c);
         server(c).set_mtu(1000);
         server(c).set_secondary_address("198.51.100.99");
         server(c).mutable_rate_limit()->set_rs_burst(0);
       },
       {"server.mtu", "server.secondary_address", "server.rate_limit.rs_burst"}},
      {"RelayMtuBelowMinimum", [](AgentConfig& c) { relay(c).set_mtu(1000); }, {"relay.mtu"}},
      {"RelayMaxPeersZero", [](AgentConfig& c) { relay(c).set_max_peers(0); }, {"relay.max_peers"}},
      {"RelayPortZero", [](AgentConfig& c) { relay(c).set_port(0); }, {"relay.port"}},
      {"RelayBindNotGlobal",
       [](AgentConfig& c) { relay(c).set_bind_address("10.0.0.1"); },
       {"relay.bind_address"}},
      {"RelayTrustTimeoutNotWholeMilliseconds",
       [](AgentConfig& c) {
         relay(c).mutable_trust_timeout()->set_seconds(30);
         relay(c).mutable_trust_timeout()->set_nanos(1);
       },
       {"relay.trust_timeout"}},
      {"RelayQueueSmallerThanOnePacket",
       [](AgentConfig& c) { relay(c).set_queue_bytes_per_peer(100); },
       {"relay.queue_bytes_per_peer"}},
      {"RelayHostSpecificWithoutAddresses",
       [](AgentConfig& c) { relay(c).set_mode(teredo::v1::RELAY_MODE_HOST_SPECIFIC); },
       {"relay.host_addresses"}},
      {"RelayHostAddressesWithoutHostSpecificMode",
       [](AgentConfig& c) {
         relay(c).set_mode(teredo::v1::RELAY_MODE_RELAY);
         relay(c).add_host_addresses("2001:4860::1");
       },
       {"relay.host_addresses"}},
      {"RelayServedPrefixInsideTeredo",
       [](AgentConfig& c) { relay(c).add_served_prefixes("2001::/32"); },
       {"relay.served_prefixes"}},
      {"RelaySeveralErrorsAllReported",
       [](AgentConfig& c) {
         relay(c).set_mtu(1000);
         relay(c).set_max_peers(0);
       },
       {"relay.mtu", "relay.max_peers"}},
  };
  return kCases;
}

class ValidateAgentConfigTest : public ::testing::TestWithParam<Case> {};

std::string describe(const std::vector<Violation>& violations) {
  std::string out;
  for (const Violation& v : violations) {
    out += "\n  " + v.format();
  }
  return out.empty() ? " (none)" : out;
}

TEST_P(ValidateAgentConfigTest, ViolationsNameTheKeys) {
  const Case& c = GetParam();
  AgentConfig config;
  c.build(config);
  const std::vector<Violation> violations = validateAgentConfig(config);
  std::vector<std::string> keys;
  for (const Violation& v : violations) {
    keys.push_back(v.key);
    EXPECT_FALSE(v.message.empty()) << v.key;
    // A snapshot does not come from a file: no position.
    EXPECT_EQ(v.file, "");
    EXPECT_EQ(v.line, 0);
  }
  EXPECT_EQ(keys, c.keys) << "violations:" << describe(violations);
}

// Same keys and messages as the agent's own check, so a SetConfig refusal reads like the NACK.
TEST_P(ValidateAgentConfigTest, SameAsWhatTheAgentWouldReport) {
  AgentConfig config;
  GetParam().build(config);
  const Status agent = teredo::config::validateAgentConfig(config);
  EXPECT_EQ(validateAgentConfig(config), agent.violations());
  EXPECT_EQ(agent.ok(), GetParam().keys.empty());
}

INSTANTIATE_TEST_SUITE_P(Table, ValidateAgentConfigTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& param) {
                           return std::string(param.param.name);
                         });

TEST(ValidateAgentConfig, MessagesSayWhatIsWrong) {
  AgentConfig config;
  relay(config).set_mtu(1000);
  const std::vector<Violation> violations = validateAgentConfig(config);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].format().rfind("relay.mtu: must be >= 1280", 0), 0u)
      << violations[0].format();

  AgentConfig none;
  const std::vector<Violation> role = validateAgentConfig(none);
  ASSERT_EQ(role.size(), 1u);
  EXPECT_EQ(role[0].format(), "role: is not set: the config must be a server or a relay");
}

// Validation only reads the config.
TEST(ValidateAgentConfig, DoesNotModifyTheConfig) {
  AgentConfig config;
  server(config).set_mtu(1000);
  const std::string before = config.SerializeAsString();
  (void)validateAgentConfig(config);
  EXPECT_EQ(config.SerializeAsString(), before);
}

}  // namespace
}  // namespace teredo::controller

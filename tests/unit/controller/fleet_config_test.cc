// What a FleetConfig means for one agent: role defaults with the agent's override merged on
// top, overrides of the other role ignored, nothing to send without either; and the one
// roleName() (lib/config/proto_translate.h) the controller names roles with.
#include "fleet_config.h"

#include <gtest/gtest.h>

#include "config/proto_translate.h"

namespace teredo::controller {
namespace {

using teredo::v1::AgentConfig;
using teredo::v1::FleetConfig;

AgentConfig relay(uint32_t maxPeers, uint32_t mtu = 0) {
  AgentConfig c;
  c.mutable_relay()->mutable_relay()->set_max_peers(maxPeers);
  if (mtu != 0) {
    c.mutable_relay()->mutable_relay()->set_mtu(mtu);
  }
  return c;
}

AgentConfig server(uint32_t mtu) {
  AgentConfig c;
  c.mutable_server()->mutable_server()->set_mtu(mtu);
  return c;
}

TEST(FleetConfigTest, EffectiveConfig) {
  FleetConfig fleet;
  *fleet.mutable_relay_defaults() = relay(100);
  AgentConfig mtuOnly;
  mtuOnly.mutable_relay()->mutable_relay()->set_mtu(1400);
  (*fleet.mutable_agent_overrides())["r1"] = mtuOnly;
  (*fleet.mutable_agent_overrides())["s1"] = server(1300);
  (*fleet.mutable_agent_overrides())["wrong"] = server(1280);
  struct Case {
    const char* name;
    teredo::v1::Role role;
    std::string agent;
    std::optional<AgentConfig> want;
  } cases[] = {
      {"defaults only", teredo::v1::ROLE_RELAY, "r2", relay(100)},
      {"override merged over defaults", teredo::v1::ROLE_RELAY, "r1", relay(100, 1400)},
      {"override without defaults", teredo::v1::ROLE_SERVER, "s1", server(1300)},
      {"nothing for the role", teredo::v1::ROLE_SERVER, "s2", std::nullopt},
      {"override of the other role ignored", teredo::v1::ROLE_RELAY, "wrong", relay(100)},
      {"no role", teredo::v1::ROLE_UNSPECIFIED, "r1", std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto got = effectiveConfig(fleet, c.role, c.agent);
    EXPECT_TRUE(equalConfigs(got, c.want))
        << (got ? got->ShortDebugString() : std::string("nullopt"));
  }
}

TEST(FleetConfigTest, RoleOfConfigAndEquality) {
  EXPECT_EQ(roleOfConfig(relay(1)), teredo::v1::ROLE_RELAY);
  EXPECT_EQ(roleOfConfig(server(1280)), teredo::v1::ROLE_SERVER);
  EXPECT_EQ(roleOfConfig(AgentConfig()), teredo::v1::ROLE_UNSPECIFIED);
  EXPECT_TRUE(equalConfigs(std::nullopt, std::nullopt));
  EXPECT_FALSE(equalConfigs(relay(1), std::nullopt));
  EXPECT_FALSE(equalConfigs(std::nullopt, relay(1)));
  EXPECT_TRUE(equalConfigs(relay(1), relay(1)));
  EXPECT_FALSE(equalConfigs(relay(1), relay(2)));
}

TEST(RoleNameTest, NamesEveryRole) {
  EXPECT_EQ(config::roleName(teredo::v1::ROLE_SERVER), "server");
  EXPECT_EQ(config::roleName(teredo::v1::ROLE_RELAY), "relay");
  EXPECT_EQ(config::roleName(teredo::v1::ROLE_UNSPECIFIED), "unspecified");
  EXPECT_EQ(config::roleName(static_cast<teredo::v1::Role>(99)), "unspecified");
}

}  // namespace
}  // namespace teredo::controller

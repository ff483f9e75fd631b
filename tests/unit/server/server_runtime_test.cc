// makeRuntime (services/server/server_runtime.h): every reloadable server setting lands in the
// field the workers read, table-driven from the defaults; RuntimeHolder publishes snapshots.
#include "server_runtime.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace teredo::server {
namespace {

uint32_t ip(const char* s) {
  return *parseIpv4(s);
}

config::ServerConfig baseConfig() {
  config::ServerConfig c;
  c.server.primaryAddress = ip("65.54.227.120");
  c.server.secondaryAddress = ip("65.54.227.121");
  return c;
}

/// What makeRuntime(baseConfig(), 7) must give: the documented defaults.
ServerRuntime baseExpected() {
  ServerRuntime r;
  r.policy.primary = ip("65.54.227.120");
  r.policy.secondary = ip("65.54.227.121");
  r.policy.port = kTeredoPort;
  r.policy.prefix = kDefaultPrefix;
  r.policy.strictRs = true;
  r.policy.forwardNative = true;
  r.policy.echoOnly = true;
  r.policy.maxForwardBytes = 128;
  r.policy.maxBubbleBytes = 128;
  r.policy.forwardToOtherServers = true;
  r.raMtu = 1280;
  r.rsPerSecond = 100;
  r.rsBurst = 200;
  r.forwardPerSecond = 200;
  r.forwardBurst = 400;
  r.forwardGlobalPerSecond = 20000;
  r.forwardGlobalBurst = 40000;
  r.natObservation = true;
  r.version = 7;
  return r;
}

void expectSame(const ServerRuntime& got, const ServerRuntime& want) {
  EXPECT_EQ(got.policy.primary, want.policy.primary);
  EXPECT_EQ(got.policy.secondary, want.policy.secondary);
  EXPECT_EQ(got.policy.port, want.policy.port);
  EXPECT_EQ(got.policy.prefix, want.policy.prefix);
  EXPECT_EQ(got.policy.strictRs, want.policy.strictRs);
  EXPECT_EQ(got.policy.global, want.policy.global);
  EXPECT_EQ(got.policy.forwardNative, want.policy.forwardNative);
  EXPECT_EQ(got.policy.echoOnly, want.policy.echoOnly);
  EXPECT_EQ(got.policy.maxForwardBytes, want.policy.maxForwardBytes);
  EXPECT_EQ(got.policy.maxBubbleBytes, want.policy.maxBubbleBytes);
  EXPECT_EQ(got.policy.forwardToOtherServers, want.policy.forwardToOtherServers);
  EXPECT_EQ(got.raMtu, want.raMtu);
  EXPECT_EQ(got.rsPerSecond, want.rsPerSecond);
  EXPECT_EQ(got.rsBurst, want.rsBurst);
  EXPECT_EQ(got.forwardPerSecond, want.forwardPerSecond);
  EXPECT_EQ(got.forwardBurst, want.forwardBurst);
  EXPECT_EQ(got.forwardGlobalPerSecond, want.forwardGlobalPerSecond);
  EXPECT_EQ(got.forwardGlobalBurst, want.forwardGlobalBurst);
  EXPECT_EQ(got.natObservation, want.natObservation);
  EXPECT_EQ(got.version, want.version);
}

struct RuntimeCase {
  std::string name;
  std::function<void(config::ServerConfig&)> configure;
  std::function<void(ServerRuntime&)> expect;
};

std::vector<RuntimeCase> runtimeCases() {
  return {
      {"defaults", [](config::ServerConfig&) {}, [](ServerRuntime&) {}},
      {"addresses_and_port",
       [](config::ServerConfig& c) {
         c.server.primaryAddress = ip("192.0.2.10");
         c.server.secondaryAddress = ip("192.0.2.20");
         c.server.port = 3545;
       },
       [](ServerRuntime& r) {
         r.policy.primary = ip("192.0.2.10");
         r.policy.secondary = ip("192.0.2.20");
         r.policy.port = 3545;
       }},
      {"legacy_prefix", [](config::ServerConfig& c) { c.server.prefix = 0x3ffe831f; },
       [](ServerRuntime& r) { r.policy.prefix = 0x3ffe831f; }},
      {"lenient_rs", [](config::ServerConfig& c) { c.server.strictRs = false; },
       [](ServerRuntime& r) { r.policy.strictRs = false; }},
      {"rfc6890_blocks_global",
       [](config::ServerConfig& c) { c.globalPolicy.rfc6890NonGlobal = false; },
       [](ServerRuntime& r) { r.policy.global.rfc6890NonGlobal = false; }},
      {"no_native_forwarding",
       [](config::ServerConfig& c) { c.server.ipv6Forward.enabled = false; },
       [](ServerRuntime& r) { r.policy.forwardNative = false; }},
      {"any_icmpv6", [](config::ServerConfig& c) { c.server.ipv6Forward.echoOnly = false; },
       [](ServerRuntime& r) { r.policy.echoOnly = false; }},
      {"forward_bytes", [](config::ServerConfig& c) { c.server.ipv6Forward.maxPacketBytes = 1280; },
       [](ServerRuntime& r) { r.policy.maxForwardBytes = 1280; }},
      {"forward_bytes_clamped_to_16_bits",
       [](config::ServerConfig& c) { c.server.ipv6Forward.maxPacketBytes = 70000; },
       [](ServerRuntime& r) { r.policy.maxForwardBytes = 65535; }},
      {"bubble_bytes", [](config::ServerConfig& c) { c.server.maxBubbleBytes = 0; },
       [](ServerRuntime& r) { r.policy.maxBubbleBytes = 0; }},
      {"bubble_bytes_clamped_to_16_bits",
       [](config::ServerConfig& c) { c.server.maxBubbleBytes = 1u << 20; },
       [](ServerRuntime& r) { r.policy.maxBubbleBytes = 65535; }},
      {"other_server_clients_dropped",
       [](config::ServerConfig& c) {
         c.server.otherServerClients = config::OtherServerClients::kDrop;
       },
       [](ServerRuntime& r) { r.policy.forwardToOtherServers = false; }},
      {"advertised_mtu", [](config::ServerConfig& c) { c.server.mtu = 1400; },
       [](ServerRuntime& r) { r.raMtu = 1400; }},
      {"mtu_not_advertised",
       [](config::ServerConfig& c) {
         c.server.mtu = 1400;
         c.server.advertiseMtu = false;
       },
       [](ServerRuntime& r) { r.raMtu = 0; }},
      {"rate_limits",
       [](config::ServerConfig& c) {
         c.server.rateLimit.rsPerSecond = 1;
         c.server.rateLimit.rsBurst = 2;
         c.server.rateLimit.forwardPerSecond = 3;
         c.server.rateLimit.forwardBurst = 4;
         c.server.rateLimit.forwardGlobalPerSecond = 5;
         c.server.rateLimit.forwardGlobalBurst = 6;
       },
       [](ServerRuntime& r) {
         r.rsPerSecond = 1;
         r.rsBurst = 2;
         r.forwardPerSecond = 3;
         r.forwardBurst = 4;
         r.forwardGlobalPerSecond = 5;
         r.forwardGlobalBurst = 6;
       }},
      {"unlimited_rates",
       [](config::ServerConfig& c) {
         c.server.rateLimit.rsPerSecond = 0;
         c.server.rateLimit.forwardPerSecond = 0;
         c.server.rateLimit.forwardGlobalPerSecond = 0;
       },
       [](ServerRuntime& r) {
         r.rsPerSecond = 0;
         r.forwardPerSecond = 0;
         r.forwardGlobalPerSecond = 0;
       }},
      {"nat_observation_off",
       [](config::ServerConfig& c) { c.server.natObservation.enabled = false; },
       [](ServerRuntime& r) { r.natObservation = false; }},
      // Settings that need a restart (sockets, tables) never reach the runtime.
      {"restart_only_settings_ignored",
       [](config::ServerConfig& c) {
         c.server.workers = 3;
         c.server.socketReceiveBufferBytes = 1 << 20;
         c.server.rateLimit.tableSize = 10;
         c.server.natObservation.tableSize = 10;
       },
       [](ServerRuntime&) {}},
  };
}

class MakeServerRuntime : public ::testing::TestWithParam<RuntimeCase> {};

TEST_P(MakeServerRuntime, MapsTheConfig) {
  config::ServerConfig c = baseConfig();
  GetParam().configure(c);
  ServerRuntime want = baseExpected();
  GetParam().expect(want);
  expectSame(makeRuntime(c, 7), want);
}

INSTANTIATE_TEST_SUITE_P(Table, MakeServerRuntime, ::testing::ValuesIn(runtimeCases()),
                         [](const ::testing::TestParamInfo<RuntimeCase>& i) {
                           return i.param.name;
                         });

TEST(MakeServerRuntime, CarriesTheConfigVersion) {
  EXPECT_EQ(makeRuntime(baseConfig(), 0).version, 0u);
  EXPECT_EQ(makeRuntime(baseConfig(), 123456789012345ull).version, 123456789012345ull);
}

TEST(ServerRuntimeHolder, PublishesSnapshotsAndBumpsTheGeneration) {
  auto first = std::make_shared<const ServerRuntime>(makeRuntime(baseConfig(), 1));
  RuntimeHolder holder(first);
  const uint64_t g0 = holder.generation();
  EXPECT_EQ(holder.load(), first);
  auto second = std::make_shared<const ServerRuntime>(makeRuntime(baseConfig(), 2));
  holder.store(second);
  EXPECT_EQ(holder.generation(), g0 + 1);
  EXPECT_EQ(holder.load()->version, 2u);
  // A worker that still holds the old snapshot keeps a whole, unchanged config.
  EXPECT_EQ(first->version, 1u);
}

}  // namespace
}  // namespace teredo::server

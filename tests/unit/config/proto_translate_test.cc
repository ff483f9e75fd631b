// lib/config proto translation: the key tables and config.proto match one-to-one, round trips are
// lossless, and proto input gets the YAML loader's validation and messages.
#include "config/proto_translate.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/duration.pb.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "config/schema.h"

namespace teredo::config {
namespace {

namespace pb = google::protobuf;
using detail::ValueKind;

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const pb::FieldDescriptor* fieldAt(const pb::Descriptor* root, const std::string& key) {
  const pb::Descriptor* d = root;
  const pb::FieldDescriptor* fd = nullptr;
  size_t start = 0;
  while (true) {
    size_t dot = key.find('.', start);
    fd = d->FindFieldByName(key.substr(start, dot == std::string::npos ? dot : dot - start));
    if (fd == nullptr || dot == std::string::npos) {
      return fd;
    }
    if (fd->message_type() == nullptr) {
      return nullptr;
    }
    d = fd->message_type();
    start = dot + 1;
  }
}

void collectLeaves(const pb::Descriptor* d, const std::string& prefix, std::set<std::string>& out) {
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* fd = d->field(i);
    std::string key = prefix.empty() ? fd->name() : prefix + "." + fd->name();
    if (fd->message_type() != nullptr &&
        fd->message_type()->full_name() != "google.protobuf.Duration") {
      collectLeaves(fd->message_type(), key, out);
    } else {
      out.insert(key);
    }
  }
}

template <class T>
void expectOneToOne(const detail::Schema<T>& schema, const pb::Descriptor* root) {
  std::set<std::string> schemaKeys;
  for (const auto& f : schema.fields) {
    schemaKeys.insert(f.key);
    const pb::FieldDescriptor* fd = fieldAt(root, f.key);
    ASSERT_NE(fd, nullptr) << root->name() << " has no field " << f.key;
    if (f.kind == ValueKind::kStringList) {
      EXPECT_TRUE(fd->is_repeated()) << f.key;
      EXPECT_EQ(fd->type(), pb::FieldDescriptor::TYPE_STRING) << f.key;
      continue;
    }
    EXPECT_FALSE(fd->is_repeated()) << f.key;
    EXPECT_TRUE(fd->has_presence()) << f.key << " must be optional (MergeFrom overrides)";
    switch (f.kind) {
      case ValueKind::kBool:
        EXPECT_EQ(fd->type(), pb::FieldDescriptor::TYPE_BOOL) << f.key;
        break;
      case ValueKind::kUint32:
        EXPECT_EQ(fd->type(), pb::FieldDescriptor::TYPE_UINT32) << f.key;
        break;
      case ValueKind::kUint64:
        EXPECT_EQ(fd->type(), pb::FieldDescriptor::TYPE_UINT64) << f.key;
        break;
      case ValueKind::kString:
        EXPECT_EQ(fd->type(), pb::FieldDescriptor::TYPE_STRING) << f.key;
        break;
      case ValueKind::kDuration:
        ASSERT_NE(fd->message_type(), nullptr) << f.key;
        EXPECT_EQ(fd->message_type()->full_name(), "google.protobuf.Duration") << f.key;
        break;
      case ValueKind::kEnum: {
        ASSERT_EQ(fd->type(), pb::FieldDescriptor::TYPE_ENUM) << f.key;
        const pb::EnumDescriptor* e = fd->enum_type();
        ASSERT_EQ(e->value_count(), static_cast<int>(f.enumNames.size()) + 1) << f.key;
        EXPECT_EQ(e->value(0)->number(), 0);
        EXPECT_NE(e->value(0)->name().find("_UNSPECIFIED"), std::string::npos) << f.key;
        // The proto value i+1 is the YAML name i, spelled in upper snake case.
        for (size_t i = 0; i < f.enumNames.size(); ++i) {
          std::string upper;
          for (char ch : f.enumNames[i]) {
            upper += ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
          }
          const pb::EnumValueDescriptor* v = e->FindValueByNumber(static_cast<int>(i) + 1);
          ASSERT_NE(v, nullptr);
          EXPECT_TRUE(v->name().size() > upper.size() &&
                      v->name().compare(v->name().size() - upper.size(), upper.size(), upper) == 0)
              << v->name() << " vs " << f.enumNames[i];
        }
        break;
      }
      case ValueKind::kStringList:
        break;
    }
  }
  std::set<std::string> protoKeys;
  collectLeaves(root, "", protoKeys);
  EXPECT_EQ(protoKeys, schemaKeys) << root->name();
}

TEST(ProtoSchemaTest, ProtoMirrorsYamlKeysOneToOne) {
  expectOneToOne(detail::serverSchema(), teredo::v1::ServerConfig::descriptor());
  expectOneToOne(detail::relaySchema(), teredo::v1::RelayConfig::descriptor());
  expectOneToOne(detail::controllerSchema(), teredo::v1::ControllerConfig::descriptor());
}

// ----- Round trips -----------------------------------------------------------------------------

TEST(ProtoRoundTripTest, ServerStructProtoStruct) {
  auto yaml = loadServerConfigString(
      "server:\n  primary_address: 198.51.100.10\n  secondary_address: 203.0.113.9\n"
      "  allow_nonconsecutive: true\n  prefix: 2001:db8::/32\n  mtu: 1400\n"
      "  other_server_clients: drop\n  nat_observation:\n    window: 1500ms\n"
      "log:\n  level: warn\n  format: json\nagent:\n  id: s1\n"
      "controller:\n  address: c.example:9546\n  tls:\n    server_name: c.example\n",
      "s");
  ASSERT_TRUE(yaml.ok()) << yaml.status().message();
  teredo::v1::ServerConfig proto = toProto(**yaml);
  EXPECT_EQ(proto.server().primary_address(), "198.51.100.10");
  EXPECT_EQ(proto.server().mtu(), 1400u);
  EXPECT_EQ(proto.server().prefix(), "2001:db8::/32");
  EXPECT_EQ(proto.server().other_server_clients(), teredo::v1::OTHER_SERVER_CLIENTS_POLICY_DROP);
  EXPECT_EQ(proto.server().nat_observation().window().seconds(), 1);
  EXPECT_EQ(proto.server().nat_observation().window().nanos(), 500'000'000);
  EXPECT_EQ(proto.log().level(), teredo::v1::LOG_LEVEL_WARN);
  EXPECT_TRUE(proto.server().has_workers());  // every field set, defaults too
  auto back = serverConfigFromProto(proto);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(**back, **yaml);
  // And through the wire format.
  teredo::v1::ServerConfig parsed;
  ASSERT_TRUE(parsed.ParseFromString(proto.SerializeAsString()));
  auto fromWire = serverConfigFromProto(parsed);
  ASSERT_TRUE(fromWire.ok()) << fromWire.status().message();
  EXPECT_EQ(**fromWire, **yaml);
}

TEST(ProtoRoundTripTest, ShippedExamplesThroughProto) {
  const std::string dir = std::string(TEREDO_SOURCE_DIR) + "/deploy/examples/";
  auto server = loadServerConfigFile(dir + "server.yaml");
  auto relay = loadRelayConfigFile(dir + "relay.yaml");
  auto controller = loadControllerConfigFile(dir + "controller.yaml");
  ASSERT_TRUE(server.ok() && relay.ok() && controller.ok());
  auto s = serverConfigFromProto(toProto(**server));
  auto r = relayConfigFromProto(toProto(**relay));
  auto c = controllerConfigFromProto(toProto(**controller));
  ASSERT_TRUE(s.ok() && r.ok() && c.ok())
      << s.status().message() << r.status().message() << c.status().message();
  EXPECT_EQ(**s, **server);
  EXPECT_EQ(**r, **relay);
  EXPECT_EQ(**c, **controller);
  // YAML text -> proto -> struct gives what YAML -> struct gives.
  auto sp = serverProtoFromYaml(readFile(dir + "server.yaml"), "server.yaml");
  auto rp = relayProtoFromYaml(readFile(dir + "relay.yaml"), "relay.yaml");
  auto cp = controllerProtoFromYaml(readFile(dir + "controller.yaml"), "controller.yaml");
  ASSERT_TRUE(sp.ok() && rp.ok() && cp.ok())
      << sp.status().message() << rp.status().message() << cp.status().message();
  EXPECT_EQ(**serverConfigFromProto(*sp), **server);
  EXPECT_EQ(**relayConfigFromProto(*rp), **relay);
  EXPECT_EQ(**controllerConfigFromProto(*cp), **controller);
}

TEST(ProtoRoundTripTest, RelayListsAndDurations) {
  auto yaml = loadRelayConfigString(
      "relay:\n  mode: host-specific\n  host_addresses: [\"2001:db8::5\"]\n"
      "  served_prefixes: [\"2001:db8::/32\"]\n  trust_timeout: 45s\n"
      "  queue_bytes_total: 17179869184\n",
      "r");
  ASSERT_TRUE(yaml.ok()) << yaml.status().message();
  teredo::v1::RelayConfig proto = toProto(**yaml);
  EXPECT_EQ(proto.relay().mode(), teredo::v1::RELAY_MODE_HOST_SPECIFIC);
  ASSERT_EQ(proto.relay().host_addresses_size(), 1);
  EXPECT_EQ(proto.relay().served_prefixes(0), "2001:db8::/32");
  EXPECT_EQ(proto.relay().trust_timeout().seconds(), 45);
  EXPECT_EQ(proto.relay().queue_bytes_total(), 17179869184ull);
  auto back = relayConfigFromProto(proto);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(**back, **yaml);
}

TEST(ProtoRoundTripTest, RelayAnnounceBlock) {
  auto yaml = loadRelayConfigString(
      "relay:\n  announce:\n    enabled: true\n    prefixes: [\"2001::/33\", "
      "\"2001:0:8000::/33\"]\n    table: 4000000000\n    protocol: 250\n    metric: 7\n"
      "    withdraw_grace: 2500ms\n",
      "r");
  ASSERT_TRUE(yaml.ok()) << yaml.status().message();
  teredo::v1::RelayConfig proto = toProto(**yaml);
  const teredo::v1::RelayAnnounceConfig& a = proto.relay().announce();
  EXPECT_TRUE(a.enabled());
  ASSERT_EQ(a.prefixes_size(), 2);
  EXPECT_EQ(a.prefixes(1), "2001:0:8000::/33");
  EXPECT_EQ(a.table(), 4000000000u);
  EXPECT_EQ(a.withdraw_grace().seconds(), 2);
  EXPECT_EQ(a.withdraw_grace().nanos(), 500000000);
  auto back = relayConfigFromProto(proto);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(**back, **yaml);

  // The controller's validation is the loader's: a prefix outside the relay's is refused there.
  proto.mutable_relay()->mutable_announce()->set_prefixes(0, "2001:db8::/32");
  auto bad = relayConfigFromProto(proto);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("relay.announce.prefixes"), std::string::npos)
      << bad.status().message();
}

// ----- Validation of proto input ---------------------------------------------------------------

teredo::v1::ServerConfig minimalServerProto() {
  teredo::v1::ServerConfig p;
  p.mutable_server()->set_primary_address("198.51.100.10");
  return p;
}

TEST(ProtoValidationTest, UnsetFieldsTakeDefaults) {
  auto c = serverConfigFromProto(minimalServerProto());
  ASSERT_TRUE(c.ok()) << c.status().message();
  auto yaml = loadServerConfigString("server:\n  primary_address: 198.51.100.10\n", "s");
  EXPECT_EQ(**c, **yaml);
}

TEST(ProtoValidationTest, ErrorsNameTheFieldPath) {
  teredo::v1::ServerConfig p = minimalServerProto();
  p.mutable_server()->set_mtu(1000);
  p.mutable_server()->set_secondary_address("198.51.100.99");
  p.mutable_server()->mutable_rate_limit()->set_rs_burst(0);
  auto c = serverConfigFromProto(p);
  ASSERT_FALSE(c.ok());
  std::vector<std::string> formatted;
  for (const Violation& e : c.status().violations()) {
    EXPECT_EQ(e.file, "");
    EXPECT_EQ(e.line, 0);
    formatted.push_back(e.format());
  }
  ASSERT_EQ(formatted.size(), 3u) << c.status().message();
  EXPECT_EQ(formatted[0].rfind("server.mtu: must be >= 1280", 0), 0u) << formatted[0];
  EXPECT_EQ(formatted[1].rfind("server.secondary_address: is 198.51.100.99, not", 0), 0u);
  EXPECT_EQ(formatted[2].rfind("server.rate_limit.rs_burst: must be >= 1 when", 0), 0u);
}

TEST(ProtoValidationTest, MissingRequiredField) {
  auto c = serverConfigFromProto(teredo::v1::ServerConfig{});
  ASSERT_FALSE(c.ok());
  ASSERT_EQ(c.status().violations().size(), 1u);
  EXPECT_EQ(c.status().violations()[0].format(),
            "server.primary_address: is required: the public IPv4 address clients are configured "
            "with");
}

TEST(ProtoValidationTest, ExplicitUnspecifiedEnumIsRejected) {
  teredo::v1::ServerConfig p = minimalServerProto();
  p.mutable_log()->set_level(teredo::v1::LOG_LEVEL_UNSPECIFIED);
  auto c = serverConfigFromProto(p);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().violations()[0].key, "log.level");
  EXPECT_NE(c.status().violations()[0].message.find("LOG_LEVEL_UNSPECIFIED"), std::string::npos);
}

TEST(ProtoValidationTest, DurationsMustBeWholeNonNegativeMilliseconds) {
  teredo::v1::RelayConfig p;
  p.mutable_relay()->mutable_trust_timeout()->set_seconds(30);
  p.mutable_relay()->mutable_trust_timeout()->set_nanos(1);
  auto c = relayConfigFromProto(p);
  ASSERT_FALSE(c.ok());
  ASSERT_EQ(c.status().violations().size(), 1u) << c.status().message();
  EXPECT_EQ(c.status().violations()[0].format(), "relay.trust_timeout: must be whole milliseconds");
  p.mutable_relay()->mutable_trust_timeout()->set_seconds(-5);
  p.mutable_relay()->mutable_trust_timeout()->set_nanos(0);
  c = relayConfigFromProto(p);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().violations()[0].format(),
            "relay.trust_timeout: must be a non-negative duration");
  p.mutable_relay()->mutable_trust_timeout()->set_seconds(0);
  p.mutable_relay()->mutable_trust_timeout()->set_nanos(250'000'000);
  c = relayConfigFromProto(p);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().violations()[0].key, "relay.trust_timeout");
  EXPECT_NE(c.status().violations()[0].message.find("between 1s and 600s"), std::string::npos);
}

TEST(ProtoValidationTest, UnknownFieldsAreRejected) {
  teredo::v1::ServerConfig p = minimalServerProto();
  // ServerSettings with an extra field 99 (varint 1), as a newer controller might send.
  std::string inner = p.server().SerializeAsString() + std::string("\x98\x06\x01", 3);
  teredo::v1::ServerConfig withUnknown;
  ASSERT_TRUE(withUnknown.mutable_server()->ParseFromString(inner));
  auto c = serverConfigFromProto(withUnknown);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().violations()[0].key, "server");
  EXPECT_NE(c.status().violations()[0].message.find("numbers 99"), std::string::npos)
      << c.status().message();
  EXPECT_TRUE(serverConfigFromProto(p).ok());
}

TEST(ProtoValidationTest, RoleDefaultsMergedWithOverrides) {
  // The controller's model: role defaults, then per-agent overrides with MergeFrom.
  auto defaults = serverProtoFromYaml("log:\n  level: info\nserver:\n  mtu: 1280\n", "defaults");
  auto agent = serverProtoFromYaml(
      "server:\n  primary_address: 198.51.100.10\nlog:\n  level: debug\n", "agent");
  ASSERT_TRUE(defaults.ok() && agent.ok())
      << defaults.status().message() << agent.status().message();
  teredo::v1::ServerConfig merged = *defaults;
  merged.MergeFrom(*agent);
  auto c = serverConfigFromProto(merged);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ((*c)->log.level, LogLevel::kDebug);
  EXPECT_EQ((*c)->server.secondaryAddress, 0xC633640Bu);
}

TEST(ProtoValidationTest, OverlayOntoBootstrapConfig) {
  auto base = loadServerConfigString(
      "server:\n  primary_address: 198.51.100.10\n  workers: 4\nagent:\n  id: s1\n", "boot");
  ASSERT_TRUE(base.ok()) << base.status().message();
  teredo::v1::ServerConfig push;
  push.mutable_server()->set_primary_address("198.51.100.40");
  push.mutable_log()->set_format(teredo::v1::LOG_FORMAT_JSON);
  auto c = serverConfigFromProto(push, **base);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ((*c)->server.workers, 4u);                    // kept from base
  EXPECT_EQ((*c)->agent.id, "s1");                        // kept from base
  EXPECT_EQ((*c)->log.format, LogFormat::kJson);          // from the push
  EXPECT_EQ((*c)->server.secondaryAddress, 0xC6336429u);  // recomputed: 198.51.100.41
  EXPECT_EQ(restartRequired(**base, **c),
            (std::vector<std::string>{"server.primary_address", "server.secondary_address"}));
  // An invalid pushed value does not fall back to the base value.
  push.mutable_server()->set_mtu(100);
  auto bad = serverConfigFromProto(push, **base);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().violations()[0].key, "server.mtu");
}

// ----- YAML -> proto ---------------------------------------------------------------------------

TEST(YamlToProtoTest, OnlyKeysInTheFileAreSet) {
  auto p = relayProtoFromYaml(
      "relay:\n  mtu: 1400\n  mode: host-specific\n  bubble:\n    window: 5m\n"
      "  served_prefixes: [\"2001:db8::/32\"]\n",
      "override.yaml");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_TRUE(p->relay().has_mtu());
  EXPECT_EQ(p->relay().mtu(), 1400u);  // alone: cross-key rules wait for the merged config
  EXPECT_EQ(p->relay().mode(), teredo::v1::RELAY_MODE_HOST_SPECIFIC);
  EXPECT_EQ(p->relay().bubble().window().seconds(), 300);
  EXPECT_FALSE(p->relay().bubble().has_min_interval());
  EXPECT_FALSE(p->relay().has_port());
  EXPECT_FALSE(p->has_admin());
  EXPECT_FALSE(p->has_log());
  EXPECT_EQ(p->relay().served_prefixes_size(), 1);
  EXPECT_EQ(p->relay().host_addresses_size(), 0);
}

TEST(YamlToProtoTest, ValuesAreCheckedWithPositions) {
  auto p = serverProtoFromYaml(
      "server:\n  mtu: 1000\n  primary_address: nowhere\n  bogus: 1\nlog:\n  level: loud\n",
      "o.yaml");
  ASSERT_FALSE(p.ok());
  std::string all = p.status().message();
  EXPECT_NE(all.find("o.yaml:2:3: server.mtu: must be >= 1280"), std::string::npos) << all;
  EXPECT_NE(all.find("o.yaml:3:3: server.primary_address: must be a dotted-quad"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("o.yaml:4:3: server.bogus: unknown key"), std::string::npos) << all;
  EXPECT_NE(all.find("o.yaml:6:3: log.level: must be one of"), std::string::npos) << all;
  EXPECT_EQ(p.status().violations().size(), 4u) << all;
  auto syntax = serverProtoFromYaml("server: [\n", "o.yaml");
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.status().message().find("YAML syntax error"), std::string::npos);
}

TEST(ProtoToYamlTest, PrintsOnlySetKeysAndReadsBackUnchanged) {
  const std::string relayText =
      "log:\n  level: debug\nrelay:\n  mtu: 1400\n  mode: host-specific\n"
      "  bubble:\n    window: 5m\n  served_prefixes: [\"2001:db8::/32\"]\n";
  auto relay = relayProtoFromYaml(relayText, "in.yaml");
  ASSERT_TRUE(relay.ok()) << relay.status().message();
  auto yaml = yamlFromProto(*relay);
  ASSERT_TRUE(yaml.ok()) << yaml.status().message();
  // Proto field order; durations in seconds.
  EXPECT_EQ(*yaml,
            "log:\n  level: debug\nrelay:\n  mtu: 1400\n  mode: host-specific\n"
            "  served_prefixes: [\"2001:db8::/32\"]\n  bubble:\n    window: 300s\n");
  auto again = relayProtoFromYaml(*yaml, "out.yaml");
  ASSERT_TRUE(again.ok()) << again.status().message() << "\n" << *yaml;
  EXPECT_EQ(again->SerializeAsString(), relay->SerializeAsString());

  auto server = serverProtoFromYaml(
      "server:\n  primary_address: 192.0.2.1\n  strict_rs: false\n  rate_limit:\n"
      "    rs_burst: 50\n",
      "s.yaml");
  ASSERT_TRUE(server.ok()) << server.status().message();
  auto serverYaml = yamlFromProto(*server);
  ASSERT_TRUE(serverYaml.ok());
  auto serverAgain = serverProtoFromYaml(*serverYaml, "s2.yaml");
  ASSERT_TRUE(serverAgain.ok()) << serverAgain.status().message() << "\n" << *serverYaml;
  EXPECT_EQ(serverAgain->SerializeAsString(), server->SerializeAsString()) << *serverYaml;

  EXPECT_EQ(*yamlFromProto(teredo::v1::ServerConfig{}), "{}\n");
  teredo::v1::RelayConfig unspecified;
  unspecified.mutable_relay()->set_mode(teredo::v1::RELAY_MODE_UNSPECIFIED);
  EXPECT_FALSE(yamlFromProto(unspecified).ok());
}

// ----- Agent configs and error details ---------------------------------------------------------

TEST(AgentConfigTest, ValidateByRole) {
  teredo::v1::AgentConfig none;
  Status status = validateAgentConfig(none);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  ASSERT_EQ(status.violations().size(), 1u);
  EXPECT_EQ(status.violations()[0].key, "role");

  teredo::v1::AgentConfig server;
  *server.mutable_server() = minimalServerProto();
  EXPECT_TRUE(validateAgentConfig(server).ok());

  // Role defaults without the primary address: the agent takes it from its bootstrap file.
  teredo::v1::AgentConfig defaults;
  defaults.mutable_server()->mutable_server()->mutable_rate_limit()->set_rs_per_second(5);
  EXPECT_TRUE(validateAgentConfig(defaults).ok());
  defaults.mutable_server()->mutable_server()->set_mtu(1000);
  status = validateAgentConfig(defaults);
  ASSERT_EQ(status.violations().size(), 1u);
  EXPECT_EQ(status.violations()[0].key, "server.mtu");
  // An explicit primary address is still checked.
  defaults.mutable_server()->mutable_server()->clear_mtu();
  defaults.mutable_server()->mutable_server()->set_primary_address("10.0.0.1");
  status = validateAgentConfig(defaults);
  ASSERT_EQ(status.violations().size(), 1u);
  EXPECT_EQ(status.violations()[0].key, "server.primary_address");

  teredo::v1::AgentConfig relay;
  relay.mutable_relay()->mutable_relay()->set_mtu(1000);
  status = validateAgentConfig(relay);
  ASSERT_EQ(status.violations().size(), 1u);
  EXPECT_EQ(status.violations()[0].format().rfind("relay.mtu: must be >= 1280", 0), 0u);

  teredo::v1::ConfigError detail = toProto(status);
  ASSERT_EQ(detail.field_violations_size(), 1);
  EXPECT_EQ(detail.field_violations(0).field(), "relay.mtu");
  EXPECT_EQ(detail.field_violations(0).description(), status.violations()[0].message);
  EXPECT_EQ(detail.message(), status.violations()[0].format());
}

}  // namespace
}  // namespace teredo::config

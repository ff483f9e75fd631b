// Converting Miredo configuration files (lib/config/miredo_import.h): every directive of
// miredo-server.conf(5) and of miredo.conf(5) in relay mode, the ones without an equivalent, and
// the refusals, each with the Miredo line. A converted file must load with our own loader and
// mean what the Miredo file meant.
#include "config/miredo_import.h"

#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "teredo/address.h"

namespace teredo::config {
namespace {

TEST(MiredoImport, ServerFileCarriesEveryDirective) {
  const MiredoImport r = importMiredoConfig(
      "# miredo-server.conf\n"
      "\n"
      "ServerBindAddress 198.51.100.10\n"
      "serverbindaddress2\t198.51.100.11\n"  // directive names are case-insensitive
      "Prefix 2001::\n"
      "InterfaceMTU 1280\n"
      "SyslogFacility daemon\n",
      "/etc/miredo/miredo-server.conf", MiredoRole::Server);
  ASSERT_TRUE(r.ok()) << r.errors[0].format();
  const auto loaded = loadServerConfigString(r.yaml, "converted.yaml");
  ASSERT_TRUE(loaded.ok()) << r.yaml;
  EXPECT_EQ((*loaded)->server.primaryAddress, *parseIpv4("198.51.100.10"));
  EXPECT_EQ((*loaded)->server.secondaryAddress, *parseIpv4("198.51.100.11"));
  EXPECT_EQ((*loaded)->server.mtu, 1280u);
  EXPECT_FALSE((*loaded)->server.allowNonconsecutive);
  EXPECT_NE(r.yaml.find("# ServerBindAddress 198.51.100.10, line 3"), std::string::npos) << r.yaml;
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(r.notes[0].rfind("/etc/miredo/miredo-server.conf:7: SyslogFacility:", 0), 0u)
      << r.notes[0];
}

TEST(MiredoImport, NonConsecutiveSecondaryIsAllowedVisibly) {
  const MiredoImport r =
      importMiredoConfig("ServerBindAddress 198.51.100.10\nServerBindAddress2 198.51.100.20\n",
                         "s.conf", MiredoRole::Server);
  ASSERT_TRUE(r.ok()) << r.errors[0].format();
  const auto loaded = loadServerConfigString(r.yaml, "converted.yaml");
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE((*loaded)->server.allowNonconsecutive);
  EXPECT_NE(r.yaml.find("every client must be configured with both"), std::string::npos);
}

TEST(MiredoImport, RelayFileCarriesEveryDirective) {
  const MiredoImport r = importMiredoConfig(
      "RelayType cone\n"
      "InterfaceName teredo0\n"
      "BindAddress 198.51.100.20\n"
      "BindPort 3545\n"
      "InterfaceMTU 1280\n"
      "Prefix 2001:0::\n"
      "ServerAddress teredo.example.net\n",
      "miredo.conf", MiredoRole::Relay);
  ASSERT_TRUE(r.ok()) << r.errors[0].format();
  const auto loaded = loadRelayConfigString(r.yaml, "converted.yaml");
  ASSERT_TRUE(loaded.ok()) << r.yaml;
  EXPECT_EQ((*loaded)->relay.interface, "teredo0");
  EXPECT_EQ((*loaded)->relay.bindAddress, *parseIpv4("198.51.100.20"));
  EXPECT_EQ((*loaded)->relay.port, 3545u);
  EXPECT_FALSE((*loaded)->relay.behindNat);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("miredo.conf:7: ServerAddress: client-only"), std::string::npos);
}

TEST(MiredoImport, RestrictedRelayIsBehindNatAndEphemeralPortIsANote) {
  const MiredoImport r =
      importMiredoConfig("RelayType restricted\nBindPort 0\n", "miredo.conf", MiredoRole::Relay);
  ASSERT_TRUE(r.ok()) << r.errors[0].format();
  const auto loaded = loadRelayConfigString(r.yaml, "converted.yaml");
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE((*loaded)->relay.behindNat);
  EXPECT_EQ((*loaded)->relay.port, kDefaultRelayPort);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("BindPort 0"), std::string::npos);
}

struct Refusal {
  const char* name;
  MiredoRole role;
  const char* text;
  int line;
  const char* message;  ///< a substring of the error
};

class MiredoImportRefuses : public ::testing::TestWithParam<Refusal> {};

TEST_P(MiredoImportRefuses, WithTheMiredoLine) {
  const Refusal& c = GetParam();
  const MiredoImport r = importMiredoConfig(c.text, "in.conf", c.role);
  ASSERT_FALSE(r.ok()) << r.yaml;
  EXPECT_TRUE(r.yaml.empty()) << "nothing is written when anything is refused";
  bool found = false;
  for (const Violation& e : r.errors) {
    EXPECT_EQ(e.file, "in.conf");
    found = found || (e.line == c.line && e.message.find(c.message) != std::string::npos);
  }
  EXPECT_TRUE(found) << c.message << " at line " << c.line << "; got " << r.errors[0].format();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MiredoImportRefuses,
    ::testing::Values(
        Refusal{"ClientConfig", MiredoRole::Relay, "RelayType client\n", 1, "Teredo client"},
        Refusal{"AutoclientConfig", MiredoRole::Relay, "# x\nRelayType autoclient\n", 2,
                "Teredo client"},
        Refusal{"NoRelayTypeMeansClient", MiredoRole::Relay, "BindPort 3545\n", 0, "no RelayType"},
        Refusal{"BadRelayType", MiredoRole::Relay, "RelayType nat\n", 1, "must be client"},
        Refusal{"UnknownDirective", MiredoRole::Server,
                "ServerBindAddress 198.51.100.10\nFoo bar\n", 2, "unknown Miredo directive Foo"},
        Refusal{"RelayDirectiveInServerFile", MiredoRole::Server,
                "ServerBindAddress 198.51.100.10\nBindPort 3545\n", 2, "belongs in miredo.conf"},
        Refusal{"ServerDirectiveInRelayFile", MiredoRole::Relay,
                "RelayType relay\nServerBindAddress 198.51.100.10\n", 2,
                "belongs in miredo-server.conf"},
        Refusal{"Repeated", MiredoRole::Server,
                "ServerBindAddress 198.51.100.10\nSERVERBINDADDRESS 198.51.100.12\n", 2,
                "repeats line 1"},
        Refusal{"NoValue", MiredoRole::Server, "ServerBindAddress\n", 1, "has no value"},
        Refusal{"TwoValues", MiredoRole::Server, "ServerBindAddress 198.51.100.10 # primary\n", 1,
                "takes one value"},
        // What our own loader refuses, charged to the Miredo line behind the key.
        Refusal{"MissingPrimary", MiredoRole::Server, "InterfaceMTU 1280\n", 0,
                "ServerBindAddress (server.primary_address)"},
        Refusal{"PrivatePrimary", MiredoRole::Server, "ServerBindAddress 10.1.2.3\n", 1,
                "ServerBindAddress (server.primary_address)"},
        Refusal{"MtuBelowMinimum", MiredoRole::Server,
                "ServerBindAddress 198.51.100.10\nInterfaceMTU 1000\n", 2,
                "InterfaceMTU (server.mtu)"},
        Refusal{"PrefixNot32", MiredoRole::Relay, "RelayType relay\nPrefix 2001:db8::/48\n", 2,
                "Prefix (relay.prefix)"},
        Refusal{"HostnameBindAddress", MiredoRole::Relay,
                "RelayType relay\nBindAddress relay.example.net\n", 2,
                "BindAddress (relay.bind_address)"}),
    [](const ::testing::TestParamInfo<Refusal>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace teredo::config

// What teredoctl prints: the anycast announcement in `agents list`, `agents get` and `stats fleet`,
// who made each config version in `config history`, and `agents forget`. (The other tables are
// checked end to end by the controller integration tests.)
#include "output.h"

#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace teredoctl {
namespace {

teredo::v1::AgentStatus relay(const std::string& id, const std::string& reason,
                              std::vector<std::pair<std::string, bool>> prefixes) {
  teredo::v1::AgentStatus a;
  a.set_agent_id(id);
  a.set_role(teredo::v1::ROLE_RELAY);
  if (!prefixes.empty()) {
    a.mutable_announce()->set_enabled(true);
    a.mutable_announce()->set_reason(reason);
    for (const auto& [prefix, announced] : prefixes) {
      auto* p = a.mutable_announce()->add_prefixes();
      p->set_prefix(prefix);
      p->set_announced(announced);
    }
  }
  return a;
}

/// The ANNOUNCE cell of `id`'s row (columns are two or more spaces apart).
std::string announceCell(const std::string& table, const std::string& id) {
  std::istringstream in(table);
  std::string header;
  std::getline(in, header);
  const size_t column = header.find("ANNOUNCE");
  const size_t next = header.find("PKT/S");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(id + " ", 0) == 0) {
      std::string cell = line.substr(column, next - column);
      return cell.substr(0, cell.find_last_not_of(' ') + 1);
    }
  }
  return "?";
}

TEST(TeredoctlOutput, AgentsShowWhatEachRelayAnnounces) {
  teredo::v1::ListAgentsResponse r;
  *r.add_agents() = relay("relay-a", "ready", {{"2001::/32", true}});
  *r.add_agents() = relay("relay-b", "draining", {{"2001::/32", false}});
  *r.add_agents() = relay("relay-c", "ready", {{"2001::/33", true}, {"2001:0:8000::/33", false}});
  *r.add_agents() = relay("relay-d", "", {});
  std::ostringstream out;
  printAgents(out, r);
  const std::string table = out.str();
  EXPECT_EQ(announceCell(table, "relay-a"), "2001::/32") << table;
  EXPECT_EQ(announceCell(table, "relay-b"), "withdrawn (draining)") << table;
  EXPECT_EQ(announceCell(table, "relay-c"), "partial 2001::/33") << table;
  EXPECT_EQ(announceCell(table, "relay-d"), "-") << table;

  teredo::v1::GetAgentResponse one;
  *one.mutable_agent() = relay("relay-b", "draining", {{"2001::/32", false}});
  std::ostringstream detail;
  printAgent(detail, one);
  EXPECT_NE(detail.str().find("announce         withdrawn (draining)"), std::string::npos)
      << detail.str();
}

TEST(TeredoctlOutput, FleetStatsListPrefixesAndWhoAnnouncesThem) {
  teredo::v1::GetFleetStatsResponse r;
  auto* ok = r.add_announcements();
  ok->set_prefix("2001::/32");
  ok->set_relays_announcing(2);
  ok->set_relays_configured(2);
  ok->add_announcing_agents("relay-a");
  ok->add_announcing_agents("relay-b");
  auto* none = r.add_announcements();
  none->set_prefix("2001::/33");
  none->set_relays_configured(1);
  std::ostringstream out;
  printFleetStats(out, r);
  const std::string text = out.str();
  EXPECT_NE(text.find("PREFIX     ANNOUNCING  CONFIGURED  ANNOUNCED BY"), std::string::npos)
      << text;
  EXPECT_NE(text.find("2001::/32  2           2           relay-a, relay-b"), std::string::npos)
      << text;
  EXPECT_NE(text.find("2001::/33  0           1           NONE"), std::string::npos) << text;
}

TEST(TeredoctlOutput, HistoryShowsWhoMadeEachVersion) {
  teredo::v1::ListConfigVersionsResponse r;
  auto* forget = r.add_versions();
  forget->set_version(4);
  forget->set_description("forget agent relay-old");
  forget->set_author("token:alice");
  forget->set_comment("rack 4 retired");
  auto* old = r.add_versions();
  old->set_version(3);
  old->set_description("set role relay");
  std::ostringstream out;
  printHistory(out, r);
  const std::string text = out.str();
  EXPECT_NE(text.find("BY"), std::string::npos) << text;
  EXPECT_NE(text.find("forget agent relay-old  token:alice  rack 4 retired"), std::string::npos)
      << text;
  EXPECT_NE(text.find("set role relay          -            -"), std::string::npos)
      << "versions from before authors were kept: " << text;
}

TEST(TeredoctlOutput, ForgetSaysWhichVersionRecordsIt) {
  teredo::v1::ForgetAgentResponse r;
  r.set_version(9);
  std::ostringstream plain;
  printForgotten(plain, "relay-old", r);
  EXPECT_EQ(plain.str(), "forgot relay-old in version 9\n");
  r.set_override_removed(true);
  std::ostringstream withOverride;
  printForgotten(withOverride, "relay-old", r);
  EXPECT_EQ(withOverride.str(), "forgot relay-old in version 9 (its override removed)\n");
}

TEST(TeredoctlOutput, YamlIsTheProtoJsonInBlockStyle) {
  teredo::v1::ListConfigVersionsResponse r;
  auto* v = r.add_versions();
  v->set_version(12);
  v->set_description("set role relay");
  v->set_author("token:alice");
  EXPECT_EQ(toYaml(r),
            "versions:\n  - version: 12\n    description: set role relay\n    author: "
            "token:alice\n");
  EXPECT_EQ(toYaml(teredo::v1::ListConfigVersionsResponse{}), "{}\n");
}

TEST(TeredoctlOutput, RolloutProgressByAgent) {
  teredo::v1::ListAgentsResponse agents;
  auto add = [&](const std::string& id, uint64_t applied, uint64_t nacked) {
    auto* a = agents.add_agents();
    a->set_agent_id(id);
    a->set_applied_version(applied);
    if (nacked != 0) {
      a->mutable_last_nack()->set_version(nacked);
    }
  };
  add("at-7", 7, 0);
  add("later-9", 9, 0);
  add("behind-6", 6, 0);
  add("nacked-7", 6, 7);
  add("old-nack-5", 6, 5);
  google::protobuf::RepeatedPtrField<std::string> ids;
  for (const char* id : {"at-7", "later-9", "behind-6", "nacked-7", "old-nack-5", "gone"}) {
    *ids.Add() = id;
  }
  const RolloutProgress p = rolloutProgress(agents, ids, 7);
  EXPECT_EQ(p.applied, (std::vector<std::string>{"at-7", "later-9"}));
  EXPECT_EQ(p.nacked, (std::vector<std::string>{"nacked-7"}));
  EXPECT_EQ(p.waiting, (std::vector<std::string>{"behind-6", "old-nack-5", "gone"}));
  EXPECT_FALSE(p.done());
  google::protobuf::RepeatedPtrField<std::string> settled;
  *settled.Add() = "at-7";
  *settled.Add() = "nacked-7";
  EXPECT_TRUE(rolloutProgress(agents, settled, 7).done());
}

TEST(TeredoctlOutput, DiffLinesMarksWhatChanged) {
  struct Case {
    const char* name;
    std::string before, after, diff;
  } cases[] = {
      {"equal", "relay:\n  mtu: 1280\n", "relay:\n  mtu: 1280\n", ""},
      {"changed value", "relay:\n  mtu: 1280\n  port: 3544\n",
       "relay:\n  mtu: 1400\n  port: 3544\n",
       "  relay:\n-   mtu: 1280\n+   mtu: 1400\n    port: 3544\n"},
      {"added key", "relay:\n  mtu: 1280\n", "relay:\n  mtu: 1280\n  port: 3545\n",
       "  relay:\n    mtu: 1280\n+   port: 3545\n"},
      {"from nothing", "{}\n", "relay:\n  mtu: 1400\n", "- {}\n+ relay:\n+   mtu: 1400\n"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(diffLines(c.before, c.after), c.diff) << c.name;
  }
}

}  // namespace
}  // namespace teredoctl

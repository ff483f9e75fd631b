// teredoctl's tables and summaries; see output.h.
#include "output.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

namespace teredoctl {

namespace v1 = teredo::v1;

namespace {

std::string roleText(v1::Role r) {
  return r == v1::ROLE_SERVER ? "server" : r == v1::ROLE_RELAY ? "relay" : "-";
}

std::string stateText(v1::AgentState s) {
  return s == v1::AGENT_STATE_CONNECTED ? "connected" : "disconnected";
}

std::string syncText(v1::SyncState s) {
  switch (s) {
    case v1::SYNC_STATE_SYNCED:
      return "synced";
    case v1::SYNC_STATE_PENDING:
      return "pending";
    case v1::SYNC_STATE_NACKED:
      return "NACKED";
    case v1::SYNC_STATE_NOT_SENT:
      return "not_sent";
    default:
      return "-";
  }
}

std::string timeText(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0) {
    return "-";
  }
  const std::time_t secs = static_cast<std::time_t>(t.seconds());
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string joinIds(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) {
    if (!out.empty()) {
      out += ", ";
    }
    out += id;
  }
  return out.empty() ? "(none)" : out;
}

void addRoleStats(const v1::RoleStats& s, std::vector<std::vector<std::string>>* rows) {
  const auto& c = s.counters();
  uint64_t drops = 0;
  for (const auto& [k, v] : c.drops()) {
    drops += v;
  }
  rows->push_back({s.role() == v1::ROLE_UNSPECIFIED ? "fleet" : roleText(s.role()),
                   std::to_string(s.agents_connected()) + "/" + std::to_string(s.agents_total()),
                   std::to_string(c.traffic().udp_received().packets()),
                   std::to_string(c.traffic().udp_sent().packets()),
                   std::to_string(c.traffic().ipv6_received().packets()),
                   std::to_string(c.traffic().ipv6_sent().packets()), std::to_string(drops),
                   std::to_string(s.gauges().relay_peers()), std::to_string(s.distinct_clients())});
}

}  // namespace

std::string toJson(const google::protobuf::Message& msg) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(msg, &out, opts);
  return out;
}

namespace {

// yaml-cpp keeps the flow style of parsed JSON; the printed form uses block style throughout.
void blockStyle(YAML::Node node) {
  if (node.IsMap() || node.IsSequence()) {
    node.SetStyle(YAML::EmitterStyle::Block);
    for (auto it = node.begin(); it != node.end(); ++it) {
      blockStyle(node.IsMap() ? it->second : *it);
    }
  }
}

}  // namespace

std::string toYaml(const google::protobuf::Message& msg) {
  // JSON is YAML: parse the proto JSON and emit it in block style.
  YAML::Node node = YAML::Load(toJson(msg));
  blockStyle(node);
  if (node.IsMap() && node.size() == 0) {
    return "{}\n";
  }
  YAML::Emitter out;
  out << node;
  return std::string(out.c_str()) + "\n";
}

void printTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line += std::string(width[i] - row[i].size() + 2, ' ');
      }
    }
    out << line << "\n";
  }
}

/// "2001::/32" while announcing everything, "withdrawn (draining)", "partial (ready)" when the
/// kernel refused a route, "-" for servers and relays that do not announce.
std::string announceText(const v1::AgentStatus& a) {
  if (!a.has_announce() || !a.announce().enabled()) {
    return "-";
  }
  std::string announced;
  size_t count = 0;
  for (const auto& p : a.announce().prefixes()) {
    if (p.announced()) {
      announced += (announced.empty() ? "" : ",") + p.prefix();
      ++count;
    }
  }
  if (count == 0) {
    return "withdrawn (" + a.announce().reason() + ")";
  }
  if (count < static_cast<size_t>(a.announce().prefixes_size())) {
    return "partial " + announced;
  }
  return announced;
}

void printAgents(std::ostream& out, const v1::ListAgentsResponse& r) {
  std::vector<std::vector<std::string>> rows = {{"AGENT", "ROLE", "STATE", "CONFIG", "DESIRED",
                                                 "APPLIED", "DRAIN", "ANNOUNCE", "PKT/S", "PEERS",
                                                 "LAST NACK", "BUILD"}};
  for (const auto& a : r.agents()) {
    char pps[32];
    std::snprintf(pps, sizeof(pps), "%.1f", a.headline().udp_packets_per_second());
    rows.push_back({a.agent_id(), roleText(a.role()), stateText(a.state()),
                    syncText(a.sync_state()), std::to_string(a.desired_version()),
                    std::to_string(a.applied_version()), a.draining() ? "yes" : "no",
                    announceText(a), pps, std::to_string(a.headline().relay_peers()),
                    a.has_last_nack() ? "v" + std::to_string(a.last_nack().version()) : "-",
                    a.build_version()});
  }
  printTable(out, rows);
}

void printAgent(std::ostream& out, const v1::GetAgentResponse& r) {
  const auto& a = r.agent();
  std::vector<std::vector<std::string>> rows = {
      {"agent", a.agent_id()},
      {"instance", a.instance_uid()},
      {"role", roleText(a.role())},
      {"build", a.build_version()},
      {"state", stateText(a.state())},
      {"connected since", timeText(a.connected_since())},
      {"last seen", timeText(a.last_seen())},
      {"config", syncText(a.sync_state())},
      {"desired version", std::to_string(a.desired_version())},
      {"sent version", std::to_string(a.sent_version())},
      {"applied version", std::to_string(a.applied_version())},
      {"config lag (s)", std::to_string(a.config_lag_seconds())},
      {"draining", a.draining() ? "yes" : "no"},
      {"announce", announceText(a)},
      {"peers", std::to_string(a.headline().relay_peers()) + " / " +
                    std::to_string(a.headline().peer_table_capacity())},
      {"drops", std::to_string(a.headline().drops_total())}};
  std::string addresses;
  for (const auto& addr : a.addresses()) {
    if (!addresses.empty()) {
      addresses += ", ";
    }
    addresses += addr;
  }
  rows.push_back({"addresses", addresses.empty() ? "-" : addresses});
  if (a.has_last_nack()) {
    rows.push_back({"last NACK", "version " + std::to_string(a.last_nack().version()) + " at " +
                                     timeText(a.last_nack().time())});
    rows.push_back({"  reason", a.last_nack().error_detail().message()});
    for (const auto& v : a.last_nack().error_detail().field_violations()) {
      rows.push_back({"  " + v.field(), v.description()});
    }
  }
  printTable(out, rows);
}

void printFleetStats(std::ostream& out, const v1::GetFleetStatsResponse& r) {
  std::vector<std::vector<std::string>> rows = {
      {"ROLE", "AGENTS", "UDP IN", "UDP OUT", "IPV6 IN", "IPV6 OUT", "DROPS", "PEERS", "CLIENTS~"}};
  for (const auto& s : r.roles()) {
    addRoleStats(s, &rows);
  }
  addRoleStats(r.fleet(), &rows);
  printTable(out, rows);
  if (!r.fleet().counters().drops().empty()) {
    out << "\n";
    std::vector<std::vector<std::string>> drops = {{"DROP REASON", "PACKETS"}};
    for (const auto& [k, v] : r.fleet().counters().drops()) {
      drops.push_back({k, std::to_string(v)});
    }
    printTable(out, drops);
  }
  if (!r.announcements().empty()) {
    out << "\n";
    std::vector<std::vector<std::string>> ann = {
        {"PREFIX", "ANNOUNCING", "CONFIGURED", "ANNOUNCED BY"}};
    for (const auto& p : r.announcements()) {
      std::string by;
      for (const auto& id : p.announcing_agents()) {
        by += (by.empty() ? "" : ", ") + id;
      }
      ann.push_back({p.prefix(), std::to_string(p.relays_announcing()),
                     std::to_string(p.relays_configured()), by.empty() ? "NONE" : by});
    }
    printTable(out, ann);
  }
}

void printNatStats(std::ostream& out, const v1::GetNatStatsResponse& r) {
  printTable(out, {{"NAT TYPE", "CLIENTS CLASSIFIED"},
                   {"cone", std::to_string(r.nat().cone())},
                   {"restricted", std::to_string(r.nat().restricted())},
                   {"symmetric", std::to_string(r.nat().symmetric())},
                   {"unknown", std::to_string(r.nat().unknown())}});
  out << "\ndistinct clients (estimate): " << r.distinct_clients() << "\n";
  out << "RS plain/cone to primary: " << r.router().rs_plain_primary() << "/"
      << r.router().rs_cone_primary() << ", to secondary: " << r.router().rs_plain_secondary()
      << "/" << r.router().rs_cone_secondary() << "\n";
}

void printConfig(std::ostream& out, const v1::GetConfigResponse& r, bool scoped) {
  out << "# version " << r.version() << "\n";
  out << toJson(scoped ? static_cast<const google::protobuf::Message&>(r.effective()) : r.config());
}

void printSetConfig(std::ostream& out, const v1::SetConfigResponse& r) {
  if (r.dry_run()) {
    out << "dry run: " << (r.changed() ? "would publish" : "no change")
        << "; affected agents: " << joinIds(r.affected_agents()) << "\n";
  } else if (!r.changed()) {
    out << "no change (version " << r.version() << ")\n";
  } else {
    out << "published version " << r.version()
        << "; affected agents: " << joinIds(r.affected_agents()) << "\n";
  }
}

void printRemoveOverride(std::ostream& out, const v1::SetConfigResponse& r) {
  out << (r.dry_run() ? "dry run, version " : "version ") << r.version()
      << "; affected agents: " << joinIds(r.affected_agents()) << "\n";
}

void printHistory(std::ostream& out, const v1::ListConfigVersionsResponse& r) {
  std::vector<std::vector<std::string>> rows = {{"VERSION", "TIME", "CHANGE", "BY", "COMMENT"}};
  for (const auto& v : r.versions()) {
    rows.push_back({std::to_string(v.version()), timeText(v.time()), v.description(),
                    v.author().empty() ? "-" : v.author(),
                    v.comment().empty() ? "-" : v.comment()});
  }
  printTable(out, rows);
}

void printRollback(std::ostream& out, const v1::RollbackResponse& r) {
  out << (r.dry_run() ? "dry run; current version " : "published version ") << r.version()
      << "; affected agents: " << joinIds(r.affected_agents()) << "\n";
}

namespace {

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    start = end == std::string::npos ? text.size() : end + 1;
  }
  return lines;
}

}  // namespace

std::string diffLines(const std::string& before, const std::string& after) {
  const std::vector<std::string> a = splitLines(before);
  const std::vector<std::string> b = splitLines(after);
  if (a == b) {
    return "";
  }
  // lcs[i][j]: the longest common subsequence of a[i..] and b[j..] (configs are small).
  std::vector<std::vector<size_t>> lcs(a.size() + 1, std::vector<size_t>(b.size() + 1, 0));
  for (size_t i = a.size(); i-- > 0;) {
    for (size_t j = b.size(); j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  std::string out;
  size_t i = 0;
  size_t j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      out += "  " + a[i++] + "\n";
      ++j;
    } else if (i < a.size() && (j == b.size() || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out += "- " + a[i++] + "\n";  // removals first, as diff -u prints them
    } else {
      out += "+ " + b[j++] + "\n";
    }
  }
  return out;
}

RolloutProgress rolloutProgress(const v1::ListAgentsResponse& agents,
                                const google::protobuf::RepeatedPtrField<std::string>& ids,
                                uint64_t version) {
  RolloutProgress p;
  for (const std::string& id : ids) {
    const v1::AgentStatus* found = nullptr;
    for (const auto& a : agents.agents()) {
      if (a.agent_id() == id) {
        found = &a;
        break;
      }
    }
    if (found != nullptr && found->applied_version() >= version) {
      p.applied.push_back(id);
    } else if (found != nullptr && found->has_last_nack() &&
               found->last_nack().version() >= version) {
      p.nacked.push_back(id);
    } else {
      p.waiting.push_back(id);
    }
  }
  return p;
}

void printForgotten(std::ostream& out, const std::string& agentId,
                    const v1::ForgetAgentResponse& r) {
  out << "forgot " << agentId << " in version " << r.version()
      << (r.override_removed() ? " (its override removed)" : "") << "\n";
}

void printDrained(std::ostream& out, const std::string& verb,
                  const google::protobuf::RepeatedPtrField<std::string>& agentIds) {
  out << verb << ": " << joinIds(agentIds) << "\n";
}

}  // namespace teredoctl

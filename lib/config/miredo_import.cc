#include "config/miredo_import.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

#include "teredo/address.h"

namespace teredo::config {
namespace {

enum class Kind : uint8_t {
  Text,       ///< copied as a quoted YAML string (addresses, prefixes, names)
  Integer,    ///< copied as a YAML integer when it is one
  RelayType,  ///< client|autoclient|relay|cone|restricted
  Note,       ///< no equivalent on purpose: a note, nothing written
};

/// One Miredo directive and where it goes (docs/configuration.md, "Replaces" column).
struct Rule {
  const char* directive;
  MiredoRole role;
  const char* key;  ///< dotted key in our config, or nullptr
  Kind kind;
  const char* why;  ///< for Kind::Note: why nothing is written
};

constexpr const char* kNoSyslog =
    "no equivalent: logs go to stderr (log.format: json for a collector, or the journal)";
constexpr const char* kClientOnly = "client-only; a relay has no Teredo server of its own";

constexpr Rule kRules[] = {
    // miredo-server.conf(5)
    {"ServerBindAddress", MiredoRole::Server, "server.primary_address", Kind::Text, nullptr},
    {"ServerBindAddress2", MiredoRole::Server, "server.secondary_address", Kind::Text, nullptr},
    {"Prefix", MiredoRole::Server, "server.prefix", Kind::Text, nullptr},
    {"InterfaceMTU", MiredoRole::Server, "server.mtu", Kind::Integer, nullptr},
    {"SyslogFacility", MiredoRole::Server, nullptr, Kind::Note, kNoSyslog},
    // miredo.conf(5), relay modes
    {"RelayType", MiredoRole::Relay, "relay.mode", Kind::RelayType, nullptr},
    {"BindAddress", MiredoRole::Relay, "relay.bind_address", Kind::Text, nullptr},
    {"BindPort", MiredoRole::Relay, "relay.port", Kind::Integer, nullptr},
    {"Prefix", MiredoRole::Relay, "relay.prefix", Kind::Text, nullptr},
    {"InterfaceMTU", MiredoRole::Relay, "relay.mtu", Kind::Integer, nullptr},
    {"InterfaceName", MiredoRole::Relay, "relay.interface", Kind::Text, nullptr},
    {"SyslogFacility", MiredoRole::Relay, nullptr, Kind::Note, kNoSyslog},
    {"ServerAddress", MiredoRole::Relay, nullptr, Kind::Note, kClientOnly},
    {"ServerAddress2", MiredoRole::Relay, nullptr, Kind::Note, kClientOnly},
    {"LocalDiscovery", MiredoRole::Relay, nullptr, Kind::Note, kClientOnly},
    {"DiscoveryInterfaces", MiredoRole::Relay, nullptr, Kind::Note, kClientOnly},
    {"DiscoveryNetmask", MiredoRole::Relay, nullptr, Kind::Note, kClientOnly},
};

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

const Rule* findRule(std::string_view directive, MiredoRole role, bool* otherRole) {
  *otherRole = false;
  for (const Rule& r : kRules) {
    if (equalsIgnoreCase(r.directive, directive)) {
      if (r.role == role) {
        return &r;
      }
      *otherRole = true;
    }
  }
  return nullptr;
}

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!s.empty() && space(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && space(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "\"";
}

bool allDigits(std::string_view s) {
  return !s.empty() && s.size() <= 9 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

struct Entry {
  std::string key;
  std::string yamlValue;
  std::string comment;    ///< what the key came from: "Directive value, line N"
  std::string directive;  ///< the Miredo directive behind the key
  std::string value;      ///< its value as written
  int line = 0;
};

}  // namespace

MiredoImport importMiredoConfig(std::string_view text, std::string_view file, MiredoRole role) {
  MiredoImport out;
  const std::string fileName(file);
  auto error = [&](int line, std::string message) {
    out.errors.push_back(Violation{fileName, line, 0, "", std::move(message)});
  };
  const char* otherFile = role == MiredoRole::Server ? "miredo.conf" : "miredo-server.conf";
  std::vector<Entry> entries;
  std::map<std::string, int> seen;  // lower-cased directive -> line
  std::optional<int> relayTypeLine;

  int lineNo = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = trim(text.substr(pos, end - pos));
    pos = end + 1;
    ++lineNo;
    if (line.empty() || line.front() == '#') {
      continue;
    }
    const size_t split = line.find_first_of(" \t");
    const std::string_view name = line.substr(0, split);
    const std::string_view value =
        split == std::string_view::npos ? std::string_view{} : trim(line.substr(split));
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    bool otherRole = false;
    const Rule* rule = findRule(name, role, &otherRole);
    if (rule == nullptr) {
      error(lineNo, otherRole ? std::string(name) + " belongs in " + otherFile +
                                    "; convert that file with the other --role"
                              : "unknown Miredo directive " + std::string(name));
      continue;
    }
    if (auto [it, inserted] = seen.emplace(lower, lineNo); !inserted) {
      error(lineNo, std::string(rule->directive) + " repeats line " + std::to_string(it->second));
      continue;
    }
    if (value.empty()) {
      error(lineNo, std::string(rule->directive) + " has no value");
      continue;
    }
    if (value.find_first_of(" \t") != std::string_view::npos) {
      error(lineNo,
            std::string(rule->directive) + " takes one value, not \"" + std::string(value) + "\"");
      continue;
    }
    const auto add = [&](const char* key, std::string yamlValue) {
      entries.push_back({key, std::move(yamlValue),
                         std::string(rule->directive) + " " + std::string(value) + ", line " +
                             std::to_string(lineNo),
                         rule->directive, std::string(value), lineNo});
    };
    switch (rule->kind) {
      case Kind::Note:
        out.notes.push_back(fileName + ":" + std::to_string(lineNo) + ": " + rule->directive +
                            ": " + rule->why);
        break;
      case Kind::Text:
        add(rule->key, quoted(value));
        break;
      case Kind::Integer:
        if (role == MiredoRole::Relay && equalsIgnoreCase(rule->directive, "BindPort") &&
            value == "0") {
          out.notes.push_back(fileName + ":" + std::to_string(lineNo) +
                              ": BindPort 0 (an ephemeral port) has no equivalent: relay.port "
                              "stays at its fixed default, which clients learn as they do "
                              "Miredo's");
          break;
        }
        add(rule->key, allDigits(value) ? std::string(value) : quoted(value));
        break;
      case Kind::RelayType:
        relayTypeLine = lineNo;
        if (equalsIgnoreCase(value, "client") || equalsIgnoreCase(value, "autoclient")) {
          error(lineNo, "RelayType " + std::string(value) +
                            " configures a Teredo client; teredo-relay is a relay (Teredo Fleet "
                            "ships no client)");
        } else if (equalsIgnoreCase(value, "relay") || equalsIgnoreCase(value, "cone")) {
          add("relay.mode", "relay");
        } else if (equalsIgnoreCase(value, "restricted")) {
          add("relay.mode", "relay");
          add("relay.behind_nat", "true");
        } else {
          error(lineNo, "RelayType must be client, autoclient, relay, cone or restricted, not \"" +
                            std::string(value) + "\"");
        }
        break;
    }
  }
  if (role == MiredoRole::Relay && !relayTypeLine) {
    error(0,
          "no RelayType: Miredo's default is client mode, so this file does not configure a "
          "relay (add RelayType relay, cone or restricted if it is one)");
  }
  // Miredo accepts any secondary address; ours refuses one that is not primary + 1 unless told
  // (Windows clients assume consecutive addresses). Carry Miredo's behaviour over, visibly.
  if (role == MiredoRole::Server) {
    const Entry* primary = nullptr;
    const Entry* secondary = nullptr;
    for (const Entry& e : entries) {
      primary = e.key == "server.primary_address" ? &e : primary;
      secondary = e.key == "server.secondary_address" ? &e : secondary;
    }
    if (primary != nullptr && secondary != nullptr) {
      const auto p = parseIpv4(primary->value);
      const auto s = parseIpv4(secondary->value);
      if (p && s && *s != *p + 1) {
        entries.push_back({"server.allow_nonconsecutive", "true",
                           "ServerBindAddress2 is not ServerBindAddress + 1; every client must be "
                           "configured with both",
                           secondary->directive, secondary->value, secondary->line});
      }
    }
  }
  if (!out.errors.empty()) {
    return out;
  }

  // The YAML: one section, keys in the order the file gave them.
  const char* section = role == MiredoRole::Server ? "server" : "relay";
  std::string yaml = std::string("# teredo-") + section + " config converted from " + fileName +
                     " (teredoctl config from-miredo).\n# Each key names the Miredo directive "
                     "it came from; docs/configuration.md has every other key.\n" +
                     section + ":\n";
  for (const Entry& e : entries) {
    yaml +=
        "  " + e.key.substr(e.key.find('.') + 1) + ": " + e.yamlValue + "  # " + e.comment + "\n";
  }
  out.yaml = yaml;

  // What our own loader says about the result, charged to the Miredo line behind the key.
  const Status loaded = role == MiredoRole::Server ? loadServerConfigString(yaml, fileName).status()
                                                   : loadRelayConfigString(yaml, fileName).status();
  for (const Violation& e : loaded.violations()) {
    int line = 0;
    std::string directive;
    for (const Entry& entry : entries) {
      if (entry.key == e.key) {
        line = entry.line;
        directive = entry.directive;
      }
    }
    if (line == 0 && e.key == "server.primary_address") {
      directive = "ServerBindAddress";
    }
    const std::string what = directive.empty() ? e.key : directive + " (" + e.key + ")";
    error(line, what + ": " + e.message);
  }
  if (!out.errors.empty()) {
    out.yaml.clear();
  }
  return out;
}

}  // namespace teredo::config

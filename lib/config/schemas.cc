// The key tables of the three daemons and their cross-key rules (docs/configuration.md).
#include <unistd.h>

#include <climits>

#include "base/socket_address.h"
#include "config/config.h"
#include "config/schema.h"

namespace teredo::config {

bool Ipv6Prefix::contains(const teredo::Ipv6Addr& a) const {
  for (int bit = 0; bit < length; ++bit) {
    uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((a.bytes[bit / 8] & mask) != (addr.bytes[bit / 8] & mask)) {
      return false;
    }
  }
  return true;
}

std::string formatIpv6Prefix(const Ipv6Prefix& p) {
  return teredo::formatIpv6(p.addr) + "/" + std::to_string(p.length);
}

std::string_view toString(LogLevel v) {
  static constexpr std::string_view kNames[] = {"debug", "info", "warn", "error"};
  return kNames[static_cast<int>(v)];
}
std::string_view toString(LogFormat v) {
  return v == LogFormat::kJson ? "json" : "text";
}
std::string_view toString(RelayMode v) {
  return v == RelayMode::kHostSpecific ? "host-specific" : "relay";
}
std::string_view toString(OtherServerClients v) {
  return v == OtherServerClients::kDrop ? "drop" : "forward";
}

namespace detail {
namespace {

using Problem = std::optional<std::string>;
using std::chrono::milliseconds;

std::string quote(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

RawValue one(std::string s) {
  return RawValue{{std::move(s)}, {}};
}

/// Whether a change of the key can be applied live (restartRequired()). A distinct type so that
/// a stray string argument cannot silently convert to it.
enum class Reload { kLive, kRestart };
constexpr Reload kLive = Reload::kLive;
constexpr Reload kRestart = Reload::kRestart;

// Accessors are generic lambdas so that one of them serves both `T&` and `const T&`.
#define TEREDO_FIELD(path) \
  [](auto& c) -> auto& {   \
    return c.path;         \
  }

template <class T>
FieldSpec<T> makeField(std::string key, ValueKind kind, Reload restart,
                       std::function<Problem(T&, const RawValue&)> apply,
                       std::function<RawValue(const T&)> render,
                       std::vector<std::string> enumNames = {}) {
  FieldSpec<T> f;
  f.key = std::move(key);
  f.kind = kind;
  f.restart = restart == kRestart;
  f.enumNames = std::move(enumNames);
  f.apply = std::move(apply);
  f.render = std::move(render);
  return f;
}

template <class T, class Acc>
FieldSpec<T> boolField(std::string key, Acc acc, Reload restart = kLive) {
  return makeField<T>(
      std::move(key), ValueKind::kBool, restart,
      [acc](T& c, const RawValue& v) -> Problem {
        std::optional<bool> b = parseBool(v.items[0]);
        if (!b) {
          return "must be true or false, not " + quote(v.items[0]);
        }
        acc(c) = *b;
        return std::nullopt;
      },
      [acc](const T& c) { return one(acc(c) ? "true" : "false"); });
}

/// An unsigned number in [min, max]; `why` explains the bounds.
template <class T, class Acc>
FieldSpec<T> uintField(std::string key, Acc acc, uint64_t min, uint64_t max, Reload restart = kLive,
                       std::string why = "") {
  using Member = std::remove_reference_t<decltype(acc(std::declval<T&>()))>;
  ValueKind kind = sizeof(Member) == 8 ? ValueKind::kUint64 : ValueKind::kUint32;
  return makeField<T>(
      std::move(key), kind, restart,
      [acc, min, max, why](T& c, const RawValue& v) -> Problem {
        std::optional<uint64_t> n = parseUint(v.items[0]);
        if (!n) {
          return "must be a non-negative whole number, not " + quote(v.items[0]);
        }
        std::string reason = why.empty() ? "" : " (" + why + ")";
        if (*n < min) {
          return "must be >= " + std::to_string(min) + ", got " + v.items[0] + reason;
        }
        if (*n > max) {
          return "must be <= " + std::to_string(max) + ", got " + v.items[0] + reason;
        }
        acc(c) = static_cast<Member>(*n);
        return std::nullopt;
      },
      [acc](const T& c) { return one(std::to_string(acc(c))); });
}

template <class T, class Acc>
FieldSpec<T> durationField(std::string key, Acc acc, milliseconds min, milliseconds max,
                           Reload restart = kLive) {
  return makeField<T>(
      std::move(key), ValueKind::kDuration, restart,
      [acc, min, max](T& c, const RawValue& v) -> Problem {
        std::optional<milliseconds> d = parseDuration(v.items[0]);
        if (!d) {
          return "must be a duration in whole milliseconds with a unit (ms, s, m, h), e.g. "
                 "\"30s\", not " +
                 quote(v.items[0]);
        }
        if (*d < min || *d > max) {
          return "must be between " + formatDuration(min) + " and " + formatDuration(max) +
                 ", got " + v.items[0];
        }
        acc(c) = *d;
        return std::nullopt;
      },
      [acc](const T& c) { return one(formatDuration(acc(c))); });
}

/// A string checked by `check` (which returns the problem, if any).
template <class T, class Acc>
FieldSpec<T> stringField(std::string key, Acc acc, std::function<Problem(std::string_view)> check,
                         Reload restart = kLive) {
  return makeField<T>(
      std::move(key), ValueKind::kString, restart,
      [acc, check](T& c, const RawValue& v) -> Problem {
        if (Problem p = check(v.items[0])) {
          return p;
        }
        acc(c) = v.items[0];
        return std::nullopt;
      },
      [acc](const T& c) { return one(acc(c)); });
}

template <class T, class E, class Acc>
FieldSpec<T> enumField(std::string key, Acc acc, std::vector<std::string> names,
                       Reload restart = kLive) {
  return makeField<T>(
      std::move(key), ValueKind::kEnum, restart,
      [acc, names](T& c, const RawValue& v) -> Problem {
        for (size_t i = 0; i < names.size(); ++i) {
          if (names[i] == v.items[0]) {
            acc(c) = static_cast<E>(i);
            return std::nullopt;
          }
        }
        std::string list;
        for (const std::string& n : names) {
          if (!list.empty()) {
            list += ", ";
          }
          list += n;
        }
        return "must be one of " + list + ", not " + quote(v.items[0]);
      },
      [acc, names](const T& c) { return one(names.at(static_cast<size_t>(acc(c)))); }, names);
}

// ----- Value checks ----------------------------------------------------------------------------

Problem anyString(std::string_view) {
  return std::nullopt;
}

Problem absolutePath(std::string_view s) {
  if (s.empty() || s[0] != '/') {
    return "must be an absolute path, not " + quote(s);
  }
  return std::nullopt;
}

Problem optionalPath(std::string_view s) {
  if (s.find('\0') != std::string_view::npos) {
    return std::string("must not contain NUL");
  }
  return std::nullopt;
}

Problem agentId(std::string_view s) {
  if (s.empty() || s.size() > 253) {
    return std::string("must be 1 to 253 characters (omit the key to use the host name)");
  }
  for (char ch : s) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == '_';
    if (!ok) {
      return "may contain only letters, digits, '.', '-' and '_', not " + quote(s);
    }
  }
  return std::nullopt;
}

Problem interfaceName(std::string_view s) {
  // Linux: IFNAMSIZ (16) including the NUL; no '/', ':' or whitespace; not "." or "..".
  if (s.empty() || s.size() > 15) {
    return "must be 1 to 15 characters (Linux IFNAMSIZ), not " + quote(s);
  }
  if (s == "." || s == "..") {
    return "must not be " + quote(s);
  }
  for (char ch : s) {
    if (ch == '/' || ch == ':' || ch <= ' ' || ch == 0x7f) {
      return "must not contain '/', ':' or whitespace, not " + quote(s);
    }
  }
  return std::nullopt;
}

std::optional<uint16_t> parsePort(std::string_view s, bool allowZero) {
  std::optional<uint64_t> p = parseUint(s);
  if (!p || *p > 65535 || (*p == 0 && !allowZero)) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(*p);
}

bool validHostname(std::string_view h) {
  if (h.empty() || h.size() > 253) {
    return false;
  }
  for (char ch : h) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == '_';
    if (!ok) {
      return false;
    }
  }
  return true;
}

/// "unix:/abs/path", "host:port" ("[v6]:port" too). `listen` = a bind address (IP literal only).
Problem grpcAddress(std::string_view s, bool listen) {
  const char* example = listen ? "\"0.0.0.0:9546\", \"[::]:9546\" or \"unix:/run/teredo.sock\""
                               : "\"controller.example:9546\" or \"unix:/run/teredo.sock\"";
  std::string bad = "must be " + std::string(example) + ", not " + quote(s);
  if (s.substr(0, 5) == "unix:") {
    std::string_view path = s.substr(5);
    if (path.size() < 2 || path[0] != '/') {
      return "must name an absolute path after \"unix:\", not " + quote(s);
    }
    if (path.size() > 107) {
      return "Unix socket path is longer than 107 bytes (sun_path): " + quote(s);
    }
    return std::nullopt;
  }
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) {
    return bad;
  }
  std::string_view host = s.substr(0, colon);
  if (!parsePort(s.substr(colon + 1), listen)) {
    return bad;
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return teredo::parseIpv6(host.substr(1, host.size() - 2)) ? Problem{} : Problem{bad};
  }
  if (listen) {
    return teredo::parseIpv4(host) ? Problem{} : Problem{bad};
  }
  return validHostname(host) ? Problem{} : Problem{bad};
}

Problem listenAddress(std::string_view s) {
  return grpcAddress(s, true);
}
Problem optionalTarget(std::string_view s) {
  return s.empty() ? Problem{} : grpcAddress(s, false);
}

/// A Teredo prefix: "2001::", "2001::/32" or "2001:0::/32" (RFC 4380 §2.6). Returns bits 0..31.
std::optional<uint32_t> parseTeredoPrefix(std::string_view s, std::string& problem) {
  std::string_view text = s;
  size_t slash = s.find('/');
  if (slash != std::string_view::npos) {
    if (s.substr(slash + 1) != "32") {
      problem =
          "must be a /32 (RFC 4380 §2.6: the address layout needs exactly 32 prefix bits), "
          "not " +
          quote(s);
      return std::nullopt;
    }
    text = s.substr(0, slash);
  }
  std::optional<teredo::Ipv6Addr> a = teredo::parseIpv6(text);
  if (!a) {
    problem = "must be an IPv6 /32 such as \"2001::/32\", not " + quote(s);
    return std::nullopt;
  }
  if (a->word(1) != 0 || a->word(2) != 0 || a->word(3) != 0) {
    problem =
        "has bits set beyond the first 32; a Teredo prefix is a /32, e.g. \"2001::/32\", "
        "not " +
        quote(s);
    return std::nullopt;
  }
  teredo::Ipv6Addr full = *a;
  full.bytes[15] = 1;  // scope test on an address inside the prefix
  if (!full.isGlobalScope()) {
    problem = "must be a global unicast prefix (not multicast, link-local or site-local), not " +
              quote(s);
    return std::nullopt;
  }
  return a->word(0);
}

std::string formatTeredoPrefix(uint32_t prefix) {
  teredo::Ipv6Addr a;
  a.setWord(0, prefix);
  return teredo::formatIpv6(a) + "/32";
}

std::optional<Ipv6Prefix> parseIpv6Prefix(std::string_view s, std::string& problem) {
  Ipv6Prefix p;
  std::string_view text = s;
  p.length = 128;
  size_t slash = s.find('/');
  if (slash != std::string_view::npos) {
    std::optional<uint64_t> len = parseUint(s.substr(slash + 1));
    if (!len || *len > 128) {
      problem = "prefix length must be 0 to 128 in " + quote(s);
      return std::nullopt;
    }
    p.length = static_cast<uint8_t>(*len);
    text = s.substr(0, slash);
  }
  std::optional<teredo::Ipv6Addr> a = teredo::parseIpv6(text);
  if (!a) {
    problem = "must be an IPv6 prefix such as \"2001:db8::/32\", not " + quote(s);
    return std::nullopt;
  }
  p.addr = *a;
  Ipv6Prefix masked{teredo::Ipv6Addr{}, p.length};
  for (int bit = 0; bit < p.length; ++bit) {
    masked.addr.bytes[bit / 8] |= static_cast<uint8_t>(a->bytes[bit / 8] & (0x80 >> (bit % 8)));
  }
  if (!(masked.addr == p.addr)) {
    problem = "has host bits set beyond /" + std::to_string(p.length) + " in " + quote(s);
    return std::nullopt;
  }
  return p;
}

/// A list of IPv6 prefixes without host bits, at most `maxEntries`; `emptyProblem` (when not
/// empty) refuses an empty list.
template <class T, class Acc>
FieldSpec<T> prefixListField(std::string key, Acc acc, size_t maxEntries, std::string emptyProblem,
                             Reload restart) {
  return makeField<T>(
      std::move(key), ValueKind::kStringList, restart,
      [acc, maxEntries, emptyProblem](T& c, const RawValue& v) -> Problem {
        if (v.items.empty() && !emptyProblem.empty()) {
          return emptyProblem;
        }
        if (v.items.size() > maxEntries) {
          return "has more than " + std::to_string(maxEntries) + " entries";
        }
        std::vector<Ipv6Prefix> out;
        for (const std::string& item : v.items) {
          std::string problem;
          std::optional<Ipv6Prefix> p = parseIpv6Prefix(item, problem);
          if (!p) {
            return problem;
          }
          out.push_back(*p);
        }
        acc(c) = std::move(out);
        return std::nullopt;
      },
      [acc](const T& c) {
        RawValue v;
        for (const Ipv6Prefix& p : acc(c)) {
          v.items.push_back(formatIpv6Prefix(p));
        }
        return v;
      });
}

template <class T, class Acc>
FieldSpec<T> ipv4Field(std::string key, Acc acc, Reload restart) {
  return makeField<T>(
      std::move(key), ValueKind::kString, restart,
      [acc](T& c, const RawValue& v) -> Problem {
        std::optional<uint32_t> a = teredo::parseIpv4(v.items[0]);
        if (!a) {
          return "must be a dotted-quad IPv4 address such as \"198.51.100.10\", not " +
                 quote(v.items[0]);
        }
        acc(c) = *a;
        return std::nullopt;
      },
      [acc](const T& c) { return one(teredo::formatIpv4(acc(c))); });
}

template <class T, class Acc>
FieldSpec<T> adminListenField(Acc acc) {
  return makeField<T>(
      "admin.listen", ValueKind::kString, kRestart,
      [acc](T& c, const RawValue& v) -> Problem {
        if (!teredo::parseSocketAddress(v.items[0]).ok()) {
          return "must be \"ipv4:port\" or \"[ipv6]:port\" such as \"127.0.0.1:9544\" or "
                 "\"[::1]:9544\", not " +
                 quote(v.items[0]);
        }
        acc(c) = v.items[0];
        return std::nullopt;
      },
      [acc](const T& c) { return one(acc(c)); });
}

template <class T, class Acc>
FieldSpec<T> teredoPrefixField(std::string key, Acc acc, Reload restart) {
  return makeField<T>(
      std::move(key), ValueKind::kString, restart,
      [acc](T& c, const RawValue& v) -> Problem {
        std::string problem;
        std::optional<uint32_t> p = parseTeredoPrefix(v.items[0], problem);
        if (!p) {
          return problem;
        }
        acc(c) = *p;
        return std::nullopt;
      },
      [acc](const T& c) { return one(formatTeredoPrefix(acc(c))); });
}

std::vector<std::string> logLevelNames() {
  return {"debug", "info", "warn", "error"};
}
std::vector<std::string> logFormatNames() {
  return {"text", "json"};
}

template <class T>
void addLogFields(std::vector<FieldSpec<T>>& f) {
  f.push_back(enumField<T, LogLevel>("log.level", TEREDO_FIELD(log.level), logLevelNames()));
  f.push_back(enumField<T, LogFormat>("log.format", TEREDO_FIELD(log.format), logFormatNames()));
}

/// admin, log, agent, controller and global_policy: the sections every agent file shares.
template <class T>
void addAgentCommonFields(std::vector<FieldSpec<T>>& f) {
  f.push_back(adminListenField<T>(TEREDO_FIELD(admin.listen)));
  addLogFields(f);
  f.push_back(stringField<T>("agent.id", TEREDO_FIELD(agent.id), agentId, kRestart));
  f.push_back(
      stringField<T>("agent.state_dir", TEREDO_FIELD(agent.stateDir), absolutePath, kRestart));
  f.push_back(stringField<T>("controller.address", TEREDO_FIELD(controller.address), optionalTarget,
                             kRestart));
  f.push_back(stringField<T>("controller.tls.ca_file", TEREDO_FIELD(controller.tls.caFile),
                             optionalPath, kRestart));
  f.push_back(stringField<T>("controller.tls.cert_file", TEREDO_FIELD(controller.tls.certFile),
                             optionalPath, kRestart));
  f.push_back(stringField<T>("controller.tls.key_file", TEREDO_FIELD(controller.tls.keyFile),
                             optionalPath, kRestart));
  f.push_back(stringField<T>("controller.tls.server_name", TEREDO_FIELD(controller.tls.serverName),
                             anyString, kRestart));
  f.push_back(boolField<T>("global_policy.rfc6890_non_global",
                           TEREDO_FIELD(globalPolicy.rfc6890NonGlobal)));
}

std::string hostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') {
    return "localhost";
  }
  return buf;
}

/// Shared finishing rules of server and relay files.
template <class T>
void finishAgentCommon(T& c, const RawDoc& doc, ErrorSink& errors) {
  if (!doc.has("agent.id") && !errors.failed("agent.id")) {
    c.agent.id = hostName();
    if (agentId(c.agent.id)) {
      errors.add("agent.id", "the host name " + quote(c.agent.id) +
                                 " is not a valid agent id; set agent.id explicitly");
    }
  }
  const ClientTls& tls = c.controller.tls;
  if (!tls.certFile.empty() && tls.keyFile.empty()) {
    errors.add("controller.tls.key_file", "is required when controller.tls.cert_file is set");
  }
  if (tls.certFile.empty() && !tls.keyFile.empty()) {
    errors.add("controller.tls.cert_file", "is required when controller.tls.key_file is set");
  }
  bool anyTls = !tls.caFile.empty() || !tls.certFile.empty() || !tls.keyFile.empty() ||
                !tls.serverName.empty();
  if (anyTls && c.controller.address.empty()) {
    errors.add("controller.address",
               "is required when controller.tls.* is set (TLS settings without a controller "
               "would be ignored)");
  }
}

bool inRfc6890Block(uint32_t a) {
  return (a & 0xFFC00000) == 0x64400000 || (a & 0xFFFFFF00) == 0xC0000000 ||
         (a & 0xFFFE0000) == 0xC6120000 || (a & 0xF0000000) == 0xF0000000;
}

/// Why `a` is not global, for an error message; empty when it is global.
std::string notGlobalReason(uint32_t a, const teredo::GlobalPolicy& policy) {
  if (teredo::isGlobalUnicast(a, policy)) {
    return "";
  }
  std::string r = teredo::formatIpv4(a) + " is not a global unicast IPv4 address (RFC 4380 §5.2.4)";
  teredo::GlobalPolicy lax;
  lax.rfc6890NonGlobal = false;
  if (inRfc6890Block(a) && teredo::isGlobalUnicast(a, lax)) {
    r += "; it is in an RFC 6890 special-purpose block: set global_policy.rfc6890_non_global: "
         "false to use it in a lab";
  }
  return r;
}

bool isStandardPrefix(uint32_t prefix) {
  return prefix == teredo::kDefaultPrefix || prefix == teredo::kLegacyPrefix;
}

void checkMtuForPrefix(uint32_t mtu, uint32_t prefix, const std::string& mtuKey,
                       const std::string& prefixKey, ErrorSink& errors) {
  if (mtu != kDefaultMtu && isStandardPrefix(prefix) && !errors.anyFailed({mtuKey, prefixKey})) {
    errors.add(mtuKey, "must be 1280 with the public Teredo prefix " + formatTeredoPrefix(prefix) +
                           ": every client of the public service assumes 1280 (RFC 4380 §5.1.2; "
                           "the Miredo docs forbid changing it); set " +
                           prefixKey + " to a private /32 to use another MTU");
  }
}

// ----- Server ----------------------------------------------------------------------------------

using SC = ServerConfig;

void finishServer(SC& c, const RawDoc& doc, ErrorSink& errors) {
  finishAgentCommon(c, doc, errors);
  ServerSettings& s = c.server;
  const teredo::GlobalPolicy& policy = c.globalPolicy;
  if (!doc.has("server.primary_address") && !errors.failed("server.primary_address")) {
    errors.add("server.primary_address",
               "is required: the public IPv4 address clients are configured with");
  } else if (!errors.failed("server.primary_address")) {
    if (std::string why = notGlobalReason(s.primaryAddress, policy); !why.empty()) {
      errors.add("server.primary_address", why + "; clients must reach the server at it");
    }
  }
  if (!errors.failed("server.primary_address") && !errors.failed("server.secondary_address")) {
    uint32_t next = s.primaryAddress + 1;
    if (!doc.has("server.secondary_address")) {
      if (s.primaryAddress == UINT32_MAX) {
        errors.add("server.secondary_address", "cannot default to primary + 1; set it");
      } else {
        s.secondaryAddress = next;
        if (std::string why = notGlobalReason(next, policy); !why.empty()) {
          errors.add("server.secondary_address",
                     "defaults to server.primary_address + 1, but " + why + "; set it explicitly");
        }
      }
    } else if (doc.has("server.primary_address")) {
      if (s.secondaryAddress == s.primaryAddress) {
        errors.add("server.secondary_address",
                   "must differ from server.primary_address: NAT type detection needs two "
                   "addresses (RFC 4380 §5.2.1)");
      } else if (s.secondaryAddress != next && !s.allowNonconsecutive) {
        errors.add("server.secondary_address",
                   "is " + teredo::formatIpv4(s.secondaryAddress) +
                       ", not server.primary_address + 1 (" + teredo::formatIpv4(next) +
                       "): Windows clients and Miredo assume consecutive addresses; set "
                       "server.allow_nonconsecutive: true only if every client is configured "
                       "with both");
      } else if (std::string why = notGlobalReason(s.secondaryAddress, policy); !why.empty()) {
        errors.add("server.secondary_address", why);
      }
    }
  }
  checkMtuForPrefix(s.mtu, s.prefix, "server.mtu", "server.prefix", errors);
  if (s.rateLimit.rsPerSecond > 0 && s.rateLimit.rsBurst == 0) {
    errors.add("server.rate_limit.rs_burst",
               "must be >= 1 when server.rate_limit.rs_per_second is set (0 would drop every RS)");
  }
  if (s.rateLimit.forwardGlobalPerSecond > 0 && s.rateLimit.forwardGlobalBurst == 0) {
    errors.add("server.rate_limit.forward_global_burst",
               "must be >= 1 when server.rate_limit.forward_global_per_second is set (0 would "
               "drop every forwarded packet)");
  }
  if (s.rateLimit.forwardPerSecond > 0 && s.rateLimit.forwardBurst == 0) {
    errors.add("server.rate_limit.forward_burst",
               "must be >= 1 when server.rate_limit.forward_per_second is set (0 would drop "
               "every forwarded packet)");
  }
}

Schema<SC> makeServerSchema() {
  Schema<SC> s;
  auto& f = s.fields;
  addAgentCommonFields(f);
  f.push_back(
      ipv4Field<SC>("server.primary_address", TEREDO_FIELD(server.primaryAddress), kRestart));
  f.push_back(
      ipv4Field<SC>("server.secondary_address", TEREDO_FIELD(server.secondaryAddress), kRestart));
  f.push_back(
      boolField<SC>("server.allow_nonconsecutive", TEREDO_FIELD(server.allowNonconsecutive)));
  f.push_back(uintField<SC>("server.port", TEREDO_FIELD(server.port), 1, 65535, kRestart,
                            "clients always use 3544, RFC 4380 §2.7"));
  f.push_back(teredoPrefixField<SC>("server.prefix", TEREDO_FIELD(server.prefix), kLive));
  f.push_back(uintField<SC>("server.mtu", TEREDO_FIELD(server.mtu), kMinMtu, kMaxMtu, kLive,
                            "IPv6 minimum link MTU, RFC 8200 §5; RFC 4861 §4.6.4"));
  f.push_back(boolField<SC>("server.advertise_mtu", TEREDO_FIELD(server.advertiseMtu)));
  f.push_back(boolField<SC>("server.strict_rs", TEREDO_FIELD(server.strictRs)));
  f.push_back(
      uintField<SC>("server.workers", TEREDO_FIELD(server.workers), 0, kMaxWorkers, kRestart));
  f.push_back(uintField<SC>("server.socket_receive_buffer_bytes",
                            TEREDO_FIELD(server.socketReceiveBufferBytes), 0, kMaxSocketBufferBytes,
                            kRestart));
  f.push_back(uintField<SC>("server.socket_send_buffer_bytes",
                            TEREDO_FIELD(server.socketSendBufferBytes), 0, kMaxSocketBufferBytes,
                            kRestart));
  f.push_back(uintField<SC>("server.rate_limit.rs_per_second",
                            TEREDO_FIELD(server.rateLimit.rsPerSecond), 0, 1'000'000));
  f.push_back(uintField<SC>("server.rate_limit.rs_burst", TEREDO_FIELD(server.rateLimit.rsBurst), 0,
                            1'000'000));
  f.push_back(uintField<SC>("server.rate_limit.table_size",
                            TEREDO_FIELD(server.rateLimit.tableSize), 1, 1u << 24, kRestart,
                            "tracked source addresses; memory is bounded by it"));
  f.push_back(uintField<SC>("server.rate_limit.forward_per_second",
                            TEREDO_FIELD(server.rateLimit.forwardPerSecond), 0, 1'000'000));
  f.push_back(uintField<SC>("server.rate_limit.forward_burst",
                            TEREDO_FIELD(server.rateLimit.forwardBurst), 0, 1'000'000));
  f.push_back(uintField<SC>("server.rate_limit.forward_global_per_second",
                            TEREDO_FIELD(server.rateLimit.forwardGlobalPerSecond), 0, 10'000'000));
  f.push_back(uintField<SC>("server.rate_limit.forward_global_burst",
                            TEREDO_FIELD(server.rateLimit.forwardGlobalBurst), 0, 10'000'000));
  f.push_back(
      boolField<SC>("server.ipv6_forward.enabled", TEREDO_FIELD(server.ipv6Forward.enabled)));
  f.push_back(
      boolField<SC>("server.ipv6_forward.echo_only", TEREDO_FIELD(server.ipv6Forward.echoOnly)));
  f.push_back(uintField<SC>("server.ipv6_forward.max_packet_bytes",
                            TEREDO_FIELD(server.ipv6Forward.maxPacketBytes), kMinForwardPacketBytes,
                            kMinMtu, kLive,
                            "IPv6 packet and trailers: header + ICMPv6 header at least, one "
                            "1280-byte packet at most"));
  f.push_back(enumField<SC, OtherServerClients>(
      "server.other_server_clients", TEREDO_FIELD(server.otherServerClients), {"forward", "drop"}));
  f.push_back(uintField<SC>("server.max_bubble_bytes", TEREDO_FIELD(server.maxBubbleBytes),
                            40 /* an IPv6 header */, kMinMtu, kLive,
                            "a bubble is 40 bytes plus its RFC 6081 trailers; one 1280-byte "
                            "packet at most"));
  f.push_back(
      boolField<SC>("server.nat_observation.enabled", TEREDO_FIELD(server.natObservation.enabled)));
  f.push_back(uintField<SC>("server.nat_observation.table_size",
                            TEREDO_FIELD(server.natObservation.tableSize), 1, 1u << 24, kRestart));
  // Restart: the observer's windows are laid out at start.
  f.push_back(durationField<SC>("server.nat_observation.window",
                                TEREDO_FIELD(server.natObservation.window), milliseconds(1000),
                                milliseconds(3'600'000), kRestart));
  s.finish = finishServer;
  s.isComputedDefault = [](const SC& c, std::string_view key) {
    return key == "server.secondary_address" &&
           c.server.secondaryAddress == c.server.primaryAddress + 1;
  };
  return s;
}

// ----- Relay -----------------------------------------------------------------------------------

using RC = RelayConfig;

/// relay.announce: the prefixes default to the relay's own /32 and must lie inside it, because
/// the tun is routed only that prefix and announcing more would attract traffic the relay
/// black-holes; a host-specific relay serves one host and never announces.
void finishRelayAnnounce(RelaySettings& r, const RawDoc& doc, ErrorSink& errors) {
  RelayAnnounce& a = r.announce;
  if (errors.anyFailed({"relay.prefix", "relay.announce.prefixes"})) {
    return;
  }
  if (!doc.has("relay.announce.prefixes")) {
    Ipv6Prefix own{teredo::Ipv6Addr{}, 32};
    own.addr.setWord(0, r.prefix);
    a.prefixes = {own};
  }
  for (size_t i = 0; i < a.prefixes.size(); ++i) {
    const Ipv6Prefix& p = a.prefixes[i];
    if (p.length < 32 || p.addr.word(0) != r.prefix) {
      errors.add("relay.announce.prefixes",
                 formatIpv6Prefix(p) + " is not inside relay.prefix " +
                     formatTeredoPrefix(r.prefix) +
                     ", the only prefix the relay routes to its tun; announcing it would "
                     "attract traffic the relay cannot carry");
    }
    for (size_t j = 0; j < i; ++j) {
      if (a.prefixes[j] == p) {
        errors.add("relay.announce.prefixes", formatIpv6Prefix(p) + " is listed twice");
      }
    }
  }
  if (a.enabled && r.mode == RelayMode::kHostSpecific && !errors.failed("relay.mode")) {
    errors.add("relay.announce.enabled",
               "must be false with relay.mode: host-specific: such a relay carries only this "
               "host's traffic and must never attract anyone else's (RFC 4380 §3.4)");
  }
}

void finishRelay(RC& c, const RawDoc& doc, ErrorSink& errors) {
  finishAgentCommon(c, doc, errors);
  RelaySettings& r = c.relay;
  if (!errors.failed("relay.bind_address") && r.bindAddress != 0 && !r.behindNat) {
    if (std::string why = notGlobalReason(r.bindAddress, c.globalPolicy); !why.empty()) {
      errors.add("relay.bind_address",
                 why +
                     ": clients and servers must reach the relay at it (RFC 4380 §5.4.1); use "
                     "0.0.0.0, a public address, or set relay.behind_nat: true");
    }
  }
  checkMtuForPrefix(r.mtu, r.prefix, "relay.mtu", "relay.prefix", errors);
  if (r.mode == RelayMode::kHostSpecific && r.hostAddresses.empty() &&
      !errors.failed("relay.host_addresses")) {
    errors.add("relay.host_addresses",
               "is required with relay.mode: host-specific: the native IPv6 addresses of this "
               "host (RFC 4380 §3.4, §7.3.1)");
  }
  if (r.mode == RelayMode::kRelay && !r.hostAddresses.empty()) {
    errors.add("relay.host_addresses",
               "is only used with relay.mode: host-specific; remove it or set the mode");
  }
  if (!errors.failed("relay.prefix")) {
    for (const teredo::Ipv6Addr& a : r.hostAddresses) {
      if (teredo::isTeredo(a, r.prefix)) {
        errors.add("relay.host_addresses", teredo::formatIpv6(a) +
                                               " is a Teredo address; host addresses must be "
                                               "native IPv6");
      }
    }
    for (const Ipv6Prefix& p : r.servedPrefixes) {
      if (p.length >= 32 && teredo::isTeredo(p.addr, r.prefix)) {
        errors.add("relay.served_prefixes",
                   formatIpv6Prefix(p) + " lies inside the Teredo prefix " +
                       formatTeredoPrefix(r.prefix) + "; a relay delivers to native IPv6 only");
      }
    }
  }
  finishRelayAnnounce(r, doc, errors);
  if (r.queueBytesPerPeer > r.queueBytesTotal &&
      !errors.anyFailed({"relay.queue_bytes_per_peer", "relay.queue_bytes_total"})) {
    errors.add("relay.queue_bytes_per_peer", "must not exceed relay.queue_bytes_total (" +
                                                 std::to_string(r.queueBytesTotal) + ")");
  }
  if (r.bubble.window < r.bubble.minInterval * r.bubble.maxPerWindow &&
      !errors.anyFailed(
          {"relay.bubble.window", "relay.bubble.min_interval", "relay.bubble.max_per_window"})) {
    errors.add("relay.bubble.window",
               "must be at least relay.bubble.min_interval x relay.bubble.max_per_window (" +
                   formatDuration(r.bubble.minInterval * r.bubble.maxPerWindow) +
                   "), or the per-window cap never applies");
  }
}

Schema<RC> makeRelaySchema() {
  Schema<RC> s;
  s.defaults = RC{};
  auto& f = s.fields;
  addAgentCommonFields(f);
  f.push_back(ipv4Field<RC>("relay.bind_address", TEREDO_FIELD(relay.bindAddress), kRestart));
  f.push_back(uintField<RC>("relay.port", TEREDO_FIELD(relay.port), 1, 65535, kRestart,
                            "a fixed port shared by every worker's SO_REUSEPORT socket; 0 "
                            "(ephemeral) would change at each restart"));
  f.push_back(
      stringField<RC>("relay.interface", TEREDO_FIELD(relay.interface), interfaceName, kRestart));
  f.push_back(uintField<RC>("relay.mtu", TEREDO_FIELD(relay.mtu), kMinMtu, kMaxMtu, kRestart,
                            "IPv6 minimum link MTU, RFC 8200 §5"));
  f.push_back(teredoPrefixField<RC>("relay.prefix", TEREDO_FIELD(relay.prefix), kRestart));
  f.push_back(enumField<RC, RelayMode>("relay.mode", TEREDO_FIELD(relay.mode),
                                       {"relay", "host-specific"}, kRestart));
  f.push_back(makeField<RC>(
      // Restart: the tun's source-specific routes are made from these addresses at start.
      "relay.host_addresses", ValueKind::kStringList, kRestart,
      [](RC& c, const RawValue& v) -> Problem {
        if (v.items.size() > kMaxListEntries) {
          return "has more than " + std::to_string(kMaxListEntries) + " entries";
        }
        std::vector<teredo::Ipv6Addr> out;
        for (const std::string& item : v.items) {
          std::optional<teredo::Ipv6Addr> a = teredo::parseIpv6(item);
          if (!a) {
            return "must list IPv6 addresses, not " + quote(item);
          }
          if (!a->isGlobalScope()) {
            return quote(item) + " is not a global IPv6 address";
          }
          out.push_back(*a);
        }
        c.relay.hostAddresses = std::move(out);
        return std::nullopt;
      },
      [](const RC& c) {
        RawValue v;
        for (const teredo::Ipv6Addr& a : c.relay.hostAddresses) {
          v.items.push_back(teredo::formatIpv6(a));
        }
        return v;
      }));
  f.push_back(prefixListField<RC>(
      "relay.served_prefixes", TEREDO_FIELD(relay.servedPrefixes), kMaxListEntries,
      "must not be empty (\"::/0\" serves every global destination)", kLive));
  f.push_back(boolField<RC>("relay.behind_nat", TEREDO_FIELD(relay.behindNat)));
  f.push_back(
      uintField<RC>("relay.workers", TEREDO_FIELD(relay.workers), 0, kMaxWorkers, kRestart));
  f.push_back(uintField<RC>("relay.socket_receive_buffer_bytes",
                            TEREDO_FIELD(relay.socketReceiveBufferBytes), 0, kMaxSocketBufferBytes,
                            kRestart));
  f.push_back(uintField<RC>("relay.socket_send_buffer_bytes",
                            TEREDO_FIELD(relay.socketSendBufferBytes), 0, kMaxSocketBufferBytes,
                            kRestart));
  f.push_back(
      uintField<RC>("relay.max_peers", TEREDO_FIELD(relay.maxPeers), 1, kMaxMaxPeers, kRestart));
  f.push_back(makeField<RC>(
      // Restart: the peer table's queue limits are fixed when it is built.
      "relay.queue_bytes_per_peer", ValueKind::kUint32, kRestart,
      [](RC& c, const RawValue& v) -> Problem {
        std::optional<uint64_t> n = parseUint(v.items[0]);
        if (!n) {
          return "must be a non-negative whole number, not " + quote(v.items[0]);
        }
        if (*n != 0 && *n < kMinMtu) {
          return "must be 0 (no queueing) or >= 1280 to hold one full-size packet, got " +
                 v.items[0];
        }
        if (*n > kMaxQueueBytesPerPeer) {
          return "must be <= " + std::to_string(kMaxQueueBytesPerPeer) + ", got " + v.items[0];
        }
        c.relay.queueBytesPerPeer = static_cast<uint32_t>(*n);
        return std::nullopt;
      },
      [](const RC& c) { return one(std::to_string(c.relay.queueBytesPerPeer)); }));
  f.push_back(uintField<RC>("relay.queue_bytes_total", TEREDO_FIELD(relay.queueBytesTotal), 0,
                            kMaxQueueBytesTotal, kRestart));
  // Restart: the table's expiry and the decisions must agree on it.
  f.push_back(durationField<RC>("relay.trust_timeout", TEREDO_FIELD(relay.trustTimeout),
                                milliseconds(1000), milliseconds(600'000), kRestart));
  f.push_back(durationField<RC>("relay.bubble.min_interval", TEREDO_FIELD(relay.bubble.minInterval),
                                milliseconds(100), milliseconds(60'000)));
  f.push_back(uintField<RC>("relay.bubble.max_per_window", TEREDO_FIELD(relay.bubble.maxPerWindow),
                            1, 100));
  f.push_back(durationField<RC>("relay.bubble.window", TEREDO_FIELD(relay.bubble.window),
                                milliseconds(1000), milliseconds(3'600'000)));
  f.push_back(uintField<RC>("relay.icmp_errors_per_second", TEREDO_FIELD(relay.icmpErrorsPerSecond),
                            0, 100'000));
  f.push_back(
      uintField<RC>("relay.icmp_errors_burst", TEREDO_FIELD(relay.icmpErrorsBurst), 1, 100'000));
  f.push_back(
      uintField<RC>("relay.batch_delay_us", TEREDO_FIELD(relay.batchDelayUs), 0, kMaxBatchDelayUs));
  f.push_back(boolField<RC>("relay.offloads", TEREDO_FIELD(relay.offloads), kRestart));
  f.push_back(boolField<RC>("relay.io_uring", TEREDO_FIELD(relay.ioUring), kRestart));
  f.push_back(boolField<RC>("relay.accept_unknown_peers", TEREDO_FIELD(relay.acceptUnknownPeers)));
  f.push_back(boolField<RC>("relay.cone_shortcut", TEREDO_FIELD(relay.coneShortcut)));
  // Privileges are settled at boot: an announcing relay keeps CAP_NET_ADMIN for its routes, any
  // other drops it, so switching the announcement on or off takes a restart. The other announce
  // keys are live: the relay withdraws what the old block announced and adds what the new one
  // asks for.
  f.push_back(
      boolField<RC>("relay.announce.enabled", TEREDO_FIELD(relay.announce.enabled), kRestart));
  f.push_back(prefixListField<RC>("relay.announce.prefixes", TEREDO_FIELD(relay.announce.prefixes),
                                  kMaxAnnouncePrefixes, "must not be empty", kLive));
  f.push_back(makeField<RC>(
      "relay.announce.table", ValueKind::kUint32, kLive,
      [](RC& c, const RawValue& v) -> Problem {
        std::optional<uint64_t> n = parseUint(v.items[0]);
        if (!n || *n > UINT32_MAX) {
          return "must be a routing table id from 1 to 4294967295, not " + quote(v.items[0]);
        }
        // 0 is "unspecified"; 253-255 are the kernel's default, main and local tables, which
        // carry the host's own routes: a speaker exporting them would leak far more.
        if (*n == 0 || (*n >= 253 && *n <= 255)) {
          return "must be a table of its own, not " + v.items[0] +
                 " (0 is unspecified; 253, 254, 255 are the kernel's default, main and local "
                 "tables)";
        }
        c.relay.announce.table = static_cast<uint32_t>(*n);
        return std::nullopt;
      },
      [](const RC& c) { return one(std::to_string(c.relay.announce.table)); }));
  f.push_back(uintField<RC>("relay.announce.protocol", TEREDO_FIELD(relay.announce.protocol), 5,
                            255, kLive,
                            "the route protocol number the speaker matches; 0-4 are the "
                            "kernel's own"));
  f.push_back(
      uintField<RC>("relay.announce.metric", TEREDO_FIELD(relay.announce.metric), 0, UINT32_MAX));
  f.push_back(durationField<RC>("relay.announce.withdraw_grace",
                                TEREDO_FIELD(relay.announce.withdrawGrace), milliseconds(0),
                                milliseconds(600'000)));
  s.finish = finishRelay;
  s.isComputedDefault = [](const RC& c, std::string_view key) {
    if (key != "relay.announce.prefixes" || c.relay.announce.prefixes.size() != 1) {
      return false;
    }
    const Ipv6Prefix& p = c.relay.announce.prefixes[0];
    return p.length == 32 && p.addr.word(0) == c.relay.prefix;
  };
  return s;
}

// ----- Controller ------------------------------------------------------------------------------

using CC = ControllerConfig;

void finishController(CC& c, const RawDoc&, ErrorSink& errors) {
  const ServerTls& tls = c.tls;
  if (!tls.certFile.empty() && tls.keyFile.empty()) {
    errors.add("tls.key_file", "is required when tls.cert_file is set");
  }
  if (tls.certFile.empty() && !tls.keyFile.empty()) {
    errors.add("tls.cert_file", "is required when tls.key_file is set");
  }
  if (tls.requireClientCert && (tls.caFile.empty() || tls.certFile.empty())) {
    errors.add("tls.require_client_cert",
               "needs tls.cert_file, tls.key_file and tls.ca_file (the CA that signs agent and "
               "operator certificates)");
  }
  if (c.controller.authTokenFile.empty() && c.controller.authAccessFile.empty()) {
    errors.add("controller.auth.token_file",
               "or controller.auth.access_file is required: the admin API must authenticate "
               "operators (a client certificate alone authorises nothing unless the access file "
               "lists it)");
  }
  if (c.controller.agentListen == c.controller.adminListen &&
      !errors.anyFailed({"controller.agent_listen", "controller.admin_listen"})) {
    errors.add("controller.admin_listen", "must differ from controller.agent_listen");
  }
}

Schema<CC> makeControllerSchema() {
  Schema<CC> s;
  auto& f = s.fields;
  f.push_back(adminListenField<CC>(TEREDO_FIELD(admin.listen)));
  addLogFields(f);
  f.push_back(stringField<CC>("controller.agent_listen", TEREDO_FIELD(controller.agentListen),
                              listenAddress, kRestart));
  f.push_back(stringField<CC>("controller.admin_listen", TEREDO_FIELD(controller.adminListen),
                              listenAddress, kRestart));
  f.push_back(stringField<CC>("controller.state_dir", TEREDO_FIELD(controller.stateDir),
                              absolutePath, kRestart));
  f.push_back(stringField<CC>("controller.auth.token_file", TEREDO_FIELD(controller.authTokenFile),
                              optionalPath));
  f.push_back(stringField<CC>("controller.auth.access_file",
                              TEREDO_FIELD(controller.authAccessFile), optionalPath));
  f.push_back(durationField<CC>("controller.debounce", TEREDO_FIELD(controller.debounce),
                                milliseconds(0), milliseconds(60'000)));
  f.push_back(durationField<CC>("controller.stats_interval", TEREDO_FIELD(controller.statsInterval),
                                milliseconds(1000), milliseconds(3'600'000)));
  f.push_back(stringField<CC>("tls.cert_file", TEREDO_FIELD(tls.certFile), optionalPath, kRestart));
  f.push_back(stringField<CC>("tls.key_file", TEREDO_FIELD(tls.keyFile), optionalPath, kRestart));
  f.push_back(stringField<CC>("tls.ca_file", TEREDO_FIELD(tls.caFile), optionalPath, kRestart));
  f.push_back(
      boolField<CC>("tls.require_client_cert", TEREDO_FIELD(tls.requireClientCert), kRestart));
  s.finish = finishController;
  s.isComputedDefault = [](const CC&, std::string_view) { return false; };
  return s;
}

#undef TEREDO_FIELD

}  // namespace

const Schema<ServerConfig>& serverSchema() {
  static const Schema<ServerConfig> schema = makeServerSchema();
  return schema;
}
const Schema<RelayConfig>& relaySchema() {
  static const Schema<RelayConfig> schema = makeRelaySchema();
  return schema;
}
const Schema<ControllerConfig>& controllerSchema() {
  static const Schema<ControllerConfig> schema = makeControllerSchema();
  return schema;
}

}  // namespace detail
}  // namespace teredo::config

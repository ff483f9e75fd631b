// teredoctl: the operator CLI for teredo-controller's AdminService. Every call of the API;
// readable tables by default, proto JSON with --json.
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "config/miredo_import.h"
#include "teredo/build_info.h"
#include "teredo/v1/admin.grpc.pb.h"

#ifdef TEREDO_HAVE_CONFIG_PROTO
#include "config/proto_translate.h"
#endif

namespace {

namespace v1 = teredo::v1;

constexpr const char* kUsage = R"(usage: teredoctl [global options] COMMAND [args]

Global options:
  --controller ADDR   admin API address, host:port or unix:/path (default 127.0.0.1:9548,
                      or $TEREDOCTL_CONTROLLER)
  --token-file FILE   bearer token for the admin API
  --tls-ca FILE       CA certificate; enables TLS
  --tls-cert FILE     client certificate (mTLS)     --tls-key FILE   its key
  --tls-server-name N expected name in the controller's certificate
  --json              print the API response as JSON
  --timeout SECONDS   per-call deadline (default 10)
  --help, --version

Commands:
  agents list [--role server|relay] [--state connected|disconnected]
  agents get ID
  stats fleet [--role server|relay]
  stats nat
  config get [--version N] [--agent ID | --role server|relay]
  config set FILE (--role server|relay | --agent ID) [--dry-run] [--expected-version N]
             [--comment TEXT]     FILE: YAML (lib/config keys) or AgentConfig JSON (*.json)
  config remove --agent ID [--dry-run] [--comment TEXT]
  config history [--limit N]
  config rollback VERSION [--dry-run] [--comment TEXT]
  drain (ID | --role server|relay)
  undrain (ID | --role server|relay)
  config from-miredo FILE --role server|relay
             convert a miredo-server.conf (server) or miredo.conf (relay) into our YAML on
             stdout; notes on stderr; nothing is printed and the exit status is 1 when a
             directive cannot be converted. Needs no controller.
)";

struct Options {
  std::string controller = "127.0.0.1:9548";
  std::string tokenFile, caFile, certFile, keyFile, serverName;
  bool json = false;
  int timeoutSeconds = 10;
  std::vector<std::string> args;             // positional
  std::map<std::string, std::string> flags;  // command flags with a value
  std::map<std::string, bool> switches;      // command flags without a value
};

bool readFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

int fail(const std::string& message) {
  std::cerr << "teredoctl: " << message << "\n";
  return 1;
}

const char* codeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    default:
      return "ERROR";
  }
}

int reportError(const grpc::Status& status) {
  std::cerr << "teredoctl: " << codeName(status.error_code()) << ": " << status.error_message()
            << "\n";
  v1::RpcStatus rpc;
  if (!status.error_details().empty() && rpc.ParseFromString(status.error_details())) {
    for (const auto& any : rpc.details()) {
      v1::BadRequest bad;
      if (any.type_url() == "type.googleapis.com/google.rpc.BadRequest" &&
          bad.ParseFromString(any.value())) {
        for (const auto& v : bad.field_violations()) {
          std::cerr << "  " << v.field() << ": " << v.description() << "\n";
        }
      }
    }
  }
  return status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ? 3 : 1;
}

std::string toJson(const google::protobuf::Message& msg) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(msg, &out, opts);
  return out;
}

std::string roleText(v1::Role r) {
  return r == v1::ROLE_SERVER ? "server" : r == v1::ROLE_RELAY ? "relay" : "-";
}

bool parseRole(const std::string& text, v1::Role* role) {
  if (text == "server") {
    *role = v1::ROLE_SERVER;
  } else if (text == "relay") {
    *role = v1::ROLE_RELAY;
  } else {
    return false;
  }
  return true;
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

// A simple left-aligned table.
void printTable(const std::vector<std::vector<std::string>>& rows) {
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
    std::cout << line << "\n";
  }
}

class Client {
 public:
  explicit Client(const Options& o) : options_(o) {}

  bool connect(std::string* error) {
    std::shared_ptr<grpc::ChannelCredentials> creds;
    grpc::ChannelArguments args;
    if (!options_.caFile.empty() || !options_.certFile.empty()) {
      grpc::SslCredentialsOptions ssl;
      if (!options_.caFile.empty() && !readFile(options_.caFile, &ssl.pem_root_certs)) {
        *error = "cannot read --tls-ca " + options_.caFile;
        return false;
      }
      if (!options_.certFile.empty() && (!readFile(options_.certFile, &ssl.pem_cert_chain) ||
                                         !readFile(options_.keyFile, &ssl.pem_private_key))) {
        *error = "cannot read --tls-cert/--tls-key";
        return false;
      }
      if (!options_.serverName.empty()) {
        args.SetSslTargetNameOverride(options_.serverName);
      }
      creds = grpc::SslCredentials(ssl);
    } else {
      creds = grpc::InsecureChannelCredentials();
    }
    if (!options_.tokenFile.empty()) {
      if (!readFile(options_.tokenFile, &token_)) {
        *error = "cannot read --token-file " + options_.tokenFile;
        return false;
      }
      while (!token_.empty() &&
             (token_.back() == '\n' || token_.back() == '\r' || token_.back() == ' ')) {
        token_.pop_back();
      }
    }
    stub_ = v1::AdminService::NewStub(grpc::CreateCustomChannel(options_.controller, creds, args));
    return true;
  }

  void prepare(grpc::ClientContext* ctx) const {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(options_.timeoutSeconds));
    if (!token_.empty()) {
      ctx->AddMetadata("authorization", "Bearer " + token_);
    }
  }

  v1::AdminService::Stub& stub() { return *stub_; }

 private:
  const Options& options_;
  std::string token_;
  std::unique_ptr<v1::AdminService::Stub> stub_;
};

// Calls one RPC and prints the response as JSON or through `print`.
template <class Req, class Resp, class Method, class Print>
int call(Client& client, const Options& o, Method method, const Req& req, Print print) {
  grpc::ClientContext ctx;
  client.prepare(&ctx);
  Resp resp;
  const grpc::Status s = (client.stub().*method)(&ctx, req, &resp);
  if (!s.ok()) {
    return reportError(s);
  }
  if (o.json) {
    std::cout << toJson(resp);
  } else {
    print(resp);
  }
  return 0;
}

void printAgents(const v1::ListAgentsResponse& r) {
  std::vector<std::vector<std::string>> rows = {{"AGENT", "ROLE", "STATE", "CONFIG", "DESIRED",
                                                 "APPLIED", "DRAIN", "PKT/S", "PEERS", "LAST NACK",
                                                 "BUILD"}};
  for (const auto& a : r.agents()) {
    char pps[32];
    std::snprintf(pps, sizeof(pps), "%.1f", a.headline().udp_packets_per_second());
    rows.push_back({a.agent_id(), roleText(a.role()),
                    a.state() == v1::AGENT_STATE_CONNECTED ? "connected" : "disconnected",
                    syncText(a.sync_state()), std::to_string(a.desired_version()),
                    std::to_string(a.applied_version()), a.draining() ? "yes" : "no", pps,
                    std::to_string(a.headline().relay_peers()),
                    a.has_last_nack() ? "v" + std::to_string(a.last_nack().version()) : "-",
                    a.build_version()});
  }
  printTable(rows);
}

void printAgent(const v1::GetAgentResponse& r) {
  const auto& a = r.agent();
  std::vector<std::vector<std::string>> rows = {
      {"agent", a.agent_id()},
      {"instance", a.instance_uid()},
      {"role", roleText(a.role())},
      {"build", a.build_version()},
      {"state", a.state() == v1::AGENT_STATE_CONNECTED ? "connected" : "disconnected"},
      {"connected since", timeText(a.connected_since())},
      {"last seen", timeText(a.last_seen())},
      {"config", syncText(a.sync_state())},
      {"desired version", std::to_string(a.desired_version())},
      {"sent version", std::to_string(a.sent_version())},
      {"applied version", std::to_string(a.applied_version())},
      {"config lag (s)", std::to_string(a.config_lag_seconds())},
      {"draining", a.draining() ? "yes" : "no"},
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
  printTable(rows);
}

void printRoleStats(const v1::RoleStats& s, std::vector<std::vector<std::string>>* rows) {
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

void printFleet(const v1::GetFleetStatsResponse& r) {
  std::vector<std::vector<std::string>> rows = {
      {"ROLE", "AGENTS", "UDP IN", "UDP OUT", "IPV6 IN", "IPV6 OUT", "DROPS", "PEERS", "CLIENTS~"}};
  for (const auto& s : r.roles()) {
    printRoleStats(s, &rows);
  }
  printRoleStats(r.fleet(), &rows);
  printTable(rows);
  if (!r.fleet().counters().drops().empty()) {
    std::cout << "\n";
    std::vector<std::vector<std::string>> drops = {{"DROP REASON", "PACKETS"}};
    for (const auto& [k, v] : r.fleet().counters().drops()) {
      drops.push_back({k, std::to_string(v)});
    }
    printTable(drops);
  }
}

void printNat(const v1::GetNatStatsResponse& r) {
  printTable({{"NAT TYPE", "CLIENTS CLASSIFIED"},
              {"cone", std::to_string(r.nat().cone())},
              {"restricted", std::to_string(r.nat().restricted())},
              {"symmetric", std::to_string(r.nat().symmetric())},
              {"unknown", std::to_string(r.nat().unknown())}});
  std::cout << "\ndistinct clients (estimate): " << r.distinct_clients() << "\n";
  std::cout << "RS plain/cone to primary: " << r.router().rs_plain_primary() << "/"
            << r.router().rs_cone_primary() << ", to secondary: " << r.router().rs_plain_secondary()
            << "/" << r.router().rs_cone_secondary() << "\n";
}

void printHistory(const v1::ListConfigVersionsResponse& r) {
  std::vector<std::vector<std::string>> rows = {{"VERSION", "TIME", "CHANGE", "COMMENT"}};
  for (const auto& v : r.versions()) {
    rows.push_back({std::to_string(v.version()), timeText(v.time()), v.description(),
                    v.comment().empty() ? "-" : v.comment()});
  }
  printTable(rows);
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

// Reads FILE as YAML (lib/config keys of `role`) or AgentConfig JSON.
bool loadConfigFile(const std::string& path, v1::Role role, v1::AgentConfig* out,
                    std::string* error) {
  std::string text;
  if (!readFile(path, &text)) {
    *error = "cannot read " + path;
    return false;
  }
  if (path.size() > 5 && path.substr(path.size() - 5) == ".json") {
    const auto s = google::protobuf::util::JsonStringToMessage(text, out);
    if (!s.ok()) {
      *error = path + ": " + s.ToString();
      return false;
    }
    return true;
  }
#ifdef TEREDO_HAVE_CONFIG_PROTO
  if (role == v1::ROLE_SERVER) {
    auto r = teredo::config::serverProtoFromYaml(text, path);
    if (!r.ok()) {
      *error = r.status().message() + "\n";
      return false;
    }
    *out->mutable_server() = *r;
  } else {
    auto r = teredo::config::relayProtoFromYaml(text, path);
    if (!r.ok()) {
      *error = r.status().message() + "\n";
      return false;
    }
    *out->mutable_relay() = *r;
  }
  return true;
#else
  (void)role;
  *error = "this teredoctl was built without lib/config's YAML translation; use a .json file";
  return false;
#endif
}

bool hasFlag(const Options& o, const std::string& name) {
  return o.flags.count(name) != 0;
}

uint64_t flagNumber(const Options& o, const std::string& name) {
  const auto it = o.flags.find(name);
  return it == o.flags.end() ? 0 : std::strtoull(it->second.c_str(), nullptr, 10);
}

int configSet(Client& client, const Options& o) {
  if (o.args.size() != 3) {
    return fail("usage: config set FILE (--role R | --agent ID) [--dry-run]");
  }
  v1::SetConfigRequest req;
  v1::Role role = v1::ROLE_UNSPECIFIED;
  if (hasFlag(o, "--role")) {
    if (!parseRole(o.flags.at("--role"), &role)) {
      return fail("--role must be server or relay");
    }
    req.set_role(role);
  } else if (hasFlag(o, "--agent")) {
    req.set_agent_id(o.flags.at("--agent"));
    grpc::ClientContext ctx;
    client.prepare(&ctx);
    v1::GetAgentRequest get;
    get.set_agent_id(req.agent_id());
    v1::GetAgentResponse agent;
    if (const auto s = client.stub().GetAgent(&ctx, get, &agent); !s.ok()) {
      return fail("cannot tell the role of agent " + req.agent_id() + " (" + s.error_message() +
                  "); a .json AgentConfig file names it");
    }
    role = agent.agent().role();
  } else {
    return fail("config set needs --role or --agent");
  }
  std::string error;
  if (!loadConfigFile(o.args[2], role, req.mutable_config(), &error)) {
    return fail(error);
  }
  req.set_dry_run(o.switches.count("--dry-run") != 0);
  req.set_expected_version(flagNumber(o, "--expected-version"));
  if (hasFlag(o, "--comment")) {
    req.set_comment(o.flags.at("--comment"));
  }
  return call<v1::SetConfigRequest, v1::SetConfigResponse>(
      client, o, &v1::AdminService::Stub::SetConfig, req, [](const v1::SetConfigResponse& r) {
        if (r.dry_run()) {
          std::cout << "dry run: " << (r.changed() ? "would publish" : "no change")
                    << "; affected agents: " << joinIds(r.affected_agents()) << "\n";
        } else if (!r.changed()) {
          std::cout << "no change (version " << r.version() << ")\n";
        } else {
          std::cout << "published version " << r.version()
                    << "; affected agents: " << joinIds(r.affected_agents()) << "\n";
        }
      });
}

// config from-miredo FILE --role server|relay: local, no controller involved.
int fromMiredo(const Options& o) {
  const std::string role = o.flags.count("--role") != 0 ? o.flags.at("--role") : "";
  if (o.args.size() != 3 || (role != "server" && role != "relay")) {
    return fail("usage: config from-miredo FILE --role server|relay");
  }
  std::string text;
  if (!readFile(o.args[2], &text)) {
    return fail("cannot read " + o.args[2]);
  }
  const teredo::config::MiredoImport r = teredo::config::importMiredoConfig(
      text, o.args[2],
      role == "server" ? teredo::config::MiredoRole::Server : teredo::config::MiredoRole::Relay);
  for (const std::string& note : r.notes) {
    std::cerr << "note: " << note << "\n";
  }
  for (const teredo::Violation& e : r.errors) {
    std::cerr << "teredoctl: " << e.format() << "\n";
  }
  if (!r.ok()) {
    return 1;
  }
  std::cout << r.yaml;
  return 0;
}

int run(Client& client, const Options& o) {
  const auto& a = o.args;
  const std::string cmd = a.empty() ? "" : a[0];
  const std::string sub = a.size() > 1 ? a[1] : "";
  v1::Role role = v1::ROLE_UNSPECIFIED;
  if (hasFlag(o, "--role") && !parseRole(o.flags.at("--role"), &role)) {
    return fail("--role must be server or relay");
  }
  if (cmd == "agents" && sub == "list") {
    v1::ListAgentsRequest req;
    req.set_role(role);
    if (hasFlag(o, "--state")) {
      const std::string& s = o.flags.at("--state");
      req.set_state(s == "connected"      ? v1::AGENT_STATE_CONNECTED
                    : s == "disconnected" ? v1::AGENT_STATE_DISCONNECTED
                                          : v1::AGENT_STATE_UNSPECIFIED);
    }
    return call<v1::ListAgentsRequest, v1::ListAgentsResponse>(
        client, o, &v1::AdminService::Stub::ListAgents, req, printAgents);
  }
  if (cmd == "agents" && sub == "get" && a.size() == 3) {
    v1::GetAgentRequest req;
    req.set_agent_id(a[2]);
    return call<v1::GetAgentRequest, v1::GetAgentResponse>(
        client, o, &v1::AdminService::Stub::GetAgent, req, printAgent);
  }
  if (cmd == "stats" && sub == "fleet") {
    v1::GetFleetStatsRequest req;
    req.set_role(role);
    return call<v1::GetFleetStatsRequest, v1::GetFleetStatsResponse>(
        client, o, &v1::AdminService::Stub::GetFleetStats, req, printFleet);
  }
  if (cmd == "stats" && sub == "nat") {
    return call<v1::GetNatStatsRequest, v1::GetNatStatsResponse>(
        client, o, &v1::AdminService::Stub::GetNatStats, v1::GetNatStatsRequest{}, printNat);
  }
  if (cmd == "config" && sub == "get") {
    v1::GetConfigRequest req;
    req.set_version(flagNumber(o, "--version"));
    req.set_role(role);
    if (hasFlag(o, "--agent")) {
      req.set_agent_id(o.flags.at("--agent"));
    }
    const bool scoped = !req.agent_id().empty() || role != v1::ROLE_UNSPECIFIED;
    return call<v1::GetConfigRequest, v1::GetConfigResponse>(
        client, o, &v1::AdminService::Stub::GetConfig, req,
        [scoped](const v1::GetConfigResponse& r) {
          std::cout << "# version " << r.version() << "\n";
          std::cout << toJson(scoped ? static_cast<const google::protobuf::Message&>(r.effective())
                                     : r.config());
        });
  }
  if (cmd == "config" && sub == "set") {
    return configSet(client, o);
  }
  if (cmd == "config" && sub == "remove" && hasFlag(o, "--agent")) {
    v1::SetConfigRequest req;
    req.set_agent_id(o.flags.at("--agent"));
    req.set_remove_override(true);
    req.set_dry_run(o.switches.count("--dry-run") != 0);
    if (hasFlag(o, "--comment")) {
      req.set_comment(o.flags.at("--comment"));
    }
    return call<v1::SetConfigRequest, v1::SetConfigResponse>(
        client, o, &v1::AdminService::Stub::SetConfig, req, [](const v1::SetConfigResponse& r) {
          std::cout << (r.dry_run() ? "dry run, version " : "version ") << r.version()
                    << "; affected agents: " << joinIds(r.affected_agents()) << "\n";
        });
  }
  if (cmd == "config" && sub == "history") {
    v1::ListConfigVersionsRequest req;
    req.set_limit(static_cast<uint32_t>(flagNumber(o, "--limit")));
    return call<v1::ListConfigVersionsRequest, v1::ListConfigVersionsResponse>(
        client, o, &v1::AdminService::Stub::ListConfigVersions, req, printHistory);
  }
  if (cmd == "config" && sub == "rollback" && a.size() == 3) {
    v1::RollbackRequest req;
    req.set_to_version(std::strtoull(a[2].c_str(), nullptr, 10));
    req.set_dry_run(o.switches.count("--dry-run") != 0);
    if (hasFlag(o, "--comment")) {
      req.set_comment(o.flags.at("--comment"));
    }
    return call<v1::RollbackRequest, v1::RollbackResponse>(
        client, o, &v1::AdminService::Stub::Rollback, req, [](const v1::RollbackResponse& r) {
          std::cout << (r.dry_run() ? "dry run; current version " : "published version ")
                    << r.version() << "; affected agents: " << joinIds(r.affected_agents()) << "\n";
        });
  }
  if ((cmd == "drain" || cmd == "undrain") && (a.size() == 2 || role != v1::ROLE_UNSPECIFIED)) {
    const std::string id = a.size() == 2 ? a[1] : "";
    auto print = [&cmd](const auto& r) {
      std::cout << cmd << ": " << joinIds(r.agent_ids()) << "\n";
    };
    if (cmd == "drain") {
      v1::DrainRequest req;
      req.set_agent_id(id);
      req.set_role(role);
      return call<v1::DrainRequest, v1::DrainResponse>(client, o, &v1::AdminService::Stub::Drain,
                                                       req, print);
    }
    v1::UndrainRequest req;
    req.set_agent_id(id);
    req.set_role(role);
    return call<v1::UndrainRequest, v1::UndrainResponse>(
        client, o, &v1::AdminService::Stub::Undrain, req, print);
  }
  std::cerr << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (const char* env = std::getenv("TEREDOCTL_CONTROLLER")) {
    o.controller = env;
  }
  const std::map<std::string, std::string*> globals = {
      {"--controller", &o.controller}, {"--token-file", &o.tokenFile},
      {"--tls-ca", &o.caFile},         {"--tls-cert", &o.certFile},
      {"--tls-key", &o.keyFile},       {"--tls-server-name", &o.serverName}};
  const std::vector<std::string> valued = {
      "--role", "--state", "--agent", "--limit", "--comment", "--expected-version", "--version"};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--version" && o.args.empty()) {
      std::cout << "teredoctl " << teredo::build::kVersion << " (" << teredo::build::kCommit
                << ")\n";
      return 0;
    }
    if (arg == "--json") {
      o.json = true;
    } else if (arg == "--dry-run") {
      o.switches[arg] = true;
    } else if (globals.count(arg) != 0 || arg == "--timeout" ||
               std::find(valued.begin(), valued.end(), arg) != valued.end()) {
      if (i + 1 >= argc) {
        return fail(arg + " needs a value");
      }
      const std::string value = argv[++i];
      if (globals.count(arg) != 0) {
        *globals.at(arg) = value;
      } else if (arg == "--timeout") {
        o.timeoutSeconds = std::max(1, std::atoi(value.c_str()));
      } else {
        o.flags[arg] = value;
      }
    } else if (arg.rfind("--", 0) == 0) {
      return fail("unknown option " + arg + " (see --help)");
    } else {
      o.args.push_back(arg);
    }
  }
  if (o.args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  if (o.args[0] == "config" && o.args.size() > 1 && o.args[1] == "from-miredo") {
    return fromMiredo(o);
  }
  Client client(o);
  std::string error;
  if (!client.connect(&error)) {
    return fail(error);
  }
  return run(client, o);
}

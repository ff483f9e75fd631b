// teredoctl's commands: one RPC each (config set with --agent makes two); see commands.h.
#include "commands.h"

#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <set>
#include <thread>

#include "base/file.h"
#include "client.h"
#include "config/miredo_import.h"
#include "output.h"

#ifdef TEREDO_HAVE_CONFIG_PROTO
#include "config/proto_translate.h"
#endif

namespace teredoctl {

namespace {

int fail(std::ostream& err, const std::string& message) {
  err << "teredoctl: " << message << "\n";
  return kExitFailure;
}

// Calls `method` and prints the response as JSON or through `print(out, response)`.
template <class Req, class Resp, class Print>
int callAndPrint(AdminClient& client, const GlobalOptions& global, std::ostream& out,
                 std::ostream& err,
                 grpc::Status (v1::AdminService::Stub::*method)(grpc::ClientContext*, const Req&,
                                                                Resp*),
                 const Req& request, Print print) {
  Resp response;
  const grpc::Status status = client.call(method, request, &response);
  if (!status.ok()) {
    return reportRpcError(err, status);
  }
  if (global.json) {
    out << toJson(response);
  } else if (global.yaml) {
    out << toYaml(response);
  } else {
    print(out, response);
  }
  return kExitOk;
}

// Reads `path` as YAML (lib/config keys of `role`) or, when it ends in .json, AgentConfig JSON.
teredo::Status loadConfigFile(const std::string& path, v1::Role role, v1::AgentConfig* config) {
  auto text = teredo::readFile(path);
  if (!text.ok()) {
    return text.status();
  }
  if (path.size() > 5 && path.substr(path.size() - 5) == ".json") {
    const auto s = google::protobuf::util::JsonStringToMessage(*text, config);
    if (!s.ok()) {
      return teredo::Status::error(teredo::StatusCode::kInvalidArgument,
                                   path + ": " + s.ToString());
    }
    return {};
  }
#ifdef TEREDO_HAVE_CONFIG_PROTO
  if (role == v1::ROLE_SERVER) {
    auto r = teredo::config::serverProtoFromYaml(*text, path);
    if (!r.ok()) {
      return r.status();
    }
    *config->mutable_server() = *r;
  } else {
    auto r = teredo::config::relayProtoFromYaml(*text, path);
    if (!r.ok()) {
      return r.status();
    }
    *config->mutable_relay() = *r;
  }
  return {};
#else
  (void)role;
  return teredo::Status::error(
      teredo::StatusCode::kUnimplemented,
      "this teredoctl was built without lib/config's YAML translation; use a .json file");
#endif
}

// config set --wait: polls ListAgents every 250 ms until every agent of `ids` applied or NACKed
// `version`, printing each as it settles; the exit status says how it ended.
int waitForRollout(AdminClient& client, const google::protobuf::RepeatedPtrField<std::string>& ids,
                   uint64_t version, std::chrono::seconds timeout, std::ostream& out,
                   std::ostream& err) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::set<std::string> reported;
  RolloutProgress p;
  for (;;) {
    v1::ListAgentsResponse agents;
    if (const grpc::Status s =
            client.call(&v1::AdminService::Stub::ListAgents, v1::ListAgentsRequest{}, &agents);
        !s.ok()) {
      return reportRpcError(err, s);
    }
    p = rolloutProgress(agents, ids, version);
    for (const auto& [list, verb] : {std::pair{&p.applied, "applied"}, {&p.nacked, "NACKED"}}) {
      for (const std::string& id : *list) {
        if (reported.insert(id).second) {
          out << id << ": " << verb << " version " << version << "\n" << std::flush;
        }
      }
    }
    if (p.done() || std::chrono::steady_clock::now() >= deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (!p.done()) {
    std::string waiting;
    for (const std::string& id : p.waiting) {
      waiting += (waiting.empty() ? "" : ", ") + id;
    }
    err << "teredoctl: timed out after " << timeout.count() << " s; still waiting for " << waiting
        << "\n";
    return kExitWaitTimeout;
  }
  if (!p.nacked.empty()) {
    err << "teredoctl: " << p.nacked.size()
        << " agent(s) NACKed the version; `teredoctl agents get ID` shows why\n";
    return kExitNacked;
  }
  return kExitOk;
}

// The role of agent `id`, from the controller (to read a YAML file for it).
teredo::StatusOr<v1::Role> agentRole(AdminClient& client, const std::string& id) {
  v1::GetAgentRequest get;
  get.set_agent_id(id);
  v1::GetAgentResponse agent;
  if (const auto s = client.call(&v1::AdminService::Stub::GetAgent, get, &agent); !s.ok()) {
    return teredo::Status::error(teredo::StatusCode::kUnavailable,
                                 "cannot tell the role of agent " + id + " (" + s.error_message() +
                                     "); a .json AgentConfig file names it");
  }
  return agent.agent().role();
}

#ifdef TEREDO_HAVE_CONFIG_PROTO
// An AgentConfig's role section as YAML (only the keys it sets).
teredo::StatusOr<std::string> agentConfigYaml(const v1::AgentConfig& c) {
  if (c.has_server()) {
    return teredo::config::yamlFromProto(c.server());
  }
  if (c.has_relay()) {
    return teredo::config::yamlFromProto(c.relay());
  }
  return std::string("{}\n");
}
#endif

// config diff: the current defaults or override (from the fleet config) against FILE.
int diffConfig(AdminClient& client, const DiffConfig& cmd, std::ostream& out, std::ostream& err) {
#ifdef TEREDO_HAVE_CONFIG_PROTO
  v1::Role role = cmd.role;
  if (!cmd.agentId.empty()) {
    auto r = agentRole(client, cmd.agentId);
    if (!r.ok()) {
      return fail(err, r.status().message());
    }
    role = *r;
  }
  v1::AgentConfig proposed;
  if (const teredo::Status s = loadConfigFile(cmd.file, role, &proposed); !s.ok()) {
    return fail(err, s.message());
  }
  v1::GetConfigResponse fleet;
  if (const grpc::Status s =
          client.call(&v1::AdminService::Stub::GetConfig, v1::GetConfigRequest{}, &fleet);
      !s.ok()) {
    return reportRpcError(err, s);
  }
  const auto& f = fleet.config();
  v1::AgentConfig current;
  if (!cmd.agentId.empty()) {
    if (const auto it = f.agent_overrides().find(cmd.agentId); it != f.agent_overrides().end()) {
      current = it->second;
    }
  } else {
    current = role == v1::ROLE_SERVER ? f.server_defaults() : f.relay_defaults();
  }
  auto before = agentConfigYaml(current);
  auto after = agentConfigYaml(proposed);
  if (!before.ok() || !after.ok()) {
    return fail(err, (!before.ok() ? before : after).status().message());
  }
  const std::string diff = diffLines(*before, *after);
  out << "# version " << fleet.version() << " (" << (cmd.agentId.empty() ? "role " : "agent ")
      << (cmd.agentId.empty() ? std::string(teredo::config::roleName(role)) : cmd.agentId)
      << ") against " << cmd.file << "\n";
  out << (diff.empty() ? "no difference\n" : diff);
  return diff.empty() ? kExitOk : kExitDiffers;
#else
  (void)client;
  (void)cmd;
  (void)out;
  return fail(err, "this teredoctl was built without lib/config's YAML translation");
#endif
}

// config set: the role is needed to read a YAML file; with --agent it is the agent's.
int setConfig(AdminClient& client, const GlobalOptions& global, const SetConfig& cmd,
              std::ostream& out, std::ostream& err) {
  v1::SetConfigRequest request = cmd.request;
  v1::Role role = request.role();
  if (request.has_agent_id()) {
    auto r = agentRole(client, request.agent_id());
    if (!r.ok()) {
      return fail(err, r.status().message());
    }
    role = *r;
  }
  if (const teredo::Status s = loadConfigFile(cmd.file, role, request.mutable_config()); !s.ok()) {
    return fail(err, s.message());
  }
  v1::SetConfigResponse response;
  if (const grpc::Status s = client.call(&v1::AdminService::Stub::SetConfig, request, &response);
      !s.ok()) {
    return reportRpcError(err, s);
  }
  if (global.json) {
    out << toJson(response);
  } else if (global.yaml) {
    out << toYaml(response);
  } else {
    printSetConfig(out, response);
  }
  if (cmd.waitSeconds == 0 || request.dry_run() || !response.changed()) {
    return kExitOk;
  }
  return waitForRollout(client, response.affected_agents(), response.version(),
                        std::chrono::seconds(cmd.waitSeconds), out, err);
}

// config get --role/--agent -o yaml: the role's section in the daemon's file layout, with only
// the keys the fleet config sets, so that `config set` reads it back unchanged.
int getConfigYaml(AdminClient& client, const v1::GetConfigRequest& request, std::ostream& out,
                  std::ostream& err) {
  v1::GetConfigResponse r;
  if (const grpc::Status s = client.call(&v1::AdminService::Stub::GetConfig, request, &r);
      !s.ok()) {
    return reportRpcError(err, s);
  }
#ifdef TEREDO_HAVE_CONFIG_PROTO
  const v1::AgentConfig& a = r.effective();
  teredo::StatusOr<std::string> yaml = a.has_server() ? teredo::config::yamlFromProto(a.server())
                                       : a.has_relay()
                                           ? teredo::config::yamlFromProto(a.relay())
                                           : teredo::StatusOr<std::string>(std::string("{}\n"));
  if (!yaml.ok()) {
    return fail(err,
                "the controller's config does not convert to YAML: " + yaml.status().message());
  }
  out << "# version " << r.version() << "\n" << *yaml;
  return kExitOk;
#else
  (void)out;
  return fail(err, "this teredoctl was built without lib/config's YAML translation");
#endif
}

// config from-miredo: local, no controller involved.
int fromMiredo(const FromMiredo& cmd, std::ostream& out, std::ostream& err) {
  auto text = teredo::readFile(cmd.file);
  if (!text.ok()) {
    return fail(err, text.status().message());
  }
  const teredo::config::MiredoImport r = teredo::config::importMiredoConfig(
      *text, cmd.file,
      cmd.role == v1::ROLE_SERVER ? teredo::config::MiredoRole::Server
                                  : teredo::config::MiredoRole::Relay);
  for (const std::string& note : r.notes) {
    err << "note: " << note << "\n";
  }
  for (const teredo::Violation& e : r.errors) {
    err << "teredoctl: " << e.format() << "\n";
  }
  if (!r.ok()) {
    return kExitFailure;
  }
  out << r.yaml;
  return kExitOk;
}

// The commands that talk to the controller.
int remote(AdminClient& client, const GlobalOptions& g, const Command& command, std::ostream& out,
           std::ostream& err) {
  using Stub = v1::AdminService::Stub;
  if (const auto* c = std::get_if<ListAgents>(&command)) {
    return callAndPrint(client, g, out, err, &Stub::ListAgents, c->request, printAgents);
  }
  if (const auto* c = std::get_if<GetAgent>(&command)) {
    return callAndPrint(client, g, out, err, &Stub::GetAgent, c->request, printAgent);
  }
  if (const auto* c = std::get_if<FleetStats>(&command)) {
    return callAndPrint(client, g, out, err, &Stub::GetFleetStats, c->request, printFleetStats);
  }
  if (const auto* c = std::get_if<NatStats>(&command)) {
    return callAndPrint(client, g, out, err, &Stub::GetNatStats, c->request, printNatStats);
  }
  if (const auto* c = std::get_if<GetConfig>(&command)) {
    const bool scoped = !c->request.agent_id().empty() || c->request.role() != v1::ROLE_UNSPECIFIED;
    if (scoped && g.yaml) {
      return getConfigYaml(client, c->request, out, err);
    }
    return callAndPrint(
        client, g, out, err, &Stub::GetConfig, c->request,
        [scoped](std::ostream& o, const v1::GetConfigResponse& r) { printConfig(o, r, scoped); });
  }
  if (const auto* c = std::get_if<SetConfig>(&command)) {
    return setConfig(client, g, *c, out, err);
  }
  if (const auto* c = std::get_if<RemoveOverride>(&command)) {
    return callAndPrint(client, g, out, err, &Stub::SetConfig, c->request, printRemoveOverride);
  }
  if (const auto* c = std::get_if<ConfigHistory>(&command)) {
    return callAndPrint(client, g, out, err, &Stub::ListConfigVersions, c->request, printHistory);
  }
  if (const auto* c = std::get_if<Rollback>(&command)) {
    return callAndPrint(client, g, out, err, &Stub::Rollback, c->request, printRollback);
  }
  if (const auto* c = std::get_if<Drain>(&command)) {
    return callAndPrint(client, g, out, err, &Stub::Drain, c->request,
                        [](std::ostream& o, const v1::DrainResponse& r) {
                          printDrained(o, "drain", r.agent_ids());
                        });
  }
  if (const auto* c = std::get_if<DiffConfig>(&command)) {
    return diffConfig(client, *c, out, err);
  }
  if (const auto* c = std::get_if<ForgetAgent>(&command)) {
    return callAndPrint(
        client, g, out, err, &Stub::ForgetAgent, c->request,
        [id = c->request.agent_id()](std::ostream& o, const v1::ForgetAgentResponse& r) {
          printForgotten(o, id, r);
        });
  }
  const auto& c = std::get<Undrain>(command);
  return callAndPrint(client, g, out, err, &Stub::Undrain, c.request,
                      [](std::ostream& o, const v1::UndrainResponse& r) {
                        printDrained(o, "undrain", r.agent_ids());
                      });
}

}  // namespace

int run(const Invocation& invocation, std::ostream& out, std::ostream& err) {
  if (const auto* c = std::get_if<FromMiredo>(&invocation.command)) {
    return fromMiredo(*c, out, err);
  }
  if (const auto* c = std::get_if<Completion>(&invocation.command)) {
    out << completionScript(c->shell);
    return kExitOk;
  }
  auto client = AdminClient::create(invocation.global);
  if (!client.ok()) {
    return fail(err, client.status().message());
  }
  return remote(**client, invocation.global, invocation.command, out, err);
}

}  // namespace teredoctl

// What teredoctl prints for each AdminService response: left-aligned tables and one-line
// summaries by default, the response as proto JSON (field names as in the .proto) with --json.
// The formats are what scripts and operators read (tests/integration/lab/fleet_lab.sh parses
// "published version N" and the JSON); change them only on purpose.
//
// Thread-safety: free functions; each writes only to the stream it is given.
// Ownership: nothing is kept.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "teredo/v1/admin.pb.h"

namespace teredoctl {

/// `msg` as indented proto JSON with the .proto field names.
std::string toJson(const google::protobuf::Message& msg);
/// `msg` as block YAML (its proto JSON form: .proto field names, 64-bit integers as strings).
std::string toYaml(const google::protobuf::Message& msg);

/// Rows as a left-aligned table, columns two spaces apart, no trailing blanks.
void printTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows);

// The readable form of each response.
void printAgents(std::ostream& out, const teredo::v1::ListAgentsResponse& r);
void printAgent(std::ostream& out, const teredo::v1::GetAgentResponse& r);
void printFleetStats(std::ostream& out, const teredo::v1::GetFleetStatsResponse& r);
void printNatStats(std::ostream& out, const teredo::v1::GetNatStatsResponse& r);
/// "# version N" and the config as JSON: the whole fleet config, or (`scoped`: the request
/// named an agent or a role) the effective config.
void printConfig(std::ostream& out, const teredo::v1::GetConfigResponse& r, bool scoped);
void printSetConfig(std::ostream& out, const teredo::v1::SetConfigResponse& r);
void printRemoveOverride(std::ostream& out, const teredo::v1::SetConfigResponse& r);
void printHistory(std::ostream& out, const teredo::v1::ListConfigVersionsResponse& r);
void printRollback(std::ostream& out, const teredo::v1::RollbackResponse& r);
/// "drain: a, b" (`verb` is "drain" or "undrain").
/// Where a rollout of `version` stands for the agents `ids` (config set --wait): each is
/// applied (runs `version` or later), nacked (NACKed `version` or later) or waiting (also when
/// the controller no longer lists it).
struct RolloutProgress {
  std::vector<std::string> applied, nacked, waiting;
  bool done() const { return waiting.empty(); }
};
RolloutProgress rolloutProgress(const teredo::v1::ListAgentsResponse& agents,
                                const google::protobuf::RepeatedPtrField<std::string>& ids,
                                uint64_t version);

/// A line diff of `before` and `after` (longest common subsequence): "  " for a line in both,
/// "- " only in before, "+ " only in after; empty when they are equal.
std::string diffLines(const std::string& before, const std::string& after);

void printForgotten(std::ostream& out, const std::string& agentId,
                    const teredo::v1::ForgetAgentResponse& r);
void printDrained(std::ostream& out, const std::string& verb,
                  const google::protobuf::RepeatedPtrField<std::string>& agentIds);

}  // namespace teredoctl

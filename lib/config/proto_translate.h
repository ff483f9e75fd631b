// teredo.v1 config protos <-> validated config structs <-> YAML text (one config struct,
// two sources, one translation file).
//
// Every proto field path equals the YAML key (proto/teredo/v1/config.proto), and proto input
// goes through exactly the same parsing and validation as YAML input; errors carry the field
// path as `key` and no file/line, so they format as "server.mtu: must be >= 1280, got 1000 ...".
//
// Presence: an unset proto field means "default" (fromProto) or "keep the base value"
// (fromProto with a base). *_UNSPECIFIED enum values that are explicitly set, durations finer than
// a millisecond, and fields unknown to this build are errors.
//
// Thread-safety: all functions are reentrant. Ownership: results are values / shared immutable
// configs. Library: teredo_config_proto (links teredo_config and teredo_protos).
#pragma once

#include <memory>
#include <string_view>

#include "config/config.h"
#include "teredo/v1/agent.pb.h"
#include "teredo/v1/config.pb.h"

namespace teredo::config {

/// The effective config as a proto with every field set.
teredo::v1::ServerConfig toProto(const ServerConfig& config);
teredo::v1::RelayConfig toProto(const RelayConfig& config);
teredo::v1::ControllerConfig toProto(const ControllerConfig& config);

/// Builds and validates a config from a proto; unset fields take their defaults. Errors as the
/// loaders in config/config.h (Status::invalid, one Violation per error, key = field path).
StatusOr<std::shared_ptr<const ServerConfig>> serverConfigFromProto(
    const teredo::v1::ServerConfig& proto);
StatusOr<std::shared_ptr<const RelayConfig>> relayConfigFromProto(
    const teredo::v1::RelayConfig& proto);
StatusOr<std::shared_ptr<const ControllerConfig>> controllerConfigFromProto(
    const teredo::v1::ControllerConfig& proto);

/// Applies `proto` onto `base` (typically the agent's bootstrap YAML config): unset fields keep
/// base's values, except values that base only had as computed defaults (the secondary address
/// = primary + 1), which are computed again. The result is validated as a whole.
StatusOr<std::shared_ptr<const ServerConfig>> serverConfigFromProto(
    const teredo::v1::ServerConfig& proto, const ServerConfig& base);
StatusOr<std::shared_ptr<const RelayConfig>> relayConfigFromProto(
    const teredo::v1::RelayConfig& proto, const RelayConfig& base);

/// YAML text -> proto with only the keys that the text has (an operator's override file for
/// teredoctl SetConfig). Each value is checked on its own (syntax, range, enum names, unknown
/// keys); rules that relate several keys are left to the final merged config.
StatusOr<teredo::v1::ServerConfig> serverProtoFromYaml(std::string_view text,
                                                       std::string_view name);
StatusOr<teredo::v1::RelayConfig> relayProtoFromYaml(std::string_view text, std::string_view name);
StatusOr<teredo::v1::ControllerConfig> controllerProtoFromYaml(std::string_view text,
                                                               std::string_view name);

/// The fields set in `proto` as YAML in the daemon's file layout ("server:\n  mtu: 1280\n"), only
/// those keys: the inverse of *ProtoFromYaml, so `teredoctl config get -o yaml` prints what
/// `config set` reads back unchanged. "{}\n" when nothing is set. Errors as protoToDoc finds them
/// (an explicitly set *_UNSPECIFIED enum, unknown fields).
StatusOr<std::string> yamlFromProto(const teredo::v1::ServerConfig& proto);
StatusOr<std::string> yamlFromProto(const teredo::v1::RelayConfig& proto);

/// "server", "relay" or "unspecified": how logs, history descriptions and metric labels name a
/// role (the YAML section names of the two agent roles).
std::string_view roleName(teredo::v1::Role role);

/// What a server or relay agent would report for `config`: OK when it would apply it, else
/// Status::invalid with one Violation per error. Keys are relative to the role message
/// ("server.mtu"). An AgentConfig with no role set is an error with key "role".
Status validateAgentConfig(const teredo::v1::AgentConfig& config);

/// A config error as the NACK / SetConfig detail (agent.proto ConfigError): message =
/// status.message() (every violation formatted, one per line), one FieldViolation{field = key,
/// description = message} per violation. An OK status gives an empty detail.
teredo::v1::ConfigError toProto(const Status& status);

}  // namespace teredo::config

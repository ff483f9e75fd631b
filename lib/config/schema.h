// Internal to lib/config: the key tables that the YAML loader, the renderer, restartRequired and
// the proto translation all share, so that every source goes through the same parsing and
// validation. Not for use outside lib/config.
//
// Thread-safety: the schemas are built once (function-local statics) and then read-only.
// Ownership: values only.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace teredo::config::detail {

/// How a value is shaped in YAML and typed in the proto.
enum class ValueKind {
  kBool,        ///< YAML true/false; proto optional bool
  kUint32,      ///< decimal; proto optional uint32
  kUint64,      ///< decimal; proto optional uint64
  kString,      ///< text (addresses, paths, names); proto optional string
  kDuration,    ///< "500ms", "30s", "5m", "1h"; proto google.protobuf.Duration
  kEnum,        ///< one of enumNames; proto enum, value i+1 = enumNames[i]
  kStringList,  ///< YAML sequence of scalars; proto repeated string
};

/// 1-based position in the source; 0 = unknown.
struct Mark {
  int line = 0;
  int column = 0;
};

/// One value as written in the source: one item for scalars, any number for lists.
struct RawValue {
  std::vector<std::string> items;
  Mark mark;
};

/// The keys present in one source, in source order.
struct RawDoc {
  std::string file;  ///< Empty for proto sources.
  std::vector<std::pair<std::string, RawValue>> entries;
  std::vector<std::pair<std::string, Mark>> sections;  ///< e.g. "server", "server.rate_limit"
  std::vector<std::string> invalid;  ///< Keys present but unusable (already reported).
  bool fatal = false;                ///< Unparseable: nothing beyond the syntax is checked.
  const RawValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  /// The position of `key`, else of its closest present section, else unknown.
  Mark markOf(std::string_view key) const;
};

/// Collects errors with their positions.
class ErrorSink {
 public:
  ErrorSink(const RawDoc& doc, std::vector<Violation>& errors)
      : doc_(doc), errors_(errors), failed_(doc.invalid.begin(), doc.invalid.end()) {}
  /// An error at `key`, positioned where the source has it (or its section).
  void add(const std::string& key, std::string message);
  bool failed(std::string_view key) const { return failed_.count(std::string(key)) != 0; }
  bool anyFailed(std::initializer_list<std::string_view> keys) const;
  size_t count() const { return errors_.size(); }

 private:
  const RawDoc& doc_;
  std::vector<Violation>& errors_;
  std::set<std::string> failed_;
};

struct FieldInfo {
  std::string key;
  ValueKind kind = ValueKind::kString;
  std::vector<std::string> enumNames;
  bool restart = false;  ///< A change needs a rebind or restart (restartRequired()).
};

template <class T>
struct FieldSpec : FieldInfo {
  /// Parses and range-checks one value into `config`; returns the error message, if any.
  std::function<std::optional<std::string>(T&, const RawValue&)> apply;
  /// The value as text items (the same form apply() accepts).
  std::function<RawValue(const T&)> render;
};

template <class T>
struct Schema {
  std::vector<FieldSpec<T>> fields;
  T defaults;
  /// Computed defaults and cross-key rules, run after every present key was applied.
  std::function<void(T&, const RawDoc&, ErrorSink&)> finish;
  /// Keys whose value is computed from others when absent (e.g. server.secondary_address).
  std::function<bool(const T&, std::string_view key)> isComputedDefault;

  const FieldSpec<T>* find(std::string_view key) const;
  bool isSection(std::string_view key) const;
};

const Schema<ServerConfig>& serverSchema();
const Schema<RelayConfig>& relaySchema();
const Schema<ControllerConfig>& controllerSchema();

/// Parses YAML text into a RawDoc: syntax errors, wrong shapes, duplicate and unknown keys are
/// appended to `errors`. Catches every yaml-cpp exception.
template <class T>
RawDoc parseYaml(const Schema<T>& schema, std::string_view text, std::string_view name,
                 std::vector<Violation>& errors);

/// Applies `doc` onto the schema defaults, then runs the cross-key rules. The config, or
/// Status::invalid with `errors` and every error found, in source order.
template <class T>
StatusOr<std::shared_ptr<const T>> build(const Schema<T>& schema, const RawDoc& doc,
                                         std::vector<Violation> errors);

/// Applies one raw entry to `config` through its field's parser; a problem (unknown key, a list
/// where one value belongs, a bad value) goes to `sink` and yields false.
template <class T>
bool applyEntry(const Schema<T>& schema, T& config, const std::string& key, const RawValue& value,
                ErrorSink& sink) {
  const FieldSpec<T>* field = schema.find(key);
  if (field == nullptr) {
    sink.add(key, "unknown key");
    return false;
  }
  if (field->kind != ValueKind::kStringList && value.items.size() != 1) {
    sink.add(key, "must be a single value");
    return false;
  }
  if (std::optional<std::string> problem = field->apply(config, value)) {
    sink.add(key, std::move(*problem));
    return false;
  }
  return true;
}

/// Every key of `config` with its value, in schema order. With `omitComputed`, keys whose value
/// equals their computed default are left out (so the result can serve as an overlay base).
template <class T>
RawDoc renderDoc(const Schema<T>& schema, const T& config, bool omitComputed);
/// `doc`'s entries as a YAML document in the files' layout (sections nested, strings quoted).
template <class T>
std::string renderDocYaml(const Schema<T>& schema, const RawDoc& doc);

// Value syntax shared with the proto translation.
std::optional<bool> parseBool(std::string_view text);
std::optional<uint64_t> parseUint(std::string_view text);
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);
std::string formatDuration(std::chrono::milliseconds d);

}  // namespace teredo::config::detail

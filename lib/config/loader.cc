// The source-independent engine: value syntax, YAML parsing into RawDoc, building a config from
// a RawDoc, rendering, and the public load/render/check entry points.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <climits>
#include <fstream>
#include <ostream>
#include <sstream>

#include "config/config.h"
#include "config/schema.h"

namespace teredo::config {

namespace detail {

const RawValue* RawDoc::find(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k == key) {
      return &v;
    }
  }
  return nullptr;
}

Mark RawDoc::markOf(std::string_view key) const {
  if (const RawValue* v = find(key)) {
    return v->mark;
  }
  std::string_view section = key;
  while (true) {
    size_t dot = section.rfind('.');
    if (dot == std::string_view::npos) {
      return Mark{};
    }
    section = section.substr(0, dot);
    for (const auto& [k, m] : sections) {
      if (k == section) {
        return m;
      }
    }
  }
}

void ErrorSink::add(const std::string& key, std::string message) {
  Mark m = doc_.markOf(key);
  errors_.push_back(Violation{doc_.file, m.line, m.column, key, std::move(message)});
  failed_.insert(key);
}

bool ErrorSink::anyFailed(std::initializer_list<std::string_view> keys) const {
  for (std::string_view k : keys) {
    if (failed(k)) {
      return true;
    }
  }
  return false;
}

template <class T>
const FieldSpec<T>* Schema<T>::find(std::string_view key) const {
  for (const FieldSpec<T>& f : fields) {
    if (f.key == key) {
      return &f;
    }
  }
  return nullptr;
}

template <class T>
bool Schema<T>::isSection(std::string_view key) const {
  for (const FieldSpec<T>& f : fields) {
    if (f.key.size() > key.size() && f.key.compare(0, key.size(), key) == 0 &&
        f.key[key.size()] == '.') {
      return true;
    }
  }
  return false;
}

std::optional<bool> parseBool(std::string_view text) {
  // YAML 1.2 core schema booleans only: "yes"/"on" are YAML 1.1 and too easy to misread.
  if (text == "true" || text == "True" || text == "TRUE") {
    return true;
  }
  if (text == "false" || text == "False" || text == "FALSE") {
    return false;
  }
  return std::nullopt;
}

std::optional<uint64_t> parseUint(std::string_view text) {
  if (text.empty() || text.size() > 20) {
    return std::nullopt;
  }
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) {
      return std::nullopt;
    }
    v = v * 10 + digit;
  }
  return v;
}

std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
  // <digits>[.<digits>]<unit>, unit one of ms, s, m, h; the result must be whole milliseconds.
  size_t i = 0;
  uint64_t whole = 0;
  size_t digits = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    whole = whole * 10 + static_cast<uint64_t>(text[i] - '0');
    ++i;
    if (++digits > 12) {
      return std::nullopt;
    }
  }
  if (digits == 0) {
    return std::nullopt;
  }
  uint64_t frac = 0;
  uint64_t fracScale = 1;
  if (i < text.size() && text[i] == '.') {
    ++i;
    size_t fracDigits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      frac = frac * 10 + static_cast<uint64_t>(text[i] - '0');
      fracScale *= 10;
      ++i;
      if (++fracDigits > 9) {
        return std::nullopt;
      }
    }
    if (fracDigits == 0) {
      return std::nullopt;
    }
  }
  std::string_view unit = text.substr(i);
  uint64_t unitMs = 0;
  if (unit == "ms") {
    unitMs = 1;
  } else if (unit == "s") {
    unitMs = 1000;
  } else if (unit == "m") {
    unitMs = 60'000;
  } else if (unit == "h") {
    unitMs = 3'600'000;
  } else {
    return std::nullopt;
  }
  uint64_t fracMs = frac * unitMs;
  if (fracMs % fracScale != 0) {
    return std::nullopt;  // finer than a millisecond
  }
  return std::chrono::milliseconds(static_cast<int64_t>(whole * unitMs + fracMs / fracScale));
}

std::string formatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms != 0 && ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  return std::to_string(ms) + "ms";
}

namespace {

Mark toMark(const YAML::Mark& m) {
  if (m.is_null()) {
    return Mark{};
  }
  return Mark{m.line + 1, m.column + 1};
}

std::string kindName(ValueKind k) {
  switch (k) {
    case ValueKind::kBool:
      return "true or false";
    case ValueKind::kUint32:
    case ValueKind::kUint64:
      return "a number";
    case ValueKind::kString:
      return "a string";
    case ValueKind::kDuration:
      return "a duration such as \"30s\"";
    case ValueKind::kEnum:
      return "one of the listed names";
    case ValueKind::kStringList:
      return "a list";
  }
  return "a value";
}

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

template <class T>
std::string suggestion(const Schema<T>& schema, const std::string& key) {
  std::string best;
  size_t bestDist = 4;  // only close misspellings
  auto consider = [&](const std::string& candidate) {
    size_t d = editDistance(key, candidate);
    if (d < bestDist) {
      bestDist = d;
      best = candidate;
    }
  };
  for (const FieldSpec<T>& f : schema.fields) {
    consider(f.key);
    for (size_t dot = f.key.find('.'); dot != std::string::npos; dot = f.key.find('.', dot + 1)) {
      consider(f.key.substr(0, dot));
    }
  }
  return best.empty() ? std::string() : " (did you mean \"" + best + "\"?)";
}

/// Config values are printable UTF-8 text: control characters and invalid UTF-8 are refused so
/// that every accepted value renders back (--check-config, the controller) to the same value.
const char* textProblem(std::string_view v, bool allowLineBreaks = false, size_t* at = nullptr) {
  size_t i = 0;
  while (i < v.size()) {
    if (at != nullptr) {
      *at = i;
    }
    const auto c = static_cast<unsigned char>(v[i]);
    if ((c < 0x20 || c == 0x7f) && !(allowLineBreaks && (c == '\n' || c == '\r' || c == '\t'))) {
      return "must not contain control characters";
    }
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    if (len == 0 || i + len > v.size()) {
      return "must be valid UTF-8 text";
    }
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(v[i + k]) & 0xc0) != 0x80) {
        return "must be valid UTF-8 text";
      }
    }
    i += len;
  }
  return nullptr;
}

template <class T>
class YamlWalker {
 public:
  YamlWalker(const Schema<T>& schema, RawDoc& doc, std::vector<Violation>& errors)
      : schema_(schema), doc_(doc), errors_(errors) {}

  void walkMap(const YAML::Node& node, const std::string& prefix) {
    if (!node.IsMap()) {
      error(node.Mark(), prefix,
            prefix.empty() ? "the document must be a mapping of sections"
                           : "must be a mapping of keys");
      return;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node keyNode = it->first;  // copies: it-> yields a temporary
      const YAML::Node value = it->second;
      if (!keyNode.IsScalar()) {
        error(keyNode.Mark(), prefix, "keys must be plain strings");
        continue;
      }
      std::string key = prefix.empty() ? keyNode.Scalar() : prefix + "." + keyNode.Scalar();
      if (!seen_.insert(key).second) {
        error(keyNode.Mark(), key, "duplicate key");
        continue;
      }
      if (const FieldSpec<T>* field = schema_.find(key)) {
        leaf(*field, keyNode, value);
      } else if (schema_.isSection(key)) {
        doc_.sections.emplace_back(key, toMark(keyNode.Mark()));
        if (!value.IsNull()) {
          walkMap(value, key);
        }
      } else {
        error(keyNode.Mark(), key, "unknown key" + suggestion(schema_, key));
      }
    }
  }

 private:
  void leaf(const FieldSpec<T>& field, const YAML::Node& keyNode, const YAML::Node& value) {
    RawValue raw;
    raw.mark = toMark(keyNode.Mark());
    doc_.invalid.push_back(field.key);  // until it proves usable
    if (value.IsNull()) {
      error(keyNode.Mark(), field.key, "has no value (remove the key to use the default)");
      return;
    }
    if (field.kind == ValueKind::kStringList) {
      if (!value.IsSequence()) {
        error(keyNode.Mark(), field.key, "must be a list, e.g. [\"a\", \"b\"]");
        return;
      }
      for (const YAML::Node& item : value) {
        if (!item.IsScalar()) {
          error(item.Mark(), field.key, "list items must be plain values");
          return;
        }
        if (const char* problem = textProblem(item.Scalar())) {
          error(item.Mark(), field.key, problem);
          return;
        }
        raw.items.push_back(item.Scalar());
      }
    } else {
      if (!value.IsScalar()) {
        error(
            keyNode.Mark(), field.key,
            "must be " + kindName(field.kind) + ", not a " + (value.IsMap() ? "mapping" : "list"));
        return;
      }
      if (const char* problem = textProblem(value.Scalar())) {
        error(value.Mark(), field.key, problem);
        return;
      }
      raw.items.push_back(value.Scalar());
    }
    doc_.invalid.pop_back();
    doc_.entries.emplace_back(field.key, std::move(raw));
  }

  void error(const YAML::Mark& mark, const std::string& key, std::string message) {
    Mark m = toMark(mark);
    errors_.push_back(Violation{doc_.file, m.line, m.column, key, std::move(message)});
  }

  const Schema<T>& schema_;
  RawDoc& doc_;
  std::vector<Violation>& errors_;
  std::set<std::string> seen_;
};

// Counts the documents in a YAML stream, stopping at `limit`: a bounded number of parser calls
// whatever the input. Events are discarded, so no node tree is built.
size_t countDocuments(const std::string& input, size_t limit) {
  struct Discard final : YAML::EventHandler {
    void OnDocumentStart(const YAML::Mark&) override {}
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
  };
  std::istringstream stream(input);
  YAML::Parser parser(stream);
  Discard discard;
  size_t documents = 0;
  while (documents < limit && parser.HandleNextDocument(discard)) {
    ++documents;
  }
  return documents;
}

}  // namespace

template <class T>
RawDoc parseYaml(const Schema<T>& schema, std::string_view text, std::string_view name,
                 std::vector<Violation>& errors) {
  RawDoc doc;
  doc.file = std::string(name);
  if (text.size() > kMaxConfigBytes) {
    doc.fatal = true;
    errors.push_back(Violation{
        doc.file, 0, 0, "",
        "is larger than " + std::to_string(kMaxConfigBytes) + " bytes; refusing to parse it"});
    return doc;
  }
  // A config file is UTF-8 text. Checked before yaml-cpp sees it: yaml-cpp 0.7 can spin for
  // minutes, allocating, on some invalid UTF-8 (found by fuzz_config).
  size_t bad = 0;
  if (const char* problem = textProblem(text, true, &bad)) {
    doc.fatal = true;
    int line = 1;
    int column = 1;
    for (size_t i = 0; i < bad; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    errors.push_back(
        Violation{doc.file, line, column, "",
                  std::string("the file ") + problem + " (byte " + std::to_string(bad) + ")"});
    return doc;
  }
  // Config loading is not the data path: yaml-cpp's exceptions are caught here, at the boundary,
  // and turned into positioned messages.
  try {
    const std::string input(text);
    // Not YAML::LoadAll: on some malformed inputs yaml-cpp 0.7's parser keeps reporting empty
    // documents without consuming anything, and LoadAll collects them until memory runs out (found
    // by fuzz_config; fixed upstream after 0.7). Count at most two documents with a handler that
    // builds nothing, then build the one document with YAML::Load.
    if (countDocuments(input, 2) > 1) {
      doc.fatal = true;
      errors.push_back(
          Violation{doc.file, 0, 0, "", "holds 2 or more YAML documents; exactly one is expected"});
      return doc;
    }
    const YAML::Node root = YAML::Load(input);
    if (!root.IsDefined() || root.IsNull()) {
      return doc;  // an empty file: every key at its default
    }
    if (!root.IsMap()) {
      doc.fatal = true;
    }
    YamlWalker<T>(schema, doc, errors).walkMap(root, "");
  } catch (const YAML::Exception& e) {
    doc.fatal = true;
    Mark m = toMark(e.mark);
    std::string hint;
    if (e.msg.find("illegal map value") != std::string::npos) {
      // `prefix: 2001::` is a YAML syntax error: a plain scalar cannot end with ':'.
      hint = " (quote IPv6 addresses and other values that end with ':', e.g. \"2001::\")";
    }
    errors.push_back(
        Violation{doc.file, m.line, m.column, "", "YAML syntax error: " + e.msg + hint});
  } catch (const std::exception& e) {
    doc.fatal = true;
    errors.push_back(Violation{doc.file, 0, 0, "", std::string("cannot parse: ") + e.what()});
  }
  return doc;
}

template <class T>
StatusOr<std::shared_ptr<const T>> build(const Schema<T>& schema, const RawDoc& doc,
                                         std::vector<Violation> errors) {
  if (doc.fatal) {
    return Status::invalid(std::move(errors));
  }
  T config = schema.defaults;
  ErrorSink sink(doc, errors);
  for (const auto& [key, value] : doc.entries) {
    applyEntry(schema, config, key, value, sink);
  }
  schema.finish(config, doc, sink);
  if (!errors.empty()) {
    // Source order; errors without a position (missing keys) last.
    std::stable_sort(errors.begin(), errors.end(), [](const Violation& a, const Violation& b) {
      auto rank = [](const Violation& e) { return e.line == 0 ? INT_MAX : e.line; };
      return rank(a) < rank(b);
    });
    return Status::invalid(std::move(errors));
  }
  return std::shared_ptr<const T>(std::make_shared<const T>(std::move(config)));
}

template <class T>
RawDoc renderDoc(const Schema<T>& schema, const T& config, bool omitComputed) {
  RawDoc doc;
  for (const FieldSpec<T>& f : schema.fields) {
    if (omitComputed && schema.isComputedDefault && schema.isComputedDefault(config, f.key)) {
      continue;
    }
    doc.entries.emplace_back(f.key, f.render(config));
  }
  return doc;
}

template <class T>
std::string renderDocYaml(const Schema<T>& schema, const RawDoc& doc) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::vector<std::string> open;  // currently open sections, outermost first
  for (const auto& [key, value] : doc.entries) {
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
      size_t dot = key.find('.', start);
      parts.push_back(key.substr(start, dot - start));
      if (dot == std::string::npos) {
        break;
      }
      start = dot + 1;
    }
    size_t common = 0;
    while (common < open.size() && common + 1 < parts.size() && open[common] == parts[common]) {
      ++common;
    }
    while (open.size() > common) {
      out << YAML::EndMap;
      open.pop_back();
    }
    for (size_t i = common; i + 1 < parts.size(); ++i) {
      out << YAML::Key << parts[i] << YAML::Value << YAML::BeginMap;
      open.push_back(parts[i]);
    }
    out << YAML::Key << parts.back() << YAML::Value;
    const FieldSpec<T>* field = schema.find(key);
    if (field != nullptr && field->kind == ValueKind::kStringList) {
      out << YAML::Flow << YAML::BeginSeq;
      for (const std::string& item : value.items) {
        out << YAML::DoubleQuoted << item;
      }
      out << YAML::EndSeq;
    } else if (field == nullptr || field->kind == ValueKind::kString) {
      out << YAML::DoubleQuoted << value.items.at(0);
    } else {
      out << value.items.at(0);
    }
  }
  while (!open.empty()) {
    out << YAML::EndMap;
    open.pop_back();
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

#define TEREDO_CONFIG_INSTANTIATE(T)                                                    \
  template struct Schema<T>;                                                            \
  template RawDoc parseYaml<T>(const Schema<T>&, std::string_view, std::string_view,    \
                               std::vector<Violation>&);                                \
  template StatusOr<std::shared_ptr<const T>> build<T>(const Schema<T>&, const RawDoc&, \
                                                       std::vector<Violation>);         \
  template RawDoc renderDoc<T>(const Schema<T>&, const T&, bool);                       \
  template std::string renderDocYaml<T>(const Schema<T>&, const RawDoc&);

TEREDO_CONFIG_INSTANTIATE(ServerConfig)
TEREDO_CONFIG_INSTANTIATE(RelayConfig)
TEREDO_CONFIG_INSTANTIATE(ControllerConfig)
#undef TEREDO_CONFIG_INSTANTIATE

}  // namespace detail

namespace {

template <class T>
StatusOr<std::shared_ptr<const T>> loadString(const detail::Schema<T>& schema,
                                              std::string_view text, std::string_view name) {
  std::vector<Violation> errors;
  detail::RawDoc doc = detail::parseYaml(schema, text, name, errors);
  return detail::build(schema, doc, std::move(errors));
}

template <class T>
StatusOr<std::shared_ptr<const T>> loadFile(const detail::Schema<T>& schema,
                                            const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::invalid({Violation{path, 0, 0, "", "cannot open the file"}});
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return Status::invalid({Violation{path, 0, 0, "", "cannot read the file"}});
  }
  return loadString(schema, text.str(), path);
}

template <class T>
std::string render(const detail::Schema<T>& schema, const T& config) {
  return detail::renderDocYaml(schema, detail::renderDoc(schema, config, false));
}

template <class T>
std::vector<std::string> restartKeys(const detail::Schema<T>& schema, const T& before,
                                     const T& after) {
  std::vector<std::string> keys;
  for (const detail::FieldSpec<T>& f : schema.fields) {
    if (f.restart && f.render(before).items != f.render(after).items) {
      keys.push_back(f.key);
    }
  }
  return keys;
}

template <class T>
int check(const StatusOr<std::shared_ptr<const T>>& result, std::ostream& out, std::ostream& err) {
  if (!result.ok()) {
    err << result.status().message() << '\n';
    return 1;
  }
  out << renderYaml(**result);
  return 0;
}

}  // namespace

StatusOr<std::shared_ptr<const ServerConfig>> loadServerConfigFile(const std::string& path) {
  return loadFile(detail::serverSchema(), path);
}
StatusOr<std::shared_ptr<const ServerConfig>> loadServerConfigString(std::string_view text,
                                                                     std::string_view name) {
  return loadString(detail::serverSchema(), text, name);
}
StatusOr<std::shared_ptr<const RelayConfig>> loadRelayConfigFile(const std::string& path) {
  return loadFile(detail::relaySchema(), path);
}
StatusOr<std::shared_ptr<const RelayConfig>> loadRelayConfigString(std::string_view text,
                                                                   std::string_view name) {
  return loadString(detail::relaySchema(), text, name);
}
StatusOr<std::shared_ptr<const ControllerConfig>> loadControllerConfigFile(
    const std::string& path) {
  return loadFile(detail::controllerSchema(), path);
}
StatusOr<std::shared_ptr<const ControllerConfig>> loadControllerConfigString(
    std::string_view text, std::string_view name) {
  return loadString(detail::controllerSchema(), text, name);
}

std::string renderYaml(const ServerConfig& config) {
  return render(detail::serverSchema(), config);
}
std::string renderYaml(const RelayConfig& config) {
  return render(detail::relaySchema(), config);
}
std::string renderYaml(const ControllerConfig& config) {
  return render(detail::controllerSchema(), config);
}

std::vector<std::string> restartRequired(const ServerConfig& before, const ServerConfig& after) {
  return restartKeys(detail::serverSchema(), before, after);
}
std::vector<std::string> restartRequired(const RelayConfig& before, const RelayConfig& after) {
  return restartKeys(detail::relaySchema(), before, after);
}
std::vector<std::string> restartRequired(const ControllerConfig& before,
                                         const ControllerConfig& after) {
  return restartKeys(detail::controllerSchema(), before, after);
}

int checkConfig(Role role, const std::string& path, std::ostream& out, std::ostream& err) {
  switch (role) {
    case Role::kServer:
      return check(loadServerConfigFile(path), out, err);
    case Role::kRelay:
      return check(loadRelayConfigFile(path), out, err);
    case Role::kController:
      return check(loadControllerConfigFile(path), out, err);
  }
  return 1;
}

}  // namespace teredo::config

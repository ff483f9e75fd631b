// Proto <-> struct translation through protobuf reflection over the shared key tables: a proto
// field path is the YAML key, so a proto becomes the same RawDoc the YAML loader produces and
// goes through the same build() and validation.
#include "config/proto_translate.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/unknown_field_set.h>

#include <algorithm>
#include <cassert>
#include <cctype>

#include "config/schema.h"

namespace teredo::config {
namespace {

namespace pb = google::protobuf;
using detail::FieldSpec;
using detail::RawDoc;
using detail::RawValue;
using detail::Schema;
using detail::ValueKind;

constexpr int64_t kNanosPerMilli = 1'000'000;

/// "OtherServerClientsPolicy" -> "OTHER_SERVER_CLIENTS_POLICY_".
std::string enumValuePrefix(const pb::EnumDescriptor* e) {
  std::string out;
  for (char ch : e->name()) {
    if (std::isupper(static_cast<unsigned char>(ch)) && !out.empty()) {
      out += '_';
    }
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  return out + "_";
}

/// LOG_LEVEL_WARN -> "warn", RELAY_MODE_HOST_SPECIFIC -> "host-specific".
std::string enumYamlName(const pb::EnumValueDescriptor* v) {
  std::string prefix = enumValuePrefix(v->type());
  std::string name = v->name();
  if (name.compare(0, prefix.size(), prefix) == 0) {
    name = name.substr(prefix.size());
  }
  for (char& ch : name) {
    ch = ch == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return name;
}

const pb::EnumValueDescriptor* enumFromYamlName(const pb::EnumDescriptor* e,
                                                std::string_view yaml) {
  std::string name = enumValuePrefix(e);
  for (char ch : yaml) {
    name += ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  return e->FindValueByName(name);
}

bool isDuration(const pb::FieldDescriptor* fd) {
  return fd->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE &&
         fd->message_type()->full_name() == "google.protobuf.Duration";
}

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

/// Collects every set field of `m` into `doc` (entries and sections); conversion problems go to
/// `errors` with the field path as key.
void protoToDoc(const pb::Message& m, const std::string& prefix, RawDoc& doc,
                std::vector<Violation>& errors) {
  const pb::Reflection* r = m.GetReflection();
  const pb::UnknownFieldSet& unknown = r->GetUnknownFields(m);
  if (!unknown.empty()) {
    std::string numbers;
    for (int i = 0; i < unknown.field_count(); ++i) {
      if (!numbers.empty()) {
        numbers += ", ";
      }
      numbers += std::to_string(unknown.field(i).number());
    }
    errors.push_back(Violation{"", 0, 0, prefix.empty() ? m.GetDescriptor()->name() : prefix,
                               "has fields this build does not know (numbers " + numbers +
                                   "); refusing rather than ignoring settings"});
  }
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const pb::FieldDescriptor* fd : fields) {
    std::string key = join(prefix, fd->name());
    auto fail = [&](std::string message) {
      errors.push_back(Violation{"", 0, 0, key, std::move(message)});
      doc.invalid.push_back(key);
    };
    if (fd->is_repeated()) {
      RawValue v;
      for (int i = 0; i < r->FieldSize(m, fd); ++i) {
        v.items.push_back(r->GetRepeatedString(m, fd, i));
      }
      doc.entries.emplace_back(key, std::move(v));
      continue;
    }
    switch (fd->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
        const pb::Message& sub = r->GetMessage(m, fd);
        if (isDuration(fd)) {
          const pb::Reflection* dr = sub.GetReflection();
          const pb::Descriptor* dd = sub.GetDescriptor();
          int64_t seconds = dr->GetInt64(sub, dd->FindFieldByName("seconds"));
          int32_t nanos = dr->GetInt32(sub, dd->FindFieldByName("nanos"));
          if (seconds < 0 || nanos < 0 || nanos >= 1'000'000'000 || seconds > 315'576'000'000) {
            fail("must be a non-negative duration");
          } else if (nanos % kNanosPerMilli != 0) {
            fail("must be whole milliseconds");
          } else {
            auto ms = std::chrono::milliseconds(seconds * 1000 + nanos / kNanosPerMilli);
            doc.entries.emplace_back(key, RawValue{{detail::formatDuration(ms)}, {}});
          }
        } else {
          doc.sections.emplace_back(key, detail::Mark{});
          protoToDoc(sub, key, doc, errors);
        }
        break;
      }
      case pb::FieldDescriptor::CPPTYPE_BOOL:
        doc.entries.emplace_back(key, RawValue{{r->GetBool(m, fd) ? "true" : "false"}, {}});
        break;
      case pb::FieldDescriptor::CPPTYPE_UINT32:
        doc.entries.emplace_back(key, RawValue{{std::to_string(r->GetUInt32(m, fd))}, {}});
        break;
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        doc.entries.emplace_back(key, RawValue{{std::to_string(r->GetUInt64(m, fd))}, {}});
        break;
      case pb::FieldDescriptor::CPPTYPE_STRING:
        doc.entries.emplace_back(key, RawValue{{r->GetString(m, fd)}, {}});
        break;
      case pb::FieldDescriptor::CPPTYPE_ENUM: {
        const pb::EnumValueDescriptor* v = r->GetEnum(m, fd);
        if (v->number() == 0) {
          fail("is set to " + v->name() + "; leave it unset for the default");
        } else {
          doc.entries.emplace_back(key, RawValue{{enumYamlName(v)}, {}});
        }
        break;
      }
      default:
        fail("has a type this translation does not handle");
        break;
    }
  }
}

/// Sets the field at `key` (a dotted path) of `root` from `value`. Returns a problem, if any.
std::optional<std::string> setField(pb::Message& root, const std::string& key,
                                    const RawValue& value) {
  pb::Message* m = &root;
  size_t start = 0;
  while (true) {
    size_t dot = key.find('.', start);
    std::string part = key.substr(start, dot == std::string::npos ? dot : dot - start);
    const pb::FieldDescriptor* fd = m->GetDescriptor()->FindFieldByName(part);
    if (fd == nullptr) {
      return "has no proto field (" + m->GetDescriptor()->full_name() + "." + part + ")";
    }
    const pb::Reflection* r = m->GetReflection();
    if (dot != std::string::npos) {
      if (fd->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE || isDuration(fd)) {
        return std::string("is not a message in the proto");
      }
      m = r->MutableMessage(m, fd);
      start = dot + 1;
      continue;
    }
    if (fd->is_repeated()) {
      r->ClearField(m, fd);
      for (const std::string& item : value.items) {
        r->AddString(m, fd, item);
      }
      return std::nullopt;
    }
    if (value.items.size() != 1) {
      return std::string("must be a single value");
    }
    const std::string& text = value.items[0];
    switch (fd->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
        std::optional<std::chrono::milliseconds> d = detail::parseDuration(text);
        if (!isDuration(fd) || !d) {
          return "must be a duration such as \"30s\", not \"" + text + "\"";
        }
        pb::Message* dm = r->MutableMessage(m, fd);
        const pb::Descriptor* dd = dm->GetDescriptor();
        dm->GetReflection()->SetInt64(dm, dd->FindFieldByName("seconds"), d->count() / 1000);
        dm->GetReflection()->SetInt32(dm, dd->FindFieldByName("nanos"),
                                      static_cast<int32_t>((d->count() % 1000) * kNanosPerMilli));
        return std::nullopt;
      }
      case pb::FieldDescriptor::CPPTYPE_BOOL: {
        std::optional<bool> b = detail::parseBool(text);
        if (!b) {
          return "must be true or false, not \"" + text + "\"";
        }
        r->SetBool(m, fd, *b);
        return std::nullopt;
      }
      case pb::FieldDescriptor::CPPTYPE_UINT32:
      case pb::FieldDescriptor::CPPTYPE_UINT64: {
        std::optional<uint64_t> n = detail::parseUint(text);
        bool is32 = fd->cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT32;
        if (!n || (is32 && *n > UINT32_MAX)) {
          return "must be a non-negative whole number, not \"" + text + "\"";
        }
        if (is32) {
          r->SetUInt32(m, fd, static_cast<uint32_t>(*n));
        } else {
          r->SetUInt64(m, fd, *n);
        }
        return std::nullopt;
      }
      case pb::FieldDescriptor::CPPTYPE_STRING:
        r->SetString(m, fd, text);
        return std::nullopt;
      case pb::FieldDescriptor::CPPTYPE_ENUM: {
        const pb::EnumValueDescriptor* v = enumFromYamlName(fd->enum_type(), text);
        if (v == nullptr || v->number() == 0) {
          return "is not a value of " + fd->enum_type()->full_name() + ": \"" + text + "\"";
        }
        r->SetEnum(m, fd, v);
        return std::nullopt;
      }
      default:
        return std::string("has a type this translation does not handle");
    }
  }
}

template <class P, class T>
P toProtoImpl(const Schema<T>& schema, const T& config) {
  P proto;
  RawDoc doc = detail::renderDoc(schema, config, false);
  for (const auto& [key, value] : doc.entries) {
    // The key tables and config.proto are checked to match one-to-one by the unit tests, and
    // rendered values always parse; a failure here is a bug in this library.
    std::optional<std::string> problem = setField(proto, key, value);
    assert(!problem);
    (void)problem;
  }
  return proto;
}

template <class T>
StatusOr<std::shared_ptr<const T>> fromProtoImpl(const Schema<T>& schema, const pb::Message& proto,
                                                 const T* base) {
  std::vector<Violation> errors;
  RawDoc overlay;
  protoToDoc(proto, "", overlay, errors);
  if (base == nullptr) {
    return detail::build(schema, overlay, std::move(errors));
  }
  RawDoc doc = detail::renderDoc(schema, *base, true);
  for (auto& [key, value] : overlay.entries) {
    const auto& wanted = key;  // clang 14 cannot capture a structured binding
    auto it = std::find_if(doc.entries.begin(), doc.entries.end(),
                           [&](const auto& e) { return e.first == wanted; });
    if (it != doc.entries.end()) {
      it->second = std::move(value);
    } else {
      doc.entries.emplace_back(key, std::move(value));
    }
  }
  doc.invalid = std::move(overlay.invalid);
  // A failed overlay key must not fall back to base's value silently.
  std::erase_if(doc.entries, [&](const auto& e) {
    return std::find(doc.invalid.begin(), doc.invalid.end(), e.first) != doc.invalid.end();
  });
  return detail::build(schema, doc, std::move(errors));
}

template <class P, class T>
StatusOr<P> protoFromYamlImpl(const Schema<T>& schema, std::string_view text,
                              std::string_view name) {
  std::vector<Violation> errors;
  RawDoc doc = detail::parseYaml(schema, text, name, errors);
  if (doc.fatal) {
    return Status::invalid(std::move(errors));
  }
  P proto;
  T scratch = schema.defaults;
  detail::ErrorSink sink(doc, errors);
  for (const auto& [key, value] : doc.entries) {
    if (!detail::applyEntry(schema, scratch, key, value, sink)) {
      continue;
    }
    if (std::optional<std::string> problem = setField(proto, key, value)) {
      sink.add(key, std::move(*problem));
    }
  }
  if (!errors.empty()) {
    return Status::invalid(std::move(errors));
  }
  return proto;
}

}  // namespace

teredo::v1::ServerConfig toProto(const ServerConfig& config) {
  return toProtoImpl<teredo::v1::ServerConfig>(detail::serverSchema(), config);
}
teredo::v1::RelayConfig toProto(const RelayConfig& config) {
  return toProtoImpl<teredo::v1::RelayConfig>(detail::relaySchema(), config);
}
teredo::v1::ControllerConfig toProto(const ControllerConfig& config) {
  return toProtoImpl<teredo::v1::ControllerConfig>(detail::controllerSchema(), config);
}

StatusOr<std::shared_ptr<const ServerConfig>> serverConfigFromProto(
    const teredo::v1::ServerConfig& proto) {
  return fromProtoImpl<ServerConfig>(detail::serverSchema(), proto, nullptr);
}
StatusOr<std::shared_ptr<const RelayConfig>> relayConfigFromProto(
    const teredo::v1::RelayConfig& proto) {
  return fromProtoImpl<RelayConfig>(detail::relaySchema(), proto, nullptr);
}
StatusOr<std::shared_ptr<const ControllerConfig>> controllerConfigFromProto(
    const teredo::v1::ControllerConfig& proto) {
  return fromProtoImpl<ControllerConfig>(detail::controllerSchema(), proto, nullptr);
}
StatusOr<std::shared_ptr<const ServerConfig>> serverConfigFromProto(
    const teredo::v1::ServerConfig& proto, const ServerConfig& base) {
  return fromProtoImpl<ServerConfig>(detail::serverSchema(), proto, &base);
}
StatusOr<std::shared_ptr<const RelayConfig>> relayConfigFromProto(
    const teredo::v1::RelayConfig& proto, const RelayConfig& base) {
  return fromProtoImpl<RelayConfig>(detail::relaySchema(), proto, &base);
}

namespace {

template <class T>
StatusOr<std::string> yamlFromProtoImpl(const Schema<T>& schema, const pb::Message& proto) {
  RawDoc doc;
  std::vector<Violation> errors;
  protoToDoc(proto, "", doc, errors);
  if (!errors.empty()) {
    return Status::invalid(std::move(errors));
  }
  if (doc.entries.empty()) {
    return std::string("{}\n");
  }
  return detail::renderDocYaml(schema, doc);
}

}  // namespace

StatusOr<std::string> yamlFromProto(const teredo::v1::ServerConfig& proto) {
  return yamlFromProtoImpl(detail::serverSchema(), proto);
}
StatusOr<std::string> yamlFromProto(const teredo::v1::RelayConfig& proto) {
  return yamlFromProtoImpl(detail::relaySchema(), proto);
}

StatusOr<teredo::v1::ServerConfig> serverProtoFromYaml(std::string_view text,
                                                       std::string_view name) {
  return protoFromYamlImpl<teredo::v1::ServerConfig>(detail::serverSchema(), text, name);
}
StatusOr<teredo::v1::RelayConfig> relayProtoFromYaml(std::string_view text, std::string_view name) {
  return protoFromYamlImpl<teredo::v1::RelayConfig>(detail::relaySchema(), text, name);
}
StatusOr<teredo::v1::ControllerConfig> controllerProtoFromYaml(std::string_view text,
                                                               std::string_view name) {
  return protoFromYamlImpl<teredo::v1::ControllerConfig>(detail::controllerSchema(), text, name);
}

std::string_view roleName(teredo::v1::Role role) {
  switch (role) {
    case teredo::v1::ROLE_SERVER:
      return "server";
    case teredo::v1::ROLE_RELAY:
      return "relay";
    default:
      return "unspecified";
  }
}

Status validateAgentConfig(const teredo::v1::AgentConfig& config) {
  switch (config.role_case()) {
    case teredo::v1::AgentConfig::kServer: {
      const Status loaded = serverConfigFromProto(config.server()).status();
      // An agent overlays a snapshot onto its bootstrap file, which always names the primary
      // address (the file loader requires it): a snapshot without one (role defaults such as
      // rate limits) is complete for the agent, so "is required" is not an error here.
      if (loaded.ok() || config.server().server().has_primary_address()) {
        return loaded;
      }
      std::vector<Violation> errors = loaded.violations();
      std::erase_if(errors, [](const Violation& e) { return e.key == "server.primary_address"; });
      return errors.empty() ? Status() : Status::invalid(std::move(errors));
    }
    case teredo::v1::AgentConfig::kRelay:
      return relayConfigFromProto(config.relay()).status();
    case teredo::v1::AgentConfig::ROLE_NOT_SET:
      break;
  }
  return Status::invalid(
      {Violation{"", 0, 0, "role", "is not set: the config must be a server or a relay"}});
}

teredo::v1::ConfigError toProto(const Status& status) {
  teredo::v1::ConfigError out;
  for (const Violation& e : status.violations()) {
    teredo::v1::FieldViolation* v = out.add_field_violations();
    v->set_field(e.key);
    v->set_description(e.message);
  }
  out.set_message(status.message());
  return out;
}

}  // namespace teredo::config

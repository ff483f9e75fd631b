#include "contexts.h"

#include <yaml-cpp/yaml.h>

#include <charconv>

namespace teredoctl {

namespace {

teredo::Status bad(const std::string& file, const YAML::Mark& mark, const std::string& what) {
  return teredo::Status::error(teredo::StatusCode::kInvalidArgument,
                               file + ":" + std::to_string(mark.line + 1) + ": " + what);
}

std::string expandHome(const std::string& path, const std::string& home) {
  return path.rfind("~/", 0) == 0 && !home.empty() ? home + path.substr(1) : path;
}

}  // namespace

teredo::StatusOr<ContextFile> parseContextFile(std::string_view text, const std::string& file,
                                               const std::string& home) {
  YAML::Node root;
  try {  // yaml-cpp reports syntax errors by throwing; this is the tool's edge, not a data path
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return bad(file, e.mark, "YAML syntax error: " + e.msg);
  }
  ContextFile out;
  if (!root || root.IsNull()) {
    return out;
  }
  if (!root.IsMap()) {
    return bad(file, root.Mark(), "expected a mapping with current-context and contexts");
  }
  for (const auto& top : root) {
    const std::string key = top.first.as<std::string>();
    if (key == "current-context") {
      out.current = top.second.as<std::string>("");
    } else if (key == "contexts") {
      if (!top.second.IsMap()) {
        return bad(file, top.second.Mark(), "contexts: expected a mapping of names to contexts");
      }
      for (const auto& ctx : top.second) {
        const std::string name = ctx.first.as<std::string>();
        if (!ctx.second.IsMap()) {
          return bad(file, ctx.second.Mark(), "contexts." + name + ": expected a mapping");
        }
        GlobalOptions g;
        for (const auto& kv : ctx.second) {
          const std::string k = kv.first.as<std::string>();
          if (!kv.second.IsScalar()) {
            return bad(file, kv.second.Mark(), "contexts." + name + "." + k + ": expected a value");
          }
          const std::string v = kv.second.as<std::string>();
          if (k == "controller") {
            g.controller = v;
          } else if (k == "token-file") {
            g.tokenFile = expandHome(v, home);
          } else if (k == "tls-ca") {
            g.caFile = expandHome(v, home);
          } else if (k == "tls-cert") {
            g.certFile = expandHome(v, home);
          } else if (k == "tls-key") {
            g.keyFile = expandHome(v, home);
          } else if (k == "tls-server-name") {
            g.serverName = v;
          } else if (k == "timeout") {
            const std::optional<uint64_t> s = parseDecimal(v, 1, 86400);
            if (!s) {
              return bad(file, kv.second.Mark(),
                         "contexts." + name + ".timeout: seconds in 1..86400, got \"" + v + "\"");
            }
            g.timeoutSeconds = static_cast<int>(*s);
          } else {
            return bad(file, kv.first.Mark(),
                       "contexts." + name + "." + k +
                           ": unknown key (controller, token-file, tls-ca, tls-cert, tls-key, "
                           "tls-server-name, timeout)");
          }
        }
        if (g.certFile.empty() != g.keyFile.empty()) {
          return bad(file, ctx.second.Mark(),
                     "contexts." + name + ": tls-cert and tls-key go together");
        }
        out.contexts[name] = g;
      }
    } else {
      return bad(file, top.first.Mark(), key + ": unknown key (current-context, contexts)");
    }
  }
  if (!out.current.empty() && out.contexts.find(out.current) == out.contexts.end()) {
    return teredo::Status::error(
        teredo::StatusCode::kInvalidArgument,
        file + ": current-context " + out.current + " names no context in contexts");
  }
  return out;
}

std::optional<std::string> contextFlag(const std::vector<std::string>& args) {
  std::optional<std::string> name;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--context" && i + 1 < args.size()) {
      name = args[++i];
    } else if (args[i].rfind("--context=", 0) == 0) {
      name = args[i].substr(10);
    }
  }
  return name;
}

teredo::StatusOr<GlobalOptions> startingOptions(const std::optional<ContextFile>& file,
                                                const std::optional<std::string>& name,
                                                const std::optional<std::string>& envController) {
  GlobalOptions g;
  if (envController && !envController->empty()) {
    g.controller = *envController;
  }
  const std::string chosen = name ? *name : (file ? file->current : "");
  if (chosen.empty()) {
    return g;
  }
  if (!file) {
    return teredo::Status::error(teredo::StatusCode::kNotFound,
                                 "--context " + chosen + ": no teredoctl config file");
  }
  const auto it = file->contexts.find(chosen);
  if (it == file->contexts.end()) {
    return teredo::Status::error(teredo::StatusCode::kNotFound,
                                 "--context " + chosen + ": no such context");
  }
  const GlobalOptions& c = it->second;
  const GlobalOptions none;
  // A context sets what it names; the rest stays as the environment and defaults have it.
  if (c.controller != none.controller) {
    g.controller = c.controller;
  }
  g.tokenFile = c.tokenFile.empty() ? g.tokenFile : c.tokenFile;
  g.caFile = c.caFile.empty() ? g.caFile : c.caFile;
  g.certFile = c.certFile.empty() ? g.certFile : c.certFile;
  g.keyFile = c.keyFile.empty() ? g.keyFile : c.keyFile;
  g.serverName = c.serverName.empty() ? g.serverName : c.serverName;
  g.timeoutSeconds = c.timeoutSeconds;
  return g;
}

}  // namespace teredoctl

#include "daemon.h"

#include <signal.h>

#include <array>
#include <iostream>

#include "net/caps.h"
#include "net/event_loop.h"
#include "teredo/build_info.h"

namespace teredo::daemon {
namespace {

constexpr std::array<int, 3> kSignals{SIGHUP, SIGTERM, SIGINT};

void usage(std::ostream& out, const DaemonInfo& info) {
  out << "Usage: " << info.name << " --config FILE\n"
      << "       " << info.name << " --check-config FILE\n\n"
      << info.description << "\n\n"
      << "Options:\n"
         "  --config FILE        run with the YAML config FILE (SIGHUP reloads it)\n"
         "  --check-config FILE  print the effective config and exit 0, or every error and\n"
         "                       exit 1\n"
         "  --help               this text\n"
         "  --version            version and commit\n";
}

}  // namespace

int daemonMain(int argc, char** argv, const DaemonInfo& info,
               const std::function<int(const std::string&)>& run) {
  std::string configPath;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage(std::cout, info);
      return 0;
    }
    if (arg == "--version" || arg == "-V") {
      std::cout << info.name << " " << build::kVersion << " (" << build::kCommit << ")\n";
      return 0;
    }
    if (arg == "--check-config" && i + 1 < argc) {
      return config::checkConfig(info.role, argv[i + 1], std::cout, std::cerr);
    }
    if (arg == "--config" && i + 1 < argc) {
      configPath = argv[++i];
      continue;
    }
    std::cerr << info.name << ": unknown or incomplete argument '" << arg << "'\n";
    usage(std::cerr, info);
    return 64;
  }
  if (configPath.empty()) {
    std::cerr << info.name << ": --config FILE is required\n";
    usage(std::cerr, info);
    return 64;
  }
  return run(configPath);
}

void applyLogConfig(const config::LogConfig& c) {
  agent::LogLevel level = agent::LogLevel::Info;
  switch (c.level) {
    case config::LogLevel::kDebug:
      level = agent::LogLevel::Debug;
      break;
    case config::LogLevel::kInfo:
      level = agent::LogLevel::Info;
      break;
    case config::LogLevel::kWarn:
      level = agent::LogLevel::Warn;
      break;
    case config::LogLevel::kError:
      level = agent::LogLevel::Error;
      break;
  }
  agent::defaultLogger().setLevel(level);
  agent::defaultLogger().setFormat(c.format == config::LogFormat::kJson ? agent::LogFormat::Json
                                                                        : agent::LogFormat::Text);
}

std::string joinKeys(const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& k : keys) {
    if (!out.empty()) {
      out += ", ";
    }
    out += k;
  }
  return out;
}

bool blockDaemonSignals() {
  if (auto st = net::blockSignals(kSignals); !st.ok()) {
    TEREDO_LOG(agent::LogLevel::Error, "cannot block signals", {"error", st.message()});
    return false;
  }
  return true;
}

size_t workerCount(uint32_t configured) {
  return configured != 0 ? configured : std::max(1u, std::thread::hardware_concurrency());
}

net::UdpOptions workerSocketOptions(uint32_t receiveBufferBytes, uint32_t sendBufferBytes) {
  net::UdpOptions o;
  o.reusePort = true;
  o.rcvbuf = static_cast<int>(receiveBufferBytes);
  o.sndbuf = static_cast<int>(sendBufferBytes);
  return o;
}

void dropPrivileges() {
  if (auto st = net::keepOnlyCapabilities({}); !st.ok()) {
    TEREDO_LOG(agent::LogLevel::Warn, "cannot drop capabilities", {"error", st.message()});
  }
  if (auto st = net::setNoNewPrivs(); !st.ok()) {
    TEREDO_LOG(agent::LogLevel::Warn, "cannot set no_new_privs", {"error", st.message()});
  }
}

std::unique_ptr<agent::AdminServer> startAdmin(
    const Endpoint& listen, std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
    std::shared_ptr<const agent::Heartbeats> heartbeats,
    std::shared_ptr<const agent::Readiness> readiness) {
  agent::AdminServerOptions options;
  options.listen = formatEndpoint(listen);
  options.collectables = std::move(collectables);
  options.heartbeats = std::move(heartbeats);
  options.readiness = std::move(readiness);
  auto admin = agent::AdminServer::start(std::move(options));
  if (!admin.ok()) {
    TEREDO_LOG(agent::LogLevel::Error, "cannot start the admin server",
               {"error", admin.status().message()});
    return nullptr;
  }
  return std::move(admin).value();
}

bool runMainLoop(const std::function<void()>& onReload, const std::function<void()>& onTick) {
  auto loop = net::EventLoop::create();
  if (!loop.ok()) {
    TEREDO_LOG(agent::LogLevel::Error, "cannot create the event loop",
               {"error", loop.status().message()});
    return false;
  }
  net::EventLoop& main = *loop.value();
  (void)main.addSignals(kSignals, [&](int signo) {
    if (signo == SIGHUP) {
      onReload();
    } else {
      TEREDO_LOG(agent::LogLevel::Info, "stopping", {"signal", signo});
      main.stop();
    }
  });
  (void)main.addTimer(std::chrono::seconds(1), onTick);
  onTick();
  (void)main.run();
  return true;
}

}  // namespace teredo::daemon

#include "agent/agent_host.h"

#include <signal.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>

#include "agent/log.h"
#include "agent/service_notify.h"
#include "agent/tls_expiry.h"
#include "net/caps.h"
#include "net/event_loop.h"
#include "teredo/build_info.h"

namespace teredo::agent {
namespace {

constexpr std::array<int, 3> kSignals{SIGHUP, SIGTERM, SIGINT};
constexpr int kExitConfig = 1;
constexpr int kExitEnvironment = 2;
constexpr int kExitUsage = 64;

void usage(std::ostream& out, const AgentInfo& info) {
  out << "Usage: " << info.name << " --config FILE\n"
      << "       " << info.name << " --check-config FILE\n\n"
      << info.description << "\n\n"
      << "Options:\n"
         "  --config FILE        run with the YAML config FILE (SIGHUP reloads it)\n"
         "  --check-config FILE  print the effective config and exit 0, or every error and\n"
         "                       exit 1\n"
         "  --help               this text\n"
         "  --version            version and commit\n\n"
         "Exit status: 0 stopped by SIGTERM/SIGINT, 1 invalid config, 2 environment error\n"
         "(bind, tun device, capabilities), 64 bad command line.\n";
}

void dropPrivileges(const std::vector<int>& keep) {
  if (auto st = net::keepOnlyCapabilities(keep); !st.ok()) {
    TEREDO_LOG(LogLevel::Warn, "cannot drop capabilities", {"error", st.message()});
  }
  if (auto st = net::setNoNewPrivs(); !st.ok()) {
    TEREDO_LOG(LogLevel::Warn, "cannot set no_new_privs", {"error", st.message()});
  }
}

/// The main thread's loop until SIGTERM or SIGINT. False (logged) when it cannot be created.
template <class Config>
bool runMainLoop(AgentHost<Config>& host, const ServiceNotifier& notifier) {
  auto loop = net::EventLoop::create();
  if (!loop.ok()) {
    TEREDO_LOG(LogLevel::Error, "cannot create the event loop", {"error", loop.status().message()});
    return false;
  }
  net::EventLoop& main = *loop.value();
  // The first SIGTERM/SIGINT withdraws and starts the role's grace; the loop (and the workers)
  // keep running until it ends. A second signal stops at once.
  std::optional<std::chrono::steady_clock::time_point> stopAt;
  (void)main.addSignals(kSignals, [&](int signo) {
    if (signo == SIGHUP) {
      notifier.reloading();
      (void)host.reload();  // logged by ManagedConfig
      notifier.ready("serving");
      return;
    }
    if (stopAt) {
      TEREDO_LOG(LogLevel::Info, "stopping now", {"signal", signo});
      main.stop();
      return;
    }
    notifier.stopping();
    const std::chrono::milliseconds grace = host.beginStop();
    TEREDO_LOG(LogLevel::Info, "stopping", {"signal", signo},
               {"grace_ms", static_cast<long>(grace.count())});
    stopAt = std::chrono::steady_clock::now() + grace;
    if (grace.count() <= 0) {
      main.stop();
    }
  });
  (void)main.addTimer(std::chrono::milliseconds(100), [&] {
    if (stopAt && std::chrono::steady_clock::now() >= *stopAt) {
      main.stop();
    }
  });
  // Once a second: the main loop's heartbeat, and the service watchdog while every loop beats
  // (a hung worker stops it, and systemd restarts the daemon after WatchdogSec).
  auto tick = [&] {
    host.tick();
    if (host.alive()) {
      notifier.watchdog();
    }
  };
  (void)main.addTimer(std::chrono::seconds(1), tick);
  tick();
  notifier.ready("serving");
  (void)main.run();
  return true;
}

}  // namespace

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

Status restartRequiredStatus(const std::vector<std::string>& keys) {
  std::vector<Violation> violations;
  for (const auto& k : keys) {
    violations.push_back({"", 0, 0, k, "needs a restart (sockets, addresses or interface)"});
  }
  // The request is well-formed; the agent's state (what it has bound) refuses it.
  return Status::error(StatusCode::kFailedPrecondition,
                       "these keys cannot change without a restart: " + joinKeys(keys),
                       std::move(violations));
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

template <class Config>
StatusOr<std::unique_ptr<AgentHost<Config>>> AgentHost<Config>::boot(const std::string& path,
                                                                     const Open& open,
                                                                     Options options) {
  auto loaded = RoleTraits<Config>::loadFile(path);
  if (!loaded.ok()) {
    return loaded.status();
  }
  std::unique_ptr<AgentHost> host(new AgentHost());
  host->managed_ =
      std::make_unique<ManagedConfig<Config>>(path, *loaded, host->metrics_, host->readiness_);
  const std::shared_ptr<const Config> cfg = host->managed_->current();
  const uint64_t version = host->managed_->version();
  applyLogConfig(cfg->log);

  auto role = open(*cfg, version, *host->readiness_);
  if (!role.ok()) {
    return role.status();
  }
  host->role_ = std::move(role).value();
  host->metrics_->setAppliedConfig(version, unixNowSeconds());
  host->metrics_->describe(RoleTraits<Config>::kName, host->readiness_);
  host->heartbeats_ =
      std::make_shared<Heartbeats>(host->role_->lanes() + 1, std::chrono::seconds(10));
  host->socketsBound_ = host->readiness_->addCondition(Readiness::kSocketsBound);
  const size_t configApplied = host->readiness_->addCondition(Readiness::kConfigApplied);
  host->readiness_->set(host->socketsBound_, true);
  host->readiness_->set(configApplied, true);

  AdminServerOptions admin;
  admin.listen = cfg->admin.listen;
  admin.collectables = host->role_->collectables();
  admin.collectables.insert(admin.collectables.begin(), host->metrics_);
  admin.collectables.push_back(
      std::make_shared<TlsExpiryCollectable>(std::vector<std::pair<std::string, std::string>>{
          {"client", cfg->controller.tls.certFile}, {"ca", cfg->controller.tls.caFile}}));
  admin.heartbeats = host->heartbeats_;
  admin.readiness = host->readiness_;
  auto started = AdminServer::start(std::move(admin));
  if (!started.ok()) {
    return started.status().withContext("cannot start the admin server");
  }
  host->admin_ = std::move(started).value();
  // Every socket, device and listener exists: from here on the process needs only what the role
  // keeps. Rebinding needs a restart, which the service manager does with the original
  // privileges.
  if (options.dropPrivileges) {
    dropPrivileges(host->role_->capabilitiesToKeep());
  }
  return host;
}

template <class Config>
void AgentHost<Config>::start() {
  if (started_) {
    return;
  }
  started_ = true;
  role_->start(*heartbeats_);
  typename ManagedConfig<Config>::ControllerHooks hooks;
  hooks.fillStats = [this](v1::StatsReport* report) { role_->fillStats(report); };
  hooks.onDrain = [this](bool draining) { role_->setDraining(draining); };
  hooks.addresses = role_->addresses();
  managed_->start([this](const Config& next, uint64_t version) { publish(next, version); },
                  std::move(hooks));
}

template <class Config>
void AgentHost<Config>::publish(const Config& next, uint64_t version) {
  applyLogConfig(next.log);
  role_->apply(next, version);
  metrics_->setAppliedConfig(version, unixNowSeconds());
}

template <class Config>
Status AgentHost<Config>::reload() {
  return managed_->reloadFile();
}

template <class Config>
void AgentHost<Config>::tick() {
  heartbeats_->beat(role_->lanes());
  role_->tick();
}

template <class Config>
std::chrono::milliseconds AgentHost<Config>::beginStop() {
  readiness_->set(socketsBound_, false);
  return role_->beginStop();
}

template <class Config>
void AgentHost<Config>::shutdown() {
  if (stopped_ || !role_) {
    return;
  }
  stopped_ = true;
  readiness_->set(socketsBound_, false);
  managed_->stop();
  role_->stop();
  admin_.reset();
}

template <class Config>
int runAgent(int argc, char** argv, const AgentInfo& info,
             const typename AgentHost<Config>::Open& open) {
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
      return config::checkConfig(RoleTraits<Config>::kConfigRole, argv[i + 1], std::cout,
                                 std::cerr);
    }
    if (arg == "--config" && i + 1 < argc) {
      configPath = argv[++i];
      continue;
    }
    std::cerr << info.name << ": unknown or incomplete argument '" << arg << "'\n";
    usage(std::cerr, info);
    return kExitUsage;
  }
  if (configPath.empty()) {
    std::cerr << info.name << ": --config FILE is required\n";
    usage(std::cerr, info);
    return kExitUsage;
  }
  // Before any thread exists, so that only the main loop's signalfd sees them.
  if (auto st = net::blockSignals(kSignals); !st.ok()) {
    TEREDO_LOG(LogLevel::Error, "cannot block signals", {"error", st.message()});
    return kExitEnvironment;
  }
  auto host = AgentHost<Config>::boot(configPath, open, {});
  if (!host.ok()) {
    if (host.status().code() == StatusCode::kInvalidArgument) {
      std::fprintf(stderr, "%s\n", host.status().message().c_str());
      return kExitConfig;
    }
    TEREDO_LOG(LogLevel::Error, "cannot start", {"agent", info.name},
               {"error", host.status().message()});
    return kExitEnvironment;
  }
  (*host)->start();
  const ServiceNotifier notifier;
  const bool looped = runMainLoop(**host, notifier);
  (*host)->shutdown();
  TEREDO_LOG(LogLevel::Info, std::string(info.name) + " stopped");
  return looped ? 0 : kExitEnvironment;
}

template class AgentHost<config::ServerConfig>;
template class AgentHost<config::RelayConfig>;
template int runAgent<config::ServerConfig>(int, char**, const AgentInfo&,
                                            const AgentHost<config::ServerConfig>::Open&);
template int runAgent<config::RelayConfig>(int, char**, const AgentInfo&,
                                           const AgentHost<config::RelayConfig>::Open&);

}  // namespace teredo::agent

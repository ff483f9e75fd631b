// teredo-controller: wiring only. Loads the controller YAML (lib/config), opens the state store,
// starts the agent and admin gRPC listeners and the admin HTTP server (/metrics, /healthz,
// /readyz), and runs until SIGINT or SIGTERM; SIGHUP re-reads the file (the live keys apply at
// once). Logs are structured (log.format). The logic lives in
// teredo_controller_core.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "agent/admin_server.h"
#include "agent/health.h"
#include "agent/log.h"
#include "agent/service_notify.h"
#include "agent/tls_expiry.h"
#include "base/file.h"
#include "base/status.h"
#include "config/config.h"
#include "controller.h"
#include "grpc_services.h"
#include "metrics.h"
#include "teredo/build_info.h"
#include "validation.h"

namespace {

constexpr const char* kUsage =
    "usage: teredo-controller --config FILE\n"
    "       teredo-controller --check-config FILE\n"
    "       teredo-controller --help | --version\n"
    "\n"
    "The Teredo Fleet controller: serves agents (controller.agent_listen), the admin API\n"
    "(controller.admin_listen) and /metrics, /healthz, /readyz (admin.listen); keeps config and\n"
    "history in controller.state_dir. SIGHUP re-reads the file (log, debounce, stats interval,\n"
    "the admin API's token and access files; other changes are named and wait for a restart).\n";

teredo::StatusOr<std::string> readToken(const std::string& path) {
  teredo::StatusOr<std::string> read = teredo::readFile(path);
  if (!read.ok()) {
    return read.status().withContext("cannot read controller.auth.token_file");
  }
  std::string t = std::move(read).value();
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) {
    t.pop_back();
  }
  if (t.empty()) {
    return teredo::Status::error(teredo::StatusCode::kInvalidArgument,
                                 "controller.auth.token_file " + path + " is empty");
  }
  return t;
}

/// The admin API's principals: controller.auth.token_file as "admin" (role admin), then every
/// line of controller.auth.access_file.
teredo::StatusOr<teredo::controller::AccessList> loadAccess(
    const teredo::config::ControllerConfig& config) {
  namespace ctl = teredo::controller;
  ctl::AccessList access;
  if (!config.controller.authTokenFile.empty()) {
    teredo::StatusOr<std::string> token = readToken(config.controller.authTokenFile);
    if (!token.ok()) {
      return token.status();
    }
    ctl::Principal admin{"admin", ctl::AccessRole::kAdmin, ctl::CredentialKind::kToken,
                         std::move(token).value()};
    if (teredo::Status s = ctl::addPrincipal(access, std::move(admin)); !s.ok()) {
      return s;
    }
  }
  const std::string& file = config.controller.authAccessFile;
  if (!file.empty()) {
    teredo::StatusOr<std::string> text = teredo::readFile(file);
    if (!text.ok()) {
      return text.status().withContext("cannot read controller.auth.access_file");
    }
    teredo::StatusOr<ctl::AccessList> listed = ctl::parseAccessList(*text, file);
    if (!listed.ok()) {
      return listed.status();
    }
    for (ctl::Principal& p : listed->principals) {
      if (teredo::Status s = ctl::addPrincipal(access, std::move(p)); !s.ok()) {
        return s.withContext(file + " (with controller.auth.token_file, the principal admin)");
      }
    }
  }
  return access;
}

std::string randomNonce() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lock(mu);
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

using teredo::agent::LogLevel;

/// SIGHUP: re-reads the file. The log settings, the debounce, the stats interval (sent to every
/// agent) and the admin API's principals (the token file and the access file, read again) apply
/// at once; every other changed key is named and waits for a restart. A file that does not load,
/// or an access or token file that cannot be read or parsed, changes nothing.
void reload(const std::string& path, teredo::config::ControllerConfig& running,
            teredo::controller::Controller& controller,
            teredo::controller::ControllerServer& server) {
  namespace cfg = teredo::config;
  const auto loaded = cfg::loadControllerConfigFile(path);
  if (!loaded.ok()) {
    TEREDO_LOG(LogLevel::Error, "reload refused; the running config stays", {"file", path},
               {"error", loaded.status().message()});
    return;
  }
  const cfg::ControllerConfig& next = **loaded;
  teredo::StatusOr<teredo::controller::AccessList> access = loadAccess(next);
  if (!access.ok()) {
    TEREDO_LOG(LogLevel::Error, "reload refused; the running config stays", {"file", path},
               {"error", access.status().message()});
    return;
  }
  const std::vector<std::string> restart = cfg::restartRequired(running, next);
  const size_t principals = access->principals.size();
  server.setAccess(std::move(access).value());
  teredo::agent::applyLogConfig(next.log);
  controller.setTiming(next.controller.debounce, next.controller.statsInterval);
  running.log = next.log;
  running.controller.authTokenFile = next.controller.authTokenFile;
  running.controller.authAccessFile = next.controller.authAccessFile;
  running.controller.debounce = next.controller.debounce;
  running.controller.statsInterval = next.controller.statsInterval;
  std::string pending;
  for (const std::string& k : restart) {
    pending += (pending.empty() ? "" : ", ") + k;
  }
  TEREDO_LOG(LogLevel::Info, "reloaded", {"file", path},
             {"principals", static_cast<unsigned long>(principals)},
             {"needs_restart", pending.empty() ? "-" : pending});
}

int run(const std::string& path) {
  namespace cfg = teredo::config;
  namespace agent = teredo::agent;
  const auto loaded = cfg::loadControllerConfigFile(path);
  if (!loaded.ok()) {
    std::cerr << loaded.status().message() << "\n";
    return 1;
  }
  cfg::ControllerConfig config = **loaded;
  agent::applyLogConfig(config.log);
  teredo::StatusOr<teredo::controller::AccessList> access = loadAccess(config);
  if (!access.ok()) {
    TEREDO_LOG(LogLevel::Error, "cannot start", {"error", access.status().message()});
    return 1;
  }
  // /readyz: the state is loaded and both gRPC listeners serve. /healthz: the main loop turns.
  auto readiness = std::make_shared<agent::Readiness>();
  const size_t stateLoaded = readiness->addCondition("state_loaded");
  const size_t listening = readiness->addCondition("listeners_up");
  auto heartbeats = std::make_shared<agent::Heartbeats>(1, std::chrono::seconds(10));

  auto store = teredo::controller::openFileStateStore(config.controller.stateDir);
  if (!store.ok()) {
    TEREDO_LOG(LogLevel::Error, "cannot start", {"error", store.status().message()});
    return 1;
  }
  teredo::controller::ControllerOptions options;
  options.debounce = config.controller.debounce;
  options.statsInterval = config.controller.statsInterval;
  teredo::controller::Controller controller(
      options, std::move(store).value(), teredo::controller::validateAgentConfig,
      [] { return std::chrono::system_clock::now(); }, randomNonce);
  if (teredo::Status s = controller.load(); !s.ok()) {
    TEREDO_LOG(LogLevel::Error, "cannot start", {"error", s.message()});
    return 1;
  }
  readiness->set(stateLoaded, true);

  // Signals are taken synchronously by the main thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  teredo::controller::ServerOptions serverOptions;
  serverOptions.agentListen = config.controller.agentListen;
  serverOptions.adminListen = config.controller.adminListen;
  serverOptions.access = std::move(access).value();
  serverOptions.tls.certFile = config.tls.certFile;
  serverOptions.tls.keyFile = config.tls.keyFile;
  serverOptions.tls.caFile = config.tls.caFile;
  serverOptions.tls.requireClientCert = config.tls.requireClientCert;
  teredo::controller::ControllerServer server(controller, serverOptions);
  if (teredo::Status s = server.start(); !s.ok()) {
    TEREDO_LOG(LogLevel::Error, "cannot start", {"error", s.message()});
    return 1;
  }
  readiness->set(listening, true);
  agent::AdminServerOptions adminOptions;
  adminOptions.listen = config.admin.listen;
  adminOptions.collectables = {
      std::make_shared<teredo::controller::FleetCollectable>(controller),
      std::make_shared<agent::TlsExpiryCollectable>(
          std::vector<std::pair<std::string, std::string>>{{"server", config.tls.certFile},
                                                           {"ca", config.tls.caFile}})};
  adminOptions.heartbeats = heartbeats;
  adminOptions.readiness = readiness;
  auto admin = agent::AdminServer::start(adminOptions);
  if (!admin.ok()) {
    TEREDO_LOG(LogLevel::Error, "cannot listen on admin.listen", {"listen", adminOptions.listen},
               {"error", admin.status().message()});
    server.shutdown();
    return 1;
  }
  TEREDO_LOG(LogLevel::Info, "teredo-controller running", {"version", teredo::build::kVersion},
             {"agents", config.controller.agentListen},
             {"admin_api", config.controller.adminListen}, {"admin", adminOptions.listen},
             {"config_version", static_cast<unsigned long>(controller.currentVersion())});

  // The main loop: a heartbeat (and the service watchdog) every second, SIGHUP reloads,
  // SIGTERM/SIGINT stop. systemd (Type=notify) learns when it serves, reloads and stops.
  const agent::ServiceNotifier notifier;
  notifier.ready("serving");
  for (;;) {
    heartbeats->beat(0);
    notifier.watchdog();
    const timespec second{1, 0};
    const int sig = sigtimedwait(&signals, nullptr, &second);
    if (sig < 0) {
      continue;  // timeout or EINTR
    }
    if (sig == SIGHUP) {
      notifier.reloading();
      reload(path, config, controller, server);
      notifier.ready("serving");
      continue;
    }
    notifier.stopping();
    TEREDO_LOG(LogLevel::Info, "stopping", {"signal", sig});
    break;
  }
  readiness->set(listening, false);
  server.shutdown();
  admin.value().reset();
  TEREDO_LOG(LogLevel::Info, "teredo-controller stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::cout << kUsage;
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::cout << "teredo-controller " << teredo::build::kVersion << " (" << teredo::build::kCommit
              << ")\n";
    return 0;
  }
  if (argc == 3 && std::strcmp(argv[1], "--check-config") == 0) {
    return teredo::config::checkConfig(teredo::config::Role::kController, argv[2], std::cout,
                                       std::cerr);
  }
  if (argc == 3 && std::strcmp(argv[1], "--config") == 0) {
    return run(argv[2]);
  }
  std::cerr << kUsage;
  return 2;
}

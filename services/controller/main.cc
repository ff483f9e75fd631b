// teredo-controller: wiring only. Loads the controller YAML (lib/config), opens the state store,
// starts the agent and admin gRPC listeners and the /metrics exposer, and runs until SIGINT or
// SIGTERM. The logic lives in teredo_controller_core.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>
#include <random>
#include <string>

#include <prometheus/exposer.h>

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
    "(controller.admin_listen) and /metrics (admin.listen); keeps config and history in\n"
    "controller.state_dir.\n";

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

std::string randomNonce() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lock(mu);
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

int run(const std::string& path) {
  namespace cfg = teredo::config;
  const auto loaded = cfg::loadControllerConfigFile(path);
  if (!loaded.ok()) {
    std::cerr << loaded.status().message() << "\n";
    return 1;
  }
  const cfg::ControllerConfig& config = **loaded;
  std::string token;
  if (!config.controller.authTokenFile.empty()) {
    teredo::StatusOr<std::string> read = readToken(config.controller.authTokenFile);
    if (!read.ok()) {
      std::cerr << "teredo-controller: " << read.status().message() << "\n";
      return 1;
    }
    token = std::move(read).value();
  }
  auto store = teredo::controller::openFileStateStore(config.controller.stateDir);
  if (!store.ok()) {
    std::cerr << "teredo-controller: " << store.status().message() << "\n";
    return 1;
  }
  teredo::controller::ControllerOptions options;
  options.debounce = config.controller.debounce;
  options.statsInterval = config.controller.statsInterval;
  teredo::controller::Controller controller(
      options, std::move(store).value(), teredo::controller::validateAgentConfig,
      [] { return std::chrono::system_clock::now(); }, randomNonce);
  if (teredo::Status s = controller.load(); !s.ok()) {
    std::cerr << "teredo-controller: " << s.message() << "\n";
    return 1;
  }

  // Signals are taken synchronously by the main thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  teredo::controller::ServerOptions serverOptions;
  serverOptions.agentListen = config.controller.agentListen;
  serverOptions.adminListen = config.controller.adminListen;
  serverOptions.adminToken = token;
  serverOptions.tls.certFile = config.tls.certFile;
  serverOptions.tls.keyFile = config.tls.keyFile;
  serverOptions.tls.caFile = config.tls.caFile;
  serverOptions.tls.requireClientCert = config.tls.requireClientCert;
  if (token.empty() && !config.tls.requireClientCert) {
    std::cerr << "teredo-controller: warning: admin API without authentication "
                 "(set controller.auth.token_file or tls.require_client_cert)\n";
  }
  teredo::controller::ControllerServer server(controller, serverOptions);
  if (teredo::Status s = server.start(); !s.ok()) {
    std::cerr << "teredo-controller: " << s.message() << "\n";
    return 1;
  }
  const std::string metricsListen = teredo::formatEndpoint(config.admin.listen);
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(metricsListen);
  } catch (const std::exception& e) {  // civetweb reports bind failures by throwing
    std::cerr << "teredo-controller: cannot listen on admin.listen " << metricsListen << ": "
              << e.what() << "\n";
    server.shutdown();
    return 1;
  }
  auto collectable = std::make_shared<teredo::controller::FleetCollectable>(controller);
  exposer->RegisterCollectable(collectable);
  std::cerr << "teredo-controller " << teredo::build::kVersion << " agents on "
            << config.controller.agentListen << ", admin API on " << config.controller.adminListen
            << ", metrics on " << metricsListen << ", config version "
            << controller.currentVersion() << "\n";

  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "teredo-controller: signal " << sig << ", shutting down\n";
  server.shutdown();
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

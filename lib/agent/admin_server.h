// Admin HTTP server: GET /metrics (Prometheus text format 0.0.4), /healthz (event
// loops alive) and /readyz (sockets bound, tun up, config applied, not draining). Built on
// libmicrohttpd; binds IPv4 or IPv6 ("127.0.0.1:9544", "0.0.0.0:9544", "[::1]:9544", "[::]:9544";
// port 0 = any free port). At most 64 connections (16 per client address), 5 s idle timeout.
//
// Thread-safety: start() and the destructor from one thread; port() from any thread. Requests are
// served on the library's own threads (`threads`, default 2); they only read the shared state
// below, which is itself thread-safe.
// Ownership: the server keeps shared_ptrs to the collectables, Heartbeats and Readiness, so they
// outlive it. Destroying the server stops it (waits for in-flight requests).
#pragma once

#include <prometheus/collectable.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/health.h"
#include "base/status.h"

struct MHD_Daemon;

namespace teredo::agent {

struct AdminServerOptions {
  /// "ipv4:port" or "[ipv6]:port" (base/socket_address.h).
  std::string listen = "127.0.0.1:0";
  int threads = 2;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables;
  /// Null: /healthz always 200.
  std::shared_ptr<const Heartbeats> heartbeats;
  /// Null: /readyz always 200.
  std::shared_ptr<const Readiness> readiness;
};

class AdminServer {
 public:
  /// Binds and starts serving. On failure, one clear message naming the setting
  /// ("admin.listen: ..."): kInvalidArgument for a malformed address, kUnavailable when it cannot
  /// be served on (e.g. the port is taken).
  static StatusOr<std::unique_ptr<AdminServer>> start(AdminServerOptions options);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// The bound TCP port (useful with port 0).
  uint16_t port() const { return port_; }

  /// The /metrics body: every collectable, serialized in registration order.
  std::string renderMetrics() const;

 private:
  explicit AdminServer(AdminServerOptions options) : options_(std::move(options)) {}
  friend struct AdminServerCallbacks;  // libmicrohttpd's callbacks (admin_server.cc)

  AdminServerOptions options_;
  MHD_Daemon* daemon_ = nullptr;
  uint16_t port_ = 0;
  std::string lastError_;  // the library's last message while starting
};

}  // namespace teredo::agent

// Admin HTTP server: GET /metrics (Prometheus text format 0.0.4), /healthz (event
// loops alive) and /readyz (sockets bound, tun up, config applied, not draining). Built on
// civetweb's C API; binds IPv4 only ("127.0.0.1:9090", "0.0.0.0:9090", port 0 = any free port).
//
// Thread-safety: start() and the destructor from one thread; port() from any thread. Requests are
// served on civetweb's own threads (`threads`, default 2); they only read the shared state below,
// which is itself thread-safe.
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

struct mg_context;
struct mg_connection;

namespace teredo::agent {

struct AdminServerOptions {
  /// IPv4 "host:port"; IPv6 is refused (prometheus-cpp's civetweb cannot bind it).
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
  static int handleMetrics(mg_connection* conn, void* self);
  static int handleHealthz(mg_connection* conn, void* self);
  static int handleReadyz(mg_connection* conn, void* self);

  AdminServerOptions options_;
  mg_context* ctx_ = nullptr;
  uint16_t port_ = 0;
};

struct HostPort {
  std::string host;  ///< dotted quad, as written
  uint16_t port = 0;
};

/// Splits an IPv4 "a.b.c.d:port" (port 0..65535); kInvalidArgument saying what is wrong with
/// anything else.
StatusOr<HostPort> parseIpv4HostPort(const std::string& s);

}  // namespace teredo::agent

#include "agent/admin_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <charconv>
#include <cstring>
#include <mutex>
#include <sstream>

namespace teredo::agent {

StatusOr<HostPort> parseIpv4HostPort(const std::string& s) {
  auto invalid = [](std::string why) {
    return Status::error(StatusCode::kInvalidArgument, std::move(why));
  };
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) {
    return invalid("expected IPv4 host:port, got \"" + s + "\"");
  }
  const std::string h = s.substr(0, colon);
  in_addr a{};
  if (h.find(':') != std::string::npos || h.front() == '[') {
    return invalid("IPv6 is not supported for the admin listener (civetweb), got \"" + s + "\"");
  }
  if (inet_pton(AF_INET, h.c_str(), &a) != 1) {
    return invalid("host is not an IPv4 address in \"" + s + "\"");
  }
  unsigned p = 0;
  const char* b = s.data() + colon + 1;
  const char* e = s.data() + s.size();
  const auto r = std::from_chars(b, e, p);
  if (r.ec != std::errc() || r.ptr != e || p > 65535) {
    return invalid("port is not a number in 0..65535 in \"" + s + "\"");
  }
  return HostPort{h, static_cast<uint16_t>(p)};
}

namespace {

void reply(mg_connection* conn, int status, const char* reason, const char* contentType,
           const std::string& body) {
  const bool head = std::strcmp(mg_get_request_info(conn)->request_method, "HEAD") == 0;
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            status, reason, contentType, body.size());
  if (!head) {
    mg_write(conn, body.data(), body.size());
  }
}

bool methodAllowed(mg_connection* conn) {
  const char* m = mg_get_request_info(conn)->request_method;
  if (std::strcmp(m, "GET") == 0 || std::strcmp(m, "HEAD") == 0) {
    return true;
  }
  reply(conn, 405, "Method Not Allowed", "text/plain; charset=utf-8", "GET only\n");
  return false;
}

}  // namespace

StatusOr<std::unique_ptr<AdminServer>> AdminServer::start(AdminServerOptions options) {
  const StatusOr<HostPort> listen = parseIpv4HostPort(options.listen);
  if (!listen.ok()) {
    return listen.status().withContext("admin.listen");
  }
  const std::string& host = listen->host;
  const uint16_t port = listen->port;
  static std::once_flag initOnce;
  std::call_once(initOnce, [] { mg_init_library(0); });

  std::unique_ptr<AdminServer> self(new AdminServer(std::move(options)));
  const std::string ports = host + ":" + std::to_string(port);
  const std::string threads =
      std::to_string(self->options_.threads < 1 ? 1 : self->options_.threads);
  const char* opts[] = {"listening_ports",
                        ports.c_str(),
                        "num_threads",
                        threads.c_str(),
                        "request_timeout_ms",
                        "5000",
                        "enable_keep_alive",
                        "no",
                        nullptr};
  mg_callbacks callbacks{};
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = self.get();
  init.configuration_options = opts;
  char errText[256] = {0};
  unsigned errCode = 0;
  mg_error_data err{};
  err.code = &errCode;
  err.text = errText;
  err.text_buffer_size = sizeof(errText);
  self->ctx_ = mg_start2(&init, &err);
  if (self->ctx_ == nullptr) {
    return Status::error(
        StatusCode::kUnavailable,
        "admin.listen: cannot serve on " + ports + ": " +
            (errText[0] != '\0' ? std::string(errText) : std::string("civetweb start failed")));
  }
  mg_server_port sp[4];
  const int n = mg_get_server_ports(self->ctx_, 4, sp);
  if (n < 1 || sp[0].port <= 0) {
    // The destructor of `self` stops the context.
    return Status::error(StatusCode::kInternal,
                         "admin.listen: cannot find the bound port for " + ports);
  }
  self->port_ = static_cast<uint16_t>(sp[0].port);
  mg_set_request_handler(self->ctx_, "/metrics$", &AdminServer::handleMetrics, self.get());
  mg_set_request_handler(self->ctx_, "/healthz$", &AdminServer::handleHealthz, self.get());
  mg_set_request_handler(self->ctx_, "/readyz$", &AdminServer::handleReadyz, self.get());
  return std::unique_ptr<AdminServer>(std::move(self));
}

AdminServer::~AdminServer() {
  if (ctx_ != nullptr) {
    mg_stop(ctx_);
  }
}

std::string AdminServer::renderMetrics() const {
  std::vector<prometheus::MetricFamily> all;
  for (const auto& c : options_.collectables) {
    auto fams = c->Collect();
    for (auto& f : fams) {
      all.push_back(std::move(f));
    }
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, all);
  return out.str();
}

int AdminServer::handleMetrics(mg_connection* conn, void* self) {
  if (!methodAllowed(conn)) {
    return 405;
  }
  const auto* s = static_cast<const AdminServer*>(self);
  reply(conn, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", s->renderMetrics());
  return 200;
}

int AdminServer::handleHealthz(mg_connection* conn, void* self) {
  if (!methodAllowed(conn)) {
    return 405;
  }
  const auto* s = static_cast<const AdminServer*>(self);
  std::string detail = "ok";
  const bool ok = s->options_.heartbeats == nullptr || s->options_.heartbeats->fresh(&detail);
  if (ok) {
    reply(conn, 200, "OK", "text/plain; charset=utf-8", detail + "\n");
    return 200;
  }
  reply(conn, 503, "Service Unavailable", "text/plain; charset=utf-8", detail + "\n");
  return 503;
}

int AdminServer::handleReadyz(mg_connection* conn, void* self) {
  if (!methodAllowed(conn)) {
    return 405;
  }
  const auto* s = static_cast<const AdminServer*>(self);
  std::string detail = "ready";
  const bool ok = s->options_.readiness == nullptr || s->options_.readiness->ready(&detail);
  if (ok) {
    reply(conn, 200, "OK", "text/plain; charset=utf-8", detail + "\n");
    return 200;
  }
  reply(conn, 503, "Service Unavailable", "text/plain; charset=utf-8", detail + "\n");
  return 503;
}

}  // namespace teredo::agent

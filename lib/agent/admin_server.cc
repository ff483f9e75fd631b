#include "agent/admin_server.h"

#include <microhttpd.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "base/socket_address.h"

namespace teredo::agent {

namespace {

constexpr const char* kText = "text/plain; charset=utf-8";
constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";

// One response, copied into libmicrohttpd's buffer; HEAD gets the headers only (the library
// drops the body of a HEAD reply).
MHD_Result reply(MHD_Connection* conn, unsigned status, const char* contentType,
                 const std::string& body) {
  MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()),
                                                    MHD_RESPMEM_MUST_COPY);
  if (r == nullptr) {
    return MHD_NO;  // out of memory: the library closes the connection
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, contentType);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
  const MHD_Result queued = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return queued;
}

}  // namespace

struct AdminServerCallbacks {
  static MHD_Result handle(void* cls, MHD_Connection* conn, const char* url, const char* method,
                           const char* version, const char* uploadData, size_t* uploadSize,
                           void** state);
  static void logError(void* self, const char* format, va_list args);
};

StatusOr<std::unique_ptr<AdminServer>> AdminServer::start(AdminServerOptions options) {
  StatusOr<SocketAddress> listen = parseSocketAddress(options.listen);
  if (!listen.ok()) {
    return listen.status().withContext("admin.listen");
  }
  std::unique_ptr<AdminServer> self(new AdminServer(std::move(options)));
  const unsigned threads =
      static_cast<unsigned>(self->options_.threads < 1 ? 1 : self->options_.threads);
  // Internal threads (a pool of `threads`), epoll, IPv6 when the address is; bounded
  // connections and a timeout, so a slow or hostile scraper cannot hold the listener.
  const unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                         (listen->ipv6 ? MHD_USE_IPv6 : 0) | MHD_USE_ERROR_LOG;
  self->daemon_ = MHD_start_daemon(
      flags, listen->port, nullptr, nullptr, &AdminServerCallbacks::handle, self.get(),
      MHD_OPTION_SOCK_ADDR, listen->get(), MHD_OPTION_THREAD_POOL_SIZE, threads,
      MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 16u,
      MHD_OPTION_CONNECTION_TIMEOUT, 5u, MHD_OPTION_EXTERNAL_LOGGER,
      &AdminServerCallbacks::logError, self.get(), MHD_OPTION_END);
  if (self->daemon_ == nullptr) {
    const std::string why = self->lastError_.empty() ? "cannot bind" : self->lastError_;
    return Status::error(StatusCode::kUnavailable,
                         "admin.listen: cannot serve on " + self->options_.listen + ": " + why);
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(self->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  if (info == nullptr || info->port == 0) {
    return Status::error(StatusCode::kInternal,
                         "admin.listen: cannot find the bound port for " + self->options_.listen);
  }
  self->port_ = info->port;
  return std::unique_ptr<AdminServer>(std::move(self));
}

AdminServer::~AdminServer() {
  if (daemon_ != nullptr) {
    MHD_stop_daemon(daemon_);
  }
}

void AdminServerCallbacks::logError(void* self, const char* format, va_list args) {
  char buf[256];
  std::vsnprintf(buf, sizeof(buf), format, args);
  std::string& e = static_cast<AdminServer*>(self)->lastError_;
  e = buf;
  while (!e.empty() && (e.back() == '\n' || e.back() == '.')) {
    e.pop_back();
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

MHD_Result AdminServerCallbacks::handle(void* cls, MHD_Connection* conn, const char* url,
                                        const char* method, const char* /*version*/,
                                        const char* /*uploadData*/, size_t* uploadSize,
                                        void** state) {
  // Requests with a body arrive in several calls; the admin API takes none, so the first call
  // answers and any body is ignored.
  *uploadSize = 0;
  if (*state == nullptr) {
    static int first;
    *state = &first;
  }
  const auto* self = static_cast<const AdminServer*>(cls);
  const bool get = std::strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                   std::strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
  const std::string path = url;
  if (path != "/metrics" && path != "/healthz" && path != "/readyz") {
    return reply(conn, MHD_HTTP_NOT_FOUND, kText, "not found\n");
  }
  if (!get) {
    return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, kText, "GET only\n");
  }
  if (path == "/metrics") {
    return reply(conn, MHD_HTTP_OK, kMetricsType, self->renderMetrics());
  }
  std::string detail = path == "/healthz" ? "ok" : "ready";
  const bool ok =
      path == "/healthz"
          ? (self->options_.heartbeats == nullptr || self->options_.heartbeats->fresh(&detail))
          : (self->options_.readiness == nullptr || self->options_.readiness->ready(&detail));
  return reply(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, kText, detail + "\n");
}

}  // namespace teredo::agent

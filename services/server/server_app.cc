#include "server_app.h"

#include <time.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "agent/admin_server.h"
#include "agent/agent_metrics.h"
#include "agent/health.h"
#include "agent/log.h"
#include "common/daemon.h"
#include "config/config.h"
#include "net/raw.h"
#include "net/udp.h"
#include "server_runtime.h"
#include "server_stats.h"
#include "server_worker.h"
#include "teredo/nat_observer.h"
#include "teredo/v1/stats.pb.h"

namespace teredo::server {
namespace {

using agent::LogLevel;

/// The workers' clock (CLOCK_MONOTONIC_COARSE), in milliseconds.
uint64_t monotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

/// The raw IPv6 socket behind the workers' Ipv6Sender (thread-safe: the kernel serialises).
class RawSender : public Ipv6Sender {
 public:
  explicit RawSender(net::RawIpv6Socket socket) : socket_(std::move(socket)) {}
  bool send(Bytes ipv6Packet) override { return socket_.send(ipv6Packet) == 0; }

 private:
  net::RawIpv6Socket socket_;
};

/// NAT observation metrics (teredo/nat_observer.h): classes of the last closed window, cumulative
/// classifications, distinct clients, table fill. Labels: nat_type only.
class NatCollectable : public prometheus::Collectable {
 public:
  explicit NatCollectable(const NatObserver& nat) : nat_(nat) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    const NatCounts window = nat_.lastWindow();
    const NatCounts totals = nat_.totals();
    auto byClass = [&](const char* name, const char* help, prometheus::MetricType type,
                       const NatCounts& counts) {
      prometheus::MetricFamily f{name, help, type, {}};
      for (size_t i = 0; i < kNatClassCount; ++i) {
        prometheus::ClientMetric m;
        m.label = {{"nat_type", natClassLabel(static_cast<NatClass>(i))}};
        const double v = static_cast<double>(counts.byClass[i]);
        if (type == prometheus::MetricType::Counter) {
          m.counter.value = v;
        } else {
          m.gauge.value = v;
        }
        f.metric.push_back(std::move(m));
      }
      out.push_back(std::move(f));
    };
    byClass("teredo_server_nat_clients",
            "Clients seen in the last closed observation window, by the NAT type the server "
            "could infer from their solicitations (unknown: plain solicitations only).",
            prometheus::MetricType::Gauge, window);
    byClass("teredo_server_nat_classifications_total",
            "Per-window client classifications since start, by NAT type.",
            prometheus::MetricType::Counter, totals);
    auto gauge = [&](const char* name, const char* help, double v) {
      prometheus::MetricFamily f{name, help, prometheus::MetricType::Gauge, {}};
      prometheus::ClientMetric m;
      m.gauge.value = v;
      f.metric.push_back(std::move(m));
      out.push_back(std::move(f));
    };
    gauge("teredo_server_distinct_clients",
          "Distinct client mapped addresses and ports in the last closed window (HyperLogLog "
          "estimate, about 1.6 % error).",
          nat_.lastWindowClients());
    gauge("teredo_server_nat_window_seconds", "Length of the NAT observation window.",
          static_cast<double>(nat_.window().count()) / 1000.0);
    gauge("teredo_server_nat_clients_tracked", "Clients in the bounded NAT observation table.",
          static_cast<double>(nat_.trackedClients()));
    gauge("teredo_server_nat_table_capacity", "Capacity of the NAT observation table.",
          static_cast<double>(nat_.capacity()));
    return out;
  }

 private:
  const NatObserver& nat_;
};

std::string endpointText(const Endpoint& e) {
  return formatEndpoint(e);
}

/// The periodic StatsReport for the controller: cumulative counters since start (the controller
/// computes deltas per instance uid), NAT classes and the distinct-client sketch.
void fillStatsReport(const agent::StatsCollectable<ServerStats>& st, const NatObserver& nat,
                     v1::StatsReport* report) {
  v1::StatsCounters* c = report->mutable_counters();
  auto rs = [&](RsKind k) { return st.sum(&ServerStats::solicitations, k); };
  auto ra = [&](RsKind k) { return st.sum(&ServerStats::advertisements, k); };
  auto fwd = [&](ForwardPath p) { return st.sum(&ServerStats::forwarded, p); };
  uint64_t received = 0;
  uint64_t receivedBytes = 0;
  uint64_t kernelDrops = 0;
  for (ServerSocket sock : {ServerSocket::Primary, ServerSocket::Secondary}) {
    received += st.sum(&ServerStats::packetsReceived, sock);
    receivedBytes += st.sum(&ServerStats::bytesReceived, sock);
    kernelDrops += st.sum(&ServerStats::kernelDrops, sock);
  }
  uint64_t advertisements = 0;
  for (size_t k = 0; k < kRsKindCount; ++k) {
    advertisements += ra(static_cast<RsKind>(k));
  }
  c->mutable_traffic()->mutable_udp_received()->set_packets(received);
  c->mutable_traffic()->mutable_udp_received()->set_bytes(receivedBytes);
  c->mutable_traffic()->mutable_udp_sent()->set_packets(
      advertisements + fwd(ForwardPath::UdpOwnClient) + fwd(ForwardPath::UdpOtherServer));
  c->mutable_traffic()->mutable_udp_sent()->set_bytes(st.sum(&ServerStats::bytesSent));
  c->mutable_traffic()->mutable_ipv6_sent()->set_packets(fwd(ForwardPath::Ipv6));
  for (size_t r = 0; r < kDropReasonCount; ++r) {
    const auto reason = static_cast<DropReason>(r);
    if (const uint64_t n = st.sum(&ServerStats::dropped, reason); n != 0) {
      (*c->mutable_drops())[std::string(dropReasonLabel(reason))] = n;
    }
  }
  v1::RouterCounters* router = c->mutable_router();
  router->set_rs_plain_primary(rs(RsKind::PlainPrimary));
  router->set_rs_plain_secondary(rs(RsKind::PlainSecondary));
  router->set_rs_cone_primary(rs(RsKind::ConePrimary));
  router->set_rs_cone_secondary(rs(RsKind::ConeSecondary));
  // RFC 4380 §5.3.2: plain RSs are answered from the address they reached, cone from the other.
  router->set_ra_sent_primary(ra(RsKind::PlainPrimary) + ra(RsKind::ConeSecondary));
  router->set_ra_sent_secondary(ra(RsKind::PlainSecondary) + ra(RsKind::ConePrimary));
  c->mutable_forwards()->set_udp(fwd(ForwardPath::UdpOtherServer));
  c->mutable_forwards()->set_udp_with_origin(fwd(ForwardPath::UdpOwnClient));
  c->mutable_forwards()->set_ipv6(fwd(ForwardPath::Ipv6));
  const NatCounts totals = nat.totals();
  c->mutable_nat()->set_cone(totals[NatClass::Cone]);
  c->mutable_nat()->set_restricted(totals[NatClass::Restricted]);
  c->mutable_nat()->set_symmetric(totals[NatClass::Symmetric]);
  c->mutable_nat()->set_unknown(totals[NatClass::Unknown]);
  c->set_kernel_drops(kernelDrops);
  const std::span<const uint8_t> regs = nat.lifetimeClients().registers();
  report->mutable_distinct_clients()->set_precision(HyperLogLog::kPrecision);
  report->mutable_distinct_clients()->set_registers(
      std::string(reinterpret_cast<const char*>(regs.data()), regs.size()));
}

}  // namespace

int runServer(const std::string& configPath) {
  int exitCode = 0;
  // Bootstrap YAML, overlaid with the controller's last-known-good snapshot when there is one.
  auto boot = daemon::bootstrap<config::ServerConfig>(configPath, &exitCode);
  if (!boot) {
    return exitCode;
  }
  auto& agentMetrics = boot->metrics;
  auto& readiness = boot->readiness;
  auto& managed = *boot->managed;
  const std::shared_ptr<const config::ServerConfig> cfg = boot->config;
  const config::ServerSettings& s = cfg->server;
  const size_t workers = daemon::workerCount(s.workers);
  net::UdpOptions opts =
      daemon::workerSocketOptions(s.socketReceiveBufferBytes, s.socketSendBufferBytes);
  // Each lane waits in recvmmsg itself (server_worker.h): blocking sockets with a receive
  // timeout. Sends still never block (SendBatch passes MSG_DONTWAIT).
  opts.nonBlocking = false;
  opts.receiveTimeoutMs = ServerWorker::kReceiveTimeoutMs;
  std::vector<std::shared_ptr<SocketPair>> sockets;
  for (size_t i = 0; i < workers; ++i) {
    auto primary = net::UdpSocket::open(Endpoint{s.primaryAddress, s.port}, opts);
    if (!primary.ok()) {
      TEREDO_LOG(LogLevel::Error, "cannot open the primary socket (server.primary_address)",
                 {"error", primary.status().message()});
      return 2;
    }
    auto secondary = net::UdpSocket::open(Endpoint{s.secondaryAddress, s.port}, opts);
    if (!secondary.ok()) {
      TEREDO_LOG(LogLevel::Error, "cannot open the secondary socket (server.secondary_address)",
                 {"error", secondary.status().message()});
      return 2;
    }
    auto pair = std::make_shared<SocketPair>();
    pair->sockets[static_cast<size_t>(ServerSocket::Primary)] = std::move(primary.value());
    pair->sockets[static_cast<size_t>(ServerSocket::Secondary)] = std::move(secondary.value());
    sockets.push_back(std::move(pair));
  }

  std::unique_ptr<RawSender> raw;
  if (s.ipv6Forward.enabled) {
    auto r = net::RawIpv6Socket::open();
    if (!r.ok()) {
      TEREDO_LOG(LogLevel::Error,
                 "cannot open the raw IPv6 socket needed by server.ipv6_forward.enabled "
                 "(needs CAP_NET_RAW)",
                 {"error", r.status().message()});
      return 2;
    }
    raw = std::make_unique<RawSender>(std::move(r.value()));
  }

  auto nat = std::make_unique<NatObserver>(s.natObservation.tableSize, s.natObservation.window);
  RuntimeHolder runtime(
      std::make_shared<const ServerRuntime>(makeRuntime(*cfg, managed.version())));
  // One forwarding budget for every lane (reflection bound, RFC 4380 §7.4); reloads resize it.
  SharedRateLimiter forwardBudget(SharedRateLimiter::ZeroRate::Unlimited,
                                  runtime.load()->forwardGlobalPerSecond,
                                  runtime.load()->forwardGlobalBurst);
  // Two receive lanes (threads) per worker, one per socket of its pair.
  const size_t lanes = workers * kSocketCount;
  auto stats = std::make_shared<agent::StatsCollectable<ServerStats>>(lanes);
  agentMetrics->setAppliedConfig(managed.version(), agent::unixNowSeconds());
  auto heartbeats = std::make_shared<agent::Heartbeats>(lanes + 1, std::chrono::seconds(10));
  const size_t socketsBound = readiness->addCondition(agent::Readiness::kSocketsBound);
  const size_t configApplied = readiness->addCondition(agent::Readiness::kConfigApplied);
  readiness->set(socketsBound, true);
  readiness->set(configApplied, true);

  auto admin = daemon::startAdmin(cfg->admin.listen,
                                  {agentMetrics, stats, std::make_shared<NatCollectable>(*nat)},
                                  heartbeats, readiness);
  if (!admin) {
    return 2;
  }
  // Every socket (and the admin listener) is open: no capability is needed any more (port 3544
  // is unprivileged; CAP_NET_RAW only matters when the raw socket is created). Rebinding needs a
  // restart, which the service manager does with the original privileges.
  daemon::dropPrivileges();

  WorkerShared shared;
  shared.runtime = &runtime;
  shared.nat = nat.get();
  shared.ipv6 = raw.get();
  shared.heartbeats = heartbeats.get();
  shared.forwardBudget = &forwardBudget;
  shared.rateLimitTableSize = s.rateLimit.tableSize;
  std::vector<std::unique_ptr<ServerWorker>> pool;
  for (size_t i = 0; i < workers; ++i) {
    for (size_t k = 0; k < kSocketCount; ++k) {
      const size_t lane = i * kSocketCount + k;
      pool.push_back(std::make_unique<ServerWorker>(lane, static_cast<ServerSocket>(k), sockets[i],
                                                    shared, stats->worker(lane)));
    }
  }
  sockets.clear();  // the lanes own the pairs now
  daemon::WorkerThreads<ServerWorker> threads(pool);
  TEREDO_LOG(LogLevel::Info, "teredo-server running",
             {"primary", endpointText(Endpoint{s.primaryAddress, s.port})},
             {"secondary", endpointText(Endpoint{s.secondaryAddress, s.port})},
             {"workers", static_cast<unsigned long>(workers)},
             {"admin", endpointText(cfg->admin.listen)});

  managed.start(
      [&](const config::ServerConfig& next, uint64_t version) {
        daemon::applyLogConfig(next.log);
        auto nextRuntime = std::make_shared<const ServerRuntime>(makeRuntime(next, version));
        forwardBudget.configure(nextRuntime->forwardGlobalPerSecond,
                                nextRuntime->forwardGlobalBurst);
        runtime.store(std::move(nextRuntime));
        agentMetrics->setAppliedConfig(version, agent::unixNowSeconds());
      },
      [&](v1::StatsReport* report) { fillStatsReport(*stats, *nat, report); }, nullptr,
      {formatIpv4(s.primaryAddress), formatIpv4(s.secondaryAddress)});

  const size_t mainSlot = lanes;
  const bool looped = daemon::runMainLoop([&] { managed.reloadFile(); },
                                          [&] {
                                            heartbeats->beat(mainSlot);
                                            nat->rotate(monotonicMs());
                                          });
  readiness->set(socketsBound, false);
  managed.stop();
  threads.stop();
  admin.reset();
  TEREDO_LOG(LogLevel::Info, "teredo-server stopped");
  return looped ? 0 : 2;
}

}  // namespace teredo::server

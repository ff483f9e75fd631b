#include "server_agent.h"

#include <time.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "agent/agent_metrics.h"
#include "agent/health.h"
#include "agent/log.h"
#include "agent/metric_family.h"
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
      std::vector<std::pair<std::string, double>> values;
      for (size_t i = 0; i < kNatClassCount; ++i) {
        values.emplace_back(natClassLabel(static_cast<NatClass>(i)),
                            static_cast<double>(counts.byClass[i]));
      }
      out.push_back(agent::labeledFamily(name, help, type, "nat_type", values));
    };
    byClass("teredo_server_nat_clients",
            "Clients seen in the last closed observation window, by the NAT type the server "
            "could infer from their solicitations (unknown: plain solicitations only).",
            prometheus::MetricType::Gauge, window);
    byClass("teredo_server_nat_classifications_total",
            "Per-window client classifications since start, by NAT type.",
            prometheus::MetricType::Counter, totals);
    using agent::gaugeFamily;
    out.push_back(gaugeFamily(
        "teredo_server_distinct_clients",
        "Distinct client mapped addresses and ports in the last closed window (HyperLogLog "
        "estimate, about 1.6 % error).",
        nat_.lastWindowClients()));
    out.push_back(gaugeFamily("teredo_server_nat_window_seconds",
                              "Length of the NAT observation window.",
                              static_cast<double>(nat_.window().count()) / 1000.0));
    out.push_back(gaugeFamily("teredo_server_nat_clients_tracked",
                              "Clients in the bounded NAT observation table.",
                              static_cast<double>(nat_.trackedClients())));
    out.push_back(gaugeFamily("teredo_server_nat_table_capacity",
                              "Capacity of the NAT observation table.",
                              static_cast<double>(nat_.capacity())));
    return out;
  }

 private:
  const NatObserver& nat_;
};

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

class ServerAgent final : public agent::RoleAgent<config::ServerConfig> {
 public:
  ServerAgent(const config::ServerConfig& cfg, uint64_t version,
              std::vector<std::shared_ptr<SocketPair>> sockets, std::unique_ptr<RawSender> raw)
      : settings_(cfg.server),
        admin_(cfg.admin.listen),
        workers_(sockets.size()),
        sockets_(std::move(sockets)),
        raw_(std::move(raw)),
        nat_(settings_.natObservation.tableSize, settings_.natObservation.window),
        runtime_(std::make_shared<const ServerRuntime>(makeRuntime(cfg, version))),
        // One forwarding budget for every lane (reflection bound, RFC 4380 §7.4).
        forwardBudget_(SharedRateLimiter::ZeroRate::Unlimited,
                       runtime_.load()->forwardGlobalPerSecond,
                       runtime_.load()->forwardGlobalBurst),
        stats_(std::make_shared<agent::StatsCollectable<ServerStats>>(lanes())) {}

  size_t lanes() const override { return workers_ * kSocketCount; }

  std::vector<std::shared_ptr<prometheus::Collectable>> collectables() override {
    return {stats_, std::make_shared<NatCollectable>(nat_)};
  }

  std::vector<std::string> addresses() const override {
    return {formatIpv4(settings_.primaryAddress), formatIpv4(settings_.secondaryAddress)};
  }

  void start(agent::Heartbeats& heartbeats) override {
    WorkerShared shared;
    shared.runtime = &runtime_;
    shared.nat = &nat_;
    shared.ipv6 = raw_.get();
    shared.heartbeats = &heartbeats;
    shared.forwardBudget = &forwardBudget_;
    shared.rateLimitTableSize = settings_.rateLimit.tableSize;
    for (size_t i = 0; i < workers_; ++i) {
      for (size_t k = 0; k < kSocketCount; ++k) {
        const size_t lane = i * kSocketCount + k;
        pool_.push_back(std::make_unique<ServerWorker>(lane, static_cast<ServerSocket>(k),
                                                       sockets_[i], shared, stats_->worker(lane)));
      }
    }
    sockets_.clear();  // the lanes own the pairs now
    threads_.start(pool_);
    TEREDO_LOG(LogLevel::Info, "teredo-server running",
               {"primary", formatEndpoint(Endpoint{settings_.primaryAddress, settings_.port})},
               {"secondary", formatEndpoint(Endpoint{settings_.secondaryAddress, settings_.port})},
               {"workers", static_cast<unsigned long>(workers_)}, {"admin", admin_});
  }

  void apply(const config::ServerConfig& next, uint64_t version) override {
    auto runtime = std::make_shared<const ServerRuntime>(makeRuntime(next, version));
    forwardBudget_.configure(runtime->forwardGlobalPerSecond, runtime->forwardGlobalBurst);
    runtime_.store(std::move(runtime));
  }

  void fillStats(v1::StatsReport* report) override { fillStatsReport(*stats_, nat_, report); }

  void tick() override { nat_.rotate(monotonicMs()); }

  void stop() override { threads_.stop(); }

 private:
  const config::ServerSettings settings_;
  const std::string admin_;
  const size_t workers_;
  std::vector<std::shared_ptr<SocketPair>> sockets_;  // until start() hands them to the lanes
  std::unique_ptr<RawSender> raw_;
  NatObserver nat_;
  RuntimeHolder runtime_;
  SharedRateLimiter forwardBudget_;
  std::shared_ptr<agent::StatsCollectable<ServerStats>> stats_;
  std::vector<std::unique_ptr<ServerWorker>> pool_;
  agent::WorkerThreads<ServerWorker> threads_;
};

}  // namespace

StatusOr<std::unique_ptr<agent::RoleAgent<config::ServerConfig>>> openServerAgent(
    const config::ServerConfig& cfg, uint64_t version, agent::Readiness& readiness) {
  (void)readiness;  // sockets_bound and config_applied are the host's; the server adds none
  const config::ServerSettings& s = cfg.server;
  const size_t workers = agent::workerCount(s.workers);
  net::UdpOptions opts =
      agent::workerSocketOptions(s.socketReceiveBufferBytes, s.socketSendBufferBytes);
  // Each lane waits in recvmmsg itself (server_worker.h): blocking sockets with a receive
  // timeout. Sends still never block (SendBatch passes MSG_DONTWAIT).
  opts.nonBlocking = false;
  opts.receiveTimeoutMs = ServerWorker::kReceiveTimeoutMs;
  std::vector<std::shared_ptr<SocketPair>> sockets;
  for (size_t i = 0; i < workers; ++i) {
    auto pair = std::make_shared<SocketPair>();
    for (ServerSocket which : {ServerSocket::Primary, ServerSocket::Secondary}) {
      const bool primary = which == ServerSocket::Primary;
      auto sock = net::UdpSocket::open(
          Endpoint{primary ? s.primaryAddress : s.secondaryAddress, s.port}, opts);
      if (!sock.ok()) {
        return Status::error(
            StatusCode::kUnavailable,
            std::string(primary ? "server.primary_address" : "server.secondary_address") +
                ": cannot open the socket: " + sock.status().message());
      }
      pair->sockets[static_cast<size_t>(which)] = std::move(sock.value());
    }
    sockets.push_back(std::move(pair));
  }
  std::unique_ptr<RawSender> raw;
  if (s.ipv6Forward.enabled) {
    auto r = net::RawIpv6Socket::open();
    if (!r.ok()) {
      return Status::error(StatusCode::kPermissionDenied,
                           "server.ipv6_forward.enabled: cannot open the raw IPv6 socket (needs "
                           "CAP_NET_RAW): " +
                               r.status().message());
    }
    raw = std::make_unique<RawSender>(std::move(r.value()));
  }
  return std::unique_ptr<agent::RoleAgent<config::ServerConfig>>(
      std::make_unique<ServerAgent>(cfg, version, std::move(sockets), std::move(raw)));
}

}  // namespace teredo::server

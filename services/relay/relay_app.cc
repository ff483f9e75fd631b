#include "relay_app.h"

#include <sys/random.h>

#include <chrono>
#include <fstream>
#include <functional>
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
#include "net/tun.h"
#include "net/udp.h"
#include "peers/peer_table.h"
#include "relay_runtime.h"
#include "relay_stats.h"
#include "relay_worker.h"
#include "teredo/v1/stats.pb.h"

namespace teredo::relay {
namespace {

using agent::LogLevel;

SipKey randomKey() {
  SipKey k;
  size_t got = 0;
  while (got < k.bytes.size()) {
    const ssize_t n = getrandom(k.bytes.data() + got, k.bytes.size() - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    }
  }
  return k;
}

/// Peer-table metrics, read from the table at scrape time.
class TableCollectable : public prometheus::Collectable {
 public:
  explicit TableCollectable(const peers::PeerTable& table) : table_(table) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    const peers::PeerTableCounters& c = table_.counters();
    auto gauge = [&](const char* name, const char* help, double v) {
      prometheus::MetricFamily f{name, help, prometheus::MetricType::Gauge, {}};
      prometheus::ClientMetric m;
      m.gauge.value = v;
      f.metric.push_back(std::move(m));
      out.push_back(std::move(f));
    };
    auto labeled = [&](const char* name, const char* help, const char* label,
                       std::initializer_list<std::pair<const char*, uint64_t>> values) {
      prometheus::MetricFamily f{name, help, prometheus::MetricType::Counter, {}};
      for (const auto& [value, count] : values) {
        prometheus::ClientMetric m;
        m.label = {{label, value}};
        m.counter.value = static_cast<double>(count);
        f.metric.push_back(std::move(m));
      }
      out.push_back(std::move(f));
    };
    gauge("teredo_relay_peers", "Peers in the table.", static_cast<double>(table_.size()));
    gauge("teredo_relay_peer_table_capacity", "Hard cap on peers (relay.max_peers).",
          static_cast<double>(table_.capacity()));
    gauge("teredo_relay_peer_memory_bytes_per_peer",
          "Published memory cost of one peer entry (entry plus Judy index), in bytes.",
          static_cast<double>(peers::bytesPerPeerEstimate()));
    gauge("teredo_relay_peer_index_bytes", "Memory held by the peer index and entry slabs.",
          static_cast<double>(table_.indexBytes()));
    gauge("teredo_relay_queued_bytes", "Bytes queued for untrusted peers.",
          static_cast<double>(table_.queuedBytes()));
    gauge("teredo_relay_queue_capacity_bytes", "Global queue byte cap (relay.queue_bytes_total).",
          static_cast<double>(table_.config().globalQueueBytes));
    labeled("teredo_relay_peer_evictions_total",
            "Peers removed, by cause: expired (idle), capacity (table full; untrusted first), "
            "capacity_trusted (table full of trusted peers).",
            "cause",
            {{"expired", c.evictedExpired.load()},
             {"capacity", c.evictedCapacityUntrusted.load()},
             {"capacity_trusted", c.evictedCapacityTrusted.load()}});
    labeled("teredo_relay_queue_dropped_packets_total",
            "Queued or queueable packets dropped, by cause.", "cause",
            {{"peer_full", c.queueDropPeerFull.load()},
             {"global_full", c.queueDropGlobalFull.load()},
             {"too_big", c.queueDropTooBig.load()},
             {"evicted", c.queueDropEvicted.load()},
             {"discarded", c.queueDropDiscarded.load()}});
    labeled("teredo_relay_peers_created_total", "Peer entries created.", "result",
            {{"created", c.created.load()}, {"no_memory", c.createFailedNoMemory.load()}});
    return out;
  }

 private:
  const peers::PeerTable& table_;
};

peers::PeerTableConfig tableConfig(const config::RelaySettings& s, const SipKey& key) {
  peers::PeerTableConfig t;
  t.maxPeers = s.maxPeers;
  t.peerQueueBytes = s.queueBytesPerPeer;
  t.globalQueueBytes = s.queueBytesTotal;
  t.trustTimeout = s.trustTimeout;
  t.idleTimeout = s.trustTimeout;
  t.hashKey = key;
  return t;
}

/// The periodic StatsReport for the controller: cumulative counters since start, table gauges.
void fillStatsReport(const agent::StatsCollectable<RelayStats>& st, const peers::PeerTable& table,
                     v1::StatsReport* report) {
  v1::StatsCounters* c = report->mutable_counters();
  auto packets = [&](Direction d) { return st.sum(&RelayStats::packets, d); };
  auto bytes = [&](Direction d) { return st.sum(&RelayStats::bytes, d); };
  auto delivered = [&](Direction d) { return st.sum(&RelayStats::delivered, d); };
  const uint64_t bubbles = st.sum(&RelayStats::bubblesSent, BubbleKind::Indirect) +
                           st.sum(&RelayStats::bubblesSent, BubbleKind::Direct);
  v1::TrafficCounters* t = c->mutable_traffic();
  t->mutable_udp_received()->set_packets(packets(Direction::FromTeredo));
  t->mutable_udp_received()->set_bytes(bytes(Direction::FromTeredo));
  t->mutable_udp_sent()->set_packets(delivered(Direction::ToTeredo) + bubbles);
  t->mutable_ipv6_received()->set_packets(packets(Direction::ToTeredo));
  t->mutable_ipv6_received()->set_bytes(bytes(Direction::ToTeredo));
  t->mutable_ipv6_sent()->set_packets(delivered(Direction::FromTeredo));
  for (size_t r = 0; r < kDropReasonCount; ++r) {
    const auto reason = static_cast<DropReason>(r);
    if (const uint64_t n = st.sum(&RelayStats::dropped, reason); n != 0) {
      (*c->mutable_drops())[std::string(dropReasonLabel(reason))] = n;
    }
  }
  c->mutable_forwards()->set_queued(st.sum(&RelayStats::queuedPackets));
  c->mutable_forwards()->set_bubbles_sent(bubbles);
  c->mutable_forwards()->set_bubbles_suppressed(st.sum(&RelayStats::bubblesSuppressed));
  const peers::PeerTableCounters& pc = table.counters();
  c->mutable_evictions()->set_expired(pc.evictedExpired.load());
  c->mutable_evictions()->set_capacity(pc.evictedCapacityUntrusted.load() +
                                       pc.evictedCapacityTrusted.load());
  c->set_kernel_drops(st.sum(&RelayStats::kernelDrops));
  v1::StatsGauges* g = report->mutable_gauges();
  g->set_relay_peers(table.size());
  g->set_peer_table_capacity(table.capacity());
  g->set_queued_bytes(table.queuedBytes());
}

bool ipv6ForwardingEnabled() {
  std::ifstream f("/proc/sys/net/ipv6/conf/all/forwarding");
  int v = 0;
  f >> v;
  return v == 1;
}

}  // namespace

int runRelay(const std::string& configPath) {
  int exitCode = 0;
  // Bootstrap YAML, overlaid with the controller's last-known-good snapshot when there is one.
  auto boot = daemon::bootstrap<config::RelayConfig>(configPath, &exitCode);
  if (!boot) {
    return exitCode;
  }
  auto& agentMetrics = boot->metrics;
  auto& readiness = boot->readiness;
  auto& managed = *boot->managed;
  const std::shared_ptr<const config::RelayConfig> cfg = boot->config;
  const config::RelaySettings& s = cfg->relay;
  const size_t workers = daemon::workerCount(s.workers);

  // The tun device: one queue per worker (IFF_MULTI_QUEUE), MTU 1280, the prefix routed to it.
  auto tunOr = net::Tun::open(s.interface, workers);
  if (!tunOr.ok()) {
    TEREDO_LOG(LogLevel::Error, "cannot open the tun device (relay.interface; needs CAP_NET_ADMIN)",
               {"error", tunOr.status().message()});
    return 2;
  }
  net::Tun tun = std::move(tunOr.value());
  Ipv6Addr prefixAddr;
  prefixAddr.setWord(0, s.prefix);
  Ipv6Addr linkLocal = *parseIpv6("fe80::ffff:ffff:ffff");  // Miredo's tun address
  // RFC 4380 §3.4: a host-specific relay carries only the host's own traffic, so it adds no
  // 2001::/32 route, only source-specific ones from each of the host's addresses: nothing
  // forwarded through this host can reach the tun.
  std::vector<std::string> sysctlsNotApplied;  // a read-only /proc/sys (containers)
  std::vector<std::function<teredo::Status()>> steps = {
      [&] { return tun.setMtu(s.mtu); }, [&] { return tun.applyTunnelSysctls(&sysctlsNotApplied); },
      [&] { return tun.setUp(true); }, [&] { return tun.addAddress(linkLocal, 64); }};
  if (s.mode == config::RelayMode::kHostSpecific) {
    for (const Ipv6Addr& host : s.hostAddresses) {
      steps.push_back([&, host] { return tun.addRoute(prefixAddr, 32, host, 128); });
    }
  } else {
    steps.push_back([&] { return tun.addRoute(prefixAddr, 32); });
  }
  for (const auto& step : steps) {
    if (const teredo::Status st = step(); !st.ok()) {
      TEREDO_LOG(LogLevel::Error, "cannot configure the tun device (relay.interface)",
                 {"interface", s.interface}, {"error", st.message()});
      return 2;
    }
  }
  for (const std::string& what : sysctlsNotApplied) {
    TEREDO_LOG(LogLevel::Warn,
               "a hardening sysctl of the tun device could not be set (read-only /proc/sys?); the "
               "relay never writes router advertisements, redirects or link-local traffic to it",
               {"interface", s.interface}, {"sysctl", what});
  }
  if (s.mode == config::RelayMode::kRelay && !ipv6ForwardingEnabled()) {
    TEREDO_LOG(LogLevel::Warn,
               "net.ipv6.conf.all.forwarding is 0: IPv6 hosts cannot reach Teredo clients "
               "through this relay until it is enabled");
  }

  const net::UdpOptions opts =
      daemon::workerSocketOptions(s.socketReceiveBufferBytes, s.socketSendBufferBytes);
  std::vector<net::UdpSocket> sockets;
  for (size_t i = 0; i < workers; ++i) {
    auto sock = net::UdpSocket::open(Endpoint{s.bindAddress, s.port}, opts);
    if (!sock.ok()) {
      TEREDO_LOG(LogLevel::Error, "cannot open the UDP socket (relay.bind_address, relay.port)",
                 {"error", sock.status().message()});
      return 2;
    }
    sockets.push_back(std::move(sock.value()));
  }
  auto icmp = std::make_unique<IcmpSender>();
  if (const teredo::Status st = icmp->open(); !st.ok()) {
    TEREDO_LOG(LogLevel::Warn,
               "no ICMPv6 error socket (needs CAP_NET_RAW): unreachable peers are dropped silently",
               {"error", st.message()});
  }

  const SipKey bubbleKey = randomKey();
  peers::PeerTable table(tableConfig(s, randomKey()));
  RuntimeHolder runtime(makeRuntime(*cfg, bubbleKey, managed.version()));
  icmp->setRate(runtime.load()->icmpErrorsPerSecond, runtime.load()->icmpErrorsBurst);
  std::atomic<bool> draining{false};

  auto stats = std::make_shared<agent::StatsCollectable<RelayStats>>(workers);
  agentMetrics->setAppliedConfig(managed.version(), agent::unixNowSeconds());
  auto heartbeats = std::make_shared<agent::Heartbeats>(workers + 1, std::chrono::seconds(10));
  const size_t socketsBound = readiness->addCondition(agent::Readiness::kSocketsBound);
  const size_t tunUp = readiness->addCondition(agent::Readiness::kTunUp);
  const size_t configApplied = readiness->addCondition(agent::Readiness::kConfigApplied);
  readiness->set(socketsBound, true);
  readiness->set(tunUp, true);
  readiness->set(configApplied, true);

  auto admin = daemon::startAdmin(cfg->admin.listen,
                                  {agentMetrics, stats, std::make_shared<TableCollectable>(table)},
                                  heartbeats, readiness);
  if (!admin) {
    return 2;
  }
  // Tun, route, sockets and the admin listener exist; closing the tun at exit removes the device
  // and its route without any capability.
  daemon::dropPrivileges();

  WorkerShared shared;
  shared.runtime = &runtime;
  shared.table = &table;
  shared.tun = &tun;
  shared.icmp = icmp->valid() ? icmp.get() : nullptr;
  shared.heartbeats = heartbeats.get();
  shared.draining = &draining;
  shared.mtu = s.mtu;
  std::vector<std::unique_ptr<RelayWorker>> pool;
  for (size_t i = 0; i < workers; ++i) {
    pool.push_back(
        std::make_unique<RelayWorker>(i, std::move(sockets[i]), shared, stats->worker(i)));
  }
  daemon::WorkerThreads<RelayWorker> threads(pool);
  TEREDO_LOG(LogLevel::Info, "teredo-relay running",
             {"udp", formatEndpoint(Endpoint{s.bindAddress, s.port})}, {"interface", s.interface},
             {"prefix", formatIpv6(prefixAddr) + "/32"},
             {"mode", std::string(config::toString(s.mode))},
             {"workers", static_cast<unsigned long>(workers)},
             {"admin", formatEndpoint(cfg->admin.listen)});

  managed.start(
      [&](const config::RelayConfig& next, uint64_t version) {
        daemon::applyLogConfig(next.log);
        auto nextRuntime = makeRuntime(next, bubbleKey, version);
        icmp->setRate(nextRuntime->icmpErrorsPerSecond, nextRuntime->icmpErrorsBurst);
        runtime.store(std::move(nextRuntime));
        agentMetrics->setAppliedConfig(version, agent::unixNowSeconds());
      },
      [&](v1::StatsReport* report) { fillStatsReport(*stats, table, report); },
      [&](bool drain) { draining.store(drain, std::memory_order_relaxed); },
      {formatEndpoint(Endpoint{s.bindAddress, s.port})});

  const size_t mainSlot = workers;
  const bool looped = daemon::runMainLoop([&] { managed.reloadFile(); },
                                          [&] {
                                            heartbeats->beat(mainSlot);
                                            table.expire(peers::Clock::now());
                                          });
  readiness->set(socketsBound, false);
  managed.stop();
  threads.stop();
  admin.reset();
  tun.close();  // removes the route and the device
  TEREDO_LOG(LogLevel::Info, "teredo-relay stopped");
  return looped ? 0 : 2;
}

}  // namespace teredo::relay

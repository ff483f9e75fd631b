#include "relay_agent.h"

#include <linux/capability.h>
#include <sys/random.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "agent/agent_metrics.h"
#include "agent/announce.h"
#include "agent/health.h"
#include "agent/log.h"
#include "agent/metric_family.h"
#include "announcer.h"
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
      out.push_back(agent::gaugeFamily(name, help, v));
    };
    auto labeled = [&](const char* name, const char* help, const char* label,
                       std::initializer_list<std::pair<const char*, uint64_t>> values) {
      std::vector<std::pair<std::string, double>> samples;
      for (const auto& [value, count] : values) {
        samples.emplace_back(value, static_cast<double>(count));
      }
      out.push_back(
          agent::labeledFamily(name, help, prometheus::MetricType::Counter, label, samples));
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

/// teredo_relay_offload_active{offload}: 1 while every worker uses the offload (relay.offloads, or
/// relay.io_uring for tun_io_uring, asked for it and the kernel took it; a run-time refusal turns
/// it off), read at scrape time.
class OffloadCollectable : public prometheus::Collectable {
 public:
  OffloadCollectable(const std::vector<std::unique_ptr<RelayWorker>>& pool, const net::Tun& tun)
      : pool_(pool), tun_(tun) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    bool gro = !pool_.empty();
    bool gso = !pool_.empty();
    bool coalesce = !pool_.empty();
    bool ioUring = !pool_.empty();
    for (const auto& w : pool_) {
      gro = gro && w->socket().groActive();
      gso = gso && w->socket().gsoActive();
      coalesce = coalesce && w->coalescing();
      ioUring = ioUring && w->ioUringActive();
    }
    const net::TunOffloadState& t = tun_.offloads();
    const bool tso = t.vnetHeader && t.has(net::kTunOffloadTso6);
    return {agent::labeledFamily(
        "teredo_relay_offload_active",
        "1 while the workers use a kernel offload (relay.offloads, relay.io_uring), by offload; 0 "
        "when it is off or the kernel refused it.",
        prometheus::MetricType::Gauge, "offload",
        {{std::string(offloadLabel(Offload::UdpGro)), gro ? 1 : 0},
         {std::string(offloadLabel(Offload::UdpGso)), gso ? 1 : 0},
         {std::string(offloadLabel(Offload::TunTso)), tso ? 1 : 0},
         {std::string(offloadLabel(Offload::TunCoalesce)), coalesce ? 1 : 0},
         {std::string(offloadLabel(Offload::TunIoUring)), ioUring ? 1 : 0}})};
  }

 private:
  const std::vector<std::unique_ptr<RelayWorker>>& pool_;
  const net::Tun& tun_;
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

/// The announcement in the controller's stats report.
void fillAnnounceState(const AnnounceSnapshot& s, v1::AnnounceState* out) {
  out->set_enabled(s.enabled);
  out->set_reason(std::string(agent::announceReasonLabel(s.reason)));
  for (const AnnounceSnapshot::Prefix& p : s.prefixes) {
    v1::AnnouncedPrefix* ap = out->add_prefixes();
    ap->set_prefix(p.prefix);
    ap->set_announced(p.announced);
  }
}

bool ipv6ForwardingEnabled() {
  std::ifstream f("/proc/sys/net/ipv6/conf/all/forwarding");
  int v = 0;
  f >> v;
  return v == 1;
}

class RelayAgent final : public agent::RoleAgent<config::RelayConfig> {
 public:
  RelayAgent(const config::RelayConfig& cfg, uint64_t version, net::Tun tun,
             std::vector<net::UdpSocket> sockets, std::unique_ptr<IcmpSender> icmp,
             std::unique_ptr<Announcer> announcer, const agent::Readiness& readiness)
      : settings_(cfg.relay),
        admin_(cfg.admin.listen),
        tun_(std::move(tun)),
        sockets_(std::move(sockets)),
        icmp_(std::move(icmp)),
        bubbleKey_(randomKey()),
        table_(tableConfig(settings_, randomKey())),
        runtime_(makeRuntime(cfg, bubbleKey_, version)),
        stats_(std::make_shared<agent::StatsCollectable<RelayStats>>(sockets_.size())),
        announcer_(std::move(announcer)),
        readiness_(readiness) {
    icmp_->setRate(runtime_.load()->icmpErrorsPerSecond, runtime_.load()->icmpErrorsBurst);
  }

  size_t lanes() const override { return stats_->workerCount(); }

  std::vector<std::shared_ptr<prometheus::Collectable>> collectables() override {
    return {stats_, std::make_shared<TableCollectable>(table_),
            std::make_shared<AnnounceCollectable>(*announcer_),
            std::make_shared<OffloadCollectable>(pool_, tun_)};
  }

  // An announcing relay manages its routes for as long as it runs.
  std::vector<int> capabilitiesToKeep() const override {
    if (announcer_->enabled()) {
      return {CAP_NET_ADMIN};
    }
    return {};
  }

  std::vector<std::string> addresses() const override {
    return {formatEndpoint(Endpoint{settings_.bindAddress, settings_.port})};
  }

  void start(agent::Heartbeats& heartbeats) override {
    WorkerShared shared;
    shared.runtime = &runtime_;
    shared.table = &table_;
    shared.tun = &tun_;
    shared.icmp = icmp_->valid() ? icmp_.get() : nullptr;
    shared.heartbeats = &heartbeats;
    heartbeats_.store(&heartbeats, std::memory_order_release);
    shared.draining = &draining_;
    shared.mtu = settings_.mtu;
    shared.ioUring = settings_.ioUring;
    for (size_t i = 0; i < sockets_.size(); ++i) {
      pool_.push_back(
          std::make_unique<RelayWorker>(i, std::move(sockets_[i]), shared, stats_->worker(i)));
    }
    sockets_.clear();  // the workers own them now
    threads_.start(pool_);
    Ipv6Addr prefix;
    prefix.setWord(0, settings_.prefix);
    TEREDO_LOG(LogLevel::Info, "teredo-relay running",
               {"udp", formatEndpoint(Endpoint{settings_.bindAddress, settings_.port})},
               {"interface", settings_.interface}, {"prefix", formatIpv6(prefix) + "/32"},
               {"mode", std::string(config::toString(settings_.mode))},
               {"workers", static_cast<unsigned long>(pool_.size())}, {"admin", admin_});
    reannounce();
  }

  void apply(const config::RelayConfig& next, uint64_t version) override {
    auto runtime = makeRuntime(next, bubbleKey_, version);  // same key: tokens stay valid
    icmp_->setRate(runtime->icmpErrorsPerSecond, runtime->icmpErrorsBurst);
    runtime_.store(std::move(runtime));
    announcer_->configure(next.relay.announce);
    reannounce();
  }

  void fillStats(v1::StatsReport* report) override {
    fillStatsReport(*stats_, table_, report);
    fillAnnounceState(announcer_->snapshot(), report->mutable_announce());
  }

  // Withdraws at once (the speaker learns it from the kernel's notification); undrain announces
  // again.
  void setDraining(bool draining) override {
    draining_.store(draining, std::memory_order_relaxed);
    reannounce();
  }

  // Once a second: a stalled worker or lost readiness withdraws; a route flushed by someone
  // else is re-asserted.
  void tick() override {
    table_.expire(peers::Clock::now());
    reannounce();
  }

  // Withdraw first and keep forwarding through the grace, so that the upstream moves the
  // traffic to another relay before this one goes.
  std::chrono::milliseconds beginStop() override {
    stopping_.store(true, std::memory_order_relaxed);
    reannounce();
    return announcer_->withdrawGrace();
  }

  void stop() override {
    stopping_.store(true, std::memory_order_relaxed);
    reannounce();  // withdrawn before the workers stop, not after
    threads_.stop();
    tun_.close();  // removes the route and the device, without any capability
  }

 private:
  const config::RelaySettings settings_;
  const std::string admin_;
  net::Tun tun_;
  std::vector<net::UdpSocket> sockets_;  // until start() hands them to the workers
  std::unique_ptr<IcmpSender> icmp_;
  const SipKey bubbleKey_;
  peers::PeerTable table_;
  RuntimeHolder runtime_;
  std::atomic<bool> draining_{false};
  std::shared_ptr<agent::StatsCollectable<RelayStats>> stats_;
  std::vector<std::unique_ptr<RelayWorker>> pool_;
  agent::WorkerThreads<RelayWorker> threads_;
  std::unique_ptr<Announcer> announcer_;
  const agent::Readiness& readiness_;             // owned by the agent host; outlives the role
  std::atomic<agent::Heartbeats*> heartbeats_{};  // set by start()
  std::atomic<bool> stopping_{false};
  std::mutex reannounceMu_;  // one sample-and-update at a time (see reannounce)

  /// Samples what the relay knows about itself and lets the announcer act on it. Any thread.
  /// Sampling and updating happen under one lock: a tick that sampled "not draining" must not
  /// re-announce after a concurrent drain has withdrawn.
  void reannounce() {
    std::lock_guard<std::mutex> lock(reannounceMu_);
    agent::AnnounceInputs in;
    in.stopping = stopping_.load(std::memory_order_relaxed);
    in.draining = draining_.load(std::memory_order_relaxed);
    const agent::Heartbeats* hb = heartbeats_.load(std::memory_order_acquire);
    in.workersFresh = hb != nullptr && hb->fresh(nullptr);
    in.ready = readiness_.ready(nullptr);
    (void)announcer_->update(in);
  }
};

/// The tun device configured for `s`: MTU, hardening sysctls, up, Miredo's link-local address,
/// and the Teredo prefix routed to it.
StatusOr<net::Tun> openTun(const config::RelaySettings& s, size_t queues) {
  // relay.offloads: a vnet header with checksum, TSO and USO offloads, so that a TCP flow towards
  // the clients is read as a few large packets and the decapsulated segments of one flow are
  // written as one (lib/teredo/offload.h). The kernel may take fewer; open() falls back.
  net::TunOptions topts;
  if (s.offloads) {
    topts.vnetHeader = true;
    topts.offloads = net::kTunOffloadAll;
  }
  auto tunOr = net::Tun::open(s.interface, queues, topts);
  if (!tunOr.ok()) {
    return Status::error(StatusCode::kPermissionDenied,
                         "relay.interface: cannot open the tun device (needs CAP_NET_ADMIN): " +
                             tunOr.status().message());
  }
  net::Tun tun = std::move(tunOr.value());
  Ipv6Addr prefixAddr;
  prefixAddr.setWord(0, s.prefix);
  const Ipv6Addr linkLocal = *parseIpv6("fe80::ffff:ffff:ffff");  // Miredo's tun address
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
    if (const Status st = step(); !st.ok()) {
      return Status::error(
          StatusCode::kUnavailable,
          "relay.interface: cannot configure the tun device " + s.interface + ": " + st.message());
    }
  }
  for (const std::string& what : sysctlsNotApplied) {
    TEREDO_LOG(LogLevel::Warn,
               "a hardening sysctl of the tun device could not be set (read-only /proc/sys?); the "
               "relay never writes router advertisements, redirects or link-local traffic to it",
               {"interface", s.interface}, {"sysctl", what});
  }
  if (s.offloads && !tun.offloads().fallback.empty()) {
    TEREDO_LOG(LogLevel::Warn,
               "the kernel refused some tun offloads; the relay reads and writes those packets "
               "one by one",
               {"interface", s.interface},
               {"offloads", net::tunOffloadNames(tun.offloads().active)},
               {"reason", tun.offloads().fallback});
  }
  return tun;
}

}  // namespace

StatusOr<std::unique_ptr<agent::RoleAgent<config::RelayConfig>>> openRelayAgent(
    const config::RelayConfig& cfg, uint64_t version, agent::Readiness& readiness) {
  const config::RelaySettings& s = cfg.relay;
  const size_t workers = agent::workerCount(s.workers);
  // The tun device: one queue per worker (IFF_MULTI_QUEUE), the prefix routed to it.
  auto tun = openTun(s, workers);
  if (!tun.ok()) {
    return tun.status();
  }
  if (s.mode == config::RelayMode::kRelay && !ipv6ForwardingEnabled()) {
    TEREDO_LOG(LogLevel::Warn,
               "net.ipv6.conf.all.forwarding is 0: IPv6 hosts cannot reach Teredo clients "
               "through this relay until it is enabled");
  }
  net::UdpOptions opts =
      agent::workerSocketOptions(s.socketReceiveBufferBytes, s.socketSendBufferBytes);
  opts.gro = s.offloads;
  opts.gso = s.offloads;
  std::vector<net::UdpSocket> sockets;
  for (size_t i = 0; i < workers; ++i) {
    auto sock = net::UdpSocket::open(Endpoint{s.bindAddress, s.port}, opts);
    if (!sock.ok()) {
      return Status::error(
          StatusCode::kUnavailable,
          "relay.bind_address, relay.port: cannot open the UDP socket: " + sock.status().message());
    }
    sockets.push_back(std::move(sock.value()));
  }
  if (s.offloads && (!sockets[0].groActive() || !sockets[0].gsoActive())) {
    TEREDO_LOG(LogLevel::Warn,
               "the kernel lacks a UDP offload; the relay receives or sends one datagram per "
               "packet instead",
               {"udp_gro", sockets[0].groActive() ? "on" : "off"},
               {"udp_gso", sockets[0].gsoActive() ? "on" : "off"},
               {"reason", sockets[0].gsoFallbackReason()});
  }
  auto icmp = std::make_unique<IcmpSender>();
  if (const teredo::Status st = icmp->open(); !st.ok()) {
    TEREDO_LOG(LogLevel::Warn,
               "no ICMPv6 error socket (needs CAP_NET_RAW): unreachable peers are dropped silently",
               {"error", st.message()});
  }
  // The announcement's routes go through the tun; a host-specific relay never announces (the
  // loader refuses it), so nothing is ever announced that is not routed to this device.
  auto sink = NetlinkRouteSink::open(tun->ifindex(), tun->name());
  if (!sink.ok()) {
    return sink.status();
  }
  auto announcer = std::make_unique<Announcer>(std::move(sink).value(), s.announce);
  readiness.set(readiness.addCondition(agent::Readiness::kTunUp), true);
  return std::unique_ptr<agent::RoleAgent<config::RelayConfig>>(
      std::make_unique<RelayAgent>(cfg, version, std::move(tun).value(), std::move(sockets),
                                   std::move(icmp), std::move(announcer), readiness));
}

}  // namespace teredo::relay

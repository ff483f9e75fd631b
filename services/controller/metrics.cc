#include "metrics.h"

#include <algorithm>
#include <map>
#include <string>

#include "config/proto_translate.h"
#include "teredo/build_info.h"
#include "teredo/drop_reason.h"

namespace teredo::controller {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

class Families {
 public:
  MetricFamily& family(const std::string& name, const std::string& help, MetricType type) {
    auto it = index_.find(name);
    if (it == index_.end()) {
      it = index_.emplace(name, families_.size()).first;
      families_.push_back(MetricFamily{name, help, type, {}});
    }
    return families_[it->second];
  }
  void counter(const std::string& name, const std::string& help,
               std::vector<ClientMetric::Label> labels, double value) {
    ClientMetric m;
    m.label = std::move(labels);
    m.counter.value = value;
    family(name, help, MetricType::Counter).metric.push_back(std::move(m));
  }
  void gauge(const std::string& name, const std::string& help,
             std::vector<ClientMetric::Label> labels, double value) {
    ClientMetric m;
    m.label = std::move(labels);
    m.gauge.value = value;
    family(name, help, MetricType::Gauge).metric.push_back(std::move(m));
  }
  std::vector<MetricFamily> take() { return std::move(families_); }

 private:
  std::map<std::string, size_t> index_;
  std::vector<MetricFamily> families_;
};

void addRole(Families& f, const teredo::v1::RoleStats& rs) {
  const std::string role(config::roleName(rs.role()));
  const auto& c = rs.counters();
  const auto& t = c.traffic();
  const std::pair<const char*, const teredo::v1::PacketCounters*> dirs[] = {
      {"udp_in", &t.udp_received()},
      {"udp_out", &t.udp_sent()},
      {"ipv6_in", &t.ipv6_received()},
      {"ipv6_out", &t.ipv6_sent()}};
  for (const auto& [dir, pc] : dirs) {
    f.counter("teredo_fleet_packets_total",
              "Packets handled by the role's agents since the controller started, by direction. "
              "rate() gives fleet packets per second.",
              {{"role", role}, {"direction", dir}}, static_cast<double>(pc->packets()));
    f.counter("teredo_fleet_bytes_total",
              "Bytes handled by the role's agents since the controller started, by direction.",
              {{"role", role}, {"direction", dir}}, static_cast<double>(pc->bytes()));
  }
  // One series per DropReason, zeros included: a counter that appears only with its first drop
  // loses that drop to rate(). (The aggregator keeps known reasons only, so nothing an agent
  // sends adds label values.)
  for (size_t i = 0; i < teredo::kDropReasonCount; ++i) {
    const std::string reason(teredo::dropReasonLabel(static_cast<teredo::DropReason>(i)));
    const auto it = c.drops().find(reason);
    f.counter("teredo_fleet_packets_dropped_total",
              "Packets the role's agents dropped, by DropReason label; alert on sudden changes.",
              {{"role", role}, {"reason", reason}},
              static_cast<double>(it != c.drops().end() ? it->second : 0));
  }
  const auto& r = c.router();
  const std::tuple<const char*, const char*, uint64_t> solicitations[] = {
      {"false", "primary", r.rs_plain_primary()},
      {"false", "secondary", r.rs_plain_secondary()},
      {"true", "primary", r.rs_cone_primary()},
      {"true", "secondary", r.rs_cone_secondary()}};
  for (const auto& [cone, socket, value] : solicitations) {
    f.counter("teredo_fleet_router_solicitations_total",
              "Router Solicitations received by the role's agents, by cone flag and the server "
              "address reached (RFC 4380 qualification).",
              {{"role", role}, {"cone", cone}, {"socket", socket}}, static_cast<double>(value));
  }
  f.counter("teredo_fleet_router_advertisements_sent_total",
            "Router Advertisements sent, by the server address they left from.",
            {{"role", role}, {"socket", "primary"}}, static_cast<double>(r.ra_sent_primary()));
  f.counter("teredo_fleet_router_advertisements_sent_total",
            "Router Advertisements sent, by the server address they left from.",
            {{"role", role}, {"socket", "secondary"}}, static_cast<double>(r.ra_sent_secondary()));
  const auto& fw = c.forwards();
  const std::pair<const char*, uint64_t> paths[] = {{"udp", fw.udp()},
                                                    {"udp_origin", fw.udp_with_origin()},
                                                    {"ipv6", fw.ipv6()},
                                                    {"queued", fw.queued()}};
  for (const auto& [path, value] : paths) {
    f.counter("teredo_fleet_packets_forwarded_total",
              "Packets forwarded by the role's agents, by path.", {{"role", role}, {"path", path}},
              static_cast<double>(value));
  }
  f.counter("teredo_fleet_bubbles_sent_total", "Bubbles sent by relays.", {{"role", role}},
            static_cast<double>(fw.bubbles_sent()));
  f.counter("teredo_fleet_bubbles_suppressed_total", "Bubbles suppressed by the rate limit.",
            {{"role", role}}, static_cast<double>(fw.bubbles_suppressed()));
  f.counter("teredo_fleet_peer_evictions_total", "Relay peer table evictions, by cause.",
            {{"role", role}, {"cause", "expired"}}, static_cast<double>(c.evictions().expired()));
  f.counter("teredo_fleet_peer_evictions_total", "Relay peer table evictions, by cause.",
            {{"role", role}, {"cause", "capacity"}}, static_cast<double>(c.evictions().capacity()));
  const std::pair<const char*, uint64_t> nats[] = {{"cone", c.nat().cone()},
                                                   {"restricted", c.nat().restricted()},
                                                   {"symmetric", c.nat().symmetric()},
                                                   {"unknown", c.nat().unknown()}};
  for (const auto& [nat, value] : nats) {
    f.counter("teredo_fleet_nat_classifications_total",
              "Clients classified by NAT type, once per window per client.",
              {{"role", role}, {"nat_type", nat}}, static_cast<double>(value));
  }
  f.counter("teredo_fleet_socket_kernel_drops_total",
            "Datagrams the kernel dropped on the role's sockets (receive buffer overflow).",
            {{"role", role}}, static_cast<double>(c.kernel_drops()));
  f.gauge("teredo_fleet_relay_peers", "Peers in the relays' tables (connected agents).",
          {{"role", role}}, static_cast<double>(rs.gauges().relay_peers()));
  f.gauge("teredo_fleet_peer_table_capacity", "Sum of the relays' peer caps (connected agents).",
          {{"role", role}}, static_cast<double>(rs.gauges().peer_table_capacity()));
  f.gauge("teredo_fleet_queued_bytes", "Bytes queued for peers (connected agents).",
          {{"role", role}}, static_cast<double>(rs.gauges().queued_bytes()));
  f.gauge("teredo_fleet_distinct_clients",
          "Estimated distinct Teredo clients seen since the controller started (HyperLogLog).",
          {{"role", role}}, static_cast<double>(rs.distinct_clients()));
}

}  // namespace

std::vector<MetricFamily> FleetCollectable::Collect() const {
  const Controller::Snapshot s = controller_.snapshot();
  Families f;
  f.gauge("teredo_build_info", "Build of this controller; always 1.",
          {{"version", teredo::build::kVersion},
           {"commit", teredo::build::kCommit},
           {"role", "controller"}},
          1);
  f.gauge("teredo_controller_config_version", "The newest published fleet config version.", {},
          static_cast<double>(s.version));
  const std::pair<const char*, uint64_t> pushes[] = {
      {"sent", s.pushes.sent},        {"ack", s.pushes.acked},
      {"nack", s.pushes.nacked},      {"superseded", s.pushes.superseded},
      {"timeout", s.pushes.timedOut}, {"stale_reply", s.pushes.staleReplies}};
  for (const auto& [result, value] : pushes) {
    f.counter("teredo_controller_pushes_total",
              "Config snapshots pushed to agents and what became of them.", {{"result", result}},
              static_cast<double>(value));
  }
  f.counter("teredo_controller_nack_resends_suppressed_total",
            "Pushes withheld because the agent already NACKed that version.", {},
            static_cast<double>(s.pushes.nackResendsSuppressed));
  f.counter("teredo_controller_agent_restarts_total",
            "Stats reports showing an agent restart (new instance or counters reset).", {},
            static_cast<double>(s.statsRestarts));

  // Agents by role and state; config status by role; lag as the worst agent of each role.
  std::map<std::pair<std::string, std::string>, double> byState, bySync;
  std::map<std::string, double> draining, lag;
  static const char* kSync[] = {"unspecified", "synced", "pending", "nacked", "not_sent"};
  for (const std::string role : {"server", "relay"}) {
    for (const char* state : {"connected", "disconnected"}) {
      byState[{role, state}] = 0;
    }
    for (int i = 1; i <= 4; ++i) {
      bySync[{role, kSync[i]}] = 0;
    }
    draining[role] = 0;
    lag[role] = 0;
  }
  for (const auto& a : s.agents) {
    const std::string role(config::roleName(a.role()));
    if (role == "unspecified") {
      continue;
    }
    const bool connected = a.state() == teredo::v1::AGENT_STATE_CONNECTED;
    byState[{role, connected ? "connected" : "disconnected"}] += 1;
    const int sync = static_cast<int>(a.sync_state());
    bySync[{role, kSync[sync >= 0 && sync <= 4 ? sync : 0]}] += 1;
    draining[role] += a.draining() ? 1 : 0;
    lag[role] = std::max(lag[role], a.config_lag_seconds());
  }
  for (const auto& [key, value] : byState) {
    f.gauge("teredo_controller_agents", "Agents known to the controller, by role and state.",
            {{"role", key.first}, {"state", key.second}}, value);
  }
  for (const auto& [key, value] : bySync) {
    f.gauge("teredo_controller_agents_config",
            "Agents by config status: synced, pending (sent, not ACKed), nacked, not_sent.",
            {{"role", key.first}, {"state", key.second}}, value);
  }
  for (const auto& [role, value] : draining) {
    f.gauge("teredo_controller_agents_draining", "Agents in drain, by role.", {{"role", role}},
            value);
  }
  for (const auto& [role, value] : lag) {
    f.gauge("teredo_controller_agent_config_lag_seconds",
            "Worst time an agent of the role has been behind its desired config; alert when "
            "high for minutes.",
            {{"role", role}}, value);
  }
  // `prefix` is a configured announce prefix (at most 8 per relay), never a client address.
  for (const auto& p : prefixAnnouncers(s.agents)) {
    f.gauge("teredo_controller_prefix_announcers",
            "Connected relays announcing this prefix now (alert when 0).", {{"prefix", p.prefix()}},
            p.relays_announcing());
    f.gauge("teredo_controller_prefix_relays_configured",
            "Known relays configured to announce this prefix, connected or not.",
            {{"prefix", p.prefix()}}, p.relays_configured());
  }
  for (const auto& rs : s.roles) {
    if (rs.role() != teredo::v1::ROLE_UNSPECIFIED) {
      addRole(f, rs);
    }
  }
  return f.take();
}

}  // namespace teredo::controller

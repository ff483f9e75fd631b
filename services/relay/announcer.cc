#include "announcer.h"

#include <algorithm>
#include <utility>

#include <prometheus/client_metric.h>

#include "agent/log.h"

namespace teredo::relay {

using agent::AnnounceDecision;
using agent::AnnounceReason;
using agent::LogLevel;

StatusOr<std::unique_ptr<NetlinkRouteSink>> NetlinkRouteSink::open(int ifindex,
                                                                   std::string ifname) {
  StatusOr<net::Netlink> nl = net::Netlink::open();
  if (!nl.ok()) {
    return Status::error(StatusCode::kUnavailable,
                         "relay.announce: no netlink socket: " + nl.status().message());
  }
  return std::unique_ptr<NetlinkRouteSink>(
      new NetlinkRouteSink(std::move(nl).value(), ifindex, std::move(ifname)));
}

Status NetlinkRouteSink::add(const config::Ipv6Prefix& prefix, const net::RouteAttributes& attrs) {
  return netlink_.replaceRoute(ifindex_, ifname_, prefix.addr, prefix.length, attrs);
}

Status NetlinkRouteSink::remove(const config::Ipv6Prefix& prefix,
                                const net::RouteAttributes& attrs) {
  return netlink_.deleteRoute(ifindex_, ifname_, prefix.addr, prefix.length, attrs);
}

net::RouteAttributes announceRouteAttributes(const config::RelayAnnounce& a) {
  net::RouteAttributes r;
  r.table = a.table;
  r.protocol = static_cast<uint8_t>(a.protocol);  // the loader keeps it in 5..255
  r.metric = a.metric;
  return r;
}

Announcer::Announcer(std::unique_ptr<RouteSink> sink, const config::RelayAnnounce& config)
    : sink_(std::move(sink)), config_(config) {}

bool Announcer::isInstalledLocked(const config::Ipv6Prefix& p) const {
  return std::any_of(installed_.begin(), installed_.end(),
                     [&](const Installed& i) { return i.prefix == p; });
}

void Announcer::withdrawLocked(const std::vector<Installed>& which) {
  for (const Installed& route : which) {
    const Status st = sink_->remove(route.prefix, route.attrs);
    // Already gone (flushed by hand, or the device went) is what a withdrawal wants.
    if (!st.ok() && st.code() != StatusCode::kNotFound) {
      ++counters_.routeErrorsRemove;
      TEREDO_LOG(LogLevel::Error, "cannot withdraw an announcement route",
                 {"prefix", config::formatIpv6Prefix(route.prefix)}, {"error", st.message()});
    }
    std::erase_if(installed_, [&](const Installed& i) {
      return i.prefix == route.prefix && i.attrs == route.attrs;
    });
  }
}

AnnounceDecision Announcer::update(agent::AnnounceInputs in) {
  std::lock_guard<std::mutex> lock(mu_);
  in.enabled = config_.enabled;
  const AnnounceDecision d = agent::decideAnnounce(in);
  counters_.enabled = config_.enabled;
  counters_.reason = d.reason;
  if (d.announce) {
    const net::RouteAttributes attrs = announceRouteAttributes(config_);
    bool failed = false;
    for (const config::Ipv6Prefix& p : config_.prefixes) {
      const Status st = sink_->add(p, attrs);
      if (!st.ok()) {
        failed = true;
        ++counters_.routeErrorsAdd;
        if (!lastAddFailed_) {
          TEREDO_LOG(LogLevel::Error, "cannot add an announcement route; not announcing it",
                     {"prefix", config::formatIpv6Prefix(p)}, {"error", st.message()});
        }
        // Whatever the kernel holds now, it is not a route the relay can vouch for.
        std::erase_if(installed_, [&](const Installed& i) { return i.prefix == p; });
        continue;
      }
      if (!isInstalledLocked(p)) {
        installed_.push_back({p, attrs});
      }
    }
    lastAddFailed_ = failed;
    if (!announcing_) {
      ++counters_.transitions[static_cast<size_t>(AnnounceAction::Announce)]
                             [static_cast<size_t>(d.reason)];
      TEREDO_LOG(LogLevel::Info, "announcing", {"reason", agent::announceReasonLabel(d.reason)},
                 {"routes", static_cast<unsigned long>(installed_.size())},
                 {"table", static_cast<unsigned long>(attrs.table)});
    }
  } else {
    if (!installed_.empty()) {
      withdrawLocked(std::vector<Installed>(installed_));
    }
    if (announcing_) {
      ++counters_.transitions[static_cast<size_t>(AnnounceAction::Withdraw)]
                             [static_cast<size_t>(d.reason)];
      TEREDO_LOG(LogLevel::Info, "withdrawn", {"reason", agent::announceReasonLabel(d.reason)});
    }
    lastAddFailed_ = false;
  }
  announcing_ = d.announce;
  return d;
}

void Announcer::configure(const config::RelayAnnounce& config) {
  std::lock_guard<std::mutex> lock(mu_);
  const net::RouteAttributes attrs = announceRouteAttributes(config);
  std::vector<Installed> stale;
  for (const Installed& i : installed_) {
    const bool kept = i.attrs == attrs && config.enabled &&
                      std::find(config.prefixes.begin(), config.prefixes.end(), i.prefix) !=
                          config.prefixes.end();
    if (!kept) {
      stale.push_back(i);
    }
  }
  withdrawLocked(stale);
  config_ = config;
}

std::chrono::milliseconds Announcer::withdrawGrace() const {
  std::lock_guard<std::mutex> lock(mu_);
  return config_.enabled ? config_.withdrawGrace : std::chrono::milliseconds(0);
}

bool Announcer::enabled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return config_.enabled;
}

AnnounceSnapshot Announcer::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  AnnounceSnapshot s = counters_;
  s.enabled = config_.enabled;
  s.prefixes.clear();
  for (const config::Ipv6Prefix& p : config_.prefixes) {
    s.prefixes.push_back({config::formatIpv6Prefix(p), isInstalledLocked(p)});
  }
  return s;
}

std::vector<prometheus::MetricFamily> announceFamilies(const AnnounceSnapshot& s) {
  using prometheus::ClientMetric;
  using prometheus::MetricFamily;
  using prometheus::MetricType;
  auto sample = [](std::vector<ClientMetric::Label> labels, double v, bool counter) {
    ClientMetric m;
    m.label = std::move(labels);
    (counter ? m.counter.value : m.gauge.value) = v;
    return m;
  };
  MetricFamily announced{"teredo_relay_announced",
                         "1 while the route announcing this prefix is in relay.announce.table "
                         "(the BGP speaker exports it), else 0.",
                         MetricType::Gauge,
                         {}};
  for (const AnnounceSnapshot::Prefix& p : s.prefixes) {
    announced.metric.push_back(sample({{"prefix", p.prefix}}, p.announced ? 1 : 0, false));
  }
  MetricFamily decision{"teredo_relay_announce_decision",
                        "1 for the reason of the latest announce decision: ready means the relay "
                        "wants to announce; any other reason withdraws.",
                        MetricType::Gauge,
                        {}};
  MetricFamily transitions{"teredo_relay_announce_transitions_total",
                           "Announcement changes: action announce (reason ready) or withdraw "
                           "(the reason of the decision that withdrew).",
                           MetricType::Counter,
                           {}};
  for (size_t r = 0; r < agent::kAnnounceReasonCount; ++r) {
    const auto reason = static_cast<AnnounceReason>(r);
    const std::string label(agent::announceReasonLabel(reason));
    decision.metric.push_back(sample({{"reason", label}}, s.reason == reason ? 1 : 0, false));
    const AnnounceAction action =
        reason == AnnounceReason::Ready ? AnnounceAction::Announce : AnnounceAction::Withdraw;
    transitions.metric.push_back(
        sample({{"action", announceActionLabel(action)}, {"reason", label}},
               static_cast<double>(s.transitions[static_cast<size_t>(action)][r]), true));
  }
  MetricFamily errors{"teredo_relay_announce_route_errors_total",
                      "Announcement route changes the kernel refused, by operation.",
                      MetricType::Counter,
                      {}};
  errors.metric.push_back(sample({{"op", "add"}}, static_cast<double>(s.routeErrorsAdd), true));
  errors.metric.push_back(
      sample({{"op", "remove"}}, static_cast<double>(s.routeErrorsRemove), true));
  return {std::move(announced), std::move(decision), std::move(transitions), std::move(errors)};
}

std::vector<prometheus::MetricFamily> AnnounceCollectable::Collect() const {
  return announceFamilies(announcer_.snapshot());
}

}  // namespace teredo::relay

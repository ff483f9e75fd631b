// The relay's anycast announcement: routes through its tun in the kernel table that the host's
// BGP speaker exports (relay.announce.*, docs/anycast.md).
//
// The decision (lib/agent/announce.h) says whether to announce; the Announcer makes the kernel
// match it. While announcing it re-asserts every route on each update, so a route flushed by
// hand or by a restarted speaker comes back within a second. When the config changes the routes
// of the old block (other prefixes, another table, protocol or metric) are withdrawn before the
// new ones go in: nothing the relay announced is left behind. A crash needs no code: the kernel
// removes every route through the tun with the device.
//
// Thread-safety: every method may be called from any thread (one internal mutex; never on the
// packet path). Ownership: the Announcer owns its RouteSink.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "agent/announce.h"
#include "base/status.h"
#include "config/config.h"
#include "net/netlink.h"

namespace teredo::relay {

/// Where announcement routes go: the kernel through the tun, or a test's recorder.
class RouteSink {
 public:
  virtual ~RouteSink() = default;
  /// Adds or re-asserts the route (idempotent).
  virtual Status add(const config::Ipv6Prefix& prefix, const net::RouteAttributes& attrs) = 0;
  /// Removes it; kNotFound when it is not there.
  virtual Status remove(const config::Ipv6Prefix& prefix, const net::RouteAttributes& attrs) = 0;
};

/// Routes through one device (the relay's tun), by rtnetlink. Needs CAP_NET_ADMIN.
class NetlinkRouteSink final : public RouteSink {
 public:
  /// kUnavailable when no netlink socket can be opened.
  static StatusOr<std::unique_ptr<NetlinkRouteSink>> open(int ifindex, std::string ifname);
  Status add(const config::Ipv6Prefix& prefix, const net::RouteAttributes& attrs) override;
  Status remove(const config::Ipv6Prefix& prefix, const net::RouteAttributes& attrs) override;

 private:
  NetlinkRouteSink(net::Netlink netlink, int ifindex, std::string ifname)
      : netlink_(std::move(netlink)), ifindex_(ifindex), ifname_(std::move(ifname)) {}
  net::Netlink netlink_;
  int ifindex_;
  std::string ifname_;
};

/// The route attributes of an announce block.
net::RouteAttributes announceRouteAttributes(const config::RelayAnnounce& a);

enum class AnnounceAction : uint8_t { Announce, Withdraw };
inline constexpr size_t kAnnounceActionCount = 2;
constexpr const char* announceActionLabel(AnnounceAction a) {
  return a == AnnounceAction::Announce ? "announce" : "withdraw";
}

/// What the announcer did last, for /metrics and the controller's stats report.
struct AnnounceSnapshot {
  bool enabled = false;
  /// The latest decision's reason (Ready: announcing is wanted).
  agent::AnnounceReason reason = agent::AnnounceReason::Disabled;
  struct Prefix {
    std::string prefix;  ///< "2001::/32"
    bool announced = false;
  };
  std::vector<Prefix> prefixes;  ///< the configured ones, in config order
  /// [action][reason]: how often the announcement went up (Announce, Ready) or down (Withdraw,
  /// the reason of the decision that took it down).
  std::array<std::array<uint64_t, agent::kAnnounceReasonCount>, kAnnounceActionCount> transitions{};
  uint64_t routeErrorsAdd = 0;
  uint64_t routeErrorsRemove = 0;
};

class Announcer {
 public:
  Announcer(std::unique_ptr<RouteSink> sink, const config::RelayAnnounce& config);
  Announcer(const Announcer&) = delete;
  Announcer& operator=(const Announcer&) = delete;

  /// Decides on `in` (with in.enabled taken from the config) and makes the routes match:
  /// announces every configured prefix (re-asserting those already there) or withdraws every
  /// route it added. Returns the decision.
  agent::AnnounceDecision update(agent::AnnounceInputs in);
  /// A new announce block: routes that it no longer describes are withdrawn now; the next
  /// update() adds the new ones.
  void configure(const config::RelayAnnounce& config);
  /// The configured grace between the withdrawal on SIGTERM and the stop.
  std::chrono::milliseconds withdrawGrace() const;
  bool enabled() const;
  AnnounceSnapshot snapshot() const;

 private:
  struct Installed {
    config::Ipv6Prefix prefix;
    net::RouteAttributes attrs;
  };
  void withdrawLocked(const std::vector<Installed>& which);
  bool isInstalledLocked(const config::Ipv6Prefix& p) const;

  mutable std::mutex mu_;
  std::unique_ptr<RouteSink> sink_;   // guarded by mu_
  config::RelayAnnounce config_;      // guarded by mu_
  std::vector<Installed> installed_;  // routes this announcer added and has not removed
  bool announcing_ = false;           // the last decision's announce flag
  bool lastAddFailed_ = false;        // logs a failing add once, not every second
  AnnounceSnapshot counters_;         // transitions and route errors
};

/// The announcement on /metrics, read at scrape time:
///   teredo_relay_announced{prefix}                        1 while that prefix's route is in
///                                                          the announce table
///   teredo_relay_announce_decision{reason}                1 for the latest decision's reason
///   teredo_relay_announce_transitions_total{action,reason}
///   teredo_relay_announce_route_errors_total{op}          add/remove that the kernel refused
/// `prefix` carries a configured prefix (at most 8), never a client's address.
class AnnounceCollectable final : public prometheus::Collectable {
 public:
  explicit AnnounceCollectable(const Announcer& announcer) : announcer_(announcer) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Announcer& announcer_;
};

/// The metric families of `s` (what AnnounceCollectable serves).
std::vector<prometheus::MetricFamily> announceFamilies(const AnnounceSnapshot& s);

}  // namespace teredo::relay

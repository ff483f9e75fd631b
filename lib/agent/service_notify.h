// The service manager's notification protocol (sd_notify(3), libsystemd): READY=1 once a daemon
// serves, RELOADING=1 / READY=1 around a SIGHUP reload, STOPPING=1 when it begins to stop, and
// WATCHDOG=1 while its event loops are alive, so that a unit with Type=notify and WatchdogSec=
// knows when the daemon is up and restarts it when a loop hangs. Without $NOTIFY_SOCKET (not
// started by systemd) every call does nothing.
//
// Thread-safety: every method may be called from any thread (sd_notify is a datagram send).
// Ownership: value type; holds no resources.
#pragma once

#include <chrono>
#include <string_view>

namespace teredo::agent {

class ServiceNotifier {
 public:
  /// Reads the watchdog settings systemd passes ($WATCHDOG_USEC, $WATCHDOG_PID).
  ServiceNotifier();

  void ready(std::string_view status) const;
  void reloading() const;
  void stopping() const;
  /// Pets the watchdog; call it only while the daemon is healthy.
  void watchdog() const;

  /// The service manager's watchdog timeout; zero when it has none.
  std::chrono::microseconds watchdogTimeout() const { return watchdogTimeout_; }

 private:
  void send(const std::string& state) const;

  std::chrono::microseconds watchdogTimeout_{0};
};

}  // namespace teredo::agent

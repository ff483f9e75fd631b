#include "agent/service_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <string>

#include "agent/log.h"

namespace teredo::agent {

ServiceNotifier::ServiceNotifier() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) {
    watchdogTimeout_ = std::chrono::microseconds(usec);
  }
}

void ServiceNotifier::send(const std::string& state) const {
  const int r = sd_notify(0, state.c_str());
  if (r < 0) {
    TEREDO_LOG(LogLevel::Warn, "cannot notify the service manager", {"errno", -r});
  }
}

void ServiceNotifier::ready(std::string_view status) const {
  send("READY=1\nSTATUS=" + std::string(status));
}

void ServiceNotifier::reloading() const {
  send("RELOADING=1");
}

void ServiceNotifier::stopping() const {
  send("STOPPING=1");
}

void ServiceNotifier::watchdog() const {
  if (watchdogTimeout_.count() > 0) {
    send("WATCHDOG=1");
  }
}

}  // namespace teredo::agent

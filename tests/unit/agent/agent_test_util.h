// What the managed-config and agent-host tests share: a temporary directory with a server
// config file that the test rewrites, and the AgentConfig snapshots a controller would push.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "teredo/v1/agent.pb.h"

namespace teredo::agent::test {

class ConfigDir {
 public:
  ConfigDir() {
    char tmpl[] = "/tmp/teredo-host-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) {
      dir_ = tmpl;
    }
  }
  ~ConfigDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ConfigDir(const ConfigDir&) = delete;
  ConfigDir& operator=(const ConfigDir&) = delete;

  const std::string& dir() const { return dir_; }
  std::string path() const { return dir_ + "/server.yaml"; }
  std::string stateDir() const { return dir_ + "/state"; }

  /// A valid server config with `serverExtra` under `server:` (indented lines) and, when
  /// `controller` is non-empty, a controller address and this directory's state_dir.
  void write(const std::string& serverExtra, const std::string& controller = "") const {
    std::ofstream f(path(), std::ios::trunc);
    // A private prefix (not 2001::/32 or the legacy 3ffe:831f::/32), so that server.mtu may differ
    // from 1280.
    f << "server:\n  primary_address: 198.51.100.10\n  prefix: 2001:db8::/32\n"
      << serverExtra << "admin:\n  listen: 127.0.0.1:0\n"
      << "agent:\n  id: srv-a\n  state_dir: " << stateDir() << "\n";
    if (!controller.empty()) {
      f << "controller:\n  address: " << controller << "\n";
    }
  }

 private:
  std::string dir_;
};

/// A controller snapshot for a server setting server.mtu (and server.port when non-zero).
inline v1::AgentConfig serverSnapshot(uint32_t mtu, uint32_t port = 0) {
  v1::AgentConfig c;
  c.mutable_server()->mutable_server()->set_mtu(mtu);
  if (port != 0) {
    c.mutable_server()->mutable_server()->set_port(port);
  }
  return c;
}

}  // namespace teredo::agent::test

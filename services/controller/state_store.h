// The controller's persistent state (fleet config, version counter, history, remembered NACKs
// and drain flags) as one ControllerState proto in `dir/state.pb`. Crash-safe: every save goes
// through teredo::writeFileDurably() (lib/base/file.h: temporary file, fsync, rename, directory
// fsync), so a crash leaves either the old or the new state, never a torn one.
//
// Thread-safety: none; the Controller serialises calls. Ownership: owns nothing but its path.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "teredo/v1/admin.pb.h"

namespace teredo::controller {

class StateStore {
 public:
  virtual ~StateStore() = default;
  /// Reads the state. A missing file is an empty state. An error when the file exists but
  /// cannot be read, or does not parse (kDataLoss).
  virtual StatusOr<teredo::v1::ControllerState> load() = 0;
  /// Replaces the stored state durably. An error (naming the file) on any I/O failure.
  virtual Status save(const teredo::v1::ControllerState& state) = 0;
};

/// Creates `dir` (one level) if needed. An error naming controller.state_dir if it is unusable.
StatusOr<std::unique_ptr<StateStore>> openFileStateStore(const std::string& dir);

}  // namespace teredo::controller

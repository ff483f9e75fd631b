// The controller's persistent state (fleet config, version counter, history, remembered NACKs
// and drain flags) as one ControllerState proto in `dir/state.pb`. Crash-safe: every save writes
// `state.pb.tmp`, fsyncs it, renames it over `state.pb` and fsyncs the directory, so a crash
// leaves either the old or the new state, never a torn one.
//
// Thread-safety: none; the Controller serialises calls. Ownership: owns nothing but its path.
#pragma once

#include <memory>
#include <string>

#include "teredo/v1/admin.pb.h"

namespace teredo::controller {

class StateStore {
 public:
  virtual ~StateStore() = default;
  /// Reads the state. A missing file is an empty state (true). False with `error` when the file
  /// exists but cannot be read or parsed.
  virtual bool load(teredo::v1::ControllerState* state, std::string* error) = 0;
  /// Replaces the stored state durably. False with `error` on any I/O failure.
  virtual bool save(const teredo::v1::ControllerState& state, std::string* error) = 0;
};

/// Creates `dir` (one level) if needed. Returns nullptr with `error` if it is unusable.
std::unique_ptr<StateStore> openFileStateStore(const std::string& dir, std::string* error);

}  // namespace teredo::controller

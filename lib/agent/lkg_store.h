// Last-known-good config store (docs/architecture.md, Control plane: the data plane never
// waits for the controller).
//
// After every ACK the agent persists the applied snapshot; at start it overlays it on the
// bootstrap YAML when it is valid and newer, before dialling the controller.
//
// File `<state_dir>/<name>` (default name "last-known-good.bin"), little-endian:
//   offset  0  "TLKG"            magic
//           4  u32 format        1
//           8  u64 version       snapshot version as applied
//          16  u64 length        payload bytes (<= kMaxPayload)
//          24  u64 hash          FNV-1a 64 over bytes 0..23 and the payload
//          32  payload           serialized teredo.v1.AgentConfig
// The hash detects torn or corrupted files (not tampering: the directory must be private).
// Writes are atomic (teredo::writeFileDurably: temp file in the same directory, fsync, rename,
// fsync of the directory).
//
// Thread-safety: save() and load() may run concurrently on different stores; on one store the
// caller serializes save() calls (the controller client thread does). Readers only see complete
// files thanks to rename().
// Ownership: value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace teredo::agent {

struct LkgSnapshot {
  uint64_t version = 0;
  std::string payload;
};

class LkgStore {
 public:
  static constexpr uint64_t kMaxPayload = 16u << 20;
  static constexpr const char* kDefaultName = "last-known-good.bin";

  explicit LkgStore(std::string stateDir, std::string name = kDefaultName);

  /// Writes `s` atomically, creating state_dir (mode 0700) if missing. On error the previous
  /// file, if any, is left intact.
  Status save(const LkgSnapshot& s) const;

  /// Reads and verifies the file. kNotFound when it is absent (nothing to warn about); any other
  /// error means it exists but cannot be used (unreadable, too large, or corrupt: kDataLoss,
  /// the message names the defect), and a warning line is logged. Never crashes on any file
  /// content.
  StatusOr<LkgSnapshot> load() const;

  const std::string& path() const { return path_; }

  /// Serialized form (exposed for tests and tools).
  static std::string encode(const LkgSnapshot& s);
  /// Parses `bytes`; kDataLoss naming the defect ("truncated header", "bad magic", ...).
  static StatusOr<LkgSnapshot> decode(std::string_view bytes);

 private:
  std::string dir_;
  std::string path_;
};

/// FNV-1a 64-bit.
uint64_t fnv1a64(std::string_view data, uint64_t seed = 0xcbf29ce484222325ull);

}  // namespace teredo::agent

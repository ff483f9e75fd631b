// Whole-file reads and crash-safe whole-file writes, for setup and control paths (config files,
// TLS material, token files, the agents' last-known-good snapshot, the controller's state).
//
// Thread-safety: free functions; concurrent writers of the same path must be serialised by the
// caller (each write uses a temporary file named after the process id).
// Ownership: the returned strings are the caller's.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/status.h"

namespace teredo {

/// The whole content of `path`; an error naming the path when it cannot be opened or read, or
/// when it is larger than `maxBytes` (kResourceExhausted).
StatusOr<std::string> readFile(const std::string& path, size_t maxBytes = 64u << 20);

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new content, never
/// a mix: writes `path`.tmp.<pid> with mode `mode`, fsyncs it, renames it over `path` and
/// fsyncs the directory. On error the temporary file is removed and `path` is unchanged.
Status writeFileDurably(const std::string& path, std::string_view bytes, unsigned mode = 0600);

}  // namespace teredo

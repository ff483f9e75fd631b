// When the TLS certificates a daemon uses expire, for /metrics:
//   teredo_tls_certificate_not_after_timestamp_seconds{certificate="server"|"client"|"ca"}
// (Unix seconds of the first certificate's notAfter in each configured PEM file), and
//   teredo_tls_certificate_read_errors_total{certificate=...}
// when a file cannot be read or parsed. Files are read at every scrape, so a rotated certificate
// shows at once. Labels name the certificate's role, never a host or address.
//
// Thread-safety: Collect() from any thread (the error counters are atomics).
// Ownership: value type holding file paths; share it as a Collectable.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace teredo::agent {

/// notAfter of the first certificate in `pem`, in Unix seconds; nullopt when there is none.
std::optional<double> certificateNotAfter(std::string_view pem);

class TlsExpiryCollectable : public prometheus::Collectable {
 public:
  /// {role, path}; empty paths are skipped.
  explicit TlsExpiryCollectable(std::vector<std::pair<std::string, std::string>> files);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct File {
    std::string role;
    std::string path;
    std::unique_ptr<std::atomic<uint64_t>> errors;
  };
  std::vector<File> files_;
};

}  // namespace teredo::agent

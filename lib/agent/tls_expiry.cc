#include "agent/tls_expiry.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>

#include "base/file.h"

namespace teredo::agent {

std::optional<double> certificateNotAfter(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) {
    return std::nullopt;
  }
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) {
    return std::nullopt;
  }
  std::tm tm{};
  const bool ok = ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1;
  X509_free(cert);
  if (!ok) {
    return std::nullopt;
  }
  return static_cast<double>(timegm(&tm));
}

TlsExpiryCollectable::TlsExpiryCollectable(std::vector<std::pair<std::string, std::string>> files) {
  for (auto& [role, path] : files) {
    if (!path.empty()) {
      files_.push_back({role, path, std::make_unique<std::atomic<uint64_t>>(0)});
    }
  }
}

std::vector<prometheus::MetricFamily> TlsExpiryCollectable::Collect() const {
  prometheus::MetricFamily notAfter{
      "teredo_tls_certificate_not_after_timestamp_seconds",
      "When the first certificate of each configured TLS file expires, Unix seconds (read at "
      "every scrape, so a rotated file shows at once).",
      prometheus::MetricType::Gauge,
      {}};
  prometheus::MetricFamily errors{
      "teredo_tls_certificate_read_errors_total",
      "Scrapes at which a configured certificate file could not be read or parsed.",
      prometheus::MetricType::Counter,
      {}};
  for (const File& f : files_) {
    std::optional<double> when;
    if (StatusOr<std::string> text = readFile(f.path); text.ok()) {
      when = certificateNotAfter(*text);
    }
    if (when) {
      prometheus::ClientMetric m;
      m.label = {{"certificate", f.role}};
      m.gauge.value = *when;
      notAfter.metric.push_back(m);
    } else {
      f.errors->fetch_add(1, std::memory_order_relaxed);
    }
    prometheus::ClientMetric e;
    e.label = {{"certificate", f.role}};
    e.counter.value = static_cast<double>(f.errors->load(std::memory_order_relaxed));
    errors.metric.push_back(e);
  }
  if (files_.empty()) {
    return {};
  }
  return {notAfter, errors};
}

}  // namespace teredo::agent

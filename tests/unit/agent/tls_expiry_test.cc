// Certificate expiry for /metrics: notAfter of a real PEM certificate (made with the openssl
// CLI), refusals of what is not one, and the collectable's series and error counter.
#include "agent/tls_expiry.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

namespace teredo::agent {
namespace {

class TlsExpiryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/teredo-tls-expiry-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    const std::string cmd = "cd " + dir_ +
                            " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                            "-nodes -days 30 -subj /CN=test -keyout key.pem -out cert.pem "
                            ">/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      GTEST_SKIP() << "openssl CLI could not make a certificate";
    }
    std::ifstream in(dir_ + "/cert.pem");
    std::stringstream s;
    s << in.rdbuf();
    pem_ = s.str();
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  std::string dir_;
  std::string pem_;
};

TEST_F(TlsExpiryTest, NotAfterOfTheFirstCertificate) {
  const std::optional<double> when = certificateNotAfter(pem_);
  ASSERT_TRUE(when.has_value());
  const double in30Days = static_cast<double>(std::time(nullptr)) + 30 * 86400.0;
  EXPECT_NEAR(*when, in30Days, 3600.0);
  EXPECT_EQ(certificateNotAfter(pem_ + pem_), when) << "the first of a chain";
}

TEST_F(TlsExpiryTest, WhatIsNotACertificateHasNoExpiry) {
  for (const std::string& text :
       {std::string(), std::string("not a certificate\n"),
        std::string("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        pem_.substr(0, pem_.size() / 2)}) {
    EXPECT_FALSE(certificateNotAfter(text).has_value()) << text;
  }
}

TEST_F(TlsExpiryTest, CollectableReportsEachFileAndCountsErrors) {
  TlsExpiryCollectable c({{"server", dir_ + "/cert.pem"},
                          {"ca", dir_ + "/missing.pem"},
                          {"client", ""}});  // not configured: no series
  for (int scrape = 1; scrape <= 2; ++scrape) {
    const auto families = c.Collect();
    ASSERT_EQ(families.size(), 2u);
    ASSERT_EQ(families[0].name, "teredo_tls_certificate_not_after_timestamp_seconds");
    ASSERT_EQ(families[0].metric.size(), 1u);
    EXPECT_EQ(families[0].metric[0].label[0].value, "server");
    EXPECT_EQ(families[0].metric[0].gauge.value, *certificateNotAfter(pem_));
    ASSERT_EQ(families[1].metric.size(), 2u);
    EXPECT_EQ(families[1].metric[0].counter.value, 0);
    EXPECT_EQ(families[1].metric[1].label[0].value, "ca");
    EXPECT_EQ(families[1].metric[1].counter.value, scrape);
  }
  const TlsExpiryCollectable none(std::vector<std::pair<std::string, std::string>>{{"server", ""}});
  EXPECT_TRUE(none.Collect().empty());
}

}  // namespace
}  // namespace teredo::agent

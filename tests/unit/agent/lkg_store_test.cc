#include "agent/lkg_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace teredo::agent {
namespace {

class LkgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/teredo-lkg-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string readFile(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void writeFile(const std::string& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << bytes;
  }

  std::string root_;
};

TEST_F(LkgStoreTest, RoundTripCreatesPrivateDirectory) {
  LkgStore store(root_ + "/state");
  StatusOr<LkgSnapshot> absent = store.load();
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.status().code(), StatusCode::kNotFound) << absent.status().message();

  const std::string payload("\x0a\x03\x00\xffrelay", 9);
  Status saved = store.save({17, payload});
  ASSERT_TRUE(saved.ok()) << saved.message();
  struct stat st {};
  ASSERT_EQ(::stat((root_ + "/state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  StatusOr<LkgSnapshot> got = store.load();
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->version, 17u);
  EXPECT_EQ(got->payload, payload);

  saved = store.save({18, "newer"});
  ASSERT_TRUE(saved.ok()) << saved.message();
  got = store.load();
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->version, 18u);
  EXPECT_EQ(got->payload, "newer");
  // No temp files left behind.
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(root_ + "/state")) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1u);
}

TEST_F(LkgStoreTest, EmptyPayloadRoundTrips) {
  LkgStore store(root_);
  const Status saved = store.save({1, ""});
  ASSERT_TRUE(saved.ok()) << saved.message();
  const StatusOr<LkgSnapshot> got = store.load();
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->payload, "");
}

TEST_F(LkgStoreTest, EveryCorruptionIsRejectedNotCrashing) {
  LkgStore store(root_);
  const Status saved = store.save({5, "payload-bytes"});
  ASSERT_TRUE(saved.ok()) << saved.message();
  const std::string good = readFile(store.path());
  ASSERT_EQ(good.size(), 32u + 13u);

  struct Case {
    const char* name;
    std::string bytes;
    const char* why;
  };
  std::vector<Case> cases = {
      {"empty", "", "truncated header"},
      {"short", good.substr(0, 20), "truncated header"},
      {"torn payload", good.substr(0, good.size() - 1), "length mismatch"},
      {"trailing junk", good + "x", "length mismatch"},
  };
  std::string magic = good;
  magic[0] = 'X';
  cases.push_back({"magic", magic, "bad magic"});
  std::string format = good;
  format[4] = 2;
  cases.push_back({"format", format, "unknown format version"});
  std::string version = good;
  version[8] ^= 1;
  cases.push_back({"version bit", version, "hash mismatch"});
  std::string payloadBit = good;
  payloadBit[40] ^= 0x10;
  cases.push_back({"payload bit", payloadBit, "hash mismatch"});
  std::string hugeLen = good;
  hugeLen[23] = '\x7f';
  cases.push_back({"huge length", hugeLen, "length mismatch"});

  for (const auto& c : cases) {
    writeFile(store.path(), c.bytes);
    const StatusOr<LkgSnapshot> got = store.load();
    ASSERT_FALSE(got.ok()) << c.name;
    EXPECT_EQ(got.status().code(), StatusCode::kDataLoss) << c.name << ": corrupt, not absent";
    EXPECT_EQ(got.status().message(), c.why) << c.name;
  }
  // Any byte flipped anywhere is caught.
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x01;
    EXPECT_FALSE(LkgStore::decode(bad).ok()) << "byte " << i;
  }
}

TEST_F(LkgStoreTest, SaveFailureKeepsPreviousFile) {
  LkgStore store(root_);
  const Status saved = store.save({1, "one"});
  ASSERT_TRUE(saved.ok()) << saved.message();
  LkgStore unwritable("/proc/teredo-no-such-dir");
  const Status failed = unwritable.save({2, "two"});
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("agent.state_dir"), std::string::npos) << failed.message();
  const StatusOr<LkgSnapshot> got = store.load();
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->version, 1u);
}

}  // namespace
}  // namespace teredo::agent

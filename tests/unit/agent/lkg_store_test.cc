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
  std::string why;
  EXPECT_FALSE(store.load(&why).has_value());
  EXPECT_EQ(why, "absent");

  const std::string payload("\x0a\x03\x00\xffrelay", 9);
  std::string err;
  ASSERT_TRUE(store.save({17, payload}, &err)) << err;
  struct stat st {};
  ASSERT_EQ(::stat((root_ + "/state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto got = store.load(&why);
  ASSERT_TRUE(got.has_value()) << why;
  EXPECT_EQ(got->version, 17u);
  EXPECT_EQ(got->payload, payload);

  ASSERT_TRUE(store.save({18, "newer"}, &err)) << err;
  got = store.load(&why);
  ASSERT_TRUE(got.has_value()) << why;
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
  std::string err;
  ASSERT_TRUE(store.save({1, ""}, &err)) << err;
  std::string why;
  const auto got = store.load(&why);
  ASSERT_TRUE(got.has_value()) << why;
  EXPECT_EQ(got->payload, "");
}

TEST_F(LkgStoreTest, EveryCorruptionIsRejectedNotCrashing) {
  LkgStore store(root_);
  std::string err;
  ASSERT_TRUE(store.save({5, "payload-bytes"}, &err)) << err;
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
    std::string why;
    EXPECT_FALSE(store.load(&why).has_value()) << c.name;
    EXPECT_EQ(why, c.why) << c.name;
  }
  // Any byte flipped anywhere is caught.
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x01;
    std::string why;
    EXPECT_FALSE(LkgStore::decode(bad, &why).has_value()) << "byte " << i;
  }
}

TEST_F(LkgStoreTest, SaveFailureKeepsPreviousFile) {
  LkgStore store(root_);
  std::string err;
  ASSERT_TRUE(store.save({1, "one"}, &err)) << err;
  LkgStore unwritable("/proc/teredo-no-such-dir");
  EXPECT_FALSE(unwritable.save({2, "two"}, &err));
  EXPECT_NE(err.find("agent.state_dir"), std::string::npos) << err;
  std::string why;
  const auto got = store.load(&why);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->version, 1u);
}

}  // namespace
}  // namespace teredo::agent

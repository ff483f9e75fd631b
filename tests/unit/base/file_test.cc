// readFile and writeFileDurably (lib/base/file.h).
#include "base/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

namespace teredo {
namespace {

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/teredo-file-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string dir_;
};

TEST_F(FileTest, WriteThenReadRoundTrips) {
  const std::string path = dir_ + "/state.bin";
  const std::string bytes("a\0b\nc", 5);
  ASSERT_TRUE(writeFileDurably(path, bytes).ok());
  auto read = readFile(path);
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(*read, bytes);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(::access((path + ".tmp." + std::to_string(::getpid())).c_str(), F_OK), 0);
}

TEST_F(FileTest, OverwriteReplacesTheWholeContent) {
  const std::string path = dir_ + "/f";
  ASSERT_TRUE(writeFileDurably(path, std::string(10000, 'x')).ok());
  ASSERT_TRUE(writeFileDurably(path, "short").ok());
  EXPECT_EQ(*readFile(path), "short");
}

TEST_F(FileTest, ErrorsNameThePath) {
  const auto missing = readFile(dir_ + "/absent");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(dir_ + "/absent"), std::string::npos);

  const Status w = writeFileDurably(dir_ + "/no/such/dir/f", "x");
  EXPECT_FALSE(w.ok());
  EXPECT_NE(w.message().find("no/such/dir"), std::string::npos);
}

TEST_F(FileTest, ReadRefusesFilesOverTheLimit) {
  const std::string path = dir_ + "/big";
  ASSERT_TRUE(writeFileDurably(path, std::string(100, 'x')).ok());
  EXPECT_EQ(readFile(path, 99).status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(readFile(path, 100).ok());
}

}  // namespace
}  // namespace teredo

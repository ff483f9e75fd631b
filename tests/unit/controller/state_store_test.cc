// The controller's file state store: a missing file is an empty state, a corrupt one an error,
// saves go through teredo::writeFileDurably() (no temporary left behind, owner-only mode, the
// previous state intact when a save fails), and unusable state directories are refused.
#include "state_store.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace teredo::controller {
namespace {

std::unique_ptr<StateStore> open(const std::string& dir) {
  StatusOr<std::unique_ptr<StateStore>> store = openFileStateStore(dir);
  EXPECT_TRUE(store.ok()) << store.status().toString();
  return store.ok() ? std::move(store).value() : nullptr;
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return out;
  }
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") {
      out.push_back(name);
    }
  }
  ::closedir(d);
  return out;
}

TEST(StateStoreTest, CorruptFileIsAnErrorAndMissingFileIsEmpty) {
  TempDir dir;
  auto store = open(dir.path());
  ASSERT_NE(store, nullptr);
  StatusOr<teredo::v1::ControllerState> state = store->load();
  ASSERT_TRUE(state.ok()) << state.status().toString();
  EXPECT_EQ(state->last_version(), 0u);
  std::ofstream(dir.path() + "/state.pb") << "\xff\xff\xff garbage";
  state = store->load();
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(state.status().message().find("corrupt"), std::string::npos);
  teredo::v1::ControllerState next;
  next.set_last_version(9);
  const Status saved = store->save(next);
  ASSERT_TRUE(saved.ok()) << saved.toString();
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"state.pb"}) << "no temporary left";
  StatusOr<teredo::v1::ControllerState> back = store->load();
  ASSERT_TRUE(back.ok()) << back.status().toString();
  EXPECT_EQ(back->last_version(), 9u);
  EXPECT_FALSE(openFileStateStore("/proc/no-such-dir/x").ok());
}

TEST(StateStoreTest, SaveReplacesTheWholeStateOwnerOnly) {
  TempDir dir;
  auto store = open(dir.path());
  ASSERT_NE(store, nullptr);
  teredo::v1::ControllerState first;
  first.set_last_version(1);
  first.add_agents()->set_agent_id("r1");
  ASSERT_TRUE(store->save(first).ok());
  teredo::v1::ControllerState second;
  second.set_last_version(2);
  ASSERT_TRUE(store->save(second).ok());
  StatusOr<teredo::v1::ControllerState> back = store->load();
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->last_version(), 2u);
  EXPECT_EQ(back->agents_size(), 0) << "a save replaces, it does not merge";
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() + "/state.pb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(StateStoreTest, FailedSaveKeepsThePreviousState) {
  TempDir dir;
  auto store = open(dir.path());
  ASSERT_NE(store, nullptr);
  teredo::v1::ControllerState first;
  first.set_last_version(1);
  ASSERT_TRUE(store->save(first).ok());
  // writeFileDurably() writes state.pb.tmp.<pid> first (lib/base/file.h): a directory in its
  // way makes the save fail, also as root.
  const std::string blocker = dir.path() + "/state.pb.tmp." + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(blocker.c_str(), 0700), 0);
  teredo::v1::ControllerState second;
  second.set_last_version(2);
  const Status failed = store->save(second);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.sysErrno(), EISDIR) << failed.toString();
  EXPECT_NE(failed.message().find(blocker), std::string::npos) << failed.message();
  StatusOr<teredo::v1::ControllerState> back = store->load();
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->last_version(), 1u);
  ASSERT_EQ(::rmdir(blocker.c_str()), 0);
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"state.pb"});
}

TEST(StateStoreTest, UnreadableFileIsAnErrorNotAnEmptyState) {
  TempDir dir;
  auto store = open(dir.path());
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(::mkdir((dir.path() + "/state.pb").c_str(), 0700), 0);  // opens, but read() fails
  StatusOr<teredo::v1::ControllerState> state = store->load();
  ASSERT_FALSE(state.ok()) << "an unreadable state must not start the controller empty";
  EXPECT_EQ(state.status().sysErrno(), EISDIR) << state.status().toString();
  EXPECT_NE(state.status().message().find("state.pb"), std::string::npos);
}

TEST(StateStoreTest, UnusableStateDirIsRefused) {
  TempDir dir;
  const std::string file = dir.path() + "/plain-file";
  std::ofstream(file) << "x";
  struct Case {
    const char* name;
    std::string dir;
    StatusCode code;
    std::string inMessage;
  } cases[] = {
      {"empty", "", StatusCode::kInvalidArgument, "controller.state_dir is empty"},
      {"not a directory", file, StatusCode::kFailedPrecondition, "is not a directory"},
      {"parent missing", dir.path() + "/a/b", StatusCode::kNotFound, "cannot create"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    StatusOr<std::unique_ptr<StateStore>> store = openFileStateStore(c.dir);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().code(), c.code) << store.status().toString();
    EXPECT_NE(store.status().message().find(c.inMessage), std::string::npos)
        << store.status().message();
  }
  // One missing level is created.
  EXPECT_NE(open(dir.path() + "/new"), nullptr);
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() + "/new").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

}  // namespace
}  // namespace teredo::controller

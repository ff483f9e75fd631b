// The config store: versions never reused, history bounded oldest-first, lookups by version,
// persistence of config and remembered agents, and a publish that cannot be persisted changing
// nothing (UNAVAILABLE).
#include "config_store.h"

#include <cerrno>

#include <gtest/gtest.h>

namespace teredo::controller {
namespace {

// An in-memory StateStore that can be told to fail.
class MemoryStore : public StateStore {
 public:
  explicit MemoryStore(teredo::v1::ControllerState* backing) : backing_(backing) {}
  StatusOr<teredo::v1::ControllerState> load() override {
    if (failLoad) {
      return Status::error(StatusCode::kDataLoss, "corrupt state file x");
    }
    return *backing_;
  }
  Status save(const teredo::v1::ControllerState& state) override {
    if (failSave) {
      return Status::fromErrno(ENOSPC, "cannot write x");
    }
    *backing_ = state;
    return Status();
  }
  bool failLoad = false;
  bool failSave = false;

 private:
  teredo::v1::ControllerState* backing_;
};

teredo::v1::FleetConfig fleet(uint32_t maxPeers) {
  teredo::v1::FleetConfig f;
  f.mutable_relay_defaults()->mutable_relay()->mutable_relay()->set_max_peers(maxPeers);
  return f;
}

const TimePoint kT0 = TimePoint(std::chrono::seconds(1700000000));

TEST(ConfigStoreTest, PublishCountsVersionsAndBoundsHistory) {
  ConfigStore store(nullptr, 3);
  ASSERT_TRUE(store.load().ok());
  EXPECT_EQ(store.version(), 0u);
  for (uint32_t i = 1; i <= 5; ++i) {
    StatusOr<uint64_t> v = store.publish(fleet(i), "set role relay", "c" + std::to_string(i), 0,
                                         kT0 + std::chrono::seconds(i), {});
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, i);
  }
  EXPECT_EQ(store.version(), 5u);
  EXPECT_EQ(store.current().relay_defaults().relay().relay().max_peers(), 5u);
  ASSERT_EQ(store.history().size(), 3);
  EXPECT_EQ(store.history()[0].info().version(), 3u) << "oldest dropped first";
  EXPECT_EQ(store.history()[2].info().comment(), "c5");
  EXPECT_EQ(store.history()[2].info().time().seconds(), 1700000005);
  EXPECT_EQ(store.find(2), nullptr);
  ASSERT_NE(store.find(4), nullptr);
  EXPECT_EQ(store.find(4)->config().relay_defaults().relay().relay().max_peers(), 4u);
  StatusOr<uint64_t> rb = store.publish(store.find(4)->config(), "rollback to 4", "", 4, kT0, {});
  ASSERT_TRUE(rb.ok());
  EXPECT_EQ(*rb, 6u);
  EXPECT_EQ(store.history()[2].info().rollback_of(), 4u);
}

TEST(ConfigStoreTest, PersistsConfigAndAgentsAndReloads) {
  teredo::v1::ControllerState disk;
  {
    ConfigStore store(std::make_unique<MemoryStore>(&disk), 10);
    ASSERT_TRUE(store.load().ok());
    teredo::v1::StoredAgent a;
    a.set_agent_id("r1");
    a.set_draining(true);
    ASSERT_TRUE(store.publish(fleet(7), "d", "", 0, kT0, {a}).ok());
    ASSERT_EQ(disk.agents_size(), 1);
    ASSERT_TRUE(store.save({}).ok());
    EXPECT_EQ(disk.agents_size(), 0) << "save replaces the remembered agents";
    ASSERT_TRUE(store.save({a}).ok());
  }
  ConfigStore again(std::make_unique<MemoryStore>(&disk), 10);
  ASSERT_TRUE(again.load().ok());
  EXPECT_EQ(again.version(), 1u);
  EXPECT_EQ(again.current().relay_defaults().relay().relay().max_peers(), 7u);
  ASSERT_EQ(again.rememberedAgents().size(), 1);
  EXPECT_EQ(again.rememberedAgents()[0].agent_id(), "r1");
}

TEST(ConfigStoreTest, UnpersistablePublishChangesNothing) {
  teredo::v1::ControllerState disk;
  auto memory = std::make_unique<MemoryStore>(&disk);
  MemoryStore* m = memory.get();
  ConfigStore store(std::move(memory), 10);
  ASSERT_TRUE(store.publish(fleet(1), "first", "", 0, kT0, {}).ok());
  m->failSave = true;
  StatusOr<uint64_t> v = store.publish(fleet(2), "second", "", 0, kT0, {});
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(v.status().message().rfind("cannot persist config: cannot write x", 0), 0u)
      << v.status().message();
  EXPECT_EQ(store.version(), 1u);
  EXPECT_EQ(store.current().relay_defaults().relay().relay().max_peers(), 1u);
  EXPECT_EQ(store.history().size(), 1);
  const Status saved = store.save({});
  EXPECT_EQ(saved.code(), StatusCode::kResourceExhausted) << "the store's own error";
  m->failSave = false;
  StatusOr<uint64_t> retry = store.publish(fleet(2), "second", "", 0, kT0, {});
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(*retry, 2u) << "the failed attempt used no version";
}

TEST(ConfigStoreTest, UnreadableStoreIsALoadError) {
  teredo::v1::ControllerState disk;
  auto memory = std::make_unique<MemoryStore>(&disk);
  memory->failLoad = true;
  ConfigStore store(std::move(memory), 10);
  const Status s = store.load();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "corrupt state file x");
}

}  // namespace
}  // namespace teredo::controller

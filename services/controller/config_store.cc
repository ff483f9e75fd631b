#include "config_store.h"

namespace teredo::controller {

Status ConfigStore::load() {
  if (store_ == nullptr) {
    return Status();
  }
  StatusOr<teredo::v1::ControllerState> loaded = store_->load();
  if (!loaded.ok()) {
    return loaded.status();
  }
  state_ = std::move(loaded).value();
  return Status();
}

const teredo::v1::ConfigHistoryEntry* ConfigStore::find(uint64_t version) const {
  const teredo::v1::ConfigHistoryEntry* found = nullptr;
  for (const auto& entry : state_.history()) {
    if (entry.info().version() == version) {
      found = &entry;
    }
  }
  return found;
}

StatusOr<uint64_t> ConfigStore::publish(const teredo::v1::FleetConfig& next,
                                        const std::string& description, const std::string& comment,
                                        uint64_t rollbackOf, TimePoint now,
                                        std::vector<teredo::v1::StoredAgent> agents,
                                        const std::string& author) {
  const teredo::v1::ControllerState before = state_;
  const uint64_t v = state_.last_version() + 1;
  state_.set_last_version(v);
  *state_.mutable_current() = next;
  auto* entry = state_.add_history();
  entry->mutable_info()->set_version(v);
  toTimestamp(now, entry->mutable_info()->mutable_time());
  entry->mutable_info()->set_description(description);
  entry->mutable_info()->set_comment(comment);
  entry->mutable_info()->set_rollback_of(rollbackOf);
  entry->mutable_info()->set_author(author);
  *entry->mutable_config() = next;
  if (static_cast<size_t>(state_.history_size()) > maxHistory_) {
    const int excess = state_.history_size() - static_cast<int>(maxHistory_);
    state_.mutable_history()->DeleteSubrange(0, excess);
  }
  if (Status s = save(std::move(agents)); !s.ok()) {
    state_ = before;
    return Status::error(StatusCode::kUnavailable, "cannot persist config: " + s.message());
  }
  return v;
}

Status ConfigStore::save(std::vector<teredo::v1::StoredAgent> agents) {
  if (store_ == nullptr) {
    return Status();
  }
  state_.clear_agents();
  for (auto& a : agents) {
    *state_.add_agents() = std::move(a);
  }
  return store_->save(state_);
}

}  // namespace teredo::controller

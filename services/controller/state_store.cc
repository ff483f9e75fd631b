#include "state_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <limits>

#include "base/file.h"

namespace teredo::controller {
namespace {

class FileStateStore : public StateStore {
 public:
  explicit FileStateStore(const std::string& dir) : path_(dir + "/state.pb") {}

  StatusOr<teredo::v1::ControllerState> load() override {
    teredo::v1::ControllerState state;
    // Bounded only by what protobuf can parse at all: every state ever saved can be read back.
    StatusOr<std::string> data = readFile(path_, std::numeric_limits<int32_t>::max());
    if (!data.ok()) {
      if (data.status().sysErrno() == ENOENT) {
        return state;
      }
      return data.status();
    }
    if (!state.ParseFromString(*data)) {
      return Status::error(StatusCode::kDataLoss,
                           "corrupt state file " + path_ + " (not a teredo.v1.ControllerState)");
    }
    return state;
  }

  Status save(const teredo::v1::ControllerState& state) override {
    std::string data;
    if (!state.SerializeToString(&data)) {
      return Status::error(StatusCode::kInternal, "cannot serialize controller state");
    }
    return writeFileDurably(path_, data, 0600);
  }

 private:
  const std::string path_;
};

}  // namespace

StatusOr<std::unique_ptr<StateStore>> openFileStateStore(const std::string& dir) {
  if (dir.empty()) {
    return Status::error(StatusCode::kInvalidArgument, "controller.state_dir is empty");
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::fromErrno(errno, "cannot create controller.state_dir " + dir);
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::error(StatusCode::kFailedPrecondition,
                         "controller.state_dir " + dir + " is not a directory");
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    return Status::fromErrno(errno, "controller.state_dir not writable: " + dir);
  }
  return std::unique_ptr<StateStore>(std::make_unique<FileStateStore>(dir));
}

}  // namespace teredo::controller

#include "state_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

namespace teredo::controller {
namespace {

std::string errnoText(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

bool writeAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

class FileStateStore : public StateStore {
 public:
  explicit FileStateStore(std::string dir)
      : dir_(std::move(dir)), path_(dir_ + "/state.pb"), tmp_(path_ + ".tmp") {}

  bool load(teredo::v1::ControllerState* state, std::string* error) override {
    state->Clear();
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) {
        return true;
      }
      *error = errnoText("cannot open", path_);
      return false;
    }
    std::string data;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        *error = errnoText("cannot read", path_);
        ::close(fd);
        return false;
      }
      if (n == 0) {
        break;
      }
      data.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    if (!state->ParseFromString(data)) {
      *error = "corrupt state file " + path_ + " (not a teredo.v1.ControllerState)";
      return false;
    }
    return true;
  }

  bool save(const teredo::v1::ControllerState& state, std::string* error) override {
    std::string data;
    if (!state.SerializeToString(&data)) {
      *error = "cannot serialize controller state";
      return false;
    }
    const int fd = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      *error = errnoText("cannot create", tmp_);
      return false;
    }
    if (!writeAll(fd, data) || ::fsync(fd) != 0) {
      *error = errnoText("cannot write", tmp_);
      ::close(fd);
      ::unlink(tmp_.c_str());
      return false;
    }
    ::close(fd);
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
      *error = errnoText("cannot rename onto", path_);
      ::unlink(tmp_.c_str());
      return false;
    }
    const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || ::fsync(dfd) != 0) {
      *error = errnoText("cannot fsync directory", dir_);
      if (dfd >= 0) {
        ::close(dfd);
      }
      return false;
    }
    ::close(dfd);
    return true;
  }

 private:
  const std::string dir_;
  const std::string path_;
  const std::string tmp_;
};

}  // namespace

std::unique_ptr<StateStore> openFileStateStore(const std::string& dir, std::string* error) {
  if (dir.empty()) {
    *error = "controller.state_dir is empty";
    return nullptr;
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    *error = errnoText("cannot create controller.state_dir", dir);
    return nullptr;
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *error = "controller.state_dir " + dir + " is not a directory";
    return nullptr;
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    *error = errnoText("controller.state_dir not writable:", dir);
    return nullptr;
  }
  return std::make_unique<FileStateStore>(dir);
}

}  // namespace teredo::controller

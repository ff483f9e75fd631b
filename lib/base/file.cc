#include "base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace teredo {
namespace {

/// Closes a descriptor when the scope ends.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  int get() const { return fd_; }
  /// Closes now; the errno of a failed close(2), or 0.
  int close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

bool writeAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string directoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

StatusOr<std::string> readFile(const std::string& path, size_t maxBytes) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return Status::fromErrno(errno, "cannot open " + path);
  }
  std::string out;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Status::fromErrno(errno, "cannot read " + path);
    }
    if (n == 0) {
      break;
    }
    if (out.size() + static_cast<size_t>(n) > maxBytes) {
      return Status::error(StatusCode::kResourceExhausted,
                           path + ": larger than " + std::to_string(maxBytes) + " bytes");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status writeFileDurably(const std::string& path, std::string_view bytes, unsigned mode) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ScopedFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (fd.get() < 0) {
    return Status::fromErrno(errno, "cannot create " + tmp);
  }
  if (!writeAll(fd.get(), bytes) || ::fsync(fd.get()) != 0) {
    Status st = Status::fromErrno(errno, "cannot write " + tmp);
    ::unlink(tmp.c_str());
    return st;
  }
  if (const int err = fd.close(); err != 0) {
    ::unlink(tmp.c_str());
    return Status::fromErrno(err, "cannot close " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status st = Status::fromErrno(errno, "cannot rename " + tmp + " to " + path);
    ::unlink(tmp.c_str());
    return st;
  }
  const std::string dir = directoryOf(path);
  ScopedFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0 || ::fsync(dfd.get()) != 0) {
    return Status::fromErrno(errno, "cannot fsync directory " + dir);
  }
  return Status();
}

}  // namespace teredo

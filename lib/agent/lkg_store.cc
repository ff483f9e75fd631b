#include "agent/lkg_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/log.h"

namespace teredo::agent {

namespace {

constexpr char kMagic[4] = {'T', 'L', 'K', 'G'};
constexpr uint32_t kFormat = 1;
constexpr size_t kHeader = 32;

void putLe(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
}

uint64_t getLe(std::string_view in, size_t off, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= static_cast<uint64_t>(static_cast<unsigned char>(in[off + i])) << (8 * i);
  }
  return v;
}

std::string errnoText(const char* what, const std::string& path) {
  return std::string(what) + " " + path + ": " + std::strerror(errno);
}

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

uint64_t fnv1a64(std::string_view data, uint64_t seed) {
  uint64_t h = seed;
  for (const char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

LkgStore::LkgStore(std::string stateDir, std::string name)
    : dir_(std::move(stateDir)), path_(dir_ + "/" + name) {}

std::string LkgStore::encode(const LkgSnapshot& s) {
  std::string out;
  out.reserve(kHeader + s.payload.size());
  out.append(kMagic, sizeof(kMagic));
  putLe(out, kFormat, 4);
  putLe(out, s.version, 8);
  putLe(out, s.payload.size(), 8);
  const uint64_t h = fnv1a64(s.payload, fnv1a64(out));
  putLe(out, h, 8);
  out += s.payload;
  return out;
}

std::optional<LkgSnapshot> LkgStore::decode(std::string_view bytes, std::string* why) {
  if (bytes.size() < kHeader) {
    *why = "truncated header";
    return std::nullopt;
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    *why = "bad magic";
    return std::nullopt;
  }
  if (getLe(bytes, 4, 4) != kFormat) {
    *why = "unknown format version";
    return std::nullopt;
  }
  const uint64_t len = getLe(bytes, 16, 8);
  if (len > kMaxPayload || len != bytes.size() - kHeader) {
    *why = "length mismatch";
    return std::nullopt;
  }
  const std::string_view payload = bytes.substr(kHeader);
  const uint64_t h = fnv1a64(payload, fnv1a64(bytes.substr(0, 24)));
  if (h != getLe(bytes, 24, 8)) {
    *why = "hash mismatch";
    return std::nullopt;
  }
  return LkgSnapshot{getLe(bytes, 8, 8), std::string(payload)};
}

bool LkgStore::save(const LkgSnapshot& s, std::string* error) const {
  if (s.payload.size() > kMaxPayload) {
    *error = "snapshot too large for " + path_;
    return false;
  }
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    *error = errnoText("agent.state_dir: cannot create", dir_);
    return false;
  }
  const std::string tmp = path_ + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = errnoText("cannot create", tmp);
    return false;
  }
  const std::string bytes = encode(s);
  if (!writeAll(fd, bytes) || ::fsync(fd) != 0) {
    *error = errnoText("cannot write", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  if (::close(fd) != 0) {
    *error = errnoText("cannot close", tmp);
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    *error = errnoText("cannot rename to", path_);
    ::unlink(tmp.c_str());
    return false;
  }
  const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    *error = errnoText("cannot open", dir_);
    return false;
  }
  const bool synced = ::fsync(dfd) == 0;
  if (!synced) {
    *error = errnoText("cannot fsync", dir_);
  }
  ::close(dfd);
  return synced;
}

std::optional<LkgSnapshot> LkgStore::load(std::string* why) const {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      *why = "absent";
    } else {
      *why = errnoText("cannot open", path_);
      TEREDO_LOG(LogLevel::Warn, "last-known-good config ignored", {"path", path_},
                 {"error", *why});
    }
    return std::nullopt;
  }
  std::string bytes;
  char buf[65536];
  bool ok = true;
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      ok = false;
      *why = errnoText("cannot read", path_);
      break;
    }
    if (n == 0) {
      break;
    }
    if (bytes.size() + static_cast<size_t>(n) > kMaxPayload + kHeader) {
      ok = false;
      *why = "file larger than the maximum snapshot";
      break;
    }
    bytes.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  std::optional<LkgSnapshot> s;
  if (ok) {
    s = decode(bytes, why);
  }
  if (!s) {
    TEREDO_LOG(LogLevel::Warn, "last-known-good config ignored", {"path", path_}, {"error", *why});
  }
  return s;
}

}  // namespace teredo::agent

#include "agent/lkg_store.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "agent/log.h"
#include "base/file.h"

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

StatusOr<LkgSnapshot> LkgStore::decode(std::string_view bytes) {
  auto defect = [](const char* what) { return Status::error(StatusCode::kDataLoss, what); };
  if (bytes.size() < kHeader) {
    return defect("truncated header");
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return defect("bad magic");
  }
  if (getLe(bytes, 4, 4) != kFormat) {
    return defect("unknown format version");
  }
  const uint64_t len = getLe(bytes, 16, 8);
  if (len > kMaxPayload || len != bytes.size() - kHeader) {
    return defect("length mismatch");
  }
  const std::string_view payload = bytes.substr(kHeader);
  const uint64_t h = fnv1a64(payload, fnv1a64(bytes.substr(0, 24)));
  if (h != getLe(bytes, 24, 8)) {
    return defect("hash mismatch");
  }
  return LkgSnapshot{getLe(bytes, 8, 8), std::string(payload)};
}

Status LkgStore::save(const LkgSnapshot& s) const {
  if (s.payload.size() > kMaxPayload) {
    return Status::error(StatusCode::kResourceExhausted, "snapshot too large for " + path_);
  }
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::fromErrno(errno, "agent.state_dir: cannot create " + dir_);
  }
  return writeFileDurably(path_, encode(s), 0600);
}

StatusOr<LkgSnapshot> LkgStore::load() const {
  StatusOr<std::string> bytes = readFile(path_, kMaxPayload + kHeader);
  if (!bytes.ok() && bytes.status().sysErrno() == ENOENT) {
    return Status::error(StatusCode::kNotFound, path_ + ": absent");
  }
  StatusOr<LkgSnapshot> s = bytes.ok() ? decode(*bytes) : StatusOr<LkgSnapshot>(bytes.status());
  if (!s.ok()) {
    TEREDO_LOG(LogLevel::Warn, "last-known-good config ignored", {"path", path_},
               {"error", s.status().message()});
  }
  return s;
}

}  // namespace teredo::agent

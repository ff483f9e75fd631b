// Structured logging: one line per event, `logfmt` text or JSON, to stderr by default.
//
//   TEREDO_LOG(LogLevel::Info, "config applied", {"version", v}, {"source", "controller"});
//
// Text: ts=2026-11-28T08:22:30.123Z level=info msg="config applied" version=3 source=controller
// JSON: {"ts":"2026-11-28T08:22:30.123Z","level":"info","msg":"config applied","version":3,...}
// The packet path counts (drop reasons, lib/agent/stats.h) rather than logging; never log
// addresses on the packet path (bounded output is not enough: logs are not a per-client store).
//
// Thread-safety: Logger::log and the macros may be called from any thread; each line is formatted
// on the caller's stack/heap and written whole under a mutex. setLevel/setFormat are atomic.
// Ownership: defaultLogger() lives for the whole process; Loggers made for tests are owned by them.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>

#include "config/config.h"

namespace teredo::agent {

enum class LogLevel : uint8_t { Debug = 0, Info = 1, Warn = 2, Error = 3 };
enum class LogFormat : uint8_t { Text = 0, Json = 1 };

/// "debug", "info", "warn", "error".
std::string_view logLevelName(LogLevel l);
/// Parses the names above (and "warning"); returns false on anything else.
bool parseLogLevel(std::string_view s, LogLevel* out);

/// One key=value pair. Keys are literals (lower_snake_case); values are copied when formatting.
struct LogField {
  enum class Kind : uint8_t { Str, Int, Uint, Dbl, Bool };
  LogField(const char* k, std::string_view v) : key(k), kind(Kind::Str), s(v) {}
  LogField(const char* k, const char* v) : key(k), kind(Kind::Str), s(v) {}
  LogField(const char* k, const std::string& v) : key(k), kind(Kind::Str), s(v) {}
  LogField(const char* k, bool v) : key(k), kind(Kind::Bool), b(v) {}
  LogField(const char* k, int v) : key(k), kind(Kind::Int), i(v) {}
  LogField(const char* k, long v) : key(k), kind(Kind::Int), i(v) {}
  LogField(const char* k, long long v) : key(k), kind(Kind::Int), i(v) {}
  LogField(const char* k, unsigned v) : key(k), kind(Kind::Uint), u(v) {}
  LogField(const char* k, unsigned long v) : key(k), kind(Kind::Uint), u(v) {}
  LogField(const char* k, unsigned long long v) : key(k), kind(Kind::Uint), u(v) {}
  LogField(const char* k, double v) : key(k), kind(Kind::Dbl), d(v) {}

  const char* key;
  Kind kind;
  std::string_view s;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  bool b = false;
};

class Logger {
 public:
  /// Receives one complete line, '\n' included.
  using Sink = std::function<void(std::string_view line)>;
  /// Wall-clock time in nanoseconds since the Unix epoch.
  using WallClock = std::function<int64_t()>;

  static void stderrSink(std::string_view line);
  static int64_t systemNowNs();

  explicit Logger(LogLevel level = LogLevel::Info, LogFormat format = LogFormat::Text,
                  Sink sink = stderrSink, WallClock clock = systemNowNs);

  void setLevel(LogLevel l) { level_.store(l, std::memory_order_relaxed); }
  LogLevel level() const { return level_.load(std::memory_order_relaxed); }
  void setFormat(LogFormat f) { format_.store(f, std::memory_order_relaxed); }
  bool enabled(LogLevel l) const { return l >= level(); }
  int64_t nowNs() const { return clock_(); }

  void log(LogLevel l, std::string_view msg, std::initializer_list<LogField> fields = {});

  /// Formats one line without writing it (tests, and callers that batch).
  std::string format(LogLevel l, std::string_view msg,
                     std::initializer_list<LogField> fields) const;

 private:
  std::atomic<LogLevel> level_;
  std::atomic<LogFormat> format_;
  Sink sink_;
  WallClock clock_;
  std::mutex writeMu_;
};

/// The process logger (stderr, info, text until configured).
Logger& defaultLogger();

/// Count of TEREDO_BUG hits in this process (exported as teredo_bugs_total).
uint64_t bugCount();
/// Logs a broken invariant at error level and counts it.
void noteBug(const char* file, int line, std::string_view what);

/// Applies a config's log.level and log.format to the default logger (any thread).
void applyLogConfig(const config::LogConfig& c);

}  // namespace teredo::agent

/// Logs through defaultLogger() if `level` is enabled. Fields: {"key", value}, ...
#define TEREDO_LOG(level, msg, ...)                                            \
  do {                                                                         \
    ::teredo::agent::Logger& teredoLogger_ = ::teredo::agent::defaultLogger(); \
    if (teredoLogger_.enabled(level)) {                                        \
      teredoLogger_.log(level, msg, {__VA_ARGS__});                            \
    }                                                                          \
  } while (0)

/// A broken invariant: logs and counts it (teredo_bugs_total) in release builds, aborts in debug.
#ifdef NDEBUG
#define TEREDO_BUG(what) ::teredo::agent::noteBug(__FILE__, __LINE__, what)
#else
#define TEREDO_BUG(what) (::teredo::agent::noteBug(__FILE__, __LINE__, what), ::abort())
#endif

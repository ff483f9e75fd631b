#include "agent/log.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace teredo::agent {

std::string_view logLevelName(LogLevel l) {
  switch (l) {
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Error:
      return "error";
  }
  return "unknown";
}

bool parseLogLevel(std::string_view s, LogLevel* out) {
  struct Entry {
    std::string_view name;
    LogLevel level;
  };
  static constexpr Entry kLevels[] = {{"debug", LogLevel::Debug},
                                      {"info", LogLevel::Info},
                                      {"warn", LogLevel::Warn},
                                      {"warning", LogLevel::Warn},
                                      {"error", LogLevel::Error}};
  for (const auto& e : kLevels) {
    if (e.name == s) {
      *out = e.level;
      return true;
    }
  }
  return false;
}

void Logger::stderrSink(std::string_view line) {
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;  // nowhere to report a failing stderr
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

int64_t Logger::systemNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Logger::Logger(LogLevel level, LogFormat format, Sink sink, WallClock clock)
    : level_(level), format_(format), sink_(std::move(sink)), clock_(std::move(clock)) {}

namespace {

void appendTimestamp(std::string& out, int64_t ns) {
  const time_t secs = static_cast<time_t>(ns / 1000000000);
  const int millis = static_cast<int>((ns / 1000000) % 1000);
  struct tm tmv;
  gmtime_r(&secs, &tmv);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tmv);
  out.append(buf, n);
  std::snprintf(buf, sizeof(buf), ".%03dZ", millis);
  out += buf;
}

// JSON string body escaping (RFC 8259 §7); also used for quoted logfmt values.
void appendEscaped(std::string& out, std::string_view s) {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
}

bool needsQuotes(std::string_view s) {
  if (s.empty()) {
    return true;
  }
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == '"' || c == '=' || c == '\\' || c == 0x7f) {
      return true;
    }
  }
  return false;
}

void appendNumber(std::string& out, const LogField& f, bool json) {
  char buf[40];
  switch (f.kind) {
    case LogField::Kind::Int:
      std::snprintf(buf, sizeof(buf), "%" PRId64, f.i);
      break;
    case LogField::Kind::Uint:
      std::snprintf(buf, sizeof(buf), "%" PRIu64, f.u);
      break;
    case LogField::Kind::Dbl:
      if (json && !std::isfinite(f.d)) {
        std::snprintf(buf, sizeof(buf), "null");
      } else {
        std::snprintf(buf, sizeof(buf), "%.6g", f.d);
      }
      break;
    case LogField::Kind::Bool:
      std::snprintf(buf, sizeof(buf), "%s", f.b ? "true" : "false");
      break;
    case LogField::Kind::Str:
      buf[0] = '\0';
      break;
  }
  out += buf;
}

void appendTextPair(std::string& out, std::string_view key, std::string_view value) {
  out += ' ';
  out += key;
  out += '=';
  if (needsQuotes(value)) {
    out += '"';
    appendEscaped(out, value);
    out += '"';
  } else {
    out += value;
  }
}

void appendJsonString(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  appendEscaped(out, key);
  out += "\":\"";
  appendEscaped(out, value);
  out += '"';
}

}  // namespace

std::string Logger::format(LogLevel l, std::string_view msg,
                           std::initializer_list<LogField> fields) const {
  std::string out;
  out.reserve(128);
  const bool json = format_.load(std::memory_order_relaxed) == LogFormat::Json;
  if (json) {
    out += "{\"ts\":\"";
    appendTimestamp(out, clock_());
    out += '"';
    appendJsonString(out, "level", logLevelName(l));
    appendJsonString(out, "msg", msg);
    for (const auto& f : fields) {
      if (f.kind == LogField::Kind::Str) {
        appendJsonString(out, f.key, f.s);
      } else {
        out += ",\"";
        appendEscaped(out, f.key);
        out += "\":";
        appendNumber(out, f, true);
      }
    }
    out += "}\n";
  } else {
    out += "ts=";
    appendTimestamp(out, clock_());
    out += " level=";
    out += logLevelName(l);
    appendTextPair(out, "msg", msg);
    for (const auto& f : fields) {
      if (f.kind == LogField::Kind::Str) {
        appendTextPair(out, f.key, f.s);
      } else {
        out += ' ';
        out += f.key;
        out += '=';
        appendNumber(out, f, false);
      }
    }
    out += '\n';
  }
  return out;
}

void Logger::log(LogLevel l, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!enabled(l)) {
    return;
  }
  const std::string line = format(l, msg, fields);
  std::lock_guard<std::mutex> lock(writeMu_);
  sink_(line);
}

Logger& defaultLogger() {
  static Logger* logger = new Logger();  // never destroyed: usable from any thread at exit
  return *logger;
}

namespace {
std::atomic<uint64_t> gBugs{0};
}  // namespace

uint64_t bugCount() {
  return gBugs.load(std::memory_order_relaxed);
}

void noteBug(const char* file, int line, std::string_view what) {
  gBugs.fetch_add(1, std::memory_order_relaxed);
  defaultLogger().log(LogLevel::Error, "bug", {{"what", what}, {"file", file}, {"line", line}});
}

void applyLogConfig(const config::LogConfig& c) {
  LogLevel level = LogLevel::Info;
  switch (c.level) {
    case config::LogLevel::kDebug:
      level = LogLevel::Debug;
      break;
    case config::LogLevel::kInfo:
      level = LogLevel::Info;
      break;
    case config::LogLevel::kWarn:
      level = LogLevel::Warn;
      break;
    case config::LogLevel::kError:
      level = LogLevel::Error;
      break;
  }
  defaultLogger().setLevel(level);
  defaultLogger().setFormat(c.format == config::LogFormat::kJson ? LogFormat::Json
                                                                 : LogFormat::Text);
}

}  // namespace teredo::agent

#include "agent/log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

namespace teredo::agent {
namespace {

// 2026-11-28T08:22:30.123Z
constexpr int64_t kNowNs = 1795854150123000000;

struct Captured {
  std::mutex mu;
  std::vector<std::string> lines;
  std::atomic<int64_t> nowNs{kNowNs};
  Logger logger{LogLevel::Info, LogFormat::Text,
                [this](std::string_view l) {
                  std::lock_guard<std::mutex> lock(mu);
                  lines.emplace_back(l);
                },
                [this] { return nowNs.load(); }};
};

TEST(Log, TextLine) {
  Captured c;
  c.logger.log(LogLevel::Warn, "config rejected",
               {{"version", uint64_t{7}},
                {"error", "bad \"mtu\""},
                {"ok", false},
                {"delta", -3},
                {"path", "/var/lib/teredo"},
                {"empty", ""}});
  ASSERT_EQ(c.lines.size(), 1u);
  EXPECT_EQ(c.lines[0],
            "ts=2026-11-28T08:22:30.123Z level=warn msg=\"config rejected\" version=7 "
            "error=\"bad \\\"mtu\\\"\" ok=false delta=-3 path=/var/lib/teredo empty=\"\"\n");
}

TEST(Log, JsonLine) {
  Captured c;
  c.logger.setFormat(LogFormat::Json);
  c.logger.log(LogLevel::Error, "bind failed\n", {{"setting", "server.listen"}, {"errno", 98}});
  ASSERT_EQ(c.lines.size(), 1u);
  EXPECT_EQ(c.lines[0],
            "{\"ts\":\"2026-11-28T08:22:30.123Z\",\"level\":\"error\",\"msg\":\"bind failed\\n\","
            "\"setting\":\"server.listen\",\"errno\":98}\n");
}

TEST(Log, LevelFilters) {
  Captured c;
  c.logger.log(LogLevel::Debug, "hidden");
  c.logger.setLevel(LogLevel::Debug);
  c.logger.log(LogLevel::Debug, "shown");
  ASSERT_EQ(c.lines.size(), 1u);
  EXPECT_NE(c.lines[0].find("msg=shown"), std::string::npos);
}

TEST(Log, ParseLevel) {
  LogLevel l = LogLevel::Info;
  EXPECT_TRUE(parseLogLevel("warning", &l));
  EXPECT_EQ(l, LogLevel::Warn);
  EXPECT_TRUE(parseLogLevel("debug", &l));
  EXPECT_EQ(l, LogLevel::Debug);
  EXPECT_FALSE(parseLogLevel("verbose", &l));
}

}  // namespace
}  // namespace teredo::agent

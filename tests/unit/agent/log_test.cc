#include "agent/log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
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

void logFromOneSite(Logger& logger, int i) {
  TEREDO_LOG_RATE_LIMITED_TO(logger, LogLevel::Info, 3, "packet dropped", {"i", i});
}

TEST(Log, RateLimitedPerCallSiteCountsSuppressed) {
  Captured c;
  for (int i = 0; i < 10; ++i) {
    logFromOneSite(c.logger, i);
  }
  ASSERT_EQ(c.lines.size(), 3u);
  EXPECT_EQ(c.lines[2].find("suppressed"), std::string::npos);
  c.nowNs += 1'000'000'000;  // next second: the 7 refused lines are reported on the next one
  logFromOneSite(c.logger, 10);
  ASSERT_EQ(c.lines.size(), 4u);
  EXPECT_NE(c.lines[3].find("i=10 suppressed=7\n"), std::string::npos) << c.lines[3];
  logFromOneSite(c.logger, 11);
  ASSERT_EQ(c.lines.size(), 5u);
  EXPECT_EQ(c.lines[4].find("suppressed"), std::string::npos) << c.lines[4];
}

TEST(Log, RateLimiterBoundsConcurrentCallers) {
  LogRateLimiter rl(5);
  std::atomic<uint64_t> allowed{0};
  std::atomic<uint64_t> reported{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        uint64_t s = 0;
        if (rl.allow(100, &s)) {
          allowed.fetch_add(1);
          reported.fetch_add(s);
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(allowed.load(), 5u);  // one window, no boundary race
  EXPECT_EQ(rl.suppressedTotal(), 40000u - 5u);
  uint64_t s = 0;
  ASSERT_TRUE(rl.allow(101, &s));
  EXPECT_EQ(reported.load() + s, 40000u - 5u);
}

}  // namespace
}  // namespace teredo::agent

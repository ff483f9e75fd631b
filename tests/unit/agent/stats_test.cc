#include "agent/stats.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <sstream>
#include <thread>
#include <vector>

#include "teredo/drop_reason.h"

namespace teredo::agent {
namespace {

enum class Direction : uint8_t { ToTeredo, FromTeredo };
constexpr std::string_view directionLabel(Direction d) {
  return d == Direction::ToTeredo ? "to_teredo" : "from_teredo";
}

#define SAMPLE_STATS(COUNTER, GAUGE, LABELED)                                                   \
  COUNTER(received, "teredo_sample_packets_received_total", "Packets received.")                \
  GAUGE(peers, "teredo_sample_peers", "Peers in the table.")                                    \
  LABELED(bytes, "teredo_sample_bytes_total", "Bytes by direction.", "direction", Direction, 2, \
          directionLabel)
TEREDO_STATS_STRUCT(SampleStats, SAMPLE_STATS);

#define DROP_STATS(COUNTER, GAUGE, LABELED)                                           \
  LABELED(dropped, "teredo_test_packets_dropped_total", "Drops by reason.", "reason", \
          ::teredo::DropReason, ::teredo::kDropReasonCount, ::teredo::dropReasonLabel)
TEREDO_STATS_STRUCT(DropStats, DROP_STATS);

std::string render(const prometheus::Collectable& c) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, c.Collect());
  return out.str();
}

TEST(Stats, StructIsCacheLineAligned) {
  EXPECT_EQ(alignof(SampleStats), 64u);
  EXPECT_EQ(sizeof(SampleStats) % 64, 0u);
}

TEST(Stats, ExactTextExposition) {
  StatsCollectable<SampleStats> stats(2);
  stats.worker(0).received.inc(3);
  stats.worker(1).received.inc();
  stats.worker(0).peers.set(10);
  stats.worker(1).peers.set(5);
  stats.worker(1).peers.add(-2);
  stats.worker(0).bytes.inc(Direction::FromTeredo, 1280);
  stats.worker(1).bytes.inc(Direction::FromTeredo, 20);
  EXPECT_EQ(render(stats),
            "# HELP teredo_sample_packets_received_total Packets received.\n"
            "# TYPE teredo_sample_packets_received_total counter\n"
            "teredo_sample_packets_received_total 4\n"
            "# HELP teredo_sample_peers Peers in the table.\n"
            "# TYPE teredo_sample_peers gauge\n"
            "teredo_sample_peers 13\n"
            "# HELP teredo_sample_bytes_total Bytes by direction.\n"
            "# TYPE teredo_sample_bytes_total counter\n"
            "teredo_sample_bytes_total{direction=\"to_teredo\"} 0\n"
            "teredo_sample_bytes_total{direction=\"from_teredo\"} 1300\n");
}

TEST(Stats, ConstLabelsOnEverySeries) {
  StatsCollectable<SampleStats> stats(1, {{"role", "relay"}});
  stats.worker(0).bytes.inc(Direction::ToTeredo, 7);
  const std::string text = render(stats);
  EXPECT_NE(text.find("teredo_sample_packets_received_total{role=\"relay\"} 0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("teredo_sample_bytes_total{role=\"relay\",direction=\"to_teredo\"} 7\n"),
            std::string::npos)
      << text;
}

TEST(Stats, EveryDropReasonHasASeries) {
  StatsCollectable<DropStats> stats(3);
  stats.worker(2).dropped.inc(DropReason::SpoofedSource, 2);
  stats.worker(0).dropped.inc(DropReason::SpoofedSource);
  stats.worker(1).dropped.inc(DropReason::SendFailed);
  const auto fams = stats.Collect();
  ASSERT_EQ(fams.size(), 1u);
  ASSERT_EQ(fams[0].metric.size(), kDropReasonCount);
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    const auto r = static_cast<DropReason>(i);
    const auto& m = fams[0].metric[i];
    ASSERT_EQ(m.label.size(), 1u);
    EXPECT_EQ(m.label[0].name, "reason");
    EXPECT_EQ(m.label[0].value, dropReasonLabel(r));
    const double want = r == DropReason::SpoofedSource ? 3 : (r == DropReason::SendFailed ? 1 : 0);
    EXPECT_EQ(m.counter.value, want) << dropReasonLabel(r);
  }
  EXPECT_EQ(stats.sum(&DropStats::dropped, DropReason::SpoofedSource), 3u);
}

// DropReason::None ("no drop") is never counted and never becomes a series: counting it is a
// no-op, whatever else was counted.
TEST(Stats, DropReasonNoneIsNeverCountedOrLabelled) {
  struct Row {
    const char* name;
    std::vector<DropReason> counted;
    uint64_t wantTotal;
  };
  const Row rows[] = {
      {"only None", {DropReason::None, DropReason::None}, 0},
      {"None among reasons",
       {DropReason::TruncatedAuth, DropReason::None, DropReason::SendFailed},
       2},
      {"first reason only", {DropReason::TruncatedAuth}, 1},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    StatsCollectable<DropStats> stats(1);
    for (DropReason r : row.counted) {
      stats.worker(0).dropped.inc(r);
    }
    EXPECT_EQ(stats.sum(&DropStats::dropped, DropReason::None), 0u);
    EXPECT_EQ(stats.worker(0).dropped.value(DropReason::None), 0u);
    const auto fams = stats.Collect();
    ASSERT_EQ(fams.size(), 1u);
    ASSERT_EQ(fams[0].metric.size(), kDropReasonCount) << "no series for None";
    uint64_t total = 0;
    for (const auto& m : fams[0].metric) {
      ASSERT_EQ(m.label.size(), 1u);
      EXPECT_FALSE(m.label[0].value.empty());
      total += static_cast<uint64_t>(m.counter.value);
    }
    EXPECT_EQ(total, row.wantTotal);
    EXPECT_EQ(render(stats).find("reason=\"\""), std::string::npos);
  }
}

TEST(Stats, SumsConcurrentWorkersWhileScraping) {
  constexpr size_t kWorkers = 4;
  constexpr uint64_t kIncrements = 200000;
  StatsCollectable<SampleStats> stats(kWorkers);
  std::vector<std::thread> threads;
  for (size_t w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&stats, w] {
      auto& s = stats.worker(w);
      for (uint64_t i = 0; i < kIncrements; ++i) {
        s.received.inc();
        s.bytes.inc(Direction::ToTeredo, 2);
      }
      s.peers.set(static_cast<int64_t>(w));
    });
  }
  // Scrapes racing with the writers see monotonically growing, never torn, sums.
  uint64_t last = 0;
  for (int i = 0; i < 50; ++i) {
    const uint64_t now = stats.sum(&SampleStats::received);
    EXPECT_GE(now, last);
    EXPECT_LE(now, kWorkers * kIncrements);
    last = now;
    (void)stats.Collect();
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(stats.sum(&SampleStats::received), kWorkers * kIncrements);
  EXPECT_EQ(stats.sum(&SampleStats::bytes, Direction::ToTeredo), 2 * kWorkers * kIncrements);
  EXPECT_EQ(stats.sum(&SampleStats::peers), 0 + 1 + 2 + 3);
}

}  // namespace
}  // namespace teredo::agent

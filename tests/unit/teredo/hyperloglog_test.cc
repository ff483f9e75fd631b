// HyperLogLog (lib/teredo/hyperloglog.h): the distinct-client sketch and its merge.
#include "teredo/hyperloglog.h"

#include <gtest/gtest.h>

namespace teredo {
namespace {

TEST(HyperLogLog, EstimatesAndMergesExactly) {
  HyperLogLog a;
  HyperLogLog b;
  for (uint64_t i = 0; i < 100000; ++i) {
    a.add(HyperLogLog::mix64(i));
  }
  for (uint64_t i = 50000; i < 150000; ++i) {
    b.add(HyperLogLog::mix64(i));
  }
  EXPECT_NEAR(a.estimate(), 100000, 100000 * 0.05);
  ASSERT_TRUE(a.merge(HyperLogLog::kPrecision, b.registers()));
  EXPECT_NEAR(a.estimate(), 150000, 150000 * 0.05);
  EXPECT_FALSE(a.merge(HyperLogLog::kPrecision, b.registers().first(10)));
  EXPECT_FALSE(a.merge(14, b.registers()));
  HyperLogLog empty;
  EXPECT_EQ(empty.estimate(), 0.0);
}

}  // namespace
}  // namespace teredo

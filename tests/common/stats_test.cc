#include "common/stats.h"

#include "gtest/gtest.h"

namespace hwnas {
namespace {

TEST(LinearQuantileTest, InterpolatesBetweenOrderStatisticsLikeNumpy) {
  // numpy.quantile([4, 1, 3, 2], q): 1.0, 1.75, 2.5, 4.0.
  const std::vector<double> v = {4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(LinearQuantile(v, 0), 1.0);
  EXPECT_DOUBLE_EQ(LinearQuantile(v, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(LinearQuantile(v, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(LinearQuantile(v, 1), 4.0);
  EXPECT_DOUBLE_EQ(LinearQuantile({7}, 0.3), 7.0);
}

TEST(MedianTest, MiddleValueOrMeanOfTheTwoMiddleOnes) {
  EXPECT_EQ(Median({3, 1, 2}), 2.0);
  EXPECT_EQ(Median({4, 1, 3, 2}), 2.5);
  EXPECT_EQ(Median({5}), 5.0);
  EXPECT_EQ(Median({}), 0.0);
  // 0.5 * (a + b), the benchmarks' and the latency measurement's definition.
  const double a = 0.1, b = 0.7;
  EXPECT_EQ(Median({b, a}), 0.5 * (a + b));
}

TEST(NearestRankQuantileTest, AlwaysOneOfTheValues) {
  const std::vector<double> v = {10, 40, 20, 30};
  EXPECT_EQ(NearestRankQuantile(v, 0), 10.0);  // Rank 0 is clamped to the first.
  EXPECT_EQ(NearestRankQuantile(v, 0.25), 10.0);
  EXPECT_EQ(NearestRankQuantile(v, 0.26), 20.0);
  EXPECT_EQ(NearestRankQuantile(v, 0.5), 20.0);
  EXPECT_EQ(NearestRankQuantile(v, 0.9), 40.0);
  EXPECT_EQ(NearestRankQuantile(v, 1), 40.0);
  EXPECT_EQ(NearestRankQuantile({}, 0.5), 0.0);
  std::vector<double> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  EXPECT_EQ(NearestRankQuantile(hundred, 0.99), 99.0);
}

}  // namespace
}  // namespace hwnas

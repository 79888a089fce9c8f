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

}  // namespace
}  // namespace hwnas

// Spearman, Kendall tau-b and the top-k hit rate against values SciPy's
// documentation gives (spearmanr, kendalltau) and hand-counted cases.
#include "bench/proxies/rank_stats.h"

#include <gtest/gtest.h>

#include <vector>

namespace hwnas::bench {
namespace {

TEST(RankStatsTest, AverageRanksShareTies) {
  EXPECT_EQ(AverageRanks({10, 30, 20, 30}), (std::vector<double>{1, 3.5, 2, 3.5}));
}

TEST(RankStatsTest, SpearmanMatchesSciPy) {
  // scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) = 0.8207826816681233
  EXPECT_NEAR(Spearman({1, 2, 3, 4, 5}, {5, 6, 7, 8, 7}), 0.8207826816681233, 1e-12);
  EXPECT_NEAR(Spearman({1, 2, 3}, {30, 20, 10}), -1.0, 1e-12);
  EXPECT_EQ(Spearman({1, 1, 1}, {1, 2, 3}), 0);  // A constant side has no ranking.
}

TEST(RankStatsTest, KendallTauBMatchesSciPy) {
  // scipy.stats.kendalltau([12, 2, 1, 12, 2], [1, 4, 7, 1, 0]) = -0.47140452079103173
  EXPECT_NEAR(KendallTauB({12, 2, 1, 12, 2}, {1, 4, 7, 1, 0}), -0.47140452079103173, 1e-12);
  EXPECT_NEAR(KendallTauB({1, 2, 3, 4}, {2, 4, 6, 8}), 1.0, 1e-12);
  EXPECT_EQ(KendallTauB({5, 5}, {1, 2}), 0);
}

TEST(RankStatsTest, TopHitRateCountsTheTrulyBestAmongTheProxysBest) {
  // 20 items: k = 2. The truth's best are items 19 and 18.
  std::vector<double> truth, proxy;
  for (int i = 0; i < 20; ++i) truth.push_back(i);
  proxy = truth;
  EXPECT_EQ(TopHitRate(proxy, truth, 0.1), 1.0);
  proxy[18] = -1;  // The proxy now ranks 19 and 17 highest: one hit of two.
  EXPECT_EQ(TopHitRate(proxy, truth, 0.1), 0.5);
  for (int i = 0; i < 20; ++i) proxy[i] = -truth[i];  // Reversed: none.
  EXPECT_EQ(TopHitRate(proxy, truth, 0.1), 0.0);
  EXPECT_EQ(TopHitRate({}, {}, 0.1), 0.0);
}

}  // namespace
}  // namespace hwnas::bench

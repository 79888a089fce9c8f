// Rank agreement between a proxy's scores and trained accuracy, for the
// proxy quality benchmark: Spearman's rho (average ranks for ties), Kendall's
// tau-b and the top-k hit rate. Pure C++, no torch.
#ifndef HWNAS_BENCH_PROXIES_RANK_STATS_H_
#define HWNAS_BENCH_PROXIES_RANK_STATS_H_

#include <vector>

namespace hwnas::bench {

// Ranks 1..n, ties sharing their average rank.
std::vector<double> AverageRanks(const std::vector<double>& x);

// Pearson correlation of the average ranks; 0 when either side is constant.
double Spearman(const std::vector<double>& x, const std::vector<double>& y);

// Kendall's tau-b (ties on either side leave a pair out of the numerator and
// shrink the denominator); 0 when either side is constant.
double KendallTauB(const std::vector<double>& x, const std::vector<double>& y);

// |top-k of x ∩ top-k of y| / k with k = ceil(fraction * n) (higher is
// better on both sides; ties broken by index). The share of the truly best
// architectures that a screen keeping the proxy's best k would keep.
double TopHitRate(const std::vector<double>& proxy, const std::vector<double>& truth,
                  double fraction);

}  // namespace hwnas::bench

#endif  // HWNAS_BENCH_PROXIES_RANK_STATS_H_

// Small statistics shared by the strategies and their benchmark.
#ifndef HWNAS_COMMON_STATS_H_
#define HWNAS_COMMON_STATS_H_

#include <vector>

namespace hwnas {

// The q-quantile (q in [0, 1]) of non-empty `values`, linearly interpolated
// between order statistics (numpy's default method).
double LinearQuantile(std::vector<double> values, double q);

}  // namespace hwnas

#endif  // HWNAS_COMMON_STATS_H_

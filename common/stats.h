// Small statistics shared by the strategies, the worker's latency
// measurement and the benchmarks.
#ifndef HWNAS_COMMON_STATS_H_
#define HWNAS_COMMON_STATS_H_

#include <vector>

namespace hwnas {

// The q-quantile (q in [0, 1]) of non-empty `values`, linearly interpolated
// between order statistics (numpy's default method).
double LinearQuantile(std::vector<double> values, double q);

// The median: the middle value, or the mean of the two middle values
// (0.5 * (a + b), which is what LinearQuantile(values, 0.5) means but not
// always the same last bit). 0 for no values.
double Median(std::vector<double> values);

// The q-quantile (q in [0, 1]) by nearest rank: the smallest value with at
// least q of `values` at or below it, so always one of the measured values
// (a p90 or p99 latency that some request really took). 0 for no values.
double NearestRankQuantile(std::vector<double> values, double q);

}  // namespace hwnas

#endif  // HWNAS_COMMON_STATS_H_

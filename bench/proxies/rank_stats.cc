#include "bench/proxies/rank_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

namespace hwnas::bench {
namespace {

double Pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = x.size();
  if (n < 2) return 0;
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx <= 0 || syy <= 0) return 0;
  return sxy / std::sqrt(sxx * syy);
}

// Indices sorted by value, highest first, ties by index.
std::vector<size_t> Descending(const std::vector<double>& x) {
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] > x[b]; });
  return order;
}

}  // namespace

std::vector<double> AverageRanks(const std::vector<double>& x) {
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> ranks(x.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    const double rank = 0.5 * static_cast<double>(i + j) + 1;  // Average of i+1 .. j+1.
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = rank;
    i = j + 1;
  }
  return ranks;
}

double Spearman(const std::vector<double>& x, const std::vector<double>& y) {
  return Pearson(AverageRanks(x), AverageRanks(y));
}

double KendallTauB(const std::vector<double>& x, const std::vector<double>& y) {
  // O(n^2): the benchmark has a few hundred architectures.
  double concordant = 0, discordant = 0, ties_x = 0, ties_y = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    for (size_t j = i + 1; j < x.size(); ++j) {
      const double dx = x[i] - x[j];
      const double dy = y[i] - y[j];
      if (dx == 0 && dy == 0) continue;
      if (dx == 0) {
        ++ties_x;
      } else if (dy == 0) {
        ++ties_y;
      } else if ((dx > 0) == (dy > 0)) {
        ++concordant;
      } else {
        ++discordant;
      }
    }
  }
  const double denom =
      std::sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y));
  return denom > 0 ? (concordant - discordant) / denom : 0;
}

double TopHitRate(const std::vector<double>& proxy, const std::vector<double>& truth,
                  double fraction) {
  const size_t n = proxy.size();
  if (n == 0) return 0;
  const size_t k = std::max<size_t>(1, static_cast<size_t>(std::ceil(fraction * n)));
  const std::vector<size_t> p = Descending(proxy);
  const std::vector<size_t> t = Descending(truth);
  const std::set<size_t> best(t.begin(), t.begin() + k);
  size_t hits = 0;
  for (size_t i = 0; i < k; ++i) hits += best.count(p[i]);
  return static_cast<double>(hits) / k;
}

}  // namespace hwnas::bench

#include "scheduler/early_stopping.h"

#include <algorithm>

namespace hwnas::scheduler {
namespace {

// Mean of a curve's values up to and including `epoch`; false if it has none.
bool RunningAverage(const Curve& curve, int epoch, double* out) {
  double sum = 0;
  int n = 0;
  for (const auto& [e, v] : curve) {
    if (e > epoch) break;
    sum += v;
    ++n;
  }
  if (n == 0) return false;
  *out = sum / n;
  return true;
}

}  // namespace

bool ShouldStopEarly(const MedianStoppingOptions& options, const Curve& running,
                     absl::Span<const Curve> finished) {
  if (!options.enabled || running.empty()) return false;
  const int epoch = running.rbegin()->first;
  if (epoch < options.grace_epochs) return false;
  std::vector<double> averages;
  for (const Curve& c : finished) {
    double avg = 0;
    if (RunningAverage(c, epoch, &avg)) averages.push_back(avg);
  }
  if (static_cast<int>(averages.size()) < std::max(1, options.min_trials)) return false;
  std::sort(averages.begin(), averages.end());
  const size_t n = averages.size();
  const double median =
      n % 2 == 1 ? averages[n / 2] : 0.5 * (averages[n / 2 - 1] + averages[n / 2]);
  double best = running.begin()->second;
  for (const auto& [e, v] : running) best = std::max(best, v);
  return best < median;
}

}  // namespace hwnas::scheduler

#include "scheduler/screen.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_format.h"

namespace hwnas::scheduler {

ScreenRule::ScreenRule(double keep, int min_screened)
    : keep_(keep), min_screened_(std::max(min_screened, 1)) {}

void ScreenRule::Restore(int64_t trial, double score) { scores_[trial] = score; }

ScreenDecision ScreenRule::Decide(int64_t trial, double score) {
  // Not finite: ranked below everything (a NaN would break the ordering).
  const double key = std::isfinite(score) ? score : -std::numeric_limits<double>::infinity();
  scores_[trial] = key;
  ScreenDecision d;
  d.screened = static_cast<int64_t>(scores_.size());
  if (d.screened < min_screened_) {
    d.pass = true;
    d.kept = d.screened;
    d.threshold = -std::numeric_limits<double>::infinity();
    return d;
  }
  // k = ceil(keep * n), at least 1; the small epsilon keeps 0.25 * 8 from
  // rounding up to 3 through floating-point error.
  d.kept = std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil(keep_ * static_cast<double>(d.screened) - 1e-9)));
  std::vector<double> sorted;
  sorted.reserve(scores_.size());
  for (const auto& [t, s] : scores_) sorted.push_back(s);
  std::nth_element(sorted.begin(), sorted.begin() + (d.kept - 1), sorted.end(),
                   std::greater<double>());
  d.threshold = sorted[static_cast<size_t>(d.kept - 1)];
  // Ties with the threshold pass: the same score cannot both pass and not.
  d.pass = std::isfinite(key) && key >= d.threshold;
  return d;
}

std::string ScreenedOutReason(const std::string& proxy, double score, const ScreenDecision& d,
                              double keep) {
  return absl::StrFormat(
      "screened_out: %s score %.6g below the threshold %.6g (top %d of %d screened, keep %g)",
      proxy, score, d.threshold, d.kept, d.screened, keep);
}

}  // namespace hwnas::scheduler

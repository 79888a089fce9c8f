#include "controller/reward.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace hwnas::controller {

absl::StatusOr<RewardFunction> RewardFunction::Create(RewardOptions options) {
  HWNAS_RETURN_IF_ERROR(ValidateRewardOptions(options));
  return RewardFunction(std::move(options));
}

absl::StatusOr<double> RewardFunction::Reward(const TrialResult& result) const {
  double reward = result.accuracy;
  if (options_.accuracy_metric != "accuracy") {
    std::optional<double> score = MetricValue(result, options_.accuracy_metric);
    if (!score) {
      return absl::InvalidArgumentError(
          absl::StrCat("result has no '", options_.accuracy_metric, "' for objectives.accuracy"));
    }
    reward = *score;
  }
  double penalty = 0;
  for (const Constraint& c : options_.constraints) {
    std::optional<double> m = MetricValue(result, c.metric);
    if (!m) {
      return absl::InvalidArgumentError(
          absl::StrCat("result has no '", c.metric, "' for the reward's constraint"));
    }
    if (options_.form == RewardForm::kMnasNet) {
      const double w = *m <= c.target ? c.alpha : c.beta;
      // A zero cost (e.g. no latency) with a negative exponent would be infinite: clamp.
      const double ratio = std::max(*m / c.target, 1e-9);
      reward *= std::pow(ratio, w);
    } else {
      penalty += c.lambda * std::max(0.0, (*m - c.target) / c.target);
    }
  }
  return reward - penalty;
}

std::optional<std::string> RewardFunction::HardLimitViolation(const TrialResult& result) const {
  for (const HardLimit& l : options_.hard_limits) {
    std::optional<double> m = MetricValue(result, l.metric);
    if (m && *m > l.max) return absl::StrCat(l.metric, " = ", *m, " > max ", l.max);
  }
  return std::nullopt;
}

}  // namespace hwnas::controller

// Hardware-aware rewards (MnasNet's weighted product and a penalty form) and
// hard feasibility limits, configured by the spec's `objectives:` section
// (spec/objectives.h).
// Costs are named as in hwnas::MetricValue ("latency_ms", "flash_bytes",
// "macs", "params", "peak_memory_bytes", "latency_ms@cortex-m7", ...).
#ifndef HWNAS_CONTROLLER_REWARD_H_
#define HWNAS_CONTROLLER_REWARD_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/trial.h"
#include "common/yaml_fields.h"
#include "spec/objectives.h"

namespace hwnas::controller {

// The options types and their parser live with the spec.
using spec::CheckObjectiveMetrics;
using spec::Constraint;
using spec::HardLimit;
using spec::ParseRewardOptions;
using spec::RewardForm;
using spec::RewardOptions;
using spec::ValidateRewardOptions;

// Pure function object: thread-safe (const methods only).
class RewardFunction {
 public:
  // Validates the options.
  static absl::StatusOr<RewardFunction> Create(RewardOptions options);

  const RewardOptions& options() const { return options_; }

  // The configured reward of a measured result. Fails (InvalidArgument, the
  // metric named) when the result lacks a constrained metric.
  absl::StatusOr<double> Reward(const TrialResult& result) const;

  // The first hard limit the result is over, as "flash_bytes = 2e6 > max 1e6";
  // nullopt when within every limit. Metrics the result does not carry (yet)
  // are not checked, so the server can call this on static costs before
  // training and again on the final result.
  std::optional<std::string> HardLimitViolation(const TrialResult& result) const;

 private:
  explicit RewardFunction(RewardOptions options) : options_(std::move(options)) {}
  RewardOptions options_;
};

}  // namespace hwnas::controller

#endif  // HWNAS_CONTROLLER_REWARD_H_

// The spec's `objectives:` section: MnasNet's weighted-product reward or a
// penalty form, cost targets and hard feasibility limits, and the metrics of
// the Pareto front. controller::RewardFunction computes rewards from these.
// Costs are named as in hwnas::MetricValue ("latency_ms", "flash_bytes",
// "macs", "params", "peak_memory_bytes", "latency_ms@cortex-m7", ...).
#ifndef HWNAS_SPEC_OBJECTIVES_H_
#define HWNAS_SPEC_OBJECTIVES_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/yaml_fields.h"

namespace hwnas::spec {

enum class RewardForm {
  // R = ACC * prod_k (m_k / T_k)^{w_k}, w_k = alpha_k if m_k <= T_k else beta_k.
  kMnasNet,
  // R = ACC - sum_k lambda_k * max(0, (m_k - T_k) / T_k).
  kPenalty,
};

// One cost target. `alpha`/`beta` are used by the MnasNet form, `lambda` by
// the penalty form; both are kept so a spec can switch forms freely.
struct Constraint {
  std::string metric;  // A MetricValue name, e.g. "latency_ms".
  double target = 0;   // T > 0, in the metric's unit.
  double alpha = -0.07;
  double beta = -0.07;
  double lambda = 1.0;

  // MnasNet's soft constraint (alpha = beta = -0.07).
  static Constraint Soft(std::string metric, double target);
  // MnasNet's hard constraint (alpha = 0, beta = -1).
  static Constraint Hard(std::string metric, double target);
  // Penalty form weight (the form itself is chosen in RewardOptions).
  static Constraint Penalty(std::string metric, double target, double lambda);
};

// An architecture whose metric exceeds `max` is INFEASIBLE: it is never
// trained and gets the strategy's infeasible reward.
struct HardLimit {
  std::string metric;
  double max = 0;
};

// The spec's `objectives:` section.
struct RewardOptions {
  RewardForm form = RewardForm::kMnasNet;
  // The score that plays ACC in the reward: "accuracy", or for imbalanced
  // data "balanced_accuracy" or "macro_f1" (reported by trained trials).
  std::string accuracy_metric = "accuracy";
  std::vector<Constraint> constraints;
  std::vector<HardLimit> hard_limits;
  // Cost metrics of the Pareto front kept next to accuracy. Empty: the
  // metrics of `constraints` (or "latency_ms" when there are none).
  std::vector<std::string> pareto_metrics;

  RewardOptions& set_form(RewardForm f) {
    form = f;
    return *this;
  }
  RewardOptions& add_constraint(Constraint c) {
    constraints.push_back(std::move(c));
    return *this;
  }
  RewardOptions& add_hard_limit(HardLimit l) {
    hard_limits.push_back(std::move(l));
    return *this;
  }
  RewardOptions& set_pareto_metrics(std::vector<std::string> m) {
    pareto_metrics = std::move(m);
    return *this;
  }
  // pareto_metrics, or its default.
  std::vector<std::string> EffectiveParetoMetrics() const;
};

// Parses `objectives:`, e.g.
//   objectives:
//     reward: mnasnet            # mnasnet (default) | penalty
//     constraints:
//       - {metric: latency_ms, target: 20, type: soft}   # soft | hard
//       - {metric: flash_bytes, target: 1e6, alpha: 0, beta: -0.5}
//       - {metric: macs, target: 3e8, lambda: 2}          # penalty form weight
//     hard_limits:
//       - {metric: peak_memory_bytes, max: 524288}
//     pareto_metrics: [latency_ms, flash_bytes]
// Errors name the field: "objectives.constraints[0].metric: unknown metric 'latncy'".
absl::StatusOr<RewardOptions> ParseRewardOptions(const YamlSection& objectives);
// Checks ranges and metric names (for options built in code).
absl::Status ValidateRewardOptions(const RewardOptions& options);

// Calls `check(path, metric)` for every metric the objectives name (the
// constraints', the hard limits', the Pareto metrics, the default
// latency_ms too), with its spec path such as
// "objectives.constraints[0].metric"; stops at the first error. For checks
// that a search's trials will carry those metrics.
absl::Status CheckObjectiveMetrics(
    const RewardOptions& objectives,
    const std::function<absl::Status(const std::string& path, const std::string& metric)>& check);

}  // namespace hwnas::spec

#endif  // HWNAS_SPEC_OBJECTIVES_H_

#include "spec/controller_spec.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace hwnas::spec {

absl::StatusOr<BudgetOptions> ParseBudgetOptions(const YamlSection& budget) {
  HWNAS_RETURN_IF_ERROR(budget.CheckKeys({"trials", "seconds"}));
  BudgetOptions o;
  HWNAS_ASSIGN_OR_RETURN(o.trials, budget.Int("trials", o.trials, 1, 10'000'000));
  if (budget.Has("seconds")) {
    // Named here rather than by Int's range message: 0 and below would end
    // the search before its first trial.
    HWNAS_ASSIGN_OR_RETURN(int64_t seconds, budget.Int("seconds", 0, INT64_MIN, INT64_MAX));
    if (seconds <= 0 || seconds > kMaxBudgetSeconds) {
      return absl::InvalidArgumentError(
          absl::StrCat(budget.PathOf("seconds"),
                       ": must be a positive number of seconds (the search's wall-clock limit) "
                       "of at most ",
                       kMaxBudgetSeconds, ", got ", seconds));
    }
    o.seconds = seconds;
  }
  return o;
}

namespace {

// A table trial reports accuracy and the chosen device column's latency
// (as latency_ms, latency_p90_ms and the estimate latency_ms@<device>),
// nothing else. A cost it does not report reads as absent: every trial's
// reward would fail and a hard limit would never trip, so the spec is
// refused up front.
absl::Status CheckTableMetrics(const RewardOptions& objectives, const EvaluatorOptions& evaluator) {
  if (objectives.accuracy_metric != "accuracy") {
    return absl::InvalidArgumentError(
        absl::StrCat("objectives.accuracy: the table evaluator reports accuracy only, not '",
                     objectives.accuracy_metric, "'"));
  }
  const std::string estimate = absl::StrCat("latency_ms@", evaluator.device);
  auto check = [&](const std::string& path, const std::string& metric) -> absl::Status {
    if (metric == "latency_ms" || metric == "latency_p90_ms" || metric == estimate) {
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     ": the table evaluator reports accuracy and latency only (latency_ms, "
                     "latency_p90_ms or ",
                     estimate, "), not '", metric, "'"));
  };
  return CheckObjectiveMetrics(objectives, check);
}

}  // namespace

absl::StatusOr<ControllerSpec> ParseControllerSpec(const YamlSection& root,
                                                   absl::string_view space_name) {
  HWNAS_RETURN_IF_ERROR(root.CheckIsMap());
  ControllerSpec spec;
  HWNAS_ASSIGN_OR_RETURN(YamlSection objectives, root.Child("objectives"));
  HWNAS_ASSIGN_OR_RETURN(spec.objectives, ParseRewardOptions(objectives));
  // The evaluator first: the default strategy depends on it.
  HWNAS_ASSIGN_OR_RETURN(YamlSection evaluator, root.Child("evaluator"));
  HWNAS_ASSIGN_OR_RETURN(spec.evaluator, ParseEvaluatorOptions(evaluator));
  HWNAS_ASSIGN_OR_RETURN(YamlSection strategy, root.Child("strategy"));
  HWNAS_ASSIGN_OR_RETURN(
      spec.strategy, ParseStrategyOptions(strategy, DefaultStrategyName(spec.evaluator.kind ==
                                                                        EvaluatorKind::kTable)));
  HWNAS_ASSIGN_OR_RETURN(YamlSection budget, root.Child("budget"));
  HWNAS_ASSIGN_OR_RETURN(spec.budget, ParseBudgetOptions(budget));
  if (spec.evaluator.kind == EvaluatorKind::kTable && !space_name.empty() &&
      space_name != "nb201") {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluator.kind: the table evaluator answers the nb201 space only, the "
                     "spec's space is '",
                     space_name, "'"));
  }
  if (spec.evaluator.kind == EvaluatorKind::kTable) {
    HWNAS_RETURN_IF_ERROR(CheckTableMetrics(spec.objectives, spec.evaluator));
  }
  return spec;
}

}  // namespace hwnas::spec

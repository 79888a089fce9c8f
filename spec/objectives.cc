#include "spec/objectives.h"

#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/trial.h"

namespace hwnas::spec {
namespace {

constexpr double kHuge = std::numeric_limits<double>::max();

absl::Status FieldError(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
}

absl::Status CheckMetric(absl::string_view path, absl::string_view metric) {
  if (metric == "accuracy") {
    return FieldError(path, "'accuracy' is the objective itself, not a cost to constrain");
  }
  if (!IsKnownMetricName(metric)) {
    return FieldError(path, absl::StrCat("unknown metric ", QuoteValue(metric),
                                         " (expected latency_ms, latency_p90_ms, params, macs, "
                                         "peak_memory_bytes, flash_bytes, loss, train_seconds or "
                                         "an estimate such as latency_ms@cortex-m7)"));
  }
  return absl::OkStatus();
}

absl::Status CheckConstraint(absl::string_view path, const Constraint& c) {
  HWNAS_RETURN_IF_ERROR(CheckMetric(absl::StrCat(path, ".metric"), c.metric));
  if (!std::isfinite(c.target) || c.target <= 0) {
    return FieldError(absl::StrCat(path, ".target"),
                      absl::StrCat("must be a positive number, got ", c.target));
  }
  if (!std::isfinite(c.alpha) || c.alpha > 0) {
    return FieldError(absl::StrCat(path, ".alpha"),
                      absl::StrCat("must be zero or negative, got ", c.alpha));
  }
  if (!std::isfinite(c.beta) || c.beta > 0) {
    return FieldError(absl::StrCat(path, ".beta"),
                      absl::StrCat("must be zero or negative, got ", c.beta));
  }
  if (!std::isfinite(c.lambda) || c.lambda < 0) {
    return FieldError(absl::StrCat(path, ".lambda"),
                      absl::StrCat("must be zero or positive, got ", c.lambda));
  }
  return absl::OkStatus();
}

// Reads a list of mappings at `section.key`, calling `fn(item, index)`.
template <typename Fn>
absl::Status ForEachItem(const YamlSection& section, absl::string_view key, Fn fn) {
  if (!section.Has(key)) return absl::OkStatus();
  YAML::Node list = section.node()[std::string(key)];
  if (!list.IsSequence()) {
    return FieldError(section.PathOf(key), "must be a list of mappings");
  }
  for (size_t i = 0; i < list.size(); ++i) {
    YamlSection item(list[i], absl::StrCat(section.PathOf(key), "[", i, "]"));
    if (!list[i].IsMap()) return FieldError(item.path(), "must be a mapping");
    HWNAS_RETURN_IF_ERROR(fn(item, i));
  }
  return absl::OkStatus();
}

}  // namespace

Constraint Constraint::Soft(std::string metric, double target) {
  Constraint c;
  c.metric = std::move(metric);
  c.target = target;
  c.alpha = -0.07;
  c.beta = -0.07;
  return c;
}

Constraint Constraint::Hard(std::string metric, double target) {
  Constraint c;
  c.metric = std::move(metric);
  c.target = target;
  c.alpha = 0;
  c.beta = -1;
  return c;
}

Constraint Constraint::Penalty(std::string metric, double target, double lambda) {
  Constraint c;
  c.metric = std::move(metric);
  c.target = target;
  c.lambda = lambda;
  return c;
}

std::vector<std::string> RewardOptions::EffectiveParetoMetrics() const {
  if (!pareto_metrics.empty()) return pareto_metrics;
  std::vector<std::string> out;
  for (const Constraint& c : constraints) {
    bool seen = false;
    for (const std::string& m : out) seen = seen || m == c.metric;
    if (!seen) out.push_back(c.metric);
  }
  if (out.empty()) out.push_back("latency_ms");
  return out;
}

absl::StatusOr<RewardOptions> ParseRewardOptions(const YamlSection& objectives) {
  HWNAS_RETURN_IF_ERROR(
      objectives.CheckKeys({"reward", "accuracy", "constraints", "hard_limits", "pareto_metrics"}));
  RewardOptions options;
  HWNAS_ASSIGN_OR_RETURN(
      options.accuracy_metric,
      objectives.Enum("accuracy", {"accuracy", "balanced_accuracy", "macro_f1"}, "accuracy"));
  HWNAS_ASSIGN_OR_RETURN(std::string form,
                         objectives.Enum("reward", {"mnasnet", "penalty"}, "mnasnet"));
  options.form = form == "penalty" ? RewardForm::kPenalty : RewardForm::kMnasNet;
  HWNAS_RETURN_IF_ERROR(
      ForEachItem(objectives, "constraints", [&](const YamlSection& item, size_t) -> absl::Status {
        HWNAS_RETURN_IF_ERROR(
            item.CheckKeys({"metric", "target", "type", "alpha", "beta", "lambda"}));
        Constraint c;
        HWNAS_ASSIGN_OR_RETURN(c.metric, item.String("metric", std::nullopt));
        HWNAS_RETURN_IF_ERROR(CheckMetric(item.PathOf("metric"), c.metric));
        HWNAS_ASSIGN_OR_RETURN(c.target, item.Double("target", std::nullopt, -kHuge, kHuge));
        if (c.target <= 0) {
          return FieldError(item.PathOf("target"),
                            absl::StrCat("must be a positive number, got ", c.target));
        }
        if (item.Has("type") && (item.Has("alpha") || item.Has("beta"))) {
          return FieldError(item.PathOf("type"),
                            "give either type (soft | hard) or explicit alpha/beta, not both");
        }
        HWNAS_ASSIGN_OR_RETURN(std::string type, item.Enum("type", {"soft", "hard"}, "soft"));
        const Constraint preset =
            type == "hard" ? Constraint::Hard("", 1) : Constraint::Soft("", 1);
        HWNAS_ASSIGN_OR_RETURN(c.alpha, item.Double("alpha", preset.alpha, -100, 0));
        HWNAS_ASSIGN_OR_RETURN(c.beta, item.Double("beta", preset.beta, -100, 0));
        HWNAS_ASSIGN_OR_RETURN(c.lambda, item.Double("lambda", 1.0, 0, 1e6));
        options.constraints.push_back(std::move(c));
        return absl::OkStatus();
      }));
  HWNAS_RETURN_IF_ERROR(
      ForEachItem(objectives, "hard_limits", [&](const YamlSection& item, size_t) -> absl::Status {
        HWNAS_RETURN_IF_ERROR(item.CheckKeys({"metric", "max"}));
        HardLimit l;
        HWNAS_ASSIGN_OR_RETURN(l.metric, item.String("metric", std::nullopt));
        HWNAS_RETURN_IF_ERROR(CheckMetric(item.PathOf("metric"), l.metric));
        HWNAS_ASSIGN_OR_RETURN(l.max, item.Double("max", std::nullopt, -kHuge, kHuge));
        if (l.max <= 0) {
          return FieldError(item.PathOf("max"),
                            absl::StrCat("must be a positive number, got ", l.max));
        }
        options.hard_limits.push_back(std::move(l));
        return absl::OkStatus();
      }));
  HWNAS_ASSIGN_OR_RETURN(options.pareto_metrics,
                         objectives.StringList("pareto_metrics", std::vector<std::string>{}));
  for (size_t i = 0; i < options.pareto_metrics.size(); ++i) {
    HWNAS_RETURN_IF_ERROR(CheckMetric(
        absl::StrCat(objectives.PathOf("pareto_metrics"), "[", i, "]"), options.pareto_metrics[i]));
  }
  return options;
}

absl::Status ValidateRewardOptions(const RewardOptions& options) {
  for (size_t i = 0; i < options.constraints.size(); ++i) {
    HWNAS_RETURN_IF_ERROR(
        CheckConstraint(absl::StrCat("objectives.constraints[", i, "]"), options.constraints[i]));
  }
  for (size_t i = 0; i < options.hard_limits.size(); ++i) {
    const std::string path = absl::StrCat("objectives.hard_limits[", i, "]");
    HWNAS_RETURN_IF_ERROR(
        CheckMetric(absl::StrCat(path, ".metric"), options.hard_limits[i].metric));
    if (!std::isfinite(options.hard_limits[i].max) || options.hard_limits[i].max <= 0) {
      return FieldError(absl::StrCat(path, ".max"), absl::StrCat("must be a positive number, got ",
                                                                 options.hard_limits[i].max));
    }
  }
  for (size_t i = 0; i < options.pareto_metrics.size(); ++i) {
    HWNAS_RETURN_IF_ERROR(
        CheckMetric(absl::StrCat("objectives.pareto_metrics[", i, "]"), options.pareto_metrics[i]));
  }
  return absl::OkStatus();
}

absl::Status CheckObjectiveMetrics(
    const RewardOptions& objectives,
    const std::function<absl::Status(const std::string& path, const std::string& metric)>& check) {
  for (size_t i = 0; i < objectives.constraints.size(); ++i) {
    HWNAS_RETURN_IF_ERROR(check(absl::StrCat("objectives.constraints[", i, "].metric"),
                                objectives.constraints[i].metric));
  }
  for (size_t i = 0; i < objectives.hard_limits.size(); ++i) {
    HWNAS_RETURN_IF_ERROR(check(absl::StrCat("objectives.hard_limits[", i, "].metric"),
                                objectives.hard_limits[i].metric));
  }
  for (size_t i = 0; i < objectives.pareto_metrics.size(); ++i) {
    HWNAS_RETURN_IF_ERROR(
        check(absl::StrCat("objectives.pareto_metrics[", i, "]"), objectives.pareto_metrics[i]));
  }
  if (objectives.pareto_metrics.empty() && objectives.constraints.empty()) {
    // The default front is accuracy against latency_ms.
    HWNAS_RETURN_IF_ERROR(check("objectives.pareto_metrics (default [latency_ms])", "latency_ms"));
  }
  return absl::OkStatus();
}

}  // namespace hwnas::spec

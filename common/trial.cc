#include "common/trial.h"

#include <array>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hwnas {
namespace {

constexpr std::array<std::pair<TrialState, absl::string_view>, 8> kTrialStateNames = {{
    {TrialState::kPending, "PENDING"},
    {TrialState::kLeased, "LEASED"},
    {TrialState::kRunning, "RUNNING"},
    {TrialState::kSucceeded, "SUCCEEDED"},
    {TrialState::kFailed, "FAILED"},
    {TrialState::kInfeasible, "INFEASIBLE"},
    {TrialState::kEarlyStopped, "EARLY_STOPPED"},
    {TrialState::kCancelled, "CANCELLED"},
}};

constexpr std::array<std::pair<SearchState, absl::string_view>, 4> kSearchStateNames = {{
    {SearchState::kRunning, "RUNNING"},
    {SearchState::kCompleted, "COMPLETED"},
    {SearchState::kCancelled, "CANCELLED"},
    {SearchState::kFailed, "FAILED"},
}};

// Bound on any reported magnitude: far beyond any real network (1e15 MACs),
// small enough that sums and ratios stay finite.
constexpr double kMaxMagnitude = 1e15;

absl::Status CheckNumber(absl::string_view field, double value) {
  if (!std::isfinite(value)) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is not a finite number"));
  }
  if (std::fabs(value) > kMaxMagnitude) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " = ", value, " is out of range (|value| <= 1e15)"));
  }
  return absl::OkStatus();
}

absl::Status CheckNonNegative(absl::string_view field, double value) {
  if (absl::Status s = CheckNumber(field, value); !s.ok()) return s;
  if (value < 0) return absl::InvalidArgumentError(absl::StrCat(field, " is negative: ", value));
  return absl::OkStatus();
}

}  // namespace

absl::string_view TrialStateName(TrialState state) {
  for (const auto& [s, name] : kTrialStateNames) {
    if (s == state) return name;
  }
  return "UNSPECIFIED";
}

absl::StatusOr<TrialState> ParseTrialState(absl::string_view name) {
  for (const auto& [s, n] : kTrialStateNames) {
    if (n == name) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown trial state '", name,
      "' (expected PENDING, LEASED, RUNNING, SUCCEEDED, FAILED, INFEASIBLE, EARLY_STOPPED "
      "or CANCELLED)"));
}

bool IsTerminal(TrialState state) {
  switch (state) {
    case TrialState::kSucceeded:
    case TrialState::kFailed:
    case TrialState::kInfeasible:
    case TrialState::kEarlyStopped:
    case TrialState::kCancelled:
      return true;
    default:
      return false;
  }
}

absl::string_view SearchStateName(SearchState state) {
  for (const auto& [s, name] : kSearchStateNames) {
    if (s == state) return name;
  }
  return "UNSPECIFIED";
}

absl::StatusOr<SearchState> ParseSearchState(absl::string_view name) {
  for (const auto& [s, n] : kSearchStateNames) {
    if (n == name) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown search state '", name, "' (expected RUNNING, COMPLETED, CANCELLED or FAILED)"));
}

std::optional<double> MetricValue(const TrialResult& r, absl::string_view name) {
  if (name == "accuracy") return r.accuracy;
  if (name == "loss") return r.loss;
  if (name == "latency_ms") {
    if (!r.latency) return std::nullopt;
    return r.latency->median_ms;
  }
  if (name == "latency_p90_ms") {
    if (!r.latency) return std::nullopt;
    return r.latency->p90_ms;
  }
  // A cost of 0 was not computed (the table evaluator reports none, a trial
  // may fail first): every network that was built has parameters, MACs,
  // activations and flash.
  auto cost = [](int64_t v) -> std::optional<double> {
    if (v <= 0) return std::nullopt;
    return static_cast<double>(v);
  };
  if (name == "params") return cost(r.costs.params);
  if (name == "macs") return cost(r.costs.macs);
  if (name == "peak_memory_bytes") return cost(r.costs.peak_activation_bytes);
  if (name == "flash_bytes") return cost(r.costs.flash_bytes);
  if (name == "train_seconds") return r.train_seconds;
  if (name == "balanced_accuracy") return r.balanced_accuracy;
  if (name == "macro_f1") return r.macro_f1;
  if (name == "accuracy_se") {
    if (r.fold_accuracy.empty()) return std::nullopt;
    return r.accuracy_se;
  }
  if (auto it = r.estimates.find(std::string(name)); it != r.estimates.end()) return it->second;
  return std::nullopt;
}

bool IsKnownMetricName(absl::string_view name) {
  static constexpr std::array<absl::string_view, 12> kNames = {
      "accuracy",          "loss",        "latency_ms",
      "latency_p90_ms",    "params",      "macs",
      "peak_memory_bytes", "flash_bytes", "train_seconds",
      "balanced_accuracy", "macro_f1",    "accuracy_se"};
  for (absl::string_view n : kNames) {
    if (n == name) return true;
  }
  size_t at = name.find('@');
  return at != absl::string_view::npos && at > 0 && at + 1 < name.size();
}

absl::Status ValidateTrialResult(const TrialResult& r) {
  if (absl::Status s = CheckNumber("accuracy", r.accuracy); !s.ok()) return s;
  if (r.accuracy < 0 || r.accuracy > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("accuracy = ", r.accuracy, " is outside [0, 1]"));
  }
  if (absl::Status s = CheckNumber("loss", r.loss); !s.ok()) return s;
  if (r.latency) {
    if (absl::Status s = CheckNonNegative("latency.median_ms", r.latency->median_ms); !s.ok())
      return s;
    if (absl::Status s = CheckNonNegative("latency.p90_ms", r.latency->p90_ms); !s.ok()) return s;
    if (r.latency->runs < 0) return absl::InvalidArgumentError("latency.runs is negative");
    if (r.latency->threads < 0) return absl::InvalidArgumentError("latency.threads is negative");
  }
  const std::pair<absl::string_view, int64_t> costs[] = {
      {"params", r.costs.params},
      {"macs", r.costs.macs},
      {"peak_activation_bytes", r.costs.peak_activation_bytes},
      {"flash_bytes", r.costs.flash_bytes}};
  for (const auto& [field, value] : costs) {
    if (absl::Status s = CheckNonNegative(field, static_cast<double>(value)); !s.ok()) return s;
  }
  for (const auto& [key, value] : r.estimates) {
    if (key.empty() || key.size() > 128) {
      return absl::InvalidArgumentError("estimate names must be 1 to 128 characters");
    }
    if (absl::Status s = CheckNumber(absl::StrCat("estimates[", key, "]"), value); !s.ok())
      return s;
  }
  if (absl::Status s = CheckNonNegative("train_seconds", r.train_seconds); !s.ok()) return s;
  if (r.epochs < 0) return absl::InvalidArgumentError("epochs is negative");
  auto check_fraction = [](const std::string& field, double v) -> absl::Status {
    if (absl::Status s = CheckNumber(field, v); !s.ok()) return s;
    if (v < 0 || v > 1) {
      return absl::InvalidArgumentError(absl::StrCat(field, " = ", v, " is outside [0, 1]"));
    }
    return absl::OkStatus();
  };
  if (r.fold_accuracy.size() > kMaxFolds) {
    return absl::InvalidArgumentError(
        absl::StrCat("fold_accuracy has ", r.fold_accuracy.size(), " values; at most ", kMaxFolds));
  }
  for (size_t i = 0; i < r.fold_accuracy.size(); ++i) {
    if (absl::Status s = check_fraction(absl::StrCat("fold_accuracy[", i, "]"), r.fold_accuracy[i]);
        !s.ok())
      return s;
  }
  if (absl::Status s = CheckNonNegative("accuracy_se", r.accuracy_se); !s.ok()) return s;
  if (r.balanced_accuracy) {
    if (absl::Status s = check_fraction("balanced_accuracy", *r.balanced_accuracy); !s.ok())
      return s;
  }
  if (r.macro_f1) {
    if (absl::Status s = check_fraction("macro_f1", *r.macro_f1); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace hwnas

// Domain types shared by every module: architectures, trial states and the
// measured/estimated results a worker reports. No gRPC, SQL or torch types.
#ifndef HWNAS_COMMON_TRIAL_H_
#define HWNAS_COMMON_TRIAL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hwnas {

// An architecture as it travels between controller, store and worker: the
// search space it belongs to, the space's version and one token per decision.
struct Architecture {
  std::string space;
  int space_version = 0;
  std::vector<int> tokens;
  std::string readable;  // Human-readable form, e.g. MnasNet block strings.

  friend bool operator==(const Architecture&, const Architecture&) = default;
};

// Trial state machine: PENDING -> LEASED -> RUNNING -> one terminal state.
// INFEASIBLE trials are decided before training (over a hard limit).
enum class TrialState {
  kUnspecified = 0,
  kPending,
  kLeased,
  kRunning,
  kSucceeded,
  kFailed,
  kInfeasible,
  kEarlyStopped,
  kCancelled,
};

// Names as stored in the database and printed by tools ("PENDING", ...).
absl::string_view TrialStateName(TrialState state);
absl::StatusOr<TrialState> ParseTrialState(absl::string_view name);
bool IsTerminal(TrialState state);

enum class SearchState {
  kUnspecified = 0,
  kRunning,
  kCompleted,
  kCancelled,
  kFailed,
};

absl::string_view SearchStateName(SearchState state);
absl::StatusOr<SearchState> ParseSearchState(absl::string_view name);

// Latency measured on the worker's own hardware (batch 1, eval mode).
struct LatencyMeasurement {
  double median_ms = 0;
  double p90_ms = 0;
  int runs = 0;
  int threads = 0;
  std::string device;  // e.g. "x86_64 cpu", a device tag.

  friend bool operator==(const LatencyMeasurement&, const LatencyMeasurement&) = default;
};

// Static costs, computed without training.
struct HardwareCosts {
  int64_t params = 0;
  int64_t macs = 0;
  int64_t peak_activation_bytes = 0;
  int64_t flash_bytes = 0;

  friend bool operator==(const HardwareCosts&, const HardwareCosts&) = default;
};

// Everything a worker reports for one finished (or failed) trial.
struct TrialResult {
  double accuracy = 0;  // Fraction in [0, 1] on the held-out split.
  double loss = 0;
  std::optional<LatencyMeasurement> latency;
  HardwareCosts costs;
  // Estimates for targets the worker is not, keyed "<metric>@<target>",
  // e.g. "latency_ms@cortex-m7", "energy_mj@cortex-m4".
  std::map<std::string, double> estimates;
  double train_seconds = 0;
  int epochs = 0;
  std::string error;  // Set on failure.
  // Cross-validation (spec `evaluation: {folds: K}`): `accuracy` and `loss`
  // are then means over the folds, `fold_accuracy` holds each fold's value
  // and `accuracy_se` the standard error of the mean. Empty / 0 for a single
  // held-out split.
  std::vector<double> fold_accuracy;
  double accuracy_se = 0;
  // Scores for imbalanced data, from the held-out confusion matrix (means
  // over folds under cross-validation); absent from table results.
  std::optional<double> balanced_accuracy;
  std::optional<double> macro_f1;

  friend bool operator==(const TrialResult&, const TrialResult&) = default;
};

// Per-epoch metrics reported while a trial runs (e.g. "val_accuracy").
struct EpochMetrics {
  int epoch = 0;
  std::map<std::string, double> values;

  friend bool operator==(const EpochMetrics&, const EpochMetrics&) = default;
};

// Looks up a metric of a result by name: "accuracy", "loss", "latency_ms",
// "latency_p90_ms", "params", "macs", "peak_memory_bytes", "flash_bytes",
// "train_seconds", "balanced_accuracy", "macro_f1", "accuracy_se", or an
// estimate key such as "latency_ms@cortex-m7".
// Returns nullopt when the result does not carry that metric; a cost of 0
// (params, macs, peak_memory_bytes, flash_bytes) counts as not computed.
std::optional<double> MetricValue(const TrialResult& result, absl::string_view name);

// True for the metric names MetricValue understands (estimate keys are
// accepted when they have the "<metric>@<target>" form).
bool IsKnownMetricName(absl::string_view name);

// Most folds times repeats one cross-validated result may carry.
inline constexpr size_t kMaxFolds = 100;

// Checks that every number in a result is finite and within sane bounds, so
// NaNs and absurd values never reach the store. Names the offending field.
absl::Status ValidateTrialResult(const TrialResult& result);

}  // namespace hwnas

#endif  // HWNAS_COMMON_TRIAL_H_

// Cross-validation folds over a labelled pool, and the scores a fold
// reports. Torch-free and deterministic: the same labels, options and seed
// give the same folds on every machine (the shuffles use a fixed 64-bit
// generator, not std:: distributions whose output differs between libraries).
//
// Why: on small data sets (45 EEG imagery trials, ECG5000's rare classes) a
// single validation split ranks noise; k-fold gives a mean and its standard
// error (issue #23).
#ifndef HWNAS_WORKER_FOLDS_H_
#define HWNAS_WORKER_FOLDS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace hwnas::worker {

struct FoldOptions {
  int folds = 5;           // k >= 2.
  bool stratified = true;  // Keep each class's share in every fold.
  int repeats = 1;         // Independent reshuffles: folds * repeats splits.
  uint64_t seed = 0;
  // Leave-one-group-out over the samples' groups (EEG runs) instead of k
  // folds: `folds`, `stratified` and `repeats` do not apply.
  bool leave_one_group_out = false;
};

// One split of the pool: indices into the labels given to MakeFolds, each
// sorted ascending. Train and validation are disjoint and together cover
// the pool.
struct Fold {
  int repeat = 0;
  int index = 0;  // 0 .. folds-1 within its repeat.
  std::vector<int64_t> train;
  std::vector<int64_t> val;
};

// k-fold splits of `labels` (class ids >= 0), `repeats` times. Within a
// repeat the validation parts are disjoint and cover the pool. Stratified:
// each class is dealt round-robin over the folds after a seeded shuffle, so
// fold sizes of a class differ by at most one. Errors name the option:
// folds < 2, repeats < 1, more folds than samples, or (stratified) more
// folds than samples of some class.
absl::StatusOr<std::vector<Fold>> MakeFolds(absl::Span<const int64_t> labels,
                                            const FoldOptions& options);

// Leave-one-group-out: one fold per distinct group id (e.g. an EEG
// recording session), validating on that group. Needs at least two groups.
absl::StatusOr<std::vector<Fold>> MakeGroupFolds(absl::Span<const int64_t> groups);

// Mean of per-fold values and its standard error (sample standard deviation
// over sqrt(n); 0 for a single value).
struct FoldSummary {
  double mean = 0;
  double standard_error = 0;
};
FoldSummary SummarizeFolds(absl::Span<const double> values);

// Scores of a classifier from its confusion matrix (`confusion[true][predicted]`).
struct ClassScores {
  double accuracy = 0;
  // Mean per-class recall over the classes present in the truth.
  double balanced_accuracy = 0;
  // Mean per-class F1 over the classes present in the truth or the
  // predictions (a class never predicted and never present is left out).
  double macro_f1 = 0;
};
ClassScores ScoreConfusion(const std::vector<std::vector<int64_t>>& confusion);

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_FOLDS_H_

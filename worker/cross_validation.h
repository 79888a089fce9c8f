// k-fold cross-validation of one architecture: a fresh network trained and
// evaluated on each fold of the training pool (the training and validation
// splits together; the test split stays held out), summarized as the mean
// over folds and its standard error. Torch-free header; the folds come from
// worker/folds.h, the training from TrainAndEvaluate.
#ifndef HWNAS_WORKER_CROSS_VALIDATION_H_
#define HWNAS_WORKER_CROSS_VALIDATION_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "space/network_plan.h"
#include "worker/datasets.h"
#include "worker/folds.h"
#include "worker/trial_runner.h"

namespace hwnas::worker {

// The data of one fold: train and val are the fold's parts of the pool,
// test is the original test split. Normalization is the one LoadDataSplits
// computed from the original training split (no refit per fold: the
// per-channel statistics of 90% of the pool move by far less than the
// fold-to-fold noise this is meant to measure).
absl::StatusOr<std::vector<DataSplits>> FoldSplits(const DataSplits& data,
                                                   const FoldOptions& options);

// The same folds as FoldSplits would make, checked without copying any
// sample: the errors FoldSplits would return (too many folds for a class,
// a session split on data without sessions), each naming its field. A worker
// runs it once when it loads a search's data, so a spec whose folds cannot
// work on this data set fails before any training.
absl::Status CheckFoldsFit(const DataSplits& data, const FoldOptions& options);

// The fold options of a spec's evaluation section.
FoldOptions FoldOptionsFrom(const EvaluationOptions& evaluation);

struct FoldResult {
  int repeat = 0;
  int index = 0;
  TrialOutcome outcome;  // The fold's own training: state, accuracy, history.
  ClassScores scores;    // From the fold's validation confusion matrix.
};

struct CrossValidationOutcome {
  // kSucceeded when every fold succeeded; kEarlyStopped when the progress
  // callback stopped a fold (the folds finished so far are summarized);
  // kFailed / kCancelled as the failing fold's, with `error` naming it.
  TrialState state = TrialState::kFailed;
  std::vector<FoldResult> folds;
  FoldSummary accuracy;
  FoldSummary balanced_accuracy;
  FoldSummary macro_f1;
  FoldSummary loss;
  double train_seconds = 0;  // All folds.
  int epochs = 0;            // All folds.
  std::string error;
};

// Trains and evaluates `plan` on every fold in turn. The progress callback
// sees every epoch of every fold with a running epoch number (fold f's
// epoch e is f * training.epochs + e) and "fold" set to f + 1, so a
// median stopping rule keyed by epoch compares each fold with the same fold
// of other trials; kStop ends the whole cross-validation early.
// Deterministic for training.seed and the fold seed with one thread.
CrossValidationOutcome CrossValidate(const space::NetworkPlan& plan, const DataSplits& data,
                                     const TrainingOptions& training, const FoldOptions& folds,
                                     const ProgressCallback& progress,
                                     const InterruptFlag* interrupt = nullptr);

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_CROSS_VALIDATION_H_

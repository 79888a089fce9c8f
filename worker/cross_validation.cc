#include "worker/cross_validation.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace hwnas::worker {
namespace {

// The samples of `pool` at `indices`, in that order.
Dataset Subset(const Dataset& pool, const std::vector<int64_t>& indices) {
  Dataset out;
  out.sample_shape = pool.sample_shape;
  out.num_classes = pool.num_classes;
  const int64_t size = pool.sample_size();
  out.features.reserve(indices.size() * size);
  out.labels.reserve(indices.size());
  for (int64_t i : indices) {
    out.features.insert(out.features.end(), pool.sample(i), pool.sample(i) + size);
    out.labels.push_back(pool.labels[i]);
    if (!pool.groups.empty()) out.groups.push_back(pool.groups[i]);
  }
  return out;
}

// The pool's groups when both splits carry them, else empty.
std::vector<int64_t> PoolGroups(const DataSplits& data) {
  if (data.train.groups.size() != static_cast<size_t>(data.train.size()) ||
      data.val.groups.size() != static_cast<size_t>(data.val.size())) {
    return {};
  }
  std::vector<int64_t> groups = data.train.groups;
  groups.insert(groups.end(), data.val.groups.begin(), data.val.groups.end());
  return groups;
}

absl::Status NoSessionsError(const DataSplits& data) {
  return absl::InvalidArgumentError(
      absl::StrCat("evaluation.split: session needs a data set whose samples come from "
                   "sessions (eegmmidb runs); ",
                   data.source, " has none"));
}

}  // namespace

FoldOptions FoldOptionsFrom(const EvaluationOptions& evaluation) {
  return FoldOptions{.folds = evaluation.folds,
                     .stratified = evaluation.stratified,
                     .repeats = evaluation.repeats,
                     .seed = evaluation.seed,
                     .leave_one_group_out = evaluation.split == EvaluationSplit::kSession};
}

absl::Status CheckFoldsFit(const DataSplits& data, const FoldOptions& options) {
  if (options.leave_one_group_out) {
    const std::vector<int64_t> groups = PoolGroups(data);
    if (groups.empty()) return NoSessionsError(data);
    return MakeGroupFolds(groups).status();
  }
  std::vector<int64_t> labels = data.train.labels;
  labels.insert(labels.end(), data.val.labels.begin(), data.val.labels.end());
  return MakeFolds(labels, options).status();
}

absl::StatusOr<std::vector<DataSplits>> FoldSplits(const DataSplits& data,
                                                   const FoldOptions& options) {
  // The pool: training split, then validation split.
  Dataset pool = data.train;
  pool.features.insert(pool.features.end(), data.val.features.begin(), data.val.features.end());
  pool.labels.insert(pool.labels.end(), data.val.labels.begin(), data.val.labels.end());
  pool.groups = PoolGroups(data);
  const bool grouped = !pool.groups.empty();
  absl::StatusOr<std::vector<Fold>> folds;
  if (options.leave_one_group_out) {
    if (!grouped) return NoSessionsError(data);
    folds = MakeGroupFolds(pool.groups);
  } else {
    folds = MakeFolds(pool.labels, options);
  }
  if (!folds.ok()) return folds.status();
  std::vector<DataSplits> out;
  out.reserve(folds->size());
  for (const Fold& fold : *folds) {
    DataSplits s;
    s.train = Subset(pool, fold.train);
    s.val = Subset(pool, fold.val);
    s.test = data.test;
    if (options.leave_one_group_out) {
      s.source =
          absl::StrCat(data.source, " (session ", pool.groups[fold.val.front()], " held out)");
    } else {
      s.source =
          absl::StrCat(data.source, " (fold ", fold.index + 1, " of ", options.folds,
                       options.repeats > 1 ? absl::StrCat(", repeat ", fold.repeat + 1) : "", ")");
    }
    out.push_back(std::move(s));
  }
  return out;
}

CrossValidationOutcome CrossValidate(const space::NetworkPlan& plan, const DataSplits& data,
                                     const TrainingOptions& training, const FoldOptions& folds,
                                     const ProgressCallback& progress,
                                     const InterruptFlag* interrupt) {
  CrossValidationOutcome out;
  absl::StatusOr<std::vector<DataSplits>> splits = FoldSplits(data, folds);
  if (!splits.ok()) {
    out.error = std::string(splits.status().message());
    return out;
  }
  // Each fold is judged on its own validation part.
  TrainingOptions per_fold = training;
  per_fold.eval_split = EvalSplit::kVal;
  std::vector<double> accuracy, balanced, f1, loss;
  out.state = TrialState::kSucceeded;
  for (size_t f = 0; f < splits->size(); ++f) {
    const int epoch_offset = static_cast<int>(f) * training.epochs;
    bool stopped = false;
    ProgressCallback fold_progress;
    if (progress) {
      fold_progress = [&](const EpochMetrics& m) {
        EpochMetrics shifted = m;
        shifted.epoch = epoch_offset + m.epoch;
        shifted.values["fold"] = static_cast<double>(f + 1);
        const ProgressDecision d = progress(shifted);
        if (d == ProgressDecision::kStop) stopped = true;
        return d;
      };
    }
    FoldResult r;
    const int per_repeat =
        folds.leave_one_group_out ? static_cast<int>(splits->size()) : folds.folds;
    r.repeat = static_cast<int>(f) / per_repeat;
    r.index = static_cast<int>(f) % per_repeat;
    r.outcome = TrainAndEvaluate(plan, (*splits)[f], per_fold, fold_progress, interrupt);
    out.train_seconds += r.outcome.result.train_seconds;
    out.epochs += r.outcome.result.epochs;
    const TrialState state = r.outcome.state;
    if (state == TrialState::kFailed || state == TrialState::kCancelled) {
      out.state = state;
      out.error =
          absl::StrCat("fold ", r.index + 1, " of ", per_repeat,
                       folds.repeats > 1 ? absl::StrCat(" (repeat ", r.repeat + 1, ")") : "", ": ",
                       r.outcome.result.error);
      out.folds.push_back(std::move(r));
      return out;
    }
    r.scores = ScoreConfusion(r.outcome.confusion);
    accuracy.push_back(r.outcome.result.accuracy);
    loss.push_back(r.outcome.result.loss);
    balanced.push_back(r.scores.balanced_accuracy);
    f1.push_back(r.scores.macro_f1);
    out.folds.push_back(std::move(r));
    if (stopped || state == TrialState::kEarlyStopped) {
      out.state = TrialState::kEarlyStopped;
      break;
    }
  }
  out.accuracy = SummarizeFolds(accuracy);
  out.balanced_accuracy = SummarizeFolds(balanced);
  out.macro_f1 = SummarizeFolds(f1);
  out.loss = SummarizeFolds(loss);
  return out;
}

}  // namespace hwnas::worker

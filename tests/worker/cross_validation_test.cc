// Cross-validation on real ECG5000 training: folds of the pool, a mean equal
// to the mean of the stored folds, determinism, failures naming the fold.
#include "worker/cross_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <numeric>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "spec/worker_spec.h"
#include "tests/testing/test_paths.h"

namespace hwnas::worker {
namespace {

using ::testing::HasSubstr;

struct EcgCase {
  WorkerSpec spec;
  DataSplits data;
  space::NetworkPlan plan;
};

EcgCase Ecg(const std::string& training) {
  EcgCase s;
  absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(
      "space: {name: temporal}\n"
      "data: {dataset: ecg5000, seed: 0}\n"
      "training: " +
      training + "\n");
  EXPECT_TRUE(spec.ok()) << spec.status();
  if (!spec.ok()) return s;
  s.spec = *spec;
  absl::StatusOr<DataSplits> data = LoadDataSplits(s.spec.data, testing::SharedDataDir());
  EXPECT_TRUE(data.ok()) << data.status();
  if (data.ok()) s.data = *std::move(data);
  absl::StatusOr<std::unique_ptr<space::SearchSpace>> space = MakeSpace(s.spec);
  EXPECT_TRUE(space.ok()) << space.status();
  absl::StatusOr<std::vector<int>> tokens = (*space)->Parse("conv_k5_d1_c16_p2 conv_k5_d2_c32_p2");
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  absl::StatusOr<space::NetworkPlan> plan = (*space)->Lower(*tokens);
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (plan.ok()) s.plan = *plan;
  return s;
}

constexpr char kTraining[] = "{optimizer: adam, lr: 0.01, epochs: 8, batch_size: 32, seed: 3}";

TEST(CrossValidationTest, FoldSplitsPartitionThePoolAndKeepTheTestSplit) {
  EcgCase s = Ecg(kTraining);
  const int64_t pool = s.data.train.size() + s.data.val.size();
  absl::StatusOr<std::vector<DataSplits>> folds = FoldSplits(s.data, {.folds = 2, .seed = 1});
  ASSERT_TRUE(folds.ok()) << folds.status();
  ASSERT_EQ(folds->size(), 2u);
  EXPECT_EQ((*folds)[0].val.size() + (*folds)[1].val.size(), pool);
  for (const DataSplits& f : *folds) {
    EXPECT_EQ(f.train.size() + f.val.size(), pool);
    EXPECT_EQ(f.test.labels, s.data.test.labels);
    EXPECT_EQ(f.train.sample_shape, s.data.train.sample_shape);
    EXPECT_EQ(f.train.features.size(), f.train.labels.size() * f.train.sample_size());
  }
  // The pool's rarest class has 2 samples: three stratified folds are refused.
  absl::StatusOr<std::vector<DataSplits>> three = FoldSplits(s.data, {.folds = 3});
  ASSERT_FALSE(three.ok());
  EXPECT_THAT(std::string(three.status().message()), HasSubstr("only 2 samples"));
}

TEST(CrossValidationTest, LeaveOneSessionOutHoldsOutEachEegRun) {
  absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(
      "space: {name: temporal}\n"
      "data: {dataset: eegmmidb, channels: [C3, Cz, C4], decimate: 4, seed: 1}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec->data, testing::SharedDataDir());
  ASSERT_TRUE(data.ok()) << data.status();
  absl::StatusOr<std::vector<DataSplits>> folds = FoldSplits(*data, {.leave_one_group_out = true});
  ASSERT_TRUE(folds.ok()) << folds.status();
  ASSERT_EQ(folds->size(), 3u);  // Runs 4, 8 and 12.
  std::set<int64_t> held_out;
  for (const DataSplits& f : *folds) {
    ASSERT_FALSE(f.val.groups.empty());
    const int64_t run = f.val.groups.front();
    EXPECT_THAT(f.val.groups, ::testing::Each(run));
    EXPECT_THAT(f.train.groups, ::testing::Not(::testing::Contains(run)));
    EXPECT_EQ(f.train.size() + f.val.size(), data->train.size() + data->val.size());
    EXPECT_THAT(f.source, HasSubstr(absl::StrCat("session ", run, " held out")));
    held_out.insert(run);
  }
  EXPECT_EQ(held_out, (std::set<int64_t>{4, 8, 12}));
  // ECG5000 has no sessions: the split is refused and says why.
  EcgCase ecg = Ecg(kTraining);
  absl::StatusOr<std::vector<DataSplits>> none =
      FoldSplits(ecg.data, {.leave_one_group_out = true});
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(std::string(none.status().message()), HasSubstr("evaluation.split: session"));
}

TEST(CrossValidationTest, MeanIsTheMeanOfTheFoldsAndEpochsRunOn) {
  EcgCase s = Ecg(kTraining);
  std::vector<std::pair<int, double>> seen;  // (epoch, fold)
  CrossValidationOutcome cv = CrossValidate(s.plan, s.data, s.spec.training,
                                            {.folds = 2, .seed = 1}, [&](const EpochMetrics& m) {
                                              seen.emplace_back(m.epoch, m.values.at("fold"));
                                              return ProgressDecision::kContinue;
                                            });
  ASSERT_EQ(cv.state, TrialState::kSucceeded) << cv.error;
  ASSERT_EQ(cv.folds.size(), 2u);
  const double mean =
      (cv.folds[0].outcome.result.accuracy + cv.folds[1].outcome.result.accuracy) / 2;
  EXPECT_DOUBLE_EQ(cv.accuracy.mean, mean);
  // Two folds: sd = |a - b| / sqrt(2), so the standard error is |a - b| / 2.
  EXPECT_NEAR(cv.accuracy.standard_error, std::abs(cv.folds[0].outcome.result.accuracy - mean),
              1e-12);
  // Each fold beats always answering the majority class (about 58%).
  for (const FoldResult& f : cv.folds) {
    EXPECT_GT(f.outcome.result.accuracy, 0.7) << "fold " << f.index;
    EXPECT_GT(f.scores.balanced_accuracy, 0.2);
    EXPECT_LE(f.scores.balanced_accuracy, 1.0);
    EXPECT_NEAR(f.scores.accuracy, f.outcome.result.accuracy, 1e-12);
  }
  EXPECT_EQ(cv.epochs, 16);
  ASSERT_EQ(seen.size(), 16u);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(seen[i], std::make_pair(i + 1, i < 8 ? 1.0 : 2.0)) << "report " << i;
  }

  // The same seeds give the same folds and the same training.
  CrossValidationOutcome again =
      CrossValidate(s.plan, s.data, s.spec.training, {.folds = 2, .seed = 1}, nullptr);
  ASSERT_EQ(again.state, TrialState::kSucceeded);
  EXPECT_EQ(again.folds[0].outcome.result.accuracy, cv.folds[0].outcome.result.accuracy);
  EXPECT_EQ(again.folds[1].outcome.result.accuracy, cv.folds[1].outcome.result.accuracy);
}

TEST(CrossValidationTest, StopEndsTheWholeCrossValidationWithTheFoldsSoFar) {
  EcgCase s = Ecg(kTraining);
  CrossValidationOutcome cv = CrossValidate(
      s.plan, s.data, s.spec.training, {.folds = 2, .seed = 1}, [](const EpochMetrics& m) {
        return m.epoch == 1 ? ProgressDecision::kStop : ProgressDecision::kContinue;
      });
  EXPECT_EQ(cv.state, TrialState::kEarlyStopped);
  ASSERT_EQ(cv.folds.size(), 1u);
  EXPECT_EQ(cv.epochs, 1);
  EXPECT_DOUBLE_EQ(cv.accuracy.mean, cv.folds[0].outcome.result.accuracy);
}

TEST(CrossValidationTest, AFailingFoldFailsTheTrialNamingTheFold) {
  EcgCase s = Ecg(kTraining);
  // A NaN in every fifth training sample: the first fold's loss is NaN.
  for (int64_t i = 0; i < s.data.train.size(); i += 5) {
    s.data.train.features[i * s.data.train.sample_size()] = std::numeric_limits<float>::quiet_NaN();
  }
  CrossValidationOutcome cv =
      CrossValidate(s.plan, s.data, s.spec.training, {.folds = 2, .seed = 1}, nullptr);
  EXPECT_EQ(cv.state, TrialState::kFailed);
  EXPECT_THAT(cv.error, HasSubstr("fold 1 of 2: training loss became nan"));
  EXPECT_EQ(cv.folds.size(), 1u);
}

}  // namespace
}  // namespace hwnas::worker

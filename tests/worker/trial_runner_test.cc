// Training on the real data sets through the torch-free runner API: accuracy
// well above chance, determinism, early stopping, failures as failed trials.
#include "worker/trial_runner.h"

#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hardware/costs.h"
#include "spec/worker_spec.h"
#include "tests/testing/test_paths.h"
#include "worker/datasets.h"
#include "worker/folds.h"

namespace hwnas::worker {
namespace {

using ::testing::HasSubstr;

WorkerSpec Spec(const std::string& yaml) {
  absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(yaml);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *std::move(spec) : WorkerSpec();
}

space::NetworkPlan Lower(const WorkerSpec& spec, const std::string& arch) {
  absl::StatusOr<std::unique_ptr<space::SearchSpace>> space = MakeSpace(spec);
  EXPECT_TRUE(space.ok()) << space.status();
  absl::StatusOr<std::vector<int>> tokens = (*space)->Parse(arch);
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  absl::StatusOr<space::NetworkPlan> plan = (*space)->Lower(*tokens);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *plan;
}

constexpr char kNb201Spec[] = R"(
space: {name: nb201, channels: 8, cells_per_stage: 1}
data: {dataset: fashion_mnist, train_subset: 512, val_subset: 256, test_subset: 256, seed: 5}
training: {lr: 0.05, epochs: 1, batch_size: 32, seed: 7}
)";
constexpr char kNb201Arch[] =
    "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|"
    "avg_pool_3x3~1|nor_conv_3x3~2|";

TEST(TrainTest, MnasnetOnFashionMnistBeatsChanceByFar) {
  WorkerSpec spec = Spec(R"(
space: {name: mnasnet, blocks: 3, stem_filters: 8, head_filters: 0, dropout: 0}
data: {dataset: fashion_mnist, train_subset: 4000, val_subset: 1000, seed: 1}
training: {optimizer: adam, lr: 0.005, epochs: 2, batch_size: 64, seed: 0}
)");
  absl::StatusOr<std::unique_ptr<space::SearchSpace>> space = MakeSpace(spec);
  ASSERT_TRUE(space.ok()) << space.status();
  // Every block: depthwise-separable, k3, no SE, identity skip, width 1.0, base layers.
  std::vector<int> tokens;
  for (size_t b = 0; b < (*space)->decisions().size() / 6; ++b) {
    tokens.insert(tokens.end(), {1, 0, 0, 1, 1, 1});
  }
  absl::StatusOr<space::NetworkPlan> plan = (*space)->Lower(tokens);
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec.data, "");
  ASSERT_TRUE(data.ok()) << data.status();
  int calls = 0;
  TrialOutcome out = TrainAndEvaluate(*plan, *data, spec.training, [&](const EpochMetrics& m) {
    ++calls;
    EXPECT_EQ(m.epoch, calls);
    EXPECT_GT(m.values.at("samples_per_s"), 0);
    EXPECT_TRUE(m.values.count("val_accuracy"));
    return ProgressDecision::kContinue;
  });
  ASSERT_EQ(out.state, TrialState::kSucceeded) << out.result.error;
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(out.result.epochs, 2);
  EXPECT_EQ(out.history.size(), 2u);
  // Chance is 10%; a few thousand samples and two epochs get far above it.
  EXPECT_GT(out.result.accuracy, 0.60);
  EXPECT_LT(out.history[1].values.at("train_loss"), out.history[0].values.at("train_loss"));
}

TEST(TrainTest, TemporalOnEcg5000BeatsTheMajorityClass) {
  WorkerSpec spec = Spec(R"(
space: {name: temporal}
data: {dataset: ecg5000, seed: 0}
training: {optimizer: adam, lr: 0.01, epochs: 15, batch_size: 32, eval_split: test, seed: 0}
)");
  space::NetworkPlan plan = Lower(spec, "conv_k5_d1_c16_p2 conv_k5_d2_c32_p2");
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec.data, testing::SharedDataDir());
  ASSERT_TRUE(data.ok()) << data.status();
  const std::vector<int64_t> counts = data->test.ClassCounts();
  const double majority =
      static_cast<double>(*std::max_element(counts.begin(), counts.end())) / data->test.size();
  EXPECT_NEAR(majority, 0.58, 0.01);
  TrialOutcome out = TrainAndEvaluate(plan, *data, spec.training, nullptr);
  ASSERT_EQ(out.state, TrialState::kSucceeded) << out.result.error;
  EXPECT_GT(out.result.accuracy, 0.80) << "majority class: " << majority;
}

TEST(TrainTest, RecurrentNetworkTrainsOnEcg5000) {
  WorkerSpec spec = Spec(R"(
space: {name: temporal}
data: {dataset: ecg5000, seed: 0}
training: {optimizer: adam, lr: 0.01, epochs: 4, batch_size: 32, grad_clip: 5, seed: 0}
)");
  space::NetworkPlan plan = Lower(spec, "conv_k5_d1_c8_p2 gru_h16");
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec.data, testing::SharedDataDir());
  ASSERT_TRUE(data.ok()) << data.status();
  TrialOutcome out = TrainAndEvaluate(plan, *data, spec.training, nullptr);
  ASSERT_EQ(out.state, TrialState::kSucceeded) << out.result.error;
  EXPECT_LT(out.history.back().values.at("train_loss"),
            out.history.front().values.at("train_loss"));
}

TEST(TrainTest, DeterministicForASeedOnOneThread) {
  WorkerSpec spec = Spec(kNb201Spec);
  space::NetworkPlan plan = Lower(spec, kNb201Arch);
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec.data, "");
  ASSERT_TRUE(data.ok()) << data.status();
  TrialOutcome a = TrainAndEvaluate(plan, *data, spec.training, nullptr);
  TrialOutcome b = TrainAndEvaluate(plan, *data, spec.training, nullptr);
  ASSERT_EQ(a.state, TrialState::kSucceeded) << a.result.error;
  EXPECT_EQ(a.result.accuracy, b.result.accuracy);
  EXPECT_EQ(a.result.loss, b.result.loss);
  EXPECT_EQ(a.history[0].values.at("train_loss"), b.history[0].values.at("train_loss"));
  spec.training.seed = 8;
  TrialOutcome c = TrainAndEvaluate(plan, *data, spec.training, nullptr);
  EXPECT_NE(a.result.loss, c.result.loss);
}

TEST(TrainTest, CallbackStopsTraining) {
  WorkerSpec spec = Spec(kNb201Spec);
  spec.training.epochs = 5;
  space::NetworkPlan plan = Lower(spec, kNb201Arch);
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec.data, "");
  ASSERT_TRUE(data.ok());
  TrialOutcome out = TrainAndEvaluate(plan, *data, spec.training, [](const EpochMetrics& m) {
    return m.epoch >= 1 ? ProgressDecision::kStop : ProgressDecision::kContinue;
  });
  EXPECT_EQ(out.state, TrialState::kEarlyStopped);
  EXPECT_EQ(out.result.epochs, 1);
  EXPECT_GT(out.result.accuracy, 0);  // Evaluated as it was when stopped.
}

TEST(TrainTest, InterruptStopsTrainingBetweenBatches) {
  WorkerSpec spec = Spec(kNb201Spec);
  spec.training.epochs = 50;
  space::NetworkPlan plan = Lower(spec, kNb201Arch);
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec.data, "");
  ASSERT_TRUE(data.ok());
  // Set during epoch 1's report, as a worker's heartbeat thread would: the
  // next batch is never trained, and the trial is not evaluated.
  InterruptFlag interrupt{false};
  TrialOutcome out = TrainAndEvaluate(
      plan, *data, spec.training,
      [&](const EpochMetrics&) {
        interrupt = true;
        return ProgressDecision::kContinue;
      },
      &interrupt);
  EXPECT_EQ(out.state, TrialState::kCancelled);
  EXPECT_THAT(out.result.error, HasSubstr("training interrupted at epoch 2, batch 1"));
  EXPECT_EQ(out.result.epochs, 1);
  EXPECT_EQ(out.result.accuracy, 0);
  // Already set: nothing is trained.
  out = TrainAndEvaluate(plan, *data, spec.training, nullptr, &interrupt);
  EXPECT_EQ(out.state, TrialState::kCancelled);
  EXPECT_EQ(out.result.epochs, 0);
}

TEST(TrainTest, WallClockLimitFailsTheTrial) {
  WorkerSpec spec = Spec(kNb201Spec);
  spec.training.epochs = 50;
  spec.training.time_limit_s = 0.2;
  space::NetworkPlan plan = Lower(spec, kNb201Arch);
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec.data, "");
  ASSERT_TRUE(data.ok());
  TrialOutcome out = TrainAndEvaluate(plan, *data, spec.training, nullptr);
  EXPECT_EQ(out.state, TrialState::kFailed);
  EXPECT_THAT(out.result.error, HasSubstr("wall-clock limit"));
  // Cut short, judged by work done rather than by seconds, which a loaded
  // machine stretches (no timing assertions in tests).
  EXPECT_LT(out.result.epochs, spec.training.epochs);
}

TEST(TrainTest, NanLossFailsTheTrialWithAMessage) {
  WorkerSpec spec = Spec(kNb201Spec);
  space::NetworkPlan plan = Lower(spec, kNb201Arch);
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec.data, "");
  ASSERT_TRUE(data.ok());
  // Corrupt samples (a NaN pixel) make the loss NaN in the first epoch.
  for (int64_t i = 0; i < data->train.size(); i += 7) {
    data->train.features[i * data->train.sample_size()] = std::numeric_limits<float>::quiet_NaN();
  }
  TrialOutcome out = TrainAndEvaluate(plan, *data, spec.training, nullptr);
  EXPECT_EQ(out.state, TrialState::kFailed);
  EXPECT_THAT(out.result.error, HasSubstr("training loss became nan at epoch 1"));
}

TEST(LatencyTest, MedianAndP90OverEnoughRuns) {
  WorkerSpec spec = Spec(kNb201Spec);
  space::NetworkPlan plan = Lower(spec, kNb201Arch);
  LatencyOptions o;
  o.min_runs = 20;
  o.max_runs = 200;
  o.warmup = 3;
  absl::StatusOr<LatencyMeasurement> m = MeasureLatency(plan, o);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_GT(m->median_ms, 0);
  EXPECT_GE(m->p90_ms, m->median_ms);
  EXPECT_GE(m->runs, 20);
  EXPECT_LE(m->runs, 200);
  EXPECT_EQ(m->threads, 1);
  EXPECT_THAT(m->device, HasSubstr("cpu"));
}

TEST(TrialRunnerTest, FullTrialWithCostsAndEstimates) {
  WorkerSpec spec = Spec(absl::StrCat(kNb201Spec, R"(
hardware:
  latency_runs: 20
  latency_budget_s: 1
  targets:
    - {name: m7, mcu_profile: cortex-m7}
    - {name: m4, mcu_profile: cortex-m4}
)"));
  absl::StatusOr<std::unique_ptr<TrialRunner>> runner = TrialRunner::Create(spec, {});
  ASSERT_TRUE(runner.ok()) << runner.status();
  absl::StatusOr<std::vector<int>> tokens = (*runner)->space().Parse(kNb201Arch);
  ASSERT_TRUE(tokens.ok());
  absl::StatusOr<Architecture> arch = (*runner)->space().MakeArchitecture(*tokens);
  ASSERT_TRUE(arch.ok());
  int epochs_seen = 0;
  TrialOutcome out = (*runner)->Run(*arch, [&](const EpochMetrics&) {
    ++epochs_seen;
    return ProgressDecision::kContinue;
  });
  ASSERT_EQ(out.state, TrialState::kSucceeded) << out.result.error;
  EXPECT_EQ(epochs_seen, 1);
  ASSERT_TRUE(out.result.latency.has_value());
  EXPECT_GE(out.result.latency->runs, 20);
  EXPECT_EQ(out.result.costs, *hardware::StaticCosts((*runner)->space().Lower(*tokens).value()));
  EXPECT_GT(out.result.costs.params, 0);
  EXPECT_GT(out.result.estimates.at("latency_ms@m7"), 0);
  // The same network takes longer on the slower M4.
  EXPECT_GT(out.result.estimates.at("latency_ms@m4"), out.result.estimates.at("latency_ms@m7"));
  EXPECT_EQ(out.result.estimates.count("feasible@m4"), 1u);
  EXPECT_TRUE(ValidateTrialResult(out.result).ok());

  // Tokens of another space, and invalid tokens, fail the trial with a message.
  Architecture wrong = *arch;
  wrong.space = "mnasnet";
  out = (*runner)->Run(wrong, nullptr);
  EXPECT_EQ(out.state, TrialState::kFailed);
  EXPECT_THAT(out.result.error, HasSubstr("this worker runs nb201"));
  wrong = *arch;
  wrong.tokens = {3, 3, 9, 0, 0, 0};
  out = (*runner)->Run(wrong, nullptr);
  EXPECT_EQ(out.state, TrialState::kFailed);
  EXPECT_THAT(out.result.error, HasSubstr("invalid architecture: token 2"));
}

TEST(TrialRunnerTest, CrossValidatedTrialReportsTheMeanOfItsFolds) {
  WorkerSpec spec = Spec(R"(
space: {name: temporal}
data: {dataset: ecg5000, seed: 0}
training: {optimizer: adam, lr: 0.01, epochs: 2, batch_size: 32, seed: 3}
evaluation: {folds: 2, seed: 1}
hardware: {latency_runs: 5, latency_budget_s: 0.5}
)");
  RunnerOptions options;
  options.shared_data_dir = testing::SharedDataDir();
  absl::StatusOr<std::unique_ptr<TrialRunner>> runner = TrialRunner::Create(spec, options);
  ASSERT_TRUE(runner.ok()) << runner.status();
  std::vector<double> folds_seen;
  TrialOutcome out = (*runner)->RunPlan(Lower(spec, "conv_k5_d1_c16_p2 conv_k5_d2_c32_p2"),
                                        [&](const EpochMetrics& m) {
                                          folds_seen.push_back(m.values.at("fold"));
                                          return ProgressDecision::kContinue;
                                        });
  ASSERT_EQ(out.state, TrialState::kSucceeded) << out.result.error;
  ASSERT_EQ(out.result.fold_accuracy.size(), 2u);
  EXPECT_DOUBLE_EQ(out.result.accuracy,
                   (out.result.fold_accuracy[0] + out.result.fold_accuracy[1]) / 2);
  EXPECT_NEAR(out.result.accuracy_se,
              std::fabs(out.result.fold_accuracy[0] - out.result.fold_accuracy[1]) / 2, 1e-12);
  EXPECT_EQ(out.result.epochs, 4);
  EXPECT_EQ(folds_seen, (std::vector<double>{1, 1, 2, 2}));
  ASSERT_TRUE(out.result.balanced_accuracy.has_value());
  ASSERT_TRUE(out.result.macro_f1.has_value());
  EXPECT_LE(*out.result.macro_f1, 1.0);
  ASSERT_TRUE(out.result.latency.has_value());
  EXPECT_GT(out.result.costs.params, 0);
  EXPECT_TRUE(ValidateTrialResult(out.result).ok());
}

TEST(TrialRunnerTest, SingleSplitTrialsAlsoReportClassBalanceScores) {
  WorkerSpec spec = Spec(R"(
space: {name: temporal}
data: {dataset: ecg5000, seed: 0}
training: {optimizer: adam, lr: 0.01, epochs: 1, batch_size: 32, seed: 3}
hardware: {measure_latency: false}
)");
  RunnerOptions options;
  options.shared_data_dir = testing::SharedDataDir();
  absl::StatusOr<std::unique_ptr<TrialRunner>> runner = TrialRunner::Create(spec, options);
  ASSERT_TRUE(runner.ok()) << runner.status();
  TrialOutcome out = (*runner)->RunPlan(Lower(spec, "conv_k5_d1_c16_p2"), nullptr);
  ASSERT_EQ(out.state, TrialState::kSucceeded) << out.result.error;
  EXPECT_TRUE(out.result.fold_accuracy.empty());
  ASSERT_TRUE(out.result.balanced_accuracy.has_value());
  // From the held-out confusion matrix, which has every sample once.
  ASSERT_FALSE(out.confusion.empty());
  const ClassScores scores = ScoreConfusion(out.confusion);
  EXPECT_EQ(*out.result.balanced_accuracy, scores.balanced_accuracy);
  EXPECT_EQ(*out.result.macro_f1, scores.macro_f1);
  EXPECT_NEAR(scores.accuracy, out.result.accuracy, 1e-9);
}

TEST(TrialRunnerTest, MissingDataAndProfilesAreErrors) {
  WorkerSpec spec = Spec(R"(
space: {name: temporal}
data: {dataset: ecg5000, path: /nonexistent/ECG.txt}
)");
  absl::StatusOr<std::unique_ptr<TrialRunner>> runner = TrialRunner::Create(spec, {});
  ASSERT_FALSE(runner.ok());
  EXPECT_EQ(runner.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(runner.status().message()), HasSubstr("/nonexistent/ECG.txt"));

  spec = Spec(R"(
space: {name: temporal}
data: {dataset: ecg5000}
hardware: {targets: [{name: x, mcu_profile: no-such-mcu}]}
)");
  runner = TrialRunner::Create(spec, {});
  ASSERT_FALSE(runner.ok());
  EXPECT_THAT(std::string(runner.status().message()), HasSubstr("hardware.targets[0].mcu_profile"));
}

TEST(TrialRunnerTest, EegnetOnMotorImagery) {
  WorkerSpec spec = Spec(R"(
space: {name: eegnet}
data: {dataset: eegmmidb, channels: [C3, Cz, C4, FC3, FC4, CP3, CP4, C1, C2], bandpass: [8, 30]}
training: {optimizer: adam, lr: 0.005, epochs: 2, batch_size: 8}
hardware: {measure_latency: false}
)");
  RunnerOptions options;
  options.shared_data_dir = testing::SharedDataDir();
  absl::StatusOr<std::unique_ptr<TrialRunner>> runner = TrialRunner::Create(spec, options);
  ASSERT_TRUE(runner.ok()) << runner.status();
  EXPECT_EQ((*runner)->data().train.sample_shape, (space::Shape{9, 640}));
  absl::StatusOr<Architecture> arch = (*runner)->space().MakeArchitecture(
      std::vector<int>((*runner)->space().decisions().size(), 0));
  ASSERT_TRUE(arch.ok()) << arch.status();
  TrialOutcome out = (*runner)->Run(*arch, nullptr);
  ASSERT_EQ(out.state, TrialState::kSucceeded) << out.result.error;
  EXPECT_EQ(out.result.epochs, 2);
  EXPECT_FALSE(out.result.latency.has_value());
  EXPECT_GE(out.result.accuracy, 0);
}

}  // namespace
}  // namespace hwnas::worker

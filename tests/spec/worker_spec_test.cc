#include "spec/worker_spec.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwnas::spec {
namespace {

using ::testing::HasSubstr;

constexpr char kFullSpec[] = R"(
name: full
space: {name: nb201, channels: 8, cells_per_stage: 1}
data:
  dataset: fashion_mnist
  train_subset: 1000
training:
  optimizer: adam
  epochs: 3
  schedule: step
  step_epochs: 2
  time_limit_s: 60
hardware:
  latency_runs: 40
  targets:
    - {name: m4, mcu_profile: cortex-m4}
    - {name: phone, lut: phone-lut}
objectives: [{metric: accuracy}]
strategy: {name: mnasnet, whatever: 1}
budget: {trials: 100}
evaluator: {kind: train}
)";

TEST(WorkerSpecTest, ParsesItsSectionsAndIgnoresOthers) {
  absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(kFullSpec);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "full");
  EXPECT_EQ(spec->data.kind, DatasetKind::kIdx);
  EXPECT_EQ(spec->data.train_subset, 1000);
  EXPECT_EQ(spec->data.input_shape, (space::Shape{1, 28, 28}));
  EXPECT_EQ(spec->training.optimizer, OptimizerKind::kAdam);
  EXPECT_DOUBLE_EQ(spec->training.lr, 1e-3);  // Adam's default rate.
  EXPECT_EQ(spec->training.schedule, LrSchedule::kStep);
  EXPECT_EQ(spec->training.epochs, 3);
  EXPECT_EQ(spec->hardware.latency_min_runs, 40);
  ASSERT_EQ(spec->hardware.targets.size(), 2u);
  EXPECT_EQ(spec->hardware.targets[0].mcu_profile, "cortex-m4");  // A name: not a path.
  EXPECT_EQ(spec->hardware.targets[1].lut, "phone-lut");
  absl::StatusOr<std::unique_ptr<space::SearchSpace>> space = MakeSpace(*spec);
  ASSERT_TRUE(space.ok()) << space.status();
  EXPECT_EQ((*space)->name(), "nb201");
}

TEST(WorkerSpecTest, DefaultsWhenSectionsAreAbsent) {
  absl::StatusOr<WorkerSpec> spec =
      ParseWorkerSpec("space: {name: nb201}\ndata: {dataset: fashion_mnist}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->training.optimizer, OptimizerKind::kSgd);
  EXPECT_DOUBLE_EQ(spec->training.lr, 0.05);
  EXPECT_EQ(spec->training.batch_size, 64);
  EXPECT_EQ(spec->training.threads, 1);
  EXPECT_EQ(spec->training.eval_split, EvalSplit::kVal);
  EXPECT_TRUE(spec->hardware.measure_latency);
  EXPECT_FALSE(spec->hardware.activation_bits.has_value());
  EXPECT_TRUE(spec->hardware.targets.empty());
}

struct BadSpec {
  const char* yaml;
  const char* message;
};

class BadSpecTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(BadSpecTest, NamesTheField) {
  absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(GetParam().yaml);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Errors, BadSpecTest,
    ::testing::Values(
        BadSpec{"space: {name: nb201}\n", "data: is required"},
        BadSpec{"space: {name: nb201}\ndata: {dataset: cifar}\n", "data.dataset: unknown value"},
        BadSpec{"space: {name: nb201}\ndata: {dataset: fashion_mnist, sbuset: 3}\n",
                "data.sbuset: unknown key"},
        BadSpec{"space: {name: nb201}\ndata: {dataset: ucr}\n", "data.length: is required"},
        BadSpec{"space: {name: nb201}\ndata: {dataset: eegmmidb, tmin: 2, tmax: 1}\n",
                "data.tmax: must be after tmin"},
        BadSpec{"space: {name: nb201}\ndata: {dataset: eegmmidb, bandpass: [30, 8]}\n",
                "data.bandpass"},
        BadSpec{"space: {name: nb201}\ndata: {dataset: fashion_mnist}\n"
                "training: {optimizer: rmsprop}\n",
                "training.optimizer: unknown value 'rmsprop'"},
        BadSpec{"space: {name: nb201}\ndata: {dataset: fashion_mnist}\ntraining: {epochs: 0}\n",
                "training.epochs: must be between 1"},
        BadSpec{"space: {name: nb201}\ndata: {dataset: fashion_mnist}\ntraining: {lr: abc}\n",
                "training.lr: must be a finite number"},
        BadSpec{"space: {name: nb201}\ndata: {dataset: fashion_mnist}\n"
                "hardware: {targets: [{name: x}]}\n",
                "hardware.targets[0]: needs exactly one of mcu_profile"},
        BadSpec{"space: {name: nb201}\ndata: {dataset: fashion_mnist}\n"
                "hardware: {activation_bits: 5}\n",
                "hardware.activation_bits: must be 32, 16 or 8"},
        BadSpec{"space: {name: nb201, activation_bits: 8}\ndata: {dataset: fashion_mnist}\n"
                "hardware: {activation_bits: 32}\n",
                "contradicts space.activation_bits"},
        // A spec names device files; it never gives a path (a spec is
        // untrusted input: the audit read /dev/zero and other files).
        BadSpec{"space: {name: nb201}\ndata: {dataset: fashion_mnist}\n"
                "hardware: {targets: [{name: x, mcu_profile: /dev/zero}]}\n",
                "hardware.targets[0].mcu_profile: must be the name of an MCU profile"},
        BadSpec{"space: {name: nb201}\ndata: {dataset: fashion_mnist}\n"
                "hardware: {targets: [{name: x, mcu_profile: board.yaml}]}\n",
                "hardware.targets[0].mcu_profile: must be the name of an MCU profile"},
        BadSpec{"space: {name: nb201}\ndata: {dataset: fashion_mnist}\n"
                "hardware: {targets: [{name: x, lut: ../luts/phone.json}]}\n",
                "hardware.targets[0].lut: must be the name of a latency lookup table"},
        BadSpec{"space: {name: nb201}\ndata: {dataset: fashion_mnist}\n"
                "hardware: {targets: [{name: x, lut: a, mcu_profile: {name: b}}]}\n",
                "hardware.targets[0]: needs exactly one of mcu_profile"},
        BadSpec{"space: {name: nb201}\ndata: {dataset: fashion_mnist}\n"
                "hardware: {targets: [{name: x, mcu_profile: cortex-m7, measure: cortex-m9}]}\n",
                "hardware.targets[0].measure: unknown CPU 'cortex-m9' (expected one of: "
                "cortex-m4, cortex-m7)"},
        BadSpec{"space: {name: nb201}\ndata: {dataset: fashion_mnist}\n"
                "hardware: {targets: [{name: x, lut: phone, measure: cortex-m7}]}\n",
                "hardware.targets[0].measure: needs an mcu_profile target"},
        BadSpec{"space: {name: nb201}\ndata: {dataset: fashion_mnist}\n"
                "hardware: {targets: [{name: x, mcu_profile: cortex-m7, measure: [cortex-m7]}]}\n",
                "hardware.targets[0].measure"},
        BadSpec{"space: {name: temporal}\ndata: {dataset: ecg5000}\nevaluation: {folds: 3}\n"
                "hardware: {targets: [{name: m4, mcu_profile: cortex-m4, measure: cortex-m4}]}\n",
                "hardware.targets: measure (target 'm4') needs one trained network per trial"},
        BadSpec{"space: {name: temporal}\ndata: {dataset: ecg5000}\nevaluation: {folds: 1}\n",
                "evaluation.folds: must be at least 2, got 1"},
        BadSpec{"space: {name: temporal}\ndata: {dataset: ecg5000}\nevaluation: {folds: 101}\n",
                "evaluation.folds: must be at most 100"},
        BadSpec{"space: {name: temporal}\ndata: {dataset: ecg5000}\n"
                "evaluation: {folds: 20, repeats: 6}\n",
                "evaluation.repeats: folds x repeats is 120"},
        BadSpec{"space: {name: temporal}\ndata: {dataset: ecg5000}\nevaluation: {split: session}\n",
                "evaluation.split: session needs recording sessions"},
        BadSpec{"space: {name: temporal}\ndata: {dataset: eegmmidb, runs: [4]}\n"
                "evaluation: {split: session}\n",
                "evaluation.split: session needs at least 2 runs"},
        BadSpec{"space: {name: temporal}\ndata: {dataset: eegmmidb}\n"
                "evaluation: {split: session, folds: 3}\n",
                "evaluation.folds: does not apply to split: session"},
        BadSpec{"space: {name: temporal}\ndata: {dataset: ecg5000}\n"
                "training: {eval_split: test}\nevaluation: {folds: 2}\n",
                "training.eval_split: test cannot be combined with evaluation"},
        BadSpec{"space: {name: temporal}\ndata: {dataset: ecg5000}\nevaluation: {fold: 2}\n",
                "evaluation.fold: unknown key"},
        BadSpec{"data: {dataset: fashion_mnist}\n", "space: is required"},
        BadSpec{"[1, 2]", "spec: must be a YAML mapping"}));

TEST(WorkerSpecTest, EvaluationSectionChoosesHowAccuracyIsJudged) {
  absl::StatusOr<WorkerSpec> none =
      ParseWorkerSpec("space: {name: temporal}\ndata: {dataset: ecg5000}\n");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->evaluation.cross_validated());
  absl::StatusOr<WorkerSpec> folds = ParseWorkerSpec(
      "space: {name: temporal}\ndata: {dataset: ecg5000}\n"
      "evaluation: {folds: 2, stratified: false, repeats: 3, seed: 9}\n");
  ASSERT_TRUE(folds.ok()) << folds.status();
  EXPECT_EQ(folds->evaluation.split, EvaluationSplit::kFolds);
  EXPECT_EQ(folds->evaluation.folds, 2);
  EXPECT_FALSE(folds->evaluation.stratified);
  EXPECT_EQ(folds->evaluation.repeats, 3);
  EXPECT_EQ(folds->evaluation.seed, 9u);
  absl::StatusOr<WorkerSpec> defaults =
      ParseWorkerSpec("space: {name: temporal}\ndata: {dataset: ecg5000}\nevaluation: {}\n");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->evaluation.folds, 5);
  EXPECT_TRUE(defaults->evaluation.stratified);
  absl::StatusOr<WorkerSpec> session = ParseWorkerSpec(
      "space: {name: eegnet}\ndata: {dataset: eegmmidb}\nevaluation: {split: session}\n");
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(session->evaluation.split, EvaluationSplit::kSession);
  EXPECT_TRUE(session->evaluation.cross_validated());
}

TEST(DataShapeTest, WithoutLoadingData) {
  DataConfig c;
  absl::StatusOr<WorkerSpec> ecg = ParseWorkerSpec(
      "space: {name: temporal}\ndata: {dataset: ecg5000, path: /nonexistent/file.txt}\n");
  ASSERT_TRUE(ecg.ok()) << ecg.status();
  space::DataShape s = DataShapeFor(ecg->data);
  EXPECT_EQ(s.input_shape, (space::Shape{1, 140}));
  EXPECT_EQ(s.num_classes, 5);

  absl::StatusOr<WorkerSpec> eeg = ParseWorkerSpec(
      "space: {name: eegnet}\n"
      "data: {dataset: eegmmidb, channels: [C3, Cz, C4], tmax: 2, decimate: 2, layout: image}\n");
  ASSERT_TRUE(eeg.ok()) << eeg.status();
  s = DataShapeFor(eeg->data);
  EXPECT_EQ(s.input_shape, (space::Shape{1, 3, 160}));
  EXPECT_EQ(s.num_classes, 2);
  absl::StatusOr<std::unique_ptr<space::SearchSpace>> space = MakeSpace(*eeg);
  EXPECT_TRUE(space.ok()) << space.status();

  absl::StatusOr<WorkerSpec> all =
      ParseWorkerSpec("space: {name: temporal}\ndata: {dataset: eegmmidb, events: [T0, T1, T2]}\n");
  ASSERT_TRUE(all.ok()) << all.status();
  s = DataShapeFor(all->data);
  EXPECT_EQ(s.input_shape, (space::Shape{64, 640}));
  EXPECT_EQ(s.num_classes, 3);
}

TEST(DataPathTest, ResolvesDefaultsAndRelativePaths) {
  DataConfig c;
  c.dataset = "fashion_mnist";
  EXPECT_EQ(*ResolveDataPath(c, ""), "/usr/share/datasets/fashion-mnist");
  c.dataset = "ecg5000";
  EXPECT_EQ(*ResolveDataPath(c, "/data"), "/data/ecg5000/ECG5000_TRAIN.txt");
  c.dataset = "eegmmidb";
  EXPECT_EQ(*ResolveDataPath(c, "/data/"), "/data/eegmmidb_S001");
  c.path = "mine/eeg";
  EXPECT_EQ(*ResolveDataPath(c, "/data"), "/data/mine/eeg");
  c.path = "/abs/eeg";
  EXPECT_EQ(*ResolveDataPath(c, "/data"), "/abs/eeg");
  EXPECT_EQ(*ResolveSharedDataDir("/flag"), "/flag");
}

}  // namespace
}  // namespace hwnas::spec

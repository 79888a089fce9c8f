// Multi-fidelity training on real data (Fashion-MNIST subset): a rung trains
// the first epochs of the schedule and hands out its state; the next rung
// resumes from it exactly where an uninterrupted run would be (weights,
// optimizer state, learning rate, batch order), without training the first
// rung's epochs again. A checkpoint that does not read back (corrupt,
// truncated, another network's) is ignored: the rung trains from scratch and
// says so.
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/worker_spec.h"
#include "worker/datasets.h"
#include "worker/trainer_internal.h"
#include "worker/trial_runner.h"

namespace hwnas::worker {
namespace {

using ::testing::HasSubstr;

constexpr char kSpec[] = R"(
space: {name: nb201, channels: 8, cells_per_stage: 1}
data: {dataset: fashion_mnist, train_subset: 512, val_subset: 256, test_subset: 256, seed: 5}
training: {optimizer: adam, lr: 0.005, epochs: 3, batch_size: 32, seed: 7}
)";
constexpr char kArch[] =
    "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|"
    "avg_pool_3x3~1|nor_conv_3x3~2|";
constexpr char kOtherArch[] =
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "nor_conv_3x3~2|";

class RungTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(kSpec);
    ASSERT_TRUE(spec.ok()) << spec.status();
    spec_ = *std::move(spec);
    absl::StatusOr<DataSplits> data = LoadDataSplits(spec_.data, "");
    ASSERT_TRUE(data.ok()) << data.status();
    data_ = *std::move(data);
  }

  space::NetworkPlan Lower(const std::string& arch) {
    absl::StatusOr<std::unique_ptr<space::SearchSpace>> space = MakeSpace(spec_);
    EXPECT_TRUE(space.ok()) << space.status();
    absl::StatusOr<std::vector<int>> tokens = (*space)->Parse(arch);
    EXPECT_TRUE(tokens.ok()) << tokens.status();
    absl::StatusOr<space::NetworkPlan> plan = (*space)->Lower(*tokens);
    EXPECT_TRUE(plan.ok()) << plan.status();
    return *plan;
  }

  TrialOutcome Run(const space::NetworkPlan& plan, RungRun* rung,
                   const ProgressCallback& progress = nullptr) {
    return internal::TrainEvaluateMeasure(plan, data_, spec_.training, nullptr, progress, nullptr,
                                          nullptr, rung);
  }

  WorkerSpec spec_;
  DataSplits data_;
};

TEST_F(RungTest, ResumedRungContinuesTheUninterruptedRun) {
  const space::NetworkPlan plan = Lower(kArch);
  TrialOutcome whole = TrainAndEvaluate(plan, data_, spec_.training, nullptr);
  ASSERT_EQ(whole.state, TrialState::kSucceeded) << whole.result.error;
  ASSERT_EQ(whole.history.size(), 3u);

  std::string checkpoint;
  RungRun rung0{.epoch_target = 1, .checkpoint_out = &checkpoint};
  TrialOutcome first = Run(plan, &rung0);
  ASSERT_EQ(first.state, TrialState::kSucceeded) << first.result.error;
  EXPECT_EQ(first.result.epochs, 1);
  ASSERT_EQ(first.history.size(), 1u);
  ASSERT_GT(checkpoint.size(), 28u);
  EXPECT_EQ(checkpoint.substr(0, 8), "HWNASCK1");

  std::vector<int> epochs_seen;
  RungRun rung1{.epoch_target = 3, .resume_from = checkpoint};
  TrialOutcome rest = Run(plan, &rung1, [&](const EpochMetrics& m) {
    epochs_seen.push_back(m.epoch);
    return ProgressDecision::kContinue;
  });
  ASSERT_EQ(rest.state, TrialState::kSucceeded) << rest.result.error;
  EXPECT_EQ(rung1.note, "resumed from its checkpoint after epoch 1");
  // Epochs 2 and 3 only: rung 0's epoch is not trained again.
  EXPECT_EQ(epochs_seen, (std::vector<int>{2, 3}));
  EXPECT_EQ(rest.result.epochs, 3);
  ASSERT_EQ(rest.history.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const EpochMetrics& resumed = rest.history[i];
    const EpochMetrics& straight = whole.history[i + 1];
    EXPECT_EQ(resumed.epoch, straight.epoch);
    EXPECT_NEAR(resumed.values.at("train_loss"), straight.values.at("train_loss"), 1e-5)
        << "epoch " << straight.epoch;
    EXPECT_DOUBLE_EQ(resumed.values.at("lr"), straight.values.at("lr"));
  }
  EXPECT_NEAR(rest.result.accuracy, whole.result.accuracy, 1e-6);
}

TEST_F(RungTest, CorruptOrForeignCheckpointTrainsFromScratchAndSaysSo) {
  spec_.training.epochs = 2;
  const space::NetworkPlan plan = Lower(kArch);
  std::string checkpoint;
  RungRun rung0{.epoch_target = 1, .checkpoint_out = &checkpoint};
  ASSERT_EQ(Run(plan, &rung0).state, TrialState::kSucceeded);
  ASSERT_GT(checkpoint.size(), 100u);
  TrialOutcome scratch = TrainAndEvaluate(plan, data_, spec_.training, nullptr);
  ASSERT_EQ(scratch.state, TrialState::kSucceeded) << scratch.result.error;

  std::string flipped = checkpoint;
  flipped[flipped.size() / 2] ^= 0x5a;
  const std::string truncated = checkpoint.substr(0, checkpoint.size() - 10);
  // A well-formed checkpoint of another architecture.
  std::string foreign;
  RungRun other0{.epoch_target = 1, .checkpoint_out = &foreign};
  ASSERT_EQ(Run(Lower(kOtherArch), &other0).state, TrialState::kSucceeded);
  for (const auto& [name, bad, why] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"flipped", flipped, "checksum does not match"},
           {"truncated", truncated, "truncated"},
           {"garbage", "not a checkpoint at all, just text", "no HWNASCK1 header"},
           {"foreign", foreign, "for another network"}}) {
    RungRun rung1{.epoch_target = 2, .resume_from = bad};
    TrialOutcome out = Run(plan, &rung1);
    ASSERT_EQ(out.state, TrialState::kSucceeded) << name << ": " << out.result.error;
    EXPECT_THAT(rung1.note, HasSubstr(why)) << name;
    EXPECT_THAT(rung1.note, HasSubstr("trained from scratch")) << name;
    // Exactly the run without a checkpoint: both epochs, the same numbers.
    ASSERT_EQ(out.history.size(), 2u) << name;
    EXPECT_EQ(out.history[0].epoch, 1);
    EXPECT_EQ(out.result.epochs, 2);
    EXPECT_EQ(out.result.loss, scratch.result.loss) << name;
  }
}

}  // namespace
}  // namespace hwnas::worker

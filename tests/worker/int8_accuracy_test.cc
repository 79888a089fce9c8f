// `hardware.int8_accuracy: true` (issue #24 item 1): a trial trained on real
// Fashion-MNIST through the TrialRunner reports the host int8 reference's
// accuracy beside the float accuracy, on any worker (no toolchain, no QEMU);
// the specs that cannot have it are refused naming the field.
#include <cmath>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/search_spec.h"
#include "spec/worker_spec.h"
#include "tests/testing/test_paths.h"
#include "worker/trial_runner.h"

namespace hwnas::worker {
namespace {

using ::testing::HasSubstr;

constexpr char kMnasnet[] = R"(
name: int8-test
space: {name: mnasnet, blocks: 3, stem_filters: 8, head_filters: 0, dropout: 0}
data: {dataset: fashion_mnist, train_subset: 4000, val_subset: 400, test_subset: 100, seed: 1}
training: {optimizer: adam, lr: 0.005, epochs: 2, batch_size: 64, seed: 0, threads: 1}
)";

TrialOutcome RunFirstArchitecture(const std::string& yaml) {
  absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(yaml);
  EXPECT_TRUE(spec.ok()) << spec.status();
  if (!spec.ok()) return {};
  absl::StatusOr<std::unique_ptr<TrialRunner>> runner =
      TrialRunner::Create(*spec, {.shared_data_dir = testing::SharedDataDir()});
  EXPECT_TRUE(runner.ok()) << runner.status();
  if (!runner.ok()) return {};
  // Every block depthwise-separable k3 without SE (the first choice of each
  // other decision): a small network that trains in seconds.
  std::vector<int> tokens;
  for (size_t b = 0; b < (*runner)->space().decisions().size() / 6; ++b) {
    tokens.insert(tokens.end(), {1, 0, 0, 1, 1, 1});
  }
  absl::StatusOr<Architecture> arch = (*runner)->space().MakeArchitecture(tokens);
  EXPECT_TRUE(arch.ok()) << arch.status();
  if (!arch.ok()) return {};
  return (*runner)->Run(*arch, nullptr);
}

TEST(Int8AccuracyTest, TrialReportsHostInt8AccuracyBesideTheFloatAccuracy) {
  const TrialOutcome with = RunFirstArchitecture(
      absl::StrCat(kMnasnet, "hardware: {measure_latency: false, int8_accuracy: true}\n"));
  ASSERT_EQ(with.state, TrialState::kSucceeded) << with.result.error;
  const std::string key(spec::kInt8AccuracyKey);
  ASSERT_TRUE(with.result.estimates.contains(key));
  const double int8 = with.result.estimates.at(key);
  std::cout << "float accuracy " << with.result.accuracy << ", int8 accuracy " << int8
            << " on 400 validation images\n";
  // Trained: far above chance (10%); quantized per-channel int8, it keeps
  // nearly all of the float accuracy on the same validation images.
  EXPECT_GT(with.result.accuracy, 0.5);
  EXPECT_GT(int8, 0.5);
  EXPECT_LE(int8, 1.0);
  EXPECT_LT(std::abs(int8 - with.result.accuracy), 0.05);
  // A metric objectives can name, valid as a result.
  EXPECT_TRUE(IsKnownMetricName(key));
  EXPECT_EQ(MetricValue(with.result, key), int8);
  EXPECT_TRUE(ValidateTrialResult(with.result).ok());

  // Without the option nothing is quantized and the key is absent.
  const TrialOutcome without =
      RunFirstArchitecture(absl::StrCat(kMnasnet, "hardware: {measure_latency: false}\n"));
  ASSERT_EQ(without.state, TrialState::kSucceeded) << without.result.error;
  EXPECT_FALSE(without.result.estimates.contains(key));
  // The same seed trains the same network: the option changes nothing else.
  EXPECT_EQ(without.result.accuracy, with.result.accuracy);
}

TEST(Int8AccuracyTest, SpecsThatCannotQuantizeATrainedNetworkAreRefused) {
  // Proxy: nothing is trained.
  absl::StatusOr<WorkerSpec> proxy = ParseWorkerSpec(absl::StrCat(
      kMnasnet, "hardware: {int8_accuracy: true}\nevaluator: {kind: proxy, proxy: snip}\n"));
  ASSERT_FALSE(proxy.ok());
  EXPECT_THAT(proxy.status().message(), HasSubstr("hardware.int8_accuracy"));
  EXPECT_THAT(proxy.status().message(), HasSubstr("proxy"));
  // Cross-validation: one network per fold.
  absl::StatusOr<WorkerSpec> folds = ParseWorkerSpec(
      absl::StrCat(kMnasnet, "hardware: {int8_accuracy: true}\nevaluation: {folds: 3}\n"));
  ASSERT_FALSE(folds.ok());
  EXPECT_THAT(folds.status().message(), HasSubstr("hardware.int8_accuracy"));
  EXPECT_THAT(folds.status().message(), HasSubstr("cross-validation"));
  // A measured target named host would report the same key.
  absl::StatusOr<WorkerSpec> host = ParseWorkerSpec(
      absl::StrCat(kMnasnet,
                   "hardware:\n  int8_accuracy: true\n  targets:\n"
                   "    - {name: host, mcu_profile: cortex-m7, measure: cortex-m7}\n"));
  ASSERT_FALSE(host.ok());
  EXPECT_THAT(host.status().message(), HasSubstr("int8_accuracy@host"));
  // Not a boolean.
  absl::StatusOr<WorkerSpec> bad =
      ParseWorkerSpec(absl::StrCat(kMnasnet, "hardware: {int8_accuracy: sometimes}\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("hardware.int8_accuracy"));
  // Table evaluator: accuracies are looked up, at submit.
  absl::StatusOr<spec::SearchSpec> table = spec::ParseSearchSpec(R"(
name: table-int8
space: {name: nb201}
evaluator: {kind: table, dataset: cifar10, device: raspi4}
hardware: {int8_accuracy: true}
strategy: {name: random}
budget: {trials: 10}
)");
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(table.status().message(), HasSubstr("hardware.int8_accuracy"));
  EXPECT_THAT(table.status().message(), HasSubstr("table"));
  // The option on a trained search is accepted, and a constraint can name the key.
  absl::StatusOr<spec::SearchSpec> ok = spec::ParseSearchSpec(absl::StrCat(kMnasnet, R"(
hardware: {int8_accuracy: true}
objectives:
  reward: penalty
  constraints:
    - {metric: "int8_accuracy@host", target: 0.8, lambda: 1}
strategy: {name: random}
budget: {trials: 4}
)"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_TRUE(ok->worker.has_value());
  EXPECT_TRUE(ok->worker->hardware.int8_accuracy);
}

}  // namespace
}  // namespace hwnas::worker

#include "spec/search_spec.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwnas::spec {
namespace {

using ::testing::HasSubstr;

constexpr char kTable[] = R"(
name: t
space: {name: nb201}
evaluator: {kind: table, dataset: cifar10, device: raspi4}
budget: {trials: 20}
scheduling: {weight: 3}
)";

constexpr char kTrain[] = R"(
name: f
space: {name: mnasnet, blocks: 2, filters: [8, 16], layers: [1, 1], strides: [1, 2],
        stem_filters: 8, head_filters: 0}
data: {dataset: fashion_mnist, train_subset: 256, val_subset: 128}
training: {epochs: 1, batch_size: 64}
budget: {trials: 3}
)";

std::string Error(const std::string& yaml) {
  absl::StatusOr<SearchSpec> spec = ParseSearchSpec(yaml);
  EXPECT_FALSE(spec.ok());
  return spec.ok() ? "" : std::string(spec.status().message());
}

TEST(SearchSpecTest, ParsesATableSearch) {
  absl::StatusOr<SearchSpec> spec = ParseSearchSpec(kTable);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "t");
  EXPECT_EQ(spec->controller.budget.trials, 20);
  EXPECT_EQ(spec->weight, 3);
  EXPECT_EQ(spec->requirements.evaluator, "table");
  EXPECT_EQ(spec->requirements.dataset, kTableDataset);
  EXPECT_EQ(spec->requirements.space, "nb201");
  EXPECT_FALSE(spec->worker.has_value());
  EXPECT_FALSE(spec->early_stopping.enabled);
}

TEST(SearchSpecTest, ParsesATrainingSearchWithEarlyStopping) {
  absl::StatusOr<SearchSpec> spec =
      ParseSearchSpec(std::string(kTrain) +
                      "early_stopping: {rule: median, min_trials: 2}\n"
                      "scheduling: {device_tag: pixel3}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_TRUE(spec->worker.has_value());
  EXPECT_EQ(spec->requirements.dataset, "fashion_mnist");
  EXPECT_EQ(spec->requirements.device_tag, "pixel3");
  EXPECT_EQ(spec->data_shape.input_shape, (space::Shape{1, 28, 28}));
  EXPECT_TRUE(spec->early_stopping.enabled);
  EXPECT_EQ(spec->early_stopping.min_trials, 2);
}

TEST(SearchSpecTest, MeasuredTargetsBecomeRequirements) {
  absl::StatusOr<SearchSpec> spec =
      ParseSearchSpec(std::string(kTrain) +
                      "hardware:\n"
                      "  targets:\n"
                      "    - {name: m7, mcu_profile: cortex-m7, measure: cortex-m7}\n"
                      "    - {name: m4, mcu_profile: cortex-m4, measure: cortex-m4}\n"
                      "    - {name: m7b, mcu_profile: cortex-m7, measure: cortex-m7}\n"
                      "    - {name: est, mcu_profile: cortex-m4}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->requirements.measure_mcus, (std::vector<std::string>{"cortex-m7", "cortex-m4"}));
  ASSERT_EQ(spec->worker->hardware.measure_mcu.size(), 3u);
  EXPECT_EQ(spec->worker->hardware.measure_mcu[1].target, "m4");
  EXPECT_EQ(spec->worker->hardware.measure_mcu[1].cpu, "cortex-m4");
  // Nothing measured: no requirement.
  spec = ParseSearchSpec(kTrain);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(spec->requirements.measure_mcus.empty());
}

TEST(SearchSpecTest, ParsesAProxySearch) {
  absl::StatusOr<SearchSpec> spec = ParseSearchSpec(
      std::string(kTrain) +
      "evaluator: {kind: proxy, proxy: rmi, reference: models/ref.pt, batch: 48, seed: 3}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->requirements.evaluator, "proxy");
  EXPECT_EQ(spec->requirements.dataset, "fashion_mnist");
  ASSERT_TRUE(spec->worker.has_value());
  const EvaluatorOptions& ev = spec->worker->evaluator;
  EXPECT_EQ(ev.kind, EvaluatorKind::kProxy);
  EXPECT_EQ(ev.proxy, "rmi");
  EXPECT_EQ(ev.reference, "models/ref.pt");
  EXPECT_EQ(ev.proxy_batch, 48);
  EXPECT_EQ(ev.proxy_seed, 3u);
  EXPECT_EQ(spec->controller.evaluator.proxy, "rmi");
  for (const char* proxy : {"synflow", "naswot", "gradnorm", "snip"}) {
    absl::StatusOr<SearchSpec> other =
        ParseSearchSpec(absl::StrCat(kTrain, "evaluator: {kind: proxy, proxy: ", proxy, "}\n"));
    ASSERT_TRUE(other.ok()) << proxy << ": " << other.status();
    EXPECT_EQ(other->worker->evaluator.proxy, proxy);
    EXPECT_EQ(other->worker->evaluator.proxy_batch, 64);
  }
}

TEST(SearchSpecTest, ProxyErrorsNameTheField) {
  const std::string train(kTrain);
  EXPECT_EQ(Error(train + "evaluator: {kind: proxy, proxy: jacov}\n"),
            "evaluator.proxy: unknown proxy 'jacov' (expected one of: synflow, naswot, gradnorm, "
            "snip, rmi)");
  EXPECT_THAT(Error(train + "evaluator: {kind: proxy}\n"),
              HasSubstr("evaluator.proxy: is required for kind proxy"));
  EXPECT_THAT(Error(train + "evaluator: {kind: proxy, proxy: rmi}\n"),
              HasSubstr("evaluator.reference: proxy rmi needs a reference model"));
  EXPECT_THAT(Error(train + "evaluator: {kind: proxy, proxy: synflow, reference: r.pt}\n"),
              HasSubstr("evaluator.reference: only proxy rmi compares with a reference"));
  EXPECT_THAT(Error(train + "evaluator: {kind: proxy, proxy: rmi, reference: r.pt, batch: 16}\n"),
              HasSubstr("evaluator.batch: proxy rmi needs at least 32 samples, got 16"));
  EXPECT_THAT(Error(train + "evaluator: {kind: proxy, proxy: snip, batch: 2}\n"),
              HasSubstr("evaluator.batch"));
  EXPECT_THAT(Error(train + "evaluator: {kind: proxy, proxy: snip, device: raspi4}\n"),
              HasSubstr("evaluator.device: unknown key"));
  EXPECT_THAT(Error(train + "evaluator: {kind: proxy, proxy: snip}\nevaluation: {folds: 3}\n"),
              HasSubstr("evaluation: applies to trained trials"));
  EXPECT_THAT(Error(train + "evaluator: {kind: oracle}\n"),
              HasSubstr("evaluator.kind: unknown value 'oracle'"));
  // A proxy trains nothing, so there is no firmware to measure.
  EXPECT_THAT(Error(train + "evaluator: {kind: proxy, proxy: snip}\nhardware:\n  targets:\n"
                            "    - {name: m7, mcu_profile: cortex-m7, measure: cortex-m7}\n"),
              HasSubstr("hardware.targets: measure (target 'm7') needs a trained network"));
  // A proxy scores a batch of real data: the data section is required.
  EXPECT_THAT(Error("name: p\nspace: {name: temporal}\nevaluator: {kind: proxy, proxy: snip}\n"),
              HasSubstr("data"));
}

TEST(SearchSpecTest, ErrorsNameTheField) {
  EXPECT_THAT(Error("name: [unclosed"), HasSubstr("malformed YAML"));
  EXPECT_THAT(Error("just a string"), HasSubstr("must be a YAML mapping"));
  EXPECT_THAT(Error(std::string(kTable) + "budgett: 3\n"), HasSubstr("budgett: unknown key"));
  EXPECT_THAT(Error(std::string(kTable) + "evaluation: {folds: 5}\n"),
              HasSubstr("evaluation: applies to trained trials"));
  EXPECT_THAT(Error("space: {name: nb201}\nevaluator: {kind: table}\n"), HasSubstr("name"));
  EXPECT_THAT(Error("name: x\nspace: {name: resnet}\nevaluator: {kind: table}\n"),
              HasSubstr("space.name: unknown search space 'resnet'"));
  EXPECT_THAT(
      Error("name: x\nspace: {name: nb201}\nevaluator: {kind: table}\nbudget: {trials: 0}\n"),
      HasSubstr("budget.trials"));
  EXPECT_THAT(Error(std::string(kTable) + "early_stopping: {rule: mean}\n"),
              HasSubstr("early_stopping.rule: unknown value 'mean'"));
  EXPECT_THAT(Error("name: x\nspace: {name: nb201}\n"), HasSubstr("data"));
  EXPECT_THAT(Error(std::string(kTable) + "? [a, b]\n: 2\n"),
              HasSubstr("spec: keys must be plain names, not lists or mappings"));
  EXPECT_THAT(Error(std::string(kTable) + "name: again\n"), HasSubstr("name: appears twice"));
  EXPECT_THAT(Error(std::string(kTable) + "early_stopping: {rule: median, metric: val_acc}\n"),
              HasSubstr("early_stopping.metric: unknown value 'val_acc'"));
  EXPECT_THAT(Error(absl::StrReplaceAll(kTable, {{"{weight: 3}", "{gpu: true}"}})),
              HasSubstr("scheduling.gpu: hwnas-worker trains on the CPU"));
}

// kTrain with 9 training epochs: the top rung of the fidelity tests.
std::string Train9() {
  return absl::StrReplaceAll(kTrain, {{"training: {epochs: 1,", "training: {epochs: 9,"}});
}

TEST(SearchSpecTest, ParsesFidelity) {
  absl::StatusOr<SearchSpec> spec = ParseSearchSpec(Train9());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->fidelity.enabled());
  spec = ParseSearchSpec(Train9() +
                         "fidelity: {kind: asha, resource: epochs, min: 1, max: 9, eta: 3}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->fidelity.kind, scheduler::FidelityKind::kAsha);
  EXPECT_EQ(spec->fidelity.min, 1);
  EXPECT_EQ(spec->fidelity.max, 9);
  EXPECT_EQ(spec->fidelity.eta, 3);
  EXPECT_EQ(scheduler::RungEpochs(spec->fidelity), (std::vector<int>{1, 3, 9}));
  EXPECT_EQ(spec->fidelity.checkpoint_limit_bytes, int64_t{256} << 20);
  // Defaults: resource epochs, min 1, eta 3.
  spec = ParseSearchSpec(Train9() +
                         "fidelity: {kind: hyperband, max: 4, brackets: 2, checkpoint_mib: 3}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->fidelity.kind, scheduler::FidelityKind::kHyperband);
  EXPECT_EQ(spec->fidelity.min, 1);
  EXPECT_EQ(spec->fidelity.eta, 3);
  EXPECT_EQ(spec->fidelity.brackets, 2);
  EXPECT_EQ(spec->fidelity.checkpoint_limit_bytes, 3 << 20);
  spec = ParseSearchSpec(Train9() + "fidelity: {kind: none}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->fidelity.enabled());
}

TEST(SearchSpecTest, ParsesScreen) {
  absl::StatusOr<SearchSpec> spec = ParseSearchSpec(Train9());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->screen.enabled);
  spec = ParseSearchSpec(Train9() + "screen: {proxy: synflow, keep: 0.25, min_screened: 6}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(spec->screen.enabled);
  EXPECT_EQ(spec->screen.proxy.proxy, "synflow");
  EXPECT_EQ(spec->screen.proxy.kind, EvaluatorKind::kProxy);
  EXPECT_DOUBLE_EQ(spec->screen.keep, 0.25);
  EXPECT_EQ(spec->screen.min_screened, 6);
  // The worker reads the same section.
  ASSERT_TRUE(spec->worker.has_value());
  EXPECT_TRUE(spec->worker->screen.enabled);
  EXPECT_EQ(spec->worker->screen.proxy.proxy, "synflow");
  // Defaults: keep 0.25, min_screened 8, batch 64; keep 1 is allowed; with fidelity.
  spec = ParseSearchSpec(Train9() + "screen: {proxy: naswot, keep: 1, batch: 32}\n" +
                         "fidelity: {kind: asha, max: 9}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_DOUBLE_EQ(spec->screen.keep, 1);
  EXPECT_EQ(spec->screen.min_screened, 8);
  EXPECT_EQ(spec->screen.proxy.proxy_batch, 32);
  spec = ParseSearchSpec(Train9() + "screen: {proxy: rmi, reference: ref.pt}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->screen.proxy.reference, "ref.pt");
  EXPECT_DOUBLE_EQ(spec->screen.keep, 0.25);
}

TEST(SearchSpecTest, ScreenErrorsNameTheField) {
  const std::string train = Train9();
  EXPECT_THAT(Error(train + "screen: {proxy: synflow, keep: 0}\n"),
              HasSubstr("screen.keep: must be a fraction in (0, 1]"));
  EXPECT_THAT(Error(train + "screen: {proxy: synflow, keep: 1.5}\n"),
              HasSubstr("screen.keep: must be a fraction in (0, 1]"));
  EXPECT_THAT(Error(train + "screen: {proxy: synflow, keep: -0.1}\n"), HasSubstr("screen.keep"));
  EXPECT_THAT(Error(train + "screen: {proxy: accuracy}\n"),
              HasSubstr("screen.proxy: unknown proxy 'accuracy'"));
  EXPECT_THAT(Error(train + "screen: {keep: 0.5}\n"), HasSubstr("screen.proxy: is required"));
  EXPECT_THAT(Error(train + "screen: {proxy: rmi}\n"),
              HasSubstr("screen.reference: proxy rmi needs a reference model"));
  EXPECT_THAT(Error(train + "screen: {proxy: synflow, min_screened: 0}\n"),
              HasSubstr("screen.min_screened"));
  EXPECT_THAT(Error(train + "screen: {proxy: synflow, ratio: 2}\n"),
              HasSubstr("screen.ratio: unknown key"));
  // Only a training search is screened.
  EXPECT_THAT(Error(std::string(kTable) + "screen: {proxy: synflow}\n"),
              HasSubstr("screen: screens candidates before training; the table evaluator trains "
                        "none"));
  EXPECT_THAT(
      Error(train + "evaluator: {kind: proxy, proxy: snip}\n" + "screen: {proxy: synflow}\n"),
      HasSubstr("the proxy evaluator trains none"));
}

TEST(SearchSpecTest, FidelityErrorsNameTheField) {
  const std::string train = Train9();
  EXPECT_EQ(Error(train + "fidelity: {kind: asha, min: 3, max: 2}\n"),
            "fidelity.max: must be at least fidelity.min (3), got 2");
  EXPECT_EQ(Error(train + "fidelity: {kind: asha, max: 9, eta: 1}\n"),
            "fidelity.eta: must be between 2 and 1000 (each rung keeps 1/eta), got 1");
  EXPECT_THAT(Error(train + "fidelity: {kind: asha, max: 9, eta: 0}\n"), HasSubstr("fidelity.eta"));
  EXPECT_THAT(Error(train + "fidelity: {kind: asha, max: 9, resource: samples}\n"),
              HasSubstr("fidelity.resource: unknown value 'samples'"));
  EXPECT_THAT(Error(train + "fidelity: {kind: asha}\n"), HasSubstr("fidelity.max: is required"));
  EXPECT_THAT(Error(train + "fidelity: {kind: sha, max: 9}\n"),
              HasSubstr("fidelity.kind: unknown value 'sha'"));
  EXPECT_THAT(Error(train + "fidelity: {kind: asha, max: 9, brackets: 2}\n"),
              HasSubstr("fidelity.brackets: unknown key"));
  EXPECT_THAT(Error(train + "fidelity: {kind: asha, max: 9, checkpoint_mib: 0}\n"),
              HasSubstr("fidelity.checkpoint_mib"));
  EXPECT_THAT(Error(train + "fidelity: {kind: none, max: 9}\n"),
              HasSubstr("fidelity.max: unknown key"));
  EXPECT_THAT(Error(train + "fidelity: {kind: hyperband, max: 9, brackets: 4}\n"),
              HasSubstr("fidelity.brackets: at most one bracket per rung (3 rungs"));
  EXPECT_THAT(Error(train + "fidelity: [asha]\n"), HasSubstr("fidelity"));
  // The schedule spans training.epochs: the top rung cannot go past it.
  EXPECT_EQ(Error(std::string(kTrain) + "fidelity: {kind: asha, max: 9}\n"),
            "fidelity.max: 9 is above training.epochs (1): the learning-rate schedule spans "
            "training.epochs, so set training.epochs to at least 9");
  // Evaluators without epochs.
  EXPECT_THAT(Error(std::string(kTable) + "fidelity: {kind: asha, max: 9}\n"),
              HasSubstr("fidelity.resource: the table evaluator has no epochs"));
  EXPECT_THAT(Error(train + "evaluator: {kind: proxy, proxy: snip}\n"
                            "fidelity: {kind: hyperband, max: 9}\n"),
              HasSubstr("fidelity.resource: the proxy evaluator has no epochs"));
  EXPECT_THAT(Error(train + "evaluation: {folds: 3}\nfidelity: {kind: asha, max: 9}\n"),
              HasSubstr("fidelity.kind: asha resumes one network per trial"));
}

// The audit's lenient specs: each is refused, naming the field.
TEST(SearchSpecTest, RefusesQuotedNumbersNullsAndSeveralDocuments) {
  const std::string table_head =
      "name: t\nspace: {name: nb201}\nevaluator: {kind: table, dataset: cifar10, device: raspi4}\n";
  EXPECT_THAT(Error(table_head + "budget: {trials: \"1000\"}\n"),
              HasSubstr("budget.trials: must be an integer, got the quoted string '1000'"));
  EXPECT_THAT(Error(table_head + "budget: {trials: ~}\n"),
              HasSubstr("budget.trials: has no value"));
  EXPECT_THAT(Error(table_head + "budget: ~\n"), HasSubstr("budget: has no value"));
  EXPECT_THAT(Error(table_head + "budget:\n"), HasSubstr("budget: has no value"));
  // Documented (README): a spec without a budget section runs 100 trials.
  absl::StatusOr<SearchSpec> missing = ParseSearchSpec(table_head);
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->controller.budget.trials, 100);
  EXPECT_THAT(Error(std::string(kTable) + "---\nname: second\n"), HasSubstr("2 YAML documents"));
  EXPECT_THAT(Error("name: t\nspace: {name: nb201}\nevaluator: {kind: null, dataset: cifar10}\n"),
              HasSubstr("evaluator.kind: has no value"));
}

}  // namespace
}  // namespace hwnas::spec

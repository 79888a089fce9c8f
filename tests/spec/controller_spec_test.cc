#include "spec/controller_spec.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/test_paths.h"

namespace hwnas::spec {
namespace {

absl::StatusOr<ControllerSpec> Parse(absl::string_view yaml, absl::string_view space = "") {
  absl::StatusOr<YamlSection> doc = YamlSection::Parse(yaml);
  if (!doc.ok()) return doc.status();
  return ParseControllerSpec(*doc, space);
}

std::string Error(absl::string_view yaml, absl::string_view space = "") {
  absl::StatusOr<ControllerSpec> s = Parse(yaml, space);
  EXPECT_FALSE(s.ok());
  return s.ok() ? "" : std::string(s.status().message());
}

TEST(SpecTest, ParsesAFullSpecAndIgnoresOtherSections) {
  absl::StatusOr<ControllerSpec> spec = Parse(R"(
name: nb201-raspi4
space: {name: nb201, channels: 16}
data: {dataset: fashion_mnist}
training: {epochs: 1}
hardware: {threads: 1}
objectives:
  reward: penalty
  constraints:
    - {metric: latency_ms, target: 15.72, lambda: 1}
strategy:
  name: mnasnet-ppo
  hidden_size: 64
  learning_rate: 0.005
  batch_size: 16
  ppo_epochs: 3
  seed: 42
  warm_start_from: previous-search
budget: {trials: 200, seconds: 3600}
evaluator: {kind: table, dataset: cifar100, device: lat_pixel3}
)");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->objectives.form, RewardForm::kPenalty);
  EXPECT_EQ(spec->objectives.constraints[0].target, 15.72);
  EXPECT_EQ(spec->strategy.name, "mnasnet-ppo");
  EXPECT_EQ(spec->strategy.controller.hidden_size, 64);
  EXPECT_EQ(spec->strategy.controller.learning_rate, 0.005);
  EXPECT_EQ(spec->strategy.controller.batch_size, 16);
  EXPECT_EQ(spec->strategy.controller.ppo_epochs, 3);
  EXPECT_EQ(spec->strategy.controller.temperature, 5.0);  // Paper default.
  EXPECT_EQ(spec->strategy.seed, 42u);
  EXPECT_EQ(spec->strategy.warm_start_from, "previous-search");
  EXPECT_EQ(spec->budget.trials, 200);
  EXPECT_EQ(spec->budget.seconds, 3600);
  EXPECT_EQ(spec->evaluator.kind, EvaluatorKind::kTable);
  EXPECT_EQ(spec->evaluator.dataset, Nb201Dataset::kCifar100);
  EXPECT_EQ(spec->evaluator.device, "pixel3");
}

TEST(SpecTest, Defaults) {
  absl::StatusOr<ControllerSpec> spec = Parse("name: x\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->strategy.name, "evolution");
  EXPECT_EQ(spec->strategy.evolution.population, 30);
  EXPECT_EQ(spec->strategy.evolution.tournament, 10);
  EXPECT_EQ(spec->budget.trials, 100);
  EXPECT_EQ(spec->budget.seconds, 0);  // No wall-clock limit.
  EXPECT_EQ(spec->evaluator.kind, EvaluatorKind::kTrain);
  EXPECT_TRUE(spec->objectives.constraints.empty());
}

// Table searches default to the surrogate (ahead of evolution on the
// NAS-Bench-201 sweep, docs/benchmarks.md); a named strategy is kept, and
// searches that train keep evolution.
TEST(SpecTest, TableSearchesDefaultToTheSurrogate) {
  absl::StatusOr<ControllerSpec> table = Parse("evaluator: {kind: table}\n", "nb201");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->strategy.name, "surrogate");
  EXPECT_EQ(table->strategy.surrogate.exploration, SurrogateOptions{}.exploration);
  absl::StatusOr<ControllerSpec> named =
      Parse("evaluator: {kind: table}\nstrategy: {name: evolution, population: 12}\n", "nb201");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(named->strategy.name, "evolution");
  EXPECT_EQ(named->strategy.evolution.population, 12);
  absl::StatusOr<ControllerSpec> seeded =
      Parse("evaluator: {kind: table}\nstrategy: {seed: 5, ensemble: 4}\n", "nb201");
  ASSERT_TRUE(seeded.ok()) << seeded.status();
  EXPECT_EQ(seeded->strategy.name, "surrogate");
  EXPECT_EQ(seeded->strategy.surrogate.ensemble, 4);
  EXPECT_EQ(DefaultStrategyName(false), "evolution");
  EXPECT_EQ(DefaultStrategyName(true), "surrogate");
  // Options of the other default are refused, naming the key.
  EXPECT_NE(
      Error("evaluator: {kind: table}\nstrategy: {population: 12}\n", "nb201").find("population"),
      std::string::npos);
}

// The controller's breadth options parse and are range-checked.
TEST(SpecTest, ParsesControllerBreadth) {
  absl::StatusOr<ControllerSpec> spec = Parse(
      "strategy: {name: mnasnet-reinforce, breadth_share: 0.5, breadth_patience: 24, "
      "breadth_model: 1}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->strategy.controller.breadth_share, 0.5);
  EXPECT_EQ(spec->strategy.controller.breadth_patience, 24);
  EXPECT_EQ(spec->strategy.controller.breadth_model, 1);
  EXPECT_EQ(ControllerOptions{}.breadth_share, 0);  // Off for library callers.
  EXPECT_EQ(ControllerOptions{}.breadth_model, 0);
  // A spec's controller gets the benchmarked breadth unless it says otherwise.
  for (const char* name : {"mnasnet-ppo", "mnasnet-reinforce"}) {
    absl::StatusOr<ControllerSpec> plain = Parse(absl::StrCat("strategy: {name: ", name, "}\n"));
    ASSERT_TRUE(plain.ok()) << plain.status();
    EXPECT_EQ(plain->strategy.controller.breadth_share, 0.5) << name;
    EXPECT_EQ(plain->strategy.controller.breadth_model, 1) << name;
  }
  absl::StatusOr<ControllerSpec> off = Parse("strategy: {name: mnasnet-ppo, breadth_share: 0}\n");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(off->strategy.controller.breadth_share, 0);
  EXPECT_EQ(off->strategy.controller.breadth_model, 0);
  EXPECT_NE(Error("strategy: {name: mnasnet-ppo, breadth_model: -0.5}").find("breadth_model"),
            std::string::npos);
  EXPECT_NE(Error("strategy: {name: mnasnet-ppo, breadth_share: 0, breadth_model: 1}")
                .find("needs breadth_share"),
            std::string::npos);
  EXPECT_NE(Error("strategy: {name: mnasnet-ppo, breadth_share: 1.5}").find("breadth_share"),
            std::string::npos);
  EXPECT_NE(Error("strategy: {name: mnasnet-ppo, breadth_patience: -1}").find("breadth_patience"),
            std::string::npos);
  EXPECT_NE(Error("strategy: {name: evolution, breadth_share: 0.5}").find("breadth_share"),
            std::string::npos);
}

TEST(SpecTest, ParsesSurrogateOptions) {
  absl::StatusOr<ControllerSpec> spec = Parse(
      "strategy: {name: surrogate, initial: 20, ensemble: 4, exploration: 0.1, decompose: false, "
      "strict_targets: true, pair_ridge: 3, canonical_features: true, pool: 500}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  const SurrogateOptions& s = spec->strategy.surrogate;
  EXPECT_EQ(spec->strategy.name, "surrogate");
  EXPECT_EQ(s.initial, 20);
  EXPECT_EQ(s.ensemble, 4);
  EXPECT_EQ(s.exploration, 0.1);
  EXPECT_FALSE(s.decompose);
  EXPECT_TRUE(s.strict_targets);
  EXPECT_EQ(s.pair_ridge, 3);
  EXPECT_TRUE(s.canonical_features);
  EXPECT_EQ(s.pool, 500);
  EXPECT_EQ(s.mutants, SurrogateOptions{}.mutants);  // Default kept.
}

TEST(SpecTest, TheSurrogateExampleParses) {
  std::ifstream f(
      absl::StrCat(hwnas::testing::SourceDir(), "/examples/nb201-table-surrogate.yaml"));
  std::stringstream text;
  text << f.rdbuf();
  ASSERT_FALSE(text.str().empty());
  absl::StatusOr<ControllerSpec> spec = Parse(text.str(), "nb201");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->strategy.name, "surrogate");
  EXPECT_EQ(spec->strategy.surrogate.exploration, 0.15);
  EXPECT_EQ(spec->evaluator.kind, EvaluatorKind::kTable);
}

TEST(SpecTest, BadValuesGiveClearErrors) {
  EXPECT_EQ(Error("evaluator: {kind: table, device: raspberry}"),
            "evaluator.device: unknown NAS-Bench-201 device column 'raspberry' (expected one of: "
            "1080ti_1, 1080ti_256, 1080ti_32, 2080ti_1, 2080ti_256, 2080ti_32, essential_ph_1, "
            "eyeriss, fpga, gold_6226, gold_6240, pixel2, pixel3, raspi4, samsung_a50, "
            "samsung_s7, silver_4114, silver_4210r, titan_rtx_1, titan_rtx_256, titan_rtx_32, "
            "titanx_1, titanx_256, titanx_32, titanxp_1, titanxp_256, titanxp_32)");
  EXPECT_NE(Error("evaluator: {kind: table, dataset: mnist}")
                .find("evaluator.dataset: unknown value 'mnist'"),
            std::string::npos);
  EXPECT_NE(Error("evaluator: {kind: train, device: raspi4}").find("evaluator.device: unknown key"),
            std::string::npos);
  EXPECT_NE(Error("evaluator: {kind: table}", "mnasnet").find("nb201 space only"),
            std::string::npos);
  EXPECT_EQ(Error("budget: {trials: -5}"), "budget.trials: must be between 1 and 10000000, got -5");
  EXPECT_EQ(Error("budget: {trials: 5, seconds: 0}"),
            "budget.seconds: must be a positive number of seconds (the search's wall-clock limit) "
            "of at most 31622400, got 0");
  EXPECT_NE(Error("budget: {seconds: -3}").find("budget.seconds: must be a positive"),
            std::string::npos);
  EXPECT_NE(Error("budget: {seconds: soon}").find("budget.seconds"), std::string::npos);
  EXPECT_NE(Error("strategy: {name: hill-climbing}").find("strategy.name: unknown value"),
            std::string::npos);
  // Keys of another strategy are rejected, not silently ignored.
  EXPECT_NE(
      Error("strategy: {name: random, population: 10}").find("strategy.population: unknown key"),
      std::string::npos);
  EXPECT_NE(Error("strategy: {name: mnasnet-reinforce, ppo_clip: 0.1}")
                .find("strategy.ppo_clip: unknown key"),
            std::string::npos);
  EXPECT_NE(Error("strategy: {name: mnasnet-ppo, learning_rate: -1}")
                .find("strategy.learning_rate: must be between"),
            std::string::npos);
  EXPECT_NE(Error("strategy: {name: evolution, population: 1}").find("strategy.population"),
            std::string::npos);
  EXPECT_NE(
      Error("strategy: {name: surrogate, population: 10}").find("strategy.population: unknown key"),
      std::string::npos);
  EXPECT_NE(Error("strategy: {name: surrogate, ensemble: 0}").find("strategy.ensemble"),
            std::string::npos);
  EXPECT_NE(Error("strategy: {name: surrogate, exploration: -0.5}").find("strategy.exploration"),
            std::string::npos);
  EXPECT_NE(Error("strategy: {name: surrogate, decompose: maybe}").find("strategy.decompose"),
            std::string::npos);
  EXPECT_EQ(Error("objectives: {constraints: [{metric: latncy, target: 3}]}")
                .rfind("objectives.constraints[0].metric: unknown metric 'latncy'", 0),
            0u);
  EXPECT_EQ(Error("objectives: {constraints: [{metric: latency_ms, target: -3}]}"),
            "objectives.constraints[0].target: must be a positive number, got -3");
  EXPECT_NE(Error("strategy: [1, 2]").find("strategy: must be a mapping"), std::string::npos);
}

TEST(SpecTest, TableSearchesConstrainOnlyWhatTheTableReports) {
  // The table gives accuracy and one device column's latency; a cost it
  // does not report (read as zero) would make the reward meaningless.
  EXPECT_EQ(Error("evaluator: {kind: table, device: pixel3}\n"
                  "objectives: {constraints: [{metric: latency_ms, target: 5}, "
                  "{metric: params, target: 1000000}]}"),
            "objectives.constraints[1].metric: the table evaluator reports accuracy and latency "
            "only (latency_ms, latency_p90_ms or latency_ms@pixel3), not 'params'");
  EXPECT_EQ(Error("evaluator: {kind: table}\n"
                  "objectives: {hard_limits: [{metric: latency_ms@cortex-m7, max: 30}]}"),
            "objectives.hard_limits[0].metric: the table evaluator reports accuracy and latency "
            "only (latency_ms, latency_p90_ms or latency_ms@raspi4), not 'latency_ms@cortex-m7'");
  EXPECT_NE(Error("evaluator: {kind: table}\nobjectives: {pareto_metrics: [latency_ms, macs]}")
                .find("objectives.pareto_metrics[1]: the table evaluator"),
            std::string::npos);
  // What the table does report is accepted, the device's estimate included.
  EXPECT_TRUE(Parse("evaluator: {kind: table, device: lat_fpga}\n"
                    "objectives: {constraints: [{metric: latency_ms@fpga, target: 3}], "
                    "hard_limits: [{metric: latency_p90_ms, max: 9}], "
                    "pareto_metrics: [latency_ms]}")
                  .ok());
  // A trained search may constrain any cost.
  EXPECT_TRUE(Parse("objectives: {constraints: [{metric: params, target: 1000000}]}").ok());
  // Balanced accuracy and macro-F1 come from training only.
  EXPECT_EQ(Error("evaluator: {kind: table}\nobjectives: {accuracy: macro_f1}"),
            "objectives.accuracy: the table evaluator reports accuracy only, not 'macro_f1'");
  absl::StatusOr<ControllerSpec> balanced = Parse("objectives: {accuracy: balanced_accuracy}");
  ASSERT_TRUE(balanced.ok()) << balanced.status();
  EXPECT_EQ(balanced->objectives.accuracy_metric, "balanced_accuracy");
  EXPECT_NE(Error("objectives: {accuracy: f1}").find("objectives.accuracy: unknown value 'f1'"),
            std::string::npos);
}

}  // namespace
}  // namespace hwnas::spec

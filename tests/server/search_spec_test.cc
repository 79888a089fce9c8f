#include "server/search_spec.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/search_runtime.h"
#include "tests/testing/test_paths.h"

namespace hwnas::server {
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

TEST(SearchSpecTest, ErrorsNameTheField) {
  EXPECT_THAT(Error("name: [unclosed"), HasSubstr("malformed YAML"));
  EXPECT_THAT(Error("just a string"), HasSubstr("must be a YAML mapping"));
  EXPECT_THAT(Error(std::string(kTable) + "budgett: 3\n"), HasSubstr("budgett: unknown key"));
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

std::string CheckError(const std::string& yaml) {
  absl::StatusOr<SearchSpec> spec = SearchRuntime::CheckSpec(yaml, {});
  EXPECT_FALSE(spec.ok()) << yaml;
  if (spec.ok()) return "";
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(spec.status().message());
}

// Objectives may only name metrics the search's trials will carry: a
// constraint on another fails every trial, a hard limit on one is never
// enforced.
TEST(SearchSpecTest, CheckSpecRefusesObjectivesOnMetricsTrialsWillNotHave) {
  const std::string m7 =
      "hardware:\n  measure_latency: false\n  targets: [{name: m7, mcu_profile: cortex-m7}]\n";
  EXPECT_TRUE(SearchRuntime::CheckSpec(
                  std::string(kTrain) + m7 +
                      "objectives: {constraints: [{metric: latency_ms@m7, target: 5}],\n"
                      "  hard_limits: [{metric: flash_bytes, max: 1000000}],\n"
                      "  pareto_metrics: [energy_mj@m7, peak_memory_bytes]}\n",
                  {})
                  .ok());
  EXPECT_THAT(CheckError(std::string(kTrain) + m7 +
                         "objectives: {constraints: [{metric: latency_ms@m4, target: 5}]}\n"),
              HasSubstr("objectives.constraints[0].metric: the trials of this search will not "
                        "have 'latency_ms@m4' (no hardware target is named 'm4'; they will have "
                        "accuracy, energy_mj@m7, feasible@m7, flash_bytes, latency_ms@m7"));
  EXPECT_THAT(CheckError(std::string(kTrain) + m7 +
                         "objectives: {hard_limits: [{metric: latency_ms, max: 5}]}\n"),
              HasSubstr("objectives.hard_limits[0].metric: the trials of this search will not "
                        "have 'latency_ms' (hardware.measure_latency is false;"));
  EXPECT_THAT(
      CheckError(std::string(kTrain) + "objectives: {pareto_metrics: [flash_bytes, sram@m7]}\n"),
      HasSubstr("objectives.pareto_metrics[1]: the trials of this search will not have 'sram@m7' "
                "(no hardware target is named 'm7';"));
  // No objectives at all: the default front is accuracy against latency_ms.
  EXPECT_THAT(CheckError(std::string(kTrain) + "hardware: {measure_latency: false}\n"),
              HasSubstr("objectives.pareto_metrics (default [latency_ms]): the trials of this "
                        "search will not have 'latency_ms' (hardware.measure_latency is false;"));
  // PostgreSQL's text would end at a NUL, storing half the spec.
  EXPECT_THAT(CheckError(std::string(kTrain) + "# " + '\0' + " budget: {trials: 9}\n"),
              HasSubstr("not a text file: a NUL byte at line 8"));
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

// hardware.targets[].mcu_profile names a profile on the server's profile
// path, or is the profile itself (a mapping); a path is refused before any
// file is opened (the audit read /dev/zero until the server held 3 GB).
TEST(SearchSpecTest, ProfilesAreNamesOrInlineNeverPaths) {
  for (const char* path : {"/dev/zero", "/etc/passwd", "../x.yaml", "secret.yaml", "a/b"}) {
    const std::string yaml =
        absl::StrCat(kTrain, "hardware: {targets: [{name: m, mcu_profile: '", path, "'}]}\n");
    EXPECT_THAT(Error(yaml), HasSubstr("hardware.targets[0].mcu_profile: must be the name of an "
                                       "MCU profile"))
        << path;
    EXPECT_THAT(CheckError(yaml), HasSubstr("hardware.targets[0].mcu_profile")) << path;
    const std::string lut =
        absl::StrCat(kTrain, "hardware: {targets: [{name: m, lut: '", path, "'}]}\n");
    EXPECT_THAT(Error(lut), HasSubstr("hardware.targets[0].lut: must be the name of a")) << path;
  }
  // Inline: the profile itself, under the target.
  const std::string inline_profile = absl::StrCat(kTrain, R"(hardware:
  measure_latency: false
  targets:
    - name: lab
      mcu_profile:
        name: lab-m4
        clock_mhz: 64
        sram_kb: 128
        flash_kb: 512
        cycles_per_mac:
          float32: {conv: 2, depthwise: 3, linear: 2, recurrent: 2}
          int8: {conv: 1, depthwise: 2, linear: 1, recurrent: 1}
objectives: {pareto_metrics: [latency_ms@lab]}
)");
  absl::StatusOr<SearchSpec> spec = SearchRuntime::CheckSpec(inline_profile, {});
  EXPECT_TRUE(spec.ok()) << spec.status();
  // An inline profile's errors name its field inside the spec.
  EXPECT_THAT(CheckError(absl::StrReplaceAll(inline_profile, {{"clock_mhz: 64", "clock_mhz: x"}})),
              HasSubstr("hardware.targets[0].mcu_profile: clock_mhz: must be a finite number"));
}

// Every example spec still validates, with the profiles shipped.
TEST(SearchSpecTest, ExamplesValidate) {
  const std::string dir = absl::StrCat(hwnas::testing::SourceDir(), "/examples");
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<SearchSpec> spec = SearchRuntime::CheckSpec(text.str(), {});
    EXPECT_TRUE(spec.ok()) << entry.path() << ": " << spec.status();
    ++seen;
  }
  EXPECT_GE(seen, 5);
}

}  // namespace
}  // namespace hwnas::server

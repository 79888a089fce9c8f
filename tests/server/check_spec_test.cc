// SearchRuntime::CheckSpec: a spec that parses must also name what exists
// (profiles, strategy options for the space) and objectives on metrics its
// trials will carry. Parsing alone is tested in tests/spec.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/search_runtime.h"
#include "spec/search_spec.h"
#include "tests/testing/test_paths.h"

namespace hwnas::server {
namespace {

using ::testing::HasSubstr;

constexpr char kTrain[] = R"(
name: f
space: {name: mnasnet, blocks: 2, filters: [8, 16], layers: [1, 1], strides: [1, 2],
        stem_filters: 8, head_filters: 0}
data: {dataset: fashion_mnist, train_subset: 256, val_subset: 128}
training: {epochs: 1, batch_size: 64}
budget: {trials: 3}
)";

std::string Error(const std::string& yaml) {
  absl::StatusOr<spec::SearchSpec> spec = spec::ParseSearchSpec(yaml);
  EXPECT_FALSE(spec.ok());
  return spec.ok() ? "" : std::string(spec.status().message());
}

std::string CheckError(const std::string& yaml) {
  absl::StatusOr<spec::SearchSpec> spec = SearchRuntime::CheckSpec(yaml, {});
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

// hardware.int8_accuracy: the trials have int8_accuracy@host (any worker
// measures it on the host), which objectives may then name; without the
// option the metric is refused, saying why.
TEST(SearchSpecTest, Int8AccuracyOnTheHostIsAMetricOnlyWhenAskedFor) {
  const std::string with = std::string(kTrain) +
                           "hardware: {measure_latency: false, int8_accuracy: true}\n"
                           "objectives: {pareto_metrics: [int8_accuracy@host]}\n";
  absl::StatusOr<spec::SearchSpec> ok = SearchRuntime::CheckSpec(with, {});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_THAT(
      CheckError(std::string(kTrain) + "hardware: {measure_latency: false}\n"
                                       "objectives: {pareto_metrics: [int8_accuracy@host]}\n"),
      HasSubstr("hardware.int8_accuracy is not true"));
}

// strategy dnas runs as a server job now (server/dnas_jobs.h): accepted at
// submit on the mnasnet and temporal spaces with a latency target, refused
// elsewhere naming the space. Its trials go to
// workers that advertise the "dnas" evaluator only.
TEST(SearchSpecTest, DnasIsAcceptedOnMnasnetAndTemporalAndRefusedOnOtherSpaces) {
  const std::string dnas =
      "hardware:\n  measure_latency: false\n  targets: [{name: m7, mcu_profile: cortex-m7}]\n"
      "objectives: {pareto_metrics: [latency_ms@m7]}\nstrategy: {name: dnas, epochs: 2, k: 2}\n";
  absl::StatusOr<spec::SearchSpec> ok = SearchRuntime::CheckSpec(std::string(kTrain) + dnas, {});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->requirements.evaluator, "dnas");
  absl::StatusOr<spec::SearchSpec> temporal = SearchRuntime::CheckSpec(R"(
name: e
space: {name: temporal, conv_layers: 1, rnn_layers: 1}
data: {dataset: ecg5000}
training: {epochs: 1}
budget: {trials: 3}
)" + dnas,
                                                                       {});
  ASSERT_TRUE(temporal.ok()) << temporal.status();
  EXPECT_EQ(temporal->requirements.evaluator, "dnas");
  EXPECT_THAT(CheckError(R"(
name: n
space: {name: nb201, channels: 8}
data: {dataset: fashion_mnist, train_subset: 256, val_subset: 128}
training: {epochs: 1, batch_size: 64}
budget: {trials: 3}
)" + dnas),
              HasSubstr("space nb201 is not supported"));
  // The supernet job is no candidate: no screen, no rungs.
  EXPECT_THAT(CheckError(std::string(kTrain) + dnas + "screen: {proxy: synflow, keep: 0.5}\n"),
              HasSubstr("screen: strategy dnas starts with a supernet job"));
  EXPECT_THAT(CheckError(R"(
name: f
space: {name: mnasnet, blocks: 2, filters: [8, 16], layers: [1, 1], strides: [1, 2],
        stem_filters: 8, head_filters: 0}
data: {dataset: fashion_mnist, train_subset: 256, val_subset: 128}
training: {epochs: 3, batch_size: 64}
budget: {trials: 3}
fidelity: {kind: asha, min: 1, max: 3, eta: 3}
)" + dnas),
              HasSubstr("fidelity.kind: strategy dnas trains one supernet job"));
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
  absl::StatusOr<spec::SearchSpec> spec = SearchRuntime::CheckSpec(inline_profile, {});
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
    absl::StatusOr<spec::SearchSpec> spec = SearchRuntime::CheckSpec(text.str(), {});
    EXPECT_TRUE(spec.ok()) << entry.path() << ": " << spec.status();
    ++seen;
  }
  EXPECT_GE(seen, 5);
}

}  // namespace
}  // namespace hwnas::server

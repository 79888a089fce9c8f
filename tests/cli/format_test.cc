// Table, JSON and CSV output of searches and trials.
#include "cli/format.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/spec_info.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/test_data.h"

namespace hwnas::cli {
namespace {

using nlohmann::json;
using testing::MakeSearch;
using testing::MakeTrials;

std::vector<std::string> Lines(const std::string& s) {
  return absl::StrSplit(s, '\n', absl::SkipEmpty());
}

// Splits one CSV line (RFC 4180 quoting).
std::vector<std::string> CsvRow(absl::string_view line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

TEST(FormatMetric, HumanUnits) {
  EXPECT_EQ(FormatMetric("accuracy", 0.85321), "0.8532");
  EXPECT_EQ(FormatMetric("reward", std::nullopt), "-");
  EXPECT_EQ(FormatMetric("latency_ms", 12.345), "12.35");
  EXPECT_EQ(FormatMetric("flash_bytes", 512), "512B");
  EXPECT_EQ(FormatMetric("flash_bytes", 320000), "312KiB");
  EXPECT_EQ(FormatMetric("peak_memory_bytes", 65536), "64.0KiB");
  EXPECT_EQ(FormatMetric("params", 1234567), "1.23M");
  EXPECT_EQ(FormatMetric("macs", 999), "999");
  EXPECT_EQ(FormatMetric("latency_ms@cortex-m7", 100), "100.00");
}

TEST(FormatRaw, ShortestRoundTrip) {
  EXPECT_EQ(FormatRaw(0.1), "0.1");
  EXPECT_EQ(FormatRaw(1234567), "1234567");
  EXPECT_EQ(FormatRaw(0.88), "0.88");
  EXPECT_EQ(FormatRaw(1.0 / 3), "0.3333333333333333");
}

TEST(FormatTimes, UtcAndDurations) {
  EXPECT_EQ(FormatUtc(testing::T0()), "2024-05-01 12:00:00Z");
  EXPECT_EQ(FormatTimeRfc3339(testing::T0()), "2024-05-01T12:00:00Z");
  EXPECT_EQ(FormatElapsed(absl::Seconds(37)), "37s");
  EXPECT_EQ(FormatElapsed(absl::Seconds(252)), "4m12s");
  EXPECT_EQ(FormatElapsed(absl::Seconds(3720)), "1h02m");
  EXPECT_EQ(FormatElapsed(absl::Hours(76)), "3d04h");
}

TEST(CsvField, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
}

TEST(TextTable, AlignsColumns) {
  TextTable t({"ID", "NAME", "SCORE"});
  t.AddRow({"1", "alpha", "0.5"});
  t.AddRow({"12", "b", "10.25"});
  EXPECT_EQ(t.Render(),
            "ID  NAME   SCORE\n"
            " 1  alpha    0.5\n"
            "12  b      10.25\n");
}

// Columns count characters, not bytes, and a long name is cut between
// characters (it used to split a multibyte one and misalign the table).
TEST(TextTable, AlignsAndTruncatesUtf8ByCharacter) {
  TextTable t({"NAME", "N"});
  t.AddRow({"caf\xc3\xa9", "1"});
  t.AddRow({"tea", "2"});
  EXPECT_EQ(t.Render(),
            "NAME  N\n"
            "caf\xc3\xa9  1\n"
            "tea   2\n");
  SearchRecord s = MakeSearch();
  s.name.clear();
  for (int i = 0; i < 40; ++i) s.name += "\xce\xa9";  // Greek capital omega.
  const std::string out = FormatSearchList({s}, OutputFormat::kTable);
  std::string expected_name;
  for (int i = 0; i < 29; ++i) expected_name += "\xce\xa9";
  EXPECT_NE(out.find(expected_name + "..."), std::string::npos) << out;
}

TEST(FormatTrialList, JsonParsesBackWithStoredValues) {
  const auto trials = MakeTrials();
  json j = json::parse(FormatTrialList(trials, {"latency_ms"}, OutputFormat::kJson));
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 5u);
  EXPECT_EQ(j[1]["number"], 2);
  EXPECT_EQ(j[1]["state"], "SUCCEEDED");
  EXPECT_DOUBLE_EQ(j[1]["reward"].get<double>(), 0.88);
  EXPECT_DOUBLE_EQ(j[1]["result"]["accuracy"].get<double>(), 0.90);
  EXPECT_DOUBLE_EQ(j[1]["result"]["latency"]["median_ms"].get<double>(), 20.0);
  EXPECT_EQ(j[1]["result"]["costs"]["flash_bytes"], 600000);
  EXPECT_EQ(j[1]["result"]["costs"]["params"], 200000);
  EXPECT_DOUBLE_EQ(j[1]["result"]["estimates"]["latency_ms@cortex-m7"].get<double>(), 200.0);
  EXPECT_EQ(j[1]["architecture"]["tokens"], json({2, 1, 2}));
  EXPECT_EQ(j[1]["architecture"]["space"], "mnasnet");
  EXPECT_EQ(j[1]["created_at"], "2024-05-01T12:00:02Z");
  EXPECT_EQ(j[1]["epochs"][1]["values"]["val_accuracy"], 0.90);
  EXPECT_TRUE(j[4]["reward"].is_null());
  EXPECT_TRUE(j[4]["result"].is_null());
  EXPECT_EQ(j[4]["failure_reason"], "worker lost: out of memory");
  EXPECT_EQ(j[3]["state"], "INFEASIBLE");
}

TEST(FormatTrialList, CsvHeaderAndRows) {
  const auto trials = MakeTrials();
  auto lines = Lines(FormatTrialList(trials, {"latency_ms"}, OutputFormat::kCsv));
  ASSERT_EQ(lines.size(), 6u);
  std::vector<std::string> header = CsvRow(lines[0]);
  const std::vector<std::string> expected = {"number",
                                             "state",
                                             "attempts",
                                             "reward",
                                             "accuracy",
                                             "loss",
                                             "latency_ms",
                                             "latency_p90_ms",
                                             "params",
                                             "macs",
                                             "peak_memory_bytes",
                                             "flash_bytes",
                                             "latency_ms@cortex-m7",
                                             "train_seconds",
                                             "epochs",
                                             "space",
                                             "architecture",
                                             "tokens",
                                             "failure_reason",
                                             "origin",
                                             "rung",
                                             "epoch_target",
                                             "created_at",
                                             "started_at",
                                             "finished_at"};
  EXPECT_EQ(header, expected);
  auto col = [&](absl::string_view name) {
    return std::find(header.begin(), header.end(), name) - header.begin();
  };
  std::vector<std::string> row2 = CsvRow(lines[2]);
  ASSERT_EQ(row2.size(), header.size());
  EXPECT_EQ(row2[col("number")], "2");
  EXPECT_EQ(row2[col("state")], "SUCCEEDED");
  EXPECT_EQ(row2[col("reward")], "0.88");
  EXPECT_EQ(row2[col("accuracy")], "0.9");
  EXPECT_EQ(row2[col("flash_bytes")], "600000");
  EXPECT_EQ(row2[col("latency_ms@cortex-m7")], "200");
  EXPECT_EQ(row2[col("tokens")], "2 1 2");
  EXPECT_EQ(row2[col("origin")], "strategy");
  EXPECT_EQ(row2[col("architecture")], "r1_k3_s11_e1_i32_o16 r2_k3_s22_e6_i16_o24_se0.25");
  std::vector<std::string> row5 = CsvRow(lines[5]);
  ASSERT_EQ(row5.size(), header.size());
  EXPECT_EQ(row5[col("reward")], "");
  EXPECT_EQ(row5[col("accuracy")], "");
  EXPECT_EQ(row5[col("failure_reason")], "worker lost: out of memory");
}

// Started and finished times in the CSV too (RFC 3339), as in the JSON.
TEST(FormatTrialList, CsvHasRungAndTimes) {
  auto trials = MakeTrials();
  trials[1].created_at = absl::FromUnixSeconds(1700000000);
  trials[1].started_at = absl::FromUnixSeconds(1700000005);
  trials[1].finished_at = absl::FromUnixSeconds(1700000065);
  trials[1].rung = 1;
  trials[1].epoch_target = 3;
  auto lines = Lines(FormatTrialList(trials, {}, OutputFormat::kCsv));
  std::vector<std::string> header = CsvRow(lines[0]);
  auto col = [&](absl::string_view name) {
    return std::find(header.begin(), header.end(), name) - header.begin();
  };
  std::vector<std::string> row2 = CsvRow(lines[2]);
  EXPECT_EQ(row2[col("rung")], "1");
  EXPECT_EQ(row2[col("epoch_target")], "3");
  EXPECT_EQ(row2[col("created_at")], "2023-11-14T22:13:20Z");
  EXPECT_EQ(row2[col("started_at")], "2023-11-14T22:13:25Z");
  EXPECT_EQ(row2[col("finished_at")], "2023-11-14T22:14:25Z");
  std::vector<std::string> row1 = CsvRow(lines[1]);
  EXPECT_EQ(row1[col("epoch_target")], "");
  EXPECT_EQ(row1[col("rung")], "0");
}

TEST(FormatTrialList, TableShowsChosenMetrics) {
  const auto trials = MakeTrials();
  std::vector<std::string> metrics = TrialMetricColumns(trials, {"latency_ms@cortex-m7"});
  EXPECT_EQ(metrics, (std::vector<std::string>{"latency_ms", "params", "macs", "peak_memory_bytes",
                                               "flash_bytes", "latency_ms@cortex-m7"}));
  std::string table = FormatTrialList(trials, {"latency_ms", "flash_bytes"}, OutputFormat::kTable);
  auto lines = Lines(table);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0].substr(0, 7), "#  STAT");
  EXPECT_NE(lines[0].find("LATENCY_MS"), std::string::npos);
  EXPECT_NE(lines[0].find("FLASH_BYTES"), std::string::npos);
  EXPECT_NE(lines[2].find("SUCCEEDED"), std::string::npos);
  EXPECT_NE(lines[2].find("0.8800"), std::string::npos);
  EXPECT_NE(lines[2].find("586KiB"), std::string::npos);
  EXPECT_NE(lines[5].find("FAILED"), std::string::npos);
  EXPECT_NE(lines[5].find("(worker lost: out of memory)"), std::string::npos);
  EXPECT_EQ(FormatTrialList({}, {}, OutputFormat::kTable), "No trials.\n");
}

TEST(FormatSearchList, AllFormats) {
  SearchRecord s = MakeSearch();
  json j = json::parse(FormatSearchList({s}, OutputFormat::kJson));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["id"], 7);
  EXPECT_EQ(j[0]["name"], "fmnist-mcu");
  EXPECT_EQ(j[0]["state"], "RUNNING");
  EXPECT_EQ(j[0]["trials"]["finished"], 5);
  EXPECT_EQ(j[0]["trials"]["running"], 2);
  EXPECT_EQ(j[0]["best_trial"]["number"], 2);
  EXPECT_TRUE(j[0]["finished_at"].is_null());

  auto csv = Lines(FormatSearchList({s}, OutputFormat::kCsv));
  ASSERT_EQ(csv.size(), 2u);
  auto header = CsvRow(csv[0]);
  auto row = CsvRow(csv[1]);
  ASSERT_EQ(header.size(), row.size());
  EXPECT_EQ(header[0], "id");
  EXPECT_EQ(row[0], "7");
  auto at = [&](absl::string_view name) {
    return row[std::find(header.begin(), header.end(), name) - header.begin()];
  };
  EXPECT_EQ(at("finished"), "5");
  EXPECT_EQ(at("best_reward"), "0.88");
  EXPECT_EQ(at("created_at"), "2024-05-01T12:00:00Z");

  auto table = Lines(FormatSearchList({s}, OutputFormat::kTable));
  ASSERT_EQ(table.size(), 2u);
  EXPECT_NE(table[1].find("5/10"), std::string::npos);
  EXPECT_NE(table[1].find("fmnist-mcu"), std::string::npos);
  EXPECT_NE(table[1].find("2024-05-01 12:00:00Z"), std::string::npos);
  EXPECT_EQ(FormatSearchList({}, OutputFormat::kTable), "No searches.\n");
}

TEST(FormatSearchDetail, TableNamesBestTrial) {
  std::string out = FormatSearchDetail(MakeSearch(), OutputFormat::kTable);
  EXPECT_NE(out.find("Search:      7 (fmnist-mcu)"), std::string::npos) << out;
  EXPECT_NE(out.find("Progress:    5/10 finished: 3 succeeded, 1 failed, 1 infeasible"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("Best trial:  2  reward 0.8800  accuracy 0.9000"), std::string::npos) << out;
  EXPECT_EQ(out.find("Waiting:"), std::string::npos) << out;
  EXPECT_TRUE(
      json::parse(FormatSearchDetail(MakeSearch(), OutputFormat::kJson))["waiting"].is_null());

  // A search no connected worker can run says why.
  SearchRecord stuck = MakeSearch();
  stuck.waiting = "no worker is connected";
  out = FormatSearchDetail(stuck, OutputFormat::kTable);
  EXPECT_NE(out.find("State:       RUNNING\nWaiting:     no worker is connected\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(json::parse(FormatSearchDetail(stuck, OutputFormat::kJson))["waiting"],
            "no worker is connected");

  // A warm-started search names the search it started from.
  EXPECT_EQ(out.find("Warm start:"), std::string::npos) << out;
  SearchRecord warm = MakeSearch();
  warm.warm_start_search_id = 3;
  out = FormatSearchDetail(warm, OutputFormat::kTable);
  EXPECT_NE(out.find("Warm start:  from the finished trials of search 3\n"), std::string::npos)
      << out;
  EXPECT_EQ(json::parse(FormatSearchDetail(warm, OutputFormat::kJson))["warm_start_search_id"], 3);
  EXPECT_TRUE(json::parse(FormatSearchDetail(stuck, OutputFormat::kJson))["warm_start_search_id"]
                  .is_null());
}

TEST(FormatTrialDetail, IncludesEpochCurve) {
  TrialRecord t = MakeTrials()[1];
  std::string table = FormatTrialDetail(t, OutputFormat::kTable);
  EXPECT_NE(table.find("Trial:         2 of search 7"), std::string::npos) << table;
  EXPECT_NE(table.find("Latency:       median 20.00 ms, p90 22.00 ms"), std::string::npos);
  EXPECT_NE(table.find("EPOCH  TRAIN_LOSS  VAL_ACCURACY"), std::string::npos) << table;
  EXPECT_NE(table.find("val_accuracy"), std::string::npos);  // The curve's y label.
  auto csv = Lines(FormatTrialDetail(t, OutputFormat::kCsv));
  ASSERT_EQ(csv.size(), 3u);
  EXPECT_EQ(csv[0], "search_id,number,epoch,train_loss,val_accuracy");
  EXPECT_EQ(csv[2], "7,2,2,0.5,0.9");
  json j = json::parse(FormatTrialDetail(t, OutputFormat::kJson));
  EXPECT_EQ(j["epochs"].size(), 2u);
}

TEST(FormatTrialDetail, TableTrialSaysWhatWasNotDone) {
  // A trial answered from the NAS-Bench-201 table: accuracy and a latency
  // column, no training, no costs. Zeros would read as measurements.
  TrialRecord t = MakeTrials()[1];
  TrialResult r;
  r.accuracy = 0.9106;
  r.latency = LatencyMeasurement{12.56, 12.56, 0, 0, "nb201:raspi4"};
  r.estimates["latency_ms@raspi4"] = 12.56;
  r.epochs = 200;
  t.result = r;
  t.epochs.clear();
  std::string out = FormatTrialDetail(t, OutputFormat::kTable);
  EXPECT_NE(out.find("Latency:       median 12.56 ms, p90 12.56 ms (looked up, not measured: "
                     "nb201:raspi4)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("Costs:         not computed for this trial\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Training:      200 epochs (looked up, not run)\n"), std::string::npos) << out;
  for (const char* absent : {"Params:", "MACs:", "Peak memory:", "Flash:", "Loss:", "runs,"}) {
    EXPECT_EQ(out.find(absent), std::string::npos) << absent << " in\n" << out;
  }
  // The trial list leaves out the cost columns no trial has; JSON says null.
  EXPECT_EQ(TrialMetricColumns({t}, {}), (std::vector<std::string>{"latency_ms"}));
  json j = json::parse(FormatTrialDetail(t, OutputFormat::kJson));
  EXPECT_TRUE(j["result"]["costs"]["params"].is_null()) << j.dump();
  EXPECT_TRUE(j["result"]["costs"]["flash_bytes"].is_null()) << j.dump();
  EXPECT_EQ(j["result"]["latency"]["median_ms"], 12.56);

  // A trained trial keeps every line.
  std::string trained = FormatTrialDetail(MakeTrials()[1], OutputFormat::kTable);
  EXPECT_NE(trained.find("Params:        200k (200000)\n"), std::string::npos) << trained;
  EXPECT_NE(trained.find("Flash:         "), std::string::npos) << trained;
  EXPECT_NE(trained.find("Training:      "), std::string::npos) << trained;
  EXPECT_NE(trained.find(" epochs in 12.5 s\n"), std::string::npos) << trained;
  EXPECT_NE(trained.find("(50 runs, 1 thread, x86_64 cpu)"), std::string::npos) << trained;

  // Counts of one are singular.
  TrialRecord one = MakeTrials()[1];
  one.result->epochs = 1;
  EXPECT_NE(FormatTrialDetail(one, OutputFormat::kTable).find("Training:      1 epoch in 12.5 s\n"),
            std::string::npos);
}

TEST(FormatPareto, SortedByFirstMetric) {
  ParetoFront front;
  auto trials = MakeTrials();
  front.trials = {trials[1], trials[0]};
  front.metrics = {"latency_ms"};
  front.hypervolume = 0.42;
  json j = json::parse(FormatPareto(front, OutputFormat::kJson));
  EXPECT_EQ(j["metrics"], json({"latency_ms"}));
  EXPECT_DOUBLE_EQ(j["hypervolume"].get<double>(), 0.42);
  EXPECT_EQ(j["trials"].size(), 2u);
  auto csv = Lines(FormatPareto(front, OutputFormat::kCsv));
  ASSERT_EQ(csv.size(), 3u);
  EXPECT_EQ(CsvRow(csv[1])[0], "1");  // latency 10 before latency 20.
  EXPECT_EQ(CsvRow(csv[2])[0], "2");
  std::string table = FormatPareto(front, OutputFormat::kTable);
  EXPECT_NE(table.find("Pareto front over accuracy and latency_ms: 2 trials, hypervolume 0.42\n"),
            std::string::npos);
  // The table rounds to six digits; JSON keeps every digit.
  front.hypervolume = 55.79262472919821;
  table = FormatPareto(front, OutputFormat::kTable);
  EXPECT_NE(table.find("2 trials, hypervolume 55.7926\n"), std::string::npos) << table;
  j = json::parse(FormatPareto(front, OutputFormat::kJson));
  EXPECT_EQ(j["hypervolume"].get<double>(), 55.79262472919821);
}

// Nothing feasible: the least-violating trials and their misses, in every
// format, instead of an empty front; status shows them instead of "none yet".
TEST(FormatPareto, NothingFeasibleShowsTheLeastViolating) {
  auto trials = MakeTrials();
  ParetoFront front;
  front.metrics = {"latency_ms"};
  NearMiss near{.trial = trials[0], .total_excess = 0.25};
  near.trial.state = TrialState::kInfeasible;
  near.misses.push_back({.metric = "latency_ms", .value = 12.5, .limit = 10, .excess = 0.25});
  front.least_violating = {near};
  std::string table = FormatPareto(front, OutputFormat::kTable);
  EXPECT_NE(table.find("No feasible trial"), std::string::npos) << table;
  EXPECT_NE(table.find("latency_ms 12.50 > 10.00 (+25%)"), std::string::npos) << table;
  json j = json::parse(FormatPareto(front, OutputFormat::kJson));
  EXPECT_TRUE(j["trials"].empty());
  ASSERT_EQ(j["least_violating"].size(), 1u);
  EXPECT_EQ(j["least_violating"][0]["trial"]["number"], near.trial.number);
  EXPECT_DOUBLE_EQ(j["least_violating"][0]["misses"][0]["excess"].get<double>(), 0.25);
  auto csv = Lines(FormatPareto(front, OutputFormat::kCsv));
  ASSERT_EQ(csv.size(), 2u);
  EXPECT_EQ(CsvRow(csv[1])[0], absl::StrCat(near.trial.number));

  SearchRecord search;
  search.id = 3;
  search.counts.infeasible = 4;
  std::string status = FormatSearchDetail(search, OutputFormat::kTable, {near});
  EXPECT_NE(status.find("none feasible"), std::string::npos) << status;
  EXPECT_NE(status.find("(+25%)"), std::string::npos) << status;
  EXPECT_EQ(status.find("none yet"), std::string::npos) << status;
  EXPECT_NE(FormatSearchDetail(search, OutputFormat::kTable).find("none yet"), std::string::npos);
}

TEST(FormatTrialList, OriginColumnOnlyWithGuidedTrials) {
  auto trials = MakeTrials();
  EXPECT_EQ(FormatTrialList(trials, {}, OutputFormat::kTable).find("ORIGIN"), std::string::npos);
  trials[0].origin = TrialOrigin::kImported;
  const std::string table = FormatTrialList(trials, {}, OutputFormat::kTable);
  EXPECT_NE(table.find("ORIGIN"), std::string::npos) << table;
  EXPECT_NE(table.find("imported"), std::string::npos) << table;
  EXPECT_NE(FormatTrialDetail(trials[0], OutputFormat::kTable).find("Origin:        imported"),
            std::string::npos);
}

// Trials 2 and 3 of MakeTrials cross-validated over three folds: 0.90 ±0.02
// and 0.85 ±0.03 (a difference of 0.05 against a combined error of 0.036).
std::vector<TrialRecord> CrossValidatedTrials() {
  std::vector<TrialRecord> trials = MakeTrials();
  trials[1].result->fold_accuracy = {0.88, 0.90, 0.92};
  trials[1].result->accuracy_se = 0.02;
  trials[1].result->balanced_accuracy = 0.87;
  trials[1].result->macro_f1 = 0.86;
  trials[2].result->fold_accuracy = {0.82, 0.85, 0.88};
  trials[2].result->accuracy_se = 0.03;
  return trials;
}

TEST(FormatAccuracy, CrossValidatedTrialsShowTheirStandardError) {
  const std::vector<TrialRecord> trials = CrossValidatedTrials();
  EXPECT_EQ(FormatAccuracy(trials[0]), "0.8000");
  EXPECT_EQ(FormatAccuracy(trials[1]), "0.9000 \u00b10.0200");
  EXPECT_EQ(FormatAccuracy(trials[4]), "-");
  // Within noise needs both errors; 0.05 > sqrt(0.02^2 + 0.03^2).
  EXPECT_FALSE(WithinNoiseOf(trials[2], trials[1]));
  EXPECT_FALSE(WithinNoiseOf(trials[0], trials[1]));
  std::vector<TrialRecord> close = trials;
  close[2].result->accuracy = 0.87;
  EXPECT_TRUE(WithinNoiseOf(close[2], close[1]));
  EXPECT_TRUE(WithinNoiseOf(close[1], close[2]));

  const std::string table = FormatTrialList(trials, {"latency_ms"}, OutputFormat::kTable);
  EXPECT_NE(table.find("0.9000 \u00b10.0200"), std::string::npos) << table;
  EXPECT_NE(table.find("0.8500 \u00b10.0300"), std::string::npos) << table;

  const json j = json::parse(FormatTrialList(trials, {}, OutputFormat::kJson));
  EXPECT_EQ(j[1]["result"]["accuracy_se"], 0.02);
  EXPECT_EQ(j[1]["result"]["fold_accuracy"].size(), 3u);
  EXPECT_EQ(j[1]["result"]["balanced_accuracy"], 0.87);
  EXPECT_FALSE(j[0]["result"].contains("accuracy_se"));

  const std::vector<std::string> csv = Lines(FormatTrialList(trials, {}, OutputFormat::kCsv));
  const std::vector<std::string> header = CsvRow(csv[0]);
  const auto column = std::find(header.begin(), header.end(), "accuracy_se");
  ASSERT_NE(column, header.end()) << csv[0];
  EXPECT_EQ(CsvRow(csv[2])[column - header.begin()], "0.02");
  EXPECT_EQ(CsvRow(csv[1])[column - header.begin()], "");
  EXPECT_NE(std::find(header.begin(), header.end(), "macro_f1"), header.end());

  const std::string detail = FormatTrialDetail(trials[1], OutputFormat::kTable);
  EXPECT_NE(detail.find("Accuracy:      0.9000 \u00b10.0200"), std::string::npos) << detail;
  EXPECT_NE(detail.find("Folds:         3 (mean and standard error above): 0.8800 0.9000 0.9200"),
            std::string::npos)
      << detail;
  EXPECT_NE(detail.find("Balanced acc.: 0.8700"), std::string::npos) << detail;
  EXPECT_NE(detail.find("Macro-F1:      0.8600"), std::string::npos) << detail;
}

// `hwnas status` of a dnas search: the supernet job's last stored epoch.
TEST(FormatDnasJobLine, ShowsTheLastStoredEpochOfHowMany) {
  TrialRecord job;
  job.number = 1;
  job.state = TrialState::kRunning;
  job.origin = TrialOrigin::kDnasJob;
  job.attempts = 1;
  EXPECT_EQ(FormatDnasJobLine(job), "Supernet:    trial 1 RUNNING, no epoch stored yet\n");
  job.epochs.push_back(EpochMetrics{1, {{"epochs", 10}, {"train_loss", 2.5}}});
  job.epochs.push_back(EpochMetrics{
      2, {{"epochs", 10}, {"train_loss", 1.25}, {"expected_latency_ms", 4.5}, {"tau", 4.5}}});
  job.attempts = 2;  // Resumed by a second worker.
  EXPECT_EQ(FormatDnasJobLine(job),
            "Supernet:    trial 1 RUNNING, epoch 2/10 (loss 1.2500, expected latency 4.500 ms, "
            "tau 4.500), attempt 2\n");
}

TEST(ReadSpecInfo, KnowsADnasSearchInEitherStrategyForm) {
  EXPECT_TRUE(ReadSpecInfo("strategy: dnas\n").dnas);
  EXPECT_TRUE(ReadSpecInfo("strategy: {name: dnas, epochs: 3}\n").dnas);
  EXPECT_FALSE(ReadSpecInfo("strategy: {name: evolution}\n").dnas);
  EXPECT_FALSE(ReadSpecInfo("name: x\n").dnas);
  EXPECT_FALSE(ReadSpecInfo(": not yaml [").dnas);
}

}  // namespace
}  // namespace hwnas::cli

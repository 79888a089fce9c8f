// The strategies benchmark's sweep pieces on the real NAS-Bench-201 table:
// the function-median latency protocol and the sweep summary.
#include "bench/controller/strategy_bench.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/stats.h"
#include "controller/nb201_table.h"
#include "space/nb201_space.h"
#include "tests/testing/test_paths.h"

namespace hwnas::bench {
namespace {

using controller::Nb201Table;

std::shared_ptr<const Nb201Table> Table() {
  static std::shared_ptr<const Nb201Table>* table = [] {
    const std::string path =
        absl::StrCat(hwnas::testing::SharedDataDir(), "/nb201/nb201_acc_latency.csv");
    absl::StatusOr<std::shared_ptr<const Nb201Table>> t = Nb201Table::Load(path);
    EXPECT_TRUE(t.ok()) << t.status();
    return new std::shared_ptr<const Nb201Table>(t.ok() ? *t : nullptr);
  }();
  return *table;
}

TEST(FunctionMedianLatenciesTest, EveryEncodingOfAFunctionGetsTheMedianOfItsRows) {
  ASSERT_NE(Table(), nullptr);
  const int column = *Table()->DeviceColumn("raspi4");
  const std::vector<double>& rows = Table()->latencies(column);
  const std::vector<double> judged = FunctionMedianLatencies(rows);
  ASSERT_EQ(judged.size(), rows.size());
  // Grouped independently of the benchmark, by the space's signature.
  const space::Nb201Space space({}, space::DataShape{{3, 32, 32}, 10});
  std::map<std::string, std::vector<int>> groups;
  for (int i = 0; i < Nb201Table::kNumArchitectures; ++i) {
    groups[space.FunctionSignature(Nb201Table::TokensOf(i))].push_back(i);
  }
  ASSERT_GT(groups.size(), 1u);
  ASSERT_LT(groups.size(), rows.size());
  for (const auto& [signature, members] : groups) {
    std::vector<double> lat;
    for (int i : members) lat.push_back(rows[i]);
    const double median = Median(lat);
    for (int i : members) ASSERT_DOUBLE_EQ(judged[i], median) << signature;
  }
}

// docs/benchmarks.md: on raspi4 at q = 0.25 (15.72 ms) the only row near the
// optimum, 300010 (15.60 ms), is a lucky measurement of a network whose other
// encodings measure 16 ms and more. Judged by its function it is infeasible.
TEST(FunctionMedianLatenciesTest, ALuckyEncodingIsNotAFeasibleFind) {
  ASSERT_NE(Table(), nullptr);
  const int column = *Table()->DeviceColumn("raspi4");
  const std::vector<double>& rows = Table()->latencies(column);
  const double target = LinearQuantile(rows, 0.25);
  const int lucky = *Nb201Table::IndexOf({3, 0, 0, 0, 1, 0});
  EXPECT_LE(rows[lucky], target);
  EXPECT_GT(FunctionMedianLatencies(rows)[lucky], target);
}

TEST(SweepTest, RunsBothProtocolsAndSummarizesAgainstRandomAndEvolution) {
  ASSERT_NE(Table(), nullptr);
  std::vector<Contender> contenders;
  for (const char* name : {"random", "evolution"}) {
    Contender c;
    c.label = name;
    c.options.name = name;
    contenders.push_back(c);
  }
  BenchOptions options;
  options.budgets = {30};
  options.seeds = 3;
  options.trace = true;
  std::vector<SettingResult> results;
  for (LatencyProtocol p : {LatencyProtocol::kRow, LatencyProtocol::kFunction}) {
    Setting s;
    s.device = "raspi4";
    s.quantile = 0.25;
    s.dataset = controller::Nb201Dataset::kCifar100;
    s.protocol = p;
    absl::StatusOr<SettingResult> r = RunSetting(*Table(), s, contenders, options);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->contenders.size(), 2u);
    for (const ContenderResult& c : r->contenders) {
      ASSERT_EQ(c.curves.size(), 3u);
      ASSERT_EQ(c.traces.size(), 3u);
      for (size_t seed = 0; seed < 3; ++seed) {
        ASSERT_EQ(c.traces[seed].size(), 30u);
        // A trial is counted as a feasible find exactly when its judged
        // latency is within the target, so regret can only fall after one.
        for (size_t t = 1; t < 30; ++t) {
          if (c.curves[seed][t] < c.curves[seed][t - 1]) {
            EXPECT_LE(c.traces[seed][t].latency_over_target, 1.0);
          }
        }
        for (double regret : c.curves[seed]) EXPECT_GE(regret, 0);
      }
    }
    results.push_back(*std::move(r));
  }
  EXPECT_NE(results[0].setting.target_ms, results[1].setting.target_ms);
  EXPECT_NE(results[1].setting.Label().find("function median"), std::string::npos);
  const std::string summary = FormatSweep(results, 30);
  EXPECT_NE(summary.find("#### cifar100: median regret @30"), std::string::npos) << summary;
  EXPECT_NE(summary.find("| function-median latency |"), std::string::npos) << summary;
  EXPECT_NE(summary.find("| evolution | 2 |"), std::string::npos) << summary;
  EXPECT_NE(FormatSweepLine(results[0], 30).find("cifar100 | raspi4"), std::string::npos);
}

// Two medians of 0.00 (both found the optimum on most seeds) are a tie in
// "ahead of evolution"; the tie-broken column decides it by the mean regret,
// which still counts the seeds that missed.
TEST(SweepSharesTest, TiedMediansAreBrokenByTheMeanRegret) {
  auto contender = [](const std::string& label, std::vector<double> final_regrets) {
    ContenderResult c;
    c.label = label;
    for (double r : final_regrets) c.curves.push_back({r + 1, r});
    return c;
  };
  SettingResult sr;
  sr.setting.device = "raspi4";
  sr.setting.quantile = 0.25;
  sr.setting.target_ms = 10;
  sr.contenders.push_back(contender("random", {1, 2, 3}));
  sr.contenders.push_back(contender("evolution", {0, 0, 3}));
  sr.contenders.push_back(contender("surrogate", {0, 0, 1}));
  const std::string summary = FormatSweep({sr}, 2);
  // surrogate: median 0 like evolution (not ahead), mean 0.33 < 1 (ahead
  // once ties are broken); ahead of random either way.
  EXPECT_NE(summary.find("| surrogate | 1 | 1/1 (100%) | 1/1 (100%) | 0/1 (0%) | 1/1 (100%) | "
                         "1/1 (100%) |"),
            std::string::npos)
      << summary;
  // evolution is not ahead of itself under either rule.
  EXPECT_NE(summary.find("| evolution | 1 | 1/1 (100%) | 1/1 (100%) | 0/1 (0%) | 1/1 (100%) | "
                         "0/1 (0%) |"),
            std::string::npos)
      << summary;
  EXPECT_NE(FormatSweepLine(sr, 2).find("surrogate 0.00 (mean 0.33)"), std::string::npos)
      << FormatSweepLine(sr, 2);
}

}  // namespace
}  // namespace hwnas::bench

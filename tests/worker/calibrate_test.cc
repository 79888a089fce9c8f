// Lookup-table calibration: the table covers every op of the space, predicts
// whole networks, and the in-network op profile adds up.
#include "worker/calibrate.h"

#include <numeric>
#include <random>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hardware/latency_lut.h"
#include "space/registry.h"
#include "worker/op_profile.h"

namespace hwnas::worker {
namespace {

std::unique_ptr<space::SearchSpace> Nb201() {
  absl::StatusOr<YamlSection> s =
      YamlSection::Parse("{name: nb201, channels: 4, cells_per_stage: 1}");
  EXPECT_TRUE(s.ok());
  auto space = space::MakeSearchSpace(*s, {{1, 16, 16}, 10});
  EXPECT_TRUE(space.ok()) << space.status();
  return *std::move(space);
}

LatencyOptions Quick() {
  LatencyOptions o;
  o.warmup = 1;
  o.min_runs = 5;
  o.max_runs = 20;
  o.budget_s = 0.2;
  return o;
}

TEST(CalibrateTest, EnumeratesSmallSpacesCompletely) {
  std::unique_ptr<space::SearchSpace> space = Nb201();
  CalibrateOptions o;
  int seen = 0;
  std::vector<hardware::LutOp> ops = CollectSpaceOps(*space, o, &seen);
  EXPECT_EQ(seen, 15625);  // Every NAS-Bench-201 cell.
  // Every architecture's keys are among the collected ones.
  std::set<std::string> keys;
  for (const hardware::LutOp& op : ops) EXPECT_TRUE(keys.insert(op.key).second) << op.key;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<std::vector<int>> tokens = RandomTokens(*space, rng);
    ASSERT_TRUE(tokens.ok());
    for (const hardware::LutOp& op : hardware::CollectLutOps(*space->Lower(*tokens))) {
      EXPECT_TRUE(keys.count(op.key)) << op.key;
    }
  }
}

TEST(CalibrateTest, TableCoversTheSpaceAndPredictsNetworks) {
  std::unique_ptr<space::SearchSpace> space = Nb201();
  CalibrateOptions o;
  o.latency = Quick();
  o.profile_archs = 10;
  o.profile_runs = 3;
  int progress_calls = 0;
  o.progress = [&](int, int, const std::string&) { ++progress_calls; };
  absl::StatusOr<hardware::LatencyLut> lut = CalibrateLut(*space, o);
  ASSERT_TRUE(lut.ok()) << lut.status();
  EXPECT_GT(lut->entries.size(), 10u);
  EXPECT_GT(progress_calls, 0);
  EXPECT_EQ(lut->threads, 1);
  EXPECT_GT(lut->base_ms, 0);
  // Fitted on the 10 profiled networks measured whole: near 1, never wild.
  EXPECT_GT(lut->scale, 0.5);
  EXPECT_LT(lut->scale, 2.0);
  for (const auto& [key, e] : lut->entries) {
    EXPECT_GE(e.median_ms, 0) << key;
    EXPECT_GT(e.runs, 0) << key;
  }
  // The table round-trips through its JSON format and predicts any network.
  absl::StatusOr<hardware::LatencyLut> back =
      hardware::LutFromJson(hardware::LutToJson(*lut), "<test>");
  ASSERT_TRUE(back.ok()) << back.status();
  absl::StatusOr<LutCheck> check = CheckLut(*space, *back, 4, 11, Quick());
  ASSERT_TRUE(check.ok()) << check.status();
  ASSERT_EQ(check->samples.size(), 4u);
  for (const LutCheck::Sample& s : check->samples) {
    EXPECT_GT(s.predicted_ms, 0) << s.arch;
    EXPECT_GT(s.measured_ms, 0) << s.arch;
  }
  EXPECT_GE(check->within_20pct, check->within_10pct);
}

TEST(CalibrateTest, OpsTimedAloneGiveTheSameKeys) {
  std::unique_ptr<space::SearchSpace> space = Nb201();
  CalibrateOptions in_context, alone;
  in_context.latency = alone.latency = Quick();
  in_context.profile_archs = 5;
  in_context.profile_runs = 2;
  alone.profile_archs = 0;  // Nothing profiled, so nothing to fit the scale on.
  absl::StatusOr<hardware::LatencyLut> a = CalibrateLut(*space, in_context);
  absl::StatusOr<hardware::LatencyLut> b = CalibrateLut(*space, alone);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->entries.size(), b->entries.size());
  for (const auto& [key, e] : a->entries) EXPECT_TRUE(b->entries.count(key)) << key;
  EXPECT_EQ(b->scale, 1);
  absl::StatusOr<double> ms = hardware::PredictLatencyMs(*space->Lower({3, 3, 3, 3, 3, 3}), *b);
  ASSERT_TRUE(ms.ok()) << ms.status();
  EXPECT_GT(*ms, 0);
}

TEST(CalibrateTest, OpProfileAddsUp) {
  std::unique_ptr<space::SearchSpace> space = Nb201();
  absl::StatusOr<space::NetworkPlan> plan = space->Lower({3, 3, 1, 3, 2, 4});
  ASSERT_TRUE(plan.ok());
  absl::StatusOr<OpProfile> p = ProfileOps(*plan, 2, 9, 1);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->op_ms.size(), plan->ops.size());
  EXPECT_EQ(p->op_ms[0], 0);
  const double sum = std::accumulate(p->op_ms.begin(), p->op_ms.end(), 0.0);
  EXPECT_GT(sum, 0);
  // Medians of parts need not add up exactly, but they are of the same size.
  EXPECT_LT(sum, 3 * p->total_ms);
  EXPECT_GE(p->overhead_ms, 0);
}

TEST(CalibrateTest, SpearmanCorrelation) {
  EXPECT_DOUBLE_EQ(SpearmanCorrelation({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(SpearmanCorrelation({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  EXPECT_NEAR(SpearmanCorrelation({1, 2, 2, 3}, {1, 3, 2, 4}), 0.9487, 1e-3);  // Ties averaged.
}

}  // namespace
}  // namespace hwnas::worker

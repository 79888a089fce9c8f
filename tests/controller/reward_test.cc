#include "controller/reward.h"

#include <cmath>

#include "controller/pareto.h"
#include "gtest/gtest.h"

namespace hwnas::controller {
namespace {

TrialResult Result(double accuracy, double latency_ms, int64_t flash = 0) {
  TrialResult r;
  r.accuracy = accuracy;
  r.latency = LatencyMeasurement{latency_ms, latency_ms, 10, 1, "cpu"};
  r.costs.flash_bytes = flash;
  return r;
}

RewardFunction Make(RewardOptions o) {
  absl::StatusOr<RewardFunction> f = RewardFunction::Create(std::move(o));
  EXPECT_TRUE(f.ok()) << f.status();
  return *std::move(f);
}

TEST(RewardTest, MnasNetSoftConstraintWorkedExamples) {
  RewardFunction f = Make(RewardOptions().add_constraint(Constraint::Soft("latency_ms", 80)));
  // MnasNet paper example: latency 2x over the target costs 2^-0.07 (about 4.7%).
  EXPECT_NEAR(*f.Reward(Result(0.75, 160)), 0.75 * 0.952638, 1e-6);
  // Under the target the soft constraint rewards lower latency too: (40/80)^-0.07.
  EXPECT_NEAR(*f.Reward(Result(0.75, 40)), 0.75 * 1.049717, 1e-6);
  EXPECT_DOUBLE_EQ(*f.Reward(Result(0.75, 80)), 0.75);
}

TEST(RewardTest, MnasNetHardConstraintWorkedExamples) {
  RewardFunction f = Make(RewardOptions().add_constraint(Constraint::Hard("latency_ms", 80)));
  EXPECT_DOUBLE_EQ(*f.Reward(Result(0.75, 40)), 0.75);    // alpha = 0: no bonus.
  EXPECT_DOUBLE_EQ(*f.Reward(Result(0.75, 160)), 0.375);  // beta = -1: (160/80)^-1.
  EXPECT_DOUBLE_EQ(*f.Reward(Result(0.90, 120)), 0.90 / 1.5);
}

TEST(RewardTest, ProductOverSeveralMetrics) {
  RewardOptions o;
  o.add_constraint(Constraint::Hard("latency_ms", 10));
  Constraint flash = Constraint::Soft("flash_bytes", 1000);
  flash.beta = -0.5;
  o.add_constraint(flash);
  RewardFunction f = Make(o);
  // 0.8 * (20/10)^-1 * (4000/1000)^-0.5 = 0.8 * 0.5 * 0.5.
  EXPECT_NEAR(*f.Reward(Result(0.8, 20, 4000)), 0.2, 1e-12);
}

TEST(RewardTest, PenaltyFormWorkedExamples) {
  RewardOptions o;
  o.set_form(RewardForm::kPenalty).add_constraint(Constraint::Penalty("latency_ms", 10, 1.0));
  o.add_constraint(Constraint::Penalty("flash_bytes", 100, 0.5));
  RewardFunction f = Make(o);
  EXPECT_DOUBLE_EQ(*f.Reward(Result(0.9, 8, 50)), 0.9);  // Within both targets: no penalty.
  // 0.9 - 1.0 * (12 - 10) / 10 - 0.5 * (300 - 100) / 100 = 0.9 - 0.2 - 1.0.
  EXPECT_NEAR(*f.Reward(Result(0.9, 12, 300)), -0.3, 1e-12);
}

TEST(RewardTest, EstimateMetricsAndMissingMetrics) {
  RewardFunction f =
      Make(RewardOptions().add_constraint(Constraint::Hard("latency_ms@cortex-m7", 50)));
  TrialResult r = Result(0.6, 1);
  r.estimates["latency_ms@cortex-m7"] = 100;
  EXPECT_DOUBLE_EQ(*f.Reward(r), 0.3);
  absl::StatusOr<double> missing = f.Reward(Result(0.6, 1));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("latency_ms@cortex-m7"), std::string::npos);
}

TEST(RewardTest, BalancedAccuracyOrMacroF1CanPlayAccuracy) {
  RewardOptions options = RewardOptions().add_constraint(Constraint::Hard("latency_ms", 50));
  options.accuracy_metric = "balanced_accuracy";
  RewardFunction f = Make(options);
  TrialResult r = Result(0.9, 100);
  r.balanced_accuracy = 0.6;
  EXPECT_DOUBLE_EQ(*f.Reward(r), 0.3);
  // A result without the score (a table lookup) cannot be rewarded on it.
  absl::StatusOr<double> missing = f.Reward(Result(0.9, 100));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("objectives.accuracy"), std::string::npos);
  options.accuracy_metric = "macro_f1";
  r.macro_f1 = 0.5;
  EXPECT_DOUBLE_EQ(*Make(options).Reward(r), 0.25);
}

TEST(RewardTest, HardLimits) {
  RewardFunction f = Make(RewardOptions().add_hard_limit({"flash_bytes", 1000}));
  EXPECT_FALSE(f.HardLimitViolation(Result(0.9, 1, 1000)).has_value());
  std::optional<std::string> over = f.HardLimitViolation(Result(0.9, 1, 1001));
  ASSERT_TRUE(over.has_value());
  EXPECT_NE(over->find("flash_bytes"), std::string::npos);
  // Metrics a result does not carry yet are not checked.
  RewardFunction lat = Make(RewardOptions().add_hard_limit({"latency_ms", 5}));
  TrialResult no_latency;
  EXPECT_FALSE(lat.HardLimitViolation(no_latency).has_value());
}

absl::Status ParseError(absl::string_view yaml) {
  absl::StatusOr<YamlSection> doc = YamlSection::Parse(yaml);
  EXPECT_TRUE(doc.ok()) << doc.status();
  absl::StatusOr<YamlSection> objectives = doc->Child("objectives");
  if (!objectives.ok()) return objectives.status();
  return ParseRewardOptions(*objectives).status();
}

TEST(RewardTest, ParsesObjectives) {
  absl::StatusOr<YamlSection> doc = YamlSection::Parse(R"(
objectives:
  reward: mnasnet
  constraints:
    - {metric: latency_ms, target: 20, type: hard}
    - {metric: flash_bytes, target: 1e6, alpha: -0.1, beta: -0.5}
  hard_limits:
    - {metric: peak_memory_bytes, max: 524288}
  pareto_metrics: [latency_ms, flash_bytes]
)");
  ASSERT_TRUE(doc.ok());
  absl::StatusOr<RewardOptions> o = ParseRewardOptions(*doc->Child("objectives"));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->form, RewardForm::kMnasNet);
  ASSERT_EQ(o->constraints.size(), 2u);
  EXPECT_EQ(o->constraints[0].alpha, 0);
  EXPECT_EQ(o->constraints[0].beta, -1);
  EXPECT_EQ(o->constraints[1].target, 1e6);
  EXPECT_EQ(o->constraints[1].alpha, -0.1);
  ASSERT_EQ(o->hard_limits.size(), 1u);
  EXPECT_EQ(o->hard_limits[0].max, 524288);
  EXPECT_EQ(o->EffectiveParetoMetrics(), (std::vector<std::string>{"latency_ms", "flash_bytes"}));
}

TEST(RewardTest, BadObjectivesGiveClearErrors) {
  absl::Status s = ParseError("objectives: {constraints: [{metric: latncy, target: 5}]}");
  EXPECT_EQ(s.message(),
            "objectives.constraints[0].metric: unknown metric 'latncy' (expected "
            "latency_ms, latency_p90_ms, params, macs, peak_memory_bytes, "
            "flash_bytes, loss, train_seconds or an estimate such as "
            "latency_ms@cortex-m7)");
  s = ParseError("objectives: {constraints: [{metric: latency_ms, target: -5}]}");
  EXPECT_EQ(s.message(), "objectives.constraints[0].target: must be a positive number, got -5");
  s = ParseError("objectives: {constraints: [{metric: latency_ms}]}");
  EXPECT_EQ(s.message(), "objectives.constraints[0].target: is required");
  s = ParseError("objectives: {constraints: [{metric: latency_ms, target: 5, type: firm}]}");
  EXPECT_NE(s.message().find("objectives.constraints[0].type: unknown value 'firm'"),
            std::string::npos)
      << s;
  s = ParseError("objectives: {constraints: [{metric: latency_ms, target: 5, beta: 0.3}]}");
  EXPECT_NE(s.message().find("objectives.constraints[0].beta: must be between"), std::string::npos)
      << s;
  s = ParseError("objectives: {reward: product}");
  EXPECT_NE(s.message().find("objectives.reward: unknown value 'product'"), std::string::npos) << s;
  s = ParseError("objectives: {hard_limits: [{metric: flash_bytes, max: 0}]}");
  EXPECT_EQ(s.message(), "objectives.hard_limits[0].max: must be a positive number, got 0");
  s = ParseError("objectives: {constraint: []}");
  EXPECT_NE(s.message().find("objectives.constraint: unknown key"), std::string::npos) << s;
  s = ParseError("objectives: {pareto_metrics: [accuracy]}");
  EXPECT_NE(s.message().find("objectives.pareto_metrics[0]"), std::string::npos) << s;
}

TEST(ParetoTest, KeepsNonDominatedPoints) {
  ParetoFront front({"latency_ms"});
  auto add = [&](uint64_t id, double acc, double lat) {
    return front.Add(ParetoPoint{id, {}, acc, {lat}});
  };
  EXPECT_TRUE(add(1, 0.90, 10));
  EXPECT_TRUE(add(2, 0.80, 5));
  EXPECT_FALSE(add(3, 0.85, 12));  // Dominated by 1.
  EXPECT_FALSE(add(4, 0.90, 10));  // Equal to 1.
  EXPECT_TRUE(add(5, 0.95, 9));    // Dominates 1.
  ASSERT_EQ(front.points().size(), 2u);
  EXPECT_EQ(front.points()[0].trial_id, 5u);
  EXPECT_EQ(front.points()[1].trial_id, 2u);
}

TEST(ParetoTest, HypervolumeWorkedExamples) {
  ParetoFront front({"latency_ms"});
  front.Add(ParetoPoint{1, {}, 0.9, {10}});
  front.Add(ParetoPoint{2, {}, 0.8, {5}});
  // Reference (accuracy 0.5, latency 20): rectangles 0.4 x 10 plus 0.3 x 5.
  EXPECT_NEAR(front.Hypervolume(0.5, {20.0}), 0.4 * 10 + 0.3 * 5, 1e-12);
  // A point outside the reference box adds nothing.
  EXPECT_NEAR(front.Hypervolume(0.85, {20.0}), 0.05 * 10, 1e-12);
  // 3-D: two boxes [0,2]x[0,1]x[0,1] and [0,1]x[0,2]x[0,1] overlap in a unit cube.
  EXPECT_NEAR(HypervolumeMin({{0, 1, 1}, {1, 0, 1}}, std::vector<double>{2, 2, 2}), 3.0, 1e-12);
  EXPECT_NEAR(HypervolumeMin({{0, 0, 0}}, std::vector<double>{1, 2, 3}), 6.0, 1e-12);
}

TEST(ParetoTest, AddResultNeedsItsMetrics) {
  ParetoFront front({"latency_ms", "flash_bytes"});
  EXPECT_TRUE(*front.AddResult(1, {}, Result(0.9, 3, 100)));
  TrialResult no_latency;
  EXPECT_FALSE(front.AddResult(2, {}, no_latency).ok());
}

}  // namespace
}  // namespace hwnas::controller

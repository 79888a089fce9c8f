#include "common/trial.h"

#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwnas {
namespace {

TEST(TrialStateTest, NamesRoundTrip) {
  for (TrialState s : {TrialState::kPending, TrialState::kLeased, TrialState::kRunning,
                       TrialState::kSucceeded, TrialState::kFailed, TrialState::kInfeasible,
                       TrialState::kEarlyStopped, TrialState::kCancelled}) {
    absl::StatusOr<TrialState> parsed = ParseTrialState(TrialStateName(s));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_FALSE(ParseTrialState("DONE").ok());
  EXPECT_TRUE(IsTerminal(TrialState::kInfeasible));
  EXPECT_FALSE(IsTerminal(TrialState::kRunning));
  EXPECT_EQ(*ParseSearchState("CANCELLED"), SearchState::kCancelled);
}

TEST(MetricValueTest, LooksUpEveryKnownMetric) {
  TrialResult r;
  r.accuracy = 0.9;
  r.costs = HardwareCosts{10, 20, 30, 40};
  r.estimates["latency_ms@cortex-m7"] = 5;
  EXPECT_EQ(MetricValue(r, "latency_ms"), std::nullopt);  // Not measured.
  r.latency = LatencyMeasurement{1.5, 2.5, 10, 1, "cpu"};
  EXPECT_EQ(MetricValue(r, "accuracy"), 0.9);
  EXPECT_EQ(MetricValue(r, "latency_ms"), 1.5);
  EXPECT_EQ(MetricValue(r, "latency_p90_ms"), 2.5);
  EXPECT_EQ(MetricValue(r, "params"), 10);
  EXPECT_EQ(MetricValue(r, "macs"), 20);
  EXPECT_EQ(MetricValue(r, "peak_memory_bytes"), 30);
  EXPECT_EQ(MetricValue(r, "flash_bytes"), 40);
  EXPECT_EQ(MetricValue(r, "latency_ms@cortex-m7"), 5);
  EXPECT_EQ(MetricValue(r, "latency_ms@cortex-m4"), std::nullopt);
  // Costs of 0 were not computed (a table trial, a trial that failed first).
  r.costs = HardwareCosts{};
  for (const char* cost : {"params", "macs", "peak_memory_bytes", "flash_bytes"}) {
    EXPECT_EQ(MetricValue(r, cost), std::nullopt) << cost;
  }
  EXPECT_TRUE(IsKnownMetricName("energy_mj@cortex-m4"));
  EXPECT_FALSE(IsKnownMetricName("latncy_ms"));
  EXPECT_FALSE(IsKnownMetricName("@x"));
}

TEST(ValidateTrialResultTest, RejectsNonFiniteAndOutOfRangeValues) {
  TrialResult r;
  r.accuracy = 0.5;
  EXPECT_TRUE(ValidateTrialResult(r).ok());
  r.accuracy = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THAT(std::string(ValidateTrialResult(r).message()), ::testing::HasSubstr("accuracy"));
  r.accuracy = 1.5;
  EXPECT_FALSE(ValidateTrialResult(r).ok());
  r.accuracy = 0.5;
  r.costs.params = -1;
  EXPECT_THAT(std::string(ValidateTrialResult(r).message()), ::testing::HasSubstr("params"));
  r.costs.params = 0;
  r.estimates["latency_ms@m4"] = std::numeric_limits<double>::infinity();
  EXPECT_THAT(std::string(ValidateTrialResult(r).message()),
              ::testing::HasSubstr("estimates[latency_ms@m4]"));
  r.estimates.clear();
  r.fold_accuracy = {0.5, 1.25};
  EXPECT_THAT(std::string(ValidateTrialResult(r).message()),
              ::testing::HasSubstr("fold_accuracy[1] = 1.25 is outside [0, 1]"));
  r.fold_accuracy = std::vector<double>(kMaxFolds + 1, 0.5);
  EXPECT_THAT(std::string(ValidateTrialResult(r).message()), ::testing::HasSubstr("at most 100"));
  r.fold_accuracy = {0.5, 0.5};
  r.accuracy_se = -0.1;
  EXPECT_THAT(std::string(ValidateTrialResult(r).message()), ::testing::HasSubstr("accuracy_se"));
  r.accuracy_se = 0;
  r.balanced_accuracy = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THAT(std::string(ValidateTrialResult(r).message()),
              ::testing::HasSubstr("balanced_accuracy"));
  r.balanced_accuracy = 0.5;
  r.macro_f1 = -0.5;
  EXPECT_THAT(std::string(ValidateTrialResult(r).message()), ::testing::HasSubstr("macro_f1"));
  r.macro_f1 = 0.25;
  EXPECT_TRUE(ValidateTrialResult(r).ok());
}

TEST(MetricValueTest, CrossValidationAndImbalanceScores) {
  TrialResult r;
  r.accuracy = 0.8;
  EXPECT_FALSE(MetricValue(r, "balanced_accuracy").has_value());
  EXPECT_FALSE(MetricValue(r, "accuracy_se").has_value());  // Not cross-validated.
  r.fold_accuracy = {0.75, 0.85};
  r.accuracy_se = 0.05;
  r.balanced_accuracy = 0.7;
  r.macro_f1 = 0.65;
  EXPECT_EQ(MetricValue(r, "accuracy_se"), 0.05);
  EXPECT_EQ(MetricValue(r, "balanced_accuracy"), 0.7);
  EXPECT_EQ(MetricValue(r, "macro_f1"), 0.65);
  for (const char* name : {"balanced_accuracy", "macro_f1", "accuracy_se"}) {
    EXPECT_TRUE(IsKnownMetricName(name)) << name;
  }
}

}  // namespace
}  // namespace hwnas

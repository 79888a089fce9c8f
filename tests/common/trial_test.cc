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
}

}  // namespace
}  // namespace hwnas

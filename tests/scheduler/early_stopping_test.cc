#include "scheduler/early_stopping.h"

#include "gtest/gtest.h"

namespace hwnas::scheduler {
namespace {

std::vector<Curve> Finished() {
  // Running averages at epoch 2: 0.55, 0.65, 0.75, 0.85, 0.95 -> median 0.75.
  return {{{1, 0.5}, {2, 0.6}},
          {{1, 0.6}, {2, 0.7}},
          {{1, 0.7}, {2, 0.8}},
          {{1, 0.8}, {2, 0.9}},
          {{1, 0.9}, {2, 1.0}}};
}

TEST(MedianStoppingTest, StopsTrialsBelowTheMedian) {
  MedianStoppingOptions o{.enabled = true, .min_trials = 5, .grace_epochs = 1};
  EXPECT_TRUE(ShouldStopEarly(o, {{1, 0.5}, {2, 0.7}}, Finished()));
  EXPECT_FALSE(ShouldStopEarly(o, {{1, 0.5}, {2, 0.8}}, Finished()));
  // Best value so far counts, not the last one.
  EXPECT_FALSE(ShouldStopEarly(o, {{1, 0.76}, {2, 0.1}}, Finished()));
}

TEST(MedianStoppingTest, RespectsSwitchGraceAndMinimumTrials) {
  MedianStoppingOptions o{.enabled = false, .min_trials = 5, .grace_epochs = 1};
  EXPECT_FALSE(ShouldStopEarly(o, {{1, 0.0}, {2, 0.0}}, Finished()));
  o.enabled = true;
  o.grace_epochs = 3;
  EXPECT_FALSE(ShouldStopEarly(o, {{1, 0.0}, {2, 0.0}}, Finished()));
  o.grace_epochs = 1;
  o.min_trials = 6;
  EXPECT_FALSE(ShouldStopEarly(o, {{1, 0.0}, {2, 0.0}}, Finished()));
  EXPECT_FALSE(ShouldStopEarly(o, {}, Finished()));
}

}  // namespace
}  // namespace hwnas::scheduler

#include "scheduler/screen.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace hwnas::scheduler {
namespace {

TEST(ScreenRuleTest, EveryCandidatePassesUntilMinScreened) {
  ScreenRule rule(0.25, 4);
  for (int64_t t = 1; t <= 3; ++t) {
    const ScreenDecision d = rule.Decide(t, -static_cast<double>(t));  // Worse each time.
    EXPECT_TRUE(d.pass) << t;
    EXPECT_EQ(d.screened, t);
    EXPECT_TRUE(std::isinf(d.threshold));
  }
}

TEST(ScreenRuleTest, KeepsTheTopFractionOfEveryScoreSoFar) {
  ScreenRule rule(0.25, 4);
  rule.Decide(1, 10);
  rule.Decide(2, 20);
  rule.Decide(3, 30);
  // n = 4, k = 1: only a new best passes.
  ScreenDecision d = rule.Decide(4, 25);
  EXPECT_FALSE(d.pass);
  EXPECT_EQ(d.kept, 1);
  EXPECT_EQ(d.screened, 4);
  EXPECT_DOUBLE_EQ(d.threshold, 30);
  d = rule.Decide(5, 40);  // n = 5, k = ceil(1.25) = 2: 40 is the best.
  EXPECT_TRUE(d.pass);
  EXPECT_EQ(d.kept, 2);
  EXPECT_DOUBLE_EQ(d.threshold, 30);
  // n = 8, k = 2 (0.25 * 8 is exactly 2, not 3): 30 is second best.
  rule.Decide(6, 1);
  rule.Decide(7, 2);
  d = rule.Decide(8, 30.5);
  EXPECT_EQ(d.kept, 2);
  EXPECT_TRUE(d.pass);  // 40, 30.5 are the top 2.
  EXPECT_DOUBLE_EQ(d.threshold, 30.5);
  // A later score below it is out, with the numbers.
  d = rule.Decide(9, 29);
  EXPECT_FALSE(d.pass);
  EXPECT_EQ(d.kept, 3);  // ceil(2.25)
  EXPECT_DOUBLE_EQ(d.threshold, 30);
  EXPECT_EQ(ScreenedOutReason("synflow", 29, d, 0.25),
            "screened_out: synflow score 29 below the threshold 30 (top 3 of 9 screened, keep "
            "0.25)");
}

TEST(ScreenRuleTest, KeepOnePassesEverything) {
  ScreenRule rule(1.0, 1);
  for (int64_t t = 1; t <= 10; ++t) EXPECT_TRUE(rule.Decide(t, -t).pass) << t;
}

TEST(ScreenRuleTest, TiesWithTheThresholdPass) {
  ScreenRule rule(0.5, 2);
  rule.Decide(1, 5);
  EXPECT_TRUE(rule.Decide(2, 5).pass);
  EXPECT_TRUE(rule.Decide(3, 5).pass);
  EXPECT_FALSE(rule.Decide(4, 4).pass);
}

TEST(ScreenRuleTest, NotFiniteScoresNeverPassAfterMinScreened) {
  ScreenRule rule(1.0, 2);
  rule.Decide(1, 1);
  EXPECT_FALSE(rule.Decide(2, std::numeric_limits<double>::quiet_NaN()).pass);
  EXPECT_FALSE(rule.Decide(3, std::numeric_limits<double>::infinity()).pass);
}

TEST(ScreenRuleTest, RestoredScoresCountAndARepeatReplaces) {
  ScreenRule rule(0.5, 2);
  rule.Restore(1, 100);
  rule.Restore(2, 90);
  EXPECT_EQ(rule.screened(), 2);
  EXPECT_FALSE(rule.Decide(3, 50).pass);  // top ceil(1.5) = 2 of {100, 90, 50}
  EXPECT_TRUE(rule.Decide(3, 95).pass);   // Trial 3 again: replaced, not added.
  EXPECT_EQ(rule.screened(), 3);
}

}  // namespace
}  // namespace hwnas::scheduler

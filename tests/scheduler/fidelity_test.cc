#include "scheduler/fidelity.h"

#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwnas::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

FidelityOptions Asha(int min, int max, int eta) {
  return {.kind = FidelityKind::kAsha, .min = min, .max = max, .eta = eta};
}

TEST(RungEpochsTest, GeometricUpToMaxAndTheTopRungIsMax) {
  EXPECT_THAT(RungEpochs(Asha(1, 9, 3)), ElementsAre(1, 3, 9));
  EXPECT_THAT(RungEpochs(Asha(1, 10, 3)), ElementsAre(1, 3, 9, 10));
  EXPECT_THAT(RungEpochs(Asha(2, 9, 2)), ElementsAre(2, 4, 8, 9));
  EXPECT_THAT(RungEpochs(Asha(3, 3, 3)), ElementsAre(3));
  // Off: one rung of max epochs.
  EXPECT_THAT(RungEpochs(FidelityOptions{.max = 5}), ElementsAre(5));
  // No overflow on a large eta.
  EXPECT_THAT(RungEpochs(Asha(1, 100000, 1000)), ElementsAre(1, 1000, 100000));
}

TEST(BracketTest, AshaHasOneBracket) {
  for (int64_t i = 0; i < 20; ++i) EXPECT_EQ(BracketForTrial(Asha(1, 9, 3), i), 0);
  EXPECT_EQ(BracketCount(Asha(1, 9, 3)), 1);
}

TEST(BracketTest, HyperbandSharesFollowLiEtAlAndInterleave) {
  FidelityOptions o = Asha(1, 9, 3);
  o.kind = FidelityKind::kHyperband;
  ASSERT_EQ(BracketCount(o), 3);
  // s_max = 2: n = ceil(3/3 * 9) = 9, ceil(3/2 * 3) = 5, ceil(3/1 * 1) = 3.
  std::map<int, int> count;
  for (int64_t i = 0; i < 17; ++i) count[BracketForTrial(o, i)]++;
  EXPECT_EQ(count, (std::map<int, int>{{0, 9}, {1, 5}, {2, 3}}));
  // Every bracket starts within the first few trials, and the next period
  // repeats the first.
  std::map<int, int> first;
  for (int64_t i = 0; i < 17; ++i) first.emplace(BracketForTrial(o, i), static_cast<int>(i));
  EXPECT_LE(first[2], 6);
  for (int64_t i = 0; i < 17; ++i) EXPECT_EQ(BracketForTrial(o, i), BracketForTrial(o, i + 17));
  o.brackets = 2;
  count.clear();
  for (int64_t i = 0; i < 14; ++i) count[BracketForTrial(o, i)]++;
  EXPECT_EQ(count, (std::map<int, int>{{0, 9}, {1, 5}}));
}

TEST(PromotionLadderTest, PromotesTheTopThirdAsResultsArriveWithoutWaitingForARung) {
  PromotionLadder ladder(Asha(1, 9, 3));
  ladder.Record(1, 0, 0, 0.50);
  ladder.Record(2, 0, 0, 0.70);
  // Two results: floor(2/3) = 0, nobody yet.
  EXPECT_THAT(ladder.TakePromotions(), IsEmpty());
  ladder.Record(3, 0, 0, 0.60);
  // Three results: the best one goes on to rung 1 (3 epochs).
  EXPECT_THAT(ladder.TakePromotions(), ElementsAre(Promotion{2, 1, 3}));
  // Asked again: nothing new (each trial is promoted once per rung).
  EXPECT_THAT(ladder.TakePromotions(), IsEmpty());
  ladder.Record(4, 0, 0, 0.10);
  ladder.Record(5, 0, 0, 0.20);
  EXPECT_THAT(ladder.TakePromotions(), IsEmpty());
  // Six results: the second best (trial 3) now qualifies, although it was
  // not in the top when its own result came.
  ladder.Record(6, 0, 0, 0.05);
  EXPECT_THAT(ladder.TakePromotions(), ElementsAre(Promotion{3, 1, 3}));
  EXPECT_EQ(ladder.PromotedFrom(0), 2);
  EXPECT_EQ(ladder.ResultsOn(0), 6);
  EXPECT_EQ(ladder.HighestRung(2), 0);
  ladder.Record(2, 0, 1, 0.80);
  EXPECT_EQ(ladder.HighestRung(2), 1);
  EXPECT_EQ(ladder.HighestRung(99), std::nullopt);
}

TEST(PromotionLadderTest, TopRungIsNeverPromotedAndTiesGoToTheEarlierTrial) {
  PromotionLadder ladder(Asha(1, 3, 3));
  ASSERT_EQ(ladder.top_rung(), 1);
  for (int64_t t = 1; t <= 3; ++t) ladder.Record(t, 0, 1, 0.5);
  for (int64_t t = 4; t <= 6; ++t) ladder.Record(t, 0, 0, 0.5);
  EXPECT_THAT(ladder.TakePromotions(), ElementsAre(Promotion{4, 1, 3}));
}

TEST(PromotionLadderTest, BracketsAreRankedSeparatelyAndRestoredPromotionsStay) {
  FidelityOptions o = Asha(1, 9, 3);
  o.kind = FidelityKind::kHyperband;
  PromotionLadder ladder(o);
  // Bracket 1 starts on rung 1; its results are not compared with bracket 0's.
  ladder.Record(1, 0, 1, 0.9);  // Promoted from rung 0 before, in bracket 0.
  for (int64_t t = 10; t < 13; ++t) ladder.Record(t, 1, 1, 0.1 * (t - 9));
  EXPECT_THAT(ladder.TakePromotions(), ElementsAre(Promotion{12, 2, 9}));
  // A ladder rebuilt from stored results knows what was promoted already.
  PromotionLadder restored(Asha(1, 9, 3));
  for (int64_t t = 1; t <= 3; ++t) restored.Record(t, 0, 0, 0.1 * t);
  restored.MarkPromoted(3, 0);
  EXPECT_THAT(restored.TakePromotions(), IsEmpty());
}

}  // namespace
}  // namespace hwnas::scheduler

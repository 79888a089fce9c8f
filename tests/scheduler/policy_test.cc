#include "scheduler/policy.h"

#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwnas::scheduler {
namespace {

using ::testing::ElementsAre;

WorkerProfile CpuWorker() {
  WorkerProfile w;
  w.datasets = {"fashion-mnist"};
  w.search_spaces = {"mnasnet@1", "nb201"};
  w.evaluators = {"train", "table"};
  return w;
}

SearchDemand Demand(int64_t id, std::string owner, double weight, int64_t granted) {
  SearchDemand d;
  d.search_id = id;
  d.owner = std::move(owner);
  d.weight = weight;
  d.pending = 10;
  d.granted = granted;
  d.requirements = {"nb201", "table", "", "", false};
  return d;
}

TEST(CanRunTest, MatchesEveryCapability) {
  WorkerProfile w = CpuWorker();
  std::string why;
  EXPECT_TRUE(CanRun(w, {"mnasnet", "train", "fashion-mnist", "", false}, &why));
  EXPECT_FALSE(CanRun(w, {"temporal", "train", "", "", false}, &why));
  EXPECT_THAT(why, ::testing::HasSubstr("search space 'temporal'"));
  EXPECT_FALSE(CanRun(w, {"mnasnet", "train", "ecg5000", "", false}, &why));
  EXPECT_THAT(why, ::testing::HasSubstr("data set 'ecg5000'"));
  EXPECT_FALSE(CanRun(w, {"mnasnet", "train", "", "pixel3", false}, &why));
  EXPECT_THAT(why, ::testing::HasSubstr("device 'pixel3'"));
  EXPECT_FALSE(CanRun(w, {"mnasnet", "train", "", "", true}, &why));
  w.device_tag = "pixel3";
  w.gpu = true;
  EXPECT_TRUE(CanRun(w, {"mnasnet", "train", "", "pixel3", true}, &why));
  EXPECT_FALSE(CanRun(w, {"mnasnet", "simulate", "", "", false}, &why));
}

TEST(CanRunTest, MeasuringSearchesNeedAWorkerThatMeasuresEveryCpu) {
  WorkerProfile w = CpuWorker();
  Requirements req{"mnasnet", "train", "fashion-mnist", "", false};
  req.measure_mcus = {"cortex-m7"};
  std::string why;
  EXPECT_FALSE(CanRun(w, req, &why));
  EXPECT_THAT(why, ::testing::HasSubstr("measures firmware on cortex-m7"));
  EXPECT_THAT(why, ::testing::HasSubstr("--measure-mcu cortex-m7"));
  w.measure_mcus = {"cortex-m4"};
  EXPECT_FALSE(CanRun(w, req, &why));
  w.measure_mcus = {"cortex-m4", "cortex-m7"};
  EXPECT_TRUE(CanRun(w, req, &why));
  req.measure_mcus = {"cortex-m7", "cortex-m4"};
  EXPECT_TRUE(CanRun(w, req, &why));
  // A measuring worker still runs searches that measure nothing.
  EXPECT_TRUE(CanRun(w, {"mnasnet", "train", "fashion-mnist", "", false}, &why));
}

TEST(RankSearchesTest, OrdersByGrantsPerWeight) {
  std::vector<SearchDemand> s = {Demand(1, "a", 1, 10), Demand(2, "b", 3, 15),
                                 Demand(3, "c", 1, 4)};
  // Shares: 10, 5, 4.
  EXPECT_THAT(RankSearches(CpuWorker(), s, {}), ElementsAre(3, 2, 1));
}

TEST(RankSearchesTest, SkipsSearchesWithoutWorkOrOverTheOwnerLimit) {
  std::vector<SearchDemand> s = {Demand(1, "a", 1, 0), Demand(2, "a", 1, 0), Demand(3, "b", 1, 5)};
  s[0].pending = 0;
  s[1].running = 2;
  EXPECT_THAT(RankSearches(CpuWorker(), s, {}), ElementsAre(2, 3));
  EXPECT_THAT(RankSearches(CpuWorker(), s, {.max_running_per_owner = 2}), ElementsAre(3));
  s[2].requirements.space = "eegnet";
  EXPECT_THAT(RankSearches(CpuWorker(), s, {.max_running_per_owner = 2}), ElementsAre());
}

TEST(RankSearchesTest, WeightsOneAndThreeShareTheFleetOneToThree) {
  // Simulate a fleet taking 400 trials one at a time from two searches.
  std::vector<SearchDemand> s = {Demand(1, "a", 1, 0), Demand(2, "b", 3, 0)};
  std::map<int64_t, int> taken;
  for (int i = 0; i < 400; ++i) {
    std::vector<int64_t> order = RankSearches(CpuWorker(), s, {});
    ASSERT_FALSE(order.empty());
    ++taken[order[0]];
    for (SearchDemand& d : s) {
      if (d.search_id == order[0]) ++d.granted;
    }
  }
  EXPECT_EQ(taken[1], 100);
  EXPECT_EQ(taken[2], 300);
}

TEST(RankSearchesTest, ALateSearchJoinsAtTheOthersLevelAndShares) {
  // One worker; search 1 ran alone for 300 trials, then search 2 joins at
  // its level: the two alternate instead of search 2 taking the next 300.
  std::vector<SearchDemand> s = {Demand(1, "a", 1, 300)};
  SearchDemand late = Demand(2, "b", 1, 0);
  late.granted = GrantsOnJoin(late.weight, 0, s);
  EXPECT_EQ(late.granted, 300);
  s.push_back(late);
  std::map<int64_t, int> taken;
  for (int i = 0; i < 100; ++i) {
    std::vector<int64_t> order = RankSearches(CpuWorker(), s, {});
    ASSERT_FALSE(order.empty());
    ++taken[order[0]];
    ++s[order[0] - 1].granted;
  }
  EXPECT_EQ(taken[1], 50);
  EXPECT_EQ(taken[2], 50);
}

TEST(RankSearchesTest, ASearchKeepsWhatItIsOwedAfterItsQueueRanDry) {
  // Weights 1 and 3; the heavy search's queue is empty every 10th round
  // (its refill is late), and the light one takes those trials. The heavy
  // one is compensated once it has work again, so the split stays 1:3.
  std::vector<SearchDemand> s = {Demand(1, "a", 1, 0), Demand(2, "b", 3, 0)};
  std::map<int64_t, int> taken;
  for (int i = 0; i < 4000; ++i) {
    s[1].pending = (i % 10 == 0) ? 0 : 10;
    std::vector<int64_t> order = RankSearches(CpuWorker(), s, {});
    ASSERT_FALSE(order.empty());
    ++taken[order[0]];
    ++s[order[0] - 1].granted;
  }
  EXPECT_NEAR(static_cast<double>(taken[2]) / taken[1], 3.0, 0.05);
}

TEST(GrantsOnJoinTest, TheFurthestAheadLevelScaledToTheWeight) {
  std::vector<SearchDemand> s = {Demand(1, "a", 1, 40), Demand(2, "b", 2, 60)};
  EXPECT_EQ(GrantsOnJoin(1, 0, s), 40);  // Levels 40 and 30 per unit of weight.
  EXPECT_EQ(GrantsOnJoin(3, 0, s), 120);
  EXPECT_EQ(GrantsOnJoin(1, 45, s), 45);  // A reloaded search ahead keeps its count.
  EXPECT_EQ(GrantsOnJoin(1, 7, {}), 7);   // Alone.
}

TEST(DesiredQueueDepthTest, CoversIdleWorkersAndRespectsCaps) {
  // 8 workers, none busy: 8 idle + 16 slack.
  EXPECT_EQ(DesiredQueueDepth(8, 0, 0, 1000), 24);
  // Busy workers need no queue beyond the slack.
  EXPECT_EQ(DesiredQueueDepth(8, 8, 0, 1000), 16);
  // Large fleets keep half the fleet as slack.
  EXPECT_EQ(DesiredQueueDepth(64, 64, 0, 1000), 32);
  // A learning strategy is never asked far ahead of its feedback.
  EXPECT_EQ(DesiredQueueDepth(64, 0, 8, 1000), 8);
  EXPECT_EQ(DesiredQueueDepth(64, 6, 8, 1000), 2);
  EXPECT_EQ(DesiredQueueDepth(64, 20, 8, 1000), 1);
  // Never beyond the budget; no workers still keeps some ready.
  EXPECT_EQ(DesiredQueueDepth(8, 0, 0, 3), 3);
  EXPECT_EQ(DesiredQueueDepth(0, 0, 0, 50), 16);
  EXPECT_EQ(DesiredQueueDepth(8, 0, 0, 0), 0);
}

}  // namespace
}  // namespace hwnas::scheduler

// Screening (spec `screen:`) end to end: real PostgreSQL, the real
// hwnas-server and an hwnas-worker process, the synflow proxy on one real
// Fashion-MNIST batch, then real training (with ASHA rungs after the
// screen). Candidates outside the top `keep` of the scores screened so far
// end screened out and are never trained; the others train as the same
// trial, and the search ends after budget.trials trained candidates.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/cluster.h"

namespace hwnas::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// The first two candidates train (min_screened 2); after that only a new
// best score (keep 0.25 of up to 4 screened) or one in the top quarter.
std::string ScreenSpec() {
  return R"(
name: screen-tiny
space:
  name: mnasnet
  blocks: 2
  filters: [8, 16]
  layers: [1, 1]
  strides: [1, 2]
  stem_filters: 8
  head_filters: 0
  dropout: 0
data: {dataset: fashion_mnist, train_subset: 1000, val_subset: 256, test_subset: 256}
training: {optimizer: adam, lr: 0.005, epochs: 3, batch_size: 64, threads: 1}
hardware: {measure_latency: false}
objectives: {pareto_metrics: [params]}
strategy: {name: random, seed: 5}
screen: {proxy: synflow, keep: 0.25, min_screened: 2, batch: 32}
fidelity: {kind: asha, min: 1, max: 3, eta: 3}
budget: {trials: 3}
)";
}

TEST(ScreenE2ETest, ScreenedOutCandidatesAreNeverTrainedAndTheRestTrain) {
  Cluster c;
  c.StartServer(/*lease_ttl_s=*/30);
  c.StartWorker("w1");
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(ScreenSpec());
  ASSERT_OK(s);
  ASSERT_TRUE(Cluster::Eventually(
      [&] { return c.Search(s->id()).state == SearchState::kCompleted; }, absl::Minutes(5)))
      << c.Log("server.log") << c.Log("w1.log");

  const std::vector<TrialRecord> trials = c.Trials(s->id());
  const std::string worker_log = c.Log("w1.log");
  int trained = 0, out = 0;
  for (const TrialRecord& t : trials) {
    SCOPED_TRACE(absl::StrCat("trial ", t.number));
    ASSERT_TRUE(t.screen_score.has_value());  // Every candidate was screened first.
    ASSERT_TRUE(t.result.has_value());
    absl::StatusOr<TrialRecord> full = c.store().GetTrial(s->id(), t.number, true);
    ASSERT_OK(full);
    if (t.screen == ScreenStage::kOut) {
      ++out;
      EXPECT_EQ(t.state, TrialState::kEarlyStopped);
      EXPECT_THAT(t.failure_reason, StartsWith("screened_out: synflow score "));
      EXPECT_THAT(t.failure_reason, HasSubstr("below the threshold"));
      EXPECT_FALSE(t.reward.has_value());
      // Never trained: no epoch, no training lease, no rung.
      EXPECT_EQ(t.result->epochs, 0);
      EXPECT_TRUE(full->epochs.empty());
      EXPECT_THAT(worker_log,
                  ::testing::Not(HasSubstr(absl::StrCat("event=rung_trained search=", s->id(),
                                                        " trial=", t.number, " "))));
    } else {
      ++trained;
      EXPECT_EQ(t.screen, ScreenStage::kPassed);
      EXPECT_EQ(t.state, TrialState::kSucceeded) << t.failure_reason;
      EXPECT_GE(t.result->epochs, 1);
      EXPECT_GT(t.result->accuracy, 0.1);
      EXPECT_TRUE(t.reward.has_value());
      EXPECT_FALSE(full->epochs.empty());
      EXPECT_THAT(worker_log, HasSubstr(absl::StrCat("event=rung_trained search=", s->id(),
                                                     " trial=", t.number, " rung=0 epochs=1")));
    }
  }
  // budget.trials counts the trained candidates only.
  EXPECT_EQ(trained, 3);
  EXPECT_GE(out, 1) << worker_log;
  EXPECT_THAT(worker_log, HasSubstr("event=screen_done state=SUCCEEDED proxy=synflow"));

  // Every decision is in the search's events, in the order of the scores.
  absl::StatusOr<std::vector<db::Event>> events = c.store().ListEvents(s->id(), 0, 1000);
  ASSERT_OK(events);
  int passed_events = 0, out_events = 0;
  for (const db::Event& e : *events) {
    if (e.kind == "screen_passed") ++passed_events;
    if (e.kind == "screened_out") ++out_events;
  }
  EXPECT_EQ(passed_events, trained);
  EXPECT_EQ(out_events, out);
  const SearchRecord done = c.Search(s->id());
  EXPECT_EQ(done.counts.succeeded, 3);
  EXPECT_EQ(done.counts.early_stopped, out);
  EXPECT_EQ(done.counts.screened_out, out);
  EXPECT_EQ(done.counts.finished(), 3);
}

}  // namespace
}  // namespace hwnas::testing

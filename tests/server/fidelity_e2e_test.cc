// Multi-fidelity scheduling end to end: real PostgreSQL, the real
// hwnas-server and an hwnas-worker process, real training on a
// Fashion-MNIST subset. A trial promoted to the next rung is leased again
// and resumes from the checkpoint its first rung stored: its epochs
// continue (2, 3 after 1) instead of starting over.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/cluster.h"

namespace hwnas::testing {
namespace {

using ::testing::HasSubstr;

// Three trials on rung 0 (1 epoch); the best of them goes on to rung 1, the
// top (3 epochs of the same 3-epoch schedule).
std::string AshaSpec() {
  return R"(
name: asha-tiny
space:
  name: mnasnet
  blocks: 2
  filters: [8, 16]
  layers: [1, 1]
  strides: [1, 2]
  stem_filters: 8
  head_filters: 0
  dropout: 0
data: {dataset: fashion_mnist, train_subset: 2000, val_subset: 256, test_subset: 256}
training: {optimizer: adam, lr: 0.005, epochs: 3, batch_size: 64, threads: 1}
hardware: {measure_latency: true, latency_runs: 10}
strategy: {name: random, seed: 11}
fidelity: {kind: asha, resource: epochs, min: 1, max: 3, eta: 3}
budget: {trials: 3}
)";
}

TEST(FidelityE2ETest, PromotedTrialResumesFromItsOwnCheckpoint) {
  Cluster c;
  c.StartServer(/*lease_ttl_s=*/30);
  c.StartWorker("w1");
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(AshaSpec());
  ASSERT_OK(s);
  ASSERT_TRUE(Cluster::Eventually(
      [&] { return c.Search(s->id()).state == SearchState::kCompleted; }, absl::Minutes(5)))
      << c.Log("server.log") << c.Log("w1.log");

  std::vector<TrialRecord> trials = c.Trials(s->id());
  ASSERT_EQ(trials.size(), 3u);
  std::vector<const TrialRecord*> promoted;
  for (const TrialRecord& t : trials) {
    EXPECT_EQ(t.state, TrialState::kSucceeded) << "trial " << t.number << ": " << t.failure_reason;
    ASSERT_TRUE(t.result.has_value());
    if (t.rung == 1) {
      promoted.push_back(&t);
    } else {
      EXPECT_EQ(t.rung, 0);
      EXPECT_EQ(t.epoch_target, 1);
      EXPECT_EQ(t.result->epochs, 1);
    }
  }
  // floor(3 / 3) = 1: exactly the best rung-0 trial was promoted.
  ASSERT_EQ(promoted.size(), 1u);
  const TrialRecord& p = *promoted[0];
  EXPECT_EQ(p.epoch_target, 3);
  EXPECT_EQ(p.result->epochs, 3);
  // The stored result is the top rung's, trained on real data.
  EXPECT_GT(p.result->accuracy, 0.2);

  absl::StatusOr<std::vector<db::RungResult>> rungs = c.store().ListRungs(s->id());
  ASSERT_OK(rungs);
  ASSERT_EQ(rungs->size(), 4u);
  double best_rung0 = -1;
  int64_t best_trial = 0;
  for (const db::RungResult& r : *rungs) {
    if (r.rung == 0 && r.score > best_rung0) {
      best_rung0 = r.score;
      best_trial = r.trial_number;
    }
    EXPECT_EQ(r.promoted, r.rung == 0 && r.trial_number == p.number);
  }
  EXPECT_EQ(best_trial, p.number);

  // One continuous curve, epochs 1..3, and the worker says it resumed after
  // epoch 1 instead of training it again.
  absl::StatusOr<TrialRecord> full = c.store().GetTrial(s->id(), p.number, true);
  ASSERT_OK(full);
  std::vector<int> epochs;
  for (const EpochMetrics& m : full->epochs) epochs.push_back(m.epoch);
  EXPECT_EQ(epochs, (std::vector<int>{1, 2, 3}));
  const std::string log = c.Log("w1.log");
  EXPECT_THAT(log, HasSubstr(absl::StrCat("trial=", p.number,
                                          " rung=1 epochs=3 checkpoint_bytes=0 note=\"resumed "
                                          "from its checkpoint after epoch 1\"")));
  // Rung 0 of every trial sent its state; the top rung sends none.
  for (const TrialRecord& t : trials) {
    EXPECT_THAT(log,
                HasSubstr(absl::StrCat("trial=", t.number, " rung=0 epochs=1 checkpoint_bytes=")));
  }
  EXPECT_THAT(log, ::testing::Not(HasSubstr("trained from scratch")));

  absl::StatusOr<std::vector<db::Event>> events = c.store().ListEvents(s->id(), 0, 1000);
  ASSERT_OK(events);
  int promotions = 0;
  for (const db::Event& e : *events) {
    if (e.kind == "promoted") {
      ++promotions;
      EXPECT_EQ(e.trial_number, p.number);
    }
  }
  EXPECT_EQ(promotions, 1);
  // The search ended: its checkpoints are gone.
  for (const TrialRecord& t : trials) {
    absl::StatusOr<std::optional<db::TrialCheckpoint>> kept =
        c.store().LoadTrialCheckpoint(s->id(), t.number);
    ASSERT_OK(kept);
    EXPECT_FALSE(kept->has_value()) << "trial " << t.number;
  }
}

}  // namespace
}  // namespace hwnas::testing

// Multi-fidelity under failure, end to end: real PostgreSQL, the real
// hwnas-server and hwnas-worker processes, real training on a Fashion-MNIST
// subset. A worker killed with SIGKILL while a promoted trial trains its
// next rung, and a server killed with SIGKILL and restarted on the same
// database mid-search: the stored rung checkpoints, rung results and
// promotions carry the search to its end, and no rung is trained twice
// from scratch.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/cluster.h"

namespace hwnas::testing {
namespace {

using ::testing::HasSubstr;

// A tiny mnasnet network on 2000 Fashion-MNIST images: rung 0 trains 1
// epoch, the top rung `max` epochs of the same schedule.
std::string Spec(const std::string& name, int trials, int max, int eta) {
  return absl::StrCat("name: ", name, R"(
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
training: {optimizer: adam, lr: 0.005, epochs: )",
                      max, R"(, batch_size: 64, threads: 1}
hardware: {measure_latency: true, latency_runs: 10}
strategy: {name: random, seed: 5}
fidelity: {kind: asha, resource: epochs, min: 1, max: )",
                      max, ", eta: ", eta, "}\nbudget: {trials: ", trials, "}\n");
}

// The epochs stored for a trial's curve, in order.
std::vector<int> StoredEpochs(Cluster& c, int64_t search, int64_t trial) {
  absl::StatusOr<TrialRecord> full = c.store().GetTrial(search, trial, true);
  EXPECT_OK(full);
  std::vector<int> epochs;
  if (!full.ok()) return epochs;
  for (const EpochMetrics& m : full->epochs) epochs.push_back(m.epoch);
  return epochs;
}

// (trial, rung) of every `event=rung_trained` line of a worker log.
std::vector<std::pair<int64_t, int>> RungsTrained(const std::string& log, int64_t search) {
  std::vector<std::pair<int64_t, int>> out;
  const std::string prefix = absl::StrCat("event=rung_trained search=", search, " ");
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    const size_t at = line.find(prefix);
    if (at == absl::string_view::npos) continue;
    int64_t trial = 0;
    int rung = 0;
    if (std::sscanf(std::string(line.substr(at + prefix.size())).c_str(), "trial=%ld rung=%d",
                    &trial, &rung) == 2) {
      out.emplace_back(trial, rung);
    }
  }
  return out;
}

// A trial promoted to rung 1 (of 1 + 3 epochs) trains on worker w1; w1 is
// killed with SIGKILL after it stored the rung's second epoch. The lease
// expires, w2 leases the trial again and resumes from the checkpoint rung 0
// stored (after epoch 1), not from scratch; the search finishes.
TEST(FidelityFailureE2ETest, WorkerKilledMidRungResumesFromTheStoredCheckpoint) {
  Cluster c;
  c.StartServer(/*lease_ttl_s=*/4);
  ChildProcess& w1 = c.StartWorker("w1");
  // Rungs 1 and 4 epochs; floor(4 / 4) = 1 of the 4 trials is promoted.
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(Spec("kill-worker", 4, 4, 4));
  ASSERT_OK(s);
  const int64_t id = s->id();

  // The promoted trial, once it has stored epoch 2 (rung 1 runs on w1).
  int64_t promoted = 0;
  ASSERT_TRUE(Cluster::Eventually(
      [&] {
        for (const TrialRecord& t : c.Trials(id)) {
          if (t.rung != 1 || t.state != TrialState::kRunning) continue;
          std::vector<int> epochs = StoredEpochs(c, id, t.number);
          if (std::find(epochs.begin(), epochs.end(), 2) != epochs.end()) {
            promoted = t.number;
            return true;
          }
        }
        return false;
      },
      absl::Minutes(6)))
      << c.Log("server.log") << c.Log("w1.log");
  w1.Signal(SIGKILL);
  w1.Wait(absl::Seconds(30));
  const std::string w1_log = c.Log("w1.log");
  EXPECT_THAT(w1_log, ::testing::Not(HasSubstr(absl::StrCat("event=rung_trained search=", id,
                                                            " trial=", promoted, " rung=1"))));

  c.StartWorker("w2");
  ASSERT_TRUE(Cluster::Eventually([&] { return c.Search(id).state == SearchState::kCompleted; },
                                  absl::Minutes(5)))
      << c.Log("server.log") << c.Log("w2.log");

  std::vector<TrialRecord> trials = c.Trials(id);
  ASSERT_EQ(trials.size(), 4u);
  for (const TrialRecord& t : trials) {
    EXPECT_EQ(t.state, TrialState::kSucceeded) << "trial " << t.number << ": " << t.failure_reason;
    ASSERT_TRUE(t.result.has_value()) << "trial " << t.number;
    if (t.number == promoted) {
      EXPECT_EQ(t.rung, 1);
      EXPECT_EQ(t.epoch_target, 4);
      EXPECT_EQ(t.result->epochs, 4);
      // Leased twice: by w1 (killed) and by w2.
      EXPECT_EQ(t.attempts, 2);
    } else {
      EXPECT_EQ(t.rung, 0) << "trial " << t.number;
      EXPECT_EQ(t.result->epochs, 1) << "trial " << t.number;
    }
  }
  // One curve, each epoch once: w2 trained 2..4 again on top of epoch 1.
  EXPECT_EQ(StoredEpochs(c, id, promoted), (std::vector<int>{1, 2, 3, 4}));
  const std::string w2_log = c.Log("w2.log");
  EXPECT_THAT(w2_log, HasSubstr(absl::StrCat("trial=", promoted,
                                             " rung=1 epochs=4 checkpoint_bytes=0 note=\"resumed "
                                             "from its checkpoint after epoch 1\"")));
  EXPECT_THAT(w1_log + w2_log, ::testing::Not(HasSubstr("trained from scratch")));
  EXPECT_THAT(c.Log("server.log"),
              HasSubstr(absl::StrCat("event=lease_expired search=", id, " trial=", promoted)));

  absl::StatusOr<std::vector<db::RungResult>> rungs = c.store().ListRungs(id);
  ASSERT_OK(rungs);
  EXPECT_EQ(rungs->size(), 5u);  // 4 on rung 0, the promoted one on rung 1.
  for (const TrialRecord& t : trials) {
    absl::StatusOr<std::optional<db::TrialCheckpoint>> kept =
        c.store().LoadTrialCheckpoint(id, t.number);
    ASSERT_OK(kept);
    EXPECT_FALSE(kept->has_value()) << "trial " << t.number;
  }
}

// The server is killed with SIGKILL while a promoted trial trains its next
// rung, and started again on the same database; the worker rides through (it retries). The
// rung results, promotions and checkpoints are the store's, so the
// restarted server carries on: every trial ends on its highest rung, no
// (trial, rung) is trained twice, and the checkpoints are gone at the end.
TEST(FidelityFailureE2ETest, ServerKilledAndRestartedMidSearchKeepsRungsAndCheckpoints) {
  Cluster c;
  c.StartServer(/*lease_ttl_s=*/30);
  c.StartWorker("w1");
  // Rungs 1 and 3 epochs; 6 trials, so 2 promotions.
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(Spec("kill-server", 6, 3, 3));
  ASSERT_OK(s);
  const int64_t id = s->id();
  ASSERT_TRUE(Cluster::Eventually(
      [&] {
        for (const TrialRecord& t : c.Trials(id)) {
          if (t.rung == 1 && t.state == TrialState::kRunning) return true;
        }
        return false;
      },
      absl::Minutes(6)))
      << c.Log("server.log") << c.Log("w1.log");
  const std::string first_log = c.Log("server.log");
  c.KillServer();
  absl::SleepFor(absl::Seconds(1));
  c.StartServer(/*lease_ttl_s=*/30);

  ASSERT_TRUE(Cluster::Eventually([&] { return c.Search(id).state == SearchState::kCompleted; },
                                  absl::Minutes(6)))
      << first_log << c.Log("server.log") << c.Log("w1.log");
  EXPECT_THAT(c.Log("server.log"), HasSubstr(absl::StrCat("event=search_restored search=", id)));

  std::vector<TrialRecord> trials = c.Trials(id);
  ASSERT_EQ(trials.size(), 6u);
  absl::StatusOr<std::vector<db::RungResult>> rungs = c.store().ListRungs(id);
  ASSERT_OK(rungs);
  std::map<int64_t, int> highest;
  int promoted_rows = 0;
  for (const db::RungResult& r : *rungs) {
    highest[r.trial_number] = std::max(highest[r.trial_number], r.rung);
    promoted_rows += r.promoted ? 1 : 0;
  }
  EXPECT_EQ(promoted_rows, 2);  // floor(6 / 3).
  int on_top = 0;
  for (const TrialRecord& t : trials) {
    EXPECT_EQ(t.state, TrialState::kSucceeded) << "trial " << t.number << ": " << t.failure_reason;
    ASSERT_TRUE(t.result.has_value()) << "trial " << t.number;
    // The stored result is the trial's highest rung's.
    EXPECT_EQ(t.rung, highest[t.number]) << "trial " << t.number;
    EXPECT_EQ(t.result->epochs, t.rung == 1 ? 3 : 1) << "trial " << t.number;
    if (t.rung == 1) {
      ++on_top;
      EXPECT_EQ(StoredEpochs(c, id, t.number), (std::vector<int>{1, 2, 3}));
    }
  }
  EXPECT_EQ(on_top, 2);

  // Each (trial, rung) trained once, and every promotion resumed.
  const std::string w1_log = c.Log("w1.log");
  std::vector<std::pair<int64_t, int>> trained = RungsTrained(w1_log, id);
  std::set<std::pair<int64_t, int>> once(trained.begin(), trained.end());
  EXPECT_EQ(once.size(), trained.size()) << w1_log;
  EXPECT_EQ(trained.size(), 8u) << w1_log;
  EXPECT_THAT(w1_log, ::testing::Not(HasSubstr("trained from scratch")));

  int promotions = 0;
  absl::StatusOr<std::vector<db::Event>> events = c.store().ListEvents(id, 0, 1000);
  ASSERT_OK(events);
  for (const db::Event& e : *events) {
    promotions += e.kind == "promoted" ? 1 : 0;
    EXPECT_NE(e.kind, "resume_from_scratch") << e.payload_json;
  }
  EXPECT_EQ(promotions, 2);
  for (const TrialRecord& t : trials) {
    absl::StatusOr<std::optional<db::TrialCheckpoint>> kept =
        c.store().LoadTrialCheckpoint(id, t.number);
    ASSERT_OK(kept);
    EXPECT_FALSE(kept->has_value()) << "trial " << t.number;
  }
}

// budget.seconds: a NAS-Bench-201 table search with far more trials than
// the wall-clock budget allows ends COMPLETED soon after its seconds, with
// nothing left queued or running; a budget of 0 seconds is refused at
// submit, naming the field, and stores nothing.
TEST(SearchBudgetE2ETest, WallClockBudgetEndsTheSearchCleanly) {
  Cluster c;
  c.StartServer(/*lease_ttl_s=*/5);
  c.StartWorker("w1");
  auto spec = [](const std::string& budget) {
    return absl::StrCat(R"(name: timed
space: {name: nb201}
evaluator: {kind: table, dataset: cifar10, device: raspi4}
strategy: {name: evolution, population: 20, tournament: 5}
budget: )",
                        budget, "\n");
  };
  absl::StatusOr<hwnas::v1::Search> refused = c.Submit(spec("{trials: 100, seconds: 0}"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("budget.seconds: must be a positive"));

  // The clock starts at submit: only once the worker is there (it loads
  // the table first, slow on a loaded machine).
  ASSERT_TRUE(Cluster::Eventually(
      [&] { return absl::StrContains(c.Log("w1.log"), "event=worker_registered"); },
      absl::Minutes(2)))
      << c.Log("w1.log");
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(spec("{trials: 10000000, seconds: 4}"));
  ASSERT_OK(s);
  const int64_t id = s->id();
  EXPECT_EQ(id, 1);  // The refused spec stored nothing.
  ASSERT_TRUE(Cluster::Eventually([&] { return c.Search(id).state == SearchState::kCompleted; },
                                  absl::Minutes(2)))
      << c.Log("server.log");
  const SearchRecord done = c.Search(id);
  ASSERT_TRUE(done.finished_at.has_value());
  EXPECT_GE(*done.finished_at - done.created_at, absl::Seconds(4));
  EXPECT_GT(done.counts.finished(), 0) << c.Log("server.log") << c.Log("w1.log");
  EXPECT_LT(done.counts.finished(), 10000000);
  EXPECT_EQ(done.counts.pending + done.counts.running, 0);
  EXPECT_THAT(c.Log("server.log"), HasSubstr(absl::StrCat("event=search_completed search=", id,
                                                          " reason=budget_seconds seconds=4")));
  absl::StatusOr<std::vector<db::Event>> events = c.store().ListEvents(id, 0, 1000);
  ASSERT_OK(events);
  int reached = 0;
  for (const db::Event& e : *events) reached += e.kind == "budget_seconds_reached" ? 1 : 0;
  EXPECT_EQ(reached, 1);
  // Every trial is finished or cancelled, none is left for a worker.
  for (const TrialRecord& t : c.Trials(id)) {
    EXPECT_TRUE(IsTerminal(t.state)) << "trial " << t.number << " " << TrialStateName(t.state);
  }
}

}  // namespace
}  // namespace hwnas::testing

// Unit tests of the coordinator's logic on the in-memory store with a fake
// clock: lease expiry, long-poll wake-ups and deadlines, weighted fair share
// across searches, and group commit of results. No database, no gRPC, no
// worker process; time moves only when a test moves it, so they run in
// milliseconds. (The same logic against PostgreSQL and real workers is
// covered by server_e2e_test and fault_test.)
#include "server/coordinator.h"

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "db/memory_store.h"
#include "gtest/gtest.h"
#include "server/executor.h"
#include "server/least_violating.h"
#include "server/metrics.h"
#include "server/watch_source.h"

namespace hwnas::server {
namespace {

// A table-evaluator search (the server proposes from the NAS-Bench-201
// space; no data set is read here).
std::string TableSpec(const std::string& name, int budget, double weight = 1) {
  return absl::StrCat("name: ", name, R"(
space: {name: nb201}
evaluator: {kind: table, dataset: cifar10, device: raspi4}
strategy: {name: random, seed: 7}
budget: {trials: )",
                      budget, "}\nscheduling: {weight: ", weight, "}\n");
}

TrialResult TableResult(double accuracy) {
  TrialResult r;
  r.accuracy = accuracy;
  r.latency = LatencyMeasurement{10, 11, 1, 1, "raspi4"};
  r.estimates["latency_ms@raspi4"] = 10;
  return r;
}

// What an Acquire call answered, waited for on the test thread.
class AcquireCall {
 public:
  Coordinator::AcquireDone Done() {
    return [this](absl::StatusOr<std::vector<Assignment>> got) {
      absl::MutexLock lock(&mu_);
      got_ = std::move(got);
      answered_.Notify();
    };
  }
  bool answered() const { return answered_.HasBeenNotified(); }
  // The answer; fails the test instead of hanging if none comes.
  absl::StatusOr<std::vector<Assignment>> Wait() {
    if (!answered_.WaitForNotificationWithTimeout(absl::Seconds(30))) {
      ADD_FAILURE() << "Acquire never answered";
      return absl::DeadlineExceededError("never answered");
    }
    absl::MutexLock lock(&mu_);
    return got_;
  }

 private:
  absl::Notification answered_;
  absl::Mutex mu_;
  absl::StatusOr<std::vector<Assignment>> got_ ABSL_GUARDED_BY(mu_) = absl::UnknownError("unset");
};

class CoordinatorTest : public ::testing::Test {
 protected:
  CoordinatorTest() : store_(clock_), executor_(std::make_unique<Executor>(4, clock_)) {}

  void SetUp() override {
    absl::StatusOr<User> owner = store_.CreateUser("alice", false, false);
    ASSERT_TRUE(owner.ok()) << owner.status();
    owner_ = *owner;
    absl::StatusOr<User> fleet = store_.CreateUser("fleet", false, true);
    ASSERT_TRUE(fleet.ok()) << fleet.status();
    fleet_ = *fleet;
    CoordinatorOptions options;
    options.lease_ttl = absl::Seconds(30);
    options.max_attempts = 3;
    // No background rounds: the tests run MaintenanceRound themselves.
    options.maintenance_interval = absl::InfiniteDuration();
    coordinator_ =
        std::make_unique<Coordinator>(&store_, executor_.get(), &metrics_, options, clock_);
    ASSERT_TRUE(coordinator_->Start().ok());
  }

  // As HwnasServer::Shutdown: the coordinator's queued work (refills,
  // re-entered long-polls) runs to completion while it still exists.
  void TearDown() override {
    coordinator_->Stop();
    executor_.reset();
  }

  std::string RegisterWorker(const std::string& name) {
    WorkerRecord w;
    w.name = name;
    w.search_spaces = {"nb201"};
    w.evaluators = {"table"};
    w.datasets = {"nb201-table"};
    absl::StatusOr<WorkerRecord> stored = coordinator_->RegisterWorker(fleet_, w);
    EXPECT_TRUE(stored.ok()) << stored.status();
    return stored.ok() ? stored->id : "";
  }

  int64_t Submit(const std::string& spec) {
    absl::StatusOr<SearchRecord> s = coordinator_->Submit(owner_, spec, "");
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? s->id : 0;
  }

  // Leases without waiting (the deadline is now).
  std::vector<Assignment> AcquireNow(const std::string& worker_id, int max_trials = 1) {
    AcquireCall call;
    coordinator_->Acquire(worker_id, clock_.Now(), max_trials, call.Done());
    absl::StatusOr<std::vector<Assignment>> got = call.Wait();
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *std::move(got) : std::vector<Assignment>{};
  }

  // Acquire runs on the executor: waits until `n` calls are parked.
  void WaitParked(int64_t n) {
    for (int i = 0; i < 30000 && coordinator_->ParkedAcquires() != n; ++i) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    ASSERT_EQ(coordinator_->ParkedAcquires(), n);
  }

  SearchRecord Search(int64_t id) {
    absl::StatusOr<SearchRecord> s = store_.GetSearch(id);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : SearchRecord{};
  }

  // Refills run on the executor: waits until the search has left RUNNING.
  SearchState WaitFinished(int64_t id) {
    for (int i = 0; i < 30000 && Search(id).state == SearchState::kRunning; ++i) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    return Search(id).state;
  }

  FakeClock clock_;
  db::MemoryStore store_;
  std::unique_ptr<Executor> executor_;
  Metrics metrics_;
  User owner_;
  User fleet_;
  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(CoordinatorTest, ParkedAcquireIsWokenWhenWorkArrives) {
  const std::string worker = RegisterWorker("w1");
  AcquireCall call;
  coordinator_->Acquire(worker, clock_.Now() + absl::Seconds(10), 1, call.Done());
  WaitParked(1);
  EXPECT_FALSE(call.answered());

  // A new search's first proposals wake it; the clock has not moved.
  const int64_t search = Submit(TableSpec("wake", 4));
  absl::StatusOr<std::vector<Assignment>> got = call.Wait();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front().search_id, search);
  EXPECT_EQ(got->front().trial_number, 1);
  EXPECT_EQ(got->front().lease_expires_at, clock_.Now() + absl::Seconds(30));
  EXPECT_EQ(coordinator_->ParkedAcquires(), 0);
}

TEST_F(CoordinatorTest, ParkedAcquireTimesOutAtItsDeadline) {
  const std::string worker = RegisterWorker("w1");
  AcquireCall call;
  coordinator_->Acquire(worker, clock_.Now() + absl::Seconds(10), 1, call.Done());
  WaitParked(1);

  // Before the deadline a maintenance round leaves it parked.
  clock_.Advance(absl::Seconds(9));
  coordinator_->MaintenanceRound();
  EXPECT_EQ(coordinator_->ParkedAcquires(), 1);
  EXPECT_FALSE(call.answered());

  // At the deadline it is answered with no trial.
  clock_.Advance(absl::Seconds(1));
  coordinator_->MaintenanceRound();
  absl::StatusOr<std::vector<Assignment>> got = call.Wait();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->empty());
  EXPECT_EQ(coordinator_->ParkedAcquires(), 0);
}

TEST_F(CoordinatorTest, StopAnswersParkedAcquires) {
  const std::string worker = RegisterWorker("w1");
  AcquireCall call;
  coordinator_->Acquire(worker, clock_.Now() + absl::Seconds(10), 1, call.Done());
  WaitParked(1);
  coordinator_->Stop();
  absl::StatusOr<std::vector<Assignment>> got = call.Wait();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->empty());
}

TEST_F(CoordinatorTest, ExpiredLeaseGoesBackToTheQueue) {
  const std::string w1 = RegisterWorker("w1");
  const std::string w2 = RegisterWorker("w2");
  const int64_t search = Submit(TableSpec("expiry", 2));
  std::vector<Assignment> first = AcquireNow(w1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].attempt, 1);

  // Not expired yet: a round changes nothing.
  clock_.Advance(absl::Seconds(29));
  coordinator_->MaintenanceRound();
  EXPECT_EQ(metrics_.lease_expiries, 0);

  // w1 goes silent past its lease: the trial is requeued and leased again.
  clock_.Advance(absl::Seconds(2));
  coordinator_->MaintenanceRound();
  EXPECT_EQ(metrics_.lease_expiries, 1);
  absl::StatusOr<TrialRecord> trial = store_.GetTrial(search, first[0].trial_number, false);
  ASSERT_TRUE(trial.ok()) << trial.status();
  EXPECT_EQ(trial->state, TrialState::kPending);

  std::vector<Assignment> again = AcquireNow(w2);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].trial_number, first[0].trial_number);
  EXPECT_EQ(again[0].attempt, 2);
  EXPECT_NE(again[0].lease_id, first[0].lease_id);

  // The lost lease's late report is refused; the new one's is stored.
  absl::StatusOr<db::ReportOutcome> late =
      coordinator_->ReportResult(w1, first[0].lease_id, TableResult(0.5), false);
  EXPECT_FALSE(late.ok());
  absl::StatusOr<db::ReportOutcome> stored =
      coordinator_->ReportResult(w2, again[0].lease_id, TableResult(0.6), false);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->trial.state, TrialState::kSucceeded);
}

TEST_F(CoordinatorTest, LeaseExpiringOnItsLastAttemptFailsTheTrial) {
  const std::string worker = RegisterWorker("w1");
  const int64_t search = Submit(TableSpec("attempts", 1));
  int64_t number = 0;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    std::vector<Assignment> got = AcquireNow(worker);
    ASSERT_EQ(got.size(), 1u) << "attempt " << attempt;
    EXPECT_EQ(got[0].attempt, attempt);
    number = got[0].trial_number;
    clock_.Advance(absl::Seconds(31));
    coordinator_->MaintenanceRound();
  }
  absl::StatusOr<TrialRecord> trial = store_.GetTrial(search, number, false);
  ASSERT_TRUE(trial.ok()) << trial.status();
  EXPECT_EQ(trial->state, TrialState::kFailed);
  // The budget of one is spent: the search completes.
  EXPECT_EQ(WaitFinished(search), SearchState::kCompleted);
}

TEST_F(CoordinatorTest, FairShareFollowsTheSearchesWeights) {
  const std::string worker = RegisterWorker("w1");
  const int64_t light = Submit(TableSpec("light", 100, 1));
  const int64_t heavy = Submit(TableSpec("heavy", 100, 3));
  // Each search proposed a queue deeper than the leases below take, so
  // every lease has both to choose from.
  ASSERT_GE(Search(light).counts.pending, 12);
  ASSERT_GE(Search(heavy).counts.pending, 12);
  std::map<int64_t, int> leased;
  for (int i = 0; i < 12; ++i) {
    std::vector<Assignment> got = AcquireNow(worker);
    ASSERT_EQ(got.size(), 1u);
    leased[got[0].search_id]++;
  }
  EXPECT_EQ(leased[light], 3);
  EXPECT_EQ(leased[heavy], 9);
}

TEST_F(CoordinatorTest, EqualWeightsAlternate) {
  const std::string worker = RegisterWorker("w1");
  const int64_t a = Submit(TableSpec("a", 100));
  const int64_t b = Submit(TableSpec("b", 100));
  std::vector<int64_t> order;
  for (int i = 0; i < 6; ++i) {
    std::vector<Assignment> got = AcquireNow(worker);
    ASSERT_EQ(got.size(), 1u);
    order.push_back(got[0].search_id);
  }
  EXPECT_EQ(order, (std::vector<int64_t>{a, b, a, b, a, b}));
}

TEST_F(CoordinatorTest, ResultsOfOneCallAreStoredInOneGroupCommit) {
  const std::string worker = RegisterWorker("w1");
  const int64_t search = Submit(TableSpec("group", 5));
  std::vector<Assignment> leases = AcquireNow(worker, 5);
  ASSERT_EQ(leases.size(), 5u);

  std::vector<ResultReport> reports;
  for (size_t i = 0; i < leases.size(); ++i) {
    reports.push_back(ResultReport{leases[i].lease_id, TableResult(0.5 + 0.01 * i), false});
  }
  absl::StatusOr<std::vector<absl::StatusOr<db::ReportOutcome>>> answers =
      coordinator_->ReportResults(worker, reports);
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ(answers->size(), 5u);
  std::vector<int64_t> finish_seqs;
  for (const absl::StatusOr<db::ReportOutcome>& a : *answers) {
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_FALSE(a->duplicate);
    EXPECT_EQ(a->trial.state, TrialState::kSucceeded);
    EXPECT_TRUE(a->trial.reward.has_value());
    finish_seqs.push_back(a->trial.finish_seq);
  }
  // One batch, one store call; the search's finish sequences in report order.
  EXPECT_EQ(metrics_.completion_batches, 1);
  EXPECT_EQ(finish_seqs, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(metrics_.trials_finished, 5);

  // A repeated report is answered from the store and changes nothing.
  absl::StatusOr<db::ReportOutcome> again =
      coordinator_->ReportResult(worker, leases[0].lease_id, TableResult(0.9), false);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(metrics_.reports_duplicate, 1);

  // The whole budget is reported: the strategy observed it and the search
  // completes.
  EXPECT_EQ(WaitFinished(search), SearchState::kCompleted);
  EXPECT_EQ(Search(search).counts.succeeded, 5);
}

TEST_F(CoordinatorTest, ConcurrentReportsAreEachStoredOnce) {
  const std::string worker = RegisterWorker("w1");
  const int64_t search = Submit(TableSpec("concurrent", 16));
  std::vector<Assignment> leases = AcquireNow(worker, 16);
  ASSERT_EQ(leases.size(), 16u);
  std::vector<absl::StatusOr<db::ReportOutcome>> answers(leases.size(),
                                                         absl::UnknownError("unset"));
  {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < leases.size(); ++i) {
      threads.emplace_back([&, i] {
        answers[i] =
            coordinator_->ReportResult(worker, leases[i].lease_id, TableResult(0.5), false);
      });
    }
    for (std::thread& t : threads) t.join();
  }
  std::vector<bool> seq_seen(17, false);
  for (const absl::StatusOr<db::ReportOutcome>& a : answers) {
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_GE(a->trial.finish_seq, 1);
    ASSERT_LE(a->trial.finish_seq, 16);
    EXPECT_FALSE(seq_seen[a->trial.finish_seq]) << "finish_seq " << a->trial.finish_seq;
    seq_seen[a->trial.finish_seq] = true;
  }
  // Batches form as reports queue up behind a commit: between one and one
  // per report, never more.
  EXPECT_GE(metrics_.completion_batches, 1);
  EXPECT_LE(metrics_.completion_batches, 16);
  EXPECT_EQ(WaitFinished(search), SearchState::kCompleted);
}

TEST_F(CoordinatorTest, RetryableFailureRequeuesAndWakesAParkedWorker) {
  const std::string w1 = RegisterWorker("w1");
  const std::string w2 = RegisterWorker("w2");
  Submit(TableSpec("retry", 1));
  std::vector<Assignment> first = AcquireNow(w1);
  ASSERT_EQ(first.size(), 1u);
  // Nothing else is pending: w2 parks.
  AcquireCall call;
  coordinator_->Acquire(w2, clock_.Now() + absl::Seconds(10), 1, call.Done());
  WaitParked(1);
  absl::StatusOr<db::ReportOutcome> failed = coordinator_->ReportFailure(
      w1, first[0].lease_id, "out of memory", /*retryable=*/true, std::nullopt, false);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_TRUE(failed->requeued);
  absl::StatusOr<std::vector<Assignment>> got = call.Wait();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front().trial_number, first[0].trial_number);
  EXPECT_EQ(got->front().attempt, 2);
}

TEST_F(CoordinatorTest, WorkersGoQuietAfterTheLivenessWindow) {
  const int64_t search = Submit(TableSpec("alive", 4));
  SearchRecord s = *coordinator_->GetSearch(owner_, search);
  EXPECT_EQ(s.waiting, "no worker is connected");
  RegisterWorker("w1");
  s = *coordinator_->GetSearch(owner_, search);
  EXPECT_EQ(s.waiting, "");
  clock_.Advance(absl::Seconds(61));
  s = *coordinator_->GetSearch(owner_, search);
  EXPECT_EQ(s.waiting, "no worker is connected");
}

// #19: enqueued architectures are leased before the strategy's queued
// proposals; imported results are stored finished and never leased; a
// request with one bad architecture stores nothing; only the owner may add.
TEST_F(CoordinatorTest, GuidedTrialsAreLeasedFirstOrNeverAndAllOrNothing) {
  const int64_t search = Submit(TableSpec("guided", 40));
  const std::string worker = RegisterWorker("w1");
  auto total = [&] { return store_.CountTrials(search)->total; };
  const int64_t proposed = total();
  ASSERT_GT(proposed, 0);

  absl::StatusOr<std::vector<TrialRecord>> added = coordinator_->AddGuided(
      owner_, search, {{.architecture = "1,2,3,4,0,1"}, {.architecture = "|bogus~0|"}},
      TrialOrigin::kEnqueued);
  EXPECT_EQ(added.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(added.status().message().find("architecture 2"), std::string::npos) << added.status();
  added = coordinator_->AddGuided(owner_, search, {{.architecture = "1,1,1,1,1,1", .line = 7}},
                                  TrialOrigin::kImported);
  EXPECT_EQ(added.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(added.status().message().find("line 7: no metrics"), std::string::npos)
      << added.status();
  TrialResult too_accurate = TableResult(1.5);
  added = coordinator_->AddGuided(
      owner_, search,
      {{.architecture = "1,1,1,1,1,1", .line = 2, .result = TableResult(0.5)},
       {.architecture = "2,2,2,2,2,2", .line = 3, .result = too_accurate}},
      TrialOrigin::kImported);
  EXPECT_EQ(added.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(added.status().message().find("line 3: accuracy 1.5"), std::string::npos)
      << added.status();
  User mallory = *store_.CreateUser("mallory", false, false);
  added = coordinator_->AddGuided(mallory, search, {{.architecture = "1,2,3,4,0,1"}},
                                  TrialOrigin::kEnqueued);
  EXPECT_EQ(added.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(total(), proposed);

  added = coordinator_->AddGuided(
      owner_, search, {{.architecture = "1,2,3,4,0,1"}, {.architecture = "3,3,3,3,3,3"}},
      TrialOrigin::kEnqueued);
  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_EQ(added->size(), 2u);
  EXPECT_EQ((*added)[0].origin, TrialOrigin::kEnqueued);
  EXPECT_GT((*added)[0].number, proposed);
  absl::StatusOr<std::vector<TrialRecord>> imported = coordinator_->AddGuided(
      owner_, search, {{.architecture = "4,4,4,4,4,4", .line = 2, .result = TableResult(0.6)}},
      TrialOrigin::kImported);
  ASSERT_TRUE(imported.ok()) << imported.status();
  ASSERT_EQ(imported->size(), 1u);
  EXPECT_EQ((*imported)[0].state, TrialState::kSucceeded);
  ASSERT_TRUE((*imported)[0].reward.has_value());

  // The first two leases are the enqueued trials, whatever their numbers.
  std::vector<Assignment> first = AcquireNow(worker, 2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].trial_number, (*added)[0].number);
  EXPECT_EQ(first[1].trial_number, (*added)[1].number);
  // Draining the queue never hands out the imported trial.
  for (int round = 0; round < 100; ++round) {
    std::vector<Assignment> more = AcquireNow(worker, 50);
    if (more.empty()) break;
    for (const Assignment& a : more) {
      EXPECT_NE(a.trial_number, (*imported)[0].number);
    }
  }
  absl::StatusOr<TrialRecord> stored = store_.GetTrial(search, (*imported)[0].number, false);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->attempts, 0);
  EXPECT_EQ(stored->origin, TrialOrigin::kImported);
}

TEST(LeastViolating, RanksByTotalRelativeExcessThenAccuracy) {
  auto trial = [](int64_t number, double accuracy, double latency, int64_t flash) {
    TrialRecord t;
    t.number = number;
    t.state = TrialState::kInfeasible;
    t.result = TrialResult{};
    t.result->accuracy = accuracy;
    t.result->latency = LatencyMeasurement{latency, latency, 1, 1, "raspi4"};
    t.result->costs.flash_bytes = flash;
    return t;
  };
  const std::vector<spec::HardLimit> limits = {{"latency_ms", 10}, {"flash_bytes", 1000}};
  TrialRecord sram;
  sram.number = 9;
  sram.state = TrialState::kInfeasible;
  sram.failure_reason = "does not fit cortex-m7 (SRAM or flash)";
  std::vector<NearMiss> ranked = LeastViolating(limits,
                                                {trial(1, 0.9, 20, 500),   // +100%
                                                 trial(2, 0.5, 12, 1050),  // +20% +5%
                                                 trial(3, 0.7, 13, 500),   // +30%
                                                 trial(4, 0.8, 13, 500),   // +30%, better
                                                 sram},
                                                4);
  ASSERT_EQ(ranked.size(), 4u);
  EXPECT_EQ(ranked[0].trial.number, 2);
  ASSERT_EQ(ranked[0].misses.size(), 2u);
  EXPECT_EQ(ranked[0].misses[0].metric, "latency_ms");
  EXPECT_DOUBLE_EQ(ranked[0].misses[0].value, 12);
  EXPECT_DOUBLE_EQ(ranked[0].misses[0].limit, 10);
  EXPECT_DOUBLE_EQ(ranked[0].misses[0].excess, 0.2);
  EXPECT_DOUBLE_EQ(ranked[0].misses[1].excess, 0.05);
  EXPECT_DOUBLE_EQ(ranked[0].total_excess, 0.25);
  EXPECT_EQ(ranked[1].trial.number, 4);  // Ties on excess: higher accuracy first.
  EXPECT_EQ(ranked[2].trial.number, 3);
  EXPECT_EQ(ranked[3].trial.number, 1);
  // The trial no limit measures ranks last (cut here by k = 4).
  ranked = LeastViolating(limits, {sram, trial(1, 0.9, 20, 500)}, 5);
  ASSERT_EQ(ranked.size(), 2u);
  EXPECT_EQ(ranked[1].trial.number, 9);
  EXPECT_TRUE(ranked[1].misses.empty());
}

// A poll streamed trial 36 with 39/40 (37-39 finished between its reads);
// the next poll streams 37-39 stepping back from 40: they show 39, 39, 39
// and 40, never 37.
TEST(WatchProgress, NeverGoesBack) {
  TrialCounts shown;
  TrialCounts at;
  at.succeeded = 39;
  EXPECT_EQ(NeverBehind(at, &shown).finished(), 39);
  for (int64_t n : {37, 38, 39}) {
    at.succeeded = n;
    EXPECT_EQ(NeverBehind(at, &shown).finished(), 39) << n;
  }
  at.succeeded = 39;
  at.failed = 1;
  const TrialCounts last = NeverBehind(at, &shown);
  EXPECT_EQ(last.finished(), 40);
  EXPECT_EQ(last.failed, 1);
  // Counters that go down (running, pending) are left as read.
  at.running = 0;
  shown.running = 5;
  EXPECT_EQ(NeverBehind(at, &shown).running, 0);
}

// Multi-fidelity (ASHA): rung results arrive one by one; a trial in the top
// 1/eta of its rung so far goes on at once (no waiting for the rung to
// fill) as a new lease of the same trial, with the next rung's epochs and
// its own checkpoint; the search counts each trial once.
std::string AshaSpec(int budget) {
  return absl::StrCat(R"(name: asha
space: {name: mnasnet, blocks: 2, filters: [8, 16], layers: [1, 1], strides: [1, 2],
        stem_filters: 8, head_filters: 0}
data: {dataset: fashion_mnist, train_subset: 256, val_subset: 128}
training: {epochs: 9, batch_size: 64}
strategy: {name: random, seed: 3}
fidelity: {kind: asha, min: 1, max: 9, eta: 3}
budget: {trials: )",
                      budget, "}\n");
}

TrialResult TrainedResult(double accuracy, int epochs) {
  TrialResult r;
  r.accuracy = accuracy;
  r.loss = 0.5;
  r.epochs = epochs;
  r.train_seconds = 1;
  r.latency = LatencyMeasurement{1, 1.2, 30, 1, "x86_64 cpu"};
  r.costs = HardwareCosts{1000, 20000, 4096, 1000};
  return r;
}

TEST_F(CoordinatorTest, AshaPromotesTheSameTrialWithItsCheckpointWithoutWaitingForTheRung) {
  WorkerRecord w;
  w.name = "trainer";
  w.search_spaces = {"mnasnet"};
  w.evaluators = {"train"};
  w.datasets = {"fashion_mnist"};
  absl::StatusOr<WorkerRecord> registered = coordinator_->RegisterWorker(fleet_, w);
  ASSERT_TRUE(registered.ok()) << registered.status();
  const std::string worker = registered->id;
  const int64_t search = Submit(AshaSpec(6));
  ASSERT_NE(search, 0);

  // Rung 0 accuracies by trial number: trial 2 is the best of the first
  // three, trial 3 the second best of all six.
  const std::map<int64_t, double> rung0 = {{1, 0.5}, {2, 0.8}, {3, 0.6},
                                           {4, 0.1}, {5, 0.2}, {6, 0.3}};
  auto run = [&](const Assignment& a, double accuracy) {
    absl::StatusOr<db::ReportOutcome> out = coordinator_->ReportResult(
        worker, a.lease_id, TrainedResult(accuracy, a.epoch_target), false,
        absl::StrCat("state of trial ", a.trial_number, " after ", a.epoch_target, " epochs"));
    ASSERT_TRUE(out.ok()) << out.status();
  };
  for (int64_t expected = 1; expected <= 3; ++expected) {
    std::vector<Assignment> got = AcquireNow(worker);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].trial_number, expected);
    EXPECT_EQ(got[0].rung, 0);
    EXPECT_EQ(got[0].epoch_target, 1);
    EXPECT_TRUE(got[0].checkpoint_wanted);
    EXPECT_TRUE(got[0].resume_checkpoint.empty());
    run(got[0], rung0.at(expected));
  }
  // Three results on rung 0: the best goes on to rung 1 now, ahead of the
  // new trials, and resumes from the state its rung-0 lease sent.
  std::vector<Assignment> got = AcquireNow(worker);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].trial_number, 2);
  EXPECT_EQ(got[0].rung, 1);
  EXPECT_EQ(got[0].epoch_target, 3);
  EXPECT_TRUE(got[0].checkpoint_wanted);
  EXPECT_EQ(got[0].resume_checkpoint, "state of trial 2 after 1 epochs");
  run(got[0], 0.85);
  for (int64_t expected = 4; expected <= 6; ++expected) {
    got = AcquireNow(worker);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].trial_number, expected);
    run(got[0], rung0.at(expected));
  }
  // Six results: floor(6/3) = 2, so trial 3 qualifies now too.
  got = AcquireNow(worker);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].trial_number, 3);
  EXPECT_EQ(got[0].rung, 1);
  EXPECT_EQ(got[0].resume_checkpoint, "state of trial 3 after 1 epochs");
  run(got[0], 0.7);

  // Two results on rung 1 promote nobody: every trial has finished, once.
  EXPECT_EQ(WaitFinished(search), SearchState::kCompleted);
  const SearchRecord done = Search(search);
  EXPECT_EQ(done.counts.total, 6);
  EXPECT_EQ(done.counts.succeeded, 6);
  absl::StatusOr<TrialRecord> best = store_.GetTrial(search, 2, false);
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_EQ(best->rung, 1);
  EXPECT_EQ(best->epoch_target, 3);
  ASSERT_TRUE(best->result.has_value());
  EXPECT_DOUBLE_EQ(best->result->accuracy, 0.85);  // The highest rung's result.
  absl::StatusOr<std::vector<db::RungResult>> rungs = store_.ListRungs(search);
  ASSERT_TRUE(rungs.ok()) << rungs.status();
  EXPECT_EQ(rungs->size(), 8u);
  int promoted = 0;
  for (const db::RungResult& r : *rungs) promoted += r.promoted ? 1 : 0;
  EXPECT_EQ(promoted, 2);
  absl::StatusOr<std::vector<db::Event>> events = store_.ListEvents(search, 0, 100);
  ASSERT_TRUE(events.ok()) << events.status();
  std::vector<int64_t> promotion_events;
  for (const db::Event& e : *events) {
    if (e.kind == "promoted") promotion_events.push_back(e.trial_number.value_or(0));
  }
  EXPECT_EQ(promotion_events, (std::vector<int64_t>{2, 3}));
  // The search ended: no training state is kept.
  absl::StatusOr<std::optional<db::TrialCheckpoint>> kept = store_.LoadTrialCheckpoint(search, 2);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_FALSE(kept->has_value());
}

// Screening (spec `screen:`): every candidate is first leased as a screen
// (proxy score, no training); those in the top `keep` of the scores so far
// (all of the first min_screened) go back to the queue and train as the same
// trial; the others end EARLY_STOPPED, screened out, never trained, and do
// not count against budget.trials.
std::string ScreenSpec(int budget, const std::string& extra = "") {
  return absl::StrCat(R"(name: screen
space: {name: mnasnet, blocks: 2, filters: [8, 16], layers: [1, 1], strides: [1, 2],
        stem_filters: 8, head_filters: 0}
data: {dataset: fashion_mnist, train_subset: 256, val_subset: 128}
training: {epochs: 3, batch_size: 64}
strategy: {name: random, seed: 3}
screen: {proxy: synflow, keep: 0.5, min_screened: 2}
budget: {trials: )",
                      budget, "}\n", extra);
}

TrialResult ScreenResult(double score) {
  TrialResult r;
  r.accuracy = 0.5;  // ProxyAccuracy's mapping; never a reward.
  r.epochs = 0;
  r.train_seconds = 0.01;
  r.costs = HardwareCosts{1000, 20000, 4096, 1000};
  r.estimates["proxy_score@synflow"] = score;
  return r;
}

TEST_F(CoordinatorTest, ScreenTrainsOnlyTheTopKeepFractionAndCountsTheTrainedBudget) {
  WorkerRecord w;
  w.name = "trainer";
  w.search_spaces = {"mnasnet"};
  w.evaluators = {"train"};
  w.datasets = {"fashion_mnist"};
  absl::StatusOr<WorkerRecord> registered = coordinator_->RegisterWorker(fleet_, w);
  ASSERT_TRUE(registered.ok()) << registered.status();
  const std::string worker = registered->id;
  const int64_t search = Submit(ScreenSpec(3));
  ASSERT_NE(search, 0);

  // Screen scores by trial number, with keep 0.5 and min_screened 2:
  // 1 passes (first), 2 passes (20: top 1 of 2), 3 is out (5 < 10, top 2
  // of 3), 4 passes (30), 5 is out (1).
  const std::map<int64_t, double> score = {{1, 10}, {2, 20}, {3, 5}, {4, 30}, {5, 1}, {6, 0.5}};
  std::map<int64_t, int> screens, trainings;
  for (int step = 0; step < 40 && Search(search).state == SearchState::kRunning; ++step) {
    std::vector<Assignment> got = AcquireNow(worker);
    if (got.empty()) {
      absl::SleepFor(absl::Milliseconds(5));  // A refill or decision on the executor.
      continue;
    }
    const Assignment& a = got[0];
    if (a.screen) {
      ++screens[a.trial_number];
      ASSERT_TRUE(score.count(a.trial_number)) << a.trial_number;
      EXPECT_FALSE(a.checkpoint_wanted);
      absl::StatusOr<db::ReportOutcome> out = coordinator_->ReportResult(
          worker, a.lease_id, ScreenResult(score.at(a.trial_number)), false, "");
      ASSERT_TRUE(out.ok()) << out.status();
    } else {
      ++trainings[a.trial_number];
      absl::StatusOr<db::ReportOutcome> out = coordinator_->ReportResult(
          worker, a.lease_id, TrainedResult(0.6 + 0.01 * a.trial_number, 3), false, "");
      ASSERT_TRUE(out.ok()) << out.status();
    }
  }
  ASSERT_EQ(WaitFinished(search), SearchState::kCompleted);
  EXPECT_EQ(screens, (std::map<int64_t, int>{{1, 1}, {2, 1}, {3, 1}, {4, 1}}));
  EXPECT_EQ(trainings, (std::map<int64_t, int>{{1, 1}, {2, 1}, {4, 1}}));
  const SearchRecord done = Search(search);
  EXPECT_EQ(done.counts.total, 4);
  EXPECT_EQ(done.counts.succeeded, 3);
  EXPECT_EQ(done.counts.early_stopped, 1);
  EXPECT_EQ(done.counts.screened_out, 1);
  EXPECT_EQ(done.counts.finished(), 3);  // The trained budget.

  absl::StatusOr<TrialRecord> out = store_.GetTrial(search, 3, false);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->state, TrialState::kEarlyStopped);
  EXPECT_EQ(out->screen, ScreenStage::kOut);
  ASSERT_TRUE(out->screen_score.has_value());
  EXPECT_DOUBLE_EQ(*out->screen_score, 5);
  EXPECT_FALSE(out->reward.has_value());
  EXPECT_EQ(out->failure_reason,
            "screened_out: synflow score 5 below the threshold 10 (top 2 of 3 screened, keep 0.5)");
  absl::StatusOr<TrialRecord> passed = store_.GetTrial(search, 4, false);
  ASSERT_TRUE(passed.ok()) << passed.status();
  EXPECT_EQ(passed->state, TrialState::kSucceeded);
  EXPECT_EQ(passed->screen, ScreenStage::kPassed);
  ASSERT_TRUE(passed->screen_score.has_value());
  EXPECT_DOUBLE_EQ(*passed->screen_score, 30);
  ASSERT_TRUE(passed->result.has_value());
  EXPECT_EQ(passed->result->epochs, 3);  // The training's result replaced the screen's.
  ASSERT_TRUE(passed->reward.has_value());
  // The best trial is a trained one.
  ASSERT_TRUE(done.best_trial.has_value());
  EXPECT_EQ(done.best_trial->number, 4);

  absl::StatusOr<std::vector<db::Event>> events = store_.ListEvents(search, 0, 100);
  ASSERT_TRUE(events.ok()) << events.status();
  std::vector<std::pair<std::string, int64_t>> screened;
  for (const db::Event& e : *events) {
    if (e.kind == "screen_passed" || e.kind == "screened_out") {
      screened.emplace_back(e.kind, e.trial_number.value_or(0));
    }
  }
  EXPECT_EQ(
      screened,
      (std::vector<std::pair<std::string, int64_t>>{
          {"screen_passed", 1}, {"screen_passed", 2}, {"screened_out", 3}, {"screen_passed", 4}}));
}

// Hyperband: new trials are spread over brackets that start on different
// rungs (bracket b on rung b, with that rung's epochs), in Li et al.'s
// proportions: with min 1, max 9, eta 3 the first 17 go 9 / 5 / 3.
TEST_F(CoordinatorTest, HyperbandStartsTrialsOnTheirBracketsRungs) {
  WorkerRecord w;
  w.name = "trainer";
  w.search_spaces = {"mnasnet"};
  w.evaluators = {"train"};
  w.datasets = {"fashion_mnist"};
  absl::StatusOr<WorkerRecord> registered = coordinator_->RegisterWorker(fleet_, w);
  ASSERT_TRUE(registered.ok()) << registered.status();
  std::string spec = AshaSpec(17);
  spec.replace(spec.find("kind: asha"), 10, "kind: hyperband");
  const int64_t search = Submit(spec);
  ASSERT_NE(search, 0);
  std::map<int, int> by_bracket;
  const std::map<int, int> epochs_of = {{0, 1}, {1, 3}, {2, 9}};
  for (int i = 0; i < 17; ++i) {
    std::vector<Assignment> got = AcquireNow(registered->id);
    ASSERT_EQ(got.size(), 1u) << "lease " << i;
    absl::StatusOr<TrialRecord> t = store_.GetTrial(search, got[0].trial_number, false);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(got[0].rung, t->bracket);
    EXPECT_EQ(got[0].epoch_target, epochs_of.at(t->bracket));
    // The top rung's lease keeps no state: nothing resumes from it.
    EXPECT_EQ(got[0].checkpoint_wanted, t->bracket < 2);
    by_bracket[t->bracket]++;
  }
  EXPECT_EQ(by_bracket, (std::map<int, int>{{0, 9}, {1, 5}, {2, 3}}));
}

}  // namespace
}  // namespace hwnas::server

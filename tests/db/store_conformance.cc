// The store's contract (db/store.h), checked the same way against every
// implementation: see store_conformance.h.
#include "tests/db/store_conformance.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace hwnas::db::conformance {

using ::testing::HasSubstr;
using ::testing::Not;

Architecture Arch(std::vector<int> tokens) {
  Architecture a;
  a.space = "nb201";
  a.space_version = 1;
  a.readable = absl::StrCat("arch-", absl::StrJoin(tokens, "-"));
  a.tokens = std::move(tokens);
  return a;
}

NewTrial Pending(std::vector<int> tokens) {
  NewTrial t;
  t.canonical_hash = std::hash<std::string>()(absl::StrJoin(tokens, ","));
  t.architecture = Arch(std::move(tokens));
  return t;
}

TrialResult SampleResult(double accuracy) {
  TrialResult r;
  r.accuracy = accuracy;
  r.loss = 0.5;
  r.latency = LatencyMeasurement{1.5, 1.9, 50, 1, "x86_64 cpu"};
  r.costs = HardwareCosts{1000, 200000, 4096, 1200};
  r.estimates["latency_ms@cortex-m7"] = 12.5;
  r.train_seconds = 3.25;
  r.epochs = 2;
  // Cross-validated over two folds, with the class-balance scores (all in
  // [0, 1] for any accuracy there).
  r.fold_accuracy = {accuracy * 0.5, accuracy};
  r.accuracy_se = accuracy * 0.25;
  r.balanced_accuracy = accuracy * 0.75;
  r.macro_f1 = accuracy * 0.5;
  return r;
}

void StoreConformanceTest::SetUp() {
  backend_ = GetParam().make();
  absl::StatusOr<std::unique_ptr<Store>> store = backend_->NewStore();
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = *std::move(store);
  absl::StatusOr<User> user = store_->CreateUser("alice", false);
  ASSERT_TRUE(user.ok()) << user.status();
  alice_ = *user;
}

int64_t StoreConformanceTest::NewSearchId(int64_t budget, std::string name) {
  NewSearch s;
  s.name = std::move(name);
  s.owner_id = alice_.id;
  s.spec_yaml = "name: s\n";
  s.space = "nb201";
  s.budget = budget;
  absl::StatusOr<SearchRecord> rec = store_->CreateSearch(s);
  EXPECT_TRUE(rec.ok()) << rec.status();
  return rec.ok() ? rec->id : 0;
}

Lease StoreConformanceTest::MustLease(int64_t search_id, const std::string& worker,
                                      absl::Duration ttl) {
  absl::StatusOr<std::optional<Lease>> lease =
      store_->LeaseTrial(LeaseRequest{worker, {search_id}, ttl});
  EXPECT_TRUE(lease.ok()) << lease.status();
  EXPECT_TRUE(lease.ok() && lease->has_value());
  return lease.ok() && lease->has_value() ? **lease : Lease{};
}

TEST_P(StoreConformanceTest, ConcurrentInsertionsGetGapFreeNumbers) {
  const int64_t search = NewSearchId(100000);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<std::vector<TrialRecord>> added =
            store_->AddTrials(search, {Pending({t, i % 5, 1, 2, 3, 4})});
        if (!added.ok() || added->size() != 1) ++errors;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  // Numbers are exactly 1..4000.
  std::set<int64_t> numbers;
  int rows = 0;
  TrialQuery q{.search_id = search, .page_size = 1000};
  do {
    absl::StatusOr<Page<TrialRecord>> page = store_->ListTrials(q);
    ASSERT_OK(page);
    for (const TrialRecord& t : page->items) {
      numbers.insert(t.number);
      ++rows;
    }
    q.page_token = page->next_page_token;
  } while (!q.page_token.empty());
  EXPECT_EQ(rows, 4000);
  ASSERT_EQ(numbers.size(), 4000u);
  EXPECT_EQ(*numbers.begin(), 1);
  EXPECT_EQ(*numbers.rbegin(), 4000);
}

TEST_P(StoreConformanceTest, ConcurrentLeasesHandOutEachTrialOnce) {
  const int64_t search = NewSearchId(100000);
  std::vector<NewTrial> batch;
  for (int i = 0; i < 2000; ++i) batch.push_back(Pending({i % 5, (i / 5) % 5, 0, 1, 2, 3}));
  ASSERT_OK(store_->AddTrials(search, batch));
  constexpr int kThreads = 8;
  std::vector<std::vector<int64_t>> leased(kThreads);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (true) {
        absl::StatusOr<std::optional<Lease>> lease =
            store_->LeaseTrial({absl::StrCat("worker-", t), {search}, absl::Seconds(60)});
        if (!lease.ok()) {
          ++errors;
          continue;
        }
        if (!lease->has_value()) break;
        leased[t].push_back((*lease)->trial.number);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  std::multiset<int64_t> all;
  for (const auto& v : leased) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 2000u);
  EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), 2000u);
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), 2000);
  absl::StatusOr<TrialCounts> counts = store_->CountTrials(search);
  ASSERT_OK(counts);
  EXPECT_EQ(counts->running, 2000);
  EXPECT_EQ(counts->pending, 0);
}

TEST_P(StoreConformanceTest, BatchedLeasesServeWorkersInOrderOfTheirSearches) {
  const int64_t s1 = NewSearchId(100, "one");
  const int64_t s2 = NewSearchId(100, "two");
  ASSERT_OK(store_->AddTrials(s1, {Pending({0, 0, 0, 0, 0, 1}), Pending({0, 0, 0, 0, 0, 2})}));
  ASSERT_OK(store_->AddTrials(s2, {Pending({0, 0, 0, 0, 1, 1})}));
  absl::StatusOr<std::vector<std::optional<Lease>>> got =
      store_->LeaseTrials({"w1", "w\"2", "w3", "w4"}, {s1, s2}, absl::Seconds(30));
  ASSERT_OK(got);
  ASSERT_EQ(got->size(), 4u);
  // The first search's trials go first, lowest numbers first, in worker order.
  ASSERT_TRUE((*got)[0].has_value());
  EXPECT_EQ((*got)[0]->trial.search_id, s1);
  EXPECT_EQ((*got)[0]->trial.number, 1);
  EXPECT_EQ((*got)[0]->trial.worker_id, "w1");
  ASSERT_TRUE((*got)[1].has_value());
  EXPECT_EQ((*got)[1]->trial.number, 2);
  EXPECT_EQ((*got)[1]->trial.worker_id, "w\"2");
  ASSERT_TRUE((*got)[2].has_value());
  EXPECT_EQ((*got)[2]->trial.search_id, s2);
  EXPECT_EQ((*got)[2]->trial.worker_id, "w3");
  EXPECT_EQ((*got)[2]->trial.state, TrialState::kLeased);
  EXPECT_EQ((*got)[2]->trial.attempts, 1);
  EXPECT_FALSE((*got)[3].has_value());
  EXPECT_NE((*got)[0]->lease_id, (*got)[1]->lease_id);
  // Leased trials report like any other.
  ASSERT_OK(store_->CompleteTrial((*got)[1]->lease_id, "w\"2", SampleResult(0.5),
                                  TrialState::kSucceeded, 0.5));
  absl::StatusOr<std::vector<std::optional<Lease>>> none =
      store_->LeaseTrials({"w5"}, {s1, s2}, absl::Seconds(30));
  ASSERT_OK(none);
  EXPECT_FALSE((*none)[0].has_value());

  // Concurrent batches never hand out a trial twice.
  const int64_t s3 = NewSearchId(1000, "three");
  std::vector<NewTrial> many;
  for (int i = 0; i < 200; ++i) many.push_back(Pending({i / 25, i % 25 / 5, i % 5, 1, 2, 3}));
  ASSERT_OK(store_->AddTrials(s3, many));
  std::vector<std::thread> threads;
  absl::Mutex mu;
  std::set<int64_t> numbers;
  int leased = 0;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        std::vector<std::string> workers;
        for (int k = 0; k < 7; ++k) workers.push_back(absl::StrCat("t", t, "-", k));
        absl::StatusOr<std::vector<std::optional<Lease>>> r =
            store_->LeaseTrials(workers, {s3}, absl::Seconds(30));
        ASSERT_OK(r);
        absl::MutexLock lock(&mu);
        for (const std::optional<Lease>& l : *r) {
          if (!l) continue;
          ++leased;
          EXPECT_TRUE(numbers.insert(l->trial.number).second) << l->trial.number;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(leased, 200);
  EXPECT_EQ(numbers.size(), 200u);
}

TEST_P(StoreConformanceTest, CompletionIsExactlyOnce) {
  const int64_t search = NewSearchId();
  ASSERT_OK(store_->AddTrials(search, {Pending({1, 2, 3, 4, 0, 1})}));
  Lease lease = MustLease(search, "w1");
  EXPECT_EQ(lease.trial.state, TrialState::kLeased);
  EXPECT_EQ(lease.trial.attempts, 1);

  absl::StatusOr<LeaseStatus> renewed = store_->RenewLease(
      lease.lease_id, "w1", absl::Seconds(30), EpochMetrics{1, {{"val_accuracy", 0.5}}});
  ASSERT_OK(renewed);
  EXPECT_FALSE(renewed->search_cancelled);

  absl::StatusOr<ReportOutcome> first =
      store_->CompleteTrial(lease.lease_id, "w1", SampleResult(0.9), TrialState::kSucceeded, 0.8);
  ASSERT_OK(first);
  EXPECT_FALSE(first->duplicate);
  EXPECT_EQ(first->trial.state, TrialState::kSucceeded);
  ASSERT_TRUE(first->trial.result.has_value());
  EXPECT_EQ(*first->trial.result, SampleResult(0.9));
  EXPECT_EQ(first->trial.reward, 0.8);

  // A retried report with other numbers changes nothing and returns the first.
  absl::StatusOr<ReportOutcome> again =
      store_->CompleteTrial(lease.lease_id, "w1", SampleResult(0.1), TrialState::kSucceeded, 0.1);
  ASSERT_OK(again);
  EXPECT_TRUE(again->duplicate);
  EXPECT_DOUBLE_EQ(again->trial.result->accuracy, 0.9);
  EXPECT_EQ(again->trial.reward, 0.8);
  // So does a failure report on the same lease.
  absl::StatusOr<ReportOutcome> fail = store_->FailTrial(lease.lease_id, "w1", "late", false, 3);
  ASSERT_OK(fail);
  EXPECT_TRUE(fail->duplicate);
  EXPECT_EQ(fail->trial.state, TrialState::kSucceeded);

  // Another worker cannot report on this lease.
  absl::StatusOr<ReportOutcome> other =
      store_->CompleteTrial(lease.lease_id, "w2", SampleResult(0.2), TrialState::kSucceeded, 0.2);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kPermissionDenied);

  absl::StatusOr<TrialRecord> stored = store_->GetTrial(search, 1, /*with_epochs=*/true);
  ASSERT_OK(stored);
  ASSERT_EQ(stored->epochs.size(), 1u);
  EXPECT_DOUBLE_EQ(stored->epochs[0].values.at("val_accuracy"), 0.5);
  EXPECT_EQ(*store_->LastFinishSequence(search), 1);
}

// budget.seconds ran out: the search completes with trials still queued or
// training. A promoted one goes back to the rung it finished (SUCCEEDED,
// that rung's result, counted once); the others are cancelled.
TEST_P(StoreConformanceTest, CompletingWithUnfinishedTrialsKeepsFinishedRungs) {
  const int64_t search = NewSearchId();
  NewTrial first = Pending({1, 2, 3});
  first.epoch_target = 1;
  NewTrial second = Pending({3, 2, 1});
  second.epoch_target = 1;
  NewTrial third = Pending({2, 2, 2});
  third.epoch_target = 1;
  ASSERT_OK(store_->AddTrials(search, {first, second, third}));
  Lease lease = MustLease(search, "w1");
  ASSERT_EQ(lease.trial.number, 1);
  ASSERT_OK(
      store_->CompleteTrial(lease.lease_id, "w1", SampleResult(0.6), TrialState::kSucceeded, 0.5));
  ASSERT_OK(store_->RecordRung(
      search, RungResult{.trial_number = 1, .rung = 0, .epochs = 1, .score = 0.5}));
  ASSERT_OK(store_->PromoteTrial(search, 1, 1, 3));
  Lease again = MustLease(search, "w1");  // Trial 1 trains rung 1.
  ASSERT_EQ(again.trial.number, 1);
  Lease other = MustLease(search, "w2");  // Trial 2 trains rung 0.
  ASSERT_EQ(other.trial.number, 2);

  absl::StatusOr<SearchRecord> done = store_->FinishSearch(search, SearchState::kCompleted);
  ASSERT_OK(done);
  EXPECT_EQ(done->state, SearchState::kCompleted);
  EXPECT_EQ(done->counts.succeeded, 1);
  EXPECT_EQ(done->counts.cancelled, 2);
  EXPECT_EQ(done->counts.pending + done->counts.running, 0);
  absl::StatusOr<TrialRecord> t1 = store_->GetTrial(search, 1, false);
  ASSERT_OK(t1);
  EXPECT_EQ(t1->state, TrialState::kSucceeded);
  EXPECT_EQ(t1->rung, 0);
  EXPECT_EQ(t1->epoch_target, 1);
  ASSERT_TRUE(t1->result.has_value());
  EXPECT_DOUBLE_EQ(t1->result->accuracy, 0.6);
  EXPECT_EQ(store_->GetTrial(search, 2, false)->state, TrialState::kCancelled);
  EXPECT_EQ(store_->GetTrial(search, 3, false)->state, TrialState::kCancelled);
  // The workers' reports come too late (refused, or a duplicate that
  // changes nothing), and nothing is left to requeue.
  absl::StatusOr<ReportOutcome> late =
      store_->CompleteTrial(again.lease_id, "w1", SampleResult(0.9), TrialState::kSucceeded, 0.9);
  EXPECT_TRUE(!late.ok() || late->duplicate);
  late =
      store_->CompleteTrial(other.lease_id, "w2", SampleResult(0.9), TrialState::kSucceeded, 0.9);
  EXPECT_TRUE(!late.ok() || late->duplicate);
  EXPECT_EQ(store_->GetTrial(search, 2, false)->state, TrialState::kCancelled);
  absl::StatusOr<std::vector<TrialRecord>> requeued = store_->RequeueExpiredLeases(3);
  ASSERT_OK(requeued);
  EXPECT_TRUE(requeued->empty());
  EXPECT_DOUBLE_EQ(store_->GetTrial(search, 1, false)->result->accuracy, 0.6);
}

// Screening: a trial whose screen result is stored is decided once: it goes
// on to training (PENDING again, counted once) or is screened out
// (EARLY_STOPPED with its reason, no reward, not counted against the budget).
TEST_P(StoreConformanceTest, ScreenedTrialsTrainOrEndScreenedOutAndCountOnlyWhenTrained) {
  const int64_t search = NewSearchId();
  NewTrial a = Pending({1, 2, 3});
  a.screen = true;
  NewTrial b = Pending({3, 2, 1});
  b.screen = true;
  NewTrial plain = Pending({2, 2, 2});
  absl::StatusOr<std::vector<TrialRecord>> added = store_->AddTrials(search, {a, b, plain});
  ASSERT_OK(added);
  EXPECT_EQ((*added)[0].screen, ScreenStage::kPending);
  EXPECT_EQ((*added)[1].screen, ScreenStage::kPending);
  EXPECT_EQ((*added)[2].screen, ScreenStage::kNone);
  EXPECT_FALSE((*added)[0].screen_score.has_value());

  Lease la = MustLease(search, "w1");
  ASSERT_EQ(la.trial.number, 1);
  EXPECT_EQ(la.trial.screen, ScreenStage::kPending);
  // Not SUCCEEDED yet; unknown trial.
  EXPECT_EQ(store_->ScreenTrial(search, 1, 3.5, std::nullopt).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->ScreenTrial(search, 9, 3.5, std::nullopt).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_OK(store_->CompleteTrial(la.lease_id, "w1", SampleResult(0.5), TrialState::kSucceeded,
                                  std::nullopt));
  Lease lb = MustLease(search, "w1");
  ASSERT_EQ(lb.trial.number, 2);
  ASSERT_OK(store_->CompleteTrial(lb.lease_id, "w1", SampleResult(0.4), TrialState::kSucceeded,
                                  std::nullopt));
  absl::StatusOr<QueueCounts> counts = store_->CountQueue(search);
  ASSERT_OK(counts);
  EXPECT_EQ(counts->finished, 2);

  // Trial 1 passes: back in the queue, ahead of trial 3, its score kept.
  absl::StatusOr<TrialRecord> passed = store_->ScreenTrial(search, 1, 3.5, std::nullopt);
  ASSERT_OK(passed);
  EXPECT_EQ(passed->state, TrialState::kPending);
  EXPECT_EQ(passed->screen, ScreenStage::kPassed);
  ASSERT_TRUE(passed->screen_score.has_value());
  EXPECT_DOUBLE_EQ(*passed->screen_score, 3.5);
  EXPECT_EQ(passed->attempts, 0);
  // Decided once.
  EXPECT_EQ(store_->ScreenTrial(search, 1, 3.5, std::nullopt).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Trial 2 is screened out.
  absl::StatusOr<TrialRecord> out =
      store_->ScreenTrial(search, 2, -1.25, "screened_out: synflow score -1.25 below 3.5");
  ASSERT_OK(out);
  EXPECT_EQ(out->state, TrialState::kEarlyStopped);
  EXPECT_EQ(out->screen, ScreenStage::kOut);
  EXPECT_DOUBLE_EQ(out->screen_score.value_or(0), -1.25);
  EXPECT_EQ(out->failure_reason, "screened_out: synflow score -1.25 below 3.5");
  EXPECT_FALSE(out->reward.has_value());
  counts = store_->CountQueue(search);
  ASSERT_OK(counts);
  EXPECT_EQ(counts->finished, 0);  // Neither counts against the budget (yet).
  EXPECT_EQ(counts->pending, 2);
  absl::StatusOr<TrialCounts> trial_counts = store_->CountTrials(search);
  ASSERT_OK(trial_counts);
  EXPECT_EQ(trial_counts->early_stopped, 1);
  EXPECT_EQ(trial_counts->screened_out, 1);
  EXPECT_EQ(trial_counts->finished(), 0);

  // The passed trial trains as itself and then counts once.
  Lease train = MustLease(search, "w2");
  ASSERT_EQ(train.trial.number, 1);
  EXPECT_EQ(train.trial.screen, ScreenStage::kPassed);
  ASSERT_OK(
      store_->CompleteTrial(train.lease_id, "w2", SampleResult(0.8), TrialState::kSucceeded, 0.8));
  counts = store_->CountQueue(search);
  ASSERT_OK(counts);
  EXPECT_EQ(counts->finished, 1);
  absl::StatusOr<TrialRecord> stored = store_->GetTrial(search, 1, false);
  ASSERT_OK(stored);
  EXPECT_EQ(stored->state, TrialState::kSucceeded);
  EXPECT_DOUBLE_EQ(stored->screen_score.value_or(0), 3.5);
  EXPECT_DOUBLE_EQ(stored->result->accuracy, 0.8);
  // A trial that is not screened is never decided.
  Lease lp = MustLease(search, "w1");
  ASSERT_EQ(lp.trial.number, 3);
  ASSERT_OK(
      store_->CompleteTrial(lp.lease_id, "w1", SampleResult(0.3), TrialState::kSucceeded, 0.3));
  EXPECT_EQ(store_->ScreenTrial(search, 3, 1, std::nullopt).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Multi-fidelity: a trial finishes a rung, is promoted (the same trial,
// back in the queue with the next rung's epochs), leased and finished again,
// and counts against the budget once.
TEST_P(StoreConformanceTest, PromotedTrialsRunTheNextRungAndCountOnce) {
  const int64_t search = NewSearchId();
  NewTrial first = Pending({1, 2, 3});
  first.epoch_target = 1;
  NewTrial second = Pending({3, 2, 1});
  second.rung = 1;
  second.bracket = 1;
  second.epoch_target = 3;
  absl::StatusOr<std::vector<TrialRecord>> added = store_->AddTrials(search, {first, second});
  ASSERT_OK(added);
  EXPECT_EQ((*added)[0].rung, 0);
  EXPECT_EQ((*added)[0].epoch_target, 1);
  EXPECT_EQ((*added)[1].rung, 1);
  EXPECT_EQ((*added)[1].bracket, 1);
  EXPECT_EQ((*added)[1].epoch_target, 3);

  Lease lease = MustLease(search, "w1");
  ASSERT_EQ(lease.trial.number, 1);
  EXPECT_EQ(lease.trial.epoch_target, 1);
  // Only a SUCCEEDED trial is promoted.
  EXPECT_EQ(store_->PromoteTrial(search, 1, 1, 3).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_OK(
      store_->CompleteTrial(lease.lease_id, "w1", SampleResult(0.6), TrialState::kSucceeded, 0.5));
  ASSERT_OK(store_->RecordRung(
      search, RungResult{.trial_number = 1, .rung = 0, .epochs = 1, .score = 0.5}));
  // Rung 2 is not the next one; trial 9 does not exist.
  EXPECT_EQ(store_->PromoteTrial(search, 1, 2, 9).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->PromoteTrial(search, 9, 1, 3).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->PromoteTrial(search, 1, 1, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<QueueCounts> counts = store_->CountQueue(search);
  ASSERT_OK(counts);
  EXPECT_EQ(counts->finished, 1);
  EXPECT_EQ(counts->pending, 1);

  absl::StatusOr<TrialRecord> promoted = store_->PromoteTrial(search, 1, 1, 3);
  ASSERT_OK(promoted);
  EXPECT_EQ(promoted->state, TrialState::kPending);
  EXPECT_EQ(promoted->rung, 1);
  EXPECT_EQ(promoted->epoch_target, 3);
  // The lower rung's result stays until the next one replaces it.
  ASSERT_TRUE(promoted->result.has_value());
  EXPECT_DOUBLE_EQ(promoted->result->accuracy, 0.6);
  counts = store_->CountQueue(search);
  ASSERT_OK(counts);
  EXPECT_EQ(counts->finished, 0);
  EXPECT_EQ(counts->pending, 2);

  // The promoted trial (lowest number) is leased again, with its new target.
  Lease again = MustLease(search, "w2");
  ASSERT_EQ(again.trial.number, 1);
  EXPECT_EQ(again.trial.rung, 1);
  EXPECT_EQ(again.trial.epoch_target, 3);
  EXPECT_NE(again.lease_id, lease.lease_id);
  ASSERT_OK(
      store_->CompleteTrial(again.lease_id, "w2", SampleResult(0.8), TrialState::kSucceeded, 0.7));
  ASSERT_OK(store_->RecordRung(
      search, RungResult{.trial_number = 1, .rung = 1, .epochs = 3, .score = 0.7}));
  counts = store_->CountQueue(search);
  ASSERT_OK(counts);
  EXPECT_EQ(counts->finished, 1);
  EXPECT_EQ(counts->pending, 1);
  absl::StatusOr<TrialRecord> stored = store_->GetTrial(search, 1, false);
  ASSERT_OK(stored);
  EXPECT_EQ(stored->state, TrialState::kSucceeded);
  EXPECT_DOUBLE_EQ(stored->result->accuracy, 0.8);
  EXPECT_EQ(stored->rung, 1);

  absl::StatusOr<std::vector<RungResult>> rungs = store_->ListRungs(search);
  ASSERT_OK(rungs);
  EXPECT_EQ(*rungs, (std::vector<RungResult>{
                        {.trial_number = 1, .rung = 0, .epochs = 1, .score = 0.5, .promoted = true},
                        {.trial_number = 1, .rung = 1, .epochs = 3, .score = 0.7}}));
  if (std::optional<std::string> view = backend().Sql(
          "SELECT trial_number, rung, epoch_target, bracket FROM v_trials ORDER BY 1")) {
    EXPECT_EQ(*view, "1|1|3|0\n2|1|3|1");
  }

  // Bad input changes nothing.
  EXPECT_EQ(
      store_
          ->RecordRung(search,
                       RungResult{.trial_number = 1, .rung = 0, .epochs = 1, .score = std::nan("")})
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      store_->RecordRung(search, RungResult{.trial_number = 1, .rung = 0, .epochs = 0}).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      store_->RecordRung(search, RungResult{.trial_number = 7, .rung = 0, .epochs = 1}).code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ListRungs(search + 100).status().code(), absl::StatusCode::kNotFound);
  NewTrial bad = Pending({4});
  bad.rung = -1;
  EXPECT_EQ(store_->AddTrials(search, {bad}).status().code(), absl::StatusCode::kInvalidArgument);

  // A search that ended promotes nothing.
  ASSERT_OK(store_->FinishSearch(search, SearchState::kCancelled));
  EXPECT_EQ(store_->PromoteTrial(search, 1, 2, 9).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(StoreConformanceTest, TrialCheckpointsAreEvictedLowestScoreFirstAndGoWithTheSearch) {
  const int64_t search = NewSearchId();
  ASSERT_OK(store_->AddTrials(search, {Pending({1}), Pending({2}), Pending({3}), Pending({4})}));
  // Binary data with zero bytes survives the round trip.
  std::string data("ck\0pt", 5);
  data.append(95, 'x');  // 100 bytes.
  auto checkpoint = [&](int64_t number, double score) {
    return TrialCheckpoint{number, 1, score, data};
  };
  absl::StatusOr<CheckpointSaved> saved =
      store_->SaveTrialCheckpoint(search, checkpoint(1, 0.5), 250);
  ASSERT_OK(saved);
  EXPECT_EQ(saved->search_bytes, 100);
  ASSERT_OK(store_->SaveTrialCheckpoint(search, checkpoint(2, 0.3), 250));
  absl::StatusOr<std::optional<TrialCheckpoint>> loaded = store_->LoadTrialCheckpoint(search, 1);
  ASSERT_OK(loaded);
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->data, data);
  EXPECT_EQ((*loaded)->epochs, 1);
  EXPECT_DOUBLE_EQ((*loaded)->score, 0.5);
  // A third does not fit under 250 bytes: the lowest score (trial 2) goes.
  saved = store_->SaveTrialCheckpoint(search, checkpoint(3, 0.9), 250);
  ASSERT_OK(saved);
  EXPECT_EQ(saved->evicted, (std::vector<int64_t>{2}));
  EXPECT_EQ(saved->search_bytes, 200);
  loaded = store_->LoadTrialCheckpoint(search, 2);
  ASSERT_OK(loaded);
  EXPECT_FALSE(loaded->has_value());
  // One that scores below every stored one evicts nothing: refused with the
  // numbers, and nothing stored before is lost.
  saved = store_->SaveTrialCheckpoint(search, checkpoint(4, 0.1), 250);
  EXPECT_EQ(saved.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(saved.status().message(), HasSubstr("300 bytes, over its limit of 250 bytes"));
  EXPECT_TRUE(store_->LoadTrialCheckpoint(search, 1)->has_value());
  EXPECT_TRUE(store_->LoadTrialCheckpoint(search, 3)->has_value());
  // Replacing a trial's own checkpoint does not count the old one.
  ASSERT_OK(store_->SaveTrialCheckpoint(search, TrialCheckpoint{3, 3, 0.95, data}, 250));
  EXPECT_EQ((*store_->LoadTrialCheckpoint(search, 3))->epochs, 3);
  // Its epochs without its bytes; none for an evicted one; an unknown search
  // is NOT_FOUND.
  EXPECT_EQ(*store_->StoredCheckpointEpochs(search, 3), std::optional<int>(3));
  EXPECT_EQ(*store_->StoredCheckpointEpochs(search, 2), std::nullopt);
  EXPECT_EQ(store_->StoredCheckpointEpochs(search + 1000, 3).status().code(),
            absl::StatusCode::kNotFound);
  // Bad input.
  EXPECT_EQ(
      store_->SaveTrialCheckpoint(search, TrialCheckpoint{1, 0, 0.5, data}, 250).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      store_->SaveTrialCheckpoint(search, TrialCheckpoint{1, 1, 0.5, ""}, 250).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->SaveTrialCheckpoint(search, checkpoint(9, 0.5), 250).status().code(),
            absl::StatusCode::kNotFound);
  // Deleted one by one, and all when the search ends.
  ASSERT_OK(store_->DeleteTrialCheckpoint(search, 1));
  EXPECT_FALSE(store_->LoadTrialCheckpoint(search, 1)->has_value());
  ASSERT_OK(store_->DeleteTrialCheckpoint(search, 1));  // None: still OK.
  ASSERT_OK(store_->FinishSearch(search, SearchState::kCompleted));
  EXPECT_FALSE(store_->LoadTrialCheckpoint(search, 3)->has_value());
  if (std::optional<std::string> rows = backend().Sql("SELECT count(*) FROM trial_checkpoints")) {
    EXPECT_EQ(*rows, "0");
  }
}

TEST_P(StoreConformanceTest, SingleSplitResultsStoreNoFoldsOrClassScores) {
  const int64_t search = NewSearchId();
  ASSERT_OK(store_->AddTrials(search, {Pending({1, 2, 3, 4, 0, 1})}));
  Lease lease = MustLease(search, "w1");
  TrialResult single = SampleResult(0.75);
  single.fold_accuracy.clear();
  single.accuracy_se = 0;
  single.balanced_accuracy.reset();
  single.macro_f1.reset();
  ASSERT_OK(store_->CompleteTrial(lease.lease_id, "w1", single, TrialState::kSucceeded, 0.7));
  absl::StatusOr<TrialRecord> stored = store_->GetTrial(search, 1, /*with_epochs=*/false);
  ASSERT_OK(stored);
  ASSERT_TRUE(stored->result.has_value());
  EXPECT_EQ(*stored->result, single);
  EXPECT_FALSE(MetricValue(*stored->result, "accuracy_se").has_value());
  EXPECT_FALSE(MetricValue(*stored->result, "macro_f1").has_value());
}

TEST_P(StoreConformanceTest, BatchedCompletionsAnswerEachReportAsAloneWouldBe) {
  const int64_t s1 = NewSearchId(100, "one");
  const int64_t s2 = NewSearchId(100, "two");
  ASSERT_OK(store_->AddTrials(
      s1, {Pending({0, 0, 0, 0, 0, 1}), Pending({0, 0, 0, 0, 0, 2}), Pending({0, 0, 0, 0, 0, 3})}));
  ASSERT_OK(store_->AddTrials(s2, {Pending({0, 0, 0, 0, 1, 1}), Pending({0, 0, 0, 0, 1, 2})}));
  Lease a = MustLease(s1, "w1");
  Lease b = MustLease(s1, "w2");
  Lease c = MustLease(s2, "w3");
  Lease d = MustLease(s2, "w4");
  Lease done = MustLease(s1, "w5");
  ASSERT_OK(
      store_->CompleteTrial(done.lease_id, "w5", SampleResult(0.4), TrialState::kSucceeded, 0.4));
  TrialResult no_latency = SampleResult(0.6);
  no_latency.latency.reset();
  no_latency.error = "quote \" backslash \\ done";
  TrialResult nan = SampleResult(0.5);
  nan.accuracy = std::nan("");
  std::vector<Completion> batch = {
      {b.lease_id, "w2", SampleResult(0.7), TrialState::kSucceeded, 0.7},
      {c.lease_id, "w3", no_latency, TrialState::kEarlyStopped, std::nullopt},
      {a.lease_id, "w1", SampleResult(0.9), TrialState::kSucceeded, 0.9},
      {d.lease_id, "intruder", SampleResult(0.1), TrialState::kSucceeded, 0.1},  // Not its lease.
      {done.lease_id, "w5", SampleResult(0.2), TrialState::kSucceeded, 0.2},     // Duplicate.
      {"no-such-lease", "w1", SampleResult(0.3), TrialState::kSucceeded, 0.3},
      {b.lease_id, "w2", SampleResult(0.8), TrialState::kSucceeded, 0.8},  // Same lease twice.
      {d.lease_id, "w4", nan, TrialState::kSucceeded, 0.5},
  };
  std::vector<absl::StatusOr<ReportOutcome>> out = store_->CompleteTrials(batch);
  ASSERT_EQ(out.size(), batch.size());
  // Finish sequences per search in batch order, after what finished before.
  ASSERT_OK(out[0]);
  EXPECT_FALSE(out[0]->duplicate);
  EXPECT_EQ(out[0]->trial.number, 2);
  EXPECT_EQ(out[0]->trial.finish_seq, 2);
  EXPECT_EQ(*out[0]->trial.result, SampleResult(0.7));
  EXPECT_EQ(out[0]->trial.reward, 0.7);
  ASSERT_OK(out[2]);
  EXPECT_EQ(out[2]->trial.number, 1);
  EXPECT_EQ(out[2]->trial.finish_seq, 3);
  EXPECT_EQ(out[2]->trial.state, TrialState::kSucceeded);
  ASSERT_OK(out[1]);
  EXPECT_EQ(out[1]->trial.search_id, s2);
  EXPECT_EQ(out[1]->trial.finish_seq, 1);
  EXPECT_EQ(out[1]->trial.state, TrialState::kEarlyStopped);
  EXPECT_EQ(*out[1]->trial.result, no_latency);
  EXPECT_FALSE(out[1]->trial.reward.has_value());
  EXPECT_EQ(out[3].status().code(), absl::StatusCode::kPermissionDenied);
  ASSERT_OK(out[4]);
  EXPECT_TRUE(out[4]->duplicate);
  EXPECT_DOUBLE_EQ(out[4]->trial.result->accuracy, 0.4);
  EXPECT_EQ(out[5].status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_OK(out[6]);
  EXPECT_TRUE(out[6]->duplicate);
  EXPECT_DOUBLE_EQ(out[6]->trial.result->accuracy, 0.7);
  EXPECT_EQ(out[7].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*store_->LastFinishSequence(s1), 3);
  EXPECT_EQ(*store_->LastFinishSequence(s2), 1);
  absl::StatusOr<TrialRecord> still = store_->GetTrial(s2, 2, false);
  ASSERT_OK(still);
  EXPECT_EQ(still->state, TrialState::kLeased);
  absl::StatusOr<std::vector<TrialRecord>> order = store_->FinishedTrialsSince(s1, 0);
  ASSERT_OK(order);
  ASSERT_EQ(order->size(), 3u);
  EXPECT_EQ((*order)[1].number, 2);
  EXPECT_EQ((*order)[2].number, 1);
}

TEST_P(StoreConformanceTest, ExpiredLeasesAreRequeuedAndLateReportsRefused) {
  const int64_t search = NewSearchId();
  ASSERT_OK(store_->AddTrials(search, {Pending({0, 0, 0, 0, 0, 1})}));
  Lease first = MustLease(search, "w1", absl::Milliseconds(200));
  backend().Wait(absl::Milliseconds(400));

  absl::StatusOr<std::vector<TrialRecord>> requeued = store_->RequeueExpiredLeases(2);
  ASSERT_OK(requeued);
  ASSERT_EQ(requeued->size(), 1u);
  EXPECT_EQ((*requeued)[0].state, TrialState::kPending);
  EXPECT_THAT((*requeued)[0].failure_reason, HasSubstr("lease expired"));

  // The late worker is refused, whatever it reports.
  absl::StatusOr<ReportOutcome> late =
      store_->CompleteTrial(first.lease_id, "w1", SampleResult(0.7), TrialState::kSucceeded, 0.7);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<LeaseStatus> heartbeat =
      store_->RenewLease(first.lease_id, "w1", absl::Seconds(5), std::nullopt);
  EXPECT_EQ(heartbeat.status().code(), absl::StatusCode::kFailedPrecondition);

  // The second lease is attempt 2; when it expires too the trial fails.
  Lease second = MustLease(search, "w2", absl::Milliseconds(200));
  EXPECT_EQ(second.trial.attempts, 2);
  EXPECT_NE(second.lease_id, first.lease_id);
  backend().Wait(absl::Milliseconds(400));
  requeued = store_->RequeueExpiredLeases(2);
  ASSERT_OK(requeued);
  ASSERT_EQ(requeued->size(), 1u);
  EXPECT_EQ((*requeued)[0].state, TrialState::kFailed);
  EXPECT_THAT((*requeued)[0].failure_reason, HasSubstr("attempt limit"));
  absl::StatusOr<std::optional<Lease>> none =
      store_->LeaseTrial({"w3", {search}, absl::Seconds(5)});
  ASSERT_OK(none);
  EXPECT_FALSE(none->has_value());
}

TEST_P(StoreConformanceTest, RetryableFailuresGoBackToTheQueueUntilTheLimit) {
  const int64_t search = NewSearchId();
  ASSERT_OK(store_->AddTrials(search, {Pending({1, 1, 1, 1, 1, 1})}));
  Lease a = MustLease(search, "w1");
  absl::StatusOr<ReportOutcome> r = store_->FailTrial(a.lease_id, "w1", "out of memory", true, 2);
  ASSERT_OK(r);
  EXPECT_TRUE(r->requeued);
  EXPECT_EQ(r->trial.state, TrialState::kPending);
  // A retried report of the same failure is a duplicate.
  r = store_->FailTrial(a.lease_id, "w1", "out of memory", true, 2);
  ASSERT_OK(r);
  EXPECT_TRUE(r->duplicate);

  Lease b = MustLease(search, "w2");
  r = store_->FailTrial(b.lease_id, "w2", "out of memory again", true, 2);
  ASSERT_OK(r);
  EXPECT_FALSE(r->requeued);
  EXPECT_EQ(r->trial.state, TrialState::kFailed);
  EXPECT_EQ(r->trial.failure_reason, "out of memory again");
  EXPECT_EQ(r->trial.attempts, 2);

  // Non-retryable failures fail at once; infeasible ones keep their costs.
  ASSERT_OK(store_->AddTrials(search, {Pending({2, 2, 2, 2, 2, 2})}));
  Lease c = MustLease(search, "w1");
  TrialResult costs;
  costs.costs.peak_activation_bytes = 999999;
  r = store_->FailTrial(c.lease_id, "w1", "peak memory over SRAM", true, 3, costs, true);
  ASSERT_OK(r);
  EXPECT_EQ(r->trial.state, TrialState::kInfeasible);
  ASSERT_TRUE(r->trial.result.has_value());
  EXPECT_EQ(r->trial.result->costs.peak_activation_bytes, 999999);
}

TEST_P(StoreConformanceTest, BadInputIsRejectedAndChangesNothing) {
  const int64_t search = NewSearchId();
  auto trials_stored = [&] { return store_->CountTrials(search)->total; };
  const int64_t rows_before = trials_stored();

  EXPECT_EQ(store_->GetSearch(987654).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->AddTrials(987654, {Pending({1, 2, 3, 4, 0, 1})}).status().code(),
            absl::StatusCode::kNotFound);

  std::vector<int> too_long(kMaxTokens + 1, 1);
  absl::StatusOr<std::vector<TrialRecord>> added = store_->AddTrials(search, {Pending(too_long)});
  EXPECT_EQ(added.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(added.status().message()), HasSubstr("1025 tokens"));
  // One bad trial in a batch rejects the whole batch.
  added = store_->AddTrials(search, {Pending({1, 2, 3, 4, 0, 1}), Pending({})});
  EXPECT_EQ(added.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(trials_stored(), rows_before);

  ASSERT_OK(store_->AddTrials(search, {Pending({1, 2, 3, 4, 0, 1})}));
  Lease lease = MustLease(search, "w1");
  TrialResult nan = SampleResult(std::numeric_limits<double>::quiet_NaN());
  absl::StatusOr<ReportOutcome> r =
      store_->CompleteTrial(lease.lease_id, "w1", nan, TrialState::kSucceeded, 0.5);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("accuracy"));
  TrialResult huge = SampleResult(0.5);
  huge.costs.macs = 4000000000000000000;
  r = store_->CompleteTrial(lease.lease_id, "w1", huge, TrialState::kSucceeded, 0.5);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("macs"));
  r = store_->CompleteTrial(lease.lease_id, "w1", SampleResult(0.5), TrialState::kSucceeded,
                            std::numeric_limits<double>::infinity());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<LeaseStatus> hb = store_->RenewLease(
      lease.lease_id, "w1", absl::Seconds(5),
      EpochMetrics{1, {{"val_accuracy", std::numeric_limits<double>::quiet_NaN()}}});
  EXPECT_EQ(hb.status().code(), absl::StatusCode::kInvalidArgument);

  // Nothing of the above reached the trial.
  absl::StatusOr<TrialRecord> t = store_->GetTrial(search, 1, true);
  ASSERT_OK(t);
  EXPECT_EQ(t->state, TrialState::kLeased);
  EXPECT_FALSE(t->result.has_value());
  EXPECT_TRUE(t->epochs.empty());

  NewSearch zero;
  zero.name = "zero";
  zero.owner_id = alice_.id;
  zero.space = "nb201";
  zero.budget = 0;
  EXPECT_EQ(store_->CreateSearch(zero).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListTrials({.search_id = search, .page_token = "x"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreConformanceTest, CancellingASearchCancelsPendingTrialsAndTellsRunningOnes) {
  const int64_t search = NewSearchId();
  ASSERT_OK(store_->AddTrials(search, {Pending({1, 1, 1, 1, 1, 1}), Pending({2, 2, 2, 2, 2, 2})}));
  Lease running = MustLease(search, "w1");
  absl::StatusOr<SearchRecord> cancelled = store_->FinishSearch(search, SearchState::kCancelled);
  ASSERT_OK(cancelled);
  EXPECT_EQ(cancelled->state, SearchState::kCancelled);
  // The running trial is cancelled at once, not when its lease lapses.
  EXPECT_EQ(cancelled->counts.cancelled, 2);
  EXPECT_EQ(cancelled->counts.running, 0);
  absl::StatusOr<LeaseStatus> hb =
      store_->RenewLease(running.lease_id, "w1", absl::Seconds(5), std::nullopt);
  ASSERT_OK(hb);
  EXPECT_TRUE(hb->search_cancelled);
  // Its worker's late result is refused and nothing is stored.
  TrialResult late;
  late.accuracy = 0.9;
  absl::StatusOr<ReportOutcome> report =
      store_->CompleteTrial(running.lease_id, "w1", late, TrialState::kSucceeded, 0.9);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(report.status().message(), ::testing::HasSubstr("cancelled"));
  std::vector<absl::StatusOr<ReportOutcome>> batched = store_->CompleteTrials(
      {Completion{running.lease_id, "w1", late, TrialState::kSucceeded, 0.9}});
  EXPECT_EQ(batched[0].status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<TrialRecord> after = store_->GetTrialByLease(running.lease_id);
  ASSERT_OK(after);
  EXPECT_EQ(after->state, TrialState::kCancelled);
  EXPECT_FALSE(after->result.has_value());
  // Nothing is left for the lease reaper.
  absl::StatusOr<std::vector<TrialRecord>> requeued = store_->RequeueExpiredLeases(3);
  ASSERT_OK(requeued);
  EXPECT_TRUE(requeued->empty());
  // Finishing again is a no-op; adding trials is refused.
  ASSERT_OK(store_->FinishSearch(search, SearchState::kCompleted));
  EXPECT_EQ(store_->GetSearch(search)->state, SearchState::kCancelled);
  EXPECT_EQ(store_->AddTrials(search, {Pending({0, 1, 2, 3, 4, 0})}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(StoreConformanceTest, FinishedTrialsAreStoredUpFrontWithFinishSequence) {
  const int64_t search = NewSearchId();
  NewTrial infeasible = Pending({3, 3, 3, 3, 3, 3});
  infeasible.state = TrialState::kInfeasible;
  infeasible.result = TrialResult{};
  infeasible.result->costs.flash_bytes = 5000000;
  infeasible.failure_reason = "flash 5000000 B over the 1048576 B of cortex-m7";
  infeasible.reward = 0;
  absl::StatusOr<std::vector<TrialRecord>> added =
      store_->AddTrials(search, {Pending({1, 1, 1, 1, 1, 1}), infeasible});
  ASSERT_OK(added);
  EXPECT_EQ((*added)[1].state, TrialState::kInfeasible);
  EXPECT_EQ((*added)[1].result->costs.flash_bytes, 5000000);
  absl::StatusOr<std::vector<TrialRecord>> since = store_->FinishedTrialsSince(search, 0);
  ASSERT_OK(since);
  ASSERT_EQ(since->size(), 1u);
  EXPECT_EQ((*since)[0].number, 2);
  absl::StatusOr<std::optional<TrialRecord>> found =
      store_->FindFinishedByHash(search, infeasible.canonical_hash);
  ASSERT_OK(found);
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->number, 2);
}

TEST_P(StoreConformanceTest, QueueCountsAgreeWithTheFullCounts) {
  const int64_t search = NewSearchId();
  NewTrial infeasible = Pending({3, 3, 3, 3, 3, 3});
  infeasible.state = TrialState::kInfeasible;
  infeasible.result = TrialResult{};
  infeasible.reward = 0;
  ASSERT_OK(store_->AddTrials(search, {Pending({0, 0, 0, 0, 0, 1}), Pending({0, 0, 0, 0, 0, 2}),
                                       Pending({0, 0, 0, 0, 0, 3}), Pending({0, 0, 0, 0, 0, 4}),
                                       Pending({0, 0, 0, 0, 0, 5}), Pending({0, 0, 0, 0, 0, 6}),
                                       Pending({0, 0, 0, 0, 0, 7}), infeasible}));
  Lease succeeded = MustLease(search, "w1");
  Lease failed = MustLease(search, "w2");
  Lease requeued = MustLease(search, "w3");
  Lease early = MustLease(search, "w4");
  Lease running = MustLease(search, "w5");
  MustLease(search, "w6");  // Stays LEASED.
  ASSERT_OK(store_->CompleteTrial(succeeded.lease_id, "w1", SampleResult(0.7),
                                  TrialState::kSucceeded, 0.7));
  ASSERT_OK(store_->FailTrial(failed.lease_id, "w2", "diverged", /*retryable=*/false, 3));
  ASSERT_OK(store_->FailTrial(requeued.lease_id, "w3", "out of memory", /*retryable=*/true, 3));
  ASSERT_OK(store_->CompleteTrial(early.lease_id, "w4", SampleResult(0.2),
                                  TrialState::kEarlyStopped, 0.2));
  ASSERT_OK(store_->RenewLease(running.lease_id, "w5", absl::Seconds(30),
                               EpochMetrics{1, {{"val_accuracy", 0.5}}}));
  // One more search's trials must not be counted.
  const int64_t other = NewSearchId(100, "other");
  ASSERT_OK(store_->AddTrials(other, {Pending({0, 0, 0, 0, 1, 1})}));

  absl::StatusOr<TrialCounts> full = store_->CountTrials(search);
  absl::StatusOr<QueueCounts> queue = store_->CountQueue(search);
  ASSERT_OK(full);
  ASSERT_OK(queue);
  EXPECT_EQ(queue->pending, 2);   // The requeued trial and the seventh.
  EXPECT_EQ(queue->running, 2);   // One LEASED, one RUNNING.
  EXPECT_EQ(queue->finished, 4);  // SUCCEEDED, FAILED, EARLY_STOPPED, INFEASIBLE.
  EXPECT_EQ(queue->pending, full->pending);
  EXPECT_EQ(queue->running, full->running);
  EXPECT_EQ(queue->finished, full->finished());
  EXPECT_EQ(store_->CountQueue(987654).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, ListsPageAndFilter) {
  const int64_t search = NewSearchId();
  std::vector<NewTrial> batch;
  for (int i = 0; i < 25; ++i) batch.push_back(Pending({i % 5, i / 5, 0, 0, 0, 1}));
  ASSERT_OK(store_->AddTrials(search, batch));
  for (int i = 0; i < 3; ++i) {
    Lease l = MustLease(search, "w1");
    ASSERT_OK(store_->CompleteTrial(l.lease_id, "w1", SampleResult(0.5 + 0.1 * i),
                                    TrialState::kSucceeded, 0.5 + 0.1 * i));
  }
  absl::StatusOr<Page<TrialRecord>> page =
      store_->ListTrials({.search_id = search, .page_size = 10});
  ASSERT_OK(page);
  EXPECT_EQ(page->items.size(), 10u);
  EXPECT_EQ(page->items.front().number, 1);
  page = store_->ListTrials(
      {.search_id = search, .page_size = 10, .page_token = page->next_page_token});
  ASSERT_OK(page);
  EXPECT_EQ(page->items.front().number, 11);
  page = store_->ListTrials(
      {.search_id = search, .state = TrialState::kSucceeded, .order = TrialOrder::kRewardDesc});
  ASSERT_OK(page);
  ASSERT_EQ(page->items.size(), 3u);
  EXPECT_EQ(page->items[0].number, 3);
  EXPECT_TRUE(page->next_page_token.empty());

  absl::StatusOr<SearchRecord> s = store_->GetSearch(search);
  ASSERT_OK(s);
  EXPECT_EQ(s->counts.succeeded, 3);
  EXPECT_EQ(s->counts.pending, 22);
  ASSERT_TRUE(s->best_trial.has_value());
  EXPECT_EQ(s->best_trial->number, 3);

  absl::StatusOr<User> bob = store_->CreateUser("bob", false);
  ASSERT_OK(bob);
  NewSearch theirs{
      .name = "bobs", .owner_id = bob->id, .spec_yaml = "x", .space = "nb201", .budget = 5};
  ASSERT_OK(store_->CreateSearch(theirs));
  absl::StatusOr<Page<SearchRecord>> mine = store_->ListSearches({.owner_id = alice_.id});
  ASSERT_OK(mine);
  ASSERT_EQ(mine->items.size(), 1u);
  EXPECT_EQ(mine->items[0].owner, "alice");
  absl::StatusOr<Page<SearchRecord>> all = store_->ListSearches({});
  ASSERT_OK(all);
  EXPECT_EQ(all->items.size(), 2u);
  EXPECT_EQ(all->items[0].name, "bobs");  // Newest first.
}

TEST_P(StoreConformanceTest, IdempotentSubmission) {
  NewSearch s{.name = "once",
              .owner_id = alice_.id,
              .spec_yaml = "x",
              .space = "nb201",
              .budget = 5,
              .idempotency_key = "key-1"};
  absl::StatusOr<SearchRecord> a = store_->CreateSearch(s);
  absl::StatusOr<SearchRecord> b = store_->CreateSearch(s);
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(a->id, b->id);
}

TEST_P(StoreConformanceTest, TokensAreStoredHashedAndAuthenticate) {
  absl::StatusOr<std::string> token = store_->IssueToken(alice_.id);
  ASSERT_OK(token);
  EXPECT_THAT(*token, ::testing::StartsWith("hwn_"));
  absl::StatusOr<User> who = store_->Authenticate(*token);
  ASSERT_OK(who);
  EXPECT_EQ(who->name, "alice");
  EXPECT_EQ(store_->Authenticate("hwn_wrong").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(store_->Authenticate("").status().code(), absl::StatusCode::kUnauthenticated);
  // The plaintext is nowhere in the table.
  std::optional<std::string> plain =
      backend().Sql(absl::StrCat("SELECT count(*) FROM api_tokens WHERE "
                                 "encode(token_sha256, 'escape') LIKE '%",
                                 token->substr(4), "%' OR prefix = '", *token, "'"));
  if (plain) {
    EXPECT_EQ(*plain, "0");
  }
  // Revoked tokens no longer authenticate.
  absl::StatusOr<int> revoked = store_->RevokeTokens(alice_.id);
  ASSERT_OK(revoked);
  EXPECT_EQ(*revoked, 1);
  EXPECT_EQ(store_->Authenticate(*token).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(*store_->RevokeTokens(alice_.id), 0);
  EXPECT_EQ(store_->CreateUser("alice", true).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->CreateUser("bad name;--", true).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreConformanceTest, CheckpointsKeepTheLatest) {
  const int64_t search = NewSearchId();
  std::string bytes("\0\1\2binary\xff", 10);
  for (int seq = 1; seq <= 5; ++seq) {
    ASSERT_OK(
        store_->SaveCheckpoint(search, Checkpoint{seq, bytes + std::to_string(seq), seq * 10}));
  }
  absl::StatusOr<std::optional<Checkpoint>> latest = store_->LoadLatestCheckpoint(search);
  ASSERT_OK(latest);
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->sequence, 5);
  EXPECT_EQ((*latest)->state, bytes + "5");
  EXPECT_EQ((*latest)->observed_through, 50);
  // Only the last three are kept.
  std::optional<std::string> kept = backend().Sql("SELECT count(*) FROM controller_checkpoints");
  if (kept) {
    EXPECT_EQ(*kept, "3");
  }
  EXPECT_EQ(store_->SaveCheckpoint(424242, Checkpoint{1, "x", 0}).code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, WorkersRegisterByNamePerOwner) {
  absl::StatusOr<User> fleet = store_->CreateUser("fleet", false, true);
  absl::StatusOr<User> other = store_->CreateUser("other-fleet", false, true);
  ASSERT_OK(fleet);
  ASSERT_OK(other);
  WorkerRecord w;
  w.owner_id = fleet->id;
  w.name = "host-a/1";
  w.device_kind = "cpu";
  w.threads = 2;
  w.datasets = {"fashion-mnist", "ecg5000"};
  w.search_spaces = {"nb201", "mnasnet"};
  w.evaluators = {"train", "table"};
  absl::StatusOr<WorkerRecord> first = store_->UpsertWorker(w);
  ASSERT_OK(first);
  EXPECT_EQ(first->owner_id, fleet->id);
  w.threads = 4;
  absl::StatusOr<WorkerRecord> second = store_->UpsertWorker(w);
  ASSERT_OK(second);
  EXPECT_EQ(first->id, second->id);
  EXPECT_EQ(second->threads, 4);
  EXPECT_EQ(second->datasets, w.datasets);
  // The same name under another owner is another worker; the first keeps
  // its capabilities.
  WorkerRecord impostor = w;
  impostor.owner_id = other->id;
  impostor.datasets = {"x"};
  absl::StatusOr<WorkerRecord> third = store_->UpsertWorker(impostor);
  ASSERT_OK(third);
  EXPECT_NE(third->id, first->id);
  absl::StatusOr<WorkerRecord> kept = store_->GetWorker(first->id);
  ASSERT_OK(kept);
  EXPECT_EQ(kept->datasets, w.datasets);
  EXPECT_EQ(kept->owner_id, fleet->id);
  // No owner: refused before the database.
  WorkerRecord orphan = w;
  orphan.owner_id = 0;
  EXPECT_EQ(store_->UpsertWorker(orphan).status().code(), absl::StatusCode::kInvalidArgument);
  // Empty capability lists are fine (the audit's "null value in column").
  WorkerRecord bare;
  bare.owner_id = fleet->id;
  bare.name = "bare";
  absl::StatusOr<WorkerRecord> b = store_->UpsertWorker(bare);
  ASSERT_OK(b);
  EXPECT_TRUE(b->datasets.empty());
  EXPECT_TRUE(b->evaluators.empty());
  ASSERT_OK(store_->TouchWorker(first->id));
  absl::StatusOr<std::vector<WorkerRecord>> alive = store_->ListWorkers(absl::Minutes(1));
  ASSERT_OK(alive);
  EXPECT_EQ(alive->size(), 3u);
  EXPECT_EQ(store_->TouchWorker("w-nobody").code(), absl::StatusCode::kNotFound);
}

// The store's errors reach clients: they say what was refused, never the
// SQL or PostgreSQL's own text (that goes to the server's log).
TEST_P(StoreConformanceTest, ErrorsCarryNoSql) {
  absl::Status s = store_->AppendEvent(424242, std::nullopt, "x", "{}");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("ERROR")));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("violates")));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("events")));
  EXPECT_THAT(std::string(s.message()), HasSubstr("append event"));
}

TEST_P(StoreConformanceTest, EventsAppendAndList) {
  const int64_t search = NewSearchId();
  ASSERT_OK(store_->AppendEvent(search, 3, "trial_finished", R"({"reward": 0.5})"));
  EXPECT_EQ(store_->AppendEvent(search, std::nullopt, "x", "{not json").code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::vector<Event>> events = store_->ListEvents(search, 0, 100);
  ASSERT_OK(events);
  ASSERT_EQ(events->size(), 2u);  // search_created + ours.
  EXPECT_EQ((*events)[1].kind, "trial_finished");
  EXPECT_EQ((*events)[1].trial_number, 3);
}

TEST_P(StoreConformanceTest, ProposalsAndTheirCheckpointCommitTogether) {
  NewSearch s{.name = "seeded",
              .owner_id = alice_.id,
              .spec_yaml = "x",
              .space = "nb201",
              .budget = 5,
              .seed = 12345678901234ull};
  absl::StatusOr<SearchRecord> search = store_->CreateSearch(s);
  ASSERT_OK(search);
  EXPECT_EQ(search->seed, 12345678901234ull);
  NewTrial t = Pending({1, 2, 3, 4, 0, 1});
  t.proposal_id = 7;
  absl::StatusOr<std::vector<TrialRecord>> added =
      store_->AddTrials(search->id, {t}, Checkpoint{1, "state-after-7", 0});
  ASSERT_OK(added);
  EXPECT_EQ((*added)[0].proposal_id, 7u);
  absl::StatusOr<std::optional<Checkpoint>> cp = store_->LoadLatestCheckpoint(search->id);
  ASSERT_OK(cp);
  ASSERT_TRUE(cp->has_value());
  EXPECT_EQ((*cp)->state, "state-after-7");
  // A batch that fails validation stores neither trials nor checkpoint.
  EXPECT_FALSE(store_->AddTrials(search->id, {Pending({})}, Checkpoint{2, "bad", 0}).ok());
  EXPECT_EQ((*store_->LoadLatestCheckpoint(search->id))->sequence, 1);
}

TEST_P(StoreConformanceTest, LooksUpTrialsByLeaseAndCollectsCurves) {
  const int64_t search = NewSearchId();
  ASSERT_OK(store_->AddTrials(search, {Pending({1, 1, 1, 1, 1, 1}), Pending({2, 2, 2, 2, 2, 2})}));
  Lease a = MustLease(search, "w1");
  absl::StatusOr<TrialRecord> byLease = store_->GetTrialByLease(a.lease_id);
  ASSERT_OK(byLease);
  EXPECT_EQ(byLease->number, 1);
  EXPECT_EQ(store_->GetTrialByLease("nope").status().code(), absl::StatusCode::kNotFound);
  for (int epoch = 1; epoch <= 2; ++epoch) {
    ASSERT_OK(store_->RenewLease(a.lease_id, "w1", absl::Seconds(30),
                                 EpochMetrics{epoch, {{"val_accuracy", 0.1 * epoch}}}));
  }
  Lease b = MustLease(search, "w1");
  ASSERT_OK(store_->RenewLease(b.lease_id, "w1", absl::Seconds(30),
                               EpochMetrics{1, {{"val_accuracy", 0.9}}}));
  ASSERT_OK(
      store_->CompleteTrial(a.lease_id, "w1", SampleResult(0.2), TrialState::kSucceeded, 0.2));
  // Only finished trials have curves; b is still running.
  absl::StatusOr<std::map<int64_t, std::map<int, double>>> curves =
      store_->FinishedCurves(search, "val_accuracy");
  ASSERT_OK(curves);
  ASSERT_EQ(curves->size(), 1u);
  EXPECT_DOUBLE_EQ(curves->at(1).at(2), 0.2);
  EXPECT_EQ(store_->GetTrial(search, 1, false)->finish_seq, 1);
}

// #19: trials carry their origin; enqueued ones are leased before the
// strategy's (whatever their numbers), imported ones are stored finished and
// never leased; a bad row in a guided batch stores nothing of it.
TEST_P(StoreConformanceTest, TrialOriginsRoundTripAndSetTheLeaseOrder) {
  const int64_t search = NewSearchId();
  ASSERT_OK(store_->AddTrials(search, {Pending({1, 1, 1, 1, 1, 1}), Pending({2, 2, 2, 2, 2, 2})}));
  NewTrial enqueued = Pending({3, 3, 3, 3, 3, 3});
  enqueued.origin = TrialOrigin::kEnqueued;
  NewTrial imported = Pending({4, 4, 4, 4, 4, 4});
  imported.origin = TrialOrigin::kImported;
  imported.state = TrialState::kSucceeded;
  imported.result = SampleResult(0.9);
  imported.reward = 0.9;
  absl::StatusOr<std::vector<TrialRecord>> added = store_->AddTrials(search, {enqueued, imported});
  ASSERT_OK(added);
  ASSERT_EQ(added->size(), 2u);
  EXPECT_EQ((*added)[0].number, 3);
  EXPECT_EQ((*added)[0].origin, TrialOrigin::kEnqueued);
  EXPECT_EQ((*added)[0].state, TrialState::kPending);
  EXPECT_EQ((*added)[1].origin, TrialOrigin::kImported);
  EXPECT_EQ((*added)[1].state, TrialState::kSucceeded);
  EXPECT_EQ((*added)[1].finish_seq, 1);
  ASSERT_TRUE((*added)[1].result.has_value());
  EXPECT_DOUBLE_EQ((*added)[1].result->accuracy, 0.9);

  // Trial 3 (enqueued) first, then 1 and 2 by number; the imported trial 4
  // is never handed out.
  EXPECT_EQ(MustLease(search, "w1").trial.number, 3);
  absl::StatusOr<std::vector<std::optional<Lease>>> batch =
      store_->LeaseTrials({"w1", "w2", "w3"}, {search}, absl::Seconds(30));
  ASSERT_OK(batch);
  ASSERT_TRUE((*batch)[0].has_value());
  ASSERT_TRUE((*batch)[1].has_value());
  EXPECT_EQ((*batch)[0]->trial.number, 1);
  EXPECT_EQ((*batch)[1]->trial.number, 2);
  EXPECT_FALSE((*batch)[2].has_value());

  // The origin survives every read path.
  EXPECT_EQ(store_->GetTrial(search, 3, false)->origin, TrialOrigin::kEnqueued);
  EXPECT_EQ(store_->GetTrial(search, 1, false)->origin, TrialOrigin::kStrategy);
  absl::StatusOr<std::vector<TrialRecord>> finished = store_->FinishedTrialsSince(search, 0);
  ASSERT_OK(finished);
  ASSERT_EQ(finished->size(), 1u);
  EXPECT_EQ((*finished)[0].origin, TrialOrigin::kImported);
  absl::StatusOr<Page<TrialRecord>> page = store_->ListTrials({.search_id = search});
  ASSERT_OK(page);
  ASSERT_EQ(page->items.size(), 4u);
  EXPECT_EQ(page->items[3].origin, TrialOrigin::kImported);
  if (std::optional<std::string> rows = backend().Sql(
          absl::StrCat("SELECT trial_number, origin FROM v_trials WHERE search_id = ", search,
                       " ORDER BY trial_number"))) {
    EXPECT_EQ(*rows, "1|strategy\n2|strategy\n3|enqueued\n4|imported");
  }
}

// A dnas search's supernet job is a trial of origin dnas_job whose epoch
// checkpoint lives in trial_checkpoints: it survives the job's lease expiring
// (the next lease resumes from it), a newer epoch replaces it, one over the
// byte limit is refused with the numbers and leaves the stored one, and the
// architectures the job found are trials of origin dnas.
// A supernet's state is tens of megabytes (62 MB for the DNAS benchmark's
// spec): it is stored and read back whole, every byte (common/message_limits.h).
TEST_P(StoreConformanceTest, LargeCheckpointRoundTripsByteForByte) {
  const int64_t search = NewSearchId();
  ASSERT_OK(store_->AddTrials(search, {Pending({1, 2, 3})}));
  std::string big(size_t{64} << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  ASSERT_OK(store_->SaveTrialCheckpoint(search, TrialCheckpoint{1, 3, 0.5, big}, int64_t{1} << 30));
  absl::StatusOr<std::optional<TrialCheckpoint>> loaded = store_->LoadTrialCheckpoint(search, 1);
  ASSERT_OK(loaded);
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->epochs, 3);
  EXPECT_EQ((*loaded)->data.size(), big.size());
  EXPECT_TRUE((*loaded)->data == big);
}

TEST_P(StoreConformanceTest, DnasJobCheckpointSurvivesItsLeaseAndItsTrialsAreOfOriginDnas) {
  const int64_t search = NewSearchId();
  NewTrial job = Pending({0, 0, 0, 0, 0, 0});
  job.origin = TrialOrigin::kDnasJob;
  job.canonical_hash = 0;
  absl::StatusOr<std::vector<TrialRecord>> added = store_->AddTrials(search, {job});
  ASSERT_OK(added);
  EXPECT_EQ((*added)[0].origin, TrialOrigin::kDnasJob);
  Lease first = MustLease(search, "w1", absl::Milliseconds(300));
  EXPECT_EQ(first.trial.origin, TrialOrigin::kDnasJob);
  ASSERT_OK(store_->RenewLease(first.lease_id, "w1", absl::Milliseconds(300),
                               EpochMetrics{1, {{"train_loss", 2.5}, {"tau", 5}}}));
  std::string epoch1("sn\0w1", 5);
  epoch1.append(195, 'a');  // 200 bytes, a zero byte inside.
  ASSERT_OK(store_->SaveTrialCheckpoint(search, TrialCheckpoint{1, 1, 0, epoch1}, 1000));

  // The worker dies: the lease expires, the job goes back to the queue and
  // its next lease finds the epoch-1 checkpoint.
  backend().Wait(absl::Milliseconds(500));
  ASSERT_OK(store_->RequeueExpiredLeases(3));
  Lease second = MustLease(search, "w2");
  EXPECT_EQ(second.trial.number, 1);
  EXPECT_EQ(second.trial.attempts, 2);
  absl::StatusOr<std::optional<TrialCheckpoint>> loaded = store_->LoadTrialCheckpoint(search, 1);
  ASSERT_OK(loaded);
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->epochs, 1);
  EXPECT_EQ((*loaded)->data, epoch1);

  // Epoch 2 replaces it; an epoch-3 state over the limit is refused with
  // the numbers and epoch 2 stays.
  const std::string epoch2(400, 'b');
  ASSERT_OK(store_->SaveTrialCheckpoint(search, TrialCheckpoint{1, 2, 0, epoch2}, 1000));
  absl::StatusOr<CheckpointSaved> over =
      store_->SaveTrialCheckpoint(search, TrialCheckpoint{1, 3, 0, std::string(1500, 'c')}, 1000);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(over.status().message(), HasSubstr("1500 bytes, over its limit of 1000 bytes"));
  loaded = store_->LoadTrialCheckpoint(search, 1);
  ASSERT_OK(loaded);
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->epochs, 2);
  EXPECT_EQ((*loaded)->data, epoch2);

  // The architectures it found, then the job's end.
  NewTrial found = Pending({1, 2, 3, 0, 1, 2});
  found.origin = TrialOrigin::kDnas;
  added = store_->AddTrials(search, {found});
  ASSERT_OK(added);
  EXPECT_EQ((*added)[0].number, 2);
  EXPECT_EQ((*added)[0].origin, TrialOrigin::kDnas);
  EXPECT_EQ((*added)[0].state, TrialState::kPending);
  TrialResult r;
  r.epochs = 3;
  ASSERT_OK(store_->CompleteTrial(second.lease_id, "w2", r, TrialState::kSucceeded, std::nullopt));
  ASSERT_OK(store_->DeleteTrialCheckpoint(search, 1));
  loaded = store_->LoadTrialCheckpoint(search, 1);
  ASSERT_OK(loaded);
  EXPECT_FALSE(loaded->has_value());
  EXPECT_EQ(store_->GetTrial(search, 1, false)->origin, TrialOrigin::kDnasJob);
  EXPECT_EQ(store_->GetTrial(search, 2, false)->origin, TrialOrigin::kDnas);
  if (std::optional<std::string> rows = backend().Sql(absl::StrCat(
          "SELECT trial_number, origin, state FROM v_trials WHERE search_id = ", search,
          " ORDER BY trial_number"))) {
    EXPECT_EQ(*rows, "1|dnas_job|SUCCEEDED\n2|dnas|PENDING");
  }
}

TEST_P(StoreConformanceTest, GuidedBatchesAreAllOrNothing) {
  const int64_t search = NewSearchId();
  NewTrial good = Pending({1, 2, 3, 4, 0, 1});
  good.origin = TrialOrigin::kImported;
  good.state = TrialState::kSucceeded;
  good.result = SampleResult(0.8);
  good.reward = 0.8;
  NewTrial nan = good;
  nan.architecture = Arch({2, 2, 2, 2, 2, 2});
  nan.result = SampleResult(std::numeric_limits<double>::quiet_NaN());
  absl::StatusOr<std::vector<TrialRecord>> added = store_->AddTrials(search, {good, nan});
  EXPECT_EQ(added.status().code(), absl::StatusCode::kInvalidArgument);
  // An imported trial without its result, or still pending, is refused too.
  NewTrial no_result = good;
  no_result.result.reset();
  EXPECT_EQ(store_->AddTrials(search, {no_result}).status().code(),
            absl::StatusCode::kInvalidArgument);
  NewTrial pending_import = Pending({1, 1, 1, 1, 1, 1});
  pending_import.origin = TrialOrigin::kImported;
  EXPECT_EQ(store_->AddTrials(search, {pending_import}).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<TrialCounts> counts = store_->CountTrials(search);
  ASSERT_OK(counts);
  EXPECT_EQ(counts->total, 0);
  EXPECT_EQ(*store_->LastFinishSequence(search), 0);
  // Numbering did not move: the next stored trial is number 1.
  added = store_->AddTrials(search, {good});
  ASSERT_OK(added);
  EXPECT_EQ((*added)[0].number, 1);
}

}  // namespace hwnas::db::conformance

// MemoryStore: the conformance suite (store_conformance.cc) on the in-memory
// store, plus what only a fake clock can show quickly: lease expiry and
// liveness at exact instants. Needs no PostgreSQL.
#include <memory>

#include "common/clock.h"
#include "db/memory_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/db/store_conformance.h"
#include "tests/testing/status_matchers.h"

namespace hwnas::db::conformance {
namespace {

using ::testing::HasSubstr;

class MemoryBackend : public StoreBackend {
 public:
  absl::StatusOr<std::unique_ptr<Store>> NewStore() override {
    return std::make_unique<MemoryStore>(clock_);
  }
  void Wait(absl::Duration d) override { clock_.Advance(d); }
  std::optional<std::string> Sql(const std::string&) override { return std::nullopt; }

 private:
  FakeClock clock_;
};

INSTANTIATE_TEST_SUITE_P(Memory, StoreConformanceTest,
                         ::testing::Values(BackendParam{"Memory",
                                                        +[]() -> std::unique_ptr<StoreBackend> {
                                                          return std::make_unique<MemoryBackend>();
                                                        }}),
                         BackendName);

class MemoryStoreClockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<User> user = store_.CreateUser("alice", false);
    ASSERT_OK(user);
    NewSearch s{.name = "s", .owner_id = user->id, .spec_yaml = "x", .space = "nb201", .budget = 9};
    absl::StatusOr<SearchRecord> search = store_.CreateSearch(s);
    ASSERT_OK(search);
    search_ = search->id;
    ASSERT_OK(store_.AddTrials(search_, {Pending({1, 1, 1, 1, 1, 1})}));
  }

  Lease MustLease(const std::string& worker, absl::Duration ttl) {
    absl::StatusOr<std::optional<Lease>> lease = store_.LeaseTrial({worker, {search_}, ttl});
    EXPECT_TRUE(lease.ok() && lease->has_value());
    return lease.ok() && lease->has_value() ? **lease : Lease{};
  }

  FakeClock clock_;
  MemoryStore store_{clock_};
  int64_t search_ = 0;
};

TEST_F(MemoryStoreClockTest, LeasesExpireExactlyAtTheirDeadline) {
  const absl::Time start = clock_.Now();
  Lease lease = MustLease("w1", absl::Seconds(30));
  EXPECT_EQ(lease.expires_at, start + absl::Seconds(30));
  clock_.Advance(absl::Seconds(30));
  // Not before the deadline has passed.
  absl::StatusOr<std::vector<TrialRecord>> requeued = store_.RequeueExpiredLeases(3);
  ASSERT_OK(requeued);
  EXPECT_TRUE(requeued->empty());
  clock_.Advance(absl::Microseconds(1));
  requeued = store_.RequeueExpiredLeases(3);
  ASSERT_OK(requeued);
  ASSERT_EQ(requeued->size(), 1u);
  EXPECT_EQ((*requeued)[0].state, TrialState::kPending);
  EXPECT_THAT((*requeued)[0].failure_reason, HasSubstr("worker w1 stopped sending heartbeats"));
  EXPECT_FALSE((*requeued)[0].lease_expires_at.has_value());
}

TEST_F(MemoryStoreClockTest, HeartbeatsMoveTheDeadline) {
  Lease lease = MustLease("w1", absl::Seconds(10));
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(absl::Seconds(8));
    absl::StatusOr<LeaseStatus> hb = store_.RenewLease(lease.lease_id, "w1", absl::Seconds(10),
                                                       EpochMetrics{i, {{"val_accuracy", 0.1}}});
    ASSERT_OK(hb);
    EXPECT_EQ(hb->expires_at, clock_.Now() + absl::Seconds(10));
    ASSERT_OK(store_.RequeueExpiredLeases(3));
    EXPECT_EQ(store_.GetTrial(search_, 1, false)->state, TrialState::kRunning);
  }
  // 40 s after the lease was taken it is still held; silence ends it.
  clock_.Advance(absl::Seconds(11));
  absl::StatusOr<std::vector<TrialRecord>> requeued = store_.RequeueExpiredLeases(3);
  ASSERT_OK(requeued);
  ASSERT_EQ(requeued->size(), 1u);
  EXPECT_EQ(
      store_.RenewLease(lease.lease_id, "w1", absl::Seconds(10), std::nullopt).status().code(),
      absl::StatusCode::kFailedPrecondition);
  // The next lease is a new one, attempt 2, and the old lease's late result
  // is refused.
  Lease again = MustLease("w2", absl::Seconds(10));
  EXPECT_EQ(again.trial.attempts, 2);
  EXPECT_EQ(
      store_.CompleteTrial(lease.lease_id, "w1", SampleResult(0.5), TrialState::kSucceeded, 0.5)
          .status()
          .code(),
      absl::StatusCode::kFailedPrecondition);
  ASSERT_OK(
      store_.CompleteTrial(again.lease_id, "w2", SampleResult(0.5), TrialState::kSucceeded, 0.5));
}

TEST_F(MemoryStoreClockTest, ALeaseOfAFinishedSearchIsCancelledWithIt) {
  Lease lease = MustLease("w1", absl::Seconds(5));
  ASSERT_OK(store_.FinishSearch(search_, SearchState::kCompleted));
  EXPECT_EQ(store_.GetTrial(search_, lease.trial.number, false)->state, TrialState::kCancelled);
  clock_.Advance(absl::Seconds(6));
  absl::StatusOr<std::vector<TrialRecord>> requeued = store_.RequeueExpiredLeases(3);
  ASSERT_OK(requeued);
  EXPECT_TRUE(requeued->empty());
  EXPECT_EQ(*store_.LastFinishSequence(search_), 0);
}

TEST_F(MemoryStoreClockTest, WorkersAreAliveWithinTheirWindow) {
  absl::StatusOr<User> fleet = store_.CreateUser("fleet", false, true);
  ASSERT_OK(fleet);
  WorkerRecord w{.owner_id = fleet->id, .name = "a"};
  absl::StatusOr<WorkerRecord> a = store_.UpsertWorker(w);
  ASSERT_OK(a);
  EXPECT_EQ(a->registered_at, clock_.Now());
  clock_.Advance(absl::Seconds(50));
  w.name = "b";
  ASSERT_OK(store_.UpsertWorker(w));
  clock_.Advance(absl::Seconds(20));
  absl::StatusOr<std::vector<WorkerRecord>> alive = store_.ListWorkers(absl::Minutes(1));
  ASSERT_OK(alive);
  ASSERT_EQ(alive->size(), 1u);
  EXPECT_EQ((*alive)[0].name, "b");
  ASSERT_OK(store_.TouchWorker(a->id));
  alive = store_.ListWorkers(absl::Minutes(1));
  ASSERT_OK(alive);
  EXPECT_EQ(alive->size(), 2u);
  // Re-registering keeps the registration time and moves the heartbeat.
  clock_.Advance(absl::Seconds(5));
  w.name = "a";
  absl::StatusOr<WorkerRecord> again = store_.UpsertWorker(w);
  ASSERT_OK(again);
  EXPECT_EQ(again->id, a->id);
  EXPECT_EQ(again->registered_at, a->registered_at);
  EXPECT_EQ(again->last_heartbeat, clock_.Now());
}

TEST_F(MemoryStoreClockTest, TimestampsComeFromTheClock) {
  const absl::Time t0 = clock_.Now();
  clock_.Advance(absl::Seconds(3));
  Lease lease = MustLease("w1", absl::Seconds(30));
  EXPECT_EQ(lease.trial.created_at, t0);
  EXPECT_EQ(lease.trial.started_at, t0 + absl::Seconds(3));
  clock_.Advance(absl::Seconds(4));
  absl::StatusOr<ReportOutcome> done =
      store_.CompleteTrial(lease.lease_id, "w1", SampleResult(0.5), TrialState::kSucceeded, 0.5);
  ASSERT_OK(done);
  EXPECT_EQ(done->trial.finished_at, t0 + absl::Seconds(7));
  EXPECT_FALSE(done->trial.lease_expires_at.has_value());
}

}  // namespace
}  // namespace hwnas::db::conformance

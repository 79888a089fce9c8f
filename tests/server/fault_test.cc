// An outside-style fault test, kept in CI so that the guarantees stay
// measured: a private PostgreSQL, the real hwnas-server and several real
// hwnas-worker processes (batching and not) run NAS-Bench-201 table
// searches while the test kill -9s the server (once while PostgreSQL is
// down, so it starts before its database), kill -9s workers mid-batch and
// restarts PostgreSQL in immediate mode. Afterwards every search has exactly
// its budget of trials, numbered without gaps, each finished once with the
// table's own accuracy and latency.
//
// Faults are paced by progress (trials finished since the last fault), not
// by the clock, and every wait has a generous deadline: a loaded machine
// makes the test slower, not flaky.
#include <signal.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/cluster.h"

namespace hwnas::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kLeaseTtlSeconds = 3;  // Killed workers' trials come back fast.
constexpr int kWorkers = 4;
constexpr int kStep = 80;  // Trials finished between two faults.

class Chaos {
 public:
  explicit Chaos(Cluster* c) : c_(c) {}

  void StartWorker(int slot) {
    // Even slots take table trials 16 at a time (one report for the batch).
    std::vector<std::string> flags;
    if (slot % 2 == 0) flags = {"--batch", "16"};
    workers_[slot] = &c_->StartWorker(absl::StrCat("w", slot, "-", generation_++), flags);
  }

  void KillWorker(int slot) {
    workers_[slot]->Signal(SIGKILL);
    workers_[slot]->Wait(absl::Seconds(30));
    StartWorker(slot);
  }

  void RestartServer() {
    c_->KillServer();
    ASSERT_NO_FATAL_FAILURE(c_->StartServer(kLeaseTtlSeconds));
  }

  int64_t Finished(const std::vector<int64_t>& ids) {
    int64_t n = 0;
    for (int64_t id : ids) n += c_->Search(id).counts.finished();
    return n;
  }

  // Waits until `kStep` more trials have finished than at the last fault.
  void AwaitProgress(const std::vector<int64_t>& ids) {
    const int64_t target = last_ + kStep;
    ASSERT_TRUE(Cluster::Eventually([&] { return Finished(ids) >= target; }, absl::Minutes(3)))
        << "stuck at " << Finished(ids) << " finished trials\n"
        << c_->Log("server.log");
    last_ = Finished(ids);
  }

  int64_t last() const { return last_; }

 private:
  Cluster* c_;
  std::map<int, ChildProcess*> workers_;
  int generation_ = 0;
  int64_t last_ = 0;
};

TEST(FaultTest, KillsAndAPostgresRestartDuringSearchesLoseNothing) {
  Cluster c;
  ASSERT_NO_FATAL_FAILURE(c.StartServer(kLeaseTtlSeconds));
  Chaos chaos(&c);
  for (int i = 0; i < kWorkers; ++i) chaos.StartWorker(i);
  const std::vector<int> budgets = {500, 400, 300};
  std::vector<int64_t> ids;
  for (size_t i = 0; i < budgets.size(); ++i) {
    absl::StatusOr<hwnas::v1::Search> s = c.Submit(TableSpec(absl::StrCat("chaos", i), budgets[i]));
    ASSERT_OK(s);
    ids.push_back(s->id());
  }
  db::LocalPostgres& pg = PostgresEnvironment::Get()->postgres();

  // 1. The server, kill -9.
  ASSERT_NO_FATAL_FAILURE(chaos.AwaitProgress(ids));
  ASSERT_NO_FATAL_FAILURE(chaos.RestartServer());
  // 2. Two workers mid-batch, kill -9.
  ASSERT_NO_FATAL_FAILURE(chaos.AwaitProgress(ids));
  chaos.KillWorker(0);
  chaos.KillWorker(1);
  // 3. PostgreSQL, immediate stop; the server is killed while it is down and
  // starts before it (it must wait, not exit), then PostgreSQL comes back.
  ASSERT_NO_FATAL_FAILURE(chaos.AwaitProgress(ids));
  ASSERT_OK(pg.Kill());
  absl::SleepFor(absl::Seconds(1));
  ASSERT_NO_FATAL_FAILURE(chaos.RestartServer());
  absl::SleepFor(absl::Seconds(1));
  ASSERT_OK(pg.Start());
  // 4. A worker and the server together.
  ASSERT_NO_FATAL_FAILURE(chaos.AwaitProgress(ids));
  chaos.KillWorker(2);
  ASSERT_NO_FATAL_FAILURE(chaos.RestartServer());
  // 5. The server again, then the other two workers.
  ASSERT_NO_FATAL_FAILURE(chaos.AwaitProgress(ids));
  ASSERT_NO_FATAL_FAILURE(chaos.RestartServer());
  chaos.KillWorker(3);
  chaos.KillWorker(0);
  const int64_t at_last_fault = chaos.last();

  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_TRUE(Cluster::Eventually(
        [&] { return c.Search(ids[i]).state == SearchState::kCompleted; }, absl::Minutes(5)))
        << "search " << ids[i] << " finished " << c.Search(ids[i]).counts.finished() << " of "
        << budgets[i] << "\n"
        << c.Log("server.log");
  }
  int total = 0;
  for (int b : budgets) total += b;
  EXPECT_LT(at_last_fault, total) << "the searches finished before the faults; nothing was tested";
  for (size_t i = 0; i < ids.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("search ", ids[i]));
    SearchRecord s = c.Search(ids[i]);
    EXPECT_EQ(s.counts.finished(), budgets[i]);
    EXPECT_EQ(s.counts.total, budgets[i]);
    std::vector<TrialRecord> trials = c.Trials(ids[i]);
    ASSERT_NO_FATAL_FAILURE(ExpectExactlyTheBudget(trials, budgets[i]));
    ASSERT_NO_FATAL_FAILURE(ExpectTableValues(trials));
  }
  // The server restarted while PostgreSQL was down waited for it.
  EXPECT_THAT(c.Log("server.log"), HasSubstr("event=database_not_ready"));
}

}  // namespace
}  // namespace hwnas::testing

// The serve loop's logic against a fake WorkerClient and a fake executor:
// no network, no training, and time on a FakeClock that moves only when the
// loop sleeps, so the retry and heartbeat timing is checked exactly and the
// whole suite runs in milliseconds.
#include "worker/serve_loop.h"

#include <atomic>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/fake_worker_client.h"

namespace hwnas::worker {
namespace {

using ::testing::ElementsAre;
using testing::FakeWorkerClient;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kTableSpec[] = "evaluator: {kind: table}";
constexpr char kTrainSpec[] = "training: {epochs: 5}";

TrialLease Lease(const std::string& id, int64_t number, const std::string& spec) {
  TrialLease lease;
  lease.lease_id = id;
  lease.assignment.search_id = 3;
  lease.assignment.trial_number = number;
  lease.assignment.architecture = Architecture{"nb201", 1, {0, 1, 2, 3, 4, 0}, ""};
  lease.assignment.spec_yaml = spec;
  return lease;
}

std::vector<absl::Duration> Gaps(const std::vector<absl::Time>& times) {
  std::vector<absl::Duration> gaps;
  for (size_t i = 1; i < times.size(); ++i) gaps.push_back(times[i] - times[i - 1]);
  return gaps;
}

// Waits in real time (bounded, so a broken loop fails instead of hanging).
bool WaitFor(const std::function<bool()>& condition) {
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (!condition()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

// Table specs are lookups (accuracy from the trial number; the numbers in
// `failing` fail); the rest run `train`.
class FakeExecutor final : public TrialExecutor {
 public:
  using TrainFn = std::function<TrainingOutcome(const TrialAssignment&, const EpochCallback&,
                                                const std::atomic<bool>*)>;

  TrialKind KindOf(const TrialAssignment& a) override {
    return a.spec_yaml == kTableSpec ? TrialKind::kLookup : TrialKind::kTraining;
  }
  absl::StatusOr<TrialResult> Lookup(const TrialAssignment& a) override {
    ++lookups;
    if (failing.count(a.trial_number) > 0) {
      return absl::InvalidArgumentError(failure_message.empty()
                                            ? absl::StrCat("no row for trial ", a.trial_number)
                                            : failure_message);
    }
    TrialResult r;
    r.accuracy = 0.5 + a.trial_number / 100.0;
    return r;
  }
  TrainingOutcome Train(const TrialAssignment& a, const EpochCallback& epoch_done,
                        const std::atomic<bool>* interrupt) override {
    ++trainings;
    if (!train) return TrainingOutcome{TrialState::kSucceeded, TrialResult{}};
    return train(a, epoch_done, interrupt);
  }

  using DnasFn = std::function<DnasOutcome(const TrialAssignment&, const DnasEpochCallback&,
                                           const std::atomic<bool>*)>;
  DnasOutcome RunDnasJob(const TrialAssignment& a, const DnasEpochCallback& epoch_done,
                         const std::atomic<bool>* interrupt) override {
    ++dnas_jobs;
    return dnas(a, epoch_done, interrupt);
  }

  TrainFn train;
  DnasFn dnas;
  std::atomic<int> dnas_jobs{0};
  std::set<int64_t> failing;
  std::string failure_message;
  std::atomic<int> lookups{0};
  std::atomic<int> trainings{0};
};

class ServeLoopTest : public ::testing::Test {
 protected:
  ServeLoopTest() : client_(&clock_) {
    options_.name = "host/1";
    options_.server = "fake";
    options_.capabilities.evaluators = {"train", "table"};
    options_.capabilities.datasets = {"fashion_mnist"};
    options_.clock = &clock_;
    // Sleeping moves the fake clock; the short real pause keeps a spinning
    // heartbeat thread from starving the test's own thread.
    options_.sleep = [this](absl::Duration d) {
      clock_.Advance(d);
      absl::SleepFor(absl::Microseconds(20));
    };
    client_.StopWhenIdle(&stop_);
  }

  absl::Status Run() { return RunServeLoop(client_, executor_, options_, &stop_); }

  // A training function that waits for the interrupt flag, then ends as an
  // interrupted trial does; `before` runs first.
  FakeExecutor::TrainFn WaitForInterrupt(std::function<void()> before = nullptr) {
    return
        [before](const TrialAssignment&, const EpochCallback&, const std::atomic<bool>* interrupt) {
          if (before) before();
          EXPECT_TRUE(WaitFor([&] { return interrupt->load(); }));
          return TrainingOutcome{TrialState::kCancelled, TrialResult{}};
        };
  }

  FakeClock clock_;
  FakeWorkerClient client_;
  FakeExecutor executor_;
  ServeLoopOptions options_;
  std::atomic<bool> stop_{false};
};

TEST_F(ServeLoopTest, RegistersThenLooksUpATrialAndReportsIt) {
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTableSpec)}});
  ASSERT_TRUE(Run().ok());
  EXPECT_THAT(client_.register_names(), ElementsAre("host/1"));
  ASSERT_THAT(client_.register_capabilities(), SizeIs(1));
  EXPECT_THAT(client_.register_capabilities()[0].evaluators, ElementsAre("train", "table"));
  EXPECT_EQ(client_.acquire_worker_ids()[0], "w-1");
  EXPECT_EQ(client_.acquire_waits()[0], options_.acquire_wait);
  ASSERT_THAT(client_.results(), SizeIs(1));
  EXPECT_EQ(client_.results()[0].lease_id, "L1");
  EXPECT_DOUBLE_EQ(client_.results()[0].result.accuracy, 0.51);
  EXPECT_FALSE(client_.results()[0].early_stopped);
  EXPECT_EQ(executor_.trainings.load(), 0);
  EXPECT_THAT(client_.progress_calls(), IsEmpty());  // A lookup needs no heartbeat.
}

TEST_F(ServeLoopTest, BacksOffWhileTheServerIsAwayCappedAtOneSecond) {
  for (int i = 0; i < 3; ++i) client_.AddRegister(absl::UnavailableError("connection refused"));
  for (int i = 0; i < 7; ++i) {
    client_.AddAcquire({absl::UnavailableError("connection refused")});
  }
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTableSpec)}});
  // Answering again resets the delay.
  client_.AddAcquire({absl::DeadlineExceededError("deadline")});
  client_.AddAcquire({absl::UnavailableError("connection refused")});
  client_.AddAcquire({std::vector<TrialLease>{Lease("L2", 2, kTableSpec)}});
  options_.max_trials = 2;
  ASSERT_TRUE(Run().ok());

  const absl::Duration ms = absl::Milliseconds(1);
  EXPECT_THAT(Gaps(client_.register_times()), ElementsAre(100 * ms, 200 * ms, 400 * ms));
  EXPECT_THAT(Gaps(client_.acquire_times()),
              ElementsAre(100 * ms, 200 * ms, 400 * ms, 800 * ms, 1000 * ms, 1000 * ms, 1000 * ms,
                          0 * ms, 100 * ms, 200 * ms));
  EXPECT_THAT(client_.results(), SizeIs(2));
}

TEST_F(ServeLoopTest, ARejectedTokenEndsServeWithoutRetrying) {
  client_.AddRegister(absl::UnauthenticatedError("unknown token"));
  absl::Status s = Run();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(client_.register_times(), SizeIs(1));
  EXPECT_THAT(client_.acquire_times(), IsEmpty());
}

TEST_F(ServeLoopTest, RegistersAgainWhenARestartedServerForgotTheWorker) {
  client_.AddRegister(Registration{"w-1", std::nullopt});
  client_.AddRegister(Registration{"w-2", std::nullopt});
  client_.AddAcquire({absl::FailedPreconditionError("worker w-1 is not registered")});
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTableSpec)}});
  options_.max_trials = 1;
  ASSERT_TRUE(Run().ok());
  EXPECT_THAT(client_.register_times(), SizeIs(2));
  EXPECT_THAT(client_.acquire_worker_ids(), ElementsAre("w-1", "w-2"));
  EXPECT_THAT(client_.results(), SizeIs(1));
}

TEST_F(ServeLoopTest, AnErrorRetryingCannotFixEndsServe) {
  client_.AddAcquire({absl::PermissionDeniedError("not a worker token")});
  EXPECT_EQ(Run().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(ServeLoopTest, ReportsAreRetriedUntilTheServerTakesThem) {
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTableSpec)}});
  client_.AddReportError(absl::UnavailableError("down"));
  client_.AddReportError(absl::AbortedError("serialization failure"));
  client_.AddReportError(absl::UnavailableError("down"));
  ASSERT_TRUE(Run().ok());
  const absl::Duration ms = absl::Milliseconds(1);
  EXPECT_THAT(Gaps(client_.report_attempt_times()), ElementsAre(100 * ms, 200 * ms, 400 * ms));
  EXPECT_THAT(client_.results(), SizeIs(1));
}

TEST_F(ServeLoopTest, AReportIsGivenUpAfterThePatienceRunsOut) {
  options_.report_patience = absl::Minutes(1);
  options_.max_trials = 1;
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTableSpec)}});
  client_.FailAllReports(absl::UnavailableError("down"));
  ASSERT_TRUE(Run().ok());  // The worker goes on; the lease will expire.
  const std::vector<absl::Time> attempts = client_.report_attempt_times();
  ASSERT_GE(attempts.size(), 2u);
  EXPECT_GE(attempts.back() - attempts.front(), absl::Minutes(1));
  EXPECT_LE(attempts.back() - attempts.front(), absl::Minutes(1) + kMaxRetryDelay);
  EXPECT_THAT(client_.results(), IsEmpty());
}

TEST_F(ServeLoopTest, HeartbeatsExtendTheLeaseWhileTraining) {
  client_.AddRegister(Registration{"w-1", absl::Seconds(1)});
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTrainSpec)}});
  executor_.train = [this](const TrialAssignment&, const EpochCallback&, const std::atomic<bool>*) {
    EXPECT_TRUE(WaitFor([&] { return client_.progress_calls().size() >= 3; }));
    TrialResult r;
    r.accuracy = 0.9;
    return TrainingOutcome{TrialState::kSucceeded, r};
  };
  ASSERT_TRUE(Run().ok());
  const std::vector<FakeWorkerClient::ProgressCall> beats = client_.progress_calls();
  ASSERT_GE(beats.size(), 3u);
  std::vector<absl::Time> times;
  for (const auto& b : beats) {
    EXPECT_EQ(b.lease_id, "L1");
    EXPECT_FALSE(b.has_metrics);  // Pure heartbeats.
    times.push_back(b.at);
  }
  // One per interval the server suggested.
  for (absl::Duration gap : Gaps(times)) EXPECT_EQ(gap, absl::Seconds(1));
  ASSERT_THAT(client_.results(), SizeIs(1));
  EXPECT_DOUBLE_EQ(client_.results()[0].result.accuracy, 0.9);
}

TEST_F(ServeLoopTest, AHeartbeatIntervalBelowTheFloorIsRaisedToIt) {
  client_.AddRegister(Registration{"w-1", absl::Milliseconds(10)});
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTrainSpec)}});
  executor_.train = [this](const TrialAssignment&, const EpochCallback&, const std::atomic<bool>*) {
    EXPECT_TRUE(WaitFor([&] { return client_.progress_calls().size() >= 3; }));
    return TrainingOutcome{TrialState::kSucceeded, TrialResult{}};
  };
  ASSERT_TRUE(Run().ok());
  std::vector<absl::Time> times;
  for (const auto& b : client_.progress_calls()) times.push_back(b.at);
  for (absl::Duration gap : Gaps(times)) EXPECT_EQ(gap, kMinHeartbeat);
}

TEST_F(ServeLoopTest, ACancelledSearchInterruptsTrainingAndNothingIsReported) {
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTrainSpec)}});
  client_.SetProgress([](bool, int count) -> absl::StatusOr<ProgressAction> {
    return count >= 2 ? ProgressAction::kCancelled : ProgressAction::kContinue;
  });
  executor_.train = WaitForInterrupt();
  ASSERT_TRUE(Run().ok());
  EXPECT_GE(client_.progress_calls().size(), 2u);
  EXPECT_THAT(client_.results(), IsEmpty());
  EXPECT_THAT(client_.failures(), IsEmpty());
}

TEST_F(ServeLoopTest, ALostLeaseInterruptsTrainingAndNothingIsReported) {
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTrainSpec)}});
  client_.SetProgress([](bool, int) -> absl::StatusOr<ProgressAction> {
    return absl::FailedPreconditionError("lease L1 expired");
  });
  executor_.train = WaitForInterrupt();
  ASSERT_TRUE(Run().ok());
  // Not retried (a retry would follow 100 ms later): the lease will not
  // come back. A second heartbeat may start before training has stopped.
  const std::vector<FakeWorkerClient::ProgressCall> beats = client_.progress_calls();
  ASSERT_GE(beats.size(), 1u);
  if (beats.size() > 1) {
    EXPECT_EQ(beats[1].at - beats[0].at, kDefaultHeartbeat);
  }
  EXPECT_THAT(client_.results(), IsEmpty());
  EXPECT_THAT(client_.failures(), IsEmpty());
}

TEST_F(ServeLoopTest, EarlyStoppingEndsTrainingAtAnEpochAndReportsTheResult) {
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTrainSpec)}});
  client_.SetProgress([](bool with_metrics, int count) -> absl::StatusOr<ProgressAction> {
    return with_metrics && count == 2 ? ProgressAction::kStopEarly : ProgressAction::kContinue;
  });
  int epochs = 0;
  executor_.train = [&epochs](const TrialAssignment&, const EpochCallback& epoch_done,
                              const std::atomic<bool>*) {
    TrialResult r;
    r.accuracy = 0.7;
    for (epochs = 1; epochs <= 5; ++epochs) {
      EpochMetrics m;
      m.epoch = epochs;
      if (!epoch_done(m)) return TrainingOutcome{TrialState::kEarlyStopped, r};
    }
    return TrainingOutcome{TrialState::kSucceeded, r};
  };
  ASSERT_TRUE(Run().ok());
  EXPECT_EQ(epochs, 2);
  int with_metrics = 0;
  for (const auto& c : client_.progress_calls()) with_metrics += c.has_metrics;
  EXPECT_EQ(with_metrics, 2);
  ASSERT_THAT(client_.results(), SizeIs(1));
  EXPECT_TRUE(client_.results()[0].early_stopped);
}

TEST_F(ServeLoopTest, AFailedTrainingIsReportedNotRetryableWithWhatWasMeasured) {
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTrainSpec)}});
  executor_.train = [](const TrialAssignment&, const EpochCallback&, const std::atomic<bool>*) {
    TrialResult r;
    r.error = "loss is NaN at epoch 2";
    return TrainingOutcome{TrialState::kFailed, r};
  };
  ASSERT_TRUE(Run().ok());
  ASSERT_THAT(client_.failures(), SizeIs(1));
  EXPECT_EQ(client_.failures()[0].reason, "loss is NaN at epoch 2");
  EXPECT_FALSE(client_.failures()[0].retryable);
  EXPECT_TRUE(client_.failures()[0].has_partial);
}

TEST_F(ServeLoopTest, AFailedTrainingIsNotReportedInfeasible) {
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTrainSpec)}});
  executor_.train = [](const TrialAssignment&, const EpochCallback&, const std::atomic<bool>*) {
    TrialResult r;
    r.error = "MCU measurement: measuring target m7 on cortex-m7: QEMU timed out";
    return TrainingOutcome{TrialState::kFailed, r};
  };
  ASSERT_TRUE(Run().ok());
  ASSERT_THAT(client_.failures(), SizeIs(1));
  EXPECT_FALSE(client_.failures()[0].infeasible);
}

// serve --measure-mcu: a firmware over the device's flash is a final answer
// (INFEASIBLE with the measured numbers), not a failure to retry.
TEST_F(ServeLoopTest, AnInfeasibleMeasurementIsReportedInfeasibleWithTheResult) {
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTrainSpec)}});
  executor_.train = [](const TrialAssignment&, const EpochCallback&, const std::atomic<bool>*) {
    TrialResult r;
    r.accuracy = 0.8;
    r.estimates["measured_flash_bytes@m7"] = 40000;
    r.error = "target m7: measured flash 40000 B exceeds cortex-m7's 32768 B";
    return TrainingOutcome{TrialState::kInfeasible, r};
  };
  ASSERT_TRUE(Run().ok());
  ASSERT_THAT(client_.failures(), SizeIs(1));
  EXPECT_EQ(client_.failures()[0].reason,
            "target m7: measured flash 40000 B exceeds cortex-m7's 32768 B");
  EXPECT_TRUE(client_.failures()[0].infeasible);
  EXPECT_FALSE(client_.failures()[0].retryable);
  EXPECT_TRUE(client_.failures()[0].has_partial);
  EXPECT_THAT(client_.results(), IsEmpty());
}

TEST_F(ServeLoopTest, ShutdownDuringTrainingHandsTheTrialBack) {
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTrainSpec)}});
  executor_.train = WaitForInterrupt([this] { stop_ = true; });  // SIGTERM mid-trial.
  ASSERT_TRUE(Run().ok());
  ASSERT_THAT(client_.failures(), SizeIs(1));
  EXPECT_EQ(client_.failures()[0].lease_id, "L1");
  EXPECT_EQ(client_.failures()[0].reason, "worker shutting down");
  EXPECT_TRUE(client_.failures()[0].retryable);
  EXPECT_THAT(client_.results(), IsEmpty());
  EXPECT_THAT(client_.acquire_times(), SizeIs(1));  // And it asks for no more.
}

TEST_F(ServeLoopTest, WhenStoppingAHandBackIsRetriedForSecondsNotMinutes) {
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTrainSpec)}});
  client_.FailAllReports(absl::UnavailableError("down"));
  executor_.train = WaitForInterrupt([this] { stop_ = true; });
  ASSERT_TRUE(Run().ok());
  const std::vector<absl::Time> attempts = client_.report_attempt_times();
  ASSERT_GE(attempts.size(), 2u);
  EXPECT_GE(attempts.back() - attempts.front(), kReportPatienceWhenStopping);
  EXPECT_LE(attempts.back() - attempts.front(), kReportPatienceWhenStopping + kMaxRetryDelay);
}

TEST_F(ServeLoopTest, ATrainingTrialArrivingAsTheWorkerStopsIsHandedBackUnrun) {
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTrainSpec)},
                      /*block_until_cancelled=*/false, [this] { stop_ = true; }});
  ASSERT_TRUE(Run().ok());
  EXPECT_EQ(executor_.trainings.load(), 0);
  ASSERT_THAT(client_.failures(), SizeIs(1));
  EXPECT_TRUE(client_.failures()[0].retryable);
}

TEST_F(ServeLoopTest, LookupTrialsArrivingAsTheWorkerStopsAreStillRunAndReported) {
  options_.batch = 2;
  client_.AddAcquire(
      {std::vector<TrialLease>{Lease("L1", 1, kTableSpec), Lease("L2", 2, kTableSpec)},
       /*block_until_cancelled=*/false, [this] { stop_ = true; }});
  ASSERT_TRUE(Run().ok());
  EXPECT_THAT(client_.batches(), ElementsAre(ElementsAre("L1", "L2")));
  EXPECT_THAT(client_.failures(), IsEmpty());
}

TEST_F(ServeLoopTest, LookupBatchesAreReportedInOneCallAndFailuresOneByOne) {
  options_.batch = 4;
  options_.max_trials = 6;
  executor_.failing = {3};
  client_.RefuseLease("L4");  // Expired meanwhile: the others still count.
  client_.AddAcquire(
      {std::vector<TrialLease>{Lease("L1", 1, kTableSpec), Lease("L2", 2, kTableSpec),
                               Lease("L3", 3, kTableSpec), Lease("L4", 4, kTableSpec)}});
  client_.AddAcquire(
      {std::vector<TrialLease>{Lease("L5", 5, kTableSpec), Lease("L6", 6, kTableSpec)}});
  ASSERT_TRUE(Run().ok());
  // Never more than the trials left.
  EXPECT_THAT(client_.acquire_max_trials(), ElementsAre(4, 2));
  EXPECT_THAT(client_.batches(),
              ElementsAre(ElementsAre("L1", "L2", "L4"), ElementsAre("L5", "L6")));
  ASSERT_THAT(client_.failures(), SizeIs(1));
  EXPECT_EQ(client_.failures()[0].lease_id, "L3");
  EXPECT_EQ(client_.failures()[0].reason, "no row for trial 3");
  EXPECT_FALSE(client_.failures()[0].retryable);
  EXPECT_THAT(client_.results(), IsEmpty());  // Batched, not one by one.
}

TEST_F(ServeLoopTest, FailureReasonsAreCutToTheLimit) {
  executor_.failing = {1};
  executor_.failure_message = std::string(kMaxFailureReason + 500, 'e');
  client_.AddAcquire({std::vector<TrialLease>{Lease("L1", 1, kTableSpec)}});
  ASSERT_TRUE(Run().ok());
  ASSERT_THAT(client_.failures(), SizeIs(1));
  EXPECT_EQ(client_.failures()[0].reason.size(), kMaxFailureReason);
}

TEST_F(ServeLoopTest, ShutdownCancelsAWaitingAcquire) {
  client_.AddAcquire({std::vector<TrialLease>{}, /*block_until_cancelled=*/true});
  std::thread sigterm([this] {
    ASSERT_TRUE(WaitFor([&] { return client_.acquire_times().size() == 1; }));
    stop_ = true;
  });
  absl::Status s = Run();
  sigterm.join();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE(client_.saw_cancel());
  EXPECT_THAT(client_.acquire_times(), SizeIs(1));
  EXPECT_THAT(client_.failures(), IsEmpty());
}

TEST_F(ServeLoopTest, ShutdownWhileTheServerIsAwayEndsRegistrationQuietly) {
  options_.sleep = [this](absl::Duration d) {
    clock_.Advance(d);
    if (client_.register_times().size() >= 3) stop_ = true;
  };
  for (int i = 0; i < 10; ++i) client_.AddRegister(absl::UnavailableError("connection refused"));
  EXPECT_TRUE(Run().ok());
  EXPECT_THAT(client_.register_times(), SizeIs(3));
  EXPECT_THAT(client_.acquire_times(), IsEmpty());
}

// A dnas job (assignment job "dnas"): every epoch goes to the server with
// its checkpoint before the next one starts; the job's architectures go
// with its result; the job is never run as a trial.
TEST_F(ServeLoopTest, DnasJobSendsEachEpochsCheckpointThenItsArchitectures) {
  TrialLease job = Lease("J1", 1, kTrainSpec);
  job.assignment.job = "dnas";
  job.assignment.resume_checkpoint = "after-epoch-1";
  client_.AddAcquire({std::vector<TrialLease>{job}});
  executor_.dnas = [this](const TrialAssignment& a, const DnasEpochCallback& epoch_done,
                          const std::atomic<bool>*) {
    EXPECT_EQ(a.resume_checkpoint, "after-epoch-1");
    for (int e = 2; e <= 3; ++e) {
      EXPECT_TRUE(epoch_done(EpochMetrics{e, {{"train_loss", 1.0 / e}}}, absl::StrCat("ck", e)));
      // The epoch was sent before the job went on.
      EXPECT_EQ(client_.dnas_epochs().size(), static_cast<size_t>(e - 1));
    }
    return DnasOutcome{TrialState::kSucceeded, TrialResult{}, {"arch-a", "arch-b"}};
  };
  ASSERT_TRUE(Run().ok());
  EXPECT_EQ(executor_.dnas_jobs.load(), 1);
  EXPECT_EQ(executor_.trainings.load(), 0);
  const std::vector<FakeWorkerClient::DnasEpochCall> epochs = client_.dnas_epochs();
  ASSERT_THAT(epochs, SizeIs(2));
  EXPECT_EQ(epochs[0].epoch, 2);
  EXPECT_EQ(epochs[0].checkpoint, "ck2");
  EXPECT_EQ(epochs[1].epoch, 3);
  EXPECT_EQ(epochs[1].lease_id, "J1");
  ASSERT_THAT(client_.dnas_results(), SizeIs(1));
  EXPECT_THAT(client_.dnas_results()[0].candidates, ElementsAre("arch-a", "arch-b"));
  EXPECT_THAT(client_.results(), IsEmpty());
  EXPECT_THAT(client_.failures(), IsEmpty());
}

// The server refuses an epoch because the lease is gone (expired: another
// worker has the job): the job stops there and nothing more is reported. A
// checkpoint over the server's limit fails the job for good, saying by how
// much; an epoch the server could not confirm hands the job back.
TEST_F(ServeLoopTest, DnasJobStopsWhenAnEpochIsNotStored) {
  TrialLease lost = Lease("J1", 1, kTrainSpec);
  lost.assignment.job = "dnas";
  TrialLease big = Lease("J2", 1, kTrainSpec);
  big.assignment.job = "dnas";
  TrialLease unknown = Lease("J3", 1, kTrainSpec);
  unknown.assignment.job = "nas-2030";
  client_.AddAcquire({std::vector<TrialLease>{lost}});
  client_.AddAcquire({std::vector<TrialLease>{big}});
  client_.AddAcquire({std::vector<TrialLease>{unknown}});
  client_.AddDnasEpochError(absl::FailedPreconditionError("lease J1 is no longer held"));
  std::vector<bool> went_on;
  executor_.dnas = [&](const TrialAssignment& a, const DnasEpochCallback& epoch_done,
                       const std::atomic<bool>*) {
    const std::string checkpoint = a.trial_number == 1 && went_on.empty()
                                       ? "ck"
                                       : std::string(kMaxDnasCheckpointBytes + 1, 'x');
    went_on.push_back(epoch_done(EpochMetrics{1, {}}, checkpoint));
    return DnasOutcome{TrialState::kCancelled, TrialResult{}, {}};
  };
  ASSERT_TRUE(Run().ok());
  EXPECT_THAT(went_on, ElementsAre(false, false));
  EXPECT_THAT(client_.dnas_epochs(), IsEmpty());
  EXPECT_THAT(client_.dnas_results(), IsEmpty());
  const std::vector<FakeWorkerClient::FailureCall> failures = client_.failures();
  ASSERT_THAT(failures, SizeIs(2));
  EXPECT_EQ(failures[0].lease_id, "J2");
  EXPECT_FALSE(failures[0].retryable);
  EXPECT_THAT(failures[0].reason, HasSubstr(absl::StrCat(kMaxDnasCheckpointBytes + 1, " bytes")));
  EXPECT_EQ(failures[1].lease_id, "J3");
  EXPECT_TRUE(failures[1].retryable);
  EXPECT_THAT(failures[1].reason, HasSubstr("'nas-2030'"));
}

}  // namespace
}  // namespace hwnas::worker

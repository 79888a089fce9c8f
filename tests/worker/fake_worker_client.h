// A scriptable in-memory WorkerClient for the serve loop's unit tests: each
// call pops its next scripted answer (or gives a default), and every call is
// recorded with the FakeClock's time. Thread-safe (the loop's heartbeat
// thread calls ReportProgress beside the loop).
#ifndef HWNAS_TESTS_WORKER_FAKE_WORKER_CLIENT_H_
#define HWNAS_TESTS_WORKER_FAKE_WORKER_CLIENT_H_

#include <atomic>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "worker/worker_client.h"

namespace hwnas::worker::testing {

class FakeWorkerClient final : public WorkerClient {
 public:
  struct ProgressCall {
    std::string lease_id;
    bool has_metrics = false;
    absl::Time at;
  };
  struct ResultCall {
    std::string lease_id;
    TrialResult result;
    bool early_stopped = false;
  };
  struct FailureCall {
    std::string lease_id;
    std::string reason;
    bool retryable = false;
    bool has_partial = false;
    bool infeasible = false;
  };
  // A scripted AcquireTrials answer. `block_until_cancelled`: wait (in real
  // time) for the cancel flag and answer CANCELLED, as a long-poll does.
  struct Acquire {
    absl::StatusOr<std::vector<TrialLease>> answer = std::vector<TrialLease>{};
    bool block_until_cancelled = false;
    std::function<void()> before_answer;  // e.g. set the stop flag.
  };

  explicit FakeWorkerClient(const Clock* clock) : clock_(clock) {}

  // Scripts (each call pops the front; an empty script gives the default).
  void AddRegister(absl::StatusOr<Registration> r) {
    absl::MutexLock l(&mu_);
    register_script_.push_back(std::move(r));
  }
  void AddAcquire(Acquire a) {
    absl::MutexLock l(&mu_);
    acquire_script_.push_back(std::move(a));
  }
  // Once the acquire script is used up: sets `*stop` and answers "no work".
  void StopWhenIdle(std::atomic<bool>* stop) {
    absl::MutexLock l(&mu_);
    stop_when_idle_ = stop;
  }
  // Decides each heartbeat's answer: `with_metrics` says whether it carries
  // an epoch's metrics, `count` how many such calls (this one included)
  // came so far.
  using ProgressFn = std::function<absl::StatusOr<ProgressAction>(bool with_metrics, int count)>;
  void SetProgress(ProgressFn f) {
    absl::MutexLock l(&mu_);
    progress_ = std::move(f);
  }
  void AddReportError(absl::Status s) {
    absl::MutexLock l(&mu_);
    report_errors_.push_back(std::move(s));
  }
  // Makes every report (result, results, failure) fail with `s`.
  void FailAllReports(absl::Status s) {
    absl::MutexLock l(&mu_);
    fail_all_reports_ = std::move(s);
  }
  // ReportResults refuses these leases (a lease lost meanwhile).
  void RefuseLease(std::string lease_id) {
    absl::MutexLock l(&mu_);
    refused_.push_back(std::move(lease_id));
  }

  // What was called.
  std::vector<absl::Time> register_times() const { return Get(register_times_); }
  std::vector<std::string> register_names() const { return Get(register_names_); }
  std::vector<WorkerRecord> register_capabilities() const { return Get(register_caps_); }
  std::vector<absl::Time> acquire_times() const { return Get(acquire_times_); }
  std::vector<int> acquire_max_trials() const { return Get(acquire_max_trials_); }
  std::vector<absl::Duration> acquire_waits() const { return Get(acquire_waits_); }
  std::vector<std::string> acquire_worker_ids() const { return Get(acquire_worker_ids_); }
  std::vector<ProgressCall> progress_calls() const { return Get(progress_calls_); }
  std::vector<ResultCall> results() const { return Get(results_); }
  std::vector<std::vector<std::string>> batches() const { return Get(batches_); }
  std::vector<FailureCall> failures() const { return Get(failures_); }
  std::vector<absl::Time> report_attempt_times() const { return Get(report_attempt_times_); }
  bool saw_cancel() const {
    absl::MutexLock l(&mu_);
    return saw_cancel_;
  }

  absl::StatusOr<Registration> Register(const std::string& name, const WorkerRecord& capabilities,
                                        const std::atomic<bool>*) override {
    absl::MutexLock l(&mu_);
    register_times_.push_back(clock_->Now());
    register_names_.push_back(name);
    register_caps_.push_back(capabilities);
    if (register_script_.empty()) return Registration{"w-1", std::nullopt};
    absl::StatusOr<Registration> r = std::move(register_script_.front());
    register_script_.pop_front();
    return r;
  }

  absl::StatusOr<std::vector<TrialLease>> AcquireTrials(const std::string& worker_id,
                                                        absl::Duration wait, int max_trials,
                                                        const std::atomic<bool>* cancel) override {
    Acquire next;
    {
      absl::MutexLock l(&mu_);
      acquire_times_.push_back(clock_->Now());
      acquire_worker_ids_.push_back(worker_id);
      acquire_waits_.push_back(wait);
      acquire_max_trials_.push_back(max_trials);
      if (acquire_script_.empty()) {
        if (stop_when_idle_ != nullptr) *stop_when_idle_ = true;
        return std::vector<TrialLease>{};
      }
      next = std::move(acquire_script_.front());
      acquire_script_.pop_front();
    }
    if (next.block_until_cancelled) {
      // A long-poll that only SIGTERM ends (safety net: 30 s real time).
      const absl::Time give_up = absl::Now() + absl::Seconds(30);
      while (!cancel->load() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
      absl::MutexLock l(&mu_);
      saw_cancel_ = cancel->load();
      return absl::CancelledError("cancelled");
    }
    if (next.before_answer) next.before_answer();
    return next.answer;
  }

  absl::StatusOr<ProgressAction> ReportProgress(
      const std::string&, const std::string& lease_id,
      const std::optional<EpochMetrics>& metrics) override {
    absl::MutexLock l(&mu_);
    progress_calls_.push_back(ProgressCall{lease_id, metrics.has_value(), clock_->Now()});
    const int count = metrics.has_value() ? ++epoch_reports_ : ++heartbeats_;
    if (!progress_) return ProgressAction::kContinue;
    return progress_(metrics.has_value(), count);
  }

  absl::StatusOr<ReportAnswer> ReportResult(const std::string&, const std::string& lease_id,
                                            const TrialResult& result, bool early_stopped,
                                            const std::string&) override {
    absl::MutexLock l(&mu_);
    if (absl::Status s = NextReportErrorLocked(); !s.ok()) return s;
    results_.push_back(ResultCall{lease_id, result, early_stopped});
    return ReportAnswer{7, 1, early_stopped ? TrialState::kEarlyStopped : TrialState::kSucceeded,
                        false, false};
  }

  absl::StatusOr<std::vector<LeaseResultAnswer>> ReportResults(
      const std::string&, const std::vector<LeaseResult>& results) override {
    absl::MutexLock l(&mu_);
    if (absl::Status s = NextReportErrorLocked(); !s.ok()) return s;
    std::vector<std::string> ids;
    std::vector<LeaseResultAnswer> answers;
    for (const LeaseResult& r : results) {
      ids.push_back(r.lease_id);
      LeaseResultAnswer a;
      for (const std::string& refused : refused_) {
        if (refused == r.lease_id) a.status = absl::FailedPreconditionError("lease expired");
      }
      answers.push_back(a);
    }
    batches_.push_back(std::move(ids));
    return answers;
  }

  // dnas jobs: each epoch's (lease, epoch, checkpoint); answers from
  // `dnas_epoch_errors_` first (then OK), results with their architectures.
  struct DnasEpochCall {
    std::string lease_id;
    int epoch = 0;
    std::string checkpoint;
  };
  struct DnasResultCall {
    std::string lease_id;
    std::vector<std::string> candidates;
  };
  void AddDnasEpochError(absl::Status s) {
    absl::MutexLock l(&mu_);
    dnas_epoch_errors_.push_back(std::move(s));
  }
  std::vector<DnasEpochCall> dnas_epochs() const { return Get(dnas_epochs_); }
  std::vector<DnasResultCall> dnas_results() const { return Get(dnas_results_); }

  absl::StatusOr<ProgressAction> ReportDnasEpoch(const std::string&, const std::string& lease_id,
                                                 const EpochMetrics& metrics,
                                                 const std::string& checkpoint) override {
    absl::MutexLock l(&mu_);
    if (!dnas_epoch_errors_.empty()) {
      absl::Status s = dnas_epoch_errors_.front();
      dnas_epoch_errors_.pop_front();
      if (!s.ok()) return s;
    }
    dnas_epochs_.push_back(DnasEpochCall{lease_id, metrics.epoch, checkpoint});
    return ProgressAction::kContinue;
  }

  absl::StatusOr<ReportAnswer> ReportDnasResult(
      const std::string&, const std::string& lease_id, const TrialResult&,
      const std::vector<std::string>& candidates) override {
    absl::MutexLock l(&mu_);
    if (absl::Status s = NextReportErrorLocked(); !s.ok()) return s;
    dnas_results_.push_back(DnasResultCall{lease_id, candidates});
    return ReportAnswer{7, 1, TrialState::kSucceeded, false, false};
  }

  absl::StatusOr<ReportAnswer> ReportFailure(const std::string&, const std::string& lease_id,
                                             const std::string& reason, bool retryable,
                                             const std::optional<TrialResult>& partial,
                                             bool infeasible) override {
    absl::MutexLock l(&mu_);
    if (absl::Status s = NextReportErrorLocked(); !s.ok()) return s;
    failures_.push_back(FailureCall{lease_id, reason, retryable, partial.has_value(), infeasible});
    return ReportAnswer{7, 1,
                        retryable    ? TrialState::kPending
                        : infeasible ? TrialState::kInfeasible
                                     : TrialState::kFailed,
                        false, retryable};
  }

 private:
  template <typename T>
  T Get(const T& field) const {
    absl::MutexLock l(&mu_);
    return field;
  }
  absl::Status NextReportErrorLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    report_attempt_times_.push_back(clock_->Now());
    if (!fail_all_reports_.ok()) return fail_all_reports_;
    if (report_errors_.empty()) return absl::OkStatus();
    absl::Status s = report_errors_.front();
    report_errors_.pop_front();
    return s;
  }

  const Clock* const clock_;
  mutable absl::Mutex mu_;
  std::deque<absl::StatusOr<Registration>> register_script_ ABSL_GUARDED_BY(mu_);
  std::deque<Acquire> acquire_script_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool>* stop_when_idle_ ABSL_GUARDED_BY(mu_) = nullptr;
  ProgressFn progress_ ABSL_GUARDED_BY(mu_);
  int epoch_reports_ ABSL_GUARDED_BY(mu_) = 0;
  int heartbeats_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<absl::Status> report_errors_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_all_reports_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> refused_ ABSL_GUARDED_BY(mu_);

  std::vector<absl::Time> register_times_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> register_names_ ABSL_GUARDED_BY(mu_);
  std::vector<WorkerRecord> register_caps_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> acquire_times_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> acquire_worker_ids_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Duration> acquire_waits_ ABSL_GUARDED_BY(mu_);
  std::vector<int> acquire_max_trials_ ABSL_GUARDED_BY(mu_);
  std::vector<ProgressCall> progress_calls_ ABSL_GUARDED_BY(mu_);
  std::vector<ResultCall> results_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<std::string>> batches_ ABSL_GUARDED_BY(mu_);
  std::vector<FailureCall> failures_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> report_attempt_times_ ABSL_GUARDED_BY(mu_);
  bool saw_cancel_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<absl::Status> dnas_epoch_errors_ ABSL_GUARDED_BY(mu_);
  std::vector<DnasEpochCall> dnas_epochs_ ABSL_GUARDED_BY(mu_);
  std::vector<DnasResultCall> dnas_results_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwnas::worker::testing

#endif  // HWNAS_TESTS_WORKER_FAKE_WORKER_CLIENT_H_

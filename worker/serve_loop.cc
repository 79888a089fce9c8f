#include "worker/serve_loop.h"

#include <algorithm>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

namespace hwnas::worker {
namespace {

bool Retryable(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded ||
         s.code() == absl::StatusCode::kAborted ||
         s.code() == absl::StatusCode::kResourceExhausted ||
         s.code() == absl::StatusCode::kInternal;
}

class Backoff {
 public:
  absl::Duration Next() {
    absl::Duration d = delay_;
    delay_ = std::min(delay_ * 2, kMaxRetryDelay);
    return d;
  }
  void Reset() { delay_ = kFirstRetryDelay; }

 private:
  absl::Duration delay_ = kFirstRetryDelay;
};

// How a training trial ended, for what the loop tells the server.
// kInfeasible: trained, but over a hard limit measured on the worker.
enum class Ending { kReport, kFailed, kInfeasible, kHandBack, kDrop };

// What the server's answers to a lease's heartbeats and epoch reports say
// (a cancelled search, a lost lease, stop early), and `interrupt`, which
// the training polls between batches (also set on SIGTERM by the heartbeat).
struct LeaseWatch {
  std::atomic<bool> stop_early{false}, cancelled{false}, lease_lost{false};
  std::atomic<bool> interrupt{false};
  std::atomic<bool> done{false};  // The work ended: the heartbeat stops.

  void React(const absl::StatusOr<ProgressAction>& action) {
    if (!action.ok()) {
      if (action.status().code() == absl::StatusCode::kFailedPrecondition ||
          action.status().code() == absl::StatusCode::kPermissionDenied) {
        lease_lost = true;
      }
    } else if (*action == ProgressAction::kStopEarly) {
      stop_early = true;
    } else if (*action == ProgressAction::kCancelled) {
      cancelled = true;
    }
    if (cancelled || lease_lost) interrupt = true;
  }
};

// Single-threaded except for the heartbeat thread of RunTraining and
// RunDnasJob, which shares only atomics and the (thread-safe) client.
class Loop {
 public:
  Loop(WorkerClient& client, TrialExecutor& executor, const ServeLoopOptions& options,
       const std::atomic<bool>* stop)
      : client_(client), executor_(executor), options_(options), stop_(stop) {}

  absl::Status Run();

 private:
  absl::Time Now() const { return options_.clock->Now(); }
  void Sleep(absl::Duration d) const {
    if (options_.sleep) {
      options_.sleep(d);
    } else {
      absl::SleepFor(d);
    }
  }
  // Sleeps up to `d`, waking early when `stop_` is set.
  void SleepUnlessStopped(absl::Duration d) const {
    const absl::Time until = Now() + d;
    while (!stop_->load()) {
      const absl::Time now = Now();
      if (now >= until) break;
      Sleep(std::min(absl::Milliseconds(50), until - now));
    }
  }

  absl::Status Register();
  void RunTrial(const TrialLease& lease);
  // Lookup trials of one AcquireTrials answer: evaluated in turn, reported
  // in one ReportResults (failures one by one).
  void RunLookupBatch(const std::vector<TrialLease>& leases);
  TrainingOutcome RunTraining(const TrialLease& lease, Ending* ending);
  // A dnas supernet job: heartbeats, every epoch's checkpoint sent and
  // stored before the next epoch counts, the architectures with the result.
  void RunDnasJob(const TrialLease& lease);
  // Heartbeats `lease_id` every heartbeat_ until watch.done, feeding the
  // answers to watch.React; sets watch.interrupt on SIGTERM.
  std::thread StartHeartbeat(const std::string& lease_id, LeaseWatch& watch);
  absl::StatusOr<ProgressAction> Progress(const std::string& lease_id,
                                          const std::optional<EpochMetrics>& metrics);
  void ReportResult(const std::string& lease_id, const TrialResult& result, bool early_stopped,
                    const std::string& checkpoint = "");
  void ReportFailure(const std::string& lease_id, const std::string& reason, bool retryable,
                     const std::optional<TrialResult>& partial, bool infeasible = false);
  // Hands every lease of an AcquireTrials answer back (retryable failure).
  void HandBack(const std::vector<TrialLease>& leases);
  // Retries `call` on transient errors until it succeeds, fails for good or
  // `patience` runs out.
  template <typename Call>
  auto WithRetries(absl::string_view what, absl::Duration patience, Call call) -> decltype(call());

  WorkerClient& client_;
  TrialExecutor& executor_;
  const ServeLoopOptions& options_;
  const std::atomic<bool>* stop_;
  std::string worker_id_;
  absl::Duration heartbeat_ = kDefaultHeartbeat;
  int trials_done_ = 0;
};

template <typename Call>
auto Loop::WithRetries(absl::string_view what, absl::Duration patience, Call call)
    -> decltype(call()) {
  absl::Time give_up = Now() + patience;
  bool stopping = false;
  Backoff backoff;
  while (true) {
    auto answer = call();
    if (answer.ok() || !Retryable(answer.status())) return answer;
    if (!stopping && stop_->load()) {
      stopping = true;
      give_up = std::min(give_up, Now() + kReportPatienceWhenStopping);
    }
    if (Now() >= give_up) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": still failing", stopping ? " while stopping" : "", " after ",
                       absl::FormatDuration(stopping ? kReportPatienceWhenStopping : patience),
                       ": ", answer.status().message()));
    }
    spdlog::warn("event=rpc_retry call={} error=\"{}\"", std::string(what),
                 answer.status().ToString());
    Sleep(backoff.Next());
  }
}

absl::Status Loop::Register() {
  Backoff backoff;
  while (!stop_->load()) {
    absl::StatusOr<Registration> r = client_.Register(options_.name, options_.capabilities, stop_);
    if (stop_->load()) break;
    if (r.ok()) {
      worker_id_ = r->worker_id;
      if (r->heartbeat_interval) heartbeat_ = std::max(kMinHeartbeat, *r->heartbeat_interval);
      spdlog::info("event=worker_registered worker={} server={} evaluators={} datasets={}",
                   worker_id_, options_.server, options_.capabilities.evaluators.size(),
                   options_.capabilities.datasets.size());
      return absl::OkStatus();
    }
    if (!Retryable(r.status())) return r.status();  // A bad token will not get better.
    spdlog::warn("event=register_retry server={} error=\"{}\"", options_.server,
                 r.status().ToString());
    SleepUnlessStopped(backoff.Next());
  }
  return absl::CancelledError("stopped before registering");
}

absl::Status Loop::Run() {
  absl::Status registered = Register();
  if (!registered.ok()) return stop_->load() ? absl::OkStatus() : registered;
  Backoff backoff;
  while (!stop_->load()) {
    if (options_.max_trials > 0 && trials_done_ >= options_.max_trials) break;
    int want = std::max(1, options_.batch);
    if (options_.max_trials > 0) want = std::min(want, options_.max_trials - trials_done_);
    absl::StatusOr<std::vector<TrialLease>> leases =
        client_.AcquireTrials(worker_id_, options_.acquire_wait, want, stop_);
    const bool got_work = leases.ok() && !leases->empty();
    if (stop_->load() &&
        !(got_work && executor_.KindOf(leases->front().assignment) == TrialKind::kLookup)) {
      // Training trials that arrived as we stop are handed back at once
      // (lookups take microseconds: they are run and reported). A lease
      // granted as the call was cancelled never reaches us: it goes back to
      // the queue when it expires.
      if (got_work) HandBack(*leases);
      break;
    }
    if (!leases.ok()) {
      const absl::Status& s = leases.status();
      if (s.code() == absl::StatusCode::kFailedPrecondition &&
          absl::StrContains(s.message(), "not registered")) {
        // The server restarted and forgot us: register again.
        absl::Status again = Register();
        if (!again.ok()) return stop_->load() ? absl::OkStatus() : again;
        continue;
      }
      if (!Retryable(s)) return s;
      spdlog::warn("event=acquire_retry error=\"{}\"", s.ToString());
      SleepUnlessStopped(backoff.Next());
      continue;
    }
    backoff.Reset();
    if (leases->empty()) continue;  // Long-poll ended without work.
    if (leases->size() == 1) {
      RunTrial(leases->front());
      ++trials_done_;
      continue;
    }
    RunLookupBatch(*leases);
    trials_done_ += static_cast<int>(leases->size());
  }
  return absl::OkStatus();
}

absl::StatusOr<ProgressAction> Loop::Progress(const std::string& lease_id,
                                              const std::optional<EpochMetrics>& metrics) {
  return WithRetries("ReportProgress", kProgressPatience,
                     [&] { return client_.ReportProgress(worker_id_, lease_id, metrics); });
}

void Loop::ReportResult(const std::string& lease_id, const TrialResult& result, bool early_stopped,
                        const std::string& checkpoint) {
  absl::StatusOr<ReportAnswer> answer = WithRetries("ReportResult", options_.report_patience, [&] {
    return client_.ReportResult(worker_id_, lease_id, result, early_stopped, checkpoint);
  });
  if (answer.ok()) {
    spdlog::info("event=trial_reported search={} trial={} state={} accuracy={:.4f} duplicate={}",
                 answer->search_id, answer->trial_number,
                 std::string(TrialStateName(answer->state)), result.accuracy, answer->duplicate);
  } else {
    spdlog::error("event=report_failed lease={} error=\"{}\"", lease_id,
                  answer.status().ToString());
  }
}

void Loop::ReportFailure(const std::string& lease_id, const std::string& reason, bool retryable,
                         const std::optional<TrialResult>& partial, bool infeasible) {
  const std::string sent = reason.substr(0, kMaxFailureReason);
  absl::StatusOr<ReportAnswer> answer = WithRetries("ReportFailure", options_.report_patience, [&] {
    return client_.ReportFailure(worker_id_, lease_id, sent, retryable, partial, infeasible);
  });
  if (!answer.ok()) {
    spdlog::error("event=report_failed lease={} error=\"{}\"", lease_id,
                  answer.status().ToString());
  } else {
    spdlog::info("event=trial_failure_reported trial={} requeued={} reason=\"{}\"",
                 answer->trial_number, answer->requeued, reason);
  }
}

void Loop::HandBack(const std::vector<TrialLease>& leases) {
  for (const TrialLease& lease : leases) {
    ReportFailure(lease.lease_id, "worker shutting down", /*retryable=*/true, std::nullopt);
  }
}

TrainingOutcome Loop::RunTraining(const TrialLease& lease, Ending* ending) {
  // Heartbeats run beside training; epoch reports go through the callback.
  // A cancelled search, a lost lease or SIGTERM interrupts training between
  // two batches (the heartbeat thread watches for them), so the worker
  // neither trains on for the rest of a long epoch nor keeps a shutdown
  // waiting; early stopping still ends at an epoch boundary with metrics.
  LeaseWatch watch;
  std::thread heartbeat = StartHeartbeat(lease.lease_id, watch);
  EpochCallback epoch_done = [&](const EpochMetrics& m) {
    watch.React(Progress(lease.lease_id, m));
    return !(watch.stop_early || watch.cancelled || watch.lease_lost || stop_->load());
  };
  TrainingOutcome outcome = executor_.Train(lease.assignment, epoch_done, &watch.interrupt);
  watch.done = true;
  heartbeat.join();

  if (watch.lease_lost || watch.cancelled) {
    *ending = Ending::kDrop;
  } else if (outcome.state == TrialState::kInfeasible) {
    *ending = Ending::kInfeasible;  // A final answer, also when stopping.
  } else if (stop_->load() && outcome.state != TrialState::kSucceeded) {
    *ending = Ending::kHandBack;
  } else if (outcome.state == TrialState::kFailed || outcome.state == TrialState::kCancelled) {
    *ending = Ending::kFailed;
  } else {
    *ending = Ending::kReport;
  }
  return outcome;
}

std::thread Loop::StartHeartbeat(const std::string& lease_id, LeaseWatch& watch) {
  return std::thread([this, lease_id, &watch] {
    while (!watch.done.load()) {
      const absl::Time next = Now() + heartbeat_;
      while (!watch.done.load() && Now() < next) {
        if (stop_->load()) watch.interrupt = true;
        Sleep(absl::Milliseconds(20));
      }
      if (watch.done.load()) break;
      watch.React(Progress(lease_id, std::nullopt));
    }
  });
}

void Loop::RunDnasJob(const TrialLease& lease) {
  const TrialAssignment& a = lease.assignment;
  LeaseWatch watch;         // Its stop_early is not used: a job runs all its epochs.
  std::string epoch_error;  // Why the job stopped at an epoch's end.
  bool too_large = false;   // Its checkpoint: the same on any worker.
  std::thread heartbeat = StartHeartbeat(lease.lease_id, watch);
  DnasEpochCallback epoch_done = [&](const EpochMetrics& m, const std::string& checkpoint) {
    if (checkpoint.size() > kMaxDnasCheckpointBytes) {
      too_large = true;
      epoch_error =
          absl::StrCat("the dnas job's checkpoint after epoch ", m.epoch, " is ", checkpoint.size(),
                       " bytes; the server stores at most ", kMaxDnasCheckpointBytes,
                       " (use a smaller space: fewer blocks, filters or layers)");
      return false;
    }
    absl::StatusOr<ProgressAction> answer = WithRetries("ReportDnasEpoch", kProgressPatience, [&] {
      return client_.ReportDnasEpoch(worker_id_, lease.lease_id, m, checkpoint);
    });
    watch.React(answer);
    if (!answer.ok() && !watch.lease_lost) {
      epoch_error = absl::StrCat("epoch ", m.epoch, " not stored: ", answer.status().message());
    }
    if (answer.ok()) {
      spdlog::info("event=dnas_epoch_stored search={} trial={} epoch={} bytes={}", a.search_id,
                   a.trial_number, m.epoch, checkpoint.size());
    }
    return answer.ok() && !watch.cancelled && !stop_->load();
  };
  DnasOutcome outcome = executor_.RunDnasJob(a, epoch_done, &watch.interrupt);
  watch.done = true;
  heartbeat.join();
  if (watch.lease_lost || watch.cancelled) {
    spdlog::info("event=dnas_job_dropped trial={} reason=cancelled_or_lease_lost", a.trial_number);
    return;
  }
  if (outcome.state == TrialState::kSucceeded) {
    absl::StatusOr<ReportAnswer> answer =
        WithRetries("ReportDnasResult", options_.report_patience, [&] {
          return client_.ReportDnasResult(worker_id_, lease.lease_id, outcome.result,
                                          outcome.candidates);
        });
    if (answer.ok()) {
      spdlog::info("event=dnas_job_reported search={} trial={} architectures={}", a.search_id,
                   a.trial_number, outcome.candidates.size());
    } else {
      spdlog::error("event=report_failed lease={} error=\"{}\"", lease.lease_id,
                    answer.status().ToString());
    }
    return;
  }
  if (stop_->load()) {
    // Shutting down: the next worker resumes after the last stored epoch.
    ReportFailure(lease.lease_id, "worker shutting down", /*retryable=*/true, std::nullopt);
    return;
  }
  const std::string reason = !epoch_error.empty() ? epoch_error : outcome.result.error;
  // A checkpoint over the server's limit fails the same way on any worker;
  // anything else (an epoch the server did not confirm, a crash of the
  // training) goes back to the queue and resumes from the last stored epoch.
  ReportFailure(lease.lease_id, reason, /*retryable=*/!too_large, std::nullopt);
}

void Loop::RunTrial(const TrialLease& lease) {
  const TrialAssignment& a = lease.assignment;
  spdlog::info("event=trial_started search={} trial={} attempt={} arch=\"{}\"", a.search_id,
               a.trial_number, a.attempt, a.architecture.readable);
  if (a.job == "dnas") {
    RunDnasJob(lease);
    return;
  }
  if (!a.job.empty()) {
    // A job kind of a newer server (or one it could not prepare): another
    // worker, or a later try, may run it.
    ReportFailure(lease.lease_id,
                  absl::StrCat("job kind '", a.job,
                               "' not run: unknown to this worker, or one the server could not "
                               "prepare (dnas-unavailable: its checkpoint could not be loaded)"),
                  /*retryable=*/true, std::nullopt);
    return;
  }
  if (executor_.KindOf(a) == TrialKind::kLookup) {
    absl::StatusOr<TrialResult> result = executor_.Lookup(a);
    if (result.ok()) {
      ReportResult(lease.lease_id, *result, false);
    } else {
      ReportFailure(lease.lease_id, std::string(result.status().message()), false, std::nullopt);
    }
    return;
  }
  Ending ending;
  TrainingOutcome outcome = RunTraining(lease, &ending);
  switch (ending) {
    case Ending::kReport:
      ReportResult(lease.lease_id, outcome.result, outcome.state == TrialState::kEarlyStopped,
                   outcome.checkpoint);
      break;
    case Ending::kFailed:
      ReportFailure(lease.lease_id, outcome.result.error, false, outcome.result);
      break;
    case Ending::kInfeasible:
      ReportFailure(lease.lease_id, outcome.result.error, false, outcome.result,
                    /*infeasible=*/true);
      break;
    case Ending::kHandBack:
      ReportFailure(lease.lease_id, "worker shutting down", /*retryable=*/true, std::nullopt);
      break;
    case Ending::kDrop:
      spdlog::info("event=trial_dropped trial={} reason=cancelled_or_lease_lost", a.trial_number);
      break;
  }
}

void Loop::RunLookupBatch(const std::vector<TrialLease>& leases) {
  std::vector<LeaseResult> results;
  int failed = 0;
  for (const TrialLease& lease : leases) {
    if (executor_.KindOf(lease.assignment) != TrialKind::kLookup) {
      // Not from this server (it batches table trials only), but harmless.
      RunTrial(lease);
      continue;
    }
    absl::StatusOr<TrialResult> result = executor_.Lookup(lease.assignment);
    if (!result.ok()) {
      ++failed;
      ReportFailure(lease.lease_id, std::string(result.status().message()), false, std::nullopt);
      continue;
    }
    results.push_back(LeaseResult{lease.lease_id, *std::move(result), false});
  }
  if (results.empty()) return;
  absl::StatusOr<std::vector<LeaseResultAnswer>> answers =
      WithRetries("ReportResults", options_.report_patience,
                  [&] { return client_.ReportResults(worker_id_, results); });
  if (!answers.ok()) {
    spdlog::error("event=report_failed leases={} first_lease={} error=\"{}\"", results.size(),
                  results.front().lease_id, answers.status().ToString());
    return;
  }
  int stored = 0, duplicates = 0, refused = 0;
  std::string first_refusal;
  for (const LeaseResultAnswer& e : *answers) {
    if (!e.status.ok()) {
      // A lease lost meanwhile (expired, or its search cancelled): the
      // server has requeued or dropped that trial.
      if (refused++ == 0) first_refusal = std::string(e.status.message());
    } else if (e.duplicate) {
      ++duplicates;
    } else {
      ++stored;
    }
  }
  // One line per batch: a line per table trial would be thousands a second.
  spdlog::info(
      "event=trials_reported search={} trials={} stored={} duplicates={} refused={} "
      "failed={}{}",
      leases.front().assignment.search_id, leases.size(), stored, duplicates, refused, failed,
      first_refusal.empty() ? "" : absl::StrCat(" first_refusal=\"", first_refusal, "\""));
}

}  // namespace

absl::Status RunServeLoop(WorkerClient& client, TrialExecutor& executor,
                          const ServeLoopOptions& options, const std::atomic<bool>* stop) {
  Loop loop(client, executor, options, stop);
  return loop.Run();
}

}  // namespace hwnas::worker

// The search server's logic, on domain structs only (no gRPC types). The
// gRPC services (services.h) are thin adapters over this facade, which
// assembles three parts with one job each:
//   SearchDirectory  submit and visibility, running searches, warm start,
//                    Pareto front, finish bookkeeping (refill, completion);
//   LeaseBroker      worker registry, long-polls, leases through the
//                    scheduler's fair share, lease routes and expiry;
//   ResultIntake     progress and early stopping, results (group commit),
//                    failures, rewards into the strategy;
// plus the maintenance loop that runs them periodically.
//
// Thread-safe. Each running search's strategy is single-threaded and guarded
// by that search's mutex; the store does its own locking.
#ifndef HWNAS_SERVER_COORDINATOR_H_
#define HWNAS_SERVER_COORDINATOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/records.h"
#include "db/store.h"
#include "server/coordinator_types.h"
#include "server/dnas_jobs.h"
#include "server/executor.h"
#include "server/lease_broker.h"
#include "server/metrics.h"
#include "server/result_intake.h"
#include "server/search_directory.h"
#include "server/watch_source.h"

namespace hwnas::server {

class Coordinator {
 public:
  // Every time the logic reads (worker liveness, long-poll deadlines) comes
  // from `clock`; lease expiry is the store's.
  Coordinator(db::Store* store, Executor* executor, Metrics* metrics, CoordinatorOptions options,
              const Clock& clock = Clock::Real());
  ~Coordinator();

  // Rebuilds every RUNNING search from the store (strategy checkpoint plus
  // the results since), then starts the maintenance loop. Searches whose
  // spec no longer parses are marked FAILED with the reason.
  absl::Status Start();
  // Stops the maintenance loop and answers parked long-polls (no trial).
  void Stop();

  // --- SearchService ----------------------------------------------------------
  absl::StatusOr<SearchRecord> Submit(const User& user, const std::string& spec_yaml,
                                      const std::string& idempotency_key) {
    return searches_.Submit(user, spec_yaml, idempotency_key);
  }
  // PERMISSION_DENIED for searches the user may not see (another owner's,
  // unless admin).
  absl::StatusOr<SearchRecord> GetSearch(const User& user, int64_t search_id) {
    return searches_.GetSearch(user, search_id);
  }
  absl::StatusOr<db::Page<SearchRecord>> ListSearches(const User& user, db::SearchQuery query,
                                                      bool all_owners) {
    return searches_.ListSearches(user, std::move(query), all_owners);
  }
  absl::StatusOr<SearchRecord> Cancel(const User& user, int64_t search_id) {
    return searches_.Cancel(user, search_id);
  }
  absl::StatusOr<db::Page<TrialRecord>> ListTrials(const User& user, db::TrialQuery query) {
    return searches_.ListTrials(user, std::move(query));
  }
  absl::StatusOr<TrialRecord> GetTrial(const User& user, int64_t search_id, int64_t number) {
    return searches_.GetTrial(user, search_id, number);
  }
  using ParetoAnswer = server::ParetoAnswer;
  absl::StatusOr<ParetoAnswer> ParetoFront(const User& user, int64_t search_id,
                                           std::vector<std::string> metrics) {
    return searches_.ParetoFront(user, search_id, std::move(metrics));
  }
  // `hwnas enqueue` / `hwnas import` (SearchDirectory::AddGuided).
  absl::StatusOr<std::vector<TrialRecord>> AddGuided(const User& user, int64_t search_id,
                                                     const std::vector<GuidedTrial>& items,
                                                     TrialOrigin origin) {
    return searches_.AddGuided(user, search_id, items, origin);
  }
  // The event source of one WatchSearch call, as `user` sees the search.
  std::unique_ptr<WatchSource> Watch(const User& user, int64_t search_id) {
    return std::make_unique<WatchSource>(&searches_, user, search_id);
  }

  // --- WorkerService ----------------------------------------------------------
  // Registers `worker` as one of `owner`'s (the worker token's user): its
  // name is unique among that user's workers only.
  absl::StatusOr<WorkerRecord> RegisterWorker(const User& owner, WorkerRecord worker) {
    return leases_.RegisterWorker(owner, std::move(worker));
  }
  // OK when `worker_id` was registered by `user`'s token. Every
  // WorkerService call checks this before acting as that worker: for
  // AcquireTrial a FAILED_PRECONDITION "not registered" (a worker re-registers
  // on that, e.g. after the migration that gave workers owners), for the
  // reports PERMISSION_DENIED. An unknown id reads the same as another's.
  absl::Status AuthorizeWorker(const User& user, const std::string& worker_id, bool acquiring) {
    return leases_.AuthorizeWorker(user, worker_id, acquiring);
  }
  // Calls `done` exactly once, on an executor thread: with 1 to
  // `max_trials` assignments, with none when none came before `deadline`
  // (on the coordinator's clock), or with an error. More than one only from
  // searches with the table evaluator (a training trial comes alone: its
  // heartbeat is its own).
  using AcquireDone = LeaseBroker::AcquireDone;
  void Acquire(const std::string& worker_id, absl::Time deadline, int max_trials,
               AcquireDone done) {
    leases_.Acquire(worker_id, deadline, max_trials, std::move(done));
  }
  absl::StatusOr<ProgressAnswer> ReportProgress(const std::string& worker_id,
                                                const std::string& lease_id,
                                                const std::optional<EpochMetrics>& metrics) {
    return results_.ReportProgress(worker_id, lease_id, metrics);
  }
  // A dnas job's epoch checkpoint and its architectures (server/dnas_jobs.h);
  // the services call these before ReportProgress / ReportResult.
  absl::Status SaveDnasEpoch(const std::string& worker_id, const std::string& lease_id,
                             const EpochMetrics& metrics, const std::string& checkpoint) {
    return dnas_.SaveEpoch(worker_id, lease_id, metrics, checkpoint);
  }
  absl::Status StoreDnasCandidates(const std::string& worker_id, const std::string& lease_id,
                                   const std::vector<std::string>& candidates) {
    return dnas_.StoreCandidates(worker_id, lease_id, candidates);
  }
  absl::StatusOr<db::ReportOutcome> ReportResult(const std::string& worker_id,
                                                 const std::string& lease_id,
                                                 const TrialResult& result, bool early_stopped,
                                                 const std::string& checkpoint = "") {
    return results_.ReportResult(worker_id, lease_id, result, early_stopped, checkpoint);
  }
  // Several results stored together (one commit), one answer per report in
  // order, each as ReportResult would give it. Fails as a whole, storing
  // nothing, when a report is malformed or names another worker's lease.
  absl::StatusOr<std::vector<absl::StatusOr<db::ReportOutcome>>> ReportResults(
      const std::string& worker_id, const std::vector<ResultReport>& reports) {
    return results_.ReportResults(worker_id, reports);
  }
  absl::StatusOr<db::ReportOutcome> ReportFailure(const std::string& worker_id,
                                                  const std::string& lease_id,
                                                  const std::string& reason, bool retryable,
                                                  const std::optional<TrialResult>& partial,
                                                  bool infeasible) {
    return results_.ReportFailure(worker_id, lease_id, reason, retryable, partial, infeasible);
  }

  // One round of maintenance: requeue expired leases, rebuild searches whose
  // memory disagrees with the store, resynchronize queue counters, top up
  // queues, finish searches that are done, answer long-polls past their
  // deadline. Also run by the background loop; public so tests can drive it.
  void MaintenanceRound();

  // AcquireTrial calls parked now, waiting for work or their deadline.
  int64_t ParkedAcquires() { return leases_.ParkedCount(); }

  const CoordinatorOptions& options() const { return options_; }
  const Clock& clock() const { return clock_; }

 private:
  void MaintenanceLoop();

  Metrics* const metrics_;
  const CoordinatorOptions options_;
  const Clock& clock_;
  // The parts point at each other (the directory asks the broker about the
  // fleet; the broker and the intake ask the directory for runtimes); none
  // uses another while being built.
  SearchDirectory searches_;
  LeaseBroker leases_;
  ResultIntake results_;
  DnasJobs dnas_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool maintenance_running_ ABSL_GUARDED_BY(mu_) = false;
  std::thread maintenance_;
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_COORDINATOR_H_

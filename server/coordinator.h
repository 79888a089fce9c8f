// The search server's logic, on domain structs only (no gRPC types): search
// lifecycle, leasing through the scheduling policy, results into the store,
// rewards and strategies, early stopping, crash recovery. The gRPC services
// (services.h) are thin adapters over this class.
//
// Thread-safe. Each running search's strategy is single-threaded and guarded
// by that search's mutex; the store does its own locking.
#ifndef HWNAS_SERVER_COORDINATOR_H_
#define HWNAS_SERVER_COORDINATOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/records.h"
#include "db/store.h"
#include "scheduler/policy.h"
#include "server/executor.h"
#include "server/group_commit.h"
#include "server/metrics.h"
#include "spec/search_spec.h"

namespace hwnas::server {

class SearchRuntime;

struct CoordinatorOptions {
  absl::Duration lease_ttl = absl::Seconds(30);
  int max_attempts = 3;  // Per trial, counting retryable failures and lost leases.
  scheduler::PolicyOptions policy;
  // Directories with MCU profiles for hardware targets named in specs.
  std::vector<std::string> profile_search_path;
  // How often expired leases are requeued and queues topped up.
  absl::Duration maintenance_interval = absl::Milliseconds(500);
  // A worker not heard from for this long no longer counts as capable.
  absl::Duration worker_alive = absl::Seconds(60);
};

// Everything a worker needs for one trial.
struct Assignment {
  std::string lease_id;
  absl::Time lease_expires_at;
  int64_t search_id = 0;
  int64_t trial_number = 0;
  Architecture architecture;
  std::string spec_yaml;
  int attempt = 0;
  uint64_t seed = 0;
};

// One result in Coordinator::ReportResults.
struct ResultReport {
  std::string lease_id;
  TrialResult result;
  bool early_stopped = false;
};

// Most trials one AcquireTrial hands out, and most results one
// ReportResults takes.
inline constexpr int kMaxTrialsPerCall = 1024;

enum class ProgressAction { kContinue, kStopEarly, kCancelled };

struct ProgressAnswer {
  ProgressAction action = ProgressAction::kContinue;
  absl::Time lease_expires_at;
};

class Coordinator {
 public:
  Coordinator(db::Store* store, Executor* executor, Metrics* metrics, CoordinatorOptions options);
  ~Coordinator();

  // Rebuilds every RUNNING search from the store (strategy checkpoint plus
  // the results since), then starts the maintenance loop. Searches whose
  // spec no longer parses are marked FAILED with the reason.
  absl::Status Start();
  // Stops the maintenance loop and answers parked long-polls (no trial).
  void Stop();

  // --- SearchService ----------------------------------------------------------
  absl::StatusOr<SearchRecord> Submit(const User& user, const std::string& spec_yaml,
                                      const std::string& idempotency_key);
  // PERMISSION_DENIED for searches the user may not see (another owner's,
  // unless admin).
  absl::StatusOr<SearchRecord> GetSearch(const User& user, int64_t search_id);
  absl::StatusOr<db::Page<SearchRecord>> ListSearches(const User& user, db::SearchQuery query,
                                                      bool all_owners);
  absl::StatusOr<SearchRecord> Cancel(const User& user, int64_t search_id);
  absl::StatusOr<db::Page<TrialRecord>> ListTrials(const User& user, db::TrialQuery query);
  absl::StatusOr<TrialRecord> GetTrial(const User& user, int64_t search_id, int64_t number);
  struct ParetoAnswer {
    std::vector<TrialRecord> trials;
    std::vector<std::string> metrics;
    double hypervolume = 0;
  };
  absl::StatusOr<ParetoAnswer> ParetoFront(const User& user, int64_t search_id,
                                           std::vector<std::string> metrics);
  // Finished trials with a finish sequence above `after` (WatchSearch).
  absl::StatusOr<std::vector<TrialRecord>> FinishedSince(int64_t search_id, int64_t after);
  // The highest finish sequence so far (0 if nothing finished).
  absl::StatusOr<int64_t> LastFinishSequence(int64_t search_id);

  // --- WorkerService ----------------------------------------------------------
  // Registers `worker` as one of `owner`'s (the worker token's user): its
  // name is unique among that user's workers only.
  absl::StatusOr<WorkerRecord> RegisterWorker(const User& owner, WorkerRecord worker);
  // OK when `worker_id` was registered by `user`'s token. Every
  // WorkerService call checks this before acting as that worker: for
  // AcquireTrial a FAILED_PRECONDITION "not registered" (a worker re-registers
  // on that, e.g. after the migration that gave workers owners), for the
  // reports PERMISSION_DENIED. An unknown id reads the same as another's.
  absl::Status AuthorizeWorker(const User& user, const std::string& worker_id, bool acquiring);
  // Calls `done` exactly once, on an executor thread: with 1 to
  // `max_trials` assignments, with none when none came before `deadline`,
  // or with an error. More than one only from searches with the table
  // evaluator (a training trial comes alone: its heartbeat is its own).
  using AcquireDone = std::function<void(absl::StatusOr<std::vector<Assignment>>)>;
  void Acquire(const std::string& worker_id, absl::Time deadline, int max_trials, AcquireDone done);
  absl::StatusOr<ProgressAnswer> ReportProgress(const std::string& worker_id,
                                                const std::string& lease_id,
                                                const std::optional<EpochMetrics>& metrics);
  absl::StatusOr<db::ReportOutcome> ReportResult(const std::string& worker_id,
                                                 const std::string& lease_id,
                                                 const TrialResult& result, bool early_stopped);
  // Several results stored together (one commit), one answer per report in
  // order, each as ReportResult would give it. Fails as a whole, storing
  // nothing, when a report is malformed or names another worker's lease.
  absl::StatusOr<std::vector<absl::StatusOr<db::ReportOutcome>>> ReportResults(
      const std::string& worker_id, const std::vector<ResultReport>& reports);
  absl::StatusOr<db::ReportOutcome> ReportFailure(const std::string& worker_id,
                                                  const std::string& lease_id,
                                                  const std::string& reason, bool retryable,
                                                  const std::optional<TrialResult>& partial,
                                                  bool infeasible);

  // One round of maintenance: requeue expired leases, resynchronize queue
  // counters, top up queues, finish searches that are done. Also run by the
  // background loop; public so tests can drive it.
  void MaintenanceRound();

  const CoordinatorOptions& options() const { return options_; }

 private:
  struct Waiter {
    std::string worker_id;
    absl::Time deadline;
    int max_trials = 1;
    AcquireDone done;
  };
  struct WorkerState {
    int64_t owner_id = 0;
    scheduler::WorkerProfile profile;
    absl::Time last_seen;
    int max_trials = 1;  // Asked for in its last AcquireTrial.
  };

  absl::StatusOr<std::shared_ptr<SearchRuntime>> Runtime(int64_t search_id);
  std::vector<std::shared_ptr<SearchRuntime>> Runtimes();
  absl::StatusOr<SearchRecord> Visible(const User& user, int64_t search_id);
  // The search that strategy.warm_start_from names (an id, or the name of
  // the user's newest search so named), checked to be able to seed `spec`.
  absl::StatusOr<SearchRecord> ResolveWarmStart(const User& user, const spec::SearchSpec& spec);
  // Empty when a live worker can run a search with these requirements, else
  // why not (SearchRecord::waiting).
  std::string WhyNoWorkerCanRun(const scheduler::Requirements& requirements)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status LoadRuntime(const SearchRecord& record);
  absl::StatusOr<std::vector<Assignment>> TryLease(const std::string& worker_id, int max_trials);
  Assignment AssignmentFor(const SearchRuntime& runtime, const db::Lease& lease) const;
  void TryWaiters();
  // Tops up the search's queue when it has drained to half its desired
  // depth (so proposals and their checkpoint come in batches), or finishes
  // the search when nothing is left to do. Uses the in-memory counters.
  void Refill(const std::shared_ptr<SearchRuntime>& runtime);
  void RefillOnce(const std::shared_ptr<SearchRuntime>& runtime);
  // Sets the in-memory counters from the store.
  void Resync(const std::shared_ptr<SearchRuntime>& runtime);
  std::optional<TrialRecord> LeasedTrial(const std::string& lease_id);
  void ScheduleRefill(std::shared_ptr<SearchRuntime> runtime);
  // Observes newly finished trials in the strategy, then refills or finishes.
  void AfterFinish(const std::shared_ptr<SearchRuntime>& runtime,
                   const std::vector<TrialRecord>& finished);
  void MaybeComplete(const std::shared_ptr<SearchRuntime>& runtime);
  // Group commit of completions (GroupCommit): concurrent reports are stored
  // together in one transaction (Store::CompleteTrials). Acknowledged only
  // after the commit.
  std::vector<absl::StatusOr<db::ReportOutcome>> CompleteBatched(
      std::vector<db::Completion> completions);
  // Leases in batches the same way: concurrent requests with the same
  // search order are served by one statement (Store::LeaseTrials). Up to
  // `count` leases for the worker, from the searches in `order`.
  absl::StatusOr<std::vector<db::Lease>> LeaseBatched(const std::string& worker_id,
                                                      std::vector<int64_t> order, int count);
  // Trials the live workers able to run `req` could take at once: one per
  // worker, or what each asks for per AcquireTrial for table searches.
  int64_t CapableWorkers(const scheduler::Requirements& req);
  void Touch(const std::string& worker_id);
  void MaintenanceLoop();

  db::Store* const store_;
  Executor* const executor_;
  Metrics* const metrics_;
  const CoordinatorOptions options_;

  absl::Mutex mu_;
  std::map<int64_t, std::shared_ptr<SearchRuntime>> runtimes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, WorkerState> workers_ ABSL_GUARDED_BY(mu_);
  // Owners of worker ids read from the store (ids registered before a
  // restart), so reports do not read the store each time. Bounded.
  absl::flat_hash_map<std::string, int64_t> stored_owners_ ABSL_GUARDED_BY(mu_);
  // Leases handed out by this process, to route reports and progress
  // without a database read. After a restart, reports fall back to the store.
  absl::flat_hash_map<std::string, TrialRecord> leases_ ABSL_GUARDED_BY(mu_);
  std::vector<Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool maintenance_running_ ABSL_GUARDED_BY(mu_) = false;
  std::thread maintenance_;

  // At most two batches of each kind stored at the same time: two keep
  // PostgreSQL's two cores busy while the next batch gathers. Completions of
  // one search still commit in finish-sequence order: a batch holds the
  // search's finish counter row from taking its numbers until its commit.
  GroupCommit<db::Completion, absl::StatusOr<db::ReportOutcome>> completions_{512, 2};
  struct LeaseRequest {
    std::string worker_id;
    std::vector<int64_t> order;  // Search ids in the order the scheduler picked.
    int count = 1;
  };
  GroupCommit<LeaseRequest, absl::StatusOr<std::vector<db::Lease>>> leases_batch_{256, 2};
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_COORDINATOR_H_

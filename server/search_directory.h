// The coordinator's search part: submitting searches, who may see them, the
// running searches' runtimes (loaded, reloaded, dropped), warm starts, the
// Pareto front, and the finish bookkeeping (observing finished trials,
// refilling queues, completing searches). Internal to server/.
//
// Thread-safe: the runtime map is guarded by a mutex; each runtime guards
// its own strategy; the store does its own locking.
#ifndef HWNAS_SERVER_SEARCH_DIRECTORY_H_
#define HWNAS_SERVER_SEARCH_DIRECTORY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/records.h"
#include "db/store.h"
#include "scheduler/policy.h"
#include "server/coordinator_types.h"
#include "server/executor.h"
#include "server/metrics.h"
#include "spec/search_spec.h"

namespace hwnas::server {

class SearchRuntime;

// What the search directory asks of the worker fleet (LeaseBroker answers).
class FleetView {
 public:
  virtual ~FleetView() = default;
  // Trials the live workers able to run `req` could take at once: one per
  // worker, or what each asks for per AcquireTrial for table searches.
  virtual int64_t CapableWorkers(const scheduler::Requirements& req) = 0;
  // Empty when a live worker can run a search with these requirements, else
  // why not (SearchRecord::waiting).
  virtual std::string WhyNoWorkerCanRun(const scheduler::Requirements& req) = 0;
  // New trials are pending: parked AcquireTrial calls try again.
  virtual void WakeWaiters() = 0;
  // The search was cancelled: its leases are no longer routed.
  virtual void ForgetLeasesOf(int64_t search_id) = 0;
};

class SearchDirectory {
 public:
  // `fleet` is only used after construction (it may be built after this).
  SearchDirectory(db::Store* store, Executor* executor, Metrics* metrics,
                  const CoordinatorOptions* options, FleetView* fleet);

  // Rebuilds every RUNNING search from the store (strategy checkpoint plus
  // the results since). Searches whose spec no longer parses are marked
  // FAILED with the reason; an unreachable store fails the whole call.
  // Returns how many searches were running.
  absl::StatusOr<int64_t> LoadRunning();

  // --- SearchService ---------------------------------------------------------
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
  absl::StatusOr<ParetoAnswer> ParetoFront(const User& user, int64_t search_id,
                                           std::vector<std::string> metrics);
  // `hwnas enqueue` / `hwnas import`: the owner's (or an admin's)
  // architectures stored as trials of `origin` on a RUNNING search (see
  // SearchRuntime::StoreGuided; all or nothing). FAILED_PRECONDITION when the
  // search is not running.
  absl::StatusOr<std::vector<TrialRecord>> AddGuided(const User& user, int64_t search_id,
                                                     const std::vector<GuidedTrial>& items,
                                                     TrialOrigin origin);
  // Finished trials with a finish sequence above `after` (WatchSearch).
  absl::StatusOr<std::vector<TrialRecord>> FinishedSince(int64_t search_id, int64_t after);
  // The highest finish sequence so far (0 if nothing finished).
  absl::StatusOr<int64_t> LastFinishSequence(int64_t search_id);
  // The search's event log after `after_id` (WatchSearch: a dnas job's
  // epochs); at most `limit`.
  absl::StatusOr<std::vector<db::Event>> EventsSince(int64_t search_id, int64_t after_id,
                                                     int limit);

  // --- Running searches -------------------------------------------------------
  // FAILED_PRECONDITION when the search is not running in this process.
  absl::StatusOr<std::shared_ptr<SearchRuntime>> Runtime(int64_t search_id);
  std::vector<std::shared_ptr<SearchRuntime>> Runtimes();
  // Whether any running search has pending trials (by the counters).
  bool AnyPending();
  int64_t RunningCount();

  // --- Finish bookkeeping -------------------------------------------------------
  // Observes newly finished trials in the strategy, promotes those the
  // search's rungs allow (multi-fidelity), then refills or finishes (on the
  // executor).
  void AfterFinish(const std::shared_ptr<SearchRuntime>& runtime,
                   const std::vector<TrialRecord>& finished);
  // Multi-fidelity: stores the rung results of `finished` and promotes the
  // trials the search's ladder names (back to the queue, next rung).
  void Promote(const std::shared_ptr<SearchRuntime>& runtime,
               const std::vector<TrialRecord>& finished);
  // Screening (spec `screen:`): decides the newly screened trials of
  // `finished`: those that pass go back to the queue to train, the others
  // end screened out (EARLY_STOPPED) and are told to the strategy as failed.
  void Screen(const std::shared_ptr<SearchRuntime>& runtime,
              const std::vector<TrialRecord>& finished);
  // Queues one Refill of the search on the executor (at most one queued).
  void ScheduleRefill(std::shared_ptr<SearchRuntime> runtime);
  // Tops up the search's queue when it has drained to half its desired
  // depth (so proposals and their checkpoint come in batches), or finishes
  // the search when nothing is left to do. Uses the in-memory counters.
  void Refill(const std::shared_ptr<SearchRuntime>& runtime);
  // Maintenance: rebuilds the searches whose memory disagrees with the
  // store, then sets every search's counters from the store and refills it.
  void ReloadAndResync();

 private:
  absl::StatusOr<SearchRecord> Visible(const User& user, int64_t search_id);
  // The search that strategy.warm_start_from names (an id, or the name of
  // the user's newest search so named), checked to be able to seed `spec`.
  absl::StatusOr<SearchRecord> ResolveWarmStart(const User& user, const spec::SearchSpec& spec);
  absl::Status LoadRuntime(const SearchRecord& record);
  void RefillOnce(const std::shared_ptr<SearchRuntime>& runtime);
  // Sets the in-memory counters from the store.
  void Resync(const std::shared_ptr<SearchRuntime>& runtime);
  void MaybeComplete(const std::shared_ptr<SearchRuntime>& runtime);
  // budget.seconds ran out: completes the search now (queued and running
  // trials cancelled, promoted ones back on the rung they finished).
  void CompleteAtDeadline(const std::shared_ptr<SearchRuntime>& runtime);
  void Drop(int64_t search_id);

  db::Store* const store_;
  Executor* const executor_;
  Metrics* const metrics_;
  const CoordinatorOptions* const options_;
  FleetView* const fleet_;

  absl::Mutex mu_;
  std::map<int64_t, std::shared_ptr<SearchRuntime>> runtimes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_SEARCH_DIRECTORY_H_

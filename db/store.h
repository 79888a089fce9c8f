// The persistent store: every search, trial, metric, worker, controller
// checkpoint and user lives behind this interface. It speaks domain structs
// only (db/store_types.h). Two implementations keep the same contract:
// PostgresStore (db/postgres_store.h, the server's) and MemoryStore
// (db/memory_store.h, for unit tests and tools that need no database); one
// conformance suite (tests/db/store_conformance.cc) runs against both.
//
// Guarantees the rest of the system relies on:
//  - Trial numbers of a search are 1, 2, 3... with no gap or duplicate, also
//    under concurrent AddTrials.
//  - A pending trial is leased to exactly one worker at a time.
//  - A trial is completed exactly once: a repeated report on the same lease
//    returns the stored outcome (duplicate = true) and changes nothing; a
//    report on a lease that is no longer current is refused
//    (FAILED_PRECONDITION).
//  - Invalid input (NaN metrics, oversized token lists, unknown ids) is
//    rejected with INVALID_ARGUMENT / NOT_FOUND before anything is written.
//  - Serialization failures and deadlocks are retried inside the store; a
//    lost connection surfaces as UNAVAILABLE and the next call reconnects.
//
// Thread-safe: calls may come from many threads.
#ifndef HWNAS_DB_STORE_H_
#define HWNAS_DB_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/records.h"
#include "common/trial.h"
#include "db/store_types.h"

namespace hwnas::db {

// Users and their API tokens.
class UserStore {
 public:
  virtual ~UserStore() = default;

  virtual absl::StatusOr<User> CreateUser(absl::string_view name, bool is_admin,
                                          bool is_worker = false) = 0;
  virtual absl::StatusOr<User> GetUser(absl::string_view name) = 0;
  // Creates a new random API token for the user and returns it. Only its
  // SHA-256 digest is stored: the token cannot be shown again.
  virtual absl::StatusOr<std::string> IssueToken(int64_t user_id) = 0;
  // UNAUTHENTICATED for unknown or revoked tokens.
  virtual absl::StatusOr<User> Authenticate(absl::string_view token) = 0;
  // Revokes every live token of the user and returns how many (PostgreSQL
  // also notifies kTokensRevokedChannel in the same transaction).
  virtual absl::StatusOr<int> RevokeTokens(int64_t user_id) = 0;
};

// Searches: submission, listing and their end.
class SearchStore {
 public:
  virtual ~SearchStore() = default;

  virtual absl::StatusOr<SearchRecord> CreateSearch(const NewSearch& search) = 0;
  // With trial counts and the best trial.
  virtual absl::StatusOr<SearchRecord> GetSearch(int64_t search_id) = 0;
  virtual absl::StatusOr<Page<SearchRecord>> ListSearches(const SearchQuery& query) = 0;
  // Moves a RUNNING search to a terminal state and cancels its PENDING,
  // LEASED and RUNNING trials (workers learn it from their next heartbeat).
  // Completing (budget.seconds ran out) puts a promoted trial back on the
  // rung it finished, SUCCEEDED with that rung's stored result, instead.
  // A search already in a terminal state is returned unchanged.
  virtual absl::StatusOr<SearchRecord> FinishSearch(int64_t search_id, SearchState state,
                                                    absl::string_view error = "") = 0;
  // With trial counts (no best trial).
  virtual absl::StatusOr<std::vector<SearchRecord>> RunningSearches() = 0;
};

// Trials and their results: proposals in, reports in, reads out.
class TrialStore {
 public:
  virtual ~TrialStore() = default;

  // Appends trials with the next numbers of the search (gap-free). With a
  // checkpoint, saves it in the same transaction: the proposals and the
  // strategy state that made them are stored together or not at all.
  virtual absl::StatusOr<std::vector<TrialRecord>> AddTrials(
      int64_t search_id, const std::vector<NewTrial>& trials,
      const std::optional<Checkpoint>& checkpoint = std::nullopt) = 0;
  // Stores the result and finishes the trial as SUCCEEDED or EARLY_STOPPED.
  virtual absl::StatusOr<ReportOutcome> CompleteTrial(absl::string_view lease_id,
                                                      absl::string_view worker_id,
                                                      const TrialResult& result,
                                                      TrialState final_state,
                                                      std::optional<double> reward) = 0;
  // Group commit: completes many leases (of any searches) in one
  // transaction, giving each search's trials consecutive finish sequences
  // in the order of `batch`. Each answer is what CompleteTrial would have
  // answered for that entry alone (reports that are duplicates, lost leases
  // or another worker's are answered one by one).
  virtual std::vector<absl::StatusOr<ReportOutcome>> CompleteTrials(
      const std::vector<Completion>& batch) = 0;
  // A failure on the lease. Retryable failures with attempts left go back to
  // PENDING; otherwise the trial is FAILED (or INFEASIBLE) with the reason.
  virtual absl::StatusOr<ReportOutcome> FailTrial(
      absl::string_view lease_id, absl::string_view worker_id, absl::string_view reason,
      bool retryable, int max_attempts, const std::optional<TrialResult>& partial = std::nullopt,
      bool infeasible = false, std::optional<double> reward = std::nullopt) = 0;
  virtual absl::StatusOr<TrialRecord> GetTrial(int64_t search_id, int64_t number,
                                               bool with_epochs) = 0;
  // The trial a lease belongs to (current or finished); NOT_FOUND if none.
  virtual absl::StatusOr<TrialRecord> GetTrialByLease(absl::string_view lease_id) = 0;
  // Per-epoch values of one metric for the search's finished trials (any
  // terminal state but CANCELLED): trial number -> (epoch -> value).
  virtual absl::StatusOr<std::map<int64_t, std::map<int, double>>> FinishedCurves(
      int64_t search_id, absl::string_view metric) = 0;
  virtual absl::StatusOr<Page<TrialRecord>> ListTrials(const TrialQuery& query) = 0;
  virtual absl::StatusOr<TrialCounts> CountTrials(int64_t search_id) = 0;
  // Only what the scheduler keeps in memory: PENDING, LEASED + RUNNING and
  // finished (any terminal state but CANCELLED) trials. Unlike CountTrials it
  // does not read every trial of the search, so it stays cheap at any size.
  virtual absl::StatusOr<QueueCounts> CountQueue(int64_t search_id) = 0;
  // Finished trials (any terminal state but CANCELLED) with a finish sequence
  // above `after`, in finish order: what a restored strategy must re-observe.
  virtual absl::StatusOr<std::vector<TrialRecord>> FinishedTrialsSince(int64_t search_id,
                                                                       int64_t after) = 0;
  // Highest finish sequence of the search (0 if none).
  virtual absl::StatusOr<int64_t> LastFinishSequence(int64_t search_id) = 0;
  // A finished trial (SUCCEEDED or INFEASIBLE) of the search with this
  // canonical hash, to answer repeat proposals without training again.
  virtual absl::StatusOr<std::optional<TrialRecord>> FindFinishedByHash(int64_t search_id,
                                                                        uint64_t hash) = 0;
};

// Leases on pending trials, and the workers that hold them.
class LeaseStore {
 public:
  virtual ~LeaseStore() = default;

  // Leases the lowest-numbered pending trial of the first listed search that
  // has one, enqueued trials (TrialOrigin::kEnqueued) before the others (concurrent callers never
  // get the same trial). nullopt when none of the searches has a pending trial.
  virtual absl::StatusOr<std::optional<Lease>> LeaseTrial(const LeaseRequest& request) = 0;
  // Batched leasing: one lease per listed worker where trials are pending,
  // taken from the listed searches in order. Answer i belongs to
  // worker_ids[i]; nullopt when no trial was left for that worker.
  virtual absl::StatusOr<std::vector<std::optional<Lease>>> LeaseTrials(
      const std::vector<std::string>& worker_ids, const std::vector<int64_t>& search_ids,
      absl::Duration ttl) = 0;
  // Heartbeat: extends the lease; with metrics, records one epoch and marks
  // the trial RUNNING. FAILED_PRECONDITION if the lease is no longer held.
  virtual absl::StatusOr<LeaseStatus> RenewLease(absl::string_view lease_id,
                                                 absl::string_view worker_id, absl::Duration ttl,
                                                 const std::optional<EpochMetrics>& metrics) = 0;
  // Requeues trials whose lease expired (or FAILS them once `max_attempts`
  // are used; a trial of a search that is no longer RUNNING is CANCELLED).
  // Returns the trials it changed.
  virtual absl::StatusOr<std::vector<TrialRecord>> RequeueExpiredLeases(int max_attempts) = 0;

  // Registers a worker by (owner_id, name) (re-registering updates it: the
  // same owner keeps its id; another owner's worker of that name is another
  // worker); worker.owner_id is required. Returns it with its id.
  virtual absl::StatusOr<WorkerRecord> UpsertWorker(const WorkerRecord& worker) = 0;
  virtual absl::StatusOr<WorkerRecord> GetWorker(absl::string_view worker_id) = 0;
  virtual absl::Status TouchWorker(absl::string_view worker_id) = 0;
  virtual absl::StatusOr<std::vector<WorkerRecord>> ListWorkers(absl::Duration alive_within) = 0;
};

// Controller checkpoints and the per-search event log.
class CheckpointStore {
 public:
  virtual ~CheckpointStore() = default;

  // Saves a checkpoint; all but the last three of the search are dropped.
  virtual absl::Status SaveCheckpoint(int64_t search_id, const Checkpoint& checkpoint) = 0;
  virtual absl::StatusOr<std::optional<Checkpoint>> LoadLatestCheckpoint(int64_t search_id) = 0;

  virtual absl::Status AppendEvent(int64_t search_id, std::optional<int64_t> trial_number,
                                   absl::string_view kind, absl::string_view payload_json) = 0;
  virtual absl::StatusOr<std::vector<Event>> ListEvents(int64_t search_id, int64_t after_id,
                                                        int limit) = 0;
};

// Multi-fidelity scheduling (spec `fidelity:`): results per rung and
// promotions of a trial to the next rung.
class RungStore {
 public:
  virtual ~RungStore() = default;

  // Records trial `number`'s result on `rung` (epochs > 0, a finite score);
  // a repeat replaces the score. NOT_FOUND for an unknown trial.
  virtual absl::Status RecordRung(int64_t search_id, const RungResult& result) = 0;
  // Every rung result of the search, by trial number then rung, each with
  // its trial's bracket: what a restarted server rebuilds its ladder from.
  virtual absl::StatusOr<std::vector<RungResult>> ListRungs(int64_t search_id) = 0;
  // Puts a SUCCEEDED trial of a RUNNING search back in the queue (PENDING)
  // to train on to `rung` (its stored rung + 1) with `epoch_target` epochs,
  // and marks its result on the rung below promoted, in one transaction. Its
  // result stays until the next rung's report replaces it. FAILED_PRECONDITION
  // for another state, a search no longer running or a rung that is not the
  // next one; NOT_FOUND for an unknown trial.
  virtual absl::StatusOr<TrialRecord> PromoteTrial(int64_t search_id, int64_t number, int rung,
                                                   int epoch_target) = 0;
  // Screening (spec `screen:`): decides a SUCCEEDED trial of a RUNNING
  // search whose screening lease reported (screen stage pending), in one
  // transaction, storing `score` as its screen score. Without `out_reason`
  // it goes on to training: PENDING again, stage passed, attempts 0, its
  // proxy result kept until training reports; its finish counts once
  // (like a promotion). With it, it is screened out: EARLY_STOPPED with
  // that failure reason, no reward, stage screened_out, and it does not
  // count against the budget (search_finish_counters.screened_out).
  // FAILED_PRECONDITION for another state or stage or a search no longer
  // running; NOT_FOUND for an unknown trial.
  virtual absl::StatusOr<TrialRecord> ScreenTrial(int64_t search_id, int64_t number, double score,
                                                  std::optional<std::string> out_reason) = 0;

  // Stores (replacing) a trial's training checkpoint. When the search's
  // checkpoints would then take more than `limit_bytes`, the checkpoints of
  // lower-scoring trials are deleted first, lowest score first; if that is
  // not enough, RESOURCE_EXHAUSTED says the numbers and nothing changes
  // (also when the database itself is full: the transaction rolls back).
  virtual absl::StatusOr<CheckpointSaved> SaveTrialCheckpoint(int64_t search_id,
                                                              const TrialCheckpoint& checkpoint,
                                                              int64_t limit_bytes) = 0;
  // nullopt when the trial has none (never stored, evicted, or deleted).
  virtual absl::StatusOr<std::optional<TrialCheckpoint>> LoadTrialCheckpoint(int64_t search_id,
                                                                             int64_t number) = 0;
  // The epochs of a trial's stored checkpoint without reading its bytes
  // (a DNAS supernet's is tens of MB): nullopt when it has none.
  virtual absl::StatusOr<std::optional<int>> StoredCheckpointEpochs(int64_t search_id,
                                                                    int64_t number) = 0;
  // Deletes one trial's checkpoint (none: OK). FinishSearch deletes all of
  // a search's checkpoints.
  virtual absl::Status DeleteTrialCheckpoint(int64_t search_id, int64_t number) = 0;
};

// The whole store, as the server and tools hold it (db::Store&,
// std::unique_ptr<db::Store>).
class Store : public UserStore,
              public SearchStore,
              public TrialStore,
              public LeaseStore,
              public CheckpointStore,
              public RungStore {
 public:
  Store() = default;
  ~Store() override = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Applies pending migrations in order (PostgreSQL: under an advisory lock);
  // applying twice is a no-op. Refuses (FAILED_PRECONDITION) a database whose
  // schema is newer than this binary knows.
  virtual absl::Status Migrate() = 0;
  // The schema version of the data (0: an empty database).
  virtual absl::StatusOr<int> SchemaVersion() = 0;
  // The schema version this binary writes (the last of db/migrations).
  static int LatestSchemaVersion();
};

}  // namespace hwnas::db

#endif  // HWNAS_DB_STORE_H_

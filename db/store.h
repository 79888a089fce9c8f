// The persistent store: every search, trial, metric, worker, controller
// checkpoint and user lives in PostgreSQL behind this API. The header speaks
// domain structs only; the libpqxx implementation stays in store.cc.
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
// Thread-safe: calls may come from many threads; each takes a connection
// from a small pool for the length of one transaction.
#ifndef HWNAS_DB_STORE_H_
#define HWNAS_DB_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/records.h"
#include "common/trial.h"

namespace hwnas::db {

struct StoreOptions {
  // libpq connection string or URI, e.g. "postgresql://u:p@127.0.0.1:5432/hwnas".
  std::string connection_string;
  int pool_size = 4;
  // Attempts for a transaction that hits a serialization failure or deadlock.
  int max_attempts = 8;
  // Open() checks that the database answers; false: connections are made on
  // first use (a server that waits for its database opens the store first).
  bool connect_at_open = true;
};

// The PostgreSQL NOTIFY channel RevokeTokens() signals on commit, so servers
// can drop the revoked tokens from their caches at once.
inline constexpr char kTokensRevokedChannel[] = "hwnas_tokens_revoked";

// Limits enforced on input before it reaches SQL.
inline constexpr int kMaxTokens = 1024;
inline constexpr int kMaxMetricsPerEpoch = 64;
inline constexpr int kMaxNameLength = 128;
inline constexpr int kMaxSpecBytes = 1 << 20;

struct NewSearch {
  std::string name;
  int64_t owner_id = 0;
  std::string spec_yaml;
  std::string space;
  int64_t budget = 0;
  double weight = 1;
  uint64_t seed = 0;
  // Non-empty: a second CreateSearch by the same owner with the same key
  // returns the first search instead of creating another.
  std::string idempotency_key;
  // The earlier search whose finished trials seed this one's strategy
  // (strategy.warm_start_from, resolved); 0: none.
  int64_t warm_start_search_id = 0;
};

struct NewTrial {
  Architecture architecture;
  uint64_t canonical_hash = 0;
  uint64_t proposal_id = 0;
  // PENDING normally; INFEASIBLE (over a hard limit) or SUCCEEDED (a repeat
  // answered from an earlier result) are stored as finished right away.
  TrialState state = TrialState::kPending;
  std::optional<TrialResult> result;
  std::optional<double> reward;
  std::string failure_reason;
};

struct Lease {
  std::string lease_id;
  absl::Time expires_at;
  TrialRecord trial;
};

struct LeaseRequest {
  std::string worker_id;
  // Searches to take a trial from, in the scheduler's order of preference.
  std::vector<int64_t> search_ids;
  absl::Duration ttl = absl::Seconds(30);
};

// One report of a completed trial, for Store::CompleteTrials.
struct Completion {
  std::string lease_id;
  std::string worker_id;
  TrialResult result;
  TrialState final_state = TrialState::kSucceeded;
  std::optional<double> reward;
};

struct ReportOutcome {
  TrialRecord trial;
  bool duplicate = false;  // The same lease had already reported.
  bool requeued = false;   // A retryable failure went back to the queue.
};

// Answer to a heartbeat.
struct LeaseStatus {
  absl::Time expires_at;
  bool search_cancelled = false;  // The worker should stop, report nothing.
};

enum class TrialOrder { kNumber, kRewardDesc, kAccuracyDesc, kLatencyAsc };

struct TrialQuery {
  int64_t search_id = 0;
  std::optional<TrialState> state;
  TrialOrder order = TrialOrder::kNumber;
  int page_size = 100;
  std::string page_token;  // Opaque; from the previous page.
};

struct SearchQuery {
  std::optional<int64_t> owner_id;  // nullopt: every owner.
  std::optional<SearchState> state;
  std::string name;  // Empty: any name.
  int page_size = 50;
  std::string page_token;
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_page_token;  // Empty on the last page.
};

struct Checkpoint {
  int64_t sequence = 0;
  std::string state;  // Opaque strategy bytes.
  // Highest trial finish sequence the strategy had observed.
  int64_t observed_through = 0;
};

struct Event {
  int64_t id = 0;
  int64_t search_id = 0;
  std::optional<int64_t> trial_number;
  std::string kind;
  std::string payload_json;
  absl::Time created_at = absl::UnixEpoch();
};

class Store {
 public:
  // Connects (one connection, to fail fast on a bad address or password).
  static absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- Schema ---------------------------------------------------------------
  // Applies pending migrations in order under an advisory lock; applying
  // twice is a no-op. Refuses (FAILED_PRECONDITION) a database whose schema is
  // newer than this binary knows.
  absl::Status Migrate();
  absl::StatusOr<int> SchemaVersion();
  static int LatestSchemaVersion();

  // --- Users and tokens -------------------------------------------------------
  absl::StatusOr<User> CreateUser(absl::string_view name, bool is_admin, bool is_worker = false);
  absl::StatusOr<User> GetUser(absl::string_view name);
  // Creates a new random API token for the user and returns it. Only its
  // SHA-256 digest is stored: the token cannot be shown again.
  absl::StatusOr<std::string> IssueToken(int64_t user_id);
  // UNAUTHENTICATED for unknown or revoked tokens.
  absl::StatusOr<User> Authenticate(absl::string_view token);
  // Revokes every live token of the user and returns how many; notifies
  // kTokensRevokedChannel in the same transaction.
  absl::StatusOr<int> RevokeTokens(int64_t user_id);

  // --- Searches ---------------------------------------------------------------
  absl::StatusOr<SearchRecord> CreateSearch(const NewSearch& search);
  // With trial counts and the best trial.
  absl::StatusOr<SearchRecord> GetSearch(int64_t search_id);
  absl::StatusOr<Page<SearchRecord>> ListSearches(const SearchQuery& query);
  // Moves a RUNNING search to a terminal state. Cancelling also cancels its
  // PENDING trials (LEASED/RUNNING ones learn it from their next heartbeat).
  // A search already in a terminal state is returned unchanged.
  absl::StatusOr<SearchRecord> FinishSearch(int64_t search_id, SearchState state,
                                            absl::string_view error = "");
  absl::StatusOr<std::vector<SearchRecord>> RunningSearches();

  // --- Trials -----------------------------------------------------------------
  // Appends trials with the next numbers of the search (gap-free). With a
  // checkpoint, saves it in the same transaction: the proposals and the
  // strategy state that made them are stored together or not at all.
  absl::StatusOr<std::vector<TrialRecord>> AddTrials(
      int64_t search_id, const std::vector<NewTrial>& trials,
      const std::optional<Checkpoint>& checkpoint = std::nullopt);
  // Leases the lowest-numbered pending trial of the first listed search that
  // has one (SKIP LOCKED: concurrent callers never get the same trial).
  // nullopt when none of the searches has a pending trial.
  absl::StatusOr<std::optional<Lease>> LeaseTrial(const LeaseRequest& request);
  // Batched leasing: one lease per listed worker where trials are pending,
  // taken from the listed searches in order (each a single statement for all
  // workers still unserved). Answer i belongs to worker_ids[i]; nullopt when
  // no trial was left for that worker.
  absl::StatusOr<std::vector<std::optional<Lease>>> LeaseTrials(
      const std::vector<std::string>& worker_ids, const std::vector<int64_t>& search_ids,
      absl::Duration ttl);
  // Heartbeat: extends the lease; with metrics, records one epoch and marks
  // the trial RUNNING. FAILED_PRECONDITION if the lease is no longer held.
  absl::StatusOr<LeaseStatus> RenewLease(absl::string_view lease_id, absl::string_view worker_id,
                                         absl::Duration ttl,
                                         const std::optional<EpochMetrics>& metrics);
  // Stores the result and finishes the trial as SUCCEEDED or EARLY_STOPPED.
  absl::StatusOr<ReportOutcome> CompleteTrial(absl::string_view lease_id,
                                              absl::string_view worker_id,
                                              const TrialResult& result, TrialState final_state,
                                              std::optional<double> reward);
  // Group commit: completes many leases (of any searches) in one
  // transaction of a few statements, giving each search's trials consecutive
  // finish sequences in the order of `batch`. Each answer is what
  // CompleteTrial would have answered for that entry alone (reports that are
  // duplicates, lost leases or another worker's are answered one by one).
  std::vector<absl::StatusOr<ReportOutcome>> CompleteTrials(const std::vector<Completion>& batch);
  // A failure on the lease. Retryable failures with attempts left go back to
  // PENDING; otherwise the trial is FAILED (or INFEASIBLE) with the reason.
  absl::StatusOr<ReportOutcome> FailTrial(absl::string_view lease_id, absl::string_view worker_id,
                                          absl::string_view reason, bool retryable,
                                          int max_attempts,
                                          const std::optional<TrialResult>& partial = std::nullopt,
                                          bool infeasible = false,
                                          std::optional<double> reward = std::nullopt);
  // Requeues trials whose lease expired (or FAILS them once `max_attempts`
  // are used). Returns the trials it changed.
  absl::StatusOr<std::vector<TrialRecord>> RequeueExpiredLeases(int max_attempts);
  absl::StatusOr<TrialRecord> GetTrial(int64_t search_id, int64_t number, bool with_epochs);
  // The trial a lease belongs to (current or finished); NOT_FOUND if none.
  absl::StatusOr<TrialRecord> GetTrialByLease(absl::string_view lease_id);
  // Per-epoch values of one metric for the search's finished trials (any
  // terminal state but CANCELLED): trial number -> (epoch -> value).
  absl::StatusOr<std::map<int64_t, std::map<int, double>>> FinishedCurves(int64_t search_id,
                                                                          absl::string_view metric);
  absl::StatusOr<Page<TrialRecord>> ListTrials(const TrialQuery& query);
  absl::StatusOr<TrialCounts> CountTrials(int64_t search_id);
  // Only what the scheduler keeps in memory: PENDING, LEASED + RUNNING and
  // finished (any terminal state but CANCELLED) trials. Unlike CountTrials it
  // does not read every trial of the search, so it stays cheap at any size.
  absl::StatusOr<QueueCounts> CountQueue(int64_t search_id);
  // Finished trials (any terminal state but CANCELLED) with a finish sequence
  // above `after`, in finish order: what a restored strategy must re-observe.
  absl::StatusOr<std::vector<TrialRecord>> FinishedTrialsSince(int64_t search_id, int64_t after);
  // Highest finish sequence of the search (0 if none).
  absl::StatusOr<int64_t> LastFinishSequence(int64_t search_id);
  // A finished trial (SUCCEEDED or INFEASIBLE) of the search with this
  // canonical hash, to answer repeat proposals without training again.
  absl::StatusOr<std::optional<TrialRecord>> FindFinishedByHash(int64_t search_id, uint64_t hash);

  // --- Controller checkpoints -------------------------------------------------
  absl::Status SaveCheckpoint(int64_t search_id, const Checkpoint& checkpoint);
  absl::StatusOr<std::optional<Checkpoint>> LoadLatestCheckpoint(int64_t search_id);

  // --- Workers ----------------------------------------------------------------
  // Registers a worker by (owner_id, name) (re-registering updates it: the
  // same owner keeps its id; another owner's worker of that name is another
  // worker); worker.owner_id is required. Returns it with
  // its id.
  absl::StatusOr<WorkerRecord> UpsertWorker(const WorkerRecord& worker);
  absl::StatusOr<WorkerRecord> GetWorker(absl::string_view worker_id);
  absl::Status TouchWorker(absl::string_view worker_id);
  absl::StatusOr<std::vector<WorkerRecord>> ListWorkers(absl::Duration alive_within);

  // --- Events -----------------------------------------------------------------
  absl::Status AppendEvent(int64_t search_id, std::optional<int64_t> trial_number,
                           absl::string_view kind, absl::string_view payload_json);
  absl::StatusOr<std::vector<Event>> ListEvents(int64_t search_id, int64_t after_id, int limit);

 private:
  class Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hwnas::db

#endif  // HWNAS_DB_STORE_H_

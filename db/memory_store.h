// An in-memory db::Store with the same contract as PostgresStore (see
// db/store.h): gap-free trial numbers, one lease per pending trial,
// exactly-once completion, lease expiry, paging, the same input checks and
// error codes. Time comes from an injected clock, so tests move lease expiry
// forward with a FakeClock instead of sleeping. Nothing is persisted: the
// data lives as long as the object. Thread-safe (one mutex; every call is
// atomic, as a transaction is in PostgreSQL).
#ifndef HWNAS_DB_MEMORY_STORE_H_
#define HWNAS_DB_MEMORY_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "db/store.h"

namespace hwnas::db {

class MemoryStore final : public Store {
 public:
  // `clock` must outlive the store.
  explicit MemoryStore(const Clock& clock = Clock::Real());
  ~MemoryStore() override;

  // Schema.
  absl::Status Migrate() override;
  absl::StatusOr<int> SchemaVersion() override;
  // UserStore.
  absl::StatusOr<User> CreateUser(absl::string_view name, bool is_admin,
                                  bool is_worker = false) override;
  absl::StatusOr<User> GetUser(absl::string_view name) override;
  absl::StatusOr<std::string> IssueToken(int64_t user_id) override;
  absl::StatusOr<User> Authenticate(absl::string_view token) override;
  absl::StatusOr<int> RevokeTokens(int64_t user_id) override;
  // SearchStore.
  absl::StatusOr<SearchRecord> CreateSearch(const NewSearch& search) override;
  absl::StatusOr<SearchRecord> GetSearch(int64_t search_id) override;
  absl::StatusOr<Page<SearchRecord>> ListSearches(const SearchQuery& query) override;
  absl::StatusOr<SearchRecord> FinishSearch(int64_t search_id, SearchState state,
                                            absl::string_view error = "") override;
  absl::StatusOr<std::vector<SearchRecord>> RunningSearches() override;
  // TrialStore.
  absl::StatusOr<std::vector<TrialRecord>> AddTrials(
      int64_t search_id, const std::vector<NewTrial>& trials,
      const std::optional<Checkpoint>& checkpoint = std::nullopt) override;
  absl::StatusOr<ReportOutcome> CompleteTrial(absl::string_view lease_id,
                                              absl::string_view worker_id,
                                              const TrialResult& result, TrialState final_state,
                                              std::optional<double> reward) override;
  std::vector<absl::StatusOr<ReportOutcome>> CompleteTrials(
      const std::vector<Completion>& batch) override;
  absl::StatusOr<ReportOutcome> FailTrial(absl::string_view lease_id, absl::string_view worker_id,
                                          absl::string_view reason, bool retryable,
                                          int max_attempts,
                                          const std::optional<TrialResult>& partial = std::nullopt,
                                          bool infeasible = false,
                                          std::optional<double> reward = std::nullopt) override;
  absl::StatusOr<TrialRecord> GetTrial(int64_t search_id, int64_t number,
                                       bool with_epochs) override;
  absl::StatusOr<TrialRecord> GetTrialByLease(absl::string_view lease_id) override;
  absl::StatusOr<std::map<int64_t, std::map<int, double>>> FinishedCurves(
      int64_t search_id, absl::string_view metric) override;
  absl::StatusOr<Page<TrialRecord>> ListTrials(const TrialQuery& query) override;
  absl::StatusOr<TrialCounts> CountTrials(int64_t search_id) override;
  absl::StatusOr<QueueCounts> CountQueue(int64_t search_id) override;
  absl::StatusOr<std::vector<TrialRecord>> FinishedTrialsSince(int64_t search_id,
                                                               int64_t after) override;
  absl::StatusOr<int64_t> LastFinishSequence(int64_t search_id) override;
  absl::StatusOr<std::optional<TrialRecord>> FindFinishedByHash(int64_t search_id,
                                                                uint64_t hash) override;
  // LeaseStore.
  absl::StatusOr<std::optional<Lease>> LeaseTrial(const LeaseRequest& request) override;
  absl::StatusOr<std::vector<std::optional<Lease>>> LeaseTrials(
      const std::vector<std::string>& worker_ids, const std::vector<int64_t>& search_ids,
      absl::Duration ttl) override;
  absl::StatusOr<LeaseStatus> RenewLease(absl::string_view lease_id, absl::string_view worker_id,
                                         absl::Duration ttl,
                                         const std::optional<EpochMetrics>& metrics) override;
  absl::StatusOr<std::vector<TrialRecord>> RequeueExpiredLeases(int max_attempts) override;
  absl::StatusOr<WorkerRecord> UpsertWorker(const WorkerRecord& worker) override;
  absl::StatusOr<WorkerRecord> GetWorker(absl::string_view worker_id) override;
  absl::Status TouchWorker(absl::string_view worker_id) override;
  absl::StatusOr<std::vector<WorkerRecord>> ListWorkers(absl::Duration alive_within) override;
  // CheckpointStore.
  absl::Status SaveCheckpoint(int64_t search_id, const Checkpoint& checkpoint) override;
  absl::StatusOr<std::optional<Checkpoint>> LoadLatestCheckpoint(int64_t search_id) override;
  absl::Status AppendEvent(int64_t search_id, std::optional<int64_t> trial_number,
                           absl::string_view kind, absl::string_view payload_json) override;
  absl::StatusOr<std::vector<Event>> ListEvents(int64_t search_id, int64_t after_id,
                                                int limit) override;

  // RungStore.
  absl::Status RecordRung(int64_t search_id, const RungResult& result) override;
  absl::StatusOr<std::vector<RungResult>> ListRungs(int64_t search_id) override;
  absl::StatusOr<TrialRecord> PromoteTrial(int64_t search_id, int64_t number, int rung,
                                           int epoch_target) override;
  absl::StatusOr<TrialRecord> ScreenTrial(int64_t search_id, int64_t number, double score,
                                          std::optional<std::string> out_reason) override;
  absl::StatusOr<CheckpointSaved> SaveTrialCheckpoint(int64_t search_id,
                                                      const TrialCheckpoint& checkpoint,
                                                      int64_t limit_bytes) override;
  absl::StatusOr<std::optional<TrialCheckpoint>> LoadTrialCheckpoint(int64_t search_id,
                                                                     int64_t number) override;
  absl::StatusOr<std::optional<int>> StoredCheckpointEpochs(int64_t search_id,
                                                            int64_t number) override;
  absl::Status DeleteTrialCheckpoint(int64_t search_id, int64_t number) override;

 private:
  struct State;
  const Clock& clock_;
  mutable absl::Mutex mu_;
  std::unique_ptr<State> state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwnas::db

#endif  // HWNAS_DB_MEMORY_STORE_H_

// The domain structs the store speaks (db/store.h): what goes in (NewSearch,
// NewTrial, Completion, ...) and what comes out (Lease, Page, Checkpoint,
// ...). No SQL or libpqxx types: both store implementations share them.
#ifndef HWNAS_DB_STORE_TYPES_H_
#define HWNAS_DB_STORE_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/records.h"
#include "common/trial.h"

namespace hwnas::db {

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
  // kEnqueued: leased before the strategy's pending trials. kImported:
  // stored finished (SUCCEEDED or INFEASIBLE with its result), never leased.
  TrialOrigin origin = TrialOrigin::kStrategy;
  // Multi-fidelity: the starting rung (= bracket) and its epoch target (0:
  // the spec's training.epochs).
  int rung = 0;
  int epoch_target = 0;
  int bracket = 0;
  // Screening: a PENDING trial that is first scored by the spec's screen
  // proxy (stored with screen stage kPending).
  bool screen = false;
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

// One trial's result on one rung (Store::RecordRung).
struct RungResult {
  int64_t trial_number = 0;
  int rung = 0;
  int epochs = 0;
  double score = 0;       // What the promotion rule ranked it by.
  bool promoted = false;  // The trial went on to the next rung from here.
  int bracket = 0;        // The trial's bracket (read back, never written).
  friend bool operator==(const RungResult&, const RungResult&) = default;
};

// A trial's training checkpoint (Store::SaveTrialCheckpoint).
struct TrialCheckpoint {
  int64_t trial_number = 0;
  int epochs = 0;    // Epochs trained when it was written.
  double score = 0;  // The rung score: eviction goes lowest first.
  std::string data;  // Opaque bytes (the worker's format).
};

// What SaveTrialCheckpoint did to make room.
struct CheckpointSaved {
  int64_t search_bytes = 0;      // The search's checkpoints now, this one included.
  std::vector<int64_t> evicted;  // Trials whose checkpoints were deleted for it.
};

struct Event {
  int64_t id = 0;
  int64_t search_id = 0;
  std::optional<int64_t> trial_number;
  std::string kind;
  std::string payload_json;
  absl::Time created_at = absl::UnixEpoch();
};

}  // namespace hwnas::db

#endif  // HWNAS_DB_STORE_TYPES_H_

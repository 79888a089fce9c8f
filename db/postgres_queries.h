// Statements the PostgreSQL store's operations share inside their
// transactions: finish sequences, checkpoints, search summaries, locking a
// search or a lease. Internal to db/.
#ifndef HWNAS_DB_POSTGRES_QUERIES_H_
#define HWNAS_DB_POSTGRES_QUERIES_H_

#include <cstdint>
#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/records.h"
#include "common/trial.h"
#include "db/store_types.h"

namespace hwnas::db {

// Saves a checkpoint and prunes all but the last three of the search.
void InsertCheckpoint(pqxx::work& txn, int64_t search_id, const Checkpoint& c);

// Takes the next `n` finish sequence numbers of a search and returns the
// first. The counter row stays locked until commit, so callers take it as
// their last statement but one: completions of a search queue on it only
// for the moment of their commit.
int64_t TakeFinishSeqs(pqxx::work& txn, int64_t search_id, int64_t n = 1);
// Gives a finished trial its finish sequence: the last writes of a
// completion, so the counter lock is held only until the commit right after.
int64_t AssignFinishSeq(pqxx::work& txn, int64_t trial_id, int64_t search_id);
void SetFinishSeq(pqxx::work& txn, TrialRecord* trial);

absl::StatusOr<TrialCounts> QueryCounts(pqxx::work& txn, int64_t search_id);
// Fills a search's trial counts and best trial.
absl::Status AddSearchSummary(pqxx::work& txn, SearchRecord& s);
// The search with its summary; NOT_FOUND if it does not exist.
absl::StatusOr<SearchRecord> QuerySearch(pqxx::work& txn, int64_t search_id);
// Locks a search row and checks it exists.
absl::StatusOr<SearchState> LockSearch(pqxx::work& txn, int64_t search_id);

absl::StatusOr<TrialRecord> QueryTrialById(pqxx::work& txn, int64_t id);

// The trial a lease belongs to, locked, once the caller is known to hold it.
struct LeasedTrial {
  int64_t id = 0;
  int64_t search_id = 0;
  TrialState state = TrialState::kUnspecified;
  int attempts = 0;
};
absl::StatusOr<LeasedTrial> LockLease(pqxx::work& txn, absl::string_view lease_id,
                                      absl::string_view worker_id);

}  // namespace hwnas::db

#endif  // HWNAS_DB_POSTGRES_QUERIES_H_

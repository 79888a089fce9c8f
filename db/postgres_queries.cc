#include "db/postgres_queries.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "db/postgres_rows.h"
#include "db/store_checks.h"

namespace hwnas::db {

// Saves a checkpoint and prunes all but the last three of the search.
void InsertCheckpoint(pqxx::work& txn, int64_t search_id, const Checkpoint& c) {
  txn.exec_params0(
      "INSERT INTO controller_checkpoints (search_id, sequence, state, observed_through) "
      "VALUES ($1, $2, $3, $4) ON CONFLICT (search_id, sequence) DO UPDATE SET "
      "state = EXCLUDED.state, observed_through = EXCLUDED.observed_through, "
      "created_at = now()",
      search_id, c.sequence, pqxx::binarystring(c.state.data(), c.state.size()),
      c.observed_through);
  // Keep the last few: enough to fall back on, without growing forever.
  txn.exec_params0("DELETE FROM controller_checkpoints WHERE search_id = $1 AND sequence < $2",
                   search_id, c.sequence - 2);
}

// Takes the next `n` finish sequence numbers of a search and returns the
// first. The counter row stays locked until commit, so callers take it as
// their last statement but one: completions of a search queue on it only
// for the moment of their commit.
int64_t TakeFinishSeqs(pqxx::work& txn, int64_t search_id, int64_t n) {
  return txn.exec_prepared1(kTakeFinishSeqsStmt, search_id, n)[0].as<int64_t>();
}

// Gives a finished trial its finish sequence: the last writes of a
// completion, so the counter lock is held only until the commit right after.
int64_t AssignFinishSeq(pqxx::work& txn, int64_t trial_id, int64_t search_id) {
  const int64_t seq = TakeFinishSeqs(txn, search_id);
  txn.exec_params0("UPDATE trials SET finish_seq = $2 WHERE id = $1", trial_id, seq);
  return seq;
}

void SetFinishSeq(pqxx::work& txn, TrialRecord* trial) {
  trial->finish_seq = AssignFinishSeq(txn, trial->id, trial->search_id);
}

absl::StatusOr<TrialCounts> QueryCounts(pqxx::work& txn, int64_t search_id) {
  TrialCounts c;
  pqxx::result r = txn.exec_params(
      "SELECT state, count(*), count(*) FILTER (WHERE screen = 'screened_out') FROM trials "
      "WHERE search_id = $1 GROUP BY state",
      search_id);
  for (const pqxx::row& row : r) {
    HWNAS_ASSIGN_OR_RETURN(TrialState state, ParseTrialState(row[0].as<std::string>()));
    const int64_t n = row[1].as<int64_t>();
    c.total += n;
    c.screened_out += row[2].as<int64_t>();
    if (int64_t* counter = c.CounterFor(state)) *counter += n;
  }
  return c;
}

// Fills a search's trial counts and best trial.
absl::Status AddSearchSummary(pqxx::work& txn, SearchRecord& s) {
  const int64_t search_id = s.id;
  HWNAS_ASSIGN_OR_RETURN(s.counts, QueryCounts(txn, search_id));
  pqxx::result best = txn.exec_params(
      absl::StrCat("SELECT ", TrialColumns(),
                   " FROM trials t WHERE t.search_id = $1 AND t.reward IS NOT NULL AND t.state "
                   "IN ('SUCCEEDED', 'EARLY_STOPPED') ORDER BY t.reward DESC, t.number LIMIT 1"),
      search_id);
  if (!best.empty()) {
    HWNAS_ASSIGN_OR_RETURN(s.best_trial, ParseTrial(best[0]));
  }
  return absl::OkStatus();
}

absl::StatusOr<SearchRecord> QuerySearch(pqxx::work& txn, int64_t search_id) {
  pqxx::result r = txn.exec_params(absl::StrCat("SELECT ", kSearchColumns,
                                                " FROM searches s JOIN users u ON u.id = "
                                                "s.owner_id WHERE s.id = $1"),
                                   search_id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("search ", search_id, " does not exist"));
  HWNAS_ASSIGN_OR_RETURN(SearchRecord s, ParseSearch(r[0]));
  HWNAS_RETURN_IF_ERROR(AddSearchSummary(txn, s));
  return s;
}

// Locks a search row and checks it exists.
absl::StatusOr<SearchState> LockSearch(pqxx::work& txn, int64_t search_id) {
  pqxx::result r =
      txn.exec_params("SELECT state FROM searches WHERE id = $1 FOR NO KEY UPDATE", search_id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("search ", search_id, " does not exist"));
  return ParseSearchState(r[0][0].as<std::string>());
}

absl::StatusOr<TrialRecord> QueryTrialById(pqxx::work& txn, int64_t id) {
  pqxx::result r = txn.exec_params(
      absl::StrCat("SELECT ", TrialColumns(), " FROM trials t WHERE t.id = $1"), id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("trial id ", id, " does not exist"));
  return ParseTrial(r[0]);
}

absl::StatusOr<LeasedTrial> LockLease(pqxx::work& txn, absl::string_view lease_id,
                                      absl::string_view worker_id) {
  if (lease_id.empty()) return absl::InvalidArgumentError("lease_id is empty");
  pqxx::result r = txn.exec_params(
      "SELECT id, search_id, state, attempts, COALESCE(worker_id, '') FROM trials "
      "WHERE lease_id = $1 FOR UPDATE",
      std::string(lease_id));
  if (r.empty()) return LeaseNotHeld(lease_id);
  if (r[0][4].as<std::string>() != worker_id) return LeaseHeldByAnother(lease_id);
  LeasedTrial t;
  t.id = r[0][0].as<int64_t>();
  t.search_id = r[0][1].as<int64_t>();
  HWNAS_ASSIGN_OR_RETURN(t.state, ParseTrialState(r[0][2].as<std::string>()));
  t.attempts = r[0][3].as<int>();
  return t;
}

}  // namespace hwnas::db

// Rows of the PostgreSQL store: the column lists every SELECT and RETURNING
// uses, the parsers that turn rows into records, and the trial result
// columns, declared once (kResultColumns in postgres_rows.cc) and used by
// every statement that reads or writes them. Internal to db/.
#ifndef HWNAS_DB_POSTGRES_ROWS_H_
#define HWNAS_DB_POSTGRES_ROWS_H_

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/records.h"
#include "common/trial.h"
#include "nlohmann/json.hpp"

namespace hwnas::db {

// Timestamps cross the boundary as integer microseconds since the epoch.
#define HWNAS_MICROS(col) "(EXTRACT(EPOCH FROM " col ") * 1000000)::bigint"

// Column list matching ParseTrial(); `t` is the trials alias.
const std::string& TrialColumns();

inline constexpr char kSearchColumns[] =
    "s.id, s.name, s.owner_id, u.name, s.state, s.spec_yaml, s.space, s.budget, s.weight, "
    "s.error, " HWNAS_MICROS("s.created_at") ", " HWNAS_MICROS("s.finished_at") ", s.seed, "
    "COALESCE(s.warm_start_search_id, 0)";

inline constexpr char kWorkerColumns[] =
    "w.id, w.name, w.device_kind, w.device_tag, w.threads, w.gpu, "
    "array_to_string(w.datasets, E'\\x1f'), array_to_string(w.search_spaces, E'\\x1f'), "
    "array_to_string(w.evaluators, E'\\x1f'), w.version, w.hostname, " HWNAS_MICROS(
        "w.registered_at") ", " HWNAS_MICROS("w.last_heartbeat") ", COALESCE(w.owner_id, 0)";

// Separator for text arrays passed as one parameter; names never contain it.
inline constexpr char kArraySeparator = '\x1f';

std::string TokensLiteral(const std::vector<int>& tokens);
absl::Time MicrosToTime(const pqxx::field& f);

absl::StatusOr<TrialRecord> ParseTrial(const pqxx::row& r);
absl::StatusOr<SearchRecord> ParseSearch(const pqxx::row& r);
WorkerRecord ParseWorker(const pqxx::row& r);
User ParseUser(const pqxx::row& r);

// --- The result columns (a TrialResult and the reward) ----------------------

// "accuracy float8, loss float8, ...": their definitions in a
// jsonb_to_recordset(...) AS x(...) list.
std::string ResultRecordsetColumns();
// "accuracy = x.accuracy, ...": an UPDATE's assignments from that record.
std::string ResultAssignmentsFrom(absl::string_view alias);
// Adds a result's columns to a JSON row for jsonb_to_recordset (absent
// values are left out and read as NULL).
void AddResultJson(const TrialResult& result, const std::optional<double>& reward,
                   nlohmann::json& row);

// How a result ends its trial: the final state and finish sequence.
struct FinishAs {
  TrialState state;
  int64_t finish_seq;
};

// Writes a result's columns (an earlier failure reason stays unless
// `failure_reason` is set); with `finish`, also ends the trial in that state
// with that finish sequence, in the same statement. Returns the trial row.
pqxx::row StoreResult(pqxx::work& txn, int64_t trial_id, const TrialResult& r,
                      const std::optional<double>& reward, absl::string_view failure_reason,
                      const std::optional<FinishAs>& finish = std::nullopt);

// --- Hot-path statements, prepared once per connection ----------------------
inline constexpr char kLeaseTrialStmt[] = "hwnas_lease_trial";
inline constexpr char kCompleteBatchStmt[] = "hwnas_complete_batch";
inline constexpr char kTakeFinishSeqsStmt[] = "hwnas_take_finish_seqs";
inline constexpr char kLeaseBatchStmt[] = "hwnas_lease_batch";
inline constexpr char kInsertTrialsStmt[] = "hwnas_insert_trials";

void PrepareStatements(pqxx::connection& c);

}  // namespace hwnas::db

#endif  // HWNAS_DB_POSTGRES_ROWS_H_

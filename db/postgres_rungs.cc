// Rung results and promotions (multi-fidelity scheduling) in PostgreSQL.
#include <cmath>
#include <limits>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "db/postgres_pool.h"
#include "db/postgres_queries.h"
#include "db/postgres_rows.h"
#include "db/postgres_store.h"
#include "db/store_checks.h"

namespace hwnas::db {

absl::Status PostgresStore::RecordRung(int64_t search_id, const RungResult& result) {
  HWNAS_RETURN_IF_ERROR(ValidateRungResult(result));
  return pool_
      ->Transact<int>(
          "record rung",
          [&](pqxx::work& txn) -> absl::StatusOr<int> {
            // A repeat keeps `promoted`: the promotion already happened.
            pqxx::result r = txn.exec_params(
                "INSERT INTO trial_rungs (search_id, trial_number, rung, epochs, score) "
                "SELECT search_id, number, $3, $4, $5 FROM trials "
                "WHERE search_id = $1 AND number = $2 "
                "ON CONFLICT (search_id, trial_number, rung) DO UPDATE SET "
                "epochs = EXCLUDED.epochs, score = EXCLUDED.score, recorded_at = now() "
                "RETURNING 1",
                search_id, result.trial_number, result.rung, result.epochs, result.score);
            if (r.empty()) {
              return absl::NotFoundError(absl::StrCat("trial ", result.trial_number, " of search ",
                                                      search_id, " does not exist"));
            }
            return 0;
          })
      .status();
}

absl::StatusOr<std::vector<RungResult>> PostgresStore::ListRungs(int64_t search_id) {
  return pool_->Transact<std::vector<RungResult>>(
      "list rungs", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<RungResult>> {
        if (txn.exec_params("SELECT 1 FROM searches WHERE id = $1", search_id).empty()) {
          return absl::NotFoundError(absl::StrCat("search ", search_id, " does not exist"));
        }
        pqxx::result r = txn.exec_params(
            "SELECT r.trial_number, r.rung, r.epochs, r.score, r.promoted, t.bracket "
            "FROM trial_rungs r JOIN trials t ON t.search_id = r.search_id AND "
            "t.number = r.trial_number WHERE r.search_id = $1 ORDER BY r.trial_number, r.rung",
            search_id);
        std::vector<RungResult> out;
        out.reserve(r.size());
        for (const pqxx::row& row : r) {
          RungResult x;
          x.trial_number = row[0].as<int64_t>();
          x.rung = row[1].as<int>();
          x.epochs = row[2].as<int>();
          x.score = row[3].as<double>();
          x.promoted = row[4].as<bool>();
          x.bracket = row[5].as<int>();
          out.push_back(x);
        }
        return out;
      });
}

absl::StatusOr<TrialRecord> PostgresStore::PromoteTrial(int64_t search_id, int64_t number, int rung,
                                                        int epoch_target) {
  if (epoch_target <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("epoch_target must be positive, got ", epoch_target));
  }
  return pool_->Transact<
      TrialRecord>("promote trial", [&](pqxx::work& txn) -> absl::StatusOr<TrialRecord> {
    // The search row first, as every writer locks it: a cancel cannot
    // slip between the check and the update.
    HWNAS_ASSIGN_OR_RETURN(SearchState state, LockSearch(txn, search_id));
    if (state != SearchState::kRunning) {
      return absl::FailedPreconditionError(absl::StrCat("search ", search_id, " is ",
                                                        SearchStateName(state),
                                                        ": its trials are no longer promoted"));
    }
    pqxx::result cur = txn.exec_params(
        "SELECT state, rung FROM trials WHERE search_id = $1 AND number = $2 FOR UPDATE", search_id,
        number);
    if (cur.empty()) {
      return absl::NotFoundError(
          absl::StrCat("trial ", number, " of search ", search_id, " does not exist"));
    }
    const std::string trial_state = cur[0][0].as<std::string>();
    const int current = cur[0][1].as<int>();
    if (trial_state != TrialStateName(TrialState::kSucceeded)) {
      return absl::FailedPreconditionError(absl::StrCat("trial ", number, " is ", trial_state,
                                                        "; only a SUCCEEDED trial is promoted"));
    }
    if (rung != current + 1) {
      return absl::FailedPreconditionError(absl::StrCat("trial ", number, " is on rung ", current,
                                                        ": it can only be promoted to rung ",
                                                        current + 1, ", not ", rung));
    }
    txn.exec_params0(
        "UPDATE trial_rungs SET promoted = true WHERE search_id = $1 AND trial_number = $2 "
        "AND rung = $3",
        search_id, number, current);
    txn.exec_params0(
        "UPDATE search_finish_counters SET promotions = promotions + 1 WHERE search_id = $1",
        search_id);
    pqxx::result r = txn.exec_params(
        absl::StrCat(
            "UPDATE trials t SET state = 'PENDING', rung = $3, epoch_target = $4, attempts = 0, "
            "lease_expires_at = NULL, finished_at = NULL "
            "WHERE t.search_id = $1 AND t.number = $2 RETURNING ",
            TrialColumns()),
        search_id, number, rung, epoch_target);
    return ParseTrial(r[0]);
  });
}

absl::StatusOr<TrialRecord> PostgresStore::ScreenTrial(int64_t search_id, int64_t number,
                                                       double score,
                                                       std::optional<std::string> out_reason) {
  if (!std::isfinite(score)) score = -std::numeric_limits<double>::max();  // Stored ranked last.
  return pool_->Transact<TrialRecord>(
      "screen trial", [&](pqxx::work& txn) -> absl::StatusOr<TrialRecord> {
        // The search row first, as every writer locks it.
        HWNAS_ASSIGN_OR_RETURN(SearchState state, LockSearch(txn, search_id));
        if (state != SearchState::kRunning) {
          return absl::FailedPreconditionError(absl::StrCat("search ", search_id, " is ",
                                                            SearchStateName(state),
                                                            ": its trials are no longer screened"));
        }
        pqxx::result cur = txn.exec_params(
            "SELECT state, COALESCE(screen, '') FROM trials WHERE search_id = $1 AND number = $2 "
            "FOR UPDATE",
            search_id, number);
        if (cur.empty()) {
          return absl::NotFoundError(
              absl::StrCat("trial ", number, " of search ", search_id, " does not exist"));
        }
        const std::string trial_state = cur[0][0].as<std::string>();
        const std::string stage = cur[0][1].as<std::string>();
        if (trial_state != TrialStateName(TrialState::kSucceeded) || stage != "pending") {
          return absl::FailedPreconditionError(
              absl::StrCat("trial ", number, " is ", trial_state, " (screen stage '", stage,
                           "'); only a SUCCEEDED trial whose screen is pending is screened"));
        }
        pqxx::result r;
        if (out_reason) {
          txn.exec_params0(
              "UPDATE search_finish_counters SET screened_out = screened_out + 1 "
              "WHERE search_id = $1",
              search_id);
          r = txn.exec_params(
              absl::StrCat("UPDATE trials t SET state = 'EARLY_STOPPED', screen = 'screened_out', "
                           "screen_score = $3, failure_reason = $4, reward = NULL "
                           "WHERE t.search_id = $1 AND t.number = $2 RETURNING ",
                           TrialColumns()),
              search_id, number, score, *out_reason);
        } else {
          // Counted once, as a promotion is: its training takes a new finish
          // sequence.
          txn.exec_params0(
              "UPDATE search_finish_counters SET promotions = promotions + 1 WHERE search_id = $1",
              search_id);
          r = txn.exec_params(
              absl::StrCat("UPDATE trials t SET state = 'PENDING', screen = 'passed', "
                           "screen_score = $3, attempts = 0, lease_expires_at = NULL, "
                           "finished_at = NULL WHERE t.search_id = $1 AND t.number = $2 "
                           "RETURNING ",
                           TrialColumns()),
              search_id, number, score);
        }
        return ParseTrial(r[0]);
      });
}

absl::StatusOr<CheckpointSaved> PostgresStore::SaveTrialCheckpoint(
    int64_t search_id, const TrialCheckpoint& checkpoint, int64_t limit_bytes) {
  HWNAS_RETURN_IF_ERROR(ValidateTrialCheckpoint(checkpoint, limit_bytes));
  const int64_t size = static_cast<int64_t>(checkpoint.data.size());
  return pool_->Transact<CheckpointSaved>(
      "save trial checkpoint", [&](pqxx::work& txn) -> absl::StatusOr<CheckpointSaved> {
        // The search row serializes the search's checkpoint writes, so two
        // of them cannot both see room that only one of them fits in.
        HWNAS_RETURN_IF_ERROR(LockSearch(txn, search_id).status());
        if (txn.exec_params("SELECT 1 FROM trials WHERE search_id = $1 AND number = $2", search_id,
                            checkpoint.trial_number)
                .empty()) {
          return absl::NotFoundError(absl::StrCat("trial ", checkpoint.trial_number, " of search ",
                                                  search_id, " does not exist"));
        }
        pqxx::result others = txn.exec_params(
            "SELECT trial_number, bytes, score FROM trial_checkpoints WHERE search_id = $1 AND "
            "trial_number <> $2 ORDER BY score, trial_number",
            search_id, checkpoint.trial_number);
        CheckpointSaved saved;
        int64_t total = size;
        for (const pqxx::row& row : others) total += row[1].as<int64_t>();
        for (const pqxx::row& row : others) {
          if (total <= limit_bytes || row[2].as<double>() >= checkpoint.score) break;
          total -= row[1].as<int64_t>();
          saved.evicted.push_back(row[0].as<int64_t>());
        }
        if (total > limit_bytes) {
          return absl::ResourceExhaustedError(
              absl::StrCat("trial ", checkpoint.trial_number, "'s checkpoint (", size,
                           " bytes) does not fit: search ", search_id, "'s checkpoints would take ",
                           total, " bytes, over its limit of ", limit_bytes,
                           " bytes, and no lower-scoring checkpoint is left to evict"));
        }
        for (int64_t number : saved.evicted) {
          txn.exec_params0(
              "DELETE FROM trial_checkpoints WHERE search_id = $1 AND trial_number = $2", search_id,
              number);
        }
        txn.exec_params0(
            "INSERT INTO trial_checkpoints (search_id, trial_number, epochs, score, bytes, data) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (search_id, trial_number) DO UPDATE SET "
            "epochs = EXCLUDED.epochs, score = EXCLUDED.score, bytes = EXCLUDED.bytes, "
            "data = EXCLUDED.data, created_at = now()",
            search_id, checkpoint.trial_number, checkpoint.epochs, checkpoint.score, size,
            pqxx::binarystring(checkpoint.data.data(), checkpoint.data.size()));
        saved.search_bytes = total;
        return saved;
      });
}

absl::StatusOr<std::optional<TrialCheckpoint>> PostgresStore::LoadTrialCheckpoint(int64_t search_id,
                                                                                  int64_t number) {
  return pool_->Transact<std::optional<TrialCheckpoint>>(
      "load trial checkpoint",
      [&](pqxx::work& txn) -> absl::StatusOr<std::optional<TrialCheckpoint>> {
        if (txn.exec_params("SELECT 1 FROM searches WHERE id = $1", search_id).empty()) {
          return absl::NotFoundError(absl::StrCat("search ", search_id, " does not exist"));
        }
        pqxx::result r = txn.exec_params(
            "SELECT epochs, score, data FROM trial_checkpoints WHERE search_id = $1 AND "
            "trial_number = $2",
            search_id, number);
        if (r.empty()) return std::optional<TrialCheckpoint>();
        TrialCheckpoint c;
        c.trial_number = number;
        c.epochs = r[0][0].as<int>();
        c.score = r[0][1].as<double>();
        c.data = pqxx::binarystring(r[0][2]).str();
        return std::optional<TrialCheckpoint>(std::move(c));
      });
}

absl::StatusOr<std::optional<int>> PostgresStore::StoredCheckpointEpochs(int64_t search_id,
                                                                         int64_t number) {
  return pool_->Transact<std::optional<int>>(
      "stored checkpoint epochs", [&](pqxx::work& txn) -> absl::StatusOr<std::optional<int>> {
        if (txn.exec_params("SELECT 1 FROM searches WHERE id = $1", search_id).empty()) {
          return absl::NotFoundError(absl::StrCat("search ", search_id, " does not exist"));
        }
        pqxx::result r = txn.exec_params(
            "SELECT epochs FROM trial_checkpoints WHERE search_id = $1 AND trial_number = $2",
            search_id, number);
        if (r.empty()) return std::optional<int>();
        return std::optional<int>(r[0][0].as<int>());
      });
}

absl::Status PostgresStore::DeleteTrialCheckpoint(int64_t search_id, int64_t number) {
  return pool_
      ->Transact<int>(
          "delete trial checkpoint",
          [&](pqxx::work& txn) -> absl::StatusOr<int> {
            if (txn.exec_params("SELECT 1 FROM searches WHERE id = $1", search_id).empty()) {
              return absl::NotFoundError(absl::StrCat("search ", search_id, " does not exist"));
            }
            txn.exec_params0(
                "DELETE FROM trial_checkpoints WHERE search_id = $1 AND "
                "trial_number = $2",
                search_id, number);
            return 0;
          })
      .status();
}

}  // namespace hwnas::db

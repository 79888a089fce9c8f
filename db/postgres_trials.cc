// Trials in PostgreSQL: proposals in (AddTrials), reads and counts out.
#include <algorithm>
#include <map>
#include <pqxx/pqxx>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "db/postgres_pool.h"
#include "db/postgres_queries.h"
#include "db/postgres_rows.h"
#include "db/postgres_store.h"
#include "db/store_checks.h"
#include "nlohmann/json.hpp"

namespace hwnas::db {

absl::StatusOr<std::vector<TrialRecord>> PostgresStore::AddTrials(
    int64_t search_id, const std::vector<NewTrial>& trials,
    const std::optional<Checkpoint>& checkpoint) {
  HWNAS_ASSIGN_OR_RETURN(const int finished, ValidateNewTrials(trials));
  if (trials.empty() && !checkpoint) return std::vector<TrialRecord>{};
  return pool_->Transact<std::vector<TrialRecord>>(
      "add trials", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<TrialRecord>> {
        HWNAS_ASSIGN_OR_RETURN(SearchState state, LockSearch(txn, search_id));
        if (state != SearchState::kRunning) {
          return absl::FailedPreconditionError(absl::StrCat(
              "search ", search_id, " is ", SearchStateName(state), "; no trials can be added"));
        }
        // The row lock taken above serializes numbering: gap-free under
        // concurrency, and a rollback returns the numbers with the rows.
        int64_t number =
            txn.exec_params1(
                   "UPDATE searches SET next_trial_number = next_trial_number + $2 WHERE id = $1 "
                   "RETURNING next_trial_number - $2",
                   search_id, static_cast<int64_t>(trials.size()))[0]
                .as<int64_t>();
        int64_t finish_seq = finished > 0 ? TakeFinishSeqs(txn, search_id, finished) : 0;
        // All rows in one statement (a round trip per proposal batch, not
        // per trial); results of trials finished up front are written after.
        nlohmann::json rows = nlohmann::json::array();
        for (const NewTrial& t : trials) {
          const bool done = t.state != TrialState::kPending;
          nlohmann::json x = {{"number", number++},
                              {"space", t.architecture.space},
                              {"space_version", t.architecture.space_version},
                              {"tokens", TokensLiteral(t.architecture.tokens)},
                              {"readable", t.architecture.readable},
                              {"canonical_hash", static_cast<int64_t>(t.canonical_hash)},
                              {"state", std::string(TrialStateName(t.state))},
                              {"done", done},
                              {"proposal_id", static_cast<int64_t>(t.proposal_id)},
                              {"origin", std::string(TrialOriginName(t.origin))},
                              {"rung", t.rung},
                              {"epoch_target", t.epoch_target},
                              {"bracket", t.bracket},
                              {"screen", t.screen ? "pending" : ""}};
          if (done) x["finish_seq"] = finish_seq++;
          rows.push_back(std::move(x));
        }
        std::vector<TrialRecord> out;
        if (!trials.empty()) {
          pqxx::result inserted = txn.exec_prepared(
              kInsertTrialsStmt, search_id,
              rows.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
          for (const pqxx::row& row : inserted) {
            HWNAS_ASSIGN_OR_RETURN(TrialRecord rec, ParseTrial(row));
            out.push_back(std::move(rec));
          }
          std::sort(out.begin(), out.end(),
                    [](const TrialRecord& a, const TrialRecord& b) { return a.number < b.number; });
          if (out.size() != trials.size()) {
            return absl::InternalError("add trials: not every trial was inserted");
          }
        }
        for (size_t i = 0; i < trials.size(); ++i) {
          const NewTrial& t = trials[i];
          if (t.result || t.reward || !t.failure_reason.empty()) {
            HWNAS_ASSIGN_OR_RETURN(
                out[i], ParseTrial(StoreResult(txn, out[i].id, t.result.value_or(TrialResult{}),
                                               t.reward, t.failure_reason)));
          }
        }
        if (checkpoint) InsertCheckpoint(txn, search_id, *checkpoint);
        return out;
      });
}

absl::StatusOr<TrialRecord> PostgresStore::GetTrial(int64_t search_id, int64_t number,
                                                    bool with_epochs) {
  return pool_->Transact<TrialRecord>(
      "get trial", [&](pqxx::work& txn) -> absl::StatusOr<TrialRecord> {
        pqxx::result r =
            txn.exec_params(absl::StrCat("SELECT ", TrialColumns(),
                                         " FROM trials t WHERE t.search_id = $1 AND t.number = $2"),
                            search_id, number);
        if (r.empty()) {
          if (txn.exec_params("SELECT 1 FROM searches WHERE id = $1", search_id).empty()) {
            return absl::NotFoundError(absl::StrCat("search ", search_id, " does not exist"));
          }
          return absl::NotFoundError(absl::StrCat("search ", search_id, " has no trial ", number));
        }
        HWNAS_ASSIGN_OR_RETURN(TrialRecord t, ParseTrial(r[0]));
        if (with_epochs) {
          pqxx::result m = txn.exec_params(
              "SELECT epoch, name, value FROM trial_metrics WHERE trial_id = $1 "
              "ORDER BY epoch, name",
              t.id);
          for (const pqxx::row& row : m) {
            const int epoch = row[0].as<int>();
            if (t.epochs.empty() || t.epochs.back().epoch != epoch) {
              t.epochs.push_back(EpochMetrics{epoch, {}});
            }
            t.epochs.back().values[row[1].as<std::string>()] = row[2].as<double>();
          }
        }
        return t;
      });
}

absl::StatusOr<TrialRecord> PostgresStore::GetTrialByLease(absl::string_view lease_id) {
  if (lease_id.empty()) return absl::InvalidArgumentError("lease_id is empty");
  return pool_->Transact<TrialRecord>(
      "trial by lease", [&](pqxx::work& txn) -> absl::StatusOr<TrialRecord> {
        pqxx::result r = txn.exec_params(
            absl::StrCat("SELECT ", TrialColumns(), " FROM trials t WHERE t.lease_id = $1"),
            std::string(lease_id));
        if (r.empty()) {
          return absl::NotFoundError(absl::StrCat("lease ", lease_id, " is unknown"));
        }
        return ParseTrial(r[0]);
      });
}

absl::StatusOr<std::map<int64_t, std::map<int, double>>> PostgresStore::FinishedCurves(
    int64_t search_id, absl::string_view metric) {
  using Curves = std::map<int64_t, std::map<int, double>>;
  return pool_->Transact<Curves>("finished curves", [&](pqxx::work& txn) -> absl::StatusOr<Curves> {
    pqxx::result r = txn.exec_params(
        "SELECT t.number, m.epoch, m.value FROM trial_metrics m JOIN trials t ON t.id = m.trial_id "
        "WHERE t.search_id = $1 AND m.name = $2 AND t.finish_seq IS NOT NULL",
        search_id, std::string(metric));
    Curves curves;
    for (const pqxx::row& row : r) {
      curves[row[0].as<int64_t>()][row[1].as<int>()] = row[2].as<double>();
    }
    return curves;
  });
}

absl::StatusOr<Page<TrialRecord>> PostgresStore::ListTrials(const TrialQuery& q) {
  HWNAS_ASSIGN_OR_RETURN(int offset, ParsePageToken(q.page_token));
  const int limit = PageLimit(q.page_size, 100);
  std::string order;
  switch (q.order) {
    case TrialOrder::kNumber:
      order = "t.number";
      break;
    case TrialOrder::kRewardDesc:
      order = "t.reward DESC NULLS LAST, t.number";
      break;
    case TrialOrder::kAccuracyDesc:
      order = "t.accuracy DESC NULLS LAST, t.number";
      break;
    case TrialOrder::kLatencyAsc:
      order = "t.latency_median_ms ASC NULLS LAST, t.number";
      break;
  }
  return pool_->Transact<Page<TrialRecord>>(
      "list trials", [&](pqxx::work& txn) -> absl::StatusOr<Page<TrialRecord>> {
        if (txn.exec_params("SELECT 1 FROM searches WHERE id = $1", q.search_id).empty()) {
          return absl::NotFoundError(absl::StrCat("search ", q.search_id, " does not exist"));
        }
        pqxx::result r = txn.exec_params(
            absl::StrCat("SELECT ", TrialColumns(),
                         " FROM trials t WHERE t.search_id = $1 AND ($2 = '' OR t.state = $2) "
                         "ORDER BY ",
                         order, " LIMIT $3 OFFSET $4"),
            q.search_id, q.state ? std::string(TrialStateName(*q.state)) : "", limit + 1, offset);
        Page<TrialRecord> page;
        for (const pqxx::row& row : r) {
          if (static_cast<int>(page.items.size()) == limit) {
            page.next_page_token = absl::StrCat(offset + limit);
            break;
          }
          HWNAS_ASSIGN_OR_RETURN(TrialRecord t, ParseTrial(row));
          page.items.push_back(std::move(t));
        }
        return page;
      });
}

absl::StatusOr<TrialCounts> PostgresStore::CountTrials(int64_t search_id) {
  return pool_->Transact<TrialCounts>("count trials",
                                      [&](pqxx::work& txn) { return QueryCounts(txn, search_id); });
}

absl::StatusOr<QueueCounts> PostgresStore::CountQueue(int64_t search_id) {
  return pool_->Transact<QueueCounts, pqxx::nontransaction>(
      "count queue", [&](pqxx::nontransaction& txn) -> absl::StatusOr<QueueCounts> {
        // Each count reads only its own states' index entries, and every
        // trial that counts as finished took a finish sequence number, so the
        // counter row answers that without reading the trials at all.
        pqxx::result r = txn.exec_params(
            "SELECT (SELECT count(*) FROM trials WHERE search_id = $1 AND state = 'PENDING'), "
            "(SELECT count(*) FROM trials WHERE search_id = $1 "
            "AND state IN ('LEASED', 'RUNNING')), "
            "(SELECT next_finish_seq - 1 - promotions - screened_out FROM search_finish_counters "
            "WHERE search_id = $1)",
            search_id);
        if (r[0][2].is_null()) {
          return absl::NotFoundError(absl::StrCat("search ", search_id, " does not exist"));
        }
        return QueueCounts{r[0][0].as<int64_t>(), r[0][1].as<int64_t>(), r[0][2].as<int64_t>()};
      });
}

absl::StatusOr<std::vector<TrialRecord>> PostgresStore::FinishedTrialsSince(int64_t search_id,
                                                                            int64_t after) {
  return pool_->Transact<std::vector<TrialRecord>>(
      "finished trials", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<TrialRecord>> {
        pqxx::result r = txn.exec_params(
            absl::StrCat("SELECT ", TrialColumns(),
                         " FROM trials t WHERE t.search_id = $1 AND t.finish_seq > $2 "
                         "ORDER BY t.finish_seq"),
            search_id, after);
        std::vector<TrialRecord> out;
        for (const pqxx::row& row : r) {
          HWNAS_ASSIGN_OR_RETURN(TrialRecord t, ParseTrial(row));
          out.push_back(std::move(t));
        }
        return out;
      });
}

absl::StatusOr<int64_t> PostgresStore::LastFinishSequence(int64_t search_id) {
  return pool_->Transact<int64_t>(
      "last finish sequence", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
        pqxx::result r = txn.exec_params(
            "SELECT next_finish_seq - 1 FROM search_finish_counters WHERE search_id = $1",
            search_id);
        if (r.empty())
          return absl::NotFoundError(absl::StrCat("search ", search_id, " does not exist"));
        return r[0][0].as<int64_t>();
      });
}

absl::StatusOr<std::optional<TrialRecord>> PostgresStore::FindFinishedByHash(int64_t search_id,
                                                                             uint64_t hash) {
  return pool_->Transact<std::optional<TrialRecord>>(
      "find by hash", [&](pqxx::work& txn) -> absl::StatusOr<std::optional<TrialRecord>> {
        pqxx::result r = txn.exec_params(
            absl::StrCat("SELECT ", TrialColumns(),
                         " FROM trials t WHERE t.search_id = $1 AND t.canonical_hash = $2 AND "
                         "t.state IN ('SUCCEEDED', 'INFEASIBLE') ORDER BY t.number LIMIT 1"),
            search_id, static_cast<int64_t>(hash));
        if (r.empty()) return std::optional<TrialRecord>();
        HWNAS_ASSIGN_OR_RETURN(TrialRecord t, ParseTrial(r[0]));
        return std::optional<TrialRecord>(std::move(t));
      });
}

}  // namespace hwnas::db

// Searches in PostgreSQL: submission, listing, their end.
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "db/postgres_pool.h"
#include "db/postgres_queries.h"
#include "db/postgres_rows.h"
#include "db/postgres_store.h"
#include "db/store_checks.h"
#include "nlohmann/json.hpp"

namespace hwnas::db {

absl::StatusOr<SearchRecord> PostgresStore::CreateSearch(const NewSearch& s) {
  HWNAS_RETURN_IF_ERROR(ValidateNewSearch(s));
  return pool_->Transact<SearchRecord>(
      "create search", [&](pqxx::work& txn) -> absl::StatusOr<SearchRecord> {
        if (!s.idempotency_key.empty()) {
          pqxx::result existing = txn.exec_params(
              "SELECT id FROM searches WHERE owner_id = $1 AND idempotency_key = $2", s.owner_id,
              s.idempotency_key);
          if (!existing.empty()) return QuerySearch(txn, existing[0][0].as<int64_t>());
        }
        if (txn.exec_params("SELECT 1 FROM users WHERE id = $1", s.owner_id).empty()) {
          return absl::NotFoundError(absl::StrCat("owner ", s.owner_id, " does not exist"));
        }
        const int64_t id =
            txn.exec_params1(
                   "INSERT INTO searches (name, owner_id, spec_yaml, space, budget, weight, "
                   "idempotency_key, seed, warm_start_search_id) VALUES ($1, $2, $3, $4, $5, "
                   "$6, NULLIF($7, ''), $8, NULLIF($9, 0)) RETURNING id",
                   s.name, s.owner_id, s.spec_yaml, s.space, s.budget, s.weight, s.idempotency_key,
                   static_cast<int64_t>(s.seed), s.warm_start_search_id)[0]
                .as<int64_t>();
        txn.exec_params0("INSERT INTO search_finish_counters (search_id) VALUES ($1)", id);
        txn.exec_params0(
            "INSERT INTO events (search_id, kind, payload) VALUES ($1, 'search_created', "
            "jsonb_build_object('budget', $2::bigint))",
            id, s.budget);
        return QuerySearch(txn, id);
      });
}

absl::StatusOr<SearchRecord> PostgresStore::GetSearch(int64_t search_id) {
  return pool_->Transact<SearchRecord>(
      "get search", [&](pqxx::work& txn) { return QuerySearch(txn, search_id); });
}

absl::StatusOr<Page<SearchRecord>> PostgresStore::ListSearches(const SearchQuery& q) {
  HWNAS_ASSIGN_OR_RETURN(int offset, ParsePageToken(q.page_token));
  const int limit = PageLimit(q.page_size, 50);
  return pool_->Transact<Page<SearchRecord>>(
      "list searches", [&](pqxx::work& txn) -> absl::StatusOr<Page<SearchRecord>> {
        pqxx::result r = txn.exec_params(
            absl::StrCat("SELECT ", kSearchColumns,
                         " FROM searches s JOIN users u ON u.id = s.owner_id "
                         "WHERE ($1 = '' OR s.owner_id = NULLIF($1, '')::bigint) "
                         "AND ($2 = '' OR s.state = $2) AND ($5 = '' OR s.name = $5) "
                         "ORDER BY s.id DESC LIMIT $3 OFFSET $4"),
            q.owner_id ? absl::StrCat(*q.owner_id) : "",
            q.state ? std::string(SearchStateName(*q.state)) : "", limit + 1, offset, q.name);
        Page<SearchRecord> page;
        for (const pqxx::row& row : r) {
          if (static_cast<int>(page.items.size()) == limit) {
            page.next_page_token = absl::StrCat(offset + limit);
            break;
          }
          HWNAS_ASSIGN_OR_RETURN(SearchRecord s, ParseSearch(row));
          HWNAS_RETURN_IF_ERROR(AddSearchSummary(txn, s));
          page.items.push_back(std::move(s));
        }
        return page;
      });
}

absl::StatusOr<SearchRecord> PostgresStore::FinishSearch(int64_t search_id, SearchState state,
                                                         absl::string_view error) {
  HWNAS_RETURN_IF_ERROR(ValidateFinalSearchState(state));
  return pool_->Transact<SearchRecord>(
      "finish search", [&](pqxx::work& txn) -> absl::StatusOr<SearchRecord> {
        HWNAS_ASSIGN_OR_RETURN(SearchState current, LockSearch(txn, search_id));
        if (current != SearchState::kRunning) return QuerySearch(txn, search_id);
        txn.exec_params0(
            "UPDATE searches SET state = $2, error = $3, finished_at = now() WHERE id = $1",
            search_id, std::string(SearchStateName(state)), std::string(error));
        // A search completes with unfinished trials only when its wall-clock
        // budget ran out: a promoted trial goes back to the rung it finished
        // (its stored result is that rung's; its finish sequence is counted
        // again), and the rest are cancelled.
        if (state == SearchState::kCompleted) {
          pqxx::result back = txn.exec_params(
              "UPDATE trials t SET state = 'SUCCEEDED', rung = r.rung, epoch_target = r.epochs, "
              "lease_expires_at = NULL, finished_at = now() FROM trial_rungs r "
              "WHERE t.search_id = $1 AND t.state IN ('PENDING', 'LEASED', 'RUNNING') "
              "AND t.rung > t.bracket AND t.accuracy IS NOT NULL AND r.search_id = t.search_id "
              "AND r.trial_number = t.number AND r.rung = t.rung - 1 RETURNING t.id",
              search_id);
          if (!back.empty()) {
            txn.exec_params0(
                "UPDATE search_finish_counters SET promotions = promotions - $2 "
                "WHERE search_id = $1",
                search_id, static_cast<int64_t>(back.size()));
          }
        }
        // Running trials too, at once rather than when their leases lapse:
        // their workers hear it on the next heartbeat (RenewLease), and a
        // result reported after this is refused.
        txn.exec_params0(
            "UPDATE trials SET state = 'CANCELLED', finished_at = now(), "
            "lease_expires_at = NULL "
            "WHERE search_id = $1 AND state IN ('PENDING', 'LEASED', 'RUNNING')",
            search_id);
        // Resumable training state is of no use once the search has ended.
        txn.exec_params0("DELETE FROM trial_checkpoints WHERE search_id = $1", search_id);
        txn.exec_params0(
            "INSERT INTO events (search_id, kind, payload) VALUES ($1, 'search_finished', "
            "jsonb_build_object('state', $2::text))",
            search_id, std::string(SearchStateName(state)));
        return QuerySearch(txn, search_id);
      });
}

absl::StatusOr<std::vector<SearchRecord>> PostgresStore::RunningSearches() {
  return pool_->Transact<std::vector<SearchRecord>>(
      "running searches", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<SearchRecord>> {
        pqxx::result r = txn.exec(absl::StrCat(
            "SELECT ", kSearchColumns,
            " FROM searches s JOIN users u ON u.id = s.owner_id WHERE s.state = 'RUNNING' "
            "ORDER BY s.id"));
        std::vector<SearchRecord> out;
        for (const pqxx::row& row : r) {
          HWNAS_ASSIGN_OR_RETURN(SearchRecord s, ParseSearch(row));
          HWNAS_ASSIGN_OR_RETURN(s.counts, QueryCounts(txn, s.id));
          out.push_back(std::move(s));
        }
        return out;
      });
}

}  // namespace hwnas::db

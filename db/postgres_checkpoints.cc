// Controller checkpoints and events in PostgreSQL.
#include <algorithm>
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

absl::Status PostgresStore::SaveCheckpoint(int64_t search_id, const Checkpoint& c) {
  return pool_
      ->Transact<int>("save checkpoint",
                      [&](pqxx::work& txn) -> absl::StatusOr<int> {
                        HWNAS_RETURN_IF_ERROR(LockSearch(txn, search_id).status());
                        InsertCheckpoint(txn, search_id, c);
                        return 0;
                      })
      .status();
}

absl::StatusOr<std::optional<Checkpoint>> PostgresStore::LoadLatestCheckpoint(int64_t search_id) {
  return pool_->Transact<std::optional<Checkpoint>>(
      "load checkpoint", [&](pqxx::work& txn) -> absl::StatusOr<std::optional<Checkpoint>> {
        pqxx::result r = txn.exec_params(
            "SELECT sequence, state, observed_through FROM controller_checkpoints "
            "WHERE search_id = $1 ORDER BY sequence DESC LIMIT 1",
            search_id);
        if (r.empty()) return std::optional<Checkpoint>();
        Checkpoint c;
        c.sequence = r[0][0].as<int64_t>();
        c.state = pqxx::binarystring(r[0][1]).str();
        c.observed_through = r[0][2].as<int64_t>();
        return std::optional<Checkpoint>(std::move(c));
      });
}

absl::Status PostgresStore::AppendEvent(int64_t search_id, std::optional<int64_t> trial_number,
                                        absl::string_view kind, absl::string_view payload_json) {
  HWNAS_RETURN_IF_ERROR(ValidateEvent(kind, payload_json));
  return pool_
      ->Transact<int>("append event",
                      [&](pqxx::work& txn) -> absl::StatusOr<int> {
                        txn.exec_params0(
                            "INSERT INTO events (search_id, trial_number, kind, payload) VALUES "
                            "($1, NULLIF($2, '')::bigint, $3, $4::jsonb)",
                            search_id, trial_number ? absl::StrCat(*trial_number) : "",
                            std::string(kind), std::string(payload_json));
                        return 0;
                      })
      .status();
}

absl::StatusOr<std::vector<Event>> PostgresStore::ListEvents(int64_t search_id, int64_t after_id,
                                                             int limit) {
  return pool_->Transact<std::vector<Event>>("list events",
                                             [&](pqxx::work& txn)
                                                 -> absl::StatusOr<std::vector<Event>> {
                                               pqxx::result r = txn.exec_params(
            "SELECT id, search_id, trial_number, kind, payload::text, " HWNAS_MICROS(
                "created_at") " FROM events WHERE search_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            search_id, after_id, std::clamp(limit, 1, 10000));
                                               std::vector<Event> out;
                                               for (const pqxx::row& row : r) {
                                                 Event e;
                                                 e.id = row[0].as<int64_t>();
                                                 e.search_id = row[1].as<int64_t>();
                                                 if (!row[2].is_null())
                                                   e.trial_number = row[2].as<int64_t>();
                                                 e.kind = row[3].as<std::string>();
                                                 e.payload_json = row[4].as<std::string>();
                                                 e.created_at = MicrosToTime(row[5]);
                                                 out.push_back(std::move(e));
                                               }
                                               return out;
                                             });
}

}  // namespace hwnas::db

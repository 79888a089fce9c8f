#include "db/postgres_store.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "db/migrations.h"
#include "db/postgres_pool.h"
#include "spdlog/spdlog.h"

namespace hwnas::db {

PostgresStore::PostgresStore(std::unique_ptr<Pool> pool) : pool_(std::move(pool)) {}
PostgresStore::~PostgresStore() = default;

absl::StatusOr<std::unique_ptr<Store>> PostgresStore::Open(const StoreOptions& options) {
  if (options.pool_size < 1) return absl::InvalidArgumentError("pool_size must be at least 1");
  if (options.max_attempts < 1) return absl::InvalidArgumentError("max_attempts must be >= 1");
  auto store = std::unique_ptr<PostgresStore>(new PostgresStore(std::make_unique<Pool>(options)));
  if (!options.connect_at_open) return store;
  HWNAS_RETURN_IF_ERROR(store->pool_
                            ->Transact<int>("connect",
                                            [](pqxx::work& txn) -> absl::StatusOr<int> {
                                              return txn.exec1("SELECT 1")[0].as<int>();
                                            })
                            .status());
  return store;
}

// ---------------------------------------------------------------------------
// Schema.

absl::StatusOr<int> PostgresStore::SchemaVersion() {
  return pool_->Transact<int>("schema version", [](pqxx::work& txn) -> absl::StatusOr<int> {
    pqxx::row exists = txn.exec1("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!exists[0].as<bool>()) return 0;
    return txn.exec1("SELECT COALESCE(max(version), 0) FROM schema_migrations")[0].as<int>();
  });
}

absl::Status PostgresStore::Migrate() {
  return pool_
      ->Transact<int>(
          "migrate",
          [](pqxx::work& txn) -> absl::StatusOr<int> {
            // One migrator at a time across every server sharing the database.
            txn.exec("SELECT pg_advisory_xact_lock(7468001)");
            txn.exec0(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, "
                "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
            const int current =
                txn.exec1("SELECT COALESCE(max(version), 0) FROM schema_migrations")[0].as<int>();
            if (current > LatestSchemaVersion()) {
              return absl::FailedPreconditionError(
                  absl::StrCat("the database schema is at version ", current,
                               " but this binary knows only up to ", LatestSchemaVersion(),
                               ": upgrade hwnas before using this database"));
            }
            int applied = 0;
            for (const Migration& m : Migrations()) {
              if (m.version <= current) continue;
              txn.exec0(m.sql);
              txn.exec_params0("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                               m.version, m.name);
              spdlog::info("event=migration_applied version={} name={}", m.version, m.name);
              ++applied;
            }
            return applied;
          })
      .status();
}

}  // namespace hwnas::db

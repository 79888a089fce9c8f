// PostgresStore against a real PostgreSQL cluster (started by the test
// environment on a free loopback port): the conformance suite
// (store_conformance.cc) and what only PostgreSQL has: migrations, the
// dashboard views, connection loss.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/subprocess.h"
#include "db/migrations.h"
#include "db/postgres_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/db/store_conformance.h"
#include "tests/testing/postgres_env.h"
#include "tests/testing/status_matchers.h"

namespace hwnas::db {
namespace {

using conformance::Pending;
using conformance::SampleResult;
using conformance::StoreConformanceTest;
using ::testing::HasSubstr;

// Runs SQL through psql: tests check raw rows without linking libpqxx.
std::string Psql(const std::string& conn, const std::string& sql) {
  absl::StatusOr<CommandResult> r =
      RunCommand({"psql", conn, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql});
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return "";
  EXPECT_EQ(r->exit_code, 0) << r->output;
  return std::string(absl::StripAsciiWhitespace(r->output));
}

class PostgresBackend : public conformance::StoreBackend {
 public:
  absl::StatusOr<std::unique_ptr<Store>> NewStore() override {
    conn_ = testing::PostgresEnvironment::Get()->NewDatabase();
    absl::StatusOr<std::unique_ptr<Store>> store =
        PostgresStore::Open(StoreOptions{.connection_string = conn_, .pool_size = 8});
    if (store.ok()) {
      absl::Status migrated = (*store)->Migrate();
      if (!migrated.ok()) return migrated;
    }
    return store;
  }
  // PostgreSQL reads its own clock.
  void Wait(absl::Duration d) override { absl::SleepFor(d); }
  std::optional<std::string> Sql(const std::string& sql) override { return Psql(conn_, sql); }

 private:
  std::string conn_;
};

INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformanceTest,
                         ::testing::Values(conformance::BackendParam{
                             "Postgres",
                             +[]() -> std::unique_ptr<conformance::StoreBackend> {
                               return std::make_unique<PostgresBackend>();
                             }}),
                         conformance::BackendName);

// For the cases that only PostgreSQL has.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conn_ = testing::PostgresEnvironment::Get()->NewDatabase();
    absl::StatusOr<std::unique_ptr<Store>> store =
        PostgresStore::Open(StoreOptions{.connection_string = conn_, .pool_size = 8});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ASSERT_OK(store_->Migrate());
    absl::StatusOr<User> user = store_->CreateUser("alice", false);
    ASSERT_TRUE(user.ok()) << user.status();
    alice_ = *user;
  }

  int64_t NewSearchId(int64_t budget = 100, std::string name = "s") {
    NewSearch s;
    s.name = std::move(name);
    s.owner_id = alice_.id;
    s.spec_yaml = "name: s\n";
    s.space = "nb201";
    s.budget = budget;
    absl::StatusOr<SearchRecord> rec = store_->CreateSearch(s);
    EXPECT_TRUE(rec.ok()) << rec.status();
    return rec.ok() ? rec->id : 0;
  }

  Lease MustLease(int64_t search_id, const std::string& worker,
                  absl::Duration ttl = absl::Seconds(30)) {
    absl::StatusOr<std::optional<Lease>> lease =
        store_->LeaseTrial(LeaseRequest{worker, {search_id}, ttl});
    EXPECT_TRUE(lease.ok()) << lease.status();
    EXPECT_TRUE(lease.ok() && lease->has_value());
    return lease.ok() && lease->has_value() ? **lease : Lease{};
  }

  std::string conn_;
  std::unique_ptr<Store> store_;
  User alice_;
};

TEST_F(StoreTest, MigratesFromEmptyAndReapplyingIsANoOp) {
  absl::StatusOr<int> version = store_->SchemaVersion();
  ASSERT_OK(version);
  EXPECT_EQ(*version, Store::LatestSchemaVersion());
  EXPECT_GE(Store::LatestSchemaVersion(), 2);
  const std::string before = Psql(conn_, "SELECT count(*) FROM schema_migrations");
  ASSERT_OK(store_->Migrate());
  ASSERT_OK(store_->Migrate());
  EXPECT_EQ(Psql(conn_, "SELECT count(*) FROM schema_migrations"), before);
  // The alice row written in SetUp survives re-migration.
  EXPECT_EQ(Psql(conn_, "SELECT name FROM users"), "alice");

  // A fresh database starts at version 0.
  const std::string empty = testing::PostgresEnvironment::Get()->NewDatabase();
  absl::StatusOr<std::unique_ptr<Store>> fresh = PostgresStore::Open({.connection_string = empty});
  ASSERT_OK(fresh);
  EXPECT_EQ(*(*fresh)->SchemaVersion(), 0);
}

TEST_F(StoreTest, RefusesADatabaseNewerThanTheBinary) {
  Psql(conn_, "INSERT INTO schema_migrations (version, name) VALUES (999, 'from_the_future')");
  absl::Status s = store_->Migrate();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("version 999"));
}

TEST_F(StoreTest, BadConnectionStringIsUnavailableWithoutThePassword) {
  absl::StatusOr<std::unique_ptr<Store>> bad =
      PostgresStore::Open({.connection_string = "postgresql://hwnas:sekrit@127.0.0.1:1/none"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(bad.status().message()), ::testing::Not(HasSubstr("sekrit")));
}

// A database made by the previous release (schema 6, workers unique by name,
// no owner) migrates; its old worker rows belong to nobody and cannot be
// taken over by a registration.
TEST(StoreMigrationTest, MigratesADatabaseOfThePreviousRelease) {
  const std::string conn = testing::PostgresEnvironment::Get()->NewDatabase();
  std::string sql =
      "CREATE TABLE schema_migrations (version INT PRIMARY KEY, name TEXT NOT NULL, "
      "applied_at TIMESTAMPTZ NOT NULL DEFAULT now());\n";
  for (const Migration& m : Migrations()) {
    if (m.version > 6) continue;
    absl::StrAppend(&sql, m.sql, "\n;INSERT INTO schema_migrations (version, name) VALUES (",
                    m.version, ", '", m.name, "');\n");
  }
  Psql(conn, sql);
  ASSERT_EQ(Psql(conn, "SELECT max(version) FROM schema_migrations"), "6");
  Psql(conn,
       "INSERT INTO users (name, is_worker) VALUES ('fleet', true);"
       "INSERT INTO workers (id, name, datasets) VALUES ('w-legacy', 'host-1', '{nb201-table}')");

  absl::StatusOr<std::unique_ptr<Store>> store =
      PostgresStore::Open(StoreOptions{.connection_string = conn, .pool_size = 2});
  ASSERT_OK(store);
  ASSERT_OK((*store)->Migrate());
  absl::StatusOr<int> version = (*store)->SchemaVersion();
  ASSERT_OK(version);
  EXPECT_EQ(*version, Store::LatestSchemaVersion());
  absl::StatusOr<User> fleet = (*store)->GetUser("fleet");
  ASSERT_OK(fleet);
  WorkerRecord w;
  w.owner_id = fleet->id;
  w.name = "host-1";
  absl::StatusOr<WorkerRecord> registered = (*store)->UpsertWorker(w);
  ASSERT_OK(registered);
  EXPECT_NE(registered->id, "w-legacy");
  absl::StatusOr<WorkerRecord> legacy = (*store)->GetWorker("w-legacy");
  ASSERT_OK(legacy);
  EXPECT_EQ(legacy->owner_id, 0);
  EXPECT_EQ(legacy->datasets, std::vector<std::string>{"nb201-table"});
}

TEST_F(StoreTest, DashboardViewsShowEveryMetric) {
  const int64_t search = NewSearchId(10, "dash");
  ASSERT_OK(store_->AddTrials(search, {Pending({1, 1, 1, 1, 1, 1}), Pending({2, 2, 2, 2, 2, 2}),
                                       Pending({3, 3, 3, 3, 3, 3})}));
  // Trial 1: accurate and slow; trial 2: worse and slower (dominated).
  TrialResult fast = SampleResult(0.9);
  TrialResult slow = SampleResult(0.8);
  slow.latency->median_ms = 9;
  slow.costs.peak_activation_bytes = 9999;
  Lease a = MustLease(search, "w1");
  ASSERT_OK(store_->CompleteTrial(a.lease_id, "w1", fast, TrialState::kSucceeded, 0.9));
  Lease b = MustLease(search, "w1");
  ASSERT_OK(store_->CompleteTrial(b.lease_id, "w1", slow, TrialState::kSucceeded, 0.8));
  EXPECT_EQ(Psql(conn_, absl::StrCat("SELECT trial_number, state, accuracy, latency_median_ms, "
                                     "params, flash_bytes, estimates->>'latency_ms@cortex-m7' "
                                     "FROM v_trials WHERE search_id = ",
                                     search, " AND trial_number = 1")),
            "1|SUCCEEDED|0.9|1.5|1000|1200|12.5");
  EXPECT_EQ(Psql(conn_, absl::StrCat("SELECT finished, succeeded, pending, best_reward FROM "
                                     "v_search_progress WHERE search_id = ",
                                     search)),
            "2|2|1|0.9");
  EXPECT_EQ(Psql(conn_, absl::StrCat("SELECT string_agg(trial_number::text, ',') FROM v_pareto "
                                     "WHERE search_id = ",
                                     search)),
            "1");

  // Trial 3 was answered from a table: costs of 0 were not computed, and the
  // views show them as NULL, so aggregates leave them out.
  TrialResult looked_up = SampleResult(0.95);
  looked_up.costs = HardwareCosts{};
  looked_up.latency->median_ms = 0.5;
  Lease c = MustLease(search, "w1");
  ASSERT_OK(store_->CompleteTrial(c.lease_id, "w1", looked_up, TrialState::kSucceeded, 0.95));
  EXPECT_EQ(Psql(conn_, absl::StrCat("SELECT params IS NULL, macs IS NULL, peak_activation_bytes "
                                     "IS NULL, flash_bytes IS NULL, accuracy FROM v_trials WHERE "
                                     "search_id = ",
                                     search, " AND trial_number = 3")),
            "t|t|t|t|0.95");
  EXPECT_EQ(Psql(conn_, absl::StrCat("SELECT avg(params)::int, count(flash_bytes) FROM v_trials "
                                     "WHERE search_id = ",
                                     search)),
            "1000|2");
  EXPECT_EQ(Psql(conn_, absl::StrCat("SELECT trial_number, params IS NULL FROM v_pareto "
                                     "WHERE search_id = ",
                                     search)),
            "3|t");
}

// Stops and restarts the cluster; the stores of later tests connect afresh.
TEST_F(StoreTest, ZZConnectionLossIsUnavailableAndTheStoreReconnects) {
  const int64_t search = NewSearchId();
  db::LocalPostgres& pg = testing::PostgresEnvironment::Get()->postgres();
  ASSERT_OK(pg.Kill());
  absl::StatusOr<SearchRecord> down = store_->GetSearch(search);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  ASSERT_OK(pg.Start());
  // The next call reconnects (maybe after one more failure on a stale
  // pooled connection).
  absl::StatusOr<SearchRecord> up = store_->GetSearch(search);
  if (!up.ok()) up = store_->GetSearch(search);
  ASSERT_OK(up);
  EXPECT_EQ(up->id, search);
}

}  // namespace
}  // namespace hwnas::db

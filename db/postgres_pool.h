// The connection pool and transaction runner behind PostgresStore: the one
// place where libpqxx exceptions become Status. Internal to db/.
#ifndef HWNAS_DB_POSTGRES_POOL_H_
#define HWNAS_DB_POSTGRES_POOL_H_

#include <exception>
#include <memory>
#include <pqxx/pqxx>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "db/postgres_store.h"

namespace hwnas::db {

// Thread-safe: connections are handed out under mu_, one per transaction.
class PostgresStore::Pool {
 public:
  explicit Pool(StoreOptions options) : options_(std::move(options)) {}

  // Runs `body(txn)` in a transaction. Commits when it returns OK; rolls back
  // otherwise, so a validation error changes nothing. Retries serialization
  // failures and deadlocks; maps libpqxx exceptions to Status.
  // `Txn` pqxx::nontransaction runs each statement in its own implicit
  // transaction (no BEGIN/COMMIT round trips): for single-statement bodies.
  template <typename T, typename Txn = pqxx::work, typename Body>
  absl::StatusOr<T> Transact(absl::string_view what, Body&& body) {
    for (int attempt = 1;; ++attempt) {
      absl::StatusOr<std::unique_ptr<pqxx::connection>> conn = Acquire();
      if (!conn.ok()) return conn.status();
      bool reusable = true;
      try {
        Txn txn(**conn);
        absl::StatusOr<T> result = body(txn);
        if (result.ok()) txn.commit();
        Release(*std::move(conn));
        return result;
      } catch (const pqxx::transaction_rollback& e) {
        // Serialization failure or deadlock: safe to run the body again.
        Release(*std::move(conn));
        if (attempt >= options_.max_attempts) {
          LogDetail(what, e);
          return absl::AbortedError(
              absl::StrCat(what, ": gave up after ", attempt, " conflicting attempts (retry)"));
        }
        absl::SleepFor(absl::Milliseconds(2 * attempt) + absl::Microseconds(RandomJitter()));
        continue;
      } catch (const pqxx::broken_connection& e) {
        reusable = false;
        Drop();
        LogDetail(what, e);
        return absl::UnavailableError(absl::StrCat(what, ": lost the database connection (retry)"));
      } catch (const pqxx::in_doubt_error& e) {
        reusable = false;
        Drop();
        LogDetail(what, e);
        return absl::UnavailableError(
            absl::StrCat(what,
                         ": connection lost during commit (the change may or may not be "
                         "stored)"));
      } catch (const pqxx::unique_violation& e) {
        Release(*std::move(conn));
        LogDetail(what, e);
        return absl::AlreadyExistsError(absl::StrCat(what, ": it already exists"));
      } catch (const pqxx::foreign_key_violation& e) {
        Release(*std::move(conn));
        LogDetail(what, e);
        return absl::NotFoundError(
            absl::StrCat(what, ": it refers to something that does not exist"));
      } catch (const pqxx::not_null_violation& e) {
        Release(*std::move(conn));
        LogDetail(what, e);
        return absl::InvalidArgumentError(absl::StrCat(what, ": a required value is missing"));
      } catch (const pqxx::integrity_constraint_violation& e) {
        Release(*std::move(conn));
        LogDetail(what, e);
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": a value is outside what the database accepts"));
      } catch (const pqxx::data_exception& e) {
        Release(*std::move(conn));
        LogDetail(what, e);
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": a value is out of range or malformed"));
      } catch (const std::exception& e) {
        // A session that failed in an unknown way is not reused.
        (void)reusable;
        Drop();
        LogDetail(what, e);
        return absl::InternalError(
            absl::StrCat(what, ": the database failed (the server log has the details)"));
      }
    }
  }

  const StoreOptions& options() const { return options_; }

 private:
  // The edge of the module: PostgreSQL's text (SQL, column and constraint
  // names) goes to the operator's log, never into a Status a client sees.
  static void LogDetail(absl::string_view what, const std::exception& e);
  int RandomJitter();
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Acquire();
  void Release(std::unique_ptr<pqxx::connection> c);
  // The connection broke: forget it (and every idle one, which likely broke
  // with it when the server went away).
  void Drop();

  const StoreOptions options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  std::mt19937 rng_ ABSL_GUARDED_BY(mu_){std::random_device{}()};
};

}  // namespace hwnas::db

#endif  // HWNAS_DB_POSTGRES_POOL_H_

// Users and API tokens in PostgreSQL.
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

absl::StatusOr<User> PostgresStore::CreateUser(absl::string_view name, bool is_admin,
                                               bool is_worker) {
  HWNAS_RETURN_IF_ERROR(ValidateUserName(name));
  return pool_->Transact<User>("create user", [&](pqxx::work& txn) -> absl::StatusOr<User> {
    pqxx::result r = txn.exec_params(
        "INSERT INTO users (name, is_admin, is_worker) VALUES ($1, $2, $3) "
        "ON CONFLICT (name) DO NOTHING RETURNING id, name, is_admin, is_worker",
        std::string(name), is_admin, is_worker);
    if (r.empty()) return absl::AlreadyExistsError(absl::StrCat("user '", name, "' exists"));
    return ParseUser(r[0]);
  });
}

absl::StatusOr<User> PostgresStore::GetUser(absl::string_view name) {
  return pool_->Transact<User>("get user", [&](pqxx::work& txn) -> absl::StatusOr<User> {
    pqxx::result r = txn.exec_params(
        "SELECT id, name, is_admin, is_worker FROM users WHERE name = $1", std::string(name));
    if (r.empty()) return absl::NotFoundError(absl::StrCat("no user '", name, "'"));
    return ParseUser(r[0]);
  });
}

absl::StatusOr<std::string> PostgresStore::IssueToken(int64_t user_id) {
  const std::string token = RandomToken();
  const std::string digest = Sha256(token);
  return pool_->Transact<std::string>(
      "issue token", [&](pqxx::work& txn) -> absl::StatusOr<std::string> {
        if (txn.exec_params("SELECT 1 FROM users WHERE id = $1", user_id).empty()) {
          return absl::NotFoundError(absl::StrCat("no user with id ", user_id));
        }
        txn.exec_params0(
            "INSERT INTO api_tokens (user_id, token_sha256, prefix) VALUES ($1, $2, $3)", user_id,
            pqxx::binarystring(digest.data(), digest.size()), token.substr(0, 8));
        return token;
      });
}

absl::StatusOr<User> PostgresStore::Authenticate(absl::string_view token) {
  if (token.empty() || token.size() > 256) {
    return absl::UnauthenticatedError("missing or malformed API token");
  }
  const std::string digest = Sha256(token);
  return pool_->Transact<User>("authenticate", [&](pqxx::work& txn) -> absl::StatusOr<User> {
    pqxx::result r = txn.exec_params(
        "SELECT u.id, u.name, u.is_admin, u.is_worker FROM api_tokens t "
        "JOIN users u ON u.id = t.user_id WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL",
        pqxx::binarystring(digest.data(), digest.size()));
    if (r.empty()) return absl::UnauthenticatedError("invalid or revoked API token");
    return ParseUser(r[0]);
  });
}

absl::StatusOr<int> PostgresStore::RevokeTokens(int64_t user_id) {
  return pool_->Transact<int>("revoke tokens", [&](pqxx::work& txn) -> absl::StatusOr<int> {
    pqxx::result r = txn.exec_params(
        "UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        user_id);
    // Delivered to listening servers when (and only if) this commits.
    txn.exec0(absl::StrCat("NOTIFY ", kTokensRevokedChannel));
    return static_cast<int>(r.affected_rows());
  });
}

}  // namespace hwnas::db

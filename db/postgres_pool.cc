#include "db/postgres_pool.h"

#include "absl/strings/escaping.h"
#include "common/log.h"
#include "db/postgres_rows.h"
#include "spdlog/spdlog.h"

namespace hwnas::db {
namespace {

std::string FirstLine(absl::string_view s) { return std::string(s.substr(0, s.find('\n'))); }

}  // namespace

void PostgresStore::Pool::LogDetail(absl::string_view what, const std::exception& e) {
  spdlog::warn("event=store_error op=\"{}\" error=\"{}\"", std::string(what),
               absl::CEscape(RedactSecrets(FirstLine(e.what()))));
}

int PostgresStore::Pool::RandomJitter() {
  absl::MutexLock lock(&mu_);
  return std::uniform_int_distribution<int>(0, 2000)(rng_);
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> PostgresStore::Pool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](Pool* self) { return !self->idle_.empty() || self->open_ < self->options_.pool_size; },
        this));
    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> c = std::move(idle_.back());
      idle_.pop_back();
      if (c->is_open()) return c;
      --open_;
    }
    ++open_;
  }
  try {
    auto c = std::make_unique<pqxx::connection>(options_.connection_string);
    PrepareStatements(*c);
    return c;
  } catch (const std::exception& e) {
    absl::MutexLock lock(&mu_);
    --open_;
    return absl::UnavailableError(
        absl::StrCat("cannot connect to PostgreSQL: ", RedactSecrets(FirstLine(e.what()))));
  }
}

void PostgresStore::Pool::Release(std::unique_ptr<pqxx::connection> c) {
  absl::MutexLock lock(&mu_);
  idle_.push_back(std::move(c));
}

void PostgresStore::Pool::Drop() {
  absl::MutexLock lock(&mu_);
  open_ -= 1 + static_cast<int>(idle_.size());
  idle_.clear();
}

}  // namespace hwnas::db

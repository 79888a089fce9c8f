// A private PostgreSQL cluster for a test binary: started once (in a fresh
// temporary directory, on a free port) before the first test, stopped after
// the last. Each test suite takes a fresh database from it so suites never
// see each other's rows.
#ifndef HWNAS_TESTS_TESTING_POSTGRES_ENV_H_
#define HWNAS_TESTS_TESTING_POSTGRES_ENV_H_

#include <memory>
#include <string>

#include "db/local_postgres.h"
#include "gtest/gtest.h"

namespace hwnas::testing {

class PostgresEnvironment : public ::testing::Environment {
 public:
  // The environment registered by main (RegisterPostgresEnvironment).
  static PostgresEnvironment* Get();

  void SetUp() override;
  void TearDown() override;

  db::LocalPostgres& postgres() { return *postgres_; }
  // Creates an empty database and returns its connection string.
  std::string NewDatabase();

 private:
  std::string dir_;
  std::unique_ptr<db::LocalPostgres> postgres_;
  int databases_ = 0;
};

// Call from main() before RUN_ALL_TESTS.
void RegisterPostgresEnvironment();

}  // namespace hwnas::testing

#endif  // HWNAS_TESTS_TESTING_POSTGRES_ENV_H_

#include "tests/testing/postgres_env.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace hwnas::testing {
namespace {
PostgresEnvironment* g_env = nullptr;
}  // namespace

PostgresEnvironment* PostgresEnvironment::Get() { return g_env; }

void PostgresEnvironment::SetUp() {
  char tmpl[] = "/tmp/hwnas-test-pg-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr) << "cannot create a temporary directory";
  dir_ = tmpl;
  db::LocalPostgres::Options options;
  options.dir = dir_;
  options.durable = false;  // Tests do not need to survive an OS crash.
  postgres_ = std::make_unique<db::LocalPostgres>(options);
  absl::Status started = postgres_->Start();
  ASSERT_TRUE(started.ok()) << started;
}

void PostgresEnvironment::TearDown() {
  if (postgres_) {
    absl::Status stopped = postgres_->Stop();
    EXPECT_TRUE(stopped.ok()) << stopped;
    postgres_.reset();
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string PostgresEnvironment::NewDatabase() {
  const std::string name = absl::StrCat("test_", getpid(), "_", ++databases_);
  absl::Status created = postgres_->CreateDatabase(name);
  EXPECT_TRUE(created.ok()) << created;
  return postgres_->ConnectionString(name);
}

void RegisterPostgresEnvironment() {
  g_env = new PostgresEnvironment();
  ::testing::AddGlobalTestEnvironment(g_env);  // gtest takes ownership.
}

}  // namespace hwnas::testing

// LocalPostgres on a real private cluster: it drives initdb, pg_ctl, psql and
// createdb only (no client library), so these check what those tools do.
#include "common/local_postgres.h"

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/subprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwnas {
namespace {

class LocalPostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hwnas-common-pg-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
};

// What the cluster answers through psql as its superuser on TCP with the
// password, i.e. as a client given ConnectionString() would connect.
std::string Query(const LocalPostgres& pg, const std::string& database, const std::string& sql) {
  absl::StatusOr<CommandResult> r =
      RunCommand({"psql", "-X", "-A", "-t", "-q", "-d", pg.ConnectionString(database), "-c", sql},
                 {.separate_stderr = true});
  if (!r.ok()) return r.status().ToString();
  return r->exit_code == 0 ? r->output : absl::StrCat("exit ", r->exit_code, ": ", r->errors);
}

TEST_F(LocalPostgresTest, StartsCreatesDatabasesOnceAndRestartsOnTheSameData) {
  if (system("command -v psql > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "psql is not installed (package postgresql-client)";
  }
  LocalPostgres pg({.dir = dir_, .durable = false});
  absl::Status started = pg.Start();
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_TRUE(pg.running());
  EXPECT_GT(pg.port(), 0);
  // The default database exists and takes the password in the URI.
  EXPECT_EQ(Query(pg, "hwnas", "SELECT current_user"), "hwnas\n");

  // A name that needs quoting, created once; a second call is a no-op.
  const std::string odd = "suite \"one\"-x";
  ASSERT_TRUE(pg.CreateDatabase(odd).ok());
  ASSERT_TRUE(pg.CreateDatabase(odd).ok());
  EXPECT_EQ(
      Query(pg, "hwnas", "SELECT count(*) FROM pg_database WHERE datname = 'suite \"one\"-x'"),
      "1\n");
  EXPECT_EQ(Query(pg, "hwnas", "CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)"), "");

  ASSERT_TRUE(pg.Stop().ok());
  EXPECT_FALSE(pg.running());
  // A new object on the same directory finds the cluster, its password and data.
  LocalPostgres again({.dir = dir_, .durable = false});
  started = again.Start();
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_EQ(Query(again, "hwnas", "SELECT x FROM kept"), "7\n");
  EXPECT_TRUE(again.CreateDatabase(odd).ok());
  ASSERT_TRUE(again.Stop().ok());
}

TEST_F(LocalPostgresTest, CreateDatabaseOnAStoppedClusterNamesTheDatabase) {
  LocalPostgres pg({.dir = dir_});
  absl::Status s = pg.CreateDatabase("nothing_here");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()),
              ::testing::HasSubstr("cannot create database 'nothing_here'"));
}

}  // namespace
}  // namespace hwnas

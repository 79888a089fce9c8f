// What operators and orchestrators rely on, with the real hwnas-server and
// hwnas-worker binaries and real PostgreSQL: probes answered under stalled
// HTTP clients, a server started before its database, token revocation, and
// a prompt worker shutdown.
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "db/local_postgres.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/cluster.h"

namespace hwnas::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// /healthz used to be served one connection at a time with a 1 s read
// timeout each: 50 stalled clients made it take about 50 s, and a liveness
// probe would have killed a healthy server.
TEST(OpsE2ETest, HealthzAnswersWhileFiftyConnectionsStall) {
  Cluster c;
  ASSERT_NO_FATAL_FAILURE(c.StartServer(30, /*with_http=*/true));
  StalledConnections silent(c.metrics_port(), 25, "");
  StalledConnections half(c.metrics_port(), 25, "GET /heal");
  absl::StatusOr<std::string> health = HttpGet(c.metrics_port(), "/healthz", absl::Seconds(10));
  ASSERT_OK(health);
  EXPECT_EQ(*health, "200 ok\n");
  absl::StatusOr<std::string> ready = HttpGet(c.metrics_port(), "/readyz", absl::Seconds(10));
  ASSERT_OK(ready);
  EXPECT_EQ(*ready, "200 ready\n");
  absl::StatusOr<std::string> metrics = HttpGet(c.metrics_port(), "/metrics", absl::Seconds(10));
  ASSERT_OK(metrics);
  EXPECT_THAT(*metrics, StartsWith("200 "));
  EXPECT_THAT(*metrics, HasSubstr("hwnas_trials_started_total"));
}

// Containers start in any order: a server whose PostgreSQL is not up yet
// listens, answers liveness, says it is not ready (HTTP /readyz, the gRPC
// health service, UNAVAILABLE calls), logs what is missing at each retry,
// and becomes ready once the database is there.
TEST(OpsE2ETest, ServerStartedBeforePostgresBecomesReadyWhenItComes) {
  char tmpl[] = "/tmp/hwnas-late-pg-XXXXXX";
  const std::string pg_dir = mkdtemp(tmpl);
  const std::string password = "late-pg-password";
  std::ofstream(pg_dir + "/password") << password << "\n";
  absl::StatusOr<int> pg_port = PickFreePort();
  ASSERT_OK(pg_port);
  const std::string database =
      absl::StrCat("postgresql://hwnas:", password, "@127.0.0.1:", *pg_port, "/hwnas_late");
  Cluster c(database);
  ASSERT_NO_FATAL_FAILURE(c.StartServer(30, /*with_http=*/true));

  // 1. Nothing listens on the database's port.
  ASSERT_TRUE(Cluster::Eventually(
      [&] { return absl::StrContains(c.Log("server.log"), "problem=unreachable"); },
      absl::Seconds(60)))
      << c.Log("server.log");
  absl::StatusOr<std::string> health = HttpGet(c.metrics_port(), "/healthz");
  ASSERT_OK(health);
  EXPECT_EQ(*health, "200 ok\n");
  absl::StatusOr<std::string> ready = HttpGet(c.metrics_port(), "/readyz");
  ASSERT_OK(ready);
  EXPECT_THAT(*ready, StartsWith("503 not ready: waiting for the database (unreachable"));
  EXPECT_EQ(HealthCheck(c.channel()), "NOT_SERVING");
  absl::Status call = c.ListAs("hwn_anything");
  EXPECT_EQ(call.code(), absl::StatusCode::kUnavailable) << call;
  EXPECT_THAT(call.message(), HasSubstr("server is starting"));
  EXPECT_TRUE(c.server()->Running());

  // 2. PostgreSQL comes up, without the server's database yet.
  db::LocalPostgres pg(db::LocalPostgres::Options{
      .dir = pg_dir, .database = "postgres", .port = *pg_port, .durable = false});
  ASSERT_OK(pg.Start());
  ASSERT_TRUE(Cluster::Eventually(
      [&] { return absl::StrContains(c.Log("server.log"), "problem=missing_database"); },
      absl::Seconds(60)))
      << c.Log("server.log");
  EXPECT_EQ(HealthCheck(c.channel()), "NOT_SERVING");

  // 3. A server with the wrong password says so.
  {
    absl::StatusOr<ChildProcess> wrong = ChildProcess::Start(
        {.argv = {ServerBinary(), "serve", "--listen", "127.0.0.1:0", "--metrics", ""},
         .env = {absl::StrCat("HWNAS_DATABASE=postgresql://hwnas:wrong@127.0.0.1:", *pg_port,
                              "/postgres")},
         .log_path = c.dir() + "/wrong.log"});
    ASSERT_OK(wrong);
    EXPECT_TRUE(Cluster::Eventually(
        [&] { return absl::StrContains(c.Log("wrong.log"), "problem=wrong_password"); },
        absl::Seconds(60)))
        << c.Log("wrong.log");
    EXPECT_THAT(c.Log("wrong.log"), Not(HasSubstr("password=wrong")));
    EXPECT_THAT(c.Log("wrong.log"), Not(HasSubstr(":wrong@")));
    wrong->Stop();
  }

  // 4. The database appears: the server migrates it and becomes ready.
  ASSERT_OK(pg.CreateDatabase("hwnas_late"));
  ASSERT_TRUE(Cluster::Eventually(
      [&] {
        absl::StatusOr<std::string> r = HttpGet(c.metrics_port(), "/readyz");
        return r.ok() && *r == "200 ready\n";
      },
      absl::Seconds(60)))
      << c.Log("server.log");
  EXPECT_EQ(HealthCheck(c.channel()), "SERVING");
  ASSERT_NO_FATAL_FAILURE(c.OpenStore());
  const std::string token = c.CreateUser("dora", "");
  EXPECT_OK(c.ListAs(token));
  EXPECT_THAT(c.Log("server.log"), HasSubstr("event=server_ready"));
  EXPECT_THAT(c.Log("server.log"), Not(HasSubstr(password)));
  EXPECT_TRUE(c.server()->Running());
  c.server()->Stop();
  ASSERT_OK(pg.Stop());
  std::error_code ec;
  std::filesystem::remove_all(pg_dir, ec);
}

// A token revoked with `hwnas-server admin revoke-tokens` stops working on
// a running server at once, though the server had it cached (for 30 s).
TEST(OpsE2ETest, ARevokedTokenIsRefusedAtOnce) {
  Cluster c;
  ASSERT_NO_FATAL_FAILURE(c.StartServer(30));
  const std::string token = c.CreateUser("erin", "");
  ASSERT_OK(c.ListAs(token));  // Now cached.
  ASSERT_OK(c.ListAs(c.alice()));
  CommandResult revoked = c.Admin({"revoke-tokens", "erin"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.output;
  EXPECT_THAT(revoked.output, HasSubstr("Revoked 1 API token(s) of erin"));
  // Well within the cache's 30 s: the revocation's NOTIFY clears it.
  EXPECT_TRUE(Cluster::Eventually(
      [&] { return c.ListAs(token).code() == absl::StatusCode::kUnauthenticated; },
      absl::Seconds(15)))
      << c.ListAs(token);
  // Other users' tokens still work; a revoked user can be given a new one.
  EXPECT_OK(c.ListAs(c.alice()));
  CommandResult issued = c.Admin({"issue-token", "erin"});
  ASSERT_EQ(issued.exit_code, 0) << issued.output;
  std::string out(absl::StripTrailingAsciiWhitespace(issued.output));
  EXPECT_OK(c.ListAs(out.substr(out.rfind('\n') + 1)));
  CommandResult unknown = c.Admin({"revoke-tokens", "nobody"});
  EXPECT_NE(unknown.exit_code, 0);
}

// An idle worker's long-poll (here 60 s) is cancelled by SIGTERM: it exits
// long before the poll would have ended.
TEST(OpsE2ETest, AnIdleWorkerExitsSoonAfterSigterm) {
  Cluster c;
  ASSERT_NO_FATAL_FAILURE(c.StartServer(30));
  ChildProcess& w = c.StartWorker("idle", {"--acquire-wait", "60"});
  ASSERT_TRUE(Cluster::Eventually(
      [&] { return absl::StrContains(c.Log("idle.log"), "event=worker_registered"); },
      absl::Seconds(60)))
      << c.Log("idle.log");
  absl::SleepFor(absl::Milliseconds(500));  // Its AcquireTrial is parked now.
  w.Signal(SIGTERM);
  std::optional<int> code = w.Wait(absl::Seconds(30));
  ASSERT_TRUE(code.has_value()) << "still running 30 s after SIGTERM\n" << c.Log("idle.log");
  EXPECT_EQ(*code, 0) << c.Log("idle.log");
}

}  // namespace
}  // namespace hwnas::testing

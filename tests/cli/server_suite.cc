#include "tests/cli/server_suite.h"

#include <filesystem>
#include <sstream>
#include <utility>

#include "absl/time/time.h"
#include "cli/app.h"
#include "common/status_macros.h"
#include "db/postgres_store.h"
#include "gtest/gtest.h"
#include "tests/testing/postgres_env.h"
#include "tests/testing/test_paths.h"

namespace hwnas::cli::testing {

absl::StatusOr<std::unique_ptr<ServerSuite>> ServerSuite::Start(absl::string_view dir_prefix) {
  auto suite = std::make_unique<ServerSuite>();
  suite->dir = NewTempDir(dir_prefix);
  const std::string database = hwnas::testing::PostgresEnvironment::Get()->NewDatabase();
  HWNAS_ASSIGN_OR_RETURN(suite->store,
                         db::PostgresStore::Open({.connection_string = database, .pool_size = 2}));
  HWNAS_RETURN_IF_ERROR(suite->store->Migrate());
  for (const auto& [name, worker] :
       {std::pair<const char*, bool>{"alice", false}, {"bob", false}, {"fleet", true}}) {
    HWNAS_ASSIGN_OR_RETURN(User user, suite->store->CreateUser(name, /*is_admin=*/false, worker));
    HWNAS_ASSIGN_OR_RETURN(suite->tokens[name], suite->store->IssueToken(user.id));
  }
  HWNAS_ASSIGN_OR_RETURN(suite->server, StartServer(database, suite->dir));
  return suite;
}

ServerSuite::~ServerSuite() {
  for (ChildProcess& w : workers) w.Stop(absl::Seconds(10));
  if (server) server->process.Stop(absl::Seconds(10));
  if (!::testing::UnitTest::GetInstance()->Failed()) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
}

absl::Status ServerSuite::StartWorkers(int count) {
  HWNAS_ASSIGN_OR_RETURN(
      workers, cli::testing::StartWorkers(server->address(), tokens.at("fleet"), count, dir));
  return absl::OkStatus();
}

CliRun ServerSuite::Run(const std::vector<std::string>& args, const std::string& token) const {
  std::ostringstream out, err;
  CliContext ctx = DefaultContext();
  ctx.out = &out;
  ctx.err = &err;
  const std::string address = server->address();
  ctx.env = [address, token](absl::string_view name) -> std::optional<std::string> {
    if (name == "HWNAS_SERVER") return address;
    if (name == "HWNAS_TOKEN" && !token.empty()) return token;
    if (name == "HWNAS_WORKER_BIN") return BinaryPath("worker/hwnas-worker");
    if (name == "HWNAS_SHARED_DATA") return hwnas::testing::SharedDataDir();
    return std::nullopt;
  };
  CliRun run;
  run.code = RunCli(args, ctx);
  run.out = out.str();
  run.err = err.str();
  return run;
}

std::vector<TrialRecord> ServerSuite::StoredTrials(int64_t id) const {
  std::vector<TrialRecord> all;
  db::TrialQuery query{.search_id = id};
  for (;;) {
    auto page = store->ListTrials(query);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) return all;
    all.insert(all.end(), page->items.begin(), page->items.end());
    if (page->next_page_token.empty()) return all;
    query.page_token = page->next_page_token;
  }
}

}  // namespace hwnas::cli::testing

// What the CLI's integration suites against a running server share: a
// private PostgreSQL database, the users alice and bob (API) and fleet
// (workers) with their tokens, an hwnas-server process, optional table
// workers, and `hwnas` run in-process against it.
#ifndef HWNAS_TESTS_CLI_SERVER_SUITE_H_
#define HWNAS_TESTS_CLI_SERVER_SUITE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/records.h"
#include "common/subprocess.h"
#include "db/store.h"
#include "tests/cli/processes.h"

namespace hwnas::cli::testing {

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

class ServerSuite {
 public:
  // A new database, the three users, and the server logging to a fresh
  // directory named after `dir_prefix`.
  static absl::StatusOr<std::unique_ptr<ServerSuite>> Start(absl::string_view dir_prefix);
  // Stops workers and server; removes the directory unless a test failed.
  ~ServerSuite();

  // `count` table/training workers with fleet's token.
  absl::Status StartWorkers(int count);

  // `hwnas ARGS` in-process with HWNAS_SERVER and HWNAS_TOKEN (none when
  // `token` is empty), this build's hwnas-worker and the shared data, and
  // no config file.
  CliRun Run(const std::vector<std::string>& args, const std::string& token) const;
  CliRun As(const std::string& user, const std::vector<std::string>& args) const {
    return Run(args, tokens.at(user));
  }

  // Every trial of search `id` as the store has it.
  std::vector<TrialRecord> StoredTrials(int64_t id) const;

  std::string dir;
  std::unique_ptr<db::Store> store;
  std::map<std::string, std::string> tokens;  // alice, bob, fleet.
  std::optional<ServerProcess> server;
  std::vector<ChildProcess> workers;
};

}  // namespace hwnas::cli::testing

#endif  // HWNAS_TESTS_CLI_SERVER_SUITE_H_

// The real processes of an end-to-end test, as server_e2e_test and
// measure_mcu_e2e_test start them: users and their tokens through
// `hwnas-server admin create-user`, `hwnas-server serve` (waited for through
// its port file) and the argv of `hwnas-worker serve`. Each test keeps its
// own fixture (database, stubs, waits); these are the parts they share.
#ifndef HWNAS_TESTS_SERVER_PROCESSES_H_
#define HWNAS_TESTS_SERVER_PROCESSES_H_

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/subprocess.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace hwnas::testing::e2e {

// Where this build's binaries are ($HWNAS_BINARY_DIR, set by ctest).
inline std::string BinaryDir() {
  const char* dir = std::getenv("HWNAS_BINARY_DIR");
  return dir != nullptr ? dir : "build";
}

// `hwnas-server admin create-user NAME [FLAG] --database DATABASE`: the new
// user's token (the output's last line; stderr explains it first). Failures
// are test failures, and give "".
inline std::string CreateUserToken(const std::string& database, const std::string& name,
                                   const std::string& flag) {
  std::vector<std::string> argv = {BinaryDir() + "/server/hwnas-server",
                                   "admin",
                                   "create-user",
                                   name,
                                   "--database",
                                   database,
                                   "--log-level",
                                   "warn"};
  if (!flag.empty()) argv.push_back(flag);
  absl::StatusOr<CommandResult> r = RunCommand(argv);
  EXPECT_OK(r);
  if (!r.ok()) return "";
  EXPECT_EQ(r->exit_code, 0) << r->output;
  std::string out(absl::StripTrailingAsciiWhitespace(r->output));
  return out.substr(out.rfind('\n') + 1);
}

struct ServerLaunch {
  std::string database;  // HWNAS_DATABASE of the server.
  std::string dir;       // The port file and server.log go here.
  std::string listen = "127.0.0.1:0";
  int lease_ttl_s = 5;
  std::vector<std::string> extra_flags;
};

struct ServerProcess {
  std::unique_ptr<ChildProcess> process;
  int port = 0;  // What it listens on (its port file).
};

// Starts `hwnas-server serve --listen ... --metrics "" --lease-ttl N
// --port-file DIR/port [extra]` and waits (up to 15 s) until it has written
// its port file; an error with the server's log when it did not.
inline absl::StatusOr<ServerProcess> StartServerProcess(const ServerLaunch& launch) {
  const std::string port_file = launch.dir + "/port";
  std::remove(port_file.c_str());
  std::vector<std::string> argv = {BinaryDir() + "/server/hwnas-server",
                                   "serve",
                                   "--listen",
                                   launch.listen,
                                   "--metrics",
                                   "",
                                   "--lease-ttl",
                                   absl::StrCat(launch.lease_ttl_s),
                                   "--port-file",
                                   port_file};
  argv.insert(argv.end(), launch.extra_flags.begin(), launch.extra_flags.end());
  absl::StatusOr<ChildProcess> started =
      ChildProcess::Start({.argv = std::move(argv),
                           .env = {"HWNAS_DATABASE=" + launch.database},
                           .log_path = launch.dir + "/server.log"});
  if (!started.ok()) return started.status();
  ServerProcess server{std::make_unique<ChildProcess>(*std::move(started)), 0};
  for (int i = 0; i < 300 && !std::ifstream(port_file); ++i) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  std::ifstream in(port_file);
  if (!(in >> server.port)) {
    std::ifstream log(launch.dir + "/server.log");
    std::stringstream text;
    text << log.rdbuf();
    return absl::UnavailableError(absl::StrCat("server did not start: ", text.str()));
  }
  return server;
}

// `hwnas-worker serve --server ADDRESS --name NAME --data-dir DATA_DIR
// --log-level info [extra]`.
inline std::vector<std::string> WorkerServeArgv(const std::string& address, const std::string& name,
                                                const std::string& data_dir,
                                                const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {BinaryDir() + "/worker/hwnas-worker",
                                   "serve",
                                   "--server",
                                   address,
                                   "--name",
                                   name,
                                   "--data-dir",
                                   data_dir,
                                   "--log-level",
                                   "info"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

}  // namespace hwnas::testing::e2e

#endif  // HWNAS_TESTS_SERVER_PROCESSES_H_

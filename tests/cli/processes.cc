#include "tests/cli/processes.h"

#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/test_paths.h"

namespace hwnas::cli::testing {

std::string BinaryPath(absl::string_view relative) {
  const char* dir = std::getenv("HWNAS_BINARY_DIR");
  return absl::StrCat(dir != nullptr ? dir : ".", "/", relative);
}

std::string NewTempDir(absl::string_view prefix) {
  std::string pattern = absl::StrCat("/tmp/", prefix, "-XXXXXX");
  char* made = mkdtemp(pattern.data());
  if (made == nullptr) return "";
  std::filesystem::permissions(made, std::filesystem::perms::owner_all |
                                         std::filesystem::perms::group_exec |
                                         std::filesystem::perms::others_exec);
  return made;
}

void RemoveUnlessFailed(const std::string& path) {
  if (path.empty() || ::testing::Test::HasFailure()) return;
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p(path);
  const std::string stem = p.filename().string();
  for (const auto& entry : fs::directory_iterator(p.parent_path(), ec)) {
    if (entry.path().filename().string().rfind(stem, 0) == 0) fs::remove_all(entry.path(), ec);
  }
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

std::string ServerProcess::address() const { return absl::StrCat("127.0.0.1:", port); }

absl::StatusOr<ServerProcess> StartServer(const std::string& database, const std::string& dir) {
  const std::string port_file = absl::StrCat(dir, "/server.port");
  std::filesystem::remove(port_file);
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(
      {.argv = {BinaryPath("server/hwnas-server"), "serve", "--listen", "127.0.0.1:0",
                "--metrics=", "--port-file", port_file, "--lease-ttl", "10"},
       .env = {absl::StrCat("HWNAS_DATABASE=", database)},
       .log_path = absl::StrCat(dir, "/server.log")});
  if (!child.ok()) return child.status();
  ServerProcess server{*std::move(child)};
  const bool up = WaitFor(
      [&] {
        std::ifstream in(port_file);
        return static_cast<bool>(in >> server.port) && server.port > 0;
      },
      absl::Seconds(60));
  if (!up) {
    return absl::DeadlineExceededError(absl::StrCat(
        "hwnas-server did not start: ", ReadWholeFile(absl::StrCat(dir, "/server.log"))));
  }
  return server;
}

absl::StatusOr<std::vector<ChildProcess>> StartWorkers(const std::string& address,
                                                       const std::string& token, int count,
                                                       const std::string& dir) {
  std::vector<ChildProcess> workers;
  for (int i = 1; i <= count; ++i) {
    absl::StatusOr<ChildProcess> child = ChildProcess::Start(
        {.argv = {BinaryPath("worker/hwnas-worker"), "serve", "--server", address, "--name",
                  absl::StrCat("test-", i), "--data-dir", hwnas::testing::SharedDataDir()},
         .env = {absl::StrCat("HWNAS_TOKEN=", token)},
         .log_path = absl::StrCat(dir, "/worker-", i, ".log")});
    if (!child.ok()) return child.status();
    workers.push_back(*std::move(child));
  }
  return workers;
}

}  // namespace hwnas::cli::testing

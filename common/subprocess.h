// Running other programs: one-shot commands with captured output (initdb,
// pg_ctl) and long-lived children (worker processes, the server in tests and
// in `hwnas local`).
#ifndef HWNAS_COMMON_SUBPROCESS_H_
#define HWNAS_COMMON_SUBPROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hwnas {

struct CommandResult {
  int exit_code = 0;   // -N when killed by signal N.
  std::string output;  // stdout, and stderr interleaved unless separate_stderr.
  std::string errors;  // stderr with separate_stderr; else empty.
};

struct CommandOptions {
  absl::Duration timeout = absl::Minutes(2);
  // Extra environment entries "KEY=VALUE" on top of the parent's: secrets
  // (a database URI) go here rather than into the argv that `ps` shows.
  std::vector<std::string> env;
  // stderr into CommandResult::errors, so that `output` is only what the
  // program printed as its answer (a token, a JSON line).
  bool separate_stderr = false;
};

// Runs argv[0] (looked up in PATH) to completion, capturing its output;
// stdin is /dev/null. Fails with DeadlineExceeded (after killing it) if it
// runs past the timeout.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         const CommandOptions& options);
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout = absl::Minutes(2));

// A child process started in its own process group. Not thread-safe.
class ChildProcess {
 public:
  struct Options {
    std::vector<std::string> argv;
    // Extra environment entries "KEY=VALUE" on top of the parent's.
    std::vector<std::string> env;
    // Where stdout and stderr go; empty: inherit the parent's.
    std::string log_path;
  };

  static absl::StatusOr<ChildProcess> Start(Options options);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Kills (SIGKILL) and reaps a child that is still running.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Sends `signal` to the child's process group.
  void Signal(int signal);
  // Waits up to `timeout` for exit; returns the exit code (-N for signal N),
  // or nullopt if it is still running.
  std::optional<int> Wait(absl::Duration timeout);
  bool Running();
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit code.
  int Stop(absl::Duration grace = absl::Seconds(10));

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// Finds a TCP port on 127.0.0.1 that is free right now.
absl::StatusOr<int> PickFreePort();

}  // namespace hwnas

#endif  // HWNAS_COMMON_SUBPROCESS_H_

#include "common/subprocess.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace hwnas {
namespace {

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

absl::Status ErrnoError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// The parent's environment with `extra` ("KEY=VALUE") entries added or
// replacing those of the same key. Built before fork: the child of a
// multi-threaded parent may only make async-signal-safe calls.
std::vector<std::string> MergedEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    absl::string_view entry(*e);
    absl::string_view key = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const std::string& x : extra) {
      replaced = replaced || absl::string_view(x).substr(0, x.find('=')) == key;
    }
    if (!replaced) env.emplace_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

[[noreturn]] void ExecChild(char* const* argv, char* const* envp) {
  execvpe(argv[0], argv, envp);
  _exit(127);
}

}  // namespace

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         const CommandOptions& options) {
  if (argv.empty()) return absl::InvalidArgumentError("RunCommand: empty argv");
  std::vector<std::string> args = argv;
  std::vector<std::string> env = MergedEnvironment(options.env);
  std::vector<char*> arg_ptrs = Pointers(args);
  std::vector<char*> env_ptrs = Pointers(env);
  int out_fds[2];
  int err_fds[2] = {-1, -1};
  if (pipe2(out_fds, O_CLOEXEC) != 0) return ErrnoError("pipe");
  if (options.separate_stderr && pipe2(err_fds, O_CLOEXEC) != 0) {
    close(out_fds[0]);
    close(out_fds[1]);
    return ErrnoError("pipe");
  }
  pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {out_fds[0], out_fds[1], err_fds[0], err_fds[1]}) {
      if (fd >= 0) close(fd);
    }
    return ErrnoError("fork");
  }
  if (pid == 0) {
    dup2(out_fds[1], STDOUT_FILENO);
    dup2(options.separate_stderr ? err_fds[1] : out_fds[1], STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    ExecChild(arg_ptrs.data(), env_ptrs.data());
  }
  close(out_fds[1]);
  if (err_fds[1] >= 0) close(err_fds[1]);
  CommandResult result;
  // Both pipes are read until each is closed: a child that fills one while
  // we wait on the other would never finish.
  struct Stream {
    int fd;
    std::string* text;
  };
  std::vector<Stream> open_streams = {{out_fds[0], &result.output}};
  if (err_fds[0] >= 0) open_streams.push_back({err_fds[0], &result.errors});
  const absl::Time deadline = absl::Now() + options.timeout;
  bool timed_out = false;
  char buf[4096];
  while (!open_streams.empty()) {
    const int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left_ms <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfds[2];
    for (size_t i = 0; i < open_streams.size(); ++i) pfds[i] = {open_streams[i].fd, POLLIN, 0};
    int ready = poll(pfds, open_streams.size(), static_cast<int>(std::min<int64_t>(left_ms, 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    for (size_t i = open_streams.size(); i-- > 0;) {
      if (pfds[i].revents == 0) continue;
      ssize_t n = read(open_streams[i].fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        close(open_streams[i].fd);
        open_streams.erase(open_streams.begin() + static_cast<ptrdiff_t>(i));
        continue;
      }
      open_streams[i].text->append(buf, static_cast<size_t>(n));
    }
  }
  for (const Stream& stream : open_streams) close(stream.fd);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return absl::DeadlineExceededError(absl::StrCat("'", absl::StrJoin(argv, " "),
                                                    "' did not finish within ",
                                                    absl::FormatDuration(options.timeout)));
  }
  result.exit_code = DecodeWaitStatus(status);
  if (result.exit_code == 127 && result.output.empty() && result.errors.empty()) {
    return absl::NotFoundError(absl::StrCat("cannot run '", argv[0], "': not found"));
  }
  return result;
}

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout) {
  return RunCommand(argv, CommandOptions{.timeout = timeout});
}

absl::StatusOr<ChildProcess> ChildProcess::Start(Options options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("ChildProcess: empty argv");
  std::vector<std::string> env = MergedEnvironment(options.env);
  std::vector<char*> arg_ptrs = Pointers(options.argv);
  std::vector<char*> env_ptrs = Pointers(env);
  int log_fd = -1;
  if (!options.log_path.empty()) {
    log_fd = open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return ErrnoError(absl::StrCat("open ", options.log_path));
  }
  pid_t pid = fork();
  if (pid < 0) {
    if (log_fd >= 0) close(log_fd);
    return ErrnoError("fork");
  }
  if (pid == 0) {
    setpgid(0, 0);
    // Children end with their parent: a killed `hwnas local` or test must
    // not leave servers and workers behind. SIGTERM lets workers hand back
    // their trial. (The signal follows the forking thread's exit.)
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (log_fd >= 0) {
      dup2(log_fd, STDOUT_FILENO);
      dup2(log_fd, STDERR_FILENO);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    ExecChild(arg_ptrs.data(), env_ptrs.data());
  }
  // Also set the group from the parent so Signal() works even if the child
  // has not run setpgid yet.
  setpgid(pid, pid);
  if (log_fd >= 0) close(log_fd);
  return ChildProcess(pid);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), exit_code_(other.exit_code_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !exit_code_) {
      Signal(SIGKILL);
      Wait(absl::InfiniteDuration());
    }
    pid_ = std::exchange(other.pid_, -1);
    exit_code_ = other.exit_code_;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exit_code_) {
    Signal(SIGKILL);
    Wait(absl::InfiniteDuration());
  }
}

void ChildProcess::Signal(int signal) {
  if (pid_ > 0 && !exit_code_) kill(-pid_, signal);
}

std::optional<int> ChildProcess::Wait(absl::Duration timeout) {
  if (exit_code_) return exit_code_;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = DecodeWaitStatus(status);
      return exit_code_;
    }
    if (r < 0 && errno != EINTR) {
      exit_code_ = -1;
      return exit_code_;
    }
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

bool ChildProcess::Running() { return !Wait(absl::ZeroDuration()).has_value(); }

int ChildProcess::Stop(absl::Duration grace) {
  Signal(SIGTERM);
  if (std::optional<int> code = Wait(grace)) return *code;
  Signal(SIGKILL);
  return *Wait(absl::InfiniteDuration());
}

absl::StatusOr<int> PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return ErrnoError("bind 127.0.0.1:0");
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

}  // namespace hwnas

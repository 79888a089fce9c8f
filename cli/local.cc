#include "cli/local.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/format.h"
#include "common/data_paths.h"
#include "common/flags.h"
#include "common/local_postgres.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/subprocess.h"
#include "yaml-cpp/yaml.h"

namespace hwnas::cli {
namespace {

namespace fs = std::filesystem;

constexpr char kAdminUser[] = "local-admin";
constexpr char kWorkerUser[] = "local-worker";
constexpr absl::string_view kDefaultStateDir = ".hwnas-local";

// False only when running as root and the `postgres` user (which runs the
// cluster then) cannot enter `dir`.
bool PostgresCanReach(const std::string& dir) {
  if (geteuid() != 0) return true;
  absl::StatusOr<CommandResult> probe =
      RunCommand({"runuser", "-u", "postgres", "--", "test", "-x", dir}, absl::Seconds(10));
  return !probe.ok() || probe->exit_code == 0;
}

// An exclusive flock on DIR/lock for as long as this process runs `hwnas
// local`; close-on-exec, so the children do not keep it after a crash.
class StateDirLock {
 public:
  static absl::StatusOr<StateDirLock> Take(const std::string& dir) {
    const std::string path = absl::StrCat(dir, "/lock");
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return LocalIoError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      close(fd);
      return absl::FailedPreconditionError(
          absl::StrCat("another hwnas local is running with the state directory ", dir,
                       "; stop it first or choose another --state-dir"));
    }
    return StateDirLock(fd);
  }
  StateDirLock(StateDirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  StateDirLock& operator=(StateDirLock&&) = delete;
  ~StateDirLock() {
    if (fd_ >= 0) close(fd_);
  }

 private:
  explicit StateDirLock(int fd) : fd_(fd) {}
  int fd_;
};

bool IsExecutable(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && access(path.c_str(), X_OK) == 0;
}

std::string SelfDir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  return self.parent_path().string();
}

// Writes `contents` to `path` atomically with mode 0600.
absl::Status WritePrivateFile(const std::string& path, const std::string& contents) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return LocalIoError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
    out << contents;
    if (!out.flush()) return LocalIoError(absl::StrCat("cannot write ", tmp));
  }
  chmod(tmp.c_str(), 0600);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return LocalIoError(absl::StrCat("cannot write ", path, ": ", ec.message()));
  return absl::OkStatus();
}

std::string TailOfFile(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    absl::StrAppend(&out, "    ", all[i], "\n");
  }
  return out;
}

// A node as text with one layout: maps and sequences in flow form, scalars
// length-prefixed so no scalar can imitate structure.
std::string CanonicalYaml(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      std::string out = "{";
      for (const auto& kv : node) {
        absl::StrAppend(&out, CanonicalYaml(kv.first), ":", CanonicalYaml(kv.second), ",");
      }
      return out + "}";
    }
    case YAML::NodeType::Sequence: {
      std::string out = "[";
      for (const auto& item : node) absl::StrAppend(&out, CanonicalYaml(item), ",");
      return out + "]";
    }
    case YAML::NodeType::Scalar:
      return absl::StrCat(node.Scalar().size(), "'", node.Scalar());
    default:
      return "~";
  }
}

struct Tokens {
  std::string admin;
  std::string worker;
};

// `hwnas-server admin ARGS...` on `database`: the token it prints on stdout
// (its notes and log lines go to stderr). The database URI travels in the
// environment, where `ps` does not show it.
absl::StatusOr<std::string> AdminToken(const std::string& server_bin, const std::string& database,
                                       const std::vector<std::string>& args) {
  std::vector<std::string> argv = {server_bin, "admin"};
  argv.insert(argv.end(), args.begin(), args.end());
  HWNAS_ASSIGN_OR_RETURN(CommandResult result,
                         RunCommand(argv, {.timeout = absl::Seconds(60),
                                           .env = {absl::StrCat("HWNAS_DATABASE=", database)},
                                           .separate_stderr = true}));
  const std::string token(absl::StripAsciiWhitespace(result.output));
  if (result.exit_code != 0 || token.empty()) {
    return absl::InternalError(absl::StrCat(
        "hwnas-server admin ", absl::StrJoin(args, " "), " failed (exit ", result.exit_code,
        "): ", absl::StripTrailingAsciiWhitespace(RedactSecrets(result.errors))));
  }
  HWNAS_RETURN_IF_ERROR(CheckToken(token, "hwnas-server admin"));
  return token;
}

// Reads DIR/tokens.yaml, or creates both users (or new tokens for them when
// the file was lost) through `hwnas-server admin` and writes it.
absl::StatusOr<Tokens> EnsureTokens(const std::string& state_dir, const std::string& server_bin,
                                    const std::string& database) {
  const std::string path = absl::StrCat(state_dir, "/tokens.yaml");
  std::error_code ec;
  if (fs::exists(path, ec)) {
    try {
      YAML::Node node = YAML::LoadFile(path);
      Tokens t{node["admin_token"].as<std::string>(""), node["worker_token"].as<std::string>("")};
      if (!t.admin.empty() && !t.worker.empty()) return t;
    } catch (const YAML::Exception& e) {
      return LocalIoError(absl::StrCat("cannot read ", path, ": ", e.what()));
    }
  }
  // create-user prints the new user's first token. When it fails because an
  // earlier run made the user (and tokens.yaml was lost since), issue-token
  // gives that user a new one; when both fail, both reasons are shown.
  auto token_for = [&](const char* name, const char* role) -> absl::StatusOr<std::string> {
    absl::StatusOr<std::string> created =
        AdminToken(server_bin, database, {"create-user", name, role});
    if (created.ok()) return created;
    absl::StatusOr<std::string> issued = AdminToken(server_bin, database, {"issue-token", name});
    if (issued.ok()) return issued;
    return absl::Status(issued.status().code(),
                        absl::StrCat(created.status().message(), "; ", issued.status().message()));
  };
  Tokens t;
  HWNAS_ASSIGN_OR_RETURN(t.admin, token_for(kAdminUser, "--admin"));
  HWNAS_ASSIGN_OR_RETURN(t.worker, token_for(kWorkerUser, "--worker"));
  HWNAS_RETURN_IF_ERROR(WritePrivateFile(
      path, absl::StrCat("# API tokens of this local hwnas installation. Keep private.\n",
                         "admin_user: ", kAdminUser, "\nadmin_token: ", t.admin,
                         "\nworker_user: ", kWorkerUser, "\nworker_token: ", t.worker, "\n")));
  return t;
}

// searches.tsv: one "<spec hash>\t<search id>" line per submitted search.
std::optional<int64_t> LastSearchFor(const std::string& state_dir, const std::string& hash) {
  std::ifstream in(absl::StrCat(state_dir, "/searches.tsv"));
  std::optional<int64_t> last;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> parts = absl::StrSplit(line, '\t');
    int64_t id = 0;
    if (parts.size() >= 2 && parts[0] == hash && absl::SimpleAtoi(parts[1], &id)) last = id;
  }
  return last;
}

absl::Status RememberSearch(const std::string& state_dir, const std::string& hash, int64_t id,
                            const std::string& spec_path) {
  const std::string path = absl::StrCat(state_dir, "/searches.tsv");
  std::ofstream out(path, std::ios::app);
  out << hash << "\t" << id << "\t" << spec_path << "\n";
  if (!out.flush()) return LocalIoError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// The processes of one `hwnas local` run. Shutdown (also from the
// destructor) stops workers first (SIGTERM: they hand their trials back),
// then the server, then PostgreSQL. Single-threaded, except that Monitor()
// runs on its own thread while the main thread only watches.
class LocalSystem {
 public:
  explicit LocalSystem(std::ostream& err) : err_(err) {}
  ~LocalSystem() { Shutdown(); }

  std::unique_ptr<LocalPostgres> postgres;
  std::optional<ChildProcess> server;
  std::vector<ChildProcess> workers;
  std::string server_log;
  std::vector<std::string> worker_logs;

  // Why the system cannot go on ("" while healthy): the server exited, or
  // every worker did.
  std::string Problem() {
    if (server && !server->Running()) {
      return absl::StrCat("hwnas-server exited unexpectedly; its log ends with:\n",
                          TailOfFile(server_log, 15));
    }
    bool any = workers.empty();
    for (ChildProcess& w : workers) any = any || w.Running();
    if (!any) {
      return absl::StrCat("every hwnas-worker exited; the last lines of ", worker_logs.back(),
                          ":\n", TailOfFile(worker_logs.back(), 15));
    }
    return "";
  }

  void Shutdown() {
    if (!workers.empty()) {
      err_ << "stopping " << workers.size()
           << " worker(s) (a running trial stops at its next batch and is handed back)...\n"
           << std::flush;
      for (ChildProcess& w : workers) w.Signal(SIGTERM);
      for (ChildProcess& w : workers) {
        if (!w.Wait(absl::Seconds(30))) w.Stop(absl::Seconds(1));
      }
      workers.clear();
    }
    if (server) {
      err_ << "stopping the server...\n" << std::flush;
      server->Stop(absl::Seconds(15));
      server.reset();
    }
    if (postgres && postgres->running()) {
      err_ << "stopping PostgreSQL...\n" << std::flush;
      if (absl::Status s = postgres->Stop(); !s.ok()) err_ << "hwnas: warning: " << s << "\n";
    }
    postgres.reset();
  }

 private:
  std::ostream& err_;
};

// Watches the interrupt flag and the children while the main thread blocks
// in WatchSearch; raises `stop` when either asks for it.
class Monitor {
 public:
  Monitor(const std::atomic<bool>* interrupted, LocalSystem& system) {
    thread_ = std::thread([this, interrupted, &system] {
      while (!done_.load()) {
        if (interrupted != nullptr && interrupted->load()) {
          stop_.store(true);
          return;
        }
        std::string problem = system.Problem();
        if (!problem.empty()) {
          absl::MutexLock lock(&mu_);
          problem_ = problem;
          stop_.store(true);
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    });
  }
  ~Monitor() { Join(); }
  void Join() {
    done_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  const std::atomic<bool>* stop_flag() const { return &stop_; }
  std::string problem() {
    absl::MutexLock lock(&mu_);
    return problem_;
  }

 private:
  std::atomic<bool> done_{false};
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  std::string problem_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// Ctrl-C before the search was watched: the caller's LocalSystem shuts down.
int Stopped(std::ostream& err) {
  err << "interrupted: shutting down\n";
  return kExitInterrupted;
}

bool Interrupted(const CliContext& ctx) {
  return ctx.interrupted != nullptr && ctx.interrupted->load();
}

// Prints the Pareto front and the best trial of a finished search.
absl::Status PrintResults(int64_t id, CliContext& ctx, Client& client) {
  std::ostream& out = *ctx.out;
  out << "\nPareto front of search " << id << ":\n";
  ParsedArgs pareto;
  pareto.positionals = {absl::StrCat(id)};
  HWNAS_RETURN_IF_ERROR(RunPareto(pareto, ctx, client).status());
  HWNAS_ASSIGN_OR_RETURN(SearchRecord search, client.GetSearch(id));
  if (!search.best_trial) {
    out << "\nNo trial succeeded, so there is no best architecture.\n";
    return absl::OkStatus();
  }
  HWNAS_ASSIGN_OR_RETURN(TrialRecord best, client.GetTrial(id, search.best_trial->number));
  out << "\nBest architecture (trial " << best.number << "):\n"
      << FormatTrialDetail(best, OutputFormat::kTable);
  return absl::OkStatus();
}

std::string QueryHints(int64_t id, const std::string& state_dir, bool running) {
  const std::string cfg = absl::StrCat(state_dir, "/config.yaml");
  std::string out = absl::StrCat("\nThe search is stored in ", state_dir, ". ",
                                 running ? "While this runs, query it with:\n"
                                         : "To query it, run again with --keep-running, then:\n");
  absl::StrAppend(&out, "  hwnas --config ", cfg, " trials ", id, " --sort reward --top 10\n",
                  "  hwnas --config ", cfg, " report ", id, " -o report-", id, ".html\n",
                  "  hwnas --config ", cfg, " export ", id, " --trial N --out model-dir\n");
  return out;
}

}  // namespace

CommandSpec LocalCommandSpec() {
  return {
      "local",
      "Run a search on this machine: PostgreSQL, server and workers, no setup.",
      {"SPEC"},
      {{"workers", 'w', "N", "worker processes (default: the number of CPU cores, at most 4)"},
       {"threads", 0, "N", "LibTorch threads per worker (default 1)"},
       {"batch", 0, "N",
        "table trials a worker takes and reports per call, 1-1024 (hwnas-worker --batch;\n"
        "                               default 1; training trials always come one at a time)"},
       {"state-dir", 0, "DIR",
        "where the database, tokens and logs live (env HWNAS_LOCAL_DIR;\n"
        "                               default ./.hwnas-local)"},
       {"data-dir", 0, "DIR",
        "shared data for the workers (default $HWNAS_SHARED_DATA, else ../shared/data)"},
       {"resume", 0, "", "only continue or show this spec's last search; never start a new one"},
       {"fresh", 0, "",
        "start a new search even when this spec's last one is unfinished (that one is\n"
        "                               cancelled; its trials stay in the database)"},
       {"keep-running", 0, "", "after the results, keep the server up for queries until Ctrl-C"}},
      "Checks the spec (hwnas-server check-spec), then starts a private PostgreSQL\n"
      "cluster in the state directory (kept between runs), hwnas-server on a free\n"
      "loopback port and N hwnas-worker processes, submits the spec, shows the\n"
      "progress bar, then prints the Pareto front and the best\n"
      "architecture, and stops everything. Ctrl-C stops cleanly too: workers hand\n"
      "their trials back, and running the same command again resumes the same\n"
      "search: it says so (\"resuming search 3 ... 4/16 trials done\") and goes on\n"
      "where it stopped; --fresh starts a new search instead. A spec whose last\n"
      "search finished starts a new search (unless --resume, which prints the\n"
      "finished one's results).\n\n"
      "The first run creates the users local-admin and local-worker; their tokens are\n"
      "in DIR/tokens.yaml and a client config in DIR/config.yaml (both mode 0600).\n"
      "Logs: DIR/logs/server.log, DIR/logs/worker-N.log. hwnas-server and\n"
      "hwnas-worker are $HWNAS_SERVER_BIN and $HWNAS_WORKER_BIN when set, else found\n"
      "next to this program, else on PATH. As root, PostgreSQL runs as the `postgres` user,\n"
      "which must be able to enter DIR: as root in a private directory such as\n"
      "/root/..., the default becomes /var/tmp/hwnas-local/<dir>-<hash>.",
      "  hwnas local examples/fashion-mnist-mcu.yaml\n"
      "  hwnas local examples/nb201-table.yaml --workers 4 --batch 32\n"
      "  hwnas local spec.yaml --state-dir /var/tmp/hwnas --keep-running\n"};
}

absl::StatusOr<std::string> FindHwnasProgram(absl::string_view name, const EnvLookup& env) {
  std::vector<std::string> tried;
  const std::string env_name = name == "hwnas-server" ? "HWNAS_SERVER_BIN" : "HWNAS_WORKER_BIN";
  if (std::optional<std::string> path = env(env_name)) {
    if (IsExecutable(*path)) return *path;
    return absl::NotFoundError(
        absl::StrCat("$", env_name, " is ", *path, ", which is not an executable file"));
  }
  const std::string self = SelfDir();
  if (!self.empty()) {
    const std::string folder = name == "hwnas-server" ? "server" : "worker";
    for (std::string candidate :
         {absl::StrCat(self, "/", name), absl::StrCat(self, "/../", folder, "/", name)}) {
      if (IsExecutable(candidate)) return fs::path(candidate).lexically_normal().string();
      tried.push_back(candidate);
    }
  }
  if (std::optional<std::string> path = env("PATH")) {
    for (absl::string_view dir : absl::StrSplit(*path, ':', absl::SkipEmpty())) {
      std::string candidate = absl::StrCat(dir, "/", name);
      if (IsExecutable(candidate)) return candidate;
    }
    tried.push_back("$PATH");
  }
  return absl::NotFoundError(absl::StrCat("cannot find ", name, " (tried ",
                                          absl::StrJoin(tried, ", "), "; set $", env_name, ")"));
}

std::optional<std::string> FindSharedDataDir(const EnvLookup& env) {
  std::error_code ec;
  if (std::optional<std::string> dir = env(kSharedDataEnvVar)) return *dir;
  std::vector<std::string> candidates = {kCheckoutSharedDataDir};
#ifdef HWNAS_SOURCE_DIR
  candidates.push_back(absl::StrCat(HWNAS_SOURCE_DIR, "/", kCheckoutSharedDataDir));
#endif
  for (const std::string& c : candidates) {
    if (fs::is_directory(c, ec)) return fs::absolute(c, ec).lexically_normal().string();
  }
  return std::nullopt;
}

std::string SpecHash(absl::string_view spec_yaml) {
  // Hash the YAML as parsed, in one canonical form, so comments, layout and
  // flow vs block style do not make a different spec; text that does not
  // parse is hashed as it is (the server will reject it anyway).
  std::string canonical(spec_yaml);
  try {
    canonical = CanonicalYaml(YAML::Load(canonical));
  } catch (const YAML::Exception&) {
  }
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : canonical) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return absl::StrFormat("%016x", h);
}

// `hwnas-worker check`'s exit codes (worker/commands.h; the CLI does not
// link the worker).
constexpr int kWorkerExitBadInput = 3;
constexpr int kWorkerExitNoData = 4;
constexpr int kWorkerExitDataMismatch = 5;

// Runs `argv` + the spec (as a temporary file) + `argv_after`; exit 0 is
// OK, one of `bad_input_exits` an error in the spec (NOT_FOUND for
// kWorkerExitNoData, OUT_OF_RANGE for kWorkerExitDataMismatch), reported naming the user's file;
// anything else an internal error.
absl::Status CheckSpecWith(std::vector<std::string> argv,
                           const std::vector<std::string>& argv_after,
                           std::initializer_list<int> bad_input_exits, const std::string& spec_path,
                           const std::string& spec) {
  char tmp[] = "/tmp/hwnas-spec-XXXXXX";
  const int fd = mkstemp(tmp);
  if (fd < 0) return LocalIoError(absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  const bool written = write(fd, spec.data(), spec.size()) == static_cast<ssize_t>(spec.size());
  close(fd);
  const std::string program = absl::StrCat(argv.front(), " ", argv.at(1));
  argv.push_back(tmp);
  argv.insert(argv.end(), argv_after.begin(), argv_after.end());
  absl::StatusOr<CommandResult> checked;
  // Loading a data set (EEG runs) can take a while on a loaded machine.
  if (written) checked = RunCommand(argv, absl::Seconds(300));
  unlink(tmp);
  if (!written) return LocalIoError(absl::StrCat("cannot write ", tmp));
  if (!checked.ok()) return checked.status();
  if (checked->exit_code == 0) return absl::OkStatus();
  std::string output = std::string(absl::StripTrailingAsciiWhitespace(checked->output));
  if (absl::c_linear_search(bad_input_exits, checked->exit_code)) {
    // Each error line names the file checked; name the user's file.
    std::string message = absl::StrReplaceAll(output, {{absl::StrCat(tmp, ": "), ""}});
    absl::string_view shown = message;
    absl::ConsumePrefix(&shown, "error: ");
    absl::StatusCode code = absl::StatusCode::kInvalidArgument;
    if (checked->exit_code == kWorkerExitNoData) code = absl::StatusCode::kNotFound;
    if (checked->exit_code == kWorkerExitDataMismatch) code = absl::StatusCode::kOutOfRange;
    return absl::Status(code, absl::StrCat("the spec ", spec_path == "-" ? "from stdin" : spec_path,
                                           " is not valid:\n  ", shown));
  }
  return absl::InternalError(
      absl::StrCat(program, " failed (exit ", checked->exit_code, "): ", output));
}

// Checks the spec with `hwnas-server check-spec`, as SubmitSearch would,
// before PostgreSQL, the server and the workers are started for nothing. The
// CLI does not link the spec parser (it pulls in LibTorch). The text goes
// through a private temporary file so that what is checked is what is
// submitted, also when the spec came from stdin.
absl::Status CheckSpecFirst(const std::string& server_bin, const std::string& spec_path,
                            const std::string& spec) {
  return CheckSpecWith({server_bin, "check-spec"}, {}, /*bad_input_exits=*/{2}, spec_path, spec);
}

// What the workers would find on their first trial (the data set, folds that
// fit it), checked before anything starts: this machine's workers read the
// same data directory.
absl::Status CheckDataFirst(const std::string& worker_bin, const std::string& spec_path,
                            const std::string& spec, const std::optional<std::string>& data_dir) {
  std::vector<std::string> after;
  if (data_dir) after = {"--data-dir", *data_dir};
  return CheckSpecWith(
      {worker_bin, "check", "--spec"}, after,
      /*bad_input_exits=*/{kWorkerExitBadInput, kWorkerExitNoData, kWorkerExitDataMismatch},
      spec_path, spec);
}

absl::StatusOr<int> RunLocal(const ParsedArgs& args, CliContext& ctx) {
  std::ostream& err = *ctx.err;
  const std::string spec_path = args.positionals.at(0);
  HWNAS_ASSIGN_OR_RETURN(std::string spec, ctx.read_file(spec_path));
  if (spec.empty()) return UsageError(absl::StrCat("the spec file ", spec_path, " is empty"));
  int64_t workers = std::clamp<int64_t>(std::thread::hardware_concurrency(), 1, 4);
  if (auto n = args.Get("workers")) {
    HWNAS_ASSIGN_OR_RETURN(workers, ParsePositiveInt(*n, "--workers"));
  }
  int64_t threads = 1;
  if (auto n = args.Get("threads")) {
    HWNAS_ASSIGN_OR_RETURN(threads, ParsePositiveInt(*n, "--threads"));
  }
  int64_t batch = 1;
  if (auto n = args.Get("batch")) {
    HWNAS_ASSIGN_OR_RETURN(batch, ParsePositiveInt(*n, "--batch"));
    if (batch > 1024) return UsageError(absl::StrCat("--batch: ", batch, " is over 1024"));
  }
  std::optional<std::string> chosen_dir = args.Get("state-dir");
  if (chosen_dir && chosen_dir->empty()) {
    return UsageError("--state-dir: give a directory (empty would mean /)");
  }
  if (!chosen_dir) chosen_dir = ctx.env("HWNAS_LOCAL_DIR");
  std::error_code ec;
  std::string state_dir =
      fs::absolute(chosen_dir.value_or(std::string(kDefaultStateDir)), ec).lexically_normal();
  if (const std::string cwd = fs::current_path(ec).string();
      !chosen_dir && !PostgresCanReach(cwd)) {
    // As root in a private directory (e.g. /root/hwnas) the default would
    // fail: use a per-checkout directory the postgres user can enter.
    state_dir = absl::StrCat("/var/tmp/hwnas-local/", fs::path(cwd).filename().string(), "-",
                             SpecHash(cwd).substr(0, 8));
    err << "hwnas local: the postgres user cannot enter " << cwd << "; using " << state_dir
        << " (choose with --state-dir or $HWNAS_LOCAL_DIR)\n";
    fs::create_directories("/var/tmp/hwnas-local", ec);
    chmod("/var/tmp/hwnas-local", 0711);
  }
  while (state_dir.size() > 1 && state_dir.back() == '/') state_dir.pop_back();
  std::optional<std::string> data_dir = args.Get("data-dir");
  if (data_dir && !fs::is_directory(*data_dir, ec)) {
    return UsageError(absl::StrCat("--data-dir: '", *data_dir, "' is not a directory"));
  }
  if (!data_dir) data_dir = FindSharedDataDir(ctx.env);
  HWNAS_ASSIGN_OR_RETURN(std::string server_bin, FindHwnasProgram("hwnas-server", ctx.env));
  HWNAS_ASSIGN_OR_RETURN(std::string worker_bin, FindHwnasProgram("hwnas-worker", ctx.env));
  HWNAS_RETURN_IF_ERROR(CheckSpecFirst(server_bin, spec_path, spec));
  HWNAS_RETURN_IF_ERROR(CheckDataFirst(worker_bin, spec_path, spec, data_dir));

  const std::string hash = SpecHash(spec);
  const std::optional<int64_t> previous = LastSearchFor(state_dir, hash);
  if (args.Has("resume") && args.Has("fresh")) {
    return UsageError("--resume and --fresh contradict each other: use one");
  }
  if (args.Has("resume") && !previous) {
    return absl::NotFoundError(absl::StrCat("--resume: no search of ", spec_path,
                                            " (or a spec with the same contents) in ", state_dir,
                                            "; run without --resume"));
  }
  // The state directory is new, empty or an earlier run's: a directory
  // holding other things (/tmp, a home directory) is not filled with a
  // cluster, tokens and logs, nor has its mode changed.
  const bool existed = fs::exists(state_dir, ec);
  if (existed && !fs::is_empty(state_dir, ec)) {
    bool earlier_run = false;
    for (const char* marker : {"lock", "tokens.yaml", "postgres", "logs"}) {
      earlier_run = earlier_run || fs::exists(absl::StrCat(state_dir, "/", marker), ec);
    }
    if (!earlier_run) {
      return UsageError(absl::StrCat("--state-dir ", state_dir,
                                     " holds other files; give a new or empty directory"));
    }
  }
  // It must be traversable so that, as root, the postgres user reaches the
  // cluster inside (the secrets in it are 0600 files): one this run creates
  // is made 0711, an existing one gains o+x only if postgres needs it.
  fs::create_directories(absl::StrCat(state_dir, "/logs"), ec);
  if (ec) return LocalIoError(absl::StrCat("cannot create ", state_dir, ": ", ec.message()));
  if (!existed) {
    chmod(state_dir.c_str(), 0711);
  } else if (!PostgresCanReach(state_dir)) {
    struct stat st {};
    if (stat(state_dir.c_str(), &st) != 0 ||
        chmod(state_dir.c_str(), (st.st_mode & 07777) | 0011) != 0) {
      return LocalIoError(absl::StrCat("the postgres user cannot enter ", state_dir,
                                       ": allow it (chmod o+x) or choose another --state-dir"));
    }
  }
  // One `hwnas local` per state directory: a second would share the
  // cluster, start a second server on the same search and mix the logs.
  HWNAS_ASSIGN_OR_RETURN(StateDirLock lock, StateDirLock::Take(state_dir));
  // LocalPostgres logs through spdlog; keep its info lines off the terminal.
  HWNAS_RETURN_IF_ERROR(InitLogging("warn"));

  LocalSystem system(err);
  err << "hwnas local: state in " << state_dir << "\n";
  LocalPostgres::Options pg_options;
  pg_options.dir = absl::StrCat(state_dir, "/postgres");
  system.postgres = std::make_unique<LocalPostgres>(pg_options);
  if (absl::Status s = system.postgres->Start(); !s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("cannot start PostgreSQL in ", pg_options.dir, ": ", s.message(),
                               " (log: ", system.postgres->log_path(), ")"));
  }
  err << "PostgreSQL on 127.0.0.1:" << system.postgres->port() << "\n";
  const std::string database = system.postgres->ConnectionString();
  HWNAS_ASSIGN_OR_RETURN(Tokens tokens, EnsureTokens(state_dir, server_bin, database));
  if (Interrupted(ctx)) return Stopped(err);

  // The server, on a free port it reports through the port file.
  const std::string port_file = absl::StrCat(state_dir, "/server.port");
  fs::remove(port_file, ec);
  system.server_log = absl::StrCat(state_dir, "/logs/server.log");
  // The HTTP listener (the web dashboard, /metrics) on a port free now; none
  // if no port is free.
  absl::StatusOr<int> http_port = PickFreePort();
  const std::string http_address = http_port.ok() ? absl::StrCat("127.0.0.1:", *http_port) : "";
  HWNAS_ASSIGN_OR_RETURN(
      ChildProcess server,
      ChildProcess::Start(
          {.argv = {server_bin, "serve", "--listen", "127.0.0.1:0",
                    absl::StrCat("--metrics=", http_address), "--port-file", port_file},
           .env = {absl::StrCat("HWNAS_DATABASE=", database)},
           .log_path = system.server_log}));
  system.server.emplace(std::move(server));
  int port = 0;
  for (absl::Time deadline = absl::Now() + absl::Seconds(60); port == 0;) {
    std::ifstream in(port_file);
    if (in >> port && port > 0) break;
    port = 0;
    if (!system.server->Running()) {
      return absl::InternalError(absl::StrCat("hwnas-server did not start; its log ends with:\n",
                                              TailOfFile(system.server_log, 15)));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("hwnas-server did not start within 60 s; see ", system.server_log));
    }
    if (Interrupted(ctx)) return Stopped(err);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string address = absl::StrCat("127.0.0.1:", port);
  HWNAS_RETURN_IF_ERROR(WritePrivateFile(
      absl::StrCat(state_dir, "/config.yaml"),
      absl::StrCat("# Written by `hwnas local`; valid while it runs.\nserver: ", address,
                   "\ntoken: ", tokens.admin, "\n")));
  err << "hwnas-server on " << address << " (log: " << system.server_log << ")\n";
  if (!http_address.empty()) {
    err << "dashboard: http://" << http_address << "/ (sign in with the admin_token in "
        << state_dir << "/tokens.yaml)\n";
  }

  for (int64_t i = 1; i <= workers; ++i) {
    std::vector<std::string> argv = {worker_bin,  "serve",
                                     "--server",  address,
                                     "--name",    absl::StrCat("local-", i),
                                     "--threads", absl::StrCat(threads)};
    if (data_dir) argv.insert(argv.end(), {"--data-dir", *data_dir});
    if (batch > 1) argv.insert(argv.end(), {"--batch", absl::StrCat(batch)});
    system.worker_logs.push_back(absl::StrCat(state_dir, "/logs/worker-", i, ".log"));
    HWNAS_ASSIGN_OR_RETURN(
        ChildProcess worker,
        ChildProcess::Start({.argv = argv,
                             .env = {absl::StrCat("HWNAS_TOKEN=", tokens.worker)},
                             .log_path = system.worker_logs.back()}));
    system.workers.push_back(std::move(worker));
  }
  err << workers << " worker(s) started"
      << (data_dir ? absl::StrCat(" (data: ", *data_dir, ")") : std::string(" (no shared data)"))
      << "\n";

  if (Interrupted(ctx)) return Stopped(err);
  ConnectionConfig connection;
  connection.server = address;
  connection.token = tokens.admin;
  HWNAS_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, ctx.connect(connection));

  // The same unfinished search for the same spec, else a new one. The
  // idempotency key is derived from the spec (and the search it follows), so
  // a submit whose answer was lost never starts a second search.
  std::optional<SearchRecord> search;
  if (previous) {
    absl::StatusOr<SearchRecord> found = client->GetSearch(*previous);
    if (found.ok() && found->state == SearchState::kRunning && args.Has("fresh")) {
      // Two searches of one spec would share the workers: the old one ends.
      absl::StatusOr<SearchRecord> cancelled = client->CancelSearch(found->id);
      if (!cancelled.ok()) return cancelled.status();
      err << "--fresh: cancelled the unfinished search " << found->id << " of " << spec_path << " ("
          << FinishedTrials(*found) << "/" << found->budget
          << " trials done; they stay in the database)\n";
    } else if (found.ok() && (found->state == SearchState::kRunning || args.Has("resume"))) {
      search = *found;
      if (found->state == SearchState::kRunning) {
        err << "resuming search " << found->id << " (an unfinished search of " << spec_path
            << " in " << state_dir << ", created " << FormatUtc(found->created_at)
            << "): " << FinishedTrials(*found) << "/" << found->budget
            << " trials done; run with --fresh to start a new search instead\n";
      } else {
        err << "showing search " << found->id << " (" << FinishedTrials(*found) << "/"
            << found->budget << " trials done)\n";
      }
    }
  }
  if (!search) {
    if (args.Has("resume")) {
      return absl::NotFoundError(absl::StrCat("search ", *previous, " of ", spec_path,
                                              " is not in the database of ", state_dir));
    }
    const std::string key = previous ? absl::StrCat("local-", hash, "-after-", *previous)
                                     : absl::StrCat("local-", hash);
    absl::StatusOr<SearchRecord> submitted = client->SubmitSearch(spec, key);
    if (!submitted.ok()) {
      if (submitted.status().code() == absl::StatusCode::kInvalidArgument) {
        return absl::InvalidArgumentError(absl::StrCat("the server rejected the spec ", spec_path,
                                                       ":\n  ", submitted.status().message()));
      }
      return submitted.status();
    }
    search = *submitted;
    HWNAS_RETURN_IF_ERROR(RememberSearch(state_dir, hash, search->id, spec_path));
    err << "submitted search " << search->id
        << (search->name.empty() ? "" : absl::StrCat(" (", search->name, ")")) << ": "
        << search->space << " space, budget " << search->budget << " trials\n";
  }
  *ctx.out << "search " << search->id << "\n" << std::flush;

  int code = kExitOk;
  if (search->state == SearchState::kRunning) {
    Monitor monitor(ctx.interrupted, system);
    CliContext watch_ctx = ctx;
    watch_ctx.interrupted = monitor.stop_flag();
    // WatchUntilDone's "keeps running on the server" note does not apply here.
    std::ostringstream watch_err;
    watch_ctx.err = &watch_err;
    // Every worker here was started alike: if one that connected cannot run
    // the search, none will, and waiting would be forever.
    auto give_up = [&](const SearchRecord& s) -> std::string {
      if (!absl::StartsWith(s.waiting, "no connected worker can run it")) return "";
      return absl::StrCat("the local workers cannot run search ", s.id, ": ", s.waiting,
                          "; check --data-dir (now ",
                          data_dir ? *data_dir : std::string("none: no shared data found"),
                          "); the search is kept and resumes on the next run");
    };
    absl::StatusOr<int> watched = WatchUntilDone(search->id, watch_ctx, *client, give_up);
    monitor.Join();
    if (watched.ok() || watched.status().code() != absl::StatusCode::kCancelled) {
      err << watch_err.str();
    }
    if (!watched.ok()) {
      if (std::string problem = monitor.problem(); !problem.empty()) {
        return absl::InternalError(problem);
      }
      if (watched.status().code() == absl::StatusCode::kUnavailable) {
        // The stream may break before the monitor's next look: a child that
        // died explains it better than "cannot reach the server".
        for (int i = 0; i < 20; ++i) {
          if (std::string problem = system.Problem(); !problem.empty()) {
            return absl::InternalError(problem);
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
      if (watched.status().code() == absl::StatusCode::kCancelled) {
        err << "interrupted: shutting down; run the same command again to resume search "
            << search->id << "\n";
        system.Shutdown();
        return kExitInterrupted;
      }
      return watched.status();
    }
    code = *watched;
  } else {
    absl::StatusOr<SearchRecord> final_search = client->GetSearch(search->id);
    if (final_search.ok()) {
      *ctx.out << FormatSearchDetail(*final_search, OutputFormat::kTable);
      if (final_search->state != SearchState::kCompleted) code = kExitSearchNotCompleted;
    }
  }
  HWNAS_RETURN_IF_ERROR(PrintResults(search->id, ctx, *client));
  const bool keep = args.Has("keep-running");
  err << QueryHints(search->id, state_dir, keep);
  if (keep) {
    err << "  (or: export HWNAS_SERVER=" << address << " HWNAS_TOKEN=$(sed -n "
        << "'s/^admin_token: //p' " << state_dir << "/tokens.yaml))\n"
        << "Keeping the server running; press Ctrl-C to stop.\n"
        << std::flush;
    while (!Interrupted(ctx)) {
      if (std::string problem = system.Problem(); !problem.empty()) {
        return absl::InternalError(problem);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  system.Shutdown();
  return code;
}

}  // namespace hwnas::cli

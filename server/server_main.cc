// hwnas-server: the search server and its admin commands. Flags live here
// only; they become ServerOptions.
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "common/flags.h"
#include "common/log.h"
#include "db/postgres_store.h"
#include "server/search_runtime.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

namespace {

constexpr char kUsage[] = R"(hwnas-server: the hwnas search server.

Usage:
  hwnas-server serve [flags]               Serve SearchService and WorkerService.
  hwnas-server migrate                     Apply pending schema migrations and exit.
  hwnas-server admin create-user NAME [--admin] [--worker]
                                           Create a user and print their API token (once).
  hwnas-server admin issue-token NAME      Print a new API token for an existing user.
  hwnas-server admin revoke-tokens NAME    Revoke every API token of a user (running
                                           servers stop accepting them at once).
  hwnas-server check-spec FILE... [--profile-path DIRS]
                                           Check search specs as SubmitSearch would,
                                           without a database; exit 2 if one is invalid.

Common flags:
  --database URI      PostgreSQL connection string (or set HWNAS_DATABASE, which keeps
                      the password out of the process list), e.g.
                      postgresql://hwnas:PASSWORD@127.0.0.1:5432/hwnas
  --log-level LEVEL   trace, debug, info (default), warn, error

serve flags:
  --listen ADDR       gRPC address (default 127.0.0.1:7470; port 0 picks a free port)
  --metrics ADDR      HTTP address of /metrics (Prometheus), /healthz (liveness) and
                      /readyz (readiness: 503 until the database is open and migrated)
                      (default 127.0.0.1:9470; IPv4 HOST:PORT; "" to disable)
  --dashboard-dir DIR The built web dashboard (dashboard/dist) to serve at / on the
                      --metrics address, beside its JSON API under /api/v1/ (default:
                      $HWNAS_DASHBOARD_DIR, else the build's dashboard/dist or
                      /usr/share/hwnas/dashboard where one has index.html; none: API only)
  --lease-ttl SECS    Seconds a worker keeps a trial without a heartbeat (default 30)
  --max-attempts N    Attempts per trial before it fails for good (default 3)
  --max-running-per-owner N
                      Most trials one user may have running at once (default 0: no limit)
  --threads N         Handler threads (default 64; they block on the store)
  --db-pool-size N    PostgreSQL connections of the store (default 16)
  --tls-cert FILE --tls-key FILE
                      Serve TLS with this PEM certificate chain and key
  --profile-path DIRS MCU profile directories, colon-separated (default:
                      $HWNAS_PROFILE_PATH, then the profiles shipped with hwnas)
  --no-migrate        Refuse to start on an older schema instead of migrating
  --port-file FILE    Write the bound gRPC port to FILE once listening (for scripts)

Examples:
  export HWNAS_DATABASE=postgresql://hwnas:secret@127.0.0.1:5432/hwnas
  hwnas-server admin create-user alice
  hwnas-server admin create-user fleet --worker
  hwnas-server serve --listen 0.0.0.0:7470 --tls-cert server.pem --tls-key server.key
)";

using Args = hwnas::ParsedFlags;
using hwnas::FlagSpec;

// The flags each command takes (common/flags.h): anything else is an error
// that names it, rather than a typo (`--lease-tll 5`) silently leaving a
// default in place. The help text is kUsage.
const std::vector<FlagSpec> kCommonFlags = {{"database", 0, "URI", ""},
                                            {"log-level", 0, "LEVEL", ""}};
const std::map<std::string, std::vector<FlagSpec>> kCommandFlags = {
    {"serve",
     {{"listen", 0, "ADDR", ""},
      {"metrics", 0, "ADDR", ""},
      {"dashboard-dir", 0, "DIR", ""},
      {"lease-ttl", 0, "SECS", ""},
      {"max-attempts", 0, "N", ""},
      {"max-running-per-owner", 0, "N", ""},
      {"threads", 0, "N", ""},
      {"db-pool-size", 0, "N", ""},
      {"tls-cert", 0, "FILE", ""},
      {"tls-key", 0, "FILE", ""},
      {"profile-path", 0, "DIRS", ""},
      {"no-migrate", 0, "", ""},
      {"port-file", 0, "FILE", ""}}},
    {"migrate", {}},
    {"admin", {{"admin", 0, "", ""}, {"worker", 0, "", ""}}},
    {"check-spec", {{"profile-path", 0, "DIRS", ""}}},
};
// Positionals after the command: admin's subcommand and user name
// (check-spec takes any number of files).
const std::map<std::string, size_t> kPositionals = {{"serve", 0}, {"migrate", 0}, {"admin", 2}};

int Fail(const std::string& message) {
  std::cerr << "hwnas-server: " << message << "\n";
  return 1;
}

std::string DatabaseFrom(const Args& args) {
  std::string db = args.GetOr("database", "");
  if (db.empty()) {
    if (const char* env = std::getenv("HWNAS_DATABASE"); env != nullptr) db = env;
  }
  return db;
}

int Admin(const Args& args) {
  const std::string& command = args.positionals[0];
  const std::string& name = args.positionals[1];
  const std::string database = DatabaseFrom(args);
  if (database.empty()) return Fail("no database: pass --database or set HWNAS_DATABASE");
  absl::StatusOr<std::unique_ptr<hwnas::db::Store>> store =
      hwnas::db::PostgresStore::Open({.connection_string = database, .pool_size = 1});
  if (!store.ok()) return Fail(std::string(store.status().message()));
  if (absl::Status s = (*store)->Migrate(); !s.ok()) return Fail(std::string(s.message()));
  absl::StatusOr<hwnas::User> user;
  if (command == "create-user") {
    user = (*store)->CreateUser(name, args.Has("admin"), args.Has("worker"));
  } else if (command == "issue-token" || command == "revoke-tokens") {
    user = (*store)->GetUser(name);
  } else {
    return Fail(absl::StrCat("unknown admin command '", command,
                             "' (expected create-user, issue-token or revoke-tokens)"));
  }
  if (!user.ok()) return Fail(std::string(user.status().message()));
  if (command == "revoke-tokens") {
    absl::StatusOr<int> revoked = (*store)->RevokeTokens(user->id);
    if (!revoked.ok()) return Fail(std::string(revoked.status().message()));
    std::cerr << "Revoked " << *revoked << " API token(s) of " << user->name << ".\n";
    return 0;
  }
  absl::StatusOr<std::string> token = (*store)->IssueToken(user->id);
  if (!token.ok()) return Fail(std::string(token.status().message()));
  std::cerr << "API token for " << user->name << (user->is_admin ? " (admin)" : "")
            << (user->is_worker ? " (worker)" : "")
            << ". It is shown once and stored only as a hash:\n";
  std::cout << *token << "\n";
  return 0;
}

// The flag, then $HWNAS_DASHBOARD_DIR, then the first default that holds a
// built app. A named directory without index.html fails at start-up.
std::string DashboardDir(const Args& args) {
  if (std::string dir = args.GetOr("dashboard-dir", ""); !dir.empty()) return dir;
  if (const char* env = std::getenv("HWNAS_DASHBOARD_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  for (const char* dir : {HWNAS_DASHBOARD_BUILD_DIR, "/usr/share/hwnas/dashboard"}) {
    if (std::ifstream(std::string(dir) + "/index.html").good()) return dir;
  }
  return "";
}

std::vector<std::string> ProfileSearchPath(const Args& args) {
  std::vector<std::string> path;
  if (std::string dirs = args.GetOr("profile-path", ""); !dirs.empty()) {
    path = absl::StrSplit(dirs, ':', absl::SkipEmpty());
  }
  return path;
}

// Exit 0 when every spec is valid, 2 when one is not, 1 when a file cannot be
// read. `hwnas local` runs this before it starts anything.
int CheckSpecs(const Args& args) {
  const std::vector<std::string> profile_path = ProfileSearchPath(args);
  int exit_code = 0;
  for (const std::string& file : args.positionals) {
    absl::StatusOr<std::string> text = hwnas::ReadWholeFile(file);
    if (!text.ok()) {
      std::cerr << "hwnas-server: " << text.status().message() << "\n";
      exit_code = std::max(exit_code, 1);
      continue;
    }
    absl::StatusOr<hwnas::spec::SearchSpec> spec =
        hwnas::server::SearchRuntime::CheckSpec(*text, profile_path);
    if (!spec.ok()) {
      std::cerr << file << ": " << spec.status().message() << "\n";
      exit_code = 2;
      continue;
    }
    std::cout << file << ": ok";
    if (const std::string& from = spec->controller.strategy.warm_start_from; !from.empty()) {
      // Which searches exist, and whose they are, only the database knows.
      std::cout << " (strategy.warm_start_from '" << from << "' is checked at submit)";
    }
    std::cout << "\n";
  }
  return exit_code;
}

// An integer flag of at least `min`, `def` when absent.
bool ParseInt(const Args& args, const std::string& name, int def, int min, int* out,
              std::string* error) {
  absl::StatusOr<std::optional<int64_t>> v = args.Int(name, min);
  if (!v.ok()) {
    *error = std::string(v.status().message());
    return false;
  }
  *out = v->has_value() ? static_cast<int>(**v) : def;
  return true;
}

int Serve(const Args& args) {
  hwnas::server::ServerOptions options;
  options.listen_address = args.GetOr("listen", options.listen_address);
  options.metrics_address = args.GetOr("metrics", "127.0.0.1:9470");
  if (absl::Status s = hwnas::CheckHostPort(options.listen_address, 0, "--listen"); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  if (!options.metrics_address.empty()) {
    if (absl::Status s = hwnas::CheckHostPort(options.metrics_address, 0, "--metrics"); !s.ok()) {
      return Fail(std::string(s.message()));
    }
    if (absl::StartsWith(options.metrics_address, "[") ||
        absl::StrContains(options.metrics_address, "://")) {
      return Fail(absl::StrCat("--metrics: '", options.metrics_address,
                               "': the metrics endpoint listens on IPv4 HOST:PORT only"));
    }
  }
  // gRPC reports 1 as the "port" of a Unix socket.
  const bool unix_socket = absl::StartsWith(options.listen_address, "unix");
  if (unix_socket && !args.GetOr("port-file", "").empty()) {
    return Fail("--port-file: a Unix socket (--listen unix:...) has no port to write");
  }
  options.database = DatabaseFrom(args);
  if (options.database.empty()) return Fail("no database: pass --database or set HWNAS_DATABASE");
  options.dashboard_dir = DashboardDir(args);
  options.tls_cert_file = args.GetOr("tls-cert", "");
  options.tls_key_file = args.GetOr("tls-key", "");
  options.migrate = !args.Has("no-migrate");
  std::string error;
  int ttl = 0;
  int max_running = 0;
  if (!ParseInt(args, "lease-ttl", 30, 1, &ttl, &error) ||
      !ParseInt(args, "max-attempts", 3, 1, &options.coordinator.max_attempts, &error) ||
      !ParseInt(args, "threads", 64, 1, &options.threads, &error) ||
      !ParseInt(args, "db-pool-size", 16, 1, &options.db_pool_size, &error) ||
      !ParseInt(args, "max-running-per-owner", 0, 0, &max_running, &error)) {
    return Fail(error);
  }
  options.coordinator.lease_ttl = absl::Seconds(ttl);
  options.coordinator.policy.max_running_per_owner = max_running;
  options.coordinator.profile_search_path = ProfileSearchPath(args);

  // A database host that drops packets would otherwise hold each connection
  // attempt for minutes (libpq waits for TCP): bound it, unless the
  // operator chose (PGCONNECT_TIMEOUT, or connect_timeout in the URI).
  setenv("PGCONNECT_TIMEOUT", "10", /*overwrite=*/0);

  // Signals are taken by a dedicated thread (sigwait) so shutdown runs in
  // ordinary code, not in a signal handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A peer that went away (a client, the /metrics scraper, a PostgreSQL
  // backend) must fail that one write with EPIPE, not end the process
  // silently, as SIGPIPE's default action would.
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<hwnas::server::HwnasServer>> server =
      hwnas::server::HwnasServer::Start(options);
  if (!server.ok()) return Fail(std::string(server.status().message()));
  const char* readiness = (*server)->ready() ? "" : " (not ready: waiting for the database)";
  if (unix_socket) {
    std::cerr << "hwnas-server: listening on " << options.listen_address << readiness << "\n";
  } else {
    std::cerr << "hwnas-server: listening on port " << (*server)->port() << readiness << "\n";
  }
  if (std::string port_file = args.GetOr("port-file", ""); !port_file.empty()) {
    FILE* f = std::fopen((port_file + ".tmp").c_str(), "w");
    if (f == nullptr) return Fail(absl::StrCat("cannot write ", port_file));
    std::fprintf(f, "%d\n", (*server)->port());
    std::fclose(f);
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  hwnas::server::HwnasServer* raw = server->get();
  std::thread waiter([raw, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("event=signal signal={}", sig);
    raw->Shutdown(absl::Seconds(5));
  });
  raw->Wait();
  waiter.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil is built with mutex deadlock detection on: it tracks
  // every lock in a graph (a few percent of the server's CPU). The tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc < 2) {
    std::cerr << kUsage;
    return 1;
  }
  const std::string command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  auto flags = kCommandFlags.find(command);
  if (flags == kCommandFlags.end()) {
    return Fail(absl::StrCat("unknown command '", command, "' (see hwnas-server --help)"));
  }
  absl::StatusOr<Args> args = hwnas::ParseFlags(flags->second, kCommonFlags,
                                                std::vector<std::string>(argv + 2, argv + argc),
                                                absl::StrCat("hwnas-server ", command));
  if (!args.ok()) return Fail(absl::StrCat(args.status().message(), " (see hwnas-server --help)"));
  if (args->help) {
    std::cout << kUsage;
    return 0;
  }
  if (command == "check-spec") {
    if (args->positionals.empty()) return Fail("check-spec needs a spec file (see --help)");
    if (absl::Status s = hwnas::InitLogging("warn"); !s.ok()) return Fail(std::string(s.message()));
    return CheckSpecs(*args);
  }
  const size_t wanted = kPositionals.at(command);
  if (args->positionals.size() > wanted) {
    return Fail(
        absl::StrCat("unexpected argument '", args->positionals[wanted], "' for '", command, "'"));
  }
  if (args->positionals.size() < wanted) {
    return Fail("admin needs a command and a user name (see --help)");
  }
  if (absl::Status s = hwnas::InitLogging(args->GetOr("log-level", "info")); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  if (command == "serve") return Serve(*args);
  if (command == "admin") return Admin(*args);
  if (command == "migrate") {
    const std::string database = DatabaseFrom(*args);
    if (database.empty()) return Fail("no database: pass --database or set HWNAS_DATABASE");
    absl::StatusOr<std::unique_ptr<hwnas::db::Store>> store =
        hwnas::db::PostgresStore::Open({.connection_string = database, .pool_size = 1});
    if (!store.ok()) return Fail(std::string(store.status().message()));
    if (absl::Status s = (*store)->Migrate(); !s.ok()) return Fail(std::string(s.message()));
    std::cerr << "hwnas-server: schema at version " << hwnas::db::Store::LatestSchemaVersion()
              << "\n";
    return 0;
  }
  return Fail(absl::StrCat("unknown command '", command, "' (see hwnas-server --help)"));
}

#include "common/local_postgres.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "common/subprocess.h"
#include "spdlog/spdlog.h"

namespace hwnas {
namespace fs = std::filesystem;
namespace {

constexpr char kSuperUser[] = "hwnas";

absl::StatusOr<std::string> ReadOrCreatePassword(const std::string& path) {
  if (std::ifstream in(path); in) {
    std::string password;
    std::getline(in, password);
    if (!password.empty()) return password;
  }
  std::random_device rd;
  std::string password;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) password.push_back(kHex[rd() % 16]);
  {
    std::ofstream out(path, std::ios::trunc);
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
    out << password << "\n";
  }
  chmod(path.c_str(), 0600);
  return password;
}

absl::Status Chown(const std::string& path, const passwd* user) {
  if (chown(path.c_str(), user->pw_uid, user->pw_gid) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot give ", path, " to user ", user->pw_name));
  }
  return absl::OkStatus();
}

}  // namespace

LocalPostgres::LocalPostgres(Options options) : options_(std::move(options)) {
  data_dir_ = absl::StrCat(options_.dir, "/pgdata");
  socket_dir_ = absl::StrCat(options_.dir, "/run");
  log_path_ = absl::StrCat(options_.dir, "/postgres.log");
}

LocalPostgres::~LocalPostgres() {
  if (running_) {
    if (absl::Status s = Stop(); !s.ok())
      spdlog::warn("event=postgres_stop_failed error=\"{}\"", s.ToString());
  }
}

absl::StatusOr<std::string> LocalPostgres::Tool(const std::string& name) const {
  std::string bin_dir = options_.bin_dir;
  if (bin_dir.empty()) {
    if (const char* env = std::getenv("HWNAS_PG_BINDIR"); env != nullptr) bin_dir = env;
  }
  if (bin_dir.empty()) {
    // Debian installs each major version under /usr/lib/postgresql/N/bin.
    std::vector<std::pair<int, std::string>> found;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
      int major = std::atoi(entry.path().filename().c_str());
      if (major > 0 && fs::exists(entry.path() / "bin" / "initdb")) {
        found.emplace_back(major, (entry.path() / "bin").string());
      }
    }
    if (found.empty()) {
      return absl::NotFoundError(
          "PostgreSQL server binaries not found under /usr/lib/postgresql (install the "
          "'postgresql' package, or set HWNAS_PG_BINDIR)");
    }
    bin_dir = std::max_element(found.begin(), found.end())->second;
  }
  std::string path = absl::StrCat(bin_dir, "/", name);
  if (access(path.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("PostgreSQL tool ", path, " is missing"));
  }
  return path;
}

absl::StatusOr<std::string> LocalPostgres::RunTool(std::vector<std::string> argv,
                                                   absl::Duration timeout) const {
  if (as_postgres_user_) argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
  HWNAS_ASSIGN_OR_RETURN(CommandResult result,
                         RunCommand(argv, {.timeout = timeout, .separate_stderr = true}));
  if (result.exit_code != 0) {
    // Tools print no secrets (the password travels in a file, and psql and
    // createdb use the socket with local trust), so their output is safe to
    // return.
    return absl::InternalError(absl::StrCat(
        fs::path(argv[as_postgres_user_ ? 4 : 0]).filename().string(), " failed (exit ",
        result.exit_code,
        "): ", absl::StripTrailingAsciiWhitespace(absl::StrCat(result.output, result.errors))));
  }
  return std::move(result.output);
}

absl::Status LocalPostgres::Init() {
  if (options_.dir.empty()) return absl::InvalidArgumentError("LocalPostgres: no directory given");
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", options_.dir, ": ", ec.message()));
  }
  fs::create_directories(socket_dir_, ec);
  chmod(options_.dir.c_str(), 0700);
  chmod(socket_dir_.c_str(), 0700);

  const passwd* postgres = nullptr;
  if (geteuid() == 0) {
    // PostgreSQL refuses to run as root: hand the directory to `postgres`.
    postgres = getpwnam("postgres");
    if (postgres == nullptr) {
      return absl::FailedPreconditionError(
          "running as root, but there is no 'postgres' user to run the cluster as (install "
          "the 'postgresql' package, or run as an ordinary user)");
    }
    as_postgres_user_ = true;
  }
  HWNAS_ASSIGN_OR_RETURN(password_, ReadOrCreatePassword(absl::StrCat(options_.dir, "/password")));
  if (postgres != nullptr) {
    for (const std::string& p :
         {options_.dir, socket_dir_, absl::StrCat(options_.dir, "/password")}) {
      HWNAS_RETURN_IF_ERROR(Chown(p, postgres));
    }
    if (fs::exists(log_path_)) HWNAS_RETURN_IF_ERROR(Chown(log_path_, postgres));
    // The postgres user must be able to reach the directory through its parents.
    HWNAS_ASSIGN_OR_RETURN(CommandResult probe, RunCommand({"runuser", "-u", "postgres", "--",
                                                            "test", "-w", options_.dir}));
    if (probe.exit_code != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the 'postgres' user cannot reach ", options_.dir,
          " (a parent directory is private, e.g. /root); choose a directory under /tmp, /var "
          "or /srv"));
    }
  }
  if (fs::exists(absl::StrCat(data_dir_, "/PG_VERSION"))) return absl::OkStatus();

  HWNAS_ASSIGN_OR_RETURN(std::string initdb, Tool("initdb"));
  spdlog::info("event=postgres_initdb dir={}", data_dir_);
  return RunTool({initdb, "-D", data_dir_, "-U", kSuperUser,
                  absl::StrCat("--pwfile=", options_.dir, "/password"), "--auth-host=scram-sha-256",
                  "--auth-local=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"},
                 absl::Minutes(3))
      .status();
}

absl::Status LocalPostgres::Start() {
  if (running_) return absl::OkStatus();
  HWNAS_RETURN_IF_ERROR(Init());
  HWNAS_ASSIGN_OR_RETURN(std::string pg_ctl, Tool("pg_ctl"));

  // A cluster left running by an earlier process that died (the postmaster
  // outlives it): adopt it rather than fail.
  const std::string pid_file = absl::StrCat(data_dir_, "/postmaster.pid");
  if (fs::exists(pid_file) &&
      RunTool({pg_ctl, "-D", data_dir_, "status"}, absl::Seconds(30)).ok()) {
    std::ifstream in(pid_file);
    std::string line;
    for (int i = 0; i < 4 && std::getline(in, line); ++i) {
    }
    if (int p = std::atoi(line.c_str()); p > 0) {
      port_ = p;
      running_ = true;
      spdlog::info("event=postgres_adopted dir={} port={}", data_dir_, port_);
      return CreateDatabase(options_.database);
    }
  }

  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    // A restarted cluster keeps its port when it can, so clients that
    // reconnect (a server riding out a database restart) find it again.
    if (options_.port != 0) {
      port_ = options_.port;
    } else if (port_ == 0 || attempt > 0) {
      HWNAS_ASSIGN_OR_RETURN(port_, PickFreePort());
    }
    std::string server_options =
        absl::StrCat("-p ", port_, " -k ", socket_dir_, " -c listen_addresses=127.0.0.1");
    // Autovacuum looks at each database every 5 s instead of every minute. A
    // new database's trials table grows from empty to thousands of rows in
    // that minute, and the prepared statements' cached plans, made while it
    // was empty, scan it sequentially until the first autoanalyze replaces
    // them.
    absl::StrAppend(&server_options, " -c autovacuum_naptime=5s");
    if (!options_.durable) {
      // Commits still reach the WAL before they are acknowledged, so a killed
      // server loses nothing; only the flush to disk is skipped.
      absl::StrAppend(&server_options, " -c fsync=off -c full_page_writes=off");
    }
    last = RunTool({pg_ctl, "-D", data_dir_, "-l", log_path_, "-w", "-t",
                    absl::StrCat(absl::ToInt64Seconds(options_.start_timeout)), "-o",
                    server_options, "start"},
                   options_.start_timeout + absl::Seconds(10))
               .status();
    if (last.ok()) break;
    // Another process may have taken the port between the probe and bind.
    if (options_.port != 0) break;
  }
  if (!last.ok()) {
    return absl::UnavailableError(absl::StrCat("could not start PostgreSQL in ", data_dir_, ": ",
                                               last.message(), " (see ", log_path_, ")"));
  }
  running_ = true;
  spdlog::info("event=postgres_started dir={} port={}", data_dir_, port_);
  return CreateDatabase(options_.database);
}

absl::Status LocalPostgres::Stop() {
  if (!running_) return absl::OkStatus();
  HWNAS_ASSIGN_OR_RETURN(std::string pg_ctl, Tool("pg_ctl"));
  running_ = false;
  return RunTool({pg_ctl, "-D", data_dir_, "-m", "fast", "-w", "-t", "60", "stop"},
                 absl::Seconds(90))
      .status();
}

absl::Status LocalPostgres::Kill() {
  if (!running_) return absl::OkStatus();
  HWNAS_ASSIGN_OR_RETURN(std::string pg_ctl, Tool("pg_ctl"));
  running_ = false;
  return RunTool({pg_ctl, "-D", data_dir_, "-m", "immediate", "-w", "-t", "60", "stop"},
                 absl::Seconds(90))
      .status();
}

std::string LocalPostgres::ConnectionString() const { return ConnectionString(options_.database); }

std::string LocalPostgres::ConnectionString(const std::string& database) const {
  return absl::StrCat("postgresql://", kSuperUser, ":", password_, "@127.0.0.1:", port_, "/",
                      database);
}

absl::StatusOr<std::vector<std::string>> LocalPostgres::DatabaseNames() const {
  HWNAS_ASSIGN_OR_RETURN(std::string psql, Tool("psql"));
  // Over the cluster's private socket, where initdb set local trust: no
  // password on a command line. -X: no ~/.psqlrc; -A -t: bare names.
  HWNAS_ASSIGN_OR_RETURN(
      std::string names,
      RunTool({psql, "-X", "-A", "-t", "-q", "-h", socket_dir_, "-p", absl::StrCat(port_), "-U",
               kSuperUser, "-d", "postgres", "-c", "SELECT datname FROM pg_database"},
              absl::Seconds(60)));
  return std::vector<std::string>(absl::StrSplit(names, '\n', absl::SkipEmpty()));
}

absl::Status LocalPostgres::CreateDatabase(const std::string& name) {
  auto exists = [&]() -> absl::StatusOr<bool> {
    HWNAS_ASSIGN_OR_RETURN(std::vector<std::string> names, DatabaseNames());
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  absl::StatusOr<bool> found = exists();
  if (found.ok() && *found) return absl::OkStatus();
  absl::Status created = found.status();
  if (created.ok()) {
    absl::StatusOr<std::string> createdb = Tool("createdb");
    // createdb quotes the name itself.
    created = createdb.ok() ? RunTool({*createdb, "-h", socket_dir_, "-p", absl::StrCat(port_),
                                       "-U", kSuperUser, "--", name},
                                      absl::Seconds(60))
                                  .status()
                            : createdb.status();
    // Another process may have created it in the meantime.
    if (!created.ok() && exists().value_or(false)) created = absl::OkStatus();
  }
  if (!created.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot create database '", name, "': ", created.message()));
  }
  return absl::OkStatus();
}

}  // namespace hwnas

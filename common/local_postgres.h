// A private PostgreSQL cluster in a directory of its own: created with initdb
// on first use, started on a free loopback port, stopped cleanly. Tests use it
// through a GoogleTest environment; `hwnas local` uses it as the embedded
// default store (the directory is kept, so a later run finds the same data).
//
// Works as root (the cluster runs as the `postgres` user, which owns the data
// directory) and as an ordinary user (the cluster runs as that user).
// Not thread-safe.
//
// Process management only: it drives PostgreSQL's own programs (initdb,
// pg_ctl, psql, createdb) and links no client library, so the CLI can start
// a cluster without libpqxx (which stays in db/).
#ifndef HWNAS_COMMON_LOCAL_POSTGRES_H_
#define HWNAS_COMMON_LOCAL_POSTGRES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hwnas {

class LocalPostgres {
 public:
  struct Options {
    // Directory holding the cluster ("pgdata"), its socket, log and password
    // file. Created if missing.
    std::string dir;
    std::string database = "hwnas";
    // Port on 127.0.0.1; 0 picks a free one at each start.
    int port = 0;
    // fsync off: much faster, still safe against process crashes (not OS
    // crashes). Tests turn this off; local searches keep it on.
    bool durable = true;
    // Directory with initdb, pg_ctl, psql and createdb; empty:
    // $HWNAS_PG_BINDIR, else the newest /usr/lib/postgresql/*/bin.
    std::string bin_dir;
    absl::Duration start_timeout = absl::Seconds(60);
  };

  explicit LocalPostgres(Options options);
  // Stops the cluster if this object started it.
  ~LocalPostgres();
  LocalPostgres(const LocalPostgres&) = delete;
  LocalPostgres& operator=(const LocalPostgres&) = delete;

  // Creates the cluster if needed, starts it and creates the database.
  absl::Status Start();
  // Fast shutdown: waits for sessions to be closed.
  absl::Status Stop();
  // Immediate shutdown, as after a crash (recovery runs at the next start).
  absl::Status Kill();
  bool running() const { return running_; }

  int port() const { return port_; }
  // "postgresql://hwnas:PASSWORD@127.0.0.1:PORT/DATABASE" — holds the
  // password: never log it unredacted.
  std::string ConnectionString() const;
  std::string ConnectionString(const std::string& database) const;
  // Creates another database in the cluster unless it exists (tests use one
  // per suite).
  absl::Status CreateDatabase(const std::string& name);
  const std::string& log_path() const { return log_path_; }

 private:
  absl::Status Init();
  absl::StatusOr<std::string> Tool(const std::string& name) const;
  // Runs a PostgreSQL tool, as the postgres user when we are root; its
  // output, or an error with it when the tool fails.
  absl::StatusOr<std::string> RunTool(std::vector<std::string> argv, absl::Duration timeout) const;
  // The names of the cluster's databases (psql over the private socket).
  absl::StatusOr<std::vector<std::string>> DatabaseNames() const;

  Options options_;
  std::string data_dir_;
  std::string socket_dir_;
  std::string log_path_;
  std::string password_;
  int port_ = 0;
  bool running_ = false;
  bool as_postgres_user_ = false;
};

}  // namespace hwnas

#endif  // HWNAS_COMMON_LOCAL_POSTGRES_H_

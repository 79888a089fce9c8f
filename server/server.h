// hwnas-server assembled: the store, the coordinator, both gRPC services,
// the standard health service, and the HTTP listener (/metrics, probes and
// the dashboard).
#ifndef HWNAS_SERVER_SERVER_H_
#define HWNAS_SERVER_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/coordinator.h"

namespace hwnas::server {

struct ServerOptions {
  std::string listen_address = "127.0.0.1:7470";  // Port 0 picks a free one.
  std::string database;                           // libpq connection string.
  int db_pool_size = 16;                          // --db-pool-size
  // Empty: no metrics endpoint. Port 0 picks a free one.
  std::string metrics_address = "127.0.0.1:0";
  // The built dashboard app served on the same HTTP listener (its JSON API is
  // always there); empty: API only. See docs/dashboard.md.
  std::string dashboard_dir;
  // TLS for the gRPC listener: both set, or neither (plain text).
  std::string tls_cert_file;
  std::string tls_key_file;
  bool migrate = true;  // Apply pending migrations at start-up.
  int threads = 64;     // Executor threads for handlers (they block on the store).
  // While the database cannot be opened and migrated at start-up, the server
  // listens but is not ready, and tries again after this delay, doubling up
  // to `database_retry_max`.
  absl::Duration database_retry_initial = absl::Milliseconds(250);
  absl::Duration database_retry_max = absl::Seconds(5);
  // How long Start() waits for the database before it returns a server that
  // is not ready yet (and keeps trying in the background).
  absl::Duration ready_wait = absl::Seconds(60);
  CoordinatorOptions coordinator;
};

class HwnasServer {
 public:
  // Starts listening (gRPC, and HTTP on `metrics_address`), then opens the
  // store (migrating, or refusing a newer schema), resumes running searches
  // and becomes ready. While the database is unreachable, refuses the login
  // or lacks the database, the server keeps trying with capped exponential
  // backoff and is not ready meanwhile: /healthz answers, /readyz answers
  // 503, the gRPC health service says NOT_SERVING and calls get UNAVAILABLE.
  // Returns once ready or after `ready_wait`; fails only for what retrying
  // cannot fix (a bad address, TLS files, a schema newer than this binary).
  static absl::StatusOr<std::unique_ptr<HwnasServer>> Start(ServerOptions options);
  ~HwnasServer();

  int port() const { return port_; }
  int metrics_port() const;
  // Whether the store is open and migrated and the searches resumed.
  bool ready() const;
  // Blocks until Shutdown() (from another thread or a signal handler thread).
  void Wait();
  // Stops accepting calls, answers parked long-polls, then stops.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

  Coordinator& coordinator();
  std::string RenderMetrics() const;

 private:
  struct Impl;
  explicit HwnasServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_SERVER_H_

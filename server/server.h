// hwnas-server assembled: the store, the coordinator, both gRPC services,
// the standard health service and the /metrics endpoint.
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
  // TLS for the gRPC listener: both set, or neither (plain text).
  std::string tls_cert_file;
  std::string tls_key_file;
  bool migrate = true;  // Apply pending migrations at start-up.
  int threads = 64;     // Executor threads for handlers (they block on the store).
  CoordinatorOptions coordinator;
};

class HwnasServer {
 public:
  // Opens the store (migrating or refusing a newer schema), resumes running
  // searches and starts listening.
  static absl::StatusOr<std::unique_ptr<HwnasServer>> Start(ServerOptions options);
  ~HwnasServer();

  int port() const { return port_; }
  int metrics_port() const;
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

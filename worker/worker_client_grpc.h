// WorkerClient over gRPC (hwnas.v1.WorkerService). The header is free of gRPC
// so that the rest of the worker never includes it.
#ifndef HWNAS_WORKER_WORKER_CLIENT_GRPC_H_
#define HWNAS_WORKER_WORKER_CLIENT_GRPC_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/worker_client.h"

namespace hwnas::worker {

struct GrpcWorkerClientOptions {
  std::string server = "127.0.0.1:7470";
  std::string token;    // Sent as "authorization: Bearer <token>" when set.
  std::string ca_file;  // Non-empty: TLS, trusting this CA bundle.
  // Deadline of every call but AcquireTrials (whose is its wait + 5 s).
  absl::Duration rpc_timeout = absl::Seconds(30);
};

// Opens a channel tuned to find a restarted server within about a second.
// Fails only when the CA file cannot be read; an unreachable server shows
// as UNAVAILABLE on the calls.
absl::StatusOr<std::unique_ptr<WorkerClient>> NewGrpcWorkerClient(
    const GrpcWorkerClientOptions& options);

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_WORKER_CLIENT_GRPC_H_

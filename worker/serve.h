// `hwnas-worker serve`: connects a worker to the server. Serve() wires the
// gRPC WorkerClient (worker/worker_client_grpc.h), the trial executor
// (TrialRunner for real training, the NAS-Bench-201 table for the `table`
// evaluator) and the data sets found on this machine (common/data_paths.h)
// into the serve loop (worker/serve_loop.h): register, long-poll, run while
// heartbeating, report with retries, reconnect with backoff, and on
// shutdown hand the current trial back to the queue.
#ifndef HWNAS_WORKER_SERVE_H_
#define HWNAS_WORKER_SERVE_H_

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace hwnas::worker {

struct ServeOptions {
  std::string server = "127.0.0.1:7470";
  std::string token;    // Worker token ("authorization: Bearer ...").
  std::string ca_file;  // Non-empty: TLS, trusting this CA bundle.
  std::string name;     // Stable worker name; default "<hostname>/<pid>".
  std::string device_tag;
  int threads = 1;
  std::string shared_data_dir;  // For data sets and the NB201 table.
  std::string table_path;       // NB201 table; default under the shared dir.
  std::vector<std::string> profile_search_path;
  absl::Duration acquire_wait = absl::Seconds(10);
  absl::Duration rpc_timeout = absl::Seconds(30);
  // Give up on a result report after this long of failed retries.
  absl::Duration report_patience = absl::Minutes(10);
  int max_trials = 0;  // Stop after this many trials (0: run until stopped).
  // Table trials per AcquireTrial, reported together with ReportResults
  // (the server hands out training trials one at a time regardless).
  int batch = 1;
  // `--measure-mcu cortex-m7,cortex-m4`: CPUs whose firmware this worker
  // builds (arm-none-eabi-gcc) and runs in QEMU for the measured costs of
  // searches that ask for them (spec hardware.targets[].measure). Advertised
  // in the capabilities; Serve checks the toolchain and QEMU first.
  std::vector<std::string> measure_mcus;
};

// Runs until `*stop` becomes true (then hands back a running trial and
// returns OK), or `max_trials` trials are done, or an error that retrying
// cannot fix (a rejected token). With measure_mcus: FailedPrecondition
// naming the Debian package before connecting when the cross toolchain or
// QEMU is missing, InvalidArgument naming an unknown CPU.
absl::Status Serve(const ServeOptions& options, const std::atomic<bool>* stop);

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_SERVE_H_

// A protocol-level fleet of zero-work workers for benchmarking hwnas-server:
// each is one thread with its own gRPC channel (its own TCP connection) that
// speaks the real WorkerService protocol exactly as `hwnas-worker serve` does
// for a table search — RegisterWorker, then AcquireTrial (long-poll) ->
// answer the trial from the NAS-Bench-201 table -> ReportResult (with
// `batch` > 1: up to that many trials per AcquireTrial, answered together
// in one ReportResults, as `hwnas-worker serve --batch`) — and records
// client-side latencies and every error. No LibTorch model, no training: the
// server and the store are what is measured.
//
// Thread-safe: Start/Stop from one thread; Snapshot from any.
#ifndef HWNAS_BENCH_SERVER_LOAD_GENERATOR_H_
#define HWNAS_BENCH_SERVER_LOAD_GENERATOR_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/nb201_table.h"

namespace hwnas::bench {

struct LoadGeneratorOptions {
  std::string target;        // "127.0.0.1:PORT"
  std::string worker_token;  // A --worker user's API token.
  std::shared_ptr<const controller::Nb201Table> table;
  absl::Duration acquire_wait = absl::Seconds(1);  // Long-poll per AcquireTrial.
  absl::Duration rpc_timeout = absl::Seconds(30);
  std::string name_prefix = "bench";  // Worker i registers as "<prefix>/<i>".
  int batch = 1;                      // AcquireTrial max_trials.
};

// What the fleet saw; latencies in microseconds.
struct FleetStats {
  std::vector<int64_t> acquire_us;  // AcquireTrial calls that returned a lease.
  std::vector<int64_t> report_us;   // ReportResult(s) calls (OK or not).
  int64_t leases = 0;               // Trials leased (several per call in batches).
  // Completion times of accepted, non-duplicate reports (absl::ToUnixMicros).
  std::vector<int64_t> finished_at_us;
  int64_t empty_polls = 0;  // AcquireTrial long-polls that ended without work.
  int64_t duplicates = 0;
  // "RPC CODE" -> count, and the first message of each.
  std::map<std::string, int64_t> errors;
  std::map<std::string, std::string> first_error;
  int64_t ErrorCount() const;
};

class LoadGenerator {
 public:
  explicit LoadGenerator(LoadGeneratorOptions options);
  ~LoadGenerator();  // Stops the fleet.
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  // Registers `workers` workers (in parallel) and starts their loops.
  // Fails if a registration fails.
  absl::Status Start(int workers);
  // Asks every worker to stop after its current trial (a worker holding a
  // lease always reports it) and joins them; bounded by acquire_wait plus a
  // report.
  void Stop();
  // Everything recorded since Start (copies).
  FleetStats Snapshot();
  // Accepted reports so far (cheap).
  int64_t finished() const { return finished_.load(); }

 private:
  struct Worker;
  void Run(Worker* w);

  const LoadGeneratorOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> finished_{0};
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
};

// Percentile p (0..100) of unsorted microsecond samples, by nearest rank
// (common/stats.h): a reported p99 is a latency some call really had. 0 for
// none.
double Percentile(const std::vector<int64_t>& values, double p);

}  // namespace hwnas::bench

#endif  // HWNAS_BENCH_SERVER_LOAD_GENERATOR_H_

// Server metrics in the Prometheus text format, served on /metrics by the
// server's HTTP listener (server/http_server.h). Thread-safe.
#ifndef HWNAS_SERVER_METRICS_H_
#define HWNAS_SERVER_METRICS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hwnas::server {

class Metrics {
 public:
  std::atomic<int64_t> trials_started{0};
  std::atomic<int64_t> trials_finished{0};
  std::atomic<int64_t> trials_failed{0};
  std::atomic<int64_t> trials_infeasible{0};
  std::atomic<int64_t> lease_expiries{0};
  std::atomic<int64_t> reports_duplicate{0};
  std::atomic<int64_t> completion_batches{0};  // Group commits of completions.
  std::atomic<int64_t> rpc_errors{0};

  // Time spent in one store call, by operation.
  void ObserveStore(const std::string& op, absl::Duration d);
  void SetQueueDepth(int64_t search_id, int64_t pending, int64_t running);
  void ForgetSearch(int64_t search_id);
  void SetWorkersAlive(int64_t n) { workers_alive_ = n; }
  // What the coordinator keeps in memory, to spot leaks: searches it runs,
  // strategy objects alive, leases it routes.
  void SetInMemory(int64_t running_searches, int64_t search_objects, int64_t leases) {
    running_searches_ = running_searches;
    search_objects_ = search_objects;
    leases_in_memory_ = leases;
  }

  // The exposition text (text/plain; version=0.0.4).
  std::string Render() const;

 private:
  struct Latency {
    double sum_seconds = 0;
    int64_t count = 0;
    // Cumulative bucket counts for le = 1ms, 5ms, 25ms, 100ms, 500ms, +Inf.
    int64_t buckets[6] = {0, 0, 0, 0, 0, 0};
  };
  mutable absl::Mutex mu_;
  std::map<std::string, Latency> store_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, std::pair<int64_t, int64_t>> queues_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> workers_alive_{0};
  std::atomic<int64_t> running_searches_{0};
  std::atomic<int64_t> search_objects_{0};
  std::atomic<int64_t> leases_in_memory_{0};
};

// Measures a store call: `auto t = StoreTimer(metrics, "lease");` records on
// destruction.
class StoreTimer {
 public:
  StoreTimer(Metrics* metrics, std::string op)
      : metrics_(metrics), op_(std::move(op)), start_(absl::Now()) {}
  ~StoreTimer() { metrics_->ObserveStore(op_, absl::Now() - start_); }

 private:
  Metrics* metrics_;
  std::string op_;
  absl::Time start_;
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_METRICS_H_

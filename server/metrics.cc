#include "server/metrics.h"

#include "absl/strings/str_cat.h"

namespace hwnas::server {
namespace {

constexpr double kBucketBounds[] = {0.001, 0.005, 0.025, 0.1, 0.5};
constexpr const char* kBucketLabels[] = {"0.001", "0.005", "0.025", "0.1", "0.5", "+Inf"};

void Counter(std::string* out, const char* name, const char* help, int64_t value) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n", name, " ",
                  value, "\n");
}

}  // namespace

void Metrics::ObserveStore(const std::string& op, absl::Duration d) {
  const double s = absl::ToDoubleSeconds(d);
  absl::MutexLock lock(&mu_);
  Latency& l = store_[op];
  l.sum_seconds += s;
  ++l.count;
  for (int i = 0; i < 6; ++i) {
    if (i == 5 || s <= kBucketBounds[i]) ++l.buckets[i];
  }
}

void Metrics::SetQueueDepth(int64_t search_id, int64_t pending, int64_t running) {
  absl::MutexLock lock(&mu_);
  queues_[search_id] = {pending, running};
}

void Metrics::ForgetSearch(int64_t search_id) {
  absl::MutexLock lock(&mu_);
  queues_.erase(search_id);
}

std::string Metrics::Render() const {
  std::string out;
  Counter(&out, "hwnas_trials_started_total", "Leases granted to workers.", trials_started);
  Counter(&out, "hwnas_trials_finished_total", "Trials that finished (any outcome).",
          trials_finished);
  Counter(&out, "hwnas_trials_failed_total", "Trials that failed for good.", trials_failed);
  Counter(&out, "hwnas_trials_infeasible_total", "Trials over a hard limit.", trials_infeasible);
  Counter(&out, "hwnas_lease_expiries_total", "Leases lost by workers that stopped heartbeating.",
          lease_expiries);
  Counter(&out, "hwnas_reports_duplicate_total", "Repeated reports answered from the store.",
          reports_duplicate);
  Counter(&out, "hwnas_completion_batches_total",
          "Transactions that stored completed trials (each for one or more reports).",
          completion_batches);
  Counter(&out, "hwnas_rpc_errors_total", "RPCs answered with an error.", rpc_errors);
  absl::StrAppend(&out,
                  "# HELP hwnas_workers_alive Workers heard from recently.\n"
                  "# TYPE hwnas_workers_alive gauge\nhwnas_workers_alive ",
                  workers_alive_.load(), "\n");
  absl::StrAppend(&out,
                  "# HELP hwnas_searches_running Searches the coordinator runs.\n"
                  "# TYPE hwnas_searches_running gauge\nhwnas_searches_running ",
                  running_searches_.load(), "\n",
                  "# HELP hwnas_search_objects Strategy objects alive in memory (should follow "
                  "hwnas_searches_running).\n"
                  "# TYPE hwnas_search_objects gauge\nhwnas_search_objects ",
                  search_objects_.load(), "\n",
                  "# HELP hwnas_leases_in_memory Leases the coordinator routes from memory.\n"
                  "# TYPE hwnas_leases_in_memory gauge\nhwnas_leases_in_memory ",
                  leases_in_memory_.load(), "\n");
  absl::MutexLock lock(&mu_);
  absl::StrAppend(&out,
                  "# HELP hwnas_queue_pending Pending trials per running search.\n"
                  "# TYPE hwnas_queue_pending gauge\n");
  for (const auto& [id, q] : queues_) {
    absl::StrAppend(&out, "hwnas_queue_pending{search=\"", id, "\"} ", q.first, "\n");
  }
  absl::StrAppend(&out,
                  "# HELP hwnas_queue_running Leased or running trials per running search.\n"
                  "# TYPE hwnas_queue_running gauge\n");
  for (const auto& [id, q] : queues_) {
    absl::StrAppend(&out, "hwnas_queue_running{search=\"", id, "\"} ", q.second, "\n");
  }
  absl::StrAppend(&out,
                  "# HELP hwnas_store_seconds Time spent in store calls.\n"
                  "# TYPE hwnas_store_seconds histogram\n");
  for (const auto& [op, l] : store_) {
    for (int i = 0; i < 6; ++i) {
      absl::StrAppend(&out, "hwnas_store_seconds_bucket{op=\"", op, "\",le=\"", kBucketLabels[i],
                      "\"} ", l.buckets[i], "\n");
    }
    absl::StrAppend(&out, "hwnas_store_seconds_sum{op=\"", op, "\"} ", l.sum_seconds, "\n",
                    "hwnas_store_seconds_count{op=\"", op, "\"} ", l.count, "\n");
  }
  return out;
}

}  // namespace hwnas::server

// The web dashboard's read-only queries (server/dashboard_api.h): trials
// filtered, sorted and paged by any metric, and the compact rows its Pareto
// and best-so-far charts need. Kept apart from db::Store so the store's own
// interface stays what the scheduler and services use; it opens its own
// small connection pool on the same database.
//
// A metric is any name MetricValue() knows ("accuracy", "latency_ms",
// "params", "latency_ms@cortex-m7"...) or "reward"; costs of 0 read as
// absent. Metric names never reach the SQL text: columns come from a fixed
// table and estimates are read with a bound parameter.
//
// Thread-safe: each call takes a connection from the pool for one statement.
#ifndef HWNAS_DB_DASHBOARD_QUERIES_H_
#define HWNAS_DB_DASHBOARD_QUERIES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/records.h"
#include "db/store.h"

namespace hwnas::db {

struct TrialFilter {
  int64_t search_id = 0;
  std::optional<TrialState> state;
  std::string metric;  // Empty: no range filter.
  std::optional<double> min;
  std::optional<double> max;
  std::string order_by;  // Empty or "number": by trial number; else a metric.
  bool descending = false;
  int page_size = 100;
  std::string page_token;
};

// One finished trial (any terminal state but CANCELLED) on two metrics.
struct TrialPoint {
  int64_t number = 0;
  TrialState state = TrialState::kUnspecified;
  std::optional<double> x;
  std::optional<double> y;
};

// Best-so-far: the finished trials (in finish order) at which a SUCCEEDED
// trial improved on every SUCCEEDED one before it.
struct BestStep {
  int64_t index = 0;  // 1-based position in finish order.
  int64_t number = 0;
  absl::Time finished_at = absl::UnixEpoch();
  double value = 0;
};

struct BestSoFarSeries {
  int64_t finished = 0;  // Finished trials (any terminal state but CANCELLED).
  absl::Time last_finished_at = absl::UnixEpoch();
  std::vector<BestStep> steps;
};

// What a request needs to know of a search before it reads its trials: who
// may see it, and what changes its finished trials (kept answers are
// keyed by these). One primary-key read; GetSearch also counts every trial.
struct SearchHead {
  int64_t owner_id = 0;
  SearchState state = SearchState::kUnspecified;
  // Finish sequence numbers taken so far: one more with every trial that
  // reaches a final state (db/migrations/0003_finish_counters.sql).
  int64_t finish_seq = 0;
  absl::Time created_at = absl::UnixEpoch();
};

// A SUCCEEDED trial's decisions (architecture tokens) and metric values, in
// the order the metrics were asked for.
struct TokenRow {
  std::vector<int> tokens;
  std::vector<std::optional<double>> values;
};

class DashboardQueries {
 public:
  // Connects on first use (the server may start before its database).
  DashboardQueries(std::string connection_string, int pool_size);
  ~DashboardQueries();
  DashboardQueries(const DashboardQueries&) = delete;
  DashboardQueries& operator=(const DashboardQueries&) = delete;

  // NOT_FOUND for a search that does not exist.
  absl::StatusOr<SearchHead> Head(int64_t search_id);
  // Trials of a search filtered by state and a metric range, ordered by
  // number or a metric (absent values last), paged. The records carry what a
  // table row shows (no tokens, lease or latency details: Store::GetTrial has
  // those). INVALID_ARGUMENT names an unknown metric or a bad page token;
  // NOT_FOUND for a search that does not exist.
  absl::StatusOr<Page<TrialRecord>> FilterTrials(const TrialFilter& filter);
  // Every finished trial of the search in finish order, with two metrics.
  absl::StatusOr<std::vector<TrialPoint>> FinishedPoints(int64_t search_id, absl::string_view x,
                                                         absl::string_view y);
  // The improvements only, found in the database (a window over the
  // finish-sequence index): what the best-so-far chart draws, without
  // sending every finished trial to the server.
  absl::StatusOr<BestSoFarSeries> BestSoFar(int64_t search_id, absl::string_view metric,
                                            bool maximize);
  // Every SUCCEEDED trial of the search with its tokens and up to 4 metrics
  // (INVALID_ARGUMENT past that or for an unknown metric).
  absl::StatusOr<std::vector<TokenRow>> SucceededTokens(int64_t search_id,
                                                        const std::vector<std::string>& metrics);

 private:
  class Pool;
  std::unique_ptr<Pool> pool_;
};

}  // namespace hwnas::db

#endif  // HWNAS_DB_DASHBOARD_QUERIES_H_

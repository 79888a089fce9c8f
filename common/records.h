// Stored searches, trials and workers as the rest of the system sees them.
// The store (db/) returns these; converters (proto/) turn them into API
// messages; the server's logic works on them.
#ifndef HWNAS_COMMON_RECORDS_H_
#define HWNAS_COMMON_RECORDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/trial.h"

namespace hwnas {

// Where a trial came from: the search's strategy, its owner's queue
// (`hwnas enqueue`: leased before the strategy's proposals) or results
// evaluated elsewhere (`hwnas import`: stored finished, never leased).
// kDnasJob: a dnas search's supernet job (one per search: trained on a
// worker, checkpointed every epoch); kDnas: an architecture that job found,
// trained stand-alone like any trial.
enum class TrialOrigin { kStrategy, kEnqueued, kImported, kDnasJob, kDnas };

// "strategy", "enqueued", "imported", "dnas_job", "dnas": the stored and
// displayed names.
inline absl::string_view TrialOriginName(TrialOrigin origin) {
  switch (origin) {
    case TrialOrigin::kEnqueued:
      return "enqueued";
    case TrialOrigin::kImported:
      return "imported";
    case TrialOrigin::kDnasJob:
      return "dnas_job";
    case TrialOrigin::kDnas:
      return "dnas";
    case TrialOrigin::kStrategy:
      break;
  }
  return "strategy";
}

// nullopt for a name TrialOriginName never gives.
inline std::optional<TrialOrigin> ParseTrialOrigin(absl::string_view name) {
  if (name == "strategy") return TrialOrigin::kStrategy;
  if (name == "enqueued") return TrialOrigin::kEnqueued;
  if (name == "imported") return TrialOrigin::kImported;
  if (name == "dnas_job") return TrialOrigin::kDnasJob;
  if (name == "dnas") return TrialOrigin::kDnas;
  return std::nullopt;
}

// Screening (spec `screen:`): kPending until the trial's screening lease
// reported and the rule decided, then kPassed (it trains) or kOut (ended
// EARLY_STOPPED, never trained). kNone: the search does not screen.
enum class ScreenStage { kNone, kPending, kPassed, kOut };

// "", "pending", "passed", "screened_out": the stored and displayed names.
inline absl::string_view ScreenStageName(ScreenStage stage) {
  switch (stage) {
    case ScreenStage::kPending:
      return "pending";
    case ScreenStage::kPassed:
      return "passed";
    case ScreenStage::kOut:
      return "screened_out";
    case ScreenStage::kNone:
      break;
  }
  return "";
}

// nullopt for a name ScreenStageName never gives.
inline std::optional<ScreenStage> ParseScreenStage(absl::string_view name) {
  if (name.empty()) return ScreenStage::kNone;
  if (name == "pending") return ScreenStage::kPending;
  if (name == "passed") return ScreenStage::kPassed;
  if (name == "screened_out") return ScreenStage::kOut;
  return std::nullopt;
}

struct TrialRecord {
  int64_t id = 0;  // Store-wide id.
  int64_t search_id = 0;
  int64_t number = 0;  // 1, 2, ... per search.
  Architecture architecture;
  uint64_t canonical_hash = 0;
  uint64_t proposal_id = 0;  // The strategy's proposal id (0: none).
  TrialState state = TrialState::kPending;
  int attempts = 0;
  std::string worker_id;  // Holder of the current or last lease.
  std::string lease_id;   // Current lease; empty when none.
  std::optional<absl::Time> lease_expires_at;
  std::optional<TrialResult> result;
  std::optional<double> reward;
  std::string failure_reason;
  std::vector<EpochMetrics> epochs;  // Filled only where asked for.
  absl::Time created_at = absl::UnixEpoch();
  std::optional<absl::Time> started_at;
  std::optional<absl::Time> finished_at;
  int64_t finish_seq = 0;  // Order of finishing within the search (0: not finished).
  TrialOrigin origin = TrialOrigin::kStrategy;
  // Multi-fidelity scheduling (spec `fidelity:`): the rung of the current or
  // last lease, the epochs it trains to (0: the spec's training.epochs) and
  // the Hyperband bracket (the rung the trial started on).
  int rung = 0;
  int epoch_target = 0;
  int bracket = 0;
  // Screening (spec `screen:`): the stage and, once screened, the proxy's
  // score (kept when the trial goes on to training).
  ScreenStage screen = ScreenStage::kNone;
  std::optional<double> screen_score;
};

// The order of a trial listing: by number, best reward or accuracy first, or
// lowest latency first. One enum for the API converters, the client and the
// store.
enum class TrialOrder { kNumber, kRewardDesc, kAccuracyDesc, kLatencyAsc };

struct TrialCounts {
  int64_t total = 0;
  int64_t pending = 0;
  int64_t running = 0;  // LEASED or RUNNING.
  int64_t succeeded = 0;
  int64_t failed = 0;
  int64_t infeasible = 0;
  int64_t early_stopped = 0;
  int64_t cancelled = 0;
  // Screened out by the spec's `screen:` (counted in early_stopped too).
  int64_t screened_out = 0;

  // Trials that count against the budget: every terminal state but
  // CANCELLED, less the screened-out ones (never trained).
  int64_t finished() const {
    return succeeded + failed + infeasible + early_stopped - screened_out;
  }

  // The counter a trial in `state` is counted in (`total` aside); nullptr for
  // kUnspecified.
  int64_t* CounterFor(TrialState state) {
    switch (state) {
      case TrialState::kPending:
        return &pending;
      case TrialState::kLeased:
      case TrialState::kRunning:
        return &running;
      case TrialState::kSucceeded:
        return &succeeded;
      case TrialState::kFailed:
        return &failed;
      case TrialState::kInfeasible:
        return &infeasible;
      case TrialState::kEarlyStopped:
        return &early_stopped;
      case TrialState::kCancelled:
        return &cancelled;
      case TrialState::kUnspecified:
        break;
    }
    return nullptr;
  }
};

// The counts the scheduler works from (see Store::CountQueue).
struct QueueCounts {
  int64_t pending = 0;
  int64_t running = 0;   // LEASED or RUNNING.
  int64_t finished = 0;  // As TrialCounts::finished().
};

struct SearchRecord {
  int64_t id = 0;
  std::string name;
  int64_t owner_id = 0;
  std::string owner;  // User name.
  SearchState state = SearchState::kRunning;
  std::string spec_yaml;
  std::string space;
  int64_t budget = 0;
  double weight = 1;
  uint64_t seed = 0;  // The strategy's seed.
  // The earlier search whose finished trials seeded the strategy; 0: none.
  int64_t warm_start_search_id = 0;
  TrialCounts counts;
  std::optional<TrialRecord> best_trial;
  std::string error;
  // Set by the server (never stored) on a RUNNING search that no connected
  // worker can run, saying why, e.g. "worker has no 'table' evaluator".
  std::string waiting;
  absl::Time created_at = absl::UnixEpoch();
  std::optional<absl::Time> finished_at;
};

struct WorkerRecord {
  std::string id;
  // The user (fleet identity) whose token registered it; only that user's
  // tokens may act as this worker. 0: registered before owners (unusable).
  int64_t owner_id = 0;
  std::string name;
  std::string device_kind;
  std::string device_tag;
  int threads = 0;
  bool gpu = false;
  std::vector<std::string> datasets;
  std::vector<std::string> search_spaces;
  std::vector<std::string> evaluators;
  std::string version;
  std::string hostname;
  // CPUs it measures firmware on (serve --measure-mcu). Sent at every
  // registration and kept by the scheduler's registry, not the store.
  std::vector<std::string> measure_mcus;
  absl::Time registered_at = absl::UnixEpoch();
  absl::Time last_heartbeat = absl::UnixEpoch();
};

struct User {
  int64_t id = 0;
  std::string name;
  bool is_admin = false;
  bool is_worker = false;  // A worker identity, allowed on WorkerService only.
};

}  // namespace hwnas

#endif  // HWNAS_COMMON_RECORDS_H_

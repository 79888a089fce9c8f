// The domain structs the coordinator's parts (SearchDirectory, LeaseBroker,
// ResultIntake) and its facade share: options, assignments, reports.
#ifndef HWNAS_SERVER_COORDINATOR_TYPES_H_
#define HWNAS_SERVER_COORDINATOR_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/message_limits.h"
#include "common/records.h"
#include "scheduler/policy.h"

namespace hwnas::server {

struct CoordinatorOptions {
  absl::Duration lease_ttl = absl::Seconds(30);
  int max_attempts = 3;  // Per trial, counting retryable failures and lost leases.
  scheduler::PolicyOptions policy;
  // Directories with MCU profiles for hardware targets named in specs.
  std::vector<std::string> profile_search_path;
  // How often expired leases are requeued and queues topped up (infinite:
  // never in the background; tests then call MaintenanceRound themselves).
  absl::Duration maintenance_interval = absl::Milliseconds(500);
  // A worker not heard from for this long no longer counts as capable.
  absl::Duration worker_alive = absl::Seconds(60);
};

// Everything a worker needs for one trial.
struct Assignment {
  std::string lease_id;
  absl::Time lease_expires_at;
  int64_t search_id = 0;
  int64_t trial_number = 0;
  Architecture architecture;
  std::string spec_yaml;
  int attempt = 0;
  uint64_t seed = 0;
  int epoch_target = 0;  // 0: the spec's training.epochs.
  int rung = 0;
  std::string resume_checkpoint;   // The trial's last rung's training state.
  bool checkpoint_wanted = false;  // Below the top rung: send the state back.
  std::string job;                 // "dnas": a supernet job (server/dnas_jobs.h).
  bool screen = false;             // Score with the spec's screen proxy only.
};

// One result in Coordinator::ReportResults.
struct ResultReport {
  std::string lease_id;
  TrialResult result;
  bool early_stopped = false;
  std::string checkpoint;  // Multi-fidelity: the trained state, for the next rung.
};

// Largest dnas job checkpoint the server stores (common/message_limits.h).
inline constexpr int64_t kDnasCheckpointMaxBytes = static_cast<int64_t>(kMaxCheckpointBytes);

// Most trials one AcquireTrial hands out, and most results one
// ReportResults takes.
inline constexpr int kMaxTrialsPerCall = 1024;

enum class ProgressAction { kContinue, kStopEarly, kCancelled };

struct ProgressAnswer {
  ProgressAction action = ProgressAction::kContinue;
  absl::Time lease_expires_at;
};

// A hard limit a trial misses, and by how much.
struct LimitMiss {
  std::string metric;
  double value = 0;
  double limit = 0;
  double excess = 0;  // (value - limit) / limit.
};

// An infeasible trial and the limits it misses (SearchDirectory::ParetoFront
// when nothing is feasible).
struct NearMiss {
  TrialRecord trial;
  std::vector<LimitMiss> misses;
  double total_excess = 0;  // Sum of the misses' excesses: the ranking.
};

struct ParetoAnswer {
  std::vector<TrialRecord> trials;
  std::vector<std::string> metrics;
  double hypervolume = 0;
  // Filled only when `trials` is empty: the least-violating infeasible
  // trials, best first.
  std::vector<NearMiss> least_violating;
};

// One architecture of `hwnas enqueue` / `hwnas import`: the space's readable
// form or a comma-separated token list, where it came from (for errors), and
// for an import its result.
struct GuidedTrial {
  std::string architecture;
  int line = 0;  // Source line; 0: unknown (errors then name the position).
  std::optional<TrialResult> result;
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_COORDINATOR_TYPES_H_

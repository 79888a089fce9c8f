// What a worker says to the server, on domain structs: the seam between the
// serve loop (worker/serve_loop.h, plain logic) and the transport. The gRPC
// implementation (worker/worker_client_grpc.h) is the only worker code that
// sees protobuf or gRPC; tests drive the loop through a fake.
#ifndef HWNAS_WORKER_WORKER_CLIENT_H_
#define HWNAS_WORKER_WORKER_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/records.h"
#include "common/trial.h"

namespace hwnas::worker {

// Everything a worker needs to run one trial.
struct TrialAssignment {
  int64_t search_id = 0;
  int64_t trial_number = 0;
  Architecture architecture;
  std::string spec_yaml;  // The search's whole spec.
  int attempt = 1;        // 1 for the first try.
  int64_t seed = 0;
  // Multi-fidelity: train to this many epochs of the schedule (0: all of
  // training.epochs), on this rung.
  int epoch_target = 0;
  int rung = 0;
  // The trial's training state from its last rung (empty: train from
  // scratch), and whether to send this rung's state back with the result.
  std::string resume_checkpoint;
  bool checkpoint_wanted = false;
  // Empty: a trial. "dnas": the search's supernet job (TrialExecutor::
  // RunDnasJob); `resume_checkpoint` is then the job's last stored epoch.
  std::string job;
  // Screening (spec `screen:`): score with the screen proxy, train nothing.
  bool screen = false;
};

// One trial handed to this worker; reports name the lease.
struct TrialLease {
  std::string lease_id;
  absl::Time expires_at = absl::InfinitePast();
  TrialAssignment assignment;
};

struct Registration {
  std::string worker_id;
  // The server's suggestion; nullopt: it made none.
  std::optional<absl::Duration> heartbeat_interval;
};

// The server's answer to a heartbeat.
enum class ProgressAction {
  kContinue,
  kStopEarly,  // Early-stopping rule: stop training and report the result.
  kCancelled,  // Search cancelled: stop and report nothing.
};

// The stored trial a result or failure report ended in (for the logs).
struct ReportAnswer {
  int64_t search_id = 0;
  int64_t trial_number = 0;
  TrialState state = TrialState::kUnspecified;
  bool duplicate = false;  // A retry: the first report's answer.
  bool requeued = false;   // Failures only: the trial went back to the queue.
};

struct LeaseResult {
  std::string lease_id;
  TrialResult result;
  bool early_stopped = false;
};

// One per LeaseResult, in order. Not OK: the server refused that one (a
// lease lost meanwhile is FAILED_PRECONDITION), the others still count.
struct LeaseResultAnswer {
  absl::Status status;
  bool duplicate = false;
};

// Thread-compatible except that ReportProgress may run on a heartbeat
// thread beside the loop's own calls: implementations are thread-safe.
// Every call returns canonical codes; UNAVAILABLE and DEADLINE_EXCEEDED mean
// the server did not answer (the loop retries those).
class WorkerClient {
 public:
  virtual ~WorkerClient() = default;

  // Announces this worker (`name`, what `capabilities` says it can run).
  // Ends early with CANCELLED once `*cancel` is set.
  virtual absl::StatusOr<Registration> Register(const std::string& name,
                                                const WorkerRecord& capabilities,
                                                const std::atomic<bool>* cancel) = 0;

  // Long-poll: waits up to `wait` for work; up to `max_trials` leases (the
  // server hands out more than one for table searches only). An empty
  // vector: no work came. Ends early with CANCELLED once `*cancel` is set.
  virtual absl::StatusOr<std::vector<TrialLease>> AcquireTrials(
      const std::string& worker_id, absl::Duration wait, int max_trials,
      const std::atomic<bool>* cancel) = 0;

  // Heartbeat (extends the lease), with an epoch's metrics when given.
  virtual absl::StatusOr<ProgressAction> ReportProgress(
      const std::string& worker_id, const std::string& lease_id,
      const std::optional<EpochMetrics>& metrics) = 0;

  // Idempotent per lease: a retry gets the first answer (duplicate).
  // `checkpoint`: the trained state when the assignment wanted it (else
  // empty), for the trial's next rung.
  virtual absl::StatusOr<ReportAnswer> ReportResult(const std::string& worker_id,
                                                    const std::string& lease_id,
                                                    const TrialResult& result, bool early_stopped,
                                                    const std::string& checkpoint) = 0;

  // A dnas job's epoch: its metrics and the job's whole state after it,
  // stored by the server before it answers (a heartbeat too).
  virtual absl::StatusOr<ProgressAction> ReportDnasEpoch(const std::string& worker_id,
                                                         const std::string& lease_id,
                                                         const EpochMetrics& metrics,
                                                         const std::string& checkpoint) {
    (void)worker_id, (void)lease_id, (void)metrics, (void)checkpoint;
    return absl::UnimplementedError("this client does not run dnas jobs");
  }
  // A dnas job's end: the architectures it found (readable), stored as
  // trials of origin dnas, then the job's result.
  virtual absl::StatusOr<ReportAnswer> ReportDnasResult(
      const std::string& worker_id, const std::string& lease_id, const TrialResult& result,
      const std::vector<std::string>& candidates) {
    (void)worker_id, (void)lease_id, (void)result, (void)candidates;
    return absl::UnimplementedError("this client does not run dnas jobs");
  }

  virtual absl::StatusOr<std::vector<LeaseResultAnswer>> ReportResults(
      const std::string& worker_id, const std::vector<LeaseResult>& results) = 0;

  // `retryable`: the trial goes back to the queue (until its attempts run
  // out) instead of failing. `partial`: what was measured before it failed.
  // `infeasible`: not a failure but over a hard limit found on the worker
  // (a measured firmware over the device's flash or SRAM); `reason` says by
  // how much and the trial ends INFEASIBLE.
  virtual absl::StatusOr<ReportAnswer> ReportFailure(const std::string& worker_id,
                                                     const std::string& lease_id,
                                                     const std::string& reason, bool retryable,
                                                     const std::optional<TrialResult>& partial,
                                                     bool infeasible) = 0;
};

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_WORKER_CLIENT_H_

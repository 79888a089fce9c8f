// The `hwnas-worker serve` loop as plain logic: register, long-poll for
// trials, run each through a TrialExecutor while heartbeating, report the
// result with retries (idempotent per lease), back off and reconnect while
// the server is away, and on shutdown hand the current trial back. It talks
// to the server only through WorkerClient and reads time only through the
// injected clock and sleep, so tests drive it in milliseconds.
#ifndef HWNAS_WORKER_SERVE_LOOP_H_
#define HWNAS_WORKER_SERVE_LOOP_H_

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/message_limits.h"
#include "common/records.h"
#include "common/trial.h"
#include "worker/worker_client.h"

namespace hwnas::worker {

// How a trial is evaluated: looked up (microseconds: no heartbeats, run
// even while stopping, batched) or trained.
enum class TrialKind { kLookup, kTraining };

struct TrainingOutcome {
  // kSucceeded; kEarlyStopped (the epoch callback said stop); kCancelled
  // (the interrupt flag was set); kFailed (result.error says why);
  // kInfeasible (trained, but over a limit measured on the worker, e.g. the
  // firmware's flash: result.error says by how much, the result keeps the
  // measured numbers).
  TrialState state = TrialState::kFailed;
  TrialResult result;
  // Multi-fidelity: this rung's training state when the assignment wanted it.
  std::string checkpoint;
};

// Called after each epoch; returns false to stop training at this epoch's
// end (the trial then ends kEarlyStopped, evaluated as it is).
using EpochCallback = std::function<bool(const EpochMetrics&)>;

// A dnas supernet job (TrialAssignment::job "dnas"): kSucceeded with the
// architectures it found (readable, most likely first); kCancelled when
// stopped (by the epoch callback or the interrupt flag); kFailed
// (result.error says why).
struct DnasOutcome {
  TrialState state = TrialState::kFailed;
  TrialResult result;
  std::vector<std::string> candidates;
};
// Called after each epoch of a dnas job with its metrics and the job's
// whole state after it; returns false to stop the job there.
using DnasEpochCallback = std::function<bool(const EpochMetrics&, const std::string& checkpoint)>;
// Largest dnas checkpoint the server stores (kDnasCheckpointMaxBytes there).
inline constexpr size_t kMaxDnasCheckpointBytes = kMaxCheckpointBytes;

// Runs trials for the loop: the table-or-train decision and the evaluation
// itself. One trial at a time, always from the loop's thread.
class TrialExecutor {
 public:
  virtual ~TrialExecutor() = default;
  virtual TrialKind KindOf(const TrialAssignment& assignment) = 0;
  // kLookup trials. An error fails the trial (not retryable).
  virtual absl::StatusOr<TrialResult> Lookup(const TrialAssignment& assignment) = 0;
  // kTraining trials. Stops between two batches once `*interrupt` is set
  // (another thread sets it: search cancelled, lease lost, shutdown).
  virtual TrainingOutcome Train(const TrialAssignment& assignment, const EpochCallback& epoch_done,
                                const std::atomic<bool>* interrupt) = 0;
  // A dnas supernet job, resumed from assignment.resume_checkpoint when it
  // has one. Stops between two batches once `*interrupt` is set.
  virtual DnasOutcome RunDnasJob(const TrialAssignment& assignment,
                                 const DnasEpochCallback& epoch_done,
                                 const std::atomic<bool>* interrupt) {
    (void)assignment, (void)epoch_done, (void)interrupt;
    DnasOutcome out;
    out.result.error = "this worker does not run dnas jobs";
    return out;
  }
};

// Retry timing: 100 ms doubling to 1 s between attempts. Capped low so a
// worker is back within about a second of a restarted server (or database)
// answering again: with batches the results it holds are on leases that
// expire while it waits, and their trials would run twice.
inline constexpr absl::Duration kFirstRetryDelay = absl::Milliseconds(100);
inline constexpr absl::Duration kMaxRetryDelay = absl::Seconds(1);
// Once asked to stop, reports are retried this much longer at most: an
// unreachable server requeues the trial when its lease expires, and a
// worker that ignores SIGTERM for minutes is worse.
inline constexpr absl::Duration kReportPatienceWhenStopping = absl::Seconds(10);
// A heartbeat is retried this long before the trial goes on without it.
inline constexpr absl::Duration kProgressPatience = absl::Seconds(20);
// Heartbeat period until the server suggests one, and the floor on its.
inline constexpr absl::Duration kDefaultHeartbeat = absl::Seconds(5);
inline constexpr absl::Duration kMinHeartbeat = absl::Milliseconds(200);
// Failure reasons longer than this are cut before they are sent.
inline constexpr size_t kMaxFailureReason = 4000;

struct ServeLoopOptions {
  std::string name;           // Registration name.
  WorkerRecord capabilities;  // What this worker advertises.
  std::string server;         // For log lines only.
  absl::Duration acquire_wait = absl::Seconds(10);
  // Give up on a result report after this long of failed retries.
  absl::Duration report_patience = absl::Minutes(10);
  int max_trials = 0;  // Stop after this many trials (0: run until stopped).
  int batch = 1;       // Lookup trials asked for per AcquireTrials.
  // Time: the real clock and absl::SleepFor unless a test injects others
  // (a fake sleep advances a FakeClock).
  const Clock* clock = &Clock::Real();
  std::function<void(absl::Duration)> sleep;
};

// Runs until `*stop` becomes true (then hands back a running trial and
// returns OK), or `max_trials` trials are done, or an error that retrying
// cannot fix (a rejected token). Retryable errors: UNAVAILABLE,
// DEADLINE_EXCEEDED, ABORTED, RESOURCE_EXHAUSTED, INTERNAL.
absl::Status RunServeLoop(WorkerClient& client, TrialExecutor& executor,
                          const ServeLoopOptions& options, const std::atomic<bool>* stop);

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_SERVE_LOOP_H_

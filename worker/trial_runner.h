// Runs one trial: build the network of an architecture, train it on real data,
// evaluate it on the held-out split, measure its latency and compute its
// hardware costs and estimates. No gRPC: the standalone `hwnas-worker
// evaluate` command and the server's worker loop both call TrialRunner.
// The header is torch-free; LibTorch stays inside the implementation.
#ifndef HWNAS_WORKER_TRIAL_RUNNER_H_
#define HWNAS_WORKER_TRIAL_RUNNER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/trial.h"
#include "hardware/targets.h"
#include "space/network_plan.h"
#include "space/search_space.h"
#include "spec/worker_spec.h"
#include "worker/datasets.h"
#include "worker/mcu_measure.h"

namespace hwnas::worker {

// The answer of a progress callback after each epoch.
enum class ProgressDecision { kContinue, kStop };

// Called after every epoch with "train_loss", "train_accuracy",
// "val_accuracy", "val_loss" (when there is a validation split), "lr",
// "epoch_seconds", "samples_per_s". Returning kStop ends training (early
// stopping or cancellation): the trial then ends as kEarlyStopped with the
// network evaluated as it is.
using ProgressCallback = std::function<ProgressDecision(const EpochMetrics&)>;

// Set from another thread to stop training now, between two batches rather
// than at the end of the epoch: the trial then ends kCancelled with no usable
// metrics. For a worker that must hand its trial back (SIGTERM) or drop it
// (search cancelled, lease lost) without waiting for a long epoch.
using InterruptFlag = std::atomic<bool>;

// Multi-fidelity (spec `fidelity:`): how far one lease of a trial trains and
// what it resumes from. The learning-rate schedule always spans
// training.epochs; a rung trains its first `epoch_target` epochs.
struct RungRun {
  // Screening (spec `screen:`): score the network with the screen proxy on
  // one batch, as a proxy evaluator does, and train nothing.
  bool screen = false;
  int epoch_target = 0;  // 0: all of training.epochs.
  // A checkpoint an earlier rung of this trial wrote (weights, optimizer
  // state, epochs and steps done); empty: train from scratch. One that does
  // not read back (corrupt, truncated, another architecture) is ignored: the
  // trial trains from scratch and `note` says why.
  std::string resume_from;
  // Not null: receives this rung's checkpoint after training succeeded.
  std::string* checkpoint_out = nullptr;
  // Out: "resumed from epoch 3" or why the checkpoint was not used.
  std::string note;
};

struct TrialOutcome {
  // kSucceeded, kEarlyStopped (the callback said stop), kCancelled (the
  // InterruptFlag was set), kFailed (result.error says why: NaN loss,
  // wall-clock limit, a LibTorch error, a failed firmware measurement...) or
  // kInfeasible (a measured firmware is over its target's flash or SRAM:
  // result.error says by how much, the result keeps everything measured).
  TrialState state = TrialState::kFailed;
  TrialResult result;
  std::vector<EpochMetrics> history;
  // Counts on the held-out split, confusion[true class][predicted class]
  // (empty when training did not get as far as evaluating).
  std::vector<std::vector<int64_t>> confusion;
};

// Latency measurement settings (from HardwareOptions).
struct LatencyOptions {
  int warmup = 10;
  int min_runs = 30;
  int max_runs = 500;
  int threads = 1;
  double budget_s = 5;
  // Stop adding runs once the median's robust standard error is below this
  // fraction of the median.
  double target_rel_error = 0.005;
};
LatencyOptions LatencyOptionsFrom(const HardwareOptions& hardware);

// Trains a freshly built network for `plan` and evaluates it. Fills
// accuracy, loss, train_seconds, epochs and error (not latency, costs or
// estimates). Deterministic for options.seed with options.threads == 1.
TrialOutcome TrainAndEvaluate(const space::NetworkPlan& plan, const DataSplits& data,
                              const TrainingOptions& options, const ProgressCallback& progress,
                              const InterruptFlag* interrupt = nullptr);

// Latency of an untrained network for `plan`: batch 1, eval mode, no grad,
// torch::set_num_threads(options.threads), warm-up, then timed runs until the
// median is stable (or max_runs / budget_s). Reports median, p90, runs,
// threads and the device ("<arch> cpu: <model name>").
absl::StatusOr<LatencyMeasurement> MeasureLatency(const space::NetworkPlan& plan,
                                                  const LatencyOptions& options);

struct Representation;  // worker/proxies.h

// A human-readable description of this machine's CPU, used as the device.
std::string HostDeviceName();

// The spec's estimation targets, loaded (MCU profiles and lookup tables).
using hardware::TargetSet;

struct RunnerOptions {
  std::string shared_data_dir;  // See ResolveDataPath; may be empty.
  // Profile search path for `mcu_profile` and `lut` names (default:
  // hardware's). Operator-configured (hwnas-worker --profile-path).
  std::vector<std::string> profile_search_path;
};

// Owns what a worker reuses across trials of one spec: the search space, the
// loaded data splits and the estimation targets. Not thread-safe: one trial
// at a time (LibTorch's thread count is process-global anyway).
class TrialRunner {
 public:
  // Parses nothing: `spec` is already validated. Loads the data (seconds for
  // Fashion-MNIST) and every target's profile or lookup table.
  static absl::StatusOr<std::unique_ptr<TrialRunner>> Create(WorkerSpec spec,
                                                             RunnerOptions options);
  ~TrialRunner();

  // Validates and lowers the tokens, then RunPlan. With `evaluator: {kind:
  // proxy}` in the spec, RunPlan scores the untrained network on one batch
  // instead of training it (see ScoreWithProxy).
  TrialOutcome Run(const Architecture& arch, const ProgressCallback& progress,
                   const InterruptFlag* interrupt = nullptr, RungRun* rung = nullptr);
  // Costs, estimates, training, evaluation and latency for a lowered plan;
  // for the spec's measured targets (hardware.targets[].measure) also the
  // trained network's firmware, measured in QEMU (MeasureTrainedNet).
  TrialOutcome RunPlan(const space::NetworkPlan& plan, const ProgressCallback& progress,
                       const InterruptFlag* interrupt = nullptr, RungRun* rung = nullptr);

  // Costs and per-target estimates without training (describe, feasibility).
  absl::StatusOr<TrialResult> StaticResult(const space::NetworkPlan& plan) const;

  const WorkerSpec& spec() const { return spec_; }
  const space::SearchSpace& space() const { return *space_; }
  const DataSplits& data() const { return *data_; }

 private:
  // RunPlan's training when spec.evaluation cross-validates: every fold,
  // summarized into one outcome (mean, standard error, per-fold values).
  TrialOutcome CrossValidated(const space::NetworkPlan& plan, const ProgressCallback& progress,
                              const InterruptFlag* interrupt);
  // RunPlan's evaluation for a proxy evaluator: the proxy's score on one
  // batch of the training split. result.accuracy (ACC in the reward) is the
  // score mapped monotonically into [0, 1] (ProxyAccuracy); the raw score and
  // the proxy's seconds are the estimates "proxy_score@<proxy>" and
  // "proxy_seconds@<proxy>"; train_seconds is the proxy's time, epochs 0.
  // `proxy`: the evaluator's options, or the screen's (spec `screen:`).
  TrialOutcome ScoreWithProxy(const space::NetworkPlan& plan, const spec::EvaluatorOptions& proxy);
  TrialRunner(WorkerSpec spec, std::unique_ptr<space::SearchSpace> space,
              std::unique_ptr<DataSplits> data, TargetSet targets,
              std::unique_ptr<Representation> reference);

  WorkerSpec spec_;
  std::unique_ptr<space::SearchSpace> space_;
  std::unique_ptr<DataSplits> data_;
  TargetSet targets_;
  std::vector<McuMeasureJob> measure_jobs_;  // The spec's measured targets.
  // The RMI reference model's output on the proxy batch (rmi only), loaded
  // once: every trial of the spec compares with the same one.
  std::unique_ptr<Representation> reference_;
};

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_TRIAL_RUNNER_H_

// Internal to worker/: the training entry point that also measures the
// latency of the trained network before it is freed. Torch-free header.
#ifndef HWNAS_WORKER_TRAINER_INTERNAL_H_
#define HWNAS_WORKER_TRAINER_INTERNAL_H_

#include <functional>

#include "worker/trial_runner.h"

namespace hwnas::worker {
class PlanNet;  // worker/plan_net.h
}  // namespace hwnas::worker

namespace hwnas::worker::internal {

// Receives the trained network (eval mode, quantization frozen) after a
// successful evaluation, e.g. to export it.
using TrainedNetHook = std::function<void(PlanNet&)>;

// TrainAndEvaluate, then (when `latency` is not null and training did not
// fail) MeasureLatency on the trained, quantization-frozen network. With
// `rung`, trains only to rung->epoch_target, resumes from rung->resume_from
// and writes rung->checkpoint_out (see RungRun).
TrialOutcome TrainEvaluateMeasure(const space::NetworkPlan& plan, const DataSplits& data,
                                  const TrainingOptions& options, const LatencyOptions* latency,
                                  const ProgressCallback& progress,
                                  const TrainedNetHook& on_trained = nullptr,
                                  const InterruptFlag* interrupt = nullptr,
                                  RungRun* rung = nullptr);

}  // namespace hwnas::worker::internal

#endif  // HWNAS_WORKER_TRAINER_INTERNAL_H_

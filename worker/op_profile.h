// Per-op latency of a network measured inside the whole network (batch 1,
// eval mode): what each op costs where it actually runs, with the caches and
// memory state of a real forward pass. Used to calibrate lookup tables.
// Torch-free header; implemented with the model builder.
#ifndef HWNAS_WORKER_OP_PROFILE_H_
#define HWNAS_WORKER_OP_PROFILE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "space/network_plan.h"

namespace hwnas::worker {

struct OpProfile {
  std::vector<double> op_ms;  // Median time of each plan op (0 for the input).
  double total_ms = 0;        // Median time of the whole forward pass.
  // Median of (forward time - sum of op times): the executor's own cost.
  double overhead_ms = 0;
};

// Runs `warmup` untimed and `runs` timed forward passes of an untrained
// network for `plan` on `threads` threads, timing every op.
absl::StatusOr<OpProfile> ProfileOps(const space::NetworkPlan& plan, int warmup, int runs,
                                     int threads);

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_OP_PROFILE_H_

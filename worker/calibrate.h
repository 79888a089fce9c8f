// Builds a per-op latency lookup table (hardware/latency_lut.h format) on
// this machine for every op type x shape a search space can produce, and
// checks how well the table predicts whole networks. Torch-free header.
#ifndef HWNAS_WORKER_CALIBRATE_H_
#define HWNAS_WORKER_CALIBRATE_H_

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hardware/latency_lut.h"
#include "space/search_space.h"
#include "worker/trial_runner.h"

namespace hwnas::worker {

struct CalibrateOptions {
  // Spaces with at most this many architectures are enumerated completely;
  // larger ones are sampled (`samples` random architectures) until their op
  // keys are collected.
  uint64_t enumerate_limit = 20000;
  int samples = 5000;
  uint64_t seed = 0;
  LatencyOptions latency;  // Per entry (threads are recorded in the table).
  // In-context timing: this many random architectures are run whole with
  // every op timed (`profile_runs` passes each); an entry is the median time
  // of its op inside those networks, which includes the cache and memory
  // state of a real forward pass. Ops no profiled network used are measured
  // alone. 0 = measure every op alone.
  int profile_archs = 200;
  int profile_runs = 15;
  // The first this-many profiled networks are also measured whole, as the
  // worker measures latency, to fit the table's scale (median of measured /
  // predicted). 0 = scale 1.
  int fit_archs = 30;
  // Called after each measured entry: (done, total, key).
  std::function<void(int, int, const std::string&)> progress;
};

// The distinct LUT ops of the space's architectures (see CalibrateOptions).
std::vector<hardware::LutOp> CollectSpaceOps(const space::SearchSpace& space,
                                             const CalibrateOptions& options,
                                             int* architectures_seen);

// Measures every op of the space (see CalibrateOptions::profile_archs). The
// table's base_ms is the executor's per-forward cost outside the ops; its
// scale is fitted on whole networks (CalibrateOptions::fit_archs).
absl::StatusOr<hardware::LatencyLut> CalibrateLut(const space::SearchSpace& space,
                                                  const CalibrateOptions& options);

// Prediction vs measurement for random architectures of the space.
struct LutCheck {
  struct Sample {
    std::string arch;  // Readable form.
    double predicted_ms = 0;
    double measured_ms = 0;
  };
  std::vector<Sample> samples;
  double within_10pct = 0;  // Share with |pred/meas - 1| <= 0.10.
  double within_20pct = 0;
  double spearman = 0;  // Rank correlation of predicted vs measured.
  double mean_abs_rel_error = 0;
};
absl::StatusOr<LutCheck> CheckLut(const space::SearchSpace& space, const hardware::LatencyLut& lut,
                                  int architectures, uint64_t seed, const LatencyOptions& latency,
                                  const std::function<void(int, int)>& progress = nullptr);

// Uniformly random valid token list of a space (retries invalid draws).
absl::StatusOr<std::vector<int>> RandomTokens(const space::SearchSpace& space,
                                              std::mt19937_64& rng);

// Spearman rank correlation (average ranks for ties).
double SpearmanCorrelation(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_CALIBRATE_H_

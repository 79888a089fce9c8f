// In-memory labelled data sets and their deterministic train/val/test splits,
// loaded from a DataConfig. Torch-free: samples are plain float arrays that
// the trainer wraps into tensors without copying.
#ifndef HWNAS_WORKER_DATASETS_H_
#define HWNAS_WORKER_DATASETS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "space/network_plan.h"
#include "spec/worker_spec.h"

namespace hwnas::worker {

// The worker's sections of the spec (data, training, hardware) are parsed by
// spec/; the worker uses them under its own names.
using spec::ApplyHardwareOptions;
using spec::DataConfig;
using spec::DatasetKind;
using spec::DataShapeFor;
using spec::EegLayout;
using spec::EvalSplit;
using spec::EvaluationOptions;
using spec::EvaluationSplit;
using spec::HardwareOptions;
using spec::LoadWorkerSpec;
using spec::LrSchedule;
using spec::MakeSpace;
using spec::Normalization;
using spec::OptimizerKind;
using spec::ParseWorkerSpec;
using spec::ResolveDataPath;
using spec::ResolveSharedDataDir;
using spec::TrainingOptions;
using spec::WorkerSpec;

// Samples stored one after another, each `sample_shape` (row-major).
struct Dataset {
  space::Shape sample_shape;
  int num_classes = 0;
  std::vector<float> features;
  std::vector<int64_t> labels;  // In [0, num_classes).
  // Per sample, the recording it came from (EEG: the run number), for
  // leave-one-session-out evaluation; empty when the data set has none.
  std::vector<int64_t> groups;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t sample_size() const { return space::NumElements(sample_shape); }
  const float* sample(int64_t i) const { return features.data() + i * sample_size(); }
  // Count of each class, e.g. to find the majority-class accuracy.
  std::vector<int64_t> ClassCounts() const;
};

struct DataSplits {
  Dataset train;
  Dataset val;
  Dataset test;
  std::string source;  // Where it came from, for logs and reports.
};

// EEG epochs around annotation events, before splitting. Exposed for tests
// and tools; LoadDataSplits uses it for the `eegmmidb` data set.
struct EegEpochs {
  Dataset data;                            // {C, T} or {1, C, T} samples.
  std::vector<std::string> channel_names;  // Normalized (e.g. "C3").
  int64_t skipped_events = 0;              // Windows that ran past the recording.
};
absl::StatusOr<EegEpochs> LoadEegEpochs(const DataConfig& config, const std::string& dir);

// Zero-phase band-pass (2nd-order high-pass + 2nd-order low-pass biquads,
// run forward and backward) of one continuous signal, in place.
void BandPass(std::vector<double>& signal, double sample_rate, double low_hz, double high_hz);

// Loads the configured data set and splits it deterministically by
// `config.seed`: Fashion-MNIST-style IDX sets use their test files for the
// test split and hold `val_fraction` of the training files out for
// validation; single-file sets (UCR, EEG) are split per class (stratified)
// by `test_fraction` and `val_fraction`. Subsets are taken after the split,
// so the validation set does not change with `train_subset`. Normalization
// statistics come from the training split only. Checks the loaded shape
// against DataShapeFor(config).
// `shared_dir`: the shared data directory (may be empty; see ResolveDataPath).
absl::StatusOr<DataSplits> LoadDataSplits(const DataConfig& config, absl::string_view shared_dir);

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_DATASETS_H_

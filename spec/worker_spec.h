// The worker's sections of a search spec (`data:`, `training:`, `hardware:`)
// as typed, validated structs, and the data shape a data config produces
// without loading any data. Torch-free: the server builds its SearchSpec
// from these without linking the trainer.
//
// A full spec file is accepted: these parsers read their own sections only
// and ignore the other top-level sections (`name`, `space`, `objectives`,
// `strategy`, `budget`), but reject unknown keys inside theirs. `evaluator`
// is read too: a proxy evaluator changes what a worker does with a trial.
#ifndef HWNAS_SPEC_WORKER_SPEC_H_
#define HWNAS_SPEC_WORKER_SPEC_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/yaml_fields.h"
#include "hardware/targets.h"
#include "space/network_plan.h"
#include "space/search_space.h"
#include "spec/evaluator.h"

namespace hwnas::spec {

enum class DatasetKind {
  kIdx,  // Gzipped (or plain) IDX image/label pairs: Fashion-MNIST, MNIST.
  kUcr,  // UCR archive text: label then samples, whitespace separated.
  kEeg,  // EDF+ recordings with T0/T1/T2 annotations (PhysioNet EEGMMIDB).
};

enum class Normalization {
  kNone,
  kChannel,  // Per channel, with mean/std of the training split.
  kSample,   // Per sample and channel (z-score of each window).
};

enum class EegLayout {
  kSeries,  // {channels, time}: 1-D convolutions / recurrent cells.
  kImage,   // {1, channels, time}: EEGNet-style 2-D convolutions.
};

// The spec's `data:` section.
struct DataConfig {
  // `dataset`: fashion_mnist | mnist | idx | ecg5000 | ucr | eegmmidb.
  std::string dataset;
  DatasetKind kind = DatasetKind::kIdx;
  // `path`: directory (idx, eeg) or file (ucr). Relative paths are resolved
  // against the shared data directory. Empty: the data set's default.
  std::string path;

  // Split sizes. 0 = everything available in that split.
  int64_t train_subset = 0;
  int64_t val_subset = 0;
  int64_t test_subset = 0;
  double val_fraction = 0.1;   // Of the training pool, held out for validation.
  double test_fraction = 0.2;  // Of a single-file pool (ucr, eeg), held out for test.
  uint64_t seed = 0;           // Drives the splits and the subsets.
  Normalization normalize = Normalization::kChannel;

  // The data shape: {C, H, W} (idx), {1, length} (ucr), {C, T} or
  // {1, C, T} (eeg). Checked against the files when they are loaded.
  space::Shape input_shape;
  int num_classes = 0;

  // idx: file names inside `path`.
  std::string train_images = "train-images-idx3-ubyte.gz";
  std::string train_labels = "train-labels-idx1-ubyte.gz";
  std::string test_images = "t10k-images-idx3-ubyte.gz";
  std::string test_labels = "t10k-labels-idx1-ubyte.gz";

  // eeg.
  std::string subject = "S001";
  std::vector<int64_t> runs = {4, 8, 12};
  std::vector<std::string> events = {"T1", "T2"};     // Class i = events[i].
  std::vector<std::string> channels;                  // Empty: every EEG channel.
  int eeg_channel_count = 64;                         // When `channels` is empty.
  double tmin = 0;                                    // Window start after onset (s).
  double tmax = 4;                                    // Window end after onset (s).
  double sample_rate = 160;                           // Expected rate of the files (Hz).
  std::optional<std::pair<double, double>> bandpass;  // Hz, zero-phase.
  int decimate = 1;
  EegLayout layout = EegLayout::kSeries;
};

enum class OptimizerKind { kSgd, kAdam };
enum class LrSchedule { kCosine, kStep, kConstant };
enum class EvalSplit { kVal, kTest };

// The spec's `training:` section.
struct TrainingOptions {
  OptimizerKind optimizer = OptimizerKind::kSgd;
  double lr = 0.05;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 0;
  LrSchedule schedule = LrSchedule::kCosine;
  int step_epochs = 1;  // kStep: multiply the rate by `gamma` every this many epochs.
  double gamma = 0.1;
  int epochs = 1;
  int batch_size = 64;
  int eval_batch_size = 256;
  int threads = 1;                         // torch::set_num_threads for training.
  double time_limit_s = 0;                 // Wall-clock limit of one trial; 0 = none.
  double grad_clip = 0;                    // Max global gradient norm; 0 = off.
  uint64_t seed = 0;                       // Weights, batch order, dropout.
  EvalSplit eval_split = EvalSplit::kVal;  // The split the result's accuracy is on.
};

// The spec's `hardware:` section.
// The CPUs whose firmware a worker can build and run in QEMU for measured
// costs (`hardware.targets[].measure`, `hwnas-worker serve --measure-mcu`).
inline constexpr std::array<absl::string_view, 2> kMeasurableMcus = {"cortex-m4", "cortex-m7"};
bool IsMeasurableMcu(absl::string_view cpu);

// The result keys a measured target adds, each as "<metric>@<target name>"
// beside the target's estimates ("latency_ms@m7", "feasible@m7", ...):
// flash of the firmware minus an empty one, SRAM (static data + bss + the
// stack high-water mark), instructions of one inference in QEMU (not
// cycles), and the int8 network's accuracy on the held-out split.
inline constexpr std::array<absl::string_view, 4> kMeasuredMcuMetrics = {
    "measured_flash_bytes", "measured_sram_bytes", "measured_instructions", "int8_accuracy"};

// The result key of `hardware.int8_accuracy` (a metric objectives and
// constraints can name, shown with `hwnas trial`).
inline constexpr absl::string_view kInt8AccuracyKey = "int8_accuracy@host";

// An MCU target whose costs are also measured on the trained network's
// firmware: `hardware.targets: [{name: m7, mcu_profile: cortex-m7,
// measure: cortex-m7}]`. Only workers started with --measure-mcu CPU get
// such a search's trials.
struct McuMeasureTarget {
  std::string target;  // The target's name (the "@m7" of the keys).
  std::string cpu;     // One of kMeasurableMcus: -mcpu and the QEMU board.
};

struct HardwareOptions {
  // Width activations are stored at on device, for costs and estimates. The
  // space's `activation_bits` sets it in the plan; this overrides it (both
  // set and different is an error).
  std::optional<int> activation_bits;
  bool measure_latency = true;
  int latency_min_runs = 30;   // `latency_runs`: at least this many timed runs...
  int latency_max_runs = 500;  // ...and at most this many, until the median is stable.
  int latency_warmup = 10;
  int latency_threads = 1;
  double latency_budget_s = 5;                  // Stop adding runs after this long.
  std::vector<hardware::TargetConfig> targets;  // Estimation targets.
  std::vector<McuMeasureTarget> measure_mcu;    // Targets also measured, in target order.
  // `hardware.int8_accuracy: true`: after training, the worker quantizes the
  // network as the MCU export does (int8 post-training quantization, worker/
  // mcu_quantize.h) and adds kInt8AccuracyKey, the host int8 reference's
  // accuracy on the split the trial's accuracy is on. Any worker can: no
  // toolchain or emulator.
  bool int8_accuracy = false;
};

// How a trained trial's accuracy is judged. kHoldout: the data section's
// validation split, once. kFolds: k-fold cross-validation of the training
// pool (train + val; test stays held out). kSession: leave one recording
// session (EEG run) out at a time.
enum class EvaluationSplit { kHoldout, kFolds, kSession };

// The spec's `evaluation:` section, e.g.
//   evaluation: {folds: 5, stratified: true, repeats: 1, seed: 0}
//   evaluation: {split: session}
// Absent: kHoldout. A cross-validated trial reports the mean accuracy over
// its folds, its standard error and every fold's value.
struct EvaluationOptions {
  EvaluationSplit split = EvaluationSplit::kHoldout;
  int folds = 5;
  bool stratified = true;
  int repeats = 1;
  uint64_t seed = 0;
  bool cross_validated() const { return split != EvaluationSplit::kHoldout; }
};

// The worker's view of a spec: its sections plus the `space:` section
// (kept as YAML; the space registry validates it).
struct WorkerSpec {
  std::string name;
  YamlSection space{YAML::Node(), "space"};
  DataConfig data;
  TrainingOptions training;
  HardwareOptions hardware;
  EvaluationOptions evaluation;
  // kTrain: train and evaluate; kProxy: score untrained with evaluator.proxy
  // (the worker then skips training); kTable specs never reach a TrialRunner.
  EvaluatorOptions evaluator;
  // `screen:` (kind train only): the proxy a screening lease scores with.
  ScreenOptions screen;
};

absl::StatusOr<DataConfig> ParseDataConfig(const YamlSection& data);
absl::StatusOr<TrainingOptions> ParseTrainingOptions(const YamlSection& training);
absl::StatusOr<HardwareOptions> ParseHardwareOptions(const YamlSection& hardware);
// Needs the parsed data and training sections: a session split needs EEG
// runs, and cross-validation judges on validation folds, never on test.
absl::StatusOr<EvaluationOptions> ParseEvaluationOptions(const YamlSection& evaluation,
                                                         const DataConfig& data,
                                                         const TrainingOptions& training);

// Parses the worker's sections of a whole spec document.
absl::StatusOr<WorkerSpec> ParseWorkerSpec(absl::string_view yaml_text);
// Reads and parses a spec file; errors name the file.
absl::StatusOr<WorkerSpec> LoadWorkerSpec(const std::string& path);

// The input shape and class count of a data config, without touching files.
space::DataShape DataShapeFor(const DataConfig& config);

// Creates the spec's search space for its data shape.
absl::StatusOr<std::unique_ptr<space::SearchSpace>> MakeSpace(const WorkerSpec& spec);

// hardware.activation_bits, when set, replaces the plan's.
space::NetworkPlan ApplyHardwareOptions(space::NetworkPlan plan, const HardwareOptions& hardware);

// The shared data directory: `flag_value` if not empty, else
// $HWNAS_SHARED_DATA, else an error that says how to set it.
absl::StatusOr<std::string> ResolveSharedDataDir(absl::string_view flag_value);

// Where a data config's files are: `config.path` (relative ones under
// `shared_dir`), else the data set's default location. Fashion-MNIST and
// MNIST default to Debian's /usr/share/datasets directories and need no
// shared directory.
absl::StatusOr<std::string> ResolveDataPath(const DataConfig& config, absl::string_view shared_dir);

}  // namespace hwnas::spec

#endif  // HWNAS_SPEC_WORKER_SPEC_H_

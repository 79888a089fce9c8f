#include "spec/worker_spec.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/data_paths.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/trial.h"
#include "space/registry.h"

namespace hwnas::spec {
namespace {

absl::Status FieldError(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
}

bool IsAbsolute(absl::string_view path) { return !path.empty() && path.front() == '/'; }

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  if (dir.empty() || IsAbsolute(name)) return std::string(name);
  if (dir.back() == '/') return absl::StrCat(dir, name);
  return absl::StrCat(dir, "/", name);
}

absl::StatusOr<Normalization> ParseNormalization(const YamlSection& s, Normalization def) {
  const char* def_name = def == Normalization::kNone      ? "none"
                         : def == Normalization::kChannel ? "channel"
                                                          : "sample";
  HWNAS_ASSIGN_OR_RETURN(std::string v,
                         s.Enum("normalize", {"none", "channel", "sample"}, std::string(def_name)));
  if (v == "none") return Normalization::kNone;
  if (v == "channel") return Normalization::kChannel;
  return Normalization::kSample;
}

absl::Status ParseIdx(const YamlSection& s, DataConfig& c) {
  HWNAS_RETURN_IF_ERROR(
      s.CheckKeys({"dataset", "path", "train_subset", "val_subset", "test_subset", "val_fraction",
                   "seed", "normalize", "input_shape", "classes", "train_images", "train_labels",
                   "test_images", "test_labels"}));
  HWNAS_ASSIGN_OR_RETURN(c.normalize, ParseNormalization(s, Normalization::kChannel));
  HWNAS_ASSIGN_OR_RETURN(std::vector<int64_t> shape,
                         s.IntList("input_shape", std::vector<int64_t>{1, 28, 28}, 1, 1 << 16));
  if (shape.size() != 3) {
    return FieldError(
        s.PathOf("input_shape"),
        absl::StrCat("must be [channels, height, width], got ", shape.size(), " numbers"));
  }
  c.input_shape = shape;
  HWNAS_ASSIGN_OR_RETURN(c.num_classes, s.Int("classes", 10, 2, 100000));
  HWNAS_ASSIGN_OR_RETURN(c.train_images, s.String("train_images", c.train_images));
  HWNAS_ASSIGN_OR_RETURN(c.train_labels, s.String("train_labels", c.train_labels));
  HWNAS_ASSIGN_OR_RETURN(c.test_images, s.String("test_images", c.test_images));
  HWNAS_ASSIGN_OR_RETURN(c.test_labels, s.String("test_labels", c.test_labels));
  return absl::OkStatus();
}

absl::Status ParseUcr(const YamlSection& s, DataConfig& c, bool preset) {
  HWNAS_RETURN_IF_ERROR(
      s.CheckKeys({"dataset", "path", "train_subset", "val_subset", "test_subset", "val_fraction",
                   "test_fraction", "seed", "normalize", "length", "classes"}));
  // UCR series usually come z-normalized per series; per-sample keeps that.
  HWNAS_ASSIGN_OR_RETURN(c.normalize, ParseNormalization(s, Normalization::kSample));
  HWNAS_ASSIGN_OR_RETURN(
      int64_t length,
      s.Int("length", preset ? std::optional<int64_t>(140) : std::nullopt, 1, 1 << 24));
  HWNAS_ASSIGN_OR_RETURN(
      c.num_classes,
      s.Int("classes", preset ? std::optional<int64_t>(5) : std::nullopt, 2, 100000));
  c.input_shape = {1, length};
  return absl::OkStatus();
}

absl::Status ParseEeg(const YamlSection& s, DataConfig& c) {
  HWNAS_RETURN_IF_ERROR(
      s.CheckKeys({"dataset",      "path",          "train_subset", "val_subset", "test_subset",
                   "val_fraction", "test_fraction", "seed",         "normalize",  "subject",
                   "runs",         "events",        "channels",     "tmin",       "tmax",
                   "sample_rate",  "bandpass",      "decimate",     "layout",     "eeg_channels"}));
  HWNAS_ASSIGN_OR_RETURN(c.normalize, ParseNormalization(s, Normalization::kSample));
  HWNAS_ASSIGN_OR_RETURN(c.subject, s.String("subject", c.subject));
  HWNAS_ASSIGN_OR_RETURN(c.runs, s.IntList("runs", c.runs, 1, 99));
  if (c.runs.empty()) return FieldError(s.PathOf("runs"), "must list at least one run");
  HWNAS_ASSIGN_OR_RETURN(c.events, s.StringList("events", c.events));
  if (c.events.size() < 2) {
    return FieldError(s.PathOf("events"),
                      "must list at least two annotation labels (one class each), e.g. [T1, T2]");
  }
  HWNAS_ASSIGN_OR_RETURN(c.channels, s.StringList("channels", std::vector<std::string>{}));
  HWNAS_ASSIGN_OR_RETURN(c.eeg_channel_count, s.Int("eeg_channels", 64, 1, 4096));
  HWNAS_ASSIGN_OR_RETURN(c.tmin, s.Double("tmin", 0.0, -60, 600));
  HWNAS_ASSIGN_OR_RETURN(c.tmax, s.Double("tmax", 4.0, -60, 600));
  if (c.tmax <= c.tmin) {
    return FieldError(s.PathOf("tmax"),
                      absl::StrCat("must be after tmin (", c.tmin, " s), got ", c.tmax, " s"));
  }
  HWNAS_ASSIGN_OR_RETURN(c.sample_rate, s.Double("sample_rate", 160.0, 1, 1e6));
  HWNAS_ASSIGN_OR_RETURN(c.decimate, s.Int("decimate", 1, 1, 64));
  if (s.Has("bandpass")) {
    YAML::Node band = s.node()["bandpass"];
    if (!band.IsSequence() || band.size() != 2) {
      return FieldError(s.PathOf("bandpass"), "must be [low_hz, high_hz], e.g. [8, 30]");
    }
    double lo = 0, hi = 0;
    try {
      lo = band[0].as<double>();
      hi = band[1].as<double>();
    } catch (const YAML::Exception&) {
      return FieldError(s.PathOf("bandpass"), "must be two numbers [low_hz, high_hz]");
    }
    if (!(lo > 0) || !(hi > lo) || !(hi < c.sample_rate / 2)) {
      return FieldError(s.PathOf("bandpass"),
                        absl::StrCat("needs 0 < low < high < sample_rate/2 (", c.sample_rate / 2,
                                     " Hz), got [", lo, ", ", hi, "]"));
    }
    c.bandpass = std::make_pair(lo, hi);
  }
  HWNAS_ASSIGN_OR_RETURN(std::string layout, s.Enum("layout", {"series", "image"}, "series"));
  c.layout = layout == "image" ? EegLayout::kImage : EegLayout::kSeries;
  const int64_t channels =
      c.channels.empty() ? c.eeg_channel_count : static_cast<int64_t>(c.channels.size());
  const int64_t samples = std::llround((c.tmax - c.tmin) * c.sample_rate) / c.decimate;
  if (samples < 1) {
    return FieldError(s.PathOf("tmax"), "the window holds no samples after decimation");
  }
  c.input_shape = c.layout == EegLayout::kImage ? space::Shape{1, channels, samples}
                                                : space::Shape{channels, samples};
  c.num_classes = static_cast<int>(c.events.size());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DataConfig> ParseDataConfig(const YamlSection& s) {
  HWNAS_RETURN_IF_ERROR(s.CheckIsMap());
  if (!s.present()) {
    return FieldError(s.path(),
                      "is required (e.g. data: {dataset: fashion_mnist, train_subset: 5000})");
  }
  DataConfig c;
  HWNAS_ASSIGN_OR_RETURN(
      c.dataset, s.Enum("dataset", {"fashion_mnist", "mnist", "idx", "ecg5000", "ucr", "eegmmidb"},
                        std::nullopt));
  if (c.dataset == "fashion_mnist" || c.dataset == "mnist" || c.dataset == "idx") {
    c.kind = DatasetKind::kIdx;
    HWNAS_RETURN_IF_ERROR(ParseIdx(s, c));
  } else if (c.dataset == "ecg5000" || c.dataset == "ucr") {
    c.kind = DatasetKind::kUcr;
    HWNAS_RETURN_IF_ERROR(ParseUcr(s, c, c.dataset == "ecg5000"));
  } else {
    c.kind = DatasetKind::kEeg;
    HWNAS_RETURN_IF_ERROR(ParseEeg(s, c));
  }
  if (c.dataset == "idx" && !s.Has("path")) {
    return FieldError(s.PathOf("path"), "is required for dataset 'idx' (the IDX directory)");
  }
  if (c.dataset == "ucr" && !s.Has("path")) {
    return FieldError(s.PathOf("path"), "is required for dataset 'ucr' (the UCR text file)");
  }
  HWNAS_ASSIGN_OR_RETURN(c.path, s.String("path", ""));
  constexpr int64_t kMax = int64_t{1} << 40;
  HWNAS_ASSIGN_OR_RETURN(c.train_subset, s.Int("train_subset", 0, 0, kMax));
  HWNAS_ASSIGN_OR_RETURN(c.val_subset, s.Int("val_subset", 0, 0, kMax));
  HWNAS_ASSIGN_OR_RETURN(c.test_subset, s.Int("test_subset", 0, 0, kMax));
  HWNAS_ASSIGN_OR_RETURN(c.val_fraction, s.Double("val_fraction", 0.1, 0.0, 0.9));
  if (c.kind != DatasetKind::kIdx) {
    HWNAS_ASSIGN_OR_RETURN(c.test_fraction, s.Double("test_fraction", 0.2, 0.0, 0.9));
    if (c.val_fraction + c.test_fraction >= 0.95) {
      return FieldError(s.PathOf("test_fraction"),
                        "val_fraction + test_fraction leave (almost) nothing to train on");
    }
  }
  HWNAS_ASSIGN_OR_RETURN(int64_t seed, s.Int("seed", 0, 0, INT64_MAX));
  c.seed = static_cast<uint64_t>(seed);
  return c;
}

absl::StatusOr<TrainingOptions> ParseTrainingOptions(const YamlSection& s) {
  HWNAS_RETURN_IF_ERROR(
      s.CheckKeys({"optimizer", "lr", "momentum", "nesterov", "weight_decay", "schedule",
                   "step_epochs", "gamma", "epochs", "batch_size", "eval_batch_size", "threads",
                   "time_limit_s", "grad_clip", "seed", "eval_split"}));
  TrainingOptions t;
  HWNAS_ASSIGN_OR_RETURN(std::string opt, s.Enum("optimizer", {"sgd", "adam"}, "sgd"));
  t.optimizer = opt == "adam" ? OptimizerKind::kAdam : OptimizerKind::kSgd;
  HWNAS_ASSIGN_OR_RETURN(
      t.lr, s.Double("lr", t.optimizer == OptimizerKind::kAdam ? 1e-3 : 0.05, 1e-8, 10));
  HWNAS_ASSIGN_OR_RETURN(t.momentum, s.Double("momentum", 0.9, 0, 0.999));
  HWNAS_ASSIGN_OR_RETURN(t.nesterov, s.Bool("nesterov", false));
  HWNAS_ASSIGN_OR_RETURN(t.weight_decay, s.Double("weight_decay", 0, 0, 1));
  HWNAS_ASSIGN_OR_RETURN(std::string sched,
                         s.Enum("schedule", {"cosine", "step", "constant"}, "cosine"));
  t.schedule = sched == "step"       ? LrSchedule::kStep
               : sched == "constant" ? LrSchedule::kConstant
                                     : LrSchedule::kCosine;
  HWNAS_ASSIGN_OR_RETURN(t.step_epochs, s.Int("step_epochs", 1, 1, 100000));
  HWNAS_ASSIGN_OR_RETURN(t.gamma, s.Double("gamma", 0.1, 0, 1));
  HWNAS_ASSIGN_OR_RETURN(t.epochs, s.Int("epochs", 1, 1, 100000));
  HWNAS_ASSIGN_OR_RETURN(t.batch_size, s.Int("batch_size", 64, 1, 1 << 16));
  HWNAS_ASSIGN_OR_RETURN(t.eval_batch_size, s.Int("eval_batch_size", 256, 1, 1 << 16));
  HWNAS_ASSIGN_OR_RETURN(t.threads, s.Int("threads", 1, 1, 1024));
  HWNAS_ASSIGN_OR_RETURN(t.time_limit_s, s.Double("time_limit_s", 0, 0, 1e7));
  HWNAS_ASSIGN_OR_RETURN(t.grad_clip, s.Double("grad_clip", 0, 0, 1e6));
  HWNAS_ASSIGN_OR_RETURN(int64_t seed, s.Int("seed", 0, 0, INT64_MAX));
  t.seed = static_cast<uint64_t>(seed);
  HWNAS_ASSIGN_OR_RETURN(std::string split, s.Enum("eval_split", {"val", "test"}, "val"));
  t.eval_split = split == "test" ? EvalSplit::kTest : EvalSplit::kVal;
  return t;
}

absl::StatusOr<HardwareOptions> ParseHardwareOptions(const YamlSection& s) {
  HWNAS_RETURN_IF_ERROR(s.CheckKeys({"activation_bits", "measure_latency", "latency_runs",
                                     "latency_max_runs", "latency_warmup", "latency_threads",
                                     "latency_budget_s", "targets", "int8_accuracy"}));
  HardwareOptions h;
  if (s.Has("activation_bits")) {
    HWNAS_ASSIGN_OR_RETURN(int64_t bits, s.Int("activation_bits", std::nullopt, 1, 32));
    if (bits != 32 && bits != 16 && bits != 8) {
      return FieldError(s.PathOf("activation_bits"),
                        absl::StrCat("must be 32, 16 or 8, got ", bits));
    }
    h.activation_bits = static_cast<int>(bits);
  }
  HWNAS_ASSIGN_OR_RETURN(h.measure_latency, s.Bool("measure_latency", true));
  HWNAS_ASSIGN_OR_RETURN(h.latency_min_runs, s.Int("latency_runs", 30, 1, 100000));
  HWNAS_ASSIGN_OR_RETURN(
      h.latency_max_runs,
      s.Int("latency_max_runs", std::max(500, h.latency_min_runs), h.latency_min_runs, 1000000));
  HWNAS_ASSIGN_OR_RETURN(h.latency_warmup, s.Int("latency_warmup", 10, 0, 100000));
  HWNAS_ASSIGN_OR_RETURN(h.latency_threads, s.Int("latency_threads", 1, 1, 1024));
  HWNAS_ASSIGN_OR_RETURN(h.latency_budget_s, s.Double("latency_budget_s", 5, 0.01, 3600));
  HWNAS_ASSIGN_OR_RETURN(h.int8_accuracy, s.Bool("int8_accuracy", false));
  if (s.Has("targets")) {
    YAML::Node list = s.node()["targets"];
    if (!list.IsSequence()) {
      return FieldError(s.PathOf("targets"), "must be a list of {name, mcu_profile | lut} entries");
    }
    for (size_t i = 0; i < list.size(); ++i) {
      YamlSection t(list[i], absl::StrCat(s.PathOf("targets"), "[", i, "]"));
      if (!list[i].IsMap())
        return FieldError(t.path(), "must be a mapping {name, mcu_profile | lut}");
      HWNAS_RETURN_IF_ERROR(t.CheckKeys({"name", "mcu_profile", "lut", "measure"}));
      hardware::TargetConfig target;
      HWNAS_ASSIGN_OR_RETURN(target.name, t.String("name", std::nullopt));
      if (t.Has("mcu_profile") && t.node()["mcu_profile"].IsMap()) {
        // The profile itself; hardware::ParseMcuProfile checks its fields
        // when the targets are loaded.
        target.mcu_profile_yaml = YAML::Dump(t.node()["mcu_profile"]);
      } else {
        HWNAS_ASSIGN_OR_RETURN(target.mcu_profile, t.String("mcu_profile", ""));
        if (!target.mcu_profile.empty() && !IsDeviceFileName(target.mcu_profile)) {
          return FieldError(
              t.PathOf("mcu_profile"),
              absl::StrCat("must be the name of an MCU profile on the profile path (e.g. "
                           "cortex-m7) or the profile itself as a mapping, got ",
                           QuoteValue(target.mcu_profile),
                           "; file paths are not accepted (operators add profile directories "
                           "with --profile-path)"));
        }
      }
      HWNAS_ASSIGN_OR_RETURN(target.lut, t.String("lut", ""));
      if (!target.lut.empty() && !IsDeviceFileName(target.lut)) {
        return FieldError(
            t.PathOf("lut"),
            absl::StrCat("must be the name of a latency lookup table (NAME.json in a profile "
                         "directory), got ",
                         QuoteValue(target.lut),
                         "; file paths are not accepted (operators add profile directories "
                         "with --profile-path)"));
      }
      if (target.name.empty() || target.name.find('@') != std::string::npos) {
        return FieldError(t.PathOf("name"), "must be a non-empty name without '@'");
      }
      const int sources =
          !target.mcu_profile.empty() + !target.mcu_profile_yaml.empty() + !target.lut.empty();
      if (sources != 1) {
        return FieldError(t.path(),
                          "needs exactly one of mcu_profile (a profile name, e.g. cortex-m7, or "
                          "the profile as a mapping) and lut (a lookup table name)");
      }
      for (const hardware::TargetConfig& other : h.targets) {
        if (other.name == target.name) {
          return FieldError(t.PathOf("name"),
                            absl::StrCat("duplicate target ", QuoteValue(target.name)));
        }
      }
      if (t.Has("measure")) {
        HWNAS_ASSIGN_OR_RETURN(std::string cpu, t.String("measure", std::nullopt));
        if (!IsMeasurableMcu(cpu)) {
          return FieldError(t.PathOf("measure"),
                            absl::StrCat("unknown CPU ", QuoteValue(cpu), " (expected one of: ",
                                         absl::StrJoin(kMeasurableMcus, ", "), ")"));
        }
        if (!target.lut.empty()) {
          return FieldError(t.PathOf("measure"),
                            "needs an mcu_profile target: a lut target has no flash or SRAM "
                            "limits to check the firmware against");
        }
        h.measure_mcu.push_back({target.name, cpu});
      }
      h.targets.push_back(std::move(target));
    }
  }
  return h;
}

bool IsMeasurableMcu(absl::string_view cpu) {
  return std::find(kMeasurableMcus.begin(), kMeasurableMcus.end(), cpu) != kMeasurableMcus.end();
}

absl::StatusOr<EvaluationOptions> ParseEvaluationOptions(const YamlSection& s,
                                                         const DataConfig& data,
                                                         const TrainingOptions& training) {
  EvaluationOptions e;
  if (!s.present()) return e;
  HWNAS_RETURN_IF_ERROR(s.CheckKeys({"split", "folds", "stratified", "repeats", "seed"}));
  HWNAS_ASSIGN_OR_RETURN(std::string split, s.Enum("split", {"folds", "session"}, "folds"));
  HWNAS_ASSIGN_OR_RETURN(int64_t seed, s.Int("seed", 0, 0, INT64_MAX));
  e.seed = static_cast<uint64_t>(seed);
  if (training.eval_split == EvalSplit::kTest) {
    return FieldError("training.eval_split",
                      "test cannot be combined with evaluation: cross-validation judges each "
                      "fold on its validation part (the test split stays held out)");
  }
  if (split == "session") {
    e.split = EvaluationSplit::kSession;
    for (const char* key : {"folds", "stratified", "repeats"}) {
      if (s.Has(key)) {
        return FieldError(s.PathOf(key),
                          "does not apply to split: session (one fold per recording run)");
      }
    }
    if (data.kind != DatasetKind::kEeg) {
      return FieldError(s.PathOf("split"),
                        absl::StrCat("session needs recording sessions (data.dataset: eegmmidb, "
                                     "whose runs are the sessions); data.dataset is ",
                                     QuoteValue(data.dataset)));
    }
    if (data.runs.size() < 2) {
      return FieldError(
          s.PathOf("split"),
          absl::StrCat("session needs at least 2 runs in data.runs, got ", data.runs.size()));
    }
    return e;
  }
  e.split = EvaluationSplit::kFolds;
  HWNAS_ASSIGN_OR_RETURN(int64_t folds, s.Int("folds", 5, INT64_MIN, INT64_MAX));
  if (folds < 2) {
    return FieldError(s.PathOf("folds"),
                      absl::StrCat("must be at least 2, got ", folds,
                                   " (leave evaluation: out for a single validation split)"));
  }
  if (folds > static_cast<int64_t>(kMaxFolds)) {
    return FieldError(s.PathOf("folds"),
                      absl::StrCat("must be at most ", kMaxFolds, ", got ", folds));
  }
  e.folds = static_cast<int>(folds);
  HWNAS_ASSIGN_OR_RETURN(e.stratified, s.Bool("stratified", true));
  HWNAS_ASSIGN_OR_RETURN(int64_t repeats, s.Int("repeats", 1, 1, 10));
  e.repeats = static_cast<int>(repeats);
  if (static_cast<size_t>(e.folds * e.repeats) > kMaxFolds) {
    return FieldError(s.PathOf("repeats"),
                      absl::StrCat("folds x repeats is ", e.folds * e.repeats, "; at most ",
                                   kMaxFolds, " trainings per trial"));
  }
  return e;
}

absl::StatusOr<WorkerSpec> ParseWorkerSpec(absl::string_view yaml_text) {
  HWNAS_ASSIGN_OR_RETURN(YamlSection root, YamlSection::Parse(yaml_text));
  if (!root.node().IsMap()) {
    return absl::InvalidArgumentError(
        "spec: must be a YAML mapping with sections such as "
        "name, space, data, training, hardware");
  }
  WorkerSpec spec;
  HWNAS_ASSIGN_OR_RETURN(spec.name, root.String("name", "unnamed"));
  HWNAS_ASSIGN_OR_RETURN(spec.space, root.Child("space"));
  if (!spec.space.present()) return FieldError("space", "is required (e.g. space: {name: nb201})");
  HWNAS_ASSIGN_OR_RETURN(YamlSection data, root.Child("data"));
  HWNAS_ASSIGN_OR_RETURN(spec.data, ParseDataConfig(data));
  HWNAS_ASSIGN_OR_RETURN(YamlSection training, root.Child("training"));
  HWNAS_ASSIGN_OR_RETURN(spec.training, ParseTrainingOptions(training));
  HWNAS_ASSIGN_OR_RETURN(YamlSection hardware, root.Child("hardware"));
  HWNAS_ASSIGN_OR_RETURN(spec.hardware, ParseHardwareOptions(hardware));
  HWNAS_ASSIGN_OR_RETURN(YamlSection evaluation, root.Child("evaluation"));
  HWNAS_ASSIGN_OR_RETURN(spec.evaluation,
                         ParseEvaluationOptions(evaluation, spec.data, spec.training));
  HWNAS_ASSIGN_OR_RETURN(YamlSection evaluator, root.Child("evaluator"));
  HWNAS_ASSIGN_OR_RETURN(spec.evaluator, ParseEvaluatorOptions(evaluator));
  if (root.Has("screen")) {
    HWNAS_ASSIGN_OR_RETURN(YamlSection screen, root.Child("screen"));
    HWNAS_ASSIGN_OR_RETURN(spec.screen, ParseScreenOptions(screen, spec.evaluator.kind));
  }
  if (!spec.hardware.measure_mcu.empty() && spec.evaluator.kind == EvaluatorKind::kProxy) {
    // A proxy trial trains nothing: there is no network worth deploying.
    return FieldError(
        "hardware.targets",
        absl::StrCat("measure (target ", QuoteValue(spec.hardware.measure_mcu.front().target),
                     ") needs a trained network; a proxy evaluator trains none"));
  }
  if (!spec.hardware.measure_mcu.empty() && spec.evaluation.cross_validated()) {
    // Cross-validation trains one network per fold; which one would be the
    // trial's firmware is not defined.
    return FieldError(
        "hardware.targets",
        absl::StrCat("measure (target ", QuoteValue(spec.hardware.measure_mcu.front().target),
                     ") needs one trained network per trial; it cannot be combined with "
                     "cross-validation (evaluation)"));
  }
  if (spec.hardware.int8_accuracy && spec.evaluator.kind == EvaluatorKind::kProxy) {
    return FieldError("hardware.int8_accuracy",
                      "needs a trained network to quantize; a proxy evaluator trains none");
  }
  if (spec.hardware.int8_accuracy && spec.evaluation.cross_validated()) {
    return FieldError("hardware.int8_accuracy",
                      "needs one trained network per trial; it cannot be combined with "
                      "cross-validation (evaluation)");
  }
  for (const McuMeasureTarget& m : spec.hardware.measure_mcu) {
    if (spec.hardware.int8_accuracy && m.target == "host") {
      // Its int8_accuracy@host would be the same key.
      return FieldError("hardware.targets",
                        "a measured target named \"host\" cannot be combined with "
                        "hardware.int8_accuracy (both report int8_accuracy@host)");
    }
  }
  if (spec.hardware.activation_bits && spec.space.Has("activation_bits")) {
    HWNAS_ASSIGN_OR_RETURN(int64_t space_bits, spec.space.Int("activation_bits", 32, 1, 32));
    if (space_bits != *spec.hardware.activation_bits) {
      return FieldError(
          "hardware.activation_bits",
          absl::StrCat(*spec.hardware.activation_bits, " contradicts space.activation_bits ",
                       space_bits, " (set one of them)"));
    }
  }
  return spec;
}

absl::StatusOr<WorkerSpec> LoadWorkerSpec(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the spec file"));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(text.str());
  if (!spec.ok()) {
    return absl::Status(spec.status().code(), absl::StrCat(path, ": ", spec.status().message()));
  }
  return spec;
}

space::DataShape DataShapeFor(const DataConfig& config) {
  space::DataShape shape;
  shape.input_shape = config.input_shape;
  shape.num_classes = config.num_classes;
  return shape;
}

absl::StatusOr<std::unique_ptr<space::SearchSpace>> MakeSpace(const WorkerSpec& spec) {
  return space::MakeSearchSpace(spec.space, DataShapeFor(spec.data));
}

space::NetworkPlan ApplyHardwareOptions(space::NetworkPlan plan, const HardwareOptions& hardware) {
  if (hardware.activation_bits) plan.activation_bits = *hardware.activation_bits;
  return plan;
}

absl::StatusOr<std::string> ResolveSharedDataDir(absl::string_view flag_value) {
  return RequireSharedDataDir(flag_value);
}

absl::StatusOr<std::string> ResolveDataPath(const DataConfig& config,
                                            absl::string_view shared_dir) {
  if (IsAbsolute(config.path)) return config.path;
  if (!config.path.empty()) return JoinPath(shared_dir, config.path);
  // The data set's default location (common/data_paths.h), under the
  // shared directory from $HWNAS_SHARED_DATA when none was given.
  std::string dir(shared_dir);
  if (dir.empty()) dir = SharedDataDirFromEnv().value_or("");
  return DataLocations(std::move(dir)).DefaultPath(config.dataset, config.subject);
}

}  // namespace hwnas::spec

#include "spec/search_spec.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "space/registry.h"
#include "yaml-cpp/yaml.h"

namespace hwnas::spec {
namespace {

// NAS-Bench-201 was trained on 32x32 colour images with 10 classes (CIFAR-10);
// the table evaluator needs no data section.
const space::DataShape kTableShape{{3, 32, 32}, 10};

// `fidelity:`, after the evaluator and the worker's sections it depends on.
absl::Status ParseFidelity(const YamlSection& root, SearchSpec& spec) {
  HWNAS_ASSIGN_OR_RETURN(YamlSection f, root.Child("fidelity"));
  if (!f.present()) return absl::OkStatus();
  HWNAS_RETURN_IF_ERROR(f.CheckIsMap());
  HWNAS_ASSIGN_OR_RETURN(std::string kind, f.Enum("kind", {"none", "asha", "hyperband"}, "none"));
  scheduler::FidelityOptions& o = spec.fidelity;
  if (kind == "none") {
    HWNAS_RETURN_IF_ERROR(f.CheckKeys({"kind"}));
    o = scheduler::FidelityOptions{};
    return absl::OkStatus();
  }
  o.kind = kind == "asha" ? scheduler::FidelityKind::kAsha : scheduler::FidelityKind::kHyperband;
  HWNAS_RETURN_IF_ERROR(f.CheckKeys(
      o.kind == scheduler::FidelityKind::kHyperband
          ? std::vector<std::string>{"kind", "resource", "min", "max", "eta", "brackets",
                                     "checkpoint_mib"}
          : std::vector<std::string>{"kind", "resource", "min", "max", "eta", "checkpoint_mib"}));
  HWNAS_ASSIGN_OR_RETURN(std::string resource, f.Enum("resource", {"epochs"}, "epochs"));
  const EvaluatorKind evaluator = spec.controller.evaluator.kind;
  if (evaluator != EvaluatorKind::kTrain || !spec.worker) {
    return absl::InvalidArgumentError(absl::StrCat(
        f.PathOf("resource"), ": the ", EvaluatorKindName(evaluator), " evaluator has no ",
        resource, " (",
        evaluator == EvaluatorKind::kTable ? "it looks accuracies up"
                                           : "it scores untrained networks on one batch",
        "); multi-fidelity scheduling needs evaluator kind train"));
  }
  if (spec.worker->evaluation.cross_validated()) {
    // A cross-validated trial trains one network per fold: there is no one
    // set of weights to resume on the next rung.
    return absl::InvalidArgumentError(
        absl::StrCat(f.PathOf("kind"), ": ", kind,
                     " resumes one network per trial; it cannot be combined with "
                     "cross-validation (evaluation: folds or split: session)"));
  }
  HWNAS_ASSIGN_OR_RETURN(int64_t min, f.Int("min", 1, 1, 100000));
  if (!f.Has("max")) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.PathOf("max"), ": is required (the epochs of the top rung)"));
  }
  HWNAS_ASSIGN_OR_RETURN(int64_t max, f.Int("max", std::nullopt, 1, 100000));
  if (max < min) {
    return absl::InvalidArgumentError(absl::StrCat(f.PathOf("max"), ": must be at least ",
                                                   f.PathOf("min"), " (", min, "), got ", max));
  }
  if (f.Has("eta")) {
    // Named here rather than by Int's range message: eta < 2 promotes
    // everyone (1) or divides by zero (0).
    HWNAS_ASSIGN_OR_RETURN(int64_t eta, f.Int("eta", 3, INT64_MIN, INT64_MAX));
    if (eta < 2 || eta > 1000) {
      return absl::InvalidArgumentError(absl::StrCat(
          f.PathOf("eta"), ": must be between 2 and 1000 (each rung keeps 1/eta), got ", eta));
    }
    o.eta = static_cast<int>(eta);
  }
  const int epochs = spec.worker->training.epochs;
  if (max > epochs) {
    return absl::InvalidArgumentError(absl::StrCat(
        f.PathOf("max"), ": ", max, " is above training.epochs (", epochs,
        "): the learning-rate schedule spans training.epochs, so set training.epochs to at least ",
        max));
  }
  o.min = static_cast<int>(min);
  o.max = static_cast<int>(max);
  HWNAS_ASSIGN_OR_RETURN(int64_t mib, f.Int("checkpoint_mib", 256, 1, 1 << 20));
  o.checkpoint_limit_bytes = mib << 20;
  if (o.kind == scheduler::FidelityKind::kHyperband) {
    const int rungs = static_cast<int>(scheduler::RungEpochs(o).size());
    HWNAS_ASSIGN_OR_RETURN(int64_t brackets, f.Int("brackets", 0, 0, 1000));
    if (brackets > rungs) {
      return absl::InvalidArgumentError(absl::StrCat(
          f.PathOf("brackets"), ": at most one bracket per rung (", rungs, " rungs for min ", min,
          ", max ", max, ", eta ", o.eta, "), got ", brackets));
    }
    o.brackets = static_cast<int>(brackets);
  }
  return absl::OkStatus();
}

absl::StatusOr<SearchSpec> ParseUnguarded(absl::string_view yaml) {
  if (yaml.size() > (1 << 20)) return absl::InvalidArgumentError("spec is larger than 1 MiB");
  HWNAS_ASSIGN_OR_RETURN(YamlSection root, YamlSection::Parse(yaml));
  if (!root.present() || !root.node().IsMap()) {
    return absl::InvalidArgumentError("spec: must be a YAML mapping with name, space, ... keys");
  }
  HWNAS_RETURN_IF_ERROR(root.CheckKeys(
      {"name", "description", "space", "data", "training", "evaluation", "hardware", "objectives",
       "strategy", "budget", "evaluator", "early_stopping", "scheduling", "fidelity", "screen"}));
  SearchSpec spec;
  spec.yaml = std::string(yaml);
  spec.root = root;
  HWNAS_ASSIGN_OR_RETURN(spec.name, root.String("name", std::nullopt));
  if (spec.name.empty() || spec.name.size() > 128) {
    return absl::InvalidArgumentError("name: must be 1 to 128 characters");
  }
  HWNAS_ASSIGN_OR_RETURN(YamlSection space, root.Child("space"));
  if (!space.present()) return absl::InvalidArgumentError("space: is required");
  HWNAS_ASSIGN_OR_RETURN(spec.space_name, space.String("name", std::nullopt));
  // Checked first: every other section's meaning depends on the space.
  const std::vector<std::string> spaces = space::SearchSpaceNames();
  if (std::find(spaces.begin(), spaces.end(), spec.space_name) == spaces.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("space.name: unknown search space ", QuoteValue(spec.space_name),
                     " (expected one of: ", absl::StrJoin(spaces, ", "), ")"));
  }
  HWNAS_ASSIGN_OR_RETURN(spec.controller, ParseControllerSpec(root, spec.space_name));

  const EvaluatorKind evaluator = spec.controller.evaluator.kind;
  spec.requirements.evaluator = std::string(EvaluatorKindName(evaluator));
  if (spec.controller.strategy.name == "dnas") {
    if (evaluator != EvaluatorKind::kTrain) {
      return absl::InvalidArgumentError(
          absl::StrCat("evaluator.kind: strategy dnas trains a supernet on the spec's data and its "
                       "architectures stand-alone; it needs kind train, not ",
                       EvaluatorKindName(evaluator)));
    }
    // Only workers that run the supernet job (serve advertises "dnas") get
    // this search's job and its trials.
    spec.requirements.evaluator = "dnas";
  }
  if (evaluator == EvaluatorKind::kProxy && root.Has("evaluation")) {
    return absl::InvalidArgumentError(
        "evaluation: applies to trained trials (evaluator kind train); a proxy scores one "
        "batch of the training split and has no held-out folds");
  }
  if (evaluator == EvaluatorKind::kTrain || evaluator == EvaluatorKind::kProxy) {
    // A proxy needs the same data and space as training (one real batch).
    HWNAS_ASSIGN_OR_RETURN(WorkerSpec worker, ParseWorkerSpec(yaml));
    spec.data_shape = DataShapeFor(worker.data);
    spec.requirements.dataset = worker.data.dataset;
    // Only workers that measure these CPUs (serve --measure-mcu) get trials.
    for (const McuMeasureTarget& m : worker.hardware.measure_mcu) {
      std::vector<std::string>& cpus = spec.requirements.measure_mcus;
      if (std::find(cpus.begin(), cpus.end(), m.cpu) == cpus.end()) cpus.push_back(m.cpu);
    }
    spec.worker = std::move(worker);
  } else {
    if (root.Has("evaluation")) {
      return absl::InvalidArgumentError(
          "evaluation: applies to trained trials (evaluator kind train); the table evaluator "
          "looks accuracies up");
    }
    HWNAS_ASSIGN_OR_RETURN(YamlSection hardware, root.Child("hardware"));
    if (hardware.present() && hardware.Has("int8_accuracy")) {
      HWNAS_ASSIGN_OR_RETURN(bool int8, hardware.Bool("int8_accuracy", false));
      if (int8) {
        return absl::InvalidArgumentError(
            "hardware.int8_accuracy: needs a trained network to quantize; the table evaluator "
            "looks accuracies up");
      }
    }
    spec.data_shape = kTableShape;
    spec.requirements.dataset = kTableDataset;
  }
  spec.requirements.space = spec.space_name;

  HWNAS_ASSIGN_OR_RETURN(YamlSection scheduling, root.Child("scheduling"));
  HWNAS_RETURN_IF_ERROR(scheduling.CheckKeys({"weight", "device_tag", "gpu"}));
  HWNAS_ASSIGN_OR_RETURN(spec.weight, scheduling.Double("weight", 1.0, 1e-3, 1e3));
  HWNAS_ASSIGN_OR_RETURN(spec.requirements.device_tag, scheduling.String("device_tag", ""));
  HWNAS_ASSIGN_OR_RETURN(spec.requirements.needs_gpu, scheduling.Bool("gpu", false));
  if (spec.requirements.needs_gpu) {
    // The scheduler matches GPU workers, but hwnas-worker trains on the CPU
    // and never offers one: such a search would wait forever.
    return absl::InvalidArgumentError(
        "scheduling.gpu: hwnas-worker trains on the CPU and no worker offers a GPU, so a search "
        "that needs one could never run");
  }

  HWNAS_ASSIGN_OR_RETURN(YamlSection stopping, root.Child("early_stopping"));
  HWNAS_RETURN_IF_ERROR(stopping.CheckKeys({"rule", "min_trials", "grace_epochs", "metric"}));
  HWNAS_ASSIGN_OR_RETURN(std::string rule, stopping.Enum("rule", {"none", "median"}, "none"));
  spec.early_stopping.enabled = rule == "median";
  HWNAS_ASSIGN_OR_RETURN(spec.early_stopping.min_trials, stopping.Int("min_trials", 5, 1, 100000));
  HWNAS_ASSIGN_OR_RETURN(spec.early_stopping.grace_epochs,
                         stopping.Int("grace_epochs", 1, 0, 100000));
  // Per-epoch metrics the worker reports where higher is better (the rule
  // stops trials below the median).
  HWNAS_ASSIGN_OR_RETURN(
      spec.early_stopping_metric,
      stopping.Enum("metric", {"val_accuracy", "train_accuracy"}, "val_accuracy"));

  HWNAS_RETURN_IF_ERROR(ParseFidelity(root, spec));
  if (root.Has("screen")) {
    // ParseWorkerSpec parsed it for train and proxy specs; a table spec has
    // no worker sections, and this names the problem for it too.
    HWNAS_ASSIGN_OR_RETURN(YamlSection screen, root.Child("screen"));
    HWNAS_ASSIGN_OR_RETURN(spec.screen, ParseScreenOptions(screen, evaluator));
  }
  if (spec.controller.strategy.name == "dnas") {
    // The supernet job is no candidate architecture: it can be neither
    // screened by a proxy nor trained in rungs.
    if (spec.screen.enabled) {
      return absl::InvalidArgumentError(
          "screen: strategy dnas starts with a supernet job, not candidates to screen; drop "
          "screen: or choose another strategy");
    }
    if (spec.fidelity.enabled()) {
      return absl::InvalidArgumentError(
          "fidelity.kind: strategy dnas trains one supernet job and then its top-k "
          "architectures once each; use kind none or another strategy");
    }
  }

  // Building the space validates the `space:` section against the data.
  HWNAS_RETURN_IF_ERROR(MakeSpace(spec).status());
  return spec;
}

}  // namespace

absl::StatusOr<SearchSpec> ParseSearchSpec(absl::string_view yaml) {
  // The sections' parsers check node types before converting; this is the
  // module's edge for a yaml-cpp conversion one of them missed, so that no
  // spec a user sends can take the server down.
  try {
    return ParseUnguarded(yaml);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("spec: cannot read a value: ", e.msg));
  }
}

absl::StatusOr<std::unique_ptr<space::SearchSpace>> MakeSpace(const SearchSpec& spec) {
  HWNAS_ASSIGN_OR_RETURN(YamlSection space, spec.root.Child("space"));
  return space::MakeSearchSpace(space, spec.data_shape);
}

}  // namespace hwnas::spec

// A search spec (YAML) validated as a whole: the space (space/'s registry),
// the controller's sections (controller_spec.h), the worker's sections
// (worker_spec.h), `scheduling:` and `early_stopping:`. Unknown top-level
// keys are errors; every error names the field, e.g.
// "budget.trials: must be between 1 and 10000000, got 0".
#ifndef HWNAS_SPEC_SEARCH_SPEC_H_
#define HWNAS_SPEC_SEARCH_SPEC_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/yaml_fields.h"
#include "scheduler/early_stopping.h"
#include "scheduler/fidelity.h"
#include "scheduler/policy.h"
#include "space/search_space.h"
#include "spec/controller_spec.h"
#include "spec/evaluator.h"
#include "spec/worker_spec.h"

namespace hwnas::spec {

struct SearchSpec {
  std::string name;
  std::string yaml;  // As submitted: workers get it with each trial.
  YamlSection root{YAML::Node(), ""};
  ControllerSpec controller;  // objectives, strategy, budget, evaluator.
  // The worker's sections; set for the `train` and `proxy` evaluators.
  std::optional<WorkerSpec> worker;
  std::string space_name;
  space::DataShape data_shape;
  // `scheduling:` {weight: 1, device_tag: "", gpu: false}
  double weight = 1;
  scheduler::Requirements requirements;
  // `early_stopping:` {rule: none|median, min_trials: 5, grace_epochs: 1,
  //                    metric: val_accuracy}
  scheduler::MedianStoppingOptions early_stopping;
  std::string early_stopping_metric = "val_accuracy";
  // `fidelity:` {kind: none|asha|hyperband, resource: epochs, min: 1, max: 9,
  //              eta: 3, brackets: 0, checkpoint_mib: 256}. Trained trials only; max <=
  // training.epochs (the learning-rate schedule spans training.epochs, and a
  // promoted trial continues it where its last rung stopped).
  scheduler::FidelityOptions fidelity;
  // `screen:` {proxy, keep: 0.25, min_screened: 8, ...}: a proxy screen
  // before training (evaluator kind train only; a copy of worker->screen).
  ScreenOptions screen;
};

absl::StatusOr<SearchSpec> ParseSearchSpec(absl::string_view yaml);

// The spec's search space, for its data shape.
absl::StatusOr<std::unique_ptr<space::SearchSpace>> MakeSpace(const SearchSpec& spec);

}  // namespace hwnas::spec

#endif  // HWNAS_SPEC_SEARCH_SPEC_H_

// The controller's sections of a search spec: `objectives:`, `strategy:`,
// `budget:` and `evaluator:`. A whole spec file is accepted: these parsers
// read their own sections and ignore the others (`name`, `space`, `data`,
// `training`, `hardware`), but reject unknown keys inside theirs.
#ifndef HWNAS_SPEC_CONTROLLER_SPEC_H_
#define HWNAS_SPEC_CONTROLLER_SPEC_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/yaml_fields.h"
#include "spec/evaluator.h"
#include "spec/objectives.h"
#include "spec/strategy_options.h"

namespace hwnas::spec {

// `budget:` {trials: 100, seconds: 3600}: the search ends at whichever
// comes first.
inline constexpr int64_t kMaxBudgetSeconds = int64_t{366} * 24 * 3600;
struct BudgetOptions {
  int64_t trials = 100;  // Distinct architectures evaluated.
  // Wall-clock limit from the search's creation; 0: none. When it runs out
  // the server proposes and promotes nothing more and completes the search:
  // trials still queued or training are cancelled (a promoted one keeps
  // the result of the rung it finished).
  int64_t seconds = 0;
};
absl::StatusOr<BudgetOptions> ParseBudgetOptions(const YamlSection& budget);

struct ControllerSpec {
  RewardOptions objectives;
  StrategyOptions strategy;
  BudgetOptions budget;
  EvaluatorOptions evaluator;
};

// Parses the four sections from the spec's root mapping. `space_name` (the
// spec's space.name, when known) lets the table evaluator reject spaces the
// table cannot answer; pass "" to skip that check.
absl::StatusOr<ControllerSpec> ParseControllerSpec(const YamlSection& root,
                                                   absl::string_view space_name = "");

}  // namespace hwnas::spec

#endif  // HWNAS_SPEC_CONTROLLER_SPEC_H_

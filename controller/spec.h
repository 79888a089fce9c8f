// The controller's sections of a search spec: `objectives:`, `strategy:`,
// `budget:` and `evaluator:`. A whole spec file is accepted: these parsers
// read their own sections and ignore the others (`name`, `space`, `data`,
// `training`, `hardware`), but reject unknown keys inside theirs.
#ifndef HWNAS_CONTROLLER_SPEC_H_
#define HWNAS_CONTROLLER_SPEC_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/yaml_fields.h"
#include "controller/nb201_table.h"
#include "controller/reward.h"
#include "controller/search.h"
#include "controller/strategy.h"

namespace hwnas::controller {

// `budget:` {trials: 100}
struct BudgetOptions {
  int64_t trials = 100;  // Distinct architectures evaluated.
};
absl::StatusOr<BudgetOptions> ParseBudgetOptions(const YamlSection& budget);

enum class EvaluatorKind {
  kTrain,  // Workers train each architecture (the training: section).
  kTable,  // Answered from the NAS-Bench-201 table (nb201 space only).
};

// `evaluator:` {kind: train} or
// {kind: table, path: <csv>, dataset: cifar10|cifar100|imagenet16, device: raspi4}
struct EvaluatorOptions {
  EvaluatorKind kind = EvaluatorKind::kTrain;
  std::string path;  // Empty: ResolveNb201TablePath("") at load time.
  Nb201Dataset dataset = Nb201Dataset::kCifar10;
  std::string device = "raspi4";  // A device column, without "lat_".
};
absl::StatusOr<EvaluatorOptions> ParseEvaluatorOptions(const YamlSection& evaluator);

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

// SearchOptions for controller::Search: dedup by exact tokens for the table
// evaluator (its rows for equivalent cells are separate training runs),
// by canonical hash otherwise.
SearchOptions MakeSearchOptions(const ControllerSpec& spec);

}  // namespace hwnas::controller

#endif  // HWNAS_CONTROLLER_SPEC_H_

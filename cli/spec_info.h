// What the CLI reads from a search's stored spec for displays: the search
// name and the `objectives:` section (constraint targets, hard limits and
// Pareto metrics). The server validates specs; this reader is lenient and
// never fails: a section it cannot read is left empty.
#ifndef HWNAS_CLI_SPEC_INFO_H_
#define HWNAS_CLI_SPEC_INFO_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "scheduler/fidelity.h"

namespace hwnas::cli {

struct MetricBound {
  std::string metric;  // A MetricValue name, e.g. "latency_ms", "flash_bytes".
  double value = 0;    // Constraint target T, or hard limit max.
};

struct SpecInfo {
  std::string name;
  std::vector<MetricBound> targets;         // objectives.constraints[*]
  std::vector<MetricBound> hard_limits;     // objectives.hard_limits[*]
  std::vector<std::string> pareto_metrics;  // objectives.pareto_metrics
  // evaluator.kind is `table`: trials are answered from the NAS-Bench-201
  // table, and the spec has no data to train a model on.
  bool table_evaluator = false;
  // `fidelity:` (kind, min, max, eta, brackets): the rungs whose epochs the
  // progress bar's time estimate counts. Off when absent or unreadable.
  scheduler::FidelityOptions fidelity;
  // `strategy: dnas` (or `{name: dnas, ...}`): the search's first trial is
  // the supernet job, whose epochs `hwnas status` shows.
  bool dnas = false;

  // The cost metrics a search trades accuracy against, in spec order without
  // duplicates: pareto_metrics if given, else the constraint and hard-limit
  // metrics, else {"latency_ms"} (the server's default).
  std::vector<std::string> CostMetrics() const;
  std::optional<double> TargetOf(absl::string_view metric) const;
  std::optional<double> HardLimitOf(absl::string_view metric) const;
};

SpecInfo ReadSpecInfo(absl::string_view spec_yaml);

}  // namespace hwnas::cli

#endif  // HWNAS_CLI_SPEC_INFO_H_

// The search report: one self-contained HTML page (inline CSS and SVG, no
// scripts, no network) with the Pareto fronts, the reward curve, the top
// architectures and the trial table; and single plots as SVG. Pure functions
// of the search and its trials, so they are tested without a server.
#ifndef HWNAS_CLI_REPORT_H_
#define HWNAS_CLI_REPORT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/near_miss.h"
#include "common/records.h"

namespace hwnas::cli {

struct ReportInput {
  SearchRecord search;
  std::vector<TrialRecord> trials;  // Every trial of the search, any order.
  // Cost metrics for the Pareto plots; empty: from the spec's `objectives:`
  // (see SpecInfo::CostMetrics).
  std::vector<std::string> cost_metrics;
  int top_n = 10;  // Architectures listed in full.
  // When nothing is feasible: the least-violating trials (GetParetoFront),
  // shown in place of the top architectures.
  std::vector<NearMiss> least_violating;
  absl::Time generated_at = absl::UnixEpoch();  // Printed in the footer.
};

// The cost metrics the report plots.
std::vector<std::string> ReportCostMetrics(const ReportInput& input);

// Trials on the 2-D front of accuracy (max) against `metric` (min), among
// SUCCEEDED trials that carry the metric, sorted by the metric.
std::vector<const TrialRecord*> ParetoFront2D(const std::vector<TrialRecord>& trials,
                                              absl::string_view metric);

// Accuracy against `metric`: every finished trial, the front highlighted and
// joined, infeasible trials as red crosses, target and hard limit as rules.
std::string RenderParetoSvg(const ReportInput& input, absl::string_view metric);
// Reward per trial number (infeasible as red crosses) and the best so far.
std::string RenderRewardSvg(const ReportInput& input);
// "reward", "pareto" (first cost metric) or "pareto:<metric>".
absl::StatusOr<std::string> RenderPlotSvg(const ReportInput& input, absl::string_view plot);

std::string RenderHtmlReport(const ReportInput& input);

}  // namespace hwnas::cli

#endif  // HWNAS_CLI_REPORT_H_

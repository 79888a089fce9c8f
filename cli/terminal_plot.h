// Text renderings for terminals: a scatter plot (pareto, per-epoch curves),
// the watch progress line, its plain per-event lines and the final summary.
// All are pure functions of their inputs (time is passed in), so tests can
// compare exact strings.
#ifndef HWNAS_CLI_TERMINAL_PLOT_H_
#define HWNAS_CLI_TERMINAL_PLOT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cli/client.h"
#include "common/records.h"

namespace hwnas::cli {

struct PlotPoint {
  double x = 0;
  double y = 0;
  char marker = '*';  // Later points overwrite earlier ones in the same cell.
};

struct TerminalPlotOptions {
  int width = 60;   // Plot area columns.
  int height = 16;  // Plot area rows.
  std::string x_label;
  std::string y_label;
  std::string legend;  // Printed under the x label, e.g. "* front  . other".
};

// A scatter plot in a width x height character grid with a y axis (top,
// middle and bottom values) and an x axis (left, middle and right values).
// Returns "(no points to plot)\n" without points.
std::string RenderScatter(const std::vector<PlotPoint>& points, const TerminalPlotOptions& options);

// The live progress line of `hwnas watch`, e.g.
// "[########----] 42/100  running 3  failed 1  infeasible 2  best 0.7120 (acc 0.8530,
//  latency_ms 12.30)  ETA 4m12s". The ETA extrapolates the finish rate since
// the search was created. `cost_metrics` are shown for the best trial.
std::string RenderProgressLine(const SearchRecord& search, absl::Time now,
                               const std::vector<std::string>& cost_metrics, int bar_width = 24);

// Estimated time to finish the budget; nullopt before the first finished
// trial or when the search is no longer running.
std::optional<absl::Duration> EstimateRemaining(const SearchRecord& search, absl::Time now);

// Multi-fidelity: "trial 7 promoted to rung 1: trains on to 3 epochs (rung 0:
// accuracy 0.8120 after 1 epochs)" for a streamed trial that is back in the
// queue (or running) on a higher rung; nullopt otherwise.
std::optional<std::string> PromotionLine(const TrialRecord& trial);
// Screening (spec `screen:`): "trial 7 passed the screen (proxy score 312):
// trains next", "trial 8 screened out, never trained: <reason>"; nullopt for
// a trial the screen is not the news of.
std::optional<std::string> ScreenLine(const TrialRecord& trial);

// One line per event for non-terminal output (logs, pipes).
std::string RenderEventLine(const SearchEvent& event, const std::vector<std::string>& cost_metrics);

// The summary printed when a watch ends.
std::string RenderSummary(const SearchRecord& search, absl::Time now,
                          const std::vector<std::string>& cost_metrics);

}  // namespace hwnas::cli

#endif  // HWNAS_CLI_TERMINAL_PLOT_H_

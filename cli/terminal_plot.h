// Text renderings for terminals: a scatter plot (pareto, per-epoch curves),
// the watch progress line, its plain per-event lines and the final summary.
// All are pure functions of their inputs (time is passed in), so tests can
// compare exact strings.
#ifndef HWNAS_CLI_TERMINAL_PLOT_H_
#define HWNAS_CLI_TERMINAL_PLOT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cli/client.h"
#include "common/records.h"
#include "scheduler/fidelity.h"

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

// Multi-fidelity progress in epochs: what the fidelity plan trains for the
// whole budget, and how much of it is behind the search.
struct EpochProgress {
  int64_t planned = 0;
  int64_t done = 0;
};

// Epochs the fidelity plan trains for `budget` trials: each trial its first
// rung's epochs, and of the n trials of a bracket floor(n / eta^k) go k
// rungs up, training only the difference (a promoted trial resumes from
// its checkpoint). Without fidelity: budget x the one rung's epochs.
int64_t PlannedEpochs(const scheduler::FidelityOptions& options, int64_t budget);

// The epochs a watch has seen trained, per trial, from the trials it reads
// (a listing when it starts, then each finished trial's event): a trial
// that finished for good counts its rung's epochs (a failed or early-stopped
// one will not train more), one waiting for or training its next rung the
// rungs it finished.
class EpochLedger {
 public:
  EpochLedger(scheduler::FidelityOptions options, int64_t budget);
  void Add(const TrialRecord& trial);
  EpochProgress progress() const;

 private:
  std::vector<int> rung_epochs_;
  int64_t planned_ = 0;
  std::map<int64_t, int64_t> done_;  // Trial number -> epochs.
};

// The live progress line of `hwnas watch`, e.g.
// "[########----] 42/100  running 3  failed 1  infeasible 2  best 0.7120 (acc 0.8530,
//  latency_ms 12.30)  ETA 4m12s". The ETA extrapolates the finish rate since
// the search was created. `cost_metrics` are shown for the best trial. With
// `epochs` (multi-fidelity) the line shows "epochs 12/30" and the ETA
// extrapolates the epochs trained instead of the trials finished.
std::string RenderProgressLine(const SearchRecord& search, absl::Time now,
                               const std::vector<std::string>& cost_metrics, int bar_width = 24,
                               const std::optional<EpochProgress>& epochs = std::nullopt);

// Estimated time to finish the budget; nullopt before the first finished
// trial (epoch) or when the search is no longer running. With `epochs`: the
// epochs still to train under the fidelity plan at the rate so far, not
// the trials left times a full training.
std::optional<absl::Duration> EstimateRemaining(
    const SearchRecord& search, absl::Time now,
    const std::optional<EpochProgress>& epochs = std::nullopt);

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

#include "cli/terminal_plot.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/format.h"

namespace hwnas::cli {
namespace {

constexpr int kAxisWidth = 10;  // Width of the y tick labels.

std::string Tick(double v) { return absl::StrFormat("%.4g", v); }

void Range(double& lo, double& hi) {
  if (hi > lo) return;
  double pad = lo == 0 ? 1.0 : std::fabs(lo) * 0.05;
  lo -= pad;
  hi += pad;
}

std::string BestPart(const SearchRecord& s, const std::vector<std::string>& cost_metrics) {
  if (!s.best_trial || !s.best_trial->reward) return "best -";
  const TrialRecord& b = *s.best_trial;
  std::string out = absl::StrCat("best ", FormatMetric("reward", b.reward));
  if (b.result) {
    std::vector<std::string> parts = {
        absl::StrCat("acc ", FormatMetric("accuracy", b.result->accuracy))};
    for (const std::string& m : cost_metrics) {
      if (auto v = MetricValue(*b.result, m))
        parts.push_back(absl::StrCat(m, " ", FormatMetric(m, v)));
    }
    absl::StrAppend(&out, " (", absl::StrJoin(parts, ", "), ")");
  }
  return out;
}

std::string TrialResultPart(const TrialRecord& t, const std::vector<std::string>& cost_metrics) {
  std::string out;
  if (t.reward) absl::StrAppend(&out, " reward ", FormatMetric("reward", t.reward));
  if (t.result && t.state != TrialState::kInfeasible) {
    absl::StrAppend(&out, " accuracy ", FormatMetric("accuracy", t.result->accuracy));
  }
  if (t.result) {
    for (const std::string& m : cost_metrics) {
      if (auto v = MetricValue(*t.result, m))
        absl::StrAppend(&out, " ", m, " ", FormatMetric(m, v));
    }
  }
  return out;
}

}  // namespace

std::string RenderScatter(const std::vector<PlotPoint>& points,
                          const TerminalPlotOptions& options) {
  std::vector<PlotPoint> finite;
  for (const PlotPoint& p : points) {
    if (std::isfinite(p.x) && std::isfinite(p.y)) finite.push_back(p);
  }
  if (finite.empty()) return "(no points to plot)\n";
  const int w = std::max(options.width, 8);
  const int h = std::max(options.height, 3);
  double xlo = finite[0].x, xhi = finite[0].x, ylo = finite[0].y, yhi = finite[0].y;
  for (const PlotPoint& p : finite) {
    xlo = std::min(xlo, p.x);
    xhi = std::max(xhi, p.x);
    ylo = std::min(ylo, p.y);
    yhi = std::max(yhi, p.y);
  }
  Range(xlo, xhi);
  Range(ylo, yhi);
  std::vector<std::string> grid(h, std::string(w, ' '));
  for (const PlotPoint& p : finite) {
    int col = static_cast<int>(std::lround((p.x - xlo) / (xhi - xlo) * (w - 1)));
    int row = static_cast<int>(std::lround((yhi - p.y) / (yhi - ylo) * (h - 1)));
    grid[std::clamp(row, 0, h - 1)][std::clamp(col, 0, w - 1)] = p.marker;
  }
  std::string out;
  if (!options.y_label.empty())
    absl::StrAppend(&out, std::string(kAxisWidth + 1, ' '), options.y_label, "\n");
  for (int r = 0; r < h; ++r) {
    std::string label;
    if (r == 0) label = Tick(yhi);
    if (r == h - 1) label = Tick(ylo);
    if (r == (h - 1) / 2 && h >= 5) label = Tick((yhi + ylo) / 2);
    std::string line = absl::StrFormat("%*s |%s", kAxisWidth - 1, label, grid[r]);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  }
  absl::StrAppend(&out, std::string(kAxisWidth, ' '), "+", std::string(w, '-'), "\n");
  // x ticks: left, middle and right under the axis.
  std::string ticks(w + 1, ' ');
  auto place = [&](int at, const std::string& text) {
    at = std::clamp(at, 0,
                    std::max(0, static_cast<int>(ticks.size()) - static_cast<int>(text.size())));
    if (at + text.size() > ticks.size()) ticks.resize(at + text.size(), ' ');
    ticks.replace(at, text.size(), text);
  };
  // Column c of the grid sits under ticks[c + 1] (ticks[0] is under the '+').
  const std::string left = Tick(xlo), mid = Tick((xlo + xhi) / 2), right = Tick(xhi);
  place(1, left);
  if (w >= 24) place(1 + (w - 1) / 2 - static_cast<int>(mid.size()) / 2, mid);
  place(w + 1 - static_cast<int>(right.size()), right);
  while (!ticks.empty() && ticks.back() == ' ') ticks.pop_back();
  absl::StrAppend(&out, std::string(kAxisWidth, ' '), ticks, "\n");
  if (!options.x_label.empty()) {
    const int at = kAxisWidth + 1 + std::max(0, (w - static_cast<int>(options.x_label.size())) / 2);
    absl::StrAppend(&out, std::string(at, ' '), options.x_label, "\n");
  }
  if (!options.legend.empty())
    absl::StrAppend(&out, std::string(kAxisWidth + 1, ' '), options.legend, "\n");
  return out;
}

int64_t PlannedEpochs(const scheduler::FidelityOptions& o, int64_t budget) {
  const std::vector<int> epochs = scheduler::RungEpochs(o);
  if (budget <= 0) return 0;
  if (!o.enabled() || epochs.size() < 2) return budget * epochs.back();
  // Trials per bracket, from the first (at most 4096) trials' brackets
  // scaled to the budget: the brackets' shares are fixed, and this is for a
  // time estimate.
  const int brackets = scheduler::BracketCount(o);
  std::vector<int64_t> per_bracket(static_cast<size_t>(brackets), 0);
  const int64_t sample = std::min<int64_t>(budget, 4096);
  for (int64_t i = 0; i < sample; ++i) ++per_bracket[scheduler::BracketForTrial(o, i)];
  if (sample < budget) {
    for (int64_t& n : per_bracket) n = n * budget / sample;
  }
  const int64_t eta = std::max(o.eta, 2);
  int64_t total = 0;
  for (int b = 0; b < brackets; ++b) {
    int64_t n = per_bracket[static_cast<size_t>(b)];
    total += n * epochs[static_cast<size_t>(b)];
    for (size_t k = static_cast<size_t>(b) + 1; k < epochs.size() && n > 0; ++k) {
      n /= eta;
      total += n * (epochs[k] - epochs[k - 1]);
    }
  }
  return total;
}

EpochLedger::EpochLedger(scheduler::FidelityOptions options, int64_t budget)
    : rung_epochs_(scheduler::RungEpochs(options)), planned_(PlannedEpochs(options, budget)) {}

void EpochLedger::Add(const TrialRecord& t) {
  if (t.state == TrialState::kCancelled) return;
  const int rungs = static_cast<int>(rung_epochs_.size());
  const int rung = std::clamp(t.rung, 0, rungs - 1);
  int64_t done = 0;
  if (IsTerminal(t.state)) {
    // Its rung is over, trained or not.
    done = t.epoch_target > 0 ? t.epoch_target : rung_epochs_[static_cast<size_t>(rung)];
  } else if (t.rung > t.bracket && rung > 0) {
    // Promoted: the rungs below are behind it.
    done = rung_epochs_[static_cast<size_t>(rung - 1)];
  }
  if (t.result) done = std::max<int64_t>(done, t.result->epochs);
  int64_t& seen = done_[t.number];
  seen = std::max(seen, done);
}

EpochProgress EpochLedger::progress() const {
  EpochProgress p{.planned = planned_};
  for (const auto& [trial, epochs] : done_) p.done += epochs;
  p.done = std::min(p.done, p.planned);
  return p;
}

std::optional<absl::Duration> EstimateRemaining(const SearchRecord& s, absl::Time now,
                                                const std::optional<EpochProgress>& epochs) {
  if (s.state != SearchState::kRunning || now <= s.created_at) return std::nullopt;
  const absl::Duration elapsed = now - s.created_at;
  if (epochs) {
    if (epochs->done <= 0) return std::nullopt;
    const int64_t remaining = std::max<int64_t>(0, epochs->planned - epochs->done);
    return elapsed * (static_cast<double>(remaining) / static_cast<double>(epochs->done));
  }
  const int64_t finished = s.counts.finished();
  if (finished <= 0) return std::nullopt;
  const int64_t remaining = std::max<int64_t>(0, s.budget - finished);
  return elapsed * (static_cast<double>(remaining) / static_cast<double>(finished));
}

std::string RenderProgressLine(const SearchRecord& s, absl::Time now,
                               const std::vector<std::string>& cost_metrics, int bar_width,
                               const std::optional<EpochProgress>& epochs) {
  const int64_t finished = s.counts.finished();
  const double fraction =
      s.budget > 0 ? std::clamp(static_cast<double>(finished) / s.budget, 0.0, 1.0) : 0.0;
  const int filled = static_cast<int>(std::floor(fraction * bar_width));
  std::string out = absl::StrCat(
      "[", std::string(filled, '#'), std::string(bar_width - filled, '-'), "] ", finished, "/",
      s.budget, "  running ", s.counts.running, "  failed ", s.counts.failed, "  infeasible ",
      s.counts.infeasible, "  ", BestPart(s, cost_metrics));
  if (s.state != SearchState::kRunning) {
    absl::StrAppend(&out, "  ", SearchStateName(s.state));
  } else if (!s.waiting.empty()) {
    absl::StrAppend(&out, "  waiting: ", s.waiting);
  } else {
    if (epochs) absl::StrAppend(&out, "  epochs ", epochs->done, "/", epochs->planned);
    std::optional<absl::Duration> eta = EstimateRemaining(s, now, epochs);
    absl::StrAppend(&out, "  ETA ", eta ? FormatElapsed(*eta) : "-");
  }
  return out;
}

std::optional<std::string> PromotionLine(const TrialRecord& t) {
  // A finished rung's trial is streamed as it is when the watch reads it:
  // back in the queue (or running again) on a higher rung when promoted.
  if (t.epoch_target <= 0 || t.rung <= t.bracket || IsTerminal(t.state)) return std::nullopt;
  std::string out = absl::StrCat("trial ", t.number, " promoted to rung ", t.rung,
                                 ": trains on to ", t.epoch_target, " epochs");
  if (t.result) {
    absl::StrAppend(&out, " (rung ", t.rung - 1, ": accuracy ",
                    absl::StrFormat("%.4f", t.result->accuracy), " after ", t.result->epochs,
                    " epochs)");
  }
  return out;
}

std::optional<std::string> ScreenLine(const TrialRecord& t) {
  const std::string score =
      t.screen_score ? absl::StrFormat(" (proxy score %.4g)", *t.screen_score) : "";
  switch (t.screen) {
    case ScreenStage::kPending:
      // The proxy's result, read before the server decided.
      if (t.state != TrialState::kSucceeded) return std::nullopt;
      return absl::StrCat("trial ", t.number, " screened by the proxy, deciding");
    case ScreenStage::kPassed:
      if (IsTerminal(t.state)) return std::nullopt;  // Its training's result: the usual line.
      return absl::StrCat("trial ", t.number, " passed the screen", score, ": trains next");
    case ScreenStage::kOut:
      return absl::StrCat("trial ", t.number, " screened out, never trained: ", t.failure_reason);
    case ScreenStage::kNone:
      break;
  }
  return std::nullopt;
}

std::string RenderEventLine(const SearchEvent& e, const std::vector<std::string>& cost_metrics) {
  const SearchRecord& s = e.search;
  const std::string progress = absl::StrCat("(", s.counts.finished(), "/", s.budget, ")");
  switch (e.kind) {
    case SearchEventKind::kSnapshot:
      return absl::StrCat("search ", s.id, " ", SearchStateName(s.state), ": ", s.counts.finished(),
                          "/", s.budget, " finished, ", s.counts.running, " running, ",
                          s.counts.failed, " failed, ", s.counts.infeasible, " infeasible; ",
                          BestPart(s, cost_metrics),
                          s.waiting.empty() ? "" : absl::StrCat("; waiting: ", s.waiting));
    case SearchEventKind::kTrialStarted:
      // The server sends no trial when only the running count changed.
      if (!e.trial)
        return absl::StrCat("search ", s.id, ": ", s.counts.running, " running ", progress);
      return absl::StrCat(
          "trial ", e.trial->number, " started",
          e.trial->worker_id.empty() ? "" : absl::StrCat(" on ", e.trial->worker_id), ": ",
          e.trial->architecture.readable);
    case SearchEventKind::kTrialProgress: {
      if (!e.trial) break;
      std::string out = absl::StrCat("trial ", e.trial->number);
      if (e.progress) {
        absl::StrAppend(&out, " epoch ", e.progress->epoch, ":");
        for (const auto& [k, v] : e.progress->values) {
          absl::StrAppend(&out, " ", k, "=", absl::StrFormat("%.4g", v));
        }
      }
      return out;
    }
    case SearchEventKind::kTrialFinished: {
      if (!e.trial) break;
      const TrialRecord& t = *e.trial;
      if (std::optional<std::string> promoted = PromotionLine(t)) {
        return absl::StrCat(*promoted, " ", progress);
      }
      if (std::optional<std::string> screened = ScreenLine(t)) {
        return absl::StrCat(*screened, " ", progress);
      }
      std::string out = absl::StrCat("trial ", t.number, " ", TrialStateName(t.state));
      if (t.epoch_target > 0) {
        absl::StrAppend(&out, " on rung ", t.rung, " (", t.result ? t.result->epochs : 0, "/",
                        t.epoch_target, " epochs)");
      }
      if (t.state == TrialState::kFailed || t.state == TrialState::kInfeasible) {
        if (!t.failure_reason.empty()) absl::StrAppend(&out, ": ", t.failure_reason);
        if (t.state == TrialState::kInfeasible)
          absl::StrAppend(&out, TrialResultPart(t, cost_metrics));
      } else {
        absl::StrAppend(&out, ":", TrialResultPart(t, cost_metrics));
      }
      absl::StrAppend(&out, " ", progress);
      return out;
    }
    case SearchEventKind::kSearchFinished:
      return absl::StrCat("search ", s.id, " ", SearchStateName(s.state), " ", progress,
                          s.error.empty() ? "" : absl::StrCat(": ", s.error));
    case SearchEventKind::kUnspecified:
      break;
  }
  return absl::StrCat("search ", s.id, " event ", progress);
}

std::string RenderSummary(const SearchRecord& s, absl::Time now,
                          const std::vector<std::string>& cost_metrics) {
  const absl::Time end = s.finished_at.value_or(now);
  std::string out =
      absl::StrCat("search ", s.id, s.name.empty() ? "" : absl::StrCat(" \"", s.name, "\""), " ",
                   SearchStateName(s.state), " after ", FormatElapsed(end - s.created_at), "\n");
  if (!s.error.empty()) absl::StrAppend(&out, "  error: ", s.error, "\n");
  absl::StrAppend(&out, "  trials: ", s.counts.finished(), "/", s.budget, " finished (",
                  s.counts.succeeded, " succeeded, ", s.counts.failed, " failed, ",
                  s.counts.infeasible, " infeasible, ", s.counts.early_stopped,
                  " early stopped)\n");
  if (s.best_trial) {
    const TrialRecord& b = *s.best_trial;
    absl::StrAppend(&out, "  best: trial ", b.number, TrialResultPart(b, cost_metrics), "\n");
    if (!b.architecture.readable.empty()) {
      absl::StrAppend(&out, "        ", b.architecture.readable, "\n");
    }
  } else {
    absl::StrAppend(&out, "  best: none\n");
  }
  return out;
}

}  // namespace hwnas::cli

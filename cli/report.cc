#include "cli/report.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/errors.h"
#include "cli/format.h"
#include "cli/spec_info.h"
#include "cli/svg.h"

namespace hwnas::cli {
namespace {

constexpr absl::string_view kBlue = "#1f77b4";
constexpr absl::string_view kGray = "#9aa5b1";
constexpr absl::string_view kRed = "#d62728";
constexpr absl::string_view kOrange = "#ff7f0e";
constexpr absl::string_view kGreen = "#2ca02c";

std::optional<double> Metric(const TrialRecord& t, absl::string_view metric) {
  if (!t.result) return std::nullopt;
  return MetricValue(*t.result, metric);
}

std::string PointTitle(const TrialRecord& t, absl::string_view metric) {
  std::string title = absl::StrCat("trial ", t.number, " ", TrialStateName(t.state));
  if (t.reward) absl::StrAppend(&title, "\nreward ", FormatMetric("reward", t.reward));
  if (t.result) {
    absl::StrAppend(&title, "\naccuracy ", FormatAccuracy(t));
    if (!metric.empty()) {
      absl::StrAppend(&title, "\n", metric, " ", FormatMetric(metric, Metric(t, metric)));
    }
  }
  if (!t.failure_reason.empty()) absl::StrAppend(&title, "\n", t.failure_reason);
  if (!t.architecture.readable.empty()) absl::StrAppend(&title, "\n", t.architecture.readable);
  return title;
}

std::vector<const TrialRecord*> ByNumber(const std::vector<TrialRecord>& trials) {
  std::vector<const TrialRecord*> out;
  for (const TrialRecord& t : trials) out.push_back(&t);
  std::sort(out.begin(), out.end(),
            [](const TrialRecord* a, const TrialRecord* b) { return a->number < b->number; });
  return out;
}

const char kCss[] = R"css(
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1200px; color: #1d2329; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #dde2e6; padding-bottom: 4px; }
.meta { color: #55606b; }
.summary { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; }
.summary dt { font-weight: 600; }
.summary dd { margin: 0; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.plot { border: 1px solid #dde2e6; border-radius: 4px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 3px 8px; border-bottom: 1px solid #eef1f3; text-align: right; }
th { background: #f5f7f9; position: sticky; top: 0; }
td.arch, th.arch, td.state { text-align: left; }
td.arch code { font-size: 12px; }
tr.SUCCEEDED td.state { color: #2ca02c; }
tr.FAILED td.state, tr.INFEASIBLE td.state { color: #d62728; }
tr.front td.num::after { content: " \2605"; color: #ff7f0e; }
pre { background: #f5f7f9; padding: 8px; white-space: pre-wrap; word-break: break-all; margin: 4px 0; }
.top { margin-bottom: 16px; }
footer { margin-top: 32px; color: #8a949e; font-size: 12px; }
)css";

}  // namespace

std::vector<std::string> ReportCostMetrics(const ReportInput& input) {
  if (!input.cost_metrics.empty()) return input.cost_metrics;
  return ReadSpecInfo(input.search.spec_yaml).CostMetrics();
}

std::vector<const TrialRecord*> ParetoFront2D(const std::vector<TrialRecord>& trials,
                                              absl::string_view metric) {
  std::vector<const TrialRecord*> candidates;
  for (const TrialRecord& t : trials) {
    if (t.state == TrialState::kSucceeded && Metric(t, metric)) candidates.push_back(&t);
  }
  // Sort by cost ascending, then accuracy descending; keep strict improvements.
  std::sort(candidates.begin(), candidates.end(), [&](const TrialRecord* a, const TrialRecord* b) {
    const double ca = *Metric(*a, metric), cb = *Metric(*b, metric);
    if (ca != cb) return ca < cb;
    if (a->result->accuracy != b->result->accuracy)
      return a->result->accuracy > b->result->accuracy;
    return a->number < b->number;
  });
  std::vector<const TrialRecord*> front;
  double best_accuracy = -std::numeric_limits<double>::infinity();
  for (const TrialRecord* t : candidates) {
    if (t->result->accuracy > best_accuracy) {
      front.push_back(t);
      best_accuracy = t->result->accuracy;
    }
  }
  return front;
}

std::string RenderParetoSvg(const ReportInput& input, absl::string_view metric) {
  const SpecInfo spec = ReadSpecInfo(input.search.spec_yaml);
  const std::vector<const TrialRecord*> front = ParetoFront2D(input.trials, metric);
  SvgChart chart;
  chart.title = absl::StrCat("Accuracy vs ", metric);
  chart.x_label = std::string(metric);
  chart.y_label = "accuracy";
  bool any_other = false, any_infeasible = false;
  for (const TrialRecord* t : ByNumber(input.trials)) {
    std::optional<double> x = Metric(*t, metric);
    if (!x) continue;
    if (t->state == TrialState::kInfeasible) {
      chart.points.push_back(
          {*x, t->result->accuracy, Marker::kCross, std::string(kRed), 4, PointTitle(*t, metric)});
      any_infeasible = true;
    } else if (t->state == TrialState::kSucceeded || t->state == TrialState::kEarlyStopped) {
      if (std::find(front.begin(), front.end(), t) != front.end()) continue;
      chart.points.push_back({*x, t->result->accuracy, Marker::kCircle, std::string(kGray), 3,
                              PointTitle(*t, metric)});
      any_other = true;
    }
  }
  SvgLine line;
  line.color = std::string(kBlue);
  for (size_t i = 0; i < front.size(); ++i) {
    const double x = *Metric(*front[i], metric), y = front[i]->result->accuracy;
    if (i > 0) line.points.push_back({x, line.points.back().second});
    line.points.push_back({x, y});
    chart.points.push_back(
        {x, y, Marker::kCircle, std::string(kBlue), 5, PointTitle(*front[i], metric)});
  }
  if (line.points.size() >= 2) chart.lines.push_back(std::move(line));
  if (auto target = spec.TargetOf(metric)) {
    chart.rules.push_back({true, *target, std::string(kOrange),
                           absl::StrCat("target ", FormatMetric(metric, *target))});
  }
  if (auto limit = spec.HardLimitOf(metric)) {
    chart.rules.push_back({true, *limit, std::string(kRed),
                           absl::StrCat("hard limit ", FormatMetric(metric, *limit))});
  }
  chart.legend.push_back({"Pareto front", std::string(kBlue), Marker::kCircle, false});
  if (any_other)
    chart.legend.push_back({"other trials", std::string(kGray), Marker::kCircle, false});
  if (any_infeasible) {
    chart.legend.push_back({"infeasible", std::string(kRed), Marker::kCross, false});
  }
  return RenderSvg(chart);
}

std::string RenderRewardSvg(const ReportInput& input) {
  SvgChart chart;
  chart.title = "Reward by trial";
  chart.x_label = "trial number";
  chart.y_label = "reward";
  SvgLine best;
  best.color = std::string(kGreen);
  best.width = 2;
  std::optional<double> best_so_far;
  bool any_infeasible = false;
  for (const TrialRecord* t : ByNumber(input.trials)) {
    if (!t->reward) continue;
    const double x = static_cast<double>(t->number);
    const bool infeasible = t->state == TrialState::kInfeasible;
    chart.points.push_back({x, *t->reward, infeasible ? Marker::kCross : Marker::kCircle,
                            std::string(infeasible ? kRed : kBlue), infeasible ? 4.0 : 3.0,
                            PointTitle(*t, "")});
    any_infeasible |= infeasible;
    if (!best_so_far || *t->reward > *best_so_far) {
      if (best_so_far) best.points.push_back({x, *best_so_far});
      best_so_far = *t->reward;
    }
    best.points.push_back({x, *best_so_far});
  }
  if (!best.points.empty()) chart.lines.push_back(std::move(best));
  chart.legend.push_back({"reward", std::string(kBlue), Marker::kCircle, false});
  chart.legend.push_back({"best so far", std::string(kGreen), Marker::kCircle, true});
  if (any_infeasible) {
    chart.legend.push_back({"infeasible", std::string(kRed), Marker::kCross, false});
  }
  return RenderSvg(chart);
}

absl::StatusOr<std::string> RenderPlotSvg(const ReportInput& input, absl::string_view plot) {
  if (plot == "reward") return RenderRewardSvg(input);
  if (plot == "pareto") return RenderParetoSvg(input, ReportCostMetrics(input).front());
  if (absl::StartsWith(plot, "pareto:") && plot.size() > 7) {
    return RenderParetoSvg(input, plot.substr(7));
  }
  return UsageError(
      absl::StrCat("unknown plot '", plot, "' (expected reward, pareto or pareto:<metric>)"));
}

std::string RenderHtmlReport(const ReportInput& input) {
  const SearchRecord& s = input.search;
  const std::vector<std::string> metrics = ReportCostMetrics(input);
  const std::vector<std::string> columns = TrialMetricColumns(input.trials, metrics);
  const std::string title =
      absl::StrCat("hwnas search ", s.id, s.name.empty() ? "" : absl::StrCat(": ", s.name));

  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  absl::StrAppend(&html, "<title>", XmlEscape(title), "</title>\n<style>", kCss,
                  "</style>\n</head>\n<body>\n");
  absl::StrAppend(&html, "<h1>", XmlEscape(title), "</h1>\n");
  absl::StrAppend(&html, "<p class=\"meta\">", XmlEscape(s.space), " space &middot; owner ",
                  XmlEscape(s.owner), " &middot; ", SearchStateName(s.state), "</p>\n");

  // Summary.
  absl::StrAppend(&html, "<dl class=\"summary\">\n");
  auto row = [&](absl::string_view k, const std::string& v) {
    absl::StrAppend(&html, "<dt>", k, "</dt><dd>", XmlEscape(v), "</dd>\n");
  };
  row("State", std::string(SearchStateName(s.state)));
  if (!s.error.empty()) row("Error", s.error);
  row("Trials",
      absl::StrCat(s.counts.finished(), " of ", s.budget, " finished: ", s.counts.succeeded,
                   " succeeded, ", s.counts.failed, " failed, ", s.counts.infeasible,
                   " infeasible, ", s.counts.early_stopped, " early stopped"));
  row("Created", FormatUtc(s.created_at));
  if (s.finished_at) {
    row("Finished", absl::StrCat(FormatUtc(*s.finished_at), " (after ",
                                 FormatElapsed(*s.finished_at - s.created_at), ")"));
  }
  row("Cost metrics", absl::StrJoin(metrics, ", "));
  if (s.best_trial) {
    std::string best = absl::StrCat("trial ", s.best_trial->number, ", reward ",
                                    FormatMetric("reward", s.best_trial->reward));
    if (s.best_trial->result) {
      absl::StrAppend(&best, ", accuracy ", FormatAccuracy(*s.best_trial));
    }
    row("Best", best);
  }
  absl::StrAppend(&html, "</dl>\n");

  // Plots.
  absl::StrAppend(&html, "<h2 id=\"pareto\">Pareto front</h2>\n<div class=\"plots\">\n");
  for (const std::string& m : metrics) {
    absl::StrAppend(&html, "<div class=\"plot\" id=\"pareto-", XmlEscape(m), "\">\n",
                    RenderParetoSvg(input, m), "</div>\n");
  }
  absl::StrAppend(&html, "</div>\n<h2 id=\"reward\">Reward</h2>\n<div class=\"plots\">\n",
                  "<div class=\"plot\" id=\"reward-plot\">\n", RenderRewardSvg(input),
                  "</div>\n</div>\n");

  // Top architectures.
  std::vector<const TrialRecord*> ranked;
  for (const TrialRecord& t : input.trials) {
    if (t.state == TrialState::kSucceeded && t.reward) ranked.push_back(&t);
  }
  std::sort(ranked.begin(), ranked.end(), [](const TrialRecord* a, const TrialRecord* b) {
    if (*a->reward != *b->reward) return *a->reward > *b->reward;
    return a->number < b->number;
  });
  if (static_cast<int>(ranked.size()) > input.top_n) ranked.resize(std::max(0, input.top_n));
  absl::StrAppend(&html, "<h2 id=\"top\">Top architectures</h2>\n");
  if (ranked.empty() && !input.least_violating.empty()) {
    // An empty list would hide how close the search came: the trials that
    // miss the hard limits by the least, and by how much.
    absl::StrAppend(&html,
                    "<p id=\"least-violating\">No feasible trial: every finished trial is over a "
                    "hard limit. The least-violating, closest first:</p>\n<table "
                    "class=\"trials\">\n<thead><tr><th>rank</th><th>#</th><th>accuracy</th>"
                    "<th>misses</th><th class=\"arch\">architecture</th></tr></thead>\n<tbody>\n");
    int rank = 0;
    for (const NearMiss& n : input.least_violating) {
      absl::StrAppend(&html, "<tr><td class=\"num\">", ++rank, "</td><td class=\"num\">",
                      n.trial.number, "</td><td>", XmlEscape(FormatAccuracy(n.trial)), "</td><td>",
                      XmlEscape(DescribeMisses(n)), "</td><td class=\"arch\"><code>",
                      XmlEscape(n.trial.architecture.readable), "</code></td></tr>\n");
    }
    absl::StrAppend(&html, "</tbody>\n</table>\n");
  } else if (ranked.empty()) {
    absl::StrAppend(&html, "<p>No succeeded trials yet.</p>\n");
  }
  if (std::any_of(ranked.begin(), ranked.end(),
                  [](const TrialRecord* t) { return !t->result->fold_accuracy.empty(); })) {
    absl::StrAppend(&html,
                    "<p class=\"meta\">Accuracy is the mean over cross-validation folds "
                    "&plusmn; its standard error; \"within noise\" means the difference from "
                    "#1 is at most their combined standard error, so the data cannot tell "
                    "the two apart.</p>\n");
  }
  for (size_t i = 0; i < ranked.size(); ++i) {
    const TrialRecord& t = *ranked[i];
    std::vector<std::string> parts = {absl::StrCat("reward ", FormatMetric("reward", t.reward)),
                                      absl::StrCat("accuracy ", FormatAccuracy(t))};
    if (i > 0 && WithinNoiseOf(t, *ranked[0])) {
      parts.push_back("within noise of #1's accuracy");
    }
    std::vector<std::string> all = {"latency_ms", "params", "macs", "peak_memory_bytes",
                                    "flash_bytes"};
    for (const std::string& m : metrics) {
      if (std::find(all.begin(), all.end(), m) == all.end()) all.push_back(m);
    }
    for (const auto& [k, v] : t.result->estimates) {
      if (std::find(all.begin(), all.end(), k) == all.end()) all.push_back(k);
    }
    for (const std::string& m : all) {
      if (auto v = Metric(t, m)) parts.push_back(absl::StrCat(m, " ", FormatMetric(m, v)));
    }
    absl::StrAppend(
        &html, "<div class=\"top\"><strong>#", i + 1, " &middot; trial ", t.number,
        "</strong> &middot; ", XmlEscape(absl::StrJoin(parts, " · ")), "\n<pre>",
        XmlEscape(t.architecture.readable.empty() ? absl::StrJoin(t.architecture.tokens, " ")
                                                  : t.architecture.readable),
        "</pre></div>\n");
  }

  // Trial table.
  std::vector<const TrialRecord*> on_front;
  for (const std::string& m : metrics) {
    for (const TrialRecord* t : ParetoFront2D(input.trials, m)) on_front.push_back(t);
  }
  absl::StrAppend(&html, "<h2 id=\"trials\">Trials</h2>\n");
  absl::StrAppend(&html, "<p class=\"meta\">&#9733; on a Pareto front above.</p>\n");
  absl::StrAppend(&html,
                  "<table class=\"trials\">\n<thead><tr><th>#</th><th>state</th>"
                  "<th>reward</th><th>accuracy</th>");
  for (const std::string& m : columns) absl::StrAppend(&html, "<th>", XmlEscape(m), "</th>");
  absl::StrAppend(&html, "<th class=\"arch\">architecture</th></tr></thead>\n<tbody>\n");
  for (const TrialRecord* t : ByNumber(input.trials)) {
    const bool front = std::find(on_front.begin(), on_front.end(), t) != on_front.end();
    absl::StrAppend(
        &html, "<tr class=\"", TrialStateName(t->state), front ? " front" : "",
        "\"><td class=\"num\">", t->number, "</td><td class=\"state\">", TrialStateName(t->state),
        t->origin == TrialOrigin::kStrategy ? std::string()
                                            : absl::StrCat(" (", TrialOriginName(t->origin), ")"),
        "</td><td>", FormatMetric("reward", t->reward), "</td><td>", XmlEscape(FormatAccuracy(*t)),
        "</td>");
    for (const std::string& m : columns) {
      absl::StrAppend(&html, "<td>", XmlEscape(FormatMetric(m, Metric(*t, m))), "</td>");
    }
    std::string arch = t->architecture.readable;
    if (!t->failure_reason.empty()) {
      arch = arch.empty() ? t->failure_reason : absl::StrCat(arch, " (", t->failure_reason, ")");
    }
    absl::StrAppend(&html, "<td class=\"arch\"><code>", XmlEscape(arch), "</code></td></tr>\n");
  }
  absl::StrAppend(&html, "</tbody>\n</table>\n");
  absl::StrAppend(&html, "<footer>Generated by hwnas report at ", FormatUtc(input.generated_at),
                  ". Self-contained: no scripts or network access.</footer>\n</body>\n</html>\n");
  return html;
}

}  // namespace hwnas::cli

// The HTML report and its SVG plots: well-formed, self-contained, carrying
// the stored numbers, with names escaped.
#include "cli/report.h"

#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/svg.h"
#include "gtest/gtest.h"
#include "tests/cli/test_data.h"

namespace hwnas::cli {
namespace {

using testing::MakeSearch;
using testing::MakeTrials;

// Checks that every element is closed in order (void elements aside) and
// returns the element names seen; fails the test on a mismatch.
std::multiset<std::string> CheckWellFormed(const std::string& doc) {
  static const std::set<std::string> kVoid = {"meta", "br", "hr", "img", "link", "input"};
  std::vector<std::string> stack;
  std::multiset<std::string> seen;
  size_t i = 0;
  while ((i = doc.find('<', i)) != std::string::npos) {
    size_t end = doc.find('>', i);
    if (end == std::string::npos) {
      ADD_FAILURE() << "unterminated tag at " << i;
      break;
    }
    std::string tag = doc.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.empty()) {
      ADD_FAILURE() << "empty tag";
      continue;
    }
    if (tag[0] == '!') continue;  // <!DOCTYPE html>
    const bool closing = tag[0] == '/';
    const bool self_closing = tag.back() == '/';
    std::string name = tag.substr(closing ? 1 : 0);
    name = name.substr(0, name.find_first_of(" \n/"));
    if (closing) {
      if (stack.empty() || stack.back() != name) {
        ADD_FAILURE() << "</" << name << "> closes " << (stack.empty() ? "nothing" : stack.back());
        return seen;
      }
      stack.pop_back();
    } else {
      seen.insert(name);
      if (!self_closing && !kVoid.count(name)) stack.push_back(name);
    }
  }
  EXPECT_TRUE(stack.empty()) << "unclosed <" << (stack.empty() ? "" : stack.back()) << ">";
  return seen;
}

ReportInput MakeInput() {
  ReportInput input;
  input.search = MakeSearch();
  input.trials = MakeTrials();
  input.generated_at = testing::T0() + absl::Hours(1);
  return input;
}

TEST(ReportCostMetrics, FromSpecObjectives) {
  ReportInput input = MakeInput();
  EXPECT_EQ(ReportCostMetrics(input), (std::vector<std::string>{"latency_ms", "flash_bytes"}));
  input.cost_metrics = {"macs"};
  EXPECT_EQ(ReportCostMetrics(input), std::vector<std::string>{"macs"});
  input.cost_metrics.clear();
  input.search.spec_yaml = "name: x\nobjectives: {pareto_metrics: [params, macs]}\n";
  EXPECT_EQ(ReportCostMetrics(input), (std::vector<std::string>{"params", "macs"}));
  input.search.spec_yaml = ": not yaml [";
  EXPECT_EQ(ReportCostMetrics(input), std::vector<std::string>{"latency_ms"});
}

TEST(ParetoFront2D, KeepsNonDominatedSucceededTrials) {
  auto trials = MakeTrials();
  std::vector<int64_t> numbers;
  for (const TrialRecord* t : ParetoFront2D(trials, "latency_ms")) numbers.push_back(t->number);
  // Trial 3 (acc 0.85 at 30 ms) is dominated by trial 2 (0.90 at 20 ms); 4 is
  // infeasible and 5 failed.
  EXPECT_EQ(numbers, (std::vector<int64_t>{1, 2}));
  numbers.clear();
  trials[2].result->latency->median_ms = 15;
  for (const TrialRecord* t : ParetoFront2D(trials, "latency_ms")) numbers.push_back(t->number);
  EXPECT_EQ(numbers, (std::vector<int64_t>{1, 3, 2}));
}

TEST(NiceTicks, RoundSteps) {
  EXPECT_EQ(NiceTicks(0, 1, 6), (std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}));
  EXPECT_EQ(NiceTicks(3, 97, 6), (std::vector<double>{20, 40, 60, 80}));
  EXPECT_TRUE(NiceTicks(1, 1).empty());
  EXPECT_EQ(FormatTick(1500000), "1.5M");
  EXPECT_EQ(FormatTick(25000), "25k");
  EXPECT_EQ(FormatTick(0.85), "0.85");
}

TEST(RenderSvg, EscapesLabelsAndIsWellFormed) {
  SvgChart chart;
  chart.title = "a < b & \"c\"";
  chart.x_label = "x";
  chart.y_label = "y";
  chart.points = {{1, 2, Marker::kCircle, "#000", 3, "tip <i>"},
                  {2, 3, Marker::kCross, "#f00", 4, ""}};
  chart.lines = {{{{1, 2}, {2, 3}}, "#00f", 1.5, false}};
  chart.rules = {{true, 1.5, "#f00", "limit"}};
  chart.legend = {{"pts", "#000", Marker::kSquare, false}};
  std::string svg = RenderSvg(chart);
  EXPECT_TRUE(absl::StartsWith(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_NE(svg.find("a &lt; b &amp; &quot;c&quot;"), std::string::npos);
  EXPECT_NE(svg.find("<title>tip &lt;i&gt;</title>"), std::string::npos);
  EXPECT_EQ(svg.find("<i>"), std::string::npos);
  auto seen = CheckWellFormed(svg);
  EXPECT_EQ(seen.count("circle"), 1u);
  EXPECT_EQ(seen.count("polyline"), 1u);
  EXPECT_EQ(seen.count("rect"), 4u);  // Background, frame, legend box and legend marker.
}

TEST(RenderParetoSvg, MarksFrontInfeasibleAndLimits) {
  ReportInput input = MakeInput();
  std::string svg = RenderParetoSvg(input, "flash_bytes");
  CheckWellFormed(svg);
  EXPECT_NE(svg.find("Accuracy vs flash_bytes"), std::string::npos);
  EXPECT_NE(svg.find("hard limit 977KiB"), std::string::npos);  // 1e6 bytes
  EXPECT_NE(svg.find("infeasible"), std::string::npos);
  EXPECT_NE(svg.find("trial 4 INFEASIBLE"), std::string::npos);  // The cross's tooltip.
  EXPECT_NE(svg.find("Pareto front"), std::string::npos);
  // Front: trials 1, 2, 3 are all non-dominated on flash (0.4M/0.8, 0.6M/0.9, 0.7M/0.85 -> 3 is
  // dominated by 2).
  EXPECT_NE(svg.find("<title>trial 2 SUCCEEDED"), std::string::npos);
  std::string latency = RenderParetoSvg(input, "latency_ms");
  EXPECT_NE(latency.find("target 20.00"), std::string::npos);
}

TEST(RenderRewardSvg, RewardAndBestSoFar) {
  std::string svg = RenderRewardSvg(MakeInput());
  CheckWellFormed(svg);
  EXPECT_NE(svg.find("Reward by trial"), std::string::npos);
  EXPECT_NE(svg.find("best so far"), std::string::npos);
  EXPECT_NE(svg.find("<title>trial 2 SUCCEEDED\nreward 0.8800"), std::string::npos);
  // Four trials carry a reward: three circles and one cross (plus legend markers).
  EXPECT_EQ(CheckWellFormed(svg).count("circle"), 3u + 1u);
}

TEST(RenderPlotSvg, ChoosesThePlot) {
  ReportInput input = MakeInput();
  EXPECT_NE(RenderPlotSvg(input, "reward")->find("Reward by trial"), std::string::npos);
  EXPECT_NE(RenderPlotSvg(input, "pareto")->find("Accuracy vs latency_ms"), std::string::npos);
  EXPECT_NE(RenderPlotSvg(input, "pareto:macs")->find("Accuracy vs macs"), std::string::npos);
  EXPECT_FALSE(RenderPlotSvg(input, "histogram").ok());
}

TEST(RenderHtmlReport, SelfContainedWithPlotsTablesAndNumbers) {
  ReportInput input = MakeInput();
  std::string html = RenderHtmlReport(input);
  auto seen = CheckWellFormed(html);
  EXPECT_TRUE(absl::StartsWith(html, "<!DOCTYPE html>"));
  // One Pareto plot per cost metric plus the reward plot.
  EXPECT_EQ(seen.count("svg"), 3u);
  EXPECT_NE(html.find("id=\"pareto-latency_ms\""), std::string::npos);
  EXPECT_NE(html.find("id=\"pareto-flash_bytes\""), std::string::npos);
  EXPECT_NE(html.find("id=\"reward-plot\""), std::string::npos);
  // Nothing to fetch: no scripts, no external references.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));
  // The trial table: one row per trial with the stored numbers.
  EXPECT_EQ(seen.count("tr"), 1u + 5u);
  EXPECT_NE(html.find("<td class=\"num\">2</td><td class=\"state\">SUCCEEDED</td><td>0.8800</td>"
                      "<td>0.9000</td><td>20.00</td>"),
            std::string::npos);
  EXPECT_NE(html.find("worker lost: out of memory"), std::string::npos);
  EXPECT_NE(html.find("<tr class=\"SUCCEEDED front\">"), std::string::npos);
  EXPECT_NE(html.find("<tr class=\"INFEASIBLE\">"), std::string::npos);
  // Top architectures, best first, with costs.
  size_t top1 = html.find("#1 &middot; trial 2");
  size_t top2 = html.find("#2 &middot; trial 3");
  ASSERT_NE(top1, std::string::npos);
  ASSERT_NE(top2, std::string::npos);
  EXPECT_LT(top1, top2);
  EXPECT_NE(html.find("flash_bytes 586KiB"), std::string::npos);
  EXPECT_NE(html.find("latency_ms@cortex-m7 200.00"), std::string::npos);
  EXPECT_NE(html.find("3 succeeded, 1 failed, 1 infeasible"), std::string::npos);
  EXPECT_NE(html.find("Generated by hwnas report at 2024-05-01 13:00:00Z"), std::string::npos);
}

TEST(RenderHtmlReport, MarksTopArchitecturesWithinNoiseOfTheBest) {
  ReportInput input = MakeInput();
  // Trial 2 (#1 by reward) at 0.90 ±0.02, trial 3 (#2) at 0.87 ±0.03.
  input.trials[1].result->fold_accuracy = {0.88, 0.90, 0.92};
  input.trials[1].result->accuracy_se = 0.02;
  input.trials[2].result->accuracy = 0.87;
  input.trials[2].result->fold_accuracy = {0.84, 0.87, 0.90};
  input.trials[2].result->accuracy_se = 0.03;
  std::string html = RenderHtmlReport(input);
  CheckWellFormed(html);
  EXPECT_NE(html.find("accuracy 0.9000 \u00b10.0200"), std::string::npos);
  EXPECT_NE(html.find("accuracy 0.8700 \u00b10.0300 · within noise of #1"), std::string::npos);
  EXPECT_NE(html.find("mean over cross-validation folds"), std::string::npos);
  // Far apart: no mark.
  input.trials[2].result->accuracy = 0.80;
  html = RenderHtmlReport(input);
  EXPECT_EQ(html.find("within noise of #1"), std::string::npos);
  // Single-split trials never claim to know their noise.
  html = RenderHtmlReport(MakeInput());
  EXPECT_EQ(html.find("within noise"), std::string::npos);
  EXPECT_EQ(html.find("\u00b1"), std::string::npos);
}

TEST(RenderHtmlReport, EscapesNamesAndArchitectures) {
  ReportInput input = MakeInput();
  input.search.name = "<script>alert('x')</script>";
  input.search.owner = "a&b";
  input.trials[1].architecture.readable = "conv<3x3> & \"se\"";
  input.trials[4].failure_reason = "<b>oops</b>";
  std::string html = RenderHtmlReport(input);
  CheckWellFormed(html);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("owner a&amp;b"), std::string::npos);
  EXPECT_NE(html.find("conv&lt;3x3&gt; &amp; &quot;se&quot;"), std::string::npos);
  EXPECT_EQ(html.find("<b>oops"), std::string::npos);
}

TEST(RenderHtmlReport, EmptySearch) {
  ReportInput input = MakeInput();
  input.trials.clear();
  input.search.best_trial.reset();
  std::string html = RenderHtmlReport(input);
  CheckWellFormed(html);
  EXPECT_NE(html.find("No succeeded trials yet."), std::string::npos);
  EXPECT_NE(html.find("no data"), std::string::npos);
}

}  // namespace
}  // namespace hwnas::cli

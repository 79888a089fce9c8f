// Small self-contained SVG charts (scatter points, poly/step lines and
// threshold rules on linear axes with "nice" ticks) for the HTML report and
// `hwnas report --svg`. Output is deterministic text; every label is escaped.
#ifndef HWNAS_CLI_SVG_H_
#define HWNAS_CLI_SVG_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace hwnas::cli {

// Escapes &, <, >, " and ' for XML/HTML text and attribute values.
std::string XmlEscape(absl::string_view text);

enum class Marker { kCircle, kCross, kSquare };

struct SvgPoint {
  double x = 0;
  double y = 0;
  Marker marker = Marker::kCircle;
  std::string color = "#1f77b4";
  double radius = 3.5;
  std::string title;  // Tooltip (<title>).
};

struct SvgLine {
  std::vector<std::pair<double, double>> points;  // Drawn in this order.
  std::string color = "#1f77b4";
  double width = 1.5;
  bool dashed = false;
};

// A horizontal or vertical threshold line, e.g. a hard limit.
struct SvgRule {
  bool vertical = true;  // x = at; otherwise y = at.
  double at = 0;
  std::string color = "#d62728";
  std::string label;
};

struct SvgLegendEntry {
  std::string label;
  std::string color;
  Marker marker = Marker::kCircle;
  bool line = false;  // A line sample instead of a marker.
};

struct SvgChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  int width = 640;
  int height = 400;
  std::vector<SvgLine> lines;
  std::vector<SvgPoint> points;  // Drawn over the lines, in order.
  std::vector<SvgRule> rules;
  std::vector<SvgLegendEntry> legend;
};

// Up to about `target` round tick values (1, 2 or 5 times a power of ten)
// covering [lo, hi].
std::vector<double> NiceTicks(double lo, double hi, int target = 6);
// A compact tick label: "0.85", "120", "1.5k", "2.3M", "4G".
std::string FormatTick(double v);

// An <svg> element with xmlns, usable inline in HTML and as an .svg file.
std::string RenderSvg(const SvgChart& chart);

}  // namespace hwnas::cli

#endif  // HWNAS_CLI_SVG_H_

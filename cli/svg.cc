#include "cli/svg.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hwnas::cli {
namespace {

constexpr double kLeft = 72, kRight = 20, kTop = 34, kBottom = 52;

std::string Num(double v) { return absl::StrFormat("%.2f", v); }

void Expand(double& lo, double& hi) {
  if (hi > lo) {
    const double pad = (hi - lo) * 0.05;
    lo -= pad;
    hi += pad;
    return;
  }
  const double pad = lo == 0 ? 1.0 : std::fabs(lo) * 0.1;
  lo -= pad;
  hi += pad;
}

std::string MarkerSvg(Marker marker, double cx, double cy, double r, const std::string& color) {
  switch (marker) {
    case Marker::kCross:
      return absl::StrCat("<path d=\"M", Num(cx - r), " ", Num(cy - r), " L", Num(cx + r), " ",
                          Num(cy + r), " M", Num(cx - r), " ", Num(cy + r), " L", Num(cx + r), " ",
                          Num(cy - r), "\" stroke=\"", color,
                          "\" stroke-width=\"2\" fill=\"none\"");
    case Marker::kSquare:
      return absl::StrCat("<rect x=\"", Num(cx - r), "\" y=\"", Num(cy - r), "\" width=\"",
                          Num(2 * r), "\" height=\"", Num(2 * r), "\" fill=\"", color, "\"");
    case Marker::kCircle:
      break;
  }
  return absl::StrCat("<circle cx=\"", Num(cx), "\" cy=\"", Num(cy), "\" r=\"", Num(r),
                      "\" fill=\"", color, "\" fill-opacity=\"0.8\"");
}

}  // namespace

std::string XmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::vector<double> NiceTicks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!std::isfinite(lo) || !std::isfinite(hi) || hi <= lo || target < 2) return ticks;
  const double raw = (hi - lo) / (target - 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  const double first = std::ceil(lo / step - 1e-9) * step;
  for (double v = first; v <= hi + step * 1e-9; v += step) {
    ticks.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  }
  return ticks;
}

std::string FormatTick(double v) {
  const double a = std::fabs(v);
  if (a >= 1e9) return absl::StrFormat("%gG", v / 1e9);
  if (a >= 1e6) return absl::StrFormat("%gM", v / 1e6);
  if (a >= 1e4) return absl::StrFormat("%gk", v / 1e3);
  return absl::StrFormat("%g", v);
}

std::string RenderSvg(const SvgChart& c) {
  const double w = c.width, h = c.height;
  const double pw = w - kLeft - kRight, ph = h - kTop - kBottom;
  double xlo = 0, xhi = 0, ylo = 0, yhi = 0;
  bool any = false;
  auto include = [&](double x, double y, bool use_x, bool use_y) {
    if (!std::isfinite(x) || !std::isfinite(y)) return;
    if (!any) {
      xlo = xhi = x;
      ylo = yhi = y;
      any = true;
      return;
    }
    if (use_x) xlo = std::min(xlo, x), xhi = std::max(xhi, x);
    if (use_y) ylo = std::min(ylo, y), yhi = std::max(yhi, y);
  };
  for (const SvgPoint& p : c.points) include(p.x, p.y, true, true);
  for (const SvgLine& l : c.lines) {
    for (const auto& [x, y] : l.points) include(x, y, true, true);
  }
  if (any) {
    for (const SvgRule& r : c.rules) {
      if (r.vertical)
        include(r.at, ylo, true, false);
      else
        include(xlo, r.at, false, true);
    }
  }
  std::string out = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
      "font-family=\"sans-serif\" font-size=\"12\" role=\"img\">\n",
      c.width, c.height, c.width, c.height);
  absl::StrAppend(&out, "<title>", XmlEscape(c.title), "</title>\n");
  absl::StrAppend(&out, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
  absl::StrAppend(&out, "<text x=\"", Num(w / 2),
                  "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" "
                  "font-weight=\"bold\">",
                  XmlEscape(c.title), "</text>\n");
  if (!any) {
    absl::StrAppend(&out, "<text x=\"", Num(w / 2), "\" y=\"", Num(h / 2),
                    "\" text-anchor=\"middle\" fill=\"#666\">no data</text>\n</svg>\n");
    return out;
  }
  Expand(xlo, xhi);
  Expand(ylo, yhi);
  auto sx = [&](double x) { return kLeft + (x - xlo) / (xhi - xlo) * pw; };
  auto sy = [&](double y) { return kTop + (yhi - y) / (yhi - ylo) * ph; };
  // Frame, grid and ticks.
  absl::StrAppend(&out, "<g class=\"axes\" stroke=\"#333\" fill=\"none\"><rect x=\"", Num(kLeft),
                  "\" y=\"", Num(kTop), "\" width=\"", Num(pw), "\" height=\"", Num(ph),
                  "\"/></g>\n<g class=\"ticks\">\n");
  for (double t : NiceTicks(xlo, xhi)) {
    const double x = sx(t);
    absl::StrAppend(&out, "<line x1=\"", Num(x), "\" y1=\"", Num(kTop), "\" x2=\"", Num(x),
                    "\" y2=\"", Num(kTop + ph), "\" stroke=\"#e5e5e5\"/>", "<text x=\"", Num(x),
                    "\" y=\"", Num(kTop + ph + 16), "\" text-anchor=\"middle\">",
                    XmlEscape(FormatTick(t)), "</text>\n");
  }
  for (double t : NiceTicks(ylo, yhi)) {
    const double y = sy(t);
    absl::StrAppend(&out, "<line x1=\"", Num(kLeft), "\" y1=\"", Num(y), "\" x2=\"",
                    Num(kLeft + pw), "\" y2=\"", Num(y), "\" stroke=\"#e5e5e5\"/>", "<text x=\"",
                    Num(kLeft - 6), "\" y=\"", Num(y + 4), "\" text-anchor=\"end\">",
                    XmlEscape(FormatTick(t)), "</text>\n");
  }
  absl::StrAppend(&out, "</g>\n");
  absl::StrAppend(&out, "<text x=\"", Num(kLeft + pw / 2), "\" y=\"", Num(h - 12),
                  "\" text-anchor=\"middle\">", XmlEscape(c.x_label), "</text>\n");
  absl::StrAppend(&out, "<text x=\"16\" y=\"", Num(kTop + ph / 2),
                  "\" text-anchor=\"middle\" transform=\"rotate(-90 16 ", Num(kTop + ph / 2),
                  ")\">", XmlEscape(c.y_label), "</text>\n");
  // Rules.
  for (const SvgRule& r : c.rules) {
    if (r.vertical) {
      const double x = sx(r.at);
      absl::StrAppend(&out, "<line class=\"rule\" x1=\"", Num(x), "\" y1=\"", Num(kTop), "\" x2=\"",
                      Num(x), "\" y2=\"", Num(kTop + ph), "\" stroke=\"", r.color,
                      "\" stroke-dasharray=\"6 4\"/><text x=\"", Num(x + 4), "\" y=\"",
                      Num(kTop + 12), "\" fill=\"", r.color, "\">", XmlEscape(r.label),
                      "</text>\n");
    } else {
      const double y = sy(r.at);
      absl::StrAppend(&out, "<line class=\"rule\" x1=\"", Num(kLeft), "\" y1=\"", Num(y),
                      "\" x2=\"", Num(kLeft + pw), "\" y2=\"", Num(y), "\" stroke=\"", r.color,
                      "\" stroke-dasharray=\"6 4\"/><text x=\"", Num(kLeft + 4), "\" y=\"",
                      Num(y - 4), "\" fill=\"", r.color, "\">", XmlEscape(r.label), "</text>\n");
    }
  }
  // Lines, then points.
  for (const SvgLine& l : c.lines) {
    std::string pts;
    for (const auto& [x, y] : l.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      absl::StrAppend(&pts, pts.empty() ? "" : " ", Num(sx(x)), ",", Num(sy(y)));
    }
    absl::StrAppend(&out, "<polyline class=\"series\" points=\"", pts, "\" fill=\"none\" stroke=\"",
                    l.color, "\" stroke-width=\"", Num(l.width), "\"",
                    l.dashed ? " stroke-dasharray=\"4 3\"" : "", "/>\n");
  }
  for (const SvgPoint& p : c.points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
    absl::StrAppend(&out, MarkerSvg(p.marker, sx(p.x), sy(p.y), p.radius, p.color));
    if (p.title.empty()) {
      absl::StrAppend(&out, "/>\n");
    } else {
      absl::StrAppend(&out, "><title>", XmlEscape(p.title), "</title></",
                      p.marker == Marker::kCross    ? "path"
                      : p.marker == Marker::kSquare ? "rect"
                                                    : "circle",
                      ">\n");
    }
  }
  // Legend, top right inside the plot.
  if (!c.legend.empty()) {
    double y = kTop + 14;
    const double x = kLeft + pw - 150;
    absl::StrAppend(&out, "<g class=\"legend\"><rect x=\"", Num(x - 8), "\" y=\"", Num(kTop + 4),
                    "\" width=\"154\" height=\"", Num(c.legend.size() * 16 + 6),
                    "\" fill=\"#fff\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n");
    for (const SvgLegendEntry& e : c.legend) {
      if (e.line) {
        absl::StrAppend(&out, "<line x1=\"", Num(x), "\" y1=\"", Num(y), "\" x2=\"", Num(x + 14),
                        "\" y2=\"", Num(y), "\" stroke=\"", e.color, "\" stroke-width=\"2\"/>");
      } else {
        absl::StrAppend(&out, MarkerSvg(e.marker, x + 7, y, 4, e.color), "/>");
      }
      absl::StrAppend(&out, "<text x=\"", Num(x + 20), "\" y=\"", Num(y + 4), "\">",
                      XmlEscape(e.label), "</text>\n");
      y += 16;
    }
    absl::StrAppend(&out, "</g>\n");
  }
  absl::StrAppend(&out, "</svg>\n");
  return out;
}

}  // namespace hwnas::cli

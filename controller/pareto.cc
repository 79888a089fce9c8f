#include "controller/pareto.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hwnas::controller {
namespace {

// Whether a weakly dominates b (better or equal everywhere).
bool WeaklyDominates(const ParetoPoint& a, const ParetoPoint& b) {
  if (a.accuracy < b.accuracy) return false;
  for (size_t i = 0; i < a.costs.size(); ++i) {
    if (a.costs[i] > b.costs[i]) return false;
  }
  return true;
}

double Hv2(std::vector<std::vector<double>>& pts, absl::Span<const double> ref) {
  std::sort(pts.begin(), pts.end());
  double volume = 0;
  double best_y = ref[1];
  for (const std::vector<double>& p : pts) {
    if (p[1] < best_y) {
      volume += (ref[0] - p[0]) * (best_y - p[1]);
      best_y = p[1];
    }
  }
  return volume;
}

// Slices along the first coordinate; each slab's cross-section is the
// (d-1)-dimensional hypervolume of the points whose first coordinate is below it.
double HvRec(std::vector<std::vector<double>> pts, absl::Span<const double> ref) {
  const size_t d = ref.size();
  if (pts.empty()) return 0;
  if (d == 1) {
    double best = ref[0];
    for (const auto& p : pts) best = std::min(best, p[0]);
    return ref[0] - best;
  }
  if (d == 2) return Hv2(pts, ref);
  std::sort(pts.begin(), pts.end());
  double volume = 0;
  std::vector<std::vector<double>> below;
  for (size_t i = 0; i < pts.size(); ++i) {
    below.emplace_back(pts[i].begin() + 1, pts[i].end());
    const double next = i + 1 < pts.size() ? pts[i + 1][0] : ref[0];
    const double width = next - pts[i][0];
    if (width > 0) volume += width * HvRec(below, ref.subspan(1));
  }
  return volume;
}

}  // namespace

bool Dominates(const ParetoPoint& a, const ParetoPoint& b) {
  if (!WeaklyDominates(a, b)) return false;
  if (a.accuracy > b.accuracy) return true;
  for (size_t i = 0; i < a.costs.size(); ++i) {
    if (a.costs[i] < b.costs[i]) return true;
  }
  return false;
}

ParetoFront::ParetoFront(std::vector<std::string> cost_metrics)
    : cost_metrics_(std::move(cost_metrics)) {}

bool ParetoFront::Add(ParetoPoint point) {
  for (const ParetoPoint& p : points_) {
    if (WeaklyDominates(p, point)) return false;
  }
  std::erase_if(points_, [&](const ParetoPoint& p) { return Dominates(point, p); });
  auto at = std::upper_bound(
      points_.begin(), points_.end(), point,
      [](const ParetoPoint& a, const ParetoPoint& b) { return a.accuracy > b.accuracy; });
  points_.insert(at, std::move(point));
  return true;
}

absl::StatusOr<bool> ParetoFront::AddResult(uint64_t trial_id, const Architecture& architecture,
                                            const TrialResult& result) {
  ParetoPoint p;
  p.trial_id = trial_id;
  p.architecture = architecture;
  p.accuracy = result.accuracy;
  for (const std::string& m : cost_metrics_) {
    std::optional<double> v = MetricValue(result, m);
    if (!v) {
      return absl::InvalidArgumentError(
          absl::StrCat("result has no '", m, "' for the Pareto front"));
    }
    p.costs.push_back(*v);
  }
  return Add(std::move(p));
}

double ParetoFront::Hypervolume(double reference_accuracy,
                                absl::Span<const double> reference_costs) const {
  std::vector<double> ref = {-reference_accuracy};
  ref.insert(ref.end(), reference_costs.begin(), reference_costs.end());
  std::vector<std::vector<double>> pts;
  for (const ParetoPoint& p : points_) {
    std::vector<double> v = {-p.accuracy};
    v.insert(v.end(), p.costs.begin(), p.costs.end());
    pts.push_back(std::move(v));
  }
  return HypervolumeMin(std::move(pts), ref);
}

double HypervolumeMin(std::vector<std::vector<double>> points, absl::Span<const double> reference) {
  // Only points strictly better than the reference in every coordinate count.
  std::erase_if(points, [&](const std::vector<double>& p) {
    if (p.size() != reference.size()) return true;
    for (size_t i = 0; i < p.size(); ++i) {
      if (!(p[i] < reference[i])) return true;
    }
    return false;
  });
  return HvRec(std::move(points), reference);
}

}  // namespace hwnas::controller

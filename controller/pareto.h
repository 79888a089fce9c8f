// The Pareto front over accuracy (maximized) and one or more costs
// (minimized), and its hypervolume against a reference point.
#ifndef HWNAS_CONTROLLER_PARETO_H_
#define HWNAS_CONTROLLER_PARETO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/trial.h"

namespace hwnas::controller {

struct ParetoPoint {
  uint64_t trial_id = 0;  // The caller's id (a proposal or database trial id).
  Architecture architecture;
  double accuracy = 0;
  std::vector<double> costs;  // In the front's cost_metrics() order.

  friend bool operator==(const ParetoPoint&, const ParetoPoint&) = default;
};

// True when a is at least as good as b everywhere and better somewhere.
bool Dominates(const ParetoPoint& a, const ParetoPoint& b);

// The non-dominated points seen so far. Single-threaded (thread-compatible).
class ParetoFront {
 public:
  explicit ParetoFront(std::vector<std::string> cost_metrics);

  const std::vector<std::string>& cost_metrics() const { return cost_metrics_; }
  // Points sorted by accuracy, best first.
  const std::vector<ParetoPoint>& points() const { return points_; }

  // Adds a point unless a point on the front dominates or equals it; drops
  // the points it dominates. Returns whether it joined the front.
  bool Add(ParetoPoint point);
  // Reads accuracy and the cost metrics from a result (MetricValue names).
  // Fails when the result lacks one of them.
  absl::StatusOr<bool> AddResult(uint64_t trial_id, const Architecture& architecture,
                                 const TrialResult& result);

  // Hypervolume dominated by the front and bounded by the reference point
  // (accuracy = reference_accuracy, costs = reference_costs); points that do
  // not improve on the reference in every objective add nothing.
  double Hypervolume(double reference_accuracy, absl::Span<const double> reference_costs) const;

 private:
  std::vector<std::string> cost_metrics_;
  std::vector<ParetoPoint> points_;
};

// Hypervolume of points under minimization of every coordinate, bounded by
// `reference` (exact; O(n log n) in 2-D, recursive slicing above).
double HypervolumeMin(std::vector<std::vector<double>> points, absl::Span<const double> reference);

}  // namespace hwnas::controller

#endif  // HWNAS_CONTROLLER_PARETO_H_

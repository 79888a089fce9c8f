// NSGA-II (Deb et al. 2002) over accuracy and the search's cost metrics,
// without scalarizing them: the reward is not used for selection at all.
//
// Objectives (all minimized internally): -accuracy, then every metric that a
// reward constraint names, then the Pareto metrics (RewardOptions'
// EffectiveParetoMetrics), each once. Hard limits are handled by Deb's
// constraint-domination: a member within every limit beats one over a limit;
// of two over limits the one with the smaller total normalized violation
// (sum of max(0, (m - max) / max)) wins; two within the limits compare by
// Pareto dominance. Ties within a front are broken by crowding distance.
//
// Steady-state and asynchronous, because the server proposes a few
// architectures at a time and results arrive in any order: the first
// `population` proposals are uniform random; after that every proposal is a
// child of two parents chosen by binary tournaments (rank, then crowding)
// from the current population, made by uniform crossover (with probability
// `crossover`) and per-decision mutation (probability `mutation`, each
// mutated decision moved to a different choice). Each observed result joins
// the population, which is then cut back to `population` members by
// non-dominated sorting and crowding distance: (mu + lambda) survival where
// lambda is however many results one Observe() brings.
#ifndef HWNAS_CONTROLLER_NSGA2_H_
#define HWNAS_CONTROLLER_NSGA2_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "controller/key_set.h"
#include "controller/reward.h"
#include "controller/rng.h"
#include "controller/strategy.h"

namespace hwnas::controller {

// One candidate as NSGA-II ranks it.
struct Nsga2Point {
  std::vector<double> objectives;  // Minimized; +inf where the metric is missing.
  double violation = 0;            // Total normalized hard-limit violation; 0: feasible.
};

// Deb's constraint-domination: true when a is better than b.
bool ConstrainedDominates(const Nsga2Point& a, const Nsga2Point& b);

// Fast non-dominated sort under ConstrainedDominates: front indices, best
// front first, each front's members in increasing index order.
std::vector<std::vector<int>> NonDominatedFronts(const std::vector<Nsga2Point>& points);

// Crowding distance of each member of `front` (indices into points), in the
// front's order: +inf for the extremes of each objective, else the sum over
// objectives of the normalized gap between the neighbours. Objectives with
// no finite spread in the front add nothing.
std::vector<double> CrowdingDistances(const std::vector<Nsga2Point>& points,
                                      const std::vector<int>& front);

// Single-threaded (see Strategy).
class Nsga2 : public Strategy {
 public:
  // `reward` (may be null: objectives accuracy and latency_ms, no limits)
  // gives the objectives and hard limits.
  Nsga2(Nsga2Options options, const space::SearchSpace& space, uint64_t seed,
        const RewardOptions* reward);

  absl::string_view name() const override { return "nsga2"; }
  absl::StatusOr<std::vector<Proposal>> Propose(int n) override;
  absl::Status Observe(absl::Span<const Observation> observations) override;
  absl::Status WarmStart(absl::Span<const Observation> earlier) override;
  absl::StatusOr<std::string> Save() const override;
  absl::Status Restore(absl::string_view bytes) override;

  // Metric names of the objectives after accuracy.
  const std::vector<std::string>& cost_metrics() const { return metrics_; }

  struct Member {
    std::vector<int> tokens;
    Nsga2Point point;
  };
  const std::vector<Member>& population() const { return population_; }

 private:
  std::optional<Member> ToMember(const Observation& o) const;
  // Cuts the population back to options_.population and refreshes ranks and
  // crowding distances.
  void Survive();
  int Tournament();
  std::optional<std::vector<int>> Child();

  Nsga2Options options_;
  const space::SearchSpace& space_;
  std::vector<std::string> metrics_;
  std::vector<HardLimit> limits_;
  double mutation_ = 0;  // Effective per-decision probability.
  Rng rng_;
  uint64_t next_id_ = 1;
  int random_issued_ = 0;
  std::vector<Member> population_;
  // Derived from population_ (not saved): rank and crowding per member.
  std::vector<int> rank_;
  std::vector<double> crowding_;
  KeySet seen_;
};

}  // namespace hwnas::controller

#endif  // HWNAS_CONTROLLER_NSGA2_H_

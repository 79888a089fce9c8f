// Regularized (aging) evolution (Real et al. 2019) with constraint-aware
// fitness: the search's reward, with INFEASIBLE trials ranked below every
// feasible one.
#ifndef HWNAS_CONTROLLER_EVOLUTION_H_
#define HWNAS_CONTROLLER_EVOLUTION_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "controller/key_set.h"
#include "controller/rng.h"
#include "controller/strategy.h"

namespace hwnas::controller {

// Single-threaded (see Strategy).
//
// The first `population` proposals are uniform random (unless a warm start
// filled the population); after that each proposal is a mutation of the
// winner of a tournament over the current population. Every observed trial
// with a reward (or INFEASIBLE) joins the population as its youngest member
// and the oldest member leaves once the population is full. Children never
// repeat an architecture this strategy has proposed or observed.
class Evolution : public Strategy {
 public:
  Evolution(EvolutionOptions options, const space::SearchSpace& space, uint64_t seed);

  absl::string_view name() const override { return "evolution"; }
  absl::StatusOr<std::vector<Proposal>> Propose(int n) override;
  absl::Status Observe(absl::Span<const Observation> observations) override;
  absl::Status WarmStart(absl::Span<const Observation> earlier) override;
  absl::StatusOr<std::string> Save() const override;
  absl::Status Restore(absl::string_view bytes) override;

  struct Member {
    std::vector<int> tokens;
    bool feasible = true;
    double reward = 0;
  };
  const std::deque<Member>& population() const { return population_; }

 private:
  // A mutated copy of a tournament winner, or a random architecture.
  std::optional<std::vector<int>> Child();
  void Add(const Observation& o);

  EvolutionOptions options_;
  const space::SearchSpace& space_;
  Rng rng_;
  uint64_t next_id_ = 1;
  int random_issued_ = 0;
  std::deque<Member> population_;  // Oldest first.
  KeySet seen_;
};

}  // namespace hwnas::controller

#endif  // HWNAS_CONTROLLER_EVOLUTION_H_

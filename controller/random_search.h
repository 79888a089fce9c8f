// Random search: uniform over the space's valid architectures, no repeats.
#ifndef HWNAS_CONTROLLER_RANDOM_SEARCH_H_
#define HWNAS_CONTROLLER_RANDOM_SEARCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "controller/key_set.h"
#include "controller/rng.h"
#include "controller/strategy.h"

namespace hwnas::controller {

// Single-threaded (see Strategy). Architectures observed from elsewhere
// (warm start, foreign trials) are never proposed again either.
class RandomSearch : public Strategy {
 public:
  RandomSearch(const space::SearchSpace& space, uint64_t seed);

  absl::string_view name() const override { return "random"; }
  absl::StatusOr<std::vector<Proposal>> Propose(int n) override;
  absl::Status Observe(absl::Span<const Observation> observations) override;
  absl::Status WarmStart(absl::Span<const Observation> earlier) override;
  absl::StatusOr<std::string> Save() const override;
  absl::Status Restore(absl::string_view bytes) override;

 private:
  const space::SearchSpace& space_;
  Rng rng_;
  uint64_t next_id_ = 1;
  KeySet seen_;  // ExactKey of every proposed/observed architecture.
};

}  // namespace hwnas::controller

#endif  // HWNAS_CONTROLLER_RANDOM_SEARCH_H_

// The search-strategy interface: strategies turn observed rewards into new
// proposals. Plain C++ (no gRPC, SQL or torch types), so a strategy can be
// unit-tested and benchmarked offline and checkpointed by the server.
//
// Most callers want controller::Search (search.h), which wraps a strategy
// with the reward, the Pareto front, the trial budget and the cache that
// answers repeated proposals from earlier results.
#ifndef HWNAS_CONTROLLER_STRATEGY_H_
#define HWNAS_CONTROLLER_STRATEGY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/trial.h"
#include "common/yaml_fields.h"
#include "space/search_space.h"
#include "spec/objectives.h"
#include "spec/strategy_options.h"

namespace hwnas::controller {

using spec::RewardOptions;

// A proposal id no strategy hands out: marks observations of trials a
// strategy did not propose (warm start, trials proposed after the last
// checkpoint of a crashed server).
inline constexpr uint64_t kNoProposal = 0;

// One architecture to evaluate. `id` is unique and increasing within the
// strategy (1, 2, ...); the strategy keeps what it needs to learn from the
// proposal later (e.g. the LSTM's log-probability at sampling time) under it,
// and that bookkeeping is part of Save().
struct Proposal {
  uint64_t id = kNoProposal;
  Architecture architecture;
};

// A finished trial as a strategy sees it.
struct Observation {
  uint64_t proposal_id = kNoProposal;
  Architecture architecture;
  // kSucceeded or kEarlyStopped: `reward` is meaningful. kInfeasible: over a
  // hard limit, never trained. kFailed / kCancelled: no usable metrics.
  TrialState state = TrialState::kSucceeded;
  TrialResult result;
  double reward = 0;  // From the search's RewardFunction.

  bool HasReward() const {
    return state == TrialState::kSucceeded || state == TrialState::kEarlyStopped;
  }
};

// Single-threaded: a Strategy is not thread-safe; the owner serializes calls.
class Strategy {
 public:
  virtual ~Strategy() = default;

  virtual absl::string_view name() const = 0;

  // Returns up to n new proposals (fewer only when the strategy can offer no
  // more, e.g. random search after exhausting the space). A strategy may
  // repeat an architecture; Search answers repeats from earlier results.
  virtual absl::StatusOr<std::vector<Proposal>> Propose(int n) = 0;

  // Takes finished trials in any order, including failed, infeasible and
  // early-stopped ones and ones the strategy did not propose (kNoProposal or
  // an id it does not know). Each proposal id should be observed once.
  virtual absl::Status Observe(absl::Span<const Observation> observations) = 0;

  // Seeds the strategy with finished trials of an earlier search over the
  // same space (evolution: first population; controller: pre-training).
  virtual absl::Status WarmStart(absl::Span<const Observation> earlier) = 0;

  // The full state, random generators and pending proposals included: a
  // strategy restored from these bytes continues exactly as this one would.
  virtual absl::StatusOr<std::string> Save() const = 0;
  // Replaces the state; the strategy must have been made with the same
  // options and space. Fails (leaving the state unchanged) on foreign or
  // corrupt bytes.
  virtual absl::Status Restore(absl::string_view bytes) = 0;
};

// The options of the spec's `strategy:` section and their parser live with
// the spec (spec/strategy_options.h).
using spec::ControllerOptions;
using spec::EvolutionOptions;
using spec::Nsga2Options;
using spec::ParseStrategyOptions;
using spec::PolicyGradient;
using spec::StrategyNames;
using spec::StrategyOptions;
using spec::SurrogateOptions;
using spec::ValidateStrategyOptions;

// Makes the named strategy. `space` must outlive it. Equal (options, space,
// seed, reward) give strategies that propose identical sequences. `reward`
// is the search's reward (Search passes it; nullptr: unknown): the surrogate
// strategy uses its structure to model accuracy and costs separately, nsga2
// takes its objectives and hard limits from it.
absl::StatusOr<std::unique_ptr<Strategy>> MakeStrategy(const StrategyOptions& options,
                                                       const space::SearchSpace& space,
                                                       uint64_t seed,
                                                       const RewardOptions* reward = nullptr);

}  // namespace hwnas::controller

#endif  // HWNAS_CONTROLLER_STRATEGY_H_

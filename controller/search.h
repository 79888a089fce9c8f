// controller::Search: one search's strategy together with its reward, its
// Pareto front, its trial budget and the cache that answers repeated
// proposals from earlier results. This is what the server drives:
//
//   auto search = Search::Create(options, space, seed);     // new search
//   proposals = search->Propose(n);          // store as PENDING trials (proposal.id)
//   scored = search->Observe(finished);      // results, any order; store rewards
//   bytes = search->Save();                  // store as the controller checkpoint
//   ... after a crash: Create(...) again, Restore(bytes), then Observe() every
//   trial that finished after that checkpoint was taken. (Save(false) and
//   RestoreHistory(): the same with a checkpoint that leaves out the history.)
//
// Repeats: an architecture the strategy proposes again is not evaluated
// again. If it already finished, the strategy is answered at once from the
// earlier result; if it is still pending, the repeat waits for that result.
// Either way Propose() hands out only new architectures. "Same" is decided
// by SearchSpace::CanonicalHash (equivalent networks, the default) or by the
// exact token list (DedupKey::kExact, for evaluators such as the NAS-Bench-201
// table that distinguish equivalent token lists: each row is its own run).
#ifndef HWNAS_CONTROLLER_SEARCH_H_
#define HWNAS_CONTROLLER_SEARCH_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/trial.h"
#include "controller/key_set.h"
#include "controller/pareto.h"
#include "controller/reward.h"
#include "controller/strategy.h"
#include "space/search_space.h"
#include "spec/controller_spec.h"

namespace hwnas::controller {

enum class DedupKey { kCanonical, kExact };

struct SearchOptions {
  RewardOptions reward;
  StrategyOptions strategy;
  // Distinct architectures to evaluate (finished trials of any terminal
  // state but CANCELLED, repeats not counted). 0: unlimited.
  int64_t budget = 0;
  DedupKey dedup = DedupKey::kCanonical;
  // Proposals drawn from the strategy within one Propose() call before it
  // gives up looking for new architectures (a converged controller keeps
  // proposing repeats; each is answered and learned from).
  int max_draws_per_call = 2000;

  SearchOptions& set_reward(RewardOptions v) {
    reward = std::move(v);
    return *this;
  }
  SearchOptions& set_strategy(StrategyOptions v) {
    strategy = std::move(v);
    return *this;
  }
  SearchOptions& set_budget(int64_t v) {
    budget = v;
    return *this;
  }
  SearchOptions& set_dedup(DedupKey v) {
    dedup = v;
    return *this;
  }
};

// SearchOptions for a spec's controller sections: dedup by exact tokens for
// the table evaluator (its rows for equivalent cells are separate training
// runs), by canonical hash otherwise.
SearchOptions MakeSearchOptions(const spec::ControllerSpec& spec);

// A finished trial as the server reports it.
struct FinishedTrial {
  uint64_t proposal_id = kNoProposal;  // Proposal::id, or kNoProposal if unknown.
  Architecture architecture;
  TrialState state = TrialState::kSucceeded;  // A terminal state.
  TrialResult result;
  // Multi-fidelity: a longer-trained result of an architecture whose earlier
  // rung was observed already (a promoted trial's next rung). It replaces the
  // cached result, so repeats, the best trial and the Pareto front use the
  // highest rung, not the first.
  bool supersedes = false;
};

// A finished trial with its reward, as stored and as the strategy saw it.
struct ScoredTrial {
  uint64_t proposal_id = kNoProposal;
  Architecture architecture;
  // kInfeasible also when a succeeded result is over a hard limit.
  TrialState state = TrialState::kSucceeded;
  TrialResult result;
  double reward = 0;      // Meaningful when state is kSucceeded or kEarlyStopped.
  bool feasible = false;  // Has a reward and is within every hard limit.
  bool counted = false;   // Consumed budget (false for repeats and cancellations).
  std::string note;       // e.g. the hard limit that made it infeasible.
};

// Single-threaded (thread-compatible): the server serializes calls per search.
class Search {
 public:
  // Validates the options and makes the strategy with MakeStrategy.
  // `space` must outlive the search.
  static absl::StatusOr<std::unique_ptr<Search>> Create(SearchOptions options,
                                                        const space::SearchSpace& space,
                                                        uint64_t seed);
  // With a strategy made elsewhere (tests, custom strategies).
  static absl::StatusOr<std::unique_ptr<Search>> Create(SearchOptions options,
                                                        const space::SearchSpace& space,
                                                        std::unique_ptr<Strategy> strategy);

  // Up to n new architectures to evaluate (fewer when the budget, the space,
  // or max_draws_per_call runs out; empty means nothing more to propose now).
  absl::StatusOr<std::vector<Proposal>> Propose(int n);

  // Scores finished trials (any order; repeats of an already observed
  // proposal id are ignored), updates cache, Pareto front and budget, and
  // feeds the strategy (plus any repeats waiting on these architectures).
  // All-or-nothing: a malformed trial fails the call before any change.
  absl::StatusOr<std::vector<ScoredTrial>> Observe(absl::Span<const FinishedTrial> trials);

  // Seeds the strategy with an earlier search's finished trials (same space).
  // They are scored with this search's reward but not cached or counted.
  // Trials that do not score here (tokens invalid in this space's
  // configuration, a metric this reward needs missing) are skipped, not
  // fatal: the report says how many were used and why the first was not
  // (their proposal_id, e.g. the earlier trial's number, only names them).
  struct WarmStartReport {
    int64_t used = 0;
    int64_t skipped = 0;
    std::string first_skip_reason;
  };
  absl::StatusOr<WarmStartReport> WarmStart(absl::Span<const FinishedTrial> earlier);

  // Reward and feasibility of one result, without changing anything.
  absl::StatusOr<ScoredTrial> Score(const FinishedTrial& trial) const;

  // `with_history` false leaves out the finished trials (history, cache,
  // Pareto front): for a caller that keeps them itself, such as the server's
  // trials table, so the checkpoint does not grow with the search. Such a
  // caller restores with Restore() and then RestoreHistory().
  absl::StatusOr<std::string> Save(bool with_history = true) const;
  absl::Status Restore(absl::string_view bytes);
  // After Restore(): rebuilds the history (cache, Pareto front, budget count)
  // from finished trials kept by the caller, in finish order, without feeding
  // the strategy again. Records every trial of `observed` (the strategy had
  // seen them when the checkpoint was saved) and those of `later` whose
  // proposal the checkpoint had already observed; the rest of `later` is for
  // Observe(). Architectures already recorded and CANCELLED trials are
  // skipped, as are trials that do not score (Observe() rejected them too).
  absl::Status RestoreHistory(absl::Span<const FinishedTrial> observed,
                              absl::Span<const FinishedTrial> later);

  const SearchOptions& options() const { return options_; }
  const RewardFunction& reward_function() const { return reward_; }
  const ParetoFront& pareto_front() const { return pareto_; }
  // Counted trials in the order they finished.
  const std::vector<ScoredTrial>& history() const { return history_; }
  // The feasible trial with the highest reward, if any.
  const ScoredTrial* best() const { return best_ < 0 ? nullptr : &history_[best_]; }
  int64_t evaluated() const { return static_cast<int64_t>(history_.size()); }
  int64_t pending() const { return static_cast<int64_t>(pending_.size()); }
  // No budget left for new proposals (counting pending ones).
  bool BudgetExhausted() const;
  Strategy& strategy() { return *strategy_; }

 private:
  Search(SearchOptions options, const space::SearchSpace& space, RewardFunction reward,
         std::unique_ptr<Strategy> strategy);

  uint64_t Key(absl::Span<const int> tokens) const;
  Observation ToObservation(const ScoredTrial& s, uint64_t proposal_id) const;
  void Record(ScoredTrial scored, uint64_t key);
  // Replaces history_[index] with a later rung's result (FinishedTrial::
  // supersedes); best and front follow.
  void Supersede(ScoredTrial scored, size_t index);

  SearchOptions options_;
  const space::SearchSpace& space_;
  RewardFunction reward_;
  std::unique_ptr<Strategy> strategy_;
  ParetoFront pareto_;

  std::vector<ScoredTrial> history_;
  absl::flat_hash_map<uint64_t, size_t> finished_;       // key -> history_ index
  std::map<uint64_t, uint64_t> pending_;                 // proposal id -> key
  absl::flat_hash_map<uint64_t, uint64_t> pending_key_;  // key -> proposal id
  // key -> repeat proposal ids waiting for that key's pending result.
  std::map<uint64_t, std::vector<uint64_t>> waiting_;
  KeySet observed_ids_;
  int best_ = -1;
};

}  // namespace hwnas::controller

#endif  // HWNAS_CONTROLLER_SEARCH_H_

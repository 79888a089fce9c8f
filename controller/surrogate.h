// Surrogate-guided search (BANANAS-style, model-based): after a few random
// proposals, cheap linear models on one-hot token features plus pairwise
// interactions predict each candidate's accuracy and constrained costs (or
// the reward itself), and Thompson sampling over an ensemble picks the next
// architecture. A global model, unlike the climbing strategies, is not held
// back by deceptive local neighbourhoods.
#ifndef HWNAS_CONTROLLER_SURROGATE_H_
#define HWNAS_CONTROLLER_SURROGATE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "controller/key_set.h"
#include "controller/reward.h"
#include "controller/rng.h"
#include "controller/strategy.h"

namespace hwnas::controller {

namespace internal {

// Bayesian ridge regression on sparse binary features, fitted online
// (Sherman-Morrison updates of the inverse precision matrix, O(p^2) per
// row) with "ensemble sampling" (Lu & Van Roy 2017): member m solves the
// ridge problem with its own Gaussian perturbations of every target and of
// the prior mean, so drawing a member is an approximate posterior sample.
// Perturbations are kept in standard units and scaled when the model is
// fitted; targets are kept so that the fit can transform them (clipping). Rows with a "floor"
// target (infeasible trials in a direct reward model) get their value only at prediction time.
// Single-threaded.
class RidgeEnsemble {
 public:
  // `prior_precision`: the ridge penalty per feature (its size is the
  // feature count). Equal (precisions, members, seed) and equal Add
  // sequences give bit-identical models.
  RidgeEnsemble(const std::vector<double>& prior_precision, int members, uint64_t seed);

  // Adds a row with its target; `noise_seed` draws the members' perturbations.
  void Add(absl::Span<const int> active, double y, uint64_t noise_seed);
  // Adds a row whose target is the `floor` given to Weights.
  void AddFloor(absl::Span<const int> active, uint64_t noise_seed);

  // Fits member `member` (or the unperturbed mean model when member < 0):
  // writes the weights and returns the intercept, so a row's prediction is
  // intercept + the sum of its features' weights. Perturbations are scaled
  // by `exploration` times the standard deviation of the (clipped) targets;
  // targets below their `clip_quantile` quantile are raised to it (0: none)
  // and those above `clip_high_quantile` lowered to it (1: none).
  double Fit(int member, double exploration, double clip_quantile, double floor,
             std::vector<double>& w, double clip_high_quantile = 1) const;

  int rows() const { return static_cast<int>(ys_.size()); }
  int features() const { return p_; }
  int members() const { return static_cast<int>(pert_.size()); }

 private:
  void Update(absl::Span<const int> active, uint64_t noise_seed);

  int p_;
  std::vector<double> ainv_;            // p x p, row-major, symmetric.
  std::vector<std::vector<int>> rows_;  // Active features of each target row.
  std::vector<double> ys_;
  std::vector<double> xfloor_;             // Column sums of the floor rows.
  std::vector<std::vector<double>> pert_;  // Per member: X'z + sqrt(prior) g.
};

}  // namespace internal

// Single-threaded (see Strategy).
//
// The first `initial` proposals are uniform random (fewer after a warm
// start). Then every proposal draws one ensemble member and proposes the
// unevaluated candidate with the best predicted reward under it. When the
// strategy knows the search's reward (MakeStrategy passes it) and
// `decompose` is on, it models accuracy and the log of every constrained
// metric separately and scores candidates with the reward function itself
// (hard limits included); otherwise it models the reward. Candidates are
// every valid architecture of a small space (cardinality up to
// `enumerate_limit`), else `pool` random ones plus 1-2 decision mutations of
// the best observed ones. Never proposes an architecture it has proposed or
// observed (exact token key).
class Surrogate : public Strategy {
 public:
  // `reward`: the search's reward, or nullptr when unknown.
  Surrogate(SurrogateOptions options, const space::SearchSpace& space, uint64_t seed,
            const RewardOptions* reward);

  absl::string_view name() const override { return "surrogate"; }
  absl::StatusOr<std::vector<Proposal>> Propose(int n) override;
  absl::Status Observe(absl::Span<const Observation> observations) override;
  absl::Status WarmStart(absl::Span<const Observation> earlier) override;
  absl::StatusOr<std::string> Save() const override;
  absl::Status Restore(absl::string_view bytes) override;

  // Training rows (observations with a reward or INFEASIBLE).
  int samples() const { return static_cast<int>(samples_.size()); }
  // Whether accuracy and costs are modelled separately.
  bool decomposed() const { return !metrics_.empty(); }
  int features() const { return feature_count_; }

  // What the strategy keeps of one observation (for training and checkpoints).
  struct Sample {
    std::vector<int> tokens;
    bool feasible = true;  // false: INFEASIBLE.
    double reward = 0;
    double accuracy = 0;
    std::vector<double> metrics;  // Per modelled metric; NaN when absent.
  };

 private:
  struct Models {
    std::unique_ptr<internal::RidgeEnsemble> reward;
    std::unique_ptr<internal::RidgeEnsemble> accuracy;
    std::vector<std::unique_ptr<internal::RidgeEnsemble>> metrics;
  };

  bool HasEquivalents() const;
  void ActiveFeatures(absl::Span<const int> tokens, std::vector<int>& out) const;
  Models NewModels() const;
  void Train(Models& models, const Sample& s, size_t index) const;
  void Add(const Observation& o);
  std::optional<std::vector<int>> Random();
  std::optional<std::vector<int>> Best();
  // An untried equivalent encoding of the most accurate near miss, if any.
  std::optional<std::vector<int>> NearMissRetry();
  // Candidate token lists of a large space.
  std::vector<std::vector<int>> Pool();
  bool ModelReady() const;
  // The accuracy model's target: -log(error) (stretches the top, where the
  // search's decisions are made, and squashes the failed low-accuracy tail).
  double AccuracyTarget(double accuracy) const;
  double FromAccuracyTarget(double y) const;

  SurrogateOptions options_;
  const space::SearchSpace& space_;
  std::optional<RewardFunction> reward_;
  std::vector<std::string> metrics_;  // Modelled cost metrics (decomposed mode).
  // Feature layout: one-hot offset per decision (then per decision of the
  // canonical tokens), pairs of those and their offsets.
  bool use_canonical_ = false;
  std::vector<int> onehot_offset_;
  std::vector<std::pair<int, int>> pairs_;
  std::vector<int> pair_offset_;
  int feature_count_ = 0;
  std::vector<double> prior_precision_;
  // Small spaces: every valid architecture, its key and features.
  std::vector<std::vector<int>> all_;
  std::vector<int> all_active_;  // all_.size() x active_count_.
  int active_count_ = 0;
  absl::flat_hash_map<uint64_t, uint32_t> all_index_;
  std::vector<char> all_taken_;
  // near_miss_retries only: all_ indices grouped by the function they compute
  // (SearchSpace::FunctionSignature), and whether each has no dead operations.
  std::vector<std::vector<uint32_t>> all_by_network_;
  std::vector<uint32_t> all_network_;  // Group per all_ index.
  std::vector<char> all_minimal_;

  // State (checkpointed; models are rebuilt from samples_).
  uint64_t seed_;
  Rng rng_;
  uint64_t next_id_ = 1;
  int random_issued_ = 0;
  std::vector<Sample> samples_;
  KeySet seen_;  // Proposed or observed.
  Models models_;
};

}  // namespace hwnas::controller

#endif  // HWNAS_CONTROLLER_SURROGATE_H_

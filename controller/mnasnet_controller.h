// The MnasNet controller: an LSTM that emits one token per decision of a
// factorized search space, feeding each sampled token back as the next
// input (NASNet/ENAS style), trained by policy gradient: PPO with a clipped
// ratio and several epochs per batch (as MnasNet), or REINFORCE with an
// exponential-moving-average baseline (as ENAS). LibTorch lives behind a
// pimpl: this header includes no torch.
//
// Asynchronous learning: Propose() records each sample's log-probability at
// sampling time under its proposal id. Results arrive in any order and are
// buffered; every `batch_size` finished samples make one policy update (the
// batch ordered by proposal id, so arrival order within a batch does not
// matter). FAILED and CANCELLED trials are dropped from learning; INFEASIBLE
// ones get `infeasible_reward`. Trials the controller did not propose
// (warm start, foreign ids) are learned from with their log-probability under
// the current policy.
#ifndef HWNAS_CONTROLLER_MNASNET_CONTROLLER_H_
#define HWNAS_CONTROLLER_MNASNET_CONTROLLER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "controller/strategy.h"

namespace hwnas::controller {

// Single-threaded (see Strategy). Its torch computations run on the CPU with
// LibTorch's intra-op thread pool (see SetControllerThreads).
class MnasNetController : public Strategy {
 public:
  // `reward`: the search's reward, or nullptr when unknown; only the breadth
  // model (ControllerOptions::breadth_model) uses it, to model accuracy and
  // each constrained cost apart (else it models the reward).
  static absl::StatusOr<std::unique_ptr<MnasNetController>> Create(
      ControllerOptions options, const space::SearchSpace& space, uint64_t seed,
      const RewardOptions* reward = nullptr);
  ~MnasNetController() override;

  absl::string_view name() const override;
  absl::StatusOr<std::vector<Proposal>> Propose(int n) override;
  absl::Status Observe(absl::Span<const Observation> observations) override;
  absl::Status WarmStart(absl::Span<const Observation> earlier) override;
  absl::StatusOr<std::string> Save() const override;
  absl::Status Restore(absl::string_view bytes) override;

  // Probability that the current policy samples exactly `tokens`.
  absl::StatusOr<double> SequenceProbability(absl::Span<const int> tokens) const;
  // Policy updates made so far, samples waiting for a full batch, baseline.
  int64_t updates() const;
  int buffered() const;
  double baseline() const;
  // Mean entropy (nats, summed over decisions) of the policy on the fresh
  // samples of the last update, before it; 0 before the first update.
  // Diagnostics (bench traces): a collapsing policy shows here first.
  double last_entropy() const;
  // Proposals made by breadth (ControllerOptions::breadth_share) so far; not
  // checkpointed (diagnostics).
  int64_t breadth_proposals() const;
  // Of those, the breadth model's picks (ControllerOptions::breadth_model).
  int64_t model_proposals() const;

 private:
  struct Impl;
  explicit MnasNetController(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Sets LibTorch's intra-op thread count for this process (1 is fastest for
// the controller's small tensors; benchmarks run one search per core).
void SetControllerThreads(int threads);

}  // namespace hwnas::controller

#endif  // HWNAS_CONTROLLER_MNASNET_CONTROLLER_H_

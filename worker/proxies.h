// Training-free proxies that score an untrained architecture from one batch
// of real data (the cheap evaluators of #20): synflow, NASWOT, grad-norm,
// SNIP, and RMI (mutual information with a reference model's
// representation, after HW-EvRSNAS). Higher is better for every proxy.
// Torch-free header: callers pass plans and data sets, not modules.
#ifndef HWNAS_WORKER_PROXIES_H_
#define HWNAS_WORKER_PROXIES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "space/network_plan.h"
#include "worker/datasets.h"

namespace hwnas::worker {

enum class ProxyKind { kSynflow, kNaswot, kGradNorm, kSnip, kRmi };

absl::string_view ProxyKindName(ProxyKind kind);
// "synflow", "naswot", "gradnorm", "snip" or "rmi"; anything else is an
// InvalidArgument naming the value and the choices.
absl::StatusOr<ProxyKind> ParseProxyKind(absl::string_view name);

// Samples as rows: N rows of `dims` values each.
struct Representation {
  int64_t rows = 0;
  int64_t dims = 0;
  std::vector<double> values;  // Row-major, rows * dims.
};

struct ProxyOptions {
  int batch_size = 64;  // Samples drawn from the data set (fewer if it is smaller).
  uint64_t seed = 0;    // Picks the batch and the network's initial weights.
  // For kRmi: the reference model's representation of the same batch (the
  // samples ProxyBatchIndices returns for this seed and batch size).
  const Representation* reference = nullptr;
};

struct ProxyScore {
  ProxyKind kind = ProxyKind::kSynflow;
  double score = 0;  // Higher is better; synflow is reported as log(score).
  int batch = 0;     // Samples used.
  double seconds = 0;
};

// The score as ACC for the reward (a value in [0, 1], higher is better,
// rank-preserving): 1 - exp(-score) for RMI (nats >= 0, so 0 shares nothing
// with the reference and 1 is approached by a copy of it), and
// 0.5 + atan(score) / pi for the others, whose scores are unbounded logs or
// sums with no common scale. Strategies that compare rewards by rank
// (random, evolution, hard constraints) see the proxy's ranking exactly; the
// soft MnasNet reward's trade-off against costs depends on this scale.
double ProxyAccuracy(ProxyKind kind, double score);

// The indices of the samples a proxy uses: a seeded choice of
// min(batch_size, data.size()) samples, stable across proxies and runs so
// that a reference representation can be computed on the same batch.
std::vector<int64_t> ProxyBatchIndices(const Dataset& data, int batch_size, uint64_t seed);

// Builds the plan's network with seeded initial weights and scores it.
// Errors: an empty data set, a sample shape the plan cannot take, NASWOT on
// a network without activations, RMI without a reference of the batch's
// size; LibTorch errors become Internal with the op's message.
absl::StatusOr<ProxyScore> ScoreProxy(const space::NetworkPlan& plan, const Dataset& data,
                                      ProxyKind kind, const ProxyOptions& options);

// The representation RMI compares: the input of the network's last linear
// layer (the penultimate features), or its output when it has none, for the
// batch ProxyBatchIndices picks, with seeded initial weights.
absl::StatusOr<Representation> PenultimateRepresentation(const space::NetworkPlan& plan,
                                                         const Dataset& data,
                                                         const ProxyOptions& options);

// RMI's reference side from a trained model saved as TorchScript (what
// `hwnas-worker export` writes, or torch.jit.save of any module that takes
// the data's samples): its forward output (the trained network's logits) on
// the batch ProxyBatchIndices picks. The output, not a hidden layer, because
// it exists for every saved module and is what the reference has learnt to
// separate; RMI compares the candidate's penultimate features against it.
// Errors name the path: a missing or unreadable file, an output that is not
// {batch, ...}, a module that cannot take the samples.
absl::StatusOr<Representation> ModuleOutputRepresentation(const std::string& torchscript_path,
                                                          const Dataset& data,
                                                          const ProxyOptions& options);

// Mutual information (nats) between two representations of the same rows
// under a joint Gaussian model of their leading principal components
// (at most `components` each, and at most rows / 4), with a small ridge so
// that a degenerate representation scores near zero instead of failing.
// Symmetric, and unchanged by a rotation or overall scaling of either side.
absl::StatusOr<double> RepresentationMutualInformation(const Representation& a,
                                                       const Representation& b, int components = 8);

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_PROXIES_H_

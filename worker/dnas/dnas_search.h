// `hwnas-worker dnas --spec SPEC --out DIR`: one FBNet-style differentiable
// search on the spec's data, as a resumable job. The supernet and its cost
// model follow the spec's space: worker/dnas/supernet.h (mnasnet) or
// worker/dnas/temporal_supernet.h (temporal); other spaces are refused.
//
// The spec names `strategy: {name: dnas, epochs, alpha, beta, tau, tau_decay,
// k, ...}` (spec/strategy_options.h) and a hardware target for the latency
// term. Each epoch alternates a weight step (SGD with the spec's training
// section, on 1 - arch_fraction of the training split) and, after the warm-up
// epochs, an architecture step (Adam on the rest), FBNet's scheme; the
// Gumbel-softmax temperature is tau * tau_decay^epoch.
//
// DIR holds:
//   spec.yaml       the spec of the search (a rerun with another spec is
//                   refused: the checkpoint would not fit it);
//   checkpoint.pt   weights, architecture parameters, both optimizers, the
//                   epochs done, torch's RNG state and the epoch history,
//                   written as checkpoint.pt.tmp and renamed after every
//                   epoch (a reader never sees half a file);
//   progress.jsonl  one JSON line per finished epoch, rewritten from the
//                   checkpoint's history (so it never shows an epoch the
//                   checkpoint lacks, nor one twice);
//   result.json     the K most likely distinct architectures, written last
//                   (temporal: canonical token lists, each with the summed
//                   probability of the token lists that are it).
// A rerun with the same DIR resumes after the last checkpointed epoch (an
// epoch killed midway is redone from its start, with the RNG state of that
// start); once result.json exists a rerun prints it and trains nothing. A
// lock file (flock) refuses a second run on the same DIR at the same time.
// Torch-free header.
#ifndef HWNAS_WORKER_DNAS_DNAS_SEARCH_H_
#define HWNAS_WORKER_DNAS_DNAS_SEARCH_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace hwnas::worker::dnas {

struct DnasCommandOptions {
  std::string spec_path;
  std::string out_dir;
  std::string data_dir;        // Shared data directory (see ResolveDataPath).
  std::optional<int> epochs;   // Overrides strategy.epochs.
  std::optional<int> threads;  // Overrides training.threads.
  bool progress = true;
  // Serve (a dnas job of the server): called after each epoch once
  // checkpoint.pt holds it, with the epoch (1-based), its progress values
  // (train_loss, expected_latency_ms, tau, ...) and the checkpoint's path;
  // false stops the search there (exit kExitTrialFailed, "stopped").
  std::function<bool(int epoch, const std::map<std::string, double>& values,
                     const std::string& checkpoint_path)>
      on_epoch;
  // Set by another thread: stop between two batches (the epoch is redone
  // from its start by the next run).
  const std::atomic<bool>* interrupt = nullptr;
};
// Exit codes as the other subcommands (worker/commands.h); stopped by
// on_epoch or interrupt: kExitTrialFailed with "stopped" on `err`.
int RunDnas(const DnasCommandOptions& options, std::ostream& out, std::ostream& err);

// The `limit` most likely token lists of a product of independent
// categorical distributions (one probability vector per decision), most
// likely first, with their probabilities. Exact (best-first enumeration).
struct RankedTokens {
  std::vector<int> tokens;
  double probability = 0;
};
std::vector<RankedTokens> MostLikely(const std::vector<std::vector<double>>& probabilities,
                                     int limit);

}  // namespace hwnas::worker::dnas

#endif  // HWNAS_WORKER_DNAS_DNAS_SEARCH_H_

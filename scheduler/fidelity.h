// Multi-fidelity scheduling as a pure policy: the rungs of a search's
// `fidelity:` section (epochs per rung), the Hyperband bracket a new trial
// starts in, and the asynchronous successive-halving promotion rule (ASHA,
// Li et al., "A System for Massively Parallel Hyperparameter Tuning",
// MLSys 2020). No clock, no store: the server feeds rung results in and
// promotes the trials the ladder names.
#ifndef HWNAS_SCHEDULER_FIDELITY_H_
#define HWNAS_SCHEDULER_FIDELITY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "absl/strings/string_view.h"

namespace hwnas::scheduler {

enum class FidelityKind { kNone, kAsha, kHyperband };

// "none" | "asha" | "hyperband".
absl::string_view FidelityKindName(FidelityKind kind);

// `fidelity: {kind: asha, resource: epochs, min: 1, max: 9, eta: 3}`; for
// hyperband also `brackets` (0: every bracket, one per rung).
struct FidelityOptions {
  FidelityKind kind = FidelityKind::kNone;
  int min = 1;  // Epochs of rung 0.
  int max = 1;  // Epochs of the top rung.
  int eta = 3;  // Rung k trains min * eta^k epochs; 1/eta of a rung is promoted.
  int brackets = 0;
  // `checkpoint_mib`: most bytes of resumable training state kept per
  // search (lowest-scoring trials' checkpoints are evicted first).
  int64_t checkpoint_limit_bytes = int64_t{256} << 20;
  bool enabled() const { return kind != FidelityKind::kNone; }
};

// Epoch targets of the rungs, lowest first: min, min*eta, min*eta^2, ...
// while below max, then max itself (so the top rung always trains `max`
// epochs, also when max is not min times a power of eta). {max} when
// fidelity is off.
std::vector<int> RungEpochs(const FidelityOptions& options);

// How many Hyperband brackets a search runs: `brackets` when set, else one
// per rung as in Hyperband (bracket b starts on rung b; the last one trains
// every trial for `max` epochs straight away); 1 for ASHA.
int BracketCount(const FidelityOptions& options);

// The bracket (= starting rung) of the `ordinal`-th new trial (0-based) of a
// search. ASHA: always 0. Hyperband: brackets in the proportions of
// Li et al.'s Hyperband (bracket b gets n_b ~ (s+1)^-1 * eta^s trials, with
// s = top rung - b: many cheap starts, few expensive ones), interleaved
// (smooth weighted round robin) so that every bracket starts early on.
// Deterministic: the same ordinal always gets the same bracket.
int BracketForTrial(const FidelityOptions& options, int64_t ordinal);

// One trial's promotion: train on to `rung` (epochs `epochs`).
struct Promotion {
  int64_t trial = 0;
  int rung = 0;
  int epochs = 0;
  friend bool operator==(const Promotion&, const Promotion&) = default;
};

// The rungs of one search and the results recorded on them. A trial of
// bracket b is compared only with trials of its own bracket (Hyperband);
// ASHA has one bracket. Single-threaded: the owner locks.
class PromotionLadder {
 public:
  explicit PromotionLadder(FidelityOptions options);

  const FidelityOptions& options() const { return options_; }
  const std::vector<int>& rung_epochs() const { return rung_epochs_; }
  int top_rung() const { return static_cast<int>(rung_epochs_.size()) - 1; }

  // Records `trial`'s result on `rung` (score: higher is better; the
  // reward, or the accuracy where a strategy has no scalar reward). A
  // repeated (trial, rung) replaces the earlier score. Results on the top
  // rung are recorded and never promoted.
  void Record(int64_t trial, int bracket, int rung, double score);
  // Marks a trial as already promoted from `rung` (restored from the store).
  void MarkPromoted(int64_t trial, int rung);

  // Every promotion the rule allows now, and marks them promoted: on each
  // rung below the top, the trials in the top floor(n / eta) of the n
  // results recorded there so far (in their bracket) that were not promoted
  // yet. Asynchronous: a rung never waits to fill; a trial that was not in
  // the top when its result came can still be promoted when later, worse
  // results make the rung larger.
  std::vector<Promotion> TakePromotions();

  // The highest rung `trial` has a result on (nullopt: none).
  std::optional<int> HighestRung(int64_t trial) const;
  // Results recorded on `rung` (all brackets).
  int ResultsOn(int rung) const;
  int PromotedFrom(int rung) const;

 private:
  struct Entry {
    double score = 0;
    int64_t trial = 0;
  };
  struct Rung {
    std::map<int64_t, double> scores;  // trial -> score.
    std::set<int64_t> promoted;
  };
  const FidelityOptions options_;
  const std::vector<int> rung_epochs_;
  // (bracket, rung) -> results.
  std::map<std::pair<int, int>, Rung> rungs_;
  std::map<int64_t, int> highest_;
};

}  // namespace hwnas::scheduler

#endif  // HWNAS_SCHEDULER_FIDELITY_H_

#include "scheduler/fidelity.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace hwnas::scheduler {

absl::string_view FidelityKindName(FidelityKind kind) {
  switch (kind) {
    case FidelityKind::kAsha:
      return "asha";
    case FidelityKind::kHyperband:
      return "hyperband";
    case FidelityKind::kNone:
      break;
  }
  return "none";
}

std::vector<int> RungEpochs(const FidelityOptions& o) {
  if (!o.enabled() || o.min >= o.max || o.eta < 2) return {std::max(o.max, 1)};
  std::vector<int> epochs;
  // int64 so that min * eta^k cannot overflow before it passes max.
  for (int64_t e = std::max(o.min, 1); e < o.max; e *= o.eta) epochs.push_back(static_cast<int>(e));
  epochs.push_back(o.max);
  return epochs;
}

int BracketCount(const FidelityOptions& o) {
  if (o.kind != FidelityKind::kHyperband) return 1;
  const int rungs = static_cast<int>(RungEpochs(o).size());
  return o.brackets > 0 ? std::min(o.brackets, rungs) : rungs;
}

namespace {

// Hyperband's share of bracket b: n = ceil((s_max + 1) / (s + 1) * eta^s)
// with s = s_max - b (the number of halvings the bracket does).
std::vector<double> BracketWeights(const FidelityOptions& o) {
  const int s_max = static_cast<int>(RungEpochs(o).size()) - 1;
  std::vector<double> w;
  for (int b = 0; b < BracketCount(o); ++b) {
    const int s = s_max - b;
    w.push_back(std::ceil((s_max + 1.0) / (s + 1.0) * std::pow(o.eta, s)));
  }
  return w;
}

}  // namespace

int BracketForTrial(const FidelityOptions& o, int64_t ordinal) {
  const std::vector<double> w = BracketWeights(o);
  if (w.size() <= 1) return 0;
  double total = 0;
  for (double x : w) total += x;
  // Smooth weighted round robin (as nginx balances upstreams): over one
  // period of sum(w) picks, bracket b is picked w[b] times, spread out.
  const int64_t period = static_cast<int64_t>(total);
  const int64_t steps = ordinal % period;
  std::vector<double> current(w.size(), 0);
  int picked = 0;
  for (int64_t i = 0; i <= steps; ++i) {
    for (size_t b = 0; b < w.size(); ++b) current[b] += w[b];
    picked = 0;
    for (size_t b = 1; b < w.size(); ++b) {
      if (current[b] > current[picked]) picked = static_cast<int>(b);
    }
    current[picked] -= total;
  }
  return picked;
}

PromotionLadder::PromotionLadder(FidelityOptions options)
    : options_(options), rung_epochs_(RungEpochs(options)) {}

void PromotionLadder::Record(int64_t trial, int bracket, int rung, double score) {
  if (rung < 0 || rung > top_rung()) return;
  rungs_[{bracket, rung}].scores[trial] = score;
  auto [it, inserted] = highest_.emplace(trial, rung);
  if (!inserted) it->second = std::max(it->second, rung);
}

void PromotionLadder::MarkPromoted(int64_t trial, int rung) {
  for (auto& [key, r] : rungs_) {
    if (key.second == rung && r.scores.count(trial) > 0) r.promoted.insert(trial);
  }
}

std::vector<Promotion> PromotionLadder::TakePromotions() {
  std::vector<Promotion> out;
  for (auto& [key, r] : rungs_) {
    const int rung = key.second;
    if (rung >= top_rung()) continue;
    const size_t keep = r.scores.size() / static_cast<size_t>(options_.eta);
    if (keep == 0) continue;
    std::vector<Entry> ranked;
    ranked.reserve(r.scores.size());
    for (const auto& [trial, score] : r.scores) ranked.push_back({score, trial});
    // Best first; ties go to the earlier trial, so the order is total.
    std::partial_sort(ranked.begin(), ranked.begin() + keep, ranked.end(),
                      [](const Entry& a, const Entry& b) {
                        return a.score != b.score ? a.score > b.score : a.trial < b.trial;
                      });
    for (size_t i = 0; i < keep; ++i) {
      const int64_t trial = ranked[i].trial;
      if (!r.promoted.insert(trial).second) continue;
      out.push_back({trial, rung + 1, rung_epochs_[rung + 1]});
    }
  }
  return out;
}

std::optional<int> PromotionLadder::HighestRung(int64_t trial) const {
  auto it = highest_.find(trial);
  if (it == highest_.end()) return std::nullopt;
  return it->second;
}

int PromotionLadder::ResultsOn(int rung) const {
  int n = 0;
  for (const auto& [key, r] : rungs_) {
    if (key.second == rung) n += static_cast<int>(r.scores.size());
  }
  return n;
}

int PromotionLadder::PromotedFrom(int rung) const {
  int n = 0;
  for (const auto& [key, r] : rungs_) {
    if (key.second == rung) n += static_cast<int>(r.promoted.size());
  }
  return n;
}

}  // namespace hwnas::scheduler

#include "worker/folds.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hwnas::worker {
namespace {

// SplitMix64: a small generator whose sequence is the same on every
// platform, so folds do not depend on the standard library.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) without modulo bias (rejection of the short tail).
  uint64_t Below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
      x = Next();
    } while (x >= limit);
    return x % n;
  }

 private:
  uint64_t state_;
};

void Shuffle(std::vector<int64_t>& v, SplitMix64& rng) {
  for (size_t i = v.size(); i > 1; --i) {
    std::swap(v[i - 1], v[rng.Below(i)]);
  }
}

// Builds the folds of one repeat from each sample's fold id.
std::vector<Fold> FoldsFromAssignment(const std::vector<int>& fold_of, int folds, int repeat) {
  std::vector<Fold> out(folds);
  for (int f = 0; f < folds; ++f) {
    out[f].repeat = repeat;
    out[f].index = f;
  }
  for (int64_t i = 0; i < static_cast<int64_t>(fold_of.size()); ++i) {
    for (int f = 0; f < folds; ++f) {
      (fold_of[i] == f ? out[f].val : out[f].train).push_back(i);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<Fold>> MakeFolds(absl::Span<const int64_t> labels,
                                            const FoldOptions& options) {
  if (options.folds < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluation.folds must be at least 2, got ", options.folds));
  }
  if (options.repeats < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluation.repeats must be at least 1, got ", options.repeats));
  }
  const int64_t n = static_cast<int64_t>(labels.size());
  if (n < options.folds) {
    return absl::InvalidArgumentError(absl::StrCat("evaluation.folds is ", options.folds,
                                                   " but the pool has only ", n, " samples"));
  }
  std::map<int64_t, std::vector<int64_t>> by_class;
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("label of sample ", i, " is negative (", labels[i], ")"));
    }
    by_class[options.stratified ? labels[i] : 0].push_back(i);
  }
  if (options.stratified) {
    for (const auto& [label, members] : by_class) {
      if (static_cast<int64_t>(members.size()) < options.folds) {
        return absl::InvalidArgumentError(
            absl::StrCat("evaluation.folds is ", options.folds, " but class ", label, " has only ",
                         members.size(),
                         " samples (stratified folds need at least one per fold; use fewer "
                         "folds or stratified: false)"));
      }
    }
  }
  std::vector<Fold> all;
  for (int r = 0; r < options.repeats; ++r) {
    // One stream per repeat, so adding repeats leaves the earlier ones alone.
    SplitMix64 rng(options.seed * 0x100000001b3ULL + static_cast<uint64_t>(r) + 1);
    std::vector<int> fold_of(n, 0);
    // Rotating the starting fold per class spreads the remainders, so the
    // folds' total sizes also differ by at most about one per class.
    int start = 0;
    for (auto& [label, members] : by_class) {
      std::vector<int64_t> order = members;
      Shuffle(order, rng);
      for (size_t k = 0; k < order.size(); ++k) {
        fold_of[order[k]] = static_cast<int>((start + k) % options.folds);
      }
      start = static_cast<int>((start + order.size()) % options.folds);
    }
    std::vector<Fold> folds = FoldsFromAssignment(fold_of, options.folds, r);
    all.insert(all.end(), std::make_move_iterator(folds.begin()),
               std::make_move_iterator(folds.end()));
  }
  return all;
}

absl::StatusOr<std::vector<Fold>> MakeGroupFolds(absl::Span<const int64_t> groups) {
  std::map<int64_t, int> fold_of_group;
  for (int64_t g : groups) fold_of_group.emplace(g, 0);
  if (fold_of_group.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "leave-one-group-out needs at least two groups (sessions), got ", fold_of_group.size()));
  }
  int next = 0;
  for (auto& [group, fold] : fold_of_group) fold = next++;
  std::vector<int> fold_of(groups.size());
  for (size_t i = 0; i < groups.size(); ++i) fold_of[i] = fold_of_group[groups[i]];
  return FoldsFromAssignment(fold_of, next, 0);
}

FoldSummary SummarizeFolds(absl::Span<const double> values) {
  FoldSummary s;
  if (values.empty()) return s;
  const double n = static_cast<double>(values.size());
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  if (values.size() < 2) return s;
  double ss = 0;
  for (double v : values) ss += (v - s.mean) * (v - s.mean);
  s.standard_error = std::sqrt(ss / (n - 1)) / std::sqrt(n);
  return s;
}

ClassScores ScoreConfusion(const std::vector<std::vector<int64_t>>& confusion) {
  ClassScores s;
  const size_t k = confusion.size();
  int64_t total = 0, correct = 0;
  std::vector<int64_t> truth(k, 0), predicted(k, 0);
  for (size_t t = 0; t < k; ++t) {
    for (size_t p = 0; p < confusion[t].size() && p < k; ++p) {
      total += confusion[t][p];
      truth[t] += confusion[t][p];
      predicted[p] += confusion[t][p];
      if (t == p) correct += confusion[t][p];
    }
  }
  if (total == 0) return s;
  s.accuracy = static_cast<double>(correct) / static_cast<double>(total);
  double recall_sum = 0, f1_sum = 0;
  int recall_classes = 0, f1_classes = 0;
  for (size_t c = 0; c < k; ++c) {
    const double tp = static_cast<double>(confusion[c].size() > c ? confusion[c][c] : 0);
    if (truth[c] > 0) {
      recall_sum += tp / static_cast<double>(truth[c]);
      ++recall_classes;
    }
    if (truth[c] > 0 || predicted[c] > 0) {
      // F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (truth + predicted).
      f1_sum += 2 * tp / static_cast<double>(truth[c] + predicted[c]);
      ++f1_classes;
    }
  }
  s.balanced_accuracy = recall_classes ? recall_sum / recall_classes : 0;
  s.macro_f1 = f1_classes ? f1_sum / f1_classes : 0;
  return s;
}

}  // namespace hwnas::worker

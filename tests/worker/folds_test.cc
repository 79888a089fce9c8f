#include "worker/folds.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/testing/test_paths.h"
#include "worker/data_files.h"

namespace hwnas::worker {
namespace {

using ::testing::HasSubstr;

// ECG5000's 500 training labels as class ids 0..4: a small imbalanced real
// set (292 / 177 / 10 / 19 / 2).
std::vector<int64_t> Ecg5000Labels() {
  std::vector<int64_t> labels;
  absl::StatusOr<UcrTable> t =
      ReadUcrFile(absl::StrCat(testing::SharedDataDir(), "/ecg5000/ECG5000_TRAIN.txt"));
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok()) return {};
  for (double l : t->labels) labels.push_back(static_cast<int64_t>(l) - 1);
  return labels;
}

std::vector<int64_t> CountClasses(const std::vector<int64_t>& labels,
                                  const std::vector<int64_t>& indices) {
  std::vector<int64_t> counts(5, 0);
  for (int64_t i : indices) ++counts[labels[i]];
  return counts;
}

TEST(FoldsTest, StratifiedFoldsOnEcg5000AreDisjointCoverAndKeepClassRatios) {
  const std::vector<int64_t> labels = Ecg5000Labels();
  ASSERT_EQ(labels.size(), 500u);
  const std::vector<int64_t> totals = CountClasses(labels, [&] {
    std::vector<int64_t> all(labels.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
    return all;
  }());
  ASSERT_EQ(totals, (std::vector<int64_t>{292, 177, 10, 19, 2}));

  // Two folds: the rarest class (2 samples) allows no more.
  absl::StatusOr<std::vector<Fold>> folds = MakeFolds(labels, {.folds = 2, .seed = 7});
  ASSERT_TRUE(folds.ok()) << folds.status();
  ASSERT_EQ(folds->size(), 2u);
  std::vector<int> seen(labels.size(), 0);
  for (const Fold& f : *folds) {
    // Train and validation split the pool, without overlap.
    EXPECT_EQ(f.train.size() + f.val.size(), labels.size());
    std::vector<int64_t> both;
    std::set_intersection(f.train.begin(), f.train.end(), f.val.begin(), f.val.end(),
                          std::back_inserter(both));
    EXPECT_TRUE(both.empty()) << "fold " << f.index;
    for (int64_t i : f.val) ++seen[i];
    // Every class keeps its share: within one sample of total / 2.
    const std::vector<int64_t> counts = CountClasses(labels, f.val);
    for (size_t c = 0; c < counts.size(); ++c) {
      EXPECT_NEAR(static_cast<double>(counts[c]), totals[c] / 2.0, 1.0)
          << "fold " << f.index << " class " << c;
    }
  }
  // The validation parts cover the pool exactly once.
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), static_cast<long>(labels.size()));
}

TEST(FoldsTest, FiveStratifiedFoldsOnFashionMnistHoldAFifthOfEveryClass) {
  absl::StatusOr<IdxArray> idx =
      ReadIdxFile(absl::StrCat(testing::FashionMnistDir(), "/t10k-labels-idx1-ubyte.gz"));
  ASSERT_TRUE(idx.ok()) << idx.status();
  const std::vector<int64_t> labels(idx->data.begin(), idx->data.end());
  ASSERT_EQ(labels.size(), 10000u);  // 1,000 per class.
  absl::StatusOr<std::vector<Fold>> folds = MakeFolds(labels, {.folds = 5, .seed = 1});
  ASSERT_TRUE(folds.ok()) << folds.status();
  std::vector<int> seen(labels.size(), 0);
  for (const Fold& f : *folds) {
    std::vector<int64_t> counts(10, 0);
    for (int64_t i : f.val) ++counts[labels[i]];
    EXPECT_EQ(counts, std::vector<int64_t>(10, 200)) << "fold " << f.index;
    for (int64_t i : f.val) ++seen[i];
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 10000);
}

TEST(FoldsTest, SameSeedSameFoldsOtherSeedOtherFolds) {
  const std::vector<int64_t> labels = Ecg5000Labels();
  const FoldOptions options{.folds = 4, .stratified = false, .seed = 3};
  absl::StatusOr<std::vector<Fold>> a = MakeFolds(labels, options);
  absl::StatusOr<std::vector<Fold>> b = MakeFolds(labels, options);
  absl::StatusOr<std::vector<Fold>> c =
      MakeFolds(labels, {.folds = 4, .stratified = false, .seed = 4});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  for (size_t f = 0; f < a->size(); ++f) {
    EXPECT_EQ((*a)[f].val, (*b)[f].val);
    EXPECT_NE((*a)[f].val, (*c)[f].val);
  }
  // Repeats reshuffle, and adding repeats leaves the first repeat alone.
  absl::StatusOr<std::vector<Fold>> twice =
      MakeFolds(labels, {.folds = 4, .stratified = false, .repeats = 2, .seed = 3});
  ASSERT_TRUE(twice.ok());
  ASSERT_EQ(twice->size(), 8u);
  EXPECT_EQ((*twice)[0].val, (*a)[0].val);
  EXPECT_EQ((*twice)[4].repeat, 1);
  EXPECT_NE((*twice)[4].val, (*a)[0].val);
}

TEST(FoldsTest, RefusesFoldCountsTheDataCannotSupportNamingTheField) {
  const std::vector<int64_t> labels = Ecg5000Labels();
  absl::StatusOr<std::vector<Fold>> one = MakeFolds(labels, {.folds = 1});
  ASSERT_FALSE(one.ok());
  EXPECT_THAT(std::string(one.status().message()),
              HasSubstr("evaluation.folds must be at least 2"));
  // The fifth class of ECG5000's training file has 2 samples.
  absl::StatusOr<std::vector<Fold>> many = MakeFolds(labels, {.folds = 5});
  ASSERT_FALSE(many.ok());
  EXPECT_THAT(std::string(many.status().message()),
              HasSubstr("evaluation.folds is 5 but class 4 has only 2 samples"));
  // Unstratified folds only need as many samples as folds.
  EXPECT_TRUE(MakeFolds(labels, {.folds = 5, .stratified = false}).ok());
  EXPECT_FALSE(MakeFolds(labels, {.folds = 3, .repeats = 0}).ok());
  EXPECT_FALSE(MakeFolds(std::vector<int64_t>{0, 1}, {.folds = 3, .stratified = false}).ok());
}

TEST(FoldsTest, LeaveOneGroupOut) {
  const std::vector<int64_t> sessions = {4, 4, 9, 9, 9, 1};
  absl::StatusOr<std::vector<Fold>> folds = MakeGroupFolds(sessions);
  ASSERT_TRUE(folds.ok());
  ASSERT_EQ(folds->size(), 3u);
  EXPECT_EQ((*folds)[0].val, (std::vector<int64_t>{5}));        // Session 1.
  EXPECT_EQ((*folds)[1].val, (std::vector<int64_t>{0, 1}));     // Session 4.
  EXPECT_EQ((*folds)[2].val, (std::vector<int64_t>{2, 3, 4}));  // Session 9.
  EXPECT_EQ((*folds)[2].train, (std::vector<int64_t>{0, 1, 5}));
  EXPECT_FALSE(MakeGroupFolds(std::vector<int64_t>{2, 2, 2}).ok());
}

TEST(FoldsTest, SummaryIsMeanAndStandardError) {
  const FoldSummary s = SummarizeFolds(std::vector<double>{0.6, 0.8, 0.7, 0.9});
  EXPECT_DOUBLE_EQ(s.mean, 0.75);
  // Sample sd of {0.6, 0.8, 0.7, 0.9} is sqrt(0.05 / 3); over sqrt(4).
  EXPECT_NEAR(s.standard_error, std::sqrt(0.05 / 3) / 2, 1e-12);
  EXPECT_EQ(SummarizeFolds(std::vector<double>{0.5}).standard_error, 0);
}

TEST(FoldsTest, ScoresFromConfusion) {
  // 3 classes; class 2 is rare and always missed.
  const std::vector<std::vector<int64_t>> confusion = {{8, 2, 0}, {1, 9, 0}, {1, 1, 0}};
  const ClassScores s = ScoreConfusion(confusion);
  EXPECT_NEAR(s.accuracy, 17.0 / 22, 1e-12);
  EXPECT_NEAR(s.balanced_accuracy, (0.8 + 0.9 + 0.0) / 3, 1e-12);
  // F1 per class: 2*8/(10+10), 2*9/(10+12), 0.
  EXPECT_NEAR(s.macro_f1, (16.0 / 20 + 18.0 / 22 + 0) / 3, 1e-12);
}

}  // namespace
}  // namespace hwnas::worker

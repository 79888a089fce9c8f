// Training-free proxies on real ECG5000 batches: determinism, the expected
// orderings (a wider network has more synflow; a representation shares more
// information with itself than with noise), and errors that name the input.
#include "worker/proxies.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <string>

#include "spec/worker_spec.h"
#include "tests/testing/test_paths.h"

namespace hwnas::worker {
namespace {

using ::testing::HasSubstr;

struct Ecg {
  DataSplits data;
  std::unique_ptr<space::SearchSpace> space;
};

Ecg LoadEcg() {
  Ecg e;
  absl::StatusOr<WorkerSpec> spec =
      ParseWorkerSpec("space: {name: temporal}\ndata: {dataset: ecg5000, seed: 0}\n");
  EXPECT_TRUE(spec.ok()) << spec.status();
  if (!spec.ok()) return e;
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec->data, testing::SharedDataDir());
  EXPECT_TRUE(data.ok()) << data.status();
  if (data.ok()) e.data = *std::move(data);
  absl::StatusOr<std::unique_ptr<space::SearchSpace>> space = MakeSpace(*spec);
  EXPECT_TRUE(space.ok()) << space.status();
  if (space.ok()) e.space = *std::move(space);
  return e;
}

space::NetworkPlan Plan(const Ecg& e, const std::string& arch) {
  absl::StatusOr<std::vector<int>> tokens = e.space->Parse(arch);
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  absl::StatusOr<space::NetworkPlan> plan = e.space->Lower(*tokens);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : space::NetworkPlan();
}

constexpr char kNarrow[] = "conv_k5_d1_c16_p2 conv_k5_d2_c16_p2";
constexpr char kWide[] = "conv_k5_d1_c32_p2 conv_k5_d2_c64_p2";

TEST(ProxiesTest, KindsParseByNameAndUnknownNamesAreRefused) {
  for (const char* name : {"synflow", "naswot", "gradnorm", "snip", "rmi"}) {
    absl::StatusOr<ProxyKind> kind = ParseProxyKind(name);
    ASSERT_TRUE(kind.ok()) << kind.status();
    EXPECT_EQ(ProxyKindName(*kind), name);
  }
  absl::StatusOr<ProxyKind> bad = ParseProxyKind("jacov");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("'jacov' is not a proxy"));
}

TEST(ProxiesTest, BatchIndicesAreASeededSampleWithoutRepeats) {
  Ecg e = LoadEcg();
  const std::vector<int64_t> a = ProxyBatchIndices(e.data.train, 64, 7);
  EXPECT_EQ(a, ProxyBatchIndices(e.data.train, 64, 7));
  EXPECT_NE(a, ProxyBatchIndices(e.data.train, 64, 8));
  ASSERT_EQ(a.size(), 64u);
  EXPECT_EQ(std::set<int64_t>(a.begin(), a.end()).size(), 64u);
  for (int64_t i : a) EXPECT_TRUE(i >= 0 && i < e.data.train.size()) << i;
  EXPECT_EQ(ProxyBatchIndices(e.data.train, 1 << 20, 1).size(),
            static_cast<size_t>(e.data.train.size()));
}

TEST(ProxiesTest, EveryProxyIsFiniteAndDeterministicOnARealBatch) {
  Ecg e = LoadEcg();
  const space::NetworkPlan plan = Plan(e, kNarrow);
  for (ProxyKind kind :
       {ProxyKind::kSynflow, ProxyKind::kNaswot, ProxyKind::kGradNorm, ProxyKind::kSnip}) {
    SCOPED_TRACE(std::string(ProxyKindName(kind)));
    absl::StatusOr<ProxyScore> a = ScoreProxy(plan, e.data.train, kind, {.seed = 5});
    absl::StatusOr<ProxyScore> b = ScoreProxy(plan, e.data.train, kind, {.seed = 5});
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_TRUE(std::isfinite(a->score));
    EXPECT_EQ(a->score, b->score);
    EXPECT_EQ(a->batch, 64);
    EXPECT_EQ(a->kind, kind);
  }
  // Another seed draws other weights and another batch.
  absl::StatusOr<ProxyScore> g5 = ScoreProxy(plan, e.data.train, ProxyKind::kGradNorm, {.seed = 5});
  absl::StatusOr<ProxyScore> g6 = ScoreProxy(plan, e.data.train, ProxyKind::kGradNorm, {.seed = 6});
  ASSERT_TRUE(g5.ok() && g6.ok());
  EXPECT_NE(g5->score, g6->score);
}

TEST(ProxiesTest, SynflowAndNaswotGrowWithWidth) {
  Ecg e = LoadEcg();
  for (ProxyKind kind : {ProxyKind::kSynflow, ProxyKind::kNaswot}) {
    SCOPED_TRACE(std::string(ProxyKindName(kind)));
    absl::StatusOr<ProxyScore> narrow = ScoreProxy(Plan(e, kNarrow), e.data.train, kind, {});
    absl::StatusOr<ProxyScore> wide = ScoreProxy(Plan(e, kWide), e.data.train, kind, {});
    ASSERT_TRUE(narrow.ok()) << narrow.status();
    ASSERT_TRUE(wide.ok()) << wide.status();
    EXPECT_GT(wide->score, narrow->score);
  }
}

Representation Random(int64_t rows, int64_t dims, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal;
  Representation r{rows, dims, {}};
  for (int64_t i = 0; i < rows * dims; ++i) r.values.push_back(normal(gen));
  return r;
}

TEST(ProxiesTest, MutualInformationOrdersSharedOverIndependentRepresentations) {
  // a: 20 features of which the first 4 carry most of the variance, as in a
  // network's representation; its leading components are what RMI keeps.
  Representation a = Random(64, 20, 1);
  for (int64_t i = 0; i < 64; ++i) {
    for (int j = 0; j < 4; ++j) a.values[i * 20 + j] *= 5;
  }
  const Representation noise = Random(64, 12, 2);
  // b: a rotation-free mix of a's first columns plus a little noise.
  Representation b{64, 3, {}};
  for (int64_t i = 0; i < 64; ++i) {
    const double* row = &a.values[i * 20];
    b.values.push_back(row[0] + row[1] + 0.1 * noise.values[i * 12]);
    b.values.push_back(row[2] - row[0] + 0.1 * noise.values[i * 12 + 1]);
    b.values.push_back(3 * row[3] + 0.1 * noise.values[i * 12 + 2]);
  }
  absl::StatusOr<double> shared = RepresentationMutualInformation(a, b);
  absl::StatusOr<double> independent = RepresentationMutualInformation(a, noise);
  absl::StatusOr<double> reversed = RepresentationMutualInformation(b, a);
  ASSERT_TRUE(shared.ok() && independent.ok() && reversed.ok());
  EXPECT_GT(*shared, *independent + 1.0);
  EXPECT_NEAR(*shared, *reversed, 1e-9);
  // Scaling one side changes nothing.
  Representation scaled = b;
  for (double& v : scaled.values) v *= 1000;
  absl::StatusOr<double> shared_scaled = RepresentationMutualInformation(a, scaled);
  ASSERT_TRUE(shared_scaled.ok());
  EXPECT_NEAR(*shared_scaled, *shared, 1e-6);
  // A constant representation carries no information.
  Representation constant{64, 4, std::vector<double>(256, 2.5)};
  absl::StatusOr<double> none = RepresentationMutualInformation(a, constant);
  ASSERT_TRUE(none.ok());
  EXPECT_NEAR(*none, 0.0, 1e-6);
  absl::StatusOr<double> mismatch = RepresentationMutualInformation(a, Random(32, 4, 3));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_THAT(std::string(mismatch.status().message()), HasSubstr("64 and 32 rows"));
}

TEST(ProxiesTest, RmiComparesWithAReferenceOfTheSameBatch) {
  Ecg e = LoadEcg();
  const space::NetworkPlan plan = Plan(e, kNarrow);
  absl::StatusOr<ProxyScore> missing = ScoreProxy(plan, e.data.train, ProxyKind::kRmi, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("rmi needs the reference"));
  absl::StatusOr<Representation> reference =
      PenultimateRepresentation(Plan(e, kWide), e.data.train, {.seed = 9});
  ASSERT_TRUE(reference.ok()) << reference.status();
  EXPECT_EQ(reference->rows, 64);
  absl::StatusOr<ProxyScore> rmi =
      ScoreProxy(plan, e.data.train, ProxyKind::kRmi, {.seed = 9, .reference = &*reference});
  ASSERT_TRUE(rmi.ok()) << rmi.status();
  EXPECT_GT(rmi->score, 0.0);
  // The reference against itself shares the most.
  absl::StatusOr<ProxyScore> self = ScoreProxy(Plan(e, kWide), e.data.train, ProxyKind::kRmi,
                                               {.seed = 9, .reference = &*reference});
  ASSERT_TRUE(self.ok()) << self.status();
  EXPECT_GT(self->score, rmi->score);
}

TEST(ProxiesTest, DataThatDoesNotFitIsRefusedWithItsShape) {
  Ecg e = LoadEcg();
  Dataset wrong;
  wrong.sample_shape = {3, 7};
  wrong.num_classes = 2;
  wrong.features.assign(21 * 4, 0.5f);
  wrong.labels = {0, 1, 0, 1};
  absl::StatusOr<ProxyScore> r = ScoreProxy(Plan(e, kNarrow), wrong, ProxyKind::kSynflow, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("do not fit the network's input"));
  absl::StatusOr<ProxyScore> empty = ScoreProxy(Plan(e, kNarrow), Dataset(), ProxyKind::kSnip, {});
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr("no samples"));
}

}  // namespace
}  // namespace hwnas::worker

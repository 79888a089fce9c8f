// The LibTorch model builder on every search space: random valid
// architectures build, run forward and backward on the data set's input
// shape, and have exactly the IR's parameter count.
#include "worker/plan_net.h"

#include <torch/torch.h>

#include <map>
#include <random>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hardware/costs.h"
#include "space/registry.h"
#include "worker/calibrate.h"

namespace hwnas::worker {
namespace {

using ::testing::HasSubstr;

struct SpaceCase {
  const char* yaml;        // The spec's space section.
  space::DataShape shape;  // The data set's input.
};

// One configuration per registered space, on the shape of the data set it is
// meant for (Fashion-MNIST, ECG5000, EEGMMIDB 64 channels x 4 s at 160 Hz).
const std::map<std::string, SpaceCase>& Cases() {
  static const auto* cases = new std::map<std::string, SpaceCase>{
      {"nb201", {"{name: nb201, channels: 8, cells_per_stage: 1}", {{1, 28, 28}, 10}}},
      {"mnasnet",
       {"{name: mnasnet, blocks: 4, stem_filters: 8, head_filters: 64, quantize: true}",
        {{1, 28, 28}, 10}}},
      {"temporal", {"{name: temporal}", {{1, 140}, 5}}},
      {"eegnet", {"{name: eegnet}", {{64, 640}, 2}}},
  };
  return *cases;
}

std::unique_ptr<space::SearchSpace> MakeSpace(const std::string& name) {
  const SpaceCase& c = Cases().at(name);
  absl::StatusOr<YamlSection> s = YamlSection::Parse(c.yaml);
  EXPECT_TRUE(s.ok());
  absl::StatusOr<std::unique_ptr<space::SearchSpace>> space = space::MakeSearchSpace(*s, c.shape);
  EXPECT_TRUE(space.ok()) << space.status();
  return space.ok() ? *std::move(space) : nullptr;
}

TEST(PlanNetTest, EveryRegisteredSpaceHasATestCase) {
  for (const std::string& name : space::SearchSpaceNames()) {
    EXPECT_TRUE(Cases().count(name)) << "add a configuration for space '" << name << "'";
  }
}

class SpaceBuildTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SpaceBuildTest, RandomArchitecturesBuildAndRun) {
  if (!Cases().count(GetParam())) GTEST_SKIP() << "space not registered yet";
  bool registered = false;
  for (const std::string& n : space::SearchSpaceNames()) registered |= n == GetParam();
  if (!registered) GTEST_SKIP() << GetParam() << " is not registered";
  torch::manual_seed(0);
  torch::set_num_threads(1);
  std::unique_ptr<space::SearchSpace> space = MakeSpace(GetParam());
  ASSERT_NE(space, nullptr);
  std::mt19937_64 rng(42);
  const int archs = GetParam() == "eegnet" ? 3 : 6;
  for (int i = 0; i < archs; ++i) {
    absl::StatusOr<std::vector<int>> tokens = RandomTokens(*space, rng);
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    SCOPED_TRACE(space->Readable(*tokens));
    absl::StatusOr<space::NetworkPlan> plan = space->Lower(*tokens);
    ASSERT_TRUE(plan.ok()) << plan.status();
    absl::StatusOr<PlanNet> net = BuildPlanNet(*plan);
    ASSERT_TRUE(net.ok()) << net.status();
    absl::StatusOr<HardwareCosts> costs = hardware::StaticCosts(*plan);
    ASSERT_TRUE(costs.ok()) << costs.status();
    EXPECT_EQ((*net)->NumParameters(), costs->params);

    std::vector<int64_t> shape = {2};
    shape.insert(shape.end(), space->data_shape().input_shape.begin(),
                 space->data_shape().input_shape.end());
    torch::Tensor x = torch::randn(shape);
    (*net)->train();
    torch::Tensor y = (*net)->forward(x);
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, space->data_shape().num_classes}));
    y.sum().backward();
    int64_t with_grad = 0, total = 0;
    for (const torch::Tensor& p : (*net)->parameters()) {
      ++total;
      with_grad += p.grad().defined();
    }
    EXPECT_EQ(with_grad, total);
    (*net)->eval();
    torch::NoGradGuard no_grad;
    torch::Tensor z = (*net)->forward(x);
    EXPECT_TRUE(torch::isfinite(z).all().item<bool>());
  }
}

INSTANTIATE_TEST_SUITE_P(Spaces, SpaceBuildTest,
                         ::testing::Values("nb201", "mnasnet", "temporal", "eegnet"));

TEST(PlanNetTest, RecurrentParamsMatchPyTorchLayout) {
  std::unique_ptr<space::SearchSpace> space = MakeSpace("temporal");
  for (const char* arch : {"conv_k5_d1_c16_p2 lstm_h32", "sep_k3_d2_c8 gru_h16"}) {
    SCOPED_TRACE(arch);
    absl::StatusOr<std::vector<int>> tokens = space->Parse(arch);
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    absl::StatusOr<space::NetworkPlan> plan = space->Lower(*tokens);
    ASSERT_TRUE(plan.ok()) << plan.status();
    absl::StatusOr<PlanNet> net = BuildPlanNet(*plan);
    ASSERT_TRUE(net.ok()) << net.status();
    // Hand count: LSTM 4*32*(16+32) + 2*4*32; GRU 3*16*(8+16) + 2*3*16.
    int64_t rnn = 0;
    for (const auto& item : (*net)->named_parameters()) {
      if (absl::StrContains(item.key(), "w_ih") || absl::StrContains(item.key(), "w_hh") ||
          absl::StrContains(item.key(), "b_ih") || absl::StrContains(item.key(), "b_hh")) {
        rnn += item.value().numel();
      }
    }
    EXPECT_EQ(rnn, std::string(arch).find("lstm") != std::string::npos
                       ? 4 * 32 * (16 + 32) + 2 * 4 * 32
                       : 3 * 16 * (8 + 16) + 2 * 3 * 16);
    EXPECT_EQ((*net)->NumParameters(), hardware::StaticCosts(*plan)->params);
  }
}

TEST(PlanNetTest, FakeQuantizationIsPerChannelSymmetricWithStraightThroughGradient) {
  torch::manual_seed(1);
  torch::Tensor w = torch::randn({4, 9}, torch::requires_grad());
  for (int bits : {8, 4}) {
    const int qmax = (1 << (bits - 1)) - 1;
    torch::Tensor q = FakeQuantizePerChannel(w, qmax);
    torch::Tensor scale = w.detach().abs().amax(1, true) / qmax;
    torch::Tensor levels = q.detach() / scale;
    EXPECT_TRUE(torch::allclose(levels, levels.round(), 1e-4, 1e-4)) << bits;
    EXPECT_LE(levels.abs().max().item<double>(), qmax + 1e-4);
    // The largest weight of each row is exactly representable.
    EXPECT_TRUE(torch::allclose(q.detach().abs().amax(1), w.detach().abs().amax(1)));
    // 4-bit error is bounded by half a step.
    EXPECT_LE((q.detach() - w.detach()).abs().max().item<double>(),
              scale.max().item<double>() / 2 + 1e-6);
    q.sum().backward();
    EXPECT_TRUE(torch::allclose(w.grad(), torch::ones_like(w)));
    w.mutable_grad().zero_();
  }
}

TEST(PlanNetTest, QuantizedLayersTrainAndFreeze) {
  space::PlanBuilder b({1, 8, 8});
  b.set_weight_bits(4);
  int x = b.ConvBnAct(b.input(), 4, 3, 1, 1, space::Activation::kRelu, "c");
  x = b.GlobalAvgPool(x);
  x = b.Flatten(x);
  x = b.Linear(x, 3);
  absl::StatusOr<space::NetworkPlan> plan = std::move(b).Finish(x);
  ASSERT_TRUE(plan.ok()) << plan.status();
  torch::manual_seed(0);
  absl::StatusOr<PlanNet> net = BuildPlanNet(*plan);
  ASSERT_TRUE(net.ok());
  torch::Tensor input = torch::randn({5, 1, 8, 8});
  (*net)->eval();
  torch::Tensor before = (*net)->forward(input).detach();
  (*net)->FreezeQuantization();
  torch::Tensor after = (*net)->forward(input).detach();
  EXPECT_TRUE(torch::allclose(before, after, 1e-5, 1e-5));
  // Conv weights now hold at most 2*7+1 distinct levels per output channel.
  for (const auto& item : (*net)->named_parameters()) {
    if (item.value().dim() != 4) continue;
    for (int64_t c = 0; c < item.value().size(0); ++c) {
      EXPECT_LE(std::get<0>(torch::_unique(item.value()[c].detach().flatten())).numel(), 15);
    }
  }
}

TEST(PlanNetTest, BadPlansAndInputsAreErrors) {
  space::NetworkPlan plan;
  absl::StatusOr<PlanNet> net = BuildPlanNet(plan);
  ASSERT_FALSE(net.ok());
  EXPECT_THAT(std::string(net.status().message()), HasSubstr("plan has no input op"));

  space::PlanBuilder b({1, 28, 28});
  int x = b.Flatten(b.input());
  x = b.Linear(x, 10);
  absl::StatusOr<space::NetworkPlan> ok = std::move(b).Finish(x);
  ASSERT_TRUE(ok.ok());
  space::NetworkPlan bad = *ok;
  bad.ops[1].inputs = {2};  // Reads an op that runs later.
  net = BuildPlanNet(bad);
  ASSERT_FALSE(net.ok());
  EXPECT_THAT(std::string(net.status().message()), HasSubstr("does not come before it"));

  net = BuildPlanNet(*ok);
  ASSERT_TRUE(net.ok());
  try {
    (*net)->forward(torch::randn({2, 1, 27, 28}));
    ADD_FAILURE() << "expected a shape error";
  } catch (const c10::Error& e) {
    EXPECT_THAT(ExceptionMessage(e), HasSubstr("does not match the network's [1x28x28]"));
  }
}

}  // namespace
}  // namespace hwnas::worker

#include "space/temporal_space.h"

#include <random>

#include "gtest/gtest.h"
#include "space/registry.h"

namespace hwnas::space {
namespace {

DataShape Ecg() { return DataShape{{1, 140}, 5}; }

std::vector<int> RandomTokens(const SearchSpace& space, std::mt19937& rng) {
  std::vector<int> t;
  for (const Decision& d : space.decisions()) {
    t.push_back(std::uniform_int_distribution<int>(0, d.choices.size() - 1)(rng));
  }
  return t;
}

absl::StatusOr<std::unique_ptr<SearchSpace>> Make(absl::string_view yaml, DataShape data) {
  absl::StatusOr<YamlSection> spec = YamlSection::Parse(yaml);
  if (!spec.ok()) return spec.status();
  absl::StatusOr<YamlSection> section = spec->Child("space");
  if (!section.ok()) return section.status();
  return MakeSearchSpace(*section, data);
}

TEST(TemporalSpaceTest, DecisionsInTokenOrder) {
  TemporalSpace space({}, Ecg());
  ASSERT_EQ(space.decisions().size(), 3u * 5 + 2);
  EXPECT_EQ(space.decisions()[0].name, "conv1.op");
  EXPECT_EQ(space.decisions()[0].choices, (std::vector<std::string>{"none", "conv", "sep"}));
  EXPECT_EQ(space.decisions()[7].name, "conv2.dilation");
  EXPECT_EQ(space.decisions()[15].name, "rnn1.cell");
  EXPECT_EQ(space.decisions()[16].choices, (std::vector<std::string>{"16", "32", "64"}));
}

TEST(TemporalSpaceTest, RandomArchitecturesLowerOnEcg) {
  TemporalSpace space({.conv_layers = 3, .rnn_layers = 2}, Ecg());
  std::mt19937 rng(3);
  int with_rnn = 0;
  for (int i = 0; i < 300; ++i) {
    std::vector<int> t = RandomTokens(space, rng);
    ASSERT_TRUE(space.Validate(t).ok()) << space.Validate(t);
    absl::StatusOr<NetworkPlan> plan = space.Lower(t);
    ASSERT_TRUE(plan.ok()) << space.Readable(t) << ": " << plan.status();
    EXPECT_EQ(plan->input_shape(), (Shape{1, 140}));
    EXPECT_EQ(plan->ops[plan->output].output_shape, (Shape{5}));
    for (const Op& op : plan->ops) {
      if (op.type == OpType::kRecurrent) ++with_rnn;
      if (op.type == OpType::kConv) {
        EXPECT_EQ(op.dims, 1);
      }
    }
    absl::StatusOr<std::vector<int>> parsed = space.Parse(space.Readable(t));
    ASSERT_TRUE(parsed.ok()) << space.Readable(t) << ": " << parsed.status();
    EXPECT_EQ(*parsed, space.Canonicalize(t));
    EXPECT_EQ(space.CanonicalHash(*parsed), space.CanonicalHash(t));
  }
  EXPECT_GT(with_rnn, 0);
}

TEST(TemporalSpaceTest, ReadableAndLoweringOfAFixedArchitecture) {
  TemporalSpace space({}, Ecg());
  // Slot 1 empty (its other tokens are noise), conv k5 d2 c16 + pool, sep k3
  // d1 c32, LSTM 32.
  std::vector<int> t = {0, 2, 1, 3, 1, /**/ 1, 1, 1, 1, 1, /**/ 2, 0, 0, 2, 0, /**/ 1, 1};
  EXPECT_EQ(space.Readable(t), "conv_k5_d2_c16_p2 sep_k3_d1_c32 lstm_h32");
  std::vector<int> canonical = {1, 1, 1, 1, 1, /**/ 2, 0, 0, 2, 0, /**/ 0, 0, 0, 0, 0, /**/ 1, 1};
  EXPECT_EQ(space.Canonicalize(t), canonical);
  absl::StatusOr<std::vector<int>> parsed = space.Parse("conv_k5_d2_c16_p2 sep_k3_d1_c32 lstm_h32");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, canonical);

  absl::StatusOr<NetworkPlan> plan = space.Lower(t);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<std::string> names;
  for (const Op& op : plan->ops) names.push_back(op.name);
  EXPECT_EQ(names, (std::vector<std::string>{"input", "conv1.conv", "conv1.bn", "conv1.relu",
                                             "conv1.pool", "conv2.dw", "conv2.pw", "conv2.bn",
                                             "conv2.relu", "rnn1.lstm", "head.classifier"}));
  const Op& conv = plan->ops[1];
  EXPECT_EQ(conv.dilation_w, 2);
  EXPECT_EQ(conv.pad_w, 4);  // "same": d * (k - 1) / 2.
  EXPECT_EQ(conv.output_shape, (Shape{16, 140}));
  EXPECT_EQ(plan->ops[4].output_shape, (Shape{16, 70}));
  EXPECT_EQ(plan->ops[5].groups, 16);  // Depthwise.
  const Op& lstm = plan->ops[9];
  EXPECT_EQ(lstm.cell, RecurrentCell::kLstm);
  EXPECT_FALSE(lstm.return_sequence);
  EXPECT_EQ(lstm.output_shape, (Shape{32}));

  EXPECT_EQ(space.Readable(std::vector<int>(17, 0)), "none");
  absl::StatusOr<NetworkPlan> empty = space.Lower(std::vector<int>(17, 0));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->ops.size(), 4u);  // input, gap, flatten, classifier.
}

TEST(TemporalSpaceTest, CanonicalHashIgnoresEmptySlotsAndPacksLayers) {
  TemporalSpace space({.conv_layers = 3, .rnn_layers = 2, .kernels = {1, 3}}, Ecg());
  const std::vector<int> conv_a = {1, 1, 0, 2, 0};
  const std::vector<int> none = {0, 0, 0, 0, 0};
  const std::vector<int> none_noise = {0, 1, 2, 3, 1};
  auto arch = [](std::initializer_list<std::vector<int>> parts) {
    std::vector<int> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
  };
  const std::vector<int> gru = {2, 1}, off = {0, 2};
  EXPECT_EQ(space.CanonicalHash(arch({none_noise, conv_a, none, off, gru})),
            space.CanonicalHash(arch({conv_a, none, none, gru, {0, 0}})));
  EXPECT_NE(space.CanonicalHash(arch({conv_a, none, none, gru, {0, 0}})),
            space.CanonicalHash(arch({conv_a, none, none, {1, 1}, {0, 0}})));
  // Kernel 1: dilation does not matter.
  EXPECT_EQ(space.CanonicalHash(arch({{1, 0, 2, 1, 0}, none, none, gru, off})),
            space.CanonicalHash(arch({{1, 0, 0, 1, 0}, none, none, gru, off})));
  EXPECT_NE(space.CanonicalHash(arch({{1, 1, 2, 1, 0}, none, none, gru, off})),
            space.CanonicalHash(arch({{1, 1, 0, 1, 0}, none, none, gru, off})));
  // Two recurrent layers: the first returns the sequence, the last a vector.
  absl::StatusOr<NetworkPlan> plan = space.Lower(arch({conv_a, none, none, {1, 0}, gru}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<const Op*> rnns;
  for (const Op& op : plan->ops) {
    if (op.type == OpType::kRecurrent) rnns.push_back(&op);
  }
  ASSERT_EQ(rnns.size(), 2u);
  EXPECT_EQ(rnns[0]->output_shape, (Shape{16, 140}));
  EXPECT_EQ(rnns[1]->in_channels, 16);
  EXPECT_EQ(rnns[1]->output_shape, (Shape{32}));
}

TEST(TemporalSpaceTest, ClearErrors) {
  // Four steps: pooling three times leaves nothing for the third pool.
  TemporalSpace tiny({}, DataShape{{1, 4}, 2});
  std::vector<int> t = {1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0};
  absl::Status s = tiny.Validate(t);
  EXPECT_NE(s.message().find("conv3.pool = 2: only 1 time step is left"), std::string::npos) << s;
  EXPECT_FALSE(tiny.Lower(t).ok());

  TemporalSpace space({}, Ecg());
  s = space.Validate(std::vector<int>{0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_NE(s.message().find("conv2.channels"), std::string::npos) << s;
  auto parse_error = [&](absl::string_view text) {
    absl::StatusOr<std::vector<int>> p = space.Parse(text);
    return p.ok() ? std::string("ok") : std::string(p.status().message());
  };
  EXPECT_NE(parse_error("lstm_h32 conv_k3_d1_c8").find("must come before"), std::string::npos);
  EXPECT_NE(parse_error("conv_k4_d1_c8").find("must be among k{3,5,7,9}"), std::string::npos);
  EXPECT_NE(parse_error("lstm_h33").find("hidden size must be one of 16, 32, 64"),
            std::string::npos);
  EXPECT_NE(parse_error("lstm_h16 gru_h16").find("only 1 recurrent layers"), std::string::npos);
  EXPECT_NE(parse_error("transformer").find("expected conv_"), std::string::npos);

  absl::StatusOr<std::unique_ptr<SearchSpace>> made =
      Make("space: {name: temporal, kernels: [3, 4]}", Ecg());
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("space.kernels[1]: must be odd"), std::string::npos)
      << made.status();
  made = Make("space: {name: temporal, channels: [8, 8]}", Ecg());
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("space.channels[1]: duplicate value 8"), std::string::npos)
      << made.status();
  made = Make("space: {name: temporal, cells: [lstm]}", Ecg());
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("space.cells: unknown key"), std::string::npos);
  made = Make("space: {name: temporal}", DataShape{{1, 28, 28}, 10});
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("temporal needs time series"), std::string::npos);
  made = Make("space: {name: temporal, conv_layers: 2, rnn_layers: 0, hidden_sizes: [8]}", Ecg());
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ((*made)->decisions().size(), 10u);
}

}  // namespace
}  // namespace hwnas::space

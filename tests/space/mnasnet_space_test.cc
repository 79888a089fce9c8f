#include "space/mnasnet_space.h"

#include <random>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "space/registry.h"

namespace hwnas::space {
namespace {

using Options = MnasnetSpace::Options;

DataShape FashionMnist() { return DataShape{{1, 28, 28}, 10}; }

// A proxy-sized space for 28x28 inputs: 3 blocks, 16..32 filters.
Options SmallOptions() {
  Options o;
  o.blocks = {{16, 1, 1}, {24, 2, 2}, {32, 2, 2}};
  o.stem_filters = 16;
  o.stem_stride = 1;
  o.head_filters = 64;
  return o;
}

std::vector<int> RandomTokens(const SearchSpace& space, std::mt19937& rng) {
  std::vector<int> t;
  for (const Decision& d : space.decisions()) {
    t.push_back(std::uniform_int_distribution<int>(0, d.choices.size() - 1)(rng));
  }
  return t;
}

// Tokens for block choices, in decision order.
std::vector<int> BlockTokens(MnasnetSpace::ConvOp op, int kernel_token, int se_token,
                             int skip_token, int width_token, int layers_token) {
  return {static_cast<int>(op), kernel_token, se_token, skip_token, width_token, layers_token};
}

std::vector<int> Concat(std::initializer_list<std::vector<int>> parts) {
  std::vector<int> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(MnasnetSpaceTest, DecisionsAreFactorizedPerBlock) {
  MnasnetSpace space(SmallOptions(), FashionMnist());
  ASSERT_EQ(space.decisions().size(), 3u * MnasnetSpace::kDecisionsPerBlock);
  EXPECT_EQ(space.decisions()[0].name, "block1.op");
  EXPECT_EQ(space.decisions()[0].choices,
            (std::vector<std::string>{"conv", "dwsep", "mbconv1", "mbconv3", "mbconv6"}));
  EXPECT_EQ(space.decisions()[8].name, "block2.se");
  EXPECT_EQ(space.decisions()[8].choices, (std::vector<std::string>{"0", "0.25"}));
  EXPECT_EQ(space.decisions()[10].choices, (std::vector<std::string>{"0.75", "1.0", "1.25"}));
  // Base 2 layers -> {1, 2, 3}; base 1 clamps "base-1" to 1.
  EXPECT_EQ(space.decisions()[11].choices, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(space.decisions()[5].choices, (std::vector<std::string>{"1", "1", "2"}));
  // 5 * 2 * 2 * 2 * 3 * 3 = 360 per block.
  EXPECT_EQ(space.Cardinality(), 360u * 360u * 360u);
}

TEST(MnasnetSpaceTest, RandomArchitecturesLowerOnFashionMnist) {
  MnasnetSpace space(SmallOptions(), FashionMnist());
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::vector<int> t = RandomTokens(space, rng);
    ASSERT_TRUE(space.Validate(t).ok());
    absl::StatusOr<NetworkPlan> plan = space.Lower(t);
    ASSERT_TRUE(plan.ok()) << space.Readable(t) << ": " << plan.status();
    EXPECT_EQ(plan->input_shape(), (Shape{1, 28, 28}));
    EXPECT_EQ(plan->ops[plan->output].output_shape, (Shape{10}));
    // Readable round-trips to the canonical tokens, which hash the same.
    absl::StatusOr<std::vector<int>> parsed = space.Parse(space.Readable(t));
    ASSERT_TRUE(parsed.ok()) << space.Readable(t) << ": " << parsed.status();
    EXPECT_EQ(*parsed, space.Canonicalize(t)) << space.Readable(t);
    EXPECT_EQ(space.CanonicalHash(*parsed), space.CanonicalHash(t));
    EXPECT_EQ(space.Canonicalize(space.Canonicalize(t)), space.Canonicalize(t));
  }
}

TEST(MnasnetSpaceTest, DefaultSpaceLowersImageNetAndTimeSeries) {
  MnasnetSpace imagenet({}, DataShape{{3, 224, 224}, 1000});
  EXPECT_EQ(imagenet.decisions().size(), 7u * MnasnetSpace::kDecisionsPerBlock);
  std::mt19937 rng(11);
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<NetworkPlan> plan = imagenet.Lower(RandomTokens(imagenet, rng));
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->ops[plan->output].output_shape, (Shape{1000}));
    // Stride 2 stem and 4 stride-2 blocks: 224 / 32 = 7 before the head.
    bool saw_7x7 = false;
    for (const Op& op : plan->ops) saw_7x7 |= op.output_shape == Shape{1280, 7, 7};
    EXPECT_TRUE(saw_7x7);
  }
  // ECG-like series {1, 140}: every conv becomes 1-D, strides read "s2".
  MnasnetSpace ecg(SmallOptions(), DataShape{{1, 140}, 5});
  for (int i = 0; i < 20; ++i) {
    std::vector<int> t = RandomTokens(ecg, rng);
    absl::StatusOr<NetworkPlan> plan = ecg.Lower(t);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->ops[plan->output].output_shape, (Shape{5}));
    EXPECT_NE(ecg.Readable(t).find("_s2_"), std::string::npos) << ecg.Readable(t);
    absl::StatusOr<std::vector<int>> parsed = ecg.Parse(ecg.Readable(t));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, ecg.Canonicalize(t));
  }
}

TEST(MnasnetSpaceTest, ReadableUsesEfficientNetBlockStrings) {
  MnasnetSpace space(SmallOptions(), FashionMnist());
  using Op = MnasnetSpace::ConvOp;
  std::vector<int> t = Concat({
      // 16 -> 16, stride 1: the identity skip applies, so no "_noskip".
      // Width and layer tokens are the canonical (smallest) ones: 0.75 and
      // 1.0 x 16 both give 16 channels, and base 1 layer clamps "base-1".
      BlockTokens(Op::kMbConv1, 0, 0, 1, 0, 0),
      // mbconv6 k5 SE, 2 layers of 24 at stride 2 (0.75 x 24 rounds to 24).
      BlockTokens(Op::kMbConv6, 1, 1, 1, 0, 1),
      // Plain conv, 0.75 x 32 = 24 channels, 3 layers, no skip.
      BlockTokens(Op::kConv, 0, 0, 0, 0, 2),
  });
  EXPECT_EQ(space.Readable(t),
            "r1_k3_s11_e1_i16_o16 r2_k5_s22_e6_i16_o24_se0.25 conv_r3_k3_s22_i24_o24_noskip");
  absl::StatusOr<std::vector<int>> parsed = space.Parse(space.Readable(t));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, t);
  // Fields may come in any order, as in EfficientNet's decoder.
  parsed = space.Parse(
      "e1_r1_k3_s11_i16_o16, r2_k5_s22_e6_i16_o24_se0.25, conv_k3_r3_s22_i24_o24_noskip");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, t);
}

TEST(MnasnetSpaceTest, CanonicalHashMergesIdenticalNetworks) {
  // Block 1 has base filters 8: widths 0.75 and 1.0 both round to 8 channels.
  Options o = SmallOptions();
  o.blocks[0].filters = 8;
  MnasnetSpace space(o, FashionMnist());
  using Op = MnasnetSpace::ConvOp;
  const std::vector<int> rest =
      Concat({BlockTokens(Op::kMbConv3, 0, 0, 1, 1, 1), BlockTokens(Op::kMbConv6, 0, 0, 1, 1, 1)});
  auto arch = [&](std::vector<int> first) { return Concat({first, rest}); };

  // Widths that give the same channel count.
  EXPECT_EQ(space.CanonicalHash(arch(BlockTokens(Op::kConv, 0, 0, 0, 0, 1))),
            space.CanonicalHash(arch(BlockTokens(Op::kConv, 0, 0, 0, 1, 1))));
  EXPECT_NE(space.CanonicalHash(arch(BlockTokens(Op::kConv, 0, 0, 0, 1, 1))),
            space.CanonicalHash(arch(BlockTokens(Op::kConv, 0, 0, 0, 2, 1))));
  // Base 1 layer: "base-1" clamps to 1, the same as "base".
  EXPECT_EQ(space.CanonicalHash(arch(BlockTokens(Op::kConv, 0, 0, 0, 1, 0))),
            space.CanonicalHash(arch(BlockTokens(Op::kConv, 0, 0, 0, 1, 1))));
  EXPECT_NE(space.CanonicalHash(arch(BlockTokens(Op::kConv, 0, 0, 0, 1, 1))),
            space.CanonicalHash(arch(BlockTokens(Op::kConv, 0, 0, 0, 1, 2))));
  // Block 1 maps 16 stem channels to 8 in one layer: no layer can have an
  // identity skip, so "identity" builds the same network as "none"...
  EXPECT_EQ(space.CanonicalHash(arch(BlockTokens(Op::kConv, 0, 0, 1, 1, 1))),
            space.CanonicalHash(arch(BlockTokens(Op::kConv, 0, 0, 0, 1, 1))));
  // ...but with 2 layers the second one has a skip.
  EXPECT_NE(space.CanonicalHash(arch(BlockTokens(Op::kConv, 0, 0, 1, 1, 2))),
            space.CanonicalHash(arch(BlockTokens(Op::kConv, 0, 0, 0, 1, 2))));
  absl::StatusOr<NetworkPlan> with = space.Lower(arch(BlockTokens(Op::kConv, 0, 0, 1, 1, 2)));
  absl::StatusOr<NetworkPlan> without = space.Lower(arch(BlockTokens(Op::kConv, 0, 0, 0, 1, 2)));
  ASSERT_TRUE(with.ok() && without.ok());
  EXPECT_EQ(with->ops.size(), without->ops.size() + 1);  // One add.
  // dwsep (ReLU after the pointwise conv) and mbconv1 (linear bottleneck)
  // have the same weights but are different networks.
  absl::StatusOr<NetworkPlan> dwsep = space.Lower(arch(BlockTokens(Op::kDwSep, 0, 0, 0, 1, 1)));
  absl::StatusOr<NetworkPlan> mb1 = space.Lower(arch(BlockTokens(Op::kMbConv1, 0, 0, 0, 1, 1)));
  ASSERT_TRUE(dwsep.ok() && mb1.ok());
  EXPECT_EQ(dwsep->ops.size(), mb1->ops.size() + 1);
  EXPECT_NE(space.CanonicalHash(arch(BlockTokens(Op::kDwSep, 0, 0, 0, 1, 1))),
            space.CanonicalHash(arch(BlockTokens(Op::kMbConv1, 0, 0, 0, 1, 1))));
}

TEST(MnasnetSpaceTest, SqueezeExciteAndSkipAppearInThePlan) {
  MnasnetSpace space(SmallOptions(), FashionMnist());
  using Op = MnasnetSpace::ConvOp;
  std::vector<int> t =
      Concat({BlockTokens(Op::kMbConv3, 1, 1, 1, 1, 1), BlockTokens(Op::kMbConv6, 0, 0, 0, 1, 1),
              BlockTokens(Op::kDwSep, 0, 0, 0, 1, 1)});
  absl::StatusOr<NetworkPlan> plan = space.Lower(t);
  ASSERT_TRUE(plan.ok()) << plan.status();
  int muls = 0, adds = 0, sigmoids = 0;
  for (const space::Op& op : plan->ops) {
    muls += op.type == OpType::kMul;
    adds += op.type == OpType::kAdd;
    sigmoids += op.type == OpType::kActivation && op.activation == Activation::kSigmoid;
    if (op.name == "block1.layer1.se.reduce") {
      // SE squeezes the layer input: int(16 * 0.25) = 4 channels.
      EXPECT_EQ(op.out_channels, 4);
      EXPECT_TRUE(op.bias);
    }
    if (op.name == "block1.layer1.dw.conv") {
      EXPECT_EQ(op.groups, 48);  // 16 * 3 expanded channels, depthwise.
      EXPECT_EQ(op.kernel_h, 5);
    }
  }
  EXPECT_EQ(muls, 1);
  EXPECT_EQ(sigmoids, 1);
  EXPECT_EQ(adds, 1);  // Only block 1 (16 -> 16, stride 1) keeps its skip.
}

TEST(MnasnetSpaceTest, QuantizeAddsAGlobalWeightWidth) {
  Options o = SmallOptions();
  o.quantize = true;
  o.activation_bits = 8;
  MnasnetSpace space(o, FashionMnist());
  ASSERT_EQ(space.decisions().size(), 3u * MnasnetSpace::kDecisionsPerBlock + 1);
  EXPECT_EQ(space.decisions().back().name, "weight_bits");
  EXPECT_EQ(space.decisions().back().choices, (std::vector<std::string>{"32", "8", "4"}));
  std::vector<int> t(space.decisions().size(), 0);
  t.back() = 2;
  absl::StatusOr<NetworkPlan> plan = space.Lower(t);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->activation_bits, 8);
  for (const space::Op& op : plan->ops) {
    if (op.type == OpType::kConv || op.type == OpType::kLinear) {
      EXPECT_EQ(op.weight_bits, 4);
    }
  }
  const std::string readable = space.Readable(t);
  EXPECT_TRUE(absl::EndsWith(readable, " w4")) << readable;
  absl::StatusOr<std::vector<int>> parsed = space.Parse(readable);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, space.Canonicalize(t));
  EXPECT_NE(space.CanonicalHash(t), space.CanonicalHash(std::vector<int>(t.size(), 0)));
}

TEST(MnasnetSpaceTest, BadTokensAndStringsGiveClearErrors) {
  MnasnetSpace space(SmallOptions(), FashionMnist());
  std::vector<int> t(space.decisions().size(), 0);
  t[6 + MnasnetSpace::kKernel] = 2;
  absl::Status s = space.Validate(t);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("block2.kernel"), std::string::npos) << s;
  s = space.Validate(std::vector<int>{0, 0});
  EXPECT_NE(s.message().find("expects 18 tokens, got 2"), std::string::npos) << s;
  EXPECT_FALSE(space.Lower(std::vector<int>{0, 0}).ok());

  auto parse_error = [&](absl::string_view text) {
    absl::StatusOr<std::vector<int>> p = space.Parse(text);
    return p.ok() ? std::string("ok") : std::string(p.status().message());
  };
  const std::string good2 = "r2_k5_s22_e6_i16_o24_se0.25";
  const std::string good3 = "conv_r3_k3_s22_i24_o24_noskip";
  EXPECT_NE(parse_error("r1_k3_s11_e1_i16_o16 " + good2).find("2 items, expected 3"),
            std::string::npos);
  EXPECT_NE(parse_error("r1_k3_s11_e1_i8_o16 " + good2 + " " + good3)
                .find("block 1 string 'r1_k3_s11_e1_i8_o16': input channels i8"),
            std::string::npos);
  EXPECT_NE(parse_error("r1_k3_s22_e1_i16_o16 " + good2 + " " + good3).find("stride is 2"),
            std::string::npos);
  EXPECT_NE(parse_error("r1_k3_s11_e1_i16_o17 " + good2 + " " + good3)
                .find("o17 are not a width choice (16, 16, 24)"),
            std::string::npos);
  EXPECT_NE(parse_error("r1_k3_s11_i16_o16 " + good2 + " " + good3).find("e1, e3 or e6"),
            std::string::npos);
  EXPECT_NE(parse_error("r1_k7_s11_e1_i16_o16 " + good2 + " " + good3).find("k3 or k5"),
            std::string::npos);
  EXPECT_NE(parse_error("r4_k3_s11_e1_i16_o16 " + good2 + " " + good3).find("not a layer choice"),
            std::string::npos);
  EXPECT_NE(parse_error("r1_k3_s11_e1_i16_o16_x9 " + good2 + " " + good3).find("unknown field"),
            std::string::npos);
}

TEST(MnasnetSpaceTest, SpecOptionsAreValidatedByField) {
  auto make = [](absl::string_view yaml) -> absl::StatusOr<std::unique_ptr<SearchSpace>> {
    absl::StatusOr<YamlSection> spec = YamlSection::Parse(yaml);
    if (!spec.ok()) return spec.status();
    absl::StatusOr<YamlSection> section = spec->Child("space");
    if (!section.ok()) return section.status();
    return MakeSearchSpace(*section, FashionMnist());
  };
  absl::StatusOr<std::unique_ptr<SearchSpace>> space =
      make("space: {name: mnasnet, blocks: 3, stem_stride: 1, head_filters: 0}");
  ASSERT_TRUE(space.ok()) << space.status();
  EXPECT_EQ((*space)->name(), "mnasnet");
  // blocks: 3 takes the first three default blocks.
  EXPECT_EQ((*space)->decisions().size(), 18u);
  EXPECT_EQ((*space)->decisions()[11].choices, (std::vector<std::string>{"1", "2", "3"}));

  space = make("space: {name: mnasnet, filters: [8, 16], layers: [1, 2], strides: [1, 2]}");
  ASSERT_TRUE(space.ok()) << space.status();
  EXPECT_EQ((*space)->decisions().size(), 12u);

  space = make("space: {name: mnasnet, blocks: 3, layers: [1, 2]}");
  ASSERT_FALSE(space.ok());
  EXPECT_NE(space.status().message().find("space.layers: has 2 entries but blocks is 3"),
            std::string::npos)
      << space.status();
  space = make("space: {name: mnasnet, strides: [1, 3]}");
  ASSERT_FALSE(space.ok());
  EXPECT_NE(space.status().message().find("space.strides[1]: must be between 1 and 2, got 3"),
            std::string::npos)
      << space.status();
  space = make("space: {name: mnasnet, kernel: 3}");
  ASSERT_FALSE(space.ok());
  EXPECT_NE(space.status().message().find("space.kernel: unknown key"), std::string::npos);
  space = make("space: {name: mnasnet, activation_bits: 4}");
  ASSERT_FALSE(space.ok());
  EXPECT_NE(space.status().message().find("space.activation_bits: must be between 8 and 32"),
            std::string::npos)
      << space.status();
  space = make("space: {name: mnasnet, quantize: maybe}");
  ASSERT_FALSE(space.ok());
  EXPECT_NE(space.status().message().find("space.quantize: must be true or false"),
            std::string::npos);
}

}  // namespace
}  // namespace hwnas::space

#include "space/nb201_space.h"

#include <iostream>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "space/registry.h"

namespace hwnas::space {
namespace {

DataShape Cifar() { return DataShape{{3, 32, 32}, 10}; }

TEST(Nb201SpaceTest, ReadableMatchesBenchmarkArchString) {
  Nb201Space space({}, Cifar());
  // ops digits 3,3,4,1,3,1 from the table's `ops` column.
  std::vector<int> tokens = {3, 3, 4, 1, 3, 1};
  EXPECT_EQ(space.Readable(tokens),
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
            "skip_connect~2|");
  absl::StatusOr<std::vector<int>> parsed = space.Parse(space.Readable(tokens));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, tokens);
}

TEST(Nb201SpaceTest, ParsesTokenLists) {
  Nb201Space space({}, Cifar());
  absl::StatusOr<std::vector<int>> parsed = space.Parse("[0, 1, 2, 3, 4, 0]");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, (std::vector<int>{0, 1, 2, 3, 4, 0}));
}

TEST(Nb201SpaceTest, RejectsBadTokensWithClearErrors) {
  Nb201Space space({}, Cifar());
  absl::Status s = space.Validate(std::vector<int>{0, 1, 2});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("expects 6 tokens, got 3"), std::string::npos) << s;
  s = space.Validate(std::vector<int>{0, 1, 2, 3, 9, 0});
  EXPECT_NE(s.message().find("edge1->3"), std::string::npos) << s;
  EXPECT_FALSE(space.Parse("|conv_7x7~0|+|none~0|none~1|+|none~0|none~1|none~2|").ok());
  EXPECT_FALSE(space.Parse("|none~1|").ok());
}

TEST(Nb201SpaceTest, CanonicalHashIgnoresDeadEdges) {
  Nb201Space space({}, Cifar());
  // Node 1 gets no input (edge 0->1 none), so edge 1->3 is dead whatever it is.
  std::vector<int> a = {0, 3, 0, 2, 3, 0};
  std::vector<int> b = {0, 3, 0, 2, 4, 0};
  EXPECT_EQ(space.CanonicalHash(a), space.CanonicalHash(b));
  std::vector<int> c = {0, 3, 0, 3, 3, 0};
  EXPECT_NE(space.CanonicalHash(a), space.CanonicalHash(c));
  // Fully disconnected cells are all equivalent.
  EXPECT_FALSE(Nb201Space::IsConnected(std::vector<int>{1, 1, 1, 0, 0, 0}));
  EXPECT_EQ(space.CanonicalHash(std::vector<int>{1, 1, 1, 0, 0, 0}),
            space.CanonicalHash(std::vector<int>{0, 0, 0, 0, 0, 0}));
}

// Tokens are edges 0->1, 0->2, 1->2, 0->3, 1->3, 2->3; 0 none, 1 skip,
// 2 conv1x1, 3 conv3x3, 4 avgpool.
TEST(Nb201SpaceTest, FunctionSignatureSeesThroughSkipChains) {
  Nb201Space space({}, Cifar());
  auto sig = [&](std::vector<int> t) { return space.FunctionSignature(t); };
  // One 3x3 convolution from input to output, five ways: direct; through
  // node 1 or node 2 by skips; with dead edges around it.
  const std::string conv = sig({0, 0, 0, 3, 0, 0});
  EXPECT_EQ(conv, "conv3x3(x)");
  EXPECT_EQ(sig({3, 0, 0, 0, 1, 0}), conv);
  EXPECT_EQ(sig({0, 3, 0, 0, 0, 1}), conv);
  EXPECT_EQ(sig({1, 0, 1, 0, 0, 3}), conv);
  EXPECT_EQ(sig({3, 4, 2, 0, 1, 0}), conv);  // Node 2 is dead.
  // Not the same function: a residual sum, a different op, two convolutions.
  EXPECT_EQ(sig({1, 0, 0, 3, 1, 0}), "conv3x3(x)+x");
  EXPECT_NE(sig({0, 0, 0, 2, 0, 0}), conv);
  EXPECT_EQ(sig({3, 0, 3, 0, 0, 1}), "conv3x3(conv3x3(x))");
  EXPECT_EQ(sig({0, 0, 0, 0, 0, 0}), "0");
  // Coarser than the canonical tokens, never finer: 15,625 token lists, fewer
  // functions than canonical forms.
  std::set<std::vector<int>> canonical;
  std::set<std::string> functions;
  std::vector<int> t(6);
  for (int i = 0; i < 15625; ++i) {
    for (int d = 0, v = i; d < 6; ++d, v /= 5) t[d] = v % 5;
    canonical.insert(space.Canonicalize(t));
    functions.insert(sig(t));
  }
  EXPECT_LT(functions.size(), canonical.size());
  std::cout << canonical.size() << " canonical forms, " << functions.size() << " functions\n";
}

TEST(Nb201SpaceTest, CardinalityIs15625) {
  Nb201Space space({}, Cifar());
  EXPECT_EQ(space.Cardinality(), 15625u);
}

TEST(Nb201SpaceTest, LowersToClassifierWithExpectedShapes) {
  Nb201Space space({.channels = 16, .cells_per_stage = 1}, Cifar());
  absl::StatusOr<NetworkPlan> plan = space.Lower(std::vector<int>{3, 3, 4, 1, 3, 1});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->input_shape(), (Shape{3, 32, 32}));
  EXPECT_EQ(plan->ops[plan->output].output_shape, (Shape{10}));
  // The last cell runs at 64 channels on 8x8 maps.
  bool saw_64x8x8 = false;
  for (const Op& op : plan->ops) saw_64x8x8 |= op.output_shape == Shape{64, 8, 8};
  EXPECT_TRUE(saw_64x8x8);
}

TEST(RegistryTest, UnknownSpaceNamesTheField) {
  absl::StatusOr<YamlSection> spec = YamlSection::Parse("space: {name: resnet}");
  ASSERT_TRUE(spec.ok());
  absl::StatusOr<YamlSection> section = spec->Child("space");
  ASSERT_TRUE(section.ok());
  absl::StatusOr<std::unique_ptr<SearchSpace>> space = MakeSearchSpace(*section, Cifar());
  ASSERT_FALSE(space.ok());
  EXPECT_NE(space.status().message().find("space.name: unknown search space 'resnet'"),
            std::string::npos)
      << space.status();
}

TEST(RegistryTest, BadOptionNamesTheField) {
  absl::StatusOr<YamlSection> spec = YamlSection::Parse("space: {name: nb201, channels: 0}");
  ASSERT_TRUE(spec.ok());
  absl::StatusOr<std::unique_ptr<SearchSpace>> space =
      MakeSearchSpace(*spec->Child("space"), Cifar());
  ASSERT_FALSE(space.ok());
  EXPECT_NE(space.status().message().find("space.channels: must be between 1 and 1024, got 0"),
            std::string::npos)
      << space.status();
  spec = YamlSection::Parse("space: {name: nb201, chanels: 8}");
  space = MakeSearchSpace(*spec->Child("space"), Cifar());
  ASSERT_FALSE(space.ok());
  EXPECT_NE(space.status().message().find("space.chanels: unknown key"), std::string::npos)
      << space.status();
}

}  // namespace
}  // namespace hwnas::space

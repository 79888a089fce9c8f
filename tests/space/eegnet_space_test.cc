#include "space/eegnet_space.h"

#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "space/registry.h"

namespace hwnas::space {
namespace {

// EEGMMIDB: 64 electrodes, 4 s at 160 Hz, two motor-imagery classes.
DataShape Eeg() { return DataShape{{64, 640}, 2}; }

TEST(EegnetSpaceTest, RandomArchitecturesLowerOnEeg) {
  EegnetSpace space({}, Eeg());
  EXPECT_EQ(space.decisions().size(), 8u);
  EXPECT_EQ(space.decisions()[0].name, "temporal_kernel");
  std::mt19937 rng(5);
  for (int i = 0; i < 200; ++i) {
    std::vector<int> t;
    for (const Decision& d : space.decisions()) {
      t.push_back(std::uniform_int_distribution<int>(0, d.choices.size() - 1)(rng));
    }
    absl::StatusOr<NetworkPlan> plan = space.Lower(t);
    ASSERT_TRUE(plan.ok()) << space.Readable(t) << ": " << plan.status();
    EXPECT_EQ(plan->input_shape(), (Shape{1, 64, 640}));
    EXPECT_EQ(plan->ops[plan->output].output_shape, (Shape{2}));
    absl::StatusOr<std::vector<int>> parsed = space.Parse(space.Readable(t));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, t);
  }
}

TEST(EegnetSpaceTest, LowersTheEegnet82Layout) {
  EegnetSpace space({}, Eeg());
  absl::StatusOr<std::vector<int>> t =
      space.Parse("eegnet K=63 F1=8 D=2 F2=16 P1=4 S=15 P2=8 dropout=0.5");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, (std::vector<int>{2, 1, 1, 1, 1, 1, 1, 1}));
  absl::StatusOr<NetworkPlan> plan = space.Lower(*t);
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto find = [&](absl::string_view name) -> const Op& {
    for (const Op& op : plan->ops) {
      if (op.name == name) return op;
    }
    ADD_FAILURE() << "no op " << name;
    return plan->ops[0];
  };
  const Op& temporal = find("block1.temporal_conv");
  EXPECT_EQ(temporal.kernel_h, 1);
  EXPECT_EQ(temporal.kernel_w, 63);
  EXPECT_EQ(temporal.pad_w, 31);
  EXPECT_EQ(temporal.output_shape, (Shape{8, 64, 640}));
  const Op& spatial = find("block1.spatial_dw");
  EXPECT_EQ(spatial.kernel_h, 64);
  EXPECT_EQ(spatial.groups, 8);
  EXPECT_EQ(spatial.output_shape, (Shape{16, 1, 640}));
  EXPECT_EQ(find("block1.pool").output_shape, (Shape{16, 1, 160}));
  EXPECT_EQ(find("block2.sep_dw").groups, 16);
  EXPECT_EQ(find("block2.sep_pw").output_shape, (Shape{16, 1, 160}));
  EXPECT_EQ(find("block2.pool").output_shape, (Shape{16, 1, 20}));
  EXPECT_EQ(find("head.classifier").in_channels, 16 * 20);
  EXPECT_EQ(find("block1.elu").activation, Activation::kElu);
  EXPECT_DOUBLE_EQ(find("block2.dropout").dropout, 0.5);
}

TEST(EegnetSpaceTest, EveryTokenListIsItsOwnCanonicalForm) {
  EegnetSpace space({}, Eeg());
  std::vector<int> a = {0, 0, 0, 0, 0, 0, 0, 0};
  std::vector<int> b = {0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_EQ(space.Canonicalize(a), a);
  EXPECT_NE(space.CanonicalHash(a), space.CanonicalHash(b));
}

TEST(EegnetSpaceTest, ClearErrors) {
  // 16 samples: pool1 = 8 then pool2 = 8 leaves nothing.
  EegnetSpace tiny({}, DataShape{{4, 16}, 2});
  absl::Status s = tiny.Validate(std::vector<int>{0, 0, 0, 0, 2, 0, 1, 0});
  EXPECT_NE(s.message().find("pool2 = 8: only 2 samples are left after pool1 = 8"),
            std::string::npos)
      << s;
  EXPECT_TRUE(tiny.Validate(std::vector<int>{0, 0, 0, 0, 0, 0, 0, 0}).ok());

  EegnetSpace space({}, Eeg());
  s = space.Validate(std::vector<int>{0, 0, 3, 0, 0, 0, 0, 0});
  EXPECT_NE(s.message().find("token 2 (depth) = 3"), std::string::npos) << s;
  absl::StatusOr<std::vector<int>> p = space.Parse("eegnet K=63 F1=8 D=2 F2=16 P1=4 S=15 P2=8");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("lacks dropout="), std::string::npos) << p.status();
  p = space.Parse("eegnet K=64 F1=8 D=2 F2=16 P1=4 S=15 P2=8 dropout=0.5");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("temporal_kernel K=64 is not one of 15, 31, 63, 81"),
            std::string::npos)
      << p.status();
  p = space.Parse("eegnet K=63 F1=8 D=2 F2=16 P1=4 S=15 P2=8 dropout=0.5 F3=2");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("'F3=2' is not one of"), std::string::npos);

  auto make = [](absl::string_view yaml, DataShape data) {
    absl::StatusOr<YamlSection> spec = YamlSection::Parse(yaml);
    return MakeSearchSpace(*spec->Child("space"), data);
  };
  absl::StatusOr<std::unique_ptr<SearchSpace>> made =
      make("space: {name: eegnet, sep_kernels: [16]}", Eeg());
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("space.sep_kernels[0]: must be odd"), std::string::npos);
  made = make("space: {name: eegnet, dropout: [0.5, 1.5]}", Eeg());
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("space.dropout[1]: must be between 0 and 0.9"),
            std::string::npos)
      << made.status();
  made = make("space: {name: eegnet, pool1: [8], pool2: [8]}", DataShape{{4, 32}, 2});
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("space.pool1: trials of 32 samples are too short"),
            std::string::npos)
      << made.status();
  made = make("space: {name: eegnet}", DataShape{{3, 32, 32}, 10});
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("eegnet needs EEG trials"), std::string::npos);
  // {1, chans, samples} data is accepted as is.
  made = make("space: {name: eegnet, f1: [2], depth: [2]}", DataShape{{1, 8, 128}, 3});
  ASSERT_TRUE(made.ok()) << made.status();
  absl::StatusOr<NetworkPlan> plan = (*made)->Lower(std::vector<int>(8, 0));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->input_shape(), (Shape{1, 8, 128}));
}

TEST(RegistryTest, ListsEverySpace) {
  EXPECT_EQ(SearchSpaceNames(),
            (std::vector<std::string>{"mnasnet", "nb201", "temporal", "eegnet"}));
}

TEST(RegistryTest, AbsentOptionsTakeTheirDefaults) {
  const std::vector<std::pair<std::string, DataShape>> cases = {
      {"mnasnet", DataShape{{3, 224, 224}, 1000}},
      {"nb201", DataShape{{3, 32, 32}, 10}},
      {"temporal", DataShape{{1, 140}, 5}},
      {"eegnet", DataShape{{64, 640}, 2}},
  };
  for (const auto& [name, data] : cases) {
    absl::StatusOr<YamlSection> spec =
        YamlSection::Parse(absl::StrCat("space: {name: ", name, "}"));
    ASSERT_TRUE(spec.ok());
    absl::StatusOr<std::unique_ptr<SearchSpace>> space =
        MakeSearchSpace(*spec->Child("space"), data);
    ASSERT_TRUE(space.ok()) << name << ": " << space.status();
    EXPECT_EQ((*space)->name(), name);
    absl::StatusOr<NetworkPlan> plan =
        (*space)->Lower(std::vector<int>((*space)->decisions().size(), 0));
    ASSERT_TRUE(plan.ok()) << name << ": " << plan.status();
  }
  // The defaults of each space, as documented in its header.
  absl::StatusOr<YamlSection> spec = YamlSection::Parse("space: {name: mnasnet}");
  auto mnasnet = MakeSearchSpace(*spec->Child("space"), DataShape{{3, 224, 224}, 1000});
  ASSERT_TRUE(mnasnet.ok());
  EXPECT_EQ((*mnasnet)->decisions().size(), 42u);
  spec = YamlSection::Parse("space: {name: nb201}");
  auto nb201 = MakeSearchSpace(*spec->Child("space"), DataShape{{3, 32, 32}, 10});
  ASSERT_TRUE(nb201.ok());
  absl::StatusOr<NetworkPlan> plan = (*nb201)->Lower(std::vector<int>{3, 3, 3, 3, 3, 3});
  ASSERT_TRUE(plan.ok());
  int cells = 0;
  for (const Op& op : plan->ops) cells += absl::EndsWith(op.name, "edge0_1.conv");
  EXPECT_EQ(cells, 15);  // 3 stages x 5 cells.
}

}  // namespace
}  // namespace hwnas::space

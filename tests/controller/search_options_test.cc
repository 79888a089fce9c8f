// MakeSearchOptions: a spec's controller sections as controller::Search
// options (moved here from the spec test when the spec became its own
// library; parsing itself is tested in tests/spec).
#include "controller/search.h"
#include "gtest/gtest.h"
#include "spec/controller_spec.h"

namespace hwnas::controller {
namespace {

absl::StatusOr<spec::ControllerSpec> Parse(absl::string_view yaml) {
  absl::StatusOr<YamlSection> doc = YamlSection::Parse(yaml);
  if (!doc.ok()) return doc.status();
  return spec::ParseControllerSpec(*doc);
}

TEST(MakeSearchOptionsTest, TableSearchesDedupByExactTokens) {
  absl::StatusOr<spec::ControllerSpec> spec = Parse(
      "strategy: {name: mnasnet-ppo, batch_size: 16}\n"
      "budget: {trials: 200}\n"
      "evaluator: {kind: table, dataset: cifar100, device: lat_pixel3}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  SearchOptions o = MakeSearchOptions(*spec);
  EXPECT_EQ(o.dedup, DedupKey::kExact);
  EXPECT_EQ(o.budget, 200);
  EXPECT_EQ(o.strategy.name, "mnasnet-ppo");
}

TEST(MakeSearchOptionsTest, TrainedSearchesDedupByCanonicalHash) {
  absl::StatusOr<spec::ControllerSpec> spec = Parse("name: x\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(MakeSearchOptions(*spec).dedup, DedupKey::kCanonical);
  EXPECT_EQ(MakeSearchOptions(*spec).budget, 100);
}

}  // namespace
}  // namespace hwnas::controller

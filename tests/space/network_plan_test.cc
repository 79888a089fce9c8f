#include "space/network_plan.h"

#include "gtest/gtest.h"

namespace hwnas::space {
namespace {

TEST(PlanBuilderTest, InfersConvAndPoolShapes) {
  PlanBuilder b({1, 28, 28});
  int x = b.Conv(b.input(), 8, 3, 2);
  EXPECT_EQ(b.shape(x), (Shape{8, 14, 14}));
  x = b.Pool(x, PoolKind::kMax, 2, 2);
  EXPECT_EQ(b.shape(x), (Shape{8, 7, 7}));
  x = b.GlobalAvgPool(x);
  EXPECT_EQ(b.shape(x), (Shape{8, 1, 1}));
  x = b.Flatten(x);
  x = b.Linear(x, 10);
  absl::StatusOr<NetworkPlan> plan = std::move(b).Finish(x);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->ops.size(), 6u);
}

TEST(PlanBuilderTest, OneDimensionalOps) {
  PlanBuilder b({1, 140});
  int x = b.Conv(b.input(), 4, 5, 1, 1, 2);
  EXPECT_EQ(b.shape(x), (Shape{4, 140}));
  x = b.Recurrent(x, RecurrentCell::kGru, 16, false);
  EXPECT_EQ(b.shape(x), (Shape{16}));
}

TEST(PlanBuilderTest, ReportsShapeErrors) {
  PlanBuilder b({3, 4, 4});
  int x = b.Conv(b.input(), 8, 3, 1);
  int y = b.Conv(b.input(), 4, 3, 1);
  int z = b.Add({x, y});
  absl::StatusOr<NetworkPlan> plan = std::move(b).Finish(z);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("cannot add"), std::string::npos) << plan.status();

  PlanBuilder tiny({1, 2, 2});
  int t = tiny.Pool2d(tiny.input(), PoolKind::kAverage, 4, 4, 4, 4);
  plan = std::move(tiny).Finish(t);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("non-positive"), std::string::npos) << plan.status();
}

}  // namespace
}  // namespace hwnas::space

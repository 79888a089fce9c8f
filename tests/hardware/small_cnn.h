// The small worked-example network the hardware tests compute costs for by
// hand: input {1, 8, 8} -> conv 3x3 (4 channels, no bias) -> BN -> ReLU ->
// global average pool -> flatten -> linear(3, bias).
#ifndef HWNAS_TESTS_HARDWARE_SMALL_CNN_H_
#define HWNAS_TESTS_HARDWARE_SMALL_CNN_H_

#include <utility>

#include "gtest/gtest.h"
#include "space/network_plan.h"

namespace hwnas::hardware {

inline space::NetworkPlan SmallCnn(int weight_bits, int activation_bits = 32) {
  space::PlanBuilder b({1, 8, 8});
  b.set_weight_bits(weight_bits);
  b.set_activation_bits(activation_bits);
  int x = b.Conv(b.input(), 4, 3, 1);
  x = b.BatchNorm(x);
  x = b.Act(x, space::Activation::kRelu);
  x = b.GlobalAvgPool(x);
  x = b.Flatten(x);
  x = b.Linear(x, 3, true);
  absl::StatusOr<space::NetworkPlan> plan = std::move(b).Finish(x);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *std::move(plan);
}

}  // namespace hwnas::hardware

#endif  // HWNAS_TESTS_HARDWARE_SMALL_CNN_H_

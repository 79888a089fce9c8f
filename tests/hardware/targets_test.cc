#include "hardware/targets.h"

#include "gtest/gtest.h"

namespace hwnas::hardware {
namespace {

// The profiles Load read are what the worker's measured targets use (their
// flash and SRAM limits): by the spec's target name, not the profile's.
TEST(TargetSetTest, HandsOutTheProfileItLoadedByTargetName) {
  std::vector<TargetConfig> configs(3);
  configs[0].name = "m7";
  configs[0].mcu_profile = "cortex-m7";
  configs[1].name = "tiny";
  configs[1].mcu_profile_yaml = R"(
name: tiny-board
clock_mhz: 48
sram_kb: 32
flash_kb: 128
cycles_per_mac:
  float32: {conv: 2, depthwise: 3, linear: 1, recurrent: 4}
  int8: {conv: 1, depthwise: 1.5, linear: 0.5, recurrent: 2}
)";
  configs[2].name = "m4";
  configs[2].mcu_profile = "cortex-m4";
  absl::StatusOr<TargetSet> targets = TargetSet::Load(configs);
  ASSERT_TRUE(targets.ok()) << targets.status();
  absl::StatusOr<McuProfile> m7 = targets->McuProfileOf("m7");
  ASSERT_TRUE(m7.ok()) << m7.status();
  EXPECT_EQ(m7->name, "cortex-m7");
  EXPECT_EQ(m7->sram_bytes, 320 * 1024);
  EXPECT_TRUE(m7->deployed.present);
  absl::StatusOr<McuProfile> tiny = targets->McuProfileOf("tiny");
  ASSERT_TRUE(tiny.ok()) << tiny.status();
  EXPECT_EQ(tiny->name, "tiny-board");
  EXPECT_EQ(tiny->flash_bytes, 128 * 1024);
  absl::StatusOr<McuProfile> m4 = targets->McuProfileOf("m4");
  ASSERT_TRUE(m4.ok()) << m4.status();
  EXPECT_EQ(m4->name, "cortex-m4");
  // A name that is no target is NotFound, naming it; so is the profile's
  // own name (targets are looked up by the spec's names).
  absl::StatusOr<McuProfile> missing = targets->McuProfileOf("cortex-m7");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("cortex-m7"), std::string::npos);
}

}  // namespace
}  // namespace hwnas::hardware

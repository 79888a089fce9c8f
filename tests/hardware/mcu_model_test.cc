#include "hardware/mcu_model.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "space/mnasnet_space.h"
#include "space/temporal_space.h"
#include "tests/hardware/small_cnn.h"

namespace hwnas::hardware {
namespace {

using space::Activation;
using space::NetworkPlan;
using space::PlanBuilder;

constexpr absl::string_view kToyProfile = R"(
name: toy
description: round numbers for hand calculations
clock_mhz: 1
sram_kb: 1.5
flash_kb: 0.25
runtime: {sram_kb: 0.125}
cycles_per_mac:
  float32: {conv: 2, depthwise: 3, linear: 1, recurrent: 4}
  int8: {conv: 1, depthwise: 1.5, linear: 0.5, recurrent: 2}
cycles_per_element: {elementwise: 1, nonlinear: 10}
memory_cycles_per_byte: 0.5
op_overhead_cycles: 100
active_power_mw: 10
)";

std::string WriteFile(const std::string& name, absl::string_view text) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/mcu_profiles");
  std::filesystem::create_directories(dir);
  const std::string path = absl::StrCat(dir, "/", name);
  std::ofstream(path) << text;
  return path;
}

TEST(McuModelTest, ToyProfileFloatByHand) {
  absl::StatusOr<McuProfile> p = ParseMcuProfile(kToyProfile, "toy.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->sram_bytes, 1536);
  EXPECT_EQ(p->flash_bytes, 256);
  EXPECT_EQ(p->runtime_sram_bytes, 128);
  EXPECT_EQ(p->runtime_flash_bytes, 0);
  EXPECT_EQ(p->int4.conv, 1);  // No int4 section: the int8 rates.
  absl::StatusOr<McuEstimate> e = EstimateMcu(SmallCnn(32, 32), *p);
  ASSERT_TRUE(e.ok()) << e.status();
  // conv:   2304 MACs * 2 = 4608; bytes in 256 + out 1024 + weights 144 =
  //         1424 * 0.5 = 712; + 100 overhead -> 5420
  // BN:     folded into the conv -> 0
  // ReLU:   fused into conv + BN -> 0
  // GAP:    256 input elements * 1 = 256; bytes 1024 + 16 = 1040 * 0.5 =
  //         520; + 100 -> 876
  // flatten: a view -> 0
  // linear: 12 MACs * 1 = 12; bytes 16 + 12 + 60 = 88 * 0.5 = 44; + 100 -> 156
  // total 6452 cycles at 1 MHz = 6.452 ms; 10 mW * 6.452 ms = 0.06452 mJ.
  EXPECT_EQ(e->op_cycles, (std::vector<double>{0, 5420, 0, 0, 876, 0, 156}));
  EXPECT_DOUBLE_EQ(e->cycles, 6452);
  EXPECT_DOUBLE_EQ(e->latency_ms, 6.452);
  ASSERT_TRUE(e->energy_mj.has_value());
  EXPECT_DOUBLE_EQ(*e->energy_mj, 0.06452);
  // SRAM: peak 1280 + im2col 72 + runtime 128 = 1480 <= 1536; flash 220 <= 256.
  EXPECT_EQ(e->sram_needed_bytes, 1480);
  EXPECT_EQ(e->flash_needed_bytes, 220);
  EXPECT_TRUE(e->feasible());
  EXPECT_NE(e->reason.find("fits toy"), std::string::npos) << e->reason;

  std::map<std::string, double> estimates;
  AddMcuEstimates(*p, *e, &estimates);
  EXPECT_DOUBLE_EQ(estimates.at("latency_ms@toy"), 6.452);
  EXPECT_DOUBLE_EQ(estimates.at("energy_mj@toy"), 0.06452);
}

TEST(McuModelTest, ToyProfileInt8ByHand) {
  absl::StatusOr<McuProfile> p = ParseMcuProfile(kToyProfile, "toy.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<McuEstimate> e = EstimateMcu(SmallCnn(8, 8), *p);
  ASSERT_TRUE(e.ok()) << e.status();
  // conv:   2304 * 1 = 2304; bytes 64 + 256 + 52 = 372 * 0.5 = 186; + 100
  //         -> 2590
  // GAP:    256 * 1; bytes 256 + 4 = 260 * 0.5 = 130; + 100 -> 486
  // linear: 12 * 0.5 = 6; bytes 4 + 3 + 36 = 43 * 0.5 = 21.5; + 100 -> 127.5
  EXPECT_DOUBLE_EQ(e->cycles, 2590 + 486 + 127.5);
  EXPECT_DOUBLE_EQ(e->latency_ms, 3.2035);
  // SRAM 320 + 36 + 128; flash 104.
  EXPECT_EQ(e->sram_needed_bytes, 484);
  EXPECT_EQ(e->flash_needed_bytes, 104);
  EXPECT_TRUE(e->feasible());
}

// A `deployed` section prices the plan as hwnas exports it (mcu/footprint.h).
TEST(McuModelTest, DeployedSectionPricesTheExportByHand) {
  const std::string text = absl::StrCat(kToyProfile, R"(deployed:
  base_flash_bytes: 100
  kernel_flash_bytes: {hwnas_conv_s8: 1000, hwnas_global_avg_pool_s8: 200,
                       hwnas_fully_connected_s8: 300, hwnas_rnn_s8: 5000}
  call_flash_bytes: {hwnas_conv_s8: 20}
  stack_bytes: 64
  cycles: {requantized: 2, calls: 100}
)");
  absl::StatusOr<McuProfile> p = ParseMcuProfile(text, "toy.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->deployed.present);
  absl::StatusOr<McuEstimate> e = EstimateMcu(SmallCnn(32, 32), *p);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE(e->deployed);
  // Exported in int8 (float weights too): conv 3x3 1 -> 4 (BN folded, ReLU
  // fused), global average pool, fully connected 4 -> 3.
  // Const data: conv params 36 + weights 36 + bias, multiplier, shift 3 x 16;
  // pool params 36; fc params 36 + weights 12 + 3 x 12 -> 240. Code: base 100
  // + the three kernels linked 1500 + one conv call 20 (the RNN kernel is not
  // linked) -> 1860.
  EXPECT_EQ(e->flash_needed_bytes, 240 + 1620);
  // Arena: the 8x8x4 conv output (256) beside the 8x8 input (64); + stack.
  EXPECT_EQ(e->sram_needed_bytes, 320 + 64);
  // 256 + 3 requantized outputs x 2, 3 calls x 100.
  EXPECT_DOUBLE_EQ(e->cycles, 259 * 2 + 300);
  // Unknown kernels and counters are errors.
  absl::StatusOr<McuProfile> bad = ParseMcuProfile(
      absl::StrCat(kToyProfile, "deployed: {cycles: {bogus.iter: 1}}\n"), "bad.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bogus.iter"), std::string::npos) << bad.status();
}

TEST(McuModelTest, InfeasibleArchitecturesSayWhy) {
  std::string text(kToyProfile);
  text.replace(text.find("sram_kb: 1.5"), 12, "sram_kb: 1.0");
  text.replace(text.find("flash_kb: 0.25"), 14, "flash_kb: 0.2");
  absl::StatusOr<McuProfile> p = ParseMcuProfile(text, "small.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<McuEstimate> e = EstimateMcu(SmallCnn(32, 32), *p);
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->fits_sram);
  EXPECT_FALSE(e->fits_flash);
  EXPECT_FALSE(e->feasible());
  EXPECT_NE(e->reason.find("SRAM: needs 1.4 KB (peak activations 1.2 KB + scratch 0.1 KB + "
                           "runtime 0.1 KB) > 1.0 KB on toy"),
            std::string::npos)
      << e->reason;
  EXPECT_NE(e->reason.find("flash: needs 0.2 KB"), std::string::npos) << e->reason;
  // Quantizing to int8 fits both.
  e = EstimateMcu(SmallCnn(8, 8), *p);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->feasible()) << e->reason;
}

// $HWNAS_PROFILE_PATH first, then an install's share/hwnas/profiles beside
// its bin/ (an installed program cannot rely on the source tree), then the
// source tree's.
TEST(McuModelTest, DefaultSearchPathLooksBesideAnInstalledProgram) {
  setenv("HWNAS_PROFILE_PATH", "/opt/a:/opt/b", 1);
  std::vector<std::string> path = DefaultProfileSearchPath();
  unsetenv("HWNAS_PROFILE_PATH");
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  ASSERT_EQ(path.size(), 4u);
  EXPECT_EQ(path[0], "/opt/a");
  EXPECT_EQ(path[1], "/opt/b");
  EXPECT_EQ(path[2], (self.parent_path().parent_path() / "share/hwnas/profiles").string());
  // The source tree's profiles, compiled in.
  EXPECT_TRUE(std::filesystem::exists(path[3] + "/cortex-m4.yaml")) << path[3];
}

TEST(McuModelTest, ShippedProfilesLoadByName) {
  absl::StatusOr<McuProfile> m4 = FindMcuProfile("cortex-m4", DefaultProfileSearchPath());
  ASSERT_TRUE(m4.ok()) << m4.status();
  EXPECT_EQ(m4->clock_mhz, 80);
  EXPECT_EQ(m4->sram_bytes, 256 * 1024);
  EXPECT_EQ(m4->flash_bytes, 1024 * 1024);
  EXPECT_TRUE(m4->active_power_mw.has_value());
  absl::StatusOr<McuProfile> m7 = FindMcuProfile("cortex-m7", DefaultProfileSearchPath());
  ASSERT_TRUE(m7.ok()) << m7.status();
  EXPECT_EQ(m7->clock_mhz, 216);
  EXPECT_EQ(m7->sram_bytes, 320 * 1024);
  EXPECT_EQ(m7->flash_bytes, 1024 * 1024);
  std::vector<std::string> names = ListMcuProfiles(DefaultProfileSearchPath());
  EXPECT_NE(std::find(names.begin(), names.end(), "cortex-m4"), names.end());

  // A small int8 temporal model fits both and runs faster on the M7; the
  // default float MnasNet for ImageNet fits neither.
  space::TemporalSpace temporal({.activation_bits = 8}, space::DataShape{{1, 140}, 5});
  std::vector<int> t = {1, 1, 0, 1, 1, 2, 0, 1, 2, 1, 0, 0, 0, 0, 0, 1, 1};
  absl::StatusOr<NetworkPlan> plan = temporal.Lower(t);
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<McuEstimate> on_m4 = EstimateMcu(*plan, *m4);
  absl::StatusOr<McuEstimate> on_m7 = EstimateMcu(*plan, *m7);
  ASSERT_TRUE(on_m4.ok() && on_m7.ok());
  EXPECT_TRUE(on_m4->feasible()) << on_m4->reason;
  EXPECT_TRUE(on_m7->feasible()) << on_m7->reason;
  EXPECT_GT(on_m4->latency_ms, on_m7->latency_ms);
  EXPECT_GT(on_m7->latency_ms, 0);

  space::MnasnetSpace mnasnet({}, space::DataShape{{3, 224, 224}, 1000});
  plan = mnasnet.Lower(std::vector<int>(mnasnet.decisions().size(), 1));
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<McuEstimate> big = EstimateMcu(*plan, *m7);
  ASSERT_TRUE(big.ok());
  EXPECT_FALSE(big->fits_sram);
  EXPECT_FALSE(big->fits_flash);
}

TEST(McuModelTest, ProfileErrorsNameThePathAndField) {
  auto error = [](const absl::StatusOr<McuProfile>& p) {
    return p.ok() ? std::string("ok") : std::string(p.status().message());
  };
  absl::StatusOr<McuProfile> p = FindMcuProfile("cortex-m9", DefaultProfileSearchPath());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(error(p).find("no MCU profile 'cortex-m9'"), std::string::npos) << error(p);
  EXPECT_NE(error(p).find("available: "), std::string::npos) << error(p);
  EXPECT_NE(error(p).find("cortex-m4"), std::string::npos) << error(p);

  p = LoadMcuProfileFile("/nonexistent/board.yaml");
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(error(p).find("/nonexistent/board.yaml: cannot open MCU profile"), std::string::npos);

  std::string path = WriteFile("broken.yaml", "name: [broken\n");
  p = LoadMcuProfileFile(path);
  EXPECT_NE(error(p).find(absl::StrCat(path, ": malformed YAML at line")), std::string::npos)
      << error(p);

  std::string text(kToyProfile);
  path = WriteFile("noclock.yaml", text.replace(text.find("clock_mhz: 1\n"), 13, ""));
  p = LoadMcuProfileFile(path);
  EXPECT_NE(error(p).find(absl::StrCat(path, ": clock_mhz: is required")), std::string::npos)
      << error(p);

  text = std::string(kToyProfile);
  path = WriteFile("badrate.yaml", text.replace(text.find("conv: 1,"), 8, "conv: fast,"));
  p = LoadMcuProfileFile(path);
  EXPECT_NE(error(p).find(absl::StrCat(path,
                                       ": cycles_per_mac.int8.conv: must be a finite number, "
                                       "got 'fast'")),
            std::string::npos)
      << error(p);

  text = std::string(kToyProfile);
  path = WriteFile("noint8.yaml", text.replace(text.find("  int8:"), 7, "  int9:"));
  p = LoadMcuProfileFile(path);
  EXPECT_NE(error(p).find("cycles_per_mac.int9: unknown key"), std::string::npos) << error(p);

  p = ParseMcuProfile(absl::StrCat(kToyProfile, "sram: 3\n"), "extra.yaml");
  EXPECT_NE(error(p).find("extra.yaml: sram: unknown key"), std::string::npos) << error(p);
  p = ParseMcuProfile("just a string", "scalar.yaml");
  EXPECT_NE(error(p).find("scalar.yaml: profile must be a YAML mapping"), std::string::npos)
      << error(p);

  // Looked up by name, the file's name field must agree.
  WriteFile("renamed.yaml", kToyProfile);
  const std::string dir = absl::StrCat(::testing::TempDir(), "/mcu_profiles");
  p = FindMcuProfile("renamed", {"/nonexistent", dir});
  EXPECT_NE(error(p).find("renamed.yaml: name: is 'toy' but the file is found as 'renamed'"),
            std::string::npos)
      << error(p);
  WriteFile("toy.yaml", kToyProfile);
  p = FindMcuProfile("toy", {"/nonexistent", dir});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->source, absl::StrCat(dir, "/toy.yaml"));
}

}  // namespace
// Profile names come from specs, which are untrusted: a path is refused
// before anything is opened, and a file read is a bounded regular file.
TEST(McuModelTest, ProfilesAreFoundByNameOnlyAndReadBounded) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/mcu_profiles");
  WriteFile("toy.yaml", kToyProfile);
  for (const char* bad : {"/dev/zero", "../mcu_profiles/toy", "toy.yaml", "a/b", ".hidden", ""}) {
    absl::StatusOr<McuProfile> p = FindMcuProfile(bad, {dir});
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(std::string(p.status().message()).find("cannot open"), std::string::npos) << bad;
  }
  EXPECT_TRUE(FindMcuProfile("toy", {dir}).ok());
  EXPECT_TRUE(IsDeviceFileName("cortex-m7"));
  EXPECT_FALSE(IsDeviceFileName("cortex-m7.yaml"));
  // An operator's file is still read bounded: never a device, never huge.
  absl::StatusOr<McuProfile> zero = LoadMcuProfileFile("/dev/zero");
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(zero.status().message()).find("not a regular file"), std::string::npos);
  absl::StatusOr<McuProfile> huge =
      LoadMcuProfileFile(WriteFile("huge.yaml", std::string(kMaxProfileBytes + 1, '#')));
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace hwnas::hardware

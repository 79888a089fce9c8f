// mcu/footprint.h against what the export really holds: the generated C's
// arena and calls, the linker's symbol sizes, and (with a profile's
// `deployed` section) the flash and SRAM measured on the firmware.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <random>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "hardware/mcu_model.h"
#include "mcu/codegen.h"
#include "mcu/firmware.h"
#include "mcu/footprint.h"
#include "space/mnasnet_space.h"
#include "space/temporal_space.h"

namespace hwnas::mcu {
namespace {

// The Fashion-MNIST Cortex-M7 example's space (examples/fashion-mnist-mcu.yaml).
const space::MnasnetSpace& Space() {
  static const space::MnasnetSpace* s = [] {
    space::MnasnetSpace::Options o;
    o.blocks = {{16, 1, 1}, {32, 2, 2}, {64, 2, 2}, {128, 2, 1}};
    o.stem_filters = 16;
    o.stem_stride = 2;
    o.head_filters = 0;
    o.dropout = 0.1;
    o.quantize = true;
    o.activation_bits = 8;
    return new space::MnasnetSpace(o, space::DataShape{{1, 28, 28}, 10});
  }();
  return *s;
}

// Random architectures (seeded), with int8 and int4 weight widths among them.
std::vector<space::NetworkPlan> RandomPlans(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<space::NetworkPlan> plans;
  while (static_cast<int>(plans.size()) < n) {
    std::vector<int> tokens;
    for (const space::Decision& d : Space().decisions()) {
      tokens.push_back(static_cast<int>(rng() % d.choices.size()));
    }
    absl::StatusOr<space::NetworkPlan> plan = Space().Lower(tokens);
    if (plan.ok()) plans.push_back(*std::move(plan));
  }
  return plans;
}

// The plan exported as hwnas does: random weights, quantized on random inputs.
Int8Model Export(const space::NetworkPlan& plan, uint64_t seed) {
  const space::NetworkPlan deployed = DeployedPlan(plan);
  ParamMap params = PlaceholderParams(deployed);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0, 0.2f);
  for (auto& [name, p] : params) {
    for (float& v : p.values) {
      v = absl::EndsWith(name, "running_var") ? 0.5f + std::abs(normal(rng)) : normal(rng);
    }
  }
  absl::StatusOr<FloatGraph> graph = LowerPlan(deployed, params);
  EXPECT_TRUE(graph.ok()) << graph.status();
  std::vector<std::vector<float>> calibration(2, std::vector<float>(graph->nodes[0].out.size()));
  for (auto& x : calibration) {
    for (float& v : x) v = normal(rng) * 5;
  }
  absl::StatusOr<Int8Model> model = Quantize(*graph, calibration);
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

int64_t ArenaSizeInHeader(const std::string& model_h) {
  for (absl::string_view line : absl::StrSplit(model_h, '\n')) {
    if (absl::ConsumePrefix(&line, "#define MODEL_ARENA_SIZE ")) {
      int64_t v = 0;
      if (absl::SimpleAtoi(line, &v)) return v;
    }
  }
  return -1;
}

int64_t Count(const std::string& text, const std::string& what) {
  int64_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The arena the cost model plans is the one the generated C declares, and
// the model's const data and kernel calls are what model.c holds.
TEST(FootprintTest, ArenaConstDataAndCallsMatchTheGeneratedC) {
  int with_int4 = 0;
  for (const space::NetworkPlan& plan : RandomPlans(12, 7)) {
    absl::StatusOr<Footprint> estimated = PlanFootprint(plan);
    ASSERT_TRUE(estimated.ok()) << estimated.status();
    const Int8Model model = Export(plan, 3);
    const Footprint real = FootprintOf(model);
    EXPECT_EQ(estimated->arena_bytes, model.memory.arena_size);
    EXPECT_EQ(estimated->const_bytes, real.const_bytes);
    EXPECT_EQ(estimated->kernel_calls, real.kernel_calls);
    EXPECT_EQ(estimated->work, real.work);
    EXPECT_EQ(estimated->macs, model.macs());
    absl::StatusOr<std::map<std::string, std::string>> files = GenerateCProject(model, {});
    ASSERT_TRUE(files.ok()) << files.status();
    EXPECT_EQ(ArenaSizeInHeader(files->at("model.h")), estimated->arena_bytes);
    const std::string& c = files->at("model.c");
    const std::string body = c.substr(c.find("int model_infer("));
    for (const auto& [kernel, calls] : estimated->kernel_calls) {
      EXPECT_EQ(Count(body, "  " + kernel + "("), calls) << kernel;
    }
    with_int4 += estimated->kernel_calls.count("hwnas_conv_s4");
  }
  EXPECT_GT(with_int4, 0) << "no int4 network among the random ones";
}

// The const data counted byte for byte against the linked firmware's
// symbols (arm-none-eabi-nm): every object model.c defines, and the arena.
TEST(FootprintTest, ConstBytesAndArenaEqualTheLinkersSymbols) {
  if (absl::Status s = CheckFirmwareTools(); !s.ok()) GTEST_SKIP() << s.message();
  const std::string root =
      (std::filesystem::path(::testing::TempDir()) / "hwnas_footprint_nm").string();
  int n = 0;
  for (const space::NetworkPlan& plan : RandomPlans(3, 11)) {
    const std::string dir = absl::StrCat(root, "/", n++);
    const Int8Model model = Export(plan, 5);
    CodegenOptions options;
    options.cpu = "cortex-m7";
    ASSERT_TRUE(WriteCProject(model, options, dir).ok());
    CommandResult build = RunShell("make -s firmware-cortex-m7.elf CPU=cortex-m7", dir, 300);
    ASSERT_EQ(build.exit_code, 0) << build.output;
    CommandResult nm = RunShell("arm-none-eabi-nm -S --size-sort firmware-cortex-m7.elf", dir, 60);
    ASSERT_EQ(nm.exit_code, 0) << nm.output;
    int64_t const_bytes = 0, arena = -1;
    std::istringstream lines(nm.output);
    std::string line;
    while (std::getline(lines, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.size() != 4) continue;
      const int64_t size = std::stoll(f[1], nullptr, 16);
      const std::string& name = f[3];
      const bool node_object = name.size() > 1 && name[0] == 'n' && std::isdigit(name[1]) &&
                               name.find('_') != std::string::npos;
      if (node_object || name == "hwnas_sigmoid_q15" || name == "hwnas_tanh_q15") {
        const_bytes += (size + 3) / 4 * 4;
      }
      if (name == "arena") arena = size;
    }
    const Footprint f = FootprintOf(model);
    EXPECT_EQ(const_bytes, f.const_bytes) << dir;
    EXPECT_EQ(arena, f.arena_bytes) << dir;
  }
  std::filesystem::remove_all(root);
}

// With the shipped profile's `deployed` section, the estimate is within 2%
// of the flash and SRAM measured on the firmware (QEMU, stack painted).
TEST(FootprintTest, ShippedProfileFlashAndSramMatchTheFirmware) {
  if (absl::Status s = CheckFirmwareTools(); !s.ok()) GTEST_SKIP() << s.message();
  const std::string root =
      (std::filesystem::path(::testing::TempDir()) / "hwnas_footprint_fw").string();
  int n = 0;
  for (const char* cpu : {"cortex-m7", "cortex-m4"}) {
    absl::StatusOr<hardware::McuProfile> profile =
        hardware::FindMcuProfile(cpu, hardware::DefaultProfileSearchPath());
    ASSERT_TRUE(profile.ok()) << profile.status();
    ASSERT_TRUE(profile->deployed.present) << cpu;
    for (const space::NetworkPlan& plan : RandomPlans(2, 100 + n)) {
      const std::string dir = absl::StrCat(root, "/", n++);
      const Int8Model model = Export(plan, 9);
      CodegenOptions options;
      options.cpu = cpu;
      ASSERT_TRUE(WriteCProject(model, options, dir).ok());
      absl::StatusOr<FirmwareMeasurement> fw = BuildAndRunFirmware(dir, cpu, 300);
      ASSERT_TRUE(fw.ok()) << fw.status();
      absl::StatusOr<hardware::McuEstimate> e = hardware::EstimateMcu(plan, *profile);
      ASSERT_TRUE(e.ok()) << e.status();
      EXPECT_TRUE(e->deployed);
      EXPECT_NEAR(static_cast<double>(e->flash_needed_bytes) / fw->flash_bytes, 1.0, 0.02)
          << cpu << " " << dir << ": estimated " << e->flash_needed_bytes << ", measured "
          << fw->flash_bytes;
      EXPECT_NEAR(static_cast<double>(e->sram_needed_bytes) / fw->sram_bytes, 1.0, 0.02)
          << cpu << " " << dir << ": estimated " << e->sram_needed_bytes << ", measured "
          << fw->sram_bytes << " (arena " << model.memory.arena_size << ", stack "
          << fw->stack_bytes << ")";
    }
  }
  std::filesystem::remove_all(root);
}

// Beyond the space the profiles were fitted on: ECG-sized temporal networks
// (1-D convs, max pooling, LSTM / GRU cells), priced with the shipped
// profiles (the pooling and recurrent kernels at their nm sizes). The
// mnasnet-fitted code sizes carry about 0.7 KB these networks do not link
// (measured: 3-4% over on 19-28 KB firmware; SRAM within 4 B), so this holds
// flash and SRAM to 5% and prints the numbers.
TEST(FootprintTest, ShippedProfileOnTemporalNetworks) {
  if (absl::Status s = CheckFirmwareTools(); !s.ok()) GTEST_SKIP() << s.message();
  space::TemporalSpace temporal({.activation_bits = 8}, space::DataShape{{1, 140}, 5});
  std::mt19937_64 rng(3);
  const std::string root =
      (std::filesystem::path(::testing::TempDir()) / "hwnas_footprint_temporal").string();
  absl::StatusOr<hardware::McuProfile> profile =
      hardware::FindMcuProfile("cortex-m7", hardware::DefaultProfileSearchPath());
  ASSERT_TRUE(profile.ok()) << profile.status();
  int n = 0;
  while (n < 3) {
    std::vector<int> tokens;
    for (const space::Decision& d : temporal.decisions()) {
      tokens.push_back(static_cast<int>(rng() % d.choices.size()));
    }
    absl::StatusOr<space::NetworkPlan> plan = temporal.Lower(tokens);
    if (!plan.ok() || !PlanFootprint(*plan).ok()) continue;
    const std::string dir = absl::StrCat(root, "/", n++);
    const Int8Model model = Export(*plan, 4);
    CodegenOptions options;
    options.cpu = "cortex-m7";
    ASSERT_TRUE(WriteCProject(model, options, dir).ok());
    absl::StatusOr<FirmwareMeasurement> fw = BuildAndRunFirmware(dir, "cortex-m7", 300);
    ASSERT_TRUE(fw.ok()) << fw.status();
    absl::StatusOr<hardware::McuEstimate> e = hardware::EstimateMcu(*plan, *profile);
    ASSERT_TRUE(e.ok()) << e.status();
    const Footprint f = FootprintOf(model);
    std::string kernels;
    for (const auto& [k, calls] : f.kernel_calls) absl::StrAppend(&kernels, k, "x", calls, " ");
    std::cout << temporal.Readable(tokens) << ": flash estimated " << e->flash_needed_bytes
              << " measured " << fw->flash_bytes << "; SRAM estimated " << e->sram_needed_bytes
              << " measured " << fw->sram_bytes << " (stack " << fw->stack_bytes << "); " << kernels
              << "\n";
    EXPECT_NEAR(static_cast<double>(e->flash_needed_bytes) / fw->flash_bytes, 1.0, 0.05) << dir;
    EXPECT_NEAR(static_cast<double>(e->sram_needed_bytes) / fw->sram_bytes, 1.0, 0.05) << dir;
  }
  std::filesystem::remove_all(root);
}

// arm-none-eabi-size's columns, also when a number fills its column and
// only the tab is left between them (a firmware of 1 MB or more).
TEST(FirmwareSizeTest, ParsesSizeOutputOfLargeFirmware) {
  absl::StatusOr<ElfSizes> small = ParseElfSizes(
      "   text\t   data\t    bss\t    dec\t    hex\tfilename\n"
      "  75500\t      0\t  22176\t  97676\t  17d8c\tfirmware-cortex-m7.elf\n");
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->text, 75500);
  EXPECT_EQ(small->bss, 22176);
  absl::StatusOr<ElfSizes> large = ParseElfSizes(
      "   text\t   data\t    bss\t    dec\t    hex\tfilename\n"
      "1005492\t      0\t   7796\t1013288\t  f7628\tfirmware-cortex-m7.elf\n");
  ASSERT_TRUE(large.ok()) << large.status();
  EXPECT_EQ(large->text, 1005492);
  EXPECT_EQ(large->data, 0);
  EXPECT_EQ(large->bss, 7796);
  EXPECT_FALSE(ParseElfSizes("garbage").ok());
}

}  // namespace
}  // namespace hwnas::mcu

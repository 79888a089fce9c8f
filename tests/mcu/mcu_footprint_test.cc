// mcu/footprint.h against what the export really holds: the generated C's
// arena and calls, the linker's symbol sizes, and (with a profile's
// `deployed` section) the flash and SRAM measured on the firmware.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
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
#include "space/eegnet_space.h"
#include "space/mnasnet_space.h"
#include "space/nb201_space.h"
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

std::vector<space::NetworkPlan> RandomPlansOf(const space::SearchSpace& space, int n,
                                              uint64_t seed);
// Small instances of the other spaces (ECG5000-, EEGMMIDB- and
// Fashion-MNIST-shaped).
const space::TemporalSpace& Temporal() {
  static const auto* s =
      new space::TemporalSpace({.activation_bits = 8}, space::DataShape{{1, 140}, 5});
  return *s;
}
const space::EegnetSpace& Eegnet() {
  static const auto* s = [] {
    space::EegnetSpace::Options o;
    o.activation_bits = 8;
    return new space::EegnetSpace(o, space::DataShape{{1, 9, 160}, 2});
  }();
  return *s;
}
const space::Nb201Space& Nb201() {
  static const auto* s = new space::Nb201Space({.channels = 8, .cells_per_stage = 1},
                                               space::DataShape{{1, 28, 28}, 10});
  return *s;
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
  std::vector<space::NetworkPlan> plans = RandomPlans(12, 7);
  for (const space::SearchSpace* s :
       std::vector<const space::SearchSpace*>{&Temporal(), &Eegnet(), &Nb201()}) {
    for (space::NetworkPlan& plan : RandomPlansOf(*s, 4, 8)) plans.push_back(std::move(plan));
  }
  for (const space::NetworkPlan& plan : plans) {
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
// symbols (arm-none-eabi-nm): every object model.c defines, and the arena;
// on every space.
TEST(FootprintTest, ConstBytesAndArenaEqualTheLinkersSymbols) {
  if (absl::Status s = CheckFirmwareTools(); !s.ok()) GTEST_SKIP() << s.message();
  const std::string root =
      (std::filesystem::path(::testing::TempDir()) / "hwnas_footprint_nm").string();
  int n = 0;
  std::vector<space::NetworkPlan> plans = RandomPlans(3, 11);
  for (const space::SearchSpace* s :
       std::vector<const space::SearchSpace*>{&Temporal(), &Eegnet(), &Nb201()}) {
    for (space::NetworkPlan& plan : RandomPlansOf(*s, 2, 12)) plans.push_back(std::move(plan));
  }
  for (const space::NetworkPlan& plan : plans) {
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

// Random architectures of `space` that lower to int8 C (seeded).
std::vector<space::NetworkPlan> RandomPlansOf(const space::SearchSpace& space, int n,
                                              uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<space::NetworkPlan> plans;
  for (int tries = 0; static_cast<int>(plans.size()) < n && tries < 100 * n; ++tries) {
    std::vector<int> tokens;
    for (const space::Decision& d : space.decisions()) {
      tokens.push_back(static_cast<int>(rng() % d.choices.size()));
    }
    absl::StatusOr<space::NetworkPlan> plan = space.Lower(tokens);
    if (plan.ok() && PlanFootprint(*plan).ok()) plans.push_back(*std::move(plan));
  }
  return plans;
}

// The other spaces' kernels (1-D and dilated convs, pooling, LSTM / GRU cells,
// EEGNet's depth multiplier and ELU tables, NB201's cells): the shipped
// profiles price their firmware within 2% too, on the Cortex-M7 and M4
// (the profiles' kernel code is compiled, not fitted on one space).
TEST(FootprintTest, ShippedProfilesHoldOnTheTemporalEegnetAndNb201Spaces) {
  if (absl::Status s = CheckFirmwareTools(); !s.ok()) GTEST_SKIP() << s.message();
  const std::string root =
      (std::filesystem::path(::testing::TempDir()) / "hwnas_footprint_spaces").string();
  int n = 0;
  for (const char* cpu : {"cortex-m7", "cortex-m4"}) {
    absl::StatusOr<hardware::McuProfile> profile =
        hardware::FindMcuProfile(cpu, hardware::DefaultProfileSearchPath());
    ASSERT_TRUE(profile.ok()) << profile.status();
    for (const space::SearchSpace* s :
         std::vector<const space::SearchSpace*>{&Temporal(), &Eegnet(), &Nb201()}) {
      for (const space::NetworkPlan& plan : RandomPlansOf(*s, 1, 3 + n)) {
        const std::string dir = absl::StrCat(root, "/", n++);
        const Int8Model model = Export(plan, 4);
        CodegenOptions options;
        options.cpu = cpu;
        ASSERT_TRUE(WriteCProject(model, options, dir).ok());
        absl::StatusOr<FirmwareMeasurement> fw = BuildAndRunFirmware(dir, cpu, 300);
        ASSERT_TRUE(fw.ok()) << fw.status();
        absl::StatusOr<hardware::McuEstimate> e = hardware::EstimateMcu(plan, *profile);
        ASSERT_TRUE(e.ok()) << e.status();
        EXPECT_TRUE(e->deployed);
        const Footprint f = FootprintOf(model);
        std::string kernels;
        for (const auto& [k, calls] : f.kernel_calls) absl::StrAppend(&kernels, k, "x", calls, " ");
        std::cout << cpu << " " << s->name() << ": flash estimated " << e->flash_needed_bytes
                  << " measured " << fw->flash_bytes << "; SRAM estimated " << e->sram_needed_bytes
                  << " measured " << fw->sram_bytes << " (stack " << fw->stack_bytes << "); "
                  << kernels << "\n";
        EXPECT_NEAR(static_cast<double>(e->flash_needed_bytes) / fw->flash_bytes, 1.0, 0.02)
            << cpu << " " << s->name() << " " << dir;
        EXPECT_NEAR(static_cast<double>(e->sram_needed_bytes) / fw->sram_bytes, 1.0, 0.02)
            << cpu << " " << s->name() << " " << dir;
      }
    }
  }
  std::filesystem::remove_all(root);
}

// The shipped profiles' kernel code bytes are the kernels' sections as
// arm-none-eabi-gcc -O2 compiles them now (`make kernels`): a kernel change
// needs the profiles' kernel_flash_bytes updated (hwnas-worker calibrate
// --mcu prints them).
TEST(FootprintTest, ShippedKernelCodeBytesAreTheCompiledSections) {
  if (absl::Status s = CheckFirmwareTools(); !s.ok()) GTEST_SKIP() << s.message();
  for (const char* cpu : {"cortex-m7", "cortex-m4"}) {
    absl::StatusOr<KernelBuild> code = MeasureKernelCode(
        cpu, (std::filesystem::path(::testing::TempDir()) / "hwnas_kernel_code").string());
    ASSERT_TRUE(code.ok()) << code.status();
    absl::StatusOr<hardware::McuProfile> profile =
        hardware::FindMcuProfile(cpu, hardware::DefaultProfileSearchPath());
    ASSERT_TRUE(profile.ok()) << profile.status();
    const hardware::DeployedCosts& d = profile->deployed;
    for (const std::string& section : CodeSectionNames()) {
      ASSERT_TRUE(code->code_bytes.contains(section)) << cpu << " " << section;
      EXPECT_GT(code->code_bytes.at(section), 0) << cpu << " " << section;
      ASSERT_TRUE(d.kernel_flash_bytes.contains(section)) << cpu << " " << section;
      EXPECT_EQ(d.kernel_flash_bytes.at(section), code->code_bytes.at(section))
          << cpu << " " << section;
      EXPECT_TRUE(code->stack_bytes.contains(section)) << cpu << " " << section;
      // The stack model's frames are the compiled ones too.
      ASSERT_TRUE(d.kernel_stack_bytes.contains(section)) << cpu << " " << section;
      EXPECT_EQ(d.kernel_stack_bytes.at(section), code->stack_bytes.at(section))
          << cpu << " " << section;
    }
  }
}

TEST(FootprintTest, DeepestKernelStackIsTheDeepestCalledKernelWithItsHelper) {
  const std::map<std::string, double> frames = {{"hwnas_conv_s8", 200},
                                                {"hwnas_fully_connected_s8", 80},
                                                {"hwnas_max_pool_s8", 0},
                                                {"hwnas_pool_s8", 72},
                                                {"hwnas_global_avg_pool_s8", 28}};
  EXPECT_EQ(DeepestKernelStack({}, frames), 0);
  EXPECT_EQ(DeepestKernelStack({{"hwnas_global_avg_pool_s8", 1}, {"hwnas_fully_connected_s8", 1}},
                               frames),
            80);
  // A kernel linked but not called does not count.
  EXPECT_EQ(DeepestKernelStack({{"hwnas_conv_s8", 0}, {"hwnas_fully_connected_s8", 1}}, frames),
            80);
  EXPECT_EQ(DeepestKernelStack({{"hwnas_conv_s8", 3}, {"hwnas_fully_connected_s8", 1}}, frames),
            200);
  // The pooling kernels run in the shared window loop: its frame is theirs.
  EXPECT_EQ(DeepestKernelStack({{"hwnas_max_pool_s8", 2}, {"hwnas_global_avg_pool_s8", 1}}, frames),
            72);
  // A kernel without a frame in the profile counts 0.
  EXPECT_EQ(DeepestKernelStack({{"hwnas_rnn_s8", 1}}, frames), 0);
}

// The stack follows the deepest kernel a network calls: the temporal space's
// shallowest network (global pooling and the classifier only) needs far less
// stack than a conv network, and the shipped
// profiles price both within 2% of the SRAM measured in QEMU (one median
// stack for every network missed the first by ~50%).
TEST(FootprintTest, ShippedProfilesStackFollowsTheDeepestKernel) {
  if (absl::Status s = CheckFirmwareTools(); !s.ok()) GTEST_SKIP() << s.message();
  // The first random temporal plans without a conv or cell kernel, and with a conv.
  std::optional<space::NetworkPlan> shallow, deep;
  for (const space::NetworkPlan& plan : RandomPlansOf(Temporal(), 100, 11)) {
    absl::StatusOr<Footprint> f = PlanFootprint(plan);
    ASSERT_TRUE(f.ok()) << f.status();
    const bool conv = f->kernel_calls.contains("hwnas_conv_s8") ||
                      f->kernel_calls.contains("hwnas_depthwise_conv_s8");
    const bool cell = f->kernel_calls.contains("hwnas_rnn_s8");
    if (!conv && !cell && !shallow) shallow = plan;
    if (conv && !deep) deep = plan;
  }
  ASSERT_TRUE(shallow && deep)
      << "no temporal plan of the classifier alone (and one with a conv) in 100 draws";
  const std::vector<space::NetworkPlan> plans = {*shallow, *deep};
  const std::string root =
      (std::filesystem::path(::testing::TempDir()) / "hwnas_footprint_stack").string();
  int n = 0;
  for (const char* cpu : {"cortex-m7", "cortex-m4"}) {
    absl::StatusOr<hardware::McuProfile> profile =
        hardware::FindMcuProfile(cpu, hardware::DefaultProfileSearchPath());
    ASSERT_TRUE(profile.ok()) << profile.status();
    std::vector<int64_t> stacks;
    for (const space::NetworkPlan& plan : plans) {
      const std::string dir = absl::StrCat(root, "/", n++);
      const Int8Model model = Export(plan, 5);
      CodegenOptions options;
      options.cpu = cpu;
      ASSERT_TRUE(WriteCProject(model, options, dir).ok());
      absl::StatusOr<FirmwareMeasurement> fw = BuildAndRunFirmware(dir, cpu, 300);
      ASSERT_TRUE(fw.ok()) << fw.status();
      absl::StatusOr<hardware::McuEstimate> e = hardware::EstimateMcu(plan, *profile);
      ASSERT_TRUE(e.ok()) << e.status();
      std::cout << cpu << ": SRAM estimated " << e->sram_needed_bytes << " measured "
                << fw->sram_bytes << " (arena " << model.memory.arena_size << ", stack "
                << fw->stack_bytes << ")\n";
      EXPECT_NEAR(static_cast<double>(e->sram_needed_bytes) / fw->sram_bytes, 1.0, 0.02)
          << cpu << " " << dir;
      stacks.push_back(fw->stack_bytes);
    }
    EXPECT_LT(stacks[0], stacks[1]) << cpu << ": the shallow network needs less stack";
  }
  std::filesystem::remove_all(root);
}

TEST(FirmwareSizeTest, ParsesTextSectionsOfAnObject) {
  const std::map<std::string, int64_t> sizes = ParseTextSections(
      "kernels-cortex-m7.o  :\n"
      "section                            size   addr\n"
      ".text                                 0      0\n"
      ".text.hwnas_pool_s8               380      0\n"
      ".text.hwnas_conv_s8              4264      0\n"
      ".data                                 0      0\n"
      ".ARM.attributes                      46      0\n");
  EXPECT_EQ(sizes,
            (std::map<std::string, int64_t>{{"hwnas_pool_s8", 380}, {"hwnas_conv_s8", 4264}}));
  EXPECT_EQ(ParseStackUsage("hwnas_nn.c:405:13:hwnas_pool_s8\t72\tstatic\n"
                            "hwnas_nn.c:228:6:hwnas_conv_s8\t200\tstatic\n"
                            "garbage\n"),
            (std::map<std::string, int64_t>{{"hwnas_pool_s8", 72}, {"hwnas_conv_s8", 200}}));
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

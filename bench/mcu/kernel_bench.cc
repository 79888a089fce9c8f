// Instructions per MAC of the generated int8 kernels (mcu/runtime/hwnas_nn.c)
// at -O2 on Cortex-M7 (QEMU mps2-an500) and Cortex-M4 (mps2-an386), counted
// exactly with QEMU -icount shift=10 and the CMSDK APB TIMER0 read around the
// kernel call (an empty pair of reads is subtracted). Each kernel runs with
// the DSP extension's dual MACs and as plain loops (-DHWNAS_NO_DSP); both
// outputs must equal the host int8 reference (mcu::RunInt8) byte for byte.
//
//   mcu_kernel_bench [--work DIR]
// Prints a markdown table. Peer (Arm CMSIS-NN, GCC 12.2 -O2, M7, DSP on):
// 2.22 / 7.96 / 2.75 / 2.38 instructions/MAC; plain C loops 7.39 / 26.69 / 9.24 / 7.39.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/flags.h"
#include "mcu/codegen.h"
#include "mcu/firmware.h"
#include "mcu/graph.h"

namespace hwnas::mcu {
namespace {

struct Shape {
  std::string name;
  NodeKind kind;
  Dims in, out;
  ConvParams conv;
  double cmsis_nn, plain_peer;  // Peer figures, M7.
};

// A one-node model with random int8 weights and realistic requantization.
Int8Model MakeModel(const Shape& s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(-127, 127);
  std::uniform_int_distribution<int> bias(-2000, 2000);
  Int8Model m;
  Int8Node in;
  in.out = s.in;
  m.nodes.push_back(in);
  Int8Node n;
  n.kind = s.kind;
  n.inputs = {0};
  n.out = s.out;
  n.conv = s.conv;
  int64_t weights = 0, per = 0;
  if (s.kind == NodeKind::kConv) per = int64_t{s.conv.kernel_h} * s.conv.kernel_w * s.in.c;
  if (s.kind == NodeKind::kDepthwiseConv) per = int64_t{s.conv.kernel_h} * s.conv.kernel_w;
  if (s.kind == NodeKind::kFullyConnected) per = s.in.size();
  weights = per * s.out.c;
  for (int64_t i = 0; i < weights; ++i) n.weights.push_back(static_cast<int8_t>(byte(rng)));
  for (int c = 0; c < s.out.c; ++c) {
    n.bias.push_back(bias(rng));
    // Accumulators of ~sqrt(per) * 127 * 127 map onto the int8 range.
    const QuantizedMultiplier q =
        QuantizeMultiplier(0.5 / (127.0 * std::sqrt(static_cast<double>(per)) * (1 + c % 3)));
    n.multiplier.push_back(q.multiplier);
    n.shift.push_back(q.shift);
  }
  m.nodes.push_back(n);
  m.q = {{0.02, 5}, {0.05, -3}};
  m.output = 1;
  m.source_shape = {s.in.c, s.in.h, s.in.w};
  m.memory = PlanMemory(m);
  return m;
}

int Run(const std::string& work) {
  if (absl::Status s = CheckFirmwareTools(); !s.ok()) {
    std::cerr << "skipped: " << s.message() << "\n";
    return 2;
  }
  const std::vector<Shape> shapes = {
      {"3x3 conv 16->24, 14x14, s1 p1",
       NodeKind::kConv,
       {14, 14, 16},
       {14, 14, 24},
       {3, 3, 1, 1, 1, 1, 1, 1},
       2.22,
       7.39},
      {"3x3 depthwise 48 ch, 14x14",
       NodeKind::kDepthwiseConv,
       {14, 14, 48},
       {14, 14, 48},
       {3, 3, 1, 1, 1, 1, 1, 1},
       7.96,
       26.69},
      {"1x1 conv 32->64, 7x7",
       NodeKind::kConv,
       {7, 7, 32},
       {7, 7, 64},
       {1, 1, 1, 1, 0, 0, 1, 1},
       2.75,
       9.24},
      {"fully connected 128->10",
       NodeKind::kFullyConnected,
       {1, 1, 128},
       {1, 1, 10},
       {1, 1, 1, 1, 0, 0, 1, 1},
       2.38,
       7.39},
  };
  std::cout << "| kernel | MACs | M7 DSP | M7 plain | M4 DSP | M4 plain | CMSIS-NN M7 | plain C "
               "M7 (peer) | M7 DSP / CMSIS-NN |\n|---|---|---|---|---|---|---|---|---|\n";
  int failures = 0;
  for (size_t k = 0; k < shapes.size(); ++k) {
    const Shape& s = shapes[k];
    Int8Model m = MakeModel(s, 11 + k);
    std::mt19937 rng(100 + k);
    std::uniform_int_distribution<int> byte(-128, 127);
    std::vector<int8_t> input(s.in.size());
    for (int8_t& v : input) v = static_cast<int8_t>(byte(rng));
    const std::vector<int8_t> expected = RunInt8(m, input);
    const int64_t macs = m.macs();
    // The generated project's model.c holds the node's arrays and params;
    // the bench harness calls the kernel directly (no input/output copies).
    CodegenOptions options;
    options.firmware_samples = {input};
    absl::StatusOr<std::map<std::string, std::string>> files = GenerateCProject(m, options);
    if (!files.ok()) {
      std::cerr << files.status() << "\n";
      return 1;
    }
    const std::string dir = absl::StrCat(work, "/shape", k);
    std::filesystem::create_directories(dir);
    for (const auto& [name, text] : *files) std::ofstream(dir + "/" + name) << text;
    // model.c's model_infer copies in and out; the bench entry point times the
    // kernel call alone, appended to model.c so it sees the static arrays.
    std::string call;
    const char* fn = s.kind == NodeKind::kConv            ? "hwnas_conv_s8"
                     : s.kind == NodeKind::kDepthwiseConv ? "hwnas_depthwise_conv_s8"
                                                          : "hwnas_fully_connected_s8";
    std::string model_c = (*files)["model.c"];
    absl::StrAppend(&model_c, R"(
#define TIMER0_VALUE (*(volatile uint32_t*)0x40000004u)
uint32_t bench_kernel(const int8_t* in, int8_t* out);
uint32_t bench_kernel(const int8_t* in, int8_t* out) {
  const uint32_t e0 = TIMER0_VALUE;
  const uint32_t e1 = TIMER0_VALUE;
  const uint32_t t0 = TIMER0_VALUE;
  )",
                    fn, "(&n1_p, in, n1_w, n1_b, n1_m, n1_s, out);", R"(
  const uint32_t t1 = TIMER0_VALUE;
  return (t0 - t1) - (e0 - e1);
}
)");
    std::ofstream(dir + "/model.c") << model_c;
    std::ofstream(dir + "/bench_main.c") << absl::StrCat(R"(#include <stdint.h>
#include "fw_samples.h"
#include "model.h"
void hwnas_semihost_write(const char* text);
uint32_t bench_kernel(const int8_t* in, int8_t* out);
static const int8_t expected[MODEL_OUTPUT_SIZE] = {)",
                                                         absl::StrJoin(expected, ","), R"(};
static int8_t out[MODEL_OUTPUT_SIZE];
static char line[64];
int main(void) {
  *(volatile uint32_t*)0x40000000u = 0;
  *(volatile uint32_t*)0x40000008u = 0xFFFFFFFFu;
  *(volatile uint32_t*)0x40000004u = 0xFFFFFFFFu;
  *(volatile uint32_t*)0x40000000u = 1;
  uint32_t ticks = bench_kernel(fw_samples[0], out);
  int match = 1;
  for (int i = 0; i < MODEL_OUTPUT_SIZE; ++i) match &= out[i] == expected[i];
  char digits[12];
  int n = 0, p = 0;
  do { digits[n++] = (char)('0' + ticks % 10); ticks /= 10; } while (ticks);
  const char* head = "TICKS ";
  while (*head) line[p++] = *head++;
  while (n) line[p++] = digits[--n];
  line[p++] = ' ';
  line[p++] = match ? 'Y' : 'N';
  line[p++] = '\n';
  line[p] = 0;
  hwnas_semihost_write(line);
  return 0;
}
)");
    std::vector<std::string> cells;
    double m7_dsp = 0;
    for (const std::string cpu : {"cortex-m7", "cortex-m4"}) {
      for (const bool dsp : {true, false}) {
        const std::string elf = absl::StrCat(cpu, dsp ? "-dsp" : "-plain", ".elf");
        CommandResult build =
            RunShell(absl::StrCat("arm-none-eabi-gcc -std=c99 -Wall -Wextra -Werror -mcpu=", cpu,
                                  " -mthumb -O2 -ffunction-sections -fdata-sections ",
                                  dsp ? "" : "-DHWNAS_NO_DSP ",
                                  "-nostartfiles -nostdlib -T mps2.ld -Wl,--gc-sections -o ", elf,
                                  " startup.c bench_main.c model.c hwnas_nn.c -lgcc"),
                     dir, 120);
        if (build.exit_code != 0) {
          std::cerr << "build failed: " << build.output << "\n";
          return 1;
        }
        absl::StatusOr<std::string> out = RunInQemu(dir + "/" + elf, *QemuMachineFor(cpu), 120);
        uint64_t ticks = 0;
        char match = '?';
        if (!out.ok() || std::sscanf(out->c_str(), "TICKS %lu %c", &ticks, &match) != 2) {
          std::cerr << "run failed: " << (out.ok() ? *out : out.status().ToString()) << "\n";
          return 1;
        }
        if (match != 'Y') {
          std::cerr << s.name << " on " << cpu << (dsp ? " (DSP)" : " (plain)")
                    << ": output differs from the host int8 reference\n";
          ++failures;
        }
        const double per_mac = static_cast<double>(TicksToInstructions(ticks)) / macs;
        if (cpu == "cortex-m7" && dsp) m7_dsp = per_mac;
        cells.push_back(absl::StrFormat("%.2f", per_mac));
      }
    }
    std::cout << absl::StrFormat("| %s | %d | %s | %.2f | %.2f | %.2fx |\n", s.name, macs,
                                 absl::StrJoin(cells, " | "), s.cmsis_nn, s.plain_peer,
                                 m7_dsp / s.cmsis_nn);
  }
  if (failures > 0) {
    std::cerr << failures << " kernel run(s) differ from the reference\n";
    return 1;
  }
  std::cout << "\nAll outputs (DSP and plain, M7 and M4) equal the host int8 reference.\n";
  return 0;
}

}  // namespace
}  // namespace hwnas::mcu

int main(int argc, char** argv) {
  const hwnas::MainFlagsSpec spec = {
      "mcu_kernel_bench",
      "usage: mcu_kernel_bench [--work DIR]\n\n"
      "Instructions per MAC of the generated int8 kernels on Cortex-M7 and -M4 (QEMU).\n\n"
      "flags:\n",
      {{"work", 0, "DIR", "build and run here (default: a new directory under the temp dir)"}}};
  int exit_code = 0;
  std::optional<hwnas::ParsedFlags> flags =
      hwnas::ParseMainFlags(spec, argc, argv, std::cout, std::cerr, &exit_code);
  if (!flags) return exit_code;
  const std::string work =
      flags->GetOr("work", absl::StrCat(std::filesystem::temp_directory_path().string(),
                                        "/hwnas-kernel-bench-", getpid()));
  std::filesystem::create_directories(work);
  return hwnas::mcu::Run(work);
}

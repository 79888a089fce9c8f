// The int8 graph, quantizer, memory planner and code generator on small
// synthetic graphs (plumbing and arithmetic; the real-data checks are in
// mcu_deploy_test.cc): the generated C, built for the host and for Cortex-M4/M7
// in QEMU, must give the host reference's int8 outputs bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "mcu/codegen.h"
#include "mcu/firmware.h"
#include "mcu/graph.h"
#include "mcu/quant_math.h"
#include "mcu/quantize.h"
#include "space/network_plan.h"

namespace hwnas::mcu {
namespace {

TEST(QuantMathTest, MultiplierRoundTrips) {
  QuantizedMultiplier half = QuantizeMultiplier(0.5);
  EXPECT_EQ(half.multiplier, 1 << 30);
  EXPECT_EQ(half.shift, 0);
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> factor(1e-5, 4.0);
  std::uniform_int_distribution<int32_t> value(-1 << 20, 1 << 20);
  for (int i = 0; i < 2000; ++i) {
    const double m = factor(rng);
    const QuantizedMultiplier q = QuantizeMultiplier(m);
    EXPECT_NEAR(q.multiplier * std::ldexp(1.0, q.shift - 31), m, m * 1e-9);
    const int32_t x = value(rng);
    const int32_t got = MultiplyByQuantizedMultiplier(x, q.multiplier, q.shift);
    EXPECT_LE(std::abs(got - x * m), 1.0) << x << " * " << m;
  }
}

TEST(QuantMathTest, RoundsHalfAwayFromZero) {
  EXPECT_EQ(RoundingDivideByPot(5, 1), 3);
  EXPECT_EQ(RoundingDivideByPot(-5, 1), -3);
  EXPECT_EQ(RoundingDivideByPot(4, 2), 1);
  EXPECT_EQ(RoundingDivideByPot(-6, 2), -2);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(INT32_MIN, INT32_MIN), INT32_MAX);
  const QuantizedMultiplier q = QuantizeMultiplier(0.25);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(6, q.multiplier, q.shift), 2);    // 1.5 -> 2
  EXPECT_EQ(MultiplyByQuantizedMultiplier(-6, q.multiplier, q.shift), -2);  // -1.5 -> -2
}

TEST(MemoryPlanTest, LiveTensorsNeverOverlap) {
  // A chain with a long skip: 0 -> 1 -> 2 -> 3 -> add(3, 1) -> 5.
  const std::vector<int64_t> sizes = {100, 64, 30, 64, 64, 10};
  const std::vector<std::vector<int>> inputs = {{}, {0}, {1}, {2}, {3, 1}, {4}};
  MemoryPlan p = PlanMemory(sizes, inputs, 5);
  for (size_t a = 0; a < sizes.size(); ++a) {
    for (size_t b = a + 1; b < sizes.size(); ++b) {
      const bool live = p.first_use[a] <= p.last_use[b] && p.first_use[b] <= p.last_use[a];
      const bool overlap =
          p.offset[a] < p.offset[b] + sizes[b] && p.offset[b] < p.offset[a] + sizes[a];
      EXPECT_FALSE(live && overlap) << a << " and " << b;
    }
  }
  EXPECT_EQ(p.last_use[1], 4);
  // The peak is the largest set of simultaneously live tensors: 0+1 at node 1
  // (164) vs 1+2+3 at node 3 (158) vs 1+3+4 at node 4 (192), padded to 4 bytes.
  EXPECT_GE(p.arena_size, 192);
  EXPECT_LE(p.arena_size, 200);
}

// input 8x8x3 -> conv3x3 (relu) -> depthwise s2 (relu6) -> SE (gap, fc-like 1x1
// convs, sigmoid, mul) -> 1x1 conv -> add skip -> avg pool -> max pool -> gap -> fc.
FloatGraph SyntheticGraph() {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.4f);
  auto random = [&](size_t n) {
    std::vector<float> v(n);
    for (float& f : v) f = normal(rng);
    return v;
  };
  FloatGraph g;
  g.source_shape = {3, 8, 8};
  auto add = [&](FloatNode n) {
    g.nodes.push_back(std::move(n));
    return static_cast<int>(g.nodes.size()) - 1;
  };
  FloatNode in;
  in.out = {8, 8, 3};
  int x = add(in);
  FloatNode conv;
  conv.kind = NodeKind::kConv;
  conv.inputs = {x};
  conv.out = {8, 8, 8};
  conv.conv = {3, 3, 1, 1, 1, 1, 1, 1};
  conv.weights = random(8 * 9 * 3);
  conv.bias = random(8);
  conv.act_min = 0;
  x = add(conv);
  FloatNode dw;
  dw.kind = NodeKind::kDepthwiseConv;
  dw.inputs = {x};
  dw.out = {4, 4, 8};
  dw.conv = {3, 3, 2, 2, 1, 1, 1, 1};
  dw.weights = random(8 * 9);
  dw.bias = random(8);
  dw.act_min = 0;
  dw.act_max = 6;
  const int dw_out = x = add(dw);
  FloatNode gap;
  gap.kind = NodeKind::kGlobalAvgPool;
  gap.inputs = {x};
  gap.out = {1, 1, 8};
  int s = add(gap);
  FloatNode reduce;
  reduce.kind = NodeKind::kConv;
  reduce.inputs = {s};
  reduce.out = {1, 1, 2};
  reduce.weights = random(2 * 8);
  reduce.bias = random(2);
  reduce.act_min = 0;
  s = add(reduce);
  FloatNode expand = reduce;
  expand.inputs = {s};
  expand.out = {1, 1, 8};
  expand.weights = random(8 * 2);
  expand.bias = random(8);
  expand.act_min = -std::numeric_limits<float>::infinity();
  s = add(expand);
  FloatNode sigmoid;
  sigmoid.kind = NodeKind::kLut;
  sigmoid.lut = LutFunction::kSigmoid;
  sigmoid.inputs = {s};
  sigmoid.out = {1, 1, 8};
  s = add(sigmoid);
  FloatNode mul;
  mul.kind = NodeKind::kMul;
  mul.inputs = {x, s};
  mul.out = dw.out;
  x = add(mul);
  FloatNode pw;
  pw.kind = NodeKind::kConv;
  pw.inputs = {x};
  pw.out = {4, 4, 8};
  pw.weights = random(8 * 8);
  pw.bias = random(8);
  x = add(pw);
  FloatNode skip;
  skip.kind = NodeKind::kAdd;
  skip.inputs = {x, dw_out};
  skip.out = pw.out;
  x = add(skip);
  FloatNode avg;
  avg.kind = NodeKind::kAvgPool;
  avg.inputs = {x};
  avg.out = {4, 4, 8};
  avg.conv = {3, 3, 1, 1, 1, 1, 1, 1};
  x = add(avg);
  FloatNode max = avg;
  max.kind = NodeKind::kMaxPool;
  max.inputs = {x};
  max.out = {2, 2, 8};
  max.conv = {2, 2, 2, 2, 0, 0, 1, 1};
  x = add(max);
  FloatNode fc;
  fc.kind = NodeKind::kFullyConnected;
  fc.inputs = {x};
  fc.out = {1, 1, 5};
  fc.weights = random(5 * 32);
  fc.bias = random(5);
  g.output = add(fc);
  return g;
}

std::vector<std::vector<float>> RandomInputs(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> out(n, std::vector<float>(8 * 8 * 3));
  for (auto& v : out) {
    for (float& f : v) f = normal(rng);
  }
  return out;
}

std::string TempDir(const std::string& name) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(QuantizeTest, Int8TracksFloat) {
  FloatGraph g = SyntheticGraph();
  absl::StatusOr<Int8Model> m = Quantize(g, RandomInputs(64, 1));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_GT(m->memory.arena_size, 0);
  double err = 0, mag = 0;
  for (const auto& x : RandomInputs(32, 2)) {
    const std::vector<float> f = RunFloat(g, x);
    const std::vector<float> q = DequantizeOutput(*m, RunInt8(*m, QuantizeInput(*m, x)));
    for (size_t i = 0; i < f.size(); ++i) {
      err += std::abs(f[i] - q[i]);
      mag += std::abs(f[i]);
    }
  }
  EXPECT_LT(err / mag, 0.1) << "mean relative error of the int8 outputs";
}

TEST(CodegenTest, HostBuildIsBitExact) {
  absl::StatusOr<Int8Model> m = Quantize(SyntheticGraph(), RandomInputs(64, 1));
  ASSERT_TRUE(m.ok()) << m.status();
  const std::string dir = TempDir("hwnas-mcu-host");
  ASSERT_TRUE(WriteCProject(*m, {}, dir).ok());
  std::vector<std::vector<int8_t>> inputs, expected;
  for (const auto& x : RandomInputs(50, 3)) {
    inputs.push_back(QuantizeInput(*m, x));
    expected.push_back(RunInt8(*m, inputs.back()));
  }
  auto got = RunHostProgram(dir, inputs, m->output_dims().size());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, expected);
  // Warnings-clean: rebuild with -Werror.
  CommandResult strict = RunShell("make -s clean && make -s CFLAGS='-O2 -Werror'", dir, 120);
  EXPECT_EQ(strict.exit_code, 0) << strict.output;
  std::filesystem::remove_all(dir);
}

class FirmwareTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FirmwareTest, QemuRunIsBitExactAndDeterministic) {
  if (absl::Status s = CheckFirmwareTools(); !s.ok()) GTEST_SKIP() << s.message();
  absl::StatusOr<Int8Model> m = Quantize(SyntheticGraph(), RandomInputs(64, 1));
  ASSERT_TRUE(m.ok()) << m.status();
  CodegenOptions options;
  options.cpu = GetParam();
  std::vector<std::vector<int8_t>> expected;
  for (const auto& x : RandomInputs(4, 4)) {
    options.firmware_samples.push_back(QuantizeInput(*m, x));
    expected.push_back(RunInt8(*m, options.firmware_samples.back()));
  }
  const std::string dir = TempDir("hwnas-mcu-fw-" + GetParam());
  ASSERT_TRUE(WriteCProject(*m, options, dir).ok());
  auto a = BuildAndRunFirmware(dir, GetParam());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->outputs, expected);
  auto b = BuildAndRunFirmware(dir, GetParam());
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->ticks, b->ticks) << "the same binary must count the same";
  EXPECT_GT(a->instructions[0], m->macs()) << "at least one instruction per MAC";
  EXPECT_GE(a->flash_bytes, m->weight_bytes());
  EXPECT_GE(a->static_ram_bytes, m->memory.arena_size);
  EXPECT_GT(a->stack_bytes, 0);
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Cpus, FirmwareTest, ::testing::Values("cortex-m7", "cortex-m4"),
                         [](const auto& info) { return info.param == "cortex-m7" ? "M7" : "M4"; });

// A firmware that never finishes (a model_infer stuck in a loop) is killed
// at the deadline, and the error says so: a measurement fails instead of
// hanging the worker.
TEST(FirmwareHangTest, QemuIsKilledAtTheDeadline) {
  if (absl::Status s = CheckFirmwareTools(); !s.ok()) GTEST_SKIP() << s.message();
  const std::string dir = TempDir("hwnas-mcu-hang");
  for (const char* name : {"startup.c", "mps2.ld"}) {
    std::ofstream(std::filesystem::path(dir) / name) << RuntimeFiles().at(name);
  }
  std::ofstream(std::filesystem::path(dir) / "hang.c")
      << "int main(void) {\n  for (volatile int i = 0;; ++i) {\n  }\n}\n";
  CommandResult build = RunShell(
      "arm-none-eabi-gcc -mcpu=cortex-m7 -mthumb -O2 -nostartfiles -nostdlib -T mps2.ld "
      "-o hang.elf startup.c hang.c -lgcc",
      dir, 120);
  ASSERT_EQ(build.exit_code, 0) << build.output;
  absl::StatusOr<std::string> out = RunInQemu(dir + "/hang.elf", "mps2-an500", 3);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded) << out.status();
  EXPECT_NE(out.status().message().find("did not finish in QEMU within 3 s (killed)"),
            std::string::npos)
      << out.status();
  std::filesystem::remove_all(dir);
}

TEST(LowerPlanTest, RefusesAnOpWithoutKernelByName) {
  space::PlanBuilder b({4, 16});
  int x = b.Conv(b.input(), 8, 3, 1, /*groups=*/2, 1, false, "grouped");
  x = b.GlobalAvgPool(x, "gap");
  x = b.Flatten(x, "flatten");
  x = b.Linear(x, 3, true, "fc");
  absl::StatusOr<space::NetworkPlan> plan = std::move(b).Finish(x);
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<FloatGraph> g = LowerPlan(*plan, {});
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("grouped"), std::string::npos) << g.status();
  EXPECT_NE(g.status().message().find("groups 2"), std::string::npos) << g.status();
}

TEST(CodegenTest, RefusesUnknownTarget) {
  EXPECT_FALSE(QemuMachineFor("cortex-m33").ok());
  absl::StatusOr<Int8Model> m = Quantize(SyntheticGraph(), RandomInputs(8, 1));
  ASSERT_TRUE(m.ok());
  CodegenOptions options;
  options.cpu = "riscv";
  EXPECT_EQ(GenerateCProject(*m, options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hwnas::mcu

namespace hwnas::mcu {
namespace {

// EEGNet's spatial conv: depthwise with a depth multiplier (3 -> 6 channels).
TEST(CodegenTest, DepthMultiplierIsBitExactOnHostAndM7) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  auto random = [&](size_t n) {
    std::vector<float> v(n);
    for (float& f : v) f = normal(rng);
    return v;
  };
  FloatGraph g;
  g.source_shape = {3, 6, 6};
  FloatNode in;
  in.out = {6, 6, 3};
  g.nodes.push_back(in);
  FloatNode dw;
  dw.kind = NodeKind::kDepthwiseConv;
  dw.inputs = {0};
  dw.out = {6, 5, 6};
  dw.conv = {3, 4, 1, 1, 1, 1, 1, 1};
  dw.weights = random(6 * 12);
  dw.bias = random(6);
  g.nodes.push_back(dw);
  FloatNode elu;
  elu.kind = NodeKind::kLut;
  elu.lut = LutFunction::kElu;
  elu.inputs = {1};
  elu.out = dw.out;
  g.nodes.push_back(elu);
  FloatNode fc;
  fc.kind = NodeKind::kFullyConnected;
  fc.inputs = {2};
  fc.out = {1, 1, 3};
  fc.weights = random(3 * 180);
  fc.bias = random(3);
  g.nodes.push_back(fc);
  g.output = 3;
  std::vector<std::vector<float>> calib;
  for (int i = 0; i < 16; ++i) calib.push_back(random(108));
  absl::StatusOr<Int8Model> m = Quantize(g, calib);
  ASSERT_TRUE(m.ok()) << m.status();
  // The int8 reference follows the float graph.
  const std::vector<float> x = random(108);
  const std::vector<float> f = RunFloat(g, x);
  const std::vector<float> q = DequantizeOutput(*m, RunInt8(*m, QuantizeInput(*m, x)));
  for (size_t i = 0; i < f.size(); ++i) EXPECT_NEAR(q[i], f[i], 0.1 + 0.1 * std::abs(f[i]));
  CodegenOptions options;
  std::vector<std::vector<int8_t>> expected;
  for (int i = 0; i < 3; ++i) {
    options.firmware_samples.push_back(QuantizeInput(*m, random(108)));
    expected.push_back(RunInt8(*m, options.firmware_samples.back()));
  }
  const std::string dir = TempDir("hwnas-mcu-mult");
  ASSERT_TRUE(WriteCProject(*m, options, dir).ok());
  auto host = RunHostProgram(dir, options.firmware_samples, 3);
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ(*host, expected);
  if (CheckFirmwareTools().ok()) {
    auto fw = BuildAndRunFirmware(dir, "cortex-m7");
    ASSERT_TRUE(fw.ok()) << fw.status();
    EXPECT_EQ(fw->outputs, expected);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hwnas::mcu

namespace hwnas::mcu {
namespace {

// A sequence {1, T, C} through an LSTM (every step) and a GRU (last step, an
// odd number of gate rows) into a fully connected layer.
FloatGraph RecurrentGraph() {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  auto random = [&](size_t n) {
    std::vector<float> v(n);
    for (float& f : v) f = normal(rng);
    return v;
  };
  FloatGraph g;
  g.source_shape = {3, 12};
  FloatNode in;
  in.out = {1, 12, 3};
  g.nodes.push_back(in);
  FloatNode lstm;
  lstm.kind = NodeKind::kLstm;
  lstm.inputs = {0};
  lstm.hidden = 6;
  lstm.out = {1, 12, 6};
  lstm.weights = random(24 * 3);
  lstm.bias = random(24);
  lstm.recurrent_weights = random(24 * 6);
  lstm.recurrent_bias = random(24);
  g.nodes.push_back(lstm);
  FloatNode gru;
  gru.kind = NodeKind::kGru;
  gru.inputs = {1};
  gru.hidden = 5;
  gru.return_sequence = false;
  gru.out = {1, 1, 5};
  gru.weights = random(15 * 6);
  gru.bias = random(15);
  gru.recurrent_weights = random(15 * 5);
  gru.recurrent_bias = random(15);
  g.nodes.push_back(gru);
  FloatNode fc;
  fc.kind = NodeKind::kFullyConnected;
  fc.inputs = {2};
  fc.out = {1, 1, 4};
  fc.weights = random(4 * 5);
  fc.bias = random(4);
  g.nodes.push_back(fc);
  g.output = 3;
  return g;
}

std::vector<std::vector<float>> RandomSequences(int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> out(n, std::vector<float>(36));
  for (auto& x : out) {
    for (float& f : x) f = normal(rng);
  }
  return out;
}

TEST(RecurrentTest, TablesAreMonotoneAndAccurate) {
  for (int32_t x = -32768; x <= 32767; x += 97) {
    const double real = x / 4096.0;
    EXPECT_NEAR(LookupQ15(SigmoidQ15Table(), x) / 32768.0, 1 / (1 + std::exp(-real)), 2e-4);
    EXPECT_NEAR(LookupQ15(TanhQ15Table(), x) / 32768.0, std::tanh(real), 6e-4);
  }
}

TEST(RecurrentTest, Int8CellsTrackFloatAndPlanTheirScratch) {
  FloatGraph g = RecurrentGraph();
  absl::StatusOr<Int8Model> m = Quantize(g, RandomSequences(64, 1));
  ASSERT_TRUE(m.ok()) << m.status();
  double err = 0, mag = 0;
  for (const auto& x : RandomSequences(32, 2)) {
    const std::vector<float> f = RunFloat(g, x);
    const std::vector<float> q = DequantizeOutput(*m, RunInt8(*m, QuantizeInput(*m, x)));
    for (size_t i = 0; i < f.size(); ++i) {
      err += std::abs(f[i] - q[i]);
      mag += std::abs(f[i]);
    }
  }
  EXPECT_LT(err / mag, 0.08) << "mean relative error of the int8 outputs";
  // Scratch buffers (int16 gates + state) are planned apart from every tensor
  // live while their node runs.
  const MemoryPlan& p = m->memory;
  for (int node : {1, 2}) {
    ASSERT_GE(p.scratch_offset[node], 0);
    EXPECT_EQ(p.scratch_offset[node] % 4, 0);
    const int64_t bytes = RecurrentScratchBytes(m->nodes[node]);
    EXPECT_EQ(bytes, 10 * m->nodes[node].hidden);
    EXPECT_LE(p.scratch_offset[node] + bytes, p.arena_size);
    for (size_t t = 0; t < m->nodes.size(); ++t) {
      if (p.first_use[t] > node || p.last_use[t] < node) continue;
      const bool overlap = p.scratch_offset[node] < p.offset[t] + p.size[t] &&
                           p.offset[t] < p.scratch_offset[node] + bytes;
      EXPECT_FALSE(overlap) << "scratch of node " << node << " and tensor " << t;
    }
  }
  EXPECT_EQ(m->macs(), 12 * (24 * 3 + 24 * 6) + 12 * (15 * 6 + 15 * 5) + 4 * 5);
}

TEST(RecurrentTest, HostAndQemuAreBitExact) {
  absl::StatusOr<Int8Model> m = Quantize(RecurrentGraph(), RandomSequences(64, 1));
  ASSERT_TRUE(m.ok()) << m.status();
  CodegenOptions options;
  options.cpu = "cortex-m4";
  std::vector<std::vector<int8_t>> inputs, expected;
  for (const auto& x : RandomSequences(40, 3)) {
    inputs.push_back(QuantizeInput(*m, x));
    expected.push_back(RunInt8(*m, inputs.back()));
  }
  options.firmware_samples.assign(inputs.begin(), inputs.begin() + 4);
  const std::string dir = TempDir("hwnas-mcu-rnn");
  ASSERT_TRUE(WriteCProject(*m, options, dir).ok());
  auto host = RunHostProgram(dir, inputs, m->output_dims().size());
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ(*host, expected);
  CommandResult strict = RunShell("make -s clean && make -s CFLAGS='-O2 -Werror'", dir, 120);
  EXPECT_EQ(strict.exit_code, 0) << strict.output;
  if (CheckFirmwareTools().ok()) {
    auto fw = BuildAndRunFirmware(dir, "cortex-m4");
    ASSERT_TRUE(fw.ok()) << fw.status();
    EXPECT_EQ(fw->outputs,
              std::vector<std::vector<int8_t>>(expected.begin(), expected.begin() + 4));
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hwnas::mcu

namespace hwnas::mcu {
namespace {

// Packed int4 weights: conv (odd row length 27, stride 2, dilation 2) and a
// fully connected layer in int4, a depthwise conv kept in int8. Weights lie
// on a per-channel 4-bit grid, as after 4-bit fake-quantized training.
FloatGraph Int4Graph(int weight_bits) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 0.4f);
  std::uniform_int_distribution<int> level(-7, 7);
  auto grid = [&](int64_t rows, int64_t per) {
    std::vector<float> v(rows * per);
    for (int64_t r = 0; r < rows; ++r) {
      const float step = 0.02f + 0.01f * static_cast<float>(r % 5);
      for (int64_t k = 0; k < per; ++k) v[r * per + k] = step * static_cast<float>(level(rng));
      v[r * per] = 7 * step;  // Every row reaches the grid's end.
    }
    return v;
  };
  auto random = [&](size_t n) {
    std::vector<float> v(n);
    for (float& f : v) f = normal(rng);
    return v;
  };
  FloatGraph g;
  g.source_shape = {3, 8, 8};
  auto add = [&](FloatNode n) {
    n.weight_bits = weight_bits;
    g.nodes.push_back(std::move(n));
    return static_cast<int>(g.nodes.size()) - 1;
  };
  FloatNode in;
  in.out = {8, 8, 3};
  int x = add(in);
  FloatNode c1;
  c1.kind = NodeKind::kConv;
  c1.inputs = {x};
  c1.out = {8, 8, 16};
  c1.conv = {3, 3, 1, 1, 1, 1, 1, 1};
  c1.weights = grid(16, 27);
  c1.bias = random(16);
  c1.act_min = 0;
  x = add(c1);
  FloatNode c2 = c1;
  c2.inputs = {x};
  c2.out = {4, 4, 32};
  c2.conv = {3, 3, 2, 2, 1, 1, 1, 1};
  c2.weights = grid(32, 9 * 16);
  c2.bias = random(32);
  x = add(c2);
  FloatNode c3 = c1;
  c3.inputs = {x};
  c3.out = {4, 4, 24};
  c3.conv = {3, 3, 1, 1, 2, 2, 2, 2};
  c3.weights = grid(24, 9 * 32);
  c3.bias = random(24);
  x = add(c3);
  FloatNode dw;
  dw.kind = NodeKind::kDepthwiseConv;
  dw.inputs = {x};
  dw.out = {4, 4, 24};
  dw.conv = {3, 3, 1, 1, 1, 1, 1, 1};
  dw.weights = random(24 * 9);
  dw.bias = random(24);
  x = add(dw);
  FloatNode fc;
  fc.kind = NodeKind::kFullyConnected;
  fc.inputs = {x};
  fc.out = {1, 1, 10};
  fc.weights = grid(10, 4 * 4 * 24);
  fc.bias = random(10);
  g.output = add(fc);
  return g;
}

TEST(Int4Test, PacksTwoPerByteRowByRow) {
  // Rows of 3: {1, -1, 7} and {-7, 0, 2}: each row starts on a byte.
  const std::vector<uint8_t> packed = PackInt4Rows({1, -1, 7, -7, 0, 2}, 2);
  EXPECT_EQ(packed, (std::vector<uint8_t>{0xF1, 0x07, 0x09, 0x02}));
}

TEST(Int4Test, QuantizesConvAndLinearToInt4AndTracksFloat) {
  const FloatGraph g = Int4Graph(4);
  absl::StatusOr<Int8Model> m4 = Quantize(g, RandomInputs(64, 1));
  ASSERT_TRUE(m4.ok()) << m4.status();
  absl::StatusOr<Int8Model> m8 = Quantize(Int4Graph(8), RandomInputs(64, 1));
  ASSERT_TRUE(m8.ok()) << m8.status();
  int int4_nodes = 0;
  for (const Int8Node& n : m4->nodes) {
    if (n.weight_bits != 4) continue;
    ++int4_nodes;
    EXPECT_NE(n.kind, NodeKind::kDepthwiseConv);
    for (int8_t w : n.weights) ASSERT_TRUE(w >= -7 && w <= 7) << n.name;
    EXPECT_GT(ScratchBytes(n), 0) << "a row to unpack into";
  }
  EXPECT_EQ(int4_nodes, 4);
  // conv rows of 27 take 14 bytes; 144, 288 and 384 values take half.
  const int64_t int8_weights = 16 * 27 + 32 * 144 + 24 * 288 + 10 * 384;
  const int64_t int4_weights = 16 * 14 + 32 * 72 + 24 * 144 + 10 * 192;
  EXPECT_EQ(m8->weight_bytes() - m4->weight_bytes(), int8_weights - int4_weights);
  double err = 0, mag = 0;
  for (const auto& x : RandomInputs(32, 2)) {
    const std::vector<float> f = RunFloat(g, x);
    const std::vector<float> q = DequantizeOutput(*m4, RunInt8(*m4, QuantizeInput(*m4, x)));
    for (size_t i = 0; i < f.size(); ++i) {
      err += std::abs(f[i] - q[i]);
      mag += std::abs(f[i]);
    }
  }
  EXPECT_LT(err / mag, 0.1) << "4-bit grid weights are exact in int4";
  // Out-of-range int4 values are refused by name.
  Int8Model bad = *m4;
  bad.nodes[1].weights[0] = 8;
  const absl::Status s = Validate(bad);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("int4 weight 8"), std::string::npos) << s;
}

TEST(Int4Test, HostAndQemuAreBitExactAndFlashShrinks) {
  absl::StatusOr<Int8Model> m4 = Quantize(Int4Graph(4), RandomInputs(64, 1));
  ASSERT_TRUE(m4.ok()) << m4.status();
  CodegenOptions options;
  std::vector<std::vector<int8_t>> inputs, expected;
  for (const auto& x : RandomInputs(40, 3)) {
    inputs.push_back(QuantizeInput(*m4, x));
    expected.push_back(RunInt8(*m4, inputs.back()));
  }
  options.firmware_samples.assign(inputs.begin(), inputs.begin() + 4);
  const std::string dir = TempDir("hwnas-mcu-int4");
  ASSERT_TRUE(WriteCProject(*m4, options, dir).ok());
  auto host = RunHostProgram(dir, inputs, m4->output_dims().size());
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ(*host, expected);
  CommandResult strict = RunShell("make -s clean && make -s CFLAGS='-O2 -Werror'", dir, 120);
  EXPECT_EQ(strict.exit_code, 0) << strict.output;
  if (absl::Status s = CheckFirmwareTools(); !s.ok()) {
    std::filesystem::remove_all(dir);
    GTEST_SKIP() << "host checked; QEMU skipped: " << s.message();
  }
  // The same network with int8 weights, for the flash comparison.
  absl::StatusOr<Int8Model> m8 = Quantize(Int4Graph(8), RandomInputs(64, 1));
  ASSERT_TRUE(m8.ok()) << m8.status();
  CodegenOptions options8 = options;
  const std::string dir8 = TempDir("hwnas-mcu-int4-vs-int8");
  ASSERT_TRUE(WriteCProject(*m8, options8, dir8).ok());
  for (const std::string cpu : {"cortex-m4", "cortex-m7"}) {
    auto fw4 = BuildAndRunFirmware(dir, cpu);
    ASSERT_TRUE(fw4.ok()) << fw4.status();
    EXPECT_EQ(fw4->outputs,
              std::vector<std::vector<int8_t>>(expected.begin(), expected.begin() + 4));
    auto fw8 = BuildAndRunFirmware(dir8, cpu);
    ASSERT_TRUE(fw8.ok()) << fw8.status();
    const int64_t weight_saving = m8->weight_bytes() - m4->weight_bytes();
    // The kernel that unpacks costs some code; the weights save more.
    EXPECT_LT(fw4->flash_bytes, fw8->flash_bytes - weight_saving / 2) << cpu;
    std::cout << cpu << ": flash int4 " << fw4->flash_bytes << " B vs int8 " << fw8->flash_bytes
              << " B (weights " << m4->weight_bytes() << " vs " << m8->weight_bytes()
              << " B); SRAM " << fw4->sram_bytes << " vs " << fw8->sram_bytes << " B; instructions "
              << fw4->instructions[0] << " vs " << fw8->instructions[0] << "\n";
    // Rebuild for the next cpu.
    RunShell("make -s clean", dir, 60);
    RunShell("make -s clean", dir8, 60);
  }
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(dir8);
}

}  // namespace
}  // namespace hwnas::mcu

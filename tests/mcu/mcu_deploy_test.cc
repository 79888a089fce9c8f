// Deployment of a trained mnasnet-space network on real Fashion-MNIST data:
// post-training int8 quantization (accuracy next to float), the generated C
// built for the host and for Cortex-M7/M4 (run in QEMU) giving the host int8
// reference's outputs bit for bit on real validation samples, and the
// firmware's measured flash, SRAM and (deterministic) instruction counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "mcu/codegen.h"
#include "mcu/firmware.h"
#include "mcu/graph.h"
#include "mcu/quantize.h"
#include "nlohmann/json.hpp"
#include "spec/worker_spec.h"
#include "tests/testing/test_paths.h"
#include "worker/datasets.h"
#include "worker/mcu_calibrate.h"
#include "worker/mcu_quantize.h"
#include "worker/plan_net.h"
#include "worker/trainer_internal.h"
#include "worker/trial_runner.h"

namespace hwnas::worker {
namespace {

// Three blocks: depthwise-separable k3 with identity skip; MBConv3 k3 with
// squeeze-excite; MBConv6 k5 with squeeze-excite, width 0.75, two layers (the
// second with a skip). Every op kind of the mnasnet space appears.
constexpr char kSpec[] = R"(
space: {name: mnasnet, blocks: 3, filters: [8, 16, 24], layers: [1, 1, 1], strides: [1, 2, 2],
        stem_filters: 8, stem_stride: 2, head_filters: 0, dropout: 0}
data: {dataset: fashion_mnist, train_subset: 4000, val_subset: 1000, seed: 1}
training: {optimizer: adam, lr: 0.005, epochs: 2, batch_size: 64, seed: 0, threads: 2}
)";
const std::vector<int> kTokens = {1, 0, 0, 1, 1, 1, 3, 0, 1, 1, 1, 1, 4, 1, 1, 1, 0, 2};

struct Trained {
  DataSplits data;
  std::unique_ptr<PlanNet> net;
  mcu::Int8Model model;
  double float_accuracy = 0;
  std::string error;
};

Trained* Shared() {
  static Trained* t = [] {
    auto* out = new Trained;
    absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(kSpec);
    if (!spec.ok()) return out->error = spec.status().ToString(), out;
    auto space = MakeSpace(*spec);
    if (!space.ok()) return out->error = space.status().ToString(), out;
    absl::StatusOr<space::NetworkPlan> plan = (*space)->Lower(kTokens);
    if (!plan.ok()) return out->error = plan.status().ToString(), out;
    absl::StatusOr<DataSplits> data = LoadDataSplits(spec->data, "");
    if (!data.ok()) return out->error = data.status().ToString(), out;
    out->data = *std::move(data);
    TrialOutcome outcome = internal::TrainEvaluateMeasure(
        *plan, out->data, spec->training, nullptr, nullptr, [&](PlanNet& net) {
          out->net = std::make_unique<PlanNet>(net);
          absl::StatusOr<mcu::Int8Model> m = QuantizeTrainedNet(*net, out->data.train, 256);
          if (!m.ok()) {
            out->error = m.status().ToString();
            return;
          }
          out->model = *std::move(m);
        });
    if (outcome.state != TrialState::kSucceeded) out->error = outcome.result.error;
    out->float_accuracy = outcome.result.accuracy;
    return out;
  }();
  return t;
}

std::vector<std::vector<int8_t>> ValInputs(const Trained& t, int64_t n) {
  std::vector<std::vector<int8_t>> inputs;
  for (int64_t i = 0; i < std::min(n, t.data.val.size()); ++i) {
    inputs.push_back(
        mcu::QuantizeInput(t.model, mcu::ToHwc(t.model.source_shape, t.data.val.sample(i))));
  }
  return inputs;
}

std::string TempDir(const std::string& name) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// The generated C as firmware for the Cortex-M4 and the M7, each run in QEMU
// on the first `k` of `inputs`: its outputs are `expected`'s, bit for bit.
// False (and the reason in `skipped`) without the cross toolchain or QEMU.
bool QemuIsBitExactOnM4AndM7(const mcu::Int8Model& model,
                             const std::vector<std::vector<int8_t>>& inputs,
                             const std::vector<std::vector<int8_t>>& expected, size_t k,
                             const std::string& name, std::string* skipped) {
  if (absl::Status s = mcu::CheckFirmwareTools(); !s.ok()) {
    *skipped = absl::StrCat("host checked; QEMU skipped: ", s.message());
    return false;
  }
  k = std::min(k, inputs.size());
  for (const char* cpu : {"cortex-m4", "cortex-m7"}) {
    mcu::CodegenOptions options;
    options.cpu = cpu;
    options.firmware_samples.assign(inputs.begin(), inputs.begin() + k);
    const std::string dir = TempDir(absl::StrCat(name, "-", cpu));
    EXPECT_TRUE(mcu::WriteCProject(model, options, dir).ok());
    absl::StatusOr<mcu::FirmwareMeasurement> fw = mcu::BuildAndRunFirmware(dir, cpu);
    EXPECT_TRUE(fw.ok()) << cpu << ": " << fw.status();
    if (fw.ok()) {
      EXPECT_EQ(fw->outputs,
                std::vector<std::vector<int8_t>>(expected.begin(), expected.begin() + k))
          << cpu;
      std::cout << name << " on " << cpu << " (" << fw->machine << "): bit-exact on "
                << fw->outputs.size() << " real samples; instructions " << fw->instructions[0]
                << ", flash " << fw->flash_bytes << " B, SRAM " << fw->sram_bytes << " B\n";
    }
    std::filesystem::remove_all(dir);
  }
  return true;
}

TEST(McuDeployTest, FloatGraphMatchesTheTrainedNetwork) {
  Trained* t = Shared();
  ASSERT_TRUE(t->error.empty()) << t->error;
  // Batch norm folded, ReLU fused, HWC layout: the same function as LibTorch's.
  absl::StatusOr<mcu::FloatGraph> g = mcu::LowerPlan((*t->net)->plan(), TrainedParams(**t->net));
  ASSERT_TRUE(g.ok()) << g.status();
  torch::NoGradGuard no_grad;
  for (int64_t i = 0; i < 8; ++i) {
    std::vector<int64_t> shape = {1};
    shape.insert(shape.end(), t->data.val.sample_shape.begin(), t->data.val.sample_shape.end());
    torch::Tensor x = torch::from_blob(const_cast<float*>(t->data.val.sample(i)), shape);
    torch::Tensor expected = (*t->net)->forward(x).flatten().contiguous();
    std::vector<float> got = mcu::RunFloat(*g, mcu::ToHwc(g->source_shape, t->data.val.sample(i)));
    ASSERT_EQ(static_cast<int64_t>(got.size()), expected.numel());
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_NEAR(got[k], expected[k].item<float>(), 1e-3 + 1e-3 * std::abs(got[k]));
    }
  }
}

TEST(McuDeployTest, Int8AccuracyStaysNearFloat) {
  Trained* t = Shared();
  ASSERT_TRUE(t->error.empty()) << t->error;
  absl::StatusOr<Int8Evaluation> e = EvaluateInt8(**t->net, t->model, t->data.val);
  ASSERT_TRUE(e.ok()) << e.status();
  std::cout << "validation (" << e->samples << " samples): float " << e->float_accuracy << ", int8 "
            << e->int8_accuracy << ", agreement " << e->agreement << "\n";
  EXPECT_GT(e->float_accuracy, 0.6);
  EXPECT_GT(e->int8_accuracy, e->float_accuracy - 0.03);
  EXPECT_GT(e->agreement, 0.9);
}

TEST(McuDeployTest, HostCIsBitExactOnValidationSamples) {
  Trained* t = Shared();
  ASSERT_TRUE(t->error.empty()) << t->error;
  const std::string dir = TempDir("hwnas-deploy-host");
  ASSERT_TRUE(mcu::WriteCProject(t->model, {}, dir).ok());
  std::vector<std::vector<int8_t>> inputs = ValInputs(*t, 300), expected;
  for (const auto& in : inputs) expected.push_back(mcu::RunInt8(t->model, in));
  auto got = mcu::RunHostProgram(dir, inputs, t->model.output_dims().size());
  ASSERT_TRUE(got.ok()) << got.status();
  int64_t differ = 0;
  for (size_t i = 0; i < inputs.size(); ++i) differ += (*got)[i] != expected[i];
  EXPECT_EQ(differ, 0) << "of " << inputs.size() << " samples";
  std::filesystem::remove_all(dir);
}

class McuFirmwareTest : public ::testing::TestWithParam<std::string> {};

TEST_P(McuFirmwareTest, QemuClassifiesRealSamplesBitExactly) {
  if (absl::Status s = mcu::CheckFirmwareTools(); !s.ok()) GTEST_SKIP() << s.message();
  Trained* t = Shared();
  ASSERT_TRUE(t->error.empty()) << t->error;
  mcu::CodegenOptions options;
  options.cpu = GetParam();
  options.firmware_samples = ValInputs(*t, 6);
  std::vector<std::vector<int8_t>> expected;
  for (const auto& in : options.firmware_samples) expected.push_back(mcu::RunInt8(t->model, in));
  const std::string dir = TempDir("hwnas-deploy-fw-" + GetParam());
  ASSERT_TRUE(mcu::WriteCProject(t->model, options, dir).ok());
  auto a = mcu::BuildAndRunFirmware(dir, GetParam());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->outputs, expected);
  auto b = mcu::BuildAndRunFirmware(dir, GetParam());
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->ticks, b->ticks) << "the same binary must give the same count";
  // Every sample runs the same straight-line kernels: counts agree closely.
  const auto [lo, hi] = std::minmax_element(a->instructions.begin(), a->instructions.end());
  EXPECT_LT(*hi - *lo, *lo / 100);
  EXPECT_GT(*lo, t->model.macs());
  EXPECT_GE(a->flash_bytes, t->model.weight_bytes());
  EXPECT_LT(a->flash_bytes, t->model.weight_bytes() + 32 * 1024) << "weights + kernels + glue";
  EXPECT_GE(a->static_ram_bytes, t->model.memory.arena_size);
  EXPECT_LT(a->static_ram_bytes, t->model.memory.arena_size + 64);
  EXPECT_GT(a->stack_bytes, 0);
  EXPECT_LT(a->stack_bytes, 1024);
  std::cout << GetParam() << " (" << a->machine << "): MACs " << t->model.macs()
            << ", instructions " << a->instructions[0] << " ("
            << static_cast<double>(a->instructions[0]) / t->model.macs() << "/MAC), flash "
            << a->flash_bytes << " B (empty firmware " << a->empty_flash_bytes << " B; weights "
            << t->model.weight_bytes() << " B), SRAM " << a->sram_bytes << " B (arena "
            << t->model.memory.arena_size << ", static " << a->static_ram_bytes << ", stack "
            << a->stack_bytes << ")\n";
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Cpus, McuFirmwareTest, ::testing::Values("cortex-m7", "cortex-m4"),
                         [](const auto& info) { return info.param == "cortex-m7" ? "M7" : "M4"; });

}  // namespace
}  // namespace hwnas::worker

namespace hwnas::worker {
namespace {

// The hwnas-worker binary end to end: train, quantize, generate, check the
// host build and (when the tools are there) the QEMU firmware.
TEST(McuExportCommandTest, WritesAProjectAndItsSummary) {
  const char* bin = std::getenv("HWNAS_BINARY_DIR");
  ASSERT_NE(bin, nullptr) << "run through ctest (HWNAS_BINARY_DIR)";
  const std::string dir = TempDir("hwnas-export-c");
  const std::string spec = dir + "/spec.yaml";
  std::ofstream(spec) << R"(
space: {name: mnasnet, blocks: 2, filters: [8, 16], layers: [1, 1], strides: [2, 2],
        stem_filters: 8, stem_stride: 1, head_filters: 0, dropout: 0}
data: {dataset: fashion_mnist, train_subset: 3000, val_subset: 200, test_subset: 200, seed: 1}
training: {optimizer: adam, lr: 0.01, epochs: 2, batch_size: 64, seed: 0, threads: 2}
)";
  const bool measure = mcu::CheckFirmwareTools().ok();
  const std::string cmd =
      absl::StrCat(bin, "/worker/hwnas-worker export --spec ", spec,
                   " --arch 4,0,1,1,1,1,1,1,0,0,1,1 --format c --target cortex-m4 --spec-data "
                   "--quiet --firmware-samples 3 --out ",
                   dir, "/c --summary ", dir, "/summary.json", measure ? " --measure" : "");
  mcu::CommandResult r = mcu::RunShell(cmd, dir, 300);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(dir + "/summary.json");
  nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["format"], "c");
  EXPECT_EQ(j["mcu"]["target"], "cortex-m4");
  EXPECT_EQ(j["mcu"]["eval_split"], "test");
  EXPECT_EQ(j["mcu"]["eval_samples"], 200);
  EXPECT_EQ(j["mcu"]["host_bit_exact_samples"], 3);
  EXPECT_GT(j["mcu"]["float_accuracy"].get<double>(), 0.4);
  EXPECT_NEAR(j["mcu"]["int8_accuracy"].get<double>(), j["mcu"]["float_accuracy"].get<double>(),
              0.05);
  EXPECT_TRUE(std::filesystem::exists(dir + "/c/model.c"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/c/Makefile"));
  if (measure) {
    EXPECT_EQ(j["mcu"]["measured"]["machine"], "mps2-an386");
    EXPECT_EQ(j["mcu"]["measured"]["bit_exact_samples"], 3);
    EXPECT_GE(j["mcu"]["measured"]["flash_bytes"].get<int64_t>(),
              j["mcu"]["weight_bytes"].get<int64_t>());
  }
  // Bad input names the flag and changes nothing.
  mcu::CommandResult bad = mcu::RunShell(
      absl::StrCat(bin, "/worker/hwnas-worker export --spec ", spec,
                   " --arch 4,0,1,1,1,1,1,1,0,0,1,1 --format c --target cortex-m33 --out ", dir,
                   "/bad"),
      dir, 60);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--target"), std::string::npos) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/bad"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hwnas::worker

namespace hwnas::worker {
namespace {

// The temporal space's dilated 1-D convs (and max pooling) on ECG5000: the
// same scheme with H = 1; host C bit-exact on real test samples.
TEST(McuTemporalTest, DilatedConv1dOnEcg5000IsBitExact) {
  absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(R"(
space: {name: temporal}
data: {dataset: ecg5000, seed: 0}
training: {optimizer: adam, lr: 0.01, epochs: 4, batch_size: 32, eval_split: test, seed: 0}
)");
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto space = MakeSpace(*spec);
  ASSERT_TRUE(space.ok()) << space.status();
  auto tokens = (*space)->Parse("conv_k5_d1_c16_p2 conv_k5_d2_c32_p2");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  absl::StatusOr<space::NetworkPlan> plan = (*space)->Lower(*tokens);
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec->data, testing::SharedDataDir());
  if (!data.ok()) GTEST_SKIP() << "ECG5000 not available: " << data.status();
  mcu::Int8Model model;
  std::optional<Int8Evaluation> eval;
  std::string error;
  TrialOutcome outcome = internal::TrainEvaluateMeasure(
      *plan, *data, spec->training, nullptr, nullptr, [&](PlanNet& net) {
        absl::StatusOr<mcu::Int8Model> m = QuantizeTrainedNet(*net, data->train, 256);
        if (!m.ok()) {
          error = m.status().ToString();
          return;
        }
        model = *std::move(m);
        absl::StatusOr<Int8Evaluation> e = EvaluateInt8(*net, model, data->test);
        if (e.ok()) eval = *e;
      });
  ASSERT_EQ(outcome.state, TrialState::kSucceeded) << outcome.result.error;
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_TRUE(eval.has_value());
  std::cout << "ECG5000 test (" << eval->samples << "): float " << eval->float_accuracy << ", int8 "
            << eval->int8_accuracy << "\n";
  EXPECT_GT(eval->float_accuracy, 0.8);
  EXPECT_NEAR(eval->int8_accuracy, eval->float_accuracy, 0.03);
  std::vector<std::vector<int8_t>> inputs, expected;
  for (int64_t i = 0; i < std::min<int64_t>(200, data->test.size()); ++i) {
    inputs.push_back(
        mcu::QuantizeInput(model, mcu::ToHwc(model.source_shape, data->test.sample(i))));
    expected.push_back(mcu::RunInt8(model, inputs.back()));
  }
  const std::string dir = TempDir("hwnas-deploy-temporal");
  ASSERT_TRUE(mcu::WriteCProject(model, {}, dir).ok());
  auto got = mcu::RunHostProgram(dir, inputs, model.output_dims().size());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, expected);
  std::filesystem::remove_all(dir);
  std::string skipped;
  if (!QemuIsBitExactOnM4AndM7(model, inputs, expected, 8, "hwnas-deploy-temporal", &skipped)) {
    GTEST_SKIP() << skipped;
  }
}

}  // namespace
}  // namespace hwnas::worker

namespace hwnas::worker {
namespace {

// EEGNet on EEG motor imagery (EEGMMIDB): temporal conv, depthwise spatial
// conv with a depth multiplier, ELU tables, average pooling, separable conv;
// host C bit-exact on real held-out epochs, and QEMU M4 and M7 on 4 of them.
TEST(McuEegnetTest, EegnetOnMotorImageryIsBitExact) {
  absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(R"(
space: {name: eegnet}
data: {dataset: eegmmidb, channels: [C3, Cz, C4, FC3, FC4, CP3, CP4, C1, C2], bandpass: [8, 30]}
training: {optimizer: adam, lr: 0.005, epochs: 2, batch_size: 8, seed: 0}
)");
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto space = MakeSpace(*spec);
  ASSERT_TRUE(space.ok()) << space.status();
  absl::StatusOr<space::NetworkPlan> plan =
      (*space)->Lower(std::vector<int>((*space)->decisions().size(), 0));
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec->data, testing::SharedDataDir());
  if (!data.ok()) GTEST_SKIP() << "EEGMMIDB not available: " << data.status();
  const Dataset& held_out = data->test.size() > 0 ? data->test : data->val;
  mcu::Int8Model model;
  std::optional<Int8Evaluation> eval, fidelity;
  std::string error;
  TrialOutcome outcome = internal::TrainEvaluateMeasure(
      *plan, *data, spec->training, nullptr, nullptr, [&](PlanNet& net) {
        absl::StatusOr<mcu::Int8Model> m = QuantizeTrainedNet(*net, data->train, 128);
        if (!m.ok()) {
          error = m.status().ToString();
          return;
        }
        model = *std::move(m);
        absl::StatusOr<Int8Evaluation> e = EvaluateInt8(*net, model, held_out);
        if (e.ok()) eval = *e;
        // The held-out split is small; the int8/float agreement is measured on
        // more epochs (the training split's first 150).
        absl::StatusOr<Int8Evaluation> f = EvaluateInt8(*net, model, data->train, 150);
        if (f.ok()) fidelity = *f;
      });
  ASSERT_EQ(outcome.state, TrialState::kSucceeded) << outcome.result.error;
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_TRUE(eval.has_value());
  std::cout << "EEGMMIDB held-out (" << eval->samples << "): float " << eval->float_accuracy
            << ", int8 " << eval->int8_accuracy << ", agreement " << eval->agreement << "; arena "
            << model.memory.arena_size << " B, MACs " << model.macs() << "\n";
  ASSERT_TRUE(fidelity.has_value());
  std::cout << "int8/float agreement on " << fidelity->samples
            << " training epochs: " << fidelity->agreement << "\n";
  EXPECT_GT(fidelity->agreement, 0.85);
  std::vector<std::vector<int8_t>> inputs, expected;
  for (int64_t i = 0; i < std::min<int64_t>(40, held_out.size()); ++i) {
    inputs.push_back(mcu::QuantizeInput(model, mcu::ToHwc(model.source_shape, held_out.sample(i))));
    expected.push_back(mcu::RunInt8(model, inputs.back()));
  }
  const std::string dir = TempDir("hwnas-deploy-eegnet");
  ASSERT_TRUE(mcu::WriteCProject(model, {}, dir).ok());
  auto got = mcu::RunHostProgram(dir, inputs, model.output_dims().size());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, expected);
  std::filesystem::remove_all(dir);
  std::string skipped;
  if (!QemuIsBitExactOnM4AndM7(model, inputs, expected, 4, "hwnas-deploy-eegnet", &skipped)) {
    GTEST_SKIP() << skipped;
  }
}

}  // namespace
}  // namespace hwnas::worker

namespace hwnas::worker {
namespace {

// An NB201 cell network on Fashion-MNIST: ReLU-conv-BN edges, average-pool
// and skip edges, a "none" edge (dropped from its sum), residual reduction
// blocks and the final standalone batch norm; host C bit-exact, and QEMU M4
// and M7 on 4 real held-out images.
TEST(McuNb201Test, CellNetworkOnFashionMnistIsBitExact) {
  absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(R"(
space: {name: nb201, channels: 8, cells_per_stage: 1}
data: {dataset: fashion_mnist, train_subset: 1500, val_subset: 300, seed: 5}
training: {optimizer: adam, lr: 0.005, epochs: 1, batch_size: 32, seed: 7, threads: 2}
)");
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto space = MakeSpace(*spec);
  ASSERT_TRUE(space.ok()) << space.status();
  auto tokens = (*space)->Parse(
      "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  absl::StatusOr<space::NetworkPlan> plan = (*space)->Lower(*tokens);
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec->data, "");
  ASSERT_TRUE(data.ok()) << data.status();
  mcu::Int8Model model;
  std::optional<Int8Evaluation> eval;
  std::string error;
  TrialOutcome outcome = internal::TrainEvaluateMeasure(
      *plan, *data, spec->training, nullptr, nullptr, [&](PlanNet& net) {
        absl::StatusOr<mcu::Int8Model> m = QuantizeTrainedNet(*net, data->train, 256);
        if (!m.ok()) {
          error = m.status().ToString();
          return;
        }
        model = *std::move(m);
        absl::StatusOr<Int8Evaluation> e = EvaluateInt8(*net, model, data->val);
        if (e.ok()) eval = *e;
      });
  ASSERT_EQ(outcome.state, TrialState::kSucceeded) << outcome.result.error;
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_TRUE(eval.has_value());
  std::cout << "NB201 validation (" << eval->samples << "): float " << eval->float_accuracy
            << ", int8 " << eval->int8_accuracy << ", agreement " << eval->agreement << "\n";
  EXPECT_GT(eval->float_accuracy, 0.4);
  EXPECT_NEAR(eval->int8_accuracy, eval->float_accuracy, 0.05);
  std::vector<std::vector<int8_t>> inputs, expected;
  for (int64_t i = 0; i < 100; ++i) {
    inputs.push_back(
        mcu::QuantizeInput(model, mcu::ToHwc(model.source_shape, data->val.sample(i))));
    expected.push_back(mcu::RunInt8(model, inputs.back()));
  }
  const std::string dir = TempDir("hwnas-deploy-nb201");
  ASSERT_TRUE(mcu::WriteCProject(model, {}, dir).ok());
  auto got = mcu::RunHostProgram(dir, inputs, model.output_dims().size());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, expected);
  std::filesystem::remove_all(dir);
  std::string skipped;
  if (!QemuIsBitExactOnM4AndM7(model, inputs, expected, 4, "hwnas-deploy-nb201", &skipped)) {
    GTEST_SKIP() << skipped;
  }
}

}  // namespace
}  // namespace hwnas::worker

namespace hwnas::worker {
namespace {

// The temporal space with a recurrent cell on ECG5000: a dilated conv and
// max pooling, then an LSTM or GRU (last step) and the classifier. The float
// graph equals LibTorch's network; int8 accuracy next to float; the generated
// C bit-exact on the host on real test samples and in QEMU on K of them.
class McuRecurrentTest : public ::testing::TestWithParam<std::string> {};

TEST_P(McuRecurrentTest, TemporalWithRecurrentCellOnEcg5000IsBitExact) {
  absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(R"(
space: {name: temporal}
data: {dataset: ecg5000, seed: 0}
training: {optimizer: adam, lr: 0.01, epochs: 4, batch_size: 32, eval_split: test, seed: 0}
)");
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto space = MakeSpace(*spec);
  ASSERT_TRUE(space.ok()) << space.status();
  auto tokens = (*space)->Parse("conv_k5_d2_c16_p2 " + GetParam() + "_h16");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  absl::StatusOr<space::NetworkPlan> plan = (*space)->Lower(*tokens);
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec->data, testing::SharedDataDir());
  if (!data.ok()) GTEST_SKIP() << "ECG5000 not available: " << data.status();
  mcu::Int8Model model;
  std::optional<Int8Evaluation> eval;
  std::string error;
  double max_float_diff = 0;
  TrialOutcome outcome = internal::TrainEvaluateMeasure(
      *plan, *data, spec->training, nullptr, nullptr, [&](PlanNet& net) {
        absl::StatusOr<mcu::FloatGraph> g = mcu::LowerPlan(net->plan(), TrainedParams(*net));
        if (!g.ok()) {
          error = g.status().ToString();
          return;
        }
        torch::NoGradGuard no_grad;
        net->eval();
        for (int64_t i = 0; i < 8; ++i) {
          std::vector<int64_t> shape = {1};
          shape.insert(shape.end(), data->test.sample_shape.begin(), data->test.sample_shape.end());
          torch::Tensor x = torch::from_blob(const_cast<float*>(data->test.sample(i)), shape);
          torch::Tensor want = net->forward(x).flatten().contiguous();
          std::vector<float> got =
              mcu::RunFloat(*g, mcu::ToHwc(g->source_shape, data->test.sample(i)));
          for (size_t k = 0; k < got.size(); ++k) {
            max_float_diff =
                std::max<double>(max_float_diff, std::abs(got[k] - want[k].item<float>()));
          }
        }
        absl::StatusOr<mcu::Int8Model> m = QuantizeTrainedNet(*net, data->train, 256);
        if (!m.ok()) {
          error = m.status().ToString();
          return;
        }
        model = *std::move(m);
        absl::StatusOr<Int8Evaluation> e = EvaluateInt8(*net, model, data->test);
        if (e.ok()) eval = *e;
      });
  ASSERT_EQ(outcome.state, TrialState::kSucceeded) << outcome.result.error;
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_TRUE(eval.has_value());
  EXPECT_LT(max_float_diff, 1e-3) << "the float graph must be LibTorch's network";
  std::cout << "ECG5000 " << GetParam() << " test (" << eval->samples << "): float "
            << eval->float_accuracy << ", int8 " << eval->int8_accuracy << ", agreement "
            << eval->agreement << "; MACs " << model.macs() << ", arena " << model.memory.arena_size
            << " B, weights " << model.weight_bytes() << " B\n";
  EXPECT_GT(eval->float_accuracy, 0.8);
  EXPECT_NEAR(eval->int8_accuracy, eval->float_accuracy, 0.03);
  EXPECT_GT(eval->agreement, 0.95);
  std::vector<std::vector<int8_t>> inputs, expected;
  for (int64_t i = 0; i < std::min<int64_t>(300, data->test.size()); ++i) {
    inputs.push_back(
        mcu::QuantizeInput(model, mcu::ToHwc(model.source_shape, data->test.sample(i))));
    expected.push_back(mcu::RunInt8(model, inputs.back()));
  }
  const std::string cpu = GetParam() == "lstm" ? "cortex-m4" : "cortex-m7";
  mcu::CodegenOptions options;
  options.cpu = cpu;
  constexpr int kFirmwareSamples = 8;
  options.firmware_samples.assign(inputs.begin(), inputs.begin() + kFirmwareSamples);
  const std::string dir = TempDir("hwnas-deploy-" + GetParam());
  ASSERT_TRUE(mcu::WriteCProject(model, options, dir).ok());
  auto got = mcu::RunHostProgram(dir, inputs, model.output_dims().size());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, expected) << "host C vs int8 reference on " << inputs.size() << " samples";
  if (absl::Status s = mcu::CheckFirmwareTools(); !s.ok()) {
    std::filesystem::remove_all(dir);
    GTEST_SKIP() << "host checked; QEMU skipped: " << s.message();
  }
  auto fw = mcu::BuildAndRunFirmware(dir, cpu);
  ASSERT_TRUE(fw.ok()) << fw.status();
  EXPECT_EQ(fw->outputs, std::vector<std::vector<int8_t>>(expected.begin(),
                                                          expected.begin() + kFirmwareSamples));
  EXPECT_GE(fw->static_ram_bytes, model.memory.arena_size);
  EXPECT_LT(fw->static_ram_bytes, model.memory.arena_size + 64);
  EXPECT_GE(fw->flash_bytes, model.weight_bytes());
  const auto [lo, hi] = std::minmax_element(fw->instructions.begin(), fw->instructions.end());
  EXPECT_LT(*hi - *lo, *lo / 100) << "no data-dependent loops";
  std::cout << cpu << " (" << fw->machine << "): bit-exact on " << fw->outputs.size()
            << " samples; instructions " << fw->instructions[0] << " ("
            << static_cast<double>(fw->instructions[0]) / model.macs() << "/MAC), flash "
            << fw->flash_bytes << " B, SRAM " << fw->sram_bytes << " B (static "
            << fw->static_ram_bytes << ", stack " << fw->stack_bytes << ")\n";
  std::filesystem::remove_all(dir);
  // The same cell on both cores (the M4 and M7 builds differ in code).
  std::string skipped;
  EXPECT_TRUE(QemuIsBitExactOnM4AndM7(model, inputs, expected, kFirmwareSamples,
                                      "hwnas-deploy-" + GetParam() + "-both", &skipped))
      << skipped;
}

INSTANTIATE_TEST_SUITE_P(Cells, McuRecurrentTest, ::testing::Values("lstm", "gru"),
                         [](const auto& info) { return info.param == "lstm" ? "Lstm" : "Gru"; });

}  // namespace
}  // namespace hwnas::worker

namespace hwnas::worker {
namespace {

// The fit recovers known coefficients from exact synthetic measurements and
// never returns a negative one: instructions per work counter, the code
// bytes of kernels and calls, the stack.
TEST(McuCalibrateTest, FitRecoversKnownCoefficients) {
  absl::StatusOr<hardware::McuProfile> base =
      hardware::FindMcuProfile("cortex-m7", hardware::DefaultProfileSearchPath());
  ASSERT_TRUE(base.ok()) << base.status();
  const std::vector<std::string>& names = McuFeatureNames();
  auto index = [&](const std::string& name) {
    return static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin());
  };
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(1e3, 1e6);
  std::vector<McuSample> samples;
  for (int i = 0; i < 40; ++i) {
    McuSample s;
    s.features.assign(names.size(), 0.0);
    s.features[index("dot22.iter")] = u(rng);
    s.features[index("depthwise.taps4")] = u(rng) / 10;
    s.features[index("requantized")] = u(rng) / 50;
    s.features[index("calls")] = 5 + i % 17;
    s.instructions = std::llround(
        15.0 * s.features[index("dot22.iter")] + 7.0 * s.features[index("depthwise.taps4")] +
        24.0 * s.features[index("requantized")] + 400 * s.features[index("calls")]);
    // Every network links the int8 conv; half of them the int4 one.
    s.footprint.const_bytes = 10000 + 1000 * i;
    s.footprint.arena_bytes = 4000 + 64 * i;
    s.footprint.kernel_calls["hwnas_conv_s8"] = 3 + i % 5;
    if (i % 2) s.footprint.kernel_calls["hwnas_conv_s4"] = 1 + i % 3;
    s.flash_bytes = s.footprint.const_bytes + 3000 +
                    30 * s.footprint.kernel_calls["hwnas_conv_s8"] +
                    (i % 2 ? 1500 + 40 * s.footprint.kernel_calls["hwnas_conv_s4"] : 0);
    // The stack: the deepest called kernel's frame (the shipped profile's
    // compiled frames) + 30 B above it.
    double deepest = 0;
    for (const auto& [kernel, calls] : s.footprint.kernel_calls) {
      if (auto it = base->deployed.kernel_stack_bytes.find(kernel);
          it != base->deployed.kernel_stack_bytes.end()) {
        deepest = std::max(deepest, it->second);
      }
    }
    s.sram_bytes = s.footprint.arena_bytes + static_cast<int64_t>(deepest) + 30;
    samples.push_back(s);
  }
  hardware::McuProfile p = FitMcuProfile(*base, samples);
  ASSERT_TRUE(p.deployed.present);
  EXPECT_NEAR(p.deployed.cycles["dot22.iter"], 15, 0.05);
  EXPECT_NEAR(p.deployed.cycles["depthwise.taps4"], 7, 0.05);
  EXPECT_NEAR(p.deployed.cycles["requantized"], 24, 0.1);
  EXPECT_NEAR(p.deployed.cycles["calls"], 400, 5);
  EXPECT_EQ(p.deployed.cycles.count("recurrent.macs"), 0u) << "not exercised";
  // The int8 conv is in every network: its code is the base's.
  EXPECT_NEAR(p.deployed.base_flash_bytes + p.deployed.kernel_flash_bytes["hwnas_conv_s8"], 3000,
              2);
  EXPECT_NEAR(p.deployed.kernel_flash_bytes["hwnas_conv_s4"], 1500, 2);
  EXPECT_NEAR(p.deployed.call_flash_bytes["hwnas_conv_s8"], 30, 0.5);
  EXPECT_NEAR(p.deployed.call_flash_bytes["hwnas_conv_s4"], 40, 0.5);
  EXPECT_EQ(p.deployed.stack_bytes, 30);
  // The legacy terms keep the base profile's values (no legacy features).
  EXPECT_EQ(p.int8.conv, base->int8.conv);
  // The YAML reads back as the same profile.
  absl::StatusOr<hardware::McuProfile> back =
      hardware::ParseMcuProfile(McuProfileYaml(p, "test\nprofile"), "calibrated");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_NEAR(back->deployed.cycles["dot22.iter"], 15, 0.05);
  EXPECT_NEAR(back->deployed.kernel_flash_bytes["hwnas_conv_s4"], 1500, 2);
  EXPECT_EQ(back->deployed.stack_bytes, 30);
  EXPECT_EQ(back->sram_bytes, p.sram_bytes);
}

// The stack: the compiled kernels' frames, plus one fitted constant for what
// lies above the deepest one (model_infer's frame varies a little by network).
TEST(McuCalibrateTest, StackIsTheDeepestKernelFramePlusAFittedConstant) {
  absl::StatusOr<hardware::McuProfile> base =
      hardware::FindMcuProfile("cortex-m7", hardware::DefaultProfileSearchPath());
  ASSERT_TRUE(base.ok()) << base.status();
  mcu::KernelBuild code;
  code.code_bytes = {{"hwnas_conv_s8", 4000}, {"hwnas_fully_connected_s8", 1000}};
  code.stack_bytes = {{"hwnas_conv_s8", 200}, {"hwnas_fully_connected_s8", 80}};
  std::vector<McuSample> samples;
  for (int i = 0; i < 30; ++i) {
    McuSample s;
    s.instructions = 1000;
    s.features.assign(McuFeatureNames().size(), 0.0);
    s.footprint.arena_bytes = i % 3 == 0 ? 150 : 20000 + 100 * i;
    // Every third network is the classifier alone (small arena, shallow);
    // the conv networks' frames above the kernel vary from 28 to 44 B.
    const bool conv = i % 3 != 0;
    if (conv) s.footprint.kernel_calls["hwnas_conv_s8"] = 2;
    s.footprint.kernel_calls["hwnas_fully_connected_s8"] = 1;
    s.sram_bytes = s.footprint.arena_bytes + (conv ? 200 + 28 + 4 * (i % 5) : 80 + 28);
    samples.push_back(s);
  }
  hardware::McuProfile p = FitMcuProfile(*base, samples, &code);
  EXPECT_EQ(p.deployed.kernel_stack_bytes["hwnas_conv_s8"], 200);
  EXPECT_EQ(p.deployed.kernel_stack_bytes["hwnas_fully_connected_s8"], 80);
  // The worst relative error is the small network's: the constant is its 28.
  EXPECT_EQ(p.deployed.stack_bytes, 28);
  absl::StatusOr<hardware::McuProfile> back =
      hardware::ParseMcuProfile(McuProfileYaml(p, "test"), "calibrated");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->deployed.kernel_stack_bytes, p.deployed.kernel_stack_bytes);
  EXPECT_EQ(back->deployed.stack_bytes, 28);
}

// The measurements of an earlier run, from its progress lines or its CSV.
TEST(McuCalibrateTest, ParsesAnEarlierRunsLogAndCsv) {
  std::istringstream log(
      "skipped r1_x: no kernel\n"
      "measured 1/2: 123 instructions, flash 456 B, SRAM 789 B (r1_k3 w8)\n"
      "set,arch,macs,instructions,estimated_instructions,flash_bytes,estimated_flash_bytes,"
      "sram_bytes,estimated_sram_bytes\n"
      "check,\"r2_k5 w4\",10,1000,990,2000,1990,3000,2990\n");
  std::map<std::string, McuSample> m = ParseMcuMeasurementLog(log);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m["r1_k3 w8"].instructions, 123);
  EXPECT_EQ(m["r1_k3 w8"].flash_bytes, 456);
  EXPECT_EQ(m["r1_k3 w8"].sram_bytes, 789);
  EXPECT_EQ(m["r2_k5 w4"].instructions, 1000);
  EXPECT_EQ(m["r2_k5 w4"].flash_bytes, 2000);
  EXPECT_EQ(m["r2_k5 w4"].sram_bytes, 3000);
}

// End to end on a handful of real exported networks: measured in QEMU,
// fitted, and the fit checked on other architectures.
TEST(McuCalibrateTest, FitsMeasuredFirmwareOfRandomArchitectures) {
  if (absl::Status s = mcu::CheckFirmwareTools(); !s.ok()) GTEST_SKIP() << s.message();
  absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(R"(
space: {name: mnasnet, blocks: 2, filters: [8, 16], layers: [1, 1], strides: [2, 2],
        stem_filters: 8, stem_stride: 2, head_filters: 0, dropout: 0, quantize: true,
        activation_bits: 8}
data: {dataset: fashion_mnist}
)");
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto space = MakeSpace(*spec);
  ASSERT_TRUE(space.ok()) << space.status();
  absl::StatusOr<hardware::McuProfile> base =
      hardware::FindMcuProfile("cortex-m4", hardware::DefaultProfileSearchPath());
  ASSERT_TRUE(base.ok()) << base.status();
  McuCalibrateOptions options;
  options.cpu = "cortex-m4";
  options.fit_archs = 8;
  options.check_archs = 4;
  options.work_dir = TempDir("hwnas-calibrate-mcu");
  absl::StatusOr<McuCalibration> c = CalibrateMcu(**space, *base, options);
  std::filesystem::remove_all(options.work_dir);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->fit.size(), 8u);
  ASSERT_EQ(c->check.size(), 4u);
  for (const McuSample& s : c->fit) {
    EXPECT_GT(s.instructions, s.macs) << s.arch;
    EXPECT_GT(s.flash_bytes, 0) << s.arch;
    EXPECT_GT(s.sram_bytes, 0) << s.arch;
  }
  EXPECT_GT(c->fitted.int8.conv, 0);
  EXPECT_GT(c->fitted.runtime_flash_bytes, 0) << "kernel code";
  ASSERT_TRUE(c->fitted.deployed.present);
  EXPECT_GT(c->fitted.deployed.stack_bytes, 0);
  // Flash and SRAM are computed, not guessed: close on the check set even
  // from 8 architectures (mcu_footprint_test holds the shipped profiles,
  // fitted on 100, to 2%).
  for (const McuSample& s : c->check) {
    EXPECT_NEAR(static_cast<double>(s.estimated_flash_bytes) / s.flash_bytes, 1.0, 0.10) << s.arch;
    EXPECT_NEAR(static_cast<double>(s.estimated_sram_bytes) / s.sram_bytes, 1.0, 0.10) << s.arch;
  }
  // On the architectures it was fitted on, the fit is close.
  for (const McuSample& s : c->fit) {
    EXPECT_NEAR(s.estimated_cycles / static_cast<double>(s.instructions), 1.0, 0.25) << s.arch;
  }
  std::cout << "check: instructions within 20% " << c->before.instructions.within_20pct << " -> "
            << c->after.instructions.within_20pct << ", flash " << c->before.flash.within_20pct
            << " -> " << c->after.flash.within_20pct << ", SRAM " << c->before.sram.within_20pct
            << " -> " << c->after.sram.within_20pct << "\n";
}

}  // namespace
}  // namespace hwnas::worker

namespace hwnas::worker {
namespace {

// serve --measure-mcu's step: the trained network measured in QEMU, the
// numbers added to the result beside what it already holds.
TEST(McuMeasureTest, AddsMeasuredCostsToTheTrialResult) {
  Trained* t = Shared();
  ASSERT_TRUE(t->error.empty()) << t->error;
  if (absl::Status s = mcu::CheckFirmwareTools(); !s.ok()) GTEST_SKIP() << s.message();
  absl::StatusOr<hardware::McuProfile> m7 =
      hardware::FindMcuProfile("cortex-m7", hardware::DefaultProfileSearchPath());
  ASSERT_TRUE(m7.ok()) << m7.status();
  TrialResult result;
  result.accuracy = 0.8;
  result.estimates["latency_ms@m7"] = 3.5;
  const TrialResult before = result;
  absl::StatusOr<McuFeasibility> f =
      MeasureTrialOnMcu(*t->net, t->data.train, t->data.val, "cortex-m7", &*m7, &result);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->feasible) << f->reason;
  EXPECT_EQ(result.accuracy, 0.8);
  EXPECT_EQ(result.estimates.at("latency_ms@m7"), 3.5);
  const double flash = result.estimates.at("measured_flash_bytes@cortex-m7");
  const double sram = result.estimates.at("measured_sram_bytes@cortex-m7");
  EXPECT_GE(flash, static_cast<double>(t->model.weight_bytes()));
  EXPECT_GE(sram, static_cast<double>(t->model.memory.arena_size));
  EXPECT_GT(result.estimates.at("measured_instructions@cortex-m7"),
            static_cast<double>(t->model.macs()));
  EXPECT_GT(result.estimates.at("int8_accuracy@cortex-m7"), 0.5);
  EXPECT_EQ(MetricValue(result, "measured_flash_bytes@cortex-m7"), flash);
  EXPECT_TRUE(ValidateTrialResult(result).ok());

  // A device too small for the measured firmware: infeasible, with numbers.
  hardware::McuProfile tiny = *m7;
  tiny.flash_bytes = 1024;
  TrialResult small = before;
  f = MeasureTrialOnMcu(*t->net, t->data.train, t->data.val, "cortex-m4", &tiny, &small);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_FALSE(f->feasible);
  EXPECT_NE(f->reason.find("measured flash"), std::string::npos) << f->reason;
  EXPECT_NE(f->reason.find("1024 B"), std::string::npos) << f->reason;

  // A failed measurement changes nothing already in the result.
  TrialResult kept = before;
  f = MeasureTrialOnMcu(*t->net, t->data.train, t->data.val, "cortex-m99", &*m7, &kept);
  EXPECT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("cortex-m99"), std::string::npos) << f.status();
  EXPECT_EQ(kept, before);
  EXPECT_FALSE(ApplyMcuMeasurement(nlohmann::json{{"target", "cortex-m7"}}, nullptr, &kept).ok());
  EXPECT_EQ(kept, before);
}

}  // namespace
}  // namespace hwnas::worker

namespace hwnas::worker {
namespace {

// The mnasnet space's 4-bit weights on Fashion-MNIST: trained with 4-bit
// fake quantization, exported with packed int4 conv / linear weights; int8
// accuracy next to float, host C and QEMU M4 bit-exact, and the firmware
// smaller than the same network exported with int8 weights.
TEST(McuInt4Test, FourBitMnasnetOnFashionMnistIsBitExactAndSmaller) {
  std::string text = kSpec;
  text.replace(text.find("dropout: 0}"), 11, "dropout: 0, quantize: true, activation_bits: 8}");
  absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(text);
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto space = MakeSpace(*spec);
  ASSERT_TRUE(space.ok()) << space.status();
  std::vector<int> tokens = kTokens;
  tokens.push_back(2);  // w4
  absl::StatusOr<space::NetworkPlan> plan = (*space)->Lower(tokens);
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec->data, "");
  if (!data.ok()) GTEST_SKIP() << "Fashion-MNIST not available: " << data.status();
  mcu::Int8Model m4, m8;
  std::optional<Int8Evaluation> eval;
  std::string error;
  TrialOutcome outcome = internal::TrainEvaluateMeasure(
      *plan, *data, spec->training, nullptr, nullptr, [&](PlanNet& net) {
        absl::StatusOr<mcu::FloatGraph> g = mcu::LowerPlan(net->plan(), TrainedParams(*net));
        if (!g.ok()) {
          error = g.status().ToString();
          return;
        }
        std::vector<std::vector<float>> calibration;
        for (int64_t i = 0; i < 256; ++i) {
          calibration.push_back(mcu::ToHwc(g->source_shape, data->train.sample(i)));
        }
        absl::StatusOr<mcu::Int8Model> q4 = mcu::Quantize(*g, calibration);
        for (mcu::FloatNode& n : g->nodes) n.weight_bits = 8;
        absl::StatusOr<mcu::Int8Model> q8 = mcu::Quantize(*g, calibration);
        if (!q4.ok() || !q8.ok()) {
          error = (q4.ok() ? q8.status() : q4.status()).ToString();
          return;
        }
        m4 = *std::move(q4);
        m8 = *std::move(q8);
        absl::StatusOr<Int8Evaluation> e = EvaluateInt8(*net, m4, data->val);
        if (e.ok()) eval = *e;
      });
  ASSERT_EQ(outcome.state, TrialState::kSucceeded) << outcome.result.error;
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_TRUE(eval.has_value());
  int int4_layers = 0;
  for (const mcu::Int8Node& n : m4.nodes) int4_layers += n.weight_bits == 4 ? 1 : 0;
  EXPECT_GT(int4_layers, 3);
  std::cout << "Fashion-MNIST w4 (" << eval->samples << "): float " << eval->float_accuracy
            << ", int4/int8 " << eval->int8_accuracy << ", agreement " << eval->agreement << "; "
            << int4_layers << " int4 layers, weights " << m4.weight_bytes() << " B vs int8 "
            << m8.weight_bytes() << " B\n";
  EXPECT_GT(eval->float_accuracy, 0.6);
  EXPECT_NEAR(eval->int8_accuracy, eval->float_accuracy, 0.03);
  EXPECT_LT(m4.weight_bytes(), m8.weight_bytes());
  std::vector<std::vector<int8_t>> inputs, expected;
  for (int64_t i = 0; i < std::min<int64_t>(200, data->val.size()); ++i) {
    inputs.push_back(mcu::QuantizeInput(m4, mcu::ToHwc(m4.source_shape, data->val.sample(i))));
    expected.push_back(mcu::RunInt8(m4, inputs.back()));
  }
  mcu::CodegenOptions options;
  options.cpu = "cortex-m4";
  options.firmware_samples.assign(inputs.begin(), inputs.begin() + 4);
  const std::string dir = TempDir("hwnas-deploy-int4");
  ASSERT_TRUE(mcu::WriteCProject(m4, options, dir).ok());
  auto got = mcu::RunHostProgram(dir, inputs, m4.output_dims().size());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, expected) << "host C vs int8 reference on " << inputs.size() << " samples";
  if (absl::Status s = mcu::CheckFirmwareTools(); !s.ok()) {
    std::filesystem::remove_all(dir);
    GTEST_SKIP() << "host checked; QEMU skipped: " << s.message();
  }
  auto fw4 = mcu::BuildAndRunFirmware(dir, "cortex-m4");
  ASSERT_TRUE(fw4.ok()) << fw4.status();
  EXPECT_EQ(fw4->outputs, std::vector<std::vector<int8_t>>(expected.begin(), expected.begin() + 4));
  const std::string dir8 = TempDir("hwnas-deploy-int4-as-int8");
  options.firmware_samples.clear();
  for (int i = 0; i < 4; ++i) {
    options.firmware_samples.push_back(
        mcu::QuantizeInput(m8, mcu::ToHwc(m8.source_shape, data->val.sample(i))));
  }
  ASSERT_TRUE(mcu::WriteCProject(m8, options, dir8).ok());
  auto fw8 = mcu::BuildAndRunFirmware(dir8, "cortex-m4");
  ASSERT_TRUE(fw8.ok()) << fw8.status();
  EXPECT_LT(fw4->flash_bytes, fw8->flash_bytes);
  std::cout << "cortex-m4: flash int4 " << fw4->flash_bytes << " B vs int8 " << fw8->flash_bytes
            << " B; SRAM " << fw4->sram_bytes << " vs " << fw8->sram_bytes << " B; instructions "
            << fw4->instructions[0] << " vs " << fw8->instructions[0] << "\n";
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(dir8);
}

}  // namespace
}  // namespace hwnas::worker

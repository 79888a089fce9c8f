#include "worker/export.h"

#include <torch/script.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/flags.h"
#include "common/log.h"
#include "nlohmann/json.hpp"
#include "spec/worker_spec.h"
#include "worker/commands.h"
#include "worker/mcu_quantize.h"
#include "worker/plan_net.h"
#include "worker/torchscript.h"
#include "worker/trainer_internal.h"
#include "worker/trial_runner.h"

namespace hwnas::worker {
namespace {

using json = nlohmann::json;

constexpr char kExportHelp[] =
    R"(usage: hwnas-worker export --spec SPEC.yaml --arch ARCH --out MODEL.pt [flags]
       hwnas-worker export --spec SPEC.yaml --arch ARCH --format c --target cortex-m7 --out DIR

Trains ARCH with the spec's training section on the spec's data set (every
sample: the data section's subsets are dropped unless --spec-data), evaluates
it, and saves it as a TorchScript module. The file loads in LibTorch
(torch::jit::load) and in Python (torch.jit.load); it is loaded back here and
checked against the trained network on held-out samples. The archive also
holds architecture.json and plan.txt (torch.jit.load(..., _extra_files=...)).
Inputs: {N, ...input shape} float tensors, normalized like the training data;
outputs: {N, classes} logits. A JSON summary is printed on stdout.

--format c quantizes the trained network to int8 (TFLite Micro / CMSIS-NN
scheme, activation ranges calibrated on 256 training samples), measures its
accuracy next to the float network's on the held-out split, and writes a C99
project to DIR: model.c/model.h (int model_infer(const int8_t* in, int8_t* out)),
the int8 kernels, a host runner, a QEMU mps2 firmware harness and a Makefile
(docs/mcu.md). Its host build is checked bit-exact against the int8 reference.

flags:
  --spec PATH      search spec (YAML)
  --arch ARCH      token list ("3,1,0,2") or the space's readable form
  --out PATH       the TorchScript file to write (--format c: a directory)
  --format F       torchscript (default) or c
  --target CPU     --format c: cortex-m7 (default) or cortex-m4
  --measure        --format c: build the firmware, run it in qemu-system-arm,
                   check it bit-exact, report flash/SRAM/instructions
  --firmware-samples K
                   --format c: held-out samples in the firmware harness (8)
  --epochs N       override training.epochs
  --spec-data      keep the spec's train/val/test subsets (quick checks)
  --data-dir DIR   shared data directory (default: $HWNAS_SHARED_DATA)
  --summary PATH   also write the JSON summary to PATH
  --threads N      override training.threads
  --seed N         override training.seed
  --quiet          no progress output
)";

int Fail(std::ostream& err, const absl::Status& status, int code = kExitBadInput) {
  err << "error: " << status.message() << "\n";
  return code;
}

torch::Tensor Samples(const Dataset& d, int64_t n) {
  n = std::min(n, d.size());
  std::vector<int64_t> shape = {n};
  shape.insert(shape.end(), d.sample_shape.begin(), d.sample_shape.end());
  return torch::from_blob(const_cast<float*>(d.features.data()), shape, torch::kFloat).clone();
}

std::string PlanText(const space::NetworkPlan& plan) {
  std::string out;
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const space::Op& op = plan.ops[i];
    absl::StrAppend(&out, i, "\t", space::OpTypeName(op.type), "\t", op.name, "\t[",
                    absl::StrJoin(op.inputs, ","), "]\t", space::ShapeToString(op.output_shape),
                    "\n");
  }
  return out;
}

}  // namespace

int RunExport(const ExportOptions& options, std::ostream& out, std::ostream& err) {
  absl::StatusOr<WorkerSpec> loaded = LoadWorkerSpec(options.spec_path);
  if (!loaded.ok()) return Fail(err, loaded.status());
  WorkerSpec spec = *std::move(loaded);
  if (options.epochs) spec.training.epochs = *options.epochs;
  if (options.threads) spec.training.threads = *options.threads;
  if (options.seed) spec.training.seed = *options.seed;
  spec.training.time_limit_s = 0;  // A full training run is not a proxy trial.
  if (options.full_data) {
    spec.data.train_subset = 0;
    spec.data.val_subset = 0;
    spec.data.test_subset = 0;
  }
  absl::StatusOr<std::unique_ptr<space::SearchSpace>> space = MakeSpace(spec);
  if (!space.ok()) return Fail(err, space.status());
  absl::StatusOr<std::vector<int>> tokens = (*space)->Parse(options.arch);
  if (!tokens.ok()) {
    return Fail(err,
                absl::InvalidArgumentError(absl::StrCat("--arch: ", tokens.status().message())));
  }
  absl::StatusOr<Architecture> arch = (*space)->MakeArchitecture(*tokens);
  if (!arch.ok()) return Fail(err, arch.status());
  absl::StatusOr<space::NetworkPlan> lowered = (*space)->Lower(arch->tokens);
  if (!lowered.ok()) return Fail(err, lowered.status());
  const space::NetworkPlan plan = ApplyHardwareOptions(*std::move(lowered), spec.hardware);

  RunnerOptions runner_options;
  runner_options.shared_data_dir = options.data_dir;
  if (options.progress) err << "loading data (" << spec.data.dataset << ")...\n" << std::flush;
  absl::StatusOr<std::unique_ptr<TrialRunner>> runner = TrialRunner::Create(spec, runner_options);
  if (!runner.ok()) return Fail(err, runner.status());
  const DataSplits& data = (*runner)->data();
  const int epochs = spec.training.epochs;
  if (options.progress) {
    err << "training " << arch->readable << " on " << data.train.size() << " samples for " << epochs
        << " epoch(s)\n"
        << std::flush;
  }
  ProgressCallback progress = [&](const EpochMetrics& m) {
    if (options.progress) {
      std::string line =
          absl::StrFormat("epoch %d/%d train_loss=%.4f train_acc=%.4f", m.epoch, epochs,
                          m.values.at("train_loss"), m.values.at("train_accuracy"));
      if (auto it = m.values.find("val_accuracy"); it != m.values.end()) {
        absl::StrAppendFormat(&line, " val_acc=%.4f", it->second);
      }
      err << line << "\n" << std::flush;
    }
    return ProgressDecision::kContinue;
  };

  json arch_json = {{"space", arch->space},
                    {"space_version", arch->space_version},
                    {"tokens", arch->tokens},
                    {"readable", arch->readable},
                    {"input_shape", plan.input_shape()}};
  absl::Status saved = absl::InternalError("training did not finish");
  double max_diff = -1;
  int64_t checked = 0;
  std::vector<float> check_input, check_output;
  const Dataset& held_out = data.test.size() > 0 ? data.test : data.val;
  json mcu_summary;
  TrialOutcome outcome = internal::TrainEvaluateMeasure(
      plan, data, spec.training, nullptr, progress, [&](PlanNet& net) {
        if (options.format == "c") {
          absl::StatusOr<json> exported = internal::ExportMcuProject(
              net, data.train, held_out, options.out_path, options.target, options.measure,
              options.firmware_samples, options.progress ? &err : nullptr);
          saved = exported.status();
          if (exported.ok()) {
            mcu_summary = *std::move(exported);
            mcu_summary["eval_split"] = data.test.size() > 0 ? "test" : "val";
          }
          return;
        }
        saved = SaveTorchScript(
            net, options.out_path,
            {{"architecture.json", arch_json.dump(2)}, {"plan.txt", PlanText(plan)}});
        if (!saved.ok()) return;
        try {
          // Load the file back and compare with the trained network.
          torch::NoGradGuard no_grad;
          torch::jit::Module module = torch::jit::load(options.out_path);
          module.eval();
          torch::Tensor x = Samples(held_out, 16);
          checked = x.size(0);
          if (checked == 0) return;
          torch::Tensor expected = net->forward(x);
          torch::Tensor got = module.forward({x}).toTensor();
          max_diff = (expected - got).abs().max().item<double>();
          // One sample and its logits, so other runtimes (Python) can check too.
          torch::Tensor in0 = x[0].flatten().contiguous(), out0 = expected[0].contiguous();
          check_input.assign(in0.data_ptr<float>(), in0.data_ptr<float>() + in0.numel());
          check_output.assign(out0.data_ptr<float>(), out0.data_ptr<float>() + out0.numel());
          if (!(max_diff <= 1e-4)) {
            saved = absl::InternalError(absl::StrCat(
                "the saved module's outputs differ from the trained network's by ", max_diff));
          }
        } catch (const std::exception& e) {
          saved = absl::InternalError(
              absl::StrCat("cannot load ", options.out_path, " back: ", ExceptionMessage(e)));
        }
      });
  if (outcome.state == TrialState::kFailed) {
    return Fail(err, absl::InternalError(absl::StrCat("training failed: ", outcome.result.error)),
                kExitTrialFailed);
  }
  if (!saved.ok()) return Fail(err, saved, kExitTrialFailed);
  if (options.format == "c") {
    json summary = {{"project", options.out_path},
                    {"format", "c"},
                    {"architecture", arch_json},
                    {"accuracy", outcome.result.accuracy},
                    {"eval_split", spec.training.eval_split == EvalSplit::kTest ? "test" : "val"},
                    {"epochs", outcome.result.epochs},
                    {"train_samples", data.train.size()},
                    {"mcu", mcu_summary}};
    out << summary.dump(2) << "\n";
    if (!options.summary_path.empty()) {
      std::ofstream file(options.summary_path, std::ios::trunc);
      file << summary.dump(2) << "\n";
      if (!file.flush()) {
        return Fail(err, absl::InternalError(absl::StrCat("cannot write ", options.summary_path)),
                    kExitTrialFailed);
      }
    }
    return kExitOk;
  }
  json summary = {{"model", options.out_path},
                  {"architecture", arch_json},
                  {"accuracy", outcome.result.accuracy},
                  {"loss", outcome.result.loss},
                  {"eval_split", spec.training.eval_split == EvalSplit::kTest ? "test" : "val"},
                  {"epochs", outcome.result.epochs},
                  {"train_samples", data.train.size()},
                  {"train_seconds", outcome.result.train_seconds},
                  {"check_samples", checked},
                  {"check_max_abs_diff", max_diff},
                  {"check_input", check_input},
                  {"check_output", check_output}};
  json brief = summary;
  brief.erase("check_input");
  brief.erase("check_output");
  out << brief.dump(2) << "\n";
  if (!options.summary_path.empty()) {
    std::ofstream file(options.summary_path, std::ios::trunc);
    file << summary.dump(2) << "\n";
    if (!file.flush()) {
      return Fail(err, absl::InternalError(absl::StrCat("cannot write ", options.summary_path)),
                  kExitTrialFailed);
    }
  }
  if (options.progress) {
    err << absl::StrFormat(
        "saved %s (accuracy %.4f; reloaded and checked on %d samples, max |diff| %.2g)\n",
        options.out_path, outcome.result.accuracy, checked, max_diff);
  }
  return kExitOk;
}

int ExportMain(int argc, char** argv) {
  auto usage = [](const std::string& error) {
    std::cerr << "error: " << error << "\n\n" << kExportHelp;
    return kExitUsage;
  };
  static const std::vector<FlagSpec> kFlags = {
      {"spec", 0, "PATH", ""},    {"arch", 0, "ARCH", ""},    {"out", 0, "PATH", ""},
      {"summary", 0, "PATH", ""}, {"data-dir", 0, "DIR", ""}, {"log-level", 0, "LEVEL", ""},
      {"epochs", 0, "N", ""},     {"threads", 0, "N", ""},    {"seed", 0, "N", ""},
      {"spec-data", 0, "", ""},   {"quiet", 0, "", ""},       {"format", 0, "F", ""},
      {"target", 0, "CPU", ""},   {"measure", 0, "", ""},     {"firmware-samples", 0, "K", ""}};
  absl::StatusOr<ParsedFlags> flags = ParseFlags(
      kFlags, {}, std::vector<std::string>(argv + 2, argv + argc), "hwnas-worker export");
  if (!flags.ok()) return usage(std::string(flags.status().message()));
  if (flags->help) {
    std::cout << kExportHelp;
    return kExitOk;
  }
  if (!flags->positionals.empty()) {
    return usage(absl::StrCat("unexpected argument '", flags->positionals[0], "'"));
  }
  ExportOptions o;
  o.spec_path = flags->GetOr("spec", "");
  o.arch = flags->GetOr("arch", "");
  o.out_path = flags->GetOr("out", "");
  o.summary_path = flags->GetOr("summary", "");
  o.data_dir = flags->GetOr("data-dir", "");
  o.full_data = !flags->Has("spec-data");
  o.progress = !flags->Has("quiet");
  o.format = flags->GetOr("format", "torchscript");
  o.target = flags->GetOr("target", "cortex-m7");
  o.measure = flags->Has("measure");
  if (o.format != "torchscript" && o.format != "c") {
    return usage(absl::StrCat("--format: '", o.format, "' (expected torchscript or c)"));
  }
  if (o.target != "cortex-m7" && o.target != "cortex-m4") {
    return usage(absl::StrCat("--target: '", o.target, "' (expected cortex-m7 or cortex-m4)"));
  }
  absl::StatusOr<std::optional<int64_t>> fw_samples = flags->Int("firmware-samples", 1);
  if (!fw_samples.ok()) return usage(std::string(fw_samples.status().message()));
  if (*fw_samples) o.firmware_samples = static_cast<int>(**fw_samples);
  absl::StatusOr<std::optional<int64_t>> epochs = flags->Int("epochs", 0);
  absl::StatusOr<std::optional<int64_t>> threads = flags->Int("threads", 0);
  absl::StatusOr<std::optional<int64_t>> seed = flags->Int("seed", 0);
  for (const absl::Status& s : {epochs.status(), threads.status(), seed.status(),
                                flags->Require({"spec", "arch", "out"})}) {
    if (!s.ok()) return usage(std::string(s.message()));
  }
  if (*epochs) o.epochs = static_cast<int>(**epochs);
  if (*threads) o.threads = static_cast<int>(**threads);
  if (*seed) o.seed = static_cast<uint64_t>(**seed);
  if (absl::Status s = InitLogging(flags->GetOr("log-level", "warn")); !s.ok()) {
    return usage(std::string(s.message()));
  }
  return RunExport(o, std::cout, std::cerr);
}

}  // namespace hwnas::worker

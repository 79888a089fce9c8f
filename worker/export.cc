#include "worker/export.h"

#include <torch/script.h>

#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
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
  // --summary: the whole summary (the torchscript one with the check sample).
  auto write_summary = [&](const json& summary) {
    if (options.summary_path.empty()) return true;
    std::ofstream file(options.summary_path, std::ios::trunc);
    file << summary.dump(2) << "\n";
    if (file.flush()) return true;
    Fail(err, absl::InternalError(absl::StrCat("cannot write ", options.summary_path)));
    return false;
  };
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
    if (!write_summary(summary)) return kExitTrialFailed;
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
  if (!write_summary(summary)) return kExitTrialFailed;
  if (options.progress) {
    err << absl::StrFormat(
        "saved %s (accuracy %.4f; reloaded and checked on %d samples, max |diff| %.2g)\n",
        options.out_path, outcome.result.accuracy, checked, max_diff);
  }
  return kExitOk;
}

}  // namespace hwnas::worker

#include "worker/commands.h"

#include <algorithm>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "hardware/costs.h"
#include "hardware/latency_lut.h"
#include "nlohmann/json.hpp"
#include "spec/search_spec.h"
#include "spec/worker_spec.h"
#include "worker/calibrate.h"
#include "worker/cross_validation.h"

namespace hwnas::worker {
namespace {

using json = nlohmann::json;

int Fail(std::ostream& err, const absl::Status& status, int code = kExitBadInput) {
  err << "error: " << status.message() << "\n";
  return code;
}

// The spec, its space and the architecture, with errors already printed.
struct Loaded {
  WorkerSpec spec;
  std::unique_ptr<space::SearchSpace> space;
  Architecture arch;
  space::NetworkPlan plan;
};

absl::StatusOr<Loaded> LoadSpecAndArch(const std::string& spec_path, const std::string& arch_text) {
  Loaded l;
  absl::StatusOr<WorkerSpec> spec = LoadWorkerSpec(spec_path);
  if (!spec.ok()) return spec.status();
  l.spec = *std::move(spec);
  absl::StatusOr<std::unique_ptr<space::SearchSpace>> space = MakeSpace(l.spec);
  if (!space.ok()) {
    return absl::Status(space.status().code(),
                        absl::StrCat(spec_path, ": ", space.status().message()));
  }
  l.space = *std::move(space);
  absl::StatusOr<std::vector<int>> tokens = l.space->Parse(arch_text);
  if (!tokens.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--arch: ", tokens.status().message()));
  }
  absl::StatusOr<Architecture> arch = l.space->MakeArchitecture(*tokens);
  if (!arch.ok()) return arch.status();
  l.arch = *std::move(arch);
  absl::StatusOr<space::NetworkPlan> plan = l.space->Lower(l.arch.tokens);
  if (!plan.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--arch: ", plan.status().message()));
  }
  l.plan = ApplyHardwareOptions(*std::move(plan), l.spec.hardware);
  return l;
}

json CostsJson(const HardwareCosts& c) {
  return json{{"params", c.params},
              {"macs", c.macs},
              {"peak_activation_bytes", c.peak_activation_bytes},
              {"flash_bytes", c.flash_bytes}};
}

json ArchJson(const Architecture& a) {
  return json{{"space", a.space},
              {"space_version", a.space_version},
              {"tokens", a.tokens},
              {"readable", a.readable}};
}

void PrintRow(std::ostream& out, absl::string_view key, absl::string_view value) {
  out << absl::StrFormat("  %-24s %s\n", key, value);
}

std::string Bar(int done, int total, int width = 24) {
  const int filled = total > 0 ? done * width / total : width;
  return absl::StrCat("[", std::string(filled, '#'), std::string(width - filled, '.'), "]");
}

}  // namespace

std::string TrialOutcomeToJson(const Architecture& arch, const TrialOutcome& o) {
  json j;
  j["architecture"] = ArchJson(arch);
  j["state"] = std::string(TrialStateName(o.state));
  const TrialResult& r = o.result;
  j["accuracy"] = r.accuracy;
  if (!r.fold_accuracy.empty()) {
    j["accuracy_se"] = r.accuracy_se;
    j["fold_accuracy"] = r.fold_accuracy;
  }
  if (r.balanced_accuracy) j["balanced_accuracy"] = *r.balanced_accuracy;
  if (r.macro_f1) j["macro_f1"] = *r.macro_f1;
  j["loss"] = r.loss;
  j["epochs"] = r.epochs;
  j["train_seconds"] = r.train_seconds;
  if (r.latency) {
    j["latency"] = json{{"median_ms", r.latency->median_ms},
                        {"p90_ms", r.latency->p90_ms},
                        {"runs", r.latency->runs},
                        {"threads", r.latency->threads},
                        {"device", r.latency->device}};
  }
  j["costs"] = CostsJson(r.costs);
  j["estimates"] = r.estimates;
  if (!r.error.empty()) j["error"] = r.error;
  json history = json::array();
  for (const EpochMetrics& m : o.history) {
    json e = m.values;
    e["epoch"] = m.epoch;
    history.push_back(e);
  }
  j["history"] = history;
  return j.dump(2);
}

int RunCheck(const CheckOptions& options, std::ostream& out, std::ostream& err) {
  // A spec is a few KB; 1 MiB bounds what a wrong path can make us read.
  absl::StatusOr<std::string> text = ReadRegularFile(options.spec_path, 1 << 20);
  if (!text.ok()) return Fail(err, text.status());
  absl::StatusOr<spec::SearchSpec> search = spec::ParseSearchSpec(*text);
  if (!search.ok()) {
    return Fail(err, absl::Status(search.status().code(), absl::StrCat(options.spec_path, ": ",
                                                                       search.status().message())));
  }
  if (!search->worker) {
    out << options.spec_path << ": a " << EvaluatorKindName(search->controller.evaluator.kind)
        << " search: no data set to check\n";
    return kExitOk;
  }
  const WorkerSpec& spec = *search->worker;
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec.data, options.data_dir);
  if (!data.ok()) {
    return Fail(err, absl::Status(data.status().code(),
                                  absl::StrCat(options.spec_path, ": ", data.status().message())));
  }
  std::string evaluation = "one validation split";
  if (spec.evaluation.cross_validated()) {
    const FoldOptions folds = FoldOptionsFrom(spec.evaluation);
    if (absl::Status s = CheckFoldsFit(*data, folds); !s.ok()) {
      return Fail(err, absl::Status(s.code(), absl::StrCat(options.spec_path, ": ", s.message())),
                  kExitDataMismatch);
    }
    evaluation = folds.leave_one_group_out
                     ? std::string("one session left out at a time")
                     : absl::StrCat(folds.folds, " folds x ", folds.repeats, " repeat(s)",
                                    folds.stratified ? ", stratified" : "");
  }
  out << options.spec_path << ": " << data->source << ": " << data->train.size() << " training, "
      << data->val.size() << " validation, " << data->test.size() << " test samples; " << evaluation
      << ": ok\n";
  return kExitOk;
}

int RunEvaluate(const EvaluateOptions& options, std::ostream& out, std::ostream& err) {
  absl::StatusOr<Loaded> loaded = LoadSpecAndArch(options.spec_path, options.arch);
  if (!loaded.ok()) return Fail(err, loaded.status());
  WorkerSpec spec = loaded->spec;
  if (options.epochs) spec.training.epochs = *options.epochs;
  if (options.threads) spec.training.threads = *options.threads;
  if (options.seed) spec.training.seed = *options.seed;
  RunnerOptions runner_options;
  runner_options.shared_data_dir = options.data_dir;
  if (options.progress) err << "loading data (" << spec.data.dataset << ")...\n";
  absl::StatusOr<std::unique_ptr<TrialRunner>> runner =
      TrialRunner::Create(spec, std::move(runner_options));
  if (!runner.ok()) return Fail(err, runner.status());
  const int epochs = spec.training.epochs;
  ProgressCallback progress = [&](const EpochMetrics& m) {
    if (options.progress) {
      std::string line = absl::StrFormat("epoch %d/%d %s train_loss=%.4f train_acc=%.4f", m.epoch,
                                         epochs, Bar(m.epoch, epochs), m.values.at("train_loss"),
                                         m.values.at("train_accuracy"));
      if (auto it = m.values.find("val_accuracy"); it != m.values.end()) {
        absl::StrAppendFormat(&line, " val_acc=%.4f", it->second);
      }
      absl::StrAppendFormat(&line, " (%.1f s, %.0f samples/s)", m.values.at("epoch_seconds"),
                            m.values.at("samples_per_s"));
      err << line << "\n" << std::flush;
    }
    return ProgressDecision::kContinue;
  };
  if (options.progress) {
    err << "training " << loaded->arch.readable << " on " << (*runner)->data().train.size()
        << " samples for " << epochs << " epoch(s)\n";
  }
  TrialOutcome outcome = (*runner)->Run(loaded->arch, progress);
  if (options.json) {
    out << TrialOutcomeToJson(loaded->arch, outcome) << "\n";
  } else {
    const TrialResult& r = outcome.result;
    out << "architecture " << loaded->arch.readable << "\n";
    PrintRow(out, "space", absl::StrCat(loaded->arch.space, " v", loaded->arch.space_version));
    PrintRow(out, "tokens", absl::StrJoin(loaded->arch.tokens, ","));
    PrintRow(out, "state", TrialStateName(outcome.state));
    if (!r.error.empty()) PrintRow(out, "error", r.error);
    const char* split = spec.training.eval_split == EvalSplit::kTest ? "test" : "val";
    if (r.fold_accuracy.empty()) {
      PrintRow(out, absl::StrCat("accuracy (", split, ")"), absl::StrFormat("%.4f", r.accuracy));
    } else {
      std::vector<std::string> folds;
      for (double a : r.fold_accuracy) folds.push_back(absl::StrFormat("%.4f", a));
      PrintRow(out, absl::StrCat("accuracy (", r.fold_accuracy.size(), " folds)"),
               absl::StrFormat("%.4f +- %.4f (folds: %s)", r.accuracy, r.accuracy_se,
                               absl::StrJoin(folds, " ")));
    }
    if (r.balanced_accuracy) {
      PrintRow(out, "balanced_accuracy", absl::StrFormat("%.4f", *r.balanced_accuracy));
    }
    if (r.macro_f1) PrintRow(out, "macro_f1", absl::StrFormat("%.4f", *r.macro_f1));
    PrintRow(out, absl::StrCat("loss (", split, ")"), absl::StrFormat("%.4f", r.loss));
    PrintRow(out, "epochs", absl::StrCat(r.epochs));
    PrintRow(out, "train_seconds", absl::StrFormat("%.2f", r.train_seconds));
    if (r.latency) {
      PrintRow(out, "latency median",
               absl::StrFormat("%.4f ms (p90 %.4f ms, %d runs, %d thread(s))", r.latency->median_ms,
                               r.latency->p90_ms, r.latency->runs, r.latency->threads));
      PrintRow(out, "latency device", r.latency->device);
    }
    PrintRow(out, "params", absl::StrCat(r.costs.params));
    PrintRow(out, "macs", absl::StrCat(r.costs.macs));
    PrintRow(out, "peak_activation_bytes", absl::StrCat(r.costs.peak_activation_bytes));
    PrintRow(out, "flash_bytes", absl::StrCat(r.costs.flash_bytes));
    for (const auto& [key, value] : r.estimates) PrintRow(out, key, absl::StrCat(value));
  }
  if (outcome.state == TrialState::kFailed) {
    if (!options.json) err << "error: trial failed: " << outcome.result.error << "\n";
    return kExitTrialFailed;
  }
  return kExitOk;
}

int RunDescribe(const DescribeOptions& options, std::ostream& out, std::ostream& err) {
  absl::StatusOr<Loaded> loaded = LoadSpecAndArch(options.spec_path, options.arch);
  if (!loaded.ok()) return Fail(err, loaded.status());
  absl::StatusOr<hardware::CostReport> report = hardware::ComputeCosts(loaded->plan);
  if (!report.ok()) return Fail(err, report.status());
  absl::StatusOr<TargetSet> targets = TargetSet::Load(loaded->spec.hardware.targets);
  if (!targets.ok()) return Fail(err, targets.status());
  absl::StatusOr<TrialResult> estimate = targets->Estimate(loaded->plan);
  if (!estimate.ok()) return Fail(err, estimate.status());
  if (options.json) {
    json j;
    j["architecture"] = ArchJson(loaded->arch);
    j["input_shape"] = loaded->plan.input_shape();
    j["activation_bits"] = loaded->plan.activation_bits;
    j["costs"] = CostsJson(report->totals);
    j["estimates"] = estimate->estimates;
    json ops = json::array();
    for (const hardware::OpCost& c : report->ops) {
      const space::Op& op = loaded->plan.ops[c.op];
      ops.push_back(json{{"name", c.name},
                         {"type", std::string(space::OpTypeName(op.type))},
                         {"inputs", op.inputs},
                         {"output_shape", c.output_shape},
                         {"params", c.params},
                         {"macs", c.macs},
                         {"flash_bytes", c.flash_bytes},
                         {"live_bytes", c.live_bytes},
                         {"weight_bits", op.weight_bits}});
    }
    j["ops"] = ops;
    out << j.dump(2) << "\n";
    return kExitOk;
  }
  out << "architecture " << loaded->arch.readable << "\n";
  PrintRow(out, "space", absl::StrCat(loaded->arch.space, " v", loaded->arch.space_version));
  PrintRow(out, "tokens", absl::StrJoin(loaded->arch.tokens, ","));
  PrintRow(out, "input", space::ShapeToString(loaded->plan.input_shape()));
  PrintRow(out, "activation_bits", absl::StrCat(loaded->plan.activation_bits));
  out << "\n" << hardware::FormatCostTable(loaded->plan, *report);
  absl::StatusOr<std::vector<std::string>> lines = targets->Summaries(loaded->plan);
  if (lines.ok() && !lines->empty()) {
    out << "\ntargets\n";
    for (const std::string& line : *lines) out << "  " << line << "\n";
    for (const auto& [key, value] : estimate->estimates) PrintRow(out, key, absl::StrCat(value));
  }
  return kExitOk;
}

int RunCalibrate(const CalibrateCommandOptions& options, std::ostream& out, std::ostream& err) {
  // Measuring takes minutes: an --out that cannot be written is found now.
  if (absl::Status s = hardware::CheckLutWritable(options.out_path); !s.ok()) {
    return Fail(err, s, kExitUsage);
  }
  if (!options.check_out.empty()) {
    if (absl::Status s = CheckCanWrite(options.check_out); !s.ok()) {
      return Fail(err, s, kExitUsage);
    }
  }
  absl::StatusOr<WorkerSpec> spec = LoadWorkerSpec(options.spec_path);
  if (!spec.ok()) return Fail(err, spec.status());
  absl::StatusOr<std::unique_ptr<space::SearchSpace>> space = MakeSpace(*spec);
  if (!space.ok()) return Fail(err, space.status());
  CalibrateOptions c;
  c.samples = options.samples;
  c.profile_archs = options.profile_archs;
  c.seed = options.seed;
  c.latency = LatencyOptionsFrom(spec->hardware);
  c.latency.threads = options.threads;
  c.latency.warmup = 5;
  c.latency.min_runs = 20;
  c.latency.max_runs = 300;
  c.latency.budget_s = 1.0;
  c.latency.target_rel_error = 0.01;
  if (options.progress) {
    c.progress = [&err](int done, int total, const std::string& key) {
      if (done == total || done % 25 == 1) {
        err << absl::StrFormat("measured %d/%d %s %s\n", done, total, Bar(done, total), key)
            << std::flush;
      }
    };
  }
  absl::StatusOr<hardware::LatencyLut> lut = CalibrateLut(**space, c);
  if (!lut.ok()) return Fail(err, lut.status(), kExitTrialFailed);
  if (absl::Status s = hardware::SaveLut(*lut, options.out_path); !s.ok()) {
    return Fail(err, s, kExitTrialFailed);
  }
  out << "wrote " << options.out_path << ": " << lut->entries.size() << " entries, base "
      << absl::StrFormat("%.4f", lut->base_ms) << " ms, " << lut->threads << " thread(s), "
      << lut->device << "\n";
  if (options.check > 0) {
    LatencyOptions full = LatencyOptionsFrom(spec->hardware);
    full.threads = options.threads;
    auto progress = [&](int done, int total) {
      if (options.progress && (done == total || done % 10 == 0)) {
        err << absl::StrFormat("checked %d/%d %s\n", done, total, Bar(done, total)) << std::flush;
      }
    };
    absl::StatusOr<LutCheck> check =
        CheckLut(**space, *lut, options.check, options.seed + 1, full, progress);
    if (!check.ok()) return Fail(err, check.status(), kExitTrialFailed);
    if (!options.check_out.empty()) {
      std::ofstream csv(options.check_out);
      csv << "arch,predicted_ms,measured_ms\n";
      for (const LutCheck::Sample& s : check->samples) {
        csv << '"' << s.arch << "\"," << s.predicted_ms << "," << s.measured_ms << "\n";
      }
      if (!csv)
        return Fail(err, absl::InternalError(absl::StrCat(options.check_out, ": cannot write")),
                    kExitTrialFailed);
    }
    out << absl::StrFormat(
        "predictor check on %d random architectures: %.0f%% within +-10%%, %.0f%% within "
        "+-20%%, mean |error| %.1f%%, Spearman %.3f\n",
        options.check, 100 * check->within_10pct, 100 * check->within_20pct,
        100 * check->mean_abs_rel_error, check->spearman);
  }
  return kExitOk;
}

}  // namespace hwnas::worker

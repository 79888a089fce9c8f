#include "worker/trial_runner.h"

#include <cmath>
#include <filesystem>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"
#include "worker/cross_validation.h"
#include "worker/folds.h"
#include "worker/mcu_quantize.h"
#include "worker/proxies.h"
#include "worker/trainer_internal.h"

namespace hwnas::worker {

TrialRunner::TrialRunner(WorkerSpec spec, std::unique_ptr<space::SearchSpace> space,
                         std::unique_ptr<DataSplits> data, TargetSet targets,
                         std::unique_ptr<Representation> reference)
    : spec_(std::move(spec)),
      space_(std::move(space)),
      data_(std::move(data)),
      targets_(std::move(targets)),
      reference_(std::move(reference)) {}

TrialRunner::~TrialRunner() = default;

absl::StatusOr<std::unique_ptr<TrialRunner>> TrialRunner::Create(WorkerSpec spec,
                                                                 RunnerOptions options) {
  HWNAS_ASSIGN_OR_RETURN(std::unique_ptr<space::SearchSpace> space, MakeSpace(spec));
  HWNAS_ASSIGN_OR_RETURN(TargetSet targets,
                         TargetSet::Load(spec.hardware.targets, options.profile_search_path));
  // The measured targets' device profiles, as TargetSet::Load loaded them.
  std::vector<McuMeasureJob> jobs;
  for (const spec::McuMeasureTarget& m : spec.hardware.measure_mcu) {
    HWNAS_ASSIGN_OR_RETURN(hardware::McuProfile profile, targets.McuProfileOf(m.target));
    jobs.push_back(McuMeasureJob{m.target, m.cpu, std::move(profile)});
  }
  HWNAS_ASSIGN_OR_RETURN(DataSplits data, LoadDataSplits(spec.data, options.shared_data_dir));
  if (spec.evaluation.cross_validated()) {
    // Once per search on this worker, before any training: folds that
    // cannot work on this data fail the first trial at once, naming the field.
    HWNAS_RETURN_IF_ERROR(CheckFoldsFit(data, FoldOptionsFrom(spec.evaluation)));
  }
  std::unique_ptr<Representation> reference;
  // The proxy this runner scores with: the evaluator's, or the screen's in a
  // screening training search (the spec allows one of them only).
  const spec::EvaluatorOptions* proxy = spec.evaluator.kind == spec::EvaluatorKind::kProxy
                                            ? &spec.evaluator
                                        : spec.screen.enabled ? &spec.screen.proxy
                                                              : nullptr;
  if (proxy != nullptr) {
    const std::string field = proxy == &spec.evaluator ? "evaluator" : "screen";
    HWNAS_ASSIGN_OR_RETURN(ProxyKind kind, ParseProxyKind(proxy->proxy));
    if (kind == ProxyKind::kRmi) {
      // Relative references live with the data, like data paths do.
      std::filesystem::path path(proxy->reference);
      if (path.is_relative() && !options.shared_data_dir.empty()) {
        path = std::filesystem::path(options.shared_data_dir) / path;
      }
      absl::StatusOr<Representation> r = ModuleOutputRepresentation(
          path.string(), data.train, {.batch_size = proxy->proxy_batch, .seed = proxy->proxy_seed});
      if (!r.ok()) {
        return absl::Status(r.status().code(),
                            absl::StrCat(field, ".reference: ", r.status().message()));
      }
      reference = std::make_unique<Representation>(*std::move(r));
    }
  }
  spdlog::info(
      "event=runner_ready spec={} space={} data={} train={} val={} test={} targets={} "
      "evaluator={}{}",
      spec.name, std::string(space->name()), data.source, data.train.size(), data.val.size(),
      data.test.size(), spec.hardware.targets.size(),
      std::string(spec::EvaluatorKindName(spec.evaluator.kind)),
      spec.evaluator.proxy.empty() ? "" : "/" + spec.evaluator.proxy);
  std::unique_ptr<TrialRunner> runner(new TrialRunner(std::move(spec), std::move(space),
                                                      std::make_unique<DataSplits>(std::move(data)),
                                                      std::move(targets), std::move(reference)));
  runner->measure_jobs_ = std::move(jobs);
  return runner;
}

absl::StatusOr<TrialResult> TrialRunner::StaticResult(const space::NetworkPlan& plan) const {
  return targets_.Estimate(ApplyHardwareOptions(plan, spec_.hardware));
}

TrialOutcome TrialRunner::Run(const Architecture& arch, const ProgressCallback& progress,
                              const InterruptFlag* interrupt, RungRun* rung) {
  TrialOutcome out;
  if (arch.space != space_->name() || arch.space_version != space_->version()) {
    out.result.error =
        absl::StrCat("architecture is for space ", arch.space, " v", arch.space_version,
                     ", this worker runs ", space_->name(), " v", space_->version());
    return out;
  }
  absl::StatusOr<space::NetworkPlan> plan = space_->Lower(arch.tokens);
  if (!plan.ok()) {
    out.result.error = absl::StrCat("invalid architecture: ", plan.status().message());
    return out;
  }
  return RunPlan(*plan, progress, interrupt, rung);
}

TrialOutcome TrialRunner::RunPlan(const space::NetworkPlan& input, const ProgressCallback& progress,
                                  const InterruptFlag* interrupt, RungRun* rung) {
  const space::NetworkPlan plan = ApplyHardwareOptions(input, spec_.hardware);
  absl::StatusOr<TrialResult> statics = StaticResult(plan);
  if (!statics.ok()) {
    TrialOutcome out;
    out.result.error = std::string(statics.status().message());
    return out;
  }
  const LatencyOptions latency = LatencyOptionsFrom(spec_.hardware);
  const bool screening = rung != nullptr && rung->screen && spec_.screen.enabled;
  if (rung != nullptr && rung->screen && !spec_.screen.enabled) {
    TrialOutcome out;
    out.result.error = "the server asked for a screen score, but the spec has no screen: section";
    return out;
  }
  if (spec_.evaluator.kind == spec::EvaluatorKind::kProxy || screening) {
    const spec::EvaluatorOptions& proxy = screening ? spec_.screen.proxy : spec_.evaluator;
    TrialOutcome out = ScoreWithProxy(plan, proxy);
    out.result.costs = statics->costs;
    out.result.estimates.insert(statics->estimates.begin(), statics->estimates.end());
    if (out.state == TrialState::kSucceeded) {
      if (absl::Status s = ValidateTrialResult(out.result); !s.ok()) {
        out.state = TrialState::kFailed;
        out.result.error = std::string(s.message());
      }
    }
    spdlog::info("event={} state={} proxy={} score={:.6g} accuracy={:.4f} error=\"{}\"",
                 screening ? "screen_done" : "proxy_trial_done",
                 std::string(TrialStateName(out.state)), proxy.proxy,
                 out.result.estimates.count("proxy_score@" + proxy.proxy)
                     ? out.result.estimates.at("proxy_score@" + proxy.proxy)
                     : NAN,
                 out.result.accuracy, out.result.error);
    return out;
  }
  // The measured targets: the trained network's firmware, built and run in
  // QEMU while the network is still alive. (The spec refuses measuring with
  // cross-validation.)
  std::optional<absl::StatusOr<McuFeasibility>> measured;
  std::optional<absl::StatusOr<Int8Evaluation>> int8;
  TrialResult measured_keys;
  internal::TrainedNetHook on_trained;
  if (!measure_jobs_.empty() || spec_.hardware.int8_accuracy) {
    on_trained = [&](PlanNet& net) {
      // The split the trial's accuracy is on.
      const bool on_test = spec_.training.eval_split == EvalSplit::kTest || data_->val.size() == 0;
      const Dataset& held_out = on_test ? data_->test : data_->val;
      if (spec_.hardware.int8_accuracy) int8 = HostInt8Evaluation(net, data_->train, held_out);
      if (!measure_jobs_.empty()) {
        measured = MeasureTrainedNet(net, data_->train, held_out, measure_jobs_, &measured_keys);
      }
    };
  }
  TrialOutcome out =
      spec_.evaluation.cross_validated()
          ? CrossValidated(plan, progress, interrupt)
          : internal::TrainEvaluateMeasure(plan, *data_, spec_.training,
                                           spec_.hardware.measure_latency ? &latency : nullptr,
                                           progress, on_trained, interrupt, rung);
  if (!spec_.evaluation.cross_validated() && !out.confusion.empty()) {
    const ClassScores scores = ScoreConfusion(out.confusion);
    out.result.balanced_accuracy = scores.balanced_accuracy;
    out.result.macro_f1 = scores.macro_f1;
  }
  out.result.costs = statics->costs;
  out.result.estimates = statics->estimates;
  if (int8 && out.state != TrialState::kFailed && out.state != TrialState::kCancelled) {
    if (!int8->ok()) {
      // As with a failed measurement: the trained result stays, the trial
      // fails with the reason (e.g. an op the int8 lowering cannot take).
      out.state = TrialState::kFailed;
      out.result.error = absl::StrCat("int8 accuracy: ", int8->status().message());
    } else {
      out.result.estimates[std::string(spec::kInt8AccuracyKey)] = (*int8)->int8_accuracy;
    }
  }
  if (measured && out.state != TrialState::kFailed && out.state != TrialState::kCancelled) {
    if (!measured->ok()) {
      // Everything trained and evaluated stays in the result (the worker
      // reports it with the failure); only the measured keys are missing.
      out.state = TrialState::kFailed;
      out.result.error = absl::StrCat("MCU measurement: ", measured->status().message());
    } else {
      for (const auto& [key, value] : measured_keys.estimates) out.result.estimates[key] = value;
      if (!(*measured)->feasible) {
        out.state = TrialState::kInfeasible;
        out.result.error = (*measured)->reason;
      }
    }
  }
  if (out.state != TrialState::kFailed && out.state != TrialState::kCancelled) {
    if (absl::Status s = ValidateTrialResult(out.result); !s.ok()) {
      out.state = TrialState::kFailed;
      out.result.error = std::string(s.message());
    }
  }
  spdlog::info(
      "event=trial_done state={} accuracy={:.4f} epochs={} train_seconds={:.1f} "
      "latency_ms={:.3f} error=\"{}\"",
      std::string(TrialStateName(out.state)), out.result.accuracy, out.result.epochs,
      out.result.train_seconds, out.result.latency ? out.result.latency->median_ms : -1.0,
      out.result.error);
  return out;
}

TrialOutcome TrialRunner::ScoreWithProxy(const space::NetworkPlan& plan,
                                         const spec::EvaluatorOptions& proxy) {
  TrialOutcome out;
  absl::StatusOr<ProxyKind> kind = ParseProxyKind(proxy.proxy);
  if (!kind.ok()) {
    out.result.error = std::string(kind.status().message());
    return out;
  }
  absl::StatusOr<ProxyScore> score = ScoreProxy(
      plan, data_->train, *kind,
      {.batch_size = proxy.proxy_batch, .seed = proxy.proxy_seed, .reference = reference_.get()});
  if (!score.ok()) {
    out.result.error = std::string(score.status().message());
    return out;
  }
  const std::string name(ProxyKindName(*kind));
  out.result.accuracy = ProxyAccuracy(*kind, score->score);
  out.result.estimates["proxy_score@" + name] = score->score;
  out.result.estimates["proxy_seconds@" + name] = score->seconds;
  out.result.train_seconds = score->seconds;
  out.result.epochs = 0;
  if (spec_.hardware.measure_latency) {
    // Latency does not depend on the weights: the untrained network times
    // like the trained one would.
    absl::StatusOr<LatencyMeasurement> measured =
        MeasureLatency(plan, LatencyOptionsFrom(spec_.hardware));
    if (!measured.ok()) {
      out.result.error = absl::StrCat("latency: ", measured.status().message());
      return out;
    }
    out.result.latency = *measured;
  }
  out.state = TrialState::kSucceeded;
  return out;
}

TrialOutcome TrialRunner::CrossValidated(const space::NetworkPlan& plan,
                                         const ProgressCallback& progress,
                                         const InterruptFlag* interrupt) {
  const EvaluationOptions& e = spec_.evaluation;
  const FoldOptions folds = FoldOptionsFrom(e);
  CrossValidationOutcome cv =
      CrossValidate(plan, *data_, spec_.training, folds, progress, interrupt);
  TrialOutcome out;
  out.state = cv.state;
  out.result.error = cv.error;
  out.result.train_seconds = cv.train_seconds;
  out.result.epochs = cv.epochs;
  for (const FoldResult& f : cv.folds) {
    out.history.insert(out.history.end(), f.outcome.history.begin(), f.outcome.history.end());
  }
  if (cv.state != TrialState::kSucceeded && cv.state != TrialState::kEarlyStopped) return out;
  for (const FoldResult& f : cv.folds)
    out.result.fold_accuracy.push_back(f.outcome.result.accuracy);
  out.result.accuracy = cv.accuracy.mean;
  out.result.accuracy_se = cv.accuracy.standard_error;
  out.result.loss = cv.loss.mean;
  out.result.balanced_accuracy = cv.balanced_accuracy.mean;
  out.result.macro_f1 = cv.macro_f1.mean;
  if (spec_.hardware.measure_latency) {
    // Latency does not depend on the weights: one untrained network stands
    // for the k trained ones.
    absl::StatusOr<LatencyMeasurement> measured =
        MeasureLatency(plan, LatencyOptionsFrom(spec_.hardware));
    if (!measured.ok()) {
      out.state = TrialState::kFailed;
      out.result.error = absl::StrCat("latency: ", measured.status().message());
      return out;
    }
    out.result.latency = *measured;
  }
  return out;
}

}  // namespace hwnas::worker

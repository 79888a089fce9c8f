#include "worker/trial_runner.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "hardware/costs.h"
#include "hardware/latency_lut.h"
#include "hardware/mcu_model.h"
#include "spdlog/spdlog.h"
#include "worker/trainer_internal.h"

namespace hwnas::worker {

struct TargetSet::Impl {
  struct Target {
    std::string name;
    std::optional<hardware::McuProfile> mcu;
    std::optional<hardware::LatencyLut> lut;
  };
  std::vector<Target> list;
};

TargetSet::TargetSet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TargetSet::TargetSet(TargetSet&&) noexcept = default;
TargetSet& TargetSet::operator=(TargetSet&&) noexcept = default;
TargetSet::~TargetSet() = default;

absl::StatusOr<TargetSet> TargetSet::Load(const HardwareOptions& hardware,
                                          std::vector<std::string> profile_search_path) {
  if (profile_search_path.empty()) profile_search_path = hardware::DefaultProfileSearchPath();
  auto impl = std::make_unique<Impl>();
  for (size_t i = 0; i < hardware.targets.size(); ++i) {
    const TargetConfig& t = hardware.targets[i];
    Impl::Target target;
    target.name = t.name;
    const std::string field = absl::StrCat("hardware.targets[", i, "]");
    if (!t.mcu_profile_yaml.empty()) {
      // Inline: errors read "<field>.mcu_profile: <key>: problem".
      absl::StatusOr<hardware::McuProfile> p =
          hardware::ParseMcuProfile(t.mcu_profile_yaml, absl::StrCat(field, ".mcu_profile"));
      if (!p.ok()) return absl::InvalidArgumentError(p.status().message());
      target.mcu = *std::move(p);
    } else if (!t.mcu_profile.empty()) {
      absl::StatusOr<hardware::McuProfile> p =
          hardware::FindMcuProfile(t.mcu_profile, profile_search_path);
      if (!p.ok()) {
        return absl::Status(p.status().code(),
                            absl::StrCat(field, ".mcu_profile: ", p.status().message()));
      }
      target.mcu = *std::move(p);
    } else {
      absl::StatusOr<hardware::LatencyLut> lut = hardware::FindLut(t.lut, profile_search_path);
      if (!lut.ok()) {
        return absl::Status(lut.status().code(),
                            absl::StrCat(field, ".lut: ", lut.status().message()));
      }
      target.lut = *std::move(lut);
    }
    impl->list.push_back(std::move(target));
  }
  return TargetSet(std::move(impl));
}

absl::StatusOr<TrialResult> TargetSet::Estimate(const space::NetworkPlan& plan) const {
  HWNAS_ASSIGN_OR_RETURN(hardware::CostReport report, hardware::ComputeCosts(plan));
  TrialResult r;
  r.costs = report.totals;
  for (const Impl::Target& t : impl_->list) {
    if (t.mcu) {
      hardware::McuEstimate e = hardware::EstimateMcu(plan, report, *t.mcu);
      std::map<std::string, double> mcu;
      hardware::AddMcuEstimates(*t.mcu, e, &mcu);
      // Keys follow the spec's target name, not the profile's.
      for (const auto& [key, value] : mcu) {
        const std::string metric = key.substr(0, key.find('@'));
        r.estimates[absl::StrCat(metric, "@", t.name)] = value;
      }
      r.estimates[absl::StrCat("feasible@", t.name)] = e.feasible() ? 1 : 0;
    } else if (t.lut) {
      absl::StatusOr<double> ms = hardware::PredictLatencyMs(plan, *t.lut);
      if (!ms.ok()) {
        return absl::Status(ms.status().code(),
                            absl::StrCat("target ", t.name, ": ", ms.status().message()));
      }
      r.estimates[absl::StrCat("latency_ms@", t.name)] = *ms;
    }
  }
  return r;
}

absl::StatusOr<std::vector<std::string>> TargetSet::Summaries(
    const space::NetworkPlan& plan) const {
  HWNAS_ASSIGN_OR_RETURN(hardware::CostReport report, hardware::ComputeCosts(plan));
  std::vector<std::string> lines;
  for (const Impl::Target& t : impl_->list) {
    if (t.mcu) {
      hardware::McuEstimate e = hardware::EstimateMcu(plan, report, *t.mcu);
      lines.push_back(absl::StrCat(t.name, " (MCU profile ", t.mcu->name, "): ",
                                   e.feasible() ? "feasible" : "INFEASIBLE", ", ", e.reason));
    } else if (t.lut) {
      absl::StatusOr<double> ms = hardware::PredictLatencyMs(plan, *t.lut);
      lines.push_back(absl::StrCat(
          t.name, " (lookup table, ", t.lut->device, "): ",
          ms.ok() ? absl::StrCat(*ms, " ms predicted") : std::string(ms.status().message())));
    }
  }
  return lines;
}

space::NetworkPlan ApplyHardwareOptions(space::NetworkPlan plan, const HardwareOptions& hardware) {
  if (hardware.activation_bits) plan.activation_bits = *hardware.activation_bits;
  return plan;
}

TrialRunner::TrialRunner(WorkerSpec spec, std::unique_ptr<space::SearchSpace> space,
                         std::unique_ptr<DataSplits> data, TargetSet targets)
    : spec_(std::move(spec)),
      space_(std::move(space)),
      data_(std::move(data)),
      targets_(std::move(targets)) {}

TrialRunner::~TrialRunner() = default;

absl::StatusOr<std::unique_ptr<TrialRunner>> TrialRunner::Create(WorkerSpec spec,
                                                                 RunnerOptions options) {
  HWNAS_ASSIGN_OR_RETURN(std::unique_ptr<space::SearchSpace> space, MakeSpace(spec));
  HWNAS_ASSIGN_OR_RETURN(TargetSet targets,
                         TargetSet::Load(spec.hardware, options.profile_search_path));
  HWNAS_ASSIGN_OR_RETURN(DataSplits data, LoadDataSplits(spec.data, options.shared_data_dir));
  spdlog::info("event=runner_ready spec={} space={} data={} train={} val={} test={} targets={}",
               spec.name, std::string(space->name()), data.source, data.train.size(),
               data.val.size(), data.test.size(), spec.hardware.targets.size());
  return std::unique_ptr<TrialRunner>(new TrialRunner(std::move(spec), std::move(space),
                                                      std::make_unique<DataSplits>(std::move(data)),
                                                      std::move(targets)));
}

absl::StatusOr<TrialResult> TrialRunner::StaticResult(const space::NetworkPlan& plan) const {
  return targets_.Estimate(ApplyHardwareOptions(plan, spec_.hardware));
}

TrialOutcome TrialRunner::Run(const Architecture& arch, const ProgressCallback& progress,
                              const InterruptFlag* interrupt) {
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
  return RunPlan(*plan, progress, interrupt);
}

TrialOutcome TrialRunner::RunPlan(const space::NetworkPlan& input, const ProgressCallback& progress,
                                  const InterruptFlag* interrupt) {
  const space::NetworkPlan plan = ApplyHardwareOptions(input, spec_.hardware);
  absl::StatusOr<TrialResult> statics = StaticResult(plan);
  if (!statics.ok()) {
    TrialOutcome out;
    out.result.error = std::string(statics.status().message());
    return out;
  }
  const LatencyOptions latency = LatencyOptionsFrom(spec_.hardware);
  TrialOutcome out = internal::TrainEvaluateMeasure(
      plan, *data_, spec_.training, spec_.hardware.measure_latency ? &latency : nullptr, progress,
      nullptr, interrupt);
  out.result.costs = statics->costs;
  out.result.estimates = statics->estimates;
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

}  // namespace hwnas::worker

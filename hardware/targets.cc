#include "hardware/targets.h"

#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "hardware/costs.h"
#include "hardware/latency_lut.h"
#include "hardware/mcu_model.h"

namespace hwnas::hardware {

struct TargetSet::Impl {
  struct Target {
    std::string name;
    std::optional<McuProfile> mcu;
    std::optional<LatencyLut> lut;
  };
  std::vector<Target> list;
};

TargetSet::TargetSet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TargetSet::TargetSet(TargetSet&&) noexcept = default;
TargetSet& TargetSet::operator=(TargetSet&&) noexcept = default;
TargetSet::~TargetSet() = default;

absl::StatusOr<TargetSet> TargetSet::Load(const std::vector<TargetConfig>& targets,
                                          std::vector<std::string> profile_search_path) {
  if (profile_search_path.empty()) profile_search_path = DefaultProfileSearchPath();
  auto impl = std::make_unique<Impl>();
  for (size_t i = 0; i < targets.size(); ++i) {
    const TargetConfig& t = targets[i];
    Impl::Target target;
    target.name = t.name;
    const std::string field = absl::StrCat("hardware.targets[", i, "]");
    if (!t.mcu_profile_yaml.empty()) {
      // Inline: errors read "<field>.mcu_profile: <key>: problem".
      absl::StatusOr<McuProfile> p =
          ParseMcuProfile(t.mcu_profile_yaml, absl::StrCat(field, ".mcu_profile"));
      if (!p.ok()) return absl::InvalidArgumentError(p.status().message());
      target.mcu = *std::move(p);
    } else if (!t.mcu_profile.empty()) {
      absl::StatusOr<McuProfile> p = FindMcuProfile(t.mcu_profile, profile_search_path);
      if (!p.ok()) {
        return absl::Status(p.status().code(),
                            absl::StrCat(field, ".mcu_profile: ", p.status().message()));
      }
      target.mcu = *std::move(p);
    } else {
      absl::StatusOr<LatencyLut> lut = FindLut(t.lut, profile_search_path);
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
  HWNAS_ASSIGN_OR_RETURN(CostReport report, ComputeCosts(plan));
  TrialResult r;
  r.costs = report.totals;
  for (const Impl::Target& t : impl_->list) {
    if (t.mcu) {
      McuEstimate e = EstimateMcu(plan, report, *t.mcu);
      std::map<std::string, double> mcu;
      AddMcuEstimates(*t.mcu, e, &mcu);
      // Keys follow the spec's target name, not the profile's.
      for (const auto& [key, value] : mcu) {
        const std::string metric = key.substr(0, key.find('@'));
        r.estimates[absl::StrCat(metric, "@", t.name)] = value;
      }
      r.estimates[absl::StrCat("feasible@", t.name)] = e.feasible() ? 1 : 0;
    } else if (t.lut) {
      absl::StatusOr<double> ms = PredictLatencyMs(plan, *t.lut);
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
  HWNAS_ASSIGN_OR_RETURN(CostReport report, ComputeCosts(plan));
  std::vector<std::string> lines;
  for (const Impl::Target& t : impl_->list) {
    if (t.mcu) {
      McuEstimate e = EstimateMcu(plan, report, *t.mcu);
      lines.push_back(absl::StrCat(t.name, " (MCU profile ", t.mcu->name, "): ",
                                   e.feasible() ? "feasible" : "INFEASIBLE", ", ", e.reason));
    } else if (t.lut) {
      absl::StatusOr<double> ms = PredictLatencyMs(plan, *t.lut);
      lines.push_back(absl::StrCat(
          t.name, " (lookup table, ", t.lut->device, "): ",
          ms.ok() ? absl::StrCat(*ms, " ms predicted") : std::string(ms.status().message())));
    }
  }
  return lines;
}

absl::StatusOr<McuProfile> TargetSet::McuProfileOf(absl::string_view target) const {
  for (const Impl::Target& t : impl_->list) {
    if (t.name != target) continue;
    if (!t.mcu) {
      return absl::NotFoundError(
          absl::StrCat("hardware target '", target, "' is a lookup table, not an MCU profile"));
    }
    return *t.mcu;
  }
  return absl::NotFoundError(absl::StrCat("no hardware target '", target, "'"));
}

}  // namespace hwnas::hardware

// A search's estimation targets (the spec's `hardware.targets` list): MCU
// profiles and latency lookup tables, loaded once and asked for the costs and
// per-target estimates of a network plan. Torch-free: the server estimates
// before training (hard limits), the worker with every result.
#ifndef HWNAS_HARDWARE_TARGETS_H_
#define HWNAS_HARDWARE_TARGETS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/trial.h"
#include "hardware/mcu_model.h"
#include "space/network_plan.h"

namespace hwnas::hardware {

// One estimation target: exactly one of the three sources. A spec is
// untrusted input (it comes from a user through the server), so it names
// files only from the directories the operator configured (the profile search
// path) and never gives a path.
struct TargetConfig {
  std::string name;  // Estimate keys are "<metric>@<name>".
  // `mcu_profile: NAME`: NAME.yaml on the profile search path, or empty.
  std::string mcu_profile;
  // `mcu_profile: {name: ..., clock_mhz: ...}`: the profile itself (as YAML
  // text, parsed by ParseMcuProfile), or empty.
  std::string mcu_profile_yaml;
  // `lut: NAME`: NAME.json (from `hwnas-worker calibrate`) on the profile
  // search path, or empty.
  std::string lut;
};

// The targets, loaded: MCU profiles and lookup tables. Immutable after Load.
class TargetSet {
 public:
  // Loads each target's profile (by name on `profile_search_path`, default
  // DefaultProfileSearchPath(), or given inline) or lookup table (by name on
  // the same path). Never opens a path from the spec. Errors name the spec
  // field, e.g. "hardware.targets[0].mcu_profile: ...".
  static absl::StatusOr<TargetSet> Load(const std::vector<TargetConfig>& targets,
                                        std::vector<std::string> profile_search_path = {});
  TargetSet(TargetSet&&) noexcept;
  TargetSet& operator=(TargetSet&&) noexcept;
  ~TargetSet();

  // Static costs (params, MACs, peak activation, flash) and, per target,
  // "latency_ms@<name>", "energy_mj@<name>" (MCU profiles with a power
  // figure) and "feasible@<name>" (1 or 0: fits the MCU's SRAM and flash).
  // `plan.activation_bits` should already carry hardware.activation_bits.
  absl::StatusOr<TrialResult> Estimate(const space::NetworkPlan& plan) const;
  // A per-target summary line each (feasibility reasons), for describe.
  absl::StatusOr<std::vector<std::string>> Summaries(const space::NetworkPlan& plan) const;
  // The MCU profile Load loaded for the target named `target` (the spec's
  // name); NotFound when there is no such target or it is a lookup table.
  absl::StatusOr<McuProfile> McuProfileOf(absl::string_view target) const;

 private:
  struct Impl;
  explicit TargetSet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hwnas::hardware

#endif  // HWNAS_HARDWARE_TARGETS_H_

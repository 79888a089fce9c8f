// Measured microcontroller costs as part of a trial's result (the worker's
// `serve --measure-mcu CPU` mode): the trained network exported as int8 C,
// run in QEMU (worker::internal::ExportMcuProject), and its measured numbers
// added beside the estimates under names that say they were measured, so a
// spec can constrain them. Torch-free; the torch half is MeasureTrialOnMcu in
// worker/mcu_quantize.h.
#ifndef HWNAS_WORKER_MCU_MEASURE_H_
#define HWNAS_WORKER_MCU_MEASURE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/trial.h"
#include "hardware/mcu_model.h"
#include "nlohmann/json.hpp"
#include "worker/datasets.h"

namespace hwnas::worker {

class PlanNet;  // worker/plan_net.h (LibTorch)

// Result keys for target `cpu` (TrialResult::estimates, "<metric>@<target>"):
//   measured_flash_bytes@CPU   firmware minus the empty firmware
//   measured_sram_bytes@CPU    static data + bss + measured stack
//   measured_instructions@CPU  one inference, QEMU -icount (not cycles)
//   int8_accuracy@CPU          the int8 network on the held-out split
std::string MeasuredMetricName(const std::string& metric, const std::string& cpu);

struct McuFeasibility {
  bool feasible = true;
  std::string reason;  // Why infeasible, with the measured and allowed bytes.
};

// Adds the measured numbers of an ExportMcuProject summary (with its
// "measured" section) to `result`; with a profile, checks them against the
// device's flash and SRAM. A summary without measurements is an error and
// leaves `result` unchanged.
absl::StatusOr<McuFeasibility> ApplyMcuMeasurement(const nlohmann::json& summary,
                                                   const hardware::McuProfile* profile,
                                                   TrialResult* result);

// One target of the spec that is measured (`hardware.targets[].measure`),
// with its device profile for the flash and SRAM limits.
struct McuMeasureJob {
  std::string target;  // Result keys "<metric>@<target>".
  std::string cpu;     // "cortex-m4" or "cortex-m7".
  hardware::McuProfile profile;
};

// The measuring step of a trial (TrialRunner, for `serve --measure-mcu` and
// `evaluate`): MeasureTrialOnMcu for every job on the trained `net` (eval
// mode), its keys named after the job's target ("measured_flash_bytes@m7",
// "measured_sram_bytes@m7", "measured_instructions@m7", "int8_accuracy@m7")
// and added to `result` only when every job succeeded. Infeasible when a
// firmware is over its target's flash or SRAM (the reasons name the target
// and the measured and allowed bytes). Any failure (toolchain missing, build
// error, QEMU killed at its deadline) returns the error, naming the target,
// and leaves `result` as it was. Defined in mcu_quantize.cc (LibTorch).
absl::StatusOr<McuFeasibility> MeasureTrainedNet(PlanNet& net, const Dataset& train,
                                                 const Dataset& held_out,
                                                 const std::vector<McuMeasureJob>& jobs,
                                                 TrialResult* result);

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_MCU_MEASURE_H_

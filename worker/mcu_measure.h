// Measured microcontroller costs as part of a trial's result (the worker's
// `serve --measure-mcu CPU` mode): the trained network exported as int8 C,
// run in QEMU (worker::internal::ExportMcuProject), and its measured numbers
// added beside the estimates under names that say they were measured, so a
// spec can constrain them. Torch-free; the torch half is MeasureTrialOnMcu in
// worker/mcu_quantize.h.
#ifndef HWNAS_WORKER_MCU_MEASURE_H_
#define HWNAS_WORKER_MCU_MEASURE_H_

#include <string>

#include "absl/status/status.h"
#include "common/trial.h"
#include "hardware/mcu_model.h"
#include "nlohmann/json.hpp"

namespace hwnas::worker {

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

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_MCU_MEASURE_H_

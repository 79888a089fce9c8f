// Post-training int8 quantization of a trained PlanNet for microcontrollers
// (mcu/): its trained parameters handed to mcu::LowerPlan, activation ranges
// calibrated on training samples, and the int8 accuracy measured next to the
// float accuracy with the host int8 reference. Includes torch (plan_net.h).
#ifndef HWNAS_WORKER_MCU_QUANTIZE_H_
#define HWNAS_WORKER_MCU_QUANTIZE_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "mcu/graph.h"
#include "mcu/quantize.h"
#include "nlohmann/json.hpp"
#include "worker/datasets.h"
#include "worker/mcu_measure.h"
#include "worker/plan_net.h"

namespace hwnas::worker {

// The module's parameters and buffers by name ("op<i>_weight", ...).
mcu::ParamMap TrainedParams(PlanNetImpl& net);

// Lowers the trained network (eval mode) and quantizes it, calibrating on the
// first `calibration_samples` samples of `calibration`.
absl::StatusOr<mcu::Int8Model> QuantizeTrainedNet(PlanNetImpl& net, const Dataset& calibration,
                                                  int64_t calibration_samples = 256);

struct Int8Evaluation {
  int64_t samples = 0;
  double float_accuracy = 0;  // The LibTorch network.
  double int8_accuracy = 0;   // mcu::RunInt8 on the quantized input.
  double agreement = 0;       // Share of samples where both predict the same class.
};
// Evaluates both on the first `max_samples` samples (0 = all) of `data`.
absl::StatusOr<Int8Evaluation> EvaluateInt8(PlanNetImpl& net, const mcu::Int8Model& model,
                                            const Dataset& data, int64_t max_samples = 0);

// `hardware.int8_accuracy` (any worker): quantizes the trained network as the
// export does (calibrated on the first 256 samples of `train`) and evaluates
// the host int8 reference next to the float network on all of `held_out`.
absl::StatusOr<Int8Evaluation> HostInt8Evaluation(PlanNet& net, const Dataset& train,
                                                  const Dataset& held_out);

// `serve --measure-mcu CPU`: exports the trained network as int8 C, runs the
// firmware in QEMU (bit-exact against the host reference on 4 held-out
// samples) and adds the measured flash, SRAM, instructions and int8 accuracy
// to `result` (worker/mcu_measure.h), checked against `profile` (may be
// null). On any failure returns the error and leaves `result` as it was.
absl::StatusOr<McuFeasibility> MeasureTrialOnMcu(PlanNet& net, const Dataset& train,
                                                 const Dataset& held_out, const std::string& cpu,
                                                 const hardware::McuProfile* profile,
                                                 TrialResult* result);

namespace internal {

// `hwnas-worker export --format c`: quantizes the trained network (calibrated
// on `train`), evaluates int8 next to float on `held_out`, writes the C
// project to `dir` (its firmware harness holds `firmware_samples` held-out
// samples), checks the host build bit-exact against the int8 reference and,
// with `measure`, builds and runs the firmware in QEMU for `target`. Returns
// the summary's "mcu" section. `log` (may be null) gets progress lines.
absl::StatusOr<nlohmann::json> ExportMcuProject(PlanNet& net, const Dataset& train,
                                                const Dataset& held_out, const std::string& dir,
                                                const std::string& target, bool measure,
                                                int firmware_samples, std::ostream* log);

}  // namespace internal
}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_MCU_QUANTIZE_H_

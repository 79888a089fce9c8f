// From a trained network to an Int8Model: lowering a space::NetworkPlan with
// its trained parameters to a FloatGraph (batch norm folded into the conv
// before it, ReLU/ReLU6 fused as clamps, flatten and dropout dropped, CHW
// weights reordered to HWC), then post-training quantization calibrated on
// real samples. Torch-free: the worker hands the parameters over as arrays.
#ifndef HWNAS_MCU_QUANTIZE_H_
#define HWNAS_MCU_QUANTIZE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mcu/graph.h"
#include "space/network_plan.h"

namespace hwnas::mcu {

// A trained parameter or buffer, as LibTorch names them in worker::PlanNet
// ("op<i>_weight", "op<i>_bias", "op<i>_running_mean", "op<i>_running_var").
struct ParamArray {
  std::vector<int64_t> shape;
  std::vector<float> values;
};
using ParamMap = std::map<std::string, ParamArray>;

// Ops with no lowering (recurrent cells, grouped convs other than depthwise
// multiplier 1, a batch norm not after a conv) are refused with the op's
// name and index.
absl::StatusOr<FloatGraph> LowerPlan(const space::NetworkPlan& plan, const ParamMap& params);

// `calibration`: HWC float samples (ToHwc). Activation ranges are the min/max
// over them (always containing 0); weights per output channel, symmetric.
absl::StatusOr<Int8Model> Quantize(const FloatGraph& graph,
                                   const std::vector<std::vector<float>>& calibration);

// The input quantized with the model's input parameters.
std::vector<int8_t> QuantizeInput(const Int8Model& model, const std::vector<float>& hwc);
std::vector<float> DequantizeOutput(const Int8Model& model, const std::vector<int8_t>& out);

}  // namespace hwnas::mcu

#endif  // HWNAS_MCU_QUANTIZE_H_

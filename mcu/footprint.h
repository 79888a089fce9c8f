// What hwnas's exported int8 C of a network holds and does, computed without
// generating or compiling it: the bytes of every `const` array and parameter
// struct codegen writes (flash), the tensor arena (the same PlanMemory the
// export uses, so the estimate and MODEL_ARENA_SIZE agree by construction),
// the kernel functions the network links and how often model_infer calls
// them, and counters of the work the int8 kernels' loops do (vector and
// scalar dot-product iterations, requantized outputs, element-wise
// elements...). The MCU cost model (hardware/mcu_model.h) prices these with
// a profile's per-kernel code sizes and per-counter instruction costs.
// Torch-free.
#ifndef HWNAS_MCU_FOOTPRINT_H_
#define HWNAS_MCU_FOOTPRINT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mcu/graph.h"
#include "mcu/quantize.h"
#include "space/network_plan.h"

namespace hwnas::mcu {

struct Footprint {
  // Bytes of the model's static const data in model.c (weights, biases,
  // multipliers, shifts, tables, parameter structs), each object rounded up
  // to the 4-byte alignment arm-none-eabi-gcc gives arrays and structs at -O2.
  int64_t const_bytes = 0;
  int64_t arena_bytes = 0;  // The memory planner's arena (MODEL_ARENA_SIZE).
  // C kernel function -> calls in model_infer ("hwnas_conv_s8", ...).
  std::map<std::string, int64_t> kernel_calls;
  // Work counter -> count (WorkCounterNames()).
  std::map<std::string, double> work;
  int64_t macs = 0;
};

// The counters Footprint::work fills, in a fixed order: per dot-product
// variant of the kernels ("dot22" pointwise two pixels x two channels,
// "dot2" two channels, "dot1" one) its calls, 4-wide iterations and scalar
// tail elements; depthwise 4-channel taps and rows and scalar taps; per
// kernel its output positions; requantized outputs; the int4 unpacked
// weights; pooling taps; element-wise elements; recurrent MACs and rows; the
// input/output copies of model_infer; kernel calls; and "inferences", 1 for
// every network (model_infer's fixed cost: its entry, the input and output
// copy loops' set-up, the return).
const std::vector<std::string>& WorkCounterNames();

// The C kernel functions of runtime/hwnas_nn.h a model can call (the keys
// of Footprint::kernel_calls).
const std::vector<std::string>& KernelFunctionNames();

// The code sections of runtime/hwnas_nn.c a firmware can link (with
// -ffunction-sections and --gc-sections each function is its own section):
// the kernel functions and the static helpers more than one kernel calls
// out of line ("hwnas_pool_s8", behind the average and max pooling kernels).
// The keys of a profile's `deployed.kernel_flash_bytes`.
const std::vector<std::string>& CodeSectionNames();

// The code sections a model with these kernel calls links: every kernel it
// calls and the helpers those call.
std::vector<std::string> LinkedCode(const std::map<std::string, int64_t>& kernel_calls);

// The deepest stack a model with these kernel calls needs below model_infer:
// the largest, over the kernels it calls, of the kernel's own frame plus the
// frames of the out-of-line helpers it calls (the pooling kernels'
// hwnas_pool_s8). `frames`: code section -> bytes (gcc -fstack-usage);
// sections without a frame count 0.
double DeepestKernelStack(const std::map<std::string, int64_t>& kernel_calls,
                          const std::map<std::string, double>& frames);

// From an Int8Model (a quantized one, or SkeletonModel's).
Footprint FootprintOf(const Int8Model& model);

// The plan as hwnas exports it: every layer int8 except the 4-bit ones
// (packed int4), int8 activations.
space::NetworkPlan DeployedPlan(space::NetworkPlan plan);

// Parameters of the right shapes for LowerPlan: zero weights and biases,
// batch norms at identity. Costs do not depend on the values.
ParamMap PlaceholderParams(const space::NetworkPlan& plan);

// An Int8Model with the quantized model's nodes, shapes, array sizes and
// memory plan but no meaningful values (no calibration run).
Int8Model SkeletonModel(const FloatGraph& graph);

// DeployedPlan -> PlaceholderParams -> LowerPlan -> SkeletonModel ->
// FootprintOf. Fails (with LowerPlan's error) for ops without an int8 kernel.
absl::StatusOr<Footprint> PlanFootprint(const space::NetworkPlan& plan);

}  // namespace hwnas::mcu

#endif  // HWNAS_MCU_FOOTPRINT_H_

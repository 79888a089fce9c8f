// The MCU deployment graph: a network as a list of nodes in execution order,
// laid out HWC (channels last, as TFLite Micro and CMSIS-NN), in two forms:
// FloatGraph (batch norm folded, activations fused, float weights) and
// Int8Model (the TFLite Micro / CMSIS-NN int8 scheme: per-channel symmetric
// int8 weights, per-tensor asymmetric int8 activations, int32 biases,
// Q31 multiplier + shift requantization). Node i writes tensor i.
// Both come with a plain host interpreter; the Int8Model interpreter is the
// reference the generated C must match bit for bit. Torch-free.
#ifndef HWNAS_MCU_GRAPH_H_
#define HWNAS_MCU_GRAPH_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mcu/quant_math.h"

namespace hwnas::mcu {

// A tensor's shape, HWC; flat vectors are {1, 1, C}.
struct Dims {
  int h = 1, w = 1, c = 1;
  int64_t size() const { return static_cast<int64_t>(h) * w * c; }
  friend bool operator==(const Dims&, const Dims&) = default;
};

enum class NodeKind {
  kInput,           // The network input (node 0).
  kConv,            // 2-D convolution (1-D as H = 1); weights [oc][kh][kw][ic].
  kDepthwiseConv,   // Depthwise; output c reads input c / (out.c / in.c); weights [c][kh][kw].
  kFullyConnected,  // weights [out][in].
  kAvgPool,         // Average over the window's valid positions.
  kMaxPool,
  kGlobalAvgPool,  // {H, W, C} -> {1, 1, C}.
  kAdd,            // inputs[0] + inputs[1], same dims.
  kMul,            // inputs[0] * inputs[1]; the second is {1,1,C} (broadcast) or same dims.
  kLut,            // Element-wise function (sigmoid, tanh, ELU, ...) by table.
};
const char* NodeKindName(NodeKind kind);

// Element-wise functions a kLut node computes.
enum class LutFunction { kRelu, kRelu6, kSigmoid, kTanh, kElu, kHardSwish };
float EvalLutFunction(LutFunction fn, float x);

struct ConvParams {
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;  // Top/left; bottom/right follow from the output size.
  int dilation_h = 1, dilation_w = 1;
};

struct FloatNode {
  NodeKind kind = NodeKind::kInput;
  std::vector<int> inputs;
  Dims out;
  std::string name;
  ConvParams conv;  // kConv, kDepthwiseConv, kAvgPool, kMaxPool.
  std::vector<float> weights;
  std::vector<float> bias;
  // Fused activation as a clamp of the result (ReLU: [0, inf), ReLU6: [0, 6]).
  float act_min = -std::numeric_limits<float>::infinity();
  float act_max = std::numeric_limits<float>::infinity();
  LutFunction lut = LutFunction::kSigmoid;
};

struct FloatGraph {
  std::vector<FloatNode> nodes;
  int output = -1;
  // The input in the network's own layout ({C, H, W} / {C, T} / {F}) is
  // transposed to HWC by ToHwc.
  std::vector<int64_t> source_shape;
};

// One sample in the plan's layout (CHW / CT / flat) -> HWC.
std::vector<float> ToHwc(const std::vector<int64_t>& source_shape, const float* sample);

// Runs the float graph on one HWC sample; returns every tensor (calibration
// needs them) or just the output.
std::vector<std::vector<float>> RunFloatAll(const FloatGraph& graph, const std::vector<float>& in);
std::vector<float> RunFloat(const FloatGraph& graph, const std::vector<float>& in);

struct QParams {
  double scale = 1.0;
  int32_t zero_point = 0;
  int8_t Quantize(float x) const;
  float Dequantize(int8_t q) const { return static_cast<float>(scale * (q - zero_point)); }
};

struct Int8Node {
  NodeKind kind = NodeKind::kInput;
  std::vector<int> inputs;
  Dims out;
  std::string name;
  ConvParams conv;
  std::vector<int8_t> weights;  // Layout as FloatNode's.
  std::vector<int32_t> bias;    // Per output channel, scale in_scale * w_scale[c].
  // Per output channel requantization (conv/fc), or one entry (mul, add's output).
  std::vector<int32_t> multiplier, shift;
  // kAdd: each input rescaled to a common scale after a left shift.
  int32_t add_left_shift = 0;
  QuantizedMultiplier add_in1, add_in2;
  int32_t act_min = -128, act_max = 127;
  std::vector<int8_t> lut;  // kLut: 256 entries, indexed by q + 128.
};

// Arena placement of every tensor (by node index), from tensor liveness.
struct MemoryPlan {
  std::vector<int64_t> offset;  // Bytes into the arena.
  std::vector<int64_t> size;
  std::vector<int> first_use, last_use;  // Node indices.
  int64_t arena_size = 0;                // The peak: max(offset + size).
};

struct Int8Model {
  std::vector<Int8Node> nodes;
  std::vector<QParams> q;  // Per tensor.
  int output = -1;
  std::vector<int64_t> source_shape;
  MemoryPlan memory;

  const Dims& input_dims() const { return nodes.front().out; }
  const Dims& output_dims() const { return nodes[output].out; }
  int64_t weight_bytes() const;  // int8 weights + int32 biases + multipliers + tables.
  int64_t macs() const;
};

// Greedy placement (4-byte aligned): tensors in some order, each at the lowest
// offset that overlaps no placed tensor live at the same time; the best of a
// few orders (by size, by lifetime, by both) is kept.
MemoryPlan PlanMemory(const std::vector<int64_t>& sizes,
                      const std::vector<std::vector<int>>& inputs, int output);
MemoryPlan PlanMemory(const Int8Model& model);

// The host int8 reference interpreter. `in` is the quantized HWC input.
std::vector<int8_t> RunInt8(const Int8Model& model, const std::vector<int8_t>& in);
std::vector<std::vector<int8_t>> RunInt8All(const Int8Model& model, const std::vector<int8_t>& in);

// Checks node invariants (shapes, table sizes, inputs before use).
absl::Status Validate(const Int8Model& model);

}  // namespace hwnas::mcu

#endif  // HWNAS_MCU_GRAPH_H_

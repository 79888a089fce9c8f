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
  // Recurrent cells over time (PyTorch gate order: LSTM i, f, g, o; GRU r, z,
  // n). The input is a sequence {1, T, C}; the output {1, T, H} (every step)
  // or {1, 1, H} (the last). weights = w_ih [gates * H][C], bias = b_ih,
  // recurrent_weights = w_hh [gates * H][H], recurrent_bias = b_hh.
  kLstm,
  kGru,
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
  // kLstm, kGru.
  std::vector<float> recurrent_weights, recurrent_bias;
  int hidden = 0;
  bool return_sequence = true;
  // kConv, kFullyConnected: 4 quantizes the weights to int4 (per-channel
  // symmetric, [-7, 7]), stored packed in flash; otherwise int8.
  int weight_bits = 8;
};

bool IsRecurrent(NodeKind kind);
int RecurrentGates(NodeKind kind);  // 4 (LSTM) or 3 (GRU).

// What a float recurrent cell's states reach over a sequence: the
// quantizer's calibration of the int8 cell.
struct RecurrentRanges {
  double max_abs_cell = 0;      // LSTM cell state c.
  double h_min = 0, h_max = 0;  // Hidden state h over every step.
};
// Runs a float recurrent node on one input sequence (HWC {1, T, C});
// `ranges` (may be null) is widened by what the states reach.
std::vector<float> RunRecurrentFloat(const FloatNode& node, const Dims& in,
                                     const std::vector<float>& x, RecurrentRanges* ranges);

// The int8 cells compute gates in int16: pre-activations in Q3.12 (scale
// 2^-12, range [-8, 8)), sigmoid and tanh by a 513-entry Q0.15 table over
// [-8, 8] with linear interpolation (the same tables are compiled into the
// generated C, so host and firmware agree bit for bit).
const std::vector<int16_t>& SigmoidQ15Table();
const std::vector<int16_t>& TanhQ15Table();
int32_t LookupQ15(const std::vector<int16_t>& table, int32_t x_q12);
inline constexpr int kRecurrentTableSize = 513;

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
  // kLstm, kGru: weights/bias/multiplier/shift above are the input path
  // (rescaled to Q3.12 per gate row), these the recurrent path; the hidden
  // state h is the output tensor's quantization. LSTM: the cell state c is
  // int16 at scale 2^-cell_shift; h = o * tanh(c) (Q0.30) -> int8 by
  // `state_out`. GRU: h is kept in int16 Q0.15 and -> int8 by `state_out`.
  std::vector<int8_t> recurrent_weights;
  std::vector<int32_t> recurrent_bias, recurrent_multiplier, recurrent_shift;
  int hidden = 0;
  bool return_sequence = true;
  int32_t cell_shift = 15;
  QuantizedMultiplier state_out;
  // 4: kConv / kFullyConnected weights are int4 values in [-7, 7] (held one
  // per int8 here; the generated C packs two per byte, see PackInt4Rows).
  int weight_bits = 8;
};

// int4 weights two per byte, the first of a pair in the low nibble; each
// output channel's row of `weights.size() / rows` values starts on a byte
// boundary ((n + 1) / 2 bytes a row), so a kernel unpacks one row at a time.
std::vector<uint8_t> PackInt4Rows(const std::vector<int8_t>& weights, int64_t rows);
// Flash bytes of a node's weight array (packed for int4).
int64_t WeightArrayBytes(const Int8Node& node);

// int16 scratch values a recurrent node needs while it runs: the gate
// pre-activations (4 * H) and the int16 state (H). 0 for other nodes.
int64_t RecurrentScratchBytes(const Int8Node& node);
// Scratch bytes any node needs while it runs: the recurrent cells' int16
// values, or an int4 conv / fully connected node's unpacked weight row.
int64_t ScratchBytes(const Int8Node& node);

// Arena placement of every tensor (by node index), from tensor liveness.
struct MemoryPlan {
  std::vector<int64_t> offset;  // Bytes into the arena.
  std::vector<int64_t> size;
  // Per node: the offset of its scratch buffer (live only while the node
  // runs), or -1 when it needs none.
  std::vector<int64_t> scratch_offset;
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
  // int8 weights + int32 biases + multipliers + tables (the recurrent cells'
  // int16 sigmoid/tanh tables once when any node is recurrent).
  int64_t weight_bytes() const;
  int64_t macs() const;
};

// Greedy placement (4-byte aligned): tensors in some order, each at the lowest
// offset that overlaps no placed tensor live at the same time; the best of a
// few orders (by size, by lifetime, by both) is kept.
// `scratch` (optional, per node): bytes node i needs only while it runs.
MemoryPlan PlanMemory(const std::vector<int64_t>& sizes,
                      const std::vector<std::vector<int>>& inputs, int output,
                      const std::vector<int64_t>& scratch = {});
MemoryPlan PlanMemory(const Int8Model& model);

// The host int8 reference interpreter. `in` is the quantized HWC input.
std::vector<int8_t> RunInt8(const Int8Model& model, const std::vector<int8_t>& in);
std::vector<std::vector<int8_t>> RunInt8All(const Int8Model& model, const std::vector<int8_t>& in);

// Checks node invariants (shapes, table sizes, inputs before use).
absl::Status Validate(const Int8Model& model);

}  // namespace hwnas::mcu

#endif  // HWNAS_MCU_GRAPH_H_

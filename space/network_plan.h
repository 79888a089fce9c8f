// The network IR every search space lowers to: a list of operations in
// execution order, each with its input operations and inferred output shape.
// One IR serves the LibTorch model builder (worker/), the static cost model
// (params, MACs, peak memory, flash), per-op latency lookup tables and the
// MCU model, so a new space only has to describe its networks once.
#ifndef HWNAS_SPACE_NETWORK_PLAN_H_
#define HWNAS_SPACE_NETWORK_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hwnas::space {

// Shape of one sample (no batch dimension): {C, H, W} for images, {C, T} for
// time series, {F} for flat features.
using Shape = std::vector<int64_t>;

std::string ShapeToString(const Shape& shape);
int64_t NumElements(const Shape& shape);

enum class OpType {
  kInput,          // The network input; exactly one, first.
  kConv,           // 1-D or 2-D convolution ("same" padding unless set).
  kBatchNorm,      // Per-channel batch normalization.
  kActivation,     // Element-wise non-linearity.
  kAdd,            // Element-wise sum of all inputs (same shape).
  kMul,            // inputs[0] * inputs[1], the second broadcast over space/time.
  kPool,           // Average or max pooling.
  kGlobalAvgPool,  // Mean over all spatial/time positions -> {C, 1[, 1]}.
  kFlatten,        // {C, ...} -> {C * ...}.
  kLinear,         // Fully connected layer on a flat input.
  kRecurrent,      // LSTM or GRU over time; input {C, T}.
  kDropout,        // Training-only regularization.
  kZero,           // A constant zero tensor of the given shape (NB201 "none").
};

enum class Activation { kIdentity, kRelu, kRelu6, kElu, kSigmoid, kHardSwish, kTanh };
enum class PoolKind { kAverage, kMax };
enum class RecurrentCell { kLstm, kGru };

absl::string_view OpTypeName(OpType type);
absl::string_view ActivationName(Activation act);

struct Op {
  OpType type = OpType::kInput;
  std::vector<int> inputs;  // Indices of earlier ops.
  Shape output_shape;
  std::string name;  // Readable scope, e.g. "block2.layer1.expand".

  // kConv (dims = 1 or 2; 1-D uses the *_w fields only).
  int dims = 2;
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  int pad_h = 0, pad_w = 0;
  int64_t groups = 1;
  bool bias = false;

  // kActivation.
  Activation activation = Activation::kIdentity;

  // kPool (kernel/stride/pad fields above are used too).
  PoolKind pool = PoolKind::kAverage;

  // kLinear: in_channels -> out_channels (bias above).
  // kRecurrent: in_channels = input size, out_channels = hidden size.
  RecurrentCell cell = RecurrentCell::kLstm;
  bool return_sequence = true;  // false: only the last step, shape {hidden}.

  // kDropout.
  double dropout = 0;

  // Weight bit width for ops with weights: 32 = float, 8 or 4 = quantized
  // (trained with fake quantization, stored at that width).
  int weight_bits = 32;
};

// A lowered network: ops[0] is the input, `output` the logits op.
struct NetworkPlan {
  std::vector<Op> ops;
  int output = -1;
  int activation_bits = 32;  // Width activations are stored at on device.

  const Shape& input_shape() const { return ops.front().output_shape; }
};

// Builds a plan op by op, inferring shapes and checking arity as it goes.
// Each method returns the new op's index. Errors (a shape mismatch, a kernel
// larger than its input) are collected and returned by Finish(), so lowering
// code can stay linear. Single-threaded.
class PlanBuilder {
 public:
  explicit PlanBuilder(Shape input_shape);

  // Weight bit width applied to ops with weights added from now on.
  void set_weight_bits(int bits) { weight_bits_ = bits; }
  void set_activation_bits(int bits) { plan_.activation_bits = bits; }
  // Name prefix for ops added from now on.
  void set_scope(std::string scope) { scope_ = std::move(scope); }

  int input() const { return 0; }
  const Shape& shape(int op) const { return plan_.ops[op].output_shape; }

  // Convolution with "same"-style padding of dilation*(k-1)/2. For 1-D
  // inputs {C, T} only kernel_w/stride_w/dilation_w are used.
  int Conv(int in, int64_t out_channels, int kernel, int stride = 1, int64_t groups = 1,
           int dilation = 1, bool bias = false, absl::string_view name = "conv");
  // 2-D convolution with separate height/width kernels (EEGNet's (1, k) and
  // (C, 1) kernels) and explicit padding.
  int Conv2d(int in, int64_t out_channels, int kernel_h, int kernel_w, int stride_h, int stride_w,
             int pad_h, int pad_w, int64_t groups, bool bias, absl::string_view name = "conv");
  int BatchNorm(int in, absl::string_view name = "bn");
  int Act(int in, Activation act, absl::string_view name = "act");
  int Add(std::vector<int> ins, absl::string_view name = "add");
  int Mul(int in, int gate, absl::string_view name = "mul");
  int Pool(int in, PoolKind kind, int kernel, int stride, int pad = 0,
           absl::string_view name = "pool");
  int Pool2d(int in, PoolKind kind, int kernel_h, int kernel_w, int stride_h, int stride_w,
             absl::string_view name = "pool");
  int GlobalAvgPool(int in, absl::string_view name = "gap");
  int Flatten(int in, absl::string_view name = "flatten");
  int Linear(int in, int64_t out_features, bool bias = true, absl::string_view name = "fc");
  int Recurrent(int in, RecurrentCell cell, int64_t hidden, bool return_sequence,
                absl::string_view name = "rnn");
  int Dropout(int in, double p, absl::string_view name = "dropout");
  int Zero(Shape shape, absl::string_view name = "zero");

  // Conv -> BN -> activation, the most common unit.
  int ConvBnAct(int in, int64_t out_channels, int kernel, int stride, int64_t groups,
                Activation act, absl::string_view name);

  absl::StatusOr<NetworkPlan> Finish(int output) &&;

 private:
  int Push(Op op);
  void Fail(std::string message);

  NetworkPlan plan_;
  int weight_bits_ = 32;
  std::string scope_;
  std::string error_;
};

}  // namespace hwnas::space

#endif  // HWNAS_SPACE_NETWORK_PLAN_H_

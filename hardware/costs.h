// Static hardware costs of a network plan, computed without training:
// parameters, MACs, peak activation memory and flash bytes, in total and per
// op (for `hwnas-worker describe`). Pure C++, no torch.
//
// What each number means:
//   params   Trainable parameters, equal to the sum of numel() over the
//            LibTorch module's parameters(): conv weight (+ bias), batch norm
//            weight + bias (2C; running statistics are buffers), linear weight
//            (+ bias), LSTM/GRU weight_ih, weight_hh and PyTorch's two bias
//            vectors bias_ih and bias_hh (gates * hidden each).
//   macs     Multiply-accumulates of the layers with weights, per sample:
//            conv:      output elements * in/groups * kh * kw
//            linear:    in * out
//            recurrent: T * gates * hidden * (input + hidden), gates = 4 (LSTM)
//                       or 3 (GRU)
//            Element-wise work (batch norm, which deployment folds into the
//            preceding conv, activations, add, SE multiply, pooling) is not
//            counted, as in the MnasNet/EfficientNet tables.
//   peak_activation_bytes
//            The largest total size of tensors alive at once while the ops run
//            in plan order, at plan.activation_bits per element (rounded up to
//            whole bytes per tensor). A tensor lives from the op that makes it
//            to its last consumer; the input counts, residual inputs stay alive
//            until their add, and the output lives to the end. Ops that only
//            rewrite their input element by element (batch norm, activation,
//            dropout) or reinterpret it (flatten) run in place and share its
//            buffer when they are its only consumer, as in deployment runtimes
//            that fuse conv + BN + ReLU. Working buffers of a kernel (im2col,
//            recurrent gates) are reported separately as scratch.
//   flash_bytes
//            What a deployment stores: weights at the op's weight_bits (4-bit
//            packed two per byte), biases as 32-bit (float, or int32 for
//            quantized layers), and for quantized layers (weight_bits < 32) one
//            float32 scale per output channel (per gate row for recurrent
//            weights; symmetric quantization, so no zero points). Batch norm
//            directly after a conv or linear that feeds only it is folded into
//            that layer: it costs the layer's bias (out_channels * 4 bytes) if
//            the layer had none, and nothing otherwise. A batch norm that cannot
//            be folded stores scale and shift (2C float32). LSTM biases are
//            summed into one vector at deployment (gates * hidden); GRU keeps
//            b_hn apart because it sits inside r * (W_hn h + b_hn), so it
//            stores 4 * hidden. Code and runtime are not included (see the MCU
//            profile's runtime overhead).
#ifndef HWNAS_HARDWARE_COSTS_H_
#define HWNAS_HARDWARE_COSTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/trial.h"
#include "space/network_plan.h"

namespace hwnas::hardware {

// The costs of one op of a plan.
struct OpCost {
  int op = 0;  // Index into plan.ops.
  std::string name;
  space::OpType type = space::OpType::kInput;
  space::Shape input_shape;  // Shape of inputs[0]; empty for the input op.
  space::Shape output_shape;
  int64_t params = 0;
  int64_t macs = 0;
  int64_t flash_bytes = 0;
  int64_t output_bytes = 0;   // Size of the op's output tensor.
  int64_t scratch_bytes = 0;  // Working buffer the kernel needs while it runs.
  int64_t live_bytes = 0;     // Activation memory alive while this op runs.
  bool in_place = false;      // Output shares the input's buffer.
  bool folded = false;        // Batch norm folded into the preceding layer.
};

struct CostReport {
  HardwareCosts totals;
  std::vector<OpCost> ops;  // One per plan op, in plan order.
  int peak_op = 0;          // Op at which peak_activation_bytes is reached.
  int64_t max_scratch_bytes = 0;
};

// Checks the plan's structure (inputs refer to earlier ops, weights widths in
// {4, 8, 16, 32}, activation width in {8, 16, 32}) and computes every cost.
absl::StatusOr<CostReport> ComputeCosts(const space::NetworkPlan& plan);

// Just the totals.
absl::StatusOr<HardwareCosts> StaticCosts(const space::NetworkPlan& plan);

// A fixed-width table of the per-op costs plus totals, for `describe`.
std::string FormatCostTable(const space::NetworkPlan& plan, const CostReport& report);

// True when op i is a batch norm folded into the layer that feeds it: its
// input is a conv or linear op whose only consumer is this batch norm.
bool IsFoldedBatchNorm(const space::NetworkPlan& plan, int i);

// Number of ops reading each op's output (the plan's output counts as one
// extra consumer).
std::vector<int> ConsumerCounts(const space::NetworkPlan& plan);

// Bytes for `elements` values of `bits` each, rounded up.
int64_t BytesFor(int64_t elements, int bits);

}  // namespace hwnas::hardware

#endif  // HWNAS_HARDWARE_COSTS_H_

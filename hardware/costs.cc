#include "hardware/costs.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace hwnas::hardware {
namespace {

using space::NetworkPlan;
using space::Op;
using space::OpType;

constexpr int kBiasBytes = 4;   // float32 or int32.
constexpr int kScaleBytes = 4;  // float32 per-channel scale.

int Gates(const Op& op) { return op.cell == space::RecurrentCell::kLstm ? 4 : 3; }

bool HasWeights(OpType type) {
  return type == OpType::kConv || type == OpType::kLinear || type == OpType::kRecurrent;
}

// Ops whose output can overwrite their input (same element count, each output
// element depends only on the same input element, or a pure view).
bool CanRunInPlace(OpType type) {
  return type == OpType::kBatchNorm || type == OpType::kActivation || type == OpType::kDropout ||
         type == OpType::kFlatten;
}

absl::Status CheckPlan(const NetworkPlan& plan) {
  if (plan.ops.empty() || plan.ops[0].type != OpType::kInput) {
    return absl::InvalidArgumentError("network plan must start with its input op");
  }
  const int n = static_cast<int>(plan.ops.size());
  if (plan.output <= 0 || plan.output >= n) {
    return absl::InvalidArgumentError(
        absl::StrCat("network plan output ", plan.output, " is not an op index in [1, ", n, ")"));
  }
  if (plan.activation_bits != 8 && plan.activation_bits != 16 && plan.activation_bits != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("network plan activation_bits must be 8, 16 or "
                     "32, got ",
                     plan.activation_bits));
  }
  for (int i = 1; i < n; ++i) {
    const Op& op = plan.ops[i];
    if (op.type == OpType::kInput) {
      return absl::InvalidArgumentError(
          absl::StrCat("op ", i, " (", op.name, ") is a second input"));
    }
    for (int in : op.inputs) {
      if (in < 0 || in >= i) {
        return absl::InvalidArgumentError(absl::StrCat("op ", i, " (", op.name, ") reads op ", in,
                                                       ", which does not run before it"));
      }
    }
    if (op.inputs.empty() && op.type != OpType::kZero) {
      return absl::InvalidArgumentError(absl::StrCat("op ", i, " (", op.name, ") has no input"));
    }
    if (HasWeights(op.type) && op.weight_bits != 4 && op.weight_bits != 8 && op.weight_bits != 16 &&
        op.weight_bits != 32) {
      return absl::InvalidArgumentError(absl::StrCat(
          "op ", i, " (", op.name, ") weight_bits must be 4, 8, 16 or 32, got ", op.weight_bits));
    }
    if (op.type == OpType::kConv && (op.groups <= 0 || op.in_channels % op.groups != 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("op ", i, " (", op.name, ") has invalid groups ", op.groups));
    }
  }
  return absl::OkStatus();
}

int64_t WeightCount(const Op& op) {
  switch (op.type) {
    case OpType::kConv:
      return op.out_channels * (op.in_channels / op.groups) * op.kernel_h * op.kernel_w;
    case OpType::kLinear:
      return op.in_channels * op.out_channels;
    case OpType::kRecurrent:
      return Gates(op) * op.out_channels * (op.in_channels + op.out_channels);
    default:
      return 0;
  }
}

int64_t Params(const Op& op) {
  switch (op.type) {
    case OpType::kConv:
    case OpType::kLinear:
      return WeightCount(op) + (op.bias ? op.out_channels : 0);
    case OpType::kBatchNorm:
      return 2 * op.in_channels;
    case OpType::kRecurrent:
      // PyTorch keeps bias_ih and bias_hh, gates * hidden each.
      return WeightCount(op) + 2 * Gates(op) * op.out_channels;
    default:
      return 0;
  }
}

int64_t Macs(const NetworkPlan& plan, const Op& op) {
  switch (op.type) {
    case OpType::kConv:
      return space::NumElements(op.output_shape) * (op.in_channels / op.groups) * op.kernel_h *
             op.kernel_w;
    case OpType::kLinear:
      return op.in_channels * op.out_channels;
    case OpType::kRecurrent: {
      const int64_t steps = plan.ops[op.inputs[0]].output_shape[1];
      return steps * WeightCount(op);
    }
    default:
      return 0;
  }
}

// Flash of an op with weights, without any folded batch norm.
int64_t WeightFlash(const Op& op) {
  int64_t bytes = BytesFor(WeightCount(op), op.weight_bits);
  const bool quantized = op.weight_bits < 32;
  switch (op.type) {
    case OpType::kConv:
    case OpType::kLinear:
      if (op.bias) bytes += op.out_channels * kBiasBytes;
      if (quantized) bytes += op.out_channels * kScaleBytes;
      break;
    case OpType::kRecurrent:
      // LSTM: bias_ih + bias_hh summed (4H). GRU: r and z biases summed (2H),
      // b_in and b_hn kept apart (2H).
      bytes += 4 * op.out_channels * kBiasBytes;
      if (quantized) bytes += 2 * Gates(op) * op.out_channels * kScaleBytes;
      break;
    default:
      break;
  }
  return bytes;
}

// Im2col-style working buffer: two output positions' receptive fields, at 16
// bits for int8 activations (CMSIS-NN expands to q15) or at the activation
// width otherwise. Depthwise and 1x1 convolutions read the input directly.
int64_t ConvScratch(const Op& op, int activation_bits) {
  const bool depthwise = op.groups == op.in_channels && op.groups > 1;
  if (depthwise || op.kernel_h * op.kernel_w == 1) return 0;
  const int bits = activation_bits <= 8 ? 16 : activation_bits;
  return BytesFor(2 * (op.in_channels / op.groups) * op.kernel_h * op.kernel_w, bits);
}

}  // namespace

int64_t BytesFor(int64_t elements, int bits) { return (elements * bits + 7) / 8; }

std::vector<int> ConsumerCounts(const NetworkPlan& plan) {
  std::vector<int> counts(plan.ops.size(), 0);
  for (const Op& op : plan.ops) {
    for (int in : op.inputs) {
      if (in >= 0 && in < static_cast<int>(counts.size())) ++counts[in];
    }
  }
  if (plan.output >= 0 && plan.output < static_cast<int>(counts.size())) ++counts[plan.output];
  return counts;
}

bool IsFoldedBatchNorm(const NetworkPlan& plan, int i) {
  const Op& op = plan.ops[i];
  if (op.type != OpType::kBatchNorm || op.inputs.size() != 1) return false;
  const Op& prev = plan.ops[op.inputs[0]];
  if (prev.type != OpType::kConv && prev.type != OpType::kLinear) return false;
  return ConsumerCounts(plan)[op.inputs[0]] == 1;
}

absl::StatusOr<CostReport> ComputeCosts(const NetworkPlan& plan) {
  HWNAS_RETURN_IF_ERROR(CheckPlan(plan));
  const int n = static_cast<int>(plan.ops.size());
  const std::vector<int> consumers = ConsumerCounts(plan);
  CostReport report;
  report.ops.resize(n);

  // Last op that reads each op's output; the network output stays to the end.
  std::vector<int> last_use(n);
  for (int i = 0; i < n; ++i) last_use[i] = i;
  for (int i = 0; i < n; ++i) {
    for (int in : plan.ops[i].inputs) last_use[in] = std::max(last_use[in], i);
  }
  last_use[plan.output] = n - 1;

  // Buffers: an in-place op joins its input's buffer.
  std::vector<int> buffer(n);
  std::vector<int> buffer_end(n, -1);
  for (int i = 0; i < n; ++i) {
    const Op& op = plan.ops[i];
    OpCost& c = report.ops[i];
    c.op = i;
    c.name = op.name;
    c.type = op.type;
    if (!op.inputs.empty()) c.input_shape = plan.ops[op.inputs[0]].output_shape;
    c.output_shape = op.output_shape;
    c.params = Params(op);
    c.macs = Macs(plan, op);
    c.output_bytes = BytesFor(space::NumElements(op.output_shape), plan.activation_bits);
    if (HasWeights(op.type)) c.flash_bytes = WeightFlash(op);
    if (op.type == OpType::kBatchNorm) {
      if (IsFoldedBatchNorm(plan, i)) {
        c.folded = true;
        // Folding gives the layer a bias if it had none.
        if (!plan.ops[op.inputs[0]].bias) c.flash_bytes = op.in_channels * kBiasBytes;
      } else {
        c.flash_bytes = 2 * op.in_channels * 4;
      }
    }
    if (op.type == OpType::kConv) c.scratch_bytes = ConvScratch(op, plan.activation_bits);
    if (op.type == OpType::kRecurrent) {
      // Gate pre-activations plus the cell (LSTM) or previous hidden (GRU)
      // state, kept at 32 bits.
      c.scratch_bytes = (Gates(op) + 1) * op.out_channels * 4;
    }
    c.in_place = CanRunInPlace(op.type) && op.inputs.size() == 1 && consumers[op.inputs[0]] == 1;
    buffer[i] = c.in_place ? buffer[op.inputs[0]] : i;
    buffer_end[buffer[i]] = std::max(buffer_end[buffer[i]], last_use[i]);
  }

  int64_t peak = 0;
  for (int i = 0; i < n; ++i) {
    int64_t live = 0;
    for (int b = 0; b <= i; ++b) {
      if (buffer[b] == b && buffer_end[b] >= i) live += report.ops[b].output_bytes;
    }
    report.ops[i].live_bytes = live;
    if (live > peak) {
      peak = live;
      report.peak_op = i;
    }
  }

  HardwareCosts& t = report.totals;
  for (const OpCost& c : report.ops) {
    t.params += c.params;
    t.macs += c.macs;
    t.flash_bytes += c.flash_bytes;
    report.max_scratch_bytes = std::max(report.max_scratch_bytes, c.scratch_bytes);
  }
  t.peak_activation_bytes = peak;
  return report;
}

absl::StatusOr<HardwareCosts> StaticCosts(const NetworkPlan& plan) {
  HWNAS_ASSIGN_OR_RETURN(CostReport report, ComputeCosts(plan));
  return report.totals;
}

std::string FormatCostTable(const NetworkPlan& plan, const CostReport& report) {
  std::string out = absl::StrFormat("%-4s %-36s %-12s %-16s %10s %12s %10s %10s\n", "#", "op",
                                    "type", "output", "params", "MACs", "flash B", "live B");
  for (const OpCost& c : report.ops) {
    std::string type(space::OpTypeName(c.type));
    const Op& op = plan.ops[c.op];
    if (c.type == OpType::kActivation) type = std::string(space::ActivationName(op.activation));
    if (c.type == OpType::kConv && op.groups > 1) {
      type = op.groups == op.in_channels ? "dwconv" : absl::StrCat("conv/g", op.groups);
    }
    if (c.folded) type += "*";
    absl::StrAppendFormat(&out, "%-4d %-36s %-12s %-16s %10d %12d %10d %10d%s\n", c.op,
                          c.name.size() > 36 ? c.name.substr(c.name.size() - 36) : c.name, type,
                          space::ShapeToString(c.output_shape), c.params, c.macs, c.flash_bytes,
                          c.live_bytes, c.op == report.peak_op ? "  <- peak" : "");
  }
  absl::StrAppendFormat(&out,
                        "total: params %d, MACs %d, peak activations %d B (%d-bit), flash %d B, "
                        "max scratch %d B  (* = batch norm folded into the previous layer)\n",
                        report.totals.params, report.totals.macs,
                        report.totals.peak_activation_bytes, plan.activation_bits,
                        report.totals.flash_bytes, report.max_scratch_bytes);
  return out;
}

}  // namespace hwnas::hardware

#include "mcu/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hwnas::mcu {
namespace {

using space::OpType;

Dims DimsOf(const space::Shape& s) {
  Dims d;
  if (s.size() == 3) {
    d.c = static_cast<int>(s[0]), d.h = static_cast<int>(s[1]), d.w = static_cast<int>(s[2]);
  } else if (s.size() == 2) {
    d.c = static_cast<int>(s[0]), d.w = static_cast<int>(s[1]);
  } else if (s.size() == 1) {
    d.c = static_cast<int>(s[0]);
  }
  return d;
}

// node_of value of a plan op that is a constant zero tensor.
constexpr int kZeroNode = -2;

absl::Status Refuse(size_t i, const space::Op& op, const std::string& why) {
  return absl::UnimplementedError(absl::StrCat("op ", i, " (", op.name, ", ",
                                               space::OpTypeName(op.type),
                                               ") cannot be lowered to int8 C: ", why));
}

// Weights/biases of op i, checked against the expected element count.
absl::StatusOr<const ParamArray*> Param(const ParamMap& params, size_t i, const std::string& what,
                                        int64_t expect) {
  auto it = params.find(absl::StrCat("op", i, "_", what));
  if (it == params.end()) {
    return absl::InvalidArgumentError(absl::StrCat("op ", i, ": no trained ", what));
  }
  if (static_cast<int64_t>(it->second.values.size()) != expect) {
    return absl::InvalidArgumentError(absl::StrCat(
        "op ", i, " ", what, ": ", it->second.values.size(), " values, expected ", expect));
  }
  return &it->second;
}

}  // namespace

absl::StatusOr<FloatGraph> LowerPlan(const space::NetworkPlan& plan, const ParamMap& params) {
  FloatGraph g;
  const size_t n_ops = plan.ops.size();
  if (n_ops == 0 || plan.ops[0].type != OpType::kInput) {
    return absl::InvalidArgumentError("plan: no input op");
  }
  std::vector<int> consumers(n_ops, 0);
  for (const space::Op& op : plan.ops) {
    for (int in : op.inputs) ++consumers[in];
  }
  std::vector<int> node_of(n_ops, -1);
  auto add = [&](FloatNode node) {
    g.nodes.push_back(std::move(node));
    return static_cast<int>(g.nodes.size()) - 1;
  };
  for (size_t i = 0; i < n_ops; ++i) {
    const space::Op& op = plan.ops[i];
    auto src = [&](int k) { return node_of[op.inputs[k]]; };
    FloatNode node;
    node.name = op.name;
    node.out = DimsOf(op.output_shape);
    if (op.type != OpType::kAdd) {
      for (int in : op.inputs) {
        if (node_of[in] == kZeroNode) {
          return Refuse(i, op, "reads a constant zero tensor (an all-'none' NB201 node)");
        }
      }
    }
    if (plan.output == static_cast<int>(i) && op.type == OpType::kZero) {
      return Refuse(i, op, "the output is a constant zero tensor");
    }
    switch (op.type) {
      case OpType::kInput:
        g.source_shape = op.output_shape;
        node.kind = NodeKind::kInput;
        node_of[i] = add(std::move(node));
        break;
      case OpType::kConv: {
        const Dims in = g.nodes[src(0)].out;
        // Depthwise, also with a depth multiplier (EEGNet's spatial conv).
        const bool depthwise =
            op.groups > 1 && op.groups == op.in_channels && op.out_channels % op.in_channels == 0;
        if (op.groups != 1 && !depthwise) {
          return Refuse(i, op, absl::StrCat("groups ", op.groups, " (only 1 or depthwise)"));
        }
        ConvParams& p = node.conv;
        if (op.dims == 2) {
          p = {op.kernel_h, op.kernel_w, op.stride_h,   op.stride_w,
               op.pad_h,    op.pad_w,    op.dilation_h, op.dilation_w};
        } else {
          p = {1, op.kernel_w, 1, op.stride_w, 0, op.pad_w, 1, op.dilation_w};
        }
        const int64_t ic = depthwise ? 1 : op.in_channels;
        const int64_t kk = static_cast<int64_t>(p.kernel_h) * p.kernel_w;
        auto w = Param(params, i, "weight", op.out_channels * ic * kk);
        if (!w.ok()) return w.status();
        node.kind = depthwise ? NodeKind::kDepthwiseConv : NodeKind::kConv;
        node.weights.resize((*w)->values.size());
        // [oc][ic][kh][kw] -> [oc][kh][kw][ic].
        for (int64_t oc = 0; oc < op.out_channels; ++oc) {
          for (int64_t c = 0; c < ic; ++c) {
            for (int64_t k = 0; k < kk; ++k) {
              node.weights[(oc * kk + k) * ic + c] = (*w)->values[(oc * ic + c) * kk + k];
            }
          }
        }
        if (op.bias) {
          auto b = Param(params, i, "bias", op.out_channels);
          if (!b.ok()) return b.status();
          node.bias = (*b)->values;
        } else {
          node.bias.assign(op.out_channels, 0.0f);
        }
        if (in.c != op.in_channels) return Refuse(i, op, "input channels do not match");
        if (!depthwise && op.weight_bits == 4) node.weight_bits = 4;
        node_of[i] = add(std::move(node));
        break;
      }
      case OpType::kLinear: {
        const Dims in = g.nodes[src(0)].out;
        if (in.size() != op.in_channels) return Refuse(i, op, "input size does not match");
        auto w = Param(params, i, "weight", op.out_channels * op.in_channels);
        if (!w.ok()) return w.status();
        node.kind = NodeKind::kFullyConnected;
        node.out = {1, 1, static_cast<int>(op.out_channels)};
        // torch flattens CHW; the graph is HWC.
        const int64_t hw = static_cast<int64_t>(in.h) * in.w;
        node.weights.resize((*w)->values.size());
        for (int64_t o = 0; o < op.out_channels; ++o) {
          for (int64_t c = 0; c < in.c; ++c) {
            for (int64_t p = 0; p < hw; ++p) {
              node.weights[o * op.in_channels + p * in.c + c] =
                  (*w)->values[o * op.in_channels + c * hw + p];
            }
          }
        }
        if (op.bias) {
          auto b = Param(params, i, "bias", op.out_channels);
          if (!b.ok()) return b.status();
          node.bias = (*b)->values;
        } else {
          node.bias.assign(op.out_channels, 0.0f);
        }
        if (op.weight_bits == 4) node.weight_bits = 4;
        node_of[i] = add(std::move(node));
        break;
      }
      case OpType::kBatchNorm: {
        const int producer = op.inputs[0];
        const int target = src(0);
        const NodeKind kind = g.nodes[target].kind;
        const bool foldable =
            (plan.ops[producer].type == OpType::kConv ||
             plan.ops[producer].type == OpType::kLinear) &&
            consumers[producer] == 1 && target == static_cast<int>(g.nodes.size()) - 1 &&
            std::isinf(g.nodes[target].act_max) && std::isinf(g.nodes[target].act_min);
        const int64_t c = g.nodes[target].out.c;
        auto gamma = Param(params, i, "weight", c), beta = Param(params, i, "bias", c),
             mean = Param(params, i, "running_mean", c), var = Param(params, i, "running_var", c);
        for (const auto* s : {&gamma, &beta, &mean, &var}) {
          if (!s->ok()) return s->status();
        }
        if (!foldable) {
          // A batch norm after an add or a pool: a per-channel affine map,
          // i.e. a 1x1 depthwise conv (NB201's final BN).
          node.kind = NodeKind::kDepthwiseConv;
          node.inputs = {target};
          node.out = g.nodes[target].out;
          for (int64_t ch = 0; ch < c; ++ch) {
            const double scale = (*gamma)->values[ch] / std::sqrt((*var)->values[ch] + 1e-5);
            node.weights.push_back(static_cast<float>(scale));
            node.bias.push_back(
                static_cast<float>((*beta)->values[ch] - (*mean)->values[ch] * scale));
          }
          node_of[i] = add(std::move(node));
          break;
        }
        FloatNode& t = g.nodes[target];
        const int64_t per = static_cast<int64_t>(t.weights.size()) / c;
        for (int64_t ch = 0; ch < c; ++ch) {
          const double scale = (*gamma)->values[ch] / std::sqrt((*var)->values[ch] + 1e-5);
          for (int64_t k = 0; k < per; ++k) t.weights[ch * per + k] *= static_cast<float>(scale);
          t.bias[ch] =
              static_cast<float>((t.bias[ch] - (*mean)->values[ch]) * scale + (*beta)->values[ch]);
        }
        (void)kind;
        node_of[i] = target;
        break;
      }
      case OpType::kActivation: {
        const int target = src(0);
        const space::Activation act = op.activation;
        if (act == space::Activation::kIdentity) {
          node_of[i] = target;
          break;
        }
        FloatNode& t = g.nodes[target];
        const bool clamp = act == space::Activation::kRelu || act == space::Activation::kRelu6;
        const bool fusable = clamp && t.kind != NodeKind::kInput && t.kind != NodeKind::kLut &&
                             !IsRecurrent(t.kind) && consumers[op.inputs[0]] == 1 &&
                             target == static_cast<int>(g.nodes.size()) - 1 &&
                             std::isinf(t.act_min) && std::isinf(t.act_max);
        if (fusable) {
          t.act_min = 0.0f;
          if (act == space::Activation::kRelu6) t.act_max = 6.0f;
          node_of[i] = target;
          break;
        }
        node.kind = NodeKind::kLut;
        node.inputs = {target};
        switch (act) {
          case space::Activation::kRelu:
            node.lut = LutFunction::kRelu;
            break;
          case space::Activation::kRelu6:
            node.lut = LutFunction::kRelu6;
            break;
          case space::Activation::kSigmoid:
            node.lut = LutFunction::kSigmoid;
            break;
          case space::Activation::kTanh:
            node.lut = LutFunction::kTanh;
            break;
          case space::Activation::kElu:
            node.lut = LutFunction::kElu;
            break;
          case space::Activation::kHardSwish:
            node.lut = LutFunction::kHardSwish;
            break;
          default:
            return Refuse(i, op, "activation");
        }
        node_of[i] = add(std::move(node));
        break;
      }
      case OpType::kAdd: {
        // Zero tensors (NB201's "none" edges) drop out of a sum.
        std::vector<int> terms;
        for (size_t k = 0; k < op.inputs.size(); ++k) {
          if (src(static_cast<int>(k)) != kZeroNode) terms.push_back(src(static_cast<int>(k)));
        }
        if (terms.empty()) {
          node_of[i] = kZeroNode;
          break;
        }
        int acc = terms[0];
        for (size_t k = 1; k < terms.size(); ++k) {
          FloatNode sum;
          sum.kind = NodeKind::kAdd;
          sum.name = op.name;
          sum.out = node.out;
          sum.inputs = {acc, terms[k]};
          if (!(g.nodes[sum.inputs[0]].out == g.nodes[sum.inputs[1]].out)) {
            return Refuse(i, op, "inputs differ in shape");
          }
          acc = add(std::move(sum));
        }
        node_of[i] = acc;
        break;
      }
      case OpType::kMul: {
        const Dims a = g.nodes[src(0)].out, b = g.nodes[src(1)].out;
        if (!(a == b) && !(b.h == 1 && b.w == 1 && b.c == a.c)) {
          return Refuse(i, op, "the second input must match or be per-channel");
        }
        node.kind = NodeKind::kMul;
        node.inputs = {src(0), src(1)};
        node_of[i] = add(std::move(node));
        break;
      }
      case OpType::kPool:
        node.kind = op.pool == space::PoolKind::kAverage ? NodeKind::kAvgPool : NodeKind::kMaxPool;
        node.inputs = {src(0)};
        if (op.dims == 2 && plan.ops[op.inputs[0]].output_shape.size() == 3) {
          node.conv = {op.kernel_h, op.kernel_w, op.stride_h, op.stride_w,
                       op.pad_h,    op.pad_w,    1,           1};
        } else {
          node.conv = {1, op.kernel_w, 1, op.stride_w, 0, op.pad_w, 1, 1};
        }
        node_of[i] = add(std::move(node));
        break;
      case OpType::kGlobalAvgPool:
        node.kind = NodeKind::kGlobalAvgPool;
        node.inputs = {src(0)};
        node.out = {1, 1, g.nodes[src(0)].out.c};
        node_of[i] = add(std::move(node));
        break;
      case OpType::kFlatten:
      case OpType::kDropout:
        // No data movement: the FC after a flatten reorders its weights instead.
        node_of[i] = src(0);
        break;
      case OpType::kZero:
        node_of[i] = kZeroNode;
        break;
      case OpType::kRecurrent: {
        const Dims in = g.nodes[src(0)].out;
        if (in.h != 1 || in.c != op.in_channels) {
          return Refuse(i, op, "expects a {C, T} sequence of in_channels values");
        }
        const int64_t h = op.out_channels;
        const int64_t rows = (op.cell == space::RecurrentCell::kLstm ? 4 : 3) * h;
        auto w_ih = Param(params, i, "w_ih", rows * op.in_channels);
        auto w_hh = Param(params, i, "w_hh", rows * h);
        auto b_ih = Param(params, i, "b_ih", rows);
        auto b_hh = Param(params, i, "b_hh", rows);
        for (const auto* p : {&w_ih, &w_hh, &b_ih, &b_hh}) {
          if (!p->ok()) return p->status();
        }
        node.kind = op.cell == space::RecurrentCell::kLstm ? NodeKind::kLstm : NodeKind::kGru;
        node.inputs = {src(0)};
        node.hidden = static_cast<int>(h);
        node.return_sequence = op.return_sequence;
        node.out = {1, op.return_sequence ? in.w : 1, static_cast<int>(h)};
        // PyTorch's [gates * H][in] rows are already one row per gate unit.
        node.weights = (*w_ih)->values;
        node.recurrent_weights = (*w_hh)->values;
        node.bias = (*b_ih)->values;
        node.recurrent_bias = (*b_hh)->values;
        node_of[i] = add(std::move(node));
        break;
      }
    }
    if (op.type == OpType::kConv || op.type == OpType::kLinear) {
      g.nodes.back().inputs = {src(0)};
    }
  }
  g.output = node_of[plan.output];
  return g;
}

namespace {

QParams FromRange(double lo, double hi) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  QParams q;
  q.scale = hi > lo ? (hi - lo) / 255.0 : 1.0 / 255.0;
  q.zero_point =
      static_cast<int32_t>(std::clamp(std::nearbyint(-128.0 - lo / q.scale), -128.0, 127.0));
  return q;
}

// Per-row symmetric int8 weights of a [rows][cols] matrix, its bias at
// scale in_scale * w_scale[row] and a multiplier to Q3.12 (scale 2^-12).
void QuantizeGateMatrix(const std::vector<float>& w, const std::vector<float>& b, int64_t rows,
                        double in_scale, std::vector<int8_t>& qw, std::vector<int32_t>& qb,
                        std::vector<int32_t>& mult, std::vector<int32_t>& shift) {
  const int64_t cols = static_cast<int64_t>(w.size()) / rows;
  qw.resize(w.size());
  for (int64_t r = 0; r < rows; ++r) {
    float max_abs = 0;
    for (int64_t k = 0; k < cols; ++k) max_abs = std::max(max_abs, std::abs(w[r * cols + k]));
    const double w_scale = max_abs > 0 ? max_abs / 127.0 : 1.0;
    for (int64_t k = 0; k < cols; ++k) {
      qw[r * cols + k] =
          static_cast<int8_t>(std::clamp(std::nearbyint(w[r * cols + k] / w_scale), -127.0, 127.0));
    }
    const double acc_scale = in_scale * w_scale;
    qb.push_back(static_cast<int32_t>(
        std::clamp(std::nearbyint(b[r] / acc_scale), -2147483648.0, 2147483647.0)));
    const QuantizedMultiplier qm = QuantizeMultiplier(acc_scale * 4096.0);
    mult.push_back(qm.multiplier);
    shift.push_back(qm.shift);
  }
}

// The int8 LSTM / GRU in the spirit of TFLite Micro's integer LSTM: int8
// weights and hidden state, int32 accumulators, gates in int16 (Q3.12 in,
// Q0.15 out through tables), the LSTM cell state in int16 at a power-of-two
// scale from calibration.
void QuantizeRecurrent(const FloatNode& f, const QParams& in_q, const QParams& h_q,
                       const RecurrentRanges& ranges, Int8Node& q) {
  const int64_t rows = static_cast<int64_t>(RecurrentGates(f.kind)) * f.hidden;
  QuantizeGateMatrix(f.weights, f.bias, rows, in_q.scale, q.weights, q.bias, q.multiplier, q.shift);
  QuantizeGateMatrix(f.recurrent_weights, f.recurrent_bias, rows, h_q.scale, q.recurrent_weights,
                     q.recurrent_bias, q.recurrent_multiplier, q.recurrent_shift);
  if (f.kind == NodeKind::kLstm) {
    // The cell state's range with a little headroom for unseen inputs: scale
    // 2^-cell_shift with |c| < 2^(15 - cell_shift).
    const double bound = std::max(ranges.max_abs_cell * 1.25, 1e-3);
    q.cell_shift = std::clamp(15 - static_cast<int>(std::ceil(std::log2(bound))), 1, 15);
    q.state_out = QuantizeMultiplier(std::ldexp(1.0, -30) / h_q.scale);  // o * tanh(c) is Q0.30.
  } else {
    q.cell_shift = 15;
    q.state_out = QuantizeMultiplier(std::ldexp(1.0, -15) / h_q.scale);  // h is Q0.15.
  }
}

int32_t ClampBound(float bound, const QParams& q, bool upper) {
  if (std::isinf(bound)) return upper ? 127 : -128;
  const double v = std::nearbyint(bound / q.scale) + q.zero_point;
  return static_cast<int32_t>(std::clamp(v, -128.0, 127.0));
}

}  // namespace

absl::StatusOr<Int8Model> Quantize(const FloatGraph& g,
                                   const std::vector<std::vector<float>>& calibration) {
  if (calibration.empty()) return absl::InvalidArgumentError("calibration: no samples");
  const size_t n = g.nodes.size();
  std::vector<double> lo(n, std::numeric_limits<double>::infinity()),
      hi(n, -std::numeric_limits<double>::infinity());
  std::vector<RecurrentRanges> recurrent(n);
  for (const std::vector<float>& sample : calibration) {
    if (static_cast<int64_t>(sample.size()) != g.nodes[0].out.size()) {
      return absl::InvalidArgumentError(absl::StrCat("calibration sample has ", sample.size(),
                                                     " values, the input ", g.nodes[0].out.size()));
    }
    std::vector<std::vector<float>> v = RunFloatAll(g, sample);
    for (size_t i = 0; i < n; ++i) {
      for (float f : v[i]) {
        lo[i] = std::min<double>(lo[i], f);
        hi[i] = std::max<double>(hi[i], f);
      }
      if (IsRecurrent(g.nodes[i].kind)) {
        // The hidden state at every step (not only the steps kept as the
        // output) feeds the recurrent matrix product; the cell state sets
        // the LSTM's int16 cell scale.
        RunRecurrentFloat(g.nodes[i], g.nodes[g.nodes[i].inputs[0]].out, v[g.nodes[i].inputs[0]],
                          &recurrent[i]);
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (!IsRecurrent(g.nodes[i].kind)) continue;
    lo[i] = std::min(lo[i], recurrent[i].h_min);
    hi[i] = std::max(hi[i], recurrent[i].h_max);
  }
  Int8Model m;
  m.output = g.output;
  m.source_shape = g.source_shape;
  m.q.resize(n);
  m.nodes.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const FloatNode& f = g.nodes[i];
    Int8Node& q = m.nodes[i];
    q.kind = f.kind;
    q.inputs = f.inputs;
    q.out = f.out;
    q.name = f.name;
    q.conv = f.conv;
    q.hidden = f.hidden;
    q.return_sequence = f.return_sequence;
    QParams& out_q = m.q[i];
    switch (f.kind) {
      case NodeKind::kAvgPool:
      case NodeKind::kMaxPool:
      case NodeKind::kGlobalAvgPool:
        out_q = m.q[f.inputs[0]];  // Averages and maxima keep the input's scale.
        break;
      case NodeKind::kLut:
        if (f.lut == LutFunction::kSigmoid) {
          out_q = {1.0 / 256, -128};
        } else if (f.lut == LutFunction::kTanh) {
          out_q = {1.0 / 128, 0};
        } else {
          out_q = FromRange(lo[i], hi[i]);
        }
        break;
      default:
        out_q = FromRange(lo[i], hi[i]);
    }
    q.act_min = ClampBound(f.act_min, out_q, false);
    q.act_max = ClampBound(f.act_max, out_q, true);
    if (f.kind == NodeKind::kInput) continue;
    const QParams& in_q = m.q[f.inputs[0]];
    switch (f.kind) {
      case NodeKind::kConv:
      case NodeKind::kDepthwiseConv:
      case NodeKind::kFullyConnected: {
        const int64_t channels = f.out.c;
        const int64_t per = static_cast<int64_t>(f.weights.size()) / channels;
        // int4 (a 4-bit trained layer's grid: BN folding scales whole channels,
        // so per-channel max|w| / 7 recovers it) or int8.
        q.weight_bits = f.kind == NodeKind::kDepthwiseConv ? 8 : f.weight_bits;
        const double w_max = q.weight_bits == 4 ? 7.0 : 127.0;
        q.weights.resize(f.weights.size());
        for (int64_t c = 0; c < channels; ++c) {
          float max_abs = 0;
          for (int64_t k = 0; k < per; ++k)
            max_abs = std::max(max_abs, std::abs(f.weights[c * per + k]));
          const double w_scale = max_abs > 0 ? max_abs / w_max : 1.0;
          for (int64_t k = 0; k < per; ++k) {
            q.weights[c * per + k] = static_cast<int8_t>(
                std::clamp(std::nearbyint(f.weights[c * per + k] / w_scale), -w_max, w_max));
          }
          const double bias_scale = in_q.scale * w_scale;
          q.bias.push_back(static_cast<int32_t>(
              std::clamp(std::nearbyint(f.bias[c] / bias_scale), -2147483648.0, 2147483647.0)));
          const QuantizedMultiplier qm = QuantizeMultiplier(bias_scale / out_q.scale);
          q.multiplier.push_back(qm.multiplier);
          q.shift.push_back(qm.shift);
        }
        break;
      }
      case NodeKind::kAdd: {
        const QParams& b_q = m.q[f.inputs[1]];
        const double twice_max = 2 * std::max(in_q.scale, b_q.scale);
        q.add_left_shift = 20;
        q.add_in1 = QuantizeMultiplier(in_q.scale / twice_max);
        q.add_in2 = QuantizeMultiplier(b_q.scale / twice_max);
        const QuantizedMultiplier qm = QuantizeMultiplier(twice_max / ((1 << 20) * out_q.scale));
        q.multiplier = {qm.multiplier};
        q.shift = {qm.shift};
        break;
      }
      case NodeKind::kMul: {
        const QParams& b_q = m.q[f.inputs[1]];
        const QuantizedMultiplier qm = QuantizeMultiplier(in_q.scale * b_q.scale / out_q.scale);
        q.multiplier = {qm.multiplier};
        q.shift = {qm.shift};
        break;
      }
      case NodeKind::kLstm:
      case NodeKind::kGru:
        QuantizeRecurrent(f, in_q, out_q, recurrent[i], q);
        break;
      case NodeKind::kLut:
        q.lut.resize(256);
        for (int v = -128; v < 128; ++v) {
          const float x = in_q.Dequantize(static_cast<int8_t>(v));
          q.lut[v + 128] = out_q.Quantize(EvalLutFunction(f.lut, x));
        }
        break;
      default:
        break;
    }
  }
  m.memory = PlanMemory(m);
  if (absl::Status s = Validate(m); !s.ok()) return s;
  return m;
}

std::vector<int8_t> QuantizeInput(const Int8Model& model, const std::vector<float>& hwc) {
  std::vector<int8_t> out(hwc.size());
  for (size_t i = 0; i < hwc.size(); ++i) out[i] = model.q[0].Quantize(hwc[i]);
  return out;
}

std::vector<float> DequantizeOutput(const Int8Model& model, const std::vector<int8_t>& out) {
  std::vector<float> values(out.size());
  for (size_t i = 0; i < out.size(); ++i) values[i] = model.q[model.output].Dequantize(out[i]);
  return values;
}

}  // namespace hwnas::mcu

#include "mcu/footprint.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace hwnas::mcu {
namespace {

using space::OpType;

// arm-none-eabi-gcc aligns arrays and structs to a word when not optimizing
// for size; with -fdata-sections each object is its own section, so the
// linker places them on 4-byte boundaries.
int64_t Aligned(int64_t bytes) { return (bytes + 3) / 4 * 4; }

// Sizes of runtime/hwnas_nn.h's parameter structs on a 32-bit ARM target.
constexpr int64_t kConvParamsBytes = 6 * 2 + 8 * 1 + 4 * 4;          // 36
constexpr int64_t kEltwiseParamsBytes = 14 * 4;                      // 56
constexpr int64_t kRnnParamsBytes = 3 * 2 + 2 * 1 + 6 * 4 + 10 * 4;  // 72

// runtime/hwnas_nn.c's hwnas_valid_taps: the kernel taps inside [0, size).
int64_t ValidTaps(int64_t start, int64_t kernel, int64_t dilation, int64_t size) {
  int64_t a = start < 0 ? (-start + dilation - 1) / dilation : 0;
  int64_t b = size - start <= 0 ? 0 : (size - start + dilation - 1) / dilation;
  b = std::min(b, kernel);
  a = std::min(a, b);
  return b - a;
}

struct Work {
  std::map<std::string, double>& w;
  // `calls` dot products of `n` elements with the given variant.
  void Dot(const char* variant, double calls, int64_t n) {
    if (calls <= 0) return;
    w[absl::StrCat(variant, ".calls")] += calls;
    w[absl::StrCat(variant, ".iter")] += calls * static_cast<double>(n / 4);
    w[absl::StrCat(variant, ".tail")] += calls * static_cast<double>(n % 4);
  }
};

bool IsPointwise(const ConvParams& c, const Dims& in, const Dims& out) {
  return c.kernel_h == 1 && c.kernel_w == 1 && c.stride_h == 1 && c.stride_w == 1 && c.pad_h == 0 &&
         c.pad_w == 0 && in.h == out.h && in.w == out.w;
}

// The loops of hwnas_conv_s8 (not pointwise) and hwnas_conv_s4, counted.
void CountConv(const Int8Node& n, const Dims& in, bool int4, Work& work) {
  const ConvParams& c = n.conv;
  const int64_t ic = in.c, oc = n.out.c;
  double pixels = 0;
  for (int64_t oy = 0; oy < n.out.h; ++oy) {
    const int64_t ky = ValidTaps(oy * c.stride_h - c.pad_h, c.kernel_h, c.dilation_h, in.h);
    for (int64_t ox = 0; ox < n.out.w; ++ox) {
      const int64_t kx = ValidTaps(ox * c.stride_w - c.pad_w, c.kernel_w, c.dilation_w, in.w);
      const int64_t run = c.dilation_w == 1 ? kx * ic : ic;
      const int64_t runs = c.dilation_w == 1 ? (kx > 0 ? 1 : 0) : kx;
      pixels += 1;
      if (int4) {
        work.Dot("dot1", static_cast<double>(oc * ky * runs), run);
      } else {
        work.Dot("dot2", static_cast<double>(oc / 2 * ky * runs), run);
        work.Dot("dot1", static_cast<double>(oc % 2 * ky * runs), run);
      }
    }
  }
  if (int4) {
    work.w["conv4.positions"] += pixels * static_cast<double>(oc);
    work.w["conv4.unpacked"] += static_cast<double>(oc) * c.kernel_h * c.kernel_w * ic;
  } else {
    work.w["conv.pixels"] += pixels;
  }
}

void CountPointwise(const Int8Node& n, const Dims& in, Work& work) {
  const int64_t ic = in.c, oc = n.out.c, pixels = static_cast<int64_t>(n.out.h) * n.out.w;
  const double pairs = static_cast<double>(pixels / 2);
  work.w["pointwise.pixel_pairs"] += pairs;
  work.Dot("dot22", pairs * static_cast<double>(oc / 2), ic);
  work.Dot("dot1", pairs * static_cast<double>(oc % 2) * 2 + static_cast<double>(pixels % 2 * oc),
           ic);
}

void CountDepthwise(const Int8Node& n, const Dims& in, Work& work) {
  const ConvParams& c = n.conv;
  const int64_t channels = n.out.c, mult = in.c > 0 ? n.out.c / in.c : 1;
  const int64_t groups = mult == 1 ? channels / 4 : 0, rest = channels - 4 * groups;
  for (int64_t oy = 0; oy < n.out.h; ++oy) {
    const int64_t ky = ValidTaps(oy * c.stride_h - c.pad_h, c.kernel_h, c.dilation_h, in.h);
    for (int64_t ox = 0; ox < n.out.w; ++ox) {
      const int64_t kx = ValidTaps(ox * c.stride_w - c.pad_w, c.kernel_w, c.dilation_w, in.w);
      work.w["depthwise.pixels"] += 1;
      work.w["depthwise.rows4"] += static_cast<double>(groups * ky);
      work.w["depthwise.taps4"] += static_cast<double>(groups * ky * kx);
      work.w["depthwise.rows1"] += static_cast<double>(rest * ky);
      work.w["depthwise.taps1"] += static_cast<double>(rest * ky * kx);
    }
  }
}

void CountPool(const Int8Node& n, const Dims& in, Work& work) {
  const ConvParams& c = n.conv;
  for (int64_t oy = 0; oy < n.out.h; ++oy) {
    const int64_t ky = ValidTaps(oy * c.stride_h - c.pad_h, c.kernel_h, 1, in.h);
    for (int64_t ox = 0; ox < n.out.w; ++ox) {
      const int64_t kx = ValidTaps(ox * c.stride_w - c.pad_w, c.kernel_w, 1, in.w);
      // Per output element: every window row is tested, every tap of an
      // in-range row too (out-of-range ones skipped), the valid ones summed.
      work.w["pool.outputs"] += static_cast<double>(in.c);
      work.w["pool.windows"] += static_cast<double>(in.c * c.kernel_h);
      work.w["pool.tested"] += static_cast<double>(in.c * ky * c.kernel_w);
      work.w["pool.taps"] += static_cast<double>(in.c * ky * kx);
    }
  }
}

const char* KernelOf(const Int8Node& n) {
  switch (n.kind) {
    case NodeKind::kConv:
    case NodeKind::kFullyConnected:
      if (n.weight_bits == 4) return "hwnas_conv_s4";
      return n.kind == NodeKind::kConv ? "hwnas_conv_s8" : "hwnas_fully_connected_s8";
    case NodeKind::kDepthwiseConv:
      return "hwnas_depthwise_conv_s8";
    case NodeKind::kAvgPool:
      return "hwnas_avg_pool_s8";
    case NodeKind::kMaxPool:
      return "hwnas_max_pool_s8";
    case NodeKind::kGlobalAvgPool:
      return "hwnas_global_avg_pool_s8";
    case NodeKind::kAdd:
      return "hwnas_add_s8";
    case NodeKind::kMul:
      return "hwnas_mul_s8";
    case NodeKind::kLut:
      return "hwnas_lut_s8";
    case NodeKind::kLstm:
    case NodeKind::kGru:
      return "hwnas_rnn_s8";
    case NodeKind::kInput:
      break;
  }
  return nullptr;
}

}  // namespace

const std::vector<std::string>& KernelFunctionNames() {
  static const std::vector<std::string> names = {"hwnas_conv_s8",
                                                 "hwnas_conv_s4",
                                                 "hwnas_depthwise_conv_s8",
                                                 "hwnas_fully_connected_s8",
                                                 "hwnas_avg_pool_s8",
                                                 "hwnas_max_pool_s8",
                                                 "hwnas_global_avg_pool_s8",
                                                 "hwnas_add_s8",
                                                 "hwnas_mul_s8",
                                                 "hwnas_lut_s8",
                                                 "hwnas_rnn_s8"};
  return names;
}

const std::vector<std::string>& CodeSectionNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v = KernelFunctionNames();
    v.push_back("hwnas_pool_s8");
    return v;
  }();
  return names;
}

std::vector<std::string> LinkedCode(const std::map<std::string, int64_t>& kernel_calls) {
  std::vector<std::string> linked;
  bool pool = false;
  for (const auto& [kernel, calls] : kernel_calls) {
    if (calls <= 0) continue;
    linked.push_back(kernel);
    pool = pool || kernel == "hwnas_avg_pool_s8" || kernel == "hwnas_max_pool_s8";
  }
  // Both pooling kernels are a call of one static function (the window
  // loop), which the compiler keeps out of line.
  if (pool) linked.push_back("hwnas_pool_s8");
  return linked;
}

double DeepestKernelStack(const std::map<std::string, int64_t>& kernel_calls,
                          const std::map<std::string, double>& frames) {
  auto frame = [&frames](const std::string& section) {
    auto it = frames.find(section);
    return it == frames.end() ? 0.0 : it->second;
  };
  double deepest = 0;
  for (const auto& [kernel, calls] : kernel_calls) {
    if (calls <= 0) continue;
    double depth = frame(kernel);
    // The pooling kernels tail into the shared window loop (LinkedCode).
    if (kernel == "hwnas_avg_pool_s8" || kernel == "hwnas_max_pool_s8") {
      depth += frame("hwnas_pool_s8");
    }
    deepest = std::max(deepest, depth);
  }
  return deepest;
}

const std::vector<std::string>& WorkCounterNames() {
  static const std::vector<std::string> names = {"dot22.calls",
                                                 "dot22.iter",
                                                 "dot22.tail",
                                                 "dot2.calls",
                                                 "dot2.iter",
                                                 "dot2.tail",
                                                 "dot1.calls",
                                                 "dot1.iter",
                                                 "dot1.tail",
                                                 "pointwise.pixel_pairs",
                                                 "conv.pixels",
                                                 "conv4.positions",
                                                 "conv4.unpacked",
                                                 "depthwise.pixels",
                                                 "depthwise.rows4",
                                                 "depthwise.taps4",
                                                 "depthwise.rows1",
                                                 "depthwise.taps1",
                                                 "requantized",
                                                 "pool.windows",
                                                 "pool.taps",
                                                 "global_pool.elements",
                                                 "add.elements",
                                                 "mul.elements",
                                                 "lut.elements",
                                                 "recurrent.macs",
                                                 "recurrent.rows",
                                                 "recurrent.steps",
                                                 "io.elements",
                                                 "calls",
                                                 "pool.outputs",
                                                 "pool.tested",
                                                 "global_pool.channels",
                                                 "recurrent.dots",
                                                 "recurrent.lstm_units",
                                                 "recurrent.gru_units",
                                                 "inferences"};
  return names;
}

Footprint FootprintOf(const Int8Model& model) {
  Footprint f;
  for (const std::string& name : WorkCounterNames()) f.work[name] = 0;
  f.work["inferences"] = 1;
  Work work{f.work};
  bool recurrent = false;
  for (size_t i = 1; i < model.nodes.size(); ++i) {
    const Int8Node& n = model.nodes[i];
    const Dims in = model.nodes[n.inputs[0]].out;
    const char* kernel = KernelOf(n);
    if (kernel == nullptr) continue;
    ++f.kernel_calls[kernel];
    f.work["calls"] += 1;
    const int64_t out = n.out.size();
    switch (n.kind) {
      case NodeKind::kConv:
      case NodeKind::kDepthwiseConv:
      case NodeKind::kFullyConnected:
        f.const_bytes += kConvParamsBytes + Aligned(WeightArrayBytes(n)) +
                         3 * Aligned(4 * static_cast<int64_t>(n.out.c));
        f.work["requantized"] += static_cast<double>(out);
        if (n.kind == NodeKind::kDepthwiseConv) {
          CountDepthwise(n, in, work);
        } else if (n.kind == NodeKind::kFullyConnected) {
          if (n.weight_bits == 4) {
            // hwnas_conv_s4 with a 1x1 "image" of in.size() channels.
            work.Dot("dot1", static_cast<double>(n.out.c), in.size());
            f.work["conv4.positions"] += n.out.c;
            f.work["conv4.unpacked"] += static_cast<double>(n.out.c * in.size());
          } else {
            work.Dot("dot2", static_cast<double>(n.out.c / 2), in.size());
            work.Dot("dot1", static_cast<double>(n.out.c % 2), in.size());
          }
        } else if (n.weight_bits != 4 && IsPointwise(n.conv, in, n.out)) {
          CountPointwise(n, in, work);
        } else {
          CountConv(n, in, n.weight_bits == 4, work);
        }
        break;
      case NodeKind::kAvgPool:
      case NodeKind::kMaxPool:
        f.const_bytes += kConvParamsBytes;
        CountPool(n, in, work);
        break;
      case NodeKind::kGlobalAvgPool:
        f.const_bytes += kConvParamsBytes;
        f.work["global_pool.elements"] += static_cast<double>(in.size());
        f.work["global_pool.channels"] += static_cast<double>(in.c);
        break;
      case NodeKind::kAdd:
        f.const_bytes += kEltwiseParamsBytes;
        f.work["add.elements"] += static_cast<double>(out);
        break;
      case NodeKind::kMul:
        f.const_bytes += kEltwiseParamsBytes;
        f.work["mul.elements"] += static_cast<double>(out);
        break;
      case NodeKind::kLut:
        f.const_bytes += 256;
        f.work["lut.elements"] += static_cast<double>(out);
        break;
      case NodeKind::kLstm:
      case NodeKind::kGru: {
        recurrent = true;
        const int64_t rows = static_cast<int64_t>(RecurrentGates(n.kind)) * n.hidden;
        f.const_bytes += kRnnParamsBytes + Aligned(static_cast<int64_t>(n.weights.size())) +
                         Aligned(static_cast<int64_t>(n.recurrent_weights.size())) +
                         6 * Aligned(4 * rows);
        // hwnas_rnn_s8: per step, the input rows' dot products (two rows a
        // call, an odd last row alone); from the second step on the
        // recurrent rows' too (the first step's hidden state is zero).
        const double steps = in.w;
        f.work["recurrent.macs"] += steps * static_cast<double>(n.weights.size()) +
                                    (steps - 1) * static_cast<double>(n.recurrent_weights.size());
        f.work["recurrent.dots"] += (2 * steps - 1) * static_cast<double>((rows + 1) / 2);
        f.work["recurrent.rows"] += steps * static_cast<double>(rows);
        f.work["recurrent.steps"] += steps;
        f.work[n.kind == NodeKind::kLstm ? "recurrent.lstm_units" : "recurrent.gru_units"] +=
            steps * static_cast<double>(n.hidden);
        break;
      }
      case NodeKind::kInput:
        break;
    }
  }
  if (recurrent) f.const_bytes += 2 * Aligned(2 * kRecurrentTableSize);
  f.work["io.elements"] =
      static_cast<double>(model.input_dims().size() + model.output_dims().size());
  // The arena as GenerateCProject declares it (at least one word).
  const MemoryPlan plan =
      model.memory.offset.size() == model.nodes.size() ? model.memory : PlanMemory(model);
  f.arena_bytes = std::max<int64_t>(plan.arena_size, 4);
  f.macs = model.macs();
  return f;
}

space::NetworkPlan DeployedPlan(space::NetworkPlan plan) {
  for (space::Op& op : plan.ops) {
    if (op.weight_bits != 4) op.weight_bits = 8;
  }
  plan.activation_bits = 8;
  return plan;
}

ParamMap PlaceholderParams(const space::NetworkPlan& plan) {
  ParamMap params;
  auto filled = [](int64_t n, float v) {
    ParamArray a;
    a.shape = {n};
    a.values.assign(static_cast<size_t>(std::max<int64_t>(n, 0)), v);
    return a;
  };
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const space::Op& op = plan.ops[i];
    const std::string p = absl::StrCat("op", i, "_");
    switch (op.type) {
      case OpType::kConv: {
        const int64_t kk = op.dims == 2 ? static_cast<int64_t>(op.kernel_h) * op.kernel_w
                                        : static_cast<int64_t>(op.kernel_w);
        params[p + "weight"] =
            filled(op.out_channels * (op.in_channels / std::max<int64_t>(op.groups, 1)) * kk, 0);
        if (op.bias) params[p + "bias"] = filled(op.out_channels, 0);
        break;
      }
      case OpType::kLinear:
        params[p + "weight"] = filled(op.out_channels * op.in_channels, 0);
        if (op.bias) params[p + "bias"] = filled(op.out_channels, 0);
        break;
      case OpType::kBatchNorm: {
        const int64_t c = op.output_shape.empty() ? 0 : op.output_shape.front();
        params[p + "weight"] = filled(c, 1);
        params[p + "bias"] = filled(c, 0);
        params[p + "running_mean"] = filled(c, 0);
        params[p + "running_var"] = filled(c, 1);
        break;
      }
      case OpType::kRecurrent: {
        const int64_t h = op.out_channels;
        const int64_t rows = (op.cell == space::RecurrentCell::kLstm ? 4 : 3) * h;
        params[p + "w_ih"] = filled(rows * op.in_channels, 0);
        params[p + "w_hh"] = filled(rows * h, 0);
        params[p + "b_ih"] = filled(rows, 0);
        params[p + "b_hh"] = filled(rows, 0);
        break;
      }
      default:
        break;
    }
  }
  return params;
}

Int8Model SkeletonModel(const FloatGraph& g) {
  Int8Model m;
  m.output = g.output;
  m.source_shape = g.source_shape;
  m.q.resize(g.nodes.size());
  m.nodes.resize(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const FloatNode& f = g.nodes[i];
    Int8Node& q = m.nodes[i];
    q.kind = f.kind;
    q.inputs = f.inputs;
    q.out = f.out;
    q.name = f.name;
    q.conv = f.conv;
    q.hidden = f.hidden;
    q.return_sequence = f.return_sequence;
    switch (f.kind) {
      case NodeKind::kConv:
      case NodeKind::kDepthwiseConv:
      case NodeKind::kFullyConnected:
        // As Quantize: depthwise weights stay int8.
        q.weight_bits = f.kind == NodeKind::kDepthwiseConv ? 8 : f.weight_bits;
        q.weights.assign(f.weights.size(), 0);
        q.bias.assign(static_cast<size_t>(f.out.c), 0);
        q.multiplier.assign(static_cast<size_t>(f.out.c), 0);
        q.shift.assign(static_cast<size_t>(f.out.c), 0);
        break;
      case NodeKind::kAdd:
      case NodeKind::kMul:
        q.multiplier = {0};
        q.shift = {0};
        break;
      case NodeKind::kLut:
        q.lut.assign(256, 0);
        break;
      case NodeKind::kLstm:
      case NodeKind::kGru: {
        const size_t rows = static_cast<size_t>(RecurrentGates(f.kind)) * f.hidden;
        q.weights.assign(f.weights.size(), 0);
        q.recurrent_weights.assign(f.recurrent_weights.size(), 0);
        for (auto* v : {&q.bias, &q.multiplier, &q.shift, &q.recurrent_bias,
                        &q.recurrent_multiplier, &q.recurrent_shift}) {
          v->assign(rows, 0);
        }
        break;
      }
      default:
        break;
    }
  }
  m.memory = PlanMemory(m);
  return m;
}

absl::StatusOr<Footprint> PlanFootprint(const space::NetworkPlan& plan) {
  const space::NetworkPlan deployed = DeployedPlan(plan);
  absl::StatusOr<FloatGraph> graph = LowerPlan(deployed, PlaceholderParams(deployed));
  if (!graph.ok()) return graph.status();
  return FootprintOf(SkeletonModel(*graph));
}

}  // namespace hwnas::mcu

#include "mcu/graph.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hwnas::mcu {

const char* NodeKindName(NodeKind kind) {
  switch (kind) {
    case NodeKind::kInput:
      return "input";
    case NodeKind::kConv:
      return "conv";
    case NodeKind::kDepthwiseConv:
      return "depthwise_conv";
    case NodeKind::kFullyConnected:
      return "fully_connected";
    case NodeKind::kAvgPool:
      return "avg_pool";
    case NodeKind::kMaxPool:
      return "max_pool";
    case NodeKind::kGlobalAvgPool:
      return "global_avg_pool";
    case NodeKind::kAdd:
      return "add";
    case NodeKind::kMul:
      return "mul";
    case NodeKind::kLut:
      return "lut";
    case NodeKind::kLstm:
      return "lstm";
    case NodeKind::kGru:
      return "gru";
  }
  return "?";
}

bool IsRecurrent(NodeKind kind) { return kind == NodeKind::kLstm || kind == NodeKind::kGru; }
int RecurrentGates(NodeKind kind) { return kind == NodeKind::kLstm ? 4 : 3; }

namespace {

// Entry k is f(-8 + k / 32) in Q0.15 (a step of 128 in Q3.12).
std::vector<int16_t> MakeQ15Table(double (*f)(double)) {
  std::vector<int16_t> t(kRecurrentTableSize);
  for (int k = 0; k < kRecurrentTableSize; ++k) {
    const double v = std::nearbyint(32768.0 * f(-8.0 + k / 32.0));
    t[k] = static_cast<int16_t>(std::clamp(v, -32767.0, 32767.0));
  }
  return t;
}
double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double Tanh(double x) { return std::tanh(x); }

}  // namespace

const std::vector<int16_t>& SigmoidQ15Table() {
  static const std::vector<int16_t> t = MakeQ15Table(Sigmoid);
  return t;
}
const std::vector<int16_t>& TanhQ15Table() {
  static const std::vector<int16_t> t = MakeQ15Table(Tanh);
  return t;
}

int32_t LookupQ15(const std::vector<int16_t>& table, int32_t x_q12) {
  const int32_t u = std::clamp(x_q12, -32768, 32767) + 32768;
  const int32_t idx = u >> 7, frac = u & 127;
  return table[idx] + (((table[idx + 1] - table[idx]) * frac + 64) >> 7);
}

std::vector<float> RunRecurrentFloat(const FloatNode& n, const Dims& in,
                                     const std::vector<float>& x, RecurrentRanges* ranges) {
  const int steps = in.w, c_in = in.c, h_n = n.hidden;
  const int gates = RecurrentGates(n.kind);
  const bool lstm = n.kind == NodeKind::kLstm;
  std::vector<double> h(h_n, 0.0), c(h_n, 0.0), gx(gates * h_n), gh(gates * h_n);
  std::vector<float> out(n.return_sequence ? static_cast<size_t>(steps) * h_n : h_n);
  auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  for (int t = 0; t < steps; ++t) {
    const float* xt = &x[static_cast<size_t>(t) * c_in];
    for (int r = 0; r < gates * h_n; ++r) {
      double ax = n.bias[r], ah = n.recurrent_bias[r];
      for (int k = 0; k < c_in; ++k) ax += static_cast<double>(xt[k]) * n.weights[r * c_in + k];
      for (int k = 0; k < h_n; ++k) {
        ah += h[k] * n.recurrent_weights[static_cast<size_t>(r) * h_n + k];
      }
      gx[r] = ax;
      gh[r] = ah;
    }
    for (int j = 0; j < h_n; ++j) {
      if (lstm) {
        const double i = sig(gx[j] + gh[j]), f = sig(gx[h_n + j] + gh[h_n + j]);
        const double g = std::tanh(gx[2 * h_n + j] + gh[2 * h_n + j]);
        const double o = sig(gx[3 * h_n + j] + gh[3 * h_n + j]);
        c[j] = f * c[j] + i * g;
        h[j] = o * std::tanh(c[j]);
        if (ranges != nullptr)
          ranges->max_abs_cell = std::max(ranges->max_abs_cell, std::abs(c[j]));
      } else {
        const double r = sig(gx[j] + gh[j]), z = sig(gx[h_n + j] + gh[h_n + j]);
        const double cand = std::tanh(gx[2 * h_n + j] + r * gh[2 * h_n + j]);
        h[j] = (1 - z) * cand + z * h[j];
      }
      if (ranges != nullptr) {
        ranges->h_min = std::min(ranges->h_min, h[j]);
        ranges->h_max = std::max(ranges->h_max, h[j]);
      }
    }
    if (n.return_sequence || t + 1 == steps) {
      float* dst = n.return_sequence ? &out[static_cast<size_t>(t) * h_n] : out.data();
      for (int j = 0; j < h_n; ++j) dst[j] = static_cast<float>(h[j]);
    }
  }
  return out;
}

float EvalLutFunction(LutFunction fn, float x) {
  switch (fn) {
    case LutFunction::kRelu:
      return std::max(0.0f, x);
    case LutFunction::kRelu6:
      return std::clamp(x, 0.0f, 6.0f);
    case LutFunction::kSigmoid:
      return 1.0f / (1.0f + std::exp(-x));
    case LutFunction::kTanh:
      return std::tanh(x);
    case LutFunction::kElu:
      return x > 0 ? x : std::expm1(x);
    case LutFunction::kHardSwish:
      return x * std::clamp(x + 3.0f, 0.0f, 6.0f) / 6.0f;
  }
  return x;
}

std::vector<float> ToHwc(const std::vector<int64_t>& shape, const float* sample) {
  int64_t c = 1, h = 1, w = 1;
  if (shape.size() == 3) {
    c = shape[0], h = shape[1], w = shape[2];
  } else if (shape.size() == 2) {
    c = shape[0], w = shape[1];
  } else if (shape.size() == 1) {
    c = shape[0];
  }
  std::vector<float> out(c * h * w);
  for (int64_t ci = 0; ci < c; ++ci) {
    for (int64_t p = 0; p < h * w; ++p) out[p * c + ci] = sample[ci * h * w + p];
  }
  return out;
}

namespace {

// Visits the valid input positions of one output position of a windowed op.
template <typename F>
void ForWindow(const ConvParams& p, const Dims& in, int oy, int ox, F&& visit) {
  for (int ky = 0; ky < p.kernel_h; ++ky) {
    const int iy = oy * p.stride_h - p.pad_h + ky * p.dilation_h;
    if (iy < 0 || iy >= in.h) continue;
    for (int kx = 0; kx < p.kernel_w; ++kx) {
      const int ix = ox * p.stride_w - p.pad_w + kx * p.dilation_w;
      if (ix < 0 || ix >= in.w) continue;
      visit(ky, kx, iy, ix);
    }
  }
}

}  // namespace

std::vector<std::vector<float>> RunFloatAll(const FloatGraph& g, const std::vector<float>& input) {
  std::vector<std::vector<float>> v(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const FloatNode& n = g.nodes[i];
    std::vector<float>& out = v[i];
    out.assign(n.out.size(), 0.0f);
    const Dims in = n.inputs.empty() ? n.out : g.nodes[n.inputs[0]].out;
    const std::vector<float>& x = n.inputs.empty() ? input : v[n.inputs[0]];
    auto at = [&](int y, int xx, int c) {
      return (static_cast<int64_t>(y) * in.w + xx) * in.c + c;
    };
    switch (n.kind) {
      case NodeKind::kInput:
        out = input;
        break;
      case NodeKind::kConv:
        for (int oy = 0; oy < n.out.h; ++oy) {
          for (int ox = 0; ox < n.out.w; ++ox) {
            for (int oc = 0; oc < n.out.c; ++oc) {
              double acc = n.bias.empty() ? 0.0 : n.bias[oc];
              ForWindow(n.conv, in, oy, ox, [&](int ky, int kx, int iy, int ix) {
                const float* w = &n.weights[((static_cast<int64_t>(oc) * n.conv.kernel_h + ky) *
                                                 n.conv.kernel_w +
                                             kx) *
                                            in.c];
                const float* xp = &x[at(iy, ix, 0)];
                for (int ic = 0; ic < in.c; ++ic) acc += static_cast<double>(xp[ic]) * w[ic];
              });
              out[(static_cast<int64_t>(oy) * n.out.w + ox) * n.out.c + oc] =
                  static_cast<float>(acc);
            }
          }
        }
        break;
      case NodeKind::kDepthwiseConv:
        for (int oy = 0; oy < n.out.h; ++oy) {
          for (int ox = 0; ox < n.out.w; ++ox) {
            for (int c = 0; c < n.out.c; ++c) {
              double acc = n.bias.empty() ? 0.0 : n.bias[c];
              ForWindow(n.conv, in, oy, ox, [&](int ky, int kx, int iy, int ix) {
                acc +=
                    static_cast<double>(x[at(iy, ix, c / (n.out.c / in.c))]) *
                    n.weights[(static_cast<int64_t>(c) * n.conv.kernel_h + ky) * n.conv.kernel_w +
                              kx];
              });
              out[(static_cast<int64_t>(oy) * n.out.w + ox) * n.out.c + c] =
                  static_cast<float>(acc);
            }
          }
        }
        break;
      case NodeKind::kFullyConnected: {
        const int64_t k = in.size();
        for (int o = 0; o < n.out.c; ++o) {
          double acc = n.bias.empty() ? 0.0 : n.bias[o];
          for (int64_t j = 0; j < k; ++j) acc += static_cast<double>(x[j]) * n.weights[o * k + j];
          out[o] = static_cast<float>(acc);
        }
        break;
      }
      case NodeKind::kAvgPool:
      case NodeKind::kMaxPool:
        for (int oy = 0; oy < n.out.h; ++oy) {
          for (int ox = 0; ox < n.out.w; ++ox) {
            for (int c = 0; c < n.out.c; ++c) {
              double sum = 0;
              float best = -std::numeric_limits<float>::infinity();
              int count = 0;
              ForWindow(n.conv, in, oy, ox, [&](int, int, int iy, int ix) {
                sum += x[at(iy, ix, c)];
                best = std::max(best, x[at(iy, ix, c)]);
                ++count;
              });
              out[(static_cast<int64_t>(oy) * n.out.w + ox) * n.out.c + c] =
                  n.kind == NodeKind::kMaxPool ? best
                                               : static_cast<float>(sum / std::max(count, 1));
            }
          }
        }
        break;
      case NodeKind::kGlobalAvgPool:
        for (int c = 0; c < in.c; ++c) {
          double sum = 0;
          for (int p = 0; p < in.h * in.w; ++p) sum += x[static_cast<int64_t>(p) * in.c + c];
          out[c] = static_cast<float>(sum / (in.h * in.w));
        }
        break;
      case NodeKind::kAdd: {
        const std::vector<float>& y = v[n.inputs[1]];
        for (size_t j = 0; j < out.size(); ++j) out[j] = x[j] + y[j];
        break;
      }
      case NodeKind::kMul: {
        const std::vector<float>& y = v[n.inputs[1]];
        const bool broadcast = y.size() != out.size();
        for (size_t j = 0; j < out.size(); ++j) {
          out[j] = x[j] * y[broadcast ? j % n.out.c : j];
        }
        break;
      }
      case NodeKind::kLut:
        for (size_t j = 0; j < out.size(); ++j) out[j] = EvalLutFunction(n.lut, x[j]);
        break;
      case NodeKind::kLstm:
      case NodeKind::kGru:
        out = RunRecurrentFloat(n, in, x, nullptr);
        break;
    }
    for (float& f : out) f = std::clamp(f, n.act_min, n.act_max);
  }
  return v;
}

std::vector<float> RunFloat(const FloatGraph& graph, const std::vector<float>& in) {
  return std::move(RunFloatAll(graph, in)[graph.output]);
}

int8_t QParams::Quantize(float x) const {
  const double q = std::nearbyint(x / scale) + zero_point;
  return static_cast<int8_t>(std::clamp(q, -128.0, 127.0));
}

int64_t Int8Model::weight_bytes() const {
  int64_t total = 0;
  bool recurrent = false;
  for (const Int8Node& n : nodes) {
    total += WeightArrayBytes(n) + 4 * static_cast<int64_t>(n.bias.size()) +
             4 * static_cast<int64_t>(n.multiplier.size() + n.shift.size()) +
             static_cast<int64_t>(n.lut.size()) + static_cast<int64_t>(n.recurrent_weights.size()) +
             4 * static_cast<int64_t>(n.recurrent_bias.size() + n.recurrent_multiplier.size() +
                                      n.recurrent_shift.size());
    recurrent = recurrent || IsRecurrent(n.kind);
  }
  if (recurrent) total += 2 * 2 * kRecurrentTableSize;
  return total;
}

int64_t RecurrentScratchBytes(const Int8Node& n) {
  return IsRecurrent(n.kind) ? 2 * 5 * static_cast<int64_t>(n.hidden) : 0;
}

namespace {
bool PackedInt4(const Int8Node& n) {
  return n.weight_bits == 4 && (n.kind == NodeKind::kConv || n.kind == NodeKind::kFullyConnected);
}
int64_t Int4RowLength(const Int8Node& n) {
  return n.out.c > 0 ? static_cast<int64_t>(n.weights.size()) / n.out.c : 0;
}
}  // namespace

std::vector<uint8_t> PackInt4Rows(const std::vector<int8_t>& weights, int64_t rows) {
  const int64_t per = rows > 0 ? static_cast<int64_t>(weights.size()) / rows : 0;
  const int64_t row_bytes = (per + 1) / 2;
  std::vector<uint8_t> packed(static_cast<size_t>(rows * row_bytes), 0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < per; ++k) {
      const uint8_t nibble = static_cast<uint8_t>(weights[r * per + k]) & 0xF;
      packed[r * row_bytes + k / 2] |= static_cast<uint8_t>(k % 2 == 0 ? nibble : nibble << 4);
    }
  }
  return packed;
}

int64_t WeightArrayBytes(const Int8Node& n) {
  if (!PackedInt4(n)) return static_cast<int64_t>(n.weights.size());
  return static_cast<int64_t>(n.out.c) * ((Int4RowLength(n) + 1) / 2);
}

int64_t ScratchBytes(const Int8Node& n) {
  if (PackedInt4(n)) return Int4RowLength(n);
  return RecurrentScratchBytes(n);
}

int64_t Int8Model::macs() const {
  int64_t total = 0;
  for (const Int8Node& n : nodes) {
    if (n.kind == NodeKind::kConv || n.kind == NodeKind::kFullyConnected ||
        n.kind == NodeKind::kDepthwiseConv) {
      total += static_cast<int64_t>(n.weights.size()) *
               (n.kind == NodeKind::kFullyConnected ? 1 : static_cast<int64_t>(n.out.h) * n.out.w);
    } else if (IsRecurrent(n.kind)) {
      const int64_t steps = nodes[n.inputs[0]].out.w;
      total += steps * static_cast<int64_t>(n.weights.size() + n.recurrent_weights.size());
    }
  }
  return total;
}

MemoryPlan PlanMemory(const std::vector<int64_t>& node_sizes,
                      const std::vector<std::vector<int>>& inputs, int output,
                      const std::vector<int64_t>& scratch) {
  const int nodes = static_cast<int>(node_sizes.size());
  // Tensors 0..nodes-1 are the nodes' outputs; then one scratch buffer per
  // node that asks for one, live only while its node runs.
  std::vector<int64_t> sizes = node_sizes;
  std::vector<int> scratch_tensor(nodes, -1);
  for (int i = 0; i < nodes && i < static_cast<int>(scratch.size()); ++i) {
    if (scratch[i] <= 0) continue;
    scratch_tensor[i] = static_cast<int>(sizes.size());
    sizes.push_back(scratch[i]);
  }
  const int n = static_cast<int>(sizes.size());
  MemoryPlan plan;
  plan.offset.assign(n, 0);
  plan.first_use.resize(n);
  plan.last_use.resize(n);
  for (int i = 0; i < nodes; ++i) plan.first_use[i] = plan.last_use[i] = i;
  for (int i = 0; i < nodes; ++i) {
    if (scratch_tensor[i] >= 0)
      plan.first_use[scratch_tensor[i]] = plan.last_use[scratch_tensor[i]] = i;
  }
  for (int i = 0; i < nodes; ++i) {
    for (int in : inputs[i]) plan.last_use[in] = std::max(plan.last_use[in], i);
  }
  if (output >= 0) plan.last_use[output] = nodes;  // Read back after the last node.
  // Greedy placement in a given order: each tensor at the lowest offset that
  // overlaps no placed tensor live at the same time. Several orders are tried
  // (none is best for every graph) and the smallest arena is kept.
  auto place = [&](const std::vector<int>& order, std::vector<int64_t>& offset) {
    int64_t peak = 0;
    std::vector<int> placed;
    for (int t : order) {
      std::vector<std::pair<int64_t, int64_t>> busy;
      for (int p : placed) {
        if (plan.first_use[p] <= plan.last_use[t] && plan.first_use[t] <= plan.last_use[p]) {
          busy.push_back({offset[p], offset[p] + sizes[p]});
        }
      }
      std::sort(busy.begin(), busy.end());
      int64_t at = 0;
      for (const auto& [begin, end] : busy) {
        if (at + sizes[t] <= begin) break;
        at = std::max(at, (end + 3) / 4 * 4);
      }
      offset[t] = at;
      peak = std::max(peak, at + sizes[t]);
      placed.push_back(t);
    }
    return peak;
  };
  auto life = [&](int t) { return plan.last_use[t] - plan.first_use[t]; };
  std::vector<std::function<bool(int, int)>> orders = {
      [&](int a, int b) { return sizes[a] > sizes[b]; },
      [&](int a, int b) { return std::pair(life(a), sizes[a]) > std::pair(life(b), sizes[b]); },
      [&](int a, int b) { return sizes[a] * (life(a) + 1) > sizes[b] * (life(b) + 1); },
  };
  plan.arena_size = -1;
  for (const auto& less : orders) {
    std::vector<int> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), less);
    std::vector<int64_t> offset(n, 0);
    const int64_t peak = place(order, offset);
    if (plan.arena_size < 0 || peak < plan.arena_size) {
      plan.arena_size = peak;
      plan.offset = offset;
    }
  }
  plan.arena_size = (plan.arena_size + 3) / 4 * 4;
  plan.scratch_offset.assign(nodes, -1);
  for (int i = 0; i < nodes; ++i) {
    if (scratch_tensor[i] >= 0) plan.scratch_offset[i] = plan.offset[scratch_tensor[i]];
  }
  plan.offset.resize(nodes);
  plan.first_use.resize(nodes);
  plan.last_use.resize(nodes);
  plan.size = node_sizes;
  return plan;
}

MemoryPlan PlanMemory(const Int8Model& model) {
  std::vector<int64_t> sizes, scratch;
  std::vector<std::vector<int>> inputs;
  for (const Int8Node& n : model.nodes) {
    sizes.push_back(n.out.size());
    inputs.push_back(n.inputs);
    scratch.push_back(ScratchBytes(n));
  }
  return PlanMemory(sizes, inputs, model.output, scratch);
}

namespace {

int32_t Requantize(int32_t acc, int32_t multiplier, int32_t shift, int32_t zero_point, int32_t lo,
                   int32_t hi) {
  const int32_t v = MultiplyByQuantizedMultiplier(acc, multiplier, shift) + zero_point;
  return std::clamp(v, lo, hi);
}

int32_t RoundedAverage(int32_t sum, int32_t count) {
  return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

int32_t Sat16(int32_t v) { return std::clamp(v, -32768, 32767); }

// The int8 LSTM / GRU (see Int8Node); mcu/runtime/hwnas_nn.c's hwnas_rnn_s8
// computes exactly this.
void RunRecurrentInt8(const Int8Node& n, const Dims& in, int32_t in_zp, int32_t h_zp,
                      const std::vector<int8_t>& x, std::vector<int8_t>& out) {
  const int steps = in.w, c_in = in.c, h_n = n.hidden;
  const int rows = RecurrentGates(n.kind) * h_n;
  const bool lstm = n.kind == NodeKind::kLstm;
  const std::vector<int16_t>& sig = SigmoidQ15Table();
  const std::vector<int16_t>& tanh = TanhQ15Table();
  std::vector<int32_t> pre(4 * h_n), state(h_n, 0);
  for (int t = 0; t < steps; ++t) {
    const int8_t* xt = &x[static_cast<size_t>(t) * c_in];
    const int8_t* prev =
        t == 0 ? nullptr : (n.return_sequence ? &out[static_cast<size_t>(t - 1) * h_n] : &out[0]);
    for (int r = 0; r < rows; ++r) {
      int32_t ax = n.bias[r], ah = n.recurrent_bias[r];
      for (int k = 0; k < c_in; ++k) ax += (xt[k] - in_zp) * n.weights[r * c_in + k];
      if (prev != nullptr) {
        for (int k = 0; k < h_n; ++k) {
          ah += (prev[k] - h_zp) * n.recurrent_weights[static_cast<size_t>(r) * h_n + k];
        }
      }
      const int32_t vx = Sat16(MultiplyByQuantizedMultiplier(ax, n.multiplier[r], n.shift[r]));
      const int32_t vh =
          Sat16(MultiplyByQuantizedMultiplier(ah, n.recurrent_multiplier[r], n.recurrent_shift[r]));
      if (!lstm && r >= 2 * h_n) {
        pre[r] = vx;
        pre[r + h_n] = vh;
      } else {
        pre[r] = Sat16(vx + vh);
      }
    }
    int8_t* dst = n.return_sequence ? &out[static_cast<size_t>(t) * h_n] : &out[0];
    for (int j = 0; j < h_n; ++j) {
      int32_t h_real;  // LSTM: Q0.30; GRU: Q0.15.
      if (lstm) {
        const int32_t i = LookupQ15(sig, pre[j]), f = LookupQ15(sig, pre[h_n + j]);
        const int32_t g = LookupQ15(tanh, pre[2 * h_n + j]), o = LookupQ15(sig, pre[3 * h_n + j]);
        const int32_t c = Sat16(RoundingDivideByPot(f * state[j], 15) +
                                RoundingDivideByPot(i * g, 30 - n.cell_shift));
        state[j] = c;
        const int32_t c_q12 = n.cell_shift >= 12 ? RoundingDivideByPot(c, n.cell_shift - 12)
                                                 : Sat16(c * (1 << (12 - n.cell_shift)));
        h_real = o * LookupQ15(tanh, c_q12);
      } else {
        const int32_t r = LookupQ15(sig, pre[j]), z = LookupQ15(sig, pre[h_n + j]);
        const int32_t cand = LookupQ15(
            tanh, Sat16(pre[2 * h_n + j] + RoundingDivideByPot(r * pre[3 * h_n + j], 15)));
        state[j] = Sat16(cand + RoundingDivideByPot(z * (state[j] - cand), 15));
        h_real = state[j];
      }
      dst[j] = static_cast<int8_t>(std::clamp(
          MultiplyByQuantizedMultiplier(h_real, n.state_out.multiplier, n.state_out.shift) + h_zp,
          -128, 127));
    }
  }
}

}  // namespace

std::vector<std::vector<int8_t>> RunInt8All(const Int8Model& m, const std::vector<int8_t>& input) {
  std::vector<std::vector<int8_t>> v(m.nodes.size());
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    const Int8Node& n = m.nodes[i];
    std::vector<int8_t>& out = v[i];
    out.assign(n.out.size(), 0);
    if (n.kind == NodeKind::kInput) {
      out = input;
      continue;
    }
    const Dims in = m.nodes[n.inputs[0]].out;
    const std::vector<int8_t>& x = v[n.inputs[0]];
    const int32_t in_zp = m.q[n.inputs[0]].zero_point;
    const int32_t out_zp = m.q[i].zero_point;
    auto at = [&](int y, int xx, int c) {
      return (static_cast<int64_t>(y) * in.w + xx) * in.c + c;
    };
    auto put = [&](int y, int xx, int c, int32_t val) {
      out[(static_cast<int64_t>(y) * n.out.w + xx) * n.out.c + c] = static_cast<int8_t>(val);
    };
    switch (n.kind) {
      case NodeKind::kInput:
        break;
      case NodeKind::kConv:
        for (int oy = 0; oy < n.out.h; ++oy) {
          for (int ox = 0; ox < n.out.w; ++ox) {
            for (int oc = 0; oc < n.out.c; ++oc) {
              int32_t acc = n.bias[oc];
              ForWindow(n.conv, in, oy, ox, [&](int ky, int kx, int iy, int ix) {
                const int8_t* w = &n.weights[((static_cast<int64_t>(oc) * n.conv.kernel_h + ky) *
                                                  n.conv.kernel_w +
                                              kx) *
                                             in.c];
                const int8_t* xp = &x[at(iy, ix, 0)];
                for (int ic = 0; ic < in.c; ++ic) acc += (xp[ic] - in_zp) * w[ic];
              });
              put(oy, ox, oc,
                  Requantize(acc, n.multiplier[oc], n.shift[oc], out_zp, n.act_min, n.act_max));
            }
          }
        }
        break;
      case NodeKind::kDepthwiseConv:
        for (int oy = 0; oy < n.out.h; ++oy) {
          for (int ox = 0; ox < n.out.w; ++ox) {
            for (int c = 0; c < n.out.c; ++c) {
              int32_t acc = n.bias[c];
              ForWindow(n.conv, in, oy, ox, [&](int ky, int kx, int iy, int ix) {
                acc +=
                    (x[at(iy, ix, c / (n.out.c / in.c))] - in_zp) *
                    n.weights[(static_cast<int64_t>(c) * n.conv.kernel_h + ky) * n.conv.kernel_w +
                              kx];
              });
              put(oy, ox, c,
                  Requantize(acc, n.multiplier[c], n.shift[c], out_zp, n.act_min, n.act_max));
            }
          }
        }
        break;
      case NodeKind::kFullyConnected: {
        const int64_t k = in.size();
        for (int o = 0; o < n.out.c; ++o) {
          int32_t acc = n.bias[o];
          for (int64_t j = 0; j < k; ++j) acc += (x[j] - in_zp) * n.weights[o * k + j];
          out[o] = static_cast<int8_t>(
              Requantize(acc, n.multiplier[o], n.shift[o], out_zp, n.act_min, n.act_max));
        }
        break;
      }
      case NodeKind::kAvgPool:
      case NodeKind::kMaxPool:
        for (int oy = 0; oy < n.out.h; ++oy) {
          for (int ox = 0; ox < n.out.w; ++ox) {
            for (int c = 0; c < n.out.c; ++c) {
              int32_t sum = 0, best = -128, count = 0;
              ForWindow(n.conv, in, oy, ox, [&](int, int, int iy, int ix) {
                sum += x[at(iy, ix, c)];
                best = std::max<int32_t>(best, x[at(iy, ix, c)]);
                ++count;
              });
              const int32_t val =
                  n.kind == NodeKind::kMaxPool ? best : RoundedAverage(sum, std::max(count, 1));
              put(oy, ox, c, std::clamp(val, n.act_min, n.act_max));
            }
          }
        }
        break;
      case NodeKind::kGlobalAvgPool:
        for (int c = 0; c < in.c; ++c) {
          int32_t sum = 0;
          for (int p = 0; p < in.h * in.w; ++p) sum += x[static_cast<int64_t>(p) * in.c + c];
          out[c] = static_cast<int8_t>(
              std::clamp(RoundedAverage(sum, in.h * in.w), n.act_min, n.act_max));
        }
        break;
      case NodeKind::kAdd: {
        const std::vector<int8_t>& y = v[n.inputs[1]];
        const int32_t y_zp = m.q[n.inputs[1]].zero_point;
        for (size_t j = 0; j < out.size(); ++j) {
          const int32_t a = MultiplyByQuantizedMultiplier((x[j] - in_zp) * (1 << n.add_left_shift),
                                                          n.add_in1.multiplier, n.add_in1.shift);
          const int32_t b = MultiplyByQuantizedMultiplier((y[j] - y_zp) * (1 << n.add_left_shift),
                                                          n.add_in2.multiplier, n.add_in2.shift);
          out[j] = static_cast<int8_t>(
              Requantize(a + b, n.multiplier[0], n.shift[0], out_zp, n.act_min, n.act_max));
        }
        break;
      }
      case NodeKind::kMul: {
        const std::vector<int8_t>& y = v[n.inputs[1]];
        const int32_t y_zp = m.q[n.inputs[1]].zero_point;
        const bool broadcast = y.size() != out.size();
        for (size_t j = 0; j < out.size(); ++j) {
          const int32_t prod = (x[j] - in_zp) * (y[broadcast ? j % n.out.c : j] - y_zp);
          out[j] = static_cast<int8_t>(
              Requantize(prod, n.multiplier[0], n.shift[0], out_zp, n.act_min, n.act_max));
        }
        break;
      }
      case NodeKind::kLut:
        for (size_t j = 0; j < out.size(); ++j) out[j] = n.lut[x[j] + 128];
        break;
      case NodeKind::kLstm:
      case NodeKind::kGru:
        RunRecurrentInt8(n, in, in_zp, out_zp, x, out);
        break;
    }
  }
  return v;
}

std::vector<int8_t> RunInt8(const Int8Model& model, const std::vector<int8_t>& in) {
  return std::move(RunInt8All(model, in)[model.output]);
}

absl::Status Validate(const Int8Model& m) {
  if (m.nodes.empty() || m.nodes[0].kind != NodeKind::kInput) {
    return absl::InvalidArgumentError("model: node 0 must be the input");
  }
  if (m.output <= 0 || m.output >= static_cast<int>(m.nodes.size())) {
    return absl::InvalidArgumentError(absl::StrCat("model: bad output node ", m.output));
  }
  if (m.q.size() != m.nodes.size()) return absl::InvalidArgumentError("model: qparams per tensor");
  for (size_t i = 1; i < m.nodes.size(); ++i) {
    const Int8Node& n = m.nodes[i];
    const std::string where =
        absl::StrCat("node ", i, " (", n.name, ", ", NodeKindName(n.kind), ")");
    if (n.inputs.empty()) return absl::InvalidArgumentError(where + ": no inputs");
    for (int in : n.inputs) {
      if (in < 0 || in >= static_cast<int>(i)) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": reads node ", in));
      }
    }
    const Dims in = m.nodes[n.inputs[0]].out;
    int64_t want_w = 0;
    size_t want_ch = 0;
    switch (n.kind) {
      case NodeKind::kConv:
        want_w = static_cast<int64_t>(n.out.c) * n.conv.kernel_h * n.conv.kernel_w * in.c;
        want_ch = n.out.c;
        break;
      case NodeKind::kDepthwiseConv:
        if (n.out.c % in.c != 0) {
          return absl::InvalidArgumentError(where + ": depthwise output channels not a multiple");
        }
        want_w = static_cast<int64_t>(n.out.c) * n.conv.kernel_h * n.conv.kernel_w;
        want_ch = n.out.c;
        break;
      case NodeKind::kFullyConnected:
        want_w = in.size() * n.out.c;
        want_ch = n.out.c;
        break;
      case NodeKind::kLut:
        if (n.lut.size() != 256) return absl::InvalidArgumentError(where + ": table size");
        break;
      case NodeKind::kLstm:
      case NodeKind::kGru: {
        const int64_t rows = static_cast<int64_t>(RecurrentGates(n.kind)) * n.hidden;
        const Dims want = {1, n.return_sequence ? in.w : 1, n.hidden};
        if (in.h != 1 || n.hidden <= 0 || !(n.out == want)) {
          return absl::InvalidArgumentError(where + ": expects a {1, T, C} sequence and H outputs");
        }
        if (static_cast<int64_t>(n.recurrent_weights.size()) != rows * n.hidden ||
            static_cast<int64_t>(n.recurrent_bias.size()) != rows ||
            static_cast<int64_t>(n.recurrent_multiplier.size()) != rows ||
            static_cast<int64_t>(n.recurrent_shift.size()) != rows || n.cell_shift < 0 ||
            n.cell_shift > 30) {
          return absl::InvalidArgumentError(where + ": recurrent weight sizes do not match");
        }
        want_w = rows * in.c;
        want_ch = static_cast<size_t>(rows);
        break;
      }
      case NodeKind::kAdd:
      case NodeKind::kMul:
        if (n.inputs.size() != 2 || n.multiplier.size() != 1 || n.shift.size() != 1) {
          return absl::InvalidArgumentError(where + ": needs two inputs and one multiplier");
        }
        break;
      default:
        break;
    }
    if (want_ch > 0 &&
        (static_cast<int64_t>(n.weights.size()) != want_w || n.bias.size() != want_ch ||
         n.multiplier.size() != want_ch || n.shift.size() != want_ch)) {
      return absl::InvalidArgumentError(where + ": weight/bias/multiplier sizes do not match");
    }
    if (n.weight_bits != 8 && n.weight_bits != 4) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": weight_bits ", n.weight_bits, " (expected 8 or 4)"));
    }
    if (n.weight_bits == 4) {
      if (!PackedInt4(n)) {
        return absl::InvalidArgumentError(where +
                                          ": int4 weights only for conv and fully connected");
      }
      for (int8_t w : n.weights) {
        if (w < -7 || w > 7) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": int4 weight ", static_cast<int>(w), " outside [-7, 7]"));
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace hwnas::mcu

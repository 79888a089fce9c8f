#include "worker/dnas/temporal_supernet.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace hwnas::worker::dnas {
namespace {

using space::TemporalSpace;
constexpr int kConvDecisions = TemporalSpace::kConvDecisions;
constexpr int kRnnDecisions = TemporalSpace::kRnnDecisions;
// Token offsets inside a conv layer and a recurrent layer.
constexpr int kOp = 0, kKernel = 1, kDilation = 2, kChannels = 3, kPool = 4;
constexpr int kCell = 0, kHidden = 1;

// Flattened outer product of 1-D tensors (row-major, first is slowest).
torch::Tensor Outer(const std::vector<torch::Tensor>& v) {
  torch::Tensor p = v[0];
  for (size_t i = 1; i < v.size(); ++i) p = (p.unsqueeze(-1) * v[i].unsqueeze(0)).flatten();
  return p;
}

// Zero-pads dimension `dim` of x up to `width`.
torch::Tensor PadTo(const torch::Tensor& x, int dim, int64_t width) {
  const int64_t have = x.size(dim);
  if (have >= width) return x;
  std::vector<int64_t> shape = x.sizes().vec();
  shape[dim] = width - have;
  return torch::cat({x, torch::zeros(shape, x.options())}, dim);
}

// True when the weight is exactly 0 (one-hot weights: skip the candidate).
bool IsZero(const torch::Tensor& w) { return w.item<double>() == 0.0; }

}  // namespace

TemporalSupernetImpl::TemporalSupernetImpl(const TemporalSpace& space) : space_(space) {
  AddArchParameters(space.decisions());
  const TemporalSpace::Options& o = space.options();
  const int64_t in_channels = space.data_shape().input_shape[0];
  max_channels_ = *std::max_element(o.channels.begin(), o.channels.end());
  max_hidden_ = *std::max_element(o.hidden_sizes.begin(), o.hidden_sizes.end());
  conv_width_ = std::max(in_channels, max_channels_);
  rnn_width_ = o.rnn_layers > 0 ? std::max(conv_width_, max_hidden_) : conv_width_;
  torch::Tensor channel_masks =
      torch::zeros({static_cast<int64_t>(o.channels.size()), max_channels_});
  for (size_t c = 0; c < o.channels.size(); ++c)
    channel_masks[c].slice(0, 0, o.channels[c]).fill_(1);
  torch::Tensor hidden_masks =
      torch::zeros({static_cast<int64_t>(o.hidden_sizes.size()), max_hidden_});
  for (size_t h = 0; h < o.hidden_sizes.size(); ++h) {
    hidden_masks[h].slice(0, 0, o.hidden_sizes[h]).fill_(1);
  }
  channel_masks_ = register_buffer("channel_masks", channel_masks);
  hidden_masks_ = register_buffer("hidden_masks", hidden_masks);
  for (int i = 0; i < o.conv_layers; ++i) {
    ConvLayer layer;
    layer.in = i == 0 ? in_channels : conv_width_;
    for (int op = 0; op < 2; ++op) {
      for (int k : o.kernels) {
        for (int d : o.dilations) {
          ConvBody b;
          b.kernel = k;
          b.dilation = d;
          b.sep = op == 1;
          const std::string p = absl::StrCat("c", i, op == 0 ? "conv" : "sep", "k", k, "d", d);
          if (b.sep) {
            b.dw = register_parameter(p + "dw", torch::empty({layer.in, 1, k}));
            torch::nn::init::kaiming_normal_(b.dw, 0, torch::kFanOut, torch::kReLU);
            b.weight = register_parameter(p + "pw", torch::empty({max_channels_, layer.in, 1}));
          } else {
            b.weight = register_parameter(p + "w", torch::empty({max_channels_, layer.in, k}));
          }
          torch::nn::init::kaiming_normal_(b.weight, 0, torch::kFanOut, torch::kReLU);
          b.gamma = register_parameter(p + "g", torch::ones({max_channels_}));
          b.beta = register_parameter(p + "b", torch::zeros({max_channels_}));
          b.mean = register_buffer(p + "m", torch::zeros({max_channels_}));
          b.var = register_buffer(p + "v", torch::ones({max_channels_}));
          layer.bodies.push_back(std::move(b));
        }
      }
    }
    convs_.push_back(std::move(layer));
  }
  const double bound = 1.0 / std::sqrt(static_cast<double>(max_hidden_));
  for (int j = 0; j < o.rnn_layers; ++j) {
    std::array<Cell, 2> cells;
    for (int c = 0; c < 2; ++c) {
      const int64_t gates = (c == 0 ? 4 : 3) * max_hidden_;
      const std::string p = absl::StrCat("r", j, c == 0 ? "lstm" : "gru");
      auto make = [&](const std::string& name, std::vector<int64_t> shape) {
        return register_parameter(p + name, torch::empty(shape).uniform_(-bound, bound));
      };
      cells[c] = {make("wih", {gates, rnn_width_}), make("whh", {gates, max_hidden_}),
                  make("bih", {gates}), make("bhh", {gates})};
    }
    cells_.push_back(cells);
  }
  const int64_t classes = space.data_shape().num_classes;
  fc_weight_ = register_parameter("fc_w", torch::empty({classes, rnn_width_}));
  torch::nn::init::kaiming_uniform_(fc_weight_, std::sqrt(5.0));
  const double fc_bound = 1.0 / std::sqrt(static_cast<double>(rnn_width_));
  fc_bias_ = register_parameter("fc_b", torch::empty({classes}).uniform_(-fc_bound, fc_bound));
}

torch::Tensor TemporalSupernetImpl::Body(const torch::Tensor& x, const ConvBody& b) const {
  const int64_t pad = static_cast<int64_t>(b.dilation) * (b.kernel - 1) / 2;
  torch::Tensor h;
  if (b.sep) {
    h = torch::conv1d(x, b.dw, {}, 1, pad, b.dilation, x.size(1));
    h = torch::conv1d(h, b.weight);
  } else {
    h = torch::conv1d(x, b.weight, {}, 1, pad, b.dilation);
  }
  h = torch::batch_norm(h, b.gamma, b.beta, b.mean, b.var, is_training(), 0.1, 1e-5, false);
  return torch::relu(h);
}

torch::Tensor TemporalSupernetImpl::RunCell(const torch::Tensor& seq, const Cell& cell, bool lstm,
                                            const torch::Tensor& mask) const {
  const int64_t n = seq.size(0), steps = seq.size(1);
  // Input projections of every step at once; the recurrence runs step by
  // step so that the hidden mask applies inside it.
  const torch::Tensor xw = torch::linear(seq, cell.w_ih, cell.b_ih);
  torch::Tensor h = torch::zeros({n, max_hidden_}, seq.options());
  torch::Tensor c = h;
  std::vector<torch::Tensor> outs;
  outs.reserve(steps);
  for (int64_t t = 0; t < steps; ++t) {
    const torch::Tensor xt = xw.select(1, t);
    const torch::Tensor hw = torch::linear(h, cell.w_hh, cell.b_hh);
    if (lstm) {
      const std::vector<torch::Tensor> g = (xt + hw).chunk(4, 1);
      c = torch::sigmoid(g[1]) * c + torch::sigmoid(g[0]) * torch::tanh(g[2]);
      h = torch::sigmoid(g[3]) * torch::tanh(c) * mask;
    } else {
      const std::vector<torch::Tensor> gx = xt.chunk(3, 1), gh = hw.chunk(3, 1);
      const torch::Tensor r = torch::sigmoid(gx[0] + gh[0]);
      const torch::Tensor z = torch::sigmoid(gx[1] + gh[1]);
      const torch::Tensor cand = torch::tanh(gx[2] + r * gh[2]);
      h = ((1 - z) * cand + z * h) * mask;
    }
    outs.push_back(h);
  }
  return torch::stack(outs, 1);  // {N, T, max_hidden}.
}

torch::Tensor TemporalSupernetImpl::forward(const torch::Tensor& x, const DecisionWeights& w) {
  const TemporalSpace::Options& o = space_.options();
  const int n_k = static_cast<int>(o.kernels.size()), n_d = static_cast<int>(o.dilations.size());
  torch::Tensor h = x;  // {N, C or conv_width, T}.
  for (int i = 0; i < o.conv_layers; ++i) {
    const torch::Tensor* t = &w[i * kConvDecisions];
    const torch::Tensor& w_op = t[kOp];
    if (w_op[0].item<double>() == 1.0) continue;  // Exactly "none": the identity.
    const ConvLayer& layer = convs_[i];
    torch::Tensor y;
    for (int op = 0; op < 2; ++op) {
      for (int k = 0; k < n_k; ++k) {
        for (int d = 0; d < n_d; ++d) {
          const torch::Tensor weight = w_op[1 + op] * t[kKernel][k] * t[kDilation][d];
          if (IsZero(weight)) continue;
          const torch::Tensor term = weight * Body(h, layer.bodies[(op * n_k + k) * n_d + d]);
          y = y.defined() ? y + term : term;
        }
      }
    }
    const torch::Tensor mask = (t[kChannels].unsqueeze(1) * channel_masks_).sum(0).view({1, -1, 1});
    y = PadTo(y * mask, 1, conv_width_);
    torch::Tensor out = w_op[0] * PadTo(h, 1, conv_width_) + y;
    const torch::Tensor& w_pool = t[kPool];
    const int64_t choice = w_pool.argmax().item<int64_t>();
    if (choice == 1 && out.size(2) >= 2) out = torch::max_pool1d(out, 2, 2);
    // Value 1, gradient of the soft weight (straight-through).
    out = out * (w_pool[choice] - w_pool[choice].detach() + 1);
    h = out;
  }
  // {N, T', F}: batch-first sequence at the recurrent stack's width.
  torch::Tensor seq = PadTo(h, 1, rnn_width_).transpose(1, 2);
  const int rnn_offset = o.conv_layers * kConvDecisions;
  torch::Tensor no_cell = torch::ones({}, x.options());
  for (int j = 0; j < o.rnn_layers; ++j) {
    const torch::Tensor* t = &w[rnn_offset + j * kRnnDecisions];
    const torch::Tensor& w_cell = t[kCell];
    no_cell = no_cell * w_cell[0];
    if (w_cell[0].item<double>() == 1.0) continue;
    const torch::Tensor mask = (t[kHidden].unsqueeze(1) * hidden_masks_).sum(0);
    torch::Tensor out = w_cell[0] * seq;
    for (int c = 0; c < 2; ++c) {
      if (IsZero(w_cell[1 + c])) continue;
      out = out + w_cell[1 + c] * PadTo(RunCell(seq, cells_[j][c], c == 0, mask), 2, rnn_width_);
    }
    seq = out;
  }
  torch::Tensor features = seq.mean(1);
  if (o.rnn_layers > 0) {
    features = (1 - no_cell) * seq.select(1, seq.size(1) - 1) + no_cell * features;
  }
  features = torch::dropout(features, o.dropout, is_training());
  return torch::linear(features, fc_weight_, fc_bias_);
}

// ---------------------------------------------------------------------------
// Cost tables.

namespace {

// A token list whose layers before (conv_slot, rnn_slot) produce the state
// (f, p); nullopt when the space cannot produce it.
struct Prefix {
  std::vector<int> tokens;
  int conv_slot = 0, rnn_slot = 0;
};

std::optional<Prefix> MakePrefix(const TemporalSpace& space, int f, int p) {
  const TemporalSpace::Options& o = space.options();
  const int nc = static_cast<int>(o.channels.size());
  const int rnn_offset = o.conv_layers * kConvDecisions;
  Prefix x;
  x.tokens.assign(space.decisions().size(), 0);
  if (f == 0) {
    if (p != 0) return std::nullopt;
  } else if (f <= nc) {
    const int n = std::max(p, 1);
    if (n > o.conv_layers) return std::nullopt;
    for (int s = 0; s < n; ++s) {
      int* t = &x.tokens[s * kConvDecisions];
      t[kOp] = 1;
      t[kChannels] = s == n - 1 ? f - 1 : 0;
      t[kPool] = s < p ? 1 : 0;
    }
    x.conv_slot = n;
  } else {
    if (o.rnn_layers < 1 || p > o.conv_layers) return std::nullopt;
    for (int s = 0; s < p; ++s) {
      x.tokens[s * kConvDecisions + kOp] = 1;
      x.tokens[s * kConvDecisions + kPool] = 1;
    }
    x.conv_slot = p;
    x.tokens[rnn_offset + kCell] = 1;
    x.tokens[rnn_offset + kHidden] = f - 1 - nc;
    x.rnn_slot = 1;
  }
  if (!space.Validate(x.tokens).ok()) return std::nullopt;  // Too few steps for p pools.
  return x;
}

struct Sums {
  double latency_ms = 0, flash = 0, live = 0, scratch = 0;
};

}  // namespace

absl::StatusOr<TemporalCostTables> BuildTemporalCostTables(const TemporalSpace& space,
                                                           const LatencySource& source,
                                                           std::optional<int> activation_bits) {
  LatencySource src = source;
  if (src.mcu) src.mcu->deployed.present = false;  // Op formulas (see cost_tables.h).
  const TemporalSpace::Options& o = space.options();
  const int nk = static_cast<int>(o.kernels.size()), nd = static_cast<int>(o.dilations.size());
  const int nc = static_cast<int>(o.channels.size()), nh = static_cast<int>(o.hidden_sizes.size());
  const int rnn_offset = o.conv_layers * kConvDecisions;
  TemporalCostTables t;
  t.target = src.target_name;
  t.features = 1 + nc + nh;
  t.pools = o.conv_layers + 1;
  t.conv_choices = 2 * nk * nd * nc * 2;
  t.rnn_choices = 2 * 2 * nh;
  const int states = t.features * t.pools;
  for (TemporalCostTables::Kind* k :
       {&t.latency_ms, &t.flash_bytes, &t.live_bytes, &t.scratch_bytes}) {
    k->conv.assign(static_cast<size_t>(states) * t.conv_choices, 0);
    k->rnn.assign(static_cast<size_t>(states) * t.rnn_choices, 0);
    k->head.assign(states, 0);
  }
  if (source.mcu) {
    t.sram_limit_bytes = source.mcu->sram_bytes;
    t.flash_limit_bytes = source.mcu->flash_bytes;
    t.runtime_sram_bytes = source.mcu->runtime_sram_bytes;
    t.runtime_flash_bytes = source.mcu->runtime_flash_bytes;
  }
  // Time steps after p pools, and where a pool leads.
  std::vector<int64_t> steps(t.pools);
  steps[0] = space.data_shape().input_shape[1];
  for (int p = 1; p < t.pools; ++p) steps[p] = steps[p - 1] / 2;
  t.pool_next.resize(t.pools);
  for (int p = 0; p < t.pools; ++p) {
    t.pool_next[p] = steps[p] >= 2 && p + 1 < t.pools ? p + 1 : p;
  }

  // Lowers `tokens` and sums the costs of the ops `mine` selects.
  auto costs = [&](const std::vector<int>& tokens,
                   const std::function<bool(const std::string&)>& mine,
                   bool base) -> absl::StatusOr<Sums> {
    HWNAS_ASSIGN_OR_RETURN(space::NetworkPlan plan, space.Lower(tokens));
    if (activation_bits) plan.activation_bits = *activation_bits;
    HWNAS_ASSIGN_OR_RETURN(OpCosts c, PerOpCosts(plan, src));
    Sums s;
    if (base) s.latency_ms = c.base_latency_ms;
    for (size_t i = 0; i < plan.ops.size(); ++i) {
      if (!mine(plan.ops[i].name)) continue;
      s.latency_ms += c.latency_ms[i];
      s.flash += c.flash[i];
      s.live = std::max(s.live, c.live[i]);
      s.scratch = std::max(s.scratch, c.scratch[i]);
    }
    return s;
  };
  auto store = [&](std::vector<double> TemporalCostTables::Kind::*table, size_t index,
                   const Sums& s) {
    (t.latency_ms.*table)[index] = s.latency_ms;
    (t.flash_bytes.*table)[index] = s.flash;
    (t.live_bytes.*table)[index] = s.live;
    (t.scratch_bytes.*table)[index] = s.scratch;
  };
  auto scoped = [](std::string scope) {
    return [scope = std::move(scope)](const std::string& name) {
      return absl::StartsWith(name, scope);
    };
  };
  auto is_layer = [](const std::string& name) {
    for (absl::string_view kind : {"conv", "rnn"}) {
      if (absl::StartsWith(name, kind) && name.size() > kind.size() && name[kind.size()] >= '0' &&
          name[kind.size()] <= '9') {
        return true;
      }
    }
    return false;
  };

  for (int f = 0; f < t.features; ++f) {
    for (int p = 0; p < t.pools; ++p) {
      const std::optional<Prefix> prefix = MakePrefix(space, f, p);
      if (!prefix) continue;
      const size_t state = static_cast<size_t>(f) * t.pools + p;
      // Conv layers: the next conv slot, with every choice.
      if (f <= nc && prefix->conv_slot < o.conv_layers) {
        const auto mine = scoped(absl::StrCat("conv", prefix->conv_slot + 1, "."));
        int choice = 0;
        for (int op = 0; op < 2; ++op)
          for (int k = 0; k < nk; ++k)
            for (int d = 0; d < nd; ++d)
              for (int c = 0; c < nc; ++c)
                for (int pool = 0; pool < 2; ++pool, ++choice) {
                  std::vector<int> tokens = prefix->tokens;
                  int* tl = &tokens[prefix->conv_slot * kConvDecisions];
                  tl[kOp] = 1 + op;
                  tl[kKernel] = k;
                  tl[kDilation] = d;
                  tl[kChannels] = c;
                  // Fewer than 2 steps: the layer cannot pool (nor does the
                  // supernet's forward pass).
                  tl[kPool] = pool == 1 && t.pool_next[p] != p ? 1 : 0;
                  HWNAS_ASSIGN_OR_RETURN(Sums s, costs(tokens, mine, false));
                  store(&TemporalCostTables::Kind::conv, state * t.conv_choices + choice, s);
                }
      }
      // Recurrent layers: the next cell slot, as the last cell or followed
      // by another.
      if (prefix->rnn_slot < o.rnn_layers) {
        const auto mine = scoped(absl::StrCat("rnn", prefix->rnn_slot + 1, "."));
        int choice = 0;
        for (int later = 0; later < 2; ++later)
          for (int cell = 0; cell < 2; ++cell)
            for (int hidden = 0; hidden < nh; ++hidden, ++choice) {
              if (later == 1 && prefix->rnn_slot + 1 >= o.rnn_layers) continue;
              std::vector<int> tokens = prefix->tokens;
              int* tr = &tokens[rnn_offset + prefix->rnn_slot * kRnnDecisions];
              tr[kCell] = 1 + cell;
              tr[kHidden] = hidden;
              if (later == 1) tr[kRnnDecisions + kCell] = 1;
              HWNAS_ASSIGN_OR_RETURN(Sums s, costs(tokens, mine, false));
              store(&TemporalCostTables::Kind::rnn, state * t.rnn_choices + choice, s);
            }
      }
      // The rest (input, head) after this final state.
      HWNAS_ASSIGN_OR_RETURN(
          Sums s,
          costs(
              prefix->tokens, [&](const std::string& name) { return !is_layer(name); }, true));
      store(&TemporalCostTables::Kind::head, state, s);
    }
  }
  return t;
}

TemporalCostModel::TemporalCostModel(TemporalCostTables tables, const TemporalSpace& space)
    : tables_(std::move(tables)), space_(space) {
  auto tensor = [](const std::vector<double>& v, std::vector<int64_t> shape) {
    return torch::tensor(v, torch::kDouble).view(shape);
  };
  const int64_t states = static_cast<int64_t>(tables_.features) * tables_.pools;
  const TemporalCostTables::Kind* kinds[4] = {&tables_.latency_ms, &tables_.flash_bytes,
                                              &tables_.live_bytes, &tables_.scratch_bytes};
  for (int k = 0; k < 4; ++k) {
    conv_[k] = tensor(kinds[k]->conv, {states, tables_.conv_choices});
    rnn_[k] = tensor(kinds[k]->rnn, {states, tables_.rnn_choices});
    head_[k] = tensor(kinds[k]->head, {states});
  }
  shift_ = torch::zeros({tables_.pools, tables_.pools}, torch::kDouble);
  for (int p = 0; p < tables_.pools; ++p) shift_[p][tables_.pool_next[p]] = 1.0;
}

ExpectedCosts TemporalCostModel::Run(const DecisionWeights& w_in,
                                     torch::Tensor* final_state) const {
  std::vector<torch::Tensor> w;
  for (const torch::Tensor& t : w_in) w.push_back(t.to(torch::kDouble));
  const TemporalSpace::Options& o = space_.options();
  const int64_t nc = static_cast<int64_t>(o.channels.size());
  const int64_t nh = static_cast<int64_t>(o.hidden_sizes.size());
  const int64_t states = static_cast<int64_t>(tables_.features) * tables_.pools;
  const auto dbl = torch::TensorOptions().dtype(torch::kDouble);
  torch::Tensor state = torch::zeros({tables_.features, tables_.pools}, dbl);
  state[0][0] = 1.0;  // Before the first layer: the input's channels, no pool.
  torch::Tensor sum[2] = {torch::zeros({}, dbl), torch::zeros({}, dbl)};   // Latency, flash.
  torch::Tensor peak[2] = {torch::zeros({}, dbl), torch::zeros({}, dbl)};  // Live, scratch.
  auto add = [&](const torch::Tensor& joint, const torch::Tensor* table) {
    for (int k = 0; k < 2; ++k) sum[k] = sum[k] + (joint * table[k]).sum();
    for (int k = 0; k < 2; ++k) peak[k] = torch::maximum(peak[k], (joint * table[2 + k]).sum());
  };
  for (int i = 0; i < o.conv_layers; ++i) {
    const torch::Tensor* t = &w[i * kConvDecisions];
    const torch::Tensor exists = t[kOp].slice(0, 1, 3);
    const torch::Tensor q = Outer({exists, t[kKernel], t[kDilation], t[kChannels], t[kPool]});
    add(state.reshape({states, 1}) * q.unsqueeze(0), conv_);
    const torch::Tensor pools = state.sum(0);
    const torch::Tensor moved = t[kPool][0] * pools + t[kPool][1] * torch::matmul(pools, shift_);
    const torch::Tensor width =
        torch::cat({torch::zeros({1}, dbl), t[kChannels], torch::zeros({nh}, dbl)});
    state = t[kOp][0] * state + exists.sum() * torch::outer(width, moved);
  }
  const int rnn_offset = o.conv_layers * kConvDecisions;
  for (int j = 0; j < o.rnn_layers; ++j) {
    const torch::Tensor* t = &w[rnn_offset + j * kRnnDecisions];
    // P(no later cell exists): this cell is then the last and returns its
    // final hidden state only.
    torch::Tensor last = torch::ones({}, dbl);
    for (int l = j + 1; l < o.rnn_layers; ++l) {
      last = last * w[rnn_offset + l * kRnnDecisions + kCell][0];
    }
    const torch::Tensor exists = t[kCell].slice(0, 1, 3);
    const torch::Tensor q = Outer({torch::stack({last, 1 - last}), exists, t[kHidden]});
    add(state.reshape({states, 1}) * q.unsqueeze(0), rnn_);
    const torch::Tensor width = torch::cat({torch::zeros({1 + nc}, dbl), t[kHidden]});
    state = t[kCell][0] * state + exists.sum() * torch::outer(width, state.sum(0));
  }
  add(state.reshape({states}), head_);
  if (final_state != nullptr) *final_state = state;
  return {sum[0], sum[1] + static_cast<double>(tables_.runtime_flash_bytes),
          peak[0] + peak[1] + static_cast<double>(tables_.runtime_sram_bytes)};
}

ExpectedCosts TemporalCostModel::Expected(const DecisionWeights& w) const {
  return Run(w, nullptr);
}

torch::Tensor TemporalCostModel::FinalState(const DecisionWeights& w) const {
  torch::Tensor state;
  Run(w, &state);
  return state;
}

OneHotCosts TemporalCostModel::CostsOf(absl::Span<const int> tokens) const {
  torch::NoGradGuard no_grad;
  DecisionWeights w;
  const auto& decisions = space_.decisions();
  for (size_t d = 0; d < decisions.size(); ++d) {
    torch::Tensor v = torch::zeros({static_cast<int64_t>(decisions[d].choices.size())});
    v[tokens[d]] = 1;
    w.push_back(v);
  }
  const ExpectedCosts e = Expected(w);
  return {e.latency_ms.item<double>(), e.flash_bytes.item<double>(), e.sram_bytes.item<double>()};
}

}  // namespace hwnas::worker::dnas

#include "worker/dnas/supernet.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "worker/plan_net.h"

namespace hwnas::worker::dnas {
namespace {

using space::MnasnetSpace;
constexpr int kPerBlock = MnasnetSpace::kDecisionsPerBlock;
constexpr int kCandidates = 10;  // 5 ops x 2 kernels.
constexpr int kKernels[2] = {3, 5};
constexpr double kSeRatio = 0.25;

// Flattened outer product of 1-D tensors (row-major, first is slowest).
torch::Tensor Outer(const std::vector<torch::Tensor>& v) {
  torch::Tensor p = v[0];
  for (size_t i = 1; i < v.size(); ++i) p = (p.unsqueeze(-1) * v[i].unsqueeze(0)).flatten();
  return p;
}

}  // namespace

struct SupernetImpl::Layer {
  struct Candidate {
    int expand = -1, dw = -1, main = -1;  // Units; `main` is conv / pointwise / project.
    torch::Tensor se_reduce, se_reduce_bias, se_expand, se_expand_bias;
  };
  int64_t in = 0, out = 0;
  int stride = 1;
  bool can_skip = false;
  Candidate cands[kCandidates];
};

struct SupernetImpl::Block {
  std::vector<Layer> layers;
  int layer_counts[3] = {1, 1, 1};
  torch::Tensor masks;  // {3, Cmax}: mask of each width choice.
};

SupernetImpl::SupernetImpl(const MnasnetSpace& space) : space_(space) {
  const space::Shape& in_shape = space.data_shape().input_shape;
  dims_ = in_shape.size() == 3 ? 2 : 1;
  const MnasnetSpace::Options& o = space.options();
  const int n_blocks = static_cast<int>(o.blocks.size());
  const auto& decisions = space.decisions();
  AddArchParameters(decisions);
  // Channel counts of each width choice: decode all-w architectures.
  std::vector<std::array<int64_t, 3>> channels(n_blocks);
  for (int w = 0; w < 3; ++w) {
    std::vector<int> tokens(decisions.size(), 0);
    for (int b = 0; b < n_blocks; ++b) tokens[b * kPerBlock + MnasnetSpace::kWidth] = w;
    const MnasnetSpace::Arch arch = *space.Decode(tokens);
    for (int b = 0; b < n_blocks; ++b) channels[b][w] = arch.blocks[b].out_channels;
  }
  stem_ = AddConvBn(in_shape[0], o.stem_filters, 3, 1);
  int64_t in = o.stem_filters;
  for (int b = 0; b < n_blocks; ++b) {
    auto block = std::make_shared<Block>();
    const space::Decision& layers_decision = decisions[b * kPerBlock + MnasnetSpace::kLayers];
    int max_layers = 1;
    for (int t = 0; t < 3; ++t) {
      int count = 1;
      (void)absl::SimpleAtoi(layers_decision.choices[t], &count);
      block->layer_counts[t] = count;
      max_layers = std::max(max_layers, count);
    }
    const int64_t cmax = *std::max_element(channels[b].begin(), channels[b].end());
    block->masks = torch::zeros({3, cmax});
    for (int w = 0; w < 3; ++w) block->masks[w].slice(0, 0, channels[b][w]).fill_(1);
    for (int l = 0; l < max_layers; ++l) {
      Layer layer;
      layer.in = l == 0 ? in : cmax;
      layer.out = cmax;
      layer.stride = l == 0 ? o.blocks[b].stride : 1;
      layer.can_skip = layer.stride == 1 && layer.in == layer.out;
      for (int c = 0; c < kCandidates; ++c) {
        const int op = c / 2, k = kKernels[c % 2];
        Layer::Candidate& cand = layer.cands[c];
        int64_t se_channels = layer.in;
        if (op == 0) {  // conv
          cand.main = AddConvBn(layer.in, layer.out, k, 1);
          se_channels = layer.out;
        } else if (op == 1) {  // dwsep
          cand.dw = AddConvBn(layer.in, layer.in, k, static_cast<int>(layer.in));
          cand.main = AddConvBn(layer.in, layer.out, 1, 1);
        } else {  // mbconv 1 / 3 / 6
          const int expand = op == 2 ? 1 : op == 3 ? 3 : 6;
          const int64_t mid = layer.in * expand;
          if (expand != 1) cand.expand = AddConvBn(layer.in, mid, 1, 1);
          cand.dw = AddConvBn(mid, mid, k, static_cast<int>(mid));
          cand.main = AddConvBn(mid, layer.out, 1, 1);
          se_channels = mid;
        }
        const int64_t squeezed =
            std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(layer.in) * kSeRatio));
        std::vector<int64_t> rs = {squeezed, se_channels, 1}, es = {se_channels, squeezed, 1};
        if (dims_ == 2) rs.push_back(1), es.push_back(1);
        const std::string p = absl::StrCat("b", b, "l", l, "c", c, "se");
        cand.se_reduce = register_parameter(p + "r", torch::empty(rs));
        cand.se_expand = register_parameter(p + "e", torch::empty(es));
        torch::nn::init::kaiming_uniform_(cand.se_reduce, std::sqrt(5.0));
        torch::nn::init::kaiming_uniform_(cand.se_expand, std::sqrt(5.0));
        cand.se_reduce_bias = register_parameter(p + "rb", torch::zeros({squeezed}));
        cand.se_expand_bias = register_parameter(p + "eb", torch::zeros({se_channels}));
      }
      block->layers.push_back(std::move(layer));
    }
    blocks_.push_back(block);
    in = cmax;
  }
  int64_t features = in;
  if (o.head_filters > 0) {
    head_ = AddConvBn(in, o.head_filters, 1, 1);
    features = o.head_filters;
  }
  const int64_t classes = space.data_shape().num_classes;
  fc_weight_ = register_parameter("fc_w", torch::empty({classes, features}));
  torch::nn::init::kaiming_uniform_(fc_weight_, std::sqrt(5.0));
  const double bound = 1.0 / std::sqrt(static_cast<double>(features));
  fc_bias_ = register_parameter("fc_b", torch::empty({classes}).uniform_(-bound, bound));
}

int SupernetImpl::AddConvBn(int64_t in, int64_t out, int kernel, int groups) {
  ConvBnUnit u;
  std::vector<int64_t> shape = {out, in / groups, kernel};
  if (dims_ == 2) shape.push_back(kernel);
  const std::string p = absl::StrCat("u", units_.size());
  u.weight = register_parameter(p + "w", torch::empty(shape));
  torch::nn::init::kaiming_normal_(u.weight, 0, torch::kFanOut, torch::kReLU);
  u.gamma = register_parameter(p + "g", torch::ones({out}));
  u.beta = register_parameter(p + "b", torch::zeros({out}));
  u.mean = register_buffer(p + "m", torch::zeros({out}));
  u.var = register_buffer(p + "v", torch::ones({out}));
  u.groups = groups;
  u.kernel = kernel;
  units_.push_back(std::move(u));
  return static_cast<int>(units_.size()) - 1;
}

torch::Tensor SupernetImpl::Conv(const torch::Tensor& x, const torch::Tensor& w,
                                 const torch::Tensor& bias, int stride, int groups,
                                 const torch::Tensor* bits) const {
  torch::Tensor weight = w;
  if (bits != nullptr) {
    weight = (*bits)[0] * w + (*bits)[1] * FakeQuantizePerChannel(w, 127) +
             (*bits)[2] * FakeQuantizePerChannel(w, 7);
  }
  const int64_t k = w.size(2);
  const int64_t pad = (k - 1) / 2;
  if (dims_ == 2) return torch::conv2d(x, weight, bias, stride, pad, 1, groups);
  return torch::conv1d(x, weight, bias, stride, pad, 1, groups);
}

torch::Tensor SupernetImpl::ConvBn(const torch::Tensor& x, int index, int stride, bool relu,
                                   const torch::Tensor* bits) const {
  const ConvBnUnit& u = units_[index];
  torch::Tensor y = Conv(x, u.weight, {}, stride, u.groups, bits);
  y = torch::batch_norm(y, u.gamma, u.beta, u.mean, u.var, is_training(), 0.1, 1e-5, false);
  return relu ? torch::relu(y) : y;
}

torch::Tensor SupernetImpl::Body(const torch::Tensor& x, const Layer& layer, int candidate,
                                 int stride, const torch::Tensor& w_se,
                                 const torch::Tensor* bits) const {
  const Layer::Candidate& c = layer.cands[candidate];
  const int op = candidate / 2;
  auto se = [&](const torch::Tensor& h) {
    std::vector<int64_t> spatial = {2};
    if (dims_ == 2) spatial.push_back(3);
    torch::Tensor s = h.mean(spatial, /*keepdim=*/true);
    s = torch::relu(Conv(s, c.se_reduce, c.se_reduce_bias, 1, 1, bits));
    s = torch::sigmoid(Conv(s, c.se_expand, c.se_expand_bias, 1, 1, bits));
    return h * (w_se[0] + w_se[1] * s);
  };
  if (op == 0) return se(ConvBn(x, c.main, stride, true, bits));
  if (op == 1) {
    torch::Tensor h = se(ConvBn(x, c.dw, stride, true, bits));
    return ConvBn(h, c.main, 1, true, bits);
  }
  torch::Tensor h = x;
  if (c.expand >= 0) h = ConvBn(h, c.expand, 1, true, bits);
  h = se(ConvBn(h, c.dw, stride, true, bits));
  return ConvBn(h, c.main, 1, false, bits);
}

torch::Tensor SupernetImpl::forward(const torch::Tensor& x_in, const DecisionWeights& w) {
  const MnasnetSpace::Options& o = space_.options();
  const torch::Tensor* bits = o.quantize ? &w.back() : nullptr;
  torch::Tensor x = ConvBn(x_in, stem_, o.stem_stride, true, bits);
  for (size_t b = 0; b < blocks_.size(); ++b) {
    const Block& block = *blocks_[b];
    const torch::Tensor& w_op = w[b * kPerBlock + MnasnetSpace::kOp];
    const torch::Tensor& w_kernel = w[b * kPerBlock + MnasnetSpace::kKernel];
    const torch::Tensor& w_se = w[b * kPerBlock + MnasnetSpace::kSe];
    const torch::Tensor& w_skip = w[b * kPerBlock + MnasnetSpace::kSkip];
    const torch::Tensor& w_width = w[b * kPerBlock + MnasnetSpace::kWidth];
    const torch::Tensor& w_layers = w[b * kPerBlock + MnasnetSpace::kLayers];
    torch::Tensor mask = (w_width.unsqueeze(1) * block.masks).sum(0);
    mask = dims_ == 2 ? mask.view({1, -1, 1, 1}) : mask.view({1, -1, 1});
    torch::Tensor out;
    torch::Tensor h = x;
    for (size_t l = 0; l < block.layers.size(); ++l) {
      const Layer& layer = block.layers[l];
      torch::Tensor y;
      for (int c = 0; c < kCandidates; ++c) {
        torch::Tensor term =
            (w_op[c / 2] * w_kernel[c % 2]) * Body(h, layer, c, layer.stride, w_se, bits);
        y = y.defined() ? y + term : term;
      }
      if (layer.can_skip) y = y + w_skip[1] * h;
      h = y * mask;
      for (int t = 0; t < 3; ++t) {
        if (block.layer_counts[t] != static_cast<int>(l) + 1) continue;
        torch::Tensor term = w_layers[t] * h;
        out = out.defined() ? out + term : term;
      }
    }
    x = out;
  }
  if (head_ >= 0) x = ConvBn(x, head_, 1, true, bits);
  x = x.flatten(2).mean(2);
  x = torch::dropout(x, o.dropout, is_training());
  torch::Tensor fc = fc_weight_;
  if (bits != nullptr) {
    fc = (*bits)[0] * fc_weight_ + (*bits)[1] * FakeQuantizePerChannel(fc_weight_, 127) +
         (*bits)[2] * FakeQuantizePerChannel(fc_weight_, 7);
  }
  return torch::linear(x, fc, fc_bias_);
}

void SupernetBase::AddArchParameters(const std::vector<space::Decision>& decisions) {
  for (size_t d = 0; d < decisions.size(); ++d) {
    theta_.push_back(
        register_parameter(absl::StrCat("theta", d),
                           torch::zeros({static_cast<int64_t>(decisions[d].choices.size())})));
  }
}

std::vector<torch::Tensor> SupernetBase::weight_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& item : named_parameters()) {
    if (item.key().rfind("theta", 0) == 0) continue;
    out.push_back(item.value());
  }
  return out;
}

DecisionWeights SupernetBase::Probabilities() const {
  torch::NoGradGuard no_grad;
  DecisionWeights w;
  for (const torch::Tensor& t : theta_) w.push_back(torch::softmax(t, 0));
  return w;
}

DecisionWeights SupernetBase::Sample(double tau) const {
  DecisionWeights w;
  for (const torch::Tensor& t : theta_) {
    torch::Tensor u = torch::rand_like(t).clamp(1e-10, 1.0 - 1e-7);
    torch::Tensor g = -torch::log(-torch::log(u));
    w.push_back(torch::softmax((t + g) / tau, 0));
  }
  return w;
}

DecisionWeights SupernetBase::OneHot(absl::Span<const int> tokens) const {
  DecisionWeights w;
  for (size_t d = 0; d < theta_.size(); ++d) {
    torch::Tensor v = torch::zeros_like(theta_[d]);
    v[tokens[d]] = 1;
    w.push_back(v);
  }
  return w;
}

std::vector<int> SupernetBase::Argmax() const {
  std::vector<int> tokens;
  for (const torch::Tensor& t : theta_)
    tokens.push_back(static_cast<int>(t.argmax().item<int64_t>()));
  return tokens;
}

CostModel::CostModel(const CostTables& tables, const MnasnetSpace& space)
    : tables_(tables), quantize_(space.options().quantize) {
  auto tensor = [](const std::vector<double>& v) { return torch::tensor(v, torch::kDouble); };
  for (int b = 0; b < tables_.blocks(); ++b) {
    latency_.push_back(tensor(tables_.latency_ms[b]));
    flash_.push_back(tensor(tables_.flash_bytes[b]));
    peak_.push_back(tensor(tables_.peak_bytes[b]));
  }
  auto rest = [&](const std::array<std::array<double, 3>, 3>& r) {
    std::vector<double> flat;
    for (const auto& row : r) flat.insert(flat.end(), row.begin(), row.end());
    return tensor(flat).view({3, 3});
  };
  rest_latency_ = rest(tables_.rest_latency_ms);
  rest_flash_ = rest(tables_.rest_flash_bytes);
  rest_peak_ = rest(tables_.rest_peak_bytes);
}

ExpectedCosts CostModel::Expected(const DecisionWeights& w_in) const {
  std::vector<torch::Tensor> w;
  for (const torch::Tensor& t : w_in) w.push_back(t.to(torch::kDouble));
  const torch::Tensor bits = quantize_ ? w.back() : torch::tensor({1.0, 0.0, 0.0}, torch::kDouble);
  const torch::Tensor first_prev = torch::tensor({1.0, 0.0, 0.0}, torch::kDouble);
  torch::Tensor latency = torch::zeros({}, torch::kDouble);
  torch::Tensor flash = torch::zeros({}, torch::kDouble);
  torch::Tensor peak = torch::zeros({}, torch::kDouble);
  const int blocks = tables_.blocks();
  for (int b = 0; b < blocks; ++b) {
    const torch::Tensor* t = &w[b * kPerBlock];
    const torch::Tensor& prev = b == 0 ? first_prev : w[(b - 1) * kPerBlock + MnasnetSpace::kWidth];
    const torch::Tensor p =
        Outer({bits, t[MnasnetSpace::kOp], t[MnasnetSpace::kKernel], t[MnasnetSpace::kSe],
               t[MnasnetSpace::kSkip], prev, t[MnasnetSpace::kWidth], t[MnasnetSpace::kLayers]});
    latency = latency + (p * latency_[b]).sum();
    flash = flash + (p * flash_[b]).sum();
    peak = torch::maximum(peak, (p * peak_[b]).sum());
  }
  const torch::Tensor last = w[(blocks - 1) * kPerBlock + MnasnetSpace::kWidth];
  const torch::Tensor rest = Outer({bits, last});
  latency = latency + (rest * rest_latency_.flatten()).sum();
  flash = flash + (rest * rest_flash_.flatten()).sum() +
          static_cast<double>(tables_.runtime_flash_bytes);
  peak = torch::maximum(peak, (rest * rest_peak_.flatten()).sum()) +
         static_cast<double>(tables_.runtime_sram_bytes);
  return {latency, flash, peak};
}

torch::Tensor DnasLoss(const torch::Tensor& ce, const ExpectedCosts& costs,
                       const CostTables& tables, double alpha, double beta, double memory_penalty) {
  return DnasLoss(ce, costs, tables.sram_limit_bytes, tables.flash_limit_bytes, alpha, beta,
                  memory_penalty);
}

torch::Tensor DnasLoss(const torch::Tensor& ce, const ExpectedCosts& costs,
                       int64_t sram_limit_bytes, int64_t flash_limit_bytes, double alpha,
                       double beta, double memory_penalty) {
  const torch::Tensor lat_us = (costs.latency_ms * 1000.0).clamp_min(std::exp(1.0));
  torch::Tensor factor = alpha * torch::pow(torch::log(lat_us), beta);
  torch::Tensor loss = ce * factor.to(ce.scalar_type());
  torch::Tensor penalty = torch::zeros({}, torch::kDouble);
  if (sram_limit_bytes > 0) {
    penalty = penalty + torch::relu(costs.sram_bytes / static_cast<double>(sram_limit_bytes) - 1.0);
  }
  if (flash_limit_bytes > 0) {
    penalty =
        penalty + torch::relu(costs.flash_bytes / static_cast<double>(flash_limit_bytes) - 1.0);
  }
  return loss + (memory_penalty * penalty).to(ce.scalar_type());
}

}  // namespace hwnas::worker::dnas

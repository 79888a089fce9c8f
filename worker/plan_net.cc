#include "worker/plan_net.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/op_profile.h"

namespace hwnas::worker {

using space::OpType;

std::string ExceptionMessage(const std::exception& e) {
  // LibTorch errors carry a C++ backtrace in what(); users need the message.
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

torch::Tensor FakeQuantizePerChannel(const torch::Tensor& w, int quant_max) {
  torch::Tensor scale;
  {
    torch::NoGradGuard no_grad;
    scale = (w.detach().abs().flatten(1).amax(1) / static_cast<double>(quant_max))
                .clamp_min(1e-12)
                .to(torch::kFloat);
  }
  torch::Tensor zero_point = torch::zeros({w.size(0)}, w.options().dtype(torch::kInt));
  // Symmetric range [-qmax, qmax]; the fused op's gradient is the identity
  // inside the range (everything, as the scale comes from the max).
  return torch::fake_quantize_per_channel_affine(w, scale, zero_point, /*axis=*/0, -quant_max,
                                                 quant_max);
}

PlanNetImpl::PlanNetImpl(space::NetworkPlan plan) : plan_(std::move(plan)) {
  const auto& ops = plan_.ops;
  TORCH_CHECK(!ops.empty() && ops[0].type == OpType::kInput, "plan has no input op");
  TORCH_CHECK(plan_.output > 0 && plan_.output < static_cast<int>(ops.size()),
              "plan has no output op");
  nodes_.resize(ops.size());
  std::vector<int> last_use(ops.size(), -1);
  for (size_t i = 0; i < ops.size(); ++i) {
    const space::Op& op = ops[i];
    Node& n = nodes_[i];
    n.type = op.type;
    n.inputs = op.inputs;
    for (int in : op.inputs) {
      TORCH_CHECK(in >= 0 && in < static_cast<int>(i), "op ", i, " (", op.name, ") reads op ", in,
                  ", which does not come before it");
      last_use[in] = static_cast<int>(i);
    }
    if (op.weight_bits == 8 || op.weight_bits == 4) {
      n.quant_max = (1 << (op.weight_bits - 1)) - 1;
    } else {
      TORCH_CHECK(op.weight_bits == 32 || op.weight_bits == 16, "op ", op.name,
                  ": unsupported weight_bits ", op.weight_bits);
    }
    const std::string prefix = absl::StrCat("op", i, "_");
    switch (op.type) {
      case OpType::kConv: {
        TORCH_CHECK(op.dims == 1 || op.dims == 2, "op ", op.name, ": conv dims ", op.dims);
        TORCH_CHECK(op.groups >= 1 && op.in_channels % op.groups == 0, "op ", op.name,
                    ": bad groups");
        std::vector<int64_t> shape = {op.out_channels, op.in_channels / op.groups};
        if (op.dims == 2) shape.push_back(op.kernel_h);
        shape.push_back(op.kernel_w);
        torch::Tensor w = torch::empty(shape);
        torch::nn::init::kaiming_normal_(w, 0, torch::kFanOut, torch::kReLU);
        n.weight = register_parameter(prefix + "weight", w);
        if (op.bias) n.bias = register_parameter(prefix + "bias", torch::zeros({op.out_channels}));
        break;
      }
      case OpType::kLinear: {
        const double bound = 1.0 / std::sqrt(static_cast<double>(op.in_channels));
        n.weight = register_parameter(
            prefix + "weight",
            torch::empty({op.out_channels, op.in_channels}).uniform_(-bound, bound));
        if (op.bias) {
          n.bias = register_parameter(prefix + "bias",
                                      torch::empty({op.out_channels}).uniform_(-bound, bound));
        }
        break;
      }
      case OpType::kBatchNorm: {
        const int64_t c = op.output_shape[0];
        n.weight = register_parameter(prefix + "weight", torch::ones({c}));
        n.bias = register_parameter(prefix + "bias", torch::zeros({c}));
        n.running_mean = register_buffer(prefix + "running_mean", torch::zeros({c}));
        n.running_var = register_buffer(prefix + "running_var", torch::ones({c}));
        break;
      }
      case OpType::kRecurrent: {
        const int64_t gates = op.cell == space::RecurrentCell::kLstm ? 4 : 3;
        const int64_t h = op.out_channels;
        const double bound = 1.0 / std::sqrt(static_cast<double>(h));
        auto make = [&](const std::string& name, std::vector<int64_t> shape) {
          return register_parameter(prefix + name, torch::empty(shape).uniform_(-bound, bound));
        };
        n.rnn_params = {make("w_ih", {gates * h, op.in_channels}), make("w_hh", {gates * h, h}),
                        make("b_ih", {gates * h}), make("b_hh", {gates * h})};
        break;
      }
      default:
        break;
    }
  }
  last_use[plan_.output] = static_cast<int>(ops.size());  // Never released.
  release_after_.resize(ops.size());
  for (size_t j = 0; j < ops.size(); ++j) {
    if (last_use[j] >= 0 && last_use[j] < static_cast<int>(ops.size())) {
      release_after_[last_use[j]].push_back(static_cast<int>(j));
    }
  }
}

int64_t PlanNetImpl::NumParameters() const {
  int64_t total = 0;
  for (const torch::Tensor& p : parameters()) total += p.numel();
  return total;
}

torch::Tensor PlanNetImpl::Weight(const Node& node, const torch::Tensor& w) const {
  if (node.quant_max == 0 || (quant_frozen_ && !is_training())) return w;
  return FakeQuantizePerChannel(w, node.quant_max);
}

void PlanNetImpl::FreezeQuantization() {
  torch::NoGradGuard no_grad;
  for (Node& n : nodes_) {
    if (n.quant_max == 0) continue;
    if (n.weight.defined() && n.type != OpType::kBatchNorm) {
      n.weight.copy_(FakeQuantizePerChannel(n.weight, n.quant_max));
    }
    if (!n.rnn_params.empty()) {
      for (int k = 0; k < 2; ++k) {
        n.rnn_params[k].copy_(FakeQuantizePerChannel(n.rnn_params[k], n.quant_max));
      }
    }
  }
  quant_frozen_ = true;
}

torch::Tensor PlanNetImpl::Run(size_t i, const Node& n, std::vector<torch::Tensor>& v,
                               const torch::Tensor& x) {
  const space::Op& op = plan_.ops[i];
  switch (n.type) {
    case OpType::kInput:
      return x;
    case OpType::kConv:
      if (op.dims == 2) {
        return torch::conv2d(v[n.inputs[0]], Weight(n, n.weight), n.bias,
                             {op.stride_h, op.stride_w}, {op.pad_h, op.pad_w},
                             {op.dilation_h, op.dilation_w}, op.groups);
      }
      return torch::conv1d(v[n.inputs[0]], Weight(n, n.weight), n.bias, {op.stride_w}, {op.pad_w},
                           {op.dilation_w}, op.groups);
    case OpType::kBatchNorm:
      return torch::batch_norm(v[n.inputs[0]], n.weight, n.bias, n.running_mean, n.running_var,
                               is_training(), 0.1, 1e-5, false);
    case OpType::kActivation: {
      const torch::Tensor& in = v[n.inputs[0]];
      switch (op.activation) {
        case space::Activation::kIdentity:
          return in;
        case space::Activation::kRelu:
          return torch::relu(in);
        case space::Activation::kRelu6:
          return torch::hardtanh(in, 0.0, 6.0);
        case space::Activation::kElu:
          return torch::elu(in);
        case space::Activation::kSigmoid:
          return torch::sigmoid(in);
        case space::Activation::kHardSwish:
          return torch::hardswish(in);
        case space::Activation::kTanh:
          return torch::tanh(in);
      }
      throw std::invalid_argument(absl::StrCat("op ", op.name, ": unknown activation"));
    }
    case OpType::kAdd: {
      torch::Tensor sum = v[n.inputs[0]];
      for (size_t k = 1; k < n.inputs.size(); ++k) sum = sum + v[n.inputs[k]];
      return sum;
    }
    case OpType::kMul:
      return v[n.inputs[0]] * v[n.inputs[1]];
    case OpType::kPool: {
      const torch::Tensor& in = v[n.inputs[0]];
      const bool avg = op.pool == space::PoolKind::kAverage;
      if (op.dims == 1 || in.dim() == 3) {
        return avg ? torch::avg_pool1d(in, {op.kernel_w}, {op.stride_w}, {op.pad_w}, false,
                                       /*count_include_pad=*/false)
                   : torch::max_pool1d(in, {op.kernel_w}, {op.stride_w}, {op.pad_w});
      }
      return avg ? torch::avg_pool2d(in, {op.kernel_h, op.kernel_w}, {op.stride_h, op.stride_w},
                                     {op.pad_h, op.pad_w}, false, /*count_include_pad=*/false)
                 : torch::max_pool2d(in, {op.kernel_h, op.kernel_w}, {op.stride_h, op.stride_w},
                                     {op.pad_h, op.pad_w});
    }
    case OpType::kGlobalAvgPool: {
      const torch::Tensor& in = v[n.inputs[0]];
      if (in.dim() == 4) return in.mean({2, 3}, /*keepdim=*/true);
      return in.mean({2}, /*keepdim=*/true);
    }
    case OpType::kFlatten:
      return v[n.inputs[0]].flatten(1);
    case OpType::kLinear:
      return torch::linear(v[n.inputs[0]], Weight(n, n.weight), n.bias);
    case OpType::kRecurrent: {
      // {N, C, T} -> batch-first {N, T, C}.
      torch::Tensor seq = v[n.inputs[0]].transpose(1, 2).contiguous();
      const int64_t batch = seq.size(0);
      torch::Tensor h0 = torch::zeros({1, batch, op.out_channels}, seq.options());
      std::vector<torch::Tensor> params = {Weight(n, n.rnn_params[0]), Weight(n, n.rnn_params[1]),
                                           n.rnn_params[2], n.rnn_params[3]};
      torch::Tensor out;
      if (op.cell == space::RecurrentCell::kLstm) {
        out = std::get<0>(torch::lstm(seq, {h0, torch::zeros_like(h0)}, params, true, 1, 0.0,
                                      is_training(), false, true));
      } else {
        out = std::get<0>(torch::gru(seq, h0, params, true, 1, 0.0, is_training(), false, true));
      }
      if (op.return_sequence) return out.transpose(1, 2);  // {N, H, T}.
      return out.select(1, out.size(1) - 1);               // {N, H}.
    }
    case OpType::kDropout:
      return torch::dropout(v[n.inputs[0]], op.dropout, is_training());
    case OpType::kZero: {
      std::vector<int64_t> shape = {x.size(0)};
      shape.insert(shape.end(), op.output_shape.begin(), op.output_shape.end());
      return torch::zeros(shape, x.options());
    }
  }
  throw std::invalid_argument(absl::StrCat("op ", op.name, ": unsupported op type"));
}

torch::Tensor PlanNetImpl::forward(torch::Tensor x) {
  const space::Shape& in = plan_.input_shape();
  bool same = x.dim() == static_cast<int64_t>(in.size()) + 1;
  for (size_t d = 0; same && d < in.size(); ++d) same = x.size(d + 1) == in[d];
  if (!same) {
    // A data layout with the same samples in another shape (EEG {C, T} for a
    // plan that starts from {1, C, T}) is reshaped; anything else is an error.
    TORCH_CHECK(x.dim() >= 1 && x.numel() == x.size(0) * space::NumElements(in), "input ",
                x.sizes(), " does not match the network's ", space::ShapeToString(in));
    std::vector<int64_t> shape = {x.size(0)};
    shape.insert(shape.end(), in.begin(), in.end());
    x = x.reshape(shape);
  }
  std::vector<torch::Tensor> values(nodes_.size());
  values[0] = x;
  for (size_t i = 1; i < nodes_.size(); ++i) {
    if (op_ms_ != nullptr) {
      const auto t0 = std::chrono::steady_clock::now();
      values[i] = Run(i, nodes_[i], values, x);
      (*op_ms_)[i] +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    } else {
      values[i] = Run(i, nodes_[i], values, x);
    }
    if (observer_ != nullptr) (*observer_)(i, values[i]);
    for (int j : release_after_[i]) values[j] = torch::Tensor();
  }
  return values[plan_.output];
}

absl::StatusOr<OpProfile> ProfileOps(const space::NetworkPlan& plan, int warmup, int runs,
                                     int threads) {
  try {
    absl::StatusOr<PlanNet> built = BuildPlanNet(plan);
    if (!built.ok()) return built.status();
    PlanNet net = *std::move(built);
    torch::NoGradGuard no_grad;
    net->eval();
    net->FreezeQuantization();
    const int previous_threads = torch::get_num_threads();
    torch::set_num_threads(threads);
    std::vector<int64_t> shape = {1};
    shape.insert(shape.end(), plan.input_shape().begin(), plan.input_shape().end());
    torch::Tensor x = torch::randn(shape);
    for (int i = 0; i < warmup; ++i) net->forward(x);
    const size_t n = plan.ops.size();
    std::vector<std::vector<double>> per_op(n);
    std::vector<double> totals, overheads, times(n);
    for (int r = 0; r < runs; ++r) {
      std::fill(times.begin(), times.end(), 0.0);
      net->set_op_timer(&times);
      const auto t0 = std::chrono::steady_clock::now();
      net->forward(x);
      const double total =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      net->set_op_timer(nullptr);
      double sum = 0;
      for (size_t i = 0; i < n; ++i) {
        per_op[i].push_back(times[i]);
        sum += times[i];
      }
      totals.push_back(total);
      overheads.push_back(std::max(0.0, total - sum));
    }
    torch::set_num_threads(previous_threads);
    auto median = [](std::vector<double> v) {
      if (v.empty()) return 0.0;
      std::sort(v.begin(), v.end());
      const size_t m = v.size();
      return m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
    };
    OpProfile p;
    p.op_ms.resize(n);
    for (size_t i = 0; i < n; ++i) p.op_ms[i] = median(per_op[i]);
    p.total_ms = median(totals);
    p.overhead_ms = median(overheads);
    return p;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("profiling failed: ", ExceptionMessage(e)));
  }
}

absl::StatusOr<PlanNet> BuildPlanNet(const space::NetworkPlan& plan) {
  try {
    return PlanNet(plan);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot build the network: ", ExceptionMessage(e)));
  }
}

}  // namespace hwnas::worker

#include "worker/proxies.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <numeric>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/plan_net.h"

namespace hwnas::worker {
namespace {

using space::OpType;

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

struct Batch {
  torch::Tensor x;  // {B, ...sample_shape}
  torch::Tensor y;  // {B}
};

Batch GatherBatch(const Dataset& data, const std::vector<int64_t>& rows) {
  const int64_t per_sample = data.sample_size();
  std::vector<int64_t> shape = {static_cast<int64_t>(rows.size())};
  shape.insert(shape.end(), data.sample_shape.begin(), data.sample_shape.end());
  Batch batch;
  batch.x = torch::empty(shape, torch::kFloat);
  batch.y = torch::empty({static_cast<int64_t>(rows.size())}, torch::kLong);
  float* x = batch.x.data_ptr<float>();
  int64_t* y = batch.y.data_ptr<int64_t>();
  for (size_t i = 0; i < rows.size(); ++i) {
    std::copy_n(data.sample(rows[i]), per_sample, x + i * per_sample);
    y[i] = data.labels[rows[i]];
  }
  return batch;
}

// Whether an activation's output says its input was positive (the unit is
// "on"), for NASWOT's binary codes.
torch::Tensor ActiveUnits(space::Activation activation, const torch::Tensor& out) {
  switch (activation) {
    case space::Activation::kSigmoid:
      return out > 0.5;
    default:
      return out > 0;
  }
}

double SumOverParameters(PlanNetImpl& net, bool times_weight) {
  torch::NoGradGuard no_grad;
  double total = 0;
  for (const torch::Tensor& p : net.parameters()) {
    if (!p.grad().defined()) continue;
    total +=
        times_weight ? (p.grad() * p).abs().sum().item<double>() : p.grad().norm().item<double>();
  }
  return total;
}

double Synflow(PlanNetImpl& net) {
  // Sign-linearized network in double precision, all-ones input: the
  // score is sum(theta * dR/dtheta) for R the sum of the outputs.
  net.eval();
  net.FreezeQuantization();
  net.to(torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    for (torch::Tensor& p : net.parameters()) p.abs_();
  }
  std::vector<int64_t> shape = {1};
  const space::Shape& in = net.plan().input_shape();
  shape.insert(shape.end(), in.begin(), in.end());
  torch::Tensor r = net.forward(torch::ones(shape, torch::kDouble)).sum();
  r.backward();
  torch::NoGradGuard no_grad;
  double total = 0;
  for (const torch::Tensor& p : net.parameters()) {
    if (p.grad().defined()) total += (p.grad() * p).sum().item<double>();
  }
  // The raw score spans hundreds of orders of magnitude across a space.
  return std::log(std::max(total, 1e-300));
}

absl::StatusOr<double> Naswot(PlanNetImpl& net, const Batch& batch) {
  const auto& ops = net.plan().ops;
  std::vector<torch::Tensor> codes;
  PlanNetImpl::ValueObserver observer = [&](size_t i, const torch::Tensor& value) {
    if (ops[i].type != OpType::kActivation || ops[i].activation == space::Activation::kIdentity) {
      return;
    }
    codes.push_back(ActiveUnits(ops[i].activation, value).reshape({value.size(0), -1}));
  };
  torch::NoGradGuard no_grad;
  net.train();  // Batch statistics, as the network would see its first batch.
  net.set_value_observer(&observer);
  net.forward(batch.x);
  net.set_value_observer(nullptr);
  if (codes.empty()) {
    return absl::InvalidArgumentError(
        "proxy naswot needs a network with non-linear activations; this one has none");
  }
  torch::Tensor c = torch::cat(codes, 1).to(torch::kDouble);
  torch::Tensor k = c.matmul(c.t()) + (1 - c).matmul((1 - c).t());
  // Two samples with identical codes make K singular; the small ridge keeps
  // the score finite (and low) instead of -inf.
  k += 1e-6 * torch::eye(k.size(0), torch::kDouble);
  auto [sign, logdet] = torch::linalg_slogdet(k);
  return logdet.item<double>();
}

Representation ToRepresentation(const torch::Tensor& value) {
  torch::Tensor flat = value.detach().reshape({value.size(0), -1}).to(torch::kDouble).contiguous();
  Representation r;
  r.rows = flat.size(0);
  r.dims = flat.size(1);
  r.values.assign(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
  return r;
}

absl::StatusOr<Representation> Penultimate(PlanNetImpl& net, const Batch& batch) {
  const auto& ops = net.plan().ops;
  int watched = net.plan().output;
  for (int i = static_cast<int>(ops.size()) - 1; i > 0; --i) {
    if (ops[i].type == OpType::kLinear) {
      watched = ops[i].inputs[0];
      break;
    }
  }
  torch::Tensor captured;
  PlanNetImpl::ValueObserver observer = [&](size_t i, const torch::Tensor& value) {
    if (static_cast<int>(i) == watched) captured = value;
  };
  torch::NoGradGuard no_grad;
  net.eval();
  net.set_value_observer(&observer);
  torch::Tensor out = net.forward(batch.x);
  net.set_value_observer(nullptr);
  if (!captured.defined()) captured = out;
  return ToRepresentation(captured);
}

torch::Tensor AsTensor(const Representation& r) {
  return torch::from_blob(const_cast<double*>(r.values.data()), {r.rows, r.dims}, torch::kDouble)
      .clone();
}

// Centered rows projected on their leading `k` principal directions, each
// scaled to unit variance (Gaussian mutual information does not change under
// per-component scaling, and a common scale lets one ridge fit both sides).
// Components with no variance to speak of are zeroed, not blown up.
torch::Tensor StandardizedComponents(const torch::Tensor& x, int64_t k) {
  torch::Tensor centered = x - x.mean(0, /*keepdim=*/true);
  if (centered.size(1) > k) {
    auto [u, s, vh] = torch::linalg_svd(centered, /*full_matrices=*/false);
    centered = u.narrow(1, 0, k) * s.narrow(0, 0, k);
  }
  torch::Tensor std = centered.std(0, /*unbiased=*/true, /*keepdim=*/true);
  const double largest = std.max().item<double>();
  torch::Tensor alive = std > std::max(largest * 1e-9, 1e-300);
  return torch::where(alive, centered / torch::where(alive, std, torch::ones_like(std)),
                      torch::zeros_like(centered));
}

double LogDetWithRidge(const torch::Tensor& cov) {
  auto [sign, logdet] = torch::linalg_slogdet(cov + 1e-6 * torch::eye(cov.size(0), torch::kDouble));
  return logdet.item<double>();
}

absl::Status CheckBatch(const space::NetworkPlan& plan, const Dataset& data) {
  if (data.size() == 0) return absl::InvalidArgumentError("proxy: the data set has no samples");
  if (data.sample_size() != space::NumElements(plan.input_shape())) {
    return absl::InvalidArgumentError(
        absl::StrCat("proxy: samples of shape ", space::ShapeToString(data.sample_shape),
                     " do not fit the network's input ", space::ShapeToString(plan.input_shape())));
  }
  return absl::OkStatus();
}

absl::StatusOr<PlanNet> SeededNet(const space::NetworkPlan& plan, uint64_t seed) {
  torch::manual_seed(seed);
  return BuildPlanNet(plan);
}

}  // namespace

absl::string_view ProxyKindName(ProxyKind kind) {
  switch (kind) {
    case ProxyKind::kSynflow:
      return "synflow";
    case ProxyKind::kNaswot:
      return "naswot";
    case ProxyKind::kGradNorm:
      return "gradnorm";
    case ProxyKind::kSnip:
      return "snip";
    case ProxyKind::kRmi:
      return "rmi";
  }
  return "unknown";
}

absl::StatusOr<ProxyKind> ParseProxyKind(absl::string_view name) {
  for (ProxyKind kind : {ProxyKind::kSynflow, ProxyKind::kNaswot, ProxyKind::kGradNorm,
                         ProxyKind::kSnip, ProxyKind::kRmi}) {
    if (name == ProxyKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "proxy: '", name, "' is not a proxy (expected synflow, naswot, gradnorm, snip or rmi)"));
}

double ProxyAccuracy(ProxyKind kind, double score) {
  if (kind == ProxyKind::kRmi) return 1 - std::exp(-std::max(score, 0.0));
  return 0.5 + std::atan(score) / M_PI;
}

std::vector<int64_t> ProxyBatchIndices(const Dataset& data, int batch_size, uint64_t seed) {
  std::vector<int64_t> order(data.size());
  std::iota(order.begin(), order.end(), 0);
  uint64_t state = seed;
  const int64_t n = std::min<int64_t>(std::max(batch_size, 1), data.size());
  // A partial Fisher-Yates shuffle with a fixed generator, so the batch is
  // the same on every platform and standard library.
  for (int64_t i = 0; i < n; ++i) {
    const int64_t j = i + static_cast<int64_t>(SplitMix64(state) % (data.size() - i));
    std::swap(order[i], order[j]);
  }
  order.resize(n);
  return order;
}

absl::StatusOr<ProxyScore> ScoreProxy(const space::NetworkPlan& plan, const Dataset& data,
                                      ProxyKind kind, const ProxyOptions& options) {
  if (absl::Status s = CheckBatch(plan, data); !s.ok()) return s;
  const auto start = std::chrono::steady_clock::now();
  try {
    const std::vector<int64_t> rows = ProxyBatchIndices(data, options.batch_size, options.seed);
    const Batch batch = GatherBatch(data, rows);
    absl::StatusOr<PlanNet> net = SeededNet(plan, options.seed);
    if (!net.ok()) return net.status();
    ProxyScore result;
    result.kind = kind;
    result.batch = static_cast<int>(rows.size());
    switch (kind) {
      case ProxyKind::kSynflow:
        result.score = Synflow(**net);
        break;
      case ProxyKind::kNaswot: {
        absl::StatusOr<double> score = Naswot(**net, batch);
        if (!score.ok()) return score.status();
        result.score = *score;
        break;
      }
      case ProxyKind::kGradNorm:
      case ProxyKind::kSnip: {
        (*net)->train();
        torch::Tensor loss = torch::cross_entropy_loss((*net)->forward(batch.x), batch.y);
        loss.backward();
        result.score = SumOverParameters(**net, kind == ProxyKind::kSnip);
        break;
      }
      case ProxyKind::kRmi: {
        if (options.reference == nullptr || options.reference->rows != result.batch) {
          return absl::InvalidArgumentError(
              absl::StrCat("proxy rmi needs the reference model's representation of the same ",
                           result.batch, " samples",
                           options.reference == nullptr
                               ? std::string(" (none given)")
                               : absl::StrCat(" (it has ", options.reference->rows, " rows)")));
        }
        absl::StatusOr<Representation> own = Penultimate(**net, batch);
        if (!own.ok()) return own.status();
        absl::StatusOr<double> mi = RepresentationMutualInformation(*own, *options.reference);
        if (!mi.ok()) return mi.status();
        result.score = *mi;
        break;
      }
    }
    if (!std::isfinite(result.score)) {
      return absl::InternalError(absl::StrCat("proxy ", ProxyKindName(kind),
                                              ": the score is not finite (", result.score, ")"));
    }
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("proxy ", ProxyKindName(kind), ": ", ExceptionMessage(e)));
  }
}

absl::StatusOr<Representation> PenultimateRepresentation(const space::NetworkPlan& plan,
                                                         const Dataset& data,
                                                         const ProxyOptions& options) {
  if (absl::Status s = CheckBatch(plan, data); !s.ok()) return s;
  try {
    const Batch batch =
        GatherBatch(data, ProxyBatchIndices(data, options.batch_size, options.seed));
    absl::StatusOr<PlanNet> net = SeededNet(plan, options.seed);
    if (!net.ok()) return net.status();
    return Penultimate(**net, batch);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("representation: ", ExceptionMessage(e)));
  }
}

absl::StatusOr<Representation> ModuleOutputRepresentation(const std::string& torchscript_path,
                                                          const Dataset& data,
                                                          const ProxyOptions& options) {
  if (data.size() == 0) return absl::InvalidArgumentError("proxy: the data set has no samples");
  torch::jit::Module module;
  try {
    module = torch::jit::load(torchscript_path);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("reference '", torchscript_path,
                     "' is not a loadable TorchScript file: ", ExceptionMessage(e)));
  }
  try {
    module.eval();
    const std::vector<int64_t> rows = ProxyBatchIndices(data, options.batch_size, options.seed);
    const Batch batch = GatherBatch(data, rows);
    torch::NoGradGuard no_grad;
    torch::jit::IValue out = module.forward({batch.x});
    if (!out.isTensor() || out.toTensor().dim() < 1 ||
        out.toTensor().size(0) != static_cast<int64_t>(rows.size())) {
      return absl::InvalidArgumentError(absl::StrCat("reference '", torchscript_path,
                                                     "': forward must return a tensor of ",
                                                     rows.size(), " rows (one per sample)"));
    }
    return ToRepresentation(out.toTensor());
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("reference '", torchscript_path, "' cannot take samples of shape ",
                     space::ShapeToString(data.sample_shape), ": ", ExceptionMessage(e)));
  }
}

absl::StatusOr<double> RepresentationMutualInformation(const Representation& a,
                                                       const Representation& b, int components) {
  if (a.rows != b.rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("rmi: representations of ", a.rows, " and ", b.rows, " rows"));
  }
  if (a.rows < 8) {
    return absl::InvalidArgumentError(absl::StrCat("rmi: needs at least 8 samples, got ", a.rows));
  }
  for (const Representation* r : {&a, &b}) {
    if (r->dims <= 0 || static_cast<int64_t>(r->values.size()) != r->rows * r->dims) {
      return absl::InvalidArgumentError(absl::StrCat("rmi: a representation of ", r->rows, "x",
                                                     r->dims, " has ", r->values.size(),
                                                     " values"));
    }
  }
  try {
    torch::NoGradGuard no_grad;
    // Few components per side keep the covariance estimate well
    // conditioned for one batch (rows / 4 at most).
    const int64_t k = std::max<int64_t>(1, std::min<int64_t>(components, a.rows / 4));
    torch::Tensor x = StandardizedComponents(AsTensor(a), k);
    torch::Tensor y = StandardizedComponents(AsTensor(b), k);
    torch::Tensor joint = torch::cat({x, y}, 1);
    const double denom = static_cast<double>(a.rows - 1);
    auto cov = [&](const torch::Tensor& m) { return m.t().matmul(m) / denom; };
    const double mi =
        0.5 * (LogDetWithRidge(cov(x)) + LogDetWithRidge(cov(y)) - LogDetWithRidge(cov(joint)));
    return std::max(mi, 0.0);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("rmi: ", ExceptionMessage(e)));
  }
}

}  // namespace hwnas::worker

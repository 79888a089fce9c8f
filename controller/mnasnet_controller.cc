// The only translation unit of controller/ that includes torch.
#include "controller/mnasnet_controller.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/bytes_internal.h"
#include "controller/rng.h"
#include "controller/strategy_internal.h"

namespace hwnas::controller {
namespace {

constexpr absl::string_view kTag = "hwnas.mnasnet_controller";
constexpr int kFormat = 1;
constexpr double kAdamBeta1 = 0.9;
constexpr double kAdamBeta2 = 0.999;
constexpr double kAdamEps = 1e-8;

absl::Status TorchError(absl::string_view what, const std::exception& e) {
  return absl::InternalError(absl::StrCat("mnasnet controller: ", what, ": ", e.what()));
}

// One finished sample waiting for its batch.
struct Sample {
  uint64_t id = kNoProposal;
  std::vector<int> tokens;
  double old_logp = 0;
  double reward = 0;
};

// A proposal waiting for its result.
struct Pending {
  std::vector<int> tokens;
  double logp = 0;
};

}  // namespace

struct MnasNetController::Impl {
  ControllerOptions options;
  const space::SearchSpace& space;
  std::vector<int64_t> choices;  // Per decision.
  Rng rng;

  // Parameters: start embedding, LSTM layers, per-decision token embeddings
  // (input of step i+1) and per-decision softmax heads.
  torch::Tensor start;                                // [1, H]
  std::vector<torch::Tensor> w_ih, w_hh, b_ih, b_hh;  // Per layer.
  std::vector<torch::Tensor> embed;                   // [choices_i, H], i < D - 1
  std::vector<torch::Tensor> head;                    // [choices_i, H]
  std::vector<torch::Tensor> params;                  // All of the above.
  std::vector<torch::Tensor> adam_m, adam_v;
  int64_t adam_step = 0;

  uint64_t next_id = 1;
  absl::flat_hash_set<uint64_t> seen;  // ExactKey of proposed and observed architectures.
  std::map<uint64_t, Pending> pending;
  std::vector<Sample> buffer;
  double baseline = 0;
  double adv_var = 0;
  int64_t reward_count = 0;
  int64_t updates = 0;

  Impl(ControllerOptions o, const space::SearchSpace& s, uint64_t seed)
      : options(o), space(s), rng(seed) {
    for (const space::Decision& d : space.decisions()) {
      choices.push_back(static_cast<int64_t>(d.choices.size()));
    }
  }

  torch::Tensor NewParam(std::vector<int64_t> shape) {
    torch::Tensor t = torch::empty(shape, torch::kFloat32);
    float* p = t.data_ptr<float>();
    const double r = options.init_range;
    for (int64_t i = 0; i < t.numel(); ++i) {
      p[i] = static_cast<float>((2 * rng.UniformDouble() - 1) * r);
    }
    t.set_requires_grad(true);
    params.push_back(t);
    return t;
  }

  void Build() {
    const int64_t h = options.hidden_size;
    start = NewParam({1, h});
    for (int l = 0; l < options.layers; ++l) {
      w_ih.push_back(NewParam({4 * h, h}));
      w_hh.push_back(NewParam({4 * h, h}));
      b_ih.push_back(NewParam({4 * h}));
      b_hh.push_back(NewParam({4 * h}));
    }
    for (size_t i = 0; i < choices.size(); ++i) {
      if (i + 1 < choices.size()) embed.push_back(NewParam({choices[i], h}));
      head.push_back(NewParam({choices[i], h}));
    }
    for (const torch::Tensor& p : params) {
      adam_m.push_back(torch::zeros_like(p));
      adam_v.push_back(torch::zeros_like(p));
    }
  }

  // Logits of decision i given the top layer's output.
  torch::Tensor Logits(size_t i, const torch::Tensor& out) const {
    torch::Tensor logits = torch::matmul(out, head[i].t()) / options.temperature;
    if (options.tanh_constant > 0) logits = options.tanh_constant * torch::tanh(logits);
    return logits;
  }

  // Layer 0's input projection W_ih x + b_ih + b_hh for each step. The input
  // of step i is the start embedding (i = 0) or the embedding of the token
  // chosen at step i-1, so the projection takes only choices_{i-1} distinct
  // values: for large batches, projecting those few rows once and gathering
  // them replaces a [batch, H] x [H, 4H] product per step (the dominant cost
  // without a fast BLAS); for small batches the direct product is cheaper.
  struct InputProjection {
    bool tables = false;
    torch::Tensor bias;
    std::vector<torch::Tensor> rows;  // Per step, when `tables`.
  };

  InputProjection ProjectInputs(int64_t n) const {
    InputProjection p;
    p.bias = b_ih[0] + b_hh[0];
    int64_t rows = 1;
    for (const torch::Tensor& e : embed) rows += e.size(0);
    p.tables = n * static_cast<int64_t>(choices.size()) > rows;
    if (p.tables) {
      p.rows.push_back(torch::addmm(p.bias, start, w_ih[0].t()));
      for (const torch::Tensor& e : embed) p.rows.push_back(torch::addmm(p.bias, e, w_ih[0].t()));
    }
    return p;
  }

  torch::Tensor Input(const InputProjection& p, size_t i, int64_t n,
                      const torch::Tensor& prev) const {
    if (p.tables) {
      return i == 0 ? p.rows[0].expand({n, p.rows[0].size(1)}) : p.rows[i].index_select(0, prev);
    }
    const torch::Tensor x =
        i == 0 ? start.expand({n, start.size(1)}) : embed[i - 1].index_select(0, prev);
    return torch::addmm(p.bias, x, w_ih[0].t());
  }

  // One step of the stacked LSTM. `in0` holds layer 0's input projection
  // (W_ih x + b_ih + b_hh); returns the top layer's output.
  torch::Tensor Step(const torch::Tensor& in0, std::vector<torch::Tensor>& hs,
                     std::vector<torch::Tensor>& cs) const {
    torch::Tensor gates = in0 + torch::matmul(hs[0], w_hh[0].t());
    std::vector<torch::Tensor> g = gates.chunk(4, 1);  // i, f, g, o as in torch::lstm_cell.
    cs[0] = torch::sigmoid(g[1]) * cs[0] + torch::sigmoid(g[0]) * torch::tanh(g[2]);
    hs[0] = torch::sigmoid(g[3]) * torch::tanh(cs[0]);
    torch::Tensor x = hs[0];
    for (int l = 1; l < options.layers; ++l) {
      auto hc = torch::lstm_cell(x, {hs[l], cs[l]}, w_ih[l], w_hh[l], b_ih[l], b_hh[l]);
      hs[l] = std::get<0>(hc);
      cs[l] = std::get<1>(hc);
      x = hs[l];
    }
    return x;
  }

  // Samples n sequences; returns tokens and their log-probabilities.
  void SampleBatch(int n, std::vector<std::vector<int>>& tokens, std::vector<double>& logps) {
    torch::NoGradGuard no_grad;
    const int64_t h = options.hidden_size;
    tokens.assign(n, std::vector<int>(choices.size()));
    logps.assign(n, 0.0);
    const InputProjection proj = ProjectInputs(n);
    std::vector<torch::Tensor> hs(options.layers, torch::zeros({n, h}));
    std::vector<torch::Tensor> cs(options.layers, torch::zeros({n, h}));
    torch::Tensor prev;
    for (size_t i = 0; i < choices.size(); ++i) {
      torch::Tensor x = Step(Input(proj, i, n, prev), hs, cs);
      torch::Tensor logp = torch::log_softmax(Logits(i, x), 1).to(torch::kFloat64).contiguous();
      auto acc = logp.accessor<double, 2>();
      std::vector<int64_t> picked(n);
      for (int b = 0; b < n; ++b) {
        const double u = rng.UniformDouble();
        double cum = 0;
        int k = 0;
        for (; k + 1 < choices[i]; ++k) {
          cum += std::exp(acc[b][k]);
          if (u < cum) break;
        }
        tokens[b][i] = k;
        picked[b] = k;
        logps[b] += acc[b][k];
      }
      prev = torch::tensor(picked, torch::kInt64);
    }
  }

  // Log-probabilities and entropies of given sequences (with autograd).
  std::pair<torch::Tensor, torch::Tensor> Evaluate(
      const std::vector<std::vector<int>>& seqs) const {
    const int64_t n = static_cast<int64_t>(seqs.size());
    const int64_t h = options.hidden_size;
    const InputProjection proj = ProjectInputs(n);
    std::vector<torch::Tensor> hs(options.layers, torch::zeros({n, h}));
    std::vector<torch::Tensor> cs(options.layers, torch::zeros({n, h}));
    torch::Tensor logp_sum = torch::zeros({n});
    torch::Tensor entropy = torch::zeros({n});
    torch::Tensor prev;
    for (size_t i = 0; i < choices.size(); ++i) {
      torch::Tensor x = Step(Input(proj, i, n, prev), hs, cs);
      torch::Tensor logp = torch::log_softmax(Logits(i, x), 1);
      std::vector<int64_t> col(n);
      for (int64_t b = 0; b < n; ++b) col[b] = seqs[b][i];
      torch::Tensor idx = torch::tensor(col, torch::kInt64);
      logp_sum = logp_sum + logp.gather(1, idx.unsqueeze(1)).squeeze(1);
      entropy = entropy - (logp.exp() * logp).sum(1);
      prev = idx;
    }
    return {logp_sum, entropy};
  }

  double LogProb(const std::vector<int>& tokens) const {
    torch::NoGradGuard no_grad;
    return Evaluate({tokens}).first.item<double>();
  }

  // Adam over raw buffers: one loop per parameter instead of seven tensor
  // ops each, which at batch size 1 cost more in dispatch than the update.
  void AdamStep() {
    ++adam_step;
    const double c1 = 1 - std::pow(kAdamBeta1, static_cast<double>(adam_step));
    const double c2 = 1 - std::pow(kAdamBeta2, static_cast<double>(adam_step));
    const float step = static_cast<float>(options.learning_rate / c1);
    const float inv_c2 = static_cast<float>(1 / c2);
    const float b1 = static_cast<float>(kAdamBeta1), b2 = static_cast<float>(kAdamBeta2);
    const float eps = static_cast<float>(kAdamEps);
    for (size_t k = 0; k < params.size(); ++k) {
      torch::Tensor& p = params[k];
      if (!p.grad().defined()) continue;
      torch::Tensor& grad = p.mutable_grad();
      if (!grad.is_contiguous()) grad = grad.contiguous();
      float* w = p.data_ptr<float>();
      float* g = grad.data_ptr<float>();
      float* m = adam_m[k].data_ptr<float>();
      float* v = adam_v[k].data_ptr<float>();
      const int64_t n = p.numel();
      for (int64_t i = 0; i < n; ++i) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        w[i] -= step * m[i] / (std::sqrt(v[i] * inv_c2) + eps);
        g[i] = 0;
      }
    }
  }

  // Advantages for a batch, updating the reward baseline and scale.
  std::vector<double> Advantages(const std::vector<Sample>& batch) {
    if (reward_count == 0) {
      double mean = 0;
      for (const auto& s : batch) mean += s.reward;
      baseline = mean / batch.size();
    }
    std::vector<double> adv;
    const double b = baseline;  // Baseline before this batch.
    for (const auto& s : batch) {
      adv.push_back(s.reward - b);
      ++reward_count;
      // Bias-corrected EMA: a plain mean until 1/(1-decay) samples.
      const double w = std::max(1 - options.baseline_decay, 1.0 / reward_count);
      baseline += w * (s.reward - baseline);
      adv_var += w * (adv.back() * adv.back() - adv_var);
    }
    if (options.normalize_advantages) {
      const double scale = std::sqrt(adv_var) + 1e-8;
      for (double& a : adv) a /= scale;
    }
    return adv;
  }

  void Update(std::vector<Sample> batch) {
    std::stable_sort(batch.begin(), batch.end(),
                     [](const auto& a, const auto& b) { return a.id < b.id; });
    const std::vector<double> adv_values = Advantages(batch);
    std::vector<std::vector<int>> seqs;
    std::vector<double> old;
    for (const auto& s : batch) {
      seqs.push_back(s.tokens);
      old.push_back(s.old_logp);
    }
    torch::Tensor adv = torch::tensor(adv_values, torch::kFloat64).to(torch::kFloat32);
    torch::Tensor old_logp = torch::tensor(old, torch::kFloat64).to(torch::kFloat32);
    const int epochs = options.algorithm == PolicyGradient::kPpo ? options.ppo_epochs : 1;
    for (int e = 0; e < epochs; ++e) {
      auto [logp, entropy] = Evaluate(seqs);
      torch::Tensor objective;
      if (options.algorithm == PolicyGradient::kPpo) {
        torch::Tensor ratio = torch::exp(logp - old_logp);
        torch::Tensor clipped = torch::clamp(ratio, 1 - options.ppo_clip, 1 + options.ppo_clip);
        objective = torch::min(ratio * adv, clipped * adv).mean();
      } else {
        objective = (logp * adv).mean();
      }
      torch::Tensor loss = -objective - options.entropy_weight * entropy.mean();
      loss.backward();
      AdamStep();
    }
    ++updates;
  }

  void Learn(Sample s) {
    buffer.push_back(std::move(s));
    const size_t bs = static_cast<size_t>(options.batch_size);
    while (buffer.size() >= bs) {
      std::vector<Sample> batch(buffer.begin(), buffer.begin() + bs);
      buffer.erase(buffer.begin(), buffer.begin() + bs);
      Update(std::move(batch));
    }
  }

  // Reward the controller learns from, or nullopt (dropped).
  std::optional<double> RewardOf(const Observation& o) const {
    if (o.HasReward()) return o.reward;
    if (o.state == TrialState::kInfeasible) return options.infeasible_reward;
    return std::nullopt;
  }

  void SaveTo(internal::ByteWriter& w) const {
    w.I64(options.hidden_size);
    w.I64(options.layers);
    w.I64(static_cast<int64_t>(choices.size()));
    for (int64_t c : choices) w.I64(c);
    w.RngState(rng);
    w.U64(next_id);
    w.F64(baseline);
    w.F64(adv_var);
    w.I64(reward_count);
    w.I64(updates);
    w.I64(adam_step);
    for (const std::vector<torch::Tensor>* group : {&params, &adam_m, &adam_v}) {
      for (const torch::Tensor& t : *group) {
        torch::Tensor c = t.detach().contiguous();
        w.F32s(c.data_ptr<float>(), static_cast<size_t>(c.numel()));
      }
    }
    internal::WriteKeys(w, seen);
    w.U64(pending.size());
    for (const auto& [id, p] : pending) {
      w.U64(id);
      w.Ints(p.tokens);
      w.F64(p.logp);
    }
    w.U64(buffer.size());
    for (const auto& s : buffer) {
      w.U64(s.id);
      w.Ints(s.tokens);
      w.F64(s.old_logp);
      w.F64(s.reward);
    }
  }

  absl::Status LoadFrom(internal::ByteReader& r) {
    HWNAS_ASSIGN_OR_RETURN(int64_t hidden, r.I64());
    HWNAS_ASSIGN_OR_RETURN(int64_t layers, r.I64());
    HWNAS_ASSIGN_OR_RETURN(int64_t nd, r.I64());
    bool same = hidden == options.hidden_size && layers == options.layers &&
                nd == static_cast<int64_t>(choices.size());
    for (int64_t i = 0; i < nd && same; ++i) {
      HWNAS_ASSIGN_OR_RETURN(int64_t c, r.I64());
      same = c == choices[i];
    }
    if (!same) {
      return absl::InvalidArgumentError(
          "controller checkpoint was made with a different hidden size, layer count or space");
    }
    Rng new_rng;
    HWNAS_RETURN_IF_ERROR(r.RngState(new_rng));
    HWNAS_ASSIGN_OR_RETURN(uint64_t new_next_id, r.U64());
    HWNAS_ASSIGN_OR_RETURN(double new_baseline, r.F64());
    HWNAS_ASSIGN_OR_RETURN(double new_adv_var, r.F64());
    HWNAS_ASSIGN_OR_RETURN(int64_t new_reward_count, r.I64());
    HWNAS_ASSIGN_OR_RETURN(int64_t new_updates, r.I64());
    HWNAS_ASSIGN_OR_RETURN(int64_t new_adam_step, r.I64());
    std::vector<torch::Tensor> values;
    for (const std::vector<torch::Tensor>* group : {&params, &adam_m, &adam_v}) {
      for (const torch::Tensor& t : *group) {
        torch::Tensor v = torch::empty(t.sizes(), torch::kFloat32);
        HWNAS_RETURN_IF_ERROR(r.F32s(v.data_ptr<float>(), static_cast<size_t>(v.numel())));
        values.push_back(v);
      }
    }
    absl::flat_hash_set<uint64_t> new_seen;
    HWNAS_RETURN_IF_ERROR(internal::ReadKeys(r, new_seen));
    std::map<uint64_t, Pending> new_pending;
    HWNAS_ASSIGN_OR_RETURN(uint64_t np, r.U64());
    for (uint64_t i = 0; i < np; ++i) {
      HWNAS_ASSIGN_OR_RETURN(uint64_t id, r.U64());
      Pending p;
      HWNAS_ASSIGN_OR_RETURN(p.tokens, r.Ints());
      HWNAS_ASSIGN_OR_RETURN(p.logp, r.F64());
      HWNAS_RETURN_IF_ERROR(space.Validate(p.tokens));
      new_pending[id] = std::move(p);
    }
    std::vector<Sample> new_buffer;
    HWNAS_ASSIGN_OR_RETURN(uint64_t nb, r.U64());
    for (uint64_t i = 0; i < nb; ++i) {
      Sample s;
      HWNAS_ASSIGN_OR_RETURN(s.id, r.U64());
      HWNAS_ASSIGN_OR_RETURN(s.tokens, r.Ints());
      HWNAS_ASSIGN_OR_RETURN(s.old_logp, r.F64());
      HWNAS_ASSIGN_OR_RETURN(s.reward, r.F64());
      HWNAS_RETURN_IF_ERROR(space.Validate(s.tokens));
      new_buffer.push_back(std::move(s));
    }
    HWNAS_RETURN_IF_ERROR(r.ExpectEnd());
    // Everything parsed: commit.
    torch::NoGradGuard no_grad;
    size_t k = 0;
    for (std::vector<torch::Tensor>* group : {&params, &adam_m, &adam_v}) {
      for (torch::Tensor& t : *group) t.copy_(values[k++]);
    }
    for (torch::Tensor& p : params) {
      if (p.grad().defined()) p.mutable_grad().zero_();
    }
    rng = new_rng;
    next_id = new_next_id;
    baseline = new_baseline;
    adv_var = new_adv_var;
    reward_count = new_reward_count;
    updates = new_updates;
    adam_step = new_adam_step;
    seen = std::move(new_seen);
    pending = std::move(new_pending);
    buffer = std::move(new_buffer);
    return absl::OkStatus();
  }
};

MnasNetController::MnasNetController(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MnasNetController::~MnasNetController() = default;

absl::StatusOr<std::unique_ptr<MnasNetController>> MnasNetController::Create(
    ControllerOptions options, const space::SearchSpace& space, uint64_t seed) {
  StrategyOptions check;
  check.name = "mnasnet-ppo";
  check.controller = options;
  HWNAS_RETURN_IF_ERROR(ValidateStrategyOptions(check));
  if (space.decisions().empty()) return absl::InvalidArgumentError("space has no decisions");
  for (const space::Decision& d : space.decisions()) {
    if (d.choices.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("decision ", d.name, " has no choices"));
    }
  }
  try {
    auto impl = std::make_unique<Impl>(options, space, seed);
    impl->Build();
    return std::unique_ptr<MnasNetController>(new MnasNetController(std::move(impl)));
  } catch (const std::exception& e) {
    return TorchError("building the LSTM", e);
  }
}

absl::string_view MnasNetController::name() const {
  return impl_->options.algorithm == PolicyGradient::kPpo ? "mnasnet-ppo" : "mnasnet-reinforce";
}

absl::StatusOr<std::vector<Proposal>> MnasNetController::Propose(int n) {
  std::vector<Proposal> out;
  if (n <= 0) return out;
  Impl& m = *impl_;
  auto emit = [&](std::vector<int> tokens, double logp) {
    const uint64_t id = m.next_id++;
    m.seen.insert(internal::ExactKey(m.space, tokens));
    m.pending[id] = Pending{tokens, logp};
    out.push_back(Proposal{id, internal::MakeArch(m.space, std::move(tokens))});
  };
  try {
    std::vector<std::vector<int>> tokens;
    std::vector<double> logps;
    const int rounds = m.options.avoid_repeats ? 2 : 100;
    std::vector<std::pair<std::vector<int>, double>> repeats;
    for (int round = 0; round < rounds && static_cast<int>(out.size()) < n; ++round) {
      const int want = n - static_cast<int>(out.size());
      m.SampleBatch(m.options.avoid_repeats ? std::max(2 * want, 8) : want, tokens, logps);
      for (size_t b = 0; b < tokens.size() && static_cast<int>(out.size()) < n; ++b) {
        // The policy only covers per-token ranges: space-specific invalid
        // sequences are resampled.
        if (!m.space.Validate(tokens[b]).ok()) continue;
        if (m.options.avoid_repeats && m.seen.contains(internal::ExactKey(m.space, tokens[b]))) {
          if (repeats.size() < static_cast<size_t>(n)) repeats.emplace_back(tokens[b], logps[b]);
          continue;
        }
        emit(std::move(tokens[b]), logps[b]);
      }
    }
    // The policy has (nearly) converged on architectures already evaluated:
    // explore next to them, changing random decisions of a sampled repeat
    // until the result is new, and record its log-probability under the
    // policy, so cost per proposal stays bounded.
    const auto& ds = m.space.decisions();
    for (size_t r = 0; r < repeats.size() && static_cast<int>(out.size()) < n; ++r) {
      std::vector<int> t = repeats[r].first;
      bool found = false;
      for (int attempt = 0; attempt < 64 && !found; ++attempt) {
        const size_t d = m.rng.Uniform(ds.size());
        if (ds[d].choices.size() < 2) continue;
        t[d] = static_cast<int>((t[d] + 1 + m.rng.Uniform(ds[d].choices.size() - 1)) %
                                ds[d].choices.size());
        found = !m.seen.contains(internal::ExactKey(m.space, t)) && m.space.Validate(t).ok();
      }
      if (found) {
        emit(t, m.LogProb(t));
      } else {
        emit(std::move(repeats[r].first), repeats[r].second);  // Answered from the cache.
      }
    }
  } catch (const std::exception& e) {
    return TorchError("sampling", e);
  }
  return out;
}

absl::Status MnasNetController::Observe(absl::Span<const Observation> observations) {
  try {
    for (const Observation& o : observations) {
      if (impl_->space.Validate(o.architecture.tokens).ok()) {
        impl_->seen.insert(internal::ExactKey(impl_->space, o.architecture.tokens));
      }
      std::vector<int> tokens;
      double old_logp = 0;
      if (auto it = impl_->pending.find(o.proposal_id);
          o.proposal_id != kNoProposal && it != impl_->pending.end()) {
        tokens = std::move(it->second.tokens);
        old_logp = it->second.logp;
        impl_->pending.erase(it);
      } else {
        if (!impl_->space.Validate(o.architecture.tokens).ok()) continue;
        tokens = o.architecture.tokens;
        old_logp = impl_->LogProb(tokens);
      }
      std::optional<double> reward = impl_->RewardOf(o);
      if (!reward) continue;  // Failed or cancelled: nothing to learn.
      impl_->Learn(Sample{o.proposal_id, std::move(tokens), old_logp, *reward});
    }
  } catch (const std::exception& e) {
    return TorchError("learning", e);
  }
  return absl::OkStatus();
}

absl::Status MnasNetController::WarmStart(absl::Span<const Observation> earlier) {
  try {
    for (int epoch = 0; epoch < impl_->options.warm_start_epochs; ++epoch) {
      for (const Observation& o : earlier) {
        std::optional<double> reward = impl_->RewardOf(o);
        if (!impl_->space.Validate(o.architecture.tokens).ok()) continue;
        impl_->seen.insert(internal::ExactKey(impl_->space, o.architecture.tokens));
        if (!reward) continue;
        impl_->Learn(Sample{kNoProposal, o.architecture.tokens,
                            impl_->LogProb(o.architecture.tokens), *reward});
      }
    }
  } catch (const std::exception& e) {
    return TorchError("warm start", e);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> MnasNetController::Save() const {
  internal::ByteWriter w;
  internal::WriteHeader(w, kTag, kFormat);
  try {
    impl_->SaveTo(w);
  } catch (const std::exception& e) {
    return TorchError("saving", e);
  }
  return std::move(w).Take();
}

absl::Status MnasNetController::Restore(absl::string_view bytes) {
  internal::ByteReader r(bytes);
  HWNAS_RETURN_IF_ERROR(internal::ReadHeader(r, kTag, kFormat));
  try {
    return impl_->LoadFrom(r);
  } catch (const std::exception& e) {
    return TorchError("restoring", e);
  }
}

absl::StatusOr<double> MnasNetController::SequenceProbability(absl::Span<const int> tokens) const {
  HWNAS_RETURN_IF_ERROR(impl_->space.Validate(tokens));
  try {
    return std::exp(impl_->LogProb(std::vector<int>(tokens.begin(), tokens.end())));
  } catch (const std::exception& e) {
    return TorchError("evaluating", e);
  }
}

int64_t MnasNetController::updates() const { return impl_->updates; }
int MnasNetController::buffered() const { return static_cast<int>(impl_->buffer.size()); }
double MnasNetController::baseline() const { return impl_->baseline; }

void SetControllerThreads(int threads) { torch::set_num_threads(std::max(1, threads)); }

}  // namespace hwnas::controller

// The only translation unit of controller/ that includes torch.
#include "controller/mnasnet_controller.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/stats.h"
#include "common/status_macros.h"
#include "controller/bytes_internal.h"
#include "controller/lstm_policy.h"
#include "controller/rng.h"
#include "controller/strategy_internal.h"
#include "controller/surrogate.h"

namespace hwnas::controller {
namespace {

constexpr absl::string_view kTag = "hwnas.mnasnet_controller";
// Format 2 added the replayed elites; format 1 checkpoints restore with none.
// Format 3 added the breadth state (rewarded trials, best reward and when it
// was reached); older checkpoints restore as if the best had just improved.
// Format 4 added the breadth model's state (ControllerOptions::breadth_model);
// older checkpoints restore with a model that has seen no trials yet.
constexpr int kFormat = 4;
constexpr int kOldestFormat = 1;
constexpr double kAdamBeta1 = 0.9;
constexpr double kAdamBeta2 = 0.999;
constexpr double kAdamEps = 1e-8;
// Weight of the penalty on saturated tanh pre-activations (LstmPolicy::
// Backward), per sequence and averaged over the batch like the objective.
constexpr double kSaturationWeight = 1.0;

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

  internal::LstmPolicy policy;
  std::vector<torch::Tensor> params, grads;  // policy.Parameters() / Gradients().
  std::vector<torch::Tensor> adam_m, adam_v;
  int64_t adam_step = 0;

  uint64_t next_id = 1;
  KeySet seen;  // ExactKey of proposed and observed architectures.
  std::map<uint64_t, Pending> pending;
  std::vector<Sample> buffer;
  std::vector<Sample> elites;  // Best first; see ControllerOptions::elite_size.
  double baseline = 0;
  double adv_var = 0;
  int64_t reward_count = 0;
  int64_t updates = 0;
  double last_entropy = 0;  // Not saved: diagnostics only.
  // Breadth (ControllerOptions::breadth_share): rewarded trials learned from,
  // the best reward among them and the count when it was reached.
  int64_t rewarded = 0;
  double best_reward = -std::numeric_limits<double>::infinity();
  int64_t best_at = 0;
  int64_t breadth_proposals = 0;  // Not saved: diagnostics only.
  int64_t model_proposals = 0;    // Not saved: diagnostics only.
  // Model-guided breadth (ControllerOptions::breadth_model): a surrogate that
  // observes every trial the controller observes; null when off.
  std::unique_ptr<Surrogate> model;
  std::optional<RewardOptions> reward;  // The search's, when known (for the model).
  uint64_t model_seed = 0;

  Impl(ControllerOptions o, const space::SearchSpace& s, uint64_t seed, const RewardOptions* r)
      : options(o), space(s), rng(seed), policy(Shape(o, s)) {
    choices = policy.shape().choices;
    if (r != nullptr) reward = *r;
    // Its own seed: the controller's random stream stays as without a model.
    model_seed = seed ^ 0x6d6f64656cULL;
    if (options.breadth_share > 0 && options.breadth_model > 0) model = NewModel();
  }

  std::unique_ptr<Surrogate> NewModel() const {
    return std::make_unique<Surrogate>(SurrogateOptions{}, space, model_seed,
                                       reward ? &*reward : nullptr);
  }

  static internal::LstmPolicyShape Shape(const ControllerOptions& o, const space::SearchSpace& s) {
    internal::LstmPolicyShape shape;
    shape.hidden = o.hidden_size;
    shape.layers = o.layers;
    shape.temperature = o.temperature;
    shape.tanh_constant = o.tanh_constant;
    for (const space::Decision& d : s.decisions()) {
      shape.choices.push_back(static_cast<int64_t>(d.choices.size()));
    }
    return shape;
  }

  // Uniform in [-init_range, init_range], parameter by parameter in the
  // policy's fixed order (so a seed gives the same network).
  void Build() {
    params = policy.Parameters();
    grads = policy.Gradients();
    const double r = options.init_range;
    for (torch::Tensor& t : params) {
      float* p = t.data_ptr<float>();
      for (int64_t i = 0; i < t.numel(); ++i) {
        p[i] = static_cast<float>((2 * rng.UniformDouble() - 1) * r);
      }
      adam_m.push_back(torch::zeros_like(t));
      adam_v.push_back(torch::zeros_like(t));
    }
  }

  // Samples n sequences; returns tokens and their log-probabilities.
  void SampleBatch(int n, std::vector<std::vector<int>>& tokens, std::vector<double>& logps) {
    tokens.assign(n, std::vector<int>(choices.size()));
    std::vector<double> entropy;
    policy.Forward(
        tokens, [this] { return rng.UniformDouble(); }, logps, entropy, nullptr);
  }

  double LogProb(const std::vector<int>& tokens) const {
    std::vector<std::vector<int>> seqs = {tokens};
    std::vector<double> logp, entropy;
    policy.Forward(seqs, nullptr, logp, entropy, nullptr);
    return logp[0];
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
      float* __restrict w = params[k].data_ptr<float>();
      const float* __restrict g = grads[k].data_ptr<float>();
      float* __restrict m = adam_m[k].data_ptr<float>();
      float* __restrict v = adam_v[k].data_ptr<float>();
      const int64_t n = params[k].numel();
      for (int64_t i = 0; i < n; ++i) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        w[i] -= step * m[i] / (std::sqrt(v[i] * inv_c2) + eps);
      }
    }
  }

  // The batch's risk_quantile of rewards (risk-seeking updates).
  double RiskThreshold(const std::vector<Sample>& batch) const {
    std::vector<double> rewards;
    for (const auto& s : batch) rewards.push_back(s.reward);
    return LinearQuantile(std::move(rewards), options.risk_quantile);
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
    if (options.risk_quantile > 0) {
      // Ranked within the batch, not against the baseline: the trials below
      // the quantile neither push the policy up nor down (ControllerOptions).
      const double threshold = RiskThreshold(batch);
      for (size_t i = 0; i < batch.size(); ++i) {
        adv[i] = std::max(0.0, batch[i].reward - threshold);
      }
    }
    if (options.normalize_advantages) {
      const double scale = std::sqrt(adv_var) + 1e-8;
      for (double& a : adv) a /= scale;
    }
    return adv;
  }

  // Keeps the elite_size best distinct rewarded samples seen so far.
  void RememberElite(const Sample& s) {
    const size_t k = static_cast<size_t>(options.elite_size);
    if (k == 0) return;
    for (const Sample& e : elites) {
      if (e.tokens == s.tokens) return;
    }
    if (elites.size() == k && s.reward <= elites.back().reward) return;
    Sample e = s;
    e.id = kNoProposal;
    elites.insert(
        std::upper_bound(elites.begin(), elites.end(), e,
                         [](const Sample& a, const Sample& b) { return a.reward > b.reward; }),
        std::move(e));
    if (elites.size() > k) elites.pop_back();
  }

  void Update(std::vector<Sample> batch) {
    std::stable_sort(batch.begin(), batch.end(),
                     [](const auto& a, const auto& b) { return a.id < b.id; });
    const double baseline_before = baseline;
    std::vector<double> adv_values = Advantages(batch);
    const double scale = options.normalize_advantages ? std::sqrt(adv_var) + 1e-8 : 1.0;
    const double threshold = options.risk_quantile > 0 ? RiskThreshold(batch) : baseline_before;
    std::vector<std::vector<int>> seqs;
    std::vector<double> old;
    for (const auto& s : batch) {
      seqs.push_back(s.tokens);
      old.push_back(s.old_logp);
    }
    // Replayed elites: better than the baseline, they are pushed up again in
    // every update, their ratio taken against the policy as the update starts.
    // At most as many as the batch holds, so an update costs at most twice
    // as much (a batch of 1 replays the best architecture only).
    const size_t fresh = seqs.size();
    for (const Sample& e : elites) {
      if (seqs.size() >= 2 * fresh) break;
      if (e.reward <= threshold) continue;
      if (std::find(seqs.begin(), seqs.end(), e.tokens) != seqs.end()) continue;
      seqs.push_back(e.tokens);
      adv_values.push_back((e.reward - threshold) / scale);
    }
    for (const auto& s : batch) RememberElite(s);
    const double n = static_cast<double>(seqs.size());
    const bool ppo = options.algorithm == PolicyGradient::kPpo;
    const int epochs = ppo ? options.ppo_epochs : 1;
    // loss = -mean_b objective_b - entropy_weight * mean_b entropy_b, with
    // objective_b = min(r A, clip(r) A) (PPO; r = exp(logp - old_logp)) or
    // logp A (REINFORCE); Backward takes its derivatives per sequence.
    const std::vector<double> dentropy(seqs.size(), -options.entropy_weight / n);
    const std::vector<double> dsaturation(seqs.size(), kSaturationWeight / n);
    std::vector<double> dlogp(seqs.size());
    std::vector<double> logp, entropy;
    internal::LstmPolicy::Trace trace;
    for (int e = 0; e < epochs; ++e) {
      policy.Forward(seqs, nullptr, logp, entropy, &trace);
      if (e == 0) {
        for (size_t b = fresh; b < seqs.size(); ++b) old.push_back(logp[b]);
        double sum = 0;
        for (size_t b = 0; b < fresh; ++b) sum += entropy[b];
        last_entropy = sum / static_cast<double>(fresh);
      }
      for (size_t b = 0; b < seqs.size(); ++b) {
        const double a = adv_values[b];
        double dobj = a;
        if (ppo) {
          // The unclipped term is the minimum, or the clip is inactive:
          // d(r A)/dlogp = r A. Otherwise the clipped constant wins: 0.
          const double r = std::exp(logp[b] - old[b]);
          const double lo = 1 - options.ppo_clip, hi = 1 + options.ppo_clip;
          const double clipped = std::clamp(r, lo, hi);
          dobj = (r * a <= clipped * a || (r >= lo && r <= hi)) ? r * a : 0.0;
        }
        dlogp[b] = -dobj / n;
      }
      policy.ZeroGradients();  // The only place gradients are reset.
      policy.Backward(trace, seqs, dlogp, dentropy, dsaturation);
      AdamStep();
    }
    ++updates;
  }

  void Learn(Sample s) {
    ++rewarded;
    if (s.reward > best_reward) {
      best_reward = s.reward;
      best_at = rewarded;
    }
    buffer.push_back(std::move(s));
    const size_t bs = static_cast<size_t>(options.batch_size);
    while (buffer.size() >= bs) {
      std::vector<Sample> batch(buffer.begin(), buffer.begin() + bs);
      buffer.erase(buffer.begin(), buffer.begin() + bs);
      Update(std::move(batch));
    }
  }

  bool Stalled() const {
    return options.breadth_share > 0 && rewarded > 0 &&
           rewarded - best_at >= options.breadth_patience;
  }

  bool Fresh(const std::vector<int>& t) const {
    return space.Validate(t).ok() && !seen.contains(internal::ExactKey(space, t));
  }

  // An unseen token list computing the same function as an elite, best elite
  // first: 1-3 random decisions of the elite changed, kept when the function
  // signature is unchanged (spaces without equivalent token lists never
  // match, and fall back to uniform proposals).
  std::optional<std::vector<int>> EliteEncoding() {
    const auto& ds = space.decisions();
    for (const Sample& e : elites) {
      const std::string signature = space.FunctionSignature(e.tokens);
      for (int attempt = 0; attempt < 64; ++attempt) {
        std::vector<int> t = e.tokens;
        const int changes = 1 + static_cast<int>(rng.Uniform(3));
        for (int c = 0; c < changes; ++c) {
          const size_t d = rng.Uniform(ds.size());
          t[d] = static_cast<int>(rng.Uniform(ds[d].choices.size()));
        }
        if (Fresh(t) && space.FunctionSignature(t) == signature) return t;
      }
    }
    return std::nullopt;
  }

  // A uniformly random unseen token list (nullopt when 256 draws found none).
  std::optional<std::vector<int>> UniformFresh() {
    const auto& ds = space.decisions();
    std::vector<int> t(ds.size());
    for (int attempt = 0; attempt < 256; ++attempt) {
      for (size_t d = 0; d < ds.size(); ++d) {
        t[d] = static_cast<int>(rng.Uniform(ds[d].choices.size()));
      }
      if (Fresh(t)) return t;
    }
    return std::nullopt;
  }

  // The breadth model's pick among the architectures it has not seen, if new
  // to the controller too (a proposal still out may not be).
  std::optional<std::vector<int>> ModelPick() {
    absl::StatusOr<std::vector<Proposal>> p = model->Propose(1);
    if (!p.ok() || p->empty()) return std::nullopt;
    std::vector<int> t = std::move(p->front().architecture.tokens);
    if (!Fresh(t)) return std::nullopt;
    return t;
  }

  // A breadth proposal while the search is stalled, else nullopt (the policy
  // samples). Draws from rng only when stalled, so searches that keep
  // improving are unchanged.
  std::optional<std::vector<int>> Breadth() {
    if (!Stalled() || !rng.Bernoulli(options.breadth_share)) return std::nullopt;
    std::optional<std::vector<int>> t;
    if (model != nullptr && rng.Bernoulli(options.breadth_model)) {
      t = ModelPick();
      if (t) {
        ++breadth_proposals;
        ++model_proposals;
        return t;
      }
    }
    if (rng.Bernoulli(0.5)) t = EliteEncoding();
    if (!t) t = UniformFresh();
    if (t) ++breadth_proposals;
    return t;
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
    w.U64(elites.size());
    for (const auto& e : elites) {
      w.Ints(e.tokens);
      w.F64(e.reward);
    }
    w.I64(rewarded);
    w.F64(best_reward);
    w.I64(best_at);
    w.Bool(model != nullptr);
    if (model != nullptr) {
      absl::StatusOr<std::string> bytes = model->Save();
      if (!bytes.ok()) throw std::runtime_error(std::string(bytes.status().message()));
      w.Str(*bytes);
    }
  }

  absl::Status LoadFrom(internal::ByteReader& r, int format) {
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
    KeySet new_seen;
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
    std::vector<Sample> new_elites;
    if (format >= 2) {
      HWNAS_ASSIGN_OR_RETURN(uint64_t ne, r.U64());
      for (uint64_t i = 0; i < ne; ++i) {
        Sample e;
        HWNAS_ASSIGN_OR_RETURN(e.tokens, r.Ints());
        HWNAS_ASSIGN_OR_RETURN(e.reward, r.F64());
        HWNAS_RETURN_IF_ERROR(space.Validate(e.tokens));
        new_elites.push_back(std::move(e));
      }
    }
    // Older formats: as if the best reward had just been reached (the
    // patience counts from the restore).
    int64_t new_rewarded = new_reward_count + static_cast<int64_t>(new_buffer.size());
    double new_best =
        new_elites.empty() ? -std::numeric_limits<double>::infinity() : new_elites.front().reward;
    int64_t new_best_at = new_rewarded;
    if (format >= 3) {
      HWNAS_ASSIGN_OR_RETURN(new_rewarded, r.I64());
      HWNAS_ASSIGN_OR_RETURN(new_best, r.F64());
      HWNAS_ASSIGN_OR_RETURN(new_best_at, r.I64());
      if (new_rewarded < 0 || new_best_at < 0 || new_best_at > new_rewarded) {
        return absl::InvalidArgumentError("controller checkpoint: bad breadth state");
      }
    }
    // The breadth model: restored into a fresh one (committed below) when
    // both the checkpoint and these options have it; else it starts empty.
    std::unique_ptr<Surrogate> new_model;
    if (model != nullptr) new_model = NewModel();
    if (format >= 4) {
      HWNAS_ASSIGN_OR_RETURN(bool has_model, r.Bool());
      if (has_model) {
        HWNAS_ASSIGN_OR_RETURN(std::string bytes, r.Str());
        if (new_model != nullptr) HWNAS_RETURN_IF_ERROR(new_model->Restore(bytes));
      }
    }
    HWNAS_RETURN_IF_ERROR(r.ExpectEnd());
    // Everything parsed: commit.
    torch::NoGradGuard no_grad;
    size_t k = 0;
    for (std::vector<torch::Tensor>* group : {&params, &adam_m, &adam_v}) {
      for (torch::Tensor& t : *group) t.copy_(values[k++]);
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
    elites = std::move(new_elites);
    rewarded = new_rewarded;
    best_reward = new_best;
    best_at = new_best_at;
    if (model != nullptr) model = std::move(new_model);
    // A checkpoint may come from a search with another elite_size.
    if (elites.size() > static_cast<size_t>(options.elite_size)) elites.resize(options.elite_size);
    return absl::OkStatus();
  }
};

MnasNetController::MnasNetController(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MnasNetController::~MnasNetController() = default;

absl::StatusOr<std::unique_ptr<MnasNetController>> MnasNetController::Create(
    ControllerOptions options, const space::SearchSpace& space, uint64_t seed,
    const RewardOptions* reward) {
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
    auto impl = std::make_unique<Impl>(options, space, seed, reward);
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
    // While stalled, a share of the proposals comes from breadth (learned
    // from with their log-probability under the policy, like any proposal).
    // The policy fills the rest below.
    for (int i = 0; i < n; ++i) {
      if (std::optional<std::vector<int>> t = m.Breadth()) emit(*t, m.LogProb(*t));
    }
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
  if (impl_->model != nullptr) HWNAS_RETURN_IF_ERROR(impl_->model->Observe(observations));
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
  if (impl_->model != nullptr) HWNAS_RETURN_IF_ERROR(impl_->model->WarmStart(earlier));
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
  HWNAS_ASSIGN_OR_RETURN(int format, internal::ReadHeaderFormat(r, kTag, kOldestFormat, kFormat));
  try {
    return impl_->LoadFrom(r, format);
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
double MnasNetController::last_entropy() const { return impl_->last_entropy; }
int64_t MnasNetController::breadth_proposals() const { return impl_->breadth_proposals; }
int64_t MnasNetController::model_proposals() const { return impl_->model_proposals; }

void SetControllerThreads(int threads) { torch::set_num_threads(std::max(1, threads)); }

}  // namespace hwnas::controller

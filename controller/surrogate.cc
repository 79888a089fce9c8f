#include "controller/surrogate.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/container/flat_hash_set.h"
#include "common/status_macros.h"
#include "controller/bytes_internal.h"
#include "controller/strategy_internal.h"

namespace hwnas::controller {
namespace {

constexpr absl::string_view kTag = "hwnas.surrogate";
constexpr int kFormat = 1;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kWorst = -std::numeric_limits<double>::infinity();

uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Standard normal (Box-Muller; one draw per call keeps the stream simple).
double Normal(Rng& rng) {
  const double u1 = 1.0 - rng.UniformDouble();  // (0, 1]
  const double u2 = rng.UniformDouble();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// A predicted count cost: at least 1, as a linear model can undershoot for
// the smallest networks and a cost of 0 reads as not computed (MetricValue).
int64_t PredictedCount(double v) {
  if (!(v >= 1)) return 1;  // Also NaN.
  return v >= 9e18 ? static_cast<int64_t>(9e18) : static_cast<int64_t>(v);
}

// Writes a predicted value of a metric into a result, so the search's
// RewardFunction can score predictions exactly as it scores trials.
void SetMetric(TrialResult& r, absl::string_view name, double v) {
  if (name == "latency_ms" || name == "latency_p90_ms") {
    if (!r.latency) r.latency = LatencyMeasurement{};
    (name == "latency_ms" ? r.latency->median_ms : r.latency->p90_ms) = v;
  } else if (name == "params") {
    r.costs.params = PredictedCount(v);
  } else if (name == "macs") {
    r.costs.macs = PredictedCount(v);
  } else if (name == "peak_memory_bytes") {
    r.costs.peak_activation_bytes = PredictedCount(v);
  } else if (name == "flash_bytes") {
    r.costs.flash_bytes = PredictedCount(v);
  } else if (name == "loss") {
    r.loss = v;
  } else if (name == "train_seconds") {
    r.train_seconds = v;
  } else {
    r.estimates[std::string(name)] = v;
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// RidgeEnsemble

namespace internal {

RidgeEnsemble::RidgeEnsemble(const std::vector<double>& prior_precision, int members, uint64_t seed)
    : p_(static_cast<int>(prior_precision.size())),
      ainv_(static_cast<size_t>(p_) * p_, 0.0),
      xfloor_(p_, 0.0),
      pert_(members, std::vector<double>(p_, 0.0)) {
  for (int j = 0; j < p_; ++j) ainv_[static_cast<size_t>(j) * p_ + j] = 1.0 / prior_precision[j];
  Rng rng(seed);
  for (std::vector<double>& pm : pert_) {
    for (int j = 0; j < p_; ++j) pm[j] = std::sqrt(prior_precision[j]) * Normal(rng);
  }
}

void RidgeEnsemble::Update(absl::Span<const int> active, uint64_t noise_seed) {
  // A^-1 <- A^-1 - (A^-1 x)(A^-1 x)' / (1 + x' A^-1 x), x binary and sparse.
  std::vector<double> u(p_, 0.0);
  for (int j : active) {
    const double* row = &ainv_[static_cast<size_t>(j) * p_];  // Symmetric: row = column.
    for (int i = 0; i < p_; ++i) u[i] += row[i];
  }
  double denom = 1.0;
  for (int j : active) denom += u[j];
  const double inv = 1.0 / denom;
  for (int i = 0; i < p_; ++i) {
    const double ui = u[i] * inv;
    if (ui == 0) continue;
    double* row = &ainv_[static_cast<size_t>(i) * p_];
    for (int k = 0; k < p_; ++k) row[k] -= ui * u[k];
  }
  Rng rng(noise_seed);
  for (std::vector<double>& pm : pert_) {
    const double z = Normal(rng);
    for (int j : active) pm[j] += z;
  }
}

void RidgeEnsemble::Add(absl::Span<const int> active, double y, uint64_t noise_seed) {
  Update(active, noise_seed);
  rows_.emplace_back(active.begin(), active.end());
  ys_.push_back(y);
}

void RidgeEnsemble::AddFloor(absl::Span<const int> active, uint64_t noise_seed) {
  Update(active, noise_seed);
  for (int j : active) xfloor_[j] += 1;
}

double RidgeEnsemble::Fit(int member, double exploration, double clip_quantile, double floor,
                          std::vector<double>& w, double clip_high_quantile) const {
  // Targets below the clip quantile are raised to it: the model spends its
  // capacity on the top of the range, where the search decides, instead of
  // on the long tail of poor architectures.
  const size_t n = ys_.size();
  auto quantile = [&](double q) {
    std::vector<double> sorted = ys_;
    const size_t k = std::min(n - 1, static_cast<size_t>(q * (n - 1)));
    std::nth_element(sorted.begin(), sorted.begin() + k, sorted.end());
    return sorted[k];
  };
  double clip = -std::numeric_limits<double>::infinity();
  double clip_high = std::numeric_limits<double>::infinity();
  if (clip_quantile > 0 && n > 0) clip = quantile(clip_quantile);
  if (clip_high_quantile < 1 && n > 0) clip_high = quantile(clip_high_quantile);
  auto clipped = [&](double y) { return std::min(std::max(y, clip), clip_high); };
  double sum = 0, sq = 0;
  for (double y : ys_) {
    const double c = clipped(y);
    sum += c;
    sq += c * c;
  }
  const double mean = n > 0 ? sum / n : 0;
  const double sd = n > 1 ? std::sqrt(std::max(0.0, sq / n - mean * mean)) : 0;
  std::vector<double> b(p_, 0.0);
  for (size_t i = 0; i < n; ++i) {
    const double c = clipped(ys_[i]) - mean;
    for (int j : rows_[i]) b[j] += c;
  }
  for (int j = 0; j < p_; ++j) b[j] += (floor - mean) * xfloor_[j];
  if (member >= 0) {
    const std::vector<double>& pm = pert_[member];
    for (int j = 0; j < p_; ++j) b[j] += exploration * sd * pm[j];
  }
  w.assign(p_, 0.0);
  for (int i = 0; i < p_; ++i) {
    const double* row = &ainv_[static_cast<size_t>(i) * p_];
    double s = 0;
    for (int k = 0; k < p_; ++k) s += row[k] * b[k];
    w[i] = s;
  }
  return mean;
}

}  // namespace internal

// ---------------------------------------------------------------------------
// Surrogate

Surrogate::Surrogate(SurrogateOptions options, const space::SearchSpace& space, uint64_t seed,
                     const RewardOptions* reward)
    : options_(options), space_(space), seed_(seed), rng_(seed) {
  if (reward != nullptr) {
    absl::StatusOr<RewardFunction> f = RewardFunction::Create(*reward);
    if (f.ok()) reward_ = *std::move(f);
  }
  if (options_.decompose && reward_) {
    auto add = [&](const std::string& m) {
      if (m != "accuracy" && std::find(metrics_.begin(), metrics_.end(), m) == metrics_.end()) {
        metrics_.push_back(m);
      }
    };
    for (const Constraint& c : reward_->options().constraints) add(c.metric);
    for (const HardLimit& l : reward_->options().hard_limits) add(l.metric);
  }
  // Features: one-hot per decision, then pairs of decisions while they fit;
  // the same again for the canonical tokens when the space has equivalent
  // token lists (equivalent networks train alike, so accuracy is a function
  // of the canonical form, while measured costs may still see dead ops).
  const auto& ds = space_.decisions();
  const int d_count = static_cast<int>(ds.size());
  use_canonical_ = options_.canonical_features && HasEquivalents();
  const int blocks = use_canonical_ ? 2 : 1;
  auto choices = [&](int v) { return static_cast<int>(ds[v % d_count].choices.size()); };
  for (int v = 0; v < blocks * d_count; ++v) {
    onehot_offset_.push_back(feature_count_);
    feature_count_ += choices(v);
  }
  prior_precision_.assign(feature_count_, options_.ridge);
  if (options_.interactions) {
    int pair_features = 0;
    for (int a = 0; a < d_count; ++a) {
      for (int b = a + 1; b < d_count; ++b) pair_features += blocks * choices(a) * choices(b);
    }
    std::vector<std::pair<int, int>> candidates;
    for (int block = 0; block < blocks; ++block) {
      const int o = block * d_count;
      if (feature_count_ + pair_features <= options_.max_features) {
        for (int a = 0; a < d_count; ++a) {
          for (int b = a + 1; b < d_count; ++b) candidates.push_back({o + a, o + b});
        }
      } else {
        // Too many: neighbouring decisions only, as far as they fit.
        for (int a = 0; a + 1 < d_count; ++a) candidates.push_back({o + a, o + a + 1});
      }
    }
    for (const auto& [a, b] : candidates) {
      const int n = choices(a) * choices(b);
      if (feature_count_ + n > options_.max_features) break;
      pairs_.push_back({a, b});
      pair_offset_.push_back(feature_count_);
      feature_count_ += n;
      prior_precision_.resize(feature_count_, options_.pair_ridge);
    }
  }
  active_count_ = static_cast<int>(onehot_offset_.size() + pairs_.size());
  // Small spaces: enumerate every valid architecture once.
  const uint64_t cardinality = space_.Cardinality();
  if (cardinality > 0 && cardinality <= static_cast<uint64_t>(options_.enumerate_limit)) {
    std::vector<int> tokens(ds.size(), 0);
    std::vector<int> active;
    for (uint64_t i = 0; i < cardinality; ++i) {
      uint64_t index = i;
      for (size_t d = ds.size(); d-- > 0;) {
        tokens[d] = static_cast<int>(index % ds[d].choices.size());
        index /= ds[d].choices.size();
      }
      if (!space_.Validate(tokens).ok()) continue;
      all_index_[internal::ExactKey(space_, tokens)] = static_cast<uint32_t>(all_.size());
      all_.push_back(tokens);
      ActiveFeatures(tokens, active);
      all_active_.insert(all_active_.end(), active.begin(), active.end());
    }
    all_taken_.assign(all_.size(), 0);
    if (options_.near_miss_retries > 0 && decomposed()) {
      absl::flat_hash_map<std::string, uint32_t> groups;
      for (uint32_t i = 0; i < all_.size(); ++i) {
        auto [it, added] = groups.try_emplace(space_.FunctionSignature(all_[i]),
                                              static_cast<uint32_t>(all_by_network_.size()));
        if (added) all_by_network_.emplace_back();
        all_by_network_[it->second].push_back(i);
        all_network_.push_back(it->second);
        all_minimal_.push_back(space_.Canonicalize(all_[i]) == all_[i]);
      }
    }
  }
  models_ = NewModels();
}

bool Surrogate::HasEquivalents() const {
  // Spaces without equivalent token lists gain nothing from canonical
  // features: look for one token list that canonicalizes differently.
  Rng rng(0xca70);  // Fixed: the layout must not depend on the seed (Restore).
  for (int i = 0; i < 256; ++i) {
    std::vector<int> tokens = internal::UniformTokens(space_, rng);
    if (!space_.Validate(tokens).ok()) continue;
    std::vector<int> canonical = space_.Canonicalize(tokens);
    if (canonical.size() != tokens.size()) return false;
    if (canonical != tokens) return true;
  }
  return false;
}

void Surrogate::ActiveFeatures(absl::Span<const int> tokens, std::vector<int>& out) const {
  const auto& ds = space_.decisions();
  const size_t d_count = ds.size();
  std::vector<int> values(tokens.begin(), tokens.end());
  if (use_canonical_) {
    std::vector<int> canonical = space_.Canonicalize(tokens);
    values.insert(values.end(), canonical.begin(), canonical.end());
  }
  out.clear();
  for (size_t v = 0; v < onehot_offset_.size(); ++v) out.push_back(onehot_offset_[v] + values[v]);
  for (size_t k = 0; k < pairs_.size(); ++k) {
    const auto [a, b] = pairs_[k];
    out.push_back(pair_offset_[k] + values[a] * static_cast<int>(ds[b % d_count].choices.size()) +
                  values[b]);
  }
}

Surrogate::Models Surrogate::NewModels() const {
  Models m;
  const int members = options_.ensemble;
  m.reward = std::make_unique<internal::RidgeEnsemble>(prior_precision_, members, Mix(seed_, 1));
  if (decomposed()) {
    m.accuracy =
        std::make_unique<internal::RidgeEnsemble>(prior_precision_, members, Mix(seed_, 2));
    for (size_t k = 0; k < metrics_.size(); ++k) {
      m.metrics.push_back(
          std::make_unique<internal::RidgeEnsemble>(prior_precision_, members, Mix(seed_, 3 + k)));
    }
  }
  return m;
}

double Surrogate::AccuracyTarget(double accuracy) const {
  if (!options_.log_error) return accuracy;
  return -std::log(std::max(1e-4, 1.0 - accuracy));
}

double Surrogate::FromAccuracyTarget(double y) const {
  if (!options_.log_error) return y;
  return 1.0 - std::exp(-y);
}

void Surrogate::Train(Models& models, const Sample& s, size_t index) const {
  std::vector<int> active;
  ActiveFeatures(s.tokens, active);
  const uint64_t base = Mix(seed_ ^ 0x5eed, index);
  if (s.feasible) {
    models.reward->Add(active, s.reward, Mix(base, 1));
  } else {
    models.reward->AddFloor(active, Mix(base, 1));
  }
  if (!decomposed()) return;
  if (s.feasible) models.accuracy->Add(active, AccuracyTarget(s.accuracy), Mix(base, 2));
  for (size_t k = 0; k < metrics_.size(); ++k) {
    const double v = s.metrics[k];
    if (std::isfinite(v) && (v > 0 || !options_.log_costs)) {
      models.metrics[k]->Add(active, options_.log_costs ? std::log(v) : v, Mix(base, 3 + k));
    }
  }
}

void Surrogate::Add(const Observation& o) {
  if (!space_.Validate(o.architecture.tokens).ok()) return;
  const uint64_t key = internal::ExactKey(space_, o.architecture.tokens);
  seen_.insert(key);
  if (auto it = all_index_.find(key); it != all_index_.end()) all_taken_[it->second] = 1;
  if (!o.HasReward() && o.state != TrialState::kInfeasible) return;  // Failed: nothing learned.
  Sample s;
  s.tokens = o.architecture.tokens;
  s.feasible = o.HasReward();
  s.reward = s.feasible ? o.reward : 0;
  s.accuracy = o.result.accuracy;
  for (const std::string& m : metrics_) {
    std::optional<double> v = MetricValue(o.result, m);
    s.metrics.push_back(v ? *v : kNaN);
  }
  samples_.push_back(std::move(s));
  Train(models_, samples_.back(), samples_.size() - 1);
}

bool Surrogate::ModelReady() const {
  // Enough trials observed (a warm start counts): until then, and while the
  // first random proposals of a wide batch are still out, propose at random.
  return static_cast<int>(samples_.size()) >= std::max(2, options_.initial);
}

std::optional<std::vector<int>> Surrogate::Random() {
  return internal::SampleUnseen(space_, rng_, seen_);
}

std::vector<std::vector<int>> Surrogate::Pool() {
  std::vector<std::vector<int>> out;
  absl::flat_hash_set<uint64_t> in_pool;
  auto offer = [&](std::vector<int> tokens) {
    const uint64_t key = internal::ExactKey(space_, tokens);
    if (seen_.contains(key) || in_pool.contains(key) || !space_.Validate(tokens).ok()) return;
    in_pool.insert(key);
    out.push_back(std::move(tokens));
  };
  // Mutations of the best observed trials (feasible first, by reward).
  std::vector<size_t> order;
  for (size_t i = 0; i < samples_.size(); ++i) {
    if (samples_[i].feasible) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return samples_[a].reward > samples_[b].reward; });
  if (static_cast<int>(order.size()) > options_.parents) order.resize(options_.parents);
  const auto& ds = space_.decisions();
  for (size_t i : order) {
    for (int k = 0; k < options_.mutants; ++k) {
      std::vector<int> child = samples_[i].tokens;
      const int changes = 1 + static_cast<int>(rng_.Uniform(2));
      for (int c = 0; c < changes; ++c) {
        const size_t d = rng_.Uniform(ds.size());
        const uint64_t choices = ds[d].choices.size();
        if (choices < 2) continue;
        child[d] = static_cast<int>((child[d] + 1 + rng_.Uniform(choices - 1)) % choices);
      }
      offer(std::move(child));
    }
  }
  for (int k = 0; k < options_.pool; ++k) {
    std::optional<std::vector<int>> t = Random();
    if (!t) break;
    offer(*std::move(t));
  }
  return out;
}

std::optional<std::vector<int>> Surrogate::Best() {
  const int member = static_cast<int>(rng_.Uniform(options_.ensemble));
  const double explore = options_.exploration;
  // Fall back to modelling the reward when a cost model has nothing yet.
  bool decompose = decomposed() && models_.accuracy->rows() >= 2;
  for (const auto& m : models_.metrics) decompose = decompose && m->rows() >= 2;

  std::vector<double> w_reward, w_acc;
  std::vector<std::vector<double>> w_metrics(metrics_.size());
  std::vector<double> b_metrics(metrics_.size());
  double b_reward = 0, b_acc = 0;
  double floor = 0;
  bool any = false;
  for (const Sample& s : samples_) {
    if (s.feasible && (!any || s.reward < floor)) floor = s.reward;
    any = any || s.feasible;
  }
  const double clip = options_.clip_quantile;
  if (decompose) {
    b_acc = models_.accuracy->Fit(member, explore, clip, 0, w_acc);
    for (size_t k = 0; k < metrics_.size(); ++k) {
      b_metrics[k] = models_.metrics[k]->Fit(member, explore, options_.cost_clip, 0, w_metrics[k],
                                             1 - options_.cost_clip);
    }
  } else {
    b_reward = models_.reward->Fit(member, explore, clip, floor, w_reward);
  }
  TrialResult predicted;
  auto score = [&](const int* active) {
    auto dot = [&](const std::vector<double>& w) {
      double s = 0;
      for (int j = 0; j < active_count_; ++j) s += w[active[j]];
      return s;
    };
    if (!decompose) return b_reward + dot(w_reward);
    predicted.accuracy = FromAccuracyTarget(b_acc + dot(w_acc));
    for (size_t k = 0; k < metrics_.size(); ++k) {
      const double y = b_metrics[k] + dot(w_metrics[k]);
      SetMetric(predicted, metrics_[k], options_.log_costs ? std::exp(y) : y);
    }
    if (reward_->HardLimitViolation(predicted)) return kWorst;
    if (options_.strict_targets) {
      for (const Constraint& c : reward_->options().constraints) {
        std::optional<double> v = MetricValue(predicted, c.metric);
        if (v && *v > c.target) return kWorst;
      }
    }
    absl::StatusOr<double> r = reward_->Reward(predicted);
    return r.ok() ? *r : kWorst;
  };

  if (!all_.empty()) {
    int best = -1;
    double best_score = kWorst;
    for (size_t i = 0; i < all_.size(); ++i) {
      if (all_taken_[i]) continue;
      const double s = score(&all_active_[i * active_count_]);
      if (best < 0 || s > best_score) {
        best = static_cast<int>(i);
        best_score = s;
      }
    }
    if (best < 0) return std::nullopt;
    return all_[best];
  }
  std::vector<std::vector<int>> pool = Pool();
  if (pool.empty()) return Random();
  int best = -1;
  double best_score = kWorst;
  std::vector<int> active;
  for (size_t i = 0; i < pool.size(); ++i) {
    ActiveFeatures(pool[i], active);
    const double s = score(active.data());
    if (best < 0 || s > best_score) {
      best = static_cast<int>(i);
      best_score = s;
    }
  }
  return pool[best];
}

std::optional<std::vector<int>> Surrogate::NearMissRetry() {
  if (all_network_.empty()) return std::nullopt;
  // Targets of the modelled metrics (constraints only; hard limits are firm).
  std::vector<double> target(metrics_.size(), 0);
  for (const Constraint& c : reward_->options().constraints) {
    for (size_t k = 0; k < metrics_.size(); ++k) {
      if (metrics_[k] == c.metric) target[k] = c.target;
    }
  }
  auto miss = [&](const Sample& s) {  // Largest relative miss of a target.
    double worst = 0;
    for (size_t k = 0; k < metrics_.size(); ++k) {
      if (target[k] > 0 && std::isfinite(s.metrics[k])) {
        worst = std::max(worst, s.metrics[k] / target[k] - 1);
      }
    }
    return worst;
  };
  double best_within = -1;
  for (const Sample& s : samples_) {
    if (s.feasible && miss(s) <= 0) best_within = std::max(best_within, s.accuracy);
  }
  // The most accurate near miss whose network has retries left.
  int group = -1;
  double group_accuracy = 0;
  for (const Sample& s : samples_) {
    const double m = miss(s);
    if (!s.feasible || s.accuracy <= best_within || m <= 0 || m > options_.near_miss_margin ||
        (group >= 0 && s.accuracy <= group_accuracy)) {
      continue;
    }
    auto it = all_index_.find(internal::ExactKey(space_, s.tokens));
    if (it == all_index_.end()) continue;
    const uint32_t g = all_network_[it->second];
    int tried = 0, untried = 0;
    for (uint32_t i : all_by_network_[g]) (all_taken_[i] ? tried : untried)++;
    if (untried > 0 && tried <= options_.near_miss_retries) {
      group = static_cast<int>(g);
      group_accuracy = s.accuracy;
    }
  }
  if (group < 0) return std::nullopt;
  // Its untried encoding with no dead operations (they cost time but compute
  // nothing) and the lowest predicted cost, under the unperturbed models.
  std::vector<std::vector<double>> w(metrics_.size());
  std::vector<double> b(metrics_.size());
  for (size_t k = 0; k < metrics_.size(); ++k) {
    if (models_.metrics[k]->rows() < 2) return std::nullopt;
    b[k] = models_.metrics[k]->Fit(-1, 0, options_.cost_clip, 0, w[k], 1 - options_.cost_clip);
  }
  int best = -1;
  std::pair<bool, double> best_cost;  // (has dead operations, predicted cost)
  for (uint32_t i : all_by_network_[group]) {
    if (all_taken_[i]) continue;
    const int* active = &all_active_[static_cast<size_t>(i) * active_count_];
    double predicted = 0;
    for (size_t k = 0; k < metrics_.size(); ++k) {
      double y = b[k];
      for (int j = 0; j < active_count_; ++j) y += w[k][active[j]];
      if (options_.log_costs) y = std::exp(y);
      if (target[k] > 0) predicted = std::max(predicted, y / target[k]);
    }
    const std::pair<bool, double> cost = {!all_minimal_[i], predicted};
    if (best < 0 || cost < best_cost) {
      best = static_cast<int>(i);
      best_cost = cost;
    }
  }
  if (best < 0) return std::nullopt;
  return all_[best];
}

absl::StatusOr<std::vector<Proposal>> Surrogate::Propose(int n) {
  std::vector<Proposal> out;
  for (int i = 0; i < n; ++i) {
    std::optional<std::vector<int>> tokens;
    if (!ModelReady()) {
      tokens = Random();
      ++random_issued_;
    } else {
      tokens = NearMissRetry();
      if (!tokens) tokens = Best();
    }
    if (!tokens) break;
    const uint64_t key = internal::ExactKey(space_, *tokens);
    seen_.insert(key);
    if (auto it = all_index_.find(key); it != all_index_.end()) all_taken_[it->second] = 1;
    out.push_back(Proposal{next_id_++, internal::MakeArch(space_, *std::move(tokens))});
  }
  return out;
}

absl::Status Surrogate::Observe(absl::Span<const Observation> observations) {
  for (const Observation& o : observations) Add(o);
  return absl::OkStatus();
}

absl::Status Surrogate::WarmStart(absl::Span<const Observation> earlier) {
  for (const Observation& o : earlier) Add(o);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Surrogate::Save() const {
  internal::ByteWriter w;
  internal::WriteHeader(w, kTag, kFormat);
  w.U64(seed_);
  w.RngState(rng_);
  w.U64(next_id_);
  w.I64(random_issued_);
  w.U64(metrics_.size());
  w.U64(samples_.size());
  for (const Sample& s : samples_) {
    w.Ints(s.tokens);
    w.Bool(s.feasible);
    w.F64(s.reward);
    w.F64(s.accuracy);
    for (double v : s.metrics) w.F64(v);
  }
  internal::WriteKeys(w, seen_);
  return std::move(w).Take();
}

absl::Status Surrogate::Restore(absl::string_view bytes) {
  internal::ByteReader r(bytes);
  HWNAS_RETURN_IF_ERROR(internal::ReadHeader(r, kTag, kFormat));
  HWNAS_ASSIGN_OR_RETURN(uint64_t seed, r.U64());
  Rng rng;
  HWNAS_RETURN_IF_ERROR(r.RngState(rng));
  HWNAS_ASSIGN_OR_RETURN(uint64_t next_id, r.U64());
  HWNAS_ASSIGN_OR_RETURN(int64_t random_issued, r.I64());
  HWNAS_ASSIGN_OR_RETURN(uint64_t metric_count, r.U64());
  if (metric_count != metrics_.size()) {
    return absl::InvalidArgumentError(
        "surrogate checkpoint was made for a different reward (modelled metrics differ)");
  }
  HWNAS_ASSIGN_OR_RETURN(uint64_t n, r.U64());
  std::vector<Sample> samples;
  for (uint64_t i = 0; i < n; ++i) {
    Sample s;
    HWNAS_ASSIGN_OR_RETURN(s.tokens, r.Ints());
    HWNAS_RETURN_IF_ERROR(space_.Validate(s.tokens));
    HWNAS_ASSIGN_OR_RETURN(s.feasible, r.Bool());
    HWNAS_ASSIGN_OR_RETURN(s.reward, r.F64());
    HWNAS_ASSIGN_OR_RETURN(s.accuracy, r.F64());
    for (uint64_t k = 0; k < metric_count; ++k) {
      HWNAS_ASSIGN_OR_RETURN(double v, r.F64());
      s.metrics.push_back(v);
    }
    samples.push_back(std::move(s));
  }
  KeySet seen;
  HWNAS_RETURN_IF_ERROR(internal::ReadKeys(r, seen));
  HWNAS_RETURN_IF_ERROR(r.ExpectEnd());
  seed_ = seed;
  rng_ = rng;
  next_id_ = next_id;
  random_issued_ = static_cast<int>(random_issued);
  samples_ = std::move(samples);
  seen_ = std::move(seen);
  std::fill(all_taken_.begin(), all_taken_.end(), 0);
  for (uint64_t key : seen_) {
    if (auto it = all_index_.find(key); it != all_index_.end()) all_taken_[it->second] = 1;
  }
  // The models are a deterministic function of the seed and the samples.
  models_ = NewModels();
  for (size_t i = 0; i < samples_.size(); ++i) Train(models_, samples_[i], i);
  return absl::OkStatus();
}

}  // namespace hwnas::controller

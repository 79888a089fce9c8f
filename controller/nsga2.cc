#include "controller/nsga2.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "controller/bytes_internal.h"
#include "controller/strategy_internal.h"

namespace hwnas::controller {
namespace {

constexpr absl::string_view kTag = "hwnas.nsga2";
constexpr int kFormat = 1;
// Child attempts before falling back to a random unseen architecture.
constexpr int kChildTries = 100;
constexpr double kInf = std::numeric_limits<double>::infinity();

bool ParetoDominates(const std::vector<double>& a, const std::vector<double>& b) {
  bool better = false;
  for (size_t k = 0; k < a.size() && k < b.size(); ++k) {
    if (a[k] > b[k]) return false;
    if (a[k] < b[k]) better = true;
  }
  return better;
}

}  // namespace

bool ConstrainedDominates(const Nsga2Point& a, const Nsga2Point& b) {
  const bool fa = a.violation <= 0, fb = b.violation <= 0;
  if (fa != fb) return fa;
  if (!fa) return a.violation < b.violation;
  return ParetoDominates(a.objectives, b.objectives);
}

std::vector<std::vector<int>> NonDominatedFronts(const std::vector<Nsga2Point>& points) {
  const int n = static_cast<int>(points.size());
  std::vector<std::vector<int>> dominated(n);  // i -> members i dominates
  std::vector<int> count(n, 0);                // members dominating i
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) {
      if (ConstrainedDominates(points[i], points[j])) {
        dominated[i].push_back(j);
        ++count[j];
      } else if (ConstrainedDominates(points[j], points[i])) {
        dominated[j].push_back(i);
        ++count[i];
      }
    }
  }
  std::vector<std::vector<int>> fronts;
  std::vector<int> current;
  for (int i = 0; i < n; ++i) {
    if (count[i] == 0) current.push_back(i);
  }
  while (!current.empty()) {
    std::vector<int> next;
    for (int i : current) {
      for (int j : dominated[i]) {
        if (--count[j] == 0) next.push_back(j);
      }
    }
    std::sort(next.begin(), next.end());
    fronts.push_back(std::move(current));
    current = std::move(next);
  }
  return fronts;
}

std::vector<double> CrowdingDistances(const std::vector<Nsga2Point>& points,
                                      const std::vector<int>& front) {
  const size_t n = front.size();
  std::vector<double> distance(n, 0);
  if (n == 0) return distance;
  size_t objectives = 0;
  for (int i : front) objectives = std::max(objectives, points[i].objectives.size());
  auto value = [&](size_t pos, size_t k) {
    const std::vector<double>& o = points[front[pos]].objectives;
    return k < o.size() ? o[k] : kInf;
  };
  std::vector<size_t> order(n);
  for (size_t k = 0; k < objectives; ++k) {
    for (size_t i = 0; i < n; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return value(a, k) < value(b, k); });
    const double lo = value(order.front(), k), hi = value(order.back(), k);
    distance[order.front()] = kInf;
    distance[order.back()] = kInf;
    const double range = hi - lo;
    // Constant or unbounded (a missing metric): no finite spread to share.
    if (!(range > 0) || !std::isfinite(range)) continue;
    for (size_t i = 1; i + 1 < n; ++i) {
      const double gap = value(order[i + 1], k) - value(order[i - 1], k);
      if (std::isfinite(gap)) distance[order[i]] += gap / range;
    }
  }
  return distance;
}

Nsga2::Nsga2(Nsga2Options options, const space::SearchSpace& space, uint64_t seed,
             const RewardOptions* reward)
    : options_(options), space_(space), rng_(seed) {
  auto add = [&](const std::string& m) {
    if (std::find(metrics_.begin(), metrics_.end(), m) == metrics_.end()) metrics_.push_back(m);
  };
  if (reward != nullptr) {
    for (const Constraint& c : reward->constraints) add(c.metric);
    for (const std::string& m : reward->EffectiveParetoMetrics()) add(m);
    limits_ = reward->hard_limits;
  } else {
    add("latency_ms");
  }
  mutation_ = options_.mutation > 0 ? options_.mutation
                                    : 1.0 / static_cast<double>(space_.decisions().size());
}

std::optional<Nsga2::Member> Nsga2::ToMember(const Observation& o) const {
  const bool infeasible = o.state == TrialState::kInfeasible;
  if (!o.HasReward() && !infeasible) return std::nullopt;  // Failed: nothing learned.
  Member m;
  m.tokens = o.architecture.tokens;
  // Never trained when infeasible: its accuracy is unknown, read as 0.
  m.point.objectives.push_back(infeasible ? 0.0 : -o.result.accuracy);
  for (const std::string& metric : metrics_) {
    std::optional<double> v = MetricValue(o.result, metric);
    m.point.objectives.push_back(v && std::isfinite(*v) ? *v : kInf);
  }
  for (const HardLimit& l : limits_) {
    std::optional<double> v = MetricValue(o.result, l.metric);
    if (!v || !(*v > l.max)) continue;
    m.point.violation += l.max > 0 ? (*v - l.max) / l.max : *v - l.max;
  }
  // Infeasible by the server's judgment without a measured excess (the limit
  // was checked on metrics this result does not carry): a unit violation.
  if (infeasible && !(m.point.violation > 0)) m.point.violation = 1;
  return m;
}

void Nsga2::Survive() {
  std::vector<Nsga2Point> points;
  points.reserve(population_.size());
  for (const Member& m : population_) points.push_back(m.point);
  std::vector<std::vector<int>> fronts = NonDominatedFronts(points);
  const size_t cap = static_cast<size_t>(options_.population);
  if (population_.size() > cap) {
    std::vector<char> keep(population_.size(), 0);
    size_t kept = 0;
    for (const std::vector<int>& front : fronts) {
      if (kept + front.size() <= cap) {
        for (int i : front) keep[i] = 1;
        kept += front.size();
        continue;
      }
      // The last front that fits only partly: the least crowded survive;
      // on equal distance the younger member (larger index) does.
      std::vector<double> d = CrowdingDistances(points, front);
      std::vector<size_t> order(front.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        if (d[a] != d[b]) return d[a] > d[b];
        return front[a] > front[b];
      });
      for (size_t i = 0; kept < cap; ++i, ++kept) keep[front[order[i]]] = 1;
      break;
    }
    std::vector<Member> survivors;
    survivors.reserve(cap);
    for (size_t i = 0; i < population_.size(); ++i) {
      if (keep[i]) survivors.push_back(std::move(population_[i]));
    }
    population_ = std::move(survivors);
    points.clear();
    for (const Member& m : population_) points.push_back(m.point);
    fronts = NonDominatedFronts(points);
  }
  rank_.assign(population_.size(), 0);
  crowding_.assign(population_.size(), 0);
  for (size_t r = 0; r < fronts.size(); ++r) {
    std::vector<double> d = CrowdingDistances(points, fronts[r]);
    for (size_t i = 0; i < fronts[r].size(); ++i) {
      rank_[fronts[r][i]] = static_cast<int>(r);
      crowding_[fronts[r][i]] = d[i];
    }
  }
}

int Nsga2::Tournament() {
  const int a = static_cast<int>(rng_.Uniform(population_.size()));
  const int b = static_cast<int>(rng_.Uniform(population_.size()));
  if (rank_[a] != rank_[b]) return rank_[a] < rank_[b] ? a : b;
  return crowding_[b] > crowding_[a] ? b : a;
}

std::optional<std::vector<int>> Nsga2::Child() {
  const auto& ds = space_.decisions();
  for (int attempt = 0; attempt < kChildTries; ++attempt) {
    const std::vector<int>& p1 = population_[Tournament()].tokens;
    const std::vector<int>& p2 = population_[Tournament()].tokens;
    std::vector<int> child = p1;
    if (rng_.Bernoulli(options_.crossover)) {
      for (size_t d = 0; d < child.size() && d < p2.size(); ++d) {
        if (rng_.Bernoulli(0.5)) child[d] = p2[d];
      }
    }
    for (size_t d = 0; d < child.size() && d < ds.size(); ++d) {
      if (ds[d].choices.size() < 2 || !rng_.Bernoulli(mutation_)) continue;
      internal::MoveToOtherChoice(space_, rng_, child, d);
    }
    if (!seen_.contains(internal::ExactKey(space_, child)) && space_.Validate(child).ok()) {
      return child;
    }
  }
  return internal::SampleUnseen(space_, rng_, seen_);
}

absl::StatusOr<std::vector<Proposal>> Nsga2::Propose(int n) {
  return internal::ProposeFromPopulation(n, space_, rng_, seen_, next_id_, random_issued_,
                                         options_.population, population_.empty(),
                                         [this] { return Child(); });
}

absl::Status Nsga2::Observe(absl::Span<const Observation> observations) {
  bool changed = false;
  for (const Observation& o : observations) {
    if (!space_.Validate(o.architecture.tokens).ok()) continue;
    seen_.insert(internal::ExactKey(space_, o.architecture.tokens));
    std::optional<Member> m = ToMember(o);
    if (!m) continue;
    population_.push_back(*std::move(m));
    changed = true;
  }
  if (changed) Survive();
  return absl::OkStatus();
}

absl::Status Nsga2::WarmStart(absl::Span<const Observation> earlier) {
  // Earlier trials compete for the first population exactly as results do.
  HWNAS_RETURN_IF_ERROR(Observe(earlier));
  if (!population_.empty()) random_issued_ = std::max(random_issued_, options_.population);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Nsga2::Save() const {
  internal::ByteWriter w;
  internal::WriteHeader(w, kTag, kFormat);
  w.U64(metrics_.size());
  for (const std::string& m : metrics_) w.Str(m);
  w.RngState(rng_);
  w.U64(next_id_);
  w.I64(random_issued_);
  w.U64(population_.size());
  for (const Member& m : population_) {
    w.Ints(m.tokens);
    w.U64(m.point.objectives.size());
    for (double v : m.point.objectives) w.F64(v);
    w.F64(m.point.violation);
  }
  internal::WriteKeys(w, seen_);
  return std::move(w).Take();
}

absl::Status Nsga2::Restore(absl::string_view bytes) {
  internal::ByteReader r(bytes);
  HWNAS_RETURN_IF_ERROR(internal::ReadHeader(r, kTag, kFormat));
  HWNAS_ASSIGN_OR_RETURN(uint64_t metric_count, r.U64());
  if (metric_count > r.remaining()) return absl::DataLossError("nsga2 checkpoint: bad metrics");
  std::vector<std::string> metrics;
  for (uint64_t i = 0; i < metric_count; ++i) {
    HWNAS_ASSIGN_OR_RETURN(std::string m, r.Str());
    metrics.push_back(std::move(m));
  }
  if (metrics != metrics_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "nsga2 checkpoint was made for other objectives (accuracy, ", absl::StrJoin(metrics, ", "),
        "; this search: accuracy, ", absl::StrJoin(metrics_, ", "), ")"));
  }
  Rng rng;
  HWNAS_RETURN_IF_ERROR(r.RngState(rng));
  HWNAS_ASSIGN_OR_RETURN(uint64_t next_id, r.U64());
  HWNAS_ASSIGN_OR_RETURN(int64_t random_issued, r.I64());
  HWNAS_ASSIGN_OR_RETURN(uint64_t n, r.U64());
  if (n > r.remaining()) return absl::DataLossError("nsga2 checkpoint: bad population size");
  std::vector<Member> population;
  for (uint64_t i = 0; i < n; ++i) {
    Member m;
    HWNAS_ASSIGN_OR_RETURN(m.tokens, r.Ints());
    HWNAS_RETURN_IF_ERROR(space_.Validate(m.tokens));
    HWNAS_ASSIGN_OR_RETURN(uint64_t k, r.U64());
    if (k != metrics_.size() + 1) {
      return absl::DataLossError("nsga2 checkpoint: wrong objective count");
    }
    for (uint64_t j = 0; j < k; ++j) {
      HWNAS_ASSIGN_OR_RETURN(double v, r.F64());
      m.point.objectives.push_back(v);
    }
    HWNAS_ASSIGN_OR_RETURN(m.point.violation, r.F64());
    population.push_back(std::move(m));
  }
  KeySet seen;
  HWNAS_RETURN_IF_ERROR(internal::ReadKeys(r, seen));
  HWNAS_RETURN_IF_ERROR(r.ExpectEnd());
  rng_ = rng;
  next_id_ = next_id;
  random_issued_ = static_cast<int>(random_issued);
  population_ = std::move(population);
  seen_ = std::move(seen);
  Survive();  // Ranks and crowding only: a saved population is within the cap.
  return absl::OkStatus();
}

}  // namespace hwnas::controller

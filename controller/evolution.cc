#include "controller/evolution.h"

#include <algorithm>

#include "common/status_macros.h"
#include "controller/bytes_internal.h"
#include "controller/strategy_internal.h"

namespace hwnas::controller {
namespace {

constexpr absl::string_view kTag = "hwnas.evolution";
constexpr int kFormat = 1;
// Mutation attempts before falling back to a random unseen architecture.
constexpr int kChildTries = 100;

bool Better(const Evolution::Member& a, const Evolution::Member& b) {
  if (a.feasible != b.feasible) return a.feasible;
  return a.reward > b.reward;
}

}  // namespace

Evolution::Evolution(EvolutionOptions options, const space::SearchSpace& space, uint64_t seed)
    : options_(options), space_(space), rng_(seed) {}

std::optional<std::vector<int>> Evolution::Child() {
  const auto& ds = space_.decisions();
  const int mutations = std::min<int>(options_.mutations, static_cast<int>(ds.size()));
  for (int attempt = 0; attempt < kChildTries; ++attempt) {
    const Member* parent = nullptr;
    for (int i = 0; i < options_.tournament; ++i) {
      const Member& m = population_[rng_.Uniform(population_.size())];
      if (parent == nullptr || Better(m, *parent)) parent = &m;
    }
    std::vector<int> child = parent->tokens;
    // `mutations` distinct decisions, each moved to a different choice.
    std::vector<int> order(ds.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    for (int k = 0; k < mutations; ++k) {
      const size_t j = k + rng_.Uniform(order.size() - k);
      std::swap(order[k], order[j]);
      internal::MoveToOtherChoice(space_, rng_, child, order[k]);
    }
    if (!seen_.contains(internal::ExactKey(space_, child)) && space_.Validate(child).ok()) {
      return child;
    }
  }
  return internal::SampleUnseen(space_, rng_, seen_);
}

absl::StatusOr<std::vector<Proposal>> Evolution::Propose(int n) {
  return internal::ProposeFromPopulation(n, space_, rng_, seen_, next_id_, random_issued_,
                                         options_.population, population_.empty(),
                                         [this] { return Child(); });
}

void Evolution::Add(const Observation& o) {
  if (!space_.Validate(o.architecture.tokens).ok()) return;
  seen_.insert(internal::ExactKey(space_, o.architecture.tokens));
  if (!o.HasReward() && o.state != TrialState::kInfeasible) return;  // Failed: nothing learned.
  Member m;
  m.tokens = o.architecture.tokens;
  m.feasible = o.state != TrialState::kInfeasible;
  m.reward = m.feasible ? o.reward : 0;
  population_.push_back(std::move(m));
  while (static_cast<int>(population_.size()) > options_.population) population_.pop_front();
}

absl::Status Evolution::Observe(absl::Span<const Observation> observations) {
  for (const Observation& o : observations) Add(o);
  return absl::OkStatus();
}

absl::Status Evolution::WarmStart(absl::Span<const Observation> earlier) {
  // The best `population` earlier trials, in their original order, become
  // the first population; no random initialization is needed after that.
  std::vector<size_t> usable;
  for (size_t i = 0; i < earlier.size(); ++i) {
    if (earlier[i].HasReward() || earlier[i].state == TrialState::kInfeasible) usable.push_back(i);
    if (space_.Validate(earlier[i].architecture.tokens).ok()) {
      seen_.insert(internal::ExactKey(space_, earlier[i].architecture.tokens));
    }
  }
  auto member = [&](size_t i) {
    const Observation& o = earlier[i];
    return Member{o.architecture.tokens, o.state != TrialState::kInfeasible, o.reward};
  };
  std::stable_sort(usable.begin(), usable.end(),
                   [&](size_t a, size_t b) { return Better(member(a), member(b)); });
  if (static_cast<int>(usable.size()) > options_.population) usable.resize(options_.population);
  std::sort(usable.begin(), usable.end());
  for (size_t i : usable) Add(earlier[i]);
  if (!usable.empty()) random_issued_ = std::max(random_issued_, options_.population);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Evolution::Save() const {
  internal::ByteWriter w;
  internal::WriteHeader(w, kTag, kFormat);
  w.RngState(rng_);
  w.U64(next_id_);
  w.I64(random_issued_);
  w.U64(population_.size());
  for (const Member& m : population_) {
    w.Ints(m.tokens);
    w.Bool(m.feasible);
    w.F64(m.reward);
  }
  internal::WriteKeys(w, seen_);
  return std::move(w).Take();
}

absl::Status Evolution::Restore(absl::string_view bytes) {
  internal::ByteReader r(bytes);
  HWNAS_RETURN_IF_ERROR(internal::ReadHeader(r, kTag, kFormat));
  Rng rng;
  HWNAS_RETURN_IF_ERROR(r.RngState(rng));
  HWNAS_ASSIGN_OR_RETURN(uint64_t next_id, r.U64());
  HWNAS_ASSIGN_OR_RETURN(int64_t random_issued, r.I64());
  HWNAS_ASSIGN_OR_RETURN(uint64_t n, r.U64());
  std::deque<Member> population;
  for (uint64_t i = 0; i < n; ++i) {
    Member m;
    HWNAS_ASSIGN_OR_RETURN(m.tokens, r.Ints());
    HWNAS_RETURN_IF_ERROR(space_.Validate(m.tokens));
    HWNAS_ASSIGN_OR_RETURN(m.feasible, r.Bool());
    HWNAS_ASSIGN_OR_RETURN(m.reward, r.F64());
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
  return absl::OkStatus();
}

}  // namespace hwnas::controller

#include "controller/search.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/bytes_internal.h"
#include "controller/strategy_internal.h"

namespace hwnas::controller {
namespace {

constexpr absl::string_view kTag = "hwnas.search";
constexpr int kFormat = 1;

bool HasReward(TrialState s) {
  return s == TrialState::kSucceeded || s == TrialState::kEarlyStopped;
}

void WriteScored(internal::ByteWriter& w, const ScoredTrial& s) {
  w.U64(s.proposal_id);
  w.Arch(s.architecture);
  w.I64(static_cast<int64_t>(s.state));
  w.Result(s.result);
  w.F64(s.reward);
  w.Bool(s.feasible);
  w.Bool(s.counted);
  w.Str(s.note);
}

absl::StatusOr<ScoredTrial> ReadScored(internal::ByteReader& r) {
  ScoredTrial s;
  HWNAS_ASSIGN_OR_RETURN(s.proposal_id, r.U64());
  HWNAS_ASSIGN_OR_RETURN(s.architecture, r.Arch());
  HWNAS_ASSIGN_OR_RETURN(int64_t state, r.I64());
  if (state < 0 || state > static_cast<int64_t>(TrialState::kCancelled)) {
    return absl::DataLossError("checkpoint holds an unknown trial state");
  }
  s.state = static_cast<TrialState>(state);
  HWNAS_ASSIGN_OR_RETURN(s.result, r.Result());
  HWNAS_ASSIGN_OR_RETURN(s.reward, r.F64());
  HWNAS_ASSIGN_OR_RETURN(s.feasible, r.Bool());
  HWNAS_ASSIGN_OR_RETURN(s.counted, r.Bool());
  HWNAS_ASSIGN_OR_RETURN(s.note, r.Str());
  return s;
}

}  // namespace

SearchOptions MakeSearchOptions(const spec::ControllerSpec& spec) {
  SearchOptions o;
  o.reward = spec.objectives;
  o.strategy = spec.strategy;
  o.budget = spec.budget.trials;
  o.dedup =
      spec.evaluator.kind == spec::EvaluatorKind::kTable ? DedupKey::kExact : DedupKey::kCanonical;
  return o;
}

Search::Search(SearchOptions options, const space::SearchSpace& space, RewardFunction reward,
               std::unique_ptr<Strategy> strategy)
    : options_(std::move(options)),
      space_(space),
      reward_(std::move(reward)),
      strategy_(std::move(strategy)),
      pareto_(options_.reward.EffectiveParetoMetrics()) {}

absl::StatusOr<std::unique_ptr<Search>> Search::Create(SearchOptions options,
                                                       const space::SearchSpace& space,
                                                       uint64_t seed) {
  HWNAS_ASSIGN_OR_RETURN(std::unique_ptr<Strategy> strategy,
                         MakeStrategy(options.strategy, space, seed, &options.reward));
  return Create(std::move(options), space, std::move(strategy));
}

absl::StatusOr<std::unique_ptr<Search>> Search::Create(SearchOptions options,
                                                       const space::SearchSpace& space,
                                                       std::unique_ptr<Strategy> strategy) {
  if (strategy == nullptr) return absl::InvalidArgumentError("no strategy");
  if (options.budget < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("budget.trials: must be zero (unlimited) or positive, got ", options.budget));
  }
  if (options.max_draws_per_call < 1) {
    return absl::InvalidArgumentError("max_draws_per_call must be positive");
  }
  HWNAS_ASSIGN_OR_RETURN(RewardFunction reward, RewardFunction::Create(options.reward));
  return std::unique_ptr<Search>(
      new Search(std::move(options), space, std::move(reward), std::move(strategy)));
}

uint64_t Search::Key(absl::Span<const int> tokens) const {
  return options_.dedup == DedupKey::kCanonical ? space_.CanonicalHash(tokens)
                                                : internal::ExactKey(space_, tokens);
}

bool Search::BudgetExhausted() const {
  return options_.budget > 0 && evaluated() + pending() >= options_.budget;
}

Observation Search::ToObservation(const ScoredTrial& s, uint64_t proposal_id) const {
  Observation o;
  o.proposal_id = proposal_id;
  o.architecture = s.architecture;
  o.state = s.state;
  o.result = s.result;
  o.reward = s.reward;
  return o;
}

absl::StatusOr<std::vector<Proposal>> Search::Propose(int n) {
  if (n < 0) return absl::InvalidArgumentError("Propose: n must not be negative");
  std::vector<Proposal> out;
  int draws = 0;
  while (static_cast<int>(out.size()) < n && !BudgetExhausted() &&
         draws < options_.max_draws_per_call) {
    int want = n - static_cast<int>(out.size());
    if (options_.budget > 0) {
      want = static_cast<int>(std::min<int64_t>(want, options_.budget - evaluated() - pending()));
    }
    HWNAS_ASSIGN_OR_RETURN(std::vector<Proposal> drawn, strategy_->Propose(want));
    if (drawn.empty()) break;  // The strategy has nothing more to offer.
    draws += static_cast<int>(drawn.size());
    std::vector<Observation> answered;
    for (Proposal& p : drawn) {
      if (absl::Status s = space_.Validate(p.architecture.tokens); !s.ok()) {
        return absl::InternalError(absl::StrCat(
            "strategy ", strategy_->name(), " proposed an invalid architecture: ", s.message()));
      }
      const uint64_t key = Key(p.architecture.tokens);
      if (auto it = finished_.find(key); it != finished_.end()) {
        answered.push_back(ToObservation(history_[it->second], p.id));
        observed_ids_.insert(p.id);
      } else if (pending_key_.contains(key)) {
        waiting_[key].push_back(p.id);
      } else {
        pending_[p.id] = key;
        pending_key_[key] = p.id;
        out.push_back(std::move(p));
      }
    }
    if (!answered.empty()) HWNAS_RETURN_IF_ERROR(strategy_->Observe(answered));
  }
  return out;
}

absl::StatusOr<ScoredTrial> Search::Score(const FinishedTrial& t) const {
  if (!IsTerminal(t.state)) {
    return absl::InvalidArgumentError(
        absl::StrCat("trial ", t.proposal_id, " is ", TrialStateName(t.state), ", not finished"));
  }
  HWNAS_RETURN_IF_ERROR(space_.Validate(t.architecture.tokens));
  ScoredTrial s;
  s.proposal_id = t.proposal_id;
  s.architecture = t.architecture;
  s.state = t.state;
  s.result = t.result;
  if (HasReward(t.state)) {
    if (absl::Status v = ValidateTrialResult(t.result); !v.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("trial ", t.proposal_id, ": ", v.message()));
    }
    if (std::optional<std::string> over = reward_.HardLimitViolation(t.result)) {
      s.state = TrialState::kInfeasible;
      s.note = *over;
    } else {
      absl::StatusOr<double> r = reward_.Reward(t.result);
      if (!r.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("trial ", t.proposal_id, ": ", r.status().message()));
      }
      s.reward = *r;
      s.feasible = true;
    }
  }
  return s;
}

void Search::Supersede(ScoredTrial scored, size_t index) {
  ScoredTrial& old = history_[index];
  // The entry keeps its proposal id (the front names points by it) and its
  // place in the budget count.
  scored.proposal_id = old.proposal_id;
  scored.counted = true;
  const bool was_on_front =
      old.feasible &&
      std::any_of(pareto_.points().begin(), pareto_.points().end(),
                  [&](const ParetoPoint& p) { return p.trial_id == old.proposal_id; });
  old = std::move(scored);
  if (was_on_front) {
    // The earlier rung's point may have kept others off the front: rebuild
    // it (rare: only when a front member is promoted).
    pareto_ = ParetoFront(options_.reward.EffectiveParetoMetrics());
    for (const ScoredTrial& s : history_) {
      if (s.feasible) (void)pareto_.AddResult(s.proposal_id, s.architecture, s.result);
    }
  } else if (old.feasible) {
    (void)pareto_.AddResult(old.proposal_id, old.architecture, old.result);
  }
  if (best_ == static_cast<int>(index)) {
    // The best may have got worse: find it again.
    best_ = -1;
    for (size_t i = 0; i < history_.size(); ++i) {
      if (history_[i].feasible && (best_ < 0 || history_[i].reward > history_[best_].reward)) {
        best_ = static_cast<int>(i);
      }
    }
  } else if (old.feasible && (best_ < 0 || old.reward > history_[best_].reward)) {
    best_ = static_cast<int>(index);
  }
}

void Search::Record(ScoredTrial scored, uint64_t key) {
  scored.counted = true;
  finished_[key] = history_.size();
  if (scored.feasible) {
    // Metrics the front needs may be missing (e.g. no latency measured): the
    // trial then stays off the front but keeps its reward.
    (void)pareto_.AddResult(scored.proposal_id, scored.architecture, scored.result);
    if (best_ < 0 || scored.reward > history_[best_].reward)
      best_ = static_cast<int>(history_.size());
  }
  history_.push_back(std::move(scored));
}

absl::StatusOr<std::vector<ScoredTrial>> Search::Observe(absl::Span<const FinishedTrial> trials) {
  std::vector<ScoredTrial> scored;
  scored.reserve(trials.size());
  std::vector<bool> supersedes;
  for (const FinishedTrial& t : trials) {
    HWNAS_ASSIGN_OR_RETURN(ScoredTrial s, Score(t));
    scored.push_back(std::move(s));
    supersedes.push_back(t.supersedes);
  }
  std::vector<Observation> to_strategy;
  std::vector<ScoredTrial> out;
  for (size_t i = 0; i < scored.size(); ++i) {
    ScoredTrial& s = scored[i];
    const uint64_t id = s.proposal_id;
    if (id != kNoProposal && observed_ids_.contains(id)) continue;  // Reported twice.
    if (id != kNoProposal) observed_ids_.insert(id);
    const uint64_t key = Key(s.architecture.tokens);
    if (auto it = pending_.find(id); id != kNoProposal && it != pending_.end()) {
      if (it->second != key) {
        return absl::InvalidArgumentError(absl::StrCat("trial ", id, " reports architecture ",
                                                       s.architecture.readable, " but proposal ",
                                                       id, " was a different architecture"));
      }
      pending_.erase(it);
      pending_key_.erase(key);
    } else if (auto pk = pending_key_.find(key); pk != pending_key_.end()) {
      // A foreign trial of an architecture that is pending under another
      // proposal: it answers that proposal too.
      pending_.erase(pk->second);
      waiting_[key].push_back(pk->second);
      pending_key_.erase(pk);
    }
    std::vector<uint64_t> waiters;
    if (auto w = waiting_.find(key); w != waiting_.end()) {
      waiters = std::move(w->second);
      waiting_.erase(w);
    }
    if (s.state == TrialState::kCancelled) {
      // Not evaluated: the architecture may be proposed and run again.
      to_strategy.push_back(ToObservation(s, id));
      for (uint64_t w : waiters) to_strategy.push_back(ToObservation(s, w));
      out.push_back(std::move(s));
      continue;
    }
    if (auto f = finished_.find(key); f == finished_.end()) {
      Record(s, key);
      s.counted = true;
    } else if (supersedes[i]) {
      Supersede(s, f->second);
    }
    to_strategy.push_back(ToObservation(s, id));
    for (uint64_t w : waiters) {
      observed_ids_.insert(w);
      to_strategy.push_back(ToObservation(s, w));
    }
    out.push_back(std::move(s));
  }
  if (!to_strategy.empty()) HWNAS_RETURN_IF_ERROR(strategy_->Observe(to_strategy));
  return out;
}

absl::StatusOr<Search::WarmStartReport> Search::WarmStart(absl::Span<const FinishedTrial> earlier) {
  WarmStartReport report;
  std::vector<Observation> obs;
  for (const FinishedTrial& t : earlier) {
    absl::StatusOr<ScoredTrial> s = Score(t);
    if (!s.ok()) {
      if (report.skipped++ == 0) report.first_skip_reason = std::string(s.status().message());
      continue;
    }
    obs.push_back(ToObservation(*s, kNoProposal));
  }
  report.used = static_cast<int64_t>(obs.size());
  if (!obs.empty()) HWNAS_RETURN_IF_ERROR(strategy_->WarmStart(obs));
  return report;
}

absl::StatusOr<std::string> Search::Save(bool with_history) const {
  internal::ByteWriter w;
  internal::WriteHeader(w, kTag, kFormat);
  w.Str(strategy_->name());
  HWNAS_ASSIGN_OR_RETURN(std::string strategy_bytes, strategy_->Save());
  w.Str(strategy_bytes);
  if (with_history) {
    w.U64(history_.size());
    for (const ScoredTrial& s : history_) WriteScored(w, s);
  } else {
    w.U64(0);
  }
  w.U64(pending_.size());
  for (const auto& [id, key] : pending_) {
    w.U64(id);
    w.U64(key);
  }
  w.U64(waiting_.size());
  for (const auto& [key, ids] : waiting_) {
    w.U64(key);
    w.U64(ids.size());
    for (uint64_t id : ids) w.U64(id);
  }
  internal::WriteKeys(w, observed_ids_);
  return std::move(w).Take();
}

absl::Status Search::RestoreHistory(absl::Span<const FinishedTrial> observed,
                                    absl::Span<const FinishedTrial> later) {
  auto record = [&](const FinishedTrial& t) {
    if (t.state == TrialState::kCancelled) return;
    absl::StatusOr<ScoredTrial> s = Score(t);
    if (!s.ok()) return;
    const uint64_t key = Key(s->architecture.tokens);
    if (!finished_.contains(key)) Record(*std::move(s), key);
  };
  for (const FinishedTrial& t : observed) record(t);
  for (const FinishedTrial& t : later) {
    if (t.proposal_id != kNoProposal && observed_ids_.contains(t.proposal_id)) record(t);
  }
  return absl::OkStatus();
}

absl::Status Search::Restore(absl::string_view bytes) {
  internal::ByteReader r(bytes);
  HWNAS_RETURN_IF_ERROR(internal::ReadHeader(r, kTag, kFormat));
  HWNAS_ASSIGN_OR_RETURN(std::string name, r.Str());
  if (name != strategy_->name()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint is of strategy '", name, "', this search runs '", strategy_->name(), "'"));
  }
  HWNAS_ASSIGN_OR_RETURN(std::string strategy_bytes, r.Str());
  HWNAS_ASSIGN_OR_RETURN(uint64_t n, r.U64());
  std::vector<ScoredTrial> history;
  for (uint64_t i = 0; i < n; ++i) {
    HWNAS_ASSIGN_OR_RETURN(ScoredTrial s, ReadScored(r));
    HWNAS_RETURN_IF_ERROR(space_.Validate(s.architecture.tokens));
    history.push_back(std::move(s));
  }
  std::map<uint64_t, uint64_t> pending;
  HWNAS_ASSIGN_OR_RETURN(uint64_t np, r.U64());
  for (uint64_t i = 0; i < np; ++i) {
    HWNAS_ASSIGN_OR_RETURN(uint64_t id, r.U64());
    HWNAS_ASSIGN_OR_RETURN(uint64_t key, r.U64());
    pending[id] = key;
  }
  std::map<uint64_t, std::vector<uint64_t>> waiting;
  HWNAS_ASSIGN_OR_RETURN(uint64_t nw, r.U64());
  for (uint64_t i = 0; i < nw; ++i) {
    HWNAS_ASSIGN_OR_RETURN(uint64_t key, r.U64());
    HWNAS_ASSIGN_OR_RETURN(uint64_t k, r.U64());
    std::vector<uint64_t>& ids = waiting[key];
    for (uint64_t j = 0; j < k; ++j) {
      HWNAS_ASSIGN_OR_RETURN(uint64_t id, r.U64());
      ids.push_back(id);
    }
  }
  KeySet observed;
  HWNAS_RETURN_IF_ERROR(internal::ReadKeys(r, observed));
  HWNAS_RETURN_IF_ERROR(r.ExpectEnd());
  HWNAS_RETURN_IF_ERROR(strategy_->Restore(strategy_bytes));

  history_.clear();
  finished_.clear();
  pareto_ = ParetoFront(options_.reward.EffectiveParetoMetrics());
  best_ = -1;
  for (ScoredTrial& s : history) {
    const uint64_t key = Key(s.architecture.tokens);
    Record(std::move(s), key);
  }
  pending_ = std::move(pending);
  pending_key_.clear();
  for (const auto& [id, key] : pending_) pending_key_[key] = id;
  waiting_ = std::move(waiting);
  observed_ids_ = std::move(observed);
  return absl::OkStatus();
}

}  // namespace hwnas::controller

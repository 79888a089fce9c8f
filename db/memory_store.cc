#include "db/memory_store.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "db/store_checks.h"

namespace hwnas::db {
namespace {

bool IsActive(TrialState s) { return s == TrialState::kLeased || s == TrialState::kRunning; }

absl::Status SearchNotFound(int64_t search_id) {
  return absl::NotFoundError(absl::StrCat("search ", search_id, " does not exist"));
}

// NOT_FOUND for a trial number outside 1..trials of the search.
absl::Status CheckTrialNumber(int64_t search_id, int64_t number, size_t trials) {
  if (number >= 1 && number <= static_cast<int64_t>(trials)) return absl::OkStatus();
  return absl::NotFoundError(
      absl::StrCat("trial ", number, " of search ", search_id, " does not exist"));
}

// What PostgreSQL does to a text array passed as one joined string: a list
// of one empty item joins to "" and is stored as the empty array.
std::vector<std::string> AsStoredArray(std::vector<std::string> items) {
  if (items.size() == 1 && items[0].empty()) items.clear();
  return items;
}

}  // namespace

// Tables, as PostgreSQL has them, with the indexes the hot paths need.
struct MemoryStore::State {
  struct Token {
    int64_t user_id = 0;
    bool revoked = false;
  };
  struct Search {
    SearchRecord rec;  // Without owner name, counts and best trial.
    std::string idempotency_key;
    int64_t next_trial_number = 1;
    int64_t next_finish_seq = 1;
    int64_t promotions = 0;          // Finish sequences taken again by promoted trials.
    int64_t screened_out = 0;        // Finished trials that do not count against the budget.
    std::vector<int64_t> trial_ids;  // Index: number - 1.
    // PENDING trials in lease order: (not enqueued, number), so enqueued
    // trials come first, then the lowest numbers.
    std::set<std::pair<bool, int64_t>> pending;
    std::map<int64_t, Checkpoint> checkpoints;
    // trial_rungs: (trial number, rung) -> result.
    std::map<std::pair<int64_t, int>, RungResult> rungs;
    // trial_checkpoints: trial number -> checkpoint.
    std::map<int64_t, TrialCheckpoint> trial_checkpoints;
  };
  using Epochs = std::map<int, std::map<std::string, double>>;

  std::map<int64_t, User> users;
  std::map<std::string, Token> tokens;  // By SHA-256 digest.
  std::map<int64_t, Search> searches;
  std::map<int64_t, TrialRecord> trials;
  std::map<int64_t, Epochs> metrics;            // By trial id.
  std::map<std::string, int64_t> by_lease;      // Lease id -> trial id.
  std::set<int64_t> active;                     // Ids of LEASED/RUNNING trials.
  std::map<std::string, WorkerRecord> workers;  // By id.
  std::vector<Event> events;
  int64_t last_user_id = 0;
  int64_t last_search_id = 0;
  int64_t last_trial_id = 0;
  int64_t last_event_id = 0;
  std::mt19937_64 rng{std::random_device{}()};

  Search* FindSearch(int64_t id) {
    auto it = searches.find(id);
    return it == searches.end() ? nullptr : &it->second;
  }

  // Every state change goes through here, so the indexes stay right.
  void SetState(TrialRecord& t, TrialState state) {
    Search& s = searches.at(t.search_id);
    const std::pair<bool, int64_t> key{t.origin != TrialOrigin::kEnqueued, t.number};
    if (t.state == TrialState::kPending) s.pending.erase(key);
    if (IsActive(t.state)) active.erase(t.id);
    t.state = state;
    if (state == TrialState::kPending) s.pending.insert(key);
    if (IsActive(state)) active.insert(t.id);
  }

  int64_t TakeFinishSeq(int64_t search_id) { return searches.at(search_id).next_finish_seq++; }

  // A version-4 UUID, as gen_random_uuid() makes them.
  std::string NewLeaseId() {
    while (true) {
      const uint64_t a = rng(), b = rng();
      std::string id = absl::StrFormat("%08x-%04x-4%03x-%04x-%012x", static_cast<uint32_t>(a >> 32),
                                       (a >> 16) & 0xffff, a & 0xfff, 0x8000 | ((b >> 48) & 0x3fff),
                                       b & 0xffffffffffffULL);
      if (!by_lease.contains(id)) return id;
    }
  }

  void WriteResult(TrialRecord& t, const TrialResult& result, const std::optional<double>& reward,
                   absl::string_view failure_reason) {
    t.result = result;
    t.reward = reward;
    // An earlier attempt's failure stays on record unless a new reason is given.
    if (!failure_reason.empty()) t.failure_reason = std::string(failure_reason);
  }

  void Finish(TrialRecord& t, TrialState state, absl::Time now) {
    SetState(t, state);
    t.finished_at = now;
    t.lease_expires_at.reset();
    t.finish_seq = TakeFinishSeq(t.search_id);
  }

  TrialCounts Counts(const Search& s) const {
    TrialCounts c;
    for (int64_t id : s.trial_ids) {
      ++c.total;
      if (int64_t* counter = c.CounterFor(trials.at(id).state)) ++*counter;
      if (trials.at(id).screen == ScreenStage::kOut) ++c.screened_out;
    }
    return c;
  }

  SearchRecord Summary(const Search& s, bool with_best) const {
    SearchRecord r = s.rec;
    auto owner = users.find(r.owner_id);
    if (owner != users.end()) r.owner = owner->second.name;
    r.counts = Counts(s);
    if (with_best) {
      const TrialRecord* best = nullptr;
      for (int64_t id : s.trial_ids) {
        const TrialRecord& t = trials.at(id);
        if (!t.reward ||
            (t.state != TrialState::kSucceeded && t.state != TrialState::kEarlyStopped)) {
          continue;
        }
        if (best == nullptr || *t.reward > *best->reward) best = &t;
      }
      if (best != nullptr) r.best_trial = *best;
    }
    return r;
  }

  // The trial a lease belongs to, if the caller holds it.
  absl::StatusOr<TrialRecord*> LockLease(absl::string_view lease_id, absl::string_view worker_id) {
    if (lease_id.empty()) return absl::InvalidArgumentError("lease_id is empty");
    auto it = by_lease.find(std::string(lease_id));
    if (it == by_lease.end()) return LeaseNotHeld(lease_id);
    TrialRecord& t = trials.at(it->second);
    if (t.worker_id != worker_id) return LeaseHeldByAnother(lease_id);
    return &t;
  }

  std::optional<Lease> LeaseNext(int64_t search_id, const std::string& worker_id,
                                 absl::Duration ttl, absl::Time now) {
    Search* s = FindSearch(search_id);
    if (s == nullptr || s->pending.empty()) return std::nullopt;
    TrialRecord& t = trials.at(s->trial_ids[s->pending.begin()->second - 1]);
    SetState(t, TrialState::kLeased);
    if (!t.lease_id.empty()) by_lease.erase(t.lease_id);
    t.lease_id = NewLeaseId();
    by_lease[t.lease_id] = t.id;
    t.worker_id = worker_id;
    t.lease_expires_at = now + ttl;
    ++t.attempts;
    if (!t.started_at) t.started_at = now;
    return Lease{t.lease_id, *t.lease_expires_at, t};
  }

  absl::StatusOr<ReportOutcome> Complete(absl::string_view lease_id, absl::string_view worker_id,
                                         const TrialResult& result, TrialState final_state,
                                         const std::optional<double>& reward, absl::Time now) {
    HWNAS_ASSIGN_OR_RETURN(TrialRecord * t, LockLease(lease_id, worker_id));
    ReportOutcome out;
    if (t->state == TrialState::kCancelled) return LeaseCancelled(lease_id);
    if (IsTerminal(t->state)) {
      // Exactly once: the first report on this lease stands.
      out.duplicate = true;
      out.trial = *t;
      return out;
    }
    if (!IsActive(t->state)) return LeaseLost(lease_id);
    WriteResult(*t, result, reward, "");
    Finish(*t, final_state, now);
    out.trial = *t;
    return out;
  }

  void AddEvent(int64_t search_id, std::optional<int64_t> trial_number, std::string kind,
                std::string payload, absl::Time now) {
    events.push_back(
        Event{++last_event_id, search_id, trial_number, std::move(kind), std::move(payload), now});
  }

  void SaveCheckpoint(Search& s, const Checkpoint& c) {
    s.checkpoints[c.sequence] = c;
    // Keep the last few: enough to fall back on, without growing forever.
    s.checkpoints.erase(s.checkpoints.begin(), s.checkpoints.lower_bound(c.sequence - 2));
  }
};

MemoryStore::MemoryStore(const Clock& clock) : clock_(clock), state_(std::make_unique<State>()) {}
MemoryStore::~MemoryStore() = default;

// ---------------------------------------------------------------------------
// Schema: the data is always in the shape of the latest schema.

absl::Status MemoryStore::Migrate() { return absl::OkStatus(); }

absl::StatusOr<int> MemoryStore::SchemaVersion() { return LatestSchemaVersion(); }

// ---------------------------------------------------------------------------
// Users and tokens.

absl::StatusOr<User> MemoryStore::CreateUser(absl::string_view name, bool is_admin,
                                             bool is_worker) {
  HWNAS_RETURN_IF_ERROR(ValidateUserName(name));
  absl::MutexLock lock(&mu_);
  for (const auto& [id, u] : state_->users) {
    if (u.name == name) return absl::AlreadyExistsError(absl::StrCat("user '", name, "' exists"));
  }
  User u{++state_->last_user_id, std::string(name), is_admin, is_worker};
  state_->users[u.id] = u;
  return u;
}

absl::StatusOr<User> MemoryStore::GetUser(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, u] : state_->users) {
    if (u.name == name) return u;
  }
  return absl::NotFoundError(absl::StrCat("no user '", name, "'"));
}

absl::StatusOr<std::string> MemoryStore::IssueToken(int64_t user_id) {
  const std::string token = RandomToken();
  absl::MutexLock lock(&mu_);
  if (!state_->users.contains(user_id)) {
    return absl::NotFoundError(absl::StrCat("no user with id ", user_id));
  }
  state_->tokens[Sha256(token)] = State::Token{user_id, false};
  return token;
}

absl::StatusOr<User> MemoryStore::Authenticate(absl::string_view token) {
  if (token.empty() || token.size() > 256) {
    return absl::UnauthenticatedError("missing or malformed API token");
  }
  const std::string digest = Sha256(token);
  absl::MutexLock lock(&mu_);
  auto it = state_->tokens.find(digest);
  if (it == state_->tokens.end() || it->second.revoked) {
    return absl::UnauthenticatedError("invalid or revoked API token");
  }
  return state_->users.at(it->second.user_id);
}

absl::StatusOr<int> MemoryStore::RevokeTokens(int64_t user_id) {
  absl::MutexLock lock(&mu_);
  int revoked = 0;
  for (auto& [digest, t] : state_->tokens) {
    if (t.user_id == user_id && !t.revoked) {
      t.revoked = true;
      ++revoked;
    }
  }
  return revoked;
}

// ---------------------------------------------------------------------------
// Searches.

absl::StatusOr<SearchRecord> MemoryStore::CreateSearch(const NewSearch& s) {
  HWNAS_RETURN_IF_ERROR(ValidateNewSearch(s));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  if (!s.idempotency_key.empty()) {
    for (const auto& [id, existing] : state_->searches) {
      if (existing.rec.owner_id == s.owner_id && existing.idempotency_key == s.idempotency_key) {
        return state_->Summary(existing, /*with_best=*/true);
      }
    }
  }
  if (!state_->users.contains(s.owner_id)) {
    return absl::NotFoundError(absl::StrCat("owner ", s.owner_id, " does not exist"));
  }
  if (s.warm_start_search_id != 0 && !state_->searches.contains(s.warm_start_search_id)) {
    return absl::NotFoundError("create search: it refers to something that does not exist");
  }
  State::Search& row = state_->searches[++state_->last_search_id];
  row.rec.id = state_->last_search_id;
  row.rec.name = s.name;
  row.rec.owner_id = s.owner_id;
  row.rec.state = SearchState::kRunning;
  row.rec.spec_yaml = s.spec_yaml;
  row.rec.space = s.space;
  row.rec.budget = s.budget;
  row.rec.weight = s.weight;
  row.rec.seed = s.seed;
  row.rec.warm_start_search_id = s.warm_start_search_id;
  row.rec.created_at = now;
  row.idempotency_key = s.idempotency_key;
  state_->AddEvent(row.rec.id, std::nullopt, "search_created",
                   absl::StrCat("{\"budget\": ", s.budget, "}"), now);
  return state_->Summary(row, /*with_best=*/true);
}

absl::StatusOr<SearchRecord> MemoryStore::GetSearch(int64_t search_id) {
  absl::MutexLock lock(&mu_);
  const State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return SearchNotFound(search_id);
  return state_->Summary(*s, /*with_best=*/true);
}

absl::StatusOr<Page<SearchRecord>> MemoryStore::ListSearches(const SearchQuery& q) {
  HWNAS_ASSIGN_OR_RETURN(int offset, ParsePageToken(q.page_token));
  const int limit = PageLimit(q.page_size, 50);
  absl::MutexLock lock(&mu_);
  Page<SearchRecord> page;
  int skipped = 0;
  for (auto it = state_->searches.rbegin(); it != state_->searches.rend(); ++it) {
    const SearchRecord& r = it->second.rec;
    if (q.owner_id && r.owner_id != *q.owner_id) continue;
    if (q.state && r.state != *q.state) continue;
    if (!q.name.empty() && r.name != q.name) continue;
    if (skipped++ < offset) continue;
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_page_token = absl::StrCat(offset + limit);
      break;
    }
    page.items.push_back(state_->Summary(it->second, /*with_best=*/true));
  }
  return page;
}

absl::StatusOr<SearchRecord> MemoryStore::FinishSearch(int64_t search_id, SearchState state,
                                                       absl::string_view error) {
  HWNAS_RETURN_IF_ERROR(ValidateFinalSearchState(state));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return SearchNotFound(search_id);
  if (s->rec.state != SearchState::kRunning) return state_->Summary(*s, /*with_best=*/true);
  s->rec.state = state;
  s->rec.error = std::string(error);
  s->rec.finished_at = now;
  // Running trials too, at once rather than when their leases lapse. A
  // search completes with unfinished trials only when its wall-clock budget
  // ran out: a promoted trial then goes back to the rung it finished.
  for (int64_t id : s->trial_ids) {
    TrialRecord& t = state_->trials.at(id);
    if (t.state != TrialState::kPending && !IsActive(t.state)) continue;
    t.finished_at = now;
    t.lease_expires_at.reset();
    auto below = s->rungs.find({t.number, t.rung - 1});
    if (state == SearchState::kCompleted && t.rung > t.bracket && t.result &&
        below != s->rungs.end()) {
      state_->SetState(t, TrialState::kSucceeded);
      t.rung = below->second.rung;
      t.epoch_target = below->second.epochs;
      --s->promotions;
      continue;
    }
    state_->SetState(t, TrialState::kCancelled);
  }
  s->trial_checkpoints.clear();  // No use once the search has ended.
  state_->AddEvent(search_id, std::nullopt, "search_finished",
                   absl::StrCat("{\"state\": \"", SearchStateName(state), "\"}"), now);
  return state_->Summary(*s, /*with_best=*/true);
}

absl::StatusOr<std::vector<SearchRecord>> MemoryStore::RunningSearches() {
  absl::MutexLock lock(&mu_);
  std::vector<SearchRecord> out;
  for (const auto& [id, s] : state_->searches) {
    if (s.rec.state == SearchState::kRunning) {
      out.push_back(state_->Summary(s, /*with_best=*/false));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Trials and results.

absl::StatusOr<std::vector<TrialRecord>> MemoryStore::AddTrials(
    int64_t search_id, const std::vector<NewTrial>& trials,
    const std::optional<Checkpoint>& checkpoint) {
  HWNAS_RETURN_IF_ERROR(ValidateNewTrials(trials).status());
  if (trials.empty() && !checkpoint) return std::vector<TrialRecord>{};
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return SearchNotFound(search_id);
  if (s->rec.state != SearchState::kRunning) {
    return absl::FailedPreconditionError(absl::StrCat(
        "search ", search_id, " is ", SearchStateName(s->rec.state), "; no trials can be added"));
  }
  std::vector<TrialRecord> out;
  out.reserve(trials.size());
  for (const NewTrial& n : trials) {
    TrialRecord t;
    t.id = ++state_->last_trial_id;
    t.search_id = search_id;
    t.number = s->next_trial_number++;
    t.architecture = n.architecture;
    t.canonical_hash = n.canonical_hash;
    t.proposal_id = n.proposal_id;
    t.origin = n.origin;
    t.rung = n.rung;
    t.epoch_target = n.epoch_target;
    t.bracket = n.bracket;
    t.screen = n.screen ? ScreenStage::kPending : ScreenStage::kNone;
    t.state = TrialState::kUnspecified;
    t.created_at = now;
    s->trial_ids.push_back(t.id);
    TrialRecord& stored = state_->trials[t.id] = std::move(t);
    state_->SetState(stored, n.state);
    if (n.state != TrialState::kPending) {
      stored.finished_at = now;
      stored.finish_seq = state_->TakeFinishSeq(search_id);
    }
    if (n.result || n.reward || !n.failure_reason.empty()) {
      state_->WriteResult(stored, n.result.value_or(TrialResult{}), n.reward, n.failure_reason);
    }
    out.push_back(stored);
  }
  if (checkpoint) state_->SaveCheckpoint(*s, *checkpoint);
  return out;
}

absl::StatusOr<ReportOutcome> MemoryStore::CompleteTrial(absl::string_view lease_id,
                                                         absl::string_view worker_id,
                                                         const TrialResult& result,
                                                         TrialState final_state,
                                                         std::optional<double> reward) {
  HWNAS_RETURN_IF_ERROR(ValidateCompletion(result, final_state, reward));
  absl::MutexLock lock(&mu_);
  return state_->Complete(lease_id, worker_id, result, final_state, reward, clock_.Now());
}

std::vector<absl::StatusOr<ReportOutcome>> MemoryStore::CompleteTrials(
    const std::vector<Completion>& batch) {
  std::vector<absl::StatusOr<ReportOutcome>> out(batch.size(), absl::InternalError("not answered"));
  std::vector<size_t> valid;
  for (size_t i = 0; i < batch.size(); ++i) {
    const Completion& c = batch[i];
    absl::Status ok = ValidateTrialResult(c.result);
    if (ok.ok()) ok = ValidateReward(c.reward);
    if (ok.ok() && c.lease_id.empty()) ok = absl::InvalidArgumentError("lease_id is empty");
    if (ok.ok() && c.final_state != TrialState::kSucceeded &&
        c.final_state != TrialState::kEarlyStopped) {
      ok = absl::InvalidArgumentError("a completed trial is SUCCEEDED or EARLY_STOPPED");
    }
    if (ok.ok()) {
      valid.push_back(i);
    } else {
      out[i] = ok;
    }
  }
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  // First the reports on current leases of their own workers, in batch
  // order (so each search's finish sequences follow the batch), then the
  // rest one by one, as PostgresStore answers them after its batch.
  std::vector<size_t> alone;
  for (size_t i : valid) {
    const Completion& c = batch[i];
    auto it = state_->by_lease.find(c.lease_id);
    TrialRecord* t = it == state_->by_lease.end() ? nullptr : &state_->trials.at(it->second);
    if (t == nullptr || t->worker_id != c.worker_id || !IsActive(t->state)) {
      alone.push_back(i);
      continue;
    }
    out[i] = state_->Complete(c.lease_id, c.worker_id, c.result, c.final_state, c.reward, now);
  }
  for (size_t i : alone) {
    const Completion& c = batch[i];
    out[i] = state_->Complete(c.lease_id, c.worker_id, c.result, c.final_state, c.reward, now);
  }
  return out;
}

absl::StatusOr<ReportOutcome> MemoryStore::FailTrial(
    absl::string_view lease_id, absl::string_view worker_id, absl::string_view reason,
    bool retryable, int max_attempts, const std::optional<TrialResult>& partial, bool infeasible,
    std::optional<double> reward) {
  HWNAS_RETURN_IF_ERROR(ValidateFailure(reason, partial, reward));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  HWNAS_ASSIGN_OR_RETURN(TrialRecord * t, state_->LockLease(lease_id, worker_id));
  ReportOutcome out;
  if (IsTerminal(t->state) || t->state == TrialState::kPending) {
    // Already reported on this lease (finished, or requeued and not yet
    // leased again).
    out.duplicate = true;
    out.requeued = t->state == TrialState::kPending;
    out.trial = *t;
    return out;
  }
  if (retryable && !infeasible && t->attempts < max_attempts) {
    state_->SetState(*t, TrialState::kPending);
    t->lease_expires_at.reset();
    t->failure_reason = std::string(reason);
    out.requeued = true;
  } else {
    if (partial || reward) {
      state_->WriteResult(*t, partial.value_or(TrialResult{}), reward, reason);
    }
    t->failure_reason = std::string(reason);
    state_->Finish(*t, infeasible ? TrialState::kInfeasible : TrialState::kFailed, now);
  }
  out.trial = *t;
  return out;
}

absl::StatusOr<TrialRecord> MemoryStore::GetTrial(int64_t search_id, int64_t number,
                                                  bool with_epochs) {
  absl::MutexLock lock(&mu_);
  const State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return SearchNotFound(search_id);
  if (number < 1 || number > static_cast<int64_t>(s->trial_ids.size())) {
    return absl::NotFoundError(absl::StrCat("search ", search_id, " has no trial ", number));
  }
  TrialRecord t = state_->trials.at(s->trial_ids[number - 1]);
  if (with_epochs) {
    auto m = state_->metrics.find(t.id);
    if (m != state_->metrics.end()) {
      for (const auto& [epoch, values] : m->second) t.epochs.push_back(EpochMetrics{epoch, values});
    }
  }
  return t;
}

absl::StatusOr<TrialRecord> MemoryStore::GetTrialByLease(absl::string_view lease_id) {
  if (lease_id.empty()) return absl::InvalidArgumentError("lease_id is empty");
  absl::MutexLock lock(&mu_);
  auto it = state_->by_lease.find(std::string(lease_id));
  if (it == state_->by_lease.end()) {
    return absl::NotFoundError(absl::StrCat("lease ", lease_id, " is unknown"));
  }
  return state_->trials.at(it->second);
}

absl::StatusOr<std::map<int64_t, std::map<int, double>>> MemoryStore::FinishedCurves(
    int64_t search_id, absl::string_view metric) {
  absl::MutexLock lock(&mu_);
  std::map<int64_t, std::map<int, double>> curves;
  const State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return curves;
  for (int64_t id : s->trial_ids) {
    const TrialRecord& t = state_->trials.at(id);
    auto m = state_->metrics.find(id);
    if (t.finish_seq == 0 || m == state_->metrics.end()) continue;
    for (const auto& [epoch, values] : m->second) {
      auto v = values.find(std::string(metric));
      if (v != values.end()) curves[t.number][epoch] = v->second;
    }
  }
  return curves;
}

absl::StatusOr<Page<TrialRecord>> MemoryStore::ListTrials(const TrialQuery& q) {
  HWNAS_ASSIGN_OR_RETURN(int offset, ParsePageToken(q.page_token));
  const int limit = PageLimit(q.page_size, 100);
  absl::MutexLock lock(&mu_);
  const State::Search* s = state_->FindSearch(q.search_id);
  if (s == nullptr) return SearchNotFound(q.search_id);
  std::vector<const TrialRecord*> rows;
  for (int64_t id : s->trial_ids) {
    const TrialRecord& t = state_->trials.at(id);
    if (!q.state || t.state == *q.state) rows.push_back(&t);
  }
  // The sort key of a trial; nullopt sorts last (SQL's NULLS LAST).
  auto key = [&q](const TrialRecord& t) -> std::optional<double> {
    switch (q.order) {
      case TrialOrder::kNumber:
        return 0.0;
      case TrialOrder::kRewardDesc:
        return t.reward ? std::optional<double>(-*t.reward) : std::nullopt;
      case TrialOrder::kAccuracyDesc:
        return t.result ? std::optional<double>(-t.result->accuracy) : std::nullopt;
      case TrialOrder::kLatencyAsc:
        return t.result && t.result->latency ? std::optional<double>(t.result->latency->median_ms)
                                             : std::nullopt;
    }
    return std::nullopt;
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const TrialRecord* a, const TrialRecord* b) {
    const std::optional<double> ka = key(*a), kb = key(*b);
    if (ka.has_value() != kb.has_value()) return ka.has_value();
    if (ka && *ka != *kb) return *ka < *kb;
    return a->number < b->number;
  });
  Page<TrialRecord> page;
  for (size_t i = static_cast<size_t>(offset); i < rows.size(); ++i) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_page_token = absl::StrCat(offset + limit);
      break;
    }
    page.items.push_back(*rows[i]);
  }
  return page;
}

absl::StatusOr<TrialCounts> MemoryStore::CountTrials(int64_t search_id) {
  absl::MutexLock lock(&mu_);
  const State::Search* s = state_->FindSearch(search_id);
  return s == nullptr ? TrialCounts{} : state_->Counts(*s);
}

absl::StatusOr<QueueCounts> MemoryStore::CountQueue(int64_t search_id) {
  absl::MutexLock lock(&mu_);
  const State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return SearchNotFound(search_id);
  QueueCounts c;
  c.pending = static_cast<int64_t>(s->pending.size());
  for (int64_t id : s->trial_ids) {
    if (IsActive(state_->trials.at(id).state)) ++c.running;
  }
  c.finished = s->next_finish_seq - 1 - s->promotions - s->screened_out;
  return c;
}

absl::StatusOr<std::vector<TrialRecord>> MemoryStore::FinishedTrialsSince(int64_t search_id,
                                                                          int64_t after) {
  absl::MutexLock lock(&mu_);
  std::vector<TrialRecord> out;
  const State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return out;
  for (int64_t id : s->trial_ids) {
    const TrialRecord& t = state_->trials.at(id);
    if (t.finish_seq != 0 && t.finish_seq > after) out.push_back(t);
  }
  std::sort(out.begin(), out.end(),
            [](const TrialRecord& a, const TrialRecord& b) { return a.finish_seq < b.finish_seq; });
  return out;
}

absl::StatusOr<int64_t> MemoryStore::LastFinishSequence(int64_t search_id) {
  absl::MutexLock lock(&mu_);
  const State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return SearchNotFound(search_id);
  return s->next_finish_seq - 1;
}

absl::StatusOr<std::optional<TrialRecord>> MemoryStore::FindFinishedByHash(int64_t search_id,
                                                                           uint64_t hash) {
  absl::MutexLock lock(&mu_);
  const State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return std::optional<TrialRecord>();
  for (int64_t id : s->trial_ids) {
    const TrialRecord& t = state_->trials.at(id);
    if (t.canonical_hash == hash &&
        (t.state == TrialState::kSucceeded || t.state == TrialState::kInfeasible)) {
      return std::optional<TrialRecord>(t);
    }
  }
  return std::optional<TrialRecord>();
}

// ---------------------------------------------------------------------------
// Leases and workers.

absl::StatusOr<std::optional<Lease>> MemoryStore::LeaseTrial(const LeaseRequest& req) {
  if (req.worker_id.empty()) return absl::InvalidArgumentError("worker_id is empty");
  HWNAS_RETURN_IF_ERROR(ValidateTtl(req.ttl));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  for (int64_t search_id : req.search_ids) {
    std::optional<Lease> lease = state_->LeaseNext(search_id, req.worker_id, req.ttl, now);
    if (lease) return lease;
  }
  return std::optional<Lease>();
}

absl::StatusOr<std::vector<std::optional<Lease>>> MemoryStore::LeaseTrials(
    const std::vector<std::string>& worker_ids, const std::vector<int64_t>& search_ids,
    absl::Duration ttl) {
  for (const std::string& w : worker_ids) {
    if (w.empty()) return absl::InvalidArgumentError("worker_id is empty");
  }
  HWNAS_RETURN_IF_ERROR(ValidateTtl(ttl));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  std::vector<std::optional<Lease>> out(worker_ids.size());
  size_t served = 0;
  for (int64_t search_id : search_ids) {
    for (size_t i = 0; i < worker_ids.size() && served < worker_ids.size(); ++i) {
      if (out[i]) continue;
      out[i] = state_->LeaseNext(search_id, worker_ids[i], ttl, now);
      if (!out[i]) break;  // This search has no pending trial left.
      ++served;
    }
  }
  return out;
}

absl::StatusOr<LeaseStatus> MemoryStore::RenewLease(absl::string_view lease_id,
                                                    absl::string_view worker_id, absl::Duration ttl,
                                                    const std::optional<EpochMetrics>& metrics) {
  if (metrics) HWNAS_RETURN_IF_ERROR(ValidateEpochMetrics(*metrics));
  HWNAS_RETURN_IF_ERROR(ValidateTtl(ttl));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  HWNAS_ASSIGN_OR_RETURN(TrialRecord * t, state_->LockLease(lease_id, worker_id));
  LeaseStatus status;
  if (t->state == TrialState::kCancelled) {
    // Cancelled with its search while the worker ran it: tell it to stop.
    status.search_cancelled = true;
    status.expires_at = now;
    return status;
  }
  if (!IsActive(t->state)) return LeaseLost(lease_id);
  const SearchState search_state = state_->searches.at(t->search_id).rec.state;
  status.search_cancelled =
      search_state == SearchState::kCancelled || search_state == SearchState::kFailed;
  if (metrics) {
    for (const auto& [name, value] : metrics->values) {
      state_->metrics[t->id][metrics->epoch][name] = value;
    }
    state_->SetState(*t, TrialState::kRunning);
  }
  t->lease_expires_at = now + ttl;
  status.expires_at = *t->lease_expires_at;
  return status;
}

absl::StatusOr<std::vector<TrialRecord>> MemoryStore::RequeueExpiredLeases(int max_attempts) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  std::vector<int64_t> expired;
  for (int64_t id : state_->active) {
    const TrialRecord& t = state_->trials.at(id);
    if (t.lease_expires_at && *t.lease_expires_at < now) expired.push_back(id);
    if (expired.size() == 1000) break;
  }
  std::vector<TrialRecord> out;
  for (int64_t id : expired) {
    TrialRecord& t = state_->trials.at(id);
    const std::string reason =
        absl::StrCat("lease expired: worker ", t.worker_id, " stopped sending heartbeats");
    t.lease_expires_at.reset();
    if (state_->searches.at(t.search_id).rec.state != SearchState::kRunning) {
      state_->SetState(t, TrialState::kCancelled);
      t.finished_at = now;
    } else if (t.attempts >= max_attempts) {
      t.failure_reason = absl::StrCat(reason, " (attempt limit reached)");
      state_->Finish(t, TrialState::kFailed, now);
    } else {
      state_->SetState(t, TrialState::kPending);
      t.failure_reason = reason;
    }
    out.push_back(t);
  }
  return out;
}

absl::StatusOr<WorkerRecord> MemoryStore::UpsertWorker(const WorkerRecord& w) {
  HWNAS_RETURN_IF_ERROR(ValidateWorker(w));
  const std::string new_id = NewWorkerId();
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  if (!state_->users.contains(w.owner_id)) {
    return absl::NotFoundError("upsert worker: it refers to something that does not exist");
  }
  WorkerRecord* row = nullptr;
  for (auto& [id, existing] : state_->workers) {
    if (existing.owner_id == w.owner_id && existing.name == w.name) row = &existing;
  }
  if (row == nullptr) {
    row = &state_->workers[new_id];
    row->id = new_id;
    row->owner_id = w.owner_id;
    row->name = w.name;
    row->registered_at = now;
  }
  row->device_kind = w.device_kind;
  row->device_tag = w.device_tag;
  row->threads = w.threads;
  row->gpu = w.gpu;
  row->datasets = AsStoredArray(w.datasets);
  row->search_spaces = AsStoredArray(w.search_spaces);
  row->evaluators = AsStoredArray(w.evaluators);
  row->version = w.version;
  row->hostname = w.hostname;
  row->last_heartbeat = now;
  return *row;
}

absl::StatusOr<WorkerRecord> MemoryStore::GetWorker(absl::string_view worker_id) {
  absl::MutexLock lock(&mu_);
  auto it = state_->workers.find(std::string(worker_id));
  if (it == state_->workers.end()) {
    return absl::NotFoundError(absl::StrCat("worker ", worker_id, " is unknown"));
  }
  return it->second;
}

absl::Status MemoryStore::TouchWorker(absl::string_view worker_id) {
  absl::MutexLock lock(&mu_);
  auto it = state_->workers.find(std::string(worker_id));
  if (it == state_->workers.end()) {
    return absl::NotFoundError(absl::StrCat("worker ", worker_id, " is unknown"));
  }
  it->second.last_heartbeat = clock_.Now();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<WorkerRecord>> MemoryStore::ListWorkers(absl::Duration alive_within) {
  absl::MutexLock lock(&mu_);
  const absl::Time since = clock_.Now() - alive_within;
  std::vector<WorkerRecord> out;
  for (const auto& [id, w] : state_->workers) {
    if (w.last_heartbeat > since) out.push_back(w);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const WorkerRecord& a, const WorkerRecord& b) { return a.name < b.name; });
  return out;
}

// ---------------------------------------------------------------------------
// Checkpoints and events.

absl::Status MemoryStore::SaveCheckpoint(int64_t search_id, const Checkpoint& checkpoint) {
  absl::MutexLock lock(&mu_);
  State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return SearchNotFound(search_id);
  state_->SaveCheckpoint(*s, checkpoint);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Checkpoint>> MemoryStore::LoadLatestCheckpoint(int64_t search_id) {
  absl::MutexLock lock(&mu_);
  const State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr || s->checkpoints.empty()) return std::optional<Checkpoint>();
  return std::optional<Checkpoint>(s->checkpoints.rbegin()->second);
}

absl::Status MemoryStore::AppendEvent(int64_t search_id, std::optional<int64_t> trial_number,
                                      absl::string_view kind, absl::string_view payload_json) {
  HWNAS_RETURN_IF_ERROR(ValidateEvent(kind, payload_json));
  absl::MutexLock lock(&mu_);
  if (!state_->searches.contains(search_id)) {
    return absl::NotFoundError("append event: it refers to something that does not exist");
  }
  state_->AddEvent(search_id, trial_number, std::string(kind), std::string(payload_json),
                   clock_.Now());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Event>> MemoryStore::ListEvents(int64_t search_id, int64_t after_id,
                                                           int limit) {
  absl::MutexLock lock(&mu_);
  const size_t n = static_cast<size_t>(std::clamp(limit, 1, 10000));
  std::vector<Event> out;
  auto it = std::upper_bound(state_->events.begin(), state_->events.end(), after_id,
                             [](int64_t id, const Event& e) { return id < e.id; });
  for (; it != state_->events.end() && out.size() < n; ++it) {
    if (it->search_id == search_id) out.push_back(*it);
  }
  return out;
}

absl::Status MemoryStore::RecordRung(int64_t search_id, const RungResult& result) {
  HWNAS_RETURN_IF_ERROR(ValidateRungResult(result));
  absl::MutexLock lock(&mu_);
  State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return SearchNotFound(search_id);
  HWNAS_RETURN_IF_ERROR(CheckTrialNumber(search_id, result.trial_number, s->trial_ids.size()));
  RungResult& stored = s->rungs[{result.trial_number, result.rung}];
  const bool promoted = stored.promoted;
  stored = result;
  stored.promoted = promoted;
  stored.bracket = 0;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RungResult>> MemoryStore::ListRungs(int64_t search_id) {
  absl::MutexLock lock(&mu_);
  const State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return SearchNotFound(search_id);
  std::vector<RungResult> out;
  for (const auto& [key, r] : s->rungs) {
    out.push_back(r);
    out.back().bracket = state_->trials.at(s->trial_ids[key.first - 1]).bracket;
  }
  return out;
}

absl::StatusOr<TrialRecord> MemoryStore::PromoteTrial(int64_t search_id, int64_t number, int rung,
                                                      int epoch_target) {
  if (epoch_target <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("epoch_target must be positive, got ", epoch_target));
  }
  absl::MutexLock lock(&mu_);
  State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return SearchNotFound(search_id);
  HWNAS_RETURN_IF_ERROR(CheckTrialNumber(search_id, number, s->trial_ids.size()));
  TrialRecord& t = state_->trials.at(s->trial_ids[number - 1]);
  if (s->rec.state != SearchState::kRunning) {
    return absl::FailedPreconditionError(absl::StrCat("search ", search_id, " is ",
                                                      SearchStateName(s->rec.state),
                                                      ": its trials are no longer promoted"));
  }
  if (t.state != TrialState::kSucceeded) {
    return absl::FailedPreconditionError(absl::StrCat(
        "trial ", number, " is ", TrialStateName(t.state), "; only a SUCCEEDED trial is promoted"));
  }
  if (rung != t.rung + 1) {
    return absl::FailedPreconditionError(absl::StrCat("trial ", number, " is on rung ", t.rung,
                                                      ": it can only be promoted to rung ",
                                                      t.rung + 1, ", not ", rung));
  }
  if (auto it = s->rungs.find({number, t.rung}); it != s->rungs.end()) it->second.promoted = true;
  state_->SetState(t, TrialState::kPending);
  ++s->promotions;
  t.attempts = 0;  // Attempts count per rung: a long ladder is no failure.
  t.rung = rung;
  t.epoch_target = epoch_target;
  // The lease id stays, as PostgreSQL keeps it, until the next lease: a late
  // repeat of the lower rung's report still finds its trial.
  t.lease_expires_at.reset();
  t.finished_at.reset();
  return t;
}

absl::StatusOr<TrialRecord> MemoryStore::ScreenTrial(int64_t search_id, int64_t number,
                                                     double score,
                                                     std::optional<std::string> out_reason) {
  if (!std::isfinite(score))
    score = -std::numeric_limits<double>::max();  // As PostgreSQL stores it.
  absl::MutexLock lock(&mu_);
  State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return SearchNotFound(search_id);
  HWNAS_RETURN_IF_ERROR(CheckTrialNumber(search_id, number, s->trial_ids.size()));
  TrialRecord& t = state_->trials.at(s->trial_ids[number - 1]);
  if (s->rec.state != SearchState::kRunning) {
    return absl::FailedPreconditionError(absl::StrCat("search ", search_id, " is ",
                                                      SearchStateName(s->rec.state),
                                                      ": its trials are no longer screened"));
  }
  if (t.state != TrialState::kSucceeded || t.screen != ScreenStage::kPending) {
    return absl::FailedPreconditionError(
        absl::StrCat("trial ", number, " is ", TrialStateName(t.state), " (screen stage '",
                     ScreenStageName(t.screen),
                     "'); only a SUCCEEDED trial whose screen is pending is screened"));
  }
  t.screen_score = score;
  if (out_reason) {
    state_->SetState(t, TrialState::kEarlyStopped);
    ++s->screened_out;
    t.screen = ScreenStage::kOut;
    t.failure_reason = *out_reason;
    t.reward.reset();
    return t;
  }
  state_->SetState(t, TrialState::kPending);
  ++s->promotions;
  t.screen = ScreenStage::kPassed;
  t.attempts = 0;
  t.lease_expires_at.reset();
  t.finished_at.reset();
  return t;
}

absl::StatusOr<CheckpointSaved> MemoryStore::SaveTrialCheckpoint(int64_t search_id,
                                                                 const TrialCheckpoint& checkpoint,
                                                                 int64_t limit_bytes) {
  HWNAS_RETURN_IF_ERROR(ValidateTrialCheckpoint(checkpoint, limit_bytes));
  absl::MutexLock lock(&mu_);
  State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return SearchNotFound(search_id);
  HWNAS_RETURN_IF_ERROR(CheckTrialNumber(search_id, checkpoint.trial_number, s->trial_ids.size()));
  const int64_t size = static_cast<int64_t>(checkpoint.data.size());
  int64_t others = 0;
  std::vector<std::pair<double, int64_t>> lower;  // (score, trial) evictable.
  for (const auto& [number, c] : s->trial_checkpoints) {
    if (number == checkpoint.trial_number) continue;
    others += static_cast<int64_t>(c.data.size());
    if (c.score < checkpoint.score) lower.push_back({c.score, number});
  }
  std::sort(lower.begin(), lower.end());
  CheckpointSaved saved;
  int64_t total = others + size;
  size_t k = 0;
  for (; total > limit_bytes && k < lower.size(); ++k) {
    total -= static_cast<int64_t>(s->trial_checkpoints.at(lower[k].second).data.size());
    saved.evicted.push_back(lower[k].second);
  }
  if (total > limit_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "trial ", checkpoint.trial_number, "'s checkpoint (", size, " bytes) does not fit: search ",
        search_id, "'s checkpoints would take ", total, " bytes, over its limit of ", limit_bytes,
        " bytes, and no lower-scoring checkpoint is left to evict"));
  }
  for (int64_t number : saved.evicted) s->trial_checkpoints.erase(number);
  s->trial_checkpoints[checkpoint.trial_number] = checkpoint;
  saved.search_bytes = total;
  return saved;
}

absl::StatusOr<std::optional<TrialCheckpoint>> MemoryStore::LoadTrialCheckpoint(int64_t search_id,
                                                                                int64_t number) {
  absl::MutexLock lock(&mu_);
  const State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return SearchNotFound(search_id);
  auto it = s->trial_checkpoints.find(number);
  if (it == s->trial_checkpoints.end()) return std::optional<TrialCheckpoint>();
  return std::optional<TrialCheckpoint>(it->second);
}

absl::StatusOr<std::optional<int>> MemoryStore::StoredCheckpointEpochs(int64_t search_id,
                                                                       int64_t number) {
  absl::MutexLock lock(&mu_);
  const State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return SearchNotFound(search_id);
  auto it = s->trial_checkpoints.find(number);
  if (it == s->trial_checkpoints.end()) return std::optional<int>();
  return std::optional<int>(it->second.epochs);
}

absl::Status MemoryStore::DeleteTrialCheckpoint(int64_t search_id, int64_t number) {
  absl::MutexLock lock(&mu_);
  State::Search* s = state_->FindSearch(search_id);
  if (s == nullptr) return SearchNotFound(search_id);
  s->trial_checkpoints.erase(number);
  return absl::OkStatus();
}

}  // namespace hwnas::db

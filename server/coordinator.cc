#include "server/coordinator.h"

#include <algorithm>
#include <random>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/pareto.h"
#include "controller/rng.h"
#include "server/search_runtime.h"
#include "spdlog/spdlog.h"

namespace hwnas::server {
namespace {

scheduler::WorkerProfile ProfileOf(const WorkerRecord& w) {
  scheduler::WorkerProfile p;
  p.device_tag = w.device_tag;
  p.gpu = w.gpu;
  p.datasets = w.datasets;
  p.search_spaces = w.search_spaces;
  p.evaluators = w.evaluators;
  return p;
}

}  // namespace

Coordinator::Coordinator(db::Store* store, Executor* executor, Metrics* metrics,
                         CoordinatorOptions options)
    : store_(store), executor_(executor), metrics_(metrics), options_(std::move(options)) {}

Coordinator::~Coordinator() { Stop(); }

absl::Status Coordinator::Start() {
  HWNAS_ASSIGN_OR_RETURN(std::vector<SearchRecord> running, store_->RunningSearches());
  for (const SearchRecord& record : running) {
    absl::Status loaded = LoadRuntime(record);
    if (!loaded.ok()) {
      spdlog::error("event=search_unloadable search={} error=\"{}\"", record.id, loaded.ToString());
      if (loaded.code() == absl::StatusCode::kInvalidArgument) {
        (void)store_->FinishSearch(record.id, SearchState::kFailed,
                                   absl::StrCat("cannot resume: ", loaded.message()));
      } else {
        return loaded;  // The store is unreachable: do not start half-way.
      }
    }
  }
  {
    absl::MutexLock lock(&mu_);
    stopping_ = false;
    maintenance_running_ = true;
  }
  maintenance_ = std::thread([this] { MaintenanceLoop(); });
  spdlog::info("event=coordinator_started searches={}", running.size());
  return absl::OkStatus();
}

void Coordinator::Stop() {
  std::vector<Waiter> waiters;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !maintenance_running_) return;
    stopping_ = true;
    waiters.swap(waiters_);
  }
  if (maintenance_.joinable()) maintenance_.join();
  {
    absl::MutexLock lock(&mu_);
    maintenance_running_ = false;
  }
  for (Waiter& w : waiters) w.done(std::vector<Assignment>());
}

absl::Status Coordinator::LoadRuntime(const SearchRecord& record) {
  HWNAS_ASSIGN_OR_RETURN(std::shared_ptr<SearchRuntime> runtime,
                         SearchRuntime::Create(record, options_.profile_search_path));
  HWNAS_RETURN_IF_ERROR(runtime->Restore(*store_));
  if (runtime->spec().early_stopping.enabled) {
    HWNAS_ASSIGN_OR_RETURN(
        auto curves, store_->FinishedCurves(record.id, runtime->spec().early_stopping_metric));
    runtime->SetFinishedCurves(std::map<int64_t, scheduler::Curve>(curves.begin(), curves.end()));
  }
  runtime->pending = record.counts.pending;
  runtime->running = record.counts.running;
  runtime->finished_count = record.counts.finished();
  absl::MutexLock lock(&mu_);
  // Joins the fair share at the furthest-ahead search's level: it is not
  // owed the trials that ran before it came.
  std::vector<scheduler::SearchDemand> others;
  for (const auto& [id, r] : runtimes_) {
    if (id != record.id) {
      others.push_back({.search_id = id, .weight = r->spec().weight, .granted = r->granted});
    }
  }
  runtime->granted = scheduler::GrantsOnJoin(runtime->spec().weight,
                                             record.counts.total - record.counts.pending, others);
  runtimes_[record.id] = std::move(runtime);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SearchRuntime>> Coordinator::Runtime(int64_t search_id) {
  absl::MutexLock lock(&mu_);
  auto it = runtimes_.find(search_id);
  if (it == runtimes_.end()) {
    return absl::FailedPreconditionError(absl::StrCat("search ", search_id, " is not running"));
  }
  return it->second;
}

std::vector<std::shared_ptr<SearchRuntime>> Coordinator::Runtimes() {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<SearchRuntime>> out;
  for (const auto& [id, r] : runtimes_) out.push_back(r);
  return out;
}

// ---------------------------------------------------------------------------
// SearchService.

absl::StatusOr<SearchRecord> Coordinator::Visible(const User& user, int64_t search_id) {
  HWNAS_ASSIGN_OR_RETURN(SearchRecord search, store_->GetSearch(search_id));
  if (search.owner_id != user.id && !user.is_admin) {
    return absl::PermissionDeniedError(
        absl::StrCat("search ", search_id, " belongs to another user"));
  }
  return search;
}

absl::StatusOr<SearchRecord> Coordinator::Submit(const User& user, const std::string& spec_yaml,
                                                 const std::string& idempotency_key) {
  if (user.is_worker && !user.is_admin) {
    return absl::PermissionDeniedError("worker tokens cannot submit searches");
  }
  HWNAS_ASSIGN_OR_RETURN(SearchSpec spec,
                         SearchRuntime::CheckSpec(spec_yaml, options_.profile_search_path));
  int64_t warm_start_search_id = 0;
  if (!spec.controller.strategy.warm_start_from.empty()) {
    HWNAS_ASSIGN_OR_RETURN(SearchRecord earlier, ResolveWarmStart(user, spec));
    warm_start_search_id = earlier.id;
  }
  db::NewSearch search;
  search.warm_start_search_id = warm_start_search_id;
  search.name = spec.name;
  search.owner_id = user.id;
  search.spec_yaml = spec_yaml;
  search.space = spec.space_name;
  search.budget = spec.controller.budget.trials;
  search.weight = spec.weight;
  search.idempotency_key = idempotency_key;
  search.seed = spec.controller.strategy.seed.value_or(std::random_device{}());
  HWNAS_ASSIGN_OR_RETURN(SearchRecord record, store_->CreateSearch(search));
  {
    absl::MutexLock lock(&mu_);
    if (runtimes_.contains(record.id) || record.state != SearchState::kRunning) return record;
  }
  if (absl::Status loaded = LoadRuntime(record); !loaded.ok()) {
    (void)store_->FinishSearch(record.id, SearchState::kFailed, loaded.message());
    return loaded;
  }
  spdlog::info("event=search_submitted search={} owner={} space={} budget={}", record.id, user.name,
               record.space, record.budget);
  HWNAS_ASSIGN_OR_RETURN(std::shared_ptr<SearchRuntime> runtime, Runtime(record.id));
  Refill(runtime);
  return store_->GetSearch(record.id);
}

absl::StatusOr<SearchRecord> Coordinator::ResolveWarmStart(const User& user,
                                                           const SearchSpec& spec) {
  constexpr absl::string_view kField = "strategy.warm_start_from";
  const std::string& ref = spec.controller.strategy.warm_start_from;
  std::optional<SearchRecord> earlier;
  // An id first; a name that looks like one ("2024") is tried as a name next.
  int64_t id = 0;
  const bool numeric = absl::SimpleAtoi(ref, &id);
  if (numeric && id > 0) {
    absl::StatusOr<SearchRecord> found = Visible(user, id);
    if (found.ok()) {
      earlier = *std::move(found);
    } else if (absl::IsPermissionDenied(found.status())) {
      return absl::PermissionDeniedError(absl::StrCat(kField, ": ", found.status().message()));
    } else if (!absl::IsNotFound(found.status())) {
      return found.status();
    }
  }
  if (!earlier) {
    db::SearchQuery query;
    query.owner_id = user.id;
    query.name = ref;
    query.page_size = 1;
    HWNAS_ASSIGN_OR_RETURN(db::Page<SearchRecord> page, store_->ListSearches(query));
    if (page.items.empty()) {
      return absl::InvalidArgumentError(
          numeric ? absl::StrCat(kField, ": no search ", ref, ", and none of yours named ",
                                 QuoteValue(ref))
                  : absl::StrCat(kField, ": you have no search named ", QuoteValue(ref)));
    }
    earlier = std::move(page.items.front());
  }
  if (earlier->space != spec.space_name) {
    return absl::InvalidArgumentError(
        absl::StrCat(kField, ": search ", earlier->id, " searched the '", earlier->space,
                     "' space, this spec the '", spec.space_name, "' space"));
  }
  HWNAS_ASSIGN_OR_RETURN(std::vector<TrialRecord> trials,
                         store_->FinishedTrialsSince(earlier->id, 0));
  HWNAS_ASSIGN_OR_RETURN(controller::Search::WarmStartReport report,
                         SearchRuntime::CheckWarmStart(spec, trials, options_.profile_search_path));
  if (report.used == 0) {
    if (report.skipped == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(kField, ": search ", earlier->id, " has no finished trials yet"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        kField, ": none of the ", report.skipped, " finished trials of search ", earlier->id,
        " can seed this search (the first: ", report.first_skip_reason, ")"));
  }
  return *earlier;
}

absl::StatusOr<SearchRecord> Coordinator::GetSearch(const User& user, int64_t search_id) {
  HWNAS_ASSIGN_OR_RETURN(SearchRecord search, Visible(user, search_id));
  if (search.state == SearchState::kRunning) {
    if (absl::StatusOr<std::shared_ptr<SearchRuntime>> r = Runtime(search_id); r.ok()) {
      search.waiting = WhyNoWorkerCanRun((*r)->spec().requirements);
    }
  }
  return search;
}

std::string Coordinator::WhyNoWorkerCanRun(const scheduler::Requirements& requirements) {
  absl::MutexLock lock(&mu_);
  const absl::Time alive_since = absl::Now() - options_.worker_alive;
  int64_t alive = 0;
  std::string first_refusal;
  for (const auto& [id, w] : workers_) {
    if (w.last_seen < alive_since) continue;
    ++alive;
    std::string why;
    if (scheduler::CanRun(w.profile, requirements, &why)) return "";
    if (first_refusal.empty()) first_refusal = why;
  }
  if (alive == 0) return "no worker is connected";
  return absl::StrCat("no connected worker can run it (", alive, " connected; ", first_refusal,
                      ")");
}

absl::StatusOr<db::Page<SearchRecord>> Coordinator::ListSearches(const User& user,
                                                                 db::SearchQuery query,
                                                                 bool all_owners) {
  if (!(all_owners && user.is_admin)) query.owner_id = user.id;
  return store_->ListSearches(query);
}

absl::StatusOr<SearchRecord> Coordinator::Cancel(const User& user, int64_t search_id) {
  HWNAS_ASSIGN_OR_RETURN(SearchRecord before, Visible(user, search_id));
  HWNAS_ASSIGN_OR_RETURN(SearchRecord record,
                         store_->FinishSearch(search_id, SearchState::kCancelled));
  if (before.state != SearchState::kRunning) {
    // Already ended: nothing was cancelled, and the audit log says so.
    spdlog::info("event=search_cancel_ignored search={} by={} state={}", search_id, user.name,
                 std::string(SearchStateName(record.state)));
    return record;
  }
  absl::MutexLock lock(&mu_);
  if (auto it = runtimes_.find(search_id); it != runtimes_.end()) {
    it->second->finished = true;
    runtimes_.erase(it);
  }
  // Its running trials are cancelled in the store; their workers stop on the
  // next heartbeat and never report, so their routes go now.
  absl::erase_if(leases_,
                 [search_id](const auto& entry) { return entry.second.search_id == search_id; });
  metrics_->ForgetSearch(search_id);
  spdlog::info("event=search_cancelled search={} by={}", search_id, user.name);
  return record;
}

absl::StatusOr<db::Page<TrialRecord>> Coordinator::ListTrials(const User& user,
                                                              db::TrialQuery query) {
  HWNAS_RETURN_IF_ERROR(Visible(user, query.search_id).status());
  return store_->ListTrials(query);
}

absl::StatusOr<TrialRecord> Coordinator::GetTrial(const User& user, int64_t search_id,
                                                  int64_t number) {
  HWNAS_RETURN_IF_ERROR(Visible(user, search_id).status());
  return store_->GetTrial(search_id, number, /*with_epochs=*/true);
}

absl::StatusOr<Coordinator::ParetoAnswer> Coordinator::ParetoFront(
    const User& user, int64_t search_id, std::vector<std::string> metrics) {
  HWNAS_ASSIGN_OR_RETURN(SearchRecord search, Visible(user, search_id));
  if (metrics.empty()) {
    absl::StatusOr<SearchSpec> spec = ParseSearchSpec(search.spec_yaml);
    metrics = spec.ok() ? spec->controller.objectives.EffectiveParetoMetrics()
                        : std::vector<std::string>{"latency_ms"};
  }
  for (const std::string& m : metrics) {
    if (!IsKnownMetricName(m)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown metric ", QuoteValue(m)));
    }
  }
  controller::ParetoFront front(metrics);
  std::vector<double> worst(metrics.size(), 0);
  std::map<uint64_t, TrialRecord> by_number;
  db::TrialQuery query{.search_id = search_id, .state = TrialState::kSucceeded, .page_size = 1000};
  while (true) {
    HWNAS_ASSIGN_OR_RETURN(db::Page<TrialRecord> page, store_->ListTrials(query));
    for (TrialRecord& t : page.items) {
      if (!t.result) continue;
      absl::StatusOr<bool> added =
          front.AddResult(static_cast<uint64_t>(t.number), t.architecture, *t.result);
      if (!added.ok()) continue;  // Lacks one of the metrics (e.g. not measured).
      for (size_t i = 0; i < metrics.size(); ++i) {
        worst[i] = std::max(worst[i], MetricValue(*t.result, metrics[i]).value_or(0));
      }
      by_number[static_cast<uint64_t>(t.number)] = std::move(t);
    }
    if (page.next_page_token.empty()) break;
    query.page_token = page.next_page_token;
  }
  ParetoAnswer answer;
  answer.metrics = metrics;
  // Reference point: zero accuracy and 10% beyond the worst cost seen, so
  // every front point contributes.
  for (double& w : worst) w = w * 1.1 + 1e-9;
  answer.hypervolume = front.Hypervolume(0.0, worst);
  for (const controller::ParetoPoint& p : front.points()) {
    answer.trials.push_back(by_number.at(p.trial_id));
  }
  return answer;
}

absl::StatusOr<std::vector<TrialRecord>> Coordinator::FinishedSince(int64_t search_id,
                                                                    int64_t after) {
  return store_->FinishedTrialsSince(search_id, after);
}

absl::StatusOr<int64_t> Coordinator::LastFinishSequence(int64_t search_id) {
  return store_->LastFinishSequence(search_id);
}

// ---------------------------------------------------------------------------
// WorkerService.

absl::StatusOr<WorkerRecord> Coordinator::RegisterWorker(const User& owner, WorkerRecord worker) {
  worker.owner_id = owner.id;
  HWNAS_ASSIGN_OR_RETURN(WorkerRecord stored, store_->UpsertWorker(worker));
  absl::MutexLock lock(&mu_);
  workers_[stored.id] = WorkerState{stored.owner_id, ProfileOf(stored), absl::Now()};
  spdlog::info("event=worker_registered worker={} owner={} name={} spaces={} evaluators={}",
               stored.id, owner.name, stored.name, stored.search_spaces.size(),
               stored.evaluators.size());
  return stored;
}

absl::Status Coordinator::AuthorizeWorker(const User& user, const std::string& worker_id,
                                          bool acquiring) {
  std::optional<int64_t> owner;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = workers_.find(worker_id); it != workers_.end()) {
      owner = it->second.owner_id;
    } else if (auto s = stored_owners_.find(worker_id); s != stored_owners_.end()) {
      owner = s->second;
    }
  }
  if (!owner) {
    // Registered before this process started (or never): the store knows.
    absl::StatusOr<WorkerRecord> stored = store_->GetWorker(worker_id);
    if (stored.ok()) {
      owner = stored->owner_id;
      absl::MutexLock lock(&mu_);
      if (stored_owners_.size() > 100000) stored_owners_.clear();
      stored_owners_[worker_id] = *owner;
    } else if (stored.status().code() != absl::StatusCode::kNotFound) {
      return stored.status();
    }
  }
  if (owner && *owner == user.id) return absl::OkStatus();
  if (owner) {
    spdlog::warn("event=worker_id_refused worker={} user={}", worker_id, user.name);
  }
  const std::string shown = std::string(worker_id.substr(0, 64));
  if (acquiring) {
    return absl::FailedPreconditionError(absl::StrCat(
        "worker ", shown, " is not registered with this token (call RegisterWorker first)"));
  }
  return absl::PermissionDeniedError(
      absl::StrCat("worker ", shown, " was not registered with this token"));
}

void Coordinator::Touch(const std::string& worker_id) {
  absl::MutexLock lock(&mu_);
  if (auto it = workers_.find(worker_id); it != workers_.end()) it->second.last_seen = absl::Now();
}

int64_t Coordinator::CapableWorkers(const scheduler::Requirements& req) {
  absl::MutexLock lock(&mu_);
  const absl::Time alive_since = absl::Now() - options_.worker_alive;
  const bool table = req.evaluator == spec::EvaluatorKindName(spec::EvaluatorKind::kTable);
  int64_t n = 0;
  for (const auto& [id, w] : workers_) {
    if (w.last_seen >= alive_since && scheduler::CanRun(w.profile, req)) {
      n += table ? w.max_trials : 1;
    }
  }
  return n;
}

void Coordinator::Acquire(const std::string& worker_id, absl::Time deadline, int max_trials,
                          AcquireDone done) {
  max_trials = std::clamp(max_trials, 1, kMaxTrialsPerCall);
  executor_->Post([this, worker_id, deadline, max_trials, done = std::move(done)]() mutable {
    absl::StatusOr<std::vector<Assignment>> got = TryLease(worker_id, max_trials);
    if (!got.ok() || !got->empty() || absl::Now() >= deadline) {
      done(std::move(got));
      return;
    }
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      done(std::vector<Assignment>());
      return;
    }
    // Parked until work appears (TryWaiters) or the deadline passes.
    waiters_.push_back(Waiter{worker_id, deadline, max_trials, std::move(done)});
  });
}

Assignment Coordinator::AssignmentFor(const SearchRuntime& runtime, const db::Lease& l) const {
  Assignment a;
  a.lease_id = l.lease_id;
  a.lease_expires_at = l.expires_at;
  a.search_id = l.trial.search_id;
  a.trial_number = l.trial.number;
  a.architecture = l.trial.architecture;
  a.spec_yaml = runtime.spec().yaml;
  a.attempt = l.trial.attempts;
  // Independent and reproducible per (search seed, trial number).
  a.seed = controller::SplitMix64At(runtime.seed(), static_cast<uint64_t>(l.trial.number));
  return a;
}

absl::StatusOr<std::vector<Assignment>> Coordinator::TryLease(const std::string& worker_id,
                                                              int max_trials) {
  std::vector<Assignment> out;
  std::set<int64_t> drained;  // Found empty during this call.
  // Each round leases from the search the scheduler ranks first (fair share
  // is re-ranked between rounds); a few rounds fill a batch across searches
  // whose queues run short.
  constexpr int kMaxRounds = 4;
  for (int round = 0; round < kMaxRounds && static_cast<int>(out.size()) < max_trials; ++round) {
    scheduler::WorkerProfile profile;
    std::vector<scheduler::SearchDemand> demands;
    std::map<int64_t, std::shared_ptr<SearchRuntime>> by_id;
    std::map<std::string, int64_t> running_by_owner;
    {
      absl::MutexLock lock(&mu_);
      auto w = workers_.find(worker_id);
      if (w == workers_.end()) {
        return absl::FailedPreconditionError(
            absl::StrCat("worker ", worker_id, " is not registered (call RegisterWorker first)"));
      }
      w->second.last_seen = absl::Now();
      w->second.max_trials = max_trials;
      profile = w->second.profile;
      for (const auto& [id, r] : runtimes_) {
        running_by_owner[r->owner()] += r->running;
        if (drained.count(id) > 0) continue;
        scheduler::SearchDemand d;
        d.search_id = id;
        d.owner = r->owner();
        d.weight = r->spec().weight;
        d.pending = r->pending;
        d.running = r->running;
        d.granted = r->granted;
        d.requirements = r->spec().requirements;
        demands.push_back(std::move(d));
        by_id[id] = r;
      }
    }
    std::vector<int64_t> order = scheduler::RankSearches(profile, demands, options_.policy);
    const auto is_table = [&](int64_t id) {
      return by_id[id]->spec().controller.evaluator.kind == spec::EvaluatorKind::kTable;
    };
    // A training trial comes alone: only table trials join a batch.
    if (!out.empty()) std::erase_if(order, [&](int64_t id) { return !is_table(id); });
    if (order.empty()) break;
    int count = 1;
    if (max_trials > 1 && is_table(order.front())) {
      order.resize(1);
      count = max_trials - static_cast<int>(out.size());
      const int64_t limit = options_.policy.max_running_per_owner;
      if (limit > 0) {
        const int64_t allowed = limit - running_by_owner[by_id[order.front()]->owner()];
        count = static_cast<int>(std::clamp<int64_t>(allowed, 1, count));
      }
    }
    absl::StatusOr<std::vector<db::Lease>> leases = LeaseBatched(worker_id, order, count);
    if (!leases.ok()) {
      // Leases already granted stand (the worker gets them); the error is
      // for a call that got none.
      if (out.empty()) return leases.status();
      break;
    }
    for (db::Lease& l : *leases) {
      std::shared_ptr<SearchRuntime> runtime = by_id[l.trial.search_id];
      runtime->granted++;
      runtime->running++;
      if (runtime->pending > 0) runtime->pending--;
      metrics_->trials_started++;
      {
        absl::MutexLock lock(&mu_);
        leases_[l.lease_id] = l.trial;
      }
      out.push_back(AssignmentFor(*runtime, l));
    }
    if (static_cast<int>(leases->size()) < count) {
      // The counters were stale: the searches asked have no more pending
      // trials (the one a batch came from, or all of a single lease's).
      for (int64_t id : order) {
        if (!leases->empty() && id != order.front()) continue;
        by_id[id]->pending = 0;
        drained.insert(id);
      }
    }
    for (int64_t id : order) ScheduleRefill(by_id[id]);
    if (count == 1 && !leases->empty() && !is_table(leases->front().trial.search_id)) break;
  }
  return out;
}

void Coordinator::TryWaiters() {
  std::vector<Waiter> waiters;
  bool any_pending = false;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, r] : runtimes_) any_pending = any_pending || r->pending > 0;
    waiters.swap(waiters_);
  }
  const absl::Time now = absl::Now();
  std::vector<Waiter> still_parked;
  for (Waiter& w : waiters) {
    if (!any_pending && now < w.deadline) {
      // Nothing to lease anywhere: stay parked without touching the store.
      still_parked.push_back(std::move(w));
      continue;
    }
    if (now >= w.deadline) {
      executor_->Post([done = std::move(w.done)] { done(std::vector<Assignment>()); });
      continue;
    }
    // Re-enters the queue through Acquire: leases if work is there, parks
    // again otherwise.
    Acquire(w.worker_id, w.deadline, w.max_trials, std::move(w.done));
  }
  if (!still_parked.empty()) {
    absl::MutexLock lock(&mu_);
    for (Waiter& w : still_parked) waiters_.push_back(std::move(w));
  }
}

absl::StatusOr<ProgressAnswer> Coordinator::ReportProgress(
    const std::string& worker_id, const std::string& lease_id,
    const std::optional<EpochMetrics>& metrics) {
  Touch(worker_id);
  absl::StatusOr<db::LeaseStatus> status;
  {
    StoreTimer timer(metrics_, "renew");
    status = store_->RenewLease(lease_id, worker_id, options_.lease_ttl, metrics);
  }
  if (!status.ok()) return status.status();
  ProgressAnswer answer;
  answer.lease_expires_at = status->expires_at;
  if (status->search_cancelled) {
    answer.action = ProgressAction::kCancelled;
    return answer;
  }
  if (metrics) {
    std::optional<TrialRecord> trial = LeasedTrial(lease_id);
    if (trial) {
      absl::StatusOr<std::shared_ptr<SearchRuntime>> runtime = Runtime(trial->search_id);
      if (runtime.ok() && (*runtime)->ShouldStop(trial->number, *metrics)) {
        answer.action = ProgressAction::kStopEarly;
        spdlog::info("event=early_stop search={} trial={} epoch={}", trial->search_id,
                     trial->number, metrics->epoch);
      }
    }
  }
  return answer;
}

absl::StatusOr<db::ReportOutcome> Coordinator::ReportResult(const std::string& worker_id,
                                                            const std::string& lease_id,
                                                            const TrialResult& result,
                                                            bool early_stopped) {
  // Checked here too, so that the error does not name a list entry.
  HWNAS_RETURN_IF_ERROR(ValidateTrialResult(result));
  if (lease_id.empty()) return absl::InvalidArgumentError("lease_id is empty");
  HWNAS_ASSIGN_OR_RETURN(std::vector<absl::StatusOr<db::ReportOutcome>> answers,
                         ReportResults(worker_id, {ResultReport{lease_id, result, early_stopped}}));
  return std::move(answers.front());
}

absl::StatusOr<std::vector<absl::StatusOr<db::ReportOutcome>>> Coordinator::ReportResults(
    const std::string& worker_id, const std::vector<ResultReport>& reports) {
  Touch(worker_id);
  if (reports.empty()) return absl::InvalidArgumentError("results is empty");
  if (reports.size() > static_cast<size_t>(kMaxTrialsPerCall)) {
    return absl::InvalidArgumentError(
        absl::StrCat("results has ", reports.size(), " entries; at most ", kMaxTrialsPerCall));
  }
  // Everything is checked before anything is stored.
  std::set<std::string> seen;
  for (size_t i = 0; i < reports.size(); ++i) {
    const ResultReport& r = reports[i];
    if (r.lease_id.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("results[", i, "].lease_id is empty"));
    }
    if (absl::Status valid = ValidateTrialResult(r.result); !valid.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("results[", i, "] (lease ", r.lease_id, "): ", valid.message()));
    }
    if (!seen.insert(r.lease_id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("results[", i, "]: lease ", r.lease_id, " is reported twice"));
    }
  }
  std::vector<std::optional<TrialRecord>> leased(reports.size());
  for (size_t i = 0; i < reports.size(); ++i) {
    leased[i] = LeasedTrial(reports[i].lease_id);
    if (leased[i] && leased[i]->worker_id != worker_id) {
      return absl::PermissionDeniedError(
          absl::StrCat("lease ", reports[i].lease_id, " is held by another worker"));
    }
  }

  std::vector<absl::StatusOr<db::ReportOutcome>> answers(reports.size(),
                                                         absl::InternalError("not answered"));
  std::vector<std::shared_ptr<SearchRuntime>> runtimes(reports.size());
  std::vector<db::Completion> completions;
  std::vector<size_t> completion_of;  // Report index of each completion.
  {
    StoreTimer timer(metrics_, "complete");
    for (size_t i = 0; i < reports.size(); ++i) {
      const ResultReport& r = reports[i];
      if (!leased[i]) {
        answers[i] = absl::NotFoundError(absl::StrCat("lease ", r.lease_id, " is unknown"));
        continue;
      }
      if (absl::StatusOr<std::shared_ptr<SearchRuntime>> rt = Runtime(leased[i]->search_id);
          rt.ok()) {
        runtimes[i] = *std::move(rt);
      }
      Verdict verdict;
      verdict.state = r.early_stopped ? TrialState::kEarlyStopped : TrialState::kSucceeded;
      if (runtimes[i]) verdict = runtimes[i]->Judge(*leased[i], r.result, r.early_stopped);
      if (verdict.state == TrialState::kSucceeded || verdict.state == TrialState::kEarlyStopped) {
        completions.push_back(
            db::Completion{r.lease_id, worker_id, r.result, verdict.state, verdict.reward});
        completion_of.push_back(i);
      } else {
        answers[i] = store_->FailTrial(r.lease_id, worker_id, verdict.note, /*retryable=*/false,
                                       options_.max_attempts, r.result,
                                       verdict.state == TrialState::kInfeasible, verdict.reward);
      }
    }
    if (!completions.empty()) {
      std::vector<absl::StatusOr<db::ReportOutcome>> stored =
          CompleteBatched(std::move(completions));
      for (size_t k = 0; k < stored.size(); ++k) answers[completion_of[k]] = std::move(stored[k]);
    }
  }

  // Newly finished trials by search, with the runtime that observes them.
  std::map<int64_t, std::pair<std::shared_ptr<SearchRuntime>, std::vector<TrialRecord>>> finished;
  for (size_t i = 0; i < reports.size(); ++i) {
    if (!answers[i].ok()) continue;
    const db::ReportOutcome& outcome = *answers[i];
    if (outcome.duplicate) {
      metrics_->reports_duplicate++;
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      leases_.erase(reports[i].lease_id);
    }
    metrics_->trials_finished++;
    if (outcome.trial.state == TrialState::kInfeasible) metrics_->trials_infeasible++;
    if (outcome.trial.state == TrialState::kFailed) metrics_->trials_failed++;
    if (runtimes[i]) {
      if (runtimes[i]->running > 0) runtimes[i]->running--;
      runtimes[i]->finished_count++;
      auto& [runtime, trials] = finished[runtimes[i]->id()];
      runtime = runtimes[i];
      trials.push_back(outcome.trial);
    }
  }
  for (const auto& [search_id, observed] : finished) AfterFinish(observed.first, observed.second);
  return answers;
}

absl::StatusOr<std::vector<db::Lease>> Coordinator::LeaseBatched(const std::string& worker_id,
                                                                 std::vector<int64_t> order,
                                                                 int count) {
  using Answer = absl::StatusOr<std::vector<db::Lease>>;
  return leases_batch_.Submit(
      LeaseRequest{worker_id, std::move(order), count},
      [this](const std::vector<const LeaseRequest*>& batch) {
        // One statement per distinct search order, with a worker entry per
        // lease asked for.
        std::map<std::vector<int64_t>, std::vector<size_t>> groups;
        for (size_t i = 0; i < batch.size(); ++i) groups[batch[i]->order].push_back(i);
        std::vector<Answer> answers(batch.size(), Answer(std::vector<db::Lease>()));
        for (const auto& [search_ids, members] : groups) {
          std::vector<std::string> workers;
          std::vector<size_t> request_of;  // Batch index of each worker entry.
          for (size_t i : members) {
            for (int k = 0; k < batch[i]->count; ++k) {
              workers.push_back(batch[i]->worker_id);
              request_of.push_back(i);
            }
          }
          absl::StatusOr<std::vector<std::optional<db::Lease>>> got;
          {
            StoreTimer timer(metrics_, "lease");
            got = store_->LeaseTrials(workers, search_ids, options_.lease_ttl);
          }
          if (!got.ok()) {
            for (size_t i : members) answers[i] = got.status();
            continue;
          }
          for (size_t k = 0; k < workers.size(); ++k) {
            if ((*got)[k]) answers[request_of[k]]->push_back(*std::move((*got)[k]));
          }
        }
        return answers;
      });
}

std::vector<absl::StatusOr<db::ReportOutcome>> Coordinator::CompleteBatched(
    std::vector<db::Completion> completions) {
  return completions_.SubmitAll(std::move(completions),
                                [this](const std::vector<const db::Completion*>& batch) {
                                  std::vector<db::Completion> completions;
                                  completions.reserve(batch.size());
                                  for (const db::Completion* c : batch) completions.push_back(*c);
                                  std::vector<absl::StatusOr<db::ReportOutcome>> answers;
                                  {
                                    StoreTimer timer(metrics_, "complete_batch");
                                    answers = store_->CompleteTrials(completions);
                                  }
                                  metrics_->completion_batches++;
                                  return answers;
                                });
}

absl::StatusOr<db::ReportOutcome> Coordinator::ReportFailure(
    const std::string& worker_id, const std::string& lease_id, const std::string& reason,
    bool retryable, const std::optional<TrialResult>& partial, bool infeasible) {
  Touch(worker_id);
  absl::StatusOr<db::ReportOutcome> outcome;
  {
    StoreTimer timer(metrics_, "fail");
    outcome = store_->FailTrial(lease_id, worker_id, reason, retryable, options_.max_attempts,
                                partial, infeasible);
  }
  if (!outcome.ok() || outcome->duplicate) return outcome;
  {
    absl::MutexLock lock(&mu_);
    leases_.erase(lease_id);
  }
  absl::StatusOr<std::shared_ptr<SearchRuntime>> runtime = Runtime(outcome->trial.search_id);
  if (outcome->requeued) {
    if (runtime.ok()) {
      (*runtime)->pending++;
      if ((*runtime)->running > 0) (*runtime)->running--;
    }
    TryWaiters();
    return outcome;
  }
  metrics_->trials_finished++;
  (outcome->trial.state == TrialState::kInfeasible ? metrics_->trials_infeasible
                                                   : metrics_->trials_failed)++;
  if (runtime.ok()) {
    if ((*runtime)->running > 0) (*runtime)->running--;
    (*runtime)->finished_count++;
    AfterFinish(*runtime, {outcome->trial});
  }
  return outcome;
}

// ---------------------------------------------------------------------------
// Queues and completion.

void Coordinator::AfterFinish(const std::shared_ptr<SearchRuntime>& runtime,
                              const std::vector<TrialRecord>& finished) {
  runtime->Observe(finished);
  ScheduleRefill(runtime);
}

void Coordinator::ScheduleRefill(std::shared_ptr<SearchRuntime> runtime) {
  if (runtime->refill_scheduled.exchange(true)) return;
  executor_->Post([this, runtime = std::move(runtime)] {
    runtime->refill_scheduled = false;
    Refill(runtime);
  });
}

std::optional<TrialRecord> Coordinator::LeasedTrial(const std::string& lease_id) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = leases_.find(lease_id); it != leases_.end()) return it->second;
  }
  absl::StatusOr<TrialRecord> trial = store_->GetTrialByLease(lease_id);
  if (!trial.ok()) return std::nullopt;
  return *std::move(trial);
}

void Coordinator::Resync(const std::shared_ptr<SearchRuntime>& runtime) {
  absl::StatusOr<QueueCounts> counts;
  {
    StoreTimer timer(metrics_, "count");
    counts = store_->CountQueue(runtime->id());
  }
  if (!counts.ok()) return;
  runtime->pending = counts->pending;
  runtime->running = counts->running;
  runtime->finished_count = counts->finished;
  metrics_->SetQueueDepth(runtime->id(), counts->pending, counts->running);
}

void Coordinator::Refill(const std::shared_ptr<SearchRuntime>& runtime) {
  if (runtime->finished || runtime->needs_reload) return;
  // One refill per search at a time: callers never queue up behind a slow
  // proposal (each holding a handler thread); the running one goes again.
  // (The request is raised before the check so that it cannot fall between
  // the running one's last look and its end.)
  runtime->refill_again = true;
  if (runtime->refilling.exchange(true)) return;
  runtime->refill_again = false;
  RefillOnce(runtime);
  runtime->refilling = false;
  if (runtime->refill_again.exchange(false)) ScheduleRefill(runtime);
}

void Coordinator::RefillOnce(const std::shared_ptr<SearchRuntime>& runtime) {
  const int64_t pending = runtime->pending;
  const int64_t running = runtime->running;
  const int64_t budget_left = runtime->budget() - runtime->finished_count - pending - running;
  const int64_t desired = scheduler::DesiredQueueDepth(CapableWorkers(runtime->spec().requirements),
                                                       running, runtime->max_ahead(), budget_left);
  if (pending > 0 && pending * 2 > desired) return;  // Still half full.
  // The strategy itself never proposes beyond the budget (it counts its
  // pending proposals), so stale counters cannot overshoot it.
  const int64_t want = std::min(desired - pending, budget_left);
  if (want > 0 && !runtime->exhausted()) {
    absl::StatusOr<std::vector<TrialRecord>> added;
    {
      StoreTimer timer(metrics_, "propose");
      added = runtime->ProposeAndStore(*store_, static_cast<int>(want));
    }
    if (!added.ok()) {
      spdlog::warn("event=propose_failed search={} error=\"{}\"", runtime->id(),
                   added.status().ToString());
      return;
    }
    int64_t new_pending = 0;
    for (const TrialRecord& t : *added) {
      if (t.state == TrialState::kPending) {
        ++new_pending;
      } else {
        runtime->finished_count++;
        if (t.state == TrialState::kInfeasible) metrics_->trials_infeasible++;
      }
    }
    runtime->pending += new_pending;
    if (new_pending > 0) TryWaiters();
    if (added->size() > static_cast<size_t>(new_pending)) {
      // Infeasible-at-proposal trials finished already: propose their
      // replacements on the next round.
      ScheduleRefill(runtime);
    }
    if (!added->empty()) return;
  }
  if (pending + running == 0) MaybeComplete(runtime);
}

void Coordinator::MaybeComplete(const std::shared_ptr<SearchRuntime>& runtime) {
  absl::StatusOr<TrialCounts> counts = store_->CountTrials(runtime->id());
  if (!counts.ok() || counts->pending + counts->running > 0) return;
  if (counts->finished() < runtime->budget() && !runtime->exhausted()) return;
  absl::StatusOr<SearchRecord> done = store_->FinishSearch(runtime->id(), SearchState::kCompleted);
  if (!done.ok()) return;
  runtime->finished = true;
  {
    absl::MutexLock lock(&mu_);
    runtimes_.erase(runtime->id());
  }
  metrics_->ForgetSearch(runtime->id());
  spdlog::info("event=search_completed search={} finished={} best_reward={}", runtime->id(),
               counts->finished(),
               done->best_trial && done->best_trial->reward ? *done->best_trial->reward : 0.0);
}

void Coordinator::MaintenanceRound() {
  absl::StatusOr<std::vector<TrialRecord>> changed;
  {
    StoreTimer timer(metrics_, "requeue");
    changed = store_->RequeueExpiredLeases(options_.max_attempts);
  }
  if (changed.ok() && !changed->empty()) {
    std::map<int64_t, std::vector<TrialRecord>> finished_by_search;
    for (const TrialRecord& t : *changed) {
      metrics_->lease_expiries++;
      {
        absl::MutexLock lock(&mu_);
        leases_.erase(t.lease_id);
      }
      spdlog::warn("event=lease_expired search={} trial={} worker={} now={}", t.search_id, t.number,
                   t.worker_id, std::string(TrialStateName(t.state)));
      if (IsTerminal(t.state)) finished_by_search[t.search_id].push_back(t);
    }
    for (auto& [id, trials] : finished_by_search) {
      if (absl::StatusOr<std::shared_ptr<SearchRuntime>> r = Runtime(id); r.ok()) {
        metrics_->trials_finished += static_cast<int64_t>(trials.size());
        metrics_->trials_failed += static_cast<int64_t>(trials.size());
        (*r)->Observe(trials);
        ScheduleRefill(*r);
      }
    }
  }
  // Searches whose memory disagrees with the store are rebuilt from it.
  for (const std::shared_ptr<SearchRuntime>& r : Runtimes()) {
    if (!r->needs_reload) continue;
    absl::StatusOr<SearchRecord> record = store_->GetSearch(r->id());
    if (!record.ok()) continue;
    if (record->state != SearchState::kRunning) {
      // Finished or cancelled meanwhile (a proposal raced the cancel): drop
      // it instead of bringing it back.
      r->finished = true;
      absl::MutexLock lock(&mu_);
      runtimes_.erase(r->id());
      continue;
    }
    if (LoadRuntime(*record).ok()) spdlog::info("event=search_reloaded search={}", r->id());
  }
  for (const std::shared_ptr<SearchRuntime>& r : Runtimes()) {
    Resync(r);
    Refill(r);
  }
  {
    absl::MutexLock lock(&mu_);
    const absl::Time alive_since = absl::Now() - options_.worker_alive;
    int64_t alive = 0;
    for (const auto& [id, w] : workers_) alive += w.last_seen >= alive_since ? 1 : 0;
    metrics_->SetWorkersAlive(alive);
    metrics_->SetInMemory(static_cast<int64_t>(runtimes_.size()), SearchRuntime::LiveCount(),
                          static_cast<int64_t>(leases_.size()));
  }
  TryWaiters();
}

void Coordinator::MaintenanceLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.maintenance_interval);
      if (stopping_) return;
    }
    MaintenanceRound();
  }
}

}  // namespace hwnas::server

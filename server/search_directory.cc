#include "server/search_directory.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/pareto.h"
#include "nlohmann/json.hpp"
#include "server/least_violating.h"
#include "server/search_runtime.h"
#include "spdlog/spdlog.h"

namespace hwnas::server {

SearchDirectory::SearchDirectory(db::Store* store, Executor* executor, Metrics* metrics,
                                 const CoordinatorOptions* options, FleetView* fleet)
    : store_(store), executor_(executor), metrics_(metrics), options_(options), fleet_(fleet) {}

absl::StatusOr<int64_t> SearchDirectory::LoadRunning() {
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
  return static_cast<int64_t>(running.size());
}

absl::Status SearchDirectory::LoadRuntime(const SearchRecord& record) {
  HWNAS_ASSIGN_OR_RETURN(std::shared_ptr<SearchRuntime> runtime,
                         SearchRuntime::Create(record, options_->profile_search_path));
  HWNAS_RETURN_IF_ERROR(runtime->Restore(*store_));
  if (runtime->screens()) {
    // Screen results the last server stored but did not decide on.
    if (std::vector<TrialRecord> undecided = runtime->TakeUndecidedScreens(); !undecided.empty()) {
      Screen(runtime, undecided);
    }
  }
  if (runtime->spec().early_stopping.enabled) {
    HWNAS_ASSIGN_OR_RETURN(
        auto curves, store_->FinishedCurves(record.id, runtime->spec().early_stopping_metric));
    runtime->SetFinishedCurves(std::map<int64_t, scheduler::Curve>(curves.begin(), curves.end()));
  }
  runtime->counters().Reset(record.counts.pending, record.counts.running, record.counts.finished());
  absl::MutexLock lock(&mu_);
  // Joins the fair share at the furthest-ahead search's level: it is not
  // owed the trials that ran before it came.
  std::vector<scheduler::SearchDemand> others;
  for (const auto& [id, r] : runtimes_) {
    if (id != record.id) {
      others.push_back(
          {.search_id = id, .weight = r->spec().weight, .granted = r->counters().granted()});
    }
  }
  runtime->counters().JoinAt(scheduler::GrantsOnJoin(
      runtime->spec().weight, record.counts.total - record.counts.pending, others));
  runtimes_[record.id] = std::move(runtime);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SearchRuntime>> SearchDirectory::Runtime(int64_t search_id) {
  absl::MutexLock lock(&mu_);
  auto it = runtimes_.find(search_id);
  if (it == runtimes_.end()) {
    return absl::FailedPreconditionError(absl::StrCat("search ", search_id, " is not running"));
  }
  return it->second;
}

std::vector<std::shared_ptr<SearchRuntime>> SearchDirectory::Runtimes() {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<SearchRuntime>> out;
  out.reserve(runtimes_.size());
  for (const auto& [id, r] : runtimes_) out.push_back(r);
  return out;
}

bool SearchDirectory::AnyPending() {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, r] : runtimes_) {
    if (r->counters().pending() > 0) return true;
  }
  return false;
}

int64_t SearchDirectory::RunningCount() {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(runtimes_.size());
}

void SearchDirectory::Drop(int64_t search_id) {
  absl::MutexLock lock(&mu_);
  if (auto it = runtimes_.find(search_id); it != runtimes_.end()) {
    it->second->MarkFinished();
    runtimes_.erase(it);
  }
}

// ---------------------------------------------------------------------------
// SearchService.

absl::StatusOr<SearchRecord> SearchDirectory::Visible(const User& user, int64_t search_id) {
  HWNAS_ASSIGN_OR_RETURN(SearchRecord search, store_->GetSearch(search_id));
  if (search.owner_id != user.id && !user.is_admin) {
    return absl::PermissionDeniedError(
        absl::StrCat("search ", search_id, " belongs to another user"));
  }
  return search;
}

absl::StatusOr<SearchRecord> SearchDirectory::Submit(const User& user, const std::string& spec_yaml,
                                                     const std::string& idempotency_key) {
  if (user.is_worker && !user.is_admin) {
    return absl::PermissionDeniedError("worker tokens cannot submit searches");
  }
  HWNAS_ASSIGN_OR_RETURN(spec::SearchSpec spec,
                         SearchRuntime::CheckSpec(spec_yaml, options_->profile_search_path));
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

absl::StatusOr<SearchRecord> SearchDirectory::ResolveWarmStart(const User& user,
                                                               const spec::SearchSpec& spec) {
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
  HWNAS_ASSIGN_OR_RETURN(
      controller::Search::WarmStartReport report,
      SearchRuntime::CheckWarmStart(spec, trials, options_->profile_search_path));
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

absl::StatusOr<SearchRecord> SearchDirectory::GetSearch(const User& user, int64_t search_id) {
  HWNAS_ASSIGN_OR_RETURN(SearchRecord search, Visible(user, search_id));
  if (search.state == SearchState::kRunning) {
    if (absl::StatusOr<std::shared_ptr<SearchRuntime>> r = Runtime(search_id); r.ok()) {
      search.waiting = fleet_->WhyNoWorkerCanRun((*r)->spec().requirements);
    }
  }
  return search;
}

absl::StatusOr<db::Page<SearchRecord>> SearchDirectory::ListSearches(const User& user,
                                                                     db::SearchQuery query,
                                                                     bool all_owners) {
  if (!(all_owners && user.is_admin)) query.owner_id = user.id;
  return store_->ListSearches(query);
}

absl::StatusOr<SearchRecord> SearchDirectory::Cancel(const User& user, int64_t search_id) {
  HWNAS_ASSIGN_OR_RETURN(SearchRecord before, Visible(user, search_id));
  HWNAS_ASSIGN_OR_RETURN(SearchRecord record,
                         store_->FinishSearch(search_id, SearchState::kCancelled));
  if (before.state != SearchState::kRunning) {
    // Already ended: nothing was cancelled, and the audit log says so.
    spdlog::info("event=search_cancel_ignored search={} by={} state={}", search_id, user.name,
                 std::string(SearchStateName(record.state)));
    return record;
  }
  Drop(search_id);
  // Its running trials are cancelled in the store; their workers stop on the
  // next heartbeat and never report, so their routes go now.
  fleet_->ForgetLeasesOf(search_id);
  metrics_->ForgetSearch(search_id);
  spdlog::info("event=search_cancelled search={} by={}", search_id, user.name);
  return record;
}

absl::StatusOr<db::Page<TrialRecord>> SearchDirectory::ListTrials(const User& user,
                                                                  db::TrialQuery query) {
  HWNAS_RETURN_IF_ERROR(Visible(user, query.search_id).status());
  return store_->ListTrials(query);
}

absl::StatusOr<TrialRecord> SearchDirectory::GetTrial(const User& user, int64_t search_id,
                                                      int64_t number) {
  HWNAS_RETURN_IF_ERROR(Visible(user, search_id).status());
  return store_->GetTrial(search_id, number, /*with_epochs=*/true);
}

absl::StatusOr<ParetoAnswer> SearchDirectory::ParetoFront(const User& user, int64_t search_id,
                                                          std::vector<std::string> metrics) {
  HWNAS_ASSIGN_OR_RETURN(SearchRecord search, Visible(user, search_id));
  if (metrics.empty()) {
    absl::StatusOr<spec::SearchSpec> spec = spec::ParseSearchSpec(search.spec_yaml);
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
  if (answer.trials.empty()) {
    // Nothing feasible (yet): an empty answer would leave the user guessing,
    // so show the trials that came closest and what they miss.
    absl::StatusOr<spec::SearchSpec> spec = spec::ParseSearchSpec(search.spec_yaml);
    if (spec.ok()) {
      std::vector<TrialRecord> infeasible;
      db::TrialQuery q{.search_id = search_id, .state = TrialState::kInfeasible, .page_size = 1000};
      while (true) {
        HWNAS_ASSIGN_OR_RETURN(db::Page<TrialRecord> page, store_->ListTrials(q));
        for (TrialRecord& t : page.items) infeasible.push_back(std::move(t));
        if (page.next_page_token.empty()) break;
        q.page_token = page.next_page_token;
      }
      answer.least_violating = LeastViolating(spec->controller.objectives.hard_limits,
                                              std::move(infeasible), kLeastViolatingShown);
    }
  }
  return answer;
}

absl::StatusOr<std::vector<TrialRecord>> SearchDirectory::AddGuided(
    const User& user, int64_t search_id, const std::vector<GuidedTrial>& items,
    TrialOrigin origin) {
  if (user.is_worker && !user.is_admin) {
    return absl::PermissionDeniedError("worker tokens cannot add trials to searches");
  }
  HWNAS_ASSIGN_OR_RETURN(SearchRecord search, Visible(user, search_id));
  if (search.state != SearchState::kRunning) {
    return absl::FailedPreconditionError(
        absl::StrCat("search ", search_id, " is ", SearchStateName(search.state),
                     "; trials can only be added to a running search"));
  }
  HWNAS_ASSIGN_OR_RETURN(std::shared_ptr<SearchRuntime> runtime, Runtime(search_id));
  HWNAS_ASSIGN_OR_RETURN(std::vector<TrialRecord> added,
                         runtime->StoreGuided(*store_, items, origin));
  int64_t new_pending = 0;
  int64_t new_finished = 0;
  for (const TrialRecord& t : added) {
    if (t.state == TrialState::kPending) {
      ++new_pending;
    } else {
      ++new_finished;
      if (t.state == TrialState::kInfeasible) metrics_->trials_infeasible++;
    }
  }
  runtime->counters().OnProposed(new_pending, new_finished);
  if (new_pending > 0) fleet_->WakeWaiters();
  // Imports may use up the budget (the search then completes) or change
  // what the strategy proposes next.
  ScheduleRefill(runtime);
  spdlog::info("event=trials_added search={} by={} origin={} trials={}", search_id, user.name,
               std::string(TrialOriginName(origin)), added.size());
  return added;
}

absl::StatusOr<std::vector<TrialRecord>> SearchDirectory::FinishedSince(int64_t search_id,
                                                                        int64_t after) {
  return store_->FinishedTrialsSince(search_id, after);
}

absl::StatusOr<std::vector<db::Event>> SearchDirectory::EventsSince(int64_t search_id,
                                                                    int64_t after_id, int limit) {
  return store_->ListEvents(search_id, after_id, limit);
}

absl::StatusOr<int64_t> SearchDirectory::LastFinishSequence(int64_t search_id) {
  return store_->LastFinishSequence(search_id);
}

// ---------------------------------------------------------------------------
// Finish bookkeeping: queues and completion.

void SearchDirectory::AfterFinish(const std::shared_ptr<SearchRuntime>& runtime,
                                  const std::vector<TrialRecord>& finished) {
  runtime->Observe(finished);
  if (runtime->screens()) Screen(runtime, finished);
  if (runtime->multi_fidelity()) Promote(runtime, finished);
  ScheduleRefill(runtime);
}

void SearchDirectory::Screen(const std::shared_ptr<SearchRuntime>& runtime,
                             const std::vector<TrialRecord>& finished) {
  std::vector<TrialRecord> out;
  for (const SearchRuntime::ScreenVerdict& v : runtime->DecideScreens(finished)) {
    absl::StatusOr<TrialRecord> t =
        store_->ScreenTrial(runtime->id(), v.trial, v.score, v.out_reason);
    if (!t.ok()) {
      // The search ended meanwhile; a restarted server decides again.
      spdlog::info("event=screen_skipped search={} trial={} reason=\"{}\"", runtime->id(), v.trial,
                   t.status().ToString());
      continue;
    }
    const bool passed = !v.out_reason.has_value();
    if (passed) {
      runtime->counters().OnPromoted();
      fleet_->WakeWaiters();
    } else {
      runtime->counters().OnScreenedOut();
      out.push_back(*t);
    }
    spdlog::info(
        "event=trial_screened search={} trial={} passed={} score={:.6g} threshold={:.6g} "
        "screened={} kept={}",
        runtime->id(), v.trial, passed, v.score, v.decision.threshold, v.decision.screened,
        v.decision.kept);
    nlohmann::json payload = {{"passed", passed},
                              {"score", std::isfinite(v.score) ? nlohmann::json(v.score) : nullptr},
                              {"screened", v.decision.screened},
                              {"kept", v.decision.kept}};
    if (std::isfinite(v.decision.threshold)) payload["threshold"] = v.decision.threshold;
    if (absl::Status s = store_->AppendEvent(
            runtime->id(), v.trial, passed ? "screen_passed" : "screened_out", payload.dump());
        !s.ok()) {
      spdlog::warn("event=screen_event_failed search={} error=\"{}\"", runtime->id(), s.ToString());
    }
  }
  runtime->TellScreenedOut(out);
}

void SearchDirectory::Promote(const std::shared_ptr<SearchRuntime>& runtime,
                              const std::vector<TrialRecord>& finished) {
  SearchRuntime::RungStep step = runtime->RecordRungs(finished);
  // Out of wall-clock budget: no trial starts another rung.
  if (runtime->PastDeadline(absl::Now())) step.promotions.clear();
  for (const db::RungResult& r : step.results) {
    // Kept for a restarted server's ladder; a failed write costs at most
    // this trial's promotion after a restart, never a result.
    if (absl::Status s = store_->RecordRung(runtime->id(), r); !s.ok()) {
      spdlog::warn("event=rung_record_failed search={} trial={} rung={} error=\"{}\"",
                   runtime->id(), r.trial_number, r.rung, s.ToString());
    }
  }
  int promoted = 0;
  for (const scheduler::Promotion& p : step.promotions) {
    absl::StatusOr<TrialRecord> t = store_->PromoteTrial(runtime->id(), p.trial, p.rung, p.epochs);
    if (!t.ok()) {
      // The search ended meanwhile, or the trial was not SUCCEEDED after all.
      spdlog::info("event=promotion_skipped search={} trial={} rung={} reason=\"{}\"",
                   runtime->id(), p.trial, p.rung, t.status().ToString());
      continue;
    }
    ++promoted;
    runtime->counters().OnPromoted();
    spdlog::info("event=trial_promoted search={} trial={} rung={} epochs={}", runtime->id(),
                 p.trial, p.rung, p.epochs);
    const std::string payload =
        absl::StrCat("{\"rung\": ", p.rung, ", \"epochs\": ", p.epochs, "}");
    if (absl::Status s = store_->AppendEvent(runtime->id(), p.trial, "promoted", payload);
        !s.ok()) {
      spdlog::warn("event=promotion_event_failed search={} error=\"{}\"", runtime->id(),
                   s.ToString());
    }
  }
  if (promoted > 0) fleet_->WakeWaiters();
}

void SearchDirectory::ScheduleRefill(std::shared_ptr<SearchRuntime> runtime) {
  if (!runtime->refill_flags().TrySchedule()) return;
  executor_->Post([this, runtime = std::move(runtime)] {
    runtime->refill_flags().ClearScheduled();
    Refill(runtime);
  });
}

void SearchDirectory::Resync(const std::shared_ptr<SearchRuntime>& runtime) {
  absl::StatusOr<QueueCounts> counts;
  {
    StoreTimer timer(metrics_, "count");
    counts = store_->CountQueue(runtime->id());
  }
  if (!counts.ok()) return;
  runtime->counters().Reset(counts->pending, counts->running, counts->finished);
  metrics_->SetQueueDepth(runtime->id(), counts->pending, counts->running);
}

void SearchDirectory::Refill(const std::shared_ptr<SearchRuntime>& runtime) {
  if (runtime->finished() || runtime->needs_reload()) return;
  // One refill per search at a time: callers never queue up behind a slow
  // proposal (each holding a handler thread); the running one goes again.
  if (!runtime->refill_flags().TryBegin()) return;
  RefillOnce(runtime);
  if (runtime->refill_flags().End()) ScheduleRefill(runtime);
}

void SearchDirectory::RefillOnce(const std::shared_ptr<SearchRuntime>& runtime) {
  if (runtime->PastDeadline(absl::Now())) {
    CompleteAtDeadline(runtime);
    return;
  }
  const QueueCounters& counters = runtime->counters();
  const int64_t pending = counters.pending();
  const int64_t running = counters.running();
  const int64_t budget_left = runtime->budget() - counters.finished() - pending - running;
  const int64_t desired =
      scheduler::DesiredQueueDepth(fleet_->CapableWorkers(runtime->spec().requirements), running,
                                   runtime->max_ahead(), budget_left);
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
    int64_t new_finished = 0;
    for (const TrialRecord& t : *added) {
      if (t.state == TrialState::kPending) {
        ++new_pending;
      } else {
        ++new_finished;
        if (t.state == TrialState::kInfeasible) metrics_->trials_infeasible++;
      }
    }
    runtime->counters().OnProposed(new_pending, new_finished);
    if (new_pending > 0) fleet_->WakeWaiters();
    if (new_finished > 0) {
      // Infeasible-at-proposal trials finished already: propose their
      // replacements on the next round.
      ScheduleRefill(runtime);
    }
    if (!added->empty()) return;
  }
  if (pending + running == 0) MaybeComplete(runtime);
}

void SearchDirectory::MaybeComplete(const std::shared_ptr<SearchRuntime>& runtime) {
  absl::StatusOr<TrialCounts> counts = store_->CountTrials(runtime->id());
  if (!counts.ok() || counts->pending + counts->running > 0) return;
  if (counts->finished() < runtime->budget() && !runtime->exhausted()) return;
  absl::StatusOr<SearchRecord> done = store_->FinishSearch(runtime->id(), SearchState::kCompleted);
  if (!done.ok()) return;
  runtime->MarkFinished();
  {
    absl::MutexLock lock(&mu_);
    runtimes_.erase(runtime->id());
  }
  metrics_->ForgetSearch(runtime->id());
  spdlog::info("event=search_completed search={} finished={} best_reward={}", runtime->id(),
               counts->finished(),
               done->best_trial && done->best_trial->reward ? *done->best_trial->reward : 0.0);
}

void SearchDirectory::CompleteAtDeadline(const std::shared_ptr<SearchRuntime>& runtime) {
  absl::StatusOr<SearchRecord> done = store_->FinishSearch(runtime->id(), SearchState::kCompleted);
  if (!done.ok()) {
    // The next maintenance round tries again.
    spdlog::warn("event=search_deadline_failed search={} error=\"{}\"", runtime->id(),
                 done.status().ToString());
    return;
  }
  runtime->MarkFinished();
  {
    absl::MutexLock lock(&mu_);
    runtimes_.erase(runtime->id());
  }
  metrics_->ForgetSearch(runtime->id());
  spdlog::info(
      "event=search_completed search={} reason=budget_seconds seconds={} finished={} "
      "cancelled={}",
      runtime->id(), runtime->spec().controller.budget.seconds, done->counts.finished(),
      done->counts.cancelled);
  (void)store_->AppendEvent(
      runtime->id(), std::nullopt, "budget_seconds_reached",
      absl::StrCat("{\"seconds\": ", runtime->spec().controller.budget.seconds, ", \"finished\": ",
                   done->counts.finished(), ", \"cancelled\": ", done->counts.cancelled, "}"));
}

void SearchDirectory::ReloadAndResync() {
  // Searches whose memory disagrees with the store are rebuilt from it.
  for (const std::shared_ptr<SearchRuntime>& r : Runtimes()) {
    if (!r->needs_reload()) continue;
    absl::StatusOr<SearchRecord> record = store_->GetSearch(r->id());
    if (!record.ok()) continue;
    if (record->state != SearchState::kRunning) {
      // Finished or cancelled meanwhile (a proposal raced the cancel): drop
      // it instead of bringing it back.
      Drop(r->id());
      continue;
    }
    if (LoadRuntime(*record).ok()) spdlog::info("event=search_reloaded search={}", r->id());
  }
  for (const std::shared_ptr<SearchRuntime>& r : Runtimes()) {
    Resync(r);
    Refill(r);
  }
}

}  // namespace hwnas::server

#include "server/lease_broker.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/rng.h"
#include "server/search_runtime.h"
#include "spdlog/spdlog.h"
#include "spec/evaluator.h"

namespace hwnas::server {
namespace {

scheduler::WorkerProfile ProfileOf(const WorkerRecord& w) {
  scheduler::WorkerProfile p;
  p.device_tag = w.device_tag;
  p.gpu = w.gpu;
  p.datasets = w.datasets;
  p.search_spaces = w.search_spaces;
  p.evaluators = w.evaluators;
  p.measure_mcus = w.measure_mcus;
  return p;
}

// Multi-fidelity: a promoted trial resumes from the checkpoint its last rung
// stored; every rung below the top sends its own back.
void AttachCheckpoint(const SearchRuntime& runtime, const TrialRecord& trial, Assignment& a,
                      db::Store& store) {
  const int top = static_cast<int>(scheduler::RungEpochs(runtime.spec().fidelity).size()) - 1;
  a.checkpoint_wanted = trial.rung < top;
  if (trial.rung <= trial.bracket) return;  // The first rung starts from scratch.
  absl::StatusOr<std::optional<db::TrialCheckpoint>> c =
      store.LoadTrialCheckpoint(trial.search_id, trial.number);
  if (!c.ok()) {
    spdlog::warn("event=checkpoint_load_failed search={} trial={} error=\"{}\"", trial.search_id,
                 trial.number, c.status().ToString());
    return;
  }
  if (*c) {
    a.resume_checkpoint = std::move((*c)->data);
    return;
  }
  // Evicted under the search's byte limit, or never kept: the trial trains
  // this rung from scratch, and the search's events say so.
  spdlog::info("event=resume_from_scratch search={} trial={} rung={}", trial.search_id,
               trial.number, trial.rung);
  (void)store.AppendEvent(trial.search_id, trial.number, "resume_from_scratch",
                          absl::StrCat("{\"rung\": ", trial.rung,
                                       ", \"reason\": \"no checkpoint stored for this trial\"}"));
}

// A dnas job resumes from the checkpoint of its last stored epoch (a
// requeued job: its worker was killed, or the server restarted).
void AttachDnasCheckpoint(const TrialRecord& trial, Assignment& a, db::Store& store) {
  a.job = "dnas";
  absl::StatusOr<std::optional<db::TrialCheckpoint>> c =
      store.LoadTrialCheckpoint(trial.search_id, trial.number);
  if (!c.ok()) {
    // Without it the job would train from scratch: a job kind no worker
    // runs instead, which the worker hands back (a retryable failure: the
    // job goes back to the queue for the next lease).
    spdlog::warn("event=dnas_checkpoint_load_failed search={} trial={} error=\"{}\"",
                 trial.search_id, trial.number, c.status().ToString());
    a.job = "dnas-unavailable";
    return;
  }
  if (*c) {
    spdlog::info("event=dnas_resume search={} trial={} after_epoch={} bytes={}", trial.search_id,
                 trial.number, (*c)->epochs, (*c)->data.size());
    a.resume_checkpoint = std::move((*c)->data);
  }
}

Assignment AssignmentFor(const SearchRuntime& runtime, const db::Lease& l) {
  Assignment a;
  a.lease_id = l.lease_id;
  a.lease_expires_at = l.expires_at;
  a.search_id = l.trial.search_id;
  a.trial_number = l.trial.number;
  a.architecture = l.trial.architecture;
  a.spec_yaml = runtime.spec().yaml;
  a.attempt = l.trial.attempts;
  a.epoch_target = l.trial.epoch_target;
  a.rung = l.trial.rung;
  a.screen = l.trial.screen == ScreenStage::kPending;
  // Independent and reproducible per (search seed, trial number).
  a.seed = controller::SplitMix64At(runtime.seed(), static_cast<uint64_t>(l.trial.number));
  return a;
}

}  // namespace

LeaseBroker::LeaseBroker(db::Store* store, Executor* executor, Metrics* metrics,
                         const CoordinatorOptions* options, const Clock* clock,
                         SearchDirectory* searches)
    : store_(store),
      executor_(executor),
      metrics_(metrics),
      options_(options),
      clock_(clock),
      searches_(searches) {}

void LeaseBroker::Stop() {
  std::vector<Waiter> waiters;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    waiters.swap(waiters_);
  }
  for (Waiter& w : waiters) w.done(std::vector<Assignment>());
}

void LeaseBroker::Resume() {
  absl::MutexLock lock(&mu_);
  stopping_ = false;
}

// ---------------------------------------------------------------------------
// Worker registry.

absl::StatusOr<WorkerRecord> LeaseBroker::RegisterWorker(const User& owner, WorkerRecord worker) {
  worker.owner_id = owner.id;
  if (worker.measure_mcus.size() > 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "capabilities.measure_mcus: at most 8 CPUs, got ", worker.measure_mcus.size()));
  }
  for (const std::string& cpu : worker.measure_mcus) {
    if (cpu.empty() || cpu.size() > 64) {
      return absl::InvalidArgumentError("capabilities.measure_mcus: a CPU name is empty or long");
    }
  }
  HWNAS_ASSIGN_OR_RETURN(WorkerRecord stored, store_->UpsertWorker(worker));
  // The store keeps no measure_mcus: a worker sends them with every
  // registration (also after a server restart), and only this registry
  // schedules by them.
  stored.measure_mcus = worker.measure_mcus;
  absl::MutexLock lock(&mu_);
  workers_[stored.id] = WorkerState{stored.owner_id, ProfileOf(stored), clock_->Now()};
  spdlog::info("event=worker_registered worker={} owner={} name={} spaces={} evaluators={}",
               stored.id, owner.name, stored.name, stored.search_spaces.size(),
               stored.evaluators.size());
  return stored;
}

absl::Status LeaseBroker::AuthorizeWorker(const User& user, const std::string& worker_id,
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

void LeaseBroker::Touch(const std::string& worker_id) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  if (auto it = workers_.find(worker_id); it != workers_.end()) it->second.last_seen = now;
}

int64_t LeaseBroker::AliveWorkers() {
  const absl::Time alive_since = clock_->Now() - options_->worker_alive;
  absl::MutexLock lock(&mu_);
  int64_t alive = 0;
  for (const auto& [id, w] : workers_) alive += w.last_seen >= alive_since ? 1 : 0;
  return alive;
}

int64_t LeaseBroker::CapableWorkers(const scheduler::Requirements& req) {
  const absl::Time alive_since = clock_->Now() - options_->worker_alive;
  const bool table = req.evaluator == spec::EvaluatorKindName(spec::EvaluatorKind::kTable);
  absl::MutexLock lock(&mu_);
  int64_t n = 0;
  for (const auto& [id, w] : workers_) {
    if (w.last_seen >= alive_since && scheduler::CanRun(w.profile, req)) {
      n += table ? w.max_trials : 1;
    }
  }
  return n;
}

std::string LeaseBroker::WhyNoWorkerCanRun(const scheduler::Requirements& req) {
  const absl::Time alive_since = clock_->Now() - options_->worker_alive;
  absl::MutexLock lock(&mu_);
  int64_t alive = 0;
  std::string first_refusal;
  for (const auto& [id, w] : workers_) {
    if (w.last_seen < alive_since) continue;
    ++alive;
    std::string why;
    if (scheduler::CanRun(w.profile, req, &why)) return "";
    if (first_refusal.empty()) first_refusal = why;
  }
  if (alive == 0) return "no worker is connected";
  return absl::StrCat("no connected worker can run it (", alive, " connected; ", first_refusal,
                      ")");
}

// ---------------------------------------------------------------------------
// Leasing and long-polls.

void LeaseBroker::Acquire(const std::string& worker_id, absl::Time deadline, int max_trials,
                          AcquireDone done) {
  max_trials = std::clamp(max_trials, 1, kMaxTrialsPerCall);
  executor_->Post([this, worker_id, deadline, max_trials, done = std::move(done)]() mutable {
    absl::StatusOr<std::vector<Assignment>> got = TryLease(worker_id, max_trials);
    if (!got.ok() || !got->empty() || clock_->Now() >= deadline) {
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

absl::StatusOr<std::vector<Assignment>> LeaseBroker::TryLease(const std::string& worker_id,
                                                              int max_trials) {
  std::vector<Assignment> out;
  std::set<int64_t> drained;  // Found empty during this call.
  // Each round leases from the search the scheduler ranks first (fair share
  // is re-ranked between rounds); a few rounds fill a batch across searches
  // whose queues run short.
  constexpr int kMaxRounds = 4;
  for (int round = 0; round < kMaxRounds && static_cast<int>(out.size()) < max_trials; ++round) {
    scheduler::WorkerProfile profile;
    {
      const absl::Time now = clock_->Now();
      absl::MutexLock lock(&mu_);
      auto w = workers_.find(worker_id);
      if (w == workers_.end()) {
        return absl::FailedPreconditionError(
            absl::StrCat("worker ", worker_id, " is not registered (call RegisterWorker first)"));
      }
      w->second.last_seen = now;
      w->second.max_trials = max_trials;
      profile = w->second.profile;
    }
    std::vector<scheduler::SearchDemand> demands;
    std::map<int64_t, std::shared_ptr<SearchRuntime>> by_id;
    std::map<std::string, int64_t> running_by_owner;
    for (std::shared_ptr<SearchRuntime>& r : searches_->Runtimes()) {
      const QueueCounters& c = r->counters();
      running_by_owner[r->owner()] += c.running();
      if (drained.count(r->id()) > 0) continue;
      scheduler::SearchDemand d;
      d.search_id = r->id();
      d.owner = r->owner();
      d.weight = r->spec().weight;
      d.pending = c.pending();
      d.running = c.running();
      d.granted = c.granted();
      d.requirements = r->spec().requirements;
      demands.push_back(std::move(d));
      by_id[r->id()] = std::move(r);
    }
    std::vector<int64_t> order = scheduler::RankSearches(profile, demands, options_->policy);
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
      const int64_t limit = options_->policy.max_running_per_owner;
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
      const std::shared_ptr<SearchRuntime>& runtime = by_id[l.trial.search_id];
      runtime->counters().OnLeased();
      metrics_->trials_started++;
      {
        absl::MutexLock lock(&mu_);
        leases_[l.lease_id] = l.trial;
      }
      out.push_back(AssignmentFor(*runtime, l));
      // A screening lease trains nothing: no checkpoint either way.
      if (runtime->multi_fidelity() && !out.back().screen) {
        AttachCheckpoint(*runtime, l.trial, out.back(), *store_);
      }
      if (l.trial.origin == TrialOrigin::kDnasJob)
        AttachDnasCheckpoint(l.trial, out.back(), *store_);
    }
    if (static_cast<int>(leases->size()) < count) {
      // The counters were stale: the searches asked have no more pending
      // trials (the one a batch came from, or all of a single lease's).
      for (int64_t id : order) {
        if (!leases->empty() && id != order.front()) continue;
        by_id[id]->counters().OnDrained();
        drained.insert(id);
      }
    }
    for (int64_t id : order) searches_->ScheduleRefill(by_id[id]);
    if (count == 1 && !leases->empty() && !is_table(leases->front().trial.search_id)) break;
  }
  return out;
}

absl::StatusOr<std::vector<db::Lease>> LeaseBroker::LeaseBatched(const std::string& worker_id,
                                                                 std::vector<int64_t> order,
                                                                 int count) {
  using Answer = absl::StatusOr<std::vector<db::Lease>>;
  return lease_batches_.Submit(
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
            got = store_->LeaseTrials(workers, search_ids, options_->lease_ttl);
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

void LeaseBroker::TryWaiters() {
  // Read before the waiters are taken: work that arrives later wakes them
  // again through its own call.
  const bool any_pending = searches_->AnyPending();
  std::vector<Waiter> waiters;
  {
    absl::MutexLock lock(&mu_);
    waiters.swap(waiters_);
  }
  const absl::Time now = clock_->Now();
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

int64_t LeaseBroker::ParkedCount() {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(waiters_.size());
}

// ---------------------------------------------------------------------------
// Lease routes and expiry.

std::optional<TrialRecord> LeaseBroker::LeasedTrial(const std::string& lease_id) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = leases_.find(lease_id); it != leases_.end()) return it->second;
  }
  absl::StatusOr<TrialRecord> trial = store_->GetTrialByLease(lease_id);
  if (!trial.ok()) return std::nullopt;
  return *std::move(trial);
}

void LeaseBroker::ForgetLease(const std::string& lease_id) {
  absl::MutexLock lock(&mu_);
  leases_.erase(lease_id);
}

void LeaseBroker::ForgetLeasesOf(int64_t search_id) {
  absl::MutexLock lock(&mu_);
  absl::erase_if(leases_,
                 [search_id](const auto& entry) { return entry.second.search_id == search_id; });
}

int64_t LeaseBroker::LeaseCount() {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(leases_.size());
}

void LeaseBroker::ExpireLeases() {
  absl::StatusOr<std::vector<TrialRecord>> changed;
  {
    StoreTimer timer(metrics_, "requeue");
    changed = store_->RequeueExpiredLeases(options_->max_attempts);
  }
  if (!changed.ok() || changed->empty()) return;
  std::map<int64_t, std::vector<TrialRecord>> finished_by_search;
  for (const TrialRecord& t : *changed) {
    metrics_->lease_expiries++;
    ForgetLease(t.lease_id);
    spdlog::warn("event=lease_expired search={} trial={} worker={} now={}", t.search_id, t.number,
                 t.worker_id, std::string(TrialStateName(t.state)));
    if (IsTerminal(t.state)) finished_by_search[t.search_id].push_back(t);
  }
  for (auto& [id, trials] : finished_by_search) {
    if (absl::StatusOr<std::shared_ptr<SearchRuntime>> r = searches_->Runtime(id); r.ok()) {
      metrics_->trials_finished += static_cast<int64_t>(trials.size());
      metrics_->trials_failed += static_cast<int64_t>(trials.size());
      searches_->AfterFinish(*r, trials);
    }
  }
}

}  // namespace hwnas::server

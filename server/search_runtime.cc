#include "server/search_runtime.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "db/store_checks.h"
#include "spdlog/spdlog.h"

namespace hwnas::server {
namespace {
std::atomic<int64_t> live_runtimes{0};
}  // namespace

int64_t SearchRuntime::LiveCount() { return live_runtimes.load(); }

SearchRuntime::~SearchRuntime() { live_runtimes--; }

namespace {

// Nothing in building a runtime touches the store: whatever fails is the
// spec's doing (an MCU profile it names is missing, say), whatever code the
// part returned. As InvalidArgument, Submit refuses the spec, and a restarted
// server fails that search alone instead of refusing to start.
absl::Status SpecError(const absl::Status& status) {
  return absl::InvalidArgumentError(status.message());
}

std::vector<controller::FinishedTrial> ToFinished(absl::Span<const TrialRecord> trials) {
  std::vector<controller::FinishedTrial> out;
  for (const TrialRecord& t : trials) {
    if (t.state == TrialState::kCancelled) continue;
    // The earlier trial's number stands where errors name a proposal id
    // (Search::WarmStart gives the strategy none).
    out.push_back({static_cast<uint64_t>(t.number), t.architecture, t.state,
                   t.result.value_or(TrialResult{})});
  }
  return out;
}

}  // namespace

absl::StatusOr<std::shared_ptr<SearchRuntime>> SearchRuntime::Create(
    const SearchRecord& record, const std::vector<std::string>& profile_search_path) {
  absl::StatusOr<spec::SearchSpec> spec = spec::ParseSearchSpec(record.spec_yaml);
  if (!spec.ok()) return SpecError(spec.status());
  absl::StatusOr<std::shared_ptr<SearchRuntime>> runtime =
      Build(record, *std::move(spec), profile_search_path);
  if (!runtime.ok()) return SpecError(runtime.status());
  return runtime;
}

absl::StatusOr<spec::SearchSpec> SearchRuntime::CheckSpec(
    absl::string_view spec_yaml, const std::vector<std::string>& profile_search_path) {
  absl::StatusOr<spec::SearchSpec> spec = spec::ParseSearchSpec(spec_yaml);
  if (!spec.ok()) return SpecError(spec.status());
  SearchRecord probe;
  probe.spec_yaml = std::string(spec_yaml);
  probe.budget = spec->controller.budget.trials;
  absl::StatusOr<std::shared_ptr<SearchRuntime>> runtime = Build(probe, *spec, profile_search_path);
  if (!runtime.ok()) return SpecError(runtime.status());
  if (absl::Status s = (*runtime)->CheckObjectiveMetrics(); !s.ok()) return SpecError(s);
  return spec;
}

absl::StatusOr<std::set<std::string>> SearchRuntime::MetricsOfTrials() {
  const spec::EvaluatorOptions& evaluator = spec_.controller.evaluator;
  if (evaluator.kind == spec::EvaluatorKind::kTable) {
    return std::set<std::string>{"accuracy", "latency_ms", "latency_p90_ms",
                                 absl::StrCat("latency_ms@", evaluator.device)};
  }
  std::set<std::string> metrics = {"accuracy", "loss", "train_seconds"};
  if (!spec_.worker) return metrics;
  if (spec_.worker->hardware.measure_latency) metrics.insert({"latency_ms", "latency_p90_ms"});
  // The host int8 reference's accuracy (hardware.int8_accuracy), any worker.
  if (spec_.worker->hardware.int8_accuracy) metrics.insert(std::string(spec::kInt8AccuracyKey));
  if (!targets_) return metrics;
  // Which estimates a target gives does not depend on the architecture.
  std::vector<controller::Proposal> proposals;
  {
    absl::MutexLock lock(&mu_);
    HWNAS_ASSIGN_OR_RETURN(proposals, search_->Propose(1));
  }
  if (proposals.empty()) return metrics;
  HWNAS_ASSIGN_OR_RETURN(space::NetworkPlan plan,
                         space_->Lower(proposals.front().architecture.tokens));
  HWNAS_ASSIGN_OR_RETURN(TrialResult estimate, targets_->Estimate(spec::ApplyHardwareOptions(
                                                   std::move(plan), spec_.worker->hardware)));
  metrics.insert({"params", "macs", "peak_memory_bytes", "flash_bytes"});
  for (const auto& [key, value] : estimate.estimates) metrics.insert(key);
  // Measured on the firmware by workers with --measure-mcu (after training).
  for (const spec::McuMeasureTarget& m : spec_.worker->hardware.measure_mcu) {
    for (absl::string_view metric : spec::kMeasuredMcuMetrics) {
      metrics.insert(absl::StrCat(metric, "@", m.target));
    }
  }
  return metrics;
}

absl::Status SearchRuntime::CheckObjectiveMetrics() {
  HWNAS_ASSIGN_OR_RETURN(std::set<std::string> carried, MetricsOfTrials());
  auto check = [&](const std::string& path, const std::string& metric) -> absl::Status {
    if (carried.contains(metric)) return absl::OkStatus();
    std::string why;
    if (metric == "latency_ms" || metric == "latency_p90_ms") {
      why = "hardware.measure_latency is false; ";
    } else if (metric == spec::kInt8AccuracyKey) {
      why = "hardware.int8_accuracy is not true; ";
    } else if (size_t at = metric.find('@'); at != std::string::npos && spec_.worker) {
      const std::string target = metric.substr(at + 1);
      bool named = false;
      for (const hardware::TargetConfig& t : spec_.worker->hardware.targets) {
        named = named || t.name == target;
      }
      const absl::string_view base = absl::string_view(metric).substr(0, at);
      const bool measured =
          std::find(spec::kMeasuredMcuMetrics.begin(), spec::kMeasuredMcuMetrics.end(), base) !=
          spec::kMeasuredMcuMetrics.end();
      why = !named     ? absl::StrCat("no hardware target is named '", target, "'; ")
            : measured ? absl::StrCat("hardware target '", target,
                                      "' is not measured: give it measure: cortex-m7 or "
                                      "cortex-m4; ")
                       : absl::StrCat("hardware target '", target, "' does not estimate it; ");
    }
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the trials of this search will not have '", metric, "' (", why,
                     "they will have ", absl::StrJoin(carried, ", "), ")"));
  };
  return controller::CheckObjectiveMetrics(spec_.controller.objectives, check);
}

absl::StatusOr<controller::Search::WarmStartReport> SearchRuntime::CheckWarmStart(
    const spec::SearchSpec& spec, absl::Span<const TrialRecord> earlier,
    const std::vector<std::string>& profile_search_path) {
  SearchRecord probe;
  probe.budget = spec.controller.budget.trials;
  absl::StatusOr<std::shared_ptr<SearchRuntime>> runtime = Build(probe, spec, profile_search_path);
  if (!runtime.ok()) return SpecError(runtime.status());
  absl::MutexLock lock(&(*runtime)->mu_);
  return (*runtime)->search_->WarmStart(ToFinished(earlier));
}

absl::StatusOr<std::shared_ptr<SearchRuntime>> SearchRuntime::Build(
    const SearchRecord& record, spec::SearchSpec spec,
    const std::vector<std::string>& profile_search_path) {
  HWNAS_ASSIGN_OR_RETURN(std::unique_ptr<space::SearchSpace> space, MakeSpace(spec));
  std::optional<hardware::TargetSet> targets;
  if (spec.worker) {
    HWNAS_ASSIGN_OR_RETURN(
        targets, hardware::TargetSet::Load(spec.worker->hardware.targets, profile_search_path));
  }
  auto runtime = std::shared_ptr<SearchRuntime>(
      new SearchRuntime(record, std::move(spec), std::move(space), std::move(targets)));
  controller::SearchOptions options = controller::MakeSearchOptions(runtime->spec_.controller);
  // budget.trials counts trained candidates: with a screen the strategy
  // proposes more than that (its screened-out ones come back as failed and
  // would use its own count up), so only the server's queue counts, which
  // leave screened-out trials out, hold the search to its budget.
  options.budget = runtime->spec_.screen.enabled ? 0 : record.budget;
  HWNAS_ASSIGN_OR_RETURN(runtime->search_,
                         controller::Search::Create(options, *runtime->space_, record.seed));
  return runtime;
}

SearchRuntime::SearchRuntime(const SearchRecord& record, spec::SearchSpec spec,
                             std::unique_ptr<space::SearchSpace> space,
                             std::optional<hardware::TargetSet> targets)
    : id_(record.id),
      owner_(record.owner),
      spec_(std::move(spec)),
      budget_(record.budget),
      seed_(record.seed),
      warm_start_search_id_(record.warm_start_search_id),
      max_ahead_(absl::StartsWith(spec_.controller.strategy.name, "mnasnet")
                     ? spec_.controller.strategy.controller.batch_size
                     : 0),
      space_(std::move(space)),
      targets_(std::move(targets)) {
  if (spec_.fidelity.enabled()) {
    ladder_ = std::make_unique<scheduler::PromotionLadder>(spec_.fidelity);
  }
  if (spec_.controller.budget.seconds > 0) {
    deadline_ = record.created_at + absl::Seconds(spec_.controller.budget.seconds);
  }
  if (spec_.screen.enabled) {
    screen_rule_ =
        std::make_unique<scheduler::ScreenRule>(spec_.screen.keep, spec_.screen.min_screened);
  }
  live_runtimes++;
}

namespace {

// A screen result waiting for its decision: nothing for the strategy yet.
bool ScreenUndecided(const TrialRecord& t) {
  return t.screen == ScreenStage::kPending && t.state == TrialState::kSucceeded;
}

// How the strategy is told a stored trial: a screened-out one as FAILED (its
// proposal answered, nothing learned from a proxy score that is no
// accuracy), every other one as stored.
controller::FinishedTrial ForStrategy(const TrialRecord& t, uint64_t proposal,
                                      bool supersedes = false) {
  return controller::FinishedTrial{proposal, t.architecture,
                                   t.screen == ScreenStage::kOut ? TrialState::kFailed : t.state,
                                   t.result.value_or(TrialResult{}), supersedes};
}

}  // namespace

absl::Status SearchRuntime::Restore(db::Store& store) {
  HWNAS_ASSIGN_OR_RETURN(std::optional<db::Checkpoint> checkpoint, store.LoadLatestCheckpoint(id_));
  absl::MutexLock lock(&mu_);
  if (checkpoint) {
    HWNAS_RETURN_IF_ERROR(search_->Restore(checkpoint->state));
    checkpoint_sequence_ = checkpoint->sequence;
    observed_through_ = checkpoint->observed_through;
  } else if (warm_start_search_id_ != 0) {
    // Before the first checkpoint, so the warm start is in every checkpoint.
    HWNAS_ASSIGN_OR_RETURN(std::vector<TrialRecord> earlier,
                           store.FinishedTrialsSince(warm_start_search_id_, 0));
    HWNAS_ASSIGN_OR_RETURN(controller::Search::WarmStartReport report,
                           search_->WarmStart(ToFinished(earlier)));
    spdlog::info("event=search_warm_started search={} from={} trials={} skipped={}", id_,
                 warm_start_search_id_, report.used, report.skipped);
  }
  // The checkpoint leaves out the finished trials (the trials table has
  // them): the history is rebuilt from the store, and what finished after
  // the checkpoint is observed again.
  HWNAS_ASSIGN_OR_RETURN(std::vector<TrialRecord> finished,
                         store.FinishedTrialsSince(id_, checkpoint ? 0 : observed_through_));
  std::vector<TrialRecord> since;
  if (checkpoint) {
    std::vector<controller::FinishedTrial> before, after;
    for (TrialRecord& t : finished) {
      if (!IsTerminal(t.state) || ScreenUndecided(t)) {
        // Promoted since it finished: only its finish sequence is marked
        // observed (ObserveLocked); its next rung's result comes later.
        if (t.finish_seq > observed_through_) since.push_back(std::move(t));
        continue;
      }
      controller::FinishedTrial f = ForStrategy(t, t.proposal_id);
      if (t.finish_seq <= observed_through_) {
        before.push_back(std::move(f));
      } else {
        after.push_back(std::move(f));
        since.push_back(std::move(t));
      }
    }
    HWNAS_RETURN_IF_ERROR(search_->RestoreHistory(before, after));
  } else {
    since = std::move(finished);
  }
  if (screen_rule_) {
    // Every screened trial took a finish sequence at its screen, so the
    // listing from 0 has all of them.
    HWNAS_ASSIGN_OR_RETURN(std::vector<TrialRecord> all, store.FinishedTrialsSince(id_, 0));
    for (const TrialRecord& t : all) {
      if (t.screen_score) screen_rule_->Restore(t.number, *t.screen_score);
      if (ScreenUndecided(t)) undecided_screens_.push_back(t);
    }
  }
  if (ladder_) {
    HWNAS_ASSIGN_OR_RETURN(std::vector<db::RungResult> rungs, store.ListRungs(id_));
    for (const db::RungResult& r : rungs) {
      ladder_->Record(r.trial_number, r.bracket, r.rung, r.score);
      if (r.promoted) ladder_->MarkPromoted(r.trial_number, r.rung);
    }
  }
  ObserveLocked(since);
  spdlog::info("event=search_restored search={} checkpoint={} reobserved={}", id_,
               checkpoint_sequence_, since.size());
  return absl::OkStatus();
}

absl::StatusOr<db::Checkpoint> SearchRuntime::CheckpointLocked() {
  // Without the history: O(proposals in flight + strategy state), not
  // O(finished trials); Restore() rebuilds the history from the store.
  HWNAS_ASSIGN_OR_RETURN(std::string bytes, search_->Save(/*with_history=*/false));
  return db::Checkpoint{++checkpoint_sequence_, std::move(bytes), observed_through_};
}

std::pair<std::optional<TrialResult>, std::string> SearchRuntime::StaticCheck(
    const Architecture& arch) {
  if (!targets_ || !spec_.worker) return {std::nullopt, ""};
  absl::StatusOr<space::NetworkPlan> plan = space_->Lower(arch.tokens);
  if (!plan.ok()) return {std::nullopt, ""};
  absl::StatusOr<TrialResult> estimate =
      targets_->Estimate(spec::ApplyHardwareOptions(*std::move(plan), spec_.worker->hardware));
  if (!estimate.ok()) return {std::nullopt, ""};
  // A device the network does not fit (SRAM or flash) is a hard limit.
  for (const auto& [key, value] : estimate->estimates) {
    if (absl::StartsWith(key, "feasible@") && value == 0) {
      return {*estimate, absl::StrCat("does not fit ", key.substr(9), " (SRAM or flash)")};
    }
  }
  if (std::optional<std::string> violation =
          search_->reward_function().HardLimitViolation(*estimate)) {
    return {*estimate, *violation};
  }
  return {*estimate, ""};
}

absl::StatusOr<std::vector<TrialRecord>> SearchRuntime::ProposeAndStore(db::Store& store, int n) {
  if (n <= 0) return std::vector<TrialRecord>{};
  absl::MutexLock propose_lock(&propose_mu_);
  std::vector<db::NewTrial> trials;
  db::Checkpoint checkpoint;
  {
    absl::MutexLock lock(&mu_);
    HWNAS_ASSIGN_OR_RETURN(std::vector<controller::Proposal> proposals, search_->Propose(n));
    if (proposals.empty()) {
      exhausted_ = true;
      return std::vector<TrialRecord>{};
    }
    for (controller::Proposal& p : proposals) {
      db::NewTrial t;
      t.proposal_id = p.id;
      if (spec_.controller.strategy.name == "dnas") {
        // The supernet job (controller/strategy.cc): a placeholder token
        // list, no costs of its own; hash 0 so no architecture matches it.
        t.origin = TrialOrigin::kDnasJob;
        t.architecture = std::move(p.architecture);
        trials.push_back(std::move(t));
        continue;
      }
      t.canonical_hash = space_->CanonicalHash(p.architecture.tokens);
      // Proposal ids count up from 1 per search, also across restarts.
      ApplyFidelity(t, p.id > 0 ? p.id - 1 : 0);
      auto [costs, violation] = StaticCheck(p.architecture);
      if (!violation.empty()) {
        t.state = TrialState::kInfeasible;
        t.result = costs;
        t.failure_reason = violation;
      } else {
        // The strategy's candidates are screened; the owner's enqueued picks
        // and imports are not.
        t.screen = spec_.screen.enabled;
      }
      t.architecture = std::move(p.architecture);
      trials.push_back(std::move(t));
    }
    HWNAS_ASSIGN_OR_RETURN(checkpoint, CheckpointLocked());
  }
  // The write runs without mu_: reports of this search are judged and
  // observed meanwhile. The checkpoint above already knows these proposals.
  absl::StatusOr<std::vector<TrialRecord>> stored = store.AddTrials(id_, trials, checkpoint);
  if (!stored.ok()) {
    // The strategy now believes in proposals the store does not have; only a
    // rebuild from the store (as after a crash) makes the two agree again.
    MarkNeedsReload();
    return stored.status();
  }
  // Trials infeasible up front are finished already: teach the strategy now.
  std::vector<TrialRecord> done;
  for (const TrialRecord& t : *stored) {
    if (IsTerminal(t.state)) done.push_back(t);
  }
  if (!done.empty()) Observe(done);
  return stored;
}

void SearchRuntime::ApplyFidelity(db::NewTrial& t, uint64_t ordinal) const {
  if (!spec_.fidelity.enabled()) return;
  const std::vector<int> epochs = scheduler::RungEpochs(spec_.fidelity);
  const int bracket = scheduler::BracketForTrial(spec_.fidelity, static_cast<int64_t>(ordinal));
  t.bracket = bracket;
  t.rung = bracket;
  t.epoch_target = epochs[static_cast<size_t>(bracket)];
}

SearchRuntime::RungStep SearchRuntime::RecordRungs(const std::vector<TrialRecord>& finished) {
  RungStep step;
  if (!spec_.fidelity.enabled()) return step;
  absl::MutexLock lock(&mu_);
  for (const TrialRecord& t : finished) {
    // Imported trials were trained elsewhere for unknown epochs; failed,
    // infeasible and early-stopped ones have no full rung result.
    if (t.state != TrialState::kSucceeded || t.origin == TrialOrigin::kImported || !t.result ||
        ScreenUndecided(t)) {
      continue;
    }
    const double score = t.reward.value_or(t.result->accuracy);
    const int epochs = t.epoch_target > 0 ? t.epoch_target : std::max(t.result->epochs, 1);
    ladder_->Record(t.number, t.bracket, t.rung, score);
    step.results.push_back(
        db::RungResult{.trial_number = t.number, .rung = t.rung, .epochs = epochs, .score = score});
  }
  step.promotions = ladder_->TakePromotions();
  return step;
}

namespace {

// "line 4" or "architecture 2" (1-based), for error messages.
std::string Where(const GuidedTrial& item, size_t index) {
  return item.line > 0 ? absl::StrCat("line ", item.line)
                       : absl::StrCat("architecture ", index + 1);
}

}  // namespace

absl::StatusOr<std::vector<TrialRecord>> SearchRuntime::StoreGuided(
    db::Store& store, const std::vector<GuidedTrial>& items, TrialOrigin origin) {
  if (items.empty()) return absl::InvalidArgumentError("no architectures given");
  if (origin == TrialOrigin::kStrategy || origin == TrialOrigin::kDnasJob) {
    return absl::InvalidArgumentError(
        "StoreGuided stores enqueued, imported or dnas-found trials only");
  }
  // Serialized with proposals, so checkpoints still go to the store in order.
  absl::MutexLock propose_lock(&propose_mu_);
  std::vector<db::NewTrial> trials;
  trials.reserve(items.size());
  {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < items.size(); ++i) {
      const GuidedTrial& item = items[i];
      absl::StatusOr<std::vector<int>> tokens = space_->Parse(item.architecture);
      absl::StatusOr<Architecture> arch =
          tokens.ok() ? space_->MakeArchitecture(*std::move(tokens)) : tokens.status();
      if (!arch.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            Where(item, i), ": ", QuoteValue(item.architecture), " does not decode in the '",
            space_->name(), "' space: ", arch.status().message(), "; nothing was stored"));
      }
      db::NewTrial t;
      t.origin = origin;
      t.canonical_hash = space_->CanonicalHash(arch->tokens);
      t.proposal_id = controller::kNoProposal;
      if (origin == TrialOrigin::kEnqueued || origin == TrialOrigin::kDnas) {
        ApplyFidelity(t, 0);  // The owner's pick starts on the lowest rung.
        auto [costs, violation] = StaticCheck(*arch);
        if (!violation.empty()) {
          t.state = TrialState::kInfeasible;
          t.result = costs;
          t.failure_reason = violation;
        }
      } else {
        if (!item.result) {
          return absl::InvalidArgumentError(
              absl::StrCat(Where(item, i), ": no metrics; nothing was stored"));
        }
        if (!(item.result->accuracy >= 0 && item.result->accuracy <= 1)) {
          return absl::InvalidArgumentError(
              absl::StrCat(Where(item, i), ": accuracy ", item.result->accuracy,
                           " is not a fraction in [0, 1]; nothing was stored"));
        }
        absl::StatusOr<controller::ScoredTrial> scored = search_->Score(controller::FinishedTrial{
            controller::kNoProposal, *arch, TrialState::kSucceeded, *item.result});
        if (!scored.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(
              Where(item, i), ": ", scored.status().message(), "; nothing was stored"));
        }
        t.result = item.result;
        if (scored->state == TrialState::kInfeasible) {
          t.state = TrialState::kInfeasible;
          t.failure_reason = scored->note;
        } else {
          t.state = TrialState::kSucceeded;
          t.reward = scored->reward;
        }
      }
      t.architecture = *std::move(arch);
      // The store's own checks (finite metrics, sizes), named by line here.
      if (absl::Status valid = db::ValidateNewTrials({t}).status(); !valid.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(item, i), ": ", valid.message(), "; nothing was stored"));
      }
      trials.push_back(std::move(t));
    }
  }
  // One AddTrials: one transaction, so a refused row (the store validates
  // metrics too) leaves nothing behind.
  absl::StatusOr<std::vector<TrialRecord>> stored = store.AddTrials(id_, trials);
  if (!stored.ok()) return stored.status();
  std::vector<TrialRecord> done;
  for (const TrialRecord& t : *stored) {
    if (IsTerminal(t.state)) done.push_back(t);
  }
  if (!done.empty()) Observe(done);
  spdlog::info("event=trials_{} search={} trials={} finished={}",
               std::string(TrialOriginName(origin)), id_, stored->size(), done.size());
  return stored;
}

Verdict SearchRuntime::Judge(const TrialRecord& trial, const TrialResult& result,
                             bool early_stopped) {
  if (trial.screen == ScreenStage::kPending) {
    // A proxy score, not a trained result: stored without a reward (it is
    // never the best trial) until the screen decides (DecideScreens).
    return Verdict{.state = TrialState::kSucceeded};
  }
  absl::MutexLock lock(&mu_);
  controller::FinishedTrial f{trial.proposal_id, trial.architecture,
                              early_stopped ? TrialState::kEarlyStopped : TrialState::kSucceeded,
                              result};
  absl::StatusOr<controller::ScoredTrial> scored = search_->Score(f);
  Verdict v;
  if (!scored.ok()) {
    v.state = TrialState::kFailed;
    v.note = absl::StrCat("cannot compute the reward: ", scored.status().message());
    return v;
  }
  v.state = scored->state;
  if (scored->state == TrialState::kInfeasible) {
    v.note = scored->note;
  } else {
    v.reward = scored->reward;
  }
  return v;
}

void SearchRuntime::Observe(const std::vector<TrialRecord>& finished) {
  absl::MutexLock lock(&mu_);
  ObserveLocked(finished);
}

void SearchRuntime::ObserveLocked(const std::vector<TrialRecord>& finished) {
  std::vector<controller::FinishedTrial> batch;
  for (const TrialRecord& t : finished) {
    if (t.finish_seq <= observed_through_ || observed_above_.contains(t.finish_seq)) continue;
    // A trial promoted since it finished is back in the queue (its finish
    // sequence stays): its next rung's result comes with a new one.
    // A dnas search's supernet job is no architecture: nothing to learn. A
    // screen result is no result for the strategy either: the trial trains
    // next (its training answers the proposal) or is told as screened out
    // (TellScreenedOut).
    if (t.state != TrialState::kCancelled && IsTerminal(t.state) &&
        t.origin != TrialOrigin::kDnasJob && !ScreenUndecided(t)) {
      // A promoted trial's later rungs are told to the strategy too, as
      // results of an architecture it knows (no proposal id: the proposal
      // was answered by the first rung's result).
      const bool later_rung = t.rung > t.bracket;
      const uint64_t proposal = later_rung ? controller::kNoProposal : t.proposal_id;
      // The later rung replaces the first in the search's cache, best and
      // front (each trial counts with its highest rung).
      batch.push_back(ForStrategy(t, proposal, later_rung));
    }
    observed_above_.insert(t.finish_seq);
    auto it = running_curves_.find(t.number);
    if (it != running_curves_.end()) {
      finished_curves_[t.number] = std::move(it->second);
      running_curves_.erase(it);
    }
  }
  while (observed_above_.contains(observed_through_ + 1)) {
    observed_above_.erase(observed_through_ + 1);
    ++observed_through_;
  }
  if (batch.empty()) return;
  absl::StatusOr<std::vector<controller::ScoredTrial>> scored = search_->Observe(batch);
  if (!scored.ok()) {
    // Observing one at a time keeps a single malformed result from hiding
    // the others from the strategy.
    for (const controller::FinishedTrial& f : batch) {
      absl::StatusOr<std::vector<controller::ScoredTrial>> one = search_->Observe({f});
      if (!one.ok()) {
        spdlog::warn("event=observe_failed search={} error=\"{}\"", id_, one.status().ToString());
      }
    }
  }
}

bool SearchRuntime::ShouldStop(int64_t trial_number, const EpochMetrics& metrics) {
  absl::MutexLock lock(&mu_);
  auto value = metrics.values.find(spec_.early_stopping_metric);
  if (value != metrics.values.end()) running_curves_[trial_number][metrics.epoch] = value->second;
  if (!spec_.early_stopping.enabled) return false;
  auto curve = running_curves_.find(trial_number);
  if (curve == running_curves_.end()) return false;
  std::vector<scheduler::Curve> finished;
  finished.reserve(finished_curves_.size());
  for (const auto& [n, c] : finished_curves_) finished.push_back(c);
  return scheduler::ShouldStopEarly(spec_.early_stopping, curve->second, finished);
}

void SearchRuntime::SetFinishedCurves(std::map<int64_t, scheduler::Curve> curves) {
  absl::MutexLock lock(&mu_);
  finished_curves_ = std::move(curves);
}

std::vector<SearchRuntime::ScreenVerdict> SearchRuntime::DecideScreens(
    const std::vector<TrialRecord>& finished) {
  std::vector<ScreenVerdict> out;
  if (!spec_.screen.enabled) return out;
  const std::string key = "proxy_score@" + spec_.screen.proxy.proxy;
  absl::MutexLock lock(&mu_);
  for (const TrialRecord& t : finished) {
    if (!ScreenUndecided(t)) continue;
    double score = std::numeric_limits<double>::quiet_NaN();
    if (t.result) {
      if (auto it = t.result->estimates.find(key); it != t.result->estimates.end()) {
        score = it->second;
      }
    }
    ScreenVerdict v;
    v.trial = t.number;
    v.score = score;
    v.decision = screen_rule_->Decide(t.number, score);
    if (!v.decision.pass) {
      v.out_reason = scheduler::ScreenedOutReason(spec_.screen.proxy.proxy, score, v.decision,
                                                  spec_.screen.keep);
    }
    out.push_back(std::move(v));
  }
  return out;
}

void SearchRuntime::TellScreenedOut(const std::vector<TrialRecord>& out) {
  if (out.empty()) return;
  absl::MutexLock lock(&mu_);
  std::vector<controller::FinishedTrial> batch;
  for (const TrialRecord& t : out) batch.push_back(ForStrategy(t, t.proposal_id));
  if (absl::StatusOr<std::vector<controller::ScoredTrial>> scored = search_->Observe(batch);
      !scored.ok()) {
    spdlog::warn("event=observe_failed search={} error=\"{}\"", id_, scored.status().ToString());
  }
}

std::vector<TrialRecord> SearchRuntime::TakeUndecidedScreens() {
  absl::MutexLock lock(&mu_);
  return std::exchange(undecided_screens_, {});
}

}  // namespace hwnas::server

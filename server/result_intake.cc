#include "server/result_intake.h"

#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "scheduler/fidelity.h"
#include "server/search_runtime.h"
#include "spdlog/spdlog.h"

namespace hwnas::server {

ResultIntake::ResultIntake(db::Store* store, Metrics* metrics, const CoordinatorOptions* options,
                           SearchDirectory* searches, LeaseBroker* leases)
    : store_(store), metrics_(metrics), options_(options), searches_(searches), leases_(leases) {}

absl::StatusOr<ProgressAnswer> ResultIntake::ReportProgress(
    const std::string& worker_id, const std::string& lease_id,
    const std::optional<EpochMetrics>& metrics) {
  leases_->Touch(worker_id);
  absl::StatusOr<db::LeaseStatus> status;
  {
    StoreTimer timer(metrics_, "renew");
    status = store_->RenewLease(lease_id, worker_id, options_->lease_ttl, metrics);
  }
  if (!status.ok()) return status.status();
  ProgressAnswer answer;
  answer.lease_expires_at = status->expires_at;
  if (status->search_cancelled) {
    answer.action = ProgressAction::kCancelled;
    return answer;
  }
  if (metrics) {
    std::optional<TrialRecord> trial = leases_->LeasedTrial(lease_id);
    if (trial) {
      absl::StatusOr<std::shared_ptr<SearchRuntime>> runtime = searches_->Runtime(trial->search_id);
      if (runtime.ok() && (*runtime)->ShouldStop(trial->number, *metrics)) {
        answer.action = ProgressAction::kStopEarly;
        spdlog::info("event=early_stop search={} trial={} epoch={}", trial->search_id,
                     trial->number, metrics->epoch);
      }
    }
  }
  return answer;
}

absl::StatusOr<db::ReportOutcome> ResultIntake::ReportResult(const std::string& worker_id,
                                                             const std::string& lease_id,
                                                             const TrialResult& result,
                                                             bool early_stopped,
                                                             const std::string& checkpoint) {
  // Checked here too, so that the error does not name a list entry.
  HWNAS_RETURN_IF_ERROR(ValidateTrialResult(result));
  if (lease_id.empty()) return absl::InvalidArgumentError("lease_id is empty");
  HWNAS_ASSIGN_OR_RETURN(
      std::vector<absl::StatusOr<db::ReportOutcome>> answers,
      ReportResults(worker_id, {ResultReport{lease_id, result, early_stopped, checkpoint}}));
  return std::move(answers.front());
}

absl::StatusOr<std::vector<absl::StatusOr<db::ReportOutcome>>> ResultIntake::ReportResults(
    const std::string& worker_id, const std::vector<ResultReport>& reports) {
  leases_->Touch(worker_id);
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
    leased[i] = leases_->LeasedTrial(reports[i].lease_id);
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
      if (absl::StatusOr<std::shared_ptr<SearchRuntime>> rt =
              searches_->Runtime(leased[i]->search_id);
          rt.ok()) {
        runtimes[i] = *std::move(rt);
      }
      Verdict verdict;
      verdict.state = r.early_stopped ? TrialState::kEarlyStopped : TrialState::kSucceeded;
      if (leased[i]->origin == TrialOrigin::kDnasJob) {
        // The supernet job has no architecture of its own to judge: its
        // architectures are the dnas trials it stored before this report.
        verdict = Verdict{};
      } else if (runtimes[i]) {
        verdict = runtimes[i]->Judge(*leased[i], r.result, r.early_stopped);
      }
      if (verdict.state == TrialState::kSucceeded || verdict.state == TrialState::kEarlyStopped) {
        completions.push_back(
            db::Completion{r.lease_id, worker_id, r.result, verdict.state, verdict.reward});
        completion_of.push_back(i);
      } else {
        answers[i] = store_->FailTrial(r.lease_id, worker_id, verdict.note, /*retryable=*/false,
                                       options_->max_attempts, r.result,
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
    leases_->ForgetLease(reports[i].lease_id);
    metrics_->trials_finished++;
    if (outcome.trial.state == TrialState::kInfeasible) metrics_->trials_infeasible++;
    if (outcome.trial.state == TrialState::kFailed) metrics_->trials_failed++;
    if (runtimes[i]) {
      // Before the promotion (AfterFinish) leases the trial again.
      if (runtimes[i]->multi_fidelity()) {
        KeepCheckpoint(*runtimes[i], outcome.trial, reports[i].checkpoint);
      }
      if (outcome.trial.origin == TrialOrigin::kDnasJob) {
        // The job is done: nothing resumes from its checkpoint any more.
        if (absl::Status s =
                store_->DeleteTrialCheckpoint(outcome.trial.search_id, outcome.trial.number);
            !s.ok()) {
          spdlog::warn("event=checkpoint_delete_failed search={} trial={} error=\"{}\"",
                       outcome.trial.search_id, outcome.trial.number, s.ToString());
        }
      }
      runtimes[i]->counters().OnFinished();
      auto& [runtime, trials] = finished[runtimes[i]->id()];
      runtime = runtimes[i];
      trials.push_back(outcome.trial);
    }
  }
  for (const auto& [search_id, observed] : finished) {
    searches_->AfterFinish(observed.first, observed.second);
  }
  return answers;
}

void ResultIntake::KeepCheckpoint(SearchRuntime& runtime, const TrialRecord& trial,
                                  const std::string& checkpoint) {
  const int top = static_cast<int>(scheduler::RungEpochs(runtime.spec().fidelity).size()) - 1;
  if (trial.state != TrialState::kSucceeded || trial.rung >= top) {
    // Nothing will resume from it: the trial is done.
    if (absl::Status s = store_->DeleteTrialCheckpoint(runtime.id(), trial.number); !s.ok()) {
      spdlog::warn("event=checkpoint_delete_failed search={} trial={} error=\"{}\"", runtime.id(),
                   trial.number, s.ToString());
    }
    return;
  }
  if (checkpoint.empty()) return;
  db::TrialCheckpoint c;
  c.trial_number = trial.number;
  c.epochs = trial.result ? std::max(trial.result->epochs, 1) : 1;
  c.score = trial.reward.value_or(trial.result ? trial.result->accuracy : 0);
  c.data = checkpoint;
  absl::StatusOr<db::CheckpointSaved> saved =
      store_->SaveTrialCheckpoint(runtime.id(), c, runtime.spec().fidelity.checkpoint_limit_bytes);
  if (!saved.ok()) {
    // The result is stored; only a promotion of this trial will train from
    // scratch. The event says why (with the numbers, e.g. the byte limit).
    spdlog::warn("event=checkpoint_not_kept search={} trial={} bytes={} error=\"{}\"", runtime.id(),
                 trial.number, checkpoint.size(), saved.status().ToString());
    nlohmann::json payload = {{"bytes", checkpoint.size()},
                              {"error", std::string(saved.status().message())}};
    (void)store_->AppendEvent(runtime.id(), trial.number, "checkpoint_not_kept", payload.dump());
    return;
  }
  for (int64_t evicted : saved->evicted) {
    spdlog::info("event=checkpoint_evicted search={} trial={} for={} search_bytes={}", runtime.id(),
                 evicted, trial.number, saved->search_bytes);
    nlohmann::json payload = {{"for_trial", trial.number}, {"search_bytes", saved->search_bytes}};
    (void)store_->AppendEvent(runtime.id(), evicted, "checkpoint_evicted", payload.dump());
  }
}

std::vector<absl::StatusOr<db::ReportOutcome>> ResultIntake::CompleteBatched(
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

absl::StatusOr<db::ReportOutcome> ResultIntake::ReportFailure(
    const std::string& worker_id, const std::string& lease_id, const std::string& reason,
    bool retryable, const std::optional<TrialResult>& partial, bool infeasible) {
  leases_->Touch(worker_id);
  absl::StatusOr<db::ReportOutcome> outcome;
  {
    StoreTimer timer(metrics_, "fail");
    outcome = store_->FailTrial(lease_id, worker_id, reason, retryable, options_->max_attempts,
                                partial, infeasible);
  }
  if (!outcome.ok() || outcome->duplicate) return outcome;
  leases_->ForgetLease(lease_id);
  absl::StatusOr<std::shared_ptr<SearchRuntime>> runtime =
      searches_->Runtime(outcome->trial.search_id);
  if (outcome->requeued) {
    if (runtime.ok()) (*runtime)->counters().OnRequeued();
    leases_->TryWaiters();
    return outcome;
  }
  metrics_->trials_finished++;
  (outcome->trial.state == TrialState::kInfeasible ? metrics_->trials_infeasible
                                                   : metrics_->trials_failed)++;
  if (runtime.ok()) {
    (*runtime)->counters().OnFinished();
    searches_->AfterFinish(*runtime, {outcome->trial});
  }
  return outcome;
}

}  // namespace hwnas::server

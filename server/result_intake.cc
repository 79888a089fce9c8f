#include "server/result_intake.h"

#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
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
                                                             bool early_stopped) {
  // Checked here too, so that the error does not name a list entry.
  HWNAS_RETURN_IF_ERROR(ValidateTrialResult(result));
  if (lease_id.empty()) return absl::InvalidArgumentError("lease_id is empty");
  HWNAS_ASSIGN_OR_RETURN(std::vector<absl::StatusOr<db::ReportOutcome>> answers,
                         ReportResults(worker_id, {ResultReport{lease_id, result, early_stopped}}));
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
      if (runtimes[i]) verdict = runtimes[i]->Judge(*leased[i], r.result, r.early_stopped);
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

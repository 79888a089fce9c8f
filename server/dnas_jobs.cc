#include "server/dnas_jobs.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "server/coordinator_types.h"
#include "server/search_runtime.h"
#include "spdlog/spdlog.h"

namespace hwnas::server {

absl::StatusOr<TrialRecord> DnasJobs::HeldJob(const std::string& worker_id,
                                              const std::string& lease_id) {
  if (lease_id.empty()) return absl::InvalidArgumentError("lease_id is empty");
  // From the store, not the broker's memory: the lease must be current now.
  absl::StatusOr<TrialRecord> trial = store_->GetTrialByLease(lease_id);
  if (!trial.ok()) return trial.status();
  if (trial->origin != TrialOrigin::kDnasJob) {
    return absl::InvalidArgumentError(
        absl::StrCat("lease ", lease_id, " is trial ", trial->number,
                     ", not a dnas job: only a dnas job sends "
                     "a checkpoint with its progress or architectures with its result"));
  }
  if (trial->worker_id != worker_id) {
    return absl::PermissionDeniedError(
        absl::StrCat("lease ", lease_id, " is held by another worker"));
  }
  if ((trial->state != TrialState::kLeased && trial->state != TrialState::kRunning) ||
      trial->lease_id != lease_id) {
    return absl::FailedPreconditionError(absl::StrCat("lease ", lease_id, " is no longer held (",
                                                      TrialStateName(trial->state), ")"));
  }
  return trial;
}

absl::Status DnasJobs::SaveEpoch(const std::string& worker_id, const std::string& lease_id,
                                 const EpochMetrics& metrics, const std::string& checkpoint) {
  if (static_cast<int64_t>(checkpoint.size()) > kDnasCheckpointMaxBytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "checkpoint: the dnas job's checkpoint after epoch ", metrics.epoch, " is ",
        checkpoint.size(), " bytes; the server stores at most ", kDnasCheckpointMaxBytes,
        " (a smaller space: fewer blocks, filters or layers)"));
  }
  if (metrics.epoch < 1) {
    return absl::InvalidArgumentError("metrics.epoch: a checkpoint belongs to an epoch >= 1");
  }
  HWNAS_ASSIGN_OR_RETURN(TrialRecord job, HeldJob(worker_id, lease_id));
  HWNAS_ASSIGN_OR_RETURN(std::optional<int> stored_epochs,
                         store_->StoredCheckpointEpochs(job.search_id, job.number));
  if (stored_epochs && metrics.epoch <= *stored_epochs) {
    return absl::FailedPreconditionError(absl::StrCat(
        "epoch ", metrics.epoch, " of the dnas job is not after the stored checkpoint's epoch ",
        *stored_epochs, ": an epoch is stored once"));
  }
  db::TrialCheckpoint c;
  c.trial_number = job.number;
  c.epochs = metrics.epoch;
  c.data = checkpoint;
  HWNAS_ASSIGN_OR_RETURN(db::CheckpointSaved saved,
                         store_->SaveTrialCheckpoint(job.search_id, c, kDnasCheckpointMaxBytes));
  nlohmann::json payload = {{"epoch", metrics.epoch},
                            {"attempt", job.attempts},
                            {"worker_id", worker_id},
                            {"checkpoint_bytes", checkpoint.size()}};
  for (const auto& [name, value] : metrics.values) payload[name] = value;
  (void)store_->AppendEvent(job.search_id, job.number, "dnas_epoch", payload.dump());
  spdlog::info("event=dnas_epoch search={} trial={} epoch={} attempt={} bytes={} search_bytes={}",
               job.search_id, job.number, metrics.epoch, job.attempts, checkpoint.size(),
               saved.search_bytes);
  return absl::OkStatus();
}

absl::Status DnasJobs::StoreCandidates(const std::string& worker_id, const std::string& lease_id,
                                       const std::vector<std::string>& candidates) {
  if (candidates.size() > static_cast<size_t>(kMaxTrialsPerCall)) {
    return absl::InvalidArgumentError(absl::StrCat("dnas_candidates: ", candidates.size(),
                                                   " architectures; at most ", kMaxTrialsPerCall));
  }
  absl::StatusOr<TrialRecord> job = HeldJob(worker_id, lease_id);
  if (!job.ok()) {
    // A retried report whose first try stored everything: the result
    // intake answers it as a duplicate.
    absl::StatusOr<TrialRecord> done = store_->GetTrialByLease(lease_id);
    if (done.ok() && done->origin == TrialOrigin::kDnasJob && done->worker_id == worker_id &&
        IsTerminal(done->state)) {
      return absl::OkStatus();
    }
    return job.status();
  }
  if (candidates.empty()) return absl::OkStatus();
  HWNAS_ASSIGN_OR_RETURN(std::shared_ptr<SearchRuntime> runtime,
                         searches_->Runtime(job->search_id));
  // A retry after the candidates were stored but before the job's result
  // was: they are there already.
  db::TrialQuery q;
  q.search_id = job->search_id;
  q.page_size = 1000;
  for (;;) {
    HWNAS_ASSIGN_OR_RETURN(db::Page<TrialRecord> page, store_->ListTrials(q));
    for (const TrialRecord& t : page.items) {
      if (t.origin == TrialOrigin::kDnas) return absl::OkStatus();
    }
    if (page.next_page_token.empty()) break;
    q.page_token = page.next_page_token;
  }
  std::vector<GuidedTrial> items;
  for (const std::string& c : candidates) items.push_back(GuidedTrial{c, 0, std::nullopt});
  HWNAS_ASSIGN_OR_RETURN(std::vector<TrialRecord> stored,
                         runtime->StoreGuided(*store_, items, TrialOrigin::kDnas));
  int64_t pending = 0;
  for (const TrialRecord& t : stored) pending += t.state == TrialState::kPending ? 1 : 0;
  runtime->counters().OnProposed(pending, static_cast<int64_t>(stored.size()) - pending);
  leases_->TryWaiters();
  nlohmann::json payload = {{"trials", stored.size()}, {"candidates", candidates}};
  (void)store_->AppendEvent(job->search_id, job->number, "dnas_candidates", payload.dump());
  return absl::OkStatus();
}

}  // namespace hwnas::server

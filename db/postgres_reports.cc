// Reports on leased trials in PostgreSQL: completions, one at a time and
// group-committed, and failures.
#include <map>
#include <pqxx/pqxx>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "db/postgres_pool.h"
#include "db/postgres_queries.h"
#include "db/postgres_rows.h"
#include "db/postgres_store.h"
#include "db/store_checks.h"
#include "nlohmann/json.hpp"

namespace hwnas::db {

absl::StatusOr<ReportOutcome> PostgresStore::CompleteTrial(absl::string_view lease_id,
                                                           absl::string_view worker_id,
                                                           const TrialResult& result,
                                                           TrialState final_state,
                                                           std::optional<double> reward) {
  HWNAS_RETURN_IF_ERROR(ValidateCompletion(result, final_state, reward));
  return pool_->Transact<ReportOutcome>(
      "complete trial", [&](pqxx::work& txn) -> absl::StatusOr<ReportOutcome> {
        HWNAS_ASSIGN_OR_RETURN(LeasedTrial t, LockLease(txn, lease_id, worker_id));
        ReportOutcome out;
        if (t.state == TrialState::kCancelled) return LeaseCancelled(lease_id);
        if (IsTerminal(t.state)) {
          // Exactly once: the first report on this lease stands.
          out.duplicate = true;
          HWNAS_ASSIGN_OR_RETURN(out.trial, QueryTrialById(txn, t.id));
          return out;
        }
        if (t.state != TrialState::kLeased && t.state != TrialState::kRunning) {
          return LeaseLost(lease_id);
        }
        pqxx::row row = StoreResult(txn, t.id, result, reward, "", FinishAs{final_state, 0});
        HWNAS_ASSIGN_OR_RETURN(out.trial, ParseTrial(row));
        SetFinishSeq(txn, &out.trial);
        return out;
      });
}

std::vector<absl::StatusOr<ReportOutcome>> PostgresStore::CompleteTrials(
    const std::vector<Completion>& batch) {
  std::vector<absl::StatusOr<ReportOutcome>> out(batch.size(), absl::InternalError("not answered"));
  nlohmann::json reports = nlohmann::json::array();
  std::vector<bool> valid(batch.size(), false);
  for (size_t i = 0; i < batch.size(); ++i) {
    const Completion& c = batch[i];
    absl::Status ok = ValidateTrialResult(c.result);
    if (ok.ok()) ok = ValidateReward(c.reward);
    if (ok.ok() && c.lease_id.empty()) ok = absl::InvalidArgumentError("lease_id is empty");
    if (ok.ok() && c.final_state != TrialState::kSucceeded &&
        c.final_state != TrialState::kEarlyStopped) {
      ok = absl::InvalidArgumentError("a completed trial is SUCCEEDED or EARLY_STOPPED");
    }
    if (!ok.ok()) {
      out[i] = ok;
      continue;
    }
    valid[i] = true;
    nlohmann::json x = {{"i", static_cast<int64_t>(i)},
                        {"lease_id", c.lease_id},
                        {"worker_id", c.worker_id},
                        {"state", std::string(TrialStateName(c.final_state))}};
    AddResultJson(c.result, c.reward, x);
    reports.push_back(std::move(x));
  }
  // Answers the entries the batch did not finish (duplicates, lost or
  // foreign leases) exactly as a single report would be answered.
  auto answer_alone = [&](size_t i) {
    const Completion& c = batch[i];
    out[i] = CompleteTrial(c.lease_id, c.worker_id, c.result, c.final_state, c.reward);
  };
  if (reports.empty()) return out;
  const std::string payload =
      reports.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  using Finished = std::map<int64_t, TrialRecord>;  // Batch index -> trial.
  absl::StatusOr<Finished> finished = pool_->Transact<Finished, pqxx::nontransaction>(
      "complete trials", [&](pqxx::nontransaction& txn) -> absl::StatusOr<Finished> {
        pqxx::result written = txn.exec_prepared(kCompleteBatchStmt, payload);
        Finished done;
        for (const pqxx::row& row : written) {
          HWNAS_ASSIGN_OR_RETURN(TrialRecord t, ParseTrial(row));
          done[row[static_cast<int>(row.size()) - 1].as<int64_t>()] = std::move(t);
        }
        return done;
      });
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!valid[i]) continue;
    if (!finished.ok()) {
      // The store is gone: every report fails alike and the workers retry.
      // Anything else (a conflict that would not clear): one at a time.
      if (absl::IsUnavailable(finished.status())) {
        out[i] = finished.status();
      } else {
        answer_alone(i);
      }
      continue;
    }
    auto it = finished->find(static_cast<int64_t>(i));
    if (it == finished->end()) {
      answer_alone(i);
      continue;
    }
    ReportOutcome o;
    o.trial = std::move(it->second);
    out[i] = std::move(o);
  }
  return out;
}

absl::StatusOr<ReportOutcome> PostgresStore::FailTrial(
    absl::string_view lease_id, absl::string_view worker_id, absl::string_view reason,
    bool retryable, int max_attempts, const std::optional<TrialResult>& partial, bool infeasible,
    std::optional<double> reward) {
  HWNAS_RETURN_IF_ERROR(ValidateFailure(reason, partial, reward));
  return pool_->Transact<ReportOutcome>(
      "fail trial", [&](pqxx::work& txn) -> absl::StatusOr<ReportOutcome> {
        HWNAS_ASSIGN_OR_RETURN(LeasedTrial t, LockLease(txn, lease_id, worker_id));
        ReportOutcome out;
        if (IsTerminal(t.state) || t.state == TrialState::kPending) {
          // Already reported on this lease (finished, or requeued and not yet
          // leased again).
          out.duplicate = true;
          out.requeued = t.state == TrialState::kPending;
          HWNAS_ASSIGN_OR_RETURN(out.trial, QueryTrialById(txn, t.id));
          return out;
        }
        if (retryable && !infeasible && t.attempts < max_attempts) {
          txn.exec_params0(
              "UPDATE trials SET state = 'PENDING', lease_expires_at = NULL, failure_reason = $2 "
              "WHERE id = $1",
              t.id, std::string(reason));
          out.requeued = true;
        } else {
          if (partial || reward)
            StoreResult(txn, t.id, partial.value_or(TrialResult{}), reward, reason);
          txn.exec_params0(
              "UPDATE trials SET state = $2, failure_reason = $3, finished_at = now(), "
              "lease_expires_at = NULL WHERE id = $1",
              t.id, infeasible ? "INFEASIBLE" : "FAILED", std::string(reason));
          AssignFinishSeq(txn, t.id, t.search_id);
        }
        HWNAS_ASSIGN_OR_RETURN(out.trial, QueryTrialById(txn, t.id));
        return out;
      });
}

}  // namespace hwnas::db

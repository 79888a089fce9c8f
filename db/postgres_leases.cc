// Leases and workers in PostgreSQL.
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "db/postgres_pool.h"
#include "db/postgres_queries.h"
#include "db/postgres_rows.h"
#include "db/postgres_store.h"
#include "db/store_checks.h"
#include "nlohmann/json.hpp"

namespace hwnas::db {

absl::StatusOr<std::optional<Lease>> PostgresStore::LeaseTrial(const LeaseRequest& req) {
  if (req.worker_id.empty()) return absl::InvalidArgumentError("worker_id is empty");
  HWNAS_RETURN_IF_ERROR(ValidateTtl(req.ttl));
  const double ttl_seconds = absl::ToDoubleSeconds(req.ttl);
  // One statement per search, each its own implicit transaction: a lease is
  // one round trip.
  return pool_->Transact<std::optional<Lease>, pqxx::nontransaction>(
      "lease trial", [&](pqxx::nontransaction& txn) -> absl::StatusOr<std::optional<Lease>> {
        for (int64_t search_id : req.search_ids) {
          pqxx::result r =
              txn.exec_prepared(kLeaseTrialStmt, search_id, req.worker_id, ttl_seconds);
          if (r.empty()) continue;
          Lease lease;
          HWNAS_ASSIGN_OR_RETURN(lease.trial, ParseTrial(r[0]));
          lease.lease_id = lease.trial.lease_id;
          lease.expires_at = *lease.trial.lease_expires_at;
          return std::optional<Lease>(std::move(lease));
        }
        return std::optional<Lease>();
      });
}

absl::StatusOr<std::vector<std::optional<Lease>>> PostgresStore::LeaseTrials(
    const std::vector<std::string>& worker_ids, const std::vector<int64_t>& search_ids,
    absl::Duration ttl) {
  using Leases = std::vector<std::optional<Lease>>;
  for (const std::string& w : worker_ids) {
    if (w.empty()) return absl::InvalidArgumentError("worker_id is empty");
  }
  HWNAS_RETURN_IF_ERROR(ValidateTtl(ttl));
  const double ttl_seconds = absl::ToDoubleSeconds(ttl);
  return pool_->Transact<Leases, pqxx::nontransaction>(
      "lease trials", [&](pqxx::nontransaction& txn) -> absl::StatusOr<Leases> {
        Leases out(worker_ids.size());
        std::vector<size_t> unserved(worker_ids.size());
        for (size_t i = 0; i < unserved.size(); ++i) unserved[i] = i;
        for (int64_t search_id : search_ids) {
          if (unserved.empty()) break;
          std::string array = "{";
          for (size_t k = 0; k < unserved.size(); ++k) {
            if (k > 0) array += ',';
            array += '"';
            for (char ch : worker_ids[unserved[k]]) {
              if (ch == '"' || ch == '\\') array += '\\';
              array += ch;
            }
            array += '"';
          }
          array += '}';
          pqxx::result r = txn.exec_prepared(kLeaseBatchStmt, search_id, array, ttl_seconds);
          std::vector<bool> served(unserved.size(), false);
          for (const pqxx::row& row : r) {
            // 1-based position in `array`, after the trial's columns.
            const int64_t ord = row[static_cast<int>(row.size()) - 1].as<int64_t>();
            if (ord < 1 || ord > static_cast<int64_t>(unserved.size())) {
              return absl::InternalError("batched lease answered an unknown worker");
            }
            Lease lease;
            HWNAS_ASSIGN_OR_RETURN(lease.trial, ParseTrial(row));
            lease.lease_id = lease.trial.lease_id;
            lease.expires_at = *lease.trial.lease_expires_at;
            out[unserved[ord - 1]] = std::move(lease);
            served[ord - 1] = true;
          }
          std::vector<size_t> left;
          for (size_t k = 0; k < unserved.size(); ++k) {
            if (!served[k]) left.push_back(unserved[k]);
          }
          unserved = std::move(left);
        }
        return out;
      });
}

absl::StatusOr<LeaseStatus> PostgresStore::RenewLease(absl::string_view lease_id,
                                                      absl::string_view worker_id,
                                                      absl::Duration ttl,
                                                      const std::optional<EpochMetrics>& metrics) {
  if (metrics) HWNAS_RETURN_IF_ERROR(ValidateEpochMetrics(*metrics));
  HWNAS_RETURN_IF_ERROR(ValidateTtl(ttl));
  return pool_->Transact<
      LeaseStatus>("renew lease", [&](pqxx::work& txn) -> absl::StatusOr<LeaseStatus> {
    HWNAS_ASSIGN_OR_RETURN(LeasedTrial t, LockLease(txn, lease_id, worker_id));
    LeaseStatus status;
    if (t.state == TrialState::kCancelled) {
      // Cancelled with its search while the worker ran it: tell it to stop.
      status.search_cancelled = true;
      status.expires_at = absl::Now();
      return status;
    }
    if (t.state != TrialState::kLeased && t.state != TrialState::kRunning) {
      return LeaseLost(lease_id);
    }
    const std::string search_state =
        txn.exec_params1("SELECT state FROM searches WHERE id = $1", t.search_id)[0]
            .as<std::string>();
    status.search_cancelled = search_state == "CANCELLED" || search_state == "FAILED";
    if (metrics) {
      for (const auto& [name, value] : metrics->values) {
        txn.exec_params0(
            "INSERT INTO trial_metrics (trial_id, epoch, name, value) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (trial_id, epoch, name) DO UPDATE SET value = EXCLUDED.value",
            t.id, metrics->epoch, name, value);
      }
    }
    pqxx::row r = txn.exec_params1(
        "UPDATE trials SET lease_expires_at = now() + make_interval(secs => $2), "
        "state = CASE WHEN $3 THEN 'RUNNING' ELSE state END WHERE id = $1 RETURNING " HWNAS_MICROS(
            "lease_expires_at"),
        t.id, absl::ToDoubleSeconds(ttl), metrics.has_value());
    status.expires_at = MicrosToTime(r[0]);
    return status;
  });
}

absl::StatusOr<std::vector<TrialRecord>> PostgresStore::RequeueExpiredLeases(int max_attempts) {
  return pool_->Transact<std::vector<TrialRecord>>(
      "requeue expired leases", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<TrialRecord>> {
        pqxx::result expired = txn.exec(
            "SELECT t.id, t.search_id, t.attempts, COALESCE(t.worker_id, ''), s.state "
            "FROM trials t JOIN searches s ON s.id = t.search_id "
            "WHERE t.state IN ('LEASED', 'RUNNING') AND t.lease_expires_at < now() "
            "ORDER BY t.id LIMIT 1000 FOR UPDATE OF t SKIP LOCKED");
        std::vector<TrialRecord> out;
        for (const pqxx::row& row : expired) {
          const int64_t id = row[0].as<int64_t>();
          const int64_t search_id = row[1].as<int64_t>();
          const std::string reason = absl::StrCat(
              "lease expired: worker ", row[3].as<std::string>(), " stopped sending heartbeats");
          if (row[4].as<std::string>() != "RUNNING") {
            txn.exec_params0(
                "UPDATE trials SET state = 'CANCELLED', lease_expires_at = NULL, "
                "finished_at = now() WHERE id = $1",
                id);
          } else if (row[2].as<int>() >= max_attempts) {
            txn.exec_params0(
                "UPDATE trials SET state = 'FAILED', failure_reason = $2, lease_expires_at = NULL, "
                "finished_at = now() WHERE id = $1",
                id, absl::StrCat(reason, " (attempt limit reached)"));
            AssignFinishSeq(txn, id, search_id);
          } else {
            txn.exec_params0(
                "UPDATE trials SET state = 'PENDING', failure_reason = $2, lease_expires_at = NULL "
                "WHERE id = $1",
                id, reason);
          }
          HWNAS_ASSIGN_OR_RETURN(TrialRecord rec, QueryTrialById(txn, id));
          out.push_back(std::move(rec));
        }
        return out;
      });
}

absl::StatusOr<WorkerRecord> PostgresStore::UpsertWorker(const WorkerRecord& w) {
  HWNAS_RETURN_IF_ERROR(ValidateWorker(w));
  const std::string sep(1, kArraySeparator);
  const std::string new_id = NewWorkerId();
  return pool_->Transact<WorkerRecord>(
      "upsert worker", [&](pqxx::work& txn) -> absl::StatusOr<WorkerRecord> {
        pqxx::result r = txn.exec_params(
            absl::StrCat(
                "INSERT INTO workers AS w (id, name, device_kind, device_tag, threads, gpu, "
                "datasets, search_spaces, evaluators, version, hostname, owner_id) VALUES ($1, "
                "$2, $3, $4, $5, $6, COALESCE(string_to_array(NULLIF($7, ''), $12), '{}'), "
                "COALESCE(string_to_array(NULLIF($8, ''), $12), '{}'), "
                "COALESCE(string_to_array(NULLIF($9, ''), $12), '{}'), $10, $11, $13) "
                // Names are unique per owner: another token's worker of the
                // same name is another row (migration 0007).
                "ON CONFLICT (owner_id, name) DO UPDATE SET device_kind = EXCLUDED.device_kind, "
                "device_tag = EXCLUDED.device_tag, threads = EXCLUDED.threads, gpu = "
                "EXCLUDED.gpu, datasets = EXCLUDED.datasets, search_spaces = "
                "EXCLUDED.search_spaces, evaluators = EXCLUDED.evaluators, version = "
                "EXCLUDED.version, hostname = EXCLUDED.hostname, last_heartbeat = now() "
                "RETURNING ",
                kWorkerColumns),
            new_id, w.name, w.device_kind, w.device_tag, w.threads, w.gpu,
            absl::StrJoin(w.datasets, sep), absl::StrJoin(w.search_spaces, sep),
            absl::StrJoin(w.evaluators, sep), w.version, w.hostname, sep, w.owner_id);
        return ParseWorker(r[0]);
      });
}

absl::StatusOr<WorkerRecord> PostgresStore::GetWorker(absl::string_view worker_id) {
  return pool_->Transact<WorkerRecord>(
      "get worker", [&](pqxx::work& txn) -> absl::StatusOr<WorkerRecord> {
        pqxx::result r = txn.exec_params(
            absl::StrCat("SELECT ", kWorkerColumns, " FROM workers w WHERE w.id = $1"),
            std::string(worker_id));
        if (r.empty())
          return absl::NotFoundError(absl::StrCat("worker ", worker_id, " is unknown"));
        return ParseWorker(r[0]);
      });
}

absl::Status PostgresStore::TouchWorker(absl::string_view worker_id) {
  return pool_
      ->Transact<int>(
          "touch worker",
          [&](pqxx::work& txn) -> absl::StatusOr<int> {
            pqxx::result r = txn.exec_params(
                "UPDATE workers SET last_heartbeat = now() WHERE id = $1 RETURNING 1",
                std::string(worker_id));
            if (r.empty()) {
              return absl::NotFoundError(absl::StrCat("worker ", worker_id, " is unknown"));
            }
            return 0;
          })
      .status();
}

absl::StatusOr<std::vector<WorkerRecord>> PostgresStore::ListWorkers(absl::Duration alive_within) {
  return pool_->Transact<std::vector<WorkerRecord>>(
      "list workers", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<WorkerRecord>> {
        pqxx::result r = txn.exec_params(
            absl::StrCat("SELECT ", kWorkerColumns,
                         " FROM workers w WHERE w.last_heartbeat > now() - make_interval(secs "
                         "=> $1) ORDER BY w.name"),
            absl::ToDoubleSeconds(alive_within));
        std::vector<WorkerRecord> out;
        for (const pqxx::row& row : r) out.push_back(ParseWorker(row));
        return out;
      });
}

}  // namespace hwnas::db

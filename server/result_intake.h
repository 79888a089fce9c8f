// The coordinator's reporting part: heartbeats with per-epoch progress (and
// the early-stopping answer), results (judged by the search's objectives,
// stored in group commits) and failures, and handing what finished to the
// search's strategy. Internal to server/.
//
// Thread-safe; it holds no state of its own besides the group commit.
#ifndef HWNAS_SERVER_RESULT_INTAKE_H_
#define HWNAS_SERVER_RESULT_INTAKE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/records.h"
#include "db/store.h"
#include "server/coordinator_types.h"
#include "server/group_commit.h"
#include "server/lease_broker.h"
#include "server/metrics.h"
#include "server/search_directory.h"

namespace hwnas::server {

class ResultIntake {
 public:
  ResultIntake(db::Store* store, Metrics* metrics, const CoordinatorOptions* options,
               SearchDirectory* searches, LeaseBroker* leases);

  // See the Coordinator methods of the same names.
  absl::StatusOr<ProgressAnswer> ReportProgress(const std::string& worker_id,
                                                const std::string& lease_id,
                                                const std::optional<EpochMetrics>& metrics);
  absl::StatusOr<db::ReportOutcome> ReportResult(const std::string& worker_id,
                                                 const std::string& lease_id,
                                                 const TrialResult& result, bool early_stopped,
                                                 const std::string& checkpoint = "");
  absl::StatusOr<std::vector<absl::StatusOr<db::ReportOutcome>>> ReportResults(
      const std::string& worker_id, const std::vector<ResultReport>& reports);
  absl::StatusOr<db::ReportOutcome> ReportFailure(const std::string& worker_id,
                                                  const std::string& lease_id,
                                                  const std::string& reason, bool retryable,
                                                  const std::optional<TrialResult>& partial,
                                                  bool infeasible);

 private:
  // Group commit of completions: concurrent reports are stored together in
  // one transaction (Store::CompleteTrials). Acknowledged only after the
  // commit.
  std::vector<absl::StatusOr<db::ReportOutcome>> CompleteBatched(
      std::vector<db::Completion> completions);

  // Multi-fidelity: keeps a SUCCEEDED trial's checkpoint for its next rung
  // (below the top rung) or deletes it (top rung). Never fails the report: a
  // checkpoint that cannot be kept only means the next rung starts over.
  void KeepCheckpoint(SearchRuntime& runtime, const TrialRecord& trial,
                      const std::string& checkpoint);

  db::Store* const store_;
  Metrics* const metrics_;
  const CoordinatorOptions* const options_;
  SearchDirectory* const searches_;
  LeaseBroker* const leases_;

  // At most two batches stored at the same time: two keep PostgreSQL's two
  // cores busy while the next batch gathers. Completions of one search still
  // commit in finish-sequence order: a batch holds the search's finish
  // counter row from taking its numbers until its commit.
  GroupCommit<db::Completion, absl::StatusOr<db::ReportOutcome>> completions_{512, 2};
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_RESULT_INTAKE_H_

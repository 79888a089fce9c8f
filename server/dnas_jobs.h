// The server's side of a dnas search's supernet job (strategy dnas,
// worker/dnas/). The job is a trial of origin dnas_job, so it is leased,
// heartbeats, expires and is requeued like any trial; this adds what only
// the job does:
//  - after each epoch the worker sends the job's checkpoint with the epoch's
//    metrics (SaveEpoch): stored durably (the job trial's row in
//    trial_checkpoints, at most kDnasCheckpointMaxBytes) before the answer,
//    with a `dnas_epoch` event; the next lease of the job resumes from it
//    (LeaseBroker attaches it), so an epoch is never trained from scratch
//    after a killed worker or a restarted server, and an epoch at or below
//    the stored one is refused (never stored twice);
//  - at the end the architectures it found (StoreCandidates) become trials
//    of origin dnas (SearchRuntime::StoreGuided, all or nothing), before the
//    job's own result is stored, so the search never looks finished between
//    the two. The result intake then deletes the checkpoint.
// Internal to server/. Thread-safe (no state of its own).
#ifndef HWNAS_SERVER_DNAS_JOBS_H_
#define HWNAS_SERVER_DNAS_JOBS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/trial.h"
#include "db/store.h"
#include "server/lease_broker.h"
#include "server/search_directory.h"

namespace hwnas::server {

class DnasJobs {
 public:
  DnasJobs(db::Store* store, SearchDirectory* searches, LeaseBroker* leases)
      : store_(store), searches_(searches), leases_(leases) {}

  // Stores the checkpoint the job holds after epoch `metrics.epoch`.
  // FAILED_PRECONDITION: the lease is not this worker's current lease of a
  // dnas job, or the epoch is not after the stored one; RESOURCE_EXHAUSTED:
  // over kDnasCheckpointMaxBytes (the message has both numbers).
  absl::Status SaveEpoch(const std::string& worker_id, const std::string& lease_id,
                         const EpochMetrics& metrics, const std::string& checkpoint);

  // Stores the job's architectures as trials of origin dnas. A repeat (a
  // retried report after the first one stored them) stores nothing again.
  absl::Status StoreCandidates(const std::string& worker_id, const std::string& lease_id,
                               const std::vector<std::string>& candidates);

 private:
  // The current trial of `lease_id`, held by `worker_id`, of origin dnas_job.
  absl::StatusOr<TrialRecord> HeldJob(const std::string& worker_id, const std::string& lease_id);

  db::Store* const store_;
  SearchDirectory* const searches_;
  LeaseBroker* const leases_;
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_DNAS_JOBS_H_

// The coordinator's leasing part: the worker registry (registration, owner
// checks, liveness), parked AcquireTrial long-polls and their wake-ups,
// leasing through the scheduling policy's fair share (in group-committed
// batches), the routes of the leases this process handed out, and lease
// expiry. Internal to server/.
//
// Thread-safe: its own state is guarded by one mutex, never held across a
// store call or a callback.
#ifndef HWNAS_SERVER_LEASE_BROKER_H_
#define HWNAS_SERVER_LEASE_BROKER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/records.h"
#include "db/store.h"
#include "scheduler/policy.h"
#include "server/coordinator_types.h"
#include "server/executor.h"
#include "server/group_commit.h"
#include "server/metrics.h"
#include "server/search_directory.h"

namespace hwnas::server {

class LeaseBroker final : public FleetView {
 public:
  LeaseBroker(db::Store* store, Executor* executor, Metrics* metrics,
              const CoordinatorOptions* options, const Clock* clock, SearchDirectory* searches);

  // Parked long-polls are answered (no trial) and new ones are not parked
  // until Resume().
  void Stop();
  void Resume();

  // --- Worker registry ----------------------------------------------------------
  // Registers `worker` as one of `owner`'s (the worker token's user): its
  // name is unique among that user's workers only.
  absl::StatusOr<WorkerRecord> RegisterWorker(const User& owner, WorkerRecord worker);
  // See Coordinator::AuthorizeWorker.
  absl::Status AuthorizeWorker(const User& user, const std::string& worker_id, bool acquiring);
  // The worker was heard from (it stays counted as alive).
  void Touch(const std::string& worker_id);
  int64_t AliveWorkers();

  // --- Leasing --------------------------------------------------------------------
  using AcquireDone = std::function<void(absl::StatusOr<std::vector<Assignment>>)>;
  // See Coordinator::Acquire.
  void Acquire(const std::string& worker_id, absl::Time deadline, int max_trials, AcquireDone done);
  // Parked calls lease if work is there, and those past their deadline are
  // answered with no trial.
  void TryWaiters();
  // AcquireTrial calls parked now.
  int64_t ParkedCount();

  // --- Lease routes ---------------------------------------------------------------
  // The trial a lease is for: from this process's routes, else the store
  // (leases handed out before a restart). nullopt when unknown.
  std::optional<TrialRecord> LeasedTrial(const std::string& lease_id);
  void ForgetLease(const std::string& lease_id);
  int64_t LeaseCount();

  // Requeues the expired leases (or fails their trials after max_attempts)
  // and hands the trials that became terminal to their searches.
  void ExpireLeases();

  // FleetView.
  int64_t CapableWorkers(const scheduler::Requirements& req) override;
  std::string WhyNoWorkerCanRun(const scheduler::Requirements& req) override;
  void WakeWaiters() override { TryWaiters(); }
  void ForgetLeasesOf(int64_t search_id) override;

 private:
  struct Waiter {
    std::string worker_id;
    absl::Time deadline;
    int max_trials = 1;
    AcquireDone done;
  };
  struct WorkerState {
    int64_t owner_id = 0;
    scheduler::WorkerProfile profile;
    absl::Time last_seen;
    int max_trials = 1;  // Asked for in its last AcquireTrial.
  };
  struct LeaseRequest {
    std::string worker_id;
    std::vector<int64_t> order;  // Search ids in the order the scheduler picked.
    int count = 1;
  };

  absl::StatusOr<std::vector<Assignment>> TryLease(const std::string& worker_id, int max_trials);
  // Leases in batches: concurrent requests with the same search order are
  // served by one statement (Store::LeaseTrials). Up to `count` leases for
  // the worker, from the searches in `order`.
  absl::StatusOr<std::vector<db::Lease>> LeaseBatched(const std::string& worker_id,
                                                      std::vector<int64_t> order, int count);

  db::Store* const store_;
  Executor* const executor_;
  Metrics* const metrics_;
  const CoordinatorOptions* const options_;
  const Clock* const clock_;
  SearchDirectory* const searches_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, WorkerState> workers_ ABSL_GUARDED_BY(mu_);
  // Owners of worker ids read from the store (ids registered before a
  // restart), so reports do not read the store each time. Bounded.
  absl::flat_hash_map<std::string, int64_t> stored_owners_ ABSL_GUARDED_BY(mu_);
  // Leases handed out by this process, to route reports and progress
  // without a database read. After a restart, reports fall back to the store.
  absl::flat_hash_map<std::string, TrialRecord> leases_ ABSL_GUARDED_BY(mu_);
  std::vector<Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // At most two batches stored at the same time: two keep PostgreSQL's two
  // cores busy while the next batch gathers.
  GroupCommit<LeaseRequest, absl::StatusOr<std::vector<db::Lease>>> lease_batches_{256, 2};
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_LEASE_BROKER_H_

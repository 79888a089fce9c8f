// A running search's in-memory queue counters and refill flags. The store is
// the authority on trial states; these approximate counts let the scheduler
// rank searches and the refill decide when to propose without a database
// read per call, and the maintenance loop resets them from the store
// (Reset). Internal to server/.
//
// Thread-safe and lock-free: each operation is atomic on its own, and a
// reader may see one counter updated before the other (the counts are hints).
#ifndef HWNAS_SERVER_QUEUE_COUNTERS_H_
#define HWNAS_SERVER_QUEUE_COUNTERS_H_

#include <atomic>
#include <cstdint>

namespace hwnas::server {

class QueueCounters {
 public:
  int64_t pending() const { return pending_.load(std::memory_order_relaxed); }
  int64_t running() const { return running_.load(std::memory_order_relaxed); }
  // Terminal trials but CANCELLED.
  int64_t finished() const { return finished_.load(std::memory_order_relaxed); }
  // Leases granted since the search joined the fair share.
  int64_t granted() const { return granted_.load(std::memory_order_relaxed); }

  // The store's counts (at load, and on each maintenance round).
  void Reset(int64_t pending, int64_t running, int64_t finished) {
    pending_ = pending;
    running_ = running;
    finished_ = finished;
  }
  // Where the search joins the fair share (scheduler::GrantsOnJoin).
  void JoinAt(int64_t granted) { granted_ = granted; }

  // A pending trial was leased to a worker.
  void OnLeased() {
    granted_++;
    running_++;
    DecrementIfPositive(pending_);
  }
  // A running trial reached a terminal state.
  void OnFinished() {
    DecrementIfPositive(running_);
    finished_++;
  }
  // A running trial went back to the queue (a retryable failure).
  void OnRequeued() {
    pending_++;
    DecrementIfPositive(running_);
  }
  // The strategy's proposals were stored: `pending` to run, `finished`
  // already terminal (infeasible before training).
  void OnProposed(int64_t pending, int64_t finished) {
    pending_ += pending;
    finished_ += finished;
  }
  // A lease found nothing pending: the count was stale.
  void OnDrained() { pending_ = 0; }
  // A finished trial went back to the queue for its next rung.
  void OnPromoted() {
    DecrementIfPositive(finished_);
    pending_.fetch_add(1, std::memory_order_relaxed);
  }
  // A finished screen result was screened out: it does not count against
  // the budget.
  void OnScreenedOut() { DecrementIfPositive(finished_); }

 private:
  // Stale counts may already be zero: they never go below it.
  static void DecrementIfPositive(std::atomic<int64_t>& counter) {
    int64_t v = counter.load(std::memory_order_relaxed);
    while (v > 0 && !counter.compare_exchange_weak(v, v - 1, std::memory_order_relaxed)) {
    }
  }

  std::atomic<int64_t> pending_{0};
  std::atomic<int64_t> running_{0};
  std::atomic<int64_t> finished_{0};
  std::atomic<int64_t> granted_{0};
};

// Serializes a search's refills without making callers wait: at most one
// refill runs, and one asked for meanwhile makes it run once more; at most
// one is queued on the executor. Thread-safe.
class RefillFlags {
 public:
  // True when the caller should post a refill (none is queued yet).
  bool TrySchedule() { return !scheduled_.exchange(true); }
  // The queued refill has started: a new one may be queued.
  void ClearScheduled() { scheduled_ = false; }

  // True when the caller should run the refill now; false when one is
  // running already (it is asked to go again instead). The request is raised
  // before the check so that it cannot fall between the running one's last
  // look and its end.
  bool TryBegin() {
    again_ = true;
    if (refilling_.exchange(true)) return false;
    again_ = false;
    return true;
  }
  // Ends the refill TryBegin started; true when another was asked for
  // meanwhile (the caller schedules it).
  bool End() {
    refilling_ = false;
    return again_.exchange(false);
  }

 private:
  std::atomic<bool> scheduled_{false};
  std::atomic<bool> refilling_{false};
  std::atomic<bool> again_{false};
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_QUEUE_COUNTERS_H_

// A fixed pool of threads running posted tasks, with delayed tasks. gRPC
// reactors hand their work here so no handler blocks a gRPC thread on the
// database. Thread-safe.
#ifndef HWNAS_SERVER_EXECUTOR_H_
#define HWNAS_SERVER_EXECUTOR_H_

#include <deque>
#include <functional>
#include <map>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace hwnas::server {

class Executor {
 public:
  // Delayed tasks fall due by `clock`; with a FakeClock they run once the
  // clock is moved past their time (checked every 50 ms of real time).
  explicit Executor(int threads, const Clock& clock = Clock::Real());
  // Runs queued tasks to completion; delayed tasks not yet due are dropped.
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void Post(std::function<void()> task);
  void PostAfter(absl::Duration delay, std::function<void()> task);

 private:
  void Work();
  void Tick();

  const Clock& clock_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  std::multimap<absl::Time, std::function<void()>> delayed_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
  std::thread timer_;
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_EXECUTOR_H_

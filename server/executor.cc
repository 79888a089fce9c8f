#include "server/executor.h"

#include <algorithm>

namespace hwnas::server {

Executor::Executor(int threads, const Clock& clock) : clock_(clock) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
  timer_ = std::thread([this] { Tick(); });
}

Executor::~Executor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  timer_.join();
  for (std::thread& t : threads_) t.join();
}

void Executor::Post(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(task));
}

void Executor::PostAfter(absl::Duration delay, std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  delayed_.emplace(clock_.Now() + delay, std::move(task));
}

void Executor::Work() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Executor* e)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(e->mu_) { return e->stopping_ || !e->queue_.empty(); },
          this));
      if (queue_.empty()) return;  // Stopping and drained.
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

void Executor::Tick() {
  while (true) {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    const absl::Time now = clock_.Now();
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      queue_.push_back(std::move(delayed_.begin()->second));
      delayed_.erase(delayed_.begin());
    }
    const absl::Duration until_next =
        delayed_.empty() ? absl::Milliseconds(50) : delayed_.begin()->first - now;
    // Sleep until the next task is due (or 50 ms), waking early on stop. A
    // timeout rather than a deadline: the clock may not be the real one.
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), std::min(until_next, absl::Milliseconds(50)));
  }
}

}  // namespace hwnas::server

// Time as the server's logic sees it. Production code reads the real clock;
// unit tests inject a FakeClock so that lease expiry, long-poll deadlines and
// liveness windows are tested in milliseconds instead of real seconds.
#ifndef HWNAS_COMMON_CLOCK_H_
#define HWNAS_COMMON_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hwnas {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // The process-wide real clock (absl::Now()); never destroyed.
  static const Clock& Real();
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}

  absl::Time Now() const override;
  void Advance(absl::Duration by);
  void Set(absl::Time to);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwnas

#endif  // HWNAS_COMMON_CLOCK_H_

#include "common/clock.h"

namespace hwnas {
namespace {

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace

const Clock& Clock::Real() {
  static const RealClock* const kReal = new RealClock();
  return *kReal;
}

absl::Time FakeClock::Now() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

void FakeClock::Advance(absl::Duration by) {
  absl::MutexLock lock(&mu_);
  now_ += by;
}

void FakeClock::Set(absl::Time to) {
  absl::MutexLock lock(&mu_);
  now_ = to;
}

}  // namespace hwnas

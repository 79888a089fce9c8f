#include "common/clock.h"

#include <gtest/gtest.h>

namespace hwnas {
namespace {

TEST(ClockTest, RealClockFollowsAbslNow) {
  const absl::Time before = absl::Now();
  const absl::Time read = Clock::Real().Now();
  EXPECT_GE(read, before);
  EXPECT_LE(read, absl::Now());
}

TEST(ClockTest, FakeClockMovesOnlyWhenTold) {
  FakeClock clock(absl::FromUnixSeconds(100));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(100));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(100));
  clock.Advance(absl::Milliseconds(1500));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(100) + absl::Milliseconds(1500));
  clock.Set(absl::FromUnixSeconds(7));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(7));
}

}  // namespace
}  // namespace hwnas

#include "controller/rng.h"

#include <set>

#include "gtest/gtest.h"

namespace hwnas::controller {
namespace {

TEST(SplitMix64AtTest, MatchesTheReferenceSequence) {
  // splitmix64 from state 0 (Vigna's reference implementation).
  EXPECT_EQ(SplitMix64At(0, 0), 0xe220a8397b1dcdafull);
  EXPECT_EQ(SplitMix64At(0, 1), 0x6e789e6aa1b965f4ull);
  EXPECT_EQ(SplitMix64At(0, 2), 0x06c45d188009454full);
}

TEST(SplitMix64AtTest, DistinctPerSeedAndIndex) {
  std::set<uint64_t> seen;
  for (uint64_t seed : {1ull, 2ull, 12345ull}) {
    for (uint64_t n = 0; n < 1000; ++n) seen.insert(SplitMix64At(seed, n));
  }
  EXPECT_EQ(seen.size(), 3000u);
}

TEST(RngTest, SameSeedSameStreamAndStateRoundTrips) {
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(a.Next(), b.Next());
  Rng c(0);
  c.set_state(a.state());
  for (int i = 0; i < 100; ++i) ASSERT_EQ(a.Next(), c.Next());
  Rng d(43);
  EXPECT_NE(Rng(42).Next(), d.Next());
}

}  // namespace
}  // namespace hwnas::controller

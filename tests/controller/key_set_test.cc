// KeySet and its checkpoint form.
#include "controller/key_set.h"

#include <string>
#include <utility>
#include <vector>

#include "controller/bytes_internal.h"
#include "controller/strategy_internal.h"
#include "gtest/gtest.h"

namespace hwnas::controller {
namespace {

std::vector<uint64_t> Keys(const KeySet& set) { return {set.begin(), set.end()}; }

TEST(KeySetTest, KeepsFirstInsertionOrderAndIgnoresRepeats) {
  KeySet set;
  EXPECT_TRUE(set.insert(9));
  EXPECT_TRUE(set.insert(2));
  EXPECT_FALSE(set.insert(9));
  EXPECT_TRUE(set.insert(5));
  EXPECT_EQ(set.size(), 3u);
  EXPECT_TRUE(set.contains(2));
  EXPECT_FALSE(set.contains(3));
  EXPECT_EQ(Keys(set), (std::vector<uint64_t>{9, 2, 5}));
  set.clear();
  EXPECT_TRUE(set.empty());
  EXPECT_FALSE(set.contains(9));
}

TEST(KeySetTest, ARestoredSetIteratesAndSavesAsTheOriginal) {
  KeySet original;
  for (uint64_t k : {42u, 7u, 1000u, 3u}) original.insert(k);
  internal::ByteWriter w;
  internal::WriteKeys(w, original);
  const std::string bytes = std::move(w).Take();
  internal::ByteReader r(bytes);
  KeySet restored;
  ASSERT_TRUE(internal::ReadKeys(r, restored).ok());
  EXPECT_TRUE(r.done());
  EXPECT_EQ(Keys(restored), Keys(original));
  internal::ByteWriter again;
  internal::WriteKeys(again, restored);
  EXPECT_EQ(std::move(again).Take(), bytes);
}

TEST(KeySetTest, ReadsTheSortedFormOfEarlierCheckpoints) {
  internal::ByteWriter w;
  w.U64(3);
  for (uint64_t k : {1u, 5u, 9u}) w.U64(k);
  const std::string bytes = std::move(w).Take();
  internal::ByteReader r(bytes);
  KeySet set;
  ASSERT_TRUE(internal::ReadKeys(r, set).ok());
  EXPECT_EQ(Keys(set), (std::vector<uint64_t>{1, 5, 9}));
}

TEST(KeySetTest, ACorruptCountIsDataLossNotAHugeAllocation) {
  internal::ByteWriter w;
  w.U64(uint64_t{1} << 60);
  w.U64(1);
  const std::string bytes = std::move(w).Take();
  internal::ByteReader r(bytes);
  KeySet set;
  EXPECT_EQ(internal::ReadKeys(r, set).code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace hwnas::controller

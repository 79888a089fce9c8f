// ASSERT_OK / EXPECT_OK for absl::Status and absl::StatusOr<T>, printing the
// status on failure.
#ifndef HWNAS_TESTS_TESTING_STATUS_MATCHERS_H_
#define HWNAS_TESTS_TESTING_STATUS_MATCHERS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace hwnas::testing {

inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

}  // namespace hwnas::testing

#define ASSERT_OK(expr)                                               \
  do {                                                                \
    const absl::Status hwnas_s_ = ::hwnas::testing::StatusOf((expr)); \
    ASSERT_TRUE(hwnas_s_.ok()) << hwnas_s_;                           \
  } while (false)

#define EXPECT_OK(expr)                                               \
  do {                                                                \
    const absl::Status hwnas_s_ = ::hwnas::testing::StatusOf((expr)); \
    EXPECT_TRUE(hwnas_s_.ok()) << hwnas_s_;                           \
  } while (false)

#endif  // HWNAS_TESTS_TESTING_STATUS_MATCHERS_H_

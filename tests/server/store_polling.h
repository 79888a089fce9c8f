// What the end-to-end tests of tests/server read back from the store while
// a real server and workers run: wait for a search's state, list its trials.
#ifndef HWNAS_TESTS_SERVER_STORE_POLLING_H_
#define HWNAS_TESTS_SERVER_STORE_POLLING_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/records.h"
#include "db/store.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace hwnas::testing::e2e {

// Polls the store until `done(search)` or the timeout.
inline bool WaitForSearch(db::Store& store, int64_t id,
                          const std::function<bool(const SearchRecord&)>& done,
                          absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (absl::Now() < until) {
    absl::StatusOr<SearchRecord> s = store.GetSearch(id);
    if (s.ok() && done(*s)) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

// Every trial of the search, all pages.
inline std::vector<TrialRecord> AllTrials(db::Store& store, int64_t id) {
  std::vector<TrialRecord> all;
  db::TrialQuery q{.search_id = id, .page_size = 1000};
  while (true) {
    absl::StatusOr<db::Page<TrialRecord>> page = store.ListTrials(q);
    EXPECT_OK(page);
    if (!page.ok()) break;
    all.insert(all.end(), page->items.begin(), page->items.end());
    if (page->next_page_token.empty()) break;
    q.page_token = page->next_page_token;
  }
  return all;
}

}  // namespace hwnas::testing::e2e

#endif  // HWNAS_TESTS_SERVER_STORE_POLLING_H_

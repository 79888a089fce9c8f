// Helpers for driving strategies and searches in tests.
#ifndef HWNAS_TESTS_CONTROLLER_TEST_UTIL_H_
#define HWNAS_TESTS_CONTROLLER_TEST_UTIL_H_

#include <functional>
#include <vector>

#include "controller/search.h"
#include "gtest/gtest.h"

namespace hwnas::controller::testing {

using Evaluator = std::function<TrialResult(const std::vector<int>&)>;

// A smooth synthetic result: accuracy rises with the token values, latency too.
inline TrialResult SyntheticResult(const std::vector<int>& tokens) {
  TrialResult r;
  double sum = 0, weighted = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    sum += tokens[i];
    weighted += (i % 2 == 0 ? 1.0 : 0.5) * tokens[i];
  }
  r.accuracy = 0.5 + 0.4 * weighted / (1.0 + weighted);
  r.latency = LatencyMeasurement{1.0 + sum, 1.0 + sum, 10, 1, "test"};
  return r;
}

// Runs `rounds` rounds of Propose(batch) + Observe(all of them, reversed) and
// returns every proposal's tokens in order.
inline std::vector<std::vector<int>> Drive(Search& search, int rounds, int batch,
                                           const Evaluator& eval = SyntheticResult) {
  std::vector<std::vector<int>> seen;
  for (int r = 0; r < rounds; ++r) {
    absl::StatusOr<std::vector<Proposal>> props = search.Propose(batch);
    EXPECT_TRUE(props.ok()) << props.status();
    if (!props.ok()) return seen;
    std::vector<FinishedTrial> done;
    for (const Proposal& p : *props) {
      seen.push_back(p.architecture.tokens);
      done.push_back(
          FinishedTrial{p.id, p.architecture, TrialState::kSucceeded, eval(p.architecture.tokens)});
    }
    std::reverse(done.begin(), done.end());
    absl::StatusOr<std::vector<ScoredTrial>> scored = search.Observe(done);
    EXPECT_TRUE(scored.ok()) << scored.status();
  }
  return seen;
}

}  // namespace hwnas::controller::testing

#endif  // HWNAS_TESTS_CONTROLLER_TEST_UTIL_H_

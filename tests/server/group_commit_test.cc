#include "server/group_commit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/clock.h"

namespace hwnas::server {
namespace {

// Every caller gets its own answers, in order, whether its requests were
// served by its own batch or by others'; batches respect both limits.
TEST(GroupCommitTest, ConcurrentSubmitAllAnswersEachRequestInOrder) {
  GroupCommit<int, int> commit(/*max_batch=*/7, /*max_in_flight=*/2);
  std::atomic<int> in_flight{0}, most_in_flight{0}, largest_batch{0}, batches{0};
  const GroupCommit<int, int>::Serve serve = [&](const std::vector<const int*>& batch) {
    const int now = ++in_flight;
    int seen = most_in_flight.load();
    while (now > seen && !most_in_flight.compare_exchange_weak(seen, now)) {
    }
    int size = static_cast<int>(batch.size());
    int largest = largest_batch.load();
    while (size > largest && !largest_batch.compare_exchange_weak(largest, size)) {
    }
    ++batches;
    absl::SleepFor(absl::Microseconds(200));  // Lets the queue grow meanwhile.
    std::vector<int> answers;
    for (const int* r : batch) answers.push_back(*r * 2);
    --in_flight;
    return answers;
  };
  constexpr int kThreads = 8, kRounds = 40;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        // 1 to 20 requests: some need several batches.
        const int n = 1 + (t * 7 + round * 3) % 20;
        std::vector<int> requests;
        for (int i = 0; i < n; ++i) requests.push_back(t * 100000 + round * 100 + i);
        std::vector<int> answers = commit.SubmitAll(requests, serve);
        if (answers.size() != requests.size()) {
          ++wrong;
          continue;
        }
        for (int i = 0; i < n; ++i) wrong += answers[i] != requests[i] * 2 ? 1 : 0;
        wrong += commit.Submit(t, serve) != t * 2 ? 1 : 0;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(largest_batch.load(), 7);
  EXPECT_GT(largest_batch.load(), 1);
  EXPECT_LE(most_in_flight.load(), 2);
  EXPECT_GT(batches.load(), 0);
}

}  // namespace
}  // namespace hwnas::server

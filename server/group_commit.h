// Group commit for store calls: concurrent callers queue their requests, one
// of them takes the queue, serves the whole batch with one store call outside
// the lock, and every caller gets its own answer. Internal to server/.
#ifndef HWNAS_SERVER_GROUP_COMMIT_H_
#define HWNAS_SERVER_GROUP_COMMIT_H_

#include <algorithm>
#include <cstddef>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace hwnas::server {

template <typename Request, typename Answer>
class GroupCommit {
 public:
  // Answers a batch: one answer per request, in order.
  using Serve = std::function<std::vector<Answer>(const std::vector<const Request*>&)>;

  // At most `max_batch` requests per batch and `max_in_flight` batches at
  // once; while every slot is busy, requests wait in the queue and the next
  // batch takes all of them (that is what makes batches grow under load).
  GroupCommit(size_t max_batch, int max_in_flight)
      : max_batch_(max_batch), max_in_flight_(max_in_flight) {}

  // Blocks until `request` is answered, by this caller's batch or another's.
  Answer Submit(Request request, const Serve& serve) {
    std::vector<Request> one;
    one.push_back(std::move(request));
    return std::move(SubmitAll(std::move(one), serve).front());
  }

  // Blocks until every one of `requests` is answered; answers in order. The
  // requests queue together, so they share batches with each other and with
  // other callers' (more than max_batch of them take several batches).
  std::vector<Answer> SubmitAll(std::vector<Request> requests, const Serve& serve) {
    std::vector<Queued> mine;
    mine.reserve(requests.size());  // Stable addresses: the queue points in.
    for (Request& r : requests) mine.push_back(Queued{std::move(r), std::nullopt, true});
    absl::MutexLock lock(&mu_);
    for (Queued& q : mine) queue_.push_back(&q);
    std::pair<GroupCommit*, std::vector<Queued>*> waiting{this, &mine};
    while (true) {
      mu_.Await(absl::Condition(
          +[](std::pair<GroupCommit*, std::vector<Queued>*>* p) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            // All answered, or one still queued (not in another caller's
            // batch) and a slot is free.
            const std::vector<Queued>& own = *p->second;
            return AllAnswered(own) ||
                   (std::any_of(own.begin(), own.end(), [](const Queued& q) { return q.queued; }) &&
                    p->first->in_flight_ < p->first->max_in_flight_);
          },
          &waiting));
      if (AllAnswered(mine)) break;
      // This caller serves the queue (one of its requests is in it).
      ++in_flight_;
      const size_t n = std::min(queue_.size(), max_batch_);
      std::vector<Queued*> batch(queue_.begin(), queue_.begin() + n);
      queue_.erase(queue_.begin(), queue_.begin() + n);
      std::vector<const Request*> batch_requests;
      batch_requests.reserve(n);
      for (Queued* q : batch) {
        q->queued = false;
        batch_requests.push_back(&q->request);
      }
      mu_.Unlock();
      std::vector<Answer> answers = serve(batch_requests);
      mu_.Lock();
      for (size_t i = 0; i < batch.size(); ++i) batch[i]->answer = std::move(answers[i]);
      --in_flight_;
    }
    std::vector<Answer> out;
    out.reserve(mine.size());
    for (Queued& q : mine) out.push_back(*std::move(q.answer));
    return out;
  }

 private:
  struct Queued {
    Request request;
    std::optional<Answer> answer;
    bool queued = true;  // Not yet taken into a batch.
  };

  static bool AllAnswered(const std::vector<Queued>& requests) {
    return std::all_of(requests.begin(), requests.end(),
                       [](const Queued& q) { return q.answer.has_value(); });
  }

  const size_t max_batch_;
  const int max_in_flight_;
  absl::Mutex mu_;
  std::vector<Queued*> queue_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_GROUP_COMMIT_H_

#include "scheduler/policy.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hwnas::scheduler {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// "mnasnet" matches a worker that lists "mnasnet" or "mnasnet@<version>".
bool SupportsSpace(const std::vector<std::string>& spaces, const std::string& space) {
  for (const std::string& s : spaces) {
    if (s == space || absl::StartsWith(s, absl::StrCat(space, "@"))) return true;
  }
  return false;
}

}  // namespace

bool CanRun(const WorkerProfile& worker, const Requirements& req, std::string* why) {
  auto refuse = [why](std::string reason) {
    if (why != nullptr) *why = std::move(reason);
    return false;
  };
  if (!req.evaluator.empty() && !Contains(worker.evaluators, req.evaluator)) {
    return refuse(absl::StrCat("worker has no '", req.evaluator, "' evaluator"));
  }
  if (!req.space.empty() && !SupportsSpace(worker.search_spaces, req.space)) {
    return refuse(absl::StrCat("worker does not support search space '", req.space, "'"));
  }
  if (!req.dataset.empty() && !Contains(worker.datasets, req.dataset)) {
    return refuse(absl::StrCat("worker does not have data set '", req.dataset, "'"));
  }
  if (!req.device_tag.empty() && worker.device_tag != req.device_tag) {
    return refuse(absl::StrCat("search needs device '", req.device_tag, "', worker is '",
                               worker.device_tag, "'"));
  }
  if (req.needs_gpu && !worker.gpu) return refuse("search needs a GPU");
  for (const std::string& cpu : req.measure_mcus) {
    if (!Contains(worker.measure_mcus, cpu)) {
      return refuse(absl::StrCat("search measures firmware on ", cpu,
                                 ", worker does not (hwnas-worker serve --measure-mcu ", cpu, ")"));
    }
  }
  return true;
}

std::vector<int64_t> RankSearches(const WorkerProfile& worker,
                                  absl::Span<const SearchDemand> searches,
                                  const PolicyOptions& options) {
  std::map<std::string, int64_t> running_by_owner;
  for (const SearchDemand& s : searches) running_by_owner[s.owner] += s.running;

  struct Candidate {
    double share;  // Leases per unit of weight so far.
    int64_t id;
  };
  std::vector<Candidate> candidates;
  for (const SearchDemand& s : searches) {
    if (s.pending <= 0 || s.weight <= 0) continue;
    if (options.max_running_per_owner > 0 &&
        running_by_owner[s.owner] >= options.max_running_per_owner) {
      continue;
    }
    if (!CanRun(worker, s.requirements)) continue;
    candidates.push_back({static_cast<double>(s.granted) / s.weight, s.search_id});
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return a.share != b.share ? a.share < b.share : a.id < b.id;
  });
  std::vector<int64_t> order;
  order.reserve(candidates.size());
  for (const Candidate& c : candidates) order.push_back(c.id);
  return order;
}

int64_t GrantsOnJoin(double weight, int64_t own, absl::Span<const SearchDemand> others) {
  if (weight <= 0) return own;
  double level = 0;
  for (const SearchDemand& s : others) {
    if (s.weight > 0) level = std::max(level, static_cast<double>(s.granted) / s.weight);
  }
  return std::max(own, static_cast<int64_t>(std::floor(level * weight)));
}

int64_t DesiredQueueDepth(int64_t capable_workers, int64_t in_flight, int64_t max_ahead,
                          int64_t budget_left) {
  // Workers that could take a trial now, plus slack for those finishing
  // while the server proposes. The slack (at least 16, half the fleet for
  // large fleets) covers the trials a fast fleet finishes during one
  // proposal round trip (~1,000 trials/s x ~15 ms), so the queue does not run
  // dry while it is refilled at half depth, and makes proposals, and the
  // strategy checkpoint stored with them, come in batches of 8 or more
  // rather than one or two per trial.
  constexpr int64_t kMinSlack = 16;
  const int64_t idle = std::max<int64_t>(0, capable_workers - in_flight);
  int64_t depth = idle + std::max<int64_t>(kMinSlack, capable_workers / 2);
  if (max_ahead > 0) depth = std::min(depth, std::max<int64_t>(1, max_ahead - in_flight));
  return std::clamp<int64_t>(depth, 0, std::max<int64_t>(0, budget_left));
}

}  // namespace hwnas::scheduler

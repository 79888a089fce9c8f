#include "server/least_violating.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

namespace hwnas::server {

std::vector<LimitMiss> LimitMisses(const std::vector<spec::HardLimit>& limits,
                                   const TrialResult& result) {
  std::vector<LimitMiss> out;
  for (const spec::HardLimit& l : limits) {
    std::optional<double> value = MetricValue(result, l.metric);
    if (!value || *value <= l.max) continue;
    const double excess = l.max > 0 ? (*value - l.max) / l.max : *value - l.max;
    out.push_back({.metric = l.metric, .value = *value, .limit = l.max, .excess = excess});
  }
  return out;
}

std::vector<NearMiss> LeastViolating(const std::vector<spec::HardLimit>& limits,
                                     std::vector<TrialRecord> infeasible, size_t k) {
  std::vector<NearMiss> all;
  all.reserve(infeasible.size());
  for (TrialRecord& t : infeasible) {
    NearMiss m;
    if (t.result) m.misses = LimitMisses(limits, *t.result);
    if (m.misses.empty()) {
      // Infeasible for a reason no limit here measures: after the others.
      m.total_excess = std::numeric_limits<double>::infinity();
    } else {
      for (const LimitMiss& miss : m.misses) m.total_excess += miss.excess;
    }
    m.trial = std::move(t);
    all.push_back(std::move(m));
  }
  auto accuracy = [](const NearMiss& m) { return m.trial.result ? m.trial.result->accuracy : 0; };
  std::sort(all.begin(), all.end(), [&](const NearMiss& a, const NearMiss& b) {
    if (a.total_excess != b.total_excess) return a.total_excess < b.total_excess;
    if (accuracy(a) != accuracy(b)) return accuracy(a) > accuracy(b);
    return a.trial.number < b.trial.number;
  });
  if (all.size() > k) all.resize(k);
  return all;
}

}  // namespace hwnas::server

// When no trial of a search is feasible, the least-violating ones: each
// infeasible trial's misses against the objectives' hard limits and their
// ranking (Optuna's best_trials is simply empty then; users need to know
// how close the search came and which limit to relax). Pure logic.
#ifndef HWNAS_SERVER_LEAST_VIOLATING_H_
#define HWNAS_SERVER_LEAST_VIOLATING_H_

#include <cstddef>
#include <vector>

#include "common/records.h"
#include "server/coordinator_types.h"
#include "spec/objectives.h"

namespace hwnas::server {

// How many least-violating trials the Pareto answer carries.
inline constexpr size_t kLeastViolatingShown = 5;

// The misses of one result: every hard limit whose metric it carries and
// exceeds, with excess (value - max) / max (max <= 0: value - max).
std::vector<LimitMiss> LimitMisses(const std::vector<spec::HardLimit>& limits,
                                   const TrialResult& result);

// The `k` infeasible trials that miss their limits by the least: ranked by
// the sum of relative excesses, then higher accuracy, then trial number.
// Trials without a result or without any measured miss (e.g. over an MCU's
// SRAM, which failure_reason names) rank after those with one.
std::vector<NearMiss> LeastViolating(const std::vector<spec::HardLimit>& limits,
                                     std::vector<TrialRecord> infeasible, size_t k);

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_LEAST_VIOLATING_H_

// What the CLI shows when no trial of a search is feasible: the
// least-violating trials and by how much each misses each hard limit (from
// GetParetoFront). Plain structs, shared by the client, the text formats and
// the HTML report.
#ifndef HWNAS_CLI_NEAR_MISS_H_
#define HWNAS_CLI_NEAR_MISS_H_

#include <string>
#include <vector>

#include "common/records.h"

namespace hwnas::cli {

// A hard limit a trial misses: value, limit and (value - limit) / limit.
struct LimitMiss {
  std::string metric;
  double value = 0;
  double limit = 0;
  double excess = 0;
};

// An infeasible trial and the hard limits it misses.
struct NearMiss {
  TrialRecord trial;
  std::vector<LimitMiss> misses;
  double total_excess = 0;  // The ranking: sum of the relative excesses.
};

// "latency_ms 12.40 > 10.00 (+24%)", joined with "; "; the trial's failure
// reason when no limit measures its miss (e.g. over an MCU's SRAM).
std::string DescribeMisses(const NearMiss& near);

}  // namespace hwnas::cli

#endif  // HWNAS_CLI_NEAR_MISS_H_

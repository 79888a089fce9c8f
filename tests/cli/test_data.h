// Fixed searches and trials for the CLI tests.
#ifndef HWNAS_TESTS_CLI_TEST_DATA_H_
#define HWNAS_TESTS_CLI_TEST_DATA_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/records.h"

namespace hwnas::cli::testing {

inline absl::Time T0() { return absl::FromUnixSeconds(1714564800); }  // 2024-05-01 12:00:00Z

inline constexpr char kSpecYaml[] = R"yaml(name: fmnist-mcu
space: {name: mnasnet}
objectives:
  reward: mnasnet
  constraints:
    - {metric: latency_ms, target: 20, type: soft}
  hard_limits:
    - {metric: flash_bytes, max: 1000000}
budget: {trials: 10}
)yaml";

inline TrialRecord MakeTrial(int64_t number, TrialState state, double accuracy, double latency_ms,
                             int64_t flash, std::optional<double> reward) {
  TrialRecord t;
  t.search_id = 7;
  t.number = number;
  t.state = state;
  t.attempts = 1;
  t.worker_id = "w-1";
  t.architecture.space = "mnasnet";
  t.architecture.space_version = 1;
  t.architecture.tokens = {static_cast<int>(number), 1, 2};
  t.architecture.readable = "r1_k3_s11_e1_i32_o16 r2_k3_s22_e6_i16_o24_se0.25";
  TrialResult r;
  r.accuracy = accuracy;
  r.loss = 0.5;
  r.latency = LatencyMeasurement{latency_ms, latency_ms * 1.1, 50, 1, "x86_64 cpu"};
  r.costs = HardwareCosts{100000 * number, 2000000 * number, 65536, flash};
  r.estimates["latency_ms@cortex-m7"] = latency_ms * 10;
  r.train_seconds = 12.5;
  r.epochs = 2;
  t.result = r;
  t.reward = reward;
  t.created_at = T0() + absl::Seconds(number);
  t.started_at = T0() + absl::Seconds(number + 1);
  t.finished_at = T0() + absl::Seconds(number + 30);
  t.epochs = {{1, {{"train_loss", 0.9}, {"val_accuracy", accuracy - 0.1}}},
              {2, {{"train_loss", 0.5}, {"val_accuracy", accuracy}}}};
  return t;
}

// Trials 1..5: 1-3 succeeded (3 dominated by 2), 4 infeasible (flash over
// the limit), 5 failed.
inline std::vector<TrialRecord> MakeTrials() {
  std::vector<TrialRecord> trials = {
      MakeTrial(1, TrialState::kSucceeded, 0.80, 10.0, 400000, 0.78),
      MakeTrial(2, TrialState::kSucceeded, 0.90, 20.0, 600000, 0.88),
      MakeTrial(3, TrialState::kSucceeded, 0.85, 30.0, 700000, 0.81),
      MakeTrial(4, TrialState::kInfeasible, 0.0, 5.0, 2000000, 0.0),
      MakeTrial(5, TrialState::kFailed, 0.0, 0.0, 0, std::nullopt),
  };
  trials[3].failure_reason = "flash_bytes = 2e6 > max 1e6";
  trials[4].result.reset();
  trials[4].failure_reason = "worker lost: out of memory";
  return trials;
}

inline SearchRecord MakeSearch() {
  SearchRecord s;
  s.id = 7;
  s.name = "fmnist-mcu";
  s.owner = "ada";
  s.state = SearchState::kRunning;
  s.spec_yaml = kSpecYaml;
  s.space = "mnasnet";
  s.budget = 10;
  s.counts.total = 7;
  s.counts.succeeded = 3;
  s.counts.infeasible = 1;
  s.counts.failed = 1;
  s.counts.running = 2;
  s.best_trial = MakeTrials()[1];
  s.created_at = T0();
  return s;
}

}  // namespace hwnas::cli::testing

#endif  // HWNAS_TESTS_CLI_TEST_DATA_H_

// The strategies benchmark: runs search strategies against the NAS-Bench-201
// table for a device and latency target, many seeds, and summarizes regret,
// hit rate, hypervolume ratio and wall time per proposal; plus the
// controller-overhead measurement. Used by hwnas-bench-strategies.
#ifndef HWNAS_BENCH_CONTROLLER_STRATEGY_BENCH_H_
#define HWNAS_BENCH_CONTROLLER_STRATEGY_BENCH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/nb201_table.h"
#include "controller/reward.h"
#include "controller/strategy.h"

namespace hwnas::bench {

// How a row's latency is judged (for feasibility, regret and what the
// strategies observe).
enum class LatencyProtocol {
  kRow,       // The row's own measurement (the reference protocol).
  kFunction,  // The median over every row of the same function
              // (SearchSpace::FunctionSignature): a lucky measurement of one
              // encoding of a network does not count as a feasible find.
};

// A device column's latencies (one per table row) with every row's replaced
// by the median over the rows of the same function (LatencyProtocol::kFunction).
std::vector<double> FunctionMedianLatencies(const std::vector<double>& latencies);

// One data set + device + latency target + latency protocol.
struct Setting {
  std::string device;    // Table column, e.g. "raspi4".
  double quantile = 0;   // Target as a quantile of the device's latencies (if > 0)...
  double target_ms = 0;  // ...or in milliseconds. Resolved by RunSetting.
  controller::Nb201Dataset dataset = controller::Nb201Dataset::kCifar10;
  LatencyProtocol protocol = LatencyProtocol::kRow;
  // "raspi4, q=0.25 (15.72 ms)", with ", function median" under kFunction
  // (the data set is not named: tables are per data set).
  std::string Label() const;
};

// The reward a contender learns from (its fitness). Regret is judged the same
// way for every contender: the best feasible accuracy found.
struct RewardChoice {
  controller::RewardForm form = controller::RewardForm::kPenalty;
  double alpha = 0, beta = -1;  // MnasNet form exponents under / over the target.
  double lambda = 1.0;          // Penalty form weight, accuracy as a fraction.
};

// A strategy under test: its label in tables, its options and, optionally, a
// reward of its own (else the benchmark's --reward).
struct Contender {
  std::string label;
  controller::StrategyOptions options;
  std::optional<RewardChoice> reward;
};

struct BenchOptions {
  // Reward: penalty (lambda, as the reference evolution's fitness) or
  // MnasNet's product with a hard or soft constraint.
  controller::RewardForm form = controller::RewardForm::kPenalty;
  bool hard = true;     // MnasNet form: hard (alpha 0, beta -1) or soft.
  double lambda = 1.0;  // Penalty form, accuracy as a fraction.
  std::vector<int> budgets = {100, 200, 500};
  int seeds = 100;
  int first_seed = 0;
  int workers = 1;     // Trials in flight (proposals per Propose call).
  int threads = 1;     // Runs in parallel.
  bool trace = false;  // Keep per-trial traces (FormatTrace).
};

// One trial of a run, for diagnosing how a strategy spends its trials.
struct TraceRow {
  double latency_over_target = 0;  // Judged latency / target.
  double accuracy = 0;             // Percent.
  // The controller's policy entropy at its last update (nats); -1 for
  // strategies without one.
  double policy_entropy = -1;
  // Breadth proposals the controller had made up to this trial (-1 for
  // strategies without breadth); ControllerOptions::breadth_share.
  int64_t breadth = -1;
  // Of those, the breadth model's picks (ControllerOptions::breadth_model).
  int64_t model = -1;
};

// Per (setting, contender): per-seed curves and summary at each budget.
struct ContenderResult {
  std::string label;
  // curves[seed][t] = regret (accuracy points) after t+1 distinct trials.
  std::vector<std::vector<double>> curves;
  std::vector<std::vector<double>> hv_ratio;  // [seed][budget index]
  std::vector<std::vector<TraceRow>> traces;  // [seed][t], with BenchOptions::trace.
  double seconds_in_strategy = 0;             // Propose + Observe, all seeds.
  long proposals = 0;
};

struct SettingResult {
  Setting setting;           // target_ms resolved.
  double best_feasible = 0;  // Percent.
  int feasible_count = 0;
  std::vector<ContenderResult> contenders;
};

absl::StatusOr<SettingResult> RunSetting(const controller::Nb201Table& table, Setting setting,
                                         const std::vector<Contender>& contenders,
                                         const BenchOptions& options);

// Markdown table: median / mean regret, hit rate and HV ratio at each budget,
// wall time per proposal.
std::string FormatTable(const std::vector<SettingResult>& results, const BenchOptions& options);
// The sweep summary at one budget: per data set a table of median regret per
// strategy per setting, then per strategy the share of settings where its
// median is below random's ("ahead"), at most 0.1 points above it ("within
// 0.1") and below evolution's; per protocol and overall. Strategies labelled
// "random" / "evolution" are the references (a share is left out without them).
std::string FormatSweep(const std::vector<SettingResult>& results, int budget);
// One line per setting for progress logs: "cifar10 | raspi4, q=... | random 0.92 | ...".
std::string FormatSweepLine(const SettingResult& result, int budget);

// CSV rows: dataset,setting,strategy,seed,trial,lat_over_target,feasible,accuracy,policy_entropy,
// breadth,model.
std::string FormatTrace(const std::vector<SettingResult>& results);

// CSV rows: setting,strategy,seed,trial,regret (setting: [dataset/]device@target[/function]).
std::string FormatCsv(const std::vector<SettingResult>& results);
// SVG: one panel per setting, median regret vs trials per strategy.
std::string FormatSvg(const std::vector<SettingResult>& results);

// Controller overhead: propose + learn time per architecture at a batch size.
struct OverheadResult {
  std::string algorithm;
  int batch_size = 0;
  int architectures = 0;
  double propose_ms_per_arch = 0;
  double learn_ms_per_arch = 0;
  // CPU time of the measuring thread (the controller runs on one thread):
  // what the work costs on one core, whatever else shares the machine.
  double cpu_ms_per_arch = 0;
};
absl::StatusOr<std::vector<OverheadResult>> MeasureControllerOverhead(
    const controller::Nb201Table& table, const controller::ControllerOptions& base,
    const std::vector<int>& batch_sizes, int architectures);
std::string FormatOverhead(const std::vector<OverheadResult>& results);

}  // namespace hwnas::bench

#endif  // HWNAS_BENCH_CONTROLLER_STRATEGY_BENCH_H_

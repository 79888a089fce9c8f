// The `hwnas-worker` subcommands as functions on Options structs (flags are
// parsed in worker_main.cc only). Each returns a process exit code and
// writes results to `out`, progress and errors to `err`. Torch-free header.
#ifndef HWNAS_WORKER_COMMANDS_H_
#define HWNAS_WORKER_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "common/trial.h"
#include "worker/trial_runner.h"

namespace hwnas::worker {

// Exit codes shared by the subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitTrialFailed = 1;   // The trial ran and failed.
inline constexpr int kExitUsage = 2;         // Bad flags.
inline constexpr int kExitBadInput = 3;      // Bad spec, architecture or data.
inline constexpr int kExitNoData = 4;        // check: the data set is not on this machine.
inline constexpr int kExitDataMismatch = 5;  // check: the spec does not fit its data.

struct EvaluateOptions {
  std::string spec_path;
  std::string arch;  // Tokens ("3,1,0,2,...") or the space's readable form.
  std::string data_dir;
  bool json = false;
  bool progress = true;  // Per-epoch progress bar on `err`.
  // Overrides of the spec's training section.
  std::optional<int> epochs;
  std::optional<int> threads;
  std::optional<uint64_t> seed;
};
int RunEvaluate(const EvaluateOptions& options, std::ostream& out, std::ostream& err);

struct DescribeOptions {
  std::string spec_path;
  std::string arch;
  bool json = false;
};
int RunDescribe(const DescribeOptions& options, std::ostream& out, std::ostream& err);

struct CalibrateCommandOptions {
  std::string spec_path;
  std::string out_path;
  int threads = 1;
  int samples = 5000;       // Random architectures to collect op shapes from.
  int check = 20;           // Random architectures to check the table on (0 = none).
  std::string check_out;    // Optional CSV of the check: arch, predicted_ms, measured_ms.
  int profile_archs = 200;  // Whole networks profiled per op (0 = ops alone).
  uint64_t seed = 0;
  bool progress = true;
};
int RunCalibrate(const CalibrateCommandOptions& options, std::ostream& out, std::ostream& err);

// `hwnas-worker check`: what a worker does before a search's first trial,
// without training: parse the spec, load its data set from data_dir and
// check that the evaluation section's folds or sessions work on that data
// (more folds than samples of a class is caught here, naming the field).
// A table search has no data to check. kExitNoData when the data set is not
// found here (a client machine may lack what the workers have);
// kExitDataMismatch when the evaluation section does not fit the data;
// kExitBadInput on any other problem (an invalid spec).
struct CheckOptions {
  std::string spec_path;
  std::string data_dir;
};
int RunCheck(const CheckOptions& options, std::ostream& out, std::ostream& err);

// The result of a trial as JSON (the `--json` output of evaluate).
std::string TrialOutcomeToJson(const Architecture& arch, const TrialOutcome& outcome);

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_COMMANDS_H_

// Stability of the worker's latency measurement: the same network measured in
// separate processes; reports each run's median and p90 and the coefficient of
// variation of the medians.
//
//   worker_latency_bench --spec bench/worker/specs/mnasnet_fashion.yaml
//       --arch "3,0,1,1,1,1, 3,1,1,1,1,1, 3,0,1,1,1,1, 3,1,1,1,1,1" [--processes 10]
//
// With --once it measures once in this process and prints
// "median_ms p90_ms runs threads".
#include <unistd.h>

#include <cmath>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/flags.h"
#include "common/subprocess.h"
#include "spec/worker_spec.h"
#include "worker/trial_runner.h"

namespace {

const hwnas::MainFlagsSpec kFlags = {
    "worker_latency_bench",
    "usage: worker_latency_bench [flags]\n\n"
    "Stability of the worker's latency measurement: the same network measured in\n"
    "separate processes; each run's median and p90 and the coefficient of\n"
    "variation of the medians.\n\n"
    "flags:\n",
    {{"spec", 0, "PATH", "search spec (default bench/worker/specs/mnasnet_fashion.yaml)"},
     {"arch", 0, "ARCH", "tokens or the space's readable form (default: mnasnet-M)"},
     {"processes", 0, "N", "separate measuring processes (default 10)"},
     {"once", 0, "", "measure once in this process: \"median_ms p90_ms runs threads\""}}};

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<hwnas::ParsedFlags> flags =
      hwnas::ParseMainFlags(kFlags, argc, argv, std::cout, std::cerr, &exit_code);
  if (!flags) return exit_code;
  const std::string spec_path = flags->GetOr("spec", "bench/worker/specs/mnasnet_fashion.yaml");
  const std::string arch =
      flags->GetOr("arch", "3,0,1,1,1,1, 3,1,1,1,1,1, 3,0,1,1,1,1, 3,1,1,1,1,1");
  // Two processes at least: the spread of their medians is the result.
  const absl::StatusOr<std::optional<int64_t>> processes_flag = flags->Int("processes", 2);
  if (!processes_flag.ok()) {
    std::cerr << kFlags.program << ": " << processes_flag.status().message() << "\n";
    return 2;
  }
  const int processes = static_cast<int>(processes_flag->value_or(10));
  if (flags->Has("once")) {
    auto spec = hwnas::worker::LoadWorkerSpec(spec_path);
    if (!spec.ok()) {
      std::cerr << spec.status() << "\n";
      return 1;
    }
    auto space = hwnas::worker::MakeSpace(*spec);
    if (!space.ok()) {
      std::cerr << space.status() << "\n";
      return 1;
    }
    auto tokens = (*space)->Parse(arch);
    if (!tokens.ok()) {
      std::cerr << tokens.status() << "\n";
      return 1;
    }
    auto plan = (*space)->Lower(*tokens);
    auto m =
        hwnas::worker::MeasureLatency(*plan, hwnas::worker::LatencyOptionsFrom(spec->hardware));
    if (!m.ok()) {
      std::cerr << m.status() << "\n";
      return 1;
    }
    std::cout << absl::StrFormat("%.6f %.6f %d %d\n", m->median_ms, m->p90_ms, m->runs, m->threads);
    return 0;
  }
  const std::vector<std::string> cmd = {
      absl::StrCat("/proc/", getpid(), "/exe"), "--once", "--spec", spec_path, "--arch", arch};
  std::vector<double> medians;
  std::cout << absl::StrFormat("device=%s arch=%s\n", hwnas::worker::HostDeviceName(), arch);
  for (int i = 0; i < processes; ++i) {
    absl::StatusOr<hwnas::CommandResult> run =
        hwnas::RunCommand(cmd, {.timeout = absl::InfiniteDuration(), .separate_stderr = true});
    if (!run.ok() || run->exit_code != 0) {
      std::cerr << "run " << i
                << " failed: " << (run.ok() ? run->output + run->errors : run.status().ToString())
                << "\n";
      return 1;
    }
    std::istringstream in(run->output);
    double median = 0, p90 = 0;
    int runs = 0, threads = 0;
    in >> median >> p90 >> runs >> threads;
    medians.push_back(median);
    std::cout << absl::StrFormat(
        "process %2d: median %.4f ms, p90 %.4f ms, %d runs, %d thread(s)\n", i, median, p90, runs,
        threads);
  }
  double mean = 0, sq = 0;
  for (double m : medians) mean += m / medians.size();
  for (double m : medians) sq += (m - mean) * (m - mean);
  const double sd = std::sqrt(sq / (medians.size() - 1));
  double lo = medians[0], hi = medians[0];
  for (double m : medians) {
    lo = std::min(lo, m);
    hi = std::max(hi, m);
  }
  std::cout << absl::StrFormat(
      "medians over %d processes: mean %.4f ms, sd %.4f ms, CV %.2f%%, min %.4f, max %.4f\n",
      processes, mean, sd, 100 * sd / mean, lo, hi);
  return 0;
}

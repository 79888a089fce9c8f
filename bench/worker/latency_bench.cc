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

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "spec/worker_spec.h"
#include "worker/trial_runner.h"

namespace {

std::string Flag(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == "--" + name) return argv[i + 1];
  }
  return def;
}

bool Has(int argc, char** argv, const std::string& name) {
  for (int i = 1; i < argc; ++i) {
    if (argv[i] == "--" + name) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string spec_path = Flag(argc, argv, "spec", "bench/worker/specs/mnasnet_fashion.yaml");
  const std::string arch =
      Flag(argc, argv, "arch", "3,0,1,1,1,1, 3,1,1,1,1,1, 3,0,1,1,1,1, 3,1,1,1,1,1");
  if (Has(argc, argv, "once")) {
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
  const int processes = std::atoi(Flag(argc, argv, "processes", "10").c_str());
  const std::string cmd =
      absl::StrCat("/proc/", getpid(), "/exe --once --spec '", spec_path, "' --arch '", arch, "'");
  std::vector<double> medians;
  std::cout << absl::StrFormat("device=%s arch=%s\n", hwnas::worker::HostDeviceName(), arch);
  for (int i = 0; i < processes; ++i) {
    FILE* pipe = popen(cmd.c_str(), "r");
    std::array<char, 256> buf{};
    std::string line;
    while (fgets(buf.data(), buf.size(), pipe) != nullptr) line += buf.data();
    if (pclose(pipe) != 0) {
      std::cerr << "run " << i << " failed: " << line << "\n";
      return 1;
    }
    std::istringstream in(line);
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

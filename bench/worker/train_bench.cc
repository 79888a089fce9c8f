// Training throughput of the worker (LibTorch) against Python PyTorch on the
// same architectures, data, batch size and threads, alternating in one run.
//
//   worker_train_bench --python bench/worker/train_plan.py
//       --mnasnet-spec bench/worker/specs/mnasnet_fashion.yaml
//       --temporal-spec bench/worker/specs/temporal_ecg.yaml [--reps 3] [--threads 1]
//       [--only mnasnet-M]   (run only the architectures whose label contains this)
//
// For each architecture the plan is dumped as JSON and the training split as
// raw float32/int64 files; the Python script rebuilds the same network from
// the plan and runs the same loop. Prints per-run samples/s and a Markdown
// table of medians and ratios (worker / Python).
#include <time.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/worker/plan_json.h"
#include "common/flags.h"
#include "common/stats.h"
#include "common/subprocess.h"
#include "nlohmann/json.hpp"
#include "space/network_plan.h"
#include "spec/worker_spec.h"
#include "worker/datasets.h"
#include "worker/trial_runner.h"

namespace {

using hwnas::Median;
using hwnas::bench::PlanToJson;
using hwnas::worker::DataSplits;
using hwnas::worker::WorkerSpec;
using json = nlohmann::json;

// CPU time of this process: on a shared machine, work per CPU second is far
// steadier than wall-clock throughput.
double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Case {
  std::string label;
  std::string spec;
  std::string arch;  // Tokens or readable form.
};

const hwnas::MainFlagsSpec kFlags = {
    "worker_train_bench",
    "usage: worker_train_bench [flags]\n\n"
    "Training throughput of the worker (LibTorch) against PyTorch on the same\n"
    "architectures, data, batch size and threads, alternating in one run.\n\n"
    "flags:\n",
    {{"python", 0, "PATH", "the PyTorch side (default bench/worker/train_plan.py)"},
     {"mnasnet-spec", 0, "PATH", "default bench/worker/specs/mnasnet_fashion.yaml"},
     {"temporal-spec", 0, "PATH", "default bench/worker/specs/temporal_ecg.yaml"},
     {"data-dir", 0, "DIR", "shared data directory (default: $HWNAS_SHARED_DATA)"},
     // Debian's interpreter, which has python3-torch (a pyenv python3 may not).
     {"python-bin", 0, "PATH", "Python with python3-torch (default /usr/bin/python3)"},
     {"tmp", 0, "DIR", "where the plans and the training split are written (default /tmp)"},
     {"reps", 0, "N", "runs per side and architecture (default 3)"},
     {"threads", 0, "N", "threads on both sides (default 1)"},
     {"only", 0, "TEXT", "run only the architectures whose label contains TEXT"}}};

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<hwnas::ParsedFlags> flags =
      hwnas::ParseMainFlags(kFlags, argc, argv, std::cout, std::cerr, &exit_code);
  if (!flags) return exit_code;
  const std::string python = flags->GetOr("python", "bench/worker/train_plan.py");
  const std::string mnasnet =
      flags->GetOr("mnasnet-spec", "bench/worker/specs/mnasnet_fashion.yaml");
  const std::string temporal =
      flags->GetOr("temporal-spec", "bench/worker/specs/temporal_ecg.yaml");
  const std::string data_dir = flags->GetOr("data-dir", "");
  const std::string interpreter = flags->GetOr("python-bin", "/usr/bin/python3");
  const std::string tmp = flags->GetOr("tmp", "/tmp");
  const std::string only = flags->GetOr("only", "");
  const absl::StatusOr<std::optional<int64_t>> reps_flag = flags->Int("reps", 1);
  const absl::StatusOr<std::optional<int64_t>> threads_flag = flags->Int("threads", 1);
  for (const absl::Status& s : {reps_flag.status(), threads_flag.status()}) {
    if (!s.ok()) {
      std::cerr << kFlags.program << ": " << s.message() << "\n";
      return 2;
    }
  }
  const int reps = static_cast<int>(reps_flag->value_or(3));
  const int threads = static_cast<int>(threads_flag->value_or(1));

  // Three MnasNet sizes (4 blocks; per block op, kernel, se, skip, width, layers)
  // and one temporal network.
  const std::vector<Case> cases = {
      {"mnasnet-S (dwsep k3, w0.75, layers-1)", mnasnet,
       "1,0,0,1,0,0, 1,0,0,1,0,0, 1,0,0,1,0,0, 1,0,0,1,0,0"},
      {"mnasnet-M (mbconv3 k3/k5, se0.25, w1.0)", mnasnet,
       "3,0,1,1,1,1, 3,1,1,1,1,1, 3,0,1,1,1,1, 3,1,1,1,1,1"},
      {"mnasnet-L (mbconv6 k5, w1.25, layers+1)", mnasnet,
       "4,1,0,1,2,2, 4,1,1,1,2,2, 4,1,0,1,2,2, 4,1,1,1,2,2"},
      {"temporal (conv k5 c32 p2, sep k5 d2 c64, lstm h32)", temporal,
       "conv_k5_d1_c32_p2 sep_k5_d2_c64_p2 lstm_h32"},
  };

  std::cout << absl::StrFormat("threads=%d reps=%d device=%s\n", threads, reps,
                               hwnas::worker::HostDeviceName());
  std::string table =
      "| architecture | params | batch | worker samples/s | PyTorch samples/s | ratio | "
      "worker samples/CPU-s | PyTorch samples/CPU-s | CPU ratio |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (size_t c = 0; c < cases.size(); ++c) {
    if (!absl::StrContains(cases[c].label, only)) continue;
    absl::StatusOr<WorkerSpec> spec = hwnas::worker::LoadWorkerSpec(cases[c].spec);
    if (!spec.ok()) {
      std::cerr << spec.status() << "\n";
      return 1;
    }
    spec->training.threads = threads;
    spec->training.epochs = 1;
    auto space = hwnas::worker::MakeSpace(*spec);
    if (!space.ok()) {
      std::cerr << space.status() << "\n";
      return 1;
    }
    auto tokens = (*space)->Parse(cases[c].arch);
    if (!tokens.ok()) {
      std::cerr << cases[c].label << ": " << tokens.status() << "\n";
      return 1;
    }
    auto plan = (*space)->Lower(*tokens);
    if (!plan.ok()) {
      std::cerr << plan.status() << "\n";
      return 1;
    }
    auto data = hwnas::worker::LoadDataSplits(spec->data, data_dir);
    if (!data.ok()) {
      std::cerr << data.status() << "\n";
      return 1;
    }
    data->val = {};
    data->test = {};
    const std::string prefix = absl::StrCat(tmp, "/hwnas_train_bench_", c);
    std::ofstream(prefix + ".plan.json") << PlanToJson(*plan).dump();
    std::ofstream(prefix + ".x.f32", std::ios::binary)
        .write(reinterpret_cast<const char*>(data->train.features.data()),
               static_cast<std::streamsize>(data->train.features.size() * sizeof(float)));
    std::ofstream(prefix + ".y.i64", std::ios::binary)
        .write(reinterpret_cast<const char*>(data->train.labels.data()),
               static_cast<std::streamsize>(data->train.labels.size() * sizeof(int64_t)));
    const std::vector<std::string> py_cmd = {interpreter,
                                             python,
                                             prefix + ".plan.json",
                                             prefix,
                                             "--batch-size",
                                             absl::StrCat(spec->training.batch_size),
                                             "--threads",
                                             absl::StrCat(threads),
                                             "--lr",
                                             absl::StrFormat("%g", spec->training.lr),
                                             "--momentum",
                                             absl::StrFormat("%g", spec->training.momentum)};
    std::vector<double> cpp, py, cpp_cpu, py_cpu;
    int64_t params = 0;
    for (int r = 0; r < reps; ++r) {
      // Alternate which side goes first.
      for (int side = 0; side < 2; ++side) {
        const bool run_cpp = (side == 0) == (r % 2 == 0);
        if (run_cpp) {
          const double cpu0 = CpuSeconds();
          auto out = hwnas::worker::TrainAndEvaluate(*plan, *data, spec->training, nullptr);
          const double cpu = CpuSeconds() - cpu0;
          if (out.history.empty()) {
            std::cerr << "worker training failed: " << out.result.error << "\n";
            return 1;
          }
          cpp.push_back(out.history[0].values.at("samples_per_s"));
          cpp_cpu.push_back(static_cast<double>(data->train.size()) / cpu);
          std::cout << absl::StrFormat(
              "  %-52s rep %d worker  %9.1f samples/s wall, %9.1f per CPU second\n", cases[c].label,
              r, cpp.back(), cpp_cpu.back());
        } else {
          // The JSON line alone on stdout; the script's warnings apart.
          absl::StatusOr<hwnas::CommandResult> run = hwnas::RunCommand(
              py_cmd, {.timeout = absl::InfiniteDuration(), .separate_stderr = true});
          json j = run.ok() ? json::parse(run->output, nullptr, false) : json();
          if (!run.ok() || run->exit_code != 0 || j.is_discarded()) {
            std::cerr << "python failed ("
                      << (run.ok() ? absl::StrCat(run->exit_code) : run.status().ToString())
                      << "): " << (run.ok() ? run->output + run->errors : "") << "\n";
            return 1;
          }
          py.push_back(j["samples_per_s"].get<double>());
          py_cpu.push_back(j["samples_per_cpu_s"].get<double>());
          std::cout << absl::StrFormat(
              "  %-52s rep %d pytorch %9.1f samples/s wall, %9.1f per CPU second\n", cases[c].label,
              r, py.back(), py_cpu.back());
        }
      }
    }
    auto costs = hwnas::worker::TargetSet::Load(spec->hardware.targets);
    if (costs.ok()) {
      auto r = costs->Estimate(*plan);
      if (r.ok()) params = r->costs.params;
    }
    table += absl::StrFormat("| %s | %d | %d | %.0f | %.0f | %.2f | %.0f | %.0f | %.2f |\n",
                             cases[c].label, params, spec->training.batch_size, Median(cpp),
                             Median(py), Median(cpp) / Median(py), Median(cpp_cpu), Median(py_cpu),
                             Median(cpp_cpu) / Median(py_cpu));
  }
  std::cout << "\n" << table;
  return 0;
}

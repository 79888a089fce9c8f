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
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "space/network_plan.h"
#include "spec/worker_spec.h"
#include "worker/datasets.h"
#include "worker/trial_runner.h"

namespace {

using hwnas::worker::DataSplits;
using hwnas::worker::WorkerSpec;
using json = nlohmann::json;

json PlanToJson(const hwnas::space::NetworkPlan& plan) {
  json ops = json::array();
  for (const hwnas::space::Op& op : plan.ops) {
    std::string cell = op.cell == hwnas::space::RecurrentCell::kLstm ? "lstm" : "gru";
    ops.push_back(json{{"type", std::string(hwnas::space::OpTypeName(op.type))},
                       {"name", op.name},
                       {"inputs", op.inputs},
                       {"output_shape", op.output_shape},
                       {"dims", op.dims},
                       {"in_channels", op.in_channels},
                       {"out_channels", op.out_channels},
                       {"kernel_h", op.kernel_h},
                       {"kernel_w", op.kernel_w},
                       {"stride_h", op.stride_h},
                       {"stride_w", op.stride_w},
                       {"dilation_h", op.dilation_h},
                       {"dilation_w", op.dilation_w},
                       {"pad_h", op.pad_h},
                       {"pad_w", op.pad_w},
                       {"groups", op.groups},
                       {"bias", op.bias},
                       {"activation", std::string(hwnas::space::ActivationName(op.activation))},
                       {"pool", op.pool == hwnas::space::PoolKind::kAverage ? "avg" : "max"},
                       {"cell", cell},
                       {"return_sequence", op.return_sequence},
                       {"dropout", op.dropout},
                       {"weight_bits", op.weight_bits}});
  }
  return json{{"ops", ops}, {"output", plan.output}};
}

std::string Capture(const std::string& cmd, int* code) {
  std::string out;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  *code = pclose(pipe);
  return out;
}

// CPU time of this process: on a shared machine, work per CPU second is far
// steadier than wall-clock throughput.
double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

struct Case {
  std::string label;
  std::string spec;
  std::string arch;  // Tokens or readable form.
};

std::string Flag(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == "--" + name) return argv[i + 1];
  }
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string python = Flag(argc, argv, "python", "bench/worker/train_plan.py");
  const std::string mnasnet =
      Flag(argc, argv, "mnasnet-spec", "bench/worker/specs/mnasnet_fashion.yaml");
  const std::string temporal =
      Flag(argc, argv, "temporal-spec", "bench/worker/specs/temporal_ecg.yaml");
  const std::string data_dir = Flag(argc, argv, "data-dir", "");
  // Debian's interpreter, which has python3-torch (a pyenv python3 may not).
  const std::string interpreter = Flag(argc, argv, "python-bin", "/usr/bin/python3");
  const std::string tmp = Flag(argc, argv, "tmp", "/tmp");
  const int reps = std::atoi(Flag(argc, argv, "reps", "3").c_str());
  const int threads = std::atoi(Flag(argc, argv, "threads", "1").c_str());
  const std::string only = Flag(argc, argv, "only", "");

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
    const std::string py_cmd =
        absl::StrFormat("%s %s %s.plan.json %s --batch-size %d --threads %d --lr %g --momentum %g",
                        interpreter, python, prefix, prefix, spec->training.batch_size, threads,
                        spec->training.lr, spec->training.momentum);
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
          int code = 0;
          const std::string line = Capture(py_cmd, &code);
          json j = json::parse(line, nullptr, false);
          if (code != 0 || j.is_discarded()) {
            std::cerr << "python failed (" << code << "): " << line << "\n";
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

// hwnas's side of the Optuna time-to-quality benchmark's plumbing: what the
// Python driver needs so that Optuna samples the same decisions, builds the
// same networks, trains on the same split and judges the same device limits
// as an hwnas search of the same spec.
//
//   fidelity_plan_tool space --spec SPEC
//       one JSON line: the space's decisions (name, choices) in token order
//   fidelity_plan_tool data --spec SPEC --out PREFIX [--data-dir DIR]
//       writes the worker's own train/val split (LoadDataSplits, the spec's
//       subsets and seed) as PREFIX.{train,val}.{x.f32,y.i64} and prints its
//       shapes as one JSON line
//   fidelity_plan_tool serve --spec SPEC
//       reads one token list per line on stdin and answers one JSON line per
//       request: the NetworkPlan (train_plan.py's format), the static costs,
//       every target's estimates and the feasibility verdict, decided exactly
//       as the server's StaticCheck does (any feasible@<target> == 0 is
//       INFEASIBLE), or {"error": ...} for tokens the space refuses.
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/worker/plan_json.h"
#include "common/flags.h"
#include "hardware/costs.h"
#include "hardware/targets.h"
#include "nlohmann/json.hpp"
#include "space/network_plan.h"
#include "space/search_space.h"
#include "worker/datasets.h"

namespace {

using hwnas::bench::PlanToJson;
using json = nlohmann::json;

bool WriteRaw(const std::string& path, const void* data, size_t bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  return static_cast<bool>(f);
}

int WriteData(const hwnas::worker::WorkerSpec& spec, const std::string& data_dir,
              const std::string& prefix) {
  absl::StatusOr<hwnas::worker::DataSplits> data =
      hwnas::worker::LoadDataSplits(spec.data, data_dir);
  if (!data.ok()) {
    std::cerr << "fidelity_plan_tool: " << data.status().message() << "\n";
    return 3;
  }
  json out{{"source", data->source}, {"num_classes", data->train.num_classes}};
  for (const auto& [name, set] :
       {std::pair<std::string, const hwnas::worker::Dataset*>{"train", &data->train},
        {"val", &data->val}}) {
    const std::string base = absl::StrCat(prefix, ".", name);
    if (!WriteRaw(base + ".x.f32", set->features.data(), set->features.size() * sizeof(float)) ||
        !WriteRaw(base + ".y.i64", set->labels.data(), set->labels.size() * sizeof(int64_t))) {
      std::cerr << "fidelity_plan_tool: cannot write " << base << ".*\n";
      return 1;
    }
    out[name] = json{{"samples", set->size()}, {"sample_shape", set->sample_shape}};
  }
  std::cout << out.dump() << "\n";
  return 0;
}

json Describe(const hwnas::space::SearchSpace& space, const hwnas::worker::WorkerSpec& spec,
              const hwnas::hardware::TargetSet& targets, const std::string& line) {
  absl::StatusOr<std::vector<int>> tokens = space.Parse(line);
  if (!tokens.ok()) return json{{"error", std::string(tokens.status().message())}};
  absl::StatusOr<hwnas::Architecture> arch = space.MakeArchitecture(*tokens);
  if (!arch.ok()) return json{{"error", std::string(arch.status().message())}};
  absl::StatusOr<hwnas::space::NetworkPlan> lowered = space.Lower(arch->tokens);
  if (!lowered.ok()) return json{{"error", std::string(lowered.status().message())}};
  const hwnas::space::NetworkPlan plan =
      hwnas::worker::ApplyHardwareOptions(*std::move(lowered), spec.hardware);
  absl::StatusOr<hwnas::hardware::CostReport> costs = hwnas::hardware::ComputeCosts(plan);
  if (!costs.ok()) return json{{"error", std::string(costs.status().message())}};
  absl::StatusOr<hwnas::TrialResult> estimate = targets.Estimate(plan);
  if (!estimate.ok()) return json{{"error", std::string(estimate.status().message())}};
  std::string violation;
  for (const auto& [key, value] : estimate->estimates) {
    if (absl::StartsWith(key, "feasible@") && value == 0) {
      violation = absl::StrCat("does not fit ", key.substr(9), " (SRAM or flash)");
      break;
    }
  }
  return json{{"readable", arch->readable},
              {"tokens", arch->tokens},
              {"canonical_hash", space.CanonicalHash(arch->tokens)},
              {"feasible", violation.empty()},
              {"violation", violation},
              {"costs",
               {{"params", costs->totals.params},
                {"macs", costs->totals.macs},
                {"peak_activation_bytes", costs->totals.peak_activation_bytes},
                {"flash_bytes", costs->totals.flash_bytes}}},
              {"estimates", estimate->estimates},
              {"plan", PlanToJson(plan)}};
}

const hwnas::MainFlagsSpec kFlags = {
    "fidelity_plan_tool",
    "usage: fidelity_plan_tool space|data|serve --spec SPEC [--out PREFIX] [--data-dir DIR]\n\n"
    "The Optuna side of bench/fidelity asks hwnas for the space's decisions (space),\n"
    "the worker's train/val split (data) and, per sampled token list on stdin, the\n"
    "plan, costs and feasibility (serve). See bench/fidelity/README.md.\n\n"
    "flags:\n",
    {{"spec", 0, "PATH", "search spec (YAML)"},
     {"out", 0, "PREFIX", "data: where the split is written"},
     {"data-dir", 0, "DIR", "shared data directory (default: $HWNAS_SHARED_DATA)"}},
    /*max_positionals=*/1};

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<hwnas::ParsedFlags> flags =
      hwnas::ParseMainFlags(kFlags, argc, argv, std::cout, std::cerr, &exit_code);
  if (!flags) return exit_code;
  if (flags->positionals.size() != 1) {
    std::cerr << "fidelity_plan_tool: give one command: space, data or serve\n";
    return 2;
  }
  const std::string command = flags->positionals[0];
  absl::StatusOr<hwnas::worker::WorkerSpec> spec =
      hwnas::worker::LoadWorkerSpec(flags->GetOr("spec", ""));
  if (!spec.ok()) {
    std::cerr << "fidelity_plan_tool: " << spec.status().message() << "\n";
    return 3;
  }
  absl::StatusOr<std::unique_ptr<hwnas::space::SearchSpace>> space =
      hwnas::worker::MakeSpace(*spec);
  if (!space.ok()) {
    std::cerr << "fidelity_plan_tool: " << space.status().message() << "\n";
    return 3;
  }
  if (command == "space") {
    json decisions = json::array();
    for (const hwnas::space::Decision& d : (*space)->decisions()) {
      decisions.push_back(json{{"name", d.name}, {"choices", d.choices}});
    }
    // The training section as the worker parsed it, so the Python side runs
    // the same recipe without a YAML reader of its own.
    const hwnas::worker::TrainingOptions& t = spec->training;
    const char* schedule = t.schedule == hwnas::worker::LrSchedule::kCosine ? "cosine"
                           : t.schedule == hwnas::worker::LrSchedule::kStep ? "step"
                                                                            : "constant";
    json training{
        {"optimizer", t.optimizer == hwnas::worker::OptimizerKind::kAdam ? "adam" : "sgd"},
        {"lr", t.lr},
        {"momentum", t.momentum},
        {"nesterov", t.nesterov},
        {"weight_decay", t.weight_decay},
        {"schedule", schedule},
        {"step_epochs", t.step_epochs},
        {"gamma", t.gamma},
        {"epochs", t.epochs},
        {"batch_size", t.batch_size},
        {"eval_batch_size", t.eval_batch_size},
        {"threads", t.threads},
        {"time_limit_s", t.time_limit_s},
        {"grad_clip", t.grad_clip}};
    std::cout << json{{"space", std::string((*space)->name())},
                      {"version", (*space)->version()},
                      {"decisions", decisions},
                      {"training", training}}
                     .dump()
              << "\n";
    return 0;
  }
  if (command == "data") {
    const std::string out = flags->GetOr("out", "");
    if (out.empty()) {
      std::cerr << "fidelity_plan_tool: data needs --out PREFIX\n";
      return 2;
    }
    return WriteData(*spec, flags->GetOr("data-dir", ""), out);
  }
  if (command == "serve") {
    absl::StatusOr<hwnas::hardware::TargetSet> targets =
        hwnas::hardware::TargetSet::Load(spec->hardware.targets);
    if (!targets.ok()) {
      std::cerr << "fidelity_plan_tool: " << targets.status().message() << "\n";
      return 3;
    }
    std::string line;
    while (std::getline(std::cin, line)) {
      std::cout << Describe(**space, *spec, *targets, line).dump() << "\n" << std::flush;
    }
    return 0;
  }
  std::cerr << "fidelity_plan_tool: unknown command '" << command
            << "' (expected space, data or serve)\n";
  return 2;
}

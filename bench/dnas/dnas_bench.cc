// DNAS against the MnasNet controller and evolution at the same wall-clock
// (docs/benchmarks.md, "DNAS (#19 item 1)").
//
//   dnas_bench --spec bench/dnas/specs/fashion_m7.yaml --method dnas --out DIR
//   dnas_bench --spec ... --method evolution --seconds S --out DIR
//   dnas_bench --spec ... --method mnasnet-ppo --seconds S --out DIR
//
// dnas: runs `hwnas-worker dnas`'s job (worker/dnas/) on the spec, then
// trains its K architectures stand-alone with the spec's training section
// (TrialRunner, as a worker would), and reports the total wall-clock, the
// best feasible stand-alone accuracy and the Spearman correlation between
// the supernet's probability of each architecture and its accuracy.
// evolution / mnasnet-ppo: the spec's search with that strategy (its options
// at their defaults, the spec's reward and hard limits), one trial at a time
// through controller::Search and the same TrialRunner, until S seconds have
// passed (the trial running then is finished and counted; the time is
// reported). Architectures over a hard limit are never trained, as in the
// server. Writes DIR/<method>.jsonl (one line per trial) and prints a summary.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/proxies/rank_stats.h"
#include "common/files.h"
#include "controller/search.h"
#include "nlohmann/json.hpp"
#include "spec/search_spec.h"
#include "worker/dnas/dnas_search.h"
#include "worker/trial_runner.h"

namespace {

using hwnas::Architecture;
using hwnas::TrialState;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int Main(int argc, char** argv) {
  std::string spec_path, method = "dnas", out_dir = ".", data_dir;
  double seconds = 600;
  uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--spec")
      spec_path = value;
    else if (flag == "--method")
      method = value;
    else if (flag == "--out")
      out_dir = value;
    else if (flag == "--data-dir")
      data_dir = value;
    else if (flag == "--seconds")
      (void)absl::SimpleAtod(value, &seconds);
    else if (flag == "--seed")
      (void)absl::SimpleAtoi(value, &seed);
    else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  absl::StatusOr<std::string> text = hwnas::ReadRegularFile(spec_path, 1 << 20);
  if (!text.ok()) {
    std::cerr << text.status() << "\n";
    return 2;
  }
  absl::StatusOr<hwnas::spec::SearchSpec> spec = hwnas::spec::ParseSearchSpec(*text);
  if (!spec.ok() || !spec->worker) {
    std::cerr << "spec: " << (spec.ok() ? "no worker sections" : spec.status().ToString()) << "\n";
    return 2;
  }
  const auto start = Clock::now();
  std::ofstream log(absl::StrCat(out_dir, "/", method, ".jsonl"));
  auto runner = hwnas::worker::TrialRunner::Create(*spec->worker, {.shared_data_dir = data_dir});
  if (!runner.ok()) {
    std::cerr << runner.status() << "\n";
    return 1;
  }
  const hwnas::space::SearchSpace& space = (*runner)->space();
  auto train = [&](const Architecture& arch) {
    return (*runner)->Run(arch, [](const hwnas::EpochMetrics&) {
      return hwnas::worker::ProgressDecision::kContinue;
    });
  };
  double best = -1;
  int trials = 0, feasible_trials = 0;
  json summary{{"method", method}};
  if (method == "dnas") {
    const std::string job = absl::StrCat(out_dir, "/dnas-job");
    std::ostringstream job_out;
    hwnas::worker::dnas::DnasCommandOptions o{
        .spec_path = spec_path, .out_dir = job, .data_dir = data_dir};
    const int rc = hwnas::worker::dnas::RunDnas(o, job_out, std::cerr);
    if (rc != 0) return rc;
    const double supernet_s = Since(start);
    const json result = json::parse(*hwnas::ReadWholeFile(job + "/result.json"));
    std::vector<double> probability, accuracy;
    for (const json& c : result["candidates"]) {
      absl::StatusOr<Architecture> arch =
          space.MakeArchitecture(c["tokens"].get<std::vector<int>>());
      const hwnas::worker::TrialOutcome outcome = train(*arch);
      ++trials;
      const bool ok = outcome.state == TrialState::kSucceeded;
      if (ok) {
        ++feasible_trials;
        best = std::max(best, outcome.result.accuracy);
        probability.push_back(c["probability"].get<double>());
        accuracy.push_back(outcome.result.accuracy);
      }
      log << json{{"readable", arch->readable},
                  {"probability", c["probability"]},
                  {"state", std::string(hwnas::TrialStateName(outcome.state))},
                  {"accuracy", outcome.result.accuracy},
                  {"estimates", outcome.result.estimates},
                  {"elapsed_s", Since(start)}}
                 .dump()
          << std::endl;
      std::cerr << absl::StrFormat("dnas candidate p=%.4g acc=%.4f %s\n",
                                   c["probability"].get<double>(), outcome.result.accuracy,
                                   arch->readable);
    }
    summary["supernet_seconds"] = supernet_s;
    summary["spearman_probability_accuracy"] = hwnas::bench::Spearman(probability, accuracy);
  } else {
    hwnas::spec::ControllerSpec cs = spec->controller;
    cs.strategy = hwnas::spec::StrategyOptions().set_name(method);
    hwnas::controller::SearchOptions so = hwnas::controller::MakeSearchOptions(cs);
    so.budget = 0;
    auto search = hwnas::controller::Search::Create(so, space, seed);
    if (!search.ok()) {
      std::cerr << search.status() << "\n";
      return 1;
    }
    while (Since(start) < seconds) {
      absl::StatusOr<std::vector<hwnas::controller::Proposal>> p = (*search)->Propose(1);
      if (!p.ok() || p->empty()) break;
      const hwnas::controller::Proposal& proposal = p->front();
      hwnas::controller::FinishedTrial t{.proposal_id = proposal.id,
                                         .architecture = proposal.architecture};
      // Over a hard limit: never trained (the server's rule).
      absl::StatusOr<hwnas::space::NetworkPlan> plan = space.Lower(proposal.architecture.tokens);
      absl::StatusOr<hwnas::TrialResult> r =
          (*runner)->StaticResult(hwnas::spec::ApplyHardwareOptions(*plan, spec->worker->hardware));
      bool over = false;
      for (const auto& [key, value] : r->estimates) {
        if (key.rfind("feasible@", 0) == 0 && value == 0) over = true;
      }
      if (over) {
        t.state = TrialState::kInfeasible;
        t.result = *r;
      } else {
        const hwnas::worker::TrialOutcome outcome = train(proposal.architecture);
        t.state = outcome.state;
        t.result = outcome.result;
        ++trials;
      }
      absl::StatusOr<std::vector<hwnas::controller::ScoredTrial>> scored =
          (*search)->Observe({&t, 1});
      if (!scored.ok()) {
        std::cerr << scored.status() << "\n";
        return 1;
      }
      const hwnas::controller::ScoredTrial& s = scored->front();
      if (s.feasible) {
        ++feasible_trials;
        best = std::max(best, s.result.accuracy);
      }
      log << json{{"readable", proposal.architecture.readable},
                  {"state", std::string(hwnas::TrialStateName(s.state))},
                  {"feasible", s.feasible},
                  {"accuracy", s.result.accuracy},
                  {"reward", s.reward},
                  {"elapsed_s", Since(start)}}
                 .dump()
          << std::endl;
    }
  }
  summary["seconds"] = Since(start);
  summary["trained"] = trials;
  summary["feasible_trained"] = feasible_trials;
  summary["best_feasible_accuracy"] = best;
  std::cout << summary.dump() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }

// hwnas-bench-strategies: search strategies against the NAS-Bench-201 table.
//
//   hwnas-bench-strategies [strategies] --settings=issue --seeds=100 --threads=2
//       --csv=curves.csv --plot=regret.svg
//   hwnas-bench-strategies overhead      # controller propose+learn time per architecture
//
// Contenders: --contenders='random; evolution; ppo-fast={name: mnasnet-ppo, learning_rate: 0.05}'
// (a builtin label, or label={a strategy: section}), each optionally with a
// reward of its own: 'ppo-hard={name: mnasnet-ppo}@mnasnet-hard'.
#include <cmath>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bench/controller/strategy_bench.h"
#include "common/yaml_fields.h"
#include "controller/mnasnet_controller.h"

ABSL_FLAG(std::string, table, "", "NAS-Bench-201 CSV (default: $HWNAS_SHARED_DATA/nb201/...)");
ABSL_FLAG(std::string, dataset, "cifar10", "cifar10 | cifar100 | imagenet16");
ABSL_FLAG(std::string, settings, "",
          "'issue' for the six settings of the strategies issue; else use --device with "
          "--quantile or --target_ms");
ABSL_FLAG(std::string, device, "raspi4", "latency column");
ABSL_FLAG(double, quantile, 0.25, "latency target as a quantile of the device's latencies");
ABSL_FLAG(double, target_ms, 0, "latency target in ms (overrides --quantile when > 0)");
ABSL_FLAG(std::string, reward, "penalty",
          "penalty | mnasnet: the reward of contenders without one of their own");
ABSL_FLAG(std::string, constraint, "hard", "hard | soft (mnasnet reward)");
ABSL_FLAG(double, lambda, 1.0, "penalty weight (accuracy as a fraction)");
ABSL_FLAG(std::vector<std::string>, budgets, std::vector<std::string>({"100", "200", "500"}),
          "trial budgets (distinct architectures)");
ABSL_FLAG(int, seeds, 100, "seeds per strategy and setting");
ABSL_FLAG(int, first_seed, 0, "first seed");
ABSL_FLAG(int, workers, 1, "trials in flight: proposals per Propose call");
ABSL_FLAG(int, threads, 1, "runs in parallel");
ABSL_FLAG(std::string, contenders, "random; evolution; mnasnet-ppo; mnasnet-reinforce",
          "';'-separated: a builtin label or label={strategy section}, either optionally "
          "followed by @REWARD, the contender's own reward: penalty[:LAMBDA], mnasnet-soft, "
          "mnasnet-hard or mnasnet:ALPHA:BETA (else --reward; the builtin controllers default "
          "to mnasnet-soft). Regret is judged on feasible accuracy whatever the reward");
ABSL_FLAG(std::string, csv, "", "write per-trial regret curves here");
ABSL_FLAG(std::string, plot, "", "write an SVG of median regret vs trials here");
ABSL_FLAG(std::vector<std::string>, batch_sizes, std::vector<std::string>({"1", "8", "64"}),
          "overhead: controller batch sizes");
ABSL_FLAG(int, architectures, 512, "overhead: architectures per measurement");

namespace hwnas::bench {
namespace {

// MnasNet's soft-constraint reward (alpha = beta = -0.07), which the builtin
// controllers learn from whatever --reward the others use.
RewardChoice MnasNetSoft() {
  RewardChoice r;
  r.form = controller::RewardForm::kMnasNet;
  r.alpha = r.beta = -0.07;
  return r;
}

// Builtin contenders. The controllers use the benchmark's tuned settings
// (docs/benchmarks.md), MnasNet's soft reward included; `*-paper` keep every
// default from the papers.
absl::StatusOr<Contender> Builtin(absl::string_view label) {
  auto parse = [label](absl::string_view yaml, std::optional<RewardChoice> reward =
                                                   std::nullopt) -> absl::StatusOr<Contender> {
    absl::StatusOr<YamlSection> doc = YamlSection::Parse(yaml);
    if (!doc.ok()) return doc.status();
    absl::StatusOr<controller::StrategyOptions> options =
        controller::ParseStrategyOptions(YamlSection(doc->node(), "strategy"));
    if (!options.ok()) return options.status();
    return Contender{std::string(label), *std::move(options), reward};
  };
  if (label == "random") return parse("{name: random}");
  if (label == "evolution") return parse("{name: evolution, population: 30, tournament: 10}");
  if (label == "mnasnet-ppo") {
    return parse(
        "{name: mnasnet-ppo, learning_rate: 0.02, batch_size: 8, ppo_epochs: 4, "
        "risk_quantile: 0.25}",
        MnasNetSoft());
  }
  if (label == "mnasnet-reinforce") {
    return parse(
        "{name: mnasnet-reinforce, learning_rate: 0.02, batch_size: 8, risk_quantile: 0.25}",
        MnasNetSoft());
  }
  if (label == "nsga2") return parse("{name: nsga2, population: 40, crossover: 0.9}");
  if (label == "surrogate") return parse("{name: surrogate}");
  if (label == "surrogate-nm") {
    return parse("{name: surrogate, near_miss_retries: 8, near_miss_margin: 0.3}");
  }
  if (label == "mnasnet-ppo-paper") return parse("{name: mnasnet-ppo}");
  if (label == "mnasnet-reinforce-paper") return parse("{name: mnasnet-reinforce}");
  return absl::InvalidArgumentError(
      absl::StrCat("--contenders: unknown builtin '", label,
                   "' (random, evolution, nsga2, mnasnet-ppo, mnasnet-reinforce, surrogate, "
                   "surrogate-nm, "
                   "mnasnet-ppo-paper, "
                   "mnasnet-reinforce-paper, or label={strategy section})"));
}

// A contender's own reward, after '@': penalty[:LAMBDA], mnasnet-soft,
// mnasnet-hard or mnasnet:ALPHA:BETA.
absl::StatusOr<RewardChoice> ParseRewardChoice(absl::string_view label, absl::string_view text) {
  const std::vector<std::string> parts = absl::StrSplit(text, ':');
  auto number = [&](size_t i, double& out) {
    return i < parts.size() && absl::SimpleAtod(parts[i], &out) && std::isfinite(out);
  };
  RewardChoice r;
  bool ok = false;
  if (parts[0] == "penalty") {
    r.form = controller::RewardForm::kPenalty;
    ok = parts.size() == 1 || (parts.size() == 2 && number(1, r.lambda) && r.lambda >= 0);
  } else if (parts[0] == "mnasnet-soft" || parts[0] == "mnasnet-hard") {
    r.form = controller::RewardForm::kMnasNet;
    r.alpha = parts[0] == "mnasnet-soft" ? -0.07 : 0;
    r.beta = parts[0] == "mnasnet-soft" ? -0.07 : -1;
    ok = parts.size() == 1;
  } else if (parts[0] == "mnasnet") {
    r.form = controller::RewardForm::kMnasNet;
    ok = parts.size() == 3 && number(1, r.alpha) && number(2, r.beta);
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("--contenders ", label, ": bad reward '@", text,
                     "' (penalty[:LAMBDA], mnasnet-soft, mnasnet-hard or mnasnet:ALPHA:BETA)"));
  }
  return r;
}

absl::StatusOr<std::vector<Contender>> ParseContenders(absl::string_view spec) {
  std::vector<Contender> out;
  for (absl::string_view item : absl::StrSplit(spec, ';', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    Contender c;
    // An optional "@reward" follows the builtin name or the closing brace.
    std::optional<RewardChoice> reward;
    const size_t at = item.rfind('@');
    if (at != absl::string_view::npos && item.find('}', at) == absl::string_view::npos) {
      const absl::string_view label = item.substr(0, std::min(item.find('='), at));
      absl::StatusOr<RewardChoice> parsed =
          ParseRewardChoice(label, absl::StripAsciiWhitespace(item.substr(at + 1)));
      if (!parsed.ok()) return parsed.status();
      reward = *parsed;
      item = absl::StripAsciiWhitespace(item.substr(0, at));
    }
    const size_t eq = item.find('=');
    if (eq == absl::string_view::npos) {
      absl::StatusOr<Contender> builtin = Builtin(item);
      if (!builtin.ok()) return builtin.status();
      c = *std::move(builtin);
    } else {
      c.label = std::string(absl::StripAsciiWhitespace(item.substr(0, eq)));
      absl::StatusOr<YamlSection> doc = YamlSection::Parse(item.substr(eq + 1));
      if (!doc.ok()) return doc.status();
      absl::StatusOr<controller::StrategyOptions> o = controller::ParseStrategyOptions(
          YamlSection(doc->node(), absl::StrCat("--contenders ", c.label)));
      if (!o.ok()) return o.status();
      c.options = *o;
    }
    if (reward.has_value()) c.reward = reward;
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<std::vector<int>> Ints(const std::vector<std::string>& v, absl::string_view flag) {
  std::vector<int> out;
  for (const std::string& s : v) {
    int x = 0;
    if (!absl::SimpleAtoi(s, &x) || x < 1) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": bad value '", s, "'"));
    }
    out.push_back(x);
  }
  return out;
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  if (!f) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status Main(absl::string_view command) {
  controller::SetControllerThreads(1);
  const std::string path = controller::ResolveNb201TablePath(absl::GetFlag(FLAGS_table));
  absl::StatusOr<std::shared_ptr<const controller::Nb201Table>> table =
      controller::Nb201Table::Load(path);
  if (!table.ok()) return table.status();

  if (command == "overhead") {
    absl::StatusOr<std::vector<int>> sizes = Ints(absl::GetFlag(FLAGS_batch_sizes), "batch_sizes");
    if (!sizes.ok()) return sizes.status();
    absl::StatusOr<Contender> ppo = Builtin("mnasnet-ppo");
    absl::StatusOr<std::vector<OverheadResult>> r = MeasureControllerOverhead(
        **table, ppo->options.controller, *sizes, absl::GetFlag(FLAGS_architectures));
    if (!r.ok()) return r.status();
    std::cout << FormatOverhead(*r);
    return absl::OkStatus();
  }
  if (command != "strategies") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown command '", command, "' (strategies | overhead)"));
  }

  BenchOptions o;
  absl::StatusOr<controller::Nb201Dataset> dataset =
      controller::ParseNb201Dataset(absl::GetFlag(FLAGS_dataset));
  if (!dataset.ok()) return dataset.status();
  o.dataset = *dataset;
  const std::string reward = absl::GetFlag(FLAGS_reward);
  if (reward != "penalty" && reward != "mnasnet") {
    return absl::InvalidArgumentError("--reward: penalty | mnasnet");
  }
  o.form =
      reward == "penalty" ? controller::RewardForm::kPenalty : controller::RewardForm::kMnasNet;
  const std::string constraint = absl::GetFlag(FLAGS_constraint);
  if (constraint != "hard" && constraint != "soft") {
    return absl::InvalidArgumentError("--constraint: hard | soft");
  }
  o.hard = constraint == "hard";
  o.lambda = absl::GetFlag(FLAGS_lambda);
  absl::StatusOr<std::vector<int>> budgets = Ints(absl::GetFlag(FLAGS_budgets), "budgets");
  if (!budgets.ok()) return budgets.status();
  o.budgets = *budgets;
  o.seeds = absl::GetFlag(FLAGS_seeds);
  o.first_seed = absl::GetFlag(FLAGS_first_seed);
  o.workers = absl::GetFlag(FLAGS_workers);
  o.threads = absl::GetFlag(FLAGS_threads);
  if (o.seeds < 1 || o.workers < 1 || o.threads < 1) {
    return absl::InvalidArgumentError("--seeds, --workers and --threads must be positive");
  }
  absl::StatusOr<std::vector<Contender>> contenders =
      ParseContenders(absl::GetFlag(FLAGS_contenders));
  if (!contenders.ok()) return contenders.status();

  std::vector<Setting> settings;
  if (absl::GetFlag(FLAGS_settings) == "issue") {
    settings = {{"raspi4", 0.25, 0}, {"raspi4", 0.50, 0},  {"pixel3", 0.25, 0},
                {"fpga", 0.25, 0},   {"eyeriss", 0.25, 0}, {"gold_6226", 0.25, 0}};
  } else if (!absl::GetFlag(FLAGS_settings).empty()) {
    return absl::InvalidArgumentError("--settings: 'issue' or empty");
  } else if (absl::GetFlag(FLAGS_target_ms) > 0) {
    settings = {{absl::GetFlag(FLAGS_device), 0, absl::GetFlag(FLAGS_target_ms)}};
  } else {
    settings = {{absl::GetFlag(FLAGS_device), absl::GetFlag(FLAGS_quantile), 0}};
  }
  std::vector<SettingResult> results;
  for (const Setting& s : settings) {
    absl::StatusOr<SettingResult> r = RunSetting(**table, s, *contenders, o);
    if (!r.ok()) return r.status();
    std::cerr << "done: " << r->setting.Label() << "\n";
    results.push_back(*std::move(r));
  }
  std::cout << FormatTable(results, o);
  if (!absl::GetFlag(FLAGS_csv).empty()) {
    if (absl::Status s = WriteFile(absl::GetFlag(FLAGS_csv), FormatCsv(results)); !s.ok()) return s;
  }
  if (!absl::GetFlag(FLAGS_plot).empty()) {
    if (absl::Status s = WriteFile(absl::GetFlag(FLAGS_plot), FormatSvg(results)); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace hwnas::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "hwnas-bench-strategies [strategies|overhead] [flags]: search strategies on the "
      "NAS-Bench-201 table");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const std::string command = args.size() > 1 ? args[1] : "strategies";
  absl::Status s = hwnas::bench::Main(command);
  if (!s.ok()) {
    std::cerr << "error: " << s << "\n";
    return 1;
  }
  return 0;
}

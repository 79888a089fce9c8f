#include "bench/controller/strategy_bench.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/stats.h"
#include "common/status_macros.h"
#include "controller/mnasnet_controller.h"
#include "controller/pareto.h"
#include "controller/search.h"
#include "space/nb201_space.h"

namespace hwnas::bench {
namespace {

using controller::Nb201Table;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

const space::Nb201Space& Space() {
  static const space::Nb201Space* space =
      new space::Nb201Space({}, space::DataShape{{3, 32, 32}, 10});
  return *space;
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

// Hypervolume of (accuracy max, latency min) points against the reference.
double Hv2(const std::vector<std::pair<double, double>>& acc_lat, double ref_acc, double ref_lat) {
  std::vector<std::vector<double>> pts;
  pts.reserve(acc_lat.size());
  for (const auto& [a, l] : acc_lat) pts.push_back({-a, l});
  return controller::HypervolumeMin(std::move(pts), std::vector<double>{-ref_acc, ref_lat});
}

controller::RewardOptions Reward(const BenchOptions& o, const Contender& contender,
                                 double target_ms) {
  controller::RewardOptions r;
  if (contender.reward.has_value()) {
    const RewardChoice& choice = *contender.reward;
    r.form = choice.form;
    controller::Constraint c =
        controller::Constraint::Penalty("latency_ms", target_ms, choice.lambda);
    c.alpha = choice.alpha;
    c.beta = choice.beta;
    r.add_constraint(c);
    return r;
  }
  r.form = o.form;
  controller::Constraint c = o.hard ? controller::Constraint::Hard("latency_ms", target_ms)
                                    : controller::Constraint::Soft("latency_ms", target_ms);
  c.lambda = o.lambda;
  r.add_constraint(c);
  return r;
}

// Per table row, the id of its function (rows with equal FunctionSignature
// share one); computed once.
const std::vector<int>& FunctionGroups() {
  static const std::vector<int>* groups = [] {
    auto* out = new std::vector<int>(Nb201Table::kNumArchitectures);
    absl::flat_hash_map<std::string, int> ids;
    for (int i = 0; i < Nb201Table::kNumArchitectures; ++i) {
      const std::string sig = Space().FunctionSignature(Nb201Table::TokensOf(i));
      (*out)[i] = ids.try_emplace(sig, static_cast<int>(ids.size())).first->second;
    }
    return out;
  }();
  return *groups;
}

}  // namespace

std::vector<double> FunctionMedianLatencies(const std::vector<double>& lat) {
  const std::vector<int>& group = FunctionGroups();
  const int n = *std::max_element(group.begin(), group.end()) + 1;
  std::vector<std::vector<double>> members(n);
  for (size_t i = 0; i < lat.size(); ++i) members[group[i]].push_back(lat[i]);
  std::vector<double> median(n);
  for (int g = 0; g < n; ++g) median[g] = Median(members[g]);
  std::vector<double> out(lat.size());
  for (size_t i = 0; i < lat.size(); ++i) out[i] = median[group[i]];
  return out;
}

namespace {

struct RunOutput {
  std::vector<double> curve;
  std::vector<double> hv;
  std::vector<TraceRow> trace;
  double seconds = 0;
  long proposals = 0;
  std::string error;
};

}  // namespace

std::string Setting::Label() const {
  const char* fn = protocol == LatencyProtocol::kFunction ? ", function median" : "";
  if (quantile > 0) {
    return absl::StrFormat("%s, q=%.2f (%.2f ms)%s", device, quantile, target_ms, fn);
  }
  return absl::StrFormat("%s, %.2f ms%s", device, target_ms, fn);
}

absl::StatusOr<SettingResult> RunSetting(const Nb201Table& table, Setting setting,
                                         const std::vector<Contender>& contenders,
                                         const BenchOptions& options) {
  HWNAS_ASSIGN_OR_RETURN(int column, table.DeviceColumn(setting.device));
  const bool by_function = setting.protocol == LatencyProtocol::kFunction;
  const std::vector<double> lat =
      by_function ? FunctionMedianLatencies(table.latencies(column)) : table.latencies(column);
  const std::vector<double>& acc = table.accuracies_percent(setting.dataset);
  // Interpolated like numpy's default, as the reference figures were made;
  // under kFunction, of the function medians (every row counted).
  if (setting.quantile > 0) setting.target_ms = LinearQuantile(lat, setting.quantile);
  if (!(setting.target_ms > 0)) return absl::InvalidArgumentError("latency target must be > 0");
  SettingResult out;
  out.setting = setting;
  for (int i = 0; i < Nb201Table::kNumArchitectures; ++i) {
    if (lat[i] <= setting.target_ms) {
      out.best_feasible = std::max(out.best_feasible, acc[i]);
      ++out.feasible_count;
    }
  }
  if (out.feasible_count == 0) return absl::InvalidArgumentError("no feasible architecture");
  // True front's hypervolume; reference: median accuracy, slowest latency.
  const double ref_acc = LinearQuantile(acc, 0.5);
  const double ref_lat = *std::max_element(lat.begin(), lat.end());
  std::vector<std::pair<double, double>> all;
  for (int i = 0; i < Nb201Table::kNumArchitectures; ++i) all.push_back({acc[i], lat[i]});
  const double true_hv = Hv2(all, ref_acc, ref_lat);

  const int max_budget = *std::max_element(options.budgets.begin(), options.budgets.end());
  HWNAS_ASSIGN_OR_RETURN(controller::TableEvaluator evaluator,
                         controller::TableEvaluator::Create(
                             std::shared_ptr<const Nb201Table>(&table, [](const Nb201Table*) {}),
                             setting.dataset, setting.device));
  // What a strategy observes: the row, its latency judged by the protocol.
  auto evaluate = [&](int index) {
    TrialResult r = evaluator.EvaluateIndex(index);
    if (by_function) {
      r.latency->median_ms = r.latency->p90_ms = lat[index];
      r.estimates[absl::StrCat("latency_ms@", setting.device)] = lat[index];
    }
    return r;
  };

  auto run = [&](const Contender& c, uint64_t seed) {
    RunOutput r;
    controller::SearchOptions so;
    so.reward = Reward(options, c, setting.target_ms);
    so.strategy = c.options;
    so.budget = max_budget;
    so.dedup = controller::DedupKey::kExact;
    Clock::time_point t0 = Clock::now();
    absl::StatusOr<std::unique_ptr<controller::Search>> search =
        controller::Search::Create(so, Space(), seed);
    if (!search.ok()) {
      r.error = search.status().ToString();
      return r;
    }
    r.seconds += Seconds(Clock::now() - t0);
    while ((*search)->evaluated() < max_budget) {
      t0 = Clock::now();
      absl::StatusOr<std::vector<controller::Proposal>> props = (*search)->Propose(options.workers);
      r.seconds += Seconds(Clock::now() - t0);
      if (!props.ok()) {
        r.error = props.status().ToString();
        return r;
      }
      if (props->empty()) break;
      r.proposals += props->size();
      std::vector<controller::FinishedTrial> done;
      for (const controller::Proposal& p : *props) {
        absl::StatusOr<int> index = Nb201Table::IndexOf(p.architecture.tokens);
        done.push_back({p.id, p.architecture, TrialState::kSucceeded, evaluate(*index)});
      }
      t0 = Clock::now();
      absl::StatusOr<std::vector<controller::ScoredTrial>> scored = (*search)->Observe(done);
      r.seconds += Seconds(Clock::now() - t0);
      if (!scored.ok()) {
        r.error = scored.status().ToString();
        return r;
      }
      if (options.trace) {
        const auto* ctl =
            dynamic_cast<const controller::MnasNetController*>(&(*search)->strategy());
        for (const controller::FinishedTrial& f : done) {
          const int index = *Nb201Table::IndexOf(f.architecture.tokens);
          r.trace.push_back({lat[index] / setting.target_ms, acc[index],
                             ctl != nullptr ? ctl->last_entropy() : -1.0,
                             ctl != nullptr ? ctl->breadth_proposals() : -1,
                             ctl != nullptr ? ctl->model_proposals() : -1});
        }
      }
    }
    double best = -1;
    std::vector<std::pair<double, double>> seen;
    size_t next_budget = 0;
    std::vector<int> budgets = options.budgets;
    std::sort(budgets.begin(), budgets.end());
    const auto& history = (*search)->history();
    for (size_t t = 0; t < history.size(); ++t) {
      const int index = *Nb201Table::IndexOf(history[t].architecture.tokens);
      if (lat[index] <= setting.target_ms) best = std::max(best, acc[index]);
      r.curve.push_back(best < 0 ? out.best_feasible : out.best_feasible - best);
      seen.push_back({acc[index], lat[index]});
      while (next_budget < budgets.size() && static_cast<int>(t + 1) == budgets[next_budget]) {
        r.hv.push_back(Hv2(seen, ref_acc, ref_lat) / true_hv);
        ++next_budget;
      }
    }
    // A run that stopped early (space exhausted) keeps its last values.
    while (r.curve.size() < static_cast<size_t>(max_budget)) {
      r.curve.push_back(r.curve.empty() ? out.best_feasible : r.curve.back());
    }
    while (r.hv.size() < budgets.size()) r.hv.push_back(Hv2(seen, ref_acc, ref_lat) / true_hv);
    return r;
  };

  const int jobs = static_cast<int>(contenders.size()) * options.seeds;
  std::vector<RunOutput> outputs(jobs);
  std::atomic<int> next{0};
  auto worker = [&] {
    for (int j = next++; j < jobs; j = next++) {
      const int ci = j / options.seeds;
      const int s = j % options.seeds;
      outputs[j] = run(contenders[ci], static_cast<uint64_t>(options.first_seed + s));
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < std::max(1, options.threads); ++t) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();

  for (size_t ci = 0; ci < contenders.size(); ++ci) {
    ContenderResult cr;
    cr.label = contenders[ci].label;
    for (int s = 0; s < options.seeds; ++s) {
      RunOutput& r = outputs[ci * options.seeds + s];
      if (!r.error.empty()) {
        return absl::InternalError(absl::StrCat(cr.label, " seed ", s, ": ", r.error));
      }
      cr.curves.push_back(std::move(r.curve));
      cr.hv_ratio.push_back(std::move(r.hv));
      cr.traces.push_back(std::move(r.trace));
      cr.seconds_in_strategy += r.seconds;
      cr.proposals += r.proposals;
    }
    out.contenders.push_back(std::move(cr));
  }
  return out;
}

std::string FormatTable(const std::vector<SettingResult>& results, const BenchOptions& options) {
  std::vector<int> budgets = options.budgets;
  std::sort(budgets.begin(), budgets.end());
  const std::string at = absl::StrCat("@", absl::StrJoin(budgets, " / @"));
  std::string out = absl::StrCat("| setting | strategy | median regret ", at, " | mean regret ", at,
                                 " | hit rate ", at, " | HV ratio ", at,
                                 " | ms / proposal |\n|---|---|---|---|---|---|---|\n");
  for (const SettingResult& sr : results) {
    for (const ContenderResult& c : sr.contenders) {
      std::vector<std::string> med, mean, hit, hv;
      for (size_t b = 0; b < budgets.size(); ++b) {
        std::vector<double> regrets, hvs;
        int hits = 0;
        for (size_t s = 0; s < c.curves.size(); ++s) {
          const double r = c.curves[s][budgets[b] - 1];
          regrets.push_back(r);
          hits += r <= 1e-9;
          hvs.push_back(c.hv_ratio[s][b]);
        }
        med.push_back(absl::StrFormat("%.2f", Median(regrets)));
        mean.push_back(absl::StrFormat("%.2f", Mean(regrets)));
        hit.push_back(absl::StrFormat("%.2f", static_cast<double>(hits) / c.curves.size()));
        hv.push_back(absl::StrFormat("%.3f", Median(hvs)));
      }
      absl::StrAppend(
          &out, "| ", sr.setting.Label(), " | ", c.label, " | ", absl::StrJoin(med, " / "), " | ",
          absl::StrJoin(mean, " / "), " | ", absl::StrJoin(hit, " / "), " | ",
          absl::StrJoin(hv, " / "), " | ",
          absl::StrFormat("%.3f", 1e3 * c.seconds_in_strategy / std::max<long>(1, c.proposals)),
          " |\n");
    }
  }
  return out;
}

std::string FormatTrace(const std::vector<SettingResult>& results) {
  std::string out =
      "dataset,setting,strategy,seed,trial,lat_over_target,feasible,accuracy,policy_entropy,"
      "breadth,model\n";
  for (const SettingResult& sr : results) {
    const std::string label =
        absl::StrFormat("%s@%.4g%s", sr.setting.device, sr.setting.target_ms,
                        sr.setting.protocol == LatencyProtocol::kFunction ? "/function" : "");
    for (const ContenderResult& c : sr.contenders) {
      for (size_t s = 0; s < c.traces.size(); ++s) {
        for (size_t t = 0; t < c.traces[s].size(); ++t) {
          const TraceRow& row = c.traces[s][t];
          absl::StrAppendFormat(&out, "%s,%s,%s,%d,%d,%.4f,%d,%.2f,%.4f,%d,%d\n",
                                controller::Nb201DatasetName(sr.setting.dataset), label, c.label, s,
                                t + 1, row.latency_over_target, row.latency_over_target <= 1.0,
                                row.accuracy, row.policy_entropy, row.breadth, row.model);
        }
      }
    }
  }
  return out;
}

std::string FormatCsv(const std::vector<SettingResult>& results) {
  std::string out = "setting,strategy,seed,trial,regret\n";
  for (const SettingResult& sr : results) {
    // "raspi4@15.72" as before for CIFAR-10 rows; other data sets and the
    // function protocol are named too ("cifar100/raspi4@15.72/function").
    std::string label = absl::StrFormat("%s@%.4g", sr.setting.device, sr.setting.target_ms);
    if (sr.setting.dataset != controller::Nb201Dataset::kCifar10) {
      label = absl::StrCat(controller::Nb201DatasetName(sr.setting.dataset), "/", label);
    }
    if (sr.setting.protocol == LatencyProtocol::kFunction) absl::StrAppend(&label, "/function");
    for (const ContenderResult& c : sr.contenders) {
      for (size_t s = 0; s < c.curves.size(); ++s) {
        for (size_t t = 0; t < c.curves[s].size(); ++t) {
          absl::StrAppendFormat(&out, "%s,%s,%d,%d,%.4f\n", label, c.label, s, t + 1,
                                c.curves[s][t]);
        }
      }
    }
  }
  return out;
}

std::string FormatSvg(const std::vector<SettingResult>& results) {
  constexpr int kPanelW = 440, kPanelH = 280, kCols = 2;
  constexpr int kLeft = 55, kRight = 15, kTop = 30, kBottom = 40;
  static constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                            "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  const int rows = (static_cast<int>(results.size()) + kCols - 1) / kCols;
  const int legend_h = 30;
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%%\" height=\"100%%\" "
      "fill=\"white\"/>\n",
      kCols * kPanelW, rows * kPanelH + legend_h);
  for (size_t p = 0; p < results.size(); ++p) {
    const SettingResult& sr = results[p];
    const int ox = static_cast<int>(p % kCols) * kPanelW;
    const int oy = static_cast<int>(p / kCols) * kPanelH;
    const int w = kPanelW - kLeft - kRight, h = kPanelH - kTop - kBottom;
    size_t n = 0;
    std::vector<std::vector<double>> medians;
    double ymax = 0;
    for (const ContenderResult& c : sr.contenders) {
      n = std::max(n, c.curves.empty() ? 0 : c.curves[0].size());
      std::vector<double> m(c.curves.empty() ? 0 : c.curves[0].size());
      for (size_t t = 0; t < m.size(); ++t) {
        std::vector<double> v;
        for (const auto& curve : c.curves) v.push_back(curve[t]);
        m[t] = Median(v);
      }
      // Scale to the curves after the first tenth of the budget.
      if (m.size() > 10) ymax = std::max(ymax, m[m.size() / 10]);
      medians.push_back(std::move(m));
    }
    ymax = ymax > 0 ? ymax * 1.05 : 1;
    auto X = [&](double t) { return ox + kLeft + w * (t - 1) / std::max<double>(1, n - 1); };
    auto Y = [&](double r) { return oy + kTop + h * (1 - std::min(r, ymax) / ymax); };
    absl::StrAppendFormat(&svg,
                          "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>\n"
                          "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                          "stroke=\"#444\"/>\n",
                          ox + kLeft, oy + 18, sr.setting.Label(), ox + kLeft, oy + kTop, w, h);
    for (int k = 0; k <= 4; ++k) {
      const double r = ymax * k / 4;
      absl::StrAppendFormat(&svg,
                            "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                            "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n",
                            ox + kLeft, ox + kLeft + w, Y(r), Y(r), ox + kLeft - 4, Y(r) + 4, r);
      const double t = 1 + (n - 1) * k / 4.0;
      absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n",
                            X(t), oy + kTop + h + 14, t);
    }
    absl::StrAppendFormat(&svg,
                          "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">trials (distinct "
                          "architectures)</text>\n<text x=\"%d\" y=\"%d\" transform=\"rotate(-90 "
                          "%d %d)\" text-anchor=\"middle\">median regret (acc. points)</text>\n",
                          ox + kLeft + w / 2, oy + kTop + h + 30, ox + 14, oy + kTop + h / 2,
                          ox + 14, oy + kTop + h / 2);
    for (size_t c = 0; c < medians.size(); ++c) {
      std::string pts;
      for (size_t t = 0; t < medians[c].size(); ++t) {
        absl::StrAppendFormat(&pts, "%.1f,%.1f ", X(t + 1.0), Y(medians[c][t]));
      }
      absl::StrAppendFormat(&svg,
                            "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" "
                            "points=\"%s\"/>\n",
                            kColors[c % 8], pts);
    }
  }
  if (!results.empty()) {
    int x = 10;
    const int y = rows * kPanelH + 18;
    for (size_t c = 0; c < results[0].contenders.size(); ++c) {
      absl::StrAppendFormat(&svg,
                            "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" "
                            "stroke-width=\"3\"/><text x=\"%d\" y=\"%d\">%s</text>\n",
                            x, x + 20, y - 4, y - 4, kColors[c % 8], x + 25, y,
                            results[0].contenders[c].label);
      x += 40 + 7 * static_cast<int>(results[0].contenders[c].label.size());
    }
  }
  absl::StrAppend(&svg, "</svg>\n");
  return svg;
}

absl::StatusOr<std::vector<OverheadResult>> MeasureControllerOverhead(
    const Nb201Table& table, const controller::ControllerOptions& base,
    const std::vector<int>& batch_sizes, int architectures) {
  HWNAS_ASSIGN_OR_RETURN(controller::TableEvaluator evaluator,
                         controller::TableEvaluator::Create(
                             std::shared_ptr<const Nb201Table>(&table, [](const Nb201Table*) {}),
                             controller::Nb201Dataset::kCifar10, "raspi4"));
  std::vector<OverheadResult> out;
  for (controller::PolicyGradient algo :
       {controller::PolicyGradient::kPpo, controller::PolicyGradient::kReinforce}) {
    for (int bs : batch_sizes) {
      controller::ControllerOptions o = base;
      o.algorithm = algo;
      o.batch_size = bs;
      // Risk-seeking needs two trials to compare; the cost is the same.
      if (bs < 2) o.risk_quantile = 0;
      HWNAS_ASSIGN_OR_RETURN(auto ctl, controller::MnasNetController::Create(o, Space(), 1));
      const int n = std::max(architectures, 4 * bs) / bs * bs;
      double propose = 0, learn = 0;
      const double cpu_start = ThreadCpuSeconds();
      for (int done = 0; done < n; done += bs) {
        Clock::time_point t0 = Clock::now();
        HWNAS_ASSIGN_OR_RETURN(std::vector<controller::Proposal> props, ctl->Propose(bs));
        propose += Seconds(Clock::now() - t0);
        std::vector<controller::Observation> obs;
        for (const controller::Proposal& p : props) {
          controller::Observation ob;
          ob.proposal_id = p.id;
          ob.architecture = p.architecture;
          ob.result = evaluator.EvaluateIndex(*Nb201Table::IndexOf(p.architecture.tokens));
          ob.reward = ob.result.accuracy;
          obs.push_back(std::move(ob));
        }
        t0 = Clock::now();
        HWNAS_RETURN_IF_ERROR(ctl->Observe(obs));
        learn += Seconds(Clock::now() - t0);
      }
      // The table lookups between the timed sections are a few microseconds.
      const double cpu = ThreadCpuSeconds() - cpu_start;
      out.push_back({algo == controller::PolicyGradient::kPpo ? "ppo" : "reinforce", bs, n,
                     1e3 * propose / n, 1e3 * learn / n, 1e3 * cpu / n});
    }
  }
  return out;
}

std::string FormatOverhead(const std::vector<OverheadResult>& results) {
  std::string out =
      "| algorithm | batch size | architectures | propose ms / arch | learn ms / arch | total ms / "
      "arch | CPU ms / arch |\n|---|---|---|---|---|---|---|\n";
  for (const OverheadResult& r : results) {
    absl::StrAppendFormat(&out, "| %s | %d | %d | %.3f | %.3f | %.3f | %.3f |\n", r.algorithm,
                          r.batch_size, r.architectures, r.propose_ms_per_arch, r.learn_ms_per_arch,
                          r.propose_ms_per_arch + r.learn_ms_per_arch, r.cpu_ms_per_arch);
  }
  return out;
}

}  // namespace hwnas::bench

namespace hwnas::bench {
namespace {

// Median regret of each contender at `budget` trials, in the results' order.
std::vector<double> MedianRegrets(const SettingResult& sr, int budget) {
  std::vector<double> out;
  for (const ContenderResult& c : sr.contenders) {
    std::vector<double> regrets;
    for (const std::vector<double>& curve : c.curves) {
      regrets.push_back(curve[std::min<size_t>(budget, curve.size()) - 1]);
    }
    out.push_back(Median(regrets));
  }
  return out;
}

// Medians are compared as printed (two decimals), so a tie in the table is a
// tie in the shares.
double Rounded(double x) { return std::round(x * 100) / 100; }

// Mean regret of each contender at `budget` trials: the tie-break when two
// medians round to the same value (most often both 0.00, the optimum found by
// more than half the seeds), where the mean still tells how often it was not.
std::vector<double> MeanRegrets(const SettingResult& sr, int budget) {
  std::vector<double> out;
  for (const ContenderResult& c : sr.contenders) {
    double sum = 0;
    for (const std::vector<double>& curve : c.curves) {
      sum += curve[std::min<size_t>(budget, curve.size()) - 1];
    }
    out.push_back(c.curves.empty() ? 0.0 : sum / c.curves.size());
  }
  return out;
}

// True when contender `a` beats `b`: a lower rounded median, or the same
// rounded median and a lower rounded mean.
bool AheadWithTieBreak(const std::vector<double>& med, const std::vector<double>& mean, int a,
                       int b) {
  if (Rounded(med[a]) != Rounded(med[b])) return Rounded(med[a]) < Rounded(med[b]);
  return Rounded(mean[a]) < Rounded(mean[b]);
}

int IndexOfLabel(const SettingResult& sr, absl::string_view label) {
  for (size_t i = 0; i < sr.contenders.size(); ++i) {
    if (sr.contenders[i].label == label) return static_cast<int>(i);
  }
  return -1;
}

// Per contender: settings counted, ahead of random, within 0.1 of random,
// ahead of evolution, over the results `keep` admits.
std::string Shares(const std::vector<SettingResult>& results, int budget, absl::string_view title,
                   const std::function<bool(const SettingResult&)>& keep) {
  if (results.empty()) return "";
  const SettingResult& first = results.front();
  std::string out =
      absl::StrCat("| ", title,
                   " | settings | ahead of random | within 0.1 of random | ahead of "
                   "evolution | ahead of random, ties by mean | ahead of evolution, ties by mean "
                   "| largest lag behind random |\n|---|---|---|---|---|---|---|---|\n");
  for (size_t c = 0; c < first.contenders.size(); ++c) {
    int n = 0, ahead_random = 0, within = 0, ahead_evolution = 0, with_random = 0,
        with_evolution = 0, ahead_random_tb = 0, ahead_evolution_tb = 0;
    double worst = -INFINITY;
    for (const SettingResult& sr : results) {
      if (!keep(sr) || c >= sr.contenders.size()) continue;
      const std::vector<double> med = MedianRegrets(sr, budget);
      const std::vector<double> mean = MeanRegrets(sr, budget);
      const double mine = Rounded(med[c]);
      ++n;
      if (const int r = IndexOfLabel(sr, "random"); r >= 0) {
        ++with_random;
        const double theirs = Rounded(med[r]);
        ahead_random += mine < theirs;
        ahead_random_tb += AheadWithTieBreak(med, mean, static_cast<int>(c), r);
        within += mine <= theirs + 0.1 + 1e-9;
        worst = std::max(worst, mine - theirs);
      }
      if (const int e = IndexOfLabel(sr, "evolution"); e >= 0) {
        ++with_evolution;
        ahead_evolution += mine < Rounded(med[e]);
        ahead_evolution_tb += AheadWithTieBreak(med, mean, static_cast<int>(c), e);
      }
    }
    if (n == 0) continue;
    auto share = [](int k, int of) {
      return of == 0 ? std::string("-") : absl::StrFormat("%d/%d (%.0f%%)", k, of, 100.0 * k / of);
    };
    absl::StrAppend(
        &out, "| ", first.contenders[c].label, " | ", n, " | ", share(ahead_random, with_random),
        " | ", share(within, with_random), " | ", share(ahead_evolution, with_evolution), " | ",
        share(ahead_random_tb, with_random), " | ", share(ahead_evolution_tb, with_evolution),
        " | ", with_random == 0 ? std::string("-") : absl::StrFormat("%+.2f", worst), " |\n");
  }
  return out;
}

}  // namespace

std::string FormatSweepLine(const SettingResult& result, int budget) {
  std::string out = absl::StrCat(controller::Nb201DatasetName(result.setting.dataset), " | ",
                                 result.setting.Label());
  const std::vector<double> med = MedianRegrets(result, budget);
  const std::vector<double> mean = MeanRegrets(result, budget);
  for (size_t c = 0; c < med.size(); ++c) {
    absl::StrAppendFormat(&out, " | %s %.2f (mean %.2f)", result.contenders[c].label, med[c],
                          mean[c]);
  }
  return out;
}

std::string FormatSweep(const std::vector<SettingResult>& results, int budget) {
  if (results.empty()) return "";
  std::string out;
  std::vector<controller::Nb201Dataset> datasets;
  for (const SettingResult& sr : results) {
    if (std::find(datasets.begin(), datasets.end(), sr.setting.dataset) == datasets.end()) {
      datasets.push_back(sr.setting.dataset);
    }
  }
  for (controller::Nb201Dataset d : datasets) {
    absl::StrAppend(&out, "#### ", controller::Nb201DatasetName(d), ": median regret @", budget,
                    " (points)\n\n| setting |");
    std::vector<std::string> header;
    for (const ContenderResult& c : results.front().contenders) {
      absl::StrAppend(&out, " ", c.label, " |");
    }
    absl::StrAppend(&out, "\n|---|");
    for (size_t c = 0; c < results.front().contenders.size(); ++c) absl::StrAppend(&out, "---|");
    absl::StrAppend(&out, "\n");
    for (const SettingResult& sr : results) {
      if (sr.setting.dataset != d) continue;
      absl::StrAppend(&out, "| ", sr.setting.Label(), " |");
      const std::vector<double> med = MedianRegrets(sr, budget);
      const int r = IndexOfLabel(sr, "random");
      for (size_t c = 0; c < med.size(); ++c) {
        // Bold: behind random by more than 0.1 points.
        const bool lag = r >= 0 && Rounded(med[c]) > Rounded(med[r]) + 0.1 + 1e-9;
        absl::StrAppendFormat(&out, lag ? " **%.2f** |" : " %.2f |", med[c]);
      }
      absl::StrAppend(&out, "\n");
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, "#### Shares of the sweep @", budget, "\n\n");
  absl::StrAppend(
      &out, Shares(results, budget, "all settings", [](const SettingResult&) { return true; }));
  for (LatencyProtocol p : {LatencyProtocol::kRow, LatencyProtocol::kFunction}) {
    const bool any = std::any_of(results.begin(), results.end(),
                                 [p](const SettingResult& sr) { return sr.setting.protocol == p; });
    if (!any) continue;
    absl::StrAppend(&out, "\n",
                    Shares(results, budget,
                           p == LatencyProtocol::kRow ? "row latency" : "function-median latency",
                           [p](const SettingResult& sr) { return sr.setting.protocol == p; }));
  }
  return out;
}

}  // namespace hwnas::bench

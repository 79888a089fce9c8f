#include "cli/commands.h"

#include <algorithm>
#include <chrono>
#include <ostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/errors.h"
#include "cli/format.h"
#include "cli/guided.h"
#include "cli/local.h"
#include "cli/report.h"
#include "cli/spec_info.h"
#include "cli/terminal_plot.h"
#include "common/status_macros.h"
#include "common/yaml_fields.h"

namespace hwnas::cli {
namespace {

absl::StatusOr<OutputFormat> FormatOf(const ParsedArgs& args) {
  return ParseOutputFormat(args.Get("output").value_or("table"));
}

absl::StatusOr<int64_t> SearchId(const ParsedArgs& args) {
  return ParsePositiveInt(args.positionals.at(0), "search ID");
}

absl::StatusOr<std::optional<TrialState>> TrialStateFlag(const ParsedArgs& args) {
  std::optional<std::string> s = args.Get("state");
  if (!s) return std::optional<TrialState>();
  auto state = ParseTrialState(absl::AsciiStrToUpper(*s));
  if (!state.ok()) return UsageError(absl::StrCat("--state: ", state.status().message()));
  return std::optional<TrialState>(*state);
}

std::optional<double> TrialMetric(const TrialRecord& t, absl::string_view metric) {
  if (metric == "reward") return t.reward;
  if (metric == "number") return static_cast<double>(t.number);
  if (!t.result) return std::nullopt;
  return MetricValue(*t.result, metric);
}

bool BiggerIsBetter(absl::string_view metric) {
  return metric == "reward" || metric == "accuracy" || absl::StrContains(metric, "accuracy");
}

// Stops a watch when ctx.interrupted becomes true (Ctrl-C).
class InterruptWatcher {
 public:
  InterruptWatcher(const std::atomic<bool>* flag, Client& client) : flag_(flag) {
    if (flag_ == nullptr) return;
    thread_ = std::thread([this, &client] {
      while (!done_.load()) {
        if (flag_->load()) {
          client.CancelWatch();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }
  ~InterruptWatcher() {
    done_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  const std::atomic<bool>* flag_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

std::string FitWidth(std::string line, int width) {
  if (width > 4 && static_cast<int>(line.size()) > width - 1) {
    line.resize(width - 4);
    line += "...";
  }
  return line;
}

}  // namespace

absl::StatusOr<int> WatchUntilDone(int64_t search_id, CliContext& ctx, Client& client,
                                   const std::function<std::string(const SearchRecord&)>& give_up) {
  std::ostream& out = *ctx.out;
  std::optional<SearchRecord> last;
  std::vector<std::string> cost_metrics;
  std::optional<EpochLedger> epochs;  // Multi-fidelity searches.
  bool drew_bar = false;
  std::string gave_up;
  absl::Status status;
  {
    InterruptWatcher watcher(ctx.interrupted, client);
    status = client.WatchSearch(search_id, [&](const SearchEvent& e) {
      if (!last) {
        const SpecInfo info = ReadSpecInfo(e.search.spec_yaml);
        cost_metrics = info.CostMetrics();
        if (info.fidelity.enabled() && ctx.stdout_is_tty) {
          // The ETA counts epochs under the fidelity plan: the rungs the
          // search's trials trained before this watch began count too.
          epochs.emplace(info.fidelity, e.search.budget);
          absl::StatusOr<std::vector<TrialRecord>> trials = client.ListTrials(search_id, {});
          if (trials.ok()) {
            for (const TrialRecord& t : *trials) epochs->Add(t);
          }
        }
      }
      if (epochs && e.trial) epochs->Add(*e.trial);
      last = e.search;
      if (ctx.stdout_is_tty) {
        out << "\r\x1b[2K";
        // A rung promotion stays on screen above the progress bar.
        if (e.kind == SearchEventKind::kTrialFinished && e.trial) {
          if (std::optional<std::string> promoted = PromotionLine(*e.trial)) {
            out << FitWidth(*promoted, ctx.terminal_width) << "\n";
          }
        }
        std::optional<EpochProgress> progress;
        if (epochs) progress = epochs->progress();
        out << FitWidth(RenderProgressLine(e.search, ctx.now(), cost_metrics, 24, progress),
                        ctx.terminal_width)
            << std::flush;
        drew_bar = true;
      } else {
        out << RenderEventLine(e, cost_metrics) << "\n" << std::flush;
      }
      if (give_up) gave_up = give_up(e.search);
      return gave_up.empty();
    });
  }
  if (drew_bar) out << "\n";
  if (status.ok() && !gave_up.empty()) return absl::FailedPreconditionError(gave_up);
  if (!status.ok()) {
    if (status.code() == absl::StatusCode::kCancelled) {
      *ctx.err << "stopped watching; search " << search_id << " keeps running on the server\n";
    }
    return InSearch(status, search_id);
  }
  // The last event carries the final counts; read the search once more for
  // the finish time and best trial when the stream ended without them.
  absl::StatusOr<SearchRecord> final_search = client.GetSearch(search_id);
  if (final_search.ok()) last = *final_search;
  if (!last) return absl::UnavailableError("the watch stream carried no events");
  out << "\n" << RenderSummary(*last, ctx.now(), cost_metrics);
  if (last->state != SearchState::kCompleted) return kExitSearchNotCompleted;
  if (last->counts.succeeded + last->counts.early_stopped == 0) {
    // Finished, but with nothing to show for it: scripts must not go on.
    *ctx.err << "search " << search_id << " completed, but no trial succeeded\n";
    return kExitSearchNotCompleted;
  }
  return kExitOk;
}

absl::StatusOr<int> RunSubmit(const ParsedArgs& args, CliContext& ctx, Client& client) {
  HWNAS_ASSIGN_OR_RETURN(OutputFormat format, FormatOf(args));
  std::optional<std::string> path = args.Get("file");
  if (!path) return UsageError("submit needs the spec file: -f spec.yaml");
  HWNAS_ASSIGN_OR_RETURN(std::string spec, ctx.read_file(*path));
  if (spec.empty()) return UsageError(absl::StrCat("the spec file ", *path, " is empty"));
  // gRPC cannot carry it (protobuf strings are UTF-8): say why here.
  if (absl::Status s = CheckUtf8(spec); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("the spec file ", *path, ": ", s.message()));
  }
  // The server reads no data files, so a spec that cannot work on its data
  // (more stratified folds than a class has samples) is refused here when
  // this machine has hwnas-worker and the data set; otherwise the workers
  // refuse it before their first trial. The server judges the rest.
  if (absl::StatusOr<std::string> worker = FindHwnasProgram("hwnas-worker", ctx.env); worker.ok()) {
    std::optional<std::string> data_dir = args.Get("data-dir");
    if (!data_dir) data_dir = FindSharedDataDir(ctx.env);
    absl::Status fits = CheckDataFirst(*worker, *path, spec, data_dir);
    if (fits.code() == absl::StatusCode::kOutOfRange) {
      return absl::InvalidArgumentError(fits.message());
    }
    if (fits.code() == absl::StatusCode::kNotFound) {
      *ctx.err << "note: the data set is not on this machine; the workers check that the spec "
                  "fits it before their first trial\n";
    }
  }
  absl::StatusOr<SearchRecord> search = client.SubmitSearch(spec, ctx.new_idempotency_key());
  if (!search.ok()) {
    if (search.status().code() == absl::StatusCode::kInvalidArgument) {
      return absl::InvalidArgumentError(
          absl::StrCat("the server rejected the spec ", *path, ":\n  ", search.status().message()));
    }
    return search.status();
  }
  if (format == OutputFormat::kTable) {
    *ctx.out << search->id << "\n" << std::flush;
    *ctx.err << "submitted search " << search->id
             << (search->name.empty() ? "" : absl::StrCat(" (", search->name, ")")) << ": "
             << search->space << " space, budget " << search->budget << " trials\n";
  } else {
    *ctx.out << FormatSearchDetail(*search, format) << std::flush;
  }
  if (args.Has("watch")) return WatchUntilDone(search->id, ctx, client);
  return kExitOk;
}

absl::StatusOr<int> RunList(const ParsedArgs& args, CliContext& ctx, Client& client) {
  HWNAS_ASSIGN_OR_RETURN(OutputFormat format, FormatOf(args));
  ListSearchesQuery query;
  query.all_owners = args.Has("all");
  if (auto s = args.Get("state")) {
    auto state = ParseSearchState(absl::AsciiStrToUpper(*s));
    if (!state.ok()) return UsageError(absl::StrCat("--state: ", state.status().message()));
    query.state = *state;
  }
  if (auto n = args.Get("limit")) {
    HWNAS_ASSIGN_OR_RETURN(query.limit, ParsePositiveInt(*n, "--limit"));
  }
  HWNAS_ASSIGN_OR_RETURN(std::vector<SearchRecord> searches, client.ListSearches(query));
  *ctx.out << FormatSearchList(searches, format);
  return kExitOk;
}

absl::StatusOr<int> RunStatus(const ParsedArgs& args, CliContext& ctx, Client& client) {
  HWNAS_ASSIGN_OR_RETURN(OutputFormat format, FormatOf(args));
  HWNAS_ASSIGN_OR_RETURN(int64_t id, SearchId(args));
  absl::StatusOr<SearchRecord> search = client.GetSearch(id);
  if (!search.ok()) return InSearch(search.status(), id);
  std::vector<NearMiss> least_violating;
  if (!search->best_trial && search->counts.infeasible > 0) {
    // Nothing feasible yet: say how close the search came instead of "none".
    absl::StatusOr<ParetoFront> front = client.GetParetoFront(id, {});
    if (front.ok() && front->trials.empty()) least_violating = std::move(front->least_violating);
  }
  *ctx.out << FormatSearchDetail(*search, format, least_violating);
  if (format == OutputFormat::kTable && ReadSpecInfo(search->spec_yaml).dnas) {
    // The supernet job is the search's first trial; its epochs are stored
    // as the job's learning curve.
    absl::StatusOr<TrialRecord> job = client.GetTrial(id, 1);
    if (job.ok() && job->origin == TrialOrigin::kDnasJob) *ctx.out << FormatDnasJobLine(*job);
  }
  return kExitOk;
}

absl::StatusOr<int> RunCancel(const ParsedArgs& args, CliContext& ctx, Client& client) {
  HWNAS_ASSIGN_OR_RETURN(OutputFormat format, FormatOf(args));
  HWNAS_ASSIGN_OR_RETURN(int64_t id, SearchId(args));
  // The state before, so that cancelling a cancelled search does not say it
  // was cancelled now.
  absl::StatusOr<SearchRecord> before = client.GetSearch(id);
  if (!before.ok()) return InSearch(before.status(), id);
  absl::StatusOr<SearchRecord> search = client.CancelSearch(id);
  if (!search.ok()) return InSearch(search.status(), id);
  if (format == OutputFormat::kTable) {
    if (before->state == SearchState::kRunning && search->state == SearchState::kCancelled) {
      *ctx.out << "search " << id << " cancelled\n";
    } else {
      *ctx.out << "search " << id << " had already ended: " << SearchStateName(before->state)
               << "\n";
    }
  } else {
    *ctx.out << FormatSearchDetail(*search, format);
  }
  return kExitOk;
}

absl::StatusOr<int> RunWatch(const ParsedArgs& args, CliContext& ctx, Client& client) {
  HWNAS_ASSIGN_OR_RETURN(int64_t id, SearchId(args));
  if (auto o = args.Get("output"); o && *o != "table") {
    return UsageError("watch prints progress only; use 'hwnas status ID -o json' for data");
  }
  return WatchUntilDone(id, ctx, client);
}

absl::StatusOr<int> RunTrials(const ParsedArgs& args, CliContext& ctx, Client& client) {
  HWNAS_ASSIGN_OR_RETURN(OutputFormat format, FormatOf(args));
  HWNAS_ASSIGN_OR_RETURN(int64_t id, SearchId(args));
  ListTrialsQuery query;
  HWNAS_ASSIGN_OR_RETURN(query.state, TrialStateFlag(args));
  int64_t top = 0;
  if (auto n = args.Get("top")) {
    HWNAS_ASSIGN_OR_RETURN(top, ParsePositiveInt(*n, "--top"));
  }
  const std::string sort = args.Get("sort").value_or("number");
  const bool reverse = args.Has("reverse");
  if (sort != "number" && sort != "reward" && !IsKnownMetricName(sort)) {
    return UsageError(absl::StrCat("--sort: unknown metric '", sort,
                                   "' (number, reward, accuracy, latency_ms, params, macs, "
                                   "peak_memory_bytes, flash_bytes, or name@target)"));
  }
  bool server_sorted = !reverse;
  if (sort == "number")
    query.order = TrialOrder::kNumber;
  else if (sort == "reward")
    query.order = TrialOrder::kRewardDesc;
  else if (sort == "accuracy")
    query.order = TrialOrder::kAccuracyDesc;
  else if (sort == "latency_ms")
    query.order = TrialOrder::kLatencyAsc;
  else
    server_sorted = false;
  if (server_sorted) query.limit = top;

  absl::StatusOr<SearchRecord> search = client.GetSearch(id);
  if (!search.ok()) return InSearch(search.status(), id);
  HWNAS_ASSIGN_OR_RETURN(std::vector<TrialRecord> trials, client.ListTrials(id, query));
  if (!server_sorted) {
    const bool desc = BiggerIsBetter(sort) != reverse;
    std::stable_sort(trials.begin(), trials.end(), [&](const TrialRecord& a, const TrialRecord& b) {
      std::optional<double> va = TrialMetric(a, sort), vb = TrialMetric(b, sort);
      if (va && vb) {
        if (*va != *vb) return desc ? *va > *vb : *va < *vb;
        return a.number < b.number;
      }
      return va.has_value() && !vb.has_value();  // Trials without the metric go last.
    });
    if (top > 0 && static_cast<int64_t>(trials.size()) > top) trials.resize(top);
  }
  const std::vector<std::string> spec_metrics = ReadSpecInfo(search->spec_yaml).CostMetrics();
  std::vector<std::string> extra = spec_metrics;
  if (sort != "number" && sort != "reward") extra.push_back(sort);
  *ctx.out << FormatTrialList(trials, TrialMetricColumns(trials, extra), format);
  return kExitOk;
}

absl::StatusOr<int> RunPareto(const ParsedArgs& args, CliContext& ctx, Client& client) {
  HWNAS_ASSIGN_OR_RETURN(OutputFormat format, FormatOf(args));
  HWNAS_ASSIGN_OR_RETURN(int64_t id, SearchId(args));
  const std::string y = args.Get("y").value_or("accuracy");
  std::optional<std::string> x = args.Get("x");
  for (const std::string& m : {x.value_or("accuracy"), y}) {
    if (m != "reward" && !IsKnownMetricName(m)) {
      return UsageError(absl::StrCat("unknown metric '", m, "'"));
    }
  }
  // Ask for the front over the chosen axes when they are costs; otherwise
  // the search's own constrained metrics.
  std::vector<std::string> metrics;
  for (const std::string& m : {x.value_or(""), y}) {
    if (!m.empty() && m != "accuracy" && m != "reward" &&
        std::find(metrics.begin(), metrics.end(), m) == metrics.end()) {
      metrics.push_back(m);
    }
  }
  absl::StatusOr<ParetoFront> front = client.GetParetoFront(id, metrics);
  if (!front.ok()) return InSearch(front.status(), id);
  *ctx.out << FormatPareto(*front, format);
  if (format != OutputFormat::kTable) return kExitOk;

  const std::string x_metric =
      x.value_or(front->metrics.empty() ? std::string("latency_ms") : front->metrics[0]);
  HWNAS_ASSIGN_OR_RETURN(std::vector<TrialRecord> all, client.ListTrials(id, ListTrialsQuery()));
  std::vector<PlotPoint> points;
  auto add = [&](const TrialRecord& t, char marker) {
    std::optional<double> px = TrialMetric(t, x_metric), py = TrialMetric(t, y);
    if (px && py) points.push_back({*px, *py, marker});
  };
  for (const TrialRecord& t : all) {
    if (t.state == TrialState::kSucceeded) add(t, '.');
    if (t.state == TrialState::kInfeasible) add(t, 'x');
  }
  for (const TrialRecord& t : front->trials) add(t, '*');
  TerminalPlotOptions options;
  options.x_label = x_metric;
  options.y_label = y;
  options.legend = "* Pareto front   . other trials   x infeasible";
  if (ctx.terminal_width > 0) options.width = std::clamp(ctx.terminal_width - 14, 30, 100);
  *ctx.out << "\n" << RenderScatter(points, options);
  return kExitOk;
}

absl::StatusOr<int> RunTrial(const ParsedArgs& args, CliContext& ctx, Client& client) {
  HWNAS_ASSIGN_OR_RETURN(OutputFormat format, FormatOf(args));
  HWNAS_ASSIGN_OR_RETURN(int64_t id, SearchId(args));
  HWNAS_ASSIGN_OR_RETURN(int64_t number, ParsePositiveInt(args.positionals.at(1), "trial N"));
  absl::StatusOr<TrialRecord> trial = client.GetTrial(id, number);
  if (!trial.ok()) return InTrial(trial.status(), id, number);
  *ctx.out << FormatTrialDetail(*trial, format);
  return kExitOk;
}

absl::StatusOr<int> RunReport(const ParsedArgs& args, CliContext& ctx, Client& client) {
  HWNAS_ASSIGN_OR_RETURN(int64_t id, SearchId(args));
  ReportInput input;
  if (auto n = args.Get("top")) {
    HWNAS_ASSIGN_OR_RETURN(int64_t top, ParsePositiveInt(*n, "--top"));
    input.top_n = static_cast<int>(std::min<int64_t>(top, 1000));
  }
  const std::string plot = args.Get("plot").value_or("pareto");
  if (plot != "reward" && plot != "pareto" && !absl::StartsWith(plot, "pareto:")) {
    return UsageError(absl::StrCat("--plot: unknown plot '", plot,
                                   "' (expected pareto, pareto:METRIC or reward)"));
  }
  absl::StatusOr<SearchRecord> search = client.GetSearch(id);
  if (!search.ok()) return InSearch(search.status(), id);
  input.search = *std::move(search);
  HWNAS_ASSIGN_OR_RETURN(input.trials, client.ListTrials(id, ListTrialsQuery()));
  if (!input.search.best_trial && input.search.counts.infeasible > 0) {
    absl::StatusOr<ParetoFront> front = client.GetParetoFront(id, {});
    if (front.ok() && front->trials.empty()) {
      input.least_violating = std::move(front->least_violating);
    }
  }
  input.generated_at = ctx.now();
  if (auto svg_path = args.Get("svg")) {
    HWNAS_ASSIGN_OR_RETURN(std::string svg, RenderPlotSvg(input, plot));
    HWNAS_RETURN_IF_ERROR(ctx.write_file(*svg_path, svg));
    *ctx.err << "wrote " << *svg_path << "\n";
    if (!args.Get("output")) return kExitOk;  // --svg alone: just the plot.
  }
  const std::string path = args.Get("output").value_or(absl::StrCat("report-", id, ".html"));
  HWNAS_RETURN_IF_ERROR(ctx.write_file(path, RenderHtmlReport(input)));
  if (path != "-") {
    *ctx.err << "wrote " << path << " (" << input.trials.size() << " trials)\n";
  }
  return kExitOk;
}

namespace {

// The new trials, as `hwnas trials` would list them (JSON/CSV: the same
// formats), with a line on stderr saying what happened.
int PrintAdded(const std::vector<TrialRecord>& added, absl::string_view verb, int64_t id,
               OutputFormat format, CliContext& ctx) {
  *ctx.out << FormatTrialList(added, TrialMetricColumns(added, {}), format);
  *ctx.err << verb << " " << added.size() << (added.size() == 1 ? " trial" : " trials")
           << " of search " << id << "\n";
  return kExitOk;
}

}  // namespace

absl::StatusOr<int> RunEnqueue(const ParsedArgs& args, CliContext& ctx, Client& client) {
  HWNAS_ASSIGN_OR_RETURN(OutputFormat format, FormatOf(args));
  HWNAS_ASSIGN_OR_RETURN(int64_t id, SearchId(args));
  std::vector<GuidedRow> rows;
  if (auto it = args.repeated.find("arch"); it != args.repeated.end()) {
    for (const std::string& a : it->second) rows.push_back({.architecture = a});
  }
  if (std::optional<std::string> path = args.Get("file")) {
    HWNAS_ASSIGN_OR_RETURN(std::string text, ctx.read_file(*path));
    std::vector<GuidedRow> listed = ParseArchitectureList(text);
    if (listed.empty()) return UsageError(absl::StrCat(*path, " lists no architectures"));
    // After the --arch ones, which errors name by position; these by line.
    rows.insert(rows.end(), listed.begin(), listed.end());
  }
  if (rows.empty()) return UsageError("enqueue needs architectures: --arch ARCH or --file FILE");
  absl::StatusOr<std::vector<TrialRecord>> added = client.EnqueueTrials(id, rows);
  if (!added.ok()) return InSearch(added.status(), id);
  return PrintAdded(*added, "enqueued", id, format, ctx);
}

absl::StatusOr<int> RunImport(const ParsedArgs& args, CliContext& ctx, Client& client) {
  HWNAS_ASSIGN_OR_RETURN(OutputFormat format, FormatOf(args));
  HWNAS_ASSIGN_OR_RETURN(int64_t id, SearchId(args));
  const std::string& path = args.positionals.at(1);
  HWNAS_ASSIGN_OR_RETURN(std::string text, ctx.read_file(path));
  // Checked here first, so a bad file never reaches the server.
  HWNAS_ASSIGN_OR_RETURN(std::vector<GuidedRow> rows, ParseImportFile(text, path));
  absl::StatusOr<std::vector<TrialRecord>> added = client.ImportTrials(id, rows);
  if (!added.ok()) {
    if (added.status().code() == absl::StatusCode::kInvalidArgument) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", added.status().message()));
    }
    return InSearch(added.status(), id);
  }
  return PrintAdded(*added, "imported", id, format, ctx);
}

}  // namespace hwnas::cli

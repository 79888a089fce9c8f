#include "cli/format.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/errors.h"
#include "cli/terminal_plot.h"

namespace hwnas::cli {
namespace {

using nlohmann::json;

constexpr size_t kTableArchWidth = 60;

bool IsBytesMetric(absl::string_view metric) {
  return absl::StrContains(metric, "bytes") || absl::StartsWith(metric, "sram") ||
         absl::StartsWith(metric, "flash");
}

bool IsCountMetric(absl::string_view metric) {
  return absl::StartsWith(metric, "params") || absl::StartsWith(metric, "macs");
}

std::string Humanize(double v, const char* const* suffixes, int n, double base) {
  int i = 0;
  double a = std::fabs(v);
  while (a >= base && i + 1 < n) {
    a /= base;
    v /= base;
    ++i;
  }
  if (i == 0) return absl::StrFormat("%.0f%s", v, suffixes[0]);
  return absl::StrFormat(a >= 100 ? "%.0f%s" : (a >= 10 ? "%.1f%s" : "%.2f%s"), v, suffixes[i]);
}

bool IsUtf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Characters on screen: UTF-8 continuation bytes take no column (wide East
// Asian characters are counted as one; names rarely have them).
size_t DisplayWidth(absl::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), std::not_fn(IsUtf8Continuation)));
}

// At most `width` characters, never cutting one in half.
std::string Truncate(absl::string_view s, size_t width) {
  if (DisplayWidth(s) <= width) return std::string(s);
  size_t end = 0;
  for (size_t kept = 0; kept + 3 < width && end < s.size(); ++kept) {
    ++end;
    while (end < s.size() && IsUtf8Continuation(s[end])) ++end;
  }
  return absl::StrCat(s.substr(0, end), "...");
}

bool LooksNumeric(absl::string_view cell) {
  if (cell.empty() || cell == "-") return true;
  char c = cell[0];
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.';
}

json OptionalTime(const std::optional<absl::Time>& t) {
  if (!t) return nullptr;
  return FormatTimeRfc3339(*t);
}

std::optional<double> TrialMetric(const TrialRecord& t, absl::string_view metric) {
  if (metric == "reward") return t.reward;
  if (!t.result) return std::nullopt;
  return MetricValue(*t.result, metric);
}

std::string RewardCell(const TrialRecord& t) { return FormatMetric("reward", t.reward); }

std::vector<std::string> EstimateKeys(const std::vector<TrialRecord>& trials) {
  std::set<std::string> keys;
  for (const TrialRecord& t : trials) {
    if (!t.result) continue;
    for (const auto& [k, v] : t.result->estimates) keys.insert(k);
  }
  return {keys.begin(), keys.end()};
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name) {
  if (name == "table") return OutputFormat::kTable;
  if (name == "json") return OutputFormat::kJson;
  if (name == "csv") return OutputFormat::kCsv;
  return UsageError(
      absl::StrCat("unknown output format '", name, "' (expected table, json or csv)"));
}

std::string FormatMetric(absl::string_view metric, std::optional<double> value) {
  if (!value) return "-";
  double v = *value;
  if (!std::isfinite(v)) return absl::StrCat(v);
  if (IsBytesMetric(metric)) {
    static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    return Humanize(v, kUnits, 5, 1024);
  }
  if (IsCountMetric(metric)) {
    static const char* const kUnits[] = {"", "k", "M", "G", "T"};
    return Humanize(v, kUnits, 5, 1000);
  }
  if (metric == "accuracy" || metric == "reward" || metric == "loss" ||
      absl::StrContains(metric, "accuracy")) {
    return absl::StrFormat("%.4f", v);
  }
  if (metric == "train_seconds") return absl::StrFormat("%.1f", v);
  return absl::StrFormat(std::fabs(v) >= 1000 ? "%.0f" : "%.2f", v);
}

std::string FormatAccuracy(const TrialRecord& t) {
  if (!t.result) return "-";
  const TrialResult& r = *t.result;
  if (r.fold_accuracy.empty()) return FormatMetric("accuracy", r.accuracy);
  return absl::StrFormat("%.4f \u00b1%.4f", r.accuracy, r.accuracy_se);
}

bool WithinNoiseOf(const TrialRecord& t, const TrialRecord& best) {
  if (!t.result || !best.result) return false;
  if (t.result->fold_accuracy.empty() || best.result->fold_accuracy.empty()) return false;
  const double noise = std::sqrt(t.result->accuracy_se * t.result->accuracy_se +
                                 best.result->accuracy_se * best.result->accuracy_se);
  return std::fabs(best.result->accuracy - t.result->accuracy) <= noise;
}

std::string FormatRaw(double value) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrFormat("%.0f", value);
  }
  for (int precision = 6; precision <= 17; ++precision) {
    std::string s = absl::StrFormat("%.*g", precision, value);
    double back = 0;
    if (absl::SimpleAtod(s, &back) && back == value) return s;
  }
  return absl::StrFormat("%.17g", value);
}

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string FormatTimeRfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

std::string FormatElapsed(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  int64_t s = absl::ToInt64Seconds(d);
  if (s < 60) return absl::StrFormat("%ds", s);
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, (s % 86400) / 3600);
}

std::string CsvField(absl::string_view field) {
  if (field.find_first_of(",\"\r\n") == absl::string_view::npos) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string TextTable::Render() const {
  const size_t n = header_.size();
  std::vector<size_t> width(n, 0);
  std::vector<bool> numeric(n, true);
  for (size_t c = 0; c < n; ++c) width[c] = DisplayWidth(header_[c]);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < n && c < row.size(); ++c) {
      width[c] = std::max(width[c], DisplayWidth(row[c]));
      if (!LooksNumeric(row[c])) numeric[c] = false;
    }
  }
  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < n; ++c) {
      const std::string cell = c < row.size() ? row[c] : "";
      const std::string pad(width[c] - DisplayWidth(cell), ' ');
      if (c > 0) line += "  ";
      if (numeric[c]) {
        absl::StrAppend(&line, pad, cell);
      } else {
        absl::StrAppend(&line, cell, pad);
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  };
  emit(header_);
  for (const auto& row : rows_) emit(row);
  return out;
}

int64_t FinishedTrials(const SearchRecord& s) { return s.counts.finished(); }

json SearchToJson(const SearchRecord& s) {
  json j;
  j["id"] = s.id;
  j["name"] = s.name;
  j["owner"] = s.owner;
  j["state"] = std::string(SearchStateName(s.state));
  j["space"] = s.space;
  j["budget"] = s.budget;
  j["weight"] = s.weight;
  j["trials"] = {{"total", s.counts.total},           {"finished", s.counts.finished()},
                 {"pending", s.counts.pending},       {"running", s.counts.running},
                 {"succeeded", s.counts.succeeded},   {"failed", s.counts.failed},
                 {"infeasible", s.counts.infeasible}, {"early_stopped", s.counts.early_stopped}};
  j["best_trial"] = s.best_trial ? TrialToJson(*s.best_trial) : json(nullptr);
  j["error"] = s.error;
  j["waiting"] = s.waiting.empty() ? json(nullptr) : json(s.waiting);
  j["warm_start_search_id"] =
      s.warm_start_search_id == 0 ? json(nullptr) : json(s.warm_start_search_id);
  j["created_at"] = FormatTimeRfc3339(s.created_at);
  j["finished_at"] = OptionalTime(s.finished_at);
  j["spec_yaml"] = s.spec_yaml;
  return j;
}

json TrialToJson(const TrialRecord& t) {
  json j;
  j["search_id"] = t.search_id;
  j["number"] = t.number;
  j["state"] = std::string(TrialStateName(t.state));
  j["attempts"] = t.attempts;
  j["origin"] = std::string(TrialOriginName(t.origin));
  // Multi-fidelity: the rung of the current or last lease and its epochs
  // (null: no fidelity section, the spec's training.epochs).
  j["rung"] = t.rung;
  j["epoch_target"] = t.epoch_target > 0 ? json(t.epoch_target) : json(nullptr);
  j["bracket"] = t.bracket;
  // Screening (spec `screen:`): the stage (null: not screened) and score.
  j["screen"] =
      t.screen == ScreenStage::kNone ? json(nullptr) : json(std::string(ScreenStageName(t.screen)));
  j["screen_score"] = t.screen_score ? json(*t.screen_score) : json(nullptr);
  j["worker_id"] = t.worker_id;
  j["reward"] = t.reward ? json(*t.reward) : json(nullptr);
  j["architecture"] = {{"space", t.architecture.space},
                       {"space_version", t.architecture.space_version},
                       {"tokens", t.architecture.tokens},
                       {"readable", t.architecture.readable}};
  if (t.result) {
    const TrialResult& r = *t.result;
    json result;
    result["accuracy"] = r.accuracy;
    if (!r.fold_accuracy.empty()) {
      result["accuracy_se"] = r.accuracy_se;
      result["fold_accuracy"] = r.fold_accuracy;
    }
    if (r.balanced_accuracy) result["balanced_accuracy"] = *r.balanced_accuracy;
    if (r.macro_f1) result["macro_f1"] = *r.macro_f1;
    result["loss"] = r.loss;
    if (r.latency) {
      result["latency"] = {{"median_ms", r.latency->median_ms},
                           {"p90_ms", r.latency->p90_ms},
                           {"runs", r.latency->runs},
                           {"threads", r.latency->threads},
                           {"device", r.latency->device}};
    } else {
      result["latency"] = nullptr;
    }
    // null where MetricValue says the cost was not computed, like an absent
    // latency.
    auto cost = [&r](absl::string_view metric) {
      std::optional<double> v = MetricValue(r, metric);
      return v ? json(static_cast<int64_t>(*v)) : json(nullptr);
    };
    result["costs"] = {{"params", cost("params")},
                       {"macs", cost("macs")},
                       {"peak_activation_bytes", cost("peak_memory_bytes")},
                       {"flash_bytes", cost("flash_bytes")}};
    result["estimates"] = json::object();
    for (const auto& [k, v] : r.estimates) result["estimates"][k] = v;
    result["train_seconds"] = r.train_seconds;
    result["epochs"] = r.epochs;
    result["error"] = r.error;
    j["result"] = std::move(result);
  } else {
    j["result"] = nullptr;
  }
  json epochs = json::array();
  for (const EpochMetrics& e : t.epochs) {
    json values = json::object();
    for (const auto& [k, v] : e.values) values[k] = v;
    epochs.push_back({{"epoch", e.epoch}, {"values", values}});
  }
  j["epochs"] = std::move(epochs);
  j["failure_reason"] = t.failure_reason;
  j["created_at"] = FormatTimeRfc3339(t.created_at);
  j["started_at"] = OptionalTime(t.started_at);
  j["finished_at"] = OptionalTime(t.finished_at);
  return j;
}

std::string FormatSearchList(const std::vector<SearchRecord>& searches, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson: {
      json j = json::array();
      for (const SearchRecord& s : searches) j.push_back(SearchToJson(s));
      return j.dump(2) + "\n";
    }
    case OutputFormat::kCsv: {
      std::string out =
          "id,name,owner,state,space,budget,finished,running,pending,succeeded,failed,infeasible,"
          "early_stopped,best_trial,best_reward,best_accuracy,created_at,finished_at\n";
      for (const SearchRecord& s : searches) {
        const TrialRecord* best = s.best_trial ? &*s.best_trial : nullptr;
        std::vector<std::string> row = {
            absl::StrCat(s.id),
            CsvField(s.name),
            CsvField(s.owner),
            std::string(SearchStateName(s.state)),
            CsvField(s.space),
            absl::StrCat(s.budget),
            absl::StrCat(s.counts.finished()),
            absl::StrCat(s.counts.running),
            absl::StrCat(s.counts.pending),
            absl::StrCat(s.counts.succeeded),
            absl::StrCat(s.counts.failed),
            absl::StrCat(s.counts.infeasible),
            absl::StrCat(s.counts.early_stopped),
            best ? absl::StrCat(best->number) : "",
            best && best->reward ? FormatRaw(*best->reward) : "",
            best && best->result ? FormatRaw(best->result->accuracy) : "",
            FormatTimeRfc3339(s.created_at),
            s.finished_at ? FormatTimeRfc3339(*s.finished_at) : ""};
        absl::StrAppend(&out, absl::StrJoin(row, ","), "\n");
      }
      return out;
    }
    case OutputFormat::kTable:
      break;
  }
  if (searches.empty()) return "No searches.\n";
  TextTable table({"ID", "NAME", "OWNER", "STATE", "SPACE", "PROGRESS", "RUNNING", "FAILED",
                   "INFEASIBLE", "BEST", "CREATED"});
  for (const SearchRecord& s : searches) {
    std::optional<double> best;
    if (s.best_trial) best = s.best_trial->reward;
    table.AddRow({absl::StrCat(s.id), Truncate(s.name, 32), s.owner,
                  std::string(SearchStateName(s.state)), s.space,
                  absl::StrCat(s.counts.finished(), "/", s.budget), absl::StrCat(s.counts.running),
                  absl::StrCat(s.counts.failed), absl::StrCat(s.counts.infeasible),
                  FormatMetric("reward", best), FormatUtc(s.created_at)});
  }
  return table.Render();
}

std::string FormatDnasJobLine(const TrialRecord& job) {
  std::string out = absl::StrCat("Supernet:    trial ", job.number, " ", TrialStateName(job.state));
  if (job.epochs.empty()) {
    absl::StrAppend(&out, ", no epoch stored yet");
  } else {
    const EpochMetrics& last = job.epochs.back();
    auto value = [&last](const char* key) -> std::optional<double> {
      auto it = last.values.find(key);
      if (it == last.values.end()) return std::nullopt;
      return it->second;
    };
    absl::StrAppend(&out, ", epoch ", last.epoch);
    if (auto total = value("epochs")) absl::StrAppend(&out, "/", static_cast<int>(*total));
    std::vector<std::string> parts;
    if (auto v = value("train_loss")) parts.push_back(absl::StrFormat("loss %.4f", *v));
    if (auto v = value("expected_latency_ms")) {
      parts.push_back(absl::StrFormat("expected latency %.3f ms", *v));
    }
    if (auto v = value("tau")) parts.push_back(absl::StrFormat("tau %.3f", *v));
    if (auto v = value("top_val_accuracy")) {
      parts.push_back(absl::StrFormat("most likely network's val accuracy %.4f", *v));
    }
    if (!parts.empty()) absl::StrAppend(&out, " (", absl::StrJoin(parts, ", "), ")");
  }
  if (job.attempts > 1) absl::StrAppend(&out, ", attempt ", job.attempts);
  return out + "\n";
}

std::string FormatSearchDetail(const SearchRecord& s, OutputFormat format,
                               const std::vector<NearMiss>& least_violating) {
  // JSON: one object (`hwnas status 12 -o json | jq .trials.finished`);
  // CSV: the list's header and one row.
  if (format == OutputFormat::kJson) {
    json j = SearchToJson(s);
    if (!least_violating.empty()) j["least_violating"] = LeastViolatingToJson(least_violating);
    return j.dump(2) + "\n";
  }
  if (format != OutputFormat::kTable) return FormatSearchList({s}, format);
  std::string out;
  absl::StrAppend(&out, "Search:      ", s.id,
                  s.name.empty() ? "" : absl::StrCat(" (", s.name, ")"), "\n");
  absl::StrAppend(&out, "Owner:       ", s.owner, "\n");
  absl::StrAppend(&out, "State:       ", SearchStateName(s.state), "\n");
  if (!s.error.empty()) absl::StrAppend(&out, "Error:       ", s.error, "\n");
  if (!s.waiting.empty()) absl::StrAppend(&out, "Waiting:     ", s.waiting, "\n");
  absl::StrAppend(&out, "Space:       ", s.space, "\n");
  if (s.warm_start_search_id != 0) {
    absl::StrAppend(&out, "Warm start:  from the finished trials of search ",
                    s.warm_start_search_id, "\n");
  }
  absl::StrAppend(&out, "Budget:      ", s.budget, " trials (weight ", FormatRaw(s.weight), ")\n");
  absl::StrAppend(&out, "Progress:    ", s.counts.finished(), "/", s.budget,
                  " finished: ", s.counts.succeeded, " succeeded, ", s.counts.failed, " failed, ",
                  s.counts.infeasible, " infeasible, ", s.counts.early_stopped, " early stopped; ",
                  s.counts.running, " running, ", s.counts.pending, " pending\n");
  absl::StrAppend(&out, "Created:     ", FormatUtc(s.created_at), "\n");
  if (s.finished_at) {
    absl::StrAppend(&out, "Finished:    ", FormatUtc(*s.finished_at), " (after ",
                    FormatElapsed(*s.finished_at - s.created_at), ")\n");
  }
  if (s.best_trial) {
    const TrialRecord& b = *s.best_trial;
    absl::StrAppend(&out, "Best trial:  ", b.number, "  reward ", FormatMetric("reward", b.reward));
    if (b.epoch_target > 0) {
      // Multi-fidelity: the rung the result is from, and its epochs.
      absl::StrAppend(&out, "  rung ", b.rung, " (", b.result ? b.result->epochs : 0, " epochs)");
    }
    if (b.result) {
      absl::StrAppend(&out, "  accuracy ", FormatMetric("accuracy", b.result->accuracy));
      for (absl::string_view m : {"latency_ms", "params", "peak_memory_bytes", "flash_bytes"}) {
        if (auto v = MetricValue(*b.result, m)) {
          absl::StrAppend(&out, "  ", m, " ", FormatMetric(m, v));
        }
      }
    }
    absl::StrAppend(&out, "\n");
    if (!b.architecture.readable.empty()) {
      absl::StrAppend(&out, "             ", b.architecture.readable, "\n");
    }
  } else if (!least_violating.empty()) {
    absl::StrAppend(&out,
                    "Best trial:  none feasible; the least-violating trials and what they miss:\n",
                    FormatLeastViolating(least_violating));
  } else {
    absl::StrAppend(&out, "Best trial:  none yet\n");
  }
  return out;
}

std::string DescribeMisses(const NearMiss& near) {
  if (near.misses.empty()) return near.trial.failure_reason;
  std::vector<std::string> parts;
  for (const LimitMiss& m : near.misses) {
    parts.push_back(absl::StrCat(m.metric, " ", FormatMetric(m.metric, m.value), " > ",
                                 FormatMetric(m.metric, m.limit),
                                 absl::StrFormat(" (+%.3g%%)", m.excess * 100)));
  }
  return absl::StrJoin(parts, "; ");
}

std::string FormatLeastViolating(const std::vector<NearMiss>& least_violating) {
  TextTable table({"RANK", "#", "ACCURACY", "MISSES", "ARCHITECTURE"});
  int rank = 0;
  for (const NearMiss& n : least_violating) {
    table.AddRow({absl::StrCat(++rank), absl::StrCat(n.trial.number), FormatAccuracy(n.trial),
                  DescribeMisses(n), Truncate(n.trial.architecture.readable, kTableArchWidth)});
  }
  return table.Render();
}

json LeastViolatingToJson(const std::vector<NearMiss>& least_violating) {
  json out = json::array();
  for (const NearMiss& n : least_violating) {
    json misses = json::array();
    for (const LimitMiss& m : n.misses) {
      misses.push_back(
          {{"metric", m.metric}, {"value", m.value}, {"limit", m.limit}, {"excess", m.excess}});
    }
    out.push_back(
        {{"trial", TrialToJson(n.trial)},
         {"misses", std::move(misses)},
         {"total_excess", std::isfinite(n.total_excess) ? json(n.total_excess) : json(nullptr)}});
  }
  return out;
}

std::vector<std::string> TrialMetricColumns(const std::vector<TrialRecord>& trials,
                                            const std::vector<std::string>& extra) {
  std::vector<std::string> candidates = {"latency_ms", "params", "macs", "peak_memory_bytes",
                                         "flash_bytes"};
  for (const std::string& m : extra) {
    if (m != "accuracy" && m != "reward" &&
        std::find(candidates.begin(), candidates.end(), m) == candidates.end()) {
      candidates.push_back(m);
    }
  }
  std::vector<std::string> out;
  for (const std::string& m : candidates) {
    bool any = std::any_of(trials.begin(), trials.end(), [&](const TrialRecord& t) {
      return t.result && MetricValue(*t.result, m).has_value();
    });
    if (any) out.push_back(m);
  }
  return out;
}

// "passed 3.2e+04", "out 12.5", "pending" or "-" (not screened).
std::string ScreenCell(const TrialRecord& t) {
  if (t.screen == ScreenStage::kNone) return "-";
  std::string stage =
      t.screen == ScreenStage::kOut ? "out" : std::string(ScreenStageName(t.screen));
  if (t.screen_score) absl::StrAppend(&stage, " ", absl::StrFormat("%.4g", *t.screen_score));
  return stage;
}

std::string FormatTrialList(const std::vector<TrialRecord>& trials,
                            const std::vector<std::string>& metrics, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson: {
      json j = json::array();
      for (const TrialRecord& t : trials) j.push_back(TrialToJson(t));
      return j.dump(2) + "\n";
    }
    case OutputFormat::kCsv: {
      std::vector<std::string> columns = {"number", "state",    "attempts",
                                          "reward", "accuracy", "loss"};
      std::vector<std::string> metric_columns = {"latency_ms", "latency_p90_ms",    "params",
                                                 "macs",       "peak_memory_bytes", "flash_bytes"};
      for (const std::string& m : metrics) {
        if (std::find(metric_columns.begin(), metric_columns.end(), m) == metric_columns.end() &&
            m != "accuracy" && m != "reward" && m != "loss") {
          metric_columns.push_back(m);
        }
      }
      // Cross-validation and class-balance scores, when any trial has them.
      for (const char* m : {"accuracy_se", "balanced_accuracy", "macro_f1"}) {
        const bool any = std::any_of(trials.begin(), trials.end(), [m](const TrialRecord& t) {
          return t.result && MetricValue(*t.result, m).has_value();
        });
        if (any &&
            std::find(metric_columns.begin(), metric_columns.end(), m) == metric_columns.end()) {
          metric_columns.push_back(m);
        }
      }
      for (const std::string& k : EstimateKeys(trials)) {
        if (std::find(metric_columns.begin(), metric_columns.end(), k) == metric_columns.end()) {
          metric_columns.push_back(k);
        }
      }
      columns.insert(columns.end(), metric_columns.begin(), metric_columns.end());
      // Times last (RFC 3339, UTC; empty when not reached): scripts time a
      // search from them, e.g. best accuracy against wall-clock.
      for (const char* c :
           {"train_seconds", "epochs", "space", "architecture", "tokens", "failure_reason",
            "origin", "rung", "epoch_target", "created_at", "started_at", "finished_at"}) {
        columns.push_back(c);
      }
      std::string out;
      std::vector<std::string> header;
      for (const std::string& c : columns) header.push_back(CsvField(c));
      absl::StrAppend(&out, absl::StrJoin(header, ","), "\n");
      for (const TrialRecord& t : trials) {
        std::vector<std::string> row = {
            absl::StrCat(t.number), std::string(TrialStateName(t.state)), absl::StrCat(t.attempts),
            t.reward ? FormatRaw(*t.reward) : ""};
        auto metric = [&](absl::string_view m) {
          std::optional<double> v = TrialMetric(t, m);
          return v ? FormatRaw(*v) : std::string();
        };
        row.push_back(metric("accuracy"));
        row.push_back(metric("loss"));
        for (const std::string& m : metric_columns) row.push_back(metric(m));
        row.push_back(t.result ? FormatRaw(t.result->train_seconds) : "");
        row.push_back(t.result ? absl::StrCat(t.result->epochs) : "");
        row.push_back(CsvField(t.architecture.space));
        row.push_back(CsvField(t.architecture.readable));
        row.push_back(CsvField(absl::StrJoin(t.architecture.tokens, " ")));
        row.push_back(CsvField(t.failure_reason));
        row.push_back(std::string(TrialOriginName(t.origin)));
        row.push_back(absl::StrCat(t.rung));
        row.push_back(t.epoch_target > 0 ? absl::StrCat(t.epoch_target) : "");
        row.push_back(FormatTimeRfc3339(t.created_at));
        row.push_back(t.started_at ? FormatTimeRfc3339(*t.started_at) : "");
        row.push_back(t.finished_at ? FormatTimeRfc3339(*t.finished_at) : "");
        absl::StrAppend(&out, absl::StrJoin(row, ","), "\n");
      }
      return out;
    }
    case OutputFormat::kTable:
      break;
  }
  if (trials.empty()) return "No trials.\n";
  // The origin only when some trial was enqueued or imported by hand.
  const bool origins = std::any_of(trials.begin(), trials.end(), [](const TrialRecord& t) {
    return t.origin != TrialOrigin::kStrategy;
  });
  // The rung only for a multi-fidelity search.
  const bool rungs = std::any_of(trials.begin(), trials.end(),
                                 [](const TrialRecord& t) { return t.epoch_target > 0; });
  // The screen only for a screening search.
  const bool screens = std::any_of(trials.begin(), trials.end(), [](const TrialRecord& t) {
    return t.screen != ScreenStage::kNone;
  });
  std::vector<std::string> header = {"#", "STATE"};
  if (origins) header.push_back("ORIGIN");
  if (screens) header.push_back("SCREEN");
  if (rungs) header.push_back("RUNG");
  for (const char* h : {"REWARD", "ACCURACY"}) header.push_back(h);
  for (const std::string& m : metrics) header.push_back(absl::AsciiStrToUpper(m));
  header.push_back("ARCHITECTURE");
  TextTable table(header);
  for (const TrialRecord& t : trials) {
    std::vector<std::string> row = {absl::StrCat(t.number), std::string(TrialStateName(t.state))};
    if (origins) row.push_back(std::string(TrialOriginName(t.origin)));
    if (screens) row.push_back(ScreenCell(t));
    if (rungs) {
      row.push_back(t.epoch_target > 0 ? absl::StrCat(t.rung, " (", t.epoch_target, " ep)") : "-");
    }
    row.push_back(RewardCell(t));
    row.push_back(FormatAccuracy(t));
    for (const std::string& m : metrics) row.push_back(FormatMetric(m, TrialMetric(t, m)));
    // Why a trial failed matters more than its architecture: show it first.
    std::string arch = t.architecture.readable;
    if (!t.failure_reason.empty()) arch = absl::StrCat("(", t.failure_reason, ") ", arch);
    row.push_back(Truncate(arch, kTableArchWidth));
    table.AddRow(std::move(row));
  }
  return table.Render();
}

std::string FormatTrialDetail(const TrialRecord& t, OutputFormat format) {
  if (format == OutputFormat::kJson) return TrialToJson(t).dump(2) + "\n";
  if (format == OutputFormat::kCsv) {
    // One row per epoch: the curve, which is what a spreadsheet wants.
    std::set<std::string> keys;
    for (const EpochMetrics& e : t.epochs) {
      for (const auto& [k, v] : e.values) keys.insert(k);
    }
    std::vector<std::string> header = {"search_id", "number", "epoch"};
    for (const std::string& k : keys) header.push_back(CsvField(k));
    std::string out = absl::StrCat(absl::StrJoin(header, ","), "\n");
    for (const EpochMetrics& e : t.epochs) {
      std::vector<std::string> row = {absl::StrCat(t.search_id), absl::StrCat(t.number),
                                      absl::StrCat(e.epoch)};
      for (const std::string& k : keys) {
        auto it = e.values.find(k);
        row.push_back(it == e.values.end() ? "" : FormatRaw(it->second));
      }
      absl::StrAppend(&out, absl::StrJoin(row, ","), "\n");
    }
    return out;
  }
  std::string out;
  absl::StrAppend(&out, "Trial:         ", t.number, " of search ", t.search_id, "\n");
  absl::StrAppend(&out, "State:         ", TrialStateName(t.state), " (attempts ", t.attempts,
                  t.worker_id.empty() ? "" : absl::StrCat(", worker ", t.worker_id), ")\n");
  if (!t.failure_reason.empty()) absl::StrAppend(&out, "Reason:        ", t.failure_reason, "\n");
  if (t.origin != TrialOrigin::kStrategy) {
    absl::StrAppend(&out, "Origin:        ", TrialOriginName(t.origin),
                    t.origin == TrialOrigin::kImported ? " (evaluated elsewhere, never run here)"
                                                       : " (queued by its owner)",
                    "\n");
  }
  if (t.screen != ScreenStage::kNone) {
    absl::StrAppend(&out, "Screen:        ",
                    t.screen == ScreenStage::kPending ? "pending (scored by the proxy, not decided)"
                    : t.screen == ScreenStage::kPassed ? "passed: trained"
                                                       : "screened out: never trained",
                    t.screen_score ? absl::StrFormat(" (proxy score %.6g)", *t.screen_score) : "",
                    "\n");
  }
  if (t.epoch_target > 0) {
    absl::StrAppend(&out, "Rung:          ", t.rung, " (", t.epoch_target, " epochs",
                    t.bracket > 0 ? absl::StrCat(", bracket ", t.bracket) : "", "; trained ",
                    t.result ? absl::StrCat(t.result->epochs) : "0", ")\n");
  }
  absl::StrAppend(&out, "Space:         ", t.architecture.space, " v", t.architecture.space_version,
                  "\n");
  absl::StrAppend(&out, "Architecture:  ", t.architecture.readable, "\n");
  absl::StrAppend(&out, "Tokens:        ", absl::StrJoin(t.architecture.tokens, " "), "\n");
  absl::StrAppend(&out, "Reward:        ", FormatMetric("reward", t.reward), "\n");
  if (t.result) {
    const TrialResult& r = *t.result;
    absl::StrAppend(&out, "Accuracy:      ", FormatAccuracy(t), "\n");
    if (!r.fold_accuracy.empty()) {
      std::vector<std::string> folds;
      for (double a : r.fold_accuracy) folds.push_back(FormatMetric("accuracy", a));
      absl::StrAppend(&out, "Folds:         ", r.fold_accuracy.size(),
                      " (mean and standard error above): ", absl::StrJoin(folds, " "), "\n");
    }
    if (r.balanced_accuracy) {
      absl::StrAppend(&out, "Balanced acc.: ", FormatMetric("accuracy", r.balanced_accuracy), "\n");
    }
    if (r.macro_f1) {
      absl::StrAppend(&out, "Macro-F1:      ", FormatMetric("accuracy", r.macro_f1), "\n");
    }
    // What was not done for this trial (a table lookup trains nothing and
    // computes no costs; an infeasible one is never trained) is said so,
    // not shown as zeros.
    const bool trained = r.train_seconds > 0;
    if (trained || r.loss != 0) {
      absl::StrAppend(&out, "Loss:          ", FormatMetric("loss", r.loss), "\n");
    }
    if (r.latency) {
      absl::StrAppend(
          &out, "Latency:       median ", FormatMetric("latency_ms", r.latency->median_ms),
          " ms, p90 ", FormatMetric("latency_ms", r.latency->p90_ms), " ms (",
          r.latency->runs > 0
              ? absl::StrCat(r.latency->runs, r.latency->runs == 1 ? " run, " : " runs, ",
                             r.latency->threads,
                             r.latency->threads == 1 ? " thread, " : " threads, ")
              : "looked up, not measured: ",
          r.latency->device, ")\n");
    }
    struct CostLine {
      const char* label;
      const char* metric;
      const char* unit;
    };
    bool any_cost = false;
    for (const CostLine& c :
         {CostLine{"Params:        ", "params", ""}, CostLine{"MACs:          ", "macs", ""},
          CostLine{"Peak memory:   ", "peak_memory_bytes", " bytes"},
          CostLine{"Flash:         ", "flash_bytes", " bytes"}}) {
      std::optional<double> v = MetricValue(r, c.metric);
      if (!v) continue;
      any_cost = true;
      absl::StrAppend(&out, c.label, FormatMetric(c.metric, v), " (", static_cast<int64_t>(*v),
                      c.unit, ")\n");
    }
    if (!any_cost) absl::StrAppend(&out, "Costs:         not computed for this trial\n");
    for (const auto& [k, v] : r.estimates) {
      // Firmware numbers measured in QEMU (serve --measure-mcu) are not
      // estimates: labelled apart so the two are never confused.
      const bool measured =
          absl::StartsWith(k, "measured_") || absl::StartsWith(k, "int8_accuracy@");
      absl::StrAppend(&out, measured ? "Measured:      " : "Estimate:      ", k, " = ",
                      FormatMetric(k, v), "\n");
    }
    const char* epochs = r.epochs == 1 ? " epoch" : " epochs";
    if (trained) {
      absl::StrAppend(&out, "Training:      ", r.epochs, epochs, " in ",
                      FormatMetric("train_seconds", r.train_seconds), " s\n");
    } else if (r.epochs > 0) {
      absl::StrAppend(&out, "Training:      ", r.epochs, epochs, " (looked up, not run)\n");
    } else {
      absl::StrAppend(&out, "Training:      not trained\n");
    }
    if (!r.error.empty()) absl::StrAppend(&out, "Error:         ", r.error, "\n");
  }
  absl::StrAppend(&out, "Created:       ", FormatUtc(t.created_at), "\n");
  if (t.started_at) absl::StrAppend(&out, "Started:       ", FormatUtc(*t.started_at), "\n");
  if (t.finished_at) absl::StrAppend(&out, "Finished:      ", FormatUtc(*t.finished_at), "\n");
  if (t.epochs.empty()) {
    absl::StrAppend(&out, "\nNo per-epoch metrics.\n");
    return out;
  }
  std::set<std::string> keys;
  for (const EpochMetrics& e : t.epochs) {
    for (const auto& [k, v] : e.values) keys.insert(k);
  }
  std::vector<std::string> header = {"EPOCH"};
  for (const std::string& k : keys) header.push_back(absl::AsciiStrToUpper(k));
  TextTable table(header);
  for (const EpochMetrics& e : t.epochs) {
    std::vector<std::string> row = {absl::StrCat(e.epoch)};
    for (const std::string& k : keys) {
      auto it = e.values.find(k);
      row.push_back(it == e.values.end() ? "-" : FormatRaw(std::round(it->second * 1e4) / 1e4));
    }
    table.AddRow(std::move(row));
  }
  absl::StrAppend(&out, "\nPer-epoch metrics:\n", table.Render());
  // The curve of the headline metric.
  std::string curve_key = keys.count("val_accuracy") ? "val_accuracy" : *keys.begin();
  std::vector<PlotPoint> points;
  for (const EpochMetrics& e : t.epochs) {
    auto it = e.values.find(curve_key);
    if (it != e.values.end()) points.push_back({static_cast<double>(e.epoch), it->second, '*'});
  }
  if (points.size() >= 2) {
    TerminalPlotOptions options;
    options.width = 40;
    options.height = 8;
    options.x_label = "epoch";
    options.y_label = curve_key;
    absl::StrAppend(&out, "\n", RenderScatter(points, options));
  }
  return out;
}

std::string FormatPareto(const ParetoFront& front, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    json j;
    j["metrics"] = front.metrics;
    j["hypervolume"] = front.hypervolume;
    j["trials"] = json::array();
    for (const TrialRecord& t : front.trials) j["trials"].push_back(TrialToJson(t));
    j["least_violating"] = LeastViolatingToJson(front.least_violating);
    return j.dump(2) + "\n";
  }
  if (front.trials.empty() && !front.least_violating.empty()) {
    if (format == OutputFormat::kCsv) {
      std::vector<TrialRecord> trials;
      for (const NearMiss& n : front.least_violating) trials.push_back(n.trial);
      return FormatTrialList(trials, front.metrics, format);
    }
    return absl::StrCat(
        "No feasible trial: every finished trial is over a hard limit. The least-violating\n"
        "trials, closest first, and by how much each misses (relax that limit, or enqueue\n"
        "smaller architectures):\n\n",
        FormatLeastViolating(front.least_violating));
  }
  std::vector<TrialRecord> sorted = front.trials;
  const std::string first = front.metrics.empty() ? "latency_ms" : front.metrics[0];
  std::stable_sort(sorted.begin(), sorted.end(), [&](const TrialRecord& a, const TrialRecord& b) {
    std::optional<double> va = TrialMetric(a, first), vb = TrialMetric(b, first);
    if (va && vb) return *va < *vb;
    return va.has_value() && !vb.has_value();
  });
  if (format == OutputFormat::kCsv) return FormatTrialList(sorted, front.metrics, format);
  std::string out =
      absl::StrCat("Pareto front over accuracy and ", absl::StrJoin(front.metrics, ", "), ": ",
                   sorted.size(), " trials, hypervolume ",
                   // Six digits for reading; -o json has the exact value.
                   absl::StrFormat("%.6g", front.hypervolume), "\n\n");
  absl::StrAppend(&out, FormatTrialList(sorted, front.metrics, format));
  return out;
}

}  // namespace hwnas::cli

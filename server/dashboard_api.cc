#include "server/dashboard_api.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "hardware/costs.h"
#include "nlohmann/json.hpp"
#include "space/network_plan.h"
#include "space/search_space.h"
#include "spdlog/spdlog.h"
#include "spec/worker_spec.h"

namespace hwnas::server {
namespace {

using json = nlohmann::json;

constexpr char kJson[] = "application/json";
constexpr char kApiPrefix[] = "/api/v1/";

// The metrics a trial may carry, in display order (estimates come after).
// accuracy_se only exists for cross-validated trials (#23).
constexpr const char* kMetricNames[] = {"accuracy",          "accuracy_se", "balanced_accuracy",
                                        "macro_f1",          "loss",        "latency_ms",
                                        "latency_p90_ms",    "params",      "macs",
                                        "peak_memory_bytes", "flash_bytes", "train_seconds"};

HttpResponse JsonResponse(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.content_type = kJson;
  r.body = body.dump();
  // Data is per user and changes: never cached by a browser or proxy.
  r.headers.push_back({"Cache-Control", "no-store"});
  return r;
}

HttpResponse Error(int status, const std::string& message) {
  return JsonResponse(status, json{{"error", message}});
}

// A Status from the store or the coordinator as an HTTP answer. Messages of
// unexpected errors may carry internals: they go to the log, not the client.
HttpResponse FromStatus(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return Error(400, std::string(s.message()));
    case absl::StatusCode::kUnauthenticated:
      return Error(401, std::string(s.message()));
    case absl::StatusCode::kPermissionDenied:
      return Error(403, std::string(s.message()));
    case absl::StatusCode::kNotFound:
      return Error(404, "not found");
    case absl::StatusCode::kFailedPrecondition:
      return Error(409, std::string(s.message()));
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
      return Error(503, "the server is busy or starting; retry");
    default:
      spdlog::warn("event=dashboard_error code={} error=\"{}\"", absl::StatusCodeToString(s.code()),
                   RedactSecrets(s.message()));
      return Error(500, "internal error (the server log says more)");
  }
}

double Seconds(absl::Time t) { return absl::ToDoubleSeconds(t - absl::UnixEpoch()); }

json OptSeconds(const std::optional<absl::Time>& t) {
  return t ? json(Seconds(*t)) : json(nullptr);
}

// A finite double, or null (JSON has no NaN or infinity).
json Num(std::optional<double> v) { return v && std::isfinite(*v) ? json(*v) : json(nullptr); }

std::optional<std::string> Param(const HttpRequest& r, const std::string& name) {
  auto it = r.params.find(name);
  if (it == r.params.end()) return std::nullopt;
  return it->second;
}

std::string Header(const HttpRequest& r, absl::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

absl::StatusOr<std::optional<double>> DoubleParam(const HttpRequest& r, const std::string& name) {
  std::optional<std::string> v = Param(r, name);
  if (!v || v->empty()) return std::nullopt;
  double d = 0;
  if (!absl::SimpleAtod(*v, &d) || !std::isfinite(d)) {
    return absl::InvalidArgumentError(absl::StrCat(name, " = '", *v, "' is not a number"));
  }
  return d;
}

// Whether larger is better for the metric: accuracy and reward (and
// estimates of them), costs are smaller-is-better.
bool Maximized(absl::string_view metric) {
  return metric == "accuracy" || metric == "reward" || absl::StartsWith(metric, "accuracy@");
}

absl::StatusOr<bool> GoalParam(const HttpRequest& r, const std::string& name,
                               absl::string_view metric) {
  std::optional<std::string> v = Param(r, name);
  if (!v || v->empty()) return Maximized(metric);
  if (*v == "max") return true;
  if (*v == "min") return false;
  return absl::InvalidArgumentError(absl::StrCat(name, " = '", *v, "' must be max or min"));
}

json MetricsOf(const TrialRecord& t) {
  json m = json::object();
  m["reward"] = Num(t.reward);
  if (!t.result) return m;
  for (const char* name : kMetricNames) m[name] = Num(MetricValue(*t.result, name));
  for (const auto& [name, value] : t.result->estimates) m[name] = Num(value);
  return m;
}

json TrialJson(const TrialRecord& t, bool detail) {
  json j{{"number", t.number},
         {"state", std::string(TrialStateName(t.state))},
         {"attempts", t.attempts},
         {"worker_id", t.worker_id},
         {"architecture", t.architecture.readable},
         {"metrics", MetricsOf(t)},
         {"failure_reason", t.failure_reason},
         {"created_at", Seconds(t.created_at)},
         {"started_at", OptSeconds(t.started_at)},
         {"finished_at", OptSeconds(t.finished_at)}};
  if (detail) {
    j["space"] = t.architecture.space;
    j["space_version"] = t.architecture.space_version;
    j["tokens"] = t.architecture.tokens;
    j["epochs_trained"] = t.result ? t.result->epochs : 0;
    // Each cross-validation fold's accuracy (empty for one split).
    j["fold_accuracy"] = t.result ? t.result->fold_accuracy : std::vector<double>();
    if (t.result && t.result->latency) {
      j["latency"] = {{"median_ms", t.result->latency->median_ms},
                      {"p90_ms", t.result->latency->p90_ms},
                      {"runs", t.result->latency->runs},
                      {"threads", t.result->latency->threads},
                      {"device", t.result->latency->device}};
    }
    json epochs = json::array();
    for (const EpochMetrics& e : t.epochs) {
      json values = json::object();
      for (const auto& [k, v] : e.values) values[k] = Num(v);
      epochs.push_back({{"epoch", e.epoch}, {"values", values}});
    }
    j["epochs"] = std::move(epochs);
  }
  return j;
}

json SearchJson(const SearchRecord& s, absl::Time now, bool detail) {
  const TrialCounts& c = s.counts;
  const int64_t finished = c.finished();
  const absl::Time end = s.finished_at.value_or(now);
  const double minutes = std::max(absl::ToDoubleMinutes(end - s.created_at), 1e-3);
  const double rate = finished / minutes;
  json eta = nullptr;
  if (s.state == SearchState::kRunning && rate > 0 && finished < s.budget) {
    eta = (s.budget - finished) / rate * 60.0;
  }
  json j{{"id", s.id},
         {"name", s.name},
         {"owner", s.owner},
         {"state", std::string(SearchStateName(s.state))},
         {"space", s.space},
         {"budget", s.budget},
         {"counts",
          {{"total", c.total},
           {"pending", c.pending},
           {"running", c.running},
           {"succeeded", c.succeeded},
           {"failed", c.failed},
           {"infeasible", c.infeasible},
           {"early_stopped", c.early_stopped},
           {"cancelled", c.cancelled}}},
         {"finished", finished},
         {"progress", s.budget > 0 ? std::min(1.0, static_cast<double>(finished) / s.budget) : 0.0},
         {"rate_per_min", rate},
         {"eta_seconds", eta},
         {"best", s.best_trial ? TrialJson(*s.best_trial, false) : json(nullptr)},
         {"error", s.error},
         {"created_at", Seconds(s.created_at)},
         {"finished_at", OptSeconds(s.finished_at)}};
  if (detail) {
    j["spec_yaml"] = s.spec_yaml;
    j["warm_start_search_id"] = s.warm_start_search_id;
    // The metrics the best trial has, for the charts' axis menus.
    json metrics = json::array({"reward"});
    if (s.best_trial && s.best_trial->result) {
      for (const char* name : kMetricNames) {
        if (MetricValue(*s.best_trial->result, name)) metrics.push_back(name);
      }
      for (const auto& [name, value] : s.best_trial->result->estimates) metrics.push_back(name);
    } else {
      metrics.push_back("accuracy");
    }
    j["metrics"] = std::move(metrics);
  }
  return j;
}

// The grid a large scatter is thinned on: finer than the chart's 3-pixel
// squares at any width it is drawn (a 1,400-pixel page: ~450 x 100 squares).
constexpr int kGridX = 1024;
constexpr int kGridY = 512;
// Points above which a Pareto answer is thinned, unless the call says.
constexpr int64_t kSampleAbove = 4000;

// Pareto front of the points that have both metrics, in O(n log n): sort by
// x from best to worst (ties: better y first), then a point is on the front
// when its y beats every y before it. Only SUCCEEDED trials can be on it;
// INFEASIBLE ones are returned marked, the others as dominated.
//
// Past `sample_above` points the answer keeps the whole front but only one
// dominated and one infeasible point per cell of a kGridX x kGridY grid over
// the points' range (counts stay exact): the chart draws one square per
// occupied cell anyway, and at 100,000 trials the full answer was 2.2 MB of
// JSON whose parsing and drawing took the browser longer than its page.
std::string ParetoJson(const std::vector<db::TrialPoint>& all, const std::string& xm, bool x_max,
                       const std::string& ym, bool y_max, size_t sample_above) {
  std::vector<const db::TrialPoint*> pts;
  pts.reserve(all.size());
  for (const db::TrialPoint& p : all) {
    if (p.x && p.y && std::isfinite(*p.x) && std::isfinite(*p.y)) pts.push_back(&p);
  }
  const auto better = [](double a, double b, bool max) { return max ? a > b : a < b; };
  std::vector<size_t> order(pts.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (*pts[a]->x != *pts[b]->x) return better(*pts[a]->x, *pts[b]->x, x_max);
    return better(*pts[a]->y, *pts[b]->y, y_max);
  });
  std::vector<int> kind(pts.size(), 0);  // 0 dominated, 1 front, 2 infeasible.
  std::optional<double> best_y;
  double best_x = 0;
  int64_t front = 0;
  int64_t infeasible = 0;
  for (size_t i : order) {
    const db::TrialPoint& p = *pts[i];
    if (p.state == TrialState::kInfeasible) {
      kind[i] = 2;
      ++infeasible;
      continue;
    }
    if (p.state != TrialState::kSucceeded) continue;
    // Equal points do not dominate each other: a repeat of the last front
    // point is on the front too.
    if (!best_y || better(*p.y, *best_y, y_max) || (*p.y == *best_y && *p.x == best_x)) {
      kind[i] = 1;
      best_y = *p.y;
      best_x = *p.x;
      ++front;
    }
  }
  const bool sampled = pts.size() > sample_above;
  if (sampled) {
    double x0 = *pts[0]->x, x1 = x0, y0 = *pts[0]->y, y1 = y0;
    for (const db::TrialPoint* p : pts) {
      x0 = std::min(x0, *p->x);
      x1 = std::max(x1, *p->x);
      y0 = std::min(y0, *p->y);
      y1 = std::max(y1, *p->y);
    }
    const auto cell = [](double v, double lo, double hi, int n) {
      if (!(hi > lo)) return 0;
      return std::clamp(static_cast<int>((v - lo) / (hi - lo) * n), 0, n - 1);
    };
    // Bit 1: a dominated point kept in the cell; bit 2: an infeasible one.
    std::vector<uint8_t> seen(static_cast<size_t>(kGridX) * kGridY, 0);
    std::erase_if(order, [&](size_t i) {
      if (kind[i] == 1) return false;
      const size_t c = static_cast<size_t>(cell(*pts[i]->y, y0, y1, kGridY)) * kGridX +
                       cell(*pts[i]->x, x0, x1, kGridX);
      const uint8_t bit = kind[i] == 2 ? 2 : 1;
      if (seen[c] & bit) return true;
      seen[c] |= bit;
      return false;
    });
  }
  // Ascending x, as the chart draws it.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (*pts[a]->x != *pts[b]->x) return *pts[a]->x < *pts[b]->x;
    return *pts[a]->y < *pts[b]->y;
  });
  // Written by hand: at 100,000 points this is most of the answer's time
  // with a JSON library. Values go with 9 significant digits (a chart needs
  // far fewer; the table and trial page have them exact), a third shorter
  // than the shortest exact form.
  std::string out;
  out.reserve(64 + order.size() * 40);
  absl::StrAppend(&out, "{", json("x_metric").dump(), ":", json(xm).dump(),
                  ",\"y_metric\":", json(ym).dump(), ",\"x_goal\":\"", x_max ? "max" : "min",
                  "\",\"y_goal\":\"", y_max ? "max" : "min", "\",\"finished\":", all.size(),
                  ",\"front_size\":", front, ",\"infeasible\":", infeasible,
                  ",\"missing\":", all.size() - pts.size(), ",\"points\":", pts.size(),
                  ",\"sampled\":", sampled ? "true" : "false");
  if (sampled) absl::StrAppend(&out, ",\"grid\":[", kGridX, ",", kGridY, "]");
  char buf[32];
  const auto column = [&](const char* name, auto value) {
    absl::StrAppend(&out, ",\"", name, "\":[");
    for (size_t n = 0; n < order.size(); ++n) {
      if (n > 0) out.push_back(',');
      value(order[n]);
    }
    out.push_back(']');
  };
  const auto number = [&](double v) {
    const auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general, 9);
    out.append(buf, r.ptr);
  };
  column("number", [&](size_t i) { absl::StrAppend(&out, pts[i]->number); });
  column("x", [&](size_t i) { number(*pts[i]->x); });
  column("y", [&](size_t i) { number(*pts[i]->y); });
  column("kind", [&](size_t i) { out.push_back(static_cast<char>('0' + kind[i])); });
  out.push_back('}');
  return out;
}

// Best feasible (SUCCEEDED) value so far, against finished trials and time:
// one point per improvement, plus the last trial so the line reaches now.
json BestSoFarJson(const db::BestSoFarSeries& series, const std::string& metric, bool max,
                   absl::Time start) {
  std::vector<int64_t> trials;
  std::vector<double> seconds;
  std::vector<double> value;
  std::vector<int64_t> number;
  const auto since = [&](absl::Time t) { return std::max(0.0, absl::ToDoubleSeconds(t - start)); };
  for (const db::BestStep& s : series.steps) {
    trials.push_back(s.index);
    seconds.push_back(since(s.finished_at));
    value.push_back(s.value);
    number.push_back(s.number);
  }
  if (!value.empty() && trials.back() != series.finished) {
    trials.push_back(series.finished);
    seconds.push_back(since(series.last_finished_at));
    value.push_back(value.back());
    number.push_back(number.back());
  }
  return json{{"metric", metric},
              {"goal", max ? "max" : "min"},
              {"finished", series.finished},
              {"trials", std::move(trials)},
              {"seconds", std::move(seconds)},
              {"value", std::move(value)},
              {"number", std::move(number)}};
}

// Which decisions move a metric: for each token position, the share of the
// metric's variance over SUCCEEDED trials that its choice explains
// (between-group sum of squares / total), i.e. the first-order terms of a
// functional ANOVA under the trials' own distribution. Interactions are not
// split out, so the shares need not sum to 1. O(trials x positions).
json ImportanceJson(const std::vector<db::TokenRow>& rows,
                    const std::vector<std::string>& metrics) {
  size_t positions = 0;
  for (const db::TokenRow& r : rows) positions = std::max(positions, r.tokens.size());
  json out = json::array();
  for (size_t m = 0; m < metrics.size(); ++m) {
    double sum = 0;
    int64_t n = 0;
    for (const db::TokenRow& r : rows) {
      if (r.values[m] && std::isfinite(*r.values[m])) {
        sum += *r.values[m];
        ++n;
      }
    }
    const double mean = n > 0 ? sum / n : 0;
    double total = 0;
    // Per position: choice (-1 where a shorter architecture has none) ->
    // (count, sum).
    std::vector<std::map<int, std::pair<int64_t, double>>> groups(positions);
    for (const db::TokenRow& r : rows) {
      if (!r.values[m] || !std::isfinite(*r.values[m])) continue;
      const double v = *r.values[m];
      total += (v - mean) * (v - mean);
      for (size_t p = 0; p < positions; ++p) {
        auto& g = groups[p][p < r.tokens.size() ? r.tokens[p] : -1];
        ++g.first;
        g.second += v;
      }
    }
    json importance = json::array();
    json choices = json::array();
    for (size_t p = 0; p < positions; ++p) {
      double between = 0;
      json options = json::array();
      for (const auto& [token, g] : groups[p]) {
        const double group_mean = g.second / g.first;
        between += g.first * (group_mean - mean) * (group_mean - mean);
        options.push_back({{"token", token}, {"count", g.first}, {"mean", group_mean}});
      }
      importance.push_back(n >= 2 && total > 0 ? json(std::min(1.0, between / total))
                                               : json(nullptr));
      choices.push_back(std::move(options));
    }
    out.push_back({{"metric", metrics[m]},
                   {"n", n},
                   {"mean", n > 0 ? json(mean) : json(nullptr)},
                   {"importance", std::move(importance)},
                   {"choices", std::move(choices)}});
  }
  return json{{"trials", rows.size()}, {"positions", positions}, {"metrics", std::move(out)}};
}

// The architecture's layers with shapes and static costs, as
// `hwnas-worker describe` prints them: the spec's space lowers the trial's
// tokens to a network plan and hardware/costs.h costs each op. Torch-free, so
// the server computes it; a spec the worker side cannot read (or a space
// that has no plan) gets a note instead.
json LayersJson(const SearchRecord& s, const TrialRecord& t) {
  absl::StatusOr<spec::WorkerSpec> ws = spec::ParseWorkerSpec(s.spec_yaml);
  if (!ws.ok()) return json{{"note", absl::StrCat("no layers: ", ws.status().message())}};
  absl::StatusOr<std::unique_ptr<space::SearchSpace>> space = spec::MakeSpace(*ws);
  if (!space.ok()) return json{{"note", absl::StrCat("no layers: ", space.status().message())}};
  absl::StatusOr<space::NetworkPlan> plan = (*space)->Lower(t.architecture.tokens);
  if (!plan.ok()) return json{{"note", absl::StrCat("no layers: ", plan.status().message())}};
  const space::NetworkPlan lowered = spec::ApplyHardwareOptions(*std::move(plan), ws->hardware);
  absl::StatusOr<hardware::CostReport> report = hardware::ComputeCosts(lowered);
  if (!report.ok()) return json{{"note", absl::StrCat("no layers: ", report.status().message())}};
  json ops = json::array();
  for (const hardware::OpCost& c : report->ops) {
    const space::Op& op = lowered.ops[c.op];
    ops.push_back({{"name", c.name},
                   {"type", std::string(space::OpTypeName(op.type))},
                   {"output_shape", space::ShapeToString(c.output_shape)},
                   {"params", c.params},
                   {"macs", c.macs},
                   {"flash_bytes", c.flash_bytes},
                   {"live_bytes", c.live_bytes},
                   {"weight_bits", op.weight_bits}});
  }
  const HardwareCosts& total = report->totals;
  return json{{"ops", std::move(ops)},
              {"peak_op", report->peak_op},
              {"totals",
               {{"params", total.params},
                {"macs", total.macs},
                {"peak_activation_bytes", total.peak_activation_bytes},
                {"flash_bytes", total.flash_bytes}}}};
}

std::string ContentType(const std::string& path) {
  const auto ends = [&](absl::string_view s) { return absl::EndsWith(path, s); };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".json")) return "application/json";
  if (ends(".png")) return "image/png";
  return "application/octet-stream";
}

}  // namespace

DashboardApi::DashboardApi(DashboardDeps deps, DashboardOptions options)
    : deps_(std::move(deps)), options_(std::move(options)) {}

absl::Status DashboardApi::LoadAssets() {
  if (options_.assets_dir.empty()) return absl::OkStatus();
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path root(options_.assets_dir);
  if (!fs::is_regular_file(root / "index.html", ec)) {
    return absl::NotFoundError(absl::StrCat("dashboard: ", options_.assets_dir,
                                            " has no index.html (build it: scripts/setup, or "
                                            "npm ci && npm run build in dashboard/)"));
  }
  // Only regular files below the root, read now: requests never touch the
  // file system, so no path in a URL can reach outside it.
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    assets_["/" + fs::relative(it->path(), root, ec).generic_string()] = bytes.str();
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("dashboard: cannot read ", options_.assets_dir, ": ", ec.message()));
  }
  return absl::OkStatus();
}

namespace {
constexpr size_t kKeptAnswers = 32;
}  // namespace

std::optional<std::string> DashboardApi::CachedAnswer(const std::string& key,
                                                      const std::string& version) {
  absl::MutexLock lock(&cache_mu_);
  for (const auto& [k, entry] : answers_) {
    if (k == key && entry.first == version) return entry.second;
  }
  return std::nullopt;
}

void DashboardApi::KeepAnswer(const std::string& key, const std::string& version,
                              std::string body) {
  absl::MutexLock lock(&cache_mu_);
  std::erase_if(answers_, [&](const auto& e) { return e.first == key; });
  answers_.push_back({key, {version, std::move(body)}});
  while (answers_.size() > kKeptAnswers) answers_.pop_front();
}

void DashboardApi::Register(HttpServer& http) {
  // Every API call's time in the handler goes to the log (debug level;
  // warn past a second), so a slow page can be traced to its request.
  const auto timed = [](HttpResponse (DashboardApi::*handler)(const HttpRequest&),
                        DashboardApi* self) {
    return [handler, self](const HttpRequest& r) {
      const absl::Time t0 = absl::Now();
      HttpResponse out = (self->*handler)(r);
      const double ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
      const auto level = ms > 1000 ? spdlog::level::warn : spdlog::level::debug;
      spdlog::log(level, "event=dashboard_request method={} path={} status={} ms={:.1f} bytes={}",
                  r.method, r.path, out.status, ms, out.body.size());
      return out;
    };
  };
  http.GetPrefix("/api/", timed(&DashboardApi::Get, this));
  http.PostPrefix("/api/", timed(&DashboardApi::Post, this));
  http.GetPrefix("/", [this](const HttpRequest& r) { return Asset(r.path); });
}

HttpResponse DashboardApi::Asset(const std::string& path) const {
  if (options_.assets_dir.empty()) {
    return HttpResponse{.status = 404,
                        .body =
                            "The dashboard app is not installed: start hwnas-server with "
                            "--dashboard-dir DIR (the built dashboard/dist).\n"};
  }
  // The app routes with the URL's fragment, so every page is "/".
  const std::string key = path == "/" ? "/index.html" : path;
  auto it = assets_.find(key);
  if (it == assets_.end()) return HttpResponse{.status = 404, .body = "not found\n"};
  HttpResponse r{.content_type = ContentType(key), .body = it->second};
  // index.html names its bundle without a hash: revalidate each load.
  r.headers.push_back({"Cache-Control", "no-cache"});
  r.headers.push_back({"X-Content-Type-Options", "nosniff"});
  r.headers.push_back({"Content-Security-Policy",
                       "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' "
                       "data:; frame-ancestors 'none'"});
  return r;
}

HttpResponse DashboardApi::Get(const HttpRequest& request) {
  absl::StatusOr<User> user = deps_.auth->Authenticate(Header(request, "Authorization"));
  if (!user.ok()) return FromStatus(user.status());
  if (user->is_worker && !user->is_admin) {
    return Error(403, "worker tokens cannot use the dashboard");
  }
  if (!absl::StartsWith(request.path, kApiPrefix)) return Error(404, "not found");
  std::vector<std::string> parts =
      absl::StrSplit(request.path.substr(sizeof(kApiPrefix) - 1), '/', absl::SkipEmpty());
  const absl::Time now = absl::Now();
  if (parts.size() == 1 && parts[0] == "me") {
    return JsonResponse(200, json{{"name", user->name}, {"admin", user->is_admin}});
  }
  if (parts.empty() || parts[0] != "searches") return Error(404, "not found");

  if (parts.size() == 1) {
    db::SearchQuery q;
    if (!user->is_admin) q.owner_id = user->id;
    if (std::optional<std::string> state = Param(request, "state"); state && !state->empty()) {
      absl::StatusOr<SearchState> s = ParseSearchState(absl::AsciiStrToUpper(*state));
      if (!s.ok()) return Error(400, absl::StrCat("state = '", *state, "' is not a search state"));
      q.state = *s;
    }
    q.page_token = Param(request, "page_token").value_or("");
    int size = 50;
    if (std::optional<std::string> v = Param(request, "page_size")) {
      if (!absl::SimpleAtoi(*v, &size) || size < 1 || size > 200) {
        return Error(400, "page_size must be 1 to 200");
      }
    }
    q.page_size = size;
    absl::StatusOr<db::Page<SearchRecord>> page = deps_.store->ListSearches(q);
    if (!page.ok()) return FromStatus(page.status());
    json items = json::array();
    for (const SearchRecord& s : page->items) items.push_back(SearchJson(s, now, false));
    return JsonResponse(
        200, json{{"searches", std::move(items)}, {"next_page_token", page->next_page_token}});
  }

  int64_t id = 0;
  if (!absl::SimpleAtoi(parts[1], &id) || id <= 0) return Error(404, "not found");
  // Who may see it, from one row: GetSearch also counts every trial (a
  // tenth of a second at 100,000 trials on a busy machine), which only the
  // summary needs.
  absl::StatusOr<db::SearchHead> head = deps_.queries->Head(id);
  // Another user's search reads exactly like one that does not exist.
  if (!head.ok()) return FromStatus(head.status());
  if (head->owner_id != user->id && !user->is_admin) return Error(404, "not found");
  // Kept answers stand while the search's state and finished trials do.
  const std::string version = absl::StrCat(SearchStateName(head->state), "|", head->finish_seq);

  if (parts.size() == 2) {
    // A search that no longer runs changes no more; its summary (counts and
    // all) is kept. A running one's pending and running counts move without
    // a trial finishing, so it is read each time.
    const bool settled = head->state != SearchState::kRunning;
    const std::string key = absl::StrCat("summary|", id);
    if (std::optional<std::string> body = settled ? CachedAnswer(key, version) : std::nullopt) {
      HttpResponse r = JsonResponse(200, json::object());
      r.body = *std::move(body);
      return r;
    }
    absl::StatusOr<SearchRecord> search = deps_.store->GetSearch(id);
    if (!search.ok()) return FromStatus(search.status());
    HttpResponse r = JsonResponse(200, SearchJson(*search, now, true));
    if (settled && search->state == head->state) KeepAnswer(key, version, r.body);
    return r;
  }
  const std::string& what = parts[2];
  if (what == "trials" && parts.size() == 3) {
    db::TrialFilter f;
    f.search_id = id;
    if (std::optional<std::string> state = Param(request, "state"); state && !state->empty()) {
      absl::StatusOr<TrialState> s = ParseTrialState(absl::AsciiStrToUpper(*state));
      if (!s.ok()) return Error(400, absl::StrCat("state = '", *state, "' is not a trial state"));
      f.state = *s;
    }
    f.metric = Param(request, "metric").value_or("");
    absl::StatusOr<std::optional<double>> min = DoubleParam(request, "min");
    absl::StatusOr<std::optional<double>> max = DoubleParam(request, "max");
    if (!min.ok()) return FromStatus(min.status());
    if (!max.ok()) return FromStatus(max.status());
    f.min = *min;
    f.max = *max;
    f.order_by = Param(request, "order").value_or("");
    f.descending = Param(request, "desc").value_or("") == "1";
    f.page_token = Param(request, "page_token").value_or("");
    int size = 50;
    if (std::optional<std::string> v = Param(request, "page_size")) {
      if (!absl::SimpleAtoi(*v, &size) || size < 1 || size > 500) {
        return Error(400, "page_size must be 1 to 500");
      }
    }
    f.page_size = size;
    absl::StatusOr<db::Page<TrialRecord>> page = deps_.queries->FilterTrials(f);
    if (!page.ok()) return FromStatus(page.status());
    json items = json::array();
    for (const TrialRecord& t : page->items) items.push_back(TrialJson(t, false));
    return JsonResponse(
        200, json{{"trials", std::move(items)}, {"next_page_token", page->next_page_token}});
  }
  if (what == "trials" && parts.size() == 4) {
    int64_t number = 0;
    if (!absl::SimpleAtoi(parts[3], &number) || number <= 0) return Error(404, "not found");
    absl::StatusOr<TrialRecord> t = deps_.store->GetTrial(id, number, /*with_epochs=*/true);
    if (!t.ok()) return FromStatus(t.status());
    absl::StatusOr<SearchRecord> search = deps_.store->GetSearch(id);  // Its spec.
    if (!search.ok()) return FromStatus(search.status());
    json j = TrialJson(*t, true);
    j["layers"] = LayersJson(*search, *t);
    return JsonResponse(200, j);
  }
  if (what == "pareto" && parts.size() == 3) {
    const std::string x = Param(request, "x").value_or("latency_ms");
    const std::string y = Param(request, "y").value_or("accuracy");
    absl::StatusOr<bool> x_max = GoalParam(request, "x_goal", x);
    absl::StatusOr<bool> y_max = GoalParam(request, "y_goal", y);
    if (!x_max.ok()) return FromStatus(x_max.status());
    if (!y_max.ok()) return FromStatus(y_max.status());
    int64_t sample_above = kSampleAbove;
    if (std::optional<std::string> v = Param(request, "sample_above"); v && !v->empty()) {
      if (!absl::SimpleAtoi(*v, &sample_above) || sample_above < 1) {
        return Error(400, absl::StrCat("sample_above = '", *v, "' must be a positive integer"));
      }
    }
    // Every finished trial's two values: the largest answer of the API.
    // Finished trials do not change, so it is reused until one more
    // finishes (its finish sequence number) or the search's state changes.
    const std::string key =
        absl::StrCat("pareto|", id, "|", x, "|", *x_max, "|", y, "|", *y_max, "|", sample_above);
    if (std::optional<std::string> body = CachedAnswer(key, version)) {
      HttpResponse r = JsonResponse(200, json::object());
      r.body = *std::move(body);
      return r;
    }
    absl::StatusOr<std::vector<db::TrialPoint>> pts = deps_.queries->FinishedPoints(id, x, y);
    if (!pts.ok()) return FromStatus(pts.status());
    HttpResponse r = JsonResponse(200, json::object());
    r.body = ParetoJson(*pts, x, *x_max, y, *y_max, static_cast<size_t>(sample_above));
    KeepAnswer(key, version, r.body);
    return r;
  }
  if (what == "best" && parts.size() == 3) {
    const std::string metric = Param(request, "metric").value_or("reward");
    absl::StatusOr<bool> max = GoalParam(request, "goal", metric);
    if (!max.ok()) return FromStatus(max.status());
    // Reads every finished trial too: kept like the Pareto answer.
    const std::string key = absl::StrCat("best|", id, "|", metric, "|", *max);
    if (std::optional<std::string> body = CachedAnswer(key, version)) {
      HttpResponse r = JsonResponse(200, json::object());
      r.body = *std::move(body);
      return r;
    }
    absl::StatusOr<db::BestSoFarSeries> series = deps_.queries->BestSoFar(id, metric, *max);
    if (!series.ok()) return FromStatus(series.status());
    HttpResponse r = JsonResponse(200, BestSoFarJson(*series, metric, *max, head->created_at));
    KeepAnswer(key, version, r.body);
    return r;
  }
  if (what == "importance" && parts.size() == 3) {
    std::vector<std::string> metrics =
        absl::StrSplit(Param(request, "metrics").value_or("accuracy"), ',', absl::SkipEmpty());
    absl::StatusOr<std::vector<db::TokenRow>> rows = deps_.queries->SucceededTokens(id, metrics);
    if (!rows.ok()) return FromStatus(rows.status());
    return JsonResponse(200, ImportanceJson(*rows, metrics));
  }
  return Error(404, "not found");
}

// Most architectures one dashboard enqueue takes; `hwnas enqueue --file`
// is the way to send more.
constexpr size_t kMaxEnqueuedPerRequest = 1000;

// Body: {"architectures": ["...", ...]}, one architecture per entry; entry
// i is "line" i + 1 in errors, as in a file given to `hwnas enqueue`.
HttpResponse DashboardApi::Enqueue(const User& user, int64_t search_id, const std::string& body) {
  if (!deps_.enqueue) return Error(503, "enqueueing is not available on this server");
  const json request = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded() || !request.is_object()) {
    return Error(400, "body: a JSON object {\"architectures\": [...]} is expected");
  }
  const auto list = request.find("architectures");
  if (list == request.end() || !list->is_array() || list->empty()) {
    return Error(400, "architectures: a non-empty list of architecture strings is expected");
  }
  if (list->size() > kMaxEnqueuedPerRequest) {
    return Error(400, absl::StrCat("architectures: at most ", kMaxEnqueuedPerRequest,
                                   " per request (", list->size(), " given)"));
  }
  std::vector<GuidedTrial> items;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& a = (*list)[i];
    if (!a.is_string() || a.get<std::string>().empty()) {
      return Error(400, absl::StrCat("line ", i + 1, ": an architecture string is expected"));
    }
    items.push_back({.architecture = a.get<std::string>(), .line = static_cast<int>(i + 1)});
  }
  absl::StatusOr<std::vector<TrialRecord>> added = deps_.enqueue(user, search_id, items);
  if (!added.ok()) return FromStatus(added.status());
  json trials = json::array();
  for (const TrialRecord& t : *added) {
    trials.push_back({{"number", t.number}, {"architecture", t.architecture.readable}});
  }
  spdlog::info("event=dashboard_enqueue search={} by={} trials={}", search_id, user.name,
               added->size());
  return JsonResponse(200, json{{"trials", std::move(trials)}});
}

HttpResponse DashboardApi::Post(const HttpRequest& request) {
  absl::StatusOr<User> user = deps_.auth->Authenticate(Header(request, "Authorization"));
  if (!user.ok()) return FromStatus(user.status());
  if (user->is_worker && !user->is_admin) {
    return Error(403, "worker tokens cannot use the dashboard");
  }
  if (!absl::StartsWith(request.path, kApiPrefix)) return Error(404, "not found");
  std::vector<std::string> parts =
      absl::StrSplit(request.path.substr(sizeof(kApiPrefix) - 1), '/', absl::SkipEmpty());
  int64_t id = 0;
  if (parts.size() != 3 || parts[0] != "searches" ||
      (parts[2] != "cancel" && parts[2] != "enqueue") || !absl::SimpleAtoi(parts[1], &id) ||
      id <= 0) {
    return Error(404, "not found");
  }
  absl::StatusOr<SearchRecord> search = deps_.store->GetSearch(id);
  if (!search.ok()) return FromStatus(search.status());
  if (search->owner_id != user->id && !user->is_admin) return Error(404, "not found");
  if (parts[2] == "enqueue") return Enqueue(*user, id, request.body);
  if (!deps_.cancel) return Error(503, "cancelling is not available on this server");
  absl::StatusOr<SearchRecord> cancelled = deps_.cancel(*user, id);
  if (!cancelled.ok()) return FromStatus(cancelled.status());
  spdlog::info("event=dashboard_cancel search={} by={}", id, user->name);
  return JsonResponse(200, SearchJson(*cancelled, absl::Now(), true));
}

}  // namespace hwnas::server

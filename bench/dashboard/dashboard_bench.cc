// The dashboard at scale: a private PostgreSQL, one finished search of N
// trials (default 100,000) filled through the store in batches with real
// NAS-Bench-201 rows (accuracy, raspi4 latency; sampled with a fixed seed),
// hwnas-server serving the built app, then
//  1. the JSON API's server-side times (median of 5, over HTTP), and
//  2. bench/dashboard/measure.mjs in headless Chromium: the search page's
//     first render, the Pareto scatter's render and trial-table paging.
// Results: docs/benchmarks.md ("Dashboard").
//
//   build/bench/dashboard/hwnas-bench-dashboard [--trials N] [--batch N] [--runs N] [--hold S]
//
// --hold S keeps the filled store and the server up for S seconds before
// measuring, and prints what measure.mjs (or a person with a browser) needs
// to reach them: for looking at the page by hand or timing app changes
// without refilling.
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/subprocess.h"
#include "controller/nb201_table.h"
#include "db/local_postgres.h"
#include "db/postgres_store.h"
#include "db/store.h"

namespace {

using hwnas::ChildProcess;

constexpr char kSpec[] = R"(name: dashboard-bench
space: {name: nb201}
evaluator: {kind: table, dataset: cifar10, device: raspi4}
objectives:
  reward: penalty
  constraints:
    - {metric: latency_ms, target: 15.72, lambda: 100}
strategy: {name: random, seed: 7}
budget: {trials: 100000}
)";

// OK when dist/app.js is at least as new as every file under src/.
absl::Status CheckBundleIsCurrent(const std::string& app_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path bundle = fs::path(app_dir) / "dist" / "app.js";
  const auto built = fs::last_write_time(bundle, ec);
  if (ec)
    return absl::FailedPreconditionError(absl::StrCat(
        bundle.string(), " is missing: run scripts/setup or (cd ", app_dir, " && npm run build)"));
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(app_dir) / "src", ec)) {
    if (entry.is_regular_file() && entry.last_write_time() > built)
      return absl::FailedPreconditionError(
          absl::StrCat(bundle.string(), " is older than ", entry.path().string(),
                       ": rebuild it with (cd ", app_dir, " && npm run build)"));
  }
  return absl::OkStatus();
}

int Fail(const std::string& m) {
  std::cerr << "hwnas-bench-dashboard: " << m << "\n";
  return 1;
}

double MedianMs(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int64_t trials = 100000;
  int batch = 1000;
  int runs = 5;
  int64_t hold_s = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    int64_t v = 0;
    if (!absl::SimpleAtoi(argv[i + 1], &v) || v <= 0)
      return Fail(flag + " needs a positive number");
    if (flag == "--trials")
      trials = v;
    else if (flag == "--batch")
      batch = static_cast<int>(v);
    else if (flag == "--runs")
      runs = static_cast<int>(v);
    else if (flag == "--hold")
      hold_s = v;
    else
      return Fail("unknown flag " + flag + " (--trials, --batch, --runs, --hold)");
  }
  const std::string source = HWNAS_BENCH_SOURCE_DIR;
  const std::string binary = HWNAS_BENCH_BINARY_DIR;
  // The server serves dashboard/dist as built; cmake does not rebuild it, so
  // a bundle older than the app's sources would measure an old app (an old
  // paging bug in a stale bundle once made this bench hang).
  if (absl::Status s = CheckBundleIsCurrent(source + "/dashboard"); !s.ok())
    return Fail(std::string(s.message()));
  auto table = hwnas::controller::Nb201Table::Load(hwnas::controller::ResolveNb201TablePath(""));
  if (!table.ok()) return Fail(std::string(table.status().message()));
  auto device = (*table)->DeviceColumn("raspi4");
  if (!device.ok()) return Fail(std::string(device.status().message()));

  char pattern[] = "/tmp/hwnas-bench-dashboard-XXXXXX";
  const std::string dir = mkdtemp(pattern);
  std::filesystem::permissions(dir, std::filesystem::perms::all);
  hwnas::db::LocalPostgres pg({.dir = dir + "/pg", .durable = false});
  if (absl::Status s = pg.Start(); !s.ok()) return Fail(std::string(s.message()));
  auto store = hwnas::db::PostgresStore::Open({.connection_string = pg.ConnectionString()});
  if (!store.ok()) return Fail(std::string(store.status().message()));
  if (absl::Status s = (*store)->Migrate(); !s.ok()) return Fail(std::string(s.message()));
  auto user = (*store)->CreateUser("bench", false);
  auto token = (*store)->IssueToken(user->id);
  auto search = (*store)->CreateSearch({.name = "dashboard-bench",
                                        .owner_id = user->id,
                                        .spec_yaml = kSpec,
                                        .space = "nb201",
                                        .budget = trials});
  if (!search.ok()) return Fail(std::string(search.status().message()));

  // Fill: real table rows; over twice the latency target counts as
  // infeasible (never trained: no accuracy), like a hard limit would.
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int> pick(0, hwnas::controller::Nb201Table::kNumArchitectures - 1);
  const double target = 15.72;
  const absl::Time fill_start = absl::Now();
  for (int64_t done = 0; done < trials;) {
    std::vector<hwnas::db::NewTrial> rows;
    for (int i = 0; i < batch && done < trials; ++i, ++done) {
      const int index = pick(rng);
      hwnas::db::NewTrial t;
      t.architecture = {.space = "nb201",
                        .space_version = 1,
                        .tokens = hwnas::controller::Nb201Table::TokensOf(index),
                        .readable = (*table)->arch_str(index)};
      t.canonical_hash = static_cast<uint64_t>(index) + 1;
      hwnas::TrialResult r;
      const double latency = (*table)->latency_ms(*device, index);
      r.latency = hwnas::LatencyMeasurement{.median_ms = latency, .p90_ms = latency, .runs = 1};
      if (latency > 2 * target) {
        t.state = hwnas::TrialState::kInfeasible;
        t.failure_reason = "latency over twice the target";
      } else {
        t.state = hwnas::TrialState::kSucceeded;
        r.accuracy =
            (*table)->accuracy_percent(hwnas::controller::Nb201Dataset::kCifar10, index) / 100;
        t.reward = r.accuracy - 100 * std::max(0.0, (latency - target) / target);
      }
      t.result = r;
      rows.push_back(std::move(t));
    }
    auto added = (*store)->AddTrials(search->id, rows);
    if (!added.ok()) return Fail(std::string(added.status().message()));
  }
  const double fill_s = absl::ToDoubleSeconds(absl::Now() - fill_start);
  (void)(*store)->FinishSearch(search->id, hwnas::SearchState::kCompleted);
  std::cout << "filled " << trials << " trials in " << fill_s << " s (" << trials / fill_s
            << " trials/s, batches of " << batch << ")\n";

  auto http_port = hwnas::PickFreePort();
  auto server = ChildProcess::Start(
      {.argv = {binary + "/server/hwnas-server", "serve", "--listen", "127.0.0.1:0", "--metrics",
                absl::StrCat("127.0.0.1:", *http_port), "--dashboard-dir",
                source + "/dashboard/dist", "--log-level", "debug"},
       .env = {"HWNAS_DATABASE=" + pg.ConnectionString()},
       .log_path = dir + "/server.log"});
  if (!server.ok()) return Fail(std::string(server.status().message()));
  httplib::Client http("127.0.0.1", *http_port);
  http.set_read_timeout(60, 0);
  for (absl::Time deadline = absl::Now() + absl::Seconds(60);;) {
    auto r = http.Get("/readyz");
    if (r && r->status == 200) break;
    if (absl::Now() > deadline) return Fail("hwnas-server did not become ready; see " + dir);
    absl::SleepFor(absl::Milliseconds(100));
  }

  // 1. In the browser, first, so that its first load finds no Pareto answer
  // kept. The token goes through a private file: a command line shows in
  // `ps` and in RunCommand's error messages.
  const std::string token_file = dir + "/token";
  std::ofstream(token_file) << *token;
  std::filesystem::permissions(
      token_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  if (hold_s > 0) {
    // The connection string has the cluster's password: a private file.
    const std::string db_file = dir + "/database";
    std::ofstream(db_file) << pg.ConnectionString() << "\n";
    std::filesystem::permissions(
        db_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::cout << "holding for " << hold_s << " s:\n  DASHBOARD_URL=http://127.0.0.1:" << *http_port
              << "/ TOKEN_FILE=" << token_file << " SEARCH=" << search->id
              << " node bench/dashboard/measure.mjs\n  database connection string in " << db_file
              << "\n  server log: " << dir << "/server.log" << std::endl;
    absl::SleepFor(absl::Seconds(hold_s));
  }
  auto node = hwnas::RunCommand(
      {"env", absl::StrCat("DASHBOARD_URL=http://127.0.0.1:", *http_port, "/"),
       "TOKEN_FILE=" + token_file, absl::StrCat("SEARCH=", search->id), absl::StrCat("RUNS=", runs),
       "node", source + "/bench/dashboard/measure.mjs"},
      absl::Minutes(10));
  if (!node.ok()) return Fail(std::string(node.status().message()));
  std::cout << "\n" << node->output << std::flush;

  // 2. The API alone (server time + transfer on loopback).
  const httplib::Headers auth = {{"Authorization", "Bearer " + *token}};
  const std::string base = absl::StrCat("/api/v1/searches/", search->id);
  const std::vector<std::pair<std::string, std::string>> calls = {
      {"search summary", base},
      {"trials page 1", base + "/trials?page_size=50"},
      // Keyset tokens (db/dashboard_queries.cc): after trial 99,950; after
      // accuracy 0.5 in descending order (the page holds the lowest
      // accuracies, past ~98% of the SUCCEEDED trials); past every value.
      {"trials page at row 99,950 (keyset)", base + "/trials?page_size=50&page_token=n99950"},
      {"trials by accuracy desc, page 1", base + "/trials?order=accuracy&desc=1&page_size=50"},
      {"trials by accuracy desc, deep page (after 0.5)",
       base + "/trials?order=accuracy&desc=1&page_size=50&page_token=v0.5:1"},
      {"trials by accuracy desc, among those without one",
       base + "/trials?order=accuracy&desc=1&page_size=50&page_token=z1"},
      {"trials by latency_ms, page 1", base + "/trials?order=latency_ms&page_size=50"},
      {"trials by macs (no index), page 1", base + "/trials?order=macs&page_size=50"},
      {"trials SUCCEEDED, accuracy in [0.9, 0.95]",
       base + "/trials?state=SUCCEEDED&metric=accuracy&min=0.9&max=0.95&page_size=50"},
      {"pareto latency_ms x accuracy", base + "/pareto?x=latency_ms&y=accuracy"},
      // Every point, as the answer was before it was thinned (computed).
      {"pareto latency_ms x accuracy, every point",
       base + "/pareto?x=latency_ms&y=accuracy&sample_above=1000000"},
      // Axes the browser did not ask for: the first call computes.
      {"pareto latency_p90_ms x accuracy", base + "/pareto?x=latency_p90_ms&y=accuracy"},
      {"best so far (reward)", base + "/best?metric=reward"},
  };
  std::cout << "\nAPI over HTTP: first call, median of " << runs
            << " (ms), bytes (no compression asked for; the browser above already asked for "
               "the latency_ms x accuracy Pareto answer)\n";
  for (const auto& [name, path] : calls) {
    std::vector<double> ms;
    size_t bytes = 0;
    for (int i = 0; i < runs; ++i) {
      const absl::Time t0 = absl::Now();
      auto r = http.Get(path.c_str(), auth);
      ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
      if (!r || r->status != 200) return Fail("GET " + path + " failed");
      bytes = r->body.size();
    }
    std::cout << "  " << name << ": first " << ms[0] << " ms, median " << MedianMs(ms) << " ms, "
              << bytes << " B\n";
  }
  std::cout << std::flush;

  server->Stop(absl::Seconds(10));
  // The server's log has each API call's time in its handler
  // (event=dashboard_request): kept for reading after the run.
  const std::string kept_log = "/tmp/hwnas-bench-dashboard-server.log";
  std::error_code ec;
  std::filesystem::copy_file(dir + "/server.log", kept_log,
                             std::filesystem::copy_options::overwrite_existing, ec);
  if (!ec) std::cout << "server log (per-request times): " << kept_log << "\n";
  (void)pg.Stop();
  std::filesystem::remove_all(dir);
  return node->exit_code;
}

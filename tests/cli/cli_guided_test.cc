// User-guided trials (#19) end to end: `hwnas enqueue` and `hwnas import`
// against a real hwnas-server and a real table worker on a private
// PostgreSQL, and what `pareto`, `status` and the report show when no trial
// is feasible. The worker starts only after the guided trials are in, so
// the order it leases them in is the server's, not a race.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/app.h"
#include "cli/errors.h"
#include "common/subprocess.h"
#include "db/postgres_store.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/processes.h"
#include "tests/cli/server_suite.h"
#include "tests/testing/postgres_env.h"

namespace hwnas::cli {
namespace {

using json = nlohmann::json;

using testing::CliRun;

// nb201 answered from the table. The penalty reward needs latency_ms, so an
// imported row without it cannot be scored.
std::string TableSpec(absl::string_view name, int64_t trials, absl::string_view extra = "") {
  return absl::StrCat("name: ", name, R"(
space: {name: nb201}
evaluator: {kind: table, dataset: cifar10, device: raspi4}
objectives:
  reward: penalty
  constraints:
    - {metric: latency_ms, target: 15.72, lambda: 100}
)",
                      extra, R"(  pareto_metrics: [latency_ms]
strategy: {name: random, seed: 11}
budget: {trials: )",
                      trials, "}\n");
}

// Two NAS-Bench-201 cells as their arch strings.
constexpr char kArchA[] =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|"
    "nor_conv_3x3~2|";
constexpr char kArchB[] =
    "|nor_conv_1x1~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|";
constexpr char kArchC[] =
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_3x3~0|skip_connect~1|"
    "avg_pool_3x3~2|";

class CliGuidedTrials : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto suite = testing::ServerSuite::Start("hwnas-cli-guided");
    ASSERT_TRUE(suite.ok()) << suite.status();
    suite_ = suite->release();
  }

  static void TearDownTestSuite() {
    delete suite_;
    suite_ = nullptr;
  }

  void SetUp() override {
    if (suite_ == nullptr) GTEST_SKIP() << "the suite did not start";
  }

  // One table worker, started on first use.
  static void EnsureWorker() {
    if (!suite_->workers.empty()) return;
    absl::Status started = suite_->StartWorkers(1);
    ASSERT_TRUE(started.ok()) << started;
  }

  static CliRun Run(const std::vector<std::string>& args, const std::string& user) {
    return suite_->As(user, args);
  }
  static CliRun AsAlice(const std::vector<std::string>& args) { return Run(args, "alice"); }

  static std::string WriteFile(absl::string_view name, const std::string& contents) {
    const std::string path = absl::StrCat(suite_->dir, "/", name);
    std::ofstream(path) << contents;
    return path;
  }

  static int64_t Submit(absl::string_view name, const std::string& spec) {
    CliRun run = AsAlice({"submit", "-f", WriteFile(absl::StrCat(name, ".yaml"), spec)});
    EXPECT_EQ(run.code, kExitOk) << run.err;
    int64_t id = 0;
    EXPECT_TRUE(absl::SimpleAtoi(run.out.substr(0, run.out.find('\n')), &id)) << run.out;
    return id;
  }

  static std::vector<TrialRecord> StoredTrials(int64_t id) { return suite_->StoredTrials(id); }

  static bool Completed(int64_t id) {
    auto s = suite_->store->GetSearch(id);
    return s.ok() && s->state == SearchState::kCompleted;
  }

  static testing::ServerSuite* suite_;
};

testing::ServerSuite* CliGuidedTrials::suite_ = nullptr;

TEST_F(CliGuidedTrials, EnqueuedRunFirstImportedAreNeverLeasedBadInputStoresNothing) {
  ASSERT_TRUE(suite_->workers.empty()) << "this test must run before any worker starts";
  const int64_t id = Submit("guided", TableSpec("guided", 30));
  ASSERT_GT(id, 0);
  const size_t proposed = StoredTrials(id).size();
  ASSERT_GT(proposed, 0u) << "the strategy's proposals should be queued before the enqueue";

  // Bad input first: each request is refused whole, naming the line or
  // position, and nothing of it is stored.
  const std::string bad_list =
      WriteFile("bad-archs.txt", absl::StrCat("# known good cells\n", kArchA, "\n|nor_conv~0|\n"));
  CliRun bad = AsAlice({"enqueue", absl::StrCat(id), "--file", bad_list});
  EXPECT_EQ(bad.code, kExitInvalid) << bad.err;
  EXPECT_TRUE(absl::StrContains(bad.err, "line 3")) << bad.err;
  EXPECT_TRUE(absl::StrContains(bad.err, "does not decode in the 'nb201' space")) << bad.err;
  bad = AsAlice({"enqueue", absl::StrCat(id), "--arch", kArchA, "--arch", "9,9,9,9,9,9"});
  EXPECT_EQ(bad.code, kExitInvalid) << bad.err;
  EXPECT_TRUE(absl::StrContains(bad.err, "architecture 2")) << bad.err;
  // Missing and non-numeric metrics are refused by the CLI with the line.
  const std::string missing =
      WriteFile("missing.csv", absl::StrCat("architecture,accuracy,latency_ms\n\"", kArchA,
                                            "\",0.9,12.5\n\"", kArchB, "\",0.8,\n"));
  bad = AsAlice({"import", absl::StrCat(id), missing});
  EXPECT_EQ(bad.code, kExitInvalid) << bad.err;
  EXPECT_TRUE(absl::StrContains(bad.err, "missing.csv:3: missing latency_ms")) << bad.err;
  const std::string words =
      WriteFile("words.json",
                absl::StrCat("[\n  {\"architecture\": \"", kArchA,
                             "\", \"accuracy\": 0.9, \"latency_ms\": 12},\n  {\"architecture\": "
                             "\"",
                             kArchB, "\", \"accuracy\": \"high\", \"latency_ms\": 9}\n]\n"));
  bad = AsAlice({"import", absl::StrCat(id), words});
  EXPECT_EQ(bad.code, kExitInvalid) << bad.err;
  EXPECT_TRUE(absl::StrContains(bad.err, "words.json:3: accuracy")) << bad.err;
  // A row the search's reward cannot score (no latency_ms) is refused by the
  // server, naming its line; the good row before it is not stored either.
  const std::string unscorable = WriteFile(
      "unscorable.csv",
      absl::StrCat("architecture,accuracy\n\"", kArchA, "\",0.9\n\"", kArchB, "\",0.8\n"));
  bad = AsAlice({"import", absl::StrCat(id), unscorable});
  EXPECT_EQ(bad.code, kExitInvalid) << bad.err;
  EXPECT_TRUE(absl::StrContains(bad.err, "line 2")) << bad.err;
  EXPECT_TRUE(absl::StrContains(bad.err, "latency_ms")) << bad.err;
  // Only the owner may add trials.
  bad = Run({"enqueue", absl::StrCat(id), "--arch", kArchA}, "bob");
  EXPECT_EQ(bad.code, kExitAuth) << bad.err;
  EXPECT_EQ(StoredTrials(id).size(), proposed);

  // Two enqueued (a readable form and a token list), three imported.
  CliRun enq = AsAlice({"enqueue", absl::StrCat(id), "--arch", kArchA, "--arch", "1,2,3,4,0,1"});
  ASSERT_EQ(enq.code, kExitOk) << enq.err;
  EXPECT_TRUE(absl::StrContains(enq.out, "enqueued")) << enq.out;
  const std::string results = WriteFile(
      "results.csv",
      absl::StrCat("architecture,accuracy,latency_ms,params\n\"", kArchB, "\",0.71,9.5,120000\n\"",
                   kArchC, "\",0.93,30.25,800000\n", "4,4,4,4,4,4,0.55,8,50000\n"));
  // The third row is an unquoted token list: the CSV splits it, so it is
  // refused with its line (a token list must be quoted in CSV).
  CliRun imp = AsAlice({"import", absl::StrCat(id), results});
  EXPECT_EQ(imp.code, kExitInvalid) << imp.err;
  EXPECT_TRUE(absl::StrContains(imp.err, "results.csv:4")) << imp.err;
  const std::string good =
      WriteFile("good.csv", absl::StrCat("architecture,accuracy,latency_ms,params\n\"", kArchB,
                                         "\",0.71,9.5,120000\n\"", kArchC, "\",0.93,30.25,800000\n",
                                         "\"4,4,4,4,4,4\",0.55,8,50000\n"));
  imp = AsAlice({"import", absl::StrCat(id), good, "-o", "json"});
  ASSERT_EQ(imp.code, kExitOk) << imp.err;
  json imported = json::parse(imp.out);
  ASSERT_EQ(imported.size(), 3u);
  for (const json& t : imported) {
    EXPECT_EQ(t["origin"], "imported");
    EXPECT_EQ(t["state"], "SUCCEEDED");
    EXPECT_FALSE(t["reward"].is_null());
  }

  // Now a worker: the enqueued trials are leased first; imported ones never.
  EnsureWorker();
  ASSERT_TRUE(testing::WaitFor([&] { return Completed(id); }, absl::Seconds(120)))
      << "search " << id << " did not complete";
  const std::vector<TrialRecord> trials = StoredTrials(id);
  std::vector<const TrialRecord*> enqueued, strategy, from_elsewhere;
  for (const TrialRecord& t : trials) {
    if (t.origin == TrialOrigin::kEnqueued) enqueued.push_back(&t);
    if (t.origin == TrialOrigin::kStrategy) strategy.push_back(&t);
    if (t.origin == TrialOrigin::kImported) from_elsewhere.push_back(&t);
  }
  ASSERT_EQ(enqueued.size(), 2u);
  ASSERT_EQ(from_elsewhere.size(), 3u);
  // Imported trials count against the budget of 30 finished trials.
  EXPECT_EQ(trials.size(), 30u);
  EXPECT_EQ(enqueued[0]->architecture.readable, kArchA);
  EXPECT_EQ(enqueued[1]->architecture.tokens, (std::vector<int>{1, 2, 3, 4, 0, 1}));
  for (const TrialRecord* e : enqueued) {
    EXPECT_EQ(e->state, TrialState::kSucceeded);
    ASSERT_TRUE(e->started_at.has_value());
    for (const TrialRecord* s : strategy) {
      // Numbered after the strategy's queued proposals, yet leased first.
      EXPECT_GT(e->number, strategy.front()->number);
      ASSERT_TRUE(s->started_at.has_value()) << "trial " << s->number;
      EXPECT_LE(*e->started_at, *s->started_at) << "trial " << s->number;
      // Finished (and so told to the strategy) before the proposals were.
      EXPECT_LT(e->finish_seq, s->finish_seq);
    }
  }
  for (const TrialRecord* i : from_elsewhere) {
    EXPECT_EQ(i->attempts, 0);
    EXPECT_TRUE(i->worker_id.empty());
    EXPECT_FALSE(i->started_at.has_value());
    EXPECT_EQ(i->state, TrialState::kSucceeded);
    // Never re-run: no other trial evaluated the same cell.
    for (const TrialRecord& t : trials) {
      if (&t != i) {
        EXPECT_NE(t.architecture.tokens, i->architecture.tokens);
      }
    }
  }

  // The views show the origin; the trial list shows it too.
  CliRun list = AsAlice({"trials", absl::StrCat(id), "--sort", "accuracy", "--top", "40"});
  ASSERT_EQ(list.code, kExitOk) << list.err;
  EXPECT_TRUE(absl::StrContains(list.out, "ORIGIN")) << list.out;
  EXPECT_TRUE(absl::StrContains(list.out, "imported")) << list.out;
  // The imported cell with 0.93 at 30.25 ms is on the Pareto front over
  // latency (nothing else can dominate it unless it beats 0.93 accuracy).
  CliRun front = AsAlice({"pareto", absl::StrCat(id), "-o", "json"});
  ASSERT_EQ(front.code, kExitOk) << front.err;
  json pareto = json::parse(front.out);
  bool imported_on_front = false;
  for (const json& t : pareto["trials"]) {
    if (t["origin"] == "imported") imported_on_front = true;
  }
  double best_accuracy = 0;
  for (const TrialRecord& t : trials) {
    if (t.result && t.origin != TrialOrigin::kImported) {
      best_accuracy = std::max(best_accuracy, t.result->accuracy);
    }
  }
  if (best_accuracy < 0.93) {
    EXPECT_TRUE(imported_on_front) << front.out;
  }
  EXPECT_TRUE(pareto["least_violating"].empty());

  // A finished search takes no more guided trials.
  CliRun late = AsAlice({"enqueue", absl::StrCat(id), "--arch", kArchA});
  EXPECT_NE(late.code, kExitOk);
  EXPECT_TRUE(absl::StrContains(late.err, "COMPLETED")) << late.err;
}

TEST_F(CliGuidedTrials, NothingFeasibleShowsTheLeastViolatingTrials) {
  EnsureWorker();
  // No NAS-Bench-201 cell runs in 0.5 ms on the raspi4: every trial is
  // INFEASIBLE, and an empty front would tell the user nothing.
  const int64_t id =
      Submit("infeasible",
             TableSpec("infeasible", 8, "  hard_limits:\n    - {metric: latency_ms, max: 0.5}\n"));
  ASSERT_GT(id, 0);
  ASSERT_TRUE(testing::WaitFor([&] { return Completed(id); }, absl::Seconds(120)));
  const std::vector<TrialRecord> trials = StoredTrials(id);
  double lowest_latency = 1e9;
  int64_t closest = 0;
  for (const TrialRecord& t : trials) {
    ASSERT_EQ(t.state, TrialState::kInfeasible) << "trial " << t.number;
    ASSERT_TRUE(t.result && t.result->latency);
    if (t.result->latency->median_ms < lowest_latency) {
      lowest_latency = t.result->latency->median_ms;
      closest = t.number;
    }
  }

  CliRun pareto = AsAlice({"pareto", absl::StrCat(id)});
  ASSERT_EQ(pareto.code, kExitOk) << pareto.err;
  EXPECT_TRUE(absl::StrContains(pareto.out, "No feasible trial")) << pareto.out;
  EXPECT_TRUE(absl::StrContains(pareto.out, "latency_ms")) << pareto.out;
  EXPECT_TRUE(absl::StrContains(pareto.out, "> 0.50")) << pareto.out;

  CliRun as_json = AsAlice({"pareto", absl::StrCat(id), "-o", "json"});
  ASSERT_EQ(as_json.code, kExitOk) << as_json.err;
  json j = json::parse(as_json.out);
  EXPECT_TRUE(j["trials"].empty());
  ASSERT_FALSE(j["least_violating"].empty()) << as_json.out;
  const json& first = j["least_violating"][0];
  EXPECT_EQ(first["trial"]["number"], closest);
  ASSERT_EQ(first["misses"].size(), 1u);
  EXPECT_EQ(first["misses"][0]["metric"], "latency_ms");
  EXPECT_DOUBLE_EQ(first["misses"][0]["limit"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(first["misses"][0]["value"].get<double>(), lowest_latency);
  EXPECT_NEAR(first["misses"][0]["excess"].get<double>(), (lowest_latency - 0.5) / 0.5, 1e-9);
  // Ranked: each misses by no less than the one before.
  double previous = 0;
  for (const json& n : j["least_violating"]) {
    EXPECT_GE(n["total_excess"].get<double>(), previous);
    previous = n["total_excess"].get<double>();
  }

  CliRun status = AsAlice({"status", absl::StrCat(id)});
  ASSERT_EQ(status.code, kExitOk) << status.err;
  EXPECT_TRUE(absl::StrContains(status.out, "none feasible")) << status.out;
  EXPECT_TRUE(absl::StrContains(status.out, absl::StrCat(closest))) << status.out;
  EXPECT_FALSE(absl::StrContains(status.out, "none yet")) << status.out;

  const std::string html_path = absl::StrCat(suite_->dir, "/infeasible.html");
  CliRun report = AsAlice({"report", absl::StrCat(id), "-o", html_path});
  ASSERT_EQ(report.code, kExitOk) << report.err;
  const std::string html = testing::ReadWholeFile(html_path);
  EXPECT_TRUE(absl::StrContains(html, "id=\"least-violating\"")) << html.substr(0, 2000);
  EXPECT_TRUE(absl::StrContains(html, "latency_ms")) << html.substr(0, 2000);
}

}  // namespace
}  // namespace hwnas::cli

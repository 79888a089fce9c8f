// The `hwnas` commands against a real hwnas-server and real table workers on
// a private PostgreSQL: submit, watch, ls, status, trials (JSON checked
// against the store), pareto, trial, cancel, the auth errors a user sees, and
// the HTML report rendered by headless Chromium.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cli/app.h"
#include "cli/errors.h"
#include "cli/format.h"
#include "common/subprocess.h"
#include "db/postgres_store.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/processes.h"
#include "tests/cli/server_suite.h"
#include "tests/testing/postgres_env.h"
#include "tests/testing/test_paths.h"

namespace hwnas::cli {
namespace {

using json = nlohmann::json;
using testing::ReadWholeFile;

using testing::CliRun;

// nb201 answered from the table: no training, a few seconds per search.
std::string TableSpec(absl::string_view name, int64_t trials) {
  return absl::StrCat("name: ", name, R"(
space: {name: nb201}
evaluator: {kind: table, dataset: cifar10, device: raspi4}
objectives:
  reward: penalty
  constraints:
    - {metric: latency_ms, target: 15.72, lambda: 100}
  pareto_metrics: [latency_ms]
strategy: {name: random, seed: 7}
budget: {trials: )",
                      trials, "}\n");
}

class CliAgainstRealServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto suite = testing::ServerSuite::Start("hwnas-cli-server");
    ASSERT_TRUE(suite.ok()) << suite.status();
    suite_ = suite->release();
    absl::Status workers = suite_->StartWorkers(2);
    ASSERT_TRUE(workers.ok()) << workers;
  }

  static void TearDownTestSuite() {
    delete suite_;
    suite_ = nullptr;
  }

  void SetUp() override {
    if (suite_ == nullptr || suite_->workers.empty()) GTEST_SKIP() << "the suite did not start";
  }

  static CliRun Run(const std::vector<std::string>& args, const std::string& token) {
    return suite_->Run(args, token);
  }
  static CliRun AsAlice(const std::vector<std::string>& args) { return suite_->As("alice", args); }

  static std::string WriteSpec(absl::string_view name, const std::string& yaml) {
    const std::string path = absl::StrCat(suite_->dir, "/", name, ".yaml");
    std::ofstream(path) << yaml;
    return path;
  }

  // Submits and watches a small table search to its end (once per suite).
  static int64_t CompletedSearch() {
    static int64_t id = [] {
      CliRun run =
          AsAlice({"submit", "-f", WriteSpec("done", TableSpec("cli-done", 40)), "--watch"});
      EXPECT_EQ(run.code, kExitOk) << run.err;
      *watch_output_ = run.out;
      int64_t parsed = 0;
      std::string first = run.out.substr(0, run.out.find('\n'));
      EXPECT_TRUE(absl::SimpleAtoi(first, &parsed)) << run.out;
      EXPECT_TRUE(absl::StrContains(run.out, "SUCCEEDED")) << run.out;
      return parsed;
    }();
    return id;
  }

  static std::string* watch_output_;  // CompletedSearch's `submit --watch`.
  static testing::ServerSuite* suite_;
};

std::string* CliAgainstRealServer::watch_output_ = new std::string;
testing::ServerSuite* CliAgainstRealServer::suite_ = nullptr;

TEST_F(CliAgainstRealServer, SubmitWatchListStatus) {
  const int64_t id = CompletedSearch();
  ASSERT_GT(id, 0);

  CliRun ls = AsAlice({"ls", "-o", "json"});
  ASSERT_EQ(ls.code, kExitOk) << ls.err;
  json searches = json::parse(ls.out);
  bool found = false;
  for (const json& s : searches) {
    if (s["id"] == id) {
      found = true;
      EXPECT_EQ(s["state"], "COMPLETED");
      EXPECT_EQ(s["owner"], "alice");
    }
  }
  EXPECT_TRUE(found) << ls.out;

  // Every trial is streamed once, and each finished-trial line shows the
  // progress as of that trial: never behind the lines printed so far, never
  // going back, ahead only by trials that finished while the server read the
  // store (a few at most; it used to show 40/40 from trial 13 on), and the
  // last one at the budget.
  const std::regex finished_line(R"(^trial \d+ [A-Z_]+.* \((\d+)/40\)$)");
  int64_t lines = 0, shown = 0;
  for (absl::string_view line : absl::StrSplit(*watch_output_, '\n')) {
    std::match_results<absl::string_view::const_iterator> m;
    if (!std::regex_match(line.begin(), line.end(), m, finished_line)) continue;
    const int64_t count = std::stoll(m[1].str());
    ++lines;
    EXPECT_GE(count, lines) << line << "\n" << *watch_output_;
    EXPECT_GE(count, shown) << line << "\n" << *watch_output_;
    EXPECT_LE(count, lines + 8) << line << "\n" << *watch_output_;
    shown = count;
  }
  EXPECT_EQ(lines, 40) << *watch_output_;
  EXPECT_EQ(shown, 40) << *watch_output_;

  CliRun table = AsAlice({"ls"});
  EXPECT_TRUE(absl::StrContains(table.out, "cli-done")) << table.out;

  CliRun status = AsAlice({"status", absl::StrCat(id), "-o", "json"});
  ASSERT_EQ(status.code, kExitOk) << status.err;
  json s = json::parse(status.out);
  auto stored = suite_->store->GetSearch(id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(s["state"], "COMPLETED");
  EXPECT_EQ(s["budget"], 40);
  EXPECT_EQ(s["trials"]["finished"], 40);
  EXPECT_EQ(s["trials"]["succeeded"], stored->counts.succeeded);
  ASSERT_TRUE(stored->best_trial.has_value());
  EXPECT_EQ(s["best_trial"]["number"], stored->best_trial->number);
}

TEST_F(CliAgainstRealServer, TrialsJsonMatchesTheStore) {
  const int64_t id = CompletedSearch();
  CliRun run = AsAlice({"trials", absl::StrCat(id), "-o", "json"});
  ASSERT_EQ(run.code, kExitOk) << run.err;
  json trials = json::parse(run.out);
  std::vector<TrialRecord> stored = suite_->StoredTrials(id);
  ASSERT_EQ(trials.size(), stored.size());
  ASSERT_EQ(stored.size(), 40u);
  std::map<int64_t, const TrialRecord*> by_number;
  for (const TrialRecord& t : stored) by_number[t.number] = &t;
  for (const json& t : trials) {
    const TrialRecord* s = by_number.at(t["number"].get<int64_t>());
    EXPECT_EQ(t["state"], std::string(TrialStateName(s->state)));
    EXPECT_EQ(t["architecture"]["tokens"].get<std::vector<int>>(), s->architecture.tokens);
    ASSERT_TRUE(s->result.has_value());
    EXPECT_DOUBLE_EQ(t["result"]["accuracy"].get<double>(), s->result->accuracy);
    ASSERT_TRUE(s->result->latency.has_value());
    EXPECT_DOUBLE_EQ(t["result"]["latency"]["median_ms"].get<double>(),
                     s->result->latency->median_ms);
    ASSERT_TRUE(s->reward.has_value());
    EXPECT_DOUBLE_EQ(t["reward"].get<double>(), *s->reward);
  }

  // --top and --sort reward: the best rewards, best first.
  CliRun top =
      AsAlice({"trials", absl::StrCat(id), "--top", "5", "--sort", "reward", "-o", "json"});
  ASSERT_EQ(top.code, kExitOk) << top.err;
  json best = json::parse(top.out);
  ASSERT_EQ(best.size(), 5u);
  double max_reward = -1e300;
  for (const TrialRecord& t : stored) max_reward = std::max(max_reward, t.reward.value_or(-1e300));
  EXPECT_DOUBLE_EQ(best[0]["reward"].get<double>(), max_reward);
  for (size_t i = 1; i < best.size(); ++i) {
    EXPECT_GE(best[i - 1]["reward"].get<double>(), best[i]["reward"].get<double>());
  }

  // One trial in full.
  const int64_t n = best[0]["number"].get<int64_t>();
  CliRun one = AsAlice({"trial", absl::StrCat(id), absl::StrCat(n), "-o", "json"});
  ASSERT_EQ(one.code, kExitOk) << one.err;
  EXPECT_EQ(json::parse(one.out)["number"], n);
  CliRun missing = AsAlice({"trial", absl::StrCat(id), "999"});
  EXPECT_EQ(missing.code, kExitInvalid);
  EXPECT_TRUE(absl::StrContains(missing.err, "trial 999 of search")) << missing.err;
}

TEST_F(CliAgainstRealServer, ParetoFrontIsNonDominated) {
  const int64_t id = CompletedSearch();
  CliRun run = AsAlice({"pareto", absl::StrCat(id), "-o", "json"});
  ASSERT_EQ(run.code, kExitOk) << run.err;
  json front = json::parse(run.out);
  ASSERT_TRUE(front.contains("trials")) << run.out;
  ASSERT_FALSE(front["trials"].empty());
  std::vector<TrialRecord> stored = suite_->StoredTrials(id);
  for (const json& f : front["trials"]) {
    const double acc = f["result"]["accuracy"].get<double>();
    const double lat = f["result"]["latency"]["median_ms"].get<double>();
    for (const TrialRecord& t : stored) {
      if (t.state != TrialState::kSucceeded) continue;
      const bool dominates = t.result->accuracy >= acc && t.result->latency->median_ms <= lat &&
                             (t.result->accuracy > acc || t.result->latency->median_ms < lat);
      EXPECT_FALSE(dominates) << "trial " << t.number << " dominates front trial " << f["number"];
    }
  }
  CliRun table = AsAlice({"pareto", absl::StrCat(id)});
  ASSERT_EQ(table.code, kExitOk) << table.err;
  EXPECT_TRUE(absl::StrContains(table.out, "* Pareto front")) << table.out;
}

TEST_F(CliAgainstRealServer, CancelStopsASearch) {
  CliRun submit = AsAlice({"submit", "-f", WriteSpec("big", TableSpec("cli-big", 1000000))});
  ASSERT_EQ(submit.code, kExitOk) << submit.err;
  const std::string id = std::string(absl::StripAsciiWhitespace(submit.out));
  CliRun cancel = AsAlice({"cancel", id});
  ASSERT_EQ(cancel.code, kExitOk) << cancel.err;
  EXPECT_EQ(cancel.out, absl::StrCat("search ", id, " cancelled\n"));
  CliRun status = AsAlice({"status", id, "-o", "json"});
  ASSERT_EQ(status.code, kExitOk) << status.err;
  json s = json::parse(status.out);
  EXPECT_EQ(s["state"], "CANCELLED");
  EXPECT_LT(s["trials"]["finished"].get<int64_t>(), 1000000);
  // Cancelling again changes nothing, and says so.
  CliRun twice = AsAlice({"cancel", id});
  EXPECT_EQ(twice.code, kExitOk) << twice.err;
  EXPECT_EQ(twice.out, absl::StrCat("search ", id, " had already ended: CANCELLED\n"));
  CliRun again = AsAlice({"cancel", id, "-o", "json"});
  EXPECT_EQ(again.code, kExitOk) << again.err;
  EXPECT_EQ(json::parse(again.out)["state"], "CANCELLED");
  // Watching a cancelled search ends at once with exit code 5.
  CliRun watch = AsAlice({"watch", id});
  EXPECT_EQ(watch.code, kExitSearchNotCompleted) << watch.err;
}

// Every example the README points at is a spec the server accepts.
TEST_F(CliAgainstRealServer, TheServerAcceptsEveryExample) {
  const std::string examples = absl::StrCat(hwnas::testing::SourceDir(), "/examples");
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(examples)) {
    if (entry.path().extension() != ".yaml") continue;
    ++seen;
    CliRun submit = AsAlice({"submit", "-f", entry.path().string()});
    ASSERT_EQ(submit.code, kExitOk) << entry.path() << ": " << submit.err;
    const std::string id = std::string(absl::StripAsciiWhitespace(submit.out));
    CliRun cancel = AsAlice({"cancel", id});
    EXPECT_EQ(cancel.code, kExitOk) << cancel.err;
  }
  EXPECT_GE(seen, 4);
}

TEST_F(CliAgainstRealServer, SpecErrorsNameTheField) {
  std::string bad = TableSpec("cli-bad", 0);
  CliRun run = AsAlice({"submit", "-f", WriteSpec("bad", bad)});
  EXPECT_EQ(run.code, kExitInvalid);
  EXPECT_TRUE(absl::StrContains(run.err, "budget.trials")) << run.err;
}

// The server reads no data files: a spec whose stratified folds cannot work
// on its data set (ECG5000's rarest class has 2 beats in the pool) is
// refused by the CLI's data check before anything is submitted.
TEST_F(CliAgainstRealServer, SubmitRefusesFoldsThatDoNotFitTheData) {
  std::string yaml =
      ReadWholeFile(absl::StrCat(hwnas::testing::SourceDir(), "/examples/ecg-tinyml.yaml"));
  ASSERT_TRUE(absl::StrContains(yaml, "  folds: 2\n"));
  absl::StrReplaceAll(
      {{"  folds: 2\n", "  folds: 5\n"}, {"name: ecg5000-cortex-m4", "name: ecg-five-folds"}},
      &yaml);
  CliRun run = AsAlice({"submit", "-f", WriteSpec("five-folds", yaml)});
  EXPECT_EQ(run.code, kExitInvalid) << run.err;
  EXPECT_TRUE(absl::StrContains(run.err, "evaluation.folds is 5 but class ")) << run.err;
  CliRun list = AsAlice({"ls"});
  ASSERT_EQ(list.code, kExitOk) << list.err;
  EXPECT_FALSE(absl::StrContains(list.out, "ecg-five-folds")) << list.out;
}

TEST_F(CliAgainstRealServer, AuthErrorsAreClearAndNonZero) {
  const int64_t id = CompletedSearch();
  CliRun none = Run({"ls"}, "");
  EXPECT_EQ(none.code, kExitAuth);
  EXPECT_TRUE(absl::StrContains(none.err, "did not accept the credentials")) << none.err;
  EXPECT_TRUE(absl::StrContains(none.err, "--token, HWNAS_TOKEN")) << none.err;

  CliRun wrong = Run({"status", absl::StrCat(id)}, "hwn_not_a_real_token");
  EXPECT_EQ(wrong.code, kExitAuth);
  EXPECT_TRUE(absl::StrContains(wrong.err, "did not accept the credentials")) << wrong.err;

  // Bob may not see or cancel Alice's search.
  CliRun peek = Run({"status", absl::StrCat(id)}, suite_->tokens.at("bob"));
  EXPECT_NE(peek.code, kExitOk);
  EXPECT_TRUE(peek.code == kExitAuth || peek.code == kExitInvalid) << peek.code;
  EXPECT_TRUE(absl::StrContains(peek.err, "permission denied") ||
              absl::StrContains(peek.err, absl::StrCat("search ", id)))
      << peek.err;
  CliRun cancel = Run({"cancel", absl::StrCat(id)}, suite_->tokens.at("bob"));
  EXPECT_NE(cancel.code, kExitOk);
  CliRun trials = Run({"trials", absl::StrCat(id)}, suite_->tokens.at("bob"));
  EXPECT_NE(trials.code, kExitOk);
  EXPECT_TRUE(trials.out.empty()) << trials.out;
  // Bob's own list does not show it.
  CliRun ls = Run({"ls", "-o", "json"}, suite_->tokens.at("bob"));
  ASSERT_EQ(ls.code, kExitOk) << ls.err;
  EXPECT_TRUE(json::parse(ls.out).empty()) << ls.out;
  // A worker token sees no user's searches.
  CliRun worker = Run({"status", absl::StrCat(id)}, suite_->tokens.at("fleet"));
  EXPECT_NE(worker.code, kExitOk) << worker.out;

  // The real binary maps the same error to the same exit code.
  auto binary =
      RunCommand({"env", "-u", "HWNAS_TOKEN", "-u", "HWNAS_CONFIG", "XDG_CONFIG_HOME=/nonexistent",
                  testing::BinaryPath("cli/hwnas"), "--server", suite_->server->address(), "ls"},
                 absl::Seconds(60));
  ASSERT_TRUE(binary.ok()) << binary.status();
  EXPECT_EQ(binary->exit_code, kExitAuth) << binary->output;
  EXPECT_TRUE(absl::StrContains(binary->output, "hwnas: error: the server at")) << binary->output;
}

// A table search has no data to train on: --train-epochs is refused before
// anything is written.
TEST_F(CliAgainstRealServer, ExportRefusesToTrainATrialOfATableSearch) {
  const int64_t id = CompletedSearch();
  const std::string out = absl::StrCat(suite_->dir, "/export-table");
  CliRun run =
      AsAlice({"export", absl::StrCat(id), "--trial", "1", "--out", out, "--train-epochs", "1"});
  EXPECT_EQ(run.code, kExitUsage) << run.err;
  EXPECT_TRUE(absl::StrContains(run.err, "was answered from the NAS-Bench-201 table")) << run.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

// export: the files of a trial, then a trained TorchScript module that
// Python's torch.jit.load runs with the outputs the C++ network gave.
TEST_F(CliAgainstRealServer, ExportWritesTheTrialAndATorchScriptModelPythonLoads) {
  std::string spec = testing::kTinyFashionSpec;
  spec.replace(spec.find("trials: 4"), 9, "trials: 2");
  CliRun submit = AsAlice({"submit", "-f", WriteSpec("tiny", spec), "--watch"});
  ASSERT_EQ(submit.code, kExitOk) << submit.err << submit.out;
  int64_t id = 0;
  ASSERT_TRUE(absl::SimpleAtoi(submit.out.substr(0, submit.out.find('\n')), &id));
  const std::vector<TrialRecord> stored = suite_->StoredTrials(id);
  ASSERT_EQ(stored.size(), 2u);
  const TrialRecord& trial = stored[0];

  const std::string plain = absl::StrCat(suite_->dir, "/export-plain");
  CliRun files = AsAlice({"export", absl::StrCat(id), "--trial", "1", "--out", plain});
  ASSERT_EQ(files.code, kExitOk) << files.err;
  json arch = json::parse(ReadWholeFile(absl::StrCat(plain, "/architecture.json")));
  EXPECT_EQ(arch["tokens"].get<std::vector<int>>(), trial.architecture.tokens);
  EXPECT_EQ(arch["readable"], trial.architecture.readable);
  EXPECT_EQ(arch["space"], "mnasnet");
  json metrics = json::parse(ReadWholeFile(absl::StrCat(plain, "/metrics.json")));
  EXPECT_EQ(metrics["number"], 1);
  EXPECT_EQ(metrics["state"], std::string(TrialStateName(trial.state)));
  EXPECT_EQ(ReadWholeFile(absl::StrCat(plain, "/spec.yaml")), spec);
  EXPECT_TRUE(absl::StrContains(ReadWholeFile(absl::StrCat(plain, "/architecture.txt")),
                                trial.architecture.readable));
  EXPECT_FALSE(std::filesystem::exists(absl::StrCat(plain, "/model.pt")));

  const std::string trained = absl::StrCat(suite_->dir, "/export-trained");
  CliRun run = AsAlice({"export", absl::StrCat(id), "--trial", "1", "--out", trained,
                        "--train-epochs", "1", "--spec-data"});
  ASSERT_EQ(run.code, kExitOk) << run.err;
  EXPECT_EQ(run.out, absl::StrCat(trained, "/model.pt\n"));
  EXPECT_TRUE(absl::StrContains(run.err, "epoch 1/1")) << run.err;
  json summary = json::parse(ReadWholeFile(absl::StrCat(trained, "/model.json")));
  EXPECT_LE(summary["check_max_abs_diff"].get<double>(), 1e-4);
  EXPECT_GT(summary["check_samples"].get<int>(), 0);
  EXPECT_EQ(summary["architecture"]["tokens"].get<std::vector<int>>(), trial.architecture.tokens);

  // Python PyTorch loads the module and reproduces the C++ network's logits.
  const std::string check = absl::StrCat(R"(
import json, sys, torch
d = sys.argv[1]
s = json.load(open(d + '/model.json'))
extra = {'architecture.json': '', 'plan.txt': ''}
m = torch.jit.load(d + '/model.pt', _extra_files=extra)
m.eval()
assert json.loads(extra['architecture.json'])['tokens'] == s['architecture']['tokens']
x = torch.tensor(s['check_input']).reshape([1] + s['architecture']['input_shape'])
with torch.no_grad():
    y = m(x)
assert list(y.shape) == [1, 10], y.shape
diff = (y[0] - torch.tensor(s['check_output'])).abs().max().item()
assert diff <= 1e-4, diff
print('python-ok', diff)
)");
  // Debian's interpreter (python3-torch), not a python3 shim earlier on PATH.
  const std::string python3 =
      std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  auto python = RunCommand({python3, "-c", check, trained}, absl::Seconds(120));
  ASSERT_TRUE(python.ok()) << python.status();
  EXPECT_EQ(python->exit_code, 0) << python->output;
  EXPECT_TRUE(absl::StrContains(python->output, "python-ok")) << python->output;
}

// The report in a real browser: headless Chromium renders the page (DOM and
// screenshot); the DOM holds the plots and every stored trial's numbers.
TEST_F(CliAgainstRealServer, HtmlReportRendersInHeadlessChromium) {
  std::string chromium;
  for (const char* candidate : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (std::filesystem::exists(candidate)) chromium = candidate;
  }
  if (chromium.empty()) {
    GTEST_SKIP() << "chromium is not installed (scripts/setup installs Debian's `chromium`)";
  }
  const int64_t id = CompletedSearch();
  const std::string html = absl::StrCat(suite_->dir, "/report.html");
  CliRun run = AsAlice({"report", absl::StrCat(id), "-o", html});
  ASSERT_EQ(run.code, kExitOk) << run.err;

  const std::vector<std::string> common = {
      chromium,
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-dev-shm-usage",
      "--window-size=1280,2400",
      absl::StrCat("--user-data-dir=", suite_->dir, "/chromium")};
  std::vector<std::string> dump = common;
  dump.push_back("--dump-dom");
  dump.push_back(absl::StrCat("file://", html));
  auto dom = RunCommand(dump, absl::Seconds(120));
  ASSERT_TRUE(dom.ok()) << dom.status();
  ASSERT_EQ(dom->exit_code, 0) << dom->output.substr(0, 2000);
  const std::string& page = dom->output;
  // The plots: a Pareto front per cost metric and the reward plot, as SVG.
  EXPECT_TRUE(absl::StrContains(page, "id=\"pareto-latency_ms\"")) << page.substr(0, 2000);
  EXPECT_TRUE(absl::StrContains(page, "id=\"reward-plot\""));
  size_t svgs = 0;
  for (size_t at = page.find("<svg"); at != std::string::npos; at = page.find("<svg", at + 1)) {
    ++svgs;
  }
  EXPECT_GE(svgs, 2u);
  // The trial table: one row per stored trial, with its stored accuracy and
  // reward as the report formats them.
  EXPECT_TRUE(absl::StrContains(page, "<table class=\"trials\">"));
  for (const TrialRecord& t : suite_->StoredTrials(id)) {
    const std::string row =
        absl::StrCat("<td class=\"num\">", t.number, "</td><td class=\"state\">",
                     TrialStateName(t.state), "</td><td>", FormatMetric("reward", t.reward),
                     "</td><td>", FormatMetric("accuracy", t.result->accuracy), "</td>");
    EXPECT_TRUE(absl::StrContains(page, row)) << "missing row: " << row;
  }

  std::vector<std::string> shot = common;
  const std::string png = absl::StrCat(suite_->dir, "/report.png");
  shot.push_back(absl::StrCat("--screenshot=", png));
  shot.push_back(absl::StrCat("file://", html));
  auto screenshot = RunCommand(shot, absl::Seconds(120));
  ASSERT_TRUE(screenshot.ok()) << screenshot.status();
  ASSERT_EQ(screenshot->exit_code, 0) << screenshot->output.substr(0, 2000);
  const std::string bytes = ReadWholeFile(png);
  ASSERT_GT(bytes.size(), 24u);
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
  // Width and height from the IHDR chunk: the requested window.
  auto be32 = [&](size_t at) {
    return (static_cast<uint32_t>(static_cast<unsigned char>(bytes[at])) << 24) |
           (static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 1])) << 16) |
           (static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 2])) << 8) |
           static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 3]));
  };
  EXPECT_EQ(be32(16), 1280u);
  EXPECT_EQ(be32(20), 2400u);
  // A blank 1280x2400 page compresses to a few KB; plots, text and a table
  // of 40 rows do not.
  EXPECT_GT(bytes.size(), 40u * 1024) << "the screenshot looks empty";
}

}  // namespace
}  // namespace hwnas::cli

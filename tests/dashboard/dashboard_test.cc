// The dashboard against a real hwnas-server, real table workers and a
// private PostgreSQL:
//  - DashboardApi: the JSON API over HTTP (auth, owner-only visibility,
//    filters, paging, Pareto and best-so-far checked against the store);
//  - DashboardBrowser (run with --browser): tests/dashboard/browser.mjs drives
//    Debian's Chromium through playwright-core: log in, watch a trial finish
//    live, filter, open a trial, another user's search is a 404, a wrong
//    token gets the login page, "reconnecting" while the server restarts.
//    Screenshots are kept in the build tree (tests/dashboard/artifacts).
// With --browser the binary exits 77 (ctest: skipped) when node or chromium
// is missing, saying which.
#include <httplib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/app.h"
#include "cli/errors.h"
#include "common/subprocess.h"
#include "db/postgres_store.h"
#include "db/store.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "spec/worker_spec.h"
#include "tests/cli/processes.h"
#include "tests/testing/postgres_env.h"
#include "tests/testing/test_paths.h"

namespace hwnas {
namespace {

using json = nlohmann::json;
namespace ct = cli::testing;

bool g_browser = false;

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

struct Reply {
  int status = 0;
  json body;
};

class DashboardFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(ct::NewTempDir("hwnas-dashboard"));
    database_ = new std::string(hwnas::testing::PostgresEnvironment::Get()->NewDatabase());
    auto store = db::PostgresStore::Open({.connection_string = *database_, .pool_size = 2});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = store->release();
    ASSERT_TRUE(store_->Migrate().ok());
    tokens_ = new std::map<std::string, std::string>();
    for (const auto& [name, admin, worker] :
         {std::tuple<const char*, bool, bool>{"alice", false, false},
          {"bob", false, false},
          {"root", true, false},
          {"fleet", false, true}}) {
      auto user = store_->CreateUser(name, admin, worker);
      ASSERT_TRUE(user.ok()) << user.status();
      auto token = store_->IssueToken(user->id);
      ASSERT_TRUE(token.ok()) << token.status();
      (*tokens_)[name] = *token;
    }
    auto grpc_port = PickFreePort();
    auto http_port = PickFreePort();
    ASSERT_TRUE(grpc_port.ok() && http_port.ok());
    grpc_port_ = *grpc_port;
    http_port_ = *http_port;
    ASSERT_TRUE(StartServer().ok());
  }

  // hwnas-server on fixed ports (a restart keeps them), serving the built
  // app from the source tree when it is there.
  static absl::Status StartServer() {
    const std::string dist = absl::StrCat(
        std::getenv("HWNAS_SOURCE_DIR") != nullptr ? std::getenv("HWNAS_SOURCE_DIR") : ".",
        "/dashboard/dist");
    std::vector<std::string> argv = {ct::BinaryPath("server/hwnas-server"),
                                     "serve",
                                     "--listen",
                                     absl::StrCat("127.0.0.1:", grpc_port_),
                                     "--metrics",
                                     absl::StrCat("127.0.0.1:", http_port_),
                                     "--lease-ttl",
                                     "10"};
    if (std::filesystem::exists(dist + "/index.html")) {
      argv.push_back("--dashboard-dir");
      argv.push_back(dist);
    }
    auto child = ChildProcess::Start({.argv = argv,
                                      .env = {absl::StrCat("HWNAS_DATABASE=", *database_)},
                                      .log_path = absl::StrCat(*dir_, "/server.log")});
    if (!child.ok()) return child.status();
    server_ = new ChildProcess(*std::move(child));
    const bool up = ct::WaitFor(
        [] {
          httplib::Client c("127.0.0.1", http_port_);
          auto r = c.Get("/readyz");
          return r && r->status == 200;
        },
        absl::Seconds(60));
    if (!up) {
      return absl::DeadlineExceededError(absl::StrCat(
          "hwnas-server did not start: ", ct::ReadWholeFile(absl::StrCat(*dir_, "/server.log"))));
    }
    return absl::OkStatus();
  }

  static void StopServer() {
    if (server_ == nullptr) return;
    server_->Stop(absl::Seconds(10));
    delete server_;
    server_ = nullptr;
  }

  static absl::Status StartWorkers(int count) {
    auto workers =
        ct::StartWorkers(absl::StrCat("127.0.0.1:", grpc_port_), (*tokens_)["fleet"], count, *dir_);
    if (!workers.ok()) return workers.status();
    if (workers_ == nullptr) workers_ = new std::vector<ChildProcess>();
    for (ChildProcess& w : *workers) workers_->push_back(std::move(w));
    return absl::OkStatus();
  }

  static void TearDownTestSuite() {
    if (workers_ != nullptr) {
      for (ChildProcess& w : *workers_) w.Stop(absl::Seconds(10));
      delete workers_;
      workers_ = nullptr;
    }
    StopServer();
    delete store_;
    delete tokens_;
    delete database_;
    delete dir_;
  }

  // Submits `spec` as `user` through the real CLI (SubmitSearch); the id.
  static int64_t Submit(const std::string& user, absl::string_view name, int64_t trials) {
    const std::string path = absl::StrCat(*dir_, "/", name, ".yaml");
    std::ofstream(path) << TableSpec(name, trials);
    std::ostringstream out, err;
    cli::CliContext ctx = cli::DefaultContext();
    ctx.out = &out;
    ctx.err = &err;
    const std::string address = absl::StrCat("127.0.0.1:", grpc_port_);
    const std::string token = (*tokens_)[user];
    ctx.env = [address, token](absl::string_view key) -> std::optional<std::string> {
      if (key == "HWNAS_SERVER") return address;
      if (key == "HWNAS_TOKEN") return token;
      return std::nullopt;
    };
    const int code = cli::RunCli({"submit", "-f", path}, ctx);
    EXPECT_EQ(code, cli::kExitOk) << err.str();
    int64_t id = 0;
    EXPECT_TRUE(absl::SimpleAtoi(out.str().substr(0, out.str().find('\n')), &id)) << out.str();
    return id;
  }

  static Reply Call(const std::string& method, const std::string& path, const std::string& token,
                    const std::string& body = "") {
    httplib::Client c("127.0.0.1", http_port_);
    c.set_read_timeout(30, 0);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    auto r = method == "POST" ? c.Post(path.c_str(), headers, body,
                                       body.empty() ? "text/plain" : "application/json")
                              : c.Get(path.c_str(), headers);
    Reply reply;
    if (!r) return reply;
    reply.status = r->status;
    reply.body = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    return reply;
  }
  static Reply Get(const std::string& path, const std::string& user = "alice") {
    return Call("GET", path, user.empty() ? "" : (*tokens_)[user]);
  }

  // A finished search of `owner`'s with cross-validated results (#23), put
  // in through the store as a worker's reports would leave them: the ECG
  // example's spec (a temporal space, 2 folds x 2 repeats) and 6 SUCCEEDED
  // trials whose accuracy, standard error, per-fold accuracies, balanced
  // accuracy and macro-F1 are set. Trial 1 is the best by reward; trials 2
  // and 3 are within noise of its accuracy, 4-6 are not.
  // A RUNNING search of `owner`'s with the ECG example's spec (a temporal
  // space), created through the store, and that space; nullopt (with the
  // failure recorded) when a step fails.
  struct EcgSearch {
    int64_t id = 0;
    std::unique_ptr<space::SearchSpace> space;
  };
  static std::optional<EcgSearch> CreateEcgSearch(const std::string& owner, const std::string& name,
                                                  int64_t budget) {
    const std::string yaml = ct::ReadWholeFile(HWNAS_TEST_SOURCE_DIR "/examples/ecg-tinyml.yaml");
    auto spec = spec::ParseWorkerSpec(yaml);
    EXPECT_TRUE(spec.ok()) << spec.status();
    if (!spec.ok()) return std::nullopt;
    auto space = spec::MakeSpace(*spec);
    EXPECT_TRUE(space.ok()) << space.status();
    if (!space.ok()) return std::nullopt;
    auto user = store_->GetUser(owner);
    EXPECT_TRUE(user.ok()) << user.status();
    if (!user.ok()) return std::nullopt;
    auto search = store_->CreateSearch({.name = name,
                                        .owner_id = user->id,
                                        .spec_yaml = yaml,
                                        .space = "temporal",
                                        .budget = budget});
    EXPECT_TRUE(search.ok()) << search.status();
    if (!search.ok()) return std::nullopt;
    return EcgSearch{.id = search->id, .space = *std::move(space)};
  }

  static int64_t SeedCrossValidated(const std::string& owner) {
    std::optional<EcgSearch> created = CreateEcgSearch(owner, "cross-validated", 6);
    if (!created) return 0;
    const std::unique_ptr<space::SearchSpace>* space = &created->space;
    const int64_t search_id = created->id;
    // (accuracy, its standard error, reward); the four folds lie at the
    // mean -/+ the error.
    const std::vector<std::tuple<double, double, double>> results = {
        {0.90, 0.02, 0.90}, {0.88, 0.02, 0.89}, {0.87, 0.03, 0.88},
        {0.80, 0.01, 0.80}, {0.70, 0.02, 0.70}, {0.60, 0.01, 0.60}};
    std::vector<db::NewTrial> rows;
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& [acc, se, reward] = results[i];
      std::vector<int> tokens((*space)->decisions().size(), 0);
      for (size_t d = 0; d < tokens.size(); ++d) {
        tokens[d] = static_cast<int>((i + d) % (*space)->decisions()[d].choices.size());
      }
      auto arch = (*space)->MakeArchitecture(tokens);
      EXPECT_TRUE(arch.ok()) << arch.status();
      if (!arch.ok()) return 0;
      db::NewTrial t;
      t.architecture = *arch;
      t.canonical_hash = (*space)->CanonicalHash(tokens);
      t.state = TrialState::kSucceeded;
      TrialResult r;
      r.accuracy = acc;
      r.accuracy_se = se;
      r.fold_accuracy = {acc - se, acc + se, acc - se, acc + se};
      r.balanced_accuracy = acc - 0.05;
      r.macro_f1 = acc - 0.1;
      r.costs = {.params = 1000, .macs = 20000, .peak_activation_bytes = 4096, .flash_bytes = 1200};
      t.result = r;
      t.reward = reward;
      rows.push_back(std::move(t));
    }
    EXPECT_TRUE(store_->AddTrials(search_id, rows).ok());
    EXPECT_TRUE(store_->FinishSearch(search_id, SearchState::kCompleted).ok());
    return search_id;
  }

  // A finished search of `n` trials on few distinct points (period 200 in
  // (latency, accuracy)), every 10th INFEASIBLE: many trials per cell of the
  // Pareto answer's grid.
  static int64_t SeedDense(const std::string& owner, int n) {
    std::optional<EcgSearch> created = CreateEcgSearch(owner, "dense", n);
    if (!created) return 0;
    const std::unique_ptr<space::SearchSpace>* space = &created->space;
    const int64_t search_id = created->id;
    std::vector<int> tokens((*space)->decisions().size(), 0);
    auto arch = (*space)->MakeArchitecture(tokens);
    EXPECT_TRUE(arch.ok()) << arch.status();
    if (!arch.ok()) return 0;
    std::vector<db::NewTrial> rows;
    for (int i = 0; i < n; ++i) {
      db::NewTrial t;
      t.architecture = *arch;
      t.canonical_hash = (*space)->CanonicalHash(tokens);
      TrialResult r;
      r.latency = LatencyMeasurement{.median_ms = 1 + (i % 50) * 0.5, .p90_ms = 30, .runs = 1};
      if (i % 10 == 9) {
        t.state = TrialState::kInfeasible;
      } else {
        t.state = TrialState::kSucceeded;
        r.accuracy = 0.5 + ((i * 7) % 40) * 0.01;
        t.reward = r.accuracy;
      }
      t.result = r;
      rows.push_back(std::move(t));
    }
    EXPECT_TRUE(store_->AddTrials(search_id, rows).ok());
    EXPECT_TRUE(store_->FinishSearch(search_id, SearchState::kCompleted).ok());
    return search_id;
  }

  static bool SearchFinished(int64_t id) {
    auto s = store_->GetSearch(id);
    return s.ok() && s->state != SearchState::kRunning;
  }

  static std::vector<TrialRecord> StoredTrials(int64_t id) {
    std::vector<TrialRecord> all;
    db::TrialQuery query;
    query.search_id = id;
    for (;;) {
      auto page = store_->ListTrials(query);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) return all;
      all.insert(all.end(), page->items.begin(), page->items.end());
      if (page->next_page_token.empty()) return all;
      query.page_token = page->next_page_token;
    }
  }

  static std::string* dir_;
  static std::string* database_;
  static db::Store* store_;
  static std::map<std::string, std::string>* tokens_;
  static ChildProcess* server_;
  static std::vector<ChildProcess>* workers_;
  static int grpc_port_;
  static int http_port_;
};

std::string* DashboardFixture::dir_ = nullptr;
std::string* DashboardFixture::database_ = nullptr;
db::Store* DashboardFixture::store_ = nullptr;
std::map<std::string, std::string>* DashboardFixture::tokens_ = nullptr;
ChildProcess* DashboardFixture::server_ = nullptr;
std::vector<ChildProcess>* DashboardFixture::workers_ = nullptr;
int DashboardFixture::grpc_port_ = 0;
int DashboardFixture::http_port_ = 0;

class DashboardApi : public DashboardFixture {
 protected:
  void SetUp() override {
    if (g_browser) GTEST_SKIP() << "API cases run without --browser";
    if (server_ == nullptr) GTEST_SKIP() << "the suite did not start";
    static int64_t done = [] {
      int64_t id = Submit("alice", "api-done", 60);
      EXPECT_TRUE(StartWorkers(2).ok());
      EXPECT_TRUE(ct::WaitFor([id] { return SearchFinished(id); }, absl::Minutes(3)));
      return id;
    }();
    done_ = done;
  }
  int64_t done_ = 0;
};

TEST_F(DashboardApi, TokensAreRequiredAndCheckedWithoutLeakingData) {
  for (const std::string& path :
       std::vector<std::string>{"/api/v1/searches", absl::StrCat("/api/v1/searches/", done_)}) {
    Reply none = Get(path, "");
    EXPECT_EQ(none.status, 401) << path;
    EXPECT_TRUE(none.body.contains("error"));
    EXPECT_FALSE(none.body.contains("searches"));
    Reply wrong = Call("GET", path, "hwnas_not-a-real-token");
    EXPECT_EQ(wrong.status, 401) << path;
    EXPECT_FALSE(wrong.body.contains("name"));
  }
  // Worker identities have no business here.
  EXPECT_EQ(Get("/api/v1/searches", "fleet").status, 403);
  Reply me = Get("/api/v1/me");
  EXPECT_EQ(me.status, 200);
  EXPECT_EQ(me.body["name"], "alice");
}

TEST_F(DashboardApi, OwnersSeeOnlyTheirSearchesAndAdminsAll) {
  const int64_t bobs = Submit("bob", "bobs-search", 3);
  Reply alice = Get("/api/v1/searches");
  ASSERT_EQ(alice.status, 200);
  std::set<int64_t> ids;
  for (const json& s : alice.body["searches"]) {
    EXPECT_EQ(s["owner"], "alice");
    ids.insert(s["id"].get<int64_t>());
  }
  EXPECT_TRUE(ids.count(done_));
  EXPECT_FALSE(ids.count(bobs));
  // Another's search reads exactly like one that does not exist.
  Reply other = Get(absl::StrCat("/api/v1/searches/", bobs));
  Reply missing = Get("/api/v1/searches/987654");
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(other.body, missing.body);
  EXPECT_EQ(Get(absl::StrCat("/api/v1/searches/", bobs, "/trials")).status, 404);
  EXPECT_EQ(Get(absl::StrCat("/api/v1/searches/", bobs, "/pareto")).status, 404);
  EXPECT_EQ(
      Call("POST", absl::StrCat("/api/v1/searches/", bobs, "/cancel"), (*tokens_)["alice"]).status,
      404);
  Reply root = Get("/api/v1/searches", "root");
  std::set<int64_t> all;
  for (const json& s : root.body["searches"]) all.insert(s["id"].get<int64_t>());
  EXPECT_TRUE(all.count(done_) && all.count(bobs));
  EXPECT_EQ(Get(absl::StrCat("/api/v1/searches/", bobs), "root").status, 200);
}

TEST_F(DashboardApi, SearchSummaryMatchesTheStore) {
  Reply r = Get(absl::StrCat("/api/v1/searches/", done_));
  ASSERT_EQ(r.status, 200);
  auto s = store_->GetSearch(done_);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(r.body["state"], "COMPLETED");
  EXPECT_EQ(r.body["finished"].get<int64_t>(), s->counts.finished());
  EXPECT_EQ(r.body["budget"], 60);
  EXPECT_DOUBLE_EQ(r.body["progress"].get<double>(), 1.0);
  EXPECT_TRUE(r.body["eta_seconds"].is_null());
  ASSERT_TRUE(s->best_trial.has_value());
  EXPECT_EQ(r.body["best"]["number"], s->best_trial->number);
  const json& metrics = r.body["metrics"];
  EXPECT_NE(std::find(metrics.begin(), metrics.end(), "latency_ms"), metrics.end());
}

TEST_F(DashboardApi, TrialsAreFilteredSortedAndPagedServerSide) {
  const std::vector<TrialRecord> stored = StoredTrials(done_);
  // SUCCEEDED with accuracy in [0.5, 0.9], by accuracy descending (ties by
  // number, descending too), in keyset pages of 3.
  std::vector<std::pair<double, int64_t>> expected;
  for (const TrialRecord& t : stored) {
    if (t.state != TrialState::kSucceeded || !t.result) continue;
    if (t.result->accuracy >= 0.5 && t.result->accuracy <= 0.9) {
      expected.push_back({-t.result->accuracy, -t.number});
    }
  }
  std::sort(expected.begin(), expected.end());
  ASSERT_GT(expected.size(), 3u) << "too few trials in range to test paging";
  std::vector<int64_t> got;
  std::string token;
  int pages = 0;
  do {
    Reply r = Get(absl::StrCat("/api/v1/searches/", done_,
                               "/trials?state=SUCCEEDED&metric=accuracy&min=0.5&max=0.9"
                               "&order=accuracy&desc=1&page_size=3&page_token=",
                               token));
    ASSERT_EQ(r.status, 200) << r.body.dump();
    for (const json& t : r.body["trials"]) got.push_back(t["number"].get<int64_t>());
    token = r.body["next_page_token"].get<std::string>();
    ++pages;
  } while (!token.empty() && pages < 100);
  std::vector<int64_t> want;
  for (const auto& [acc, number] : expected) want.push_back(-number);
  EXPECT_EQ(got, want);
  EXPECT_GT(pages, 1);

  // Every trial, by latency ascending: those with a latency in order, then
  // those without one (by number), each exactly once across pages.
  std::vector<std::pair<double, int64_t>> by_latency;
  std::vector<int64_t> without;
  for (const TrialRecord& t : stored) {
    if (t.result && t.result->latency) {
      by_latency.push_back({t.result->latency->median_ms, t.number});
    } else {
      without.push_back(t.number);
    }
  }
  std::sort(by_latency.begin(), by_latency.end());
  std::sort(without.begin(), without.end());
  std::vector<int64_t> want_latency;
  for (const auto& [v, number] : by_latency) want_latency.push_back(number);
  want_latency.insert(want_latency.end(), without.begin(), without.end());
  std::vector<int64_t> got_latency;
  token.clear();
  pages = 0;
  do {
    Reply r = Get(absl::StrCat("/api/v1/searches/", done_,
                               "/trials?order=latency_ms&page_size=7&page_token=", token));
    ASSERT_EQ(r.status, 200) << r.body.dump();
    for (const json& t : r.body["trials"]) got_latency.push_back(t["number"].get<int64_t>());
    token = r.body["next_page_token"].get<std::string>();
    ++pages;
  } while (!token.empty() && pages < 100);
  EXPECT_EQ(got_latency, want_latency);
  // Pages by number, descending, follow keys too.
  Reply first = Get(absl::StrCat("/api/v1/searches/", done_, "/trials?desc=1&page_size=5"));
  ASSERT_EQ(first.status, 200);
  Reply second = Get(absl::StrCat(
      "/api/v1/searches/", done_,
      "/trials?desc=1&page_size=5&page_token=", first.body["next_page_token"].get<std::string>()));
  ASSERT_EQ(second.status, 200);
  EXPECT_EQ(second.body["trials"][0]["number"].get<int64_t>(),
            first.body["trials"][4]["number"].get<int64_t>() - 1);
  // A token that is not one of ours, or from another order, is refused.
  for (const std::string bad_token : {"100", "n5", "vx:3"}) {
    Reply refused = Get(
        absl::StrCat("/api/v1/searches/", done_, "/trials?order=accuracy&page_token=", bad_token));
    EXPECT_EQ(refused.status, 400) << bad_token;
    EXPECT_TRUE(absl::StrContains(refused.body["error"].get<std::string>(), "page_token"));
  }

  Reply bad = Get(absl::StrCat("/api/v1/searches/", done_, "/trials?order=drop_table"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(absl::StrContains(bad.body["error"].get<std::string>(), "drop_table"));
  EXPECT_EQ(Get(absl::StrCat("/api/v1/searches/", done_, "/trials?min=abc&metric=accuracy")).status,
            400);
  EXPECT_EQ(Get(absl::StrCat("/api/v1/searches/", done_, "/trials?state=NOPE")).status, 400);
}

TEST_F(DashboardApi, ParetoFrontMatchesABruteForceFront) {
  Reply r = Get(absl::StrCat("/api/v1/searches/", done_, "/pareto?x=latency_ms&y=accuracy"));
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["x_goal"], "min");
  EXPECT_EQ(r.body["y_goal"], "max");
  std::set<int64_t> front;
  const json& number = r.body["number"];
  for (size_t i = 0; i < number.size(); ++i) {
    if (r.body["kind"][i] == 1) front.insert(number[i].get<int64_t>());
    if (i > 0) {
      EXPECT_LE(r.body["x"][i - 1].get<double>(), r.body["x"][i].get<double>());
    }
  }
  // O(n^2) reference: SUCCEEDED trials no other SUCCEEDED trial dominates.
  std::vector<TrialRecord> ok;
  for (TrialRecord& t : StoredTrials(done_)) {
    if (t.state == TrialState::kSucceeded && t.result && t.result->latency) ok.push_back(t);
  }
  std::set<int64_t> want;
  for (const TrialRecord& a : ok) {
    bool dominated = false;
    for (const TrialRecord& b : ok) {
      const double ax = a.result->latency->median_ms, bx = b.result->latency->median_ms;
      const double ay = a.result->accuracy, by = b.result->accuracy;
      if (bx <= ax && by >= ay && (bx < ax || by > ay)) dominated = true;
    }
    if (!dominated) want.insert(a.number);
  }
  EXPECT_EQ(front, want);
  EXPECT_EQ(r.body["front_size"].get<size_t>(), want.size());
}

// Past sample_above points the answer keeps the whole front and one point
// of each other kind per occupied cell of its grid, with exact counts.
TEST_F(DashboardApi, ParetoThinsALargeAnswerToOnePointPerCellAndKeepsTheFront) {
  const int64_t dense = SeedDense("alice", 3000);
  const std::string base = absl::StrCat("/api/v1/searches/", dense, "/pareto?x=latency_ms");
  Reply full = Get(base);  // 3,000 points: under the default threshold.
  ASSERT_EQ(full.status, 200) << full.body.dump();
  EXPECT_FALSE(full.body["sampled"].get<bool>());
  ASSERT_EQ(full.body["x"].size(), 3000u);
  EXPECT_EQ(full.body["points"], 3000);
  Reply thin = Get(base + "&sample_above=1000");
  ASSERT_EQ(thin.status, 200) << thin.body.dump();
  ASSERT_TRUE(thin.body["sampled"].get<bool>());
  EXPECT_EQ(thin.body["points"], 3000);
  for (const char* count : {"front_size", "infeasible", "missing", "finished"}) {
    EXPECT_EQ(thin.body[count], full.body[count]) << count;
  }
  // 200 distinct points, so at most 200 cells per kind; the front whole.
  EXPECT_LE(thin.body["x"].size(), 200u + full.body["front_size"].get<size_t>());
  const int gx = thin.body["grid"][0], gy = thin.body["grid"][1];
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (size_t i = 0; i < full.body["x"].size(); ++i) {
    x0 = std::min(x0, full.body["x"][i].get<double>());
    x1 = std::max(x1, full.body["x"][i].get<double>());
    y0 = std::min(y0, full.body["y"][i].get<double>());
    y1 = std::max(y1, full.body["y"][i].get<double>());
  }
  const auto cell = [&](const json& b, size_t i) {
    const auto at = [](double v, double lo, double hi, int n) {
      return std::clamp(static_cast<int>((v - lo) / (hi - lo) * n), 0, n - 1);
    };
    return std::make_tuple(b["kind"][i].get<int>(), at(b["x"][i].get<double>(), x0, x1, gx),
                           at(b["y"][i].get<double>(), y0, y1, gy));
  };
  // Reference: the full answer's front and its occupied (kind, cell)s.
  std::map<int64_t, std::tuple<double, double, int>> by_number;
  std::set<int64_t> front;
  std::set<std::tuple<int, int, int>> occupied;
  for (size_t i = 0; i < full.body["x"].size(); ++i) {
    const int64_t n = full.body["number"][i];
    by_number[n] = {full.body["x"][i], full.body["y"][i], full.body["kind"][i]};
    if (full.body["kind"][i] == 1) front.insert(n);
    if (full.body["kind"][i] != 1) occupied.insert(cell(full.body, i));
  }
  std::set<int64_t> thin_front;
  std::set<std::tuple<int, int, int>> drawn;
  for (size_t i = 0; i < thin.body["x"].size(); ++i) {
    const int64_t n = thin.body["number"][i];
    ASSERT_TRUE(by_number.contains(n)) << n;
    EXPECT_EQ(by_number[n],
              std::make_tuple(thin.body["x"][i].get<double>(), thin.body["y"][i].get<double>(),
                              thin.body["kind"][i].get<int>()))
        << "trial " << n;
    if (i > 0) {
      EXPECT_LE(thin.body["x"][i - 1].get<double>(), thin.body["x"][i].get<double>());
    }
    if (thin.body["kind"][i] == 1) {
      thin_front.insert(n);
    } else {
      EXPECT_TRUE(drawn.insert(cell(thin.body, i)).second) << "two points in one cell: " << n;
    }
  }
  EXPECT_EQ(thin_front, front);
  EXPECT_EQ(drawn, occupied);
  for (const char* bad : {"0", "-5", "many"}) {
    Reply r = Get(base + "&sample_above=" + bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_TRUE(absl::StrContains(r.body["error"].get<std::string>(), "sample_above")) << bad;
  }
}

TEST_F(DashboardApi, BestSoFarIsMonotoneAndEndsAtTheBest) {
  Reply r = Get(absl::StrCat("/api/v1/searches/", done_, "/best?metric=reward"));
  ASSERT_EQ(r.status, 200) << r.body.dump();
  const json& v = r.body["value"];
  ASSERT_FALSE(v.empty());
  for (size_t i = 1; i < v.size(); ++i) EXPECT_GE(v[i].get<double>(), v[i - 1].get<double>());
  double best = -1e300;
  for (const TrialRecord& t : StoredTrials(done_)) {
    if (t.state == TrialState::kSucceeded && t.reward) best = std::max(best, *t.reward);
  }
  EXPECT_DOUBLE_EQ(v.back().get<double>(), best);
  EXPECT_EQ(r.body["trials"].back().get<int64_t>(), r.body["finished"].get<int64_t>());
}

TEST_F(DashboardApi, TokenImportanceMatchesARecomputationFromTheStore) {
  Reply r =
      Get(absl::StrCat("/api/v1/searches/", done_, "/importance?metrics=accuracy,latency_ms"));
  ASSERT_EQ(r.status, 200) << r.body.dump();
  std::vector<TrialRecord> ok;
  for (TrialRecord& t : StoredTrials(done_)) {
    if (t.state == TrialState::kSucceeded) ok.push_back(t);
  }
  ASSERT_GE(ok.size(), 2u);
  EXPECT_EQ(r.body["trials"].get<size_t>(), ok.size());
  const size_t positions = ok[0].architecture.tokens.size();
  ASSERT_EQ(r.body["positions"].get<size_t>(), positions);
  ASSERT_EQ(r.body["metrics"].size(), 2u);
  for (int m = 0; m < 2; ++m) {
    const json& got = r.body["metrics"][m];
    // Reference: two passes, per position, over the stored records.
    auto value = [m](const TrialRecord& t) {
      return m == 0 ? t.result->accuracy : t.result->latency->median_ms;
    };
    double mean = 0;
    for (const TrialRecord& t : ok) mean += value(t) / ok.size();
    double total = 0;
    for (const TrialRecord& t : ok) total += (value(t) - mean) * (value(t) - mean);
    double some = 0;
    for (size_t p = 0; p < positions; ++p) {
      std::map<int, std::vector<double>> by_choice;
      for (const TrialRecord& t : ok) by_choice[t.architecture.tokens[p]].push_back(value(t));
      double between = 0;
      for (const auto& [choice, values] : by_choice) {
        double group = 0;
        for (double v : values) group += v / values.size();
        between += values.size() * (group - mean) * (group - mean);
      }
      const double share = got["importance"][p].get<double>();
      EXPECT_NEAR(share, between / total, 1e-9) << got["metric"] << " position " << p;
      EXPECT_GE(share, 0);
      EXPECT_LE(share, 1);
      EXPECT_EQ(got["choices"][p].size(), by_choice.size());
      some += share;
    }
    EXPECT_GT(some, 0) << "no decision moves " << got["metric"];
  }
  Reply bad = Get(absl::StrCat("/api/v1/searches/", done_, "/importance?metrics=nope"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(absl::StrContains(bad.body["error"].get<std::string>(), "nope"));
  EXPECT_EQ(Get(absl::StrCat("/api/v1/searches/", done_, "/importance"), "bob").status, 404);
}

TEST_F(DashboardApi, TrialDetailAndMissingTrial) {
  Reply r = Get(absl::StrCat("/api/v1/searches/", done_, "/trials/1"));
  ASSERT_EQ(r.status, 200) << r.body.dump();
  auto t = store_->GetTrial(done_, 1, true);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(r.body["architecture"], t->architecture.readable);
  EXPECT_EQ(r.body["tokens"].size(), t->architecture.tokens.size());
  EXPECT_TRUE(r.body["epochs"].is_array());
  EXPECT_EQ(Get(absl::StrCat("/api/v1/searches/", done_, "/trials/99999")).status, 404);
  EXPECT_EQ(Get(absl::StrCat("/api/v1/searches/", done_, "/nothing")).status, 404);
}

TEST_F(DashboardApi, CrossValidatedTrialsCarryTheirErrorFoldsAndLayers) {
  const int64_t id = SeedCrossValidated("alice");
  ASSERT_GT(id, 0);
  // The table: accuracy with its standard error, balanced accuracy and
  // macro-F1, sortable by each.
  Reply page = Get(absl::StrCat("/api/v1/searches/", id, "/trials?order=balanced_accuracy&desc=1"));
  ASSERT_EQ(page.status, 200) << page.body.dump();
  ASSERT_EQ(page.body["trials"].size(), 6u);
  const json& first = page.body["trials"][0];
  EXPECT_EQ(first["number"], 1);
  EXPECT_DOUBLE_EQ(first["metrics"]["accuracy"].get<double>(), 0.90);
  EXPECT_DOUBLE_EQ(first["metrics"]["accuracy_se"].get<double>(), 0.02);
  EXPECT_DOUBLE_EQ(first["metrics"]["balanced_accuracy"].get<double>(), 0.85);
  EXPECT_DOUBLE_EQ(first["metrics"]["macro_f1"].get<double>(), 0.80);
  Reply filtered =
      Get(absl::StrCat("/api/v1/searches/", id, "/trials?metric=macro_f1&min=0.75&order=macro_f1"));
  ASSERT_EQ(filtered.status, 200) << filtered.body.dump();
  EXPECT_EQ(filtered.body["trials"].size(), 3u);
  // The summary's best (by reward) has them too, and the metric menus list
  // them.
  Reply summary = Get(absl::StrCat("/api/v1/searches/", id));
  ASSERT_EQ(summary.status, 200);
  EXPECT_DOUBLE_EQ(summary.body["best"]["metrics"]["accuracy_se"].get<double>(), 0.02);
  const json& metrics = summary.body["metrics"];
  EXPECT_NE(std::find(metrics.begin(), metrics.end(), "macro_f1"), metrics.end());
  // The trial page: each fold's accuracy, and the layers with their costs
  // as `hwnas-worker describe` computes them.
  Reply trial = Get(absl::StrCat("/api/v1/searches/", id, "/trials/2"));
  ASSERT_EQ(trial.status, 200) << trial.body.dump();
  EXPECT_EQ(trial.body["fold_accuracy"], json({0.86, 0.90, 0.86, 0.90}));
  const json& layers = trial.body["layers"];
  ASSERT_TRUE(layers.contains("ops")) << layers.dump();
  ASSERT_GT(layers["ops"].size(), 2u);
  int64_t params = 0;
  int64_t macs = 0;
  for (const json& op : layers["ops"]) {
    EXPECT_FALSE(op["output_shape"].get<std::string>().empty());
    params += op["params"].get<int64_t>();
    macs += op["macs"].get<int64_t>();
  }
  EXPECT_GT(params, 0);
  EXPECT_EQ(params, layers["totals"]["params"].get<int64_t>());
  EXPECT_EQ(macs, layers["totals"]["macs"].get<int64_t>());
  // A single-split trial has no standard error and no folds.
  Reply single = Get(absl::StrCat("/api/v1/searches/", done_, "/trials/1"));
  ASSERT_EQ(single.status, 200);
  EXPECT_FALSE(single.body["metrics"].contains("accuracy_se") &&
               !single.body["metrics"]["accuracy_se"].is_null());
  EXPECT_TRUE(single.body["fold_accuracy"].empty());
}

TEST_F(DashboardApi, OwnerCancelsARunningSearch) {
  // No worker takes it fast enough to finish 5000 trials.
  const int64_t id = Submit("alice", "to-cancel", 5000);
  EXPECT_EQ(
      Call("POST", absl::StrCat("/api/v1/searches/", id, "/cancel"), (*tokens_)["bob"]).status,
      404);
  Reply r = Call("POST", absl::StrCat("/api/v1/searches/", id, "/cancel"), (*tokens_)["alice"]);
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["state"], "CANCELLED");
  auto s = store_->GetSearch(id);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->state, SearchState::kCancelled);
}

TEST_F(DashboardApi, OwnerEnqueuesArchitecturesAllOrNothing) {
  const int64_t id = Submit("alice", "to-enqueue", 5000);
  const std::string path = absl::StrCat("/api/v1/searches/", id, "/enqueue");
  // An architecture of the search's own space: the first one proposed (the
  // strategy proposes after the submit returns).
  Reply first;
  ASSERT_TRUE(ct::WaitFor(
      [&] {
        first = Get(absl::StrCat("/api/v1/searches/", id, "/trials?page_size=1"));
        return first.status == 200 && !first.body["trials"].empty();
      },
      absl::Seconds(30)))
      << first.body.dump();
  const std::string arch = first.body["trials"][0]["architecture"];
  const json good = {{"architectures", {arch}}};
  // The strategy keeps proposing meanwhile: count the enqueued ones only.
  auto count = [&] {
    std::vector<TrialRecord> all = StoredTrials(id);
    return std::count_if(all.begin(), all.end(),
                         [](const TrialRecord& t) { return t.origin == TrialOrigin::kEnqueued; });
  };

  // Not the owner: the search does not exist for bob.
  EXPECT_EQ(Call("POST", path, (*tokens_)["bob"], good.dump()).status, 404);
  // Bad bodies name what is wrong; a bad line refuses the whole request.
  EXPECT_EQ(count(), 0);
  Reply r = Call("POST", path, (*tokens_)["alice"], "not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(absl::StrContains(r.body["error"].get<std::string>(), "body")) << r.body.dump();
  r = Call("POST", path, (*tokens_)["alice"], json{{"architectures", json::array()}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(absl::StrContains(r.body["error"].get<std::string>(), "architectures"))
      << r.body.dump();
  r = Call("POST", path, (*tokens_)["alice"],
           json{{"architectures", {arch, "no such architecture"}}}.dump());
  EXPECT_EQ(r.status, 400) << r.body.dump();
  EXPECT_TRUE(absl::StrContains(r.body["error"].get<std::string>(), "line 2")) << r.body.dump();
  EXPECT_EQ(count(), 0);

  r = Call("POST", path, (*tokens_)["alice"], good.dump());
  ASSERT_EQ(r.status, 200) << r.body.dump();
  ASSERT_EQ(r.body["trials"].size(), 1u);
  EXPECT_EQ(r.body["trials"][0]["architecture"], arch);
  auto trial = store_->GetTrial(id, r.body["trials"][0]["number"].get<int64_t>(), false);
  ASSERT_TRUE(trial.ok()) << trial.status();
  EXPECT_EQ(trial->origin, TrialOrigin::kEnqueued);
  EXPECT_EQ(trial->architecture.readable, arch);
}

// The browser suite: the node script does the driving; this side runs the
// processes it asks for (workers, a server restart) through files in DIR.
class DashboardBrowser : public DashboardFixture {
 protected:
  void SetUp() override {
    if (!g_browser) GTEST_SKIP() << "run with --browser (ctest dashboard_browser)";
    if (server_ == nullptr) GTEST_SKIP() << "the suite did not start";
  }
};

TEST_F(DashboardBrowser, LiveSearchInChromium) {
  const char* source = std::getenv("HWNAS_SOURCE_DIR");
  ASSERT_NE(source, nullptr);
  const std::string script = absl::StrCat(source, "/tests/dashboard/browser.mjs");
  const std::string artifacts =
      absl::StrCat(std::getenv("HWNAS_BINARY_DIR"), "/tests/dashboard/artifacts");
  std::filesystem::create_directories(artifacts);
  ASSERT_TRUE(std::filesystem::exists(absl::StrCat(source, "/dashboard/dist/index.html")))
      << "the dashboard is not built: scripts/setup (or npm ci && npm run build in dashboard/)";
  const int64_t live = Submit("alice", "browser-live", 30);
  const int64_t bobs = Submit("bob", "browser-bob", 2);
  const int64_t other = Submit("alice", "browser-other", 5);
  const int64_t cross_validated = SeedCrossValidated("alice");
  ASSERT_GT(cross_validated, 0);
  // Pages past the first ones, sorted and not, and a thinned Pareto answer.
  const int64_t dense = SeedDense("alice", 5000);
  ASSERT_GT(dense, 0);
  const std::string handshake = absl::StrCat(*dir_, "/handshake");
  std::filesystem::create_directories(handshake);
  auto node = ChildProcess::Start(
      {.argv = {"node", script},
       .env = {absl::StrCat("DASHBOARD_URL=http://127.0.0.1:", http_port_, "/"),
               absl::StrCat("ALICE_TOKEN=", (*tokens_)["alice"]),
               absl::StrCat("LIVE_SEARCH=", live), absl::StrCat("BOB_SEARCH=", bobs),
               absl::StrCat("OTHER_SEARCH=", other), absl::StrCat("CV_SEARCH=", cross_validated),
               absl::StrCat("DENSE_SEARCH=", dense), absl::StrCat("ARTIFACTS=", artifacts),
               absl::StrCat("HANDSHAKE=", handshake),
               absl::StrCat("NODE_PATH=", source, "/dashboard/node_modules")},
       .log_path = absl::StrCat(artifacts, "/browser.log")});
  ASSERT_TRUE(node.ok()) << node.status();
  const auto step = [&](const std::string& name) {
    return std::filesystem::exists(absl::StrCat(handshake, "/", name));
  };
  const auto ack = [&](const std::string& name) {
    std::ofstream(absl::StrCat(handshake, "/", name, ".ack")) << "ok\n";
  };
  // 1. The page shows the search with nothing finished: start the workers.
  bool ok =
      ct::WaitFor([&] { return step("start-workers") || !node->Running(); }, absl::Minutes(3));
  if (ok && step("start-workers")) {
    ASSERT_TRUE(StartWorkers(1).ok());
    ack("start-workers");
    // 2. Stop the server, then bring it back on the same ports.
    ok = ct::WaitFor([&] { return step("stop-server") || !node->Running(); }, absl::Minutes(3));
    if (ok && step("stop-server")) {
      StopServer();
      ack("stop-server");
      ok = ct::WaitFor([&] { return step("start-server") || !node->Running(); }, absl::Minutes(2));
      if (ok && step("start-server")) {
        ASSERT_TRUE(StartServer().ok());
        ack("start-server");
      }
    }
  }
  std::optional<int> code = node->Wait(absl::Minutes(4));
  if (!code) node->Stop(absl::Seconds(5));
  const std::string log = ct::ReadWholeFile(absl::StrCat(artifacts, "/browser.log"));
  EXPECT_EQ(code.value_or(-1), 0) << log;
  std::cout << log;
}

}  // namespace
}  // namespace hwnas

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--browser") hwnas::g_browser = true;
  }
  if (hwnas::g_browser) {
    // Only what cannot be installed by the project's setup skips the test.
    if (!std::filesystem::exists("/usr/bin/chromium")) {
      std::cout
          << "SKIP: /usr/bin/chromium is missing (scripts/setup installs Debian's chromium)\n";
      return 77;
    }
    auto node = hwnas::RunCommand({"node", "--version"}, absl::Seconds(30));
    if (!node.ok() || node->exit_code != 0) {
      std::cout << "SKIP: node is missing (scripts/setup installs Debian's nodejs)\n";
      return 77;
    }
  }
  hwnas::testing::RegisterPostgresEnvironment();
  return RUN_ALL_TESTS();
}

// The distributed system end to end: a private PostgreSQL cluster, the real
// hwnas-server binary and real hwnas-worker processes on loopback, real data
// (the NAS-Bench-201 table, Fashion-MNIST). Faults are real too: kill -9 of
// workers and of the server, and a PostgreSQL crash and restart.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/subprocess.h"
#include "controller/nb201_table.h"
#include "db/postgres_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwnas/v1/search_service.grpc.pb.h"
#include "hwnas/v1/worker_service.grpc.pb.h"
#include "proto/convert.h"
#include "tests/server/processes.h"
#include "tests/server/store_polling.h"
#include "tests/testing/postgres_env.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_paths.h"

namespace hwnas {
namespace {

using ::testing::HasSubstr;

using testing::e2e::BinaryDir;

std::string TableSpec(const std::string& name, int budget, double weight = 1) {
  return absl::StrCat(R"(
name: )",
                      name, R"(
space: {name: nb201}
evaluator: {kind: table, dataset: cifar10, device: raspi4}
objectives:
  reward: penalty
  constraints: [{metric: latency_ms, target: 15.72, lambda: 100}]
strategy: {name: evolution, population: 20, tournament: 5}
budget: {trials: )",
                      budget, R"(}
scheduling: {weight: )",
                      weight, "}\n");
}

// A small MnasNet-space search on a Fashion-MNIST subset: each trial trains
// for real, in about a second or two on one core.
std::string TrainSpec(int budget, int train_subset, int epochs) {
  return absl::StrCat(R"(
name: fashion-tiny
space:
  name: mnasnet
  blocks: 2
  filters: [8, 16]
  layers: [1, 1]
  strides: [1, 2]
  stem_filters: 8
  head_filters: 0
  dropout: 0
data: {dataset: fashion_mnist, train_subset: )",
                      train_subset, R"(, val_subset: 256, test_subset: 256}
training: {optimizer: adam, lr: 0.005, epochs: )",
                      epochs, R"(, batch_size: 64, threads: 1}
hardware: {measure_latency: true, latency_runs: 10}
strategy: {name: random, seed: 11}
budget: {trials: )",
                      budget, "}\n");
}

// One test's system: a fresh database, the server as a child process, and
// worker processes.
class Cluster {
 public:
  Cluster() : database_(testing::PostgresEnvironment::Get()->NewDatabase()) {
    char tmpl[] = "/tmp/hwnas-e2e-XXXXXX";
    dir_ = mkdtemp(tmpl);
    absl::StatusOr<std::unique_ptr<db::Store>> store =
        db::PostgresStore::Open({.connection_string = database_});
    EXPECT_OK(store);
    store_ = *std::move(store);
    EXPECT_OK(store_->Migrate());
    alice_token_ = CreateUser("alice", "");
    bob_token_ = CreateUser("bob", "");
    worker_token_ = CreateUser("fleet", "--worker");
    absl::StatusOr<int> port = PickFreePort();
    EXPECT_OK(port);
    port_ = *port;
  }

  ~Cluster() {
    workers_.clear();  // SIGKILL and reap.
    if (server_) server_->Stop(absl::Seconds(5));
  }

  std::string CreateUser(const std::string& name, const std::string& flag) {
    return testing::e2e::CreateUserToken(database_, name, flag);
  }

  // With `tls`, serves TLS with a fresh self-signed certificate for
  // 127.0.0.1 (made with openssl) and the test's channels trust it.
  void StartServer(int lease_ttl_s = 5, bool tls = false,
                   const std::vector<std::string>& extra_flags = {}) {
    std::vector<std::string> flags = extra_flags;
    if (tls) {
      absl::StatusOr<CommandResult> made =
          RunCommand({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                      dir_ + "/key.pem", "-out", dir_ + "/cert.pem", "-days", "1", "-subj",
                      "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"});
      ASSERT_OK(made);
      ASSERT_EQ(made->exit_code, 0) << made->output;
      flags.insert(flags.end(), {"--tls-cert", dir_ + "/cert.pem", "--tls-key", dir_ + "/key.pem"});
    }
    absl::StatusOr<testing::e2e::ServerProcess> server =
        testing::e2e::StartServerProcess({.database = database_,
                                          .dir = dir_,
                                          .listen = absl::StrCat("127.0.0.1:", port_),
                                          .lease_ttl_s = lease_ttl_s,
                                          .extra_flags = flags});
    ASSERT_OK(server);
    server_ = std::move(server->process);
    std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
    if (tls) {
      std::ifstream in(dir_ + "/cert.pem");
      std::stringstream pem;
      pem << in.rdbuf();
      creds = grpc::SslCredentials(grpc::SslCredentialsOptions{.pem_root_certs = pem.str()});
    }
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), creds);
    search_ = hwnas::v1::SearchService::NewStub(channel_);
    worker_ = hwnas::v1::WorkerService::NewStub(channel_);
  }

  void KillServer() {
    server_->Signal(SIGKILL);
    server_->Wait(absl::Seconds(10));
    server_.reset();
  }

  int port() const { return port_; }

  // `data_dir` empty: the shared data (so the worker has the table).
  int StartWorker(const std::string& name, const std::string& data_dir = "",
                  const std::vector<std::string>& extra_flags = {}) {
    std::vector<std::string> argv = testing::e2e::WorkerServeArgv(
        absl::StrCat("127.0.0.1:", port_), name,
        data_dir.empty() ? testing::SharedDataDir() : data_dir, extra_flags);
    absl::StatusOr<ChildProcess> w =
        ChildProcess::Start({.argv = std::move(argv),
                             .env = {"HWNAS_TOKEN=" + worker_token_},
                             .log_path = absl::StrCat(dir_, "/", name, ".log")});
    EXPECT_OK(w);
    workers_.push_back(std::make_unique<ChildProcess>(*std::move(w)));
    worker_names_.push_back(name);
    return static_cast<int>(workers_.size()) - 1;
  }

  ChildProcess& worker(int i) { return *workers_[i]; }

  // Waits until search `id` has a trial out, lets it run for `run_for`, then
  // sends `signal` to worker `i`.
  void SignalWorkerMidTrial(int64_t id, int i, absl::Duration run_for, int signal) {
    ASSERT_TRUE(WaitFor(
        id, [](const SearchRecord& r) { return r.counts.running > 0; }, absl::Minutes(2)));
    absl::SleepFor(run_for);
    worker(i).Signal(signal);
  }

  std::string Log(const std::string& file) const {
    std::ifstream in(absl::StrCat(dir_, "/", file));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  void Auth(grpc::ClientContext* ctx, const std::string& token) const {
    ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  }

  // GetSearch and CancelSearch as alice, through the API.
  absl::StatusOr<hwnas::v1::Search> Get(int64_t id) {
    grpc::ClientContext ctx;
    Auth(&ctx, alice_token_);
    hwnas::v1::GetSearchRequest req;
    req.set_search_id(id);
    hwnas::v1::Search resp;
    grpc::Status s = search_->GetSearch(&ctx, req, &resp);
    if (!s.ok())
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    return resp;
  }
  absl::Status Cancel(int64_t id) {
    grpc::ClientContext ctx;
    Auth(&ctx, alice_token_);
    hwnas::v1::CancelSearchRequest req;
    req.set_search_id(id);
    hwnas::v1::Search resp;
    grpc::Status s = search_->CancelSearch(&ctx, req, &resp);
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  }

  absl::StatusOr<hwnas::v1::Search> Submit(const std::string& yaml, const std::string& token = "") {
    grpc::ClientContext ctx;
    Auth(&ctx, token.empty() ? alice_token_ : token);
    hwnas::v1::SubmitSearchRequest req;
    req.set_spec_yaml(yaml);
    hwnas::v1::SubmitSearchResponse resp;
    grpc::Status s = search_->SubmitSearch(&ctx, req, &resp);
    if (!s.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    }
    return resp.search();
  }

  // Search state from the store (works while the server is down).
  SearchRecord Search(int64_t id) {
    absl::StatusOr<SearchRecord> s = store_->GetSearch(id);
    EXPECT_OK(s);
    return s.ok() ? *s : SearchRecord{};
  }

  bool WaitFor(int64_t id, const std::function<bool(const SearchRecord&)>& done,
               absl::Duration timeout) {
    return testing::e2e::WaitForSearch(*store_, id, done, timeout);
  }

  std::vector<TrialRecord> Trials(int64_t id) { return testing::e2e::AllTrials(*store_, id); }

  // (search, trial) -> accuracy, from every worker's "trial_reported" log line.
  std::map<std::pair<int64_t, int64_t>, double> ReportedAccuracies() const {
    static const std::regex kLine(
        R"(event=trial_reported search=(\d+) trial=(\d+) state=\S+ accuracy=([0-9.]+))");
    std::map<std::pair<int64_t, int64_t>, double> out;
    for (const std::string& name : worker_names_) {
      std::string log = Log(name + ".log");
      for (std::sregex_iterator it(log.begin(), log.end(), kLine), end; it != end; ++it) {
        out[{std::stoll((*it)[1]), std::stoll((*it)[2])}] = std::stod((*it)[3]);
      }
    }
    return out;
  }

  db::Store& store() { return *store_; }
  hwnas::v1::SearchService::Stub& search() { return *search_; }
  hwnas::v1::WorkerService::Stub& worker_stub() { return *worker_; }
  const std::string& alice() const { return alice_token_; }
  const std::string& bob() const { return bob_token_; }
  const std::string& fleet() const { return worker_token_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string database_;
  std::string dir_;
  std::unique_ptr<db::Store> store_;
  std::string alice_token_, bob_token_, worker_token_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> server_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
  std::vector<std::string> worker_names_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<hwnas::v1::SearchService::Stub> search_;
  std::unique_ptr<hwnas::v1::WorkerService::Stub> worker_;
};

bool Completed(const SearchRecord& s) { return s.state == SearchState::kCompleted; }

// Every trial finished exactly once: numbers 1..budget, each token list
// once, every trial in a terminal state, and nothing beyond the budget.
void ExpectExactlyTheBudget(const std::vector<TrialRecord>& trials, int budget) {
  ASSERT_EQ(static_cast<int>(trials.size()), budget);
  std::set<int64_t> numbers;
  std::set<std::vector<int>> archs;
  for (const TrialRecord& t : trials) {
    numbers.insert(t.number);
    archs.insert(t.architecture.tokens);
    EXPECT_TRUE(IsTerminal(t.state)) << "trial " << t.number << " is " << TrialStateName(t.state);
    EXPECT_NE(t.state, TrialState::kCancelled);
  }
  EXPECT_EQ(static_cast<int>(numbers.size()), budget);
  EXPECT_EQ(*numbers.begin(), 1);
  EXPECT_EQ(*numbers.rbegin(), budget);
  EXPECT_EQ(static_cast<int>(archs.size()), budget) << "an architecture was evaluated twice";
}

// Results in the store equal the NAS-Bench-201 table's values for each
// trial's architecture (what the table workers reported).
void ExpectTableValues(const std::vector<TrialRecord>& trials) {
  absl::StatusOr<std::shared_ptr<const controller::Nb201Table>> table =
      controller::Nb201Table::Load(testing::SharedDataDir() + "/nb201/nb201_acc_latency.csv");
  ASSERT_OK(table);
  absl::StatusOr<controller::TableEvaluator> eval =
      controller::TableEvaluator::Create(*table, controller::Nb201Dataset::kCifar10, "raspi4");
  ASSERT_OK(eval);
  for (const TrialRecord& t : trials) {
    ASSERT_TRUE(t.result.has_value()) << "trial " << t.number;
    absl::StatusOr<TrialResult> expected = eval->Evaluate(t.architecture);
    ASSERT_OK(expected);
    EXPECT_DOUBLE_EQ(t.result->accuracy, expected->accuracy) << "trial " << t.number;
    ASSERT_TRUE(t.result->latency.has_value());
    EXPECT_DOUBLE_EQ(t.result->latency->median_ms, expected->latency->median_ms);
  }
}

// Submits a table search of `budget` trials to the running fleet, waits
// for it to complete, and checks its trials: the budget exactly, no repeats,
// the table's values.
void RunTableSearch(Cluster& c, const std::string& name, int budget,
                    std::vector<TrialRecord>* trials, int64_t* search_id) {
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(TableSpec(name, budget));
  ASSERT_OK(s);
  *search_id = s->id();
  ASSERT_TRUE(c.WaitFor(s->id(), Completed, absl::Minutes(3)))
      << "finished " << c.Search(s->id()).counts.finished() << "\n"
      << c.Log("server.log");
  *trials = c.Trials(s->id());
  ExpectExactlyTheBudget(*trials, budget);
  ExpectTableValues(*trials);
}

TEST(ServerE2ETest, TableSearchWithEightWorkersStoresWhatWorkersReported) {
  Cluster c;
  c.StartServer();
  for (int i = 0; i < 8; ++i) c.StartWorker(absl::StrCat("table", i));
  std::vector<TrialRecord> trials;
  int64_t id = 0;
  ASSERT_NO_FATAL_FAILURE(RunTableSearch(c, "table500", 500, &trials, &id));
  // Each worker's own log of what it reported agrees with the store.
  std::map<std::pair<int64_t, int64_t>, double> reported = c.ReportedAccuracies();
  int matched = 0;
  for (const TrialRecord& t : trials) {
    auto it = reported.find({t.search_id, t.number});
    if (it == reported.end()) continue;
    EXPECT_NEAR(it->second, t.result->accuracy, 1e-4) << "trial " << t.number;
    ++matched;
  }
  EXPECT_EQ(matched, 500);
  // Work was spread over the fleet.
  std::set<std::string> workers;
  for (const TrialRecord& t : trials) workers.insert(t.worker_id);
  EXPECT_GE(workers.size(), 4u);
  // The best trial is the highest reward.
  SearchRecord done = c.Search(id);
  ASSERT_TRUE(done.best_trial.has_value());
  for (const TrialRecord& t : trials) EXPECT_LE(t.reward.value_or(-1e9), *done.best_trial->reward);
}

// Workers that take 32 table trials per AcquireTrial and report them in one
// ReportResults: the same guarantees as one at a time.
TEST(ServerE2ETest, TableSearchWithBatchingWorkersStoresWhatWorkersReported) {
  Cluster c;
  c.StartServer();
  for (int i = 0; i < 3; ++i) c.StartWorker(absl::StrCat("batch", i), "", {"--batch", "32"});
  std::vector<TrialRecord> trials;
  int64_t id = 0;
  ASSERT_NO_FATAL_FAILURE(RunTableSearch(c, "batched500", 500, &trials, &id));
  // The workers' own accounts: every trial stored once, in batches.
  static const std::regex kBatch(
      R"(event=trials_reported search=\d+ trials=(\d+) stored=(\d+) duplicates=(\d+))");
  int stored = 0, largest = 0;
  for (int i = 0; i < 3; ++i) {
    const std::string log = c.Log(absl::StrCat("batch", i, ".log"));
    for (std::sregex_iterator it(log.begin(), log.end(), kBatch), end; it != end; ++it) {
      stored += std::stoi((*it)[2]);
      largest = std::max(largest, std::stoi((*it)[1]));
      EXPECT_EQ(std::stoi((*it)[3]), 0);
    }
  }
  // A lone trial (the queue's last) is reported with ReportResult.
  EXPECT_LE(stored, 500);
  EXPECT_GE(stored, 400);
  EXPECT_GT(largest, 8) << "the workers never got a real batch";
}

TEST(ServerE2ETest, RealTrainingSearchWithThreeWorkers) {
  Cluster c;
  c.StartServer();
  for (int i = 0; i < 3; ++i) c.StartWorker(absl::StrCat("train", i));
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(TrainSpec(4, 2000, 2));
  ASSERT_OK(s);
  ASSERT_TRUE(c.WaitFor(s->id(), Completed, absl::Minutes(5)))
      << c.Log("server.log") << c.Log("train0.log");
  std::vector<TrialRecord> trials = c.Trials(s->id());
  ExpectExactlyTheBudget(trials, 4);
  std::map<std::pair<int64_t, int64_t>, double> reported = c.ReportedAccuracies();
  double best = 0;
  for (const TrialRecord& t : trials) {
    if (t.state != TrialState::kSucceeded) continue;
    ASSERT_TRUE(t.result.has_value());
    // Trained on real data: above the 10% of chance.
    EXPECT_GT(t.result->accuracy, 0.2) << "trial " << t.number;
    best = std::max(best, t.result->accuracy);
    EXPECT_GT(t.result->costs.params, 0);
    ASSERT_TRUE(t.result->latency.has_value());
    EXPECT_GT(t.result->latency->median_ms, 0);
    EXPECT_NEAR(reported.at({t.search_id, t.number}), t.result->accuracy, 1e-4);
    absl::StatusOr<TrialRecord> full = c.store().GetTrial(s->id(), t.number, true);
    ASSERT_OK(full);
    EXPECT_FALSE(full->epochs.empty()) << "no per-epoch metrics were recorded";
  }
  // Four times chance at least: the seeds are pinned (strategy, data,
  // weights; one thread), so this is the same four networks every run.
  EXPECT_GT(best, 0.4) << "no architecture learned Fashion-MNIST";
}

TEST(ServerE2ETest, WorkerKilledMidTrialIsRequeuedAndFinishedByAnother) {
  Cluster c;
  c.StartServer(/*lease_ttl_s=*/2);
  int first = c.StartWorker("doomed");
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(TrainSpec(2, 6000, 3));
  ASSERT_OK(s);
  c.SignalWorkerMidTrial(s->id(), first, absl::Milliseconds(500), SIGKILL);
  c.worker(first).Wait(absl::Seconds(10));
  c.StartWorker("rescuer");
  ASSERT_TRUE(c.WaitFor(s->id(), Completed, absl::Minutes(5))) << c.Log("server.log");
  std::vector<TrialRecord> trials = c.Trials(s->id());
  ExpectExactlyTheBudget(trials, 2);
  int retried = 0;
  for (const TrialRecord& t : trials) {
    EXPECT_EQ(t.state, TrialState::kSucceeded) << t.failure_reason;
    if (t.attempts >= 2) {
      ++retried;
      EXPECT_THAT(t.failure_reason, HasSubstr("lease expired"));
    }
  }
  EXPECT_GE(retried, 1) << "no trial was taken over from the killed worker";
}

TEST(ServerE2ETest, WorkerSigtermHandsItsTrialBackMidEpoch) {
  Cluster c;
  // A lease far longer than the test: only the worker's hand-back can put
  // the trial back in the queue in time.
  c.StartServer(/*lease_ttl_s=*/300);
  int leaving = c.StartWorker("leaving");
  // One long trial: 30 epochs over the whole training split.
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(TrainSpec(1, 50000, 30));
  ASSERT_OK(s);
  c.SignalWorkerMidTrial(s->id(), leaving, absl::Seconds(2), SIGTERM);
  const absl::Time signalled = absl::Now();
  std::optional<int> exit_code = c.worker(leaving).Wait(absl::Seconds(60));
  ASSERT_TRUE(exit_code.has_value()) << "the worker did not exit after SIGTERM";
  EXPECT_EQ(*exit_code, 0) << c.Log("leaving.log");
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(30));
  // It stopped between two batches, not at the end of an epoch, and said so.
  EXPECT_THAT(c.Log("leaving.log"), HasSubstr("training interrupted at epoch"));
  ASSERT_TRUE(c.WaitFor(
      s->id(), [](const SearchRecord& r) { return r.counts.pending == 1 && r.counts.running == 0; },
      absl::Seconds(20)))
      << c.Log("server.log");
  std::vector<TrialRecord> trials = c.Trials(s->id());
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].state, TrialState::kPending);
  EXPECT_THAT(trials[0].failure_reason, HasSubstr("worker shutting down"));
}

TEST(ServerE2ETest, ServerKilledMidSearchResumesFromTheStore) {
  Cluster c;
  c.StartServer();
  for (int i = 0; i < 4; ++i) c.StartWorker(absl::StrCat("w", i));
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(TableSpec("crashy", 400));
  ASSERT_OK(s);
  ASSERT_TRUE(c.WaitFor(
      s->id(), [](const SearchRecord& r) { return r.counts.finished() >= 60; }, absl::Minutes(2)));
  c.KillServer();
  const int64_t at_kill = c.Search(s->id()).counts.finished();
  EXPECT_LT(at_kill, 400) << "the search finished before the kill; nothing was tested";
  absl::SleepFor(absl::Seconds(1));
  c.StartServer();
  ASSERT_TRUE(c.WaitFor(s->id(), Completed, absl::Minutes(3))) << c.Log("server.log");
  std::vector<TrialRecord> trials = c.Trials(s->id());
  ExpectExactlyTheBudget(trials, 400);
  ExpectTableValues(trials);
  EXPECT_THAT(c.Log("server.log"), HasSubstr("event=search_restored"));
}

TEST(ServerE2ETest, ASearchThatCannotBeRebuiltFailsAloneAtRestart) {
  // A profile that exists only on the first server's --profile-path: after a
  // restart without it, that one search is FAILED with the reason and the
  // server starts and runs the others.
  Cluster c;
  const std::string profiles = c.dir() + "/profiles";
  std::filesystem::create_directories(profiles);
  {
    std::ifstream in(hwnas::testing::SourceDir() + "/hardware/profiles/cortex-m7.yaml");
    std::stringstream text;
    text << in.rdbuf();
    std::ofstream(profiles + "/lab-m7.yaml")
        << absl::StrReplaceAll(text.str(), {{"name: cortex-m7", "name: lab-m7"}});
  }
  c.StartServer(5, false, {"--profile-path", profiles});
  absl::StatusOr<hwnas::v1::Search> lab = c.Submit(absl::StrReplaceAll(
      TrainSpec(3, 256, 1), {{"hardware: {measure_latency: true, latency_runs: 10}",
                              "hardware: {targets: [{name: lab, mcu_profile: lab-m7}]}"}}));
  ASSERT_OK(lab);
  absl::StatusOr<hwnas::v1::Search> other = c.Submit(TableSpec("other", 20));
  ASSERT_OK(other);
  c.KillServer();
  c.StartServer();
  SearchRecord failed = c.Search(lab->id());
  EXPECT_EQ(failed.state, SearchState::kFailed);
  EXPECT_THAT(failed.error, HasSubstr("cannot resume: hardware.targets[0].mcu_profile: no MCU "
                                      "profile 'lab-m7'"));
  c.StartWorker("w0");
  EXPECT_TRUE(c.WaitFor(other->id(), Completed, absl::Minutes(2))) << c.Log("server.log");
}

TEST(ServerE2ETest, PostgresRestartMidSearchIsRiddenOut) {
  Cluster c;
  c.StartServer();
  for (int i = 0; i < 4; ++i) c.StartWorker(absl::StrCat("w", i));
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(TableSpec("pg-restart", 400));
  ASSERT_OK(s);
  ASSERT_TRUE(c.WaitFor(
      s->id(), [](const SearchRecord& r) { return r.counts.finished() >= 60; }, absl::Minutes(2)));
  db::LocalPostgres& pg = testing::PostgresEnvironment::Get()->postgres();
  ASSERT_OK(pg.Kill());
  // While the database is down, the API says UNAVAILABLE.
  {
    grpc::ClientContext ctx;
    c.Auth(&ctx, c.alice());
    hwnas::v1::GetSearchRequest req;
    req.set_search_id(s->id());
    hwnas::v1::Search resp;
    grpc::Status st = c.search().GetSearch(&ctx, req, &resp);
    // A cached token still authenticates; the store read then fails.
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  }
  absl::SleepFor(absl::Seconds(2));
  ASSERT_OK(pg.Start());
  ASSERT_TRUE(c.WaitFor(s->id(), Completed, absl::Minutes(3))) << c.Log("server.log");
  std::vector<TrialRecord> trials = c.Trials(s->id());
  ExpectExactlyTheBudget(trials, 400);
  ExpectTableValues(trials);
}

TEST(ServerE2ETest, ASearchNoWorkerCanRunSaysWhy) {
  Cluster c;
  c.StartServer();
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(TableSpec("stuck", 10));
  ASSERT_OK(s);
  auto waiting = [&](int64_t id) {
    absl::StatusOr<hwnas::v1::Search> got = c.Get(id);
    EXPECT_OK(got);
    return got.ok() ? got->waiting() : std::string("(GetSearch failed)");
  };
  EXPECT_EQ(waiting(s->id()), "no worker is connected");
  // A worker without the table (its data directory is empty) cannot run it.
  c.StartWorker("no-table", c.dir());
  for (int i = 0; i < 200 && waiting(s->id()) == "no worker is connected"; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(waiting(s->id()),
            "no connected worker can run it (1 connected; worker has no 'table' evaluator)");
  EXPECT_EQ(c.Search(s->id()).counts.finished(), 0);
  // One that has it runs the search; a search it can run is not waiting.
  c.StartWorker("with-table");
  ASSERT_TRUE(c.WaitFor(s->id(), Completed, absl::Minutes(2))) << c.Log("server.log");
  absl::StatusOr<hwnas::v1::Search> next = c.Submit(TableSpec("runs", 5000));
  ASSERT_OK(next);
  EXPECT_EQ(waiting(next->id()), "");
}

// strategy.warm_start_from: a new search's strategy starts from an earlier
// search's finished trials, named by id or by name.
TEST(ServerE2ETest, WarmStartSeedsANewSearchFromAnEarlierOne) {
  Cluster c;
  c.StartServer();
  auto warm_from = [](const std::string& name, int budget, const std::string& from) {
    return absl::StrReplaceAll(TableSpec(name, budget),
                               {{"tournament: 5}", absl::StrCat("tournament: 5, mutations: 1, "
                                                                "warm_start_from: '",
                                                                from, "'}")}});
  };

  // Refused, naming the field, with nothing stored: no such search, a
  // search with nothing finished yet, another space, another user's search.
  absl::StatusOr<hwnas::v1::Search> idle = c.Submit(TableSpec("idle", 10));  // No worker yet.
  ASSERT_OK(idle);
  absl::StatusOr<hwnas::v1::Search> other_space = c.Submit(TrainSpec(3, 256, 1));
  ASSERT_OK(other_space);
  ASSERT_OK(c.Cancel(idle->id()));
  ASSERT_OK(c.Cancel(other_space->id()));
  struct Case {
    std::string from;
    std::string token;
    absl::StatusCode code;
    std::string message;
  };
  for (const Case& k : std::vector<Case>{
           {"no-such-search", "", absl::StatusCode::kInvalidArgument,
            "strategy.warm_start_from: you have no search named 'no-such-search'"},
           {"999", "", absl::StatusCode::kInvalidArgument,
            "strategy.warm_start_from: no search 999, and none of yours named '999'"},
           {"idle", "", absl::StatusCode::kInvalidArgument,
            absl::StrCat("strategy.warm_start_from: search ", idle->id(),
                         " has no finished trials yet")},
           {absl::StrCat(other_space->id()), "", absl::StatusCode::kInvalidArgument,
            absl::StrCat("strategy.warm_start_from: search ", other_space->id(),
                         " searched the 'mnasnet' space, this spec the 'nb201' space")},
           {absl::StrCat(idle->id()), c.bob(), absl::StatusCode::kPermissionDenied,
            absl::StrCat("strategy.warm_start_from: search ", idle->id(),
                         " belongs to another user")},
       }) {
    absl::StatusOr<hwnas::v1::Search> s = c.Submit(warm_from("refused", 10, k.from), k.token);
    ASSERT_FALSE(s.ok()) << k.from;
    EXPECT_EQ(s.status().code(), k.code) << s.status();
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(k.message));
  }
  absl::StatusOr<db::Page<SearchRecord>> all = c.store().ListSearches({});
  ASSERT_OK(all);
  EXPECT_EQ(all->items.size(), 2u);

  // An earlier search, then one warm-started from it by name.
  c.StartWorker("w1");
  absl::StatusOr<hwnas::v1::Search> first = c.Submit(TableSpec("first", 40));
  ASSERT_OK(first);
  ASSERT_TRUE(c.WaitFor(first->id(), Completed, absl::Minutes(2))) << c.Log("server.log");
  absl::StatusOr<hwnas::v1::Search> warm = c.Submit(warm_from("warm", 10, "first"));
  ASSERT_OK(warm);
  EXPECT_EQ(warm->warm_start_search_id(), first->id());
  ASSERT_TRUE(c.WaitFor(warm->id(), Completed, absl::Minutes(2))) << c.Log("server.log");
  EXPECT_EQ(c.Search(warm->id()).warm_start_search_id, first->id());

  // Evolution took the earlier trials as its population: its very first
  // proposals are one-decision mutations of them (a cold start would have
  // drawn 20 uniform random cells first, each within one decision of one of
  // the 40 earlier cells with probability about 6%), and it never proposes
  // an architecture the earlier search evaluated.
  std::vector<TrialRecord> earlier = c.Trials(first->id());
  std::vector<TrialRecord> later = c.Trials(warm->id());
  ASSERT_EQ(later.size(), 10u);
  for (const TrialRecord& t : later) {
    int nearest = 100;
    for (const TrialRecord& e : earlier) {
      int differ = 0;
      for (size_t i = 0; i < t.architecture.tokens.size(); ++i) {
        differ += t.architecture.tokens[i] != e.architecture.tokens[i];
      }
      nearest = std::min(nearest, differ);
    }
    EXPECT_GE(nearest, 1) << "trial " << t.number << " repeats an earlier architecture";
    if (t.number <= 5) {
      EXPECT_EQ(nearest, 1) << "trial " << t.number;
    }
  }
  EXPECT_THAT(c.Log("server.log"),
              HasSubstr(absl::StrCat("event=search_warm_started search=", warm->id(),
                                     " from=", first->id(), " trials=40")));
}

TEST(ServerE2ETest, TlsListenerServesTrustingClientsOnly) {
  Cluster c;
  c.StartServer(/*lease_ttl_s=*/5, /*tls=*/true);
  // A client trusting the server's certificate gets through.
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(TableSpec("over-tls", 5));
  ASSERT_OK(s);
  // A plaintext client does not.
  auto plain = hwnas::v1::SearchService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", c.port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + c.alice());
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  hwnas::v1::GetSearchRequest req;
  req.set_search_id(s->id());
  hwnas::v1::Search resp;
  EXPECT_FALSE(plain->GetSearch(&ctx, req, &resp).ok());
}

TEST(ServerE2ETest, FairShareFollowsWeights) {
  Cluster c;
  c.StartServer();
  absl::StatusOr<hwnas::v1::Search> light = c.Submit(TableSpec("light", 5000, 1));
  absl::StatusOr<hwnas::v1::Search> heavy = c.Submit(TableSpec("heavy", 5000, 3));
  ASSERT_OK(light);
  ASSERT_OK(heavy);
  for (int i = 0; i < 4; ++i) c.StartWorker(absl::StrCat("w", i));
  ASSERT_TRUE(c.WaitFor(
      heavy->id(), [](const SearchRecord& r) { return r.counts.finished() >= 600; },
      absl::Minutes(3)));
  const double a = static_cast<double>(c.Search(light->id()).counts.finished());
  const double b = static_cast<double>(c.Search(heavy->id()).counts.finished());
  ASSERT_GT(a, 0);
  EXPECT_NEAR(b / a, 3.0, 0.6) << "light " << a << " heavy " << b;
}

TEST(ServerE2ETest, ALateSearchDoesNotStarveTheRunningOne) {
  // Fair share is of the fleet from now on: a search submitted later is not
  // owed the trials the first one ran before it came (which once stalled
  // every older search until the newcomer caught up).
  Cluster c;
  c.StartServer();
  absl::StatusOr<hwnas::v1::Search> early = c.Submit(TableSpec("early", 5000, 1));
  ASSERT_OK(early);
  for (int i = 0; i < 4; ++i) c.StartWorker(absl::StrCat("w", i));
  ASSERT_TRUE(c.WaitFor(
      early->id(), [](const SearchRecord& r) { return r.counts.finished() >= 400; },
      absl::Minutes(3)));
  const int64_t early_before = c.Search(early->id()).counts.finished();
  absl::StatusOr<hwnas::v1::Search> late = c.Submit(TableSpec("late", 5000, 1));
  ASSERT_OK(late);
  ASSERT_TRUE(c.WaitFor(
      late->id(), [](const SearchRecord& r) { return r.counts.finished() >= 300; },
      absl::Minutes(3)));
  const double early_gain =
      static_cast<double>(c.Search(early->id()).counts.finished() - early_before);
  const double late_gain = static_cast<double>(c.Search(late->id()).counts.finished());
  EXPECT_NEAR(early_gain / late_gain, 1.0, 0.35)
      << "early +" << early_gain << " late +" << late_gain;
}

// Worker-side protocol calls through the real service, as a worker makes them.
class WorkerCalls {
 public:
  WorkerCalls(Cluster& c, std::string token) : c_(c), token_(std::move(token)) {}

  // A table worker, or (`trains`) one that trains mnasnet on Fashion-MNIST only.
  grpc::Status Register(const std::string& name, std::string* id, bool trains = false) {
    grpc::ClientContext ctx;
    c_.Auth(&ctx, token_);
    hwnas::v1::RegisterWorkerRequest req;
    req.set_name(name);
    hwnas::v1::WorkerCapabilities* caps = req.mutable_capabilities();
    if (trains) {
      caps->add_search_spaces("mnasnet");
      caps->add_evaluators("train");
      caps->add_datasets("fashion_mnist");
    } else {
      caps->add_search_spaces("nb201");
      caps->add_evaluators("table");
      caps->add_datasets("nb201-table");
    }
    hwnas::v1::RegisterWorkerResponse resp;
    grpc::Status s = c_.worker_stub().RegisterWorker(&ctx, req, &resp);
    *id = resp.worker_id();
    return s;
  }

  // Registers as `name` and takes one lease (the cluster has work queued).
  void RegisterAndLease(const std::string& name, std::string* id,
                        hwnas::v1::AcquireTrialResponse* lease) {
    ASSERT_TRUE(Register(name, id).ok());
    ASSERT_TRUE(Acquire(*id, lease).ok());
    ASSERT_FALSE(lease->lease_id().empty());
  }

  grpc::Status Acquire(const std::string& id, hwnas::v1::AcquireTrialResponse* resp, int wait_s = 5,
                       int max_trials = 0) {
    grpc::ClientContext ctx;
    c_.Auth(&ctx, token_);
    hwnas::v1::AcquireTrialRequest req;
    req.set_worker_id(id);
    req.mutable_wait()->set_seconds(wait_s);
    req.set_max_trials(max_trials);
    return c_.worker_stub().AcquireTrial(&ctx, req, resp);
  }

  grpc::Status Progress(const std::string& id, const std::string& lease,
                        hwnas::v1::ReportProgressResponse* resp) {
    grpc::ClientContext ctx;
    c_.Auth(&ctx, token_);
    hwnas::v1::ReportProgressRequest req;
    req.set_worker_id(id);
    req.set_lease_id(lease);
    return c_.worker_stub().ReportProgress(&ctx, req, resp);
  }

  grpc::Status Report(const std::string& id, const std::string& lease, double accuracy) {
    grpc::ClientContext ctx;
    c_.Auth(&ctx, token_);
    hwnas::v1::ReportResultRequest req;
    req.set_worker_id(id);
    req.set_lease_id(lease);
    req.mutable_result()->set_accuracy(accuracy);
    req.mutable_result()->mutable_latency()->set_median_ms(10);
    hwnas::v1::ReportResultResponse resp;
    return c_.worker_stub().ReportResult(&ctx, req, &resp);
  }

  // ReportResults with accuracy 0.5 for each lease (NaN at index `nan_at`).
  grpc::Status ReportMany(const std::string& id, const std::vector<std::string>& leases,
                          hwnas::v1::ReportResultsResponse* resp, int nan_at = -1) {
    grpc::ClientContext ctx;
    c_.Auth(&ctx, token_);
    hwnas::v1::ReportResultsRequest req;
    req.set_worker_id(id);
    for (size_t i = 0; i < leases.size(); ++i) {
      hwnas::v1::LeaseResult* r = req.add_results();
      r->set_lease_id(leases[i]);
      r->mutable_result()->set_accuracy(static_cast<int>(i) == nan_at ? std::nan("") : 0.5);
      r->mutable_result()->mutable_latency()->set_median_ms(10);
    }
    resp->Clear();
    return c_.worker_stub().ReportResults(&ctx, req, resp);
  }

 private:
  Cluster& c_;
  std::string token_;
};

TEST(ServerE2ETest, AuthenticationAndAuthorization) {
  Cluster c;
  c.StartServer();
  // No token and a wrong token.
  for (const std::string& token : {std::string(), std::string("hwn_not_a_real_token")}) {
    grpc::ClientContext ctx;
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    hwnas::v1::ListSearchesRequest req;
    hwnas::v1::ListSearchesResponse resp;
    grpc::Status s = c.search().ListSearches(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  }
  // Alice's search is hers: Bob can neither read nor cancel it, nor see it listed.
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(TableSpec("private", 50));
  ASSERT_OK(s);
  {
    grpc::ClientContext ctx;
    c.Auth(&ctx, c.bob());
    hwnas::v1::GetSearchRequest req;
    req.set_search_id(s->id());
    hwnas::v1::Search resp;
    EXPECT_EQ(c.search().GetSearch(&ctx, req, &resp).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext ctx;
    c.Auth(&ctx, c.bob());
    hwnas::v1::CancelSearchRequest req;
    req.set_search_id(s->id());
    hwnas::v1::Search resp;
    EXPECT_EQ(c.search().CancelSearch(&ctx, req, &resp).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(c.Search(s->id()).state, SearchState::kRunning);
  }
  {
    grpc::ClientContext ctx;
    c.Auth(&ctx, c.bob());
    hwnas::v1::ListSearchesRequest req;
    req.set_all_owners(true);  // Not an admin: ignored.
    hwnas::v1::ListSearchesResponse resp;
    ASSERT_TRUE(c.search().ListSearches(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.searches_size(), 0);
  }
  // User tokens cannot act as workers; worker tokens cannot submit.
  WorkerCalls as_user(c, c.alice());
  std::string id;
  EXPECT_EQ(as_user.Register("sneaky", &id).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(c.Submit(TableSpec("by-worker", 5), c.fleet()).status().code(),
            absl::StatusCode::kPermissionDenied);
  {
    grpc::ClientContext ctx;
    c.Auth(&ctx, c.fleet());
    hwnas::v1::ListSearchesRequest req;
    hwnas::v1::ListSearchesResponse resp;
    EXPECT_EQ(c.search().ListSearches(&ctx, req, &resp).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  // A worker can only report on leases it holds.
  WorkerCalls fleet(c, c.fleet());
  std::string w1, w2;
  ASSERT_TRUE(fleet.Register("w1", &w1).ok());
  ASSERT_TRUE(fleet.Register("w2", &w2).ok());
  hwnas::v1::AcquireTrialResponse lease;
  ASSERT_TRUE(fleet.Acquire(w1, &lease).ok());
  ASSERT_FALSE(lease.lease_id().empty());
  EXPECT_EQ(fleet.Report(w2, lease.lease_id(), 0.5).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(fleet.Report(w1, "no-such-lease", 0.5).error_code(), grpc::StatusCode::OK);
  EXPECT_TRUE(fleet.Report(w1, lease.lease_id(), 0.5).ok());
}

TEST(ServerE2ETest, CancellingASearchStopsItsRunningTrialsAtOnce) {
  Cluster c;
  c.StartServer(/*lease_ttl_s=*/300);
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(TableSpec("to-cancel", 50));
  ASSERT_OK(s);
  WorkerCalls fleet(c, c.fleet());
  std::string w;
  hwnas::v1::AcquireTrialResponse lease;
  ASSERT_NO_FATAL_FAILURE(fleet.RegisterAndLease("w", &w, &lease));
  {
    grpc::ClientContext ctx;
    c.Auth(&ctx, c.alice());
    hwnas::v1::CancelSearchRequest req;
    req.set_search_id(s->id());
    hwnas::v1::Search resp;
    ASSERT_TRUE(c.search().CancelSearch(&ctx, req, &resp).ok());
  }
  // Not when the 300 s lease lapses: the trial is CANCELLED now, its worker
  // is told on its next heartbeat, and a result it sends anyway is refused.
  const SearchRecord after = c.Search(s->id());
  EXPECT_EQ(after.state, SearchState::kCancelled);
  EXPECT_EQ(after.counts.running, 0);
  EXPECT_EQ(after.counts.pending, 0);
  EXPECT_EQ(after.counts.finished(), 0);
  hwnas::v1::ReportProgressResponse progress;
  ASSERT_TRUE(fleet.Progress(w, lease.lease_id(), &progress).ok());
  EXPECT_EQ(progress.action(), hwnas::v1::ReportProgressResponse::ACTION_CANCELLED);
  EXPECT_EQ(fleet.Report(w, lease.lease_id(), 0.5).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(c.Search(s->id()).counts.finished(), 0);
}

TEST(ServerE2ETest, PerOwnerRunningLimitHoldsBackFurtherLeases) {
  Cluster c;
  c.StartServer(/*lease_ttl_s=*/30, /*tls=*/false, {"--max-running-per-owner", "1"});
  absl::StatusOr<hwnas::v1::Search> mine = c.Submit(TableSpec("alice-limited", 20));
  ASSERT_OK(mine);
  WorkerCalls fleet(c, c.fleet());
  std::string w1, w2, w3;
  ASSERT_TRUE(fleet.Register("w1", &w1).ok());
  ASSERT_TRUE(fleet.Register("w2", &w2).ok());
  ASSERT_TRUE(fleet.Register("w3", &w3).ok());
  hwnas::v1::AcquireTrialResponse a, b, third;
  ASSERT_TRUE(fleet.Acquire(w1, &a).ok());
  ASSERT_EQ(a.assignment().search_id(), mine->id());
  // Bob's search is another owner's: his limit is untouched by Alice's trial.
  absl::StatusOr<hwnas::v1::Search> his = c.Submit(TableSpec("bob-limited", 20), c.bob());
  ASSERT_OK(his);
  ASSERT_TRUE(fleet.Acquire(w2, &b).ok());
  EXPECT_EQ(b.assignment().search_id(), his->id());
  // Both owners have one trial running: the third worker waits empty-handed.
  ASSERT_TRUE(fleet.Acquire(w3, &third, /*wait_s=*/2).ok());
  EXPECT_TRUE(third.lease_id().empty());
  // Once Alice's trial is reported, her next trial is leased: one, even to
  // a worker asking for a batch.
  ASSERT_TRUE(fleet.Report(w1, a.lease_id(), 0.5).ok());
  ASSERT_TRUE(fleet.Acquire(w3, &third, 5, /*max_trials=*/5).ok());
  EXPECT_EQ(third.assignment().search_id(), mine->id());
  EXPECT_EQ(third.more_size(), 0);
}

// AcquireTrial's max_trials and ReportResults at the protocol level.
TEST(ServerE2ETest, BatchedLeasesAndReportsFollowTheLeaseRules) {
  Cluster c;
  c.StartServer(/*lease_ttl_s=*/300);
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(TableSpec("batches", 40));
  ASSERT_OK(s);
  WorkerCalls fleet(c, c.fleet());
  std::string w1, w2;
  ASSERT_TRUE(fleet.Register("w1", &w1).ok());
  ASSERT_TRUE(fleet.Register("w2", &w2).ok());
  hwnas::v1::AcquireTrialResponse got;
  for (int bad : {-1, 1025}) {
    grpc::Status refused = fleet.Acquire(w1, &got, 5, bad);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(refused.error_message(), HasSubstr("max_trials"));
  }
  ASSERT_TRUE(fleet.Acquire(w1, &got, 5, /*max_trials=*/5).ok());
  ASSERT_FALSE(got.lease_id().empty());
  ASSERT_EQ(got.more_size(), 4);
  std::vector<std::string> leases = {got.lease_id()};
  std::set<int64_t> numbers = {got.assignment().trial_number()};
  for (const hwnas::v1::TrialLease& l : got.more()) {
    leases.push_back(l.lease_id());
    numbers.insert(l.assignment().trial_number());
    EXPECT_EQ(l.assignment().search_id(), s->id());
    EXPECT_FALSE(l.assignment().spec_yaml().empty());
  }
  EXPECT_EQ(std::set<std::string>(leases.begin(), leases.end()).size(), 5u);
  EXPECT_EQ(numbers.size(), 5u);
  EXPECT_EQ(c.Search(s->id()).counts.running, 5);

  std::vector<std::string> first_four(leases.begin(), leases.begin() + 4);
  hwnas::v1::ReportResultsResponse answer;
  // Another worker's leases, a NaN, a lease twice: refused whole, nothing stored.
  EXPECT_EQ(fleet.ReportMany(w2, first_four, &answer).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  grpc::Status nan = fleet.ReportMany(w1, first_four, &answer, /*nan_at=*/2);
  EXPECT_EQ(nan.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(nan.error_message(), HasSubstr("results[2]"));
  std::vector<std::string> twice = {leases[0], leases[1], leases[0]};
  grpc::Status repeated = fleet.ReportMany(w1, twice, &answer);
  EXPECT_EQ(repeated.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(repeated.error_message(), HasSubstr("twice"));
  EXPECT_EQ(fleet.ReportMany(w1, {}, &answer).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(c.Search(s->id()).counts.finished(), 0);
  EXPECT_EQ(c.Search(s->id()).counts.running, 5);

  // Four good results and an unknown lease: the four are stored, the
  // unknown one is answered on its own.
  std::vector<std::string> with_unknown = first_four;
  with_unknown.push_back("no-such-lease");
  ASSERT_TRUE(fleet.ReportMany(w1, with_unknown, &answer).ok());
  ASSERT_EQ(answer.entries_size(), 5);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(answer.entries(i).code(), 0) << answer.entries(i).message();
    EXPECT_FALSE(answer.entries(i).duplicate());
    EXPECT_EQ(answer.entries(i).trial().state(), hwnas::v1::TRIAL_STATE_SUCCEEDED);
  }
  EXPECT_EQ(answer.entries(4).code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_THAT(answer.entries(4).message(), HasSubstr("no-such-lease"));
  EXPECT_EQ(c.Search(s->id()).counts.finished(), 4);
  // A retry is answered with the first results, stored once.
  ASSERT_TRUE(fleet.ReportMany(w1, first_four, &answer).ok());
  for (const hwnas::v1::ReportResultsEntry& e : answer.entries()) {
    EXPECT_EQ(e.code(), 0);
    EXPECT_TRUE(e.duplicate());
  }
  EXPECT_EQ(c.Search(s->id()).counts.finished(), 4);
  EXPECT_TRUE(fleet.Report(w1, leases[4], 0.5).ok());
  EXPECT_EQ(c.Search(s->id()).counts.finished(), 5);
  EXPECT_EQ(c.Search(s->id()).counts.running, 0);

  // A training trial comes alone, whatever max_trials says.
  absl::StatusOr<hwnas::v1::Search> training = c.Submit(TrainSpec(3, 256, 1));
  ASSERT_OK(training);
  std::string trainer;
  ASSERT_TRUE(fleet.Register("trainer", &trainer, /*trains=*/true).ok());
  hwnas::v1::AcquireTrialResponse one;
  ASSERT_TRUE(fleet.Acquire(trainer, &one, 5, /*max_trials=*/5).ok());
  ASSERT_FALSE(one.lease_id().empty());
  EXPECT_EQ(one.assignment().search_id(), training->id());
  EXPECT_EQ(one.more_size(), 0);
}

// A report that comes after its lease expired and the trial was requeued
// (a worker that took long to come back after a server restart) is refused,
// and the server carries on.
TEST(ServerE2ETest, AReportOnAnExpiredLeaseIsRefusedAndTheServerCarriesOn) {
  Cluster c;
  c.StartServer(/*lease_ttl_s=*/1);
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(TableSpec("expiring", 20));
  ASSERT_OK(s);
  WorkerCalls fleet(c, c.fleet());
  std::string w;
  hwnas::v1::AcquireTrialResponse lease;
  ASSERT_NO_FATAL_FAILURE(fleet.RegisterAndLease("w", &w, &lease));
  ASSERT_TRUE(c.WaitFor(
      s->id(), [](const SearchRecord& r) { return r.counts.running == 0; }, absl::Seconds(20)));
  grpc::Status late = fleet.Report(w, lease.lease_id(), 0.5);
  EXPECT_FALSE(late.ok());
  hwnas::v1::ReportResultsResponse answer;
  grpc::Status late_batch = fleet.ReportMany(w, {lease.lease_id()}, &answer);
  if (late_batch.ok()) {
    ASSERT_EQ(answer.entries_size(), 1);
    EXPECT_NE(answer.entries(0).code(), 0);
  }
  EXPECT_EQ(c.Search(s->id()).counts.finished(), 0);
  // Still serving: the requeued trial goes out again.
  hwnas::v1::AcquireTrialResponse again;
  ASSERT_TRUE(fleet.Acquire(w, &again).ok());
  EXPECT_FALSE(again.lease_id().empty());
  EXPECT_TRUE(fleet.Report(w, again.lease_id(), 0.5).ok());
  EXPECT_EQ(c.Search(s->id()).counts.finished(), 1);

  // The same across a server restart: the new server requeues the lease the
  // old one gave out, then the worker comes back with its result.
  ASSERT_TRUE(fleet.Acquire(w, &lease).ok());
  ASSERT_FALSE(lease.lease_id().empty());
  c.KillServer();
  c.StartServer(/*lease_ttl_s=*/1);
  ASSERT_TRUE(c.WaitFor(
      s->id(), [](const SearchRecord& r) { return r.counts.running == 0; }, absl::Seconds(20)));
  EXPECT_FALSE(fleet.Report(w, lease.lease_id(), 0.5).ok());
  EXPECT_EQ(fleet.Acquire(w, &again).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(fleet.Register("w", &w).ok());
  ASSERT_TRUE(fleet.Acquire(w, &again).ok());
  EXPECT_FALSE(again.lease_id().empty());
  EXPECT_TRUE(fleet.Report(w, again.lease_id(), 0.5).ok());
  EXPECT_EQ(c.Search(s->id()).counts.finished(), 2);
}

TEST(ServerCommandLineTest, CheckSpecAcceptsTheExamplesAndNamesTheBadField) {
  // No database: the check is what SubmitSearch does before storing.
  const std::string server = BinaryDir() + "/server/hwnas-server";
  std::vector<std::string> examples;
  for (const auto& entry :
       std::filesystem::directory_iterator(hwnas::testing::SourceDir() + "/examples")) {
    if (entry.path().extension() == ".yaml") examples.push_back(entry.path().string());
  }
  ASSERT_GE(examples.size(), 3u);
  std::vector<std::string> argv = {server, "check-spec"};
  argv.insert(argv.end(), examples.begin(), examples.end());
  absl::StatusOr<CommandResult> r = RunCommand(argv);
  ASSERT_OK(r);
  EXPECT_EQ(r->exit_code, 0) << r->output;
  for (const std::string& e : examples) EXPECT_THAT(r->output, HasSubstr(e + ": ok"));

  const std::string bad = ::testing::TempDir() + "/check-spec-bad.yaml";
  std::ofstream(bad) << absl::StrReplaceAll(
      TrainSpec(3, 256, 1), {{"hardware: {measure_latency: true, latency_runs: 10}",
                              "hardware: {targets: [{name: m7, mcu_profile: cortex-m99}]}"}});
  r = RunCommand({server, "check-spec", examples[0], bad});
  ASSERT_OK(r);
  EXPECT_EQ(r->exit_code, 2) << r->output;
  EXPECT_THAT(r->output, HasSubstr(examples[0] + ": ok"));
  EXPECT_THAT(r->output, HasSubstr(bad + ": hardware.targets[0].mcu_profile: no MCU profile "
                                         "'cortex-m99'"));
  // Which searches exist only the database knows: check-spec says so.
  const std::string warm = ::testing::TempDir() + "/check-spec-warm.yaml";
  std::ofstream(warm) << absl::StrReplaceAll(
      TableSpec("warm", 5), {{"tournament: 5}", "tournament: 5, warm_start_from: earlier}"}});
  r = RunCommand({server, "check-spec", warm});
  ASSERT_OK(r);
  EXPECT_EQ(r->exit_code, 0) << r->output;
  EXPECT_THAT(r->output,
              HasSubstr(warm + ": ok (strategy.warm_start_from 'earlier' is checked at submit)"));
  r = RunCommand({server, "check-spec", bad + ".missing"});
  ASSERT_OK(r);
  EXPECT_EQ(r->exit_code, 1) << r->output;
  EXPECT_THAT(r->output, HasSubstr("cannot read " + bad + ".missing"));
}

TEST(ServerCommandLineTest, UnknownFlagsAndStrayArgumentsAreErrorsThatNameThem) {
  // Checked before anything is opened, so no database is needed.
  const std::string server = BinaryDir() + "/server/hwnas-server";
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"serve", "--lease-tll", "5"}, "unknown flag --lease-tll for 'hwnas-server serve'"},
      {{"serve", "--admin"}, "unknown flag --admin for 'hwnas-server serve'"},
      {{"migrate", "--threads", "4"}, "unknown flag --threads for 'hwnas-server migrate'"},
      {{"admin", "create-user", "carol", "--worker=yes"}, "--worker takes no value"},
      {{"admin", "create-user", "carol", "dave"}, "unexpected argument 'dave'"},
      {{"serve", "now"}, "unexpected argument 'now' for 'serve'"},
      // gRPC would have listened on 99999 mod 65536.
      {{"serve", "--listen", "127.0.0.1:99999", "--database", "postgresql://unused"},
       "--listen: '127.0.0.1:99999' is not HOST:PORT"},
      {{"serve", "--metrics", "localhost", "--database", "postgresql://unused"},
       "--metrics: 'localhost' is not HOST:PORT (no port)"},
      {{"serve", "--metrics", "[::1]:0", "--database", "postgresql://unused"},
       "the metrics endpoint listens on IPv4 HOST:PORT only"},
      {{"serve", "--listen", "unix:/tmp/hwnas.sock", "--port-file", "/tmp/p", "--database",
        "postgresql://unused"},
       "--port-file: a Unix socket"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {server};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    absl::StatusOr<CommandResult> r = RunCommand(argv);
    ASSERT_OK(r);
    EXPECT_EQ(r->exit_code, 1) << absl::StrJoin(c.args, " ") << ": " << r->output;
    EXPECT_THAT(r->output, HasSubstr(c.message)) << absl::StrJoin(c.args, " ");
  }
}

TEST(ServerE2ETest, BadInputIsRejectedClearlyAndNothingIsStored) {
  Cluster c;
  c.StartServer();
  struct Case {
    std::string yaml;
    std::string message;
  };
  for (const Case& k : std::vector<Case>{
           {"name: [broken", "malformed YAML"},
           {"name: x\nspace: {name: resnet}\nevaluator: {kind: table}\n",
            "space.name: unknown search space 'resnet'"},
           {TableSpec("zero", 0), "budget.trials"},
           {TableSpec("typo", 5) + "stratgy: {name: random}\n", "stratgy: unknown key"},
           // Parses, but names an MCU profile the server does not have: it
           // could never run, so it is refused rather than stored as FAILED.
           {absl::StrReplaceAll(TrainSpec(3, 256, 1),
                                {{"hardware: {measure_latency: true, latency_runs: 10}",
                                  "hardware: {targets: [{name: m7, mcu_profile: cortex-m99}]}"}}),
            "hardware.targets[0].mcu_profile: no MCU profile 'cortex-m99'"},
       }) {
    absl::StatusOr<hwnas::v1::Search> s = c.Submit(k.yaml);
    ASSERT_FALSE(s.ok()) << k.yaml;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(k.message));
  }
  absl::StatusOr<db::Page<SearchRecord>> all = c.store().ListSearches({});
  ASSERT_OK(all);
  EXPECT_TRUE(all->items.empty());

  // NaN metrics in a report are refused and leave the trial as it was.
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(TableSpec("nan", 5));
  ASSERT_OK(s);
  WorkerCalls fleet(c, c.fleet());
  std::string w;
  hwnas::v1::AcquireTrialResponse lease;
  ASSERT_NO_FATAL_FAILURE(fleet.RegisterAndLease("w", &w, &lease));
  grpc::Status bad = fleet.Report(w, lease.lease_id(), std::nan(""));
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("accuracy"));
  absl::StatusOr<TrialRecord> t =
      c.store().GetTrial(s->id(), lease.assignment().trial_number(), false);
  ASSERT_OK(t);
  EXPECT_EQ(t->state, TrialState::kLeased);
  EXPECT_FALSE(t->result.has_value());
}

}  // namespace
}  // namespace hwnas

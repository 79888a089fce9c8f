// A system for operational end-to-end tests (ops_e2e_test, fault_test): a
// fresh database in the test binary's private PostgreSQL cluster, the real
// hwnas-server binary and real hwnas-worker processes on loopback, and small
// clients for gRPC, the gRPC health service and the HTTP endpoints.
// Single-threaded (one test's main thread).
#ifndef HWNAS_TESTS_SERVER_CLUSTER_H_
#define HWNAS_TESTS_SERVER_CLUSTER_H_

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/subprocess.h"
#include "controller/nb201_table.h"
#include "db/postgres_store.h"
#include "gtest/gtest.h"
#include "hwnas/v1/search_service.grpc.pb.h"
#include "tests/server/http_client.h"
#include "tests/server/store_polling.h"
#include "tests/testing/postgres_env.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_paths.h"

namespace hwnas::testing {

inline std::string BinaryDir() {
  const char* dir = std::getenv("HWNAS_BINARY_DIR");
  return dir != nullptr ? dir : "build";
}

inline std::string ServerBinary() { return BinaryDir() + "/server/hwnas-server"; }
inline std::string WorkerBinary() { return BinaryDir() + "/worker/hwnas-worker"; }

inline std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A NAS-Bench-201 table search (what the fault tests run: fast trials whose
// every result can be checked against the table).
inline std::string TableSpec(const std::string& name, int budget) {
  return absl::StrCat("name: ", name, R"(
space: {name: nb201}
evaluator: {kind: table, dataset: cifar10, device: raspi4}
objectives:
  reward: penalty
  constraints: [{metric: latency_ms, target: 15.72, lambda: 100}]
strategy: {name: evolution, population: 20, tournament: 5}
budget: {trials: )",
                      budget, "}\n");
}

// grpc.health.v1.Health/Check for the whole server: "SERVING",
// "NOT_SERVING", or the call's error. The request and response are tiny
// protos encoded by hand (Debian ships no generated health stubs).
inline std::string HealthCheck(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty("", 0);
  grpc::ByteBuffer request(&empty, 1);  // HealthCheckRequest{service: ""}
  grpc::ByteBuffer response;
  auto done = std::make_shared<std::promise<grpc::Status>>();
  std::future<grpc::Status> result = done->get_future();
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [done](grpc::Status s) { done->set_value(std::move(s)); });
  grpc::Status s = result.get();
  if (!s.ok()) return absl::StrCat("error ", s.error_code(), ": ", s.error_message());
  std::vector<grpc::Slice> slices;
  (void)response.Dump(&slices);
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  // Field 1 (status), varint: 1 SERVING, 2 NOT_SERVING.
  if (bytes == std::string("\x08\x01", 2)) return "SERVING";
  if (bytes == std::string("\x08\x02", 2)) return "NOT_SERVING";
  if (bytes.empty()) return "UNKNOWN";
  return "unexpected response";
}

// One test's system.
class Cluster {
 public:
  // `database`: a connection string; empty: a fresh database in the
  // binary's private cluster, migrated, with users alice and fleet (worker).
  explicit Cluster(std::string database = "") : database_(std::move(database)) {
    char tmpl[] = "/tmp/hwnas-ops-XXXXXX";
    dir_ = mkdtemp(tmpl);
    absl::StatusOr<int> port = PickFreePort();
    EXPECT_OK(port);
    port_ = port.ok() ? *port : 0;
    if (database_.empty()) {
      database_ = PostgresEnvironment::Get()->NewDatabase();
      OpenStore();
      alice_ = CreateUser("alice", "");
      fleet_ = CreateUser("fleet", "--worker");
    }
  }

  ~Cluster() {
    workers_.clear();  // SIGKILL and reap.
    if (server_) server_->Stop(absl::Seconds(10));
  }

  void OpenStore() {
    absl::StatusOr<std::unique_ptr<db::Store>> store =
        db::PostgresStore::Open({.connection_string = database_});
    ASSERT_OK(store);
    store_ = *std::move(store);
    ASSERT_OK(store_->Migrate());
  }

  // `hwnas-server admin ARGS... --database DB`: (exit code, output).
  CommandResult Admin(std::vector<std::string> args) {
    std::vector<std::string> argv = {ServerBinary(), "admin"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--database", database_, "--log-level", "warn"});
    absl::StatusOr<CommandResult> r = RunCommand(argv);
    EXPECT_OK(r);
    return r.ok() ? *r : CommandResult{.exit_code = -1};
  }

  std::string CreateUser(const std::string& name, const std::string& flag) {
    std::vector<std::string> args = {"create-user", name};
    if (!flag.empty()) args.push_back(flag);
    CommandResult r = Admin(args);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    // The token is the output's last line (stderr explains it first).
    std::string out(absl::StripTrailingAsciiWhitespace(r.output));
    return out.substr(out.rfind('\n') + 1);
  }

  // Starts hwnas-server on the cluster's port. `wait_for_port`: until it
  // writes its port file (it listens). The HTTP endpoints are on
  // metrics_port() when `with_http`.
  void StartServer(int lease_ttl_s, bool with_http = false,
                   const std::vector<std::string>& extra = {}) {
    const std::string port_file = dir_ + "/port";
    std::remove(port_file.c_str());
    std::vector<std::string> argv = {ServerBinary(), "serve",
                                     "--listen",     absl::StrCat("127.0.0.1:", port_),
                                     "--lease-ttl",  absl::StrCat(lease_ttl_s),
                                     "--port-file",  port_file};
    if (with_http) {
      if (metrics_port_ == 0) {
        absl::StatusOr<int> p = PickFreePort();
        ASSERT_OK(p);
        metrics_port_ = *p;
      }
      argv.insert(argv.end(), {"--metrics", absl::StrCat("127.0.0.1:", metrics_port_)});
    } else {
      argv.insert(argv.end(), {"--metrics", ""});
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    absl::StatusOr<ChildProcess> server = ChildProcess::Start(
        {.argv = argv, .env = {"HWNAS_DATABASE=" + database_}, .log_path = dir_ + "/server.log"});
    ASSERT_OK(server);
    server_ = std::make_unique<ChildProcess>(*std::move(server));
    const absl::Time until = absl::Now() + absl::Seconds(60);
    while (!std::ifstream(port_file) && server_->Running() && absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    ASSERT_TRUE(std::ifstream(port_file).good()) << "server did not start:\n" << Log("server.log");
    channel_ =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials());
    search_ = hwnas::v1::SearchService::NewStub(channel_);
  }

  void KillServer() {
    server_->Signal(SIGKILL);
    server_->Wait(absl::Seconds(30));
    server_.reset();
  }

  ChildProcess* server() { return server_.get(); }

  ChildProcess& StartWorker(const std::string& name, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {
        WorkerBinary(), "serve", "--server",   absl::StrCat("127.0.0.1:", port_),
        "--name",       name,    "--data-dir", SharedDataDir(),
        "--log-level",  "info"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    absl::StatusOr<ChildProcess> w = ChildProcess::Start({.argv = std::move(argv),
                                                          .env = {"HWNAS_TOKEN=" + fleet_},
                                                          .log_path = dir_ + "/" + name + ".log"});
    EXPECT_OK(w);
    workers_.push_back(std::make_unique<ChildProcess>(*std::move(w)));
    return *workers_.back();
  }

  // Polls until `done()` or the timeout.
  static bool Eventually(const std::function<bool()>& done, absl::Duration timeout) {
    const absl::Time until = absl::Now() + timeout;
    while (absl::Now() < until) {
      if (done()) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return done();
  }

  void Auth(grpc::ClientContext* ctx, const std::string& token) const {
    ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  }

  absl::StatusOr<hwnas::v1::Search> Submit(const std::string& yaml) {
    grpc::ClientContext ctx;
    Auth(&ctx, alice_);
    hwnas::v1::SubmitSearchRequest req;
    req.set_spec_yaml(yaml);
    hwnas::v1::SubmitSearchResponse resp;
    grpc::Status s = search_->SubmitSearch(&ctx, req, &resp);
    if (!s.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    }
    return resp.search();
  }

  // ListSearches as `token`: OK, or the call's status.
  absl::Status ListAs(const std::string& token) {
    grpc::ClientContext ctx;
    Auth(&ctx, token);
    hwnas::v1::ListSearchesRequest req;
    hwnas::v1::ListSearchesResponse resp;
    grpc::Status s = search_->ListSearches(&ctx, req, &resp);
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  }

  SearchRecord Search(int64_t id) {
    absl::StatusOr<SearchRecord> s = store_->GetSearch(id);
    return s.ok() ? *s : SearchRecord{};
  }

  std::vector<TrialRecord> Trials(int64_t id) { return e2e::AllTrials(*store_, id); }

  std::string Log(const std::string& file) const { return ReadFileOrEmpty(dir_ + "/" + file); }

  const std::string& database() const { return database_; }
  const std::string& dir() const { return dir_; }
  const std::string& alice() const { return alice_; }
  const std::string& fleet() const { return fleet_; }
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  db::Store& store() { return *store_; }

 private:
  std::string database_;
  std::string dir_;
  std::unique_ptr<db::Store> store_;
  std::string alice_, fleet_;
  int port_ = 0;
  int metrics_port_ = 0;
  std::unique_ptr<ChildProcess> server_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<hwnas::v1::SearchService::Stub> search_;
};

// Exactly `budget` trials, numbered 1..budget without gaps, each finished
// once (terminal, succeeded, with a result) and each a different
// architecture.
inline void ExpectExactlyTheBudget(const std::vector<TrialRecord>& trials, int budget) {
  ASSERT_EQ(static_cast<int>(trials.size()), budget);
  std::set<int64_t> numbers;
  std::set<std::vector<int>> archs;
  for (const TrialRecord& t : trials) {
    numbers.insert(t.number);
    archs.insert(t.architecture.tokens);
    EXPECT_EQ(t.state, TrialState::kSucceeded)
        << "trial " << t.number << " is " << TrialStateName(t.state);
    EXPECT_TRUE(t.result.has_value()) << "trial " << t.number;
  }
  EXPECT_EQ(static_cast<int>(numbers.size()), budget);
  EXPECT_EQ(*numbers.begin(), 1);
  EXPECT_EQ(*numbers.rbegin(), budget);
  EXPECT_EQ(static_cast<int>(archs.size()), budget) << "an architecture was evaluated twice";
}

// Every stored accuracy and latency equals the NAS-Bench-201 table's value
// for the trial's architecture.
inline void ExpectTableValues(const std::vector<TrialRecord>& trials) {
  absl::StatusOr<std::shared_ptr<const controller::Nb201Table>> table =
      controller::Nb201Table::Load(SharedDataDir() + "/nb201/nb201_acc_latency.csv");
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

}  // namespace hwnas::testing

#endif  // HWNAS_TESTS_SERVER_CLUSTER_H_

// `hwnas-worker serve --measure-mcu`, end to end: a private PostgreSQL
// cluster, the real hwnas-server, two real hwnas-worker processes (one that
// measures on the Cortex-M7, one that does not), real Fashion-MNIST training,
// the trained networks exported as int8 C, built with arm-none-eabi-gcc and
// run in qemu-system-arm. Also: the worker's start-up refusals, the spec's
// field-named errors, and a failed measurement in the trial runner.
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/subprocess.h"
#include "db/postgres_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwnas/v1/search_service.grpc.pb.h"
#include "mcu/firmware.h"
#include "spec/worker_spec.h"
#include "tests/server/processes.h"
#include "tests/server/store_polling.h"
#include "tests/testing/postgres_env.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_paths.h"
#include "worker/trial_runner.h"

namespace hwnas {
namespace {

using ::testing::HasSubstr;

using testing::e2e::BinaryDir;

// A directory to use as the whole PATH: every program of /usr/bin except the
// cross compiler (so the host build still works and the firmware build finds
// no arm-none-eabi-gcc, as on a machine without gcc-arm-none-eabi).
std::string PathWithoutCrossCompiler(const std::string& dir) {
  std::filesystem::create_directories(dir);
  for (const auto& entry : std::filesystem::directory_iterator("/usr/bin")) {
    const std::string name = entry.path().filename().string();
    if (name == "arm-none-eabi-gcc") continue;
    std::error_code ec;
    std::filesystem::create_symlink(entry.path(), std::filesystem::path(dir) / name, ec);
  }
  return dir;
}

constexpr char kMeasuredKeys[][32] = {"measured_flash_bytes@m7", "measured_sram_bytes@m7",
                                      "measured_instructions@m7", "int8_accuracy@m7"};

// A tiny MnasNet-space search on a Fashion-MNIST slice whose M7 target is
// also measured on the firmware; `objectives` is appended as is.
std::string MeasuringSpec(const std::string& name, int trials, const std::string& measure,
                          const std::string& objectives) {
  return absl::StrCat("name: ", name, R"(
space:
  name: mnasnet
  blocks: 2
  filters: [8, 16]
  layers: [1, 1]
  strides: [1, 2]
  stem_filters: 8
  head_filters: 0
  dropout: 0
data: {dataset: fashion_mnist, train_subset: 2048, val_subset: 256, test_subset: 128}
training: {optimizer: adam, lr: 0.02, epochs: 2, batch_size: 64, threads: 1}
hardware:
  measure_latency: false
  targets:
    - {name: m7, mcu_profile: cortex-m7)",
                      measure.empty() ? "" : absl::StrCat(", measure: ", measure), R"(}
strategy: {name: random, seed: 5}
budget: {trials: )",
                      trials, "}\n", objectives);
}

class MeasureMcuE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (absl::Status s = mcu::CheckFirmwareTools(); !s.ok()) GTEST_SKIP() << s.message();
    database_ = testing::PostgresEnvironment::Get()->NewDatabase();
    char tmpl[] = "/tmp/hwnas-measure-e2e-XXXXXX";
    dir_ = mkdtemp(tmpl);
    absl::StatusOr<std::unique_ptr<db::Store>> store =
        db::PostgresStore::Open({.connection_string = database_});
    ASSERT_OK(store);
    store_ = *std::move(store);
    ASSERT_OK(store_->Migrate());
    alice_ = testing::e2e::CreateUserToken(database_, "alice", "");
    fleet_ = testing::e2e::CreateUserToken(database_, "fleet", "--worker");
    absl::StatusOr<testing::e2e::ServerProcess> server =
        testing::e2e::StartServerProcess({.database = database_, .dir = dir_, .lease_ttl_s = 20});
    ASSERT_OK(server);
    server_ = std::move(server->process);
    port_ = server->port;
    address_ = absl::StrCat("127.0.0.1:", port_);
    channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    search_ = hwnas::v1::SearchService::NewStub(channel_);
  }

  void TearDown() override {
    workers_.clear();  // SIGKILL and reap.
    if (server_) server_->Stop(absl::Seconds(5));
  }

  std::vector<std::string> WorkerArgv(const std::string& name,
                                      const std::vector<std::string>& extra) const {
    std::vector<std::string> flags = {"--acquire-wait", "2"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    return testing::e2e::WorkerServeArgv(address_, name, testing::SharedDataDir(), flags);
  }

  void StartWorker(const std::string& name, const std::vector<std::string>& extra = {}) {
    absl::StatusOr<ChildProcess> w =
        ChildProcess::Start({.argv = WorkerArgv(name, extra),
                             .env = {"HWNAS_TOKEN=" + fleet_},
                             .log_path = absl::StrCat(dir_, "/", name, ".log")});
    ASSERT_OK(w);
    workers_.push_back(std::make_unique<ChildProcess>(*std::move(w)));
  }

  std::string Log(const std::string& file) const {
    std::ifstream in(absl::StrCat(dir_, "/", file));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  absl::StatusOr<hwnas::v1::Search> Submit(const std::string& yaml) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + alice_);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    hwnas::v1::SubmitSearchRequest req;
    req.set_spec_yaml(yaml);
    hwnas::v1::SubmitSearchResponse resp;
    grpc::Status s = search_->SubmitSearch(&ctx, req, &resp);
    if (!s.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    }
    return resp.search();
  }

  absl::StatusOr<hwnas::v1::Search> Get(int64_t id) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + alice_);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    hwnas::v1::GetSearchRequest req;
    req.set_search_id(id);
    hwnas::v1::Search resp;
    grpc::Status s = search_->GetSearch(&ctx, req, &resp);
    if (!s.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    }
    return resp;
  }

  bool WaitFor(int64_t id, const std::function<bool(const SearchRecord&)>& done,
               absl::Duration timeout) {
    return testing::e2e::WaitForSearch(*store_, id, done, timeout);
  }

  std::vector<TrialRecord> Trials(int64_t id) { return testing::e2e::AllTrials(*store_, id); }

  std::string database_, dir_, alice_, fleet_, address_;
  int port_ = 0;
  std::unique_ptr<db::Store> store_;
  std::unique_ptr<ChildProcess> server_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<hwnas::v1::SearchService::Stub> search_;
};

TEST_F(MeasureMcuE2ETest, OnlyTheMeasuringWorkerGetsTheTrialsAndResultsCarryMeasuredNumbers) {
  StartWorker("plain");
  // A hard limit on the measured flash that every firmware of this space
  // keeps: the search's results are scored, not refused.
  absl::StatusOr<hwnas::v1::Search> s =
      Submit(MeasuringSpec("measured", 2, "cortex-m7",
                           "objectives:\n  hard_limits: [{metric: measured_flash_bytes@m7, "
                           "max: 1000000}]\n  pareto_metrics: [measured_flash_bytes@m7]\n"));
  ASSERT_OK(s);
  const int64_t id = s->id();
  // With the plain worker alone, the search waits and says why.
  std::string waiting;
  for (int i = 0; i < 100 && !absl::StrContains(waiting, "cortex-m7"); ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    absl::StatusOr<hwnas::v1::Search> got = Get(id);
    ASSERT_OK(got);
    waiting = got->waiting();
  }
  EXPECT_THAT(waiting, HasSubstr("measures firmware on cortex-m7"));
  EXPECT_THAT(waiting, HasSubstr("--measure-mcu cortex-m7"));
  EXPECT_EQ(store_->GetSearch(id)->counts.finished(), 0);

  StartWorker("measurer", {"--measure-mcu", "cortex-m7"});
  ASSERT_TRUE(WaitFor(
      id, [](const SearchRecord& r) { return r.state == SearchState::kCompleted; },
      absl::Minutes(8)))
      << Log("server.log") << Log("measurer.log");

  const std::vector<TrialRecord> trials = Trials(id);
  ASSERT_EQ(trials.size(), 2u);
  for (const TrialRecord& t : trials) {
    ASSERT_EQ(t.state, TrialState::kSucceeded) << t.failure_reason << "\n" << Log("measurer.log");
    ASSERT_TRUE(t.result.has_value());
    const std::map<std::string, double>& e = t.result->estimates;
    for (const char* key : kMeasuredKeys) {
      ASSERT_TRUE(e.contains(key)) << "trial " << t.number << " lacks " << key;
    }
    // Beside the estimates, under other names.
    EXPECT_TRUE(e.contains("latency_ms@m7"));
    EXPECT_GT(e.at("measured_flash_bytes@m7"), 1000);
    EXPECT_LT(e.at("measured_flash_bytes@m7"), 1000000);
    EXPECT_GT(e.at("measured_sram_bytes@m7"), 100);
    EXPECT_GT(e.at("measured_instructions@m7"), static_cast<double>(t.result->costs.macs));
    // 10 classes: chance is 0.1; the int8 network on the same held-out
    // split as the float accuracy, within a few points of it.
    EXPECT_GT(t.result->accuracy, 0.25);
    EXPECT_NEAR(e.at("int8_accuracy@m7"), t.result->accuracy, 0.1);
  }
  // Every trial ran on the measuring worker.
  EXPECT_THAT(Log("plain.log"), ::testing::Not(HasSubstr("event=trial_started")));
  EXPECT_THAT(Log("measurer.log"), HasSubstr("event=trial_started"));

  // The CLI's `trial` shows them as measured, not estimated.
  absl::StatusOr<CommandResult> cli = RunCommand(
      {BinaryDir() + "/cli/hwnas", "trial", absl::StrCat(id), absl::StrCat(trials[0].number)},
      CommandOptions{.env = {"HWNAS_SERVER=" + address_, "HWNAS_TOKEN=" + alice_}});
  ASSERT_OK(cli);
  EXPECT_EQ(cli->exit_code, 0) << cli->output;
  EXPECT_THAT(cli->output, HasSubstr("Measured:      measured_flash_bytes@m7 = "));
  EXPECT_THAT(cli->output, HasSubstr("Measured:      int8_accuracy@m7 = "));
  EXPECT_THAT(cli->output, HasSubstr("Estimate:      latency_ms@m7 = "));

  // A limit on the measured flash below what the firmware takes: the trial
  // is trained and measured, then INFEASIBLE with the measured number.
  absl::StatusOr<hwnas::v1::Search> tight = Submit(
      MeasuringSpec("tight", 1, "cortex-m7",
                    "objectives:\n  hard_limits: [{metric: measured_flash_bytes@m7, max: 1000}]\n"
                    "  pareto_metrics: [measured_flash_bytes@m7]\n"));
  ASSERT_OK(tight);
  ASSERT_TRUE(WaitFor(
      tight->id(), [](const SearchRecord& r) { return r.state == SearchState::kCompleted; },
      absl::Minutes(5)))
      << Log("measurer.log");
  const std::vector<TrialRecord> over = Trials(tight->id());
  ASSERT_EQ(over.size(), 1u);
  EXPECT_EQ(over[0].state, TrialState::kInfeasible);
  ASSERT_TRUE(over[0].result.has_value());
  const double flash = over[0].result->estimates.at("measured_flash_bytes@m7");
  EXPECT_THAT(over[0].failure_reason, HasSubstr("measured_flash_bytes@m7 = "));
  EXPECT_THAT(over[0].failure_reason, HasSubstr("> max 1000"));
  EXPECT_THAT(over[0].failure_reason, HasSubstr(absl::StrCat(static_cast<int64_t>(flash))));
}

TEST_F(MeasureMcuE2ETest, SpecErrorsNameTheField) {
  absl::StatusOr<hwnas::v1::Search> s = Submit(MeasuringSpec("bad", 2, "cortex-m9", ""));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("hardware.targets[0].measure: unknown CPU"));
  EXPECT_THAT(s.status().message(), HasSubstr("cortex-m9"));

  // A constraint on a measured metric of a target that is not measured.
  s = Submit(MeasuringSpec("unmeasured", 2, "",
                           "objectives:\n  constraints: [{metric: measured_sram_bytes@m7, "
                           "target: 65536, type: hard}]\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("objectives.constraints[0].metric"));
  EXPECT_THAT(s.status().message(), HasSubstr("hardware target 'm7' is not measured"));
}

TEST_F(MeasureMcuE2ETest, WorkerRefusesAnUnknownCpuAndAMissingToolchainAtStartUp) {
  absl::StatusOr<CommandResult> r =
      RunCommand(WorkerArgv("w", {"--measure-mcu", "cortex-m7,cortex-m9"}),
                 CommandOptions{.timeout = absl::Seconds(30), .env = {"HWNAS_TOKEN=" + fleet_}});
  ASSERT_OK(r);
  EXPECT_EQ(r->exit_code, 2) << r->output;
  EXPECT_THAT(r->output, HasSubstr("--measure-mcu: unknown CPU 'cortex-m9'"));

  // No cross compiler on the PATH: refused before connecting, naming the
  // Debian package to install.
  const std::string bin = PathWithoutCrossCompiler(dir_ + "/bin");
  r = RunCommand(WorkerArgv("w", {"--measure-mcu", "cortex-m7"}),
                 CommandOptions{.timeout = absl::Seconds(30),
                                .env = {"HWNAS_TOKEN=" + fleet_, "PATH=" + bin}});
  ASSERT_OK(r);
  EXPECT_EQ(r->exit_code, 1) << r->output;
  EXPECT_THAT(r->output, HasSubstr("--measure-mcu: arm-none-eabi-gcc not found"));
  EXPECT_THAT(r->output, HasSubstr("gcc-arm-none-eabi"));
}

// A measurement that fails (here: the cross compiler vanished after start-up)
// fails the trial with that reason and keeps what training measured.
TEST(MeasureMcuRunnerTest, AFailedMeasurementFailsTheTrialAndKeepsTheTrainedResult) {
  if (absl::Status s = mcu::CheckFirmwareTools(); !s.ok()) GTEST_SKIP() << s.message();
  absl::StatusOr<spec::WorkerSpec> spec =
      spec::ParseWorkerSpec(MeasuringSpec("runner", 1, "cortex-m7", ""));
  ASSERT_OK(spec);
  ASSERT_EQ(spec->hardware.measure_mcu.size(), 1u);
  absl::StatusOr<std::unique_ptr<worker::TrialRunner>> runner = worker::TrialRunner::Create(
      *std::move(spec), worker::RunnerOptions{testing::SharedDataDir(), {}});
  ASSERT_OK(runner);
  const Architecture arch{"mnasnet", (*runner)->space().version(),
                          std::vector<int>((*runner)->space().decisions().size(), 0), ""};
  const std::string bin =
      PathWithoutCrossCompiler(absl::StrCat(::testing::TempDir(), "/measure-bin-", getpid()));
  const std::string old_path = std::getenv("PATH");
  setenv("PATH", bin.c_str(), 1);
  worker::TrialOutcome out =
      (*runner)->Run(arch, [](const EpochMetrics&) { return worker::ProgressDecision::kContinue; });
  setenv("PATH", old_path.c_str(), 1);
  EXPECT_EQ(out.state, TrialState::kFailed);
  EXPECT_THAT(out.result.error, HasSubstr("MCU measurement: measuring target m7 on cortex-m7"));
  EXPECT_THAT(out.result.error, HasSubstr("arm-none-eabi"));
  EXPECT_GT(out.result.accuracy, 0.1);  // Trained and evaluated: kept.
  EXPECT_EQ(out.result.epochs, 2);
  EXPECT_TRUE(out.result.estimates.contains("latency_ms@m7"));
  EXPECT_FALSE(out.result.estimates.contains("measured_flash_bytes@m7"));
}

}  // namespace
}  // namespace hwnas

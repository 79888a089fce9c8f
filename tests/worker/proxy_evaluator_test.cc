// `evaluator: {kind: proxy}` end to end on real ECG5000 data: the
// TrialRunner scores the untrained network instead of training it, and the
// hwnas-worker binary evaluates an RMI trial against a reference it exported
// itself (a real subprocess, a real TorchScript file).
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "spec/worker_spec.h"
#include "tests/testing/test_paths.h"
#include "worker/proxies.h"
#include "worker/trial_runner.h"

namespace hwnas::worker {
namespace {

using ::testing::HasSubstr;

constexpr char kNarrow[] = "conv_k5_d1_c16_p2 conv_k5_d2_c16_p2";
constexpr char kWide[] = "conv_k5_d1_c32_p2 conv_k5_d2_c64_p2";

std::string SpecText(const std::string& evaluator) {
  return absl::StrCat(
      "name: proxy-test\n"
      "space: {name: temporal}\n"
      "data: {dataset: ecg5000, seed: 0}\n"
      "training: {epochs: 1, batch_size: 32, threads: 1}\n"
      "hardware: {latency_runs: 5, latency_max_runs: 10}\n"
      "evaluator: ",
      evaluator, "\n");
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/", name);
  std::ofstream(path) << text;
  return path;
}

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr together.
};

Result RunWorker(const std::string& args) {
  const char* bin = std::getenv("HWNAS_BINARY_DIR");
  const std::string cmd = absl::StrCat(bin != nullptr ? bin : ".", "/worker/hwnas-worker ", args,
                                       " --data-dir ", testing::SharedDataDir(), " 2>&1");
  Result r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(ProxyEvaluatorTest, TheRunnerScoresTheUntrainedNetworkOnOneRealBatch) {
  absl::StatusOr<WorkerSpec> spec =
      ParseWorkerSpec(SpecText("{kind: proxy, proxy: snip, batch: 48, seed: 4}"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<std::unique_ptr<TrialRunner>> runner =
      TrialRunner::Create(*spec, {.shared_data_dir = testing::SharedDataDir()});
  ASSERT_TRUE(runner.ok()) << runner.status();
  absl::StatusOr<std::vector<int>> tokens = (*runner)->space().Parse(kNarrow);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  absl::StatusOr<Architecture> arch = (*runner)->space().MakeArchitecture(*tokens);
  ASSERT_TRUE(arch.ok()) << arch.status();

  TrialOutcome a = (*runner)->Run(*arch, nullptr);
  ASSERT_EQ(a.state, TrialState::kSucceeded) << a.result.error;
  EXPECT_EQ(a.result.epochs, 0);
  EXPECT_TRUE(a.history.empty());  // Nothing was trained.
  ASSERT_TRUE(a.result.estimates.count("proxy_score@snip"));
  ASSERT_TRUE(a.result.estimates.count("proxy_seconds@snip"));
  const double score = a.result.estimates.at("proxy_score@snip");
  EXPECT_GT(score, 0);
  EXPECT_DOUBLE_EQ(a.result.accuracy, ProxyAccuracy(ProxyKind::kSnip, score));
  EXPECT_GT(a.result.accuracy, 0.5);  // A positive score maps above one half.
  EXPECT_LT(a.result.accuracy, 1.0);
  EXPECT_GT(a.result.costs.params, 0);
  ASSERT_TRUE(a.result.latency.has_value());
  EXPECT_GT(a.result.latency->median_ms, 0);

  // The same score as the proxy itself on the same batch and seed, and the
  // same again on a second run.
  absl::StatusOr<space::NetworkPlan> plan = (*runner)->space().Lower(*tokens);
  ASSERT_TRUE(plan.ok());
  absl::StatusOr<ProxyScore> direct =
      ScoreProxy(*plan, (*runner)->data().train, ProxyKind::kSnip, {.batch_size = 48, .seed = 4});
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_EQ(direct->batch, 48);
  EXPECT_DOUBLE_EQ(direct->score, score);
  TrialOutcome b = (*runner)->Run(*arch, nullptr);
  ASSERT_EQ(b.state, TrialState::kSucceeded) << b.result.error;
  EXPECT_EQ(b.result.estimates.at("proxy_score@snip"), score);
}

TEST(ProxyEvaluatorTest, ProxyAccuracyIsMonotoneInsideTheUnitInterval) {
  for (ProxyKind kind : {ProxyKind::kSynflow, ProxyKind::kNaswot, ProxyKind::kGradNorm,
                         ProxyKind::kSnip, ProxyKind::kRmi}) {
    SCOPED_TRACE(std::string(ProxyKindName(kind)));
    double last = -1;
    for (double s : {-500.0, -3.0, 0.0, 0.5, 2.0, 40.0, 600.0}) {
      const double acc = ProxyAccuracy(kind, s);
      EXPECT_GE(acc, 0);
      EXPECT_LE(acc, 1);
      // RMI's 1 - exp(-nats) is 1 in double precision beyond ~37 nats (a
      // copy of the reference); below that, and everywhere for the others,
      // a higher score is a higher ACC.
      if (kind != ProxyKind::kRmi || (s > 0 && s < 37)) {
        EXPECT_GT(acc, last) << s;
      } else {
        EXPECT_GE(acc, last) << s;
      }
      last = acc;
    }
  }
  EXPECT_DOUBLE_EQ(ProxyAccuracy(ProxyKind::kRmi, 0), 0);
  EXPECT_NEAR(ProxyAccuracy(ProxyKind::kRmi, std::log(2.0)), 0.5, 1e-12);
}

TEST(ProxyEvaluatorTest, TheWorkerEvaluatesAnRmiTrialAgainstAReferenceItExported) {
  const std::string train_spec = WriteFile("proxy_train.yaml", SpecText("{kind: train}"));
  const std::string reference = absl::StrCat(::testing::TempDir(), "/proxy_reference.pt");
  std::filesystem::remove(reference);
  Result exported = RunWorker(absl::StrCat("export --quiet --spec-data --epochs 3 --spec ",
                                           train_spec, " --arch '", kWide, "' --out ", reference));
  ASSERT_EQ(exported.code, 0) << exported.out;
  ASSERT_TRUE(std::filesystem::exists(reference));

  const std::string rmi_spec = WriteFile(
      "proxy_rmi.yaml", SpecText(absl::StrCat("{kind: proxy, proxy: rmi, reference: ", reference,
                                              ", batch: 64, seed: 2}")));
  Result r = RunWorker(
      absl::StrCat("evaluate --json --quiet --spec ", rmi_spec, " --arch '", kNarrow, "'"));
  ASSERT_EQ(r.code, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["state"], "SUCCEEDED");
  EXPECT_EQ(j["epochs"], 0);
  const double score = j["estimates"]["proxy_score@rmi"].get<double>();
  EXPECT_GT(score, 0);  // An untrained network shares some information with the trained one.
  EXPECT_NEAR(j["accuracy"].get<double>(), 1 - std::exp(-score), 1e-9);
  EXPECT_GT(j["costs"]["params"].get<double>(), 0);

  // A reference that is not there fails the trial and says which field.
  const std::string missing =
      WriteFile("proxy_missing.yaml",
                SpecText("{kind: proxy, proxy: rmi, reference: /nonexistent/reference.pt}"));
  Result bad = RunWorker(
      absl::StrCat("evaluate --json --quiet --spec ", missing, " --arch '", kNarrow, "'"));
  EXPECT_NE(bad.code, 0) << bad.out;
  EXPECT_THAT(bad.out, HasSubstr("evaluator.reference"));
  EXPECT_THAT(bad.out, HasSubstr("/nonexistent/reference.pt"));
}

TEST(ProxyEvaluatorTest, AReferenceThatIsNotTorchScriptIsRefusedByPath) {
  absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(SpecText("{kind: train}"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<DataSplits> data = LoadDataSplits(spec->data, testing::SharedDataDir());
  ASSERT_TRUE(data.ok()) << data.status();
  const std::string junk = WriteFile("not_a_model.pt", "plain text, not a zip archive");
  absl::StatusOr<Representation> r = ModuleOutputRepresentation(junk, data->train, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(junk));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("not a loadable TorchScript file"));
}

}  // namespace
}  // namespace hwnas::worker

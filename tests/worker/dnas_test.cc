// Differentiable search (worker/dnas/): the cost tables against the MCU
// model and a lookup table, gradients into the architecture parameters, the
// top-K decode, the strategy options, and the hwnas-worker dnas command on
// real Fashion-MNIST data, including a kill -9 mid-epoch and its resume.
#include <signal.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hardware/latency_lut.h"
#include "hardware/mcu_model.h"
#include "nlohmann/json.hpp"
#include "spec/search_spec.h"
#include "tests/testing/test_paths.h"
#include "tests/worker/dnas_test_util.h"
#include "worker/dnas/cost_tables.h"
#include "worker/dnas/dnas_search.h"
#include "worker/dnas/supernet.h"

namespace hwnas::worker::dnas {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string SpecPath() {
  return absl::StrCat(testing::SourceDir(), "/tests/worker/testdata/fashion_dnas.yaml");
}

using Loaded = dnas_testing::LoadedSpec<space::MnasnetSpace>;
Loaded Load(const std::string& text) { return dnas_testing::LoadSpec<space::MnasnetSpace>(text); }

std::string SpecText() { return *ReadWholeFile(SpecPath()); }

using dnas_testing::RandomTokens;
using dnas_testing::ReadProgress;

TEST(DnasCostTest, OneHotExpectedLatencyEqualsMcuModel) {
  Loaded l = Load(SpecText());
  ASSERT_NE(l.space, nullptr);
  LatencySource source;
  source.target_name = "m7";
  source.mcu = *hardware::FindMcuProfile("cortex-m7", hardware::DefaultProfileSearchPath());
  absl::StatusOr<CostTables> tables = BuildCostTables(*l.space, source, std::nullopt);
  ASSERT_TRUE(tables.ok()) << tables.status();
  Supernet net(*l.space);
  CostModel model(*tables, *l.space);
  std::mt19937 rng(5);
  for (int i = 0; i < 40; ++i) {
    const std::vector<int> tokens = RandomTokens(*l.space, rng);
    space::NetworkPlan plan = *l.space->Lower(tokens);
    const hardware::McuEstimate e = *hardware::EstimateMcu(plan, *source.mcu);
    const ExpectedCosts c = model.Expected(net->OneHot(tokens));
    EXPECT_NEAR(c.latency_ms.item<double>(), e.latency_ms, 1e-9 * e.latency_ms)
        << l.space->Readable(tokens);
    EXPECT_NEAR(CostsOf(*tables, *l.space, tokens).latency_ms, e.latency_ms, 1e-9 * e.latency_ms);
    // Flash: the static model's bytes plus the runtime (the deployed pricing
    // is checked on the final architectures instead).
    hardware::McuProfile plain = *source.mcu;
    plain.deployed.present = false;
    const hardware::McuEstimate p = *hardware::EstimateMcu(plan, plain);
    EXPECT_NEAR(c.flash_bytes.item<double>(), static_cast<double>(p.flash_needed_bytes), 0.5);
  }
}

TEST(DnasCostTest, OneHotExpectedLatencyEqualsLookupTableSum) {
  // Every op key gets a distinct made-up time, so an op attributed to the
  // wrong block or counted twice changes the sum.
  const std::string text = absl::StrCat(
      "name: lut\nspace: {name: mnasnet, blocks: 2, filters: [8, 16], layers: [1, 1], strides: "
      "[2, 1], stem_filters: 8, head_filters: 16}\n",
      "data: {dataset: fashion_mnist}\nhardware: {targets: [{name: t, lut: none}]}\n",
      "objectives: {reward: mnasnet}\nstrategy: {name: dnas}\nbudget: {trials: 1}\n");
  absl::StatusOr<spec::SearchSpec> s = spec::ParseSearchSpec(text);
  ASSERT_TRUE(s.ok()) << s.status();
  std::unique_ptr<space::SearchSpace> owner = *spec::MakeSpace(*s);
  const auto* space = dynamic_cast<const space::MnasnetSpace*>(owner.get());
  ASSERT_NE(space, nullptr);
  hardware::LatencyLut lut;
  lut.base_ms = 0.05;
  lut.scale = 0.9;
  std::mt19937 rng(1);
  // Every key a block can need: each block's choices (and the previous
  // block's width) with the other blocks at their first choices. Any token
  // list's ops are among these if the cost of a block's ops depends only on
  // those decisions, which the random lists below check.
  const int per = space::MnasnetSpace::kDecisionsPerBlock;
  const size_t n = space->decisions().size();
  auto add_keys = [&](const std::vector<int>& tokens) {
    for (const hardware::LutOp& op : hardware::CollectLutOps(*space->Lower(tokens))) {
      if (!lut.entries.count(op.key)) {
        lut.entries[op.key].median_ms = std::uniform_real_distribution<double>(0.01, 1)(rng);
      }
    }
  };
  for (int b = 0; b < 2; ++b) {
    for (int combo = 0; combo < 360 * 3; ++combo) {
      std::vector<int> tokens(n, 0);
      int c = combo;
      for (int d = 0; d < per; ++d) {
        const int size = static_cast<int>(space->decisions()[b * per + d].choices.size());
        tokens[b * per + d] = c % size;
        c /= size;
      }
      if (b > 0) tokens[space::MnasnetSpace::kWidth] = c % 3;
      add_keys(tokens);
    }
  }
  LatencySource source{.target_name = "t", .mcu = std::nullopt, .lut = lut};
  absl::StatusOr<CostTables> tables = BuildCostTables(*space, source, std::nullopt);
  ASSERT_TRUE(tables.ok()) << tables.status();
  Supernet net(*space);
  CostModel model(*tables, *space);
  for (int i = 0; i < 300; ++i) {
    const std::vector<int> tokens = RandomTokens(*space, rng);
    absl::StatusOr<double> want = hardware::PredictLatencyMs(*space->Lower(tokens), lut);
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_NEAR(CostsOf(*tables, *space, tokens).latency_ms, *want, 1e-9)
        << space->Readable(tokens);
    ASSERT_NEAR(model.Expected(net->OneHot(tokens)).latency_ms.item<double>(), *want, 1e-9);
  }
  // Mixed: block 2's op uniform, everything else one-hot: the expectation is
  // the mean over the five ops.
  std::vector<int> base = RandomTokens(*space, rng);
  DecisionWeights w = net->OneHot(base);
  w[per + space::MnasnetSpace::kOp] = torch::full({5}, 0.2, torch::kDouble);
  double mean = 0;
  for (int op = 0; op < 5; ++op) {
    base[per + space::MnasnetSpace::kOp] = op;
    mean += *hardware::PredictLatencyMs(*space->Lower(base), lut) / 5;
  }
  EXPECT_NEAR(model.Expected(w).latency_ms.item<double>(), mean, 1e-9);
  // A table without an op's key is refused, naming the key.
  lut.entries.erase(lut.entries.begin());
  source.lut = lut;
  absl::StatusOr<CostTables> missing = BuildCostTables(*space, source, std::nullopt);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("has no entry"));
}

TEST(DnasSupernetTest, GradientReachesEveryArchitectureParameter) {
  Loaded l = Load(SpecText());
  LatencySource source;
  source.target_name = "m7";
  source.mcu = *hardware::FindMcuProfile("cortex-m7", hardware::DefaultProfileSearchPath());
  CostTables tables = *BuildCostTables(*l.space, source, std::nullopt);
  torch::manual_seed(0);
  Supernet net(*l.space);
  CostModel model(tables, *l.space);
  torch::Tensor x = torch::randn({4, 1, 28, 28});
  torch::Tensor y = torch::tensor({0, 1, 2, 3}, torch::kLong);
  DecisionWeights w = net->Sample(5.0);
  torch::Tensor logits = net->forward(x, w);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{4, 10}));
  torch::Tensor loss =
      DnasLoss(torch::cross_entropy_loss(logits, y), model.Expected(w), tables, 0.2, 0.6, 2.0);
  loss.backward();
  ASSERT_EQ(net->arch_parameters().size(), l.space->decisions().size());
  for (size_t d = 0; d < net->arch_parameters().size(); ++d) {
    const torch::Tensor& g = net->arch_parameters()[d].grad();
    ASSERT_TRUE(g.defined()) << l.space->decisions()[d].name;
    EXPECT_GT(g.abs().sum().item<double>(), 0) << l.space->decisions()[d].name;
  }
  // The weights get gradients too; a one-hot forward gives logits as well.
  for (const torch::Tensor& p : net->weight_parameters()) ASSERT_TRUE(p.grad().defined());
  EXPECT_EQ(net->forward(x, net->OneHot(net->Argmax())).size(1), 10);
}

TEST(DnasTopKTest, MostLikelyIsExactAndDecodes) {
  // Brute force over a small product distribution.
  const std::vector<std::vector<double>> p = {{0.5, 0.3, 0.2}, {0.1, 0.9}, {0.25, 0.25, 0.5}};
  std::vector<std::pair<double, std::vector<int>>> all;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 2; ++b)
      for (int c = 0; c < 3; ++c) all.push_back({p[0][a] * p[1][b] * p[2][c], {a, b, c}});
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& x, const auto& y) { return x.first > y.first; });
  const std::vector<RankedTokens> got = MostLikely(p, 100);
  ASSERT_EQ(got.size(), all.size());
  std::set<std::vector<int>> distinct;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i].probability, all[i].first, 1e-12) << i;
    distinct.insert(got[i].tokens);
  }
  EXPECT_EQ(distinct.size(), all.size());
  // On the space: the top-K of a trained-looking distribution are valid
  // architectures, most likely first, and the first is the argmax.
  Loaded l = Load(SpecText());
  Supernet net(*l.space);
  torch::manual_seed(4);
  {
    torch::NoGradGuard g;
    for (const torch::Tensor& t : net->arch_parameters()) t.copy_(torch::randn_like(t) * 2);
  }
  std::vector<std::vector<double>> probs;
  for (const torch::Tensor& t : net->Probabilities()) {
    probs.emplace_back(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  }
  const std::vector<RankedTokens> top = MostLikely(probs, 10);
  ASSERT_EQ(top.size(), 10u);
  EXPECT_EQ(top[0].tokens, net->Argmax());
  for (size_t i = 0; i < top.size(); ++i) {
    EXPECT_TRUE(l.space->Validate(top[i].tokens).ok());
    EXPECT_TRUE(l.space->Parse(l.space->Readable(top[i].tokens)).ok());
    if (i > 0) {
      EXPECT_LE(top[i].probability, top[i - 1].probability);
    }
  }
}

TEST(DnasSpecTest, OptionsValidatedNamingTheField) {
  auto error = [](const std::string& strategy) {
    const std::string text = absl::StrCat(
        "name: x\nspace: {name: mnasnet, blocks: 1}\ndata: {dataset: fashion_mnist}\n"
        "objectives: {reward: mnasnet}\nbudget: {trials: 1}\nstrategy: ",
        strategy, "\n");
    absl::StatusOr<spec::SearchSpec> s = spec::ParseSearchSpec(text);
    return s.ok() ? std::string("ok") : std::string(s.status().message());
  };
  EXPECT_EQ(error("{name: dnas, epochs: 4, alpha: 0.3, beta: 0.5, tau: 3, tau_decay: 0.9, k: 3}"),
            "ok");
  EXPECT_THAT(error("{name: dnas, tau_decay: 1.5}"), HasSubstr("strategy.tau_decay"));
  EXPECT_THAT(error("{name: dnas, k: 0}"), HasSubstr("strategy.k"));
  EXPECT_THAT(error("{name: dnas, epochs: 2, warmup_epochs: 2}"),
              HasSubstr("strategy.warmup_epochs"));
  EXPECT_THAT(error("{name: dnas, population: 3}"), HasSubstr("population"));
  EXPECT_THAT(error("{name: evolution, tau: 3}"), HasSubstr("tau"));
}

// The hwnas-worker binary.
struct Result {
  int code = -1;
  std::string out;
};

std::string WorkerBinary() {
  const char* bin = std::getenv("HWNAS_BINARY_DIR");
  return absl::StrCat(bin != nullptr ? bin : ".", "/worker/hwnas-worker");
}

Result RunWorker(const std::string& args) {
  const std::string cmd = absl::StrCat(WorkerBinary(), " ", args, " 2>&1");
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

std::string TempDir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / absl::StrCat("hwnas_dnas_", name, "_", getpid());
  fs::remove_all(dir);
  return dir.string();
}

bool HaveData() { return fs::exists(testing::FashionMnistDir()); }

TEST(DnasCommandTest, BadInputIsRefusedNamingTheProblem) {
  Result r = RunWorker("dnas --spec x.yaml");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.out, HasSubstr("--out is required"));
  // A spec whose strategy is not dnas.
  const std::string dir = TempDir("bad");
  fs::create_directories(dir);
  const std::string other = (fs::path(dir) / "evolution.yaml").string();
  {
    std::string text = SpecText();
    const size_t at = text.find("strategy:");
    std::ofstream(other) << text.substr(0, at)
                         << "strategy: {name: evolution}\nbudget: {trials: 4}\n";
  }
  r = RunWorker(absl::StrCat("dnas --spec ", other, " --out ", dir, "/job"));
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("strategy.name"));
  // A space whose decisions are not per-layer op choices.
  const std::string nb201 = (fs::path(dir) / "nb201.yaml").string();
  {
    std::string text = SpecText();
    const size_t a = text.find("space:"), b = text.find("data:");
    std::ofstream(nb201) << text.substr(0, a) << "space: {name: nb201, channels: 8}\n"
                         << text.substr(b);
  }
  r = RunWorker(absl::StrCat("dnas --spec ", nb201, " --out ", dir, "/job2"));
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("space nb201 is not supported"));
  fs::remove_all(dir);
}

TEST(DnasCommandTest, KilledMidEpochResumesFromLastCheckpoint) {
  if (!HaveData()) GTEST_SKIP() << "Fashion-MNIST is not installed (dataset-fashion-mnist)";
  const std::string dir = TempDir("resume");
  const std::string out_file = dir + ".first.log";
  // First run, in the background; killed (SIGKILL) once epoch 1 is
  // checkpointed, i.e. during epoch 2.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    FILE* f = freopen(out_file.c_str(), "w", stdout);
    (void)f;
    dup2(fileno(stdout), 2);
    execl(WorkerBinary().c_str(), "hwnas-worker", "dnas", "--spec", SpecPath().c_str(), "--out",
          dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(4);
  while (ReadProgress(dir).size() < 1 && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid)
      FAIL() << "dnas exited early: " << *ReadWholeFile(out_file);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "finished before the kill: " << *ReadWholeFile(out_file);
  const std::vector<nlohmann::json> before = ReadProgress(dir);
  ASSERT_EQ(before.size(), 1u) << "the kill did not land in epoch 2";
  EXPECT_FALSE(fs::exists(fs::path(dir) / "result.json"));

  // The rerun resumes after epoch 1: epochs 2 and 3 run once each.
  Result r = RunWorker(absl::StrCat("dnas --spec ", SpecPath(), " --out ", dir));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("resuming " + dir + " after epoch 1 of 3"));
  EXPECT_EQ(r.out.find("epoch 1/3"), std::string::npos) << r.out;
  EXPECT_THAT(r.out, HasSubstr("epoch 2/3"));
  EXPECT_THAT(r.out, HasSubstr("epoch 3/3"));
  const std::vector<nlohmann::json> after = ReadProgress(dir);
  ASSERT_EQ(after.size(), 3u);
  for (int e = 0; e < 3; ++e) EXPECT_EQ(after[e]["epoch"], e + 1);
  EXPECT_EQ(after[0], before[0]);  // Epoch 1 was not redone.

  // The result: K distinct feasible architectures that decode in the space.
  const nlohmann::json result =
      nlohmann::json::parse(*ReadWholeFile((fs::path(dir) / "result.json").string()));
  Loaded l = Load(SpecText());
  ASSERT_EQ(result["candidates"].size(), 4u) << result.dump(2);
  std::set<uint64_t> hashes;
  double last_p = 2;
  for (const nlohmann::json& c : result["candidates"]) {
    const std::vector<int> tokens = c["tokens"].get<std::vector<int>>();
    ASSERT_TRUE(l.space->Validate(tokens).ok());
    EXPECT_EQ(*l.space->Parse(c["readable"].get<std::string>()), l.space->Canonicalize(tokens));
    EXPECT_TRUE(c["feasible"].get<bool>());
    EXPECT_EQ(c["estimates"]["feasible@m7"], 1);
    EXPECT_TRUE(hashes.insert(l.space->CanonicalHash(tokens)).second);
    EXPECT_LE(c["probability"].get<double>(), last_p);
    last_p = c["probability"].get<double>();
  }

  // Never twice: a finished directory is printed, not trained again.
  r = RunWorker(absl::StrCat("dnas --spec ", SpecPath(), " --out ", dir));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("is finished; not training again"));
  EXPECT_EQ(r.out.find("epoch "), std::string::npos);
  EXPECT_EQ(ReadProgress(dir).size(), 3u);
  // Another spec on the same directory is refused.
  const std::string other = dir + ".other.yaml";
  {
    std::string text = SpecText();
    text.replace(text.find("k: 4"), 4, "k: 3");
    std::ofstream(other) << text;
  }
  r = RunWorker(absl::StrCat("dnas --spec ", other, " --out ", dir));
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("holds a search of another spec"));
  fs::remove_all(dir);
  fs::remove(out_file);
  fs::remove(other);
}

}  // namespace
}  // namespace hwnas::worker::dnas

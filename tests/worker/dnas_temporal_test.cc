// Differentiable search on the temporal space (worker/dnas/temporal_supernet.h):
// the chain DP of expected costs against the MCU model and a latency lookup
// table (one-hot) and against brute-force enumeration (soft weights),
// gradients into every architecture parameter, the hidden-size masking, and
// the dnas command on real ECG5000 beats with a stop after epoch 1 and its
// resume.
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hardware/latency_lut.h"
#include "hardware/mcu_model.h"
#include "nlohmann/json.hpp"
#include "spec/search_spec.h"
#include "tests/testing/test_paths.h"
#include "tests/worker/dnas_test_util.h"
#include "worker/commands.h"
#include "worker/dnas/dnas_search.h"
#include "worker/dnas/temporal_supernet.h"

namespace hwnas::worker::dnas {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string SpecPath() {
  return absl::StrCat(testing::SourceDir(), "/tests/worker/testdata/ecg_dnas.yaml");
}

// A temporal spec on ECG5000's shape ({1, 140}, 5 classes) with `space`.
std::string SpecWithSpace(const std::string& space) {
  return absl::StrCat(
      "name: t\nspace: ", space,
      "\ndata: {dataset: ecg5000}\n"
      "hardware: {targets: [{name: m4, mcu_profile: cortex-m4}]}\n"
      "objectives: {reward: mnasnet}\nstrategy: {name: dnas}\nbudget: {trials: 1}\n");
}

using Loaded = dnas_testing::LoadedSpec<space::TemporalSpace>;
Loaded Load(const std::string& text) { return dnas_testing::LoadSpec<space::TemporalSpace>(text); }
using dnas_testing::ReadProgress;

LatencySource M4() {
  LatencySource source;
  source.target_name = "m4";
  source.mcu = *hardware::FindMcuProfile("cortex-m4", hardware::DefaultProfileSearchPath());
  return source;
}

std::vector<int> RandomValidTokens(const space::SearchSpace& space, std::mt19937& rng) {
  for (;;) {
    std::vector<int> t = dnas_testing::RandomTokens(space, rng);
    if (space.Validate(t).ok()) return t;
  }
}

DecisionWeights OneHot(const space::SearchSpace& space, const std::vector<int>& tokens) {
  DecisionWeights w;
  for (size_t d = 0; d < tokens.size(); ++d) {
    torch::Tensor v = torch::zeros({static_cast<int64_t>(space.decisions()[d].choices.size())});
    v[tokens[d]] = 1;
    w.push_back(v);
  }
  return w;
}

DecisionWeights RandomSoft(const space::SearchSpace& space, uint64_t seed) {
  torch::manual_seed(seed);
  DecisionWeights w;
  for (const space::Decision& d : space.decisions()) {
    w.push_back(torch::softmax(
                    torch::randn({static_cast<int64_t>(d.choices.size())}, torch::kDouble) * 1.5, 0)
                    .to(torch::kDouble));
  }
  return w;
}

// The model's costs of one architecture: latency with the profile as it is
// (its `deployed` section prices memory, not cycles), flash and SRAM with
// the static model (the deployed pricing is checked on the final
// architectures instead, as for mnasnet).
struct ModelCosts {
  double latency_ms = 0, flash = 0, sram = 0;
};
ModelCosts ModelOf(const space::TemporalSpace& space, const std::vector<int>& tokens,
                   const hardware::McuProfile& profile) {
  const space::NetworkPlan plan = *space.Lower(tokens);
  hardware::McuProfile plain = profile;
  plain.deployed.present = false;
  const hardware::McuEstimate e = *hardware::EstimateMcu(plan, profile);
  const hardware::McuEstimate p = *hardware::EstimateMcu(plan, plain);
  return {e.latency_ms, static_cast<double>(p.flash_needed_bytes),
          static_cast<double>(p.sram_needed_bytes)};
}

TEST(TemporalDnasCostTest, OneHotExpectedCostsEqualMcuModel) {
  // Two spaces: cells after convolutions (a cell followed by another returns
  // its whole sequence), and eight pooling layers on 140 steps (the last
  // pools run out of steps).
  const std::vector<std::string> spaces = {
      "{name: temporal, conv_layers: 3, rnn_layers: 2, kernels: [3, 5, 9], dilations: [1, 2, 4], "
      "channels: [8, 16, 32], hidden_sizes: [16, 32], activation_bits: 8}",
      "{name: temporal, conv_layers: 8, rnn_layers: 1, kernels: [3], dilations: [1], "
      "channels: [4, 8], hidden_sizes: [8]}"};
  const LatencySource source = M4();
  for (const std::string& text : spaces) {
    Loaded l = Load(SpecWithSpace(text));
    ASSERT_NE(l.space, nullptr);
    absl::StatusOr<TemporalCostTables> tables =
        BuildTemporalCostTables(*l.space, source, std::nullopt);
    ASSERT_TRUE(tables.ok()) << tables.status();
    TemporalCostModel model(*tables, *l.space);
    std::mt19937 rng(11);
    std::vector<std::vector<int>> archs;
    archs.push_back(std::vector<int>(l.space->decisions().size(), 0));  // Nothing but the head.
    for (int i = 0; i < 60; ++i) archs.push_back(RandomValidTokens(*l.space, rng));
    for (const std::vector<int>& tokens : archs) {
      const ModelCosts want = ModelOf(*l.space, tokens, *source.mcu);
      const ExpectedCosts got = model.Expected(OneHot(*l.space, tokens));
      const std::string arch = l.space->Readable(tokens);
      EXPECT_NEAR(got.latency_ms.item<double>(), want.latency_ms, 1e-9 * want.latency_ms) << arch;
      EXPECT_NEAR(got.flash_bytes.item<double>(), want.flash, 0.5) << arch;
      EXPECT_NEAR(got.sram_bytes.item<double>(), want.sram, 0.5) << arch;
      EXPECT_NEAR(model.CostsOf(tokens).latency_ms, want.latency_ms, 1e-9 * want.latency_ms);
    }
  }
}

TEST(TemporalDnasCostTest, DpIsTheExactExpectationUnderSoftWeights) {
  // A space small enough to enumerate: 24 x 24 conv choices x 36 cells.
  Loaded l = Load(SpecWithSpace(
      "{name: temporal, conv_layers: 2, rnn_layers: 2, kernels: [3, 5], dilations: [1], "
      "channels: [4, 8], hidden_sizes: [4, 8]}"));
  ASSERT_NE(l.space, nullptr);
  const LatencySource source = M4();
  TemporalCostModel model(*BuildTemporalCostTables(*l.space, source, std::nullopt), *l.space);
  const auto& decisions = l.space->decisions();
  for (uint64_t seed : {1, 2}) {
    const DecisionWeights w = RandomSoft(*l.space, seed);
    const ExpectedCosts got = model.Expected(w);
    // The state distribution after the last layer is a distribution, and
    // "no layer at all" has the product of the none probabilities.
    const torch::Tensor state = model.FinalState(w);
    EXPECT_NEAR(state.sum().item<double>(), 1.0, 1e-12);
    EXPECT_GE(state.min().item<double>(), 0.0);
    double none = 1;
    for (int d : {0, 5, 10, 12}) none *= w[d][0].item<double>();
    EXPECT_NEAR(state[0][0].item<double>(), none, 1e-12);
    // Brute force over every token list.
    std::vector<int> tokens(decisions.size(), 0);
    double latency = 0, flash = 0, sram = 0, total_p = 0;
    std::map<uint64_t, ModelCosts> cache;
    for (;;) {
      double p = 1;
      for (size_t d = 0; d < tokens.size(); ++d) p *= w[d][tokens[d]].item<double>();
      const uint64_t hash = l.space->CanonicalHash(tokens);
      auto it = cache.find(hash);
      if (it == cache.end()) it = cache.emplace(hash, ModelOf(*l.space, tokens, *source.mcu)).first;
      latency += p * it->second.latency_ms;
      flash += p * it->second.flash;
      sram += p * it->second.sram;
      total_p += p;
      size_t d = 0;
      while (d < tokens.size() && ++tokens[d] == static_cast<int>(decisions[d].choices.size())) {
        tokens[d++] = 0;
      }
      if (d == tokens.size()) break;
    }
    EXPECT_NEAR(total_p, 1.0, 1e-9);
    EXPECT_NEAR(got.latency_ms.item<double>(), latency, 1e-9 * latency);
    EXPECT_NEAR(got.flash_bytes.item<double>(), flash, 1e-6 * flash);
    // SRAM: the max over layers of expectations bounds the expected max
    // from below (the documented approximation).
    EXPECT_LE(got.sram_bytes.item<double>(), sram + 1e-6);
    EXPECT_GT(got.sram_bytes.item<double>(), 0.5 * sram);
  }
}

TEST(TemporalDnasCostTest, OneHotExpectedLatencyEqualsLookupTableSum) {
  // A latency lookup table with a distinct made-up time per op key (so an op
  // attributed to the wrong layer, or counted twice, changes the sum) and a
  // per-network base (counted once).
  Loaded l = Load(SpecWithSpace(
      "{name: temporal, conv_layers: 2, rnn_layers: 2, kernels: [3, 5], dilations: [1, 2], "
      "channels: [4, 8], hidden_sizes: [4, 8]}"));
  ASSERT_NE(l.space, nullptr);
  hardware::LatencyLut lut;
  lut.base_ms = 0.05;
  lut.scale = 0.9;
  std::mt19937 rng(4);
  // Every key of the space: its canonical architectures, enumerated.
  const auto& decisions = l.space->decisions();
  std::vector<int> tokens(decisions.size(), 0);
  std::set<uint64_t> seen;
  for (;;) {
    if (seen.insert(l.space->CanonicalHash(tokens)).second) {
      for (const hardware::LutOp& op : hardware::CollectLutOps(*l.space->Lower(tokens))) {
        if (!lut.entries.count(op.key)) {
          lut.entries[op.key].median_ms = std::uniform_real_distribution<double>(0.01, 1)(rng);
        }
      }
    }
    size_t d = 0;
    while (d < tokens.size() && ++tokens[d] == static_cast<int>(decisions[d].choices.size())) {
      tokens[d++] = 0;
    }
    if (d == tokens.size()) break;
  }
  LatencySource source{.target_name = "t", .mcu = std::nullopt, .lut = lut};
  absl::StatusOr<TemporalCostTables> tables =
      BuildTemporalCostTables(*l.space, source, std::nullopt);
  ASSERT_TRUE(tables.ok()) << tables.status();
  EXPECT_EQ(tables->sram_limit_bytes, 0);
  TemporalCostModel model(*tables, *l.space);
  for (int i = 0; i < 200; ++i) {
    const std::vector<int> t = RandomValidTokens(*l.space, rng);
    absl::StatusOr<double> want = hardware::PredictLatencyMs(*l.space->Lower(t), lut);
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_NEAR(model.Expected(OneHot(*l.space, t)).latency_ms.item<double>(), *want, 1e-9)
        << l.space->Readable(t);
  }
  // A table without an op's key is refused, naming the key.
  lut.entries.erase(lut.entries.begin());
  source.lut = lut;
  absl::StatusOr<TemporalCostTables> missing =
      BuildTemporalCostTables(*l.space, source, std::nullopt);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("has no entry"));
}

TEST(TemporalDnasSupernetTest, GradientReachesEveryArchitectureParameter) {
  Loaded l = Load(SpecWithSpace(
      "{name: temporal, conv_layers: 2, rnn_layers: 2, kernels: [3, 5], dilations: [1, 2], "
      "channels: [4, 8], hidden_sizes: [4, 8]}"));
  ASSERT_NE(l.space, nullptr);
  torch::manual_seed(7);
  TemporalSupernet net(*l.space);
  TemporalCostModel model(*BuildTemporalCostTables(*l.space, M4(), std::nullopt), *l.space);
  // Synthetic series: this checks plumbing, not accuracy.
  const torch::Tensor x = torch::randn({6, 1, 140});
  const torch::Tensor y = torch::tensor({0, 1, 2, 3, 4, 0}, torch::kLong);
  // Several samples: a pool's straight-through gradient reaches the
  // sampled choice's logit, and through softmax all of them.
  for (int s = 0; s < 3; ++s) {
    const DecisionWeights w = net->Sample(1.0);
    const torch::Tensor logits = net->forward(x, w);
    ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{6, 5}));
    const torch::Tensor loss = DnasLoss(torch::cross_entropy_loss(logits, y), model.Expected(w),
                                        256 * 1024, 1024 * 1024, 0.2, 0.6, 2.0);
    loss.backward();
  }
  const auto& theta = net->arch_parameters();
  ASSERT_EQ(theta.size(), l.space->decisions().size());
  for (size_t d = 0; d < theta.size(); ++d) {
    ASSERT_TRUE(theta[d].grad().defined()) << l.space->decisions()[d].name;
    EXPECT_GT(theta[d].grad().abs().sum().item<double>(), 0) << l.space->decisions()[d].name;
  }
}

TEST(TemporalDnasSupernetTest, OneHotHiddenMaskIsTheSmallerCell) {
  // With a one-hot hidden size of 4 (of 8), the units 4..7 feed nothing
  // back: changing their recurrent weights leaves the output unchanged,
  // while changing a used unit's weights changes it.
  Loaded l = Load(
      SpecWithSpace("{name: temporal, conv_layers: 1, rnn_layers: 1, kernels: [3], dilations: [1], "
                    "channels: [4], hidden_sizes: [4, 8]}"));
  ASSERT_NE(l.space, nullptr);
  torch::manual_seed(3);
  TemporalSupernet net(*l.space);
  net->eval();
  const torch::Tensor x = torch::randn({3, 1, 140});
  for (int cell : {1, 2}) {  // lstm, gru
    const std::vector<int> tokens = {1, 0, 0, 0, 0, cell, 0};
    ASSERT_TRUE(l.space->Validate(tokens).ok());
    const DecisionWeights w = net->OneHot(tokens);
    torch::NoGradGuard no_grad;
    const torch::Tensor before = net->forward(x, w);
    const std::string prefix = cell == 1 ? "r0lstm" : "r0gru";
    torch::Tensor whh = net->named_parameters()[prefix + "whh"];
    whh.slice(1, 4, 8).add_(torch::randn_like(whh.slice(1, 4, 8)));
    EXPECT_TRUE(torch::allclose(net->forward(x, w), before, 1e-6, 1e-6)) << prefix;
    whh.slice(1, 0, 4).add_(torch::randn_like(whh.slice(1, 0, 4)));
    EXPECT_FALSE(torch::allclose(net->forward(x, w), before, 1e-6, 1e-6)) << prefix;
  }
}

bool HaveEcg() {
  return fs::exists(fs::path(testing::SharedDataDir()) / "ecg5000" / "ECG5000_TRAIN.txt");
}

TEST(TemporalDnasCommandTest, StoppedAfterAnEpochResumesOnEcg5000) {
  if (!HaveEcg()) {
    GTEST_SKIP() << "ECG5000 is not in the shared data directory " << testing::SharedDataDir();
  }
  const fs::path dir = fs::temp_directory_path() / absl::StrCat("hwnas_dnas_ecg_", getpid());
  fs::remove_all(dir);
  DnasCommandOptions o;
  o.spec_path = SpecPath();
  o.out_dir = dir.string();
  o.data_dir = testing::SharedDataDir();
  // First run: stopped once epoch 1 is checkpointed (as a server job whose
  // lease is gone).
  std::vector<int> epochs_seen;
  o.on_epoch = [&](int epoch, const std::map<std::string, double>& values,
                   const std::string& checkpoint) {
    epochs_seen.push_back(epoch);
    EXPECT_TRUE(fs::exists(checkpoint));
    EXPECT_GT(values.at("expected_latency_ms"), 0);
    return false;
  };
  std::ostringstream out1, err1;
  ASSERT_EQ(RunDnas(o, out1, err1), kExitTrialFailed) << err1.str();
  EXPECT_THAT(err1.str(), HasSubstr("stopped after epoch 1"));
  EXPECT_EQ(epochs_seen, std::vector<int>{1});
  const std::vector<nlohmann::json> before = ReadProgress(dir.string());
  ASSERT_EQ(before.size(), 1u);
  EXPECT_FALSE(fs::exists(dir / "result.json"));

  // The rerun resumes after epoch 1: epoch 2 runs, epoch 1 is not redone.
  epochs_seen.clear();
  o.on_epoch = [&](int epoch, const std::map<std::string, double>&, const std::string&) {
    epochs_seen.push_back(epoch);
    return true;
  };
  std::ostringstream out2, err2;
  ASSERT_EQ(RunDnas(o, out2, err2), kExitOk) << err2.str();
  EXPECT_THAT(err2.str(), HasSubstr("resuming " + dir.string() + " after epoch 1 of 2"));
  EXPECT_EQ(epochs_seen, std::vector<int>{2});
  EXPECT_EQ(out2.str().find("epoch 1/2"), std::string::npos) << out2.str();
  EXPECT_THAT(out2.str(), HasSubstr("epoch 2/2"));
  const std::vector<nlohmann::json> after = ReadProgress(dir.string());
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0], before[0]);
  EXPECT_EQ(after[1]["epoch"], 2);

  // K distinct canonical temporal architectures that decode, within the M4.
  const nlohmann::json result =
      nlohmann::json::parse(*ReadWholeFile((dir / "result.json").string()));
  EXPECT_EQ(result["space"], "temporal");
  Loaded l = Load(*ReadWholeFile(SpecPath()));
  ASSERT_NE(l.space, nullptr);
  ASSERT_EQ(result["candidates"].size(), 3u) << result.dump(2);
  std::set<uint64_t> hashes;
  double last_p = 2;
  for (const nlohmann::json& c : result["candidates"]) {
    const std::vector<int> tokens = c["tokens"].get<std::vector<int>>();
    ASSERT_TRUE(l.space->Decode(tokens).ok()) << c.dump();
    EXPECT_EQ(tokens, l.space->Canonicalize(tokens));
    EXPECT_EQ(*l.space->Parse(c["readable"].get<std::string>()), tokens);
    EXPECT_TRUE(c["feasible"].get<bool>());
    EXPECT_EQ(c["estimates"]["feasible@m4"], 1);
    EXPECT_TRUE(hashes.insert(l.space->CanonicalHash(tokens)).second);
    EXPECT_GT(c["probability"].get<double>(), 0);
    EXPECT_LE(c["probability"].get<double>(), last_p);
    last_p = c["probability"].get<double>();
  }
  // Finished: a third run prints the result and trains nothing.
  std::ostringstream out3, err3;
  ASSERT_EQ(RunDnas(o, out3, err3), kExitOk) << err3.str();
  EXPECT_THAT(err3.str(), HasSubstr("is finished; not training again"));
  EXPECT_EQ(ReadProgress(dir.string()).size(), 2u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hwnas::worker::dnas

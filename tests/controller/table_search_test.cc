// Strategies on the real NAS-Bench-201 table (small budgets) and the
// controller's learning on a synthetic reward.
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "controller/mnasnet_controller.h"
#include "controller/nb201_table.h"
#include "controller/search.h"
#include "gtest/gtest.h"
#include "space/nb201_space.h"
#include "tests/controller/toy_space.h"
#include "tests/testing/test_paths.h"

namespace hwnas::controller {
namespace {

const space::Nb201Space& Nb201() {
  static const space::Nb201Space* space =
      new space::Nb201Space({}, space::DataShape{{3, 32, 32}, 10});
  return *space;
}

std::shared_ptr<const Nb201Table> Table() {
  static std::shared_ptr<const Nb201Table>* table = [] {
    const std::string path =
        absl::StrCat(hwnas::testing::SharedDataDir(), "/nb201/nb201_acc_latency.csv");
    absl::StatusOr<std::shared_ptr<const Nb201Table>> t = Nb201Table::Load(path);
    EXPECT_TRUE(t.ok()) << t.status();
    return new std::shared_ptr<const Nb201Table>(t.ok() ? *t : nullptr);
  }();
  return *table;
}

TEST(Nb201TableTest, LoadsEveryCellKeyedOnOps) {
  ASSERT_NE(Table(), nullptr);
  const Nb201Table& t = *Table();
  EXPECT_EQ(t.devices().size(), 27u);
  // Row idx 0 of the file: ops 421211.
  const int i = *Nb201Table::IndexOf({4, 2, 1, 2, 1, 1});
  EXPECT_EQ(t.benchmark_idx(i), 0);
  EXPECT_DOUBLE_EQ(t.accuracy_percent(Nb201Dataset::kCifar10, i), 85.8633);
  EXPECT_DOUBLE_EQ(t.accuracy_percent(Nb201Dataset::kCifar100, i), 52.9133);
  EXPECT_DOUBLE_EQ(t.latency_ms(*t.DeviceColumn("raspi4"), i), 10.482);
  EXPECT_DOUBLE_EQ(t.latency_ms(*t.DeviceColumn("lat_pixel3"), i), 3.60585);
  // The file's arch_str agrees with the nb201 space's readable form for every
  // row, so tokens and `ops` digits mean the same edges.
  double best = 0;
  for (int k = 0; k < Nb201Table::kNumArchitectures; ++k) {
    ASSERT_EQ(t.arch_str(k), Nb201().Readable(Nb201Table::TokensOf(k))) << k;
    best = std::max(best, t.accuracy_percent(Nb201Dataset::kCifar10, k));
  }
  EXPECT_DOUBLE_EQ(best, 94.3733);  // The README rounds it to 94.37.
  EXPECT_FALSE(t.DeviceColumn("raspi5").ok());
  EXPECT_FALSE(Nb201Table::Load("/nonexistent/nb201.csv").ok());
}

TEST(Nb201TableTest, EvaluatorAnswersArchitectures) {
  ASSERT_NE(Table(), nullptr);
  absl::StatusOr<TableEvaluator> eval =
      TableEvaluator::Create(Table(), Nb201Dataset::kCifar10, "pixel3");
  ASSERT_TRUE(eval.ok()) << eval.status();
  absl::StatusOr<TrialResult> r = eval->Evaluate(
      *Nb201().MakeArchitecture(*Nb201().Parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|"
                                               "skip_connect~0|nor_conv_3x3~1|skip_connect~2|")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_DOUBLE_EQ(r->accuracy, 0.9366);
  EXPECT_DOUBLE_EQ(*MetricValue(*r, "latency_ms"), 17.2381);
  EXPECT_DOUBLE_EQ(*MetricValue(*r, "latency_ms@pixel3"), 17.2381);
  EXPECT_TRUE(ValidateTrialResult(*r).ok());
  Architecture other;
  other.space = "mnasnet";
  other.tokens = {0, 0, 0, 0, 0, 0};
  EXPECT_FALSE(eval->Evaluate(other).ok());
  EXPECT_FALSE(TableEvaluator::Create(Table(), Nb201Dataset::kCifar10, "tpu").ok());
}

struct Setting {
  std::string device;
  double target_ms;
};

// Best feasible accuracy (percent) within the first `budget` trials, by seed.
// The strategy learns from the penalty reward (lambda 1), or from MnasNet's
// soft-constraint reward when `soft` is set.
std::vector<double> Regrets(const std::string& strategy, const StrategyOptions& base,
                            const Setting& setting, int budget, int seeds, bool soft = false) {
  const Nb201Table& t = *Table();
  const int col = *t.DeviceColumn(setting.device);
  double best = 0;
  for (int k = 0; k < Nb201Table::kNumArchitectures; ++k) {
    if (t.latency_ms(col, k) <= setting.target_ms) {
      best = std::max(best, t.accuracy_percent(Nb201Dataset::kCifar10, k));
    }
  }
  TableEvaluator eval = *TableEvaluator::Create(Table(), Nb201Dataset::kCifar10, setting.device);
  std::vector<double> regrets;
  for (int seed = 0; seed < seeds; ++seed) {
    SearchOptions o;
    o.strategy = base;
    o.strategy.name = strategy;
    if (soft) {
      o.reward.set_form(RewardForm::kMnasNet)
          .add_constraint(Constraint::Soft("latency_ms", setting.target_ms));
    } else {
      o.reward.set_form(RewardForm::kPenalty)
          .add_constraint(Constraint::Penalty("latency_ms", setting.target_ms, 1.0));
    }
    o.budget = budget;
    o.dedup = DedupKey::kExact;
    auto search = *Search::Create(o, Nb201(), seed);
    while (search->evaluated() < budget) {
      std::vector<Proposal> props = *search->Propose(1);
      if (props.empty()) break;
      std::vector<FinishedTrial> done;
      for (const Proposal& p : props) {
        done.push_back(
            {p.id, p.architecture, TrialState::kSucceeded, *eval.Evaluate(p.architecture)});
      }
      EXPECT_TRUE(search->Observe(done).ok());
    }
    double found = 0;
    for (const ScoredTrial& s : search->history()) {
      if (*MetricValue(s.result, "latency_ms") <= setting.target_ms) {
        found = std::max(found, 100 * s.result.accuracy);
      }
    }
    regrets.push_back(best - found);
  }
  return regrets;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

TEST(TableSearchTest, RandomSearchBestSoFarMatchesTheTable) {
  ASSERT_NE(Table(), nullptr);
  const Nb201Table& t = *Table();
  const int col = *t.DeviceColumn("raspi4");
  const double target = 15.72;
  TableEvaluator eval = *TableEvaluator::Create(Table(), Nb201Dataset::kCifar10, "raspi4");
  SearchOptions o;
  o.strategy.name = "random";
  o.reward.add_constraint(Constraint::Hard("latency_ms", target));
  o.budget = 120;
  o.dedup = DedupKey::kExact;
  auto search = *Search::Create(o, Nb201(), 17);
  double best_so_far = -1;
  std::set<int> seen;
  while (!search->BudgetExhausted()) {
    std::vector<Proposal> props = *search->Propose(5);
    ASSERT_FALSE(props.empty());
    std::vector<FinishedTrial> done;
    for (const Proposal& p : props) {
      done.push_back(
          {p.id, p.architecture, TrialState::kSucceeded, *eval.Evaluate(p.architecture)});
    }
    ASSERT_TRUE(search->Observe(done).ok());
    for (const Proposal& p : props) {
      // Look the row up independently, through its arch_str.
      const std::vector<int> tokens = *Nb201().Parse(p.architecture.readable);
      const int k = *Nb201Table::IndexOf(tokens);
      EXPECT_TRUE(seen.insert(k).second) << "repeated " << p.architecture.readable;
      if (t.latency_ms(col, k) <= target) {
        best_so_far = std::max(best_so_far, t.accuracy_percent(Nb201Dataset::kCifar10, k));
      }
    }
    const ScoredTrial* best = search->best();
    if (best_so_far >= 0) {
      ASSERT_NE(best, nullptr);
      // Hard MnasNet constraint: the best reward is the best feasible accuracy.
      EXPECT_DOUBLE_EQ(100 * best->result.accuracy, best_so_far);
      EXPECT_DOUBLE_EQ(best->reward, best->result.accuracy);
    }
  }
  EXPECT_EQ(search->evaluated(), 120);
  EXPECT_EQ(seen.size(), 120u);
}

TEST(TableSearchTest, EvolutionAndControllerBeatRandom) {
  ASSERT_NE(Table(), nullptr);
  SetControllerThreads(1);
  // eyeriss at its 25% latency quantile (4.63 ms), 150 trials, 9 seeds.
  const Setting setting{"eyeriss", 4.63};
  constexpr int kBudget = 150, kSeeds = 9;
  StrategyOptions base;
  base.evolution.population = 30;
  base.evolution.tournament = 10;
  base.controller.learning_rate = 0.02;
  base.controller.batch_size = 8;
  const double random = Median(Regrets("random", base, setting, kBudget, kSeeds));
  const double evolution = Median(Regrets("evolution", base, setting, kBudget, kSeeds));
  const double ppo = Median(Regrets("mnasnet-ppo", base, setting, kBudget, kSeeds));
  const double reinforce = Median(Regrets("mnasnet-reinforce", base, setting, kBudget, kSeeds));
  std::cout << "median regret @" << kBudget << ": random " << random << ", evolution " << evolution
            << ", ppo " << ppo << ", reinforce " << reinforce << "\n";
  EXPECT_LT(evolution, random);
  EXPECT_LT(ppo, random);
  EXPECT_LT(reinforce, random);
}

TEST(TableSearchTest, SurrogateBeatsRandom) {
  ASSERT_NE(Table(), nullptr);
  // pixel3 at its 25% latency quantile (6.44 ms), where climbing strategies
  // stall in a deceptive neighbourhood; 120 trials, 7 seeds.
  const Setting setting{"pixel3", 6.44};
  constexpr int kBudget = 120, kSeeds = 7;
  StrategyOptions base;
  const double random = Median(Regrets("random", base, setting, kBudget, kSeeds));
  const double surrogate = Median(Regrets("surrogate", base, setting, kBudget, kSeeds));
  std::cout << "median regret @" << kBudget << ": random " << random << ", surrogate " << surrogate
            << "\n";
  EXPECT_LT(surrogate, random);
}

// raspi4 at its 25% latency quantile: the only row within 0.63 points of the
// best feasible accuracy is 300010, a single 3x3 convolution whose other
// encodings measure 16-35 ms against the 15.72 ms target. Retrying near misses
// through equivalent encodings finds it; the plain surrogate seldom does.
TEST(TableSearchTest, NearMissRetriesFindRaspi4sBestRow) {
  ASSERT_NE(Table(), nullptr);
  const Setting setting{"raspi4", 15.72};
  constexpr int kBudget = 200, kSeeds = 7;
  StrategyOptions base;
  const double plain = Median(Regrets("surrogate", base, setting, kBudget, kSeeds));
  base.surrogate.near_miss_retries = 8;
  base.surrogate.near_miss_margin = 0.3;
  const double retries = Median(Regrets("surrogate", base, setting, kBudget, kSeeds));
  std::cout << "median regret @" << kBudget << ": surrogate " << plain
            << ", with near-miss retries " << retries << "\n";
  EXPECT_LT(retries, 0.625);  // Half the reference evolution's 1.25.
  EXPECT_LT(retries, plain);
}

// On pixel3 the reward-following strategies settle on a family of 1x1
// convolution cells that random search's breadth beats by 500 trials; the
// risk-seeking controller keeps trying the single-3x3 cells whose latency
// lands under the target only some of the time (docs/benchmarks.md).
TEST(TableSearchTest, RiskSeekingControllerBeatsRandomWhereClimbersStall) {
  ASSERT_NE(Table(), nullptr);
  SetControllerThreads(1);
  const Setting setting{"pixel3", 6.44};
  constexpr int kBudget = 400, kSeeds = 9;
  StrategyOptions base;
  base.controller.learning_rate = 0.02;
  base.controller.batch_size = 8;
  const double random = Median(Regrets("random", base, setting, kBudget, kSeeds));
  const double plain = Median(Regrets("mnasnet-ppo", base, setting, kBudget, kSeeds));
  base.controller.risk_quantile = 0.25;
  const double risk = Median(Regrets("mnasnet-ppo", base, setting, kBudget, kSeeds, true));
  std::cout << "median regret @" << kBudget << ": random " << random << ", ppo " << plain
            << ", risk-seeking ppo (soft reward) " << risk << "\n";
  EXPECT_LT(risk, random);
  EXPECT_LT(risk, plain);
}

// A reward peaked at one sequence of a 6-decision space (partial credit per
// matching token, so the signal is learnable but only one sequence is best).
double SyntheticReward(const std::vector<int>& tokens) {
  static const std::vector<int> kBest = {1, 3, 0, 2, 2, 1};
  double r = 0;
  for (size_t i = 0; i < tokens.size(); ++i) r += tokens[i] == kBest[i];
  return r / tokens.size();
}

// P(best sequence) after 150 updates of a controller seeded with `seed`.
double LearnedProbability(PolicyGradient algorithm, double risk_quantile, uint64_t seed) {
  hwnas::controller::testing::ToySpace space(6, 4);
  ControllerOptions o;
  o.algorithm = algorithm;
  o.batch_size = 8;
  o.learning_rate = 0.01;  // The papers' 3.5e-4 needs thousands of updates.
  o.risk_quantile = risk_quantile;
  // Risk-seeking updates rank a batch against itself, so once the best
  // sequence is found and repeats are refused, they go on pushing up its best
  // new neighbours (the exploration a search wants); here the best sequence
  // may be sampled again, to show the update itself converges to it.
  o.avoid_repeats = risk_quantile == 0;
  auto c = *MnasNetController::Create(o, space, seed);
  const std::vector<int> best = {1, 3, 0, 2, 2, 1};
  const double uniform = std::pow(0.25, 6);
  EXPECT_NEAR(*c->SequenceProbability(best), uniform, 0.5 * uniform);
  for (int update = 0; update < 150; ++update) {
    std::vector<Proposal> props = *c->Propose(8);
    std::vector<Observation> obs;
    for (const Proposal& p : props) {
      Observation ob;
      ob.proposal_id = p.id;
      ob.architecture = p.architecture;
      ob.reward = SyntheticReward(p.architecture.tokens);
      obs.push_back(ob);
    }
    std::reverse(obs.begin(), obs.end());  // Out of order on purpose.
    EXPECT_TRUE(c->Observe(obs).ok());
  }
  EXPECT_EQ(c->updates(), 150);
  return *c->SequenceProbability(best);
}

// Learning must not hinge on the last bits of a matrix product (which BLAS
// kernels the CPU selects) or on a lucky seed: every seed has to get there.
void ExpectLearns(PolicyGradient algorithm, double risk_quantile = 0) {
  SetControllerThreads(1);
  // Which kernels LibTorch's BLAS runs (OpenBLAS only; see
  // with_openblas_core.sh), so a log shows what a result was checked on.
  using CoreName = char* (*)();
  if (auto core = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"))) {
    std::cout << "OpenBLAS kernels: " << core() << "\n";
  }
  const double uniform = std::pow(0.25, 6);
  int seeds = 12;
  if (const char* env = std::getenv("HWNAS_LEARNING_SEEDS")) seeds = std::atoi(env);
  int learned = 0;
  for (int seed = 0; seed < seeds; ++seed) {
    const double p = LearnedProbability(algorithm, risk_quantile, 5 + seed);
    std::cout << "seed " << 5 + seed << ": P(best) after 150 updates " << p << " (uniform "
              << uniform << ")\n";
    EXPECT_GT(p, 0.05) << "seed " << 5 + seed;
    learned += p > 0.05;
  }
  std::cout << learned << " of " << seeds << " seeds learned the best sequence\n";
}

TEST(ControllerLearningTest, PpoLearnsTheBestSequence) { ExpectLearns(PolicyGradient::kPpo); }
TEST(ControllerLearningTest, ReinforceLearnsTheBestSequence) {
  ExpectLearns(PolicyGradient::kReinforce);
}
TEST(ControllerLearningTest, RiskSeekingPpoLearnsTheBestSequence) {
  ExpectLearns(PolicyGradient::kPpo, 0.5);
}
TEST(ControllerLearningTest, RiskSeekingReinforceLearnsTheBestSequence) {
  ExpectLearns(PolicyGradient::kReinforce, 0.5);
}

}  // namespace
}  // namespace hwnas::controller

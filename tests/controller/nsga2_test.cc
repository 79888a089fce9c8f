#include "controller/nsga2.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "controller/pareto.h"
#include "controller/search.h"
#include "gtest/gtest.h"
#include "tests/controller/test_util.h"
#include "tests/controller/toy_space.h"

namespace hwnas::controller {
namespace {

using testing::ToySpace;

constexpr double kInf = std::numeric_limits<double>::infinity();

Nsga2Point P(double a, double b, double violation = 0) { return Nsga2Point{{a, b}, violation}; }

TEST(Nsga2Test, ConstrainedDominationFollowsDebsRule) {
  // Feasible beats infeasible whatever the objectives.
  EXPECT_TRUE(ConstrainedDominates(P(9, 9), P(0, 0, 0.1)));
  EXPECT_FALSE(ConstrainedDominates(P(0, 0, 0.1), P(9, 9)));
  // Among infeasible: the smaller violation wins, objectives ignored.
  EXPECT_TRUE(ConstrainedDominates(P(9, 9, 0.1), P(0, 0, 0.5)));
  EXPECT_FALSE(ConstrainedDominates(P(0, 0, 0.5), P(9, 9, 0.1)));
  EXPECT_FALSE(ConstrainedDominates(P(0, 0, 0.5), P(9, 9, 0.5)));
  // Among feasible: Pareto dominance.
  EXPECT_TRUE(ConstrainedDominates(P(1, 2), P(1, 3)));
  EXPECT_FALSE(ConstrainedDominates(P(1, 3), P(1, 2)));
  EXPECT_FALSE(ConstrainedDominates(P(1, 3), P(2, 1)));
  EXPECT_FALSE(ConstrainedDominates(P(2, 1), P(1, 3)));
  EXPECT_FALSE(ConstrainedDominates(P(1, 1), P(1, 1)));
}

TEST(Nsga2Test, NonDominatedSortOrdersFronts) {
  const std::vector<Nsga2Point> points = {
      P(3, 3),       // 0: front 1 (dominated by 2)
      P(1, 5),       // 1: front 0
      P(2, 3),       // 2: front 0
      P(4, 4),       // 3: front 2 (dominated by 0)
      P(0, 0, 0.5),  // 4: infeasible, violation 0.5: last
      P(3, 1),       // 5: front 0
      P(2, 5),       // 6: front 1 (dominated by 1 and 2)
      P(0, 0, 0.2),  // 7: infeasible, violation 0.2
  };
  const std::vector<std::vector<int>> fronts = NonDominatedFronts(points);
  const std::vector<std::vector<int>> expected = {{1, 2, 5}, {0, 6}, {3}, {7}, {4}};
  EXPECT_EQ(fronts, expected);
  EXPECT_TRUE(NonDominatedFronts({}).empty());
  // Equal points share a front.
  EXPECT_EQ(NonDominatedFronts({P(1, 1), P(1, 1)}), (std::vector<std::vector<int>>{{0, 1}}));
}

TEST(Nsga2Test, CrowdingDistanceNormalizesGapsAndKeepsExtremes) {
  const std::vector<Nsga2Point> points = {P(0, 4), P(1, 2), P(2, 1), P(4, 0), P(9, 9)};
  const std::vector<double> d = CrowdingDistances(points, {0, 1, 2, 3});
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0], kInf);
  EXPECT_EQ(d[3], kInf);
  // (1, 2): neighbours 0 and 2 on the first objective (2 / 4), 1 and 4 on
  // the second (3 / 4).
  EXPECT_DOUBLE_EQ(d[1], 0.5 + 0.75);
  // (2, 1): neighbours 1 and 4 (3 / 4), then 0 and 2 (2 / 4).
  EXPECT_DOUBLE_EQ(d[2], 0.75 + 0.5);
  // Two members: both extremes.
  EXPECT_EQ(CrowdingDistances(points, {1, 2}), (std::vector<double>{kInf, kInf}));
  // A missing metric (+inf) gives no finite spread on that objective; the
  // other still counts.
  const std::vector<Nsga2Point> missing = {P(0, 1), P(1, kInf), P(2, 3), P(4, 2)};
  const std::vector<double> m = CrowdingDistances(missing, {0, 1, 2, 3});
  EXPECT_DOUBLE_EQ(m[2], (4.0 - 1.0) / 4.0);
  EXPECT_FALSE(std::isnan(m[1]));
}

absl::StatusOr<StrategyOptions> ParseYaml(absl::string_view yaml) {
  absl::StatusOr<YamlSection> doc = YamlSection::Parse(yaml);
  if (!doc.ok()) return doc.status();
  return ParseStrategyOptions(YamlSection(doc->node(), "strategy"));
}

TEST(Nsga2Test, ParsesOptionsAndRefusesBadOnesNamingTheField) {
  absl::StatusOr<StrategyOptions> o =
      ParseYaml("{name: nsga2, population: 24, crossover: 0.7, mutation: 0.25}");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->name, "nsga2");
  EXPECT_EQ(o->nsga2.population, 24);
  EXPECT_DOUBLE_EQ(o->nsga2.crossover, 0.7);
  EXPECT_DOUBLE_EQ(o->nsga2.mutation, 0.25);
  EXPECT_EQ(o->evolution.population, EvolutionOptions().population);  // Not evolution's.
  absl::StatusOr<StrategyOptions> d = ParseYaml("{name: nsga2}");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->nsga2.population, 40);
  EXPECT_DOUBLE_EQ(d->nsga2.crossover, 0.9);
  EXPECT_DOUBLE_EQ(d->nsga2.mutation, 0);

  for (const auto& [yaml, field] : std::vector<std::pair<std::string, std::string>>{
           {"{name: nsga2, population: 1}", "strategy.population"},
           {"{name: nsga2, crossover: 1.5}", "strategy.crossover"},
           {"{name: nsga2, mutation: -0.1}", "strategy.mutation"},
           {"{name: nsga2, mutation: two}", "strategy.mutation"},
           {"{name: nsga2, tournament: 3}", "tournament"},
           {"{name: evolution, crossover: 0.5}", "crossover"},
       }) {
    absl::StatusOr<StrategyOptions> bad = ParseYaml(yaml);
    ASSERT_FALSE(bad.ok()) << yaml;
    EXPECT_NE(bad.status().message().find(field), std::string::npos)
        << yaml << ": " << bad.status();
  }
  StrategyOptions code;
  code.name = "nsga2";
  code.nsga2.population = 1;
  absl::Status st = ValidateStrategyOptions(code);
  EXPECT_NE(st.message().find("strategy.population"), std::string::npos) << st;
  code.nsga2.population = 4;
  code.nsga2.mutation = 2;
  st = ValidateStrategyOptions(code);
  EXPECT_NE(st.message().find("strategy.mutation"), std::string::npos) << st;
}

TEST(Nsga2Test, ObjectivesAreAccuracyAndEveryConstrainedOrParetoMetric) {
  ToySpace space(4, 3);
  RewardOptions r;
  r.add_constraint(Constraint::Soft("latency_ms", 5));
  r.add_constraint(Constraint::Soft("flash_bytes", 1e6));
  r.set_pareto_metrics({"latency_ms", "params"});
  Nsga2 s(Nsga2Options(), space, 1, &r);
  EXPECT_EQ(s.cost_metrics(), (std::vector<std::string>{"latency_ms", "flash_bytes", "params"}));
  Nsga2 plain(Nsga2Options(), space, 1, nullptr);
  EXPECT_EQ(plain.cost_metrics(), (std::vector<std::string>{"latency_ms"}));

  // A checkpoint is refused by a strategy with other objectives.
  absl::StatusOr<std::string> bytes = s.Save();
  ASSERT_TRUE(bytes.ok());
  absl::Status st = plain.Restore(*bytes);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("objectives"), std::string::npos) << st;
}

// A toy two-objective problem over 8 decisions x 4 choices (65536
// architectures): every decision buys accuracy (with diminishing returns) at
// a latency price, at a different rate per decision, so the front is a
// staircase that only some token lists reach.
TrialResult ToyResult(const std::vector<int>& tokens) {
  static constexpr double kGain[] = {0.9, 0.2, 0.6, 0.1, 0.8, 0.3, 0.5, 0.05};
  static constexpr double kCost[] = {0.2, 0.9, 0.4, 0.7, 0.3, 0.2, 0.6, 0.8};
  double gain = 0, cost = 0;
  for (size_t d = 0; d < tokens.size(); ++d) {
    gain += kGain[d] * std::sqrt(static_cast<double>(tokens[d]));
    cost += kCost[d] * tokens[d] * (1 + 0.1 * ((tokens[d] + d) % 3));
  }
  TrialResult r;
  r.accuracy = 0.2 + 0.7 * gain / (1.0 + gain);
  r.latency = LatencyMeasurement{1.0 + cost, 1.0 + cost, 10, 1, "toy"};
  return r;
}

// Hypervolume of (accuracy max, latency min) points against a reference.
double Hv(const std::vector<std::pair<double, double>>& points, std::pair<double, double> ref) {
  std::vector<std::vector<double>> min;
  for (const auto& [acc, lat] : points) min.push_back({-acc, lat});
  return HypervolumeMin(std::move(min), std::vector<double>{-ref.first, ref.second});
}

TEST(Nsga2Test, FinalPopulationApproximatesTheToyFrontBetterThanRandomSearch) {
  ToySpace space(8, 4);
  std::vector<std::pair<double, double>> all;
  std::vector<int> tokens(8, 0);
  for (int index = 0; index < 65536; ++index) {
    for (int d = 0, rest = index; d < 8; ++d, rest /= 4) tokens[d] = rest % 4;
    TrialResult r = ToyResult(tokens);
    all.push_back({r.accuracy, r.latency->median_ms});
  }
  // Reference: median accuracy and median latency of the space, so that the
  // hypervolume measures the front's region, not the bulk of the space.
  std::vector<double> accs, lats;
  for (const auto& [a, l] : all) {
    accs.push_back(a);
    lats.push_back(l);
  }
  std::nth_element(accs.begin(), accs.begin() + accs.size() / 2, accs.end());
  std::nth_element(lats.begin(), lats.begin() + lats.size() / 2, lats.end());
  const std::pair<double, double> ref = {accs[accs.size() / 2], lats[lats.size() / 2]};
  const double true_hv = Hv(all, ref);
  ASSERT_GT(true_hv, 0);

  constexpr int kTrials = 300;
  auto run = [&](absl::string_view name, uint64_t seed, bool population_only) {
    SearchOptions o;
    o.strategy.name = std::string(name);
    o.reward.set_form(RewardForm::kPenalty);
    o.reward.add_constraint(Constraint::Penalty("latency_ms", 10, 1));
    o.dedup = DedupKey::kExact;
    o.budget = kTrials;
    absl::StatusOr<std::unique_ptr<Search>> search = Search::Create(o, space, seed);
    EXPECT_TRUE(search.ok()) << search.status();
    testing::Drive(**search, kTrials / 4, 4, ToyResult);
    EXPECT_EQ((*search)->evaluated(), kTrials);
    std::vector<std::pair<double, double>> points;
    if (population_only) {
      auto* nsga2 = dynamic_cast<Nsga2*>(&(*search)->strategy());
      EXPECT_NE(nsga2, nullptr);
      EXPECT_EQ(nsga2->population().size(), 40u);
      for (const Nsga2::Member& m : nsga2->population()) {
        EXPECT_EQ(m.point.violation, 0);
        points.push_back({-m.point.objectives[0], m.point.objectives[1]});
      }
    } else {
      for (const ScoredTrial& t : (*search)->history()) {
        points.push_back({t.result.accuracy, t.result.latency->median_ms});
      }
    }
    return Hv(points, ref) / true_hv;
  };
  double nsga2 = 0, random = 0;
  constexpr int kSeeds = 5;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    const double n = run("nsga2", seed, true);
    const double r = run("random", seed, false);
    // Per seed, the 40 survivors against all 300 random trials.
    EXPECT_GT(n, r) << "seed " << seed;
    nsga2 += n / kSeeds;
    random += r / kSeeds;
  }
  EXPECT_GT(nsga2, random + 0.1) << "nsga2 " << nsga2 << " random " << random;
}

TEST(Nsga2Test, HardLimitsDriveTheInfeasibleOutOfThePopulation) {
  ToySpace space(8, 4);
  SearchOptions o;
  o.strategy.name = "nsga2";
  o.strategy.nsga2.population = 12;
  o.reward.add_constraint(Constraint::Soft("latency_ms", 10));
  o.reward.add_hard_limit(HardLimit{"latency_ms", 8});
  o.dedup = DedupKey::kExact;
  absl::StatusOr<std::unique_ptr<Search>> search = Search::Create(o, space, 5);
  ASSERT_TRUE(search.ok()) << search.status();
  auto* nsga2 = dynamic_cast<Nsga2*>(&(*search)->strategy());
  ASSERT_NE(nsga2, nullptr);
  testing::Drive(**search, 3, 4, ToyResult);
  // Random first proposals: most of this space is over the limit, and those
  // members carry their normalized excess.
  int infeasible = 0;
  for (const Nsga2::Member& m : nsga2->population()) {
    if (m.point.violation > 0) {
      ++infeasible;
      EXPECT_NEAR(m.point.violation, (m.point.objectives[1] - 8) / 8, 1e-12);
    }
  }
  EXPECT_GT(infeasible, 0);
  testing::Drive(**search, 40, 4, ToyResult);
  for (const Nsga2::Member& m : nsga2->population()) {
    EXPECT_EQ(m.point.violation, 0);
    EXPECT_LE(m.point.objectives[1], 8);
  }
}

}  // namespace
}  // namespace hwnas::controller

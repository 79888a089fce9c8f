#include "controller/strategy.h"

#include <cstring>
#include <set>
#include <thread>

#include "controller/evolution.h"
#include "controller/mnasnet_controller.h"
#include "controller/random_search.h"
#include "controller/search.h"
#include "gtest/gtest.h"
#include "space/mnasnet_space.h"
#include "space/nb201_space.h"
#include "space/temporal_space.h"
#include "tests/controller/test_util.h"
#include "tests/controller/toy_space.h"

namespace hwnas::controller {
namespace {

using testing::Drive;
using testing::SyntheticResult;
using testing::ToySpace;

space::Nb201Space& Nb201() {
  static space::Nb201Space* space = new space::Nb201Space({}, space::DataShape{{3, 32, 32}, 10});
  return *space;
}

SearchOptions Options(absl::string_view strategy) {
  SearchOptions o;
  o.strategy.name = std::string(strategy);
  o.strategy.controller.batch_size = 4;
  o.strategy.controller.learning_rate = 0.01;
  o.strategy.evolution.population = 8;
  o.strategy.evolution.tournament = 3;
  o.strategy.nsga2.population = 8;
  o.reward.add_constraint(Constraint::Soft("latency_ms", 8));
  o.dedup = DedupKey::kExact;
  return o;
}

std::unique_ptr<Search> MakeSearch(absl::string_view strategy, uint64_t seed,
                                   const space::SearchSpace& space = Nb201()) {
  absl::StatusOr<std::unique_ptr<Search>> s = Search::Create(Options(strategy), space, seed);
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

class EveryStrategyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryStrategyTest, SameSeedSameProposals) {
  auto a = MakeSearch(GetParam(), 7);
  auto b = MakeSearch(GetParam(), 7);
  auto c = MakeSearch(GetParam(), 8);
  const auto pa = Drive(*a, 10, 3);
  EXPECT_EQ(pa.size(), 30u);
  EXPECT_EQ(pa, Drive(*b, 10, 3));
  EXPECT_NE(pa, Drive(*c, 10, 3));
}

TEST_P(EveryStrategyTest, SaveRestoreMidSearchContinuesIdentically) {
  auto original = MakeSearch(GetParam(), 11);
  Drive(*original, 5, 3);
  // Leave proposals pending across the checkpoint, as a live server would.
  absl::StatusOr<std::vector<Proposal>> pending = original->Propose(2);
  ASSERT_TRUE(pending.ok());
  absl::StatusOr<std::string> bytes = original->Save();
  ASSERT_TRUE(bytes.ok()) << bytes.status();

  auto restored = MakeSearch(GetParam(), 999);  // Seed is overwritten by Restore.
  ASSERT_TRUE(restored->Restore(*bytes).ok());
  EXPECT_EQ(*restored->Save(), *bytes);
  EXPECT_EQ(restored->pending(), 2);

  for (Search* s : {original.get(), restored.get()}) {
    std::vector<FinishedTrial> done;
    for (const Proposal& p : *pending) {
      done.push_back(
          {p.id, p.architecture, TrialState::kSucceeded, SyntheticResult(p.architecture.tokens)});
    }
    ASSERT_TRUE(s->Observe(done).ok());
  }
  EXPECT_EQ(Drive(*original, 8, 3), Drive(*restored, 8, 3));
  EXPECT_EQ(*original->Save(), *restored->Save());
}

TEST_P(EveryStrategyTest, RejectsForeignAndCorruptCheckpoints) {
  auto s = MakeSearch(GetParam(), 1);
  Drive(*s, 2, 2);
  std::string bytes = *s->Save();
  auto other = MakeSearch(GetParam(), 1);
  EXPECT_FALSE(other->Restore(bytes.substr(0, bytes.size() / 2)).ok());
  EXPECT_FALSE(other->Restore("garbage").ok());
  const std::string foreign_name = GetParam() == "random" ? "evolution" : "random";
  auto foreign = MakeSearch(foreign_name, 1);
  absl::Status st = foreign->Restore(bytes);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(GetParam()), std::string::npos) << st;
  // A failed restore leaves the search usable.
  EXPECT_EQ(Drive(*other, 1, 2).size(), 2u);
}

TEST_P(EveryStrategyTest, HandlesFailedInfeasibleAndUnknownResults) {
  auto s = MakeSearch(GetParam(), 3);
  for (int round = 0; round < 6; ++round) {
    absl::StatusOr<std::vector<Proposal>> props = s->Propose(4);
    ASSERT_TRUE(props.ok());
    ASSERT_EQ(props->size(), 4u);
    std::vector<FinishedTrial> done;
    for (size_t i = 0; i < props->size(); ++i) {
      const Proposal& p = (*props)[i];
      FinishedTrial t{p.id, p.architecture, TrialState::kSucceeded,
                      SyntheticResult(p.architecture.tokens)};
      if (i == 0) t.state = TrialState::kFailed;
      if (i == 1) t.state = TrialState::kInfeasible;
      if (i == 2) t.state = TrialState::kEarlyStopped;
      done.push_back(t);
    }
    // A trial the strategy never proposed (e.g. after a server crash).
    FinishedTrial foreign{kNoProposal, *Nb201().MakeArchitecture({3, 3, 3, 3, 3, round % 5}),
                          TrialState::kSucceeded, SyntheticResult({3, 3, 3, 3, 3, round % 5})};
    done.push_back(foreign);
    ASSERT_TRUE(s->Observe(done).ok());
  }
  EXPECT_EQ(s->pending(), 0);
  EXPECT_GT(s->evaluated(), 24);
}

INSTANTIATE_TEST_SUITE_P(All, EveryStrategyTest,
                         ::testing::Values("random", "evolution", "mnasnet-ppo",
                                           "mnasnet-reinforce", "surrogate", "nsga2"));

// A strategy that proposes a fixed script and records what it observes.
class ScriptedStrategy : public Strategy {
 public:
  ScriptedStrategy(const space::SearchSpace& space, std::vector<std::vector<int>> script)
      : space_(space), script_(std::move(script)) {}
  absl::string_view name() const override { return "scripted"; }
  absl::StatusOr<std::vector<Proposal>> Propose(int n) override {
    std::vector<Proposal> out;
    while (static_cast<int>(out.size()) < n && next_ < script_.size()) {
      out.push_back(Proposal{next_ + 1, *space_.MakeArchitecture(script_[next_])});
      ++next_;
    }
    return out;
  }
  absl::Status Observe(absl::Span<const Observation> obs) override {
    observed.insert(observed.end(), obs.begin(), obs.end());
    return absl::OkStatus();
  }
  absl::Status WarmStart(absl::Span<const Observation>) override { return absl::OkStatus(); }
  absl::StatusOr<std::string> Save() const override { return std::to_string(next_); }
  absl::Status Restore(absl::string_view b) override {
    next_ = std::stoul(std::string(b));
    return absl::OkStatus();
  }
  std::vector<Observation> observed;

 private:
  const space::SearchSpace& space_;
  std::vector<std::vector<int>> script_;
  size_t next_ = 0;
};

TEST(SearchTest, RepeatsAreAnsweredFromEarlierResults) {
  const std::vector<int> a = {3, 3, 3, 3, 3, 3}, b = {2, 2, 2, 2, 2, 2}, c = {1, 1, 1, 1, 1, 1};
  auto strategy =
      std::make_unique<ScriptedStrategy>(Nb201(), std::vector<std::vector<int>>{a, b, a, c, b, a});
  ScriptedStrategy* raw = strategy.get();
  SearchOptions o = Options("scripted");
  o.budget = 10;
  auto search = *Search::Create(o, Nb201(), std::move(strategy));

  // a, b are new; the second a waits for the first (still pending); c is new.
  absl::StatusOr<std::vector<Proposal>> first = search->Propose(3);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 3u);
  EXPECT_EQ((*first)[0].architecture.tokens, a);
  EXPECT_EQ((*first)[1].architecture.tokens, b);
  EXPECT_EQ((*first)[2].architecture.tokens, c);
  EXPECT_EQ(search->pending(), 3);

  // a finishes: both a's proposals (ids 1 and 3) are answered with one result.
  TrialResult ra = SyntheticResult(a);
  ASSERT_TRUE(search->Observe({{1, (*first)[0].architecture, TrialState::kSucceeded, ra}}).ok());
  ASSERT_EQ(raw->observed.size(), 2u);
  EXPECT_EQ(raw->observed[0].proposal_id, 1u);
  EXPECT_EQ(raw->observed[1].proposal_id, 3u);
  EXPECT_EQ(raw->observed[1].result, ra);
  EXPECT_EQ(search->evaluated(), 1);

  // Reporting the same trial twice changes nothing.
  ASSERT_TRUE(search->Observe({{1, (*first)[0].architecture, TrialState::kSucceeded, ra}}).ok());
  EXPECT_EQ(raw->observed.size(), 2u);
  EXPECT_EQ(search->evaluated(), 1);

  // The rest of the script (b, a) repeats: answered at once (a) or queued
  // behind the pending b; no new trial is handed out.
  absl::StatusOr<std::vector<Proposal>> second = search->Propose(2);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->empty());
  ASSERT_EQ(raw->observed.size(), 3u);
  EXPECT_EQ(raw->observed[2].proposal_id, 6u);
  EXPECT_DOUBLE_EQ(raw->observed[2].reward, raw->observed[0].reward);

  ASSERT_TRUE(
      search->Observe({{2, (*first)[1].architecture, TrialState::kSucceeded, SyntheticResult(b)}})
          .ok());
  ASSERT_EQ(raw->observed.size(), 5u);
  EXPECT_EQ(raw->observed[4].proposal_id, 5u);
  EXPECT_EQ(search->evaluated(), 2);
  EXPECT_EQ(search->history().size(), 2u);
}

// Multi-fidelity: a promoted trial's next rung arrives as a result of an
// architecture already observed (no proposal id, `supersedes`). The cache,
// the best trial and the Pareto front then hold the highest rung's result,
// and a later repeat of the architecture is answered with it.
TEST(SearchTest, LaterRungReplacesTheCachedResult) {
  const std::vector<int> a = {3, 3, 3, 3, 3, 3}, b = {2, 2, 2, 2, 2, 2};
  auto strategy =
      std::make_unique<ScriptedStrategy>(Nb201(), std::vector<std::vector<int>>{a, b, a});
  ScriptedStrategy* raw = strategy.get();
  SearchOptions o = Options("scripted");
  o.budget = 10;
  auto search = *Search::Create(o, Nb201(), std::move(strategy));
  absl::StatusOr<std::vector<Proposal>> first = search->Propose(2);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 2u);
  const Architecture arch_a = (*first)[0].architecture, arch_b = (*first)[1].architecture;

  // Rung 0: a is behind b (same latency, lower accuracy).
  TrialResult a0 = SyntheticResult(a), rb = SyntheticResult(a);
  a0.accuracy = 0.50;
  a0.epochs = 1;
  rb.accuracy = 0.70;
  rb.epochs = 1;
  ASSERT_TRUE(search
                  ->Observe({{1, arch_a, TrialState::kSucceeded, a0},
                             {2, arch_b, TrialState::kSucceeded, rb}})
                  .ok());
  ASSERT_NE(search->best(), nullptr);
  EXPECT_EQ(search->best()->proposal_id, 2u);

  // a's rung 1 (3 epochs) is better than b: it replaces a's rung 0.
  TrialResult a1 = a0;
  a1.accuracy = 0.80;
  a1.epochs = 3;
  FinishedTrial later{kNoProposal, arch_a, TrialState::kSucceeded, a1};
  later.supersedes = true;
  absl::StatusOr<std::vector<ScoredTrial>> scored = search->Observe({later});
  ASSERT_TRUE(scored.ok()) << scored.status();
  EXPECT_EQ(search->evaluated(), 2);  // Still two architectures of the budget.
  ASSERT_EQ(search->history().size(), 2u);
  EXPECT_EQ(search->history()[0].result, a1);
  EXPECT_EQ(search->history()[0].proposal_id, 1u);
  ASSERT_NE(search->best(), nullptr);
  EXPECT_EQ(search->best()->proposal_id, 1u);
  EXPECT_EQ(search->best()->result.epochs, 3);
  // Same costs, higher accuracy: a's rung 1 alone is the front.
  ASSERT_EQ(search->pareto_front().points().size(), 1u);
  EXPECT_EQ(search->pareto_front().points()[0].trial_id, 1u);
  EXPECT_DOUBLE_EQ(search->pareto_front().points()[0].accuracy, 0.80);
  // The strategy was told the later rung too.
  ASSERT_EQ(raw->observed.size(), 3u);
  EXPECT_EQ(raw->observed[2].result, a1);

  // The script's repeat of a is answered from the cache: the rung-1 result.
  absl::StatusOr<std::vector<Proposal>> second = search->Propose(1);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->empty());
  ASSERT_EQ(raw->observed.size(), 4u);
  EXPECT_EQ(raw->observed[3].result, a1);

  // A later rung that came out worse moves the best (and the front) back.
  TrialResult a2 = a0;
  a2.accuracy = 0.60;
  a2.epochs = 9;
  later.result = a2;
  ASSERT_TRUE(search->Observe({later}).ok());
  ASSERT_NE(search->best(), nullptr);
  EXPECT_EQ(search->best()->proposal_id, 2u);
  ASSERT_EQ(search->pareto_front().points().size(), 1u);
  EXPECT_EQ(search->pareto_front().points()[0].trial_id, 2u);

  // Without `supersedes` a foreign result of a known architecture leaves the
  // cached one alone (a repeat, not a longer training).
  TrialResult other = a0;
  other.accuracy = 0.99;
  ASSERT_TRUE(search->Observe({{kNoProposal, arch_a, TrialState::kSucceeded, other}}).ok());
  EXPECT_EQ(search->history()[0].result, a2);
}

TEST(SearchTest, CanonicalDedupTreatsEquivalentCellsAsOne) {
  // Edge 0->1 feeds nothing when node 1 has no outgoing edge: both cells are
  // the same network (one conv 0->3), so canonical dedup evaluates one.
  const std::vector<int> a = {0, 0, 0, 3, 0, 0}, b = {2, 0, 0, 3, 0, 0};
  for (DedupKey dedup : {DedupKey::kCanonical, DedupKey::kExact}) {
    SearchOptions o = Options("scripted");
    o.dedup = dedup;
    auto search = *Search::Create(
        o, Nb201(),
        std::make_unique<ScriptedStrategy>(Nb201(), std::vector<std::vector<int>>{a, b}));
    absl::StatusOr<std::vector<Proposal>> props = search->Propose(2);
    ASSERT_TRUE(props.ok());
    EXPECT_EQ(props->size(), dedup == DedupKey::kCanonical ? 1u : 2u);
  }
}

TEST(SearchTest, BudgetCountsDistinctArchitectures) {
  SearchOptions o = Options("random");
  o.budget = 10;
  auto search = *Search::Create(o, Nb201(), 5);
  EXPECT_EQ(Drive(*search, 10, 4).size(), 10u);
  EXPECT_TRUE(search->BudgetExhausted());
  EXPECT_TRUE(search->Propose(4)->empty());
  EXPECT_EQ(search->evaluated(), 10);
}

TEST(SearchTest, HardLimitsMakeTrialsInfeasible) {
  SearchOptions o = Options("evolution");
  o.reward.add_hard_limit({"latency_ms", 6});
  auto search = *Search::Create(o, Nb201(), 5);
  Drive(*search, 10, 4);
  int infeasible = 0;
  for (const ScoredTrial& s : search->history()) {
    const bool over = s.result.latency->median_ms > 6;
    EXPECT_EQ(s.state == TrialState::kInfeasible, over);
    EXPECT_EQ(s.feasible, !over);
    infeasible += over;
  }
  EXPECT_GT(infeasible, 0);
  ASSERT_NE(search->best(), nullptr);
  EXPECT_LE(search->best()->result.latency->median_ms, 6);
  for (const ParetoPoint& p : search->pareto_front().points()) EXPECT_LE(p.costs[0], 6);
}

TEST(SearchTest, ObserveIsAllOrNothing) {
  auto search = MakeSearch("random", 1);
  absl::StatusOr<std::vector<Proposal>> props = search->Propose(2);
  ASSERT_TRUE(props.ok());
  TrialResult bad = SyntheticResult((*props)[1].architecture.tokens);
  bad.accuracy = 1.5;
  absl::StatusOr<std::vector<ScoredTrial>> r =
      search->Observe({{(*props)[0].id, (*props)[0].architecture, TrialState::kSucceeded,
                        SyntheticResult((*props)[0].architecture.tokens)},
                       {(*props)[1].id, (*props)[1].architecture, TrialState::kSucceeded, bad}});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(search->evaluated(), 0);
  EXPECT_EQ(search->pending(), 2);
}

TEST(RandomSearchTest, NeverRepeatsAndExhaustsTheSpace) {
  ToySpace space(3, 3);  // 27 architectures.
  RandomSearch random(space, 4);
  std::set<std::vector<int>> seen;
  absl::StatusOr<std::vector<Proposal>> props = random.Propose(40);
  ASSERT_TRUE(props.ok());
  EXPECT_EQ(props->size(), 27u);
  for (const Proposal& p : *props) EXPECT_TRUE(seen.insert(p.architecture.tokens).second);
  EXPECT_TRUE(random.Propose(1)->empty());
}

TEST(EvolutionTest, MutatesTournamentWinnersAndAges) {
  ToySpace space(6, 4);
  EvolutionOptions eo;
  eo.population = 5;
  eo.tournament = 5;
  eo.mutations = 1;
  Evolution evo(eo, space, 2);
  auto reward = [](const std::vector<int>& t) {
    double r = 0;
    for (int x : t) r += x;
    return r;
  };
  std::set<std::vector<int>> seen;
  for (int step = 0; step < 40; ++step) {
    absl::StatusOr<std::vector<Proposal>> p = evo.Propose(1);
    ASSERT_TRUE(p.ok());
    ASSERT_EQ(p->size(), 1u);
    const std::vector<int>& tokens = (*p)[0].architecture.tokens;
    EXPECT_TRUE(seen.insert(tokens).second);
    if (step >= eo.population) {
      // One decision away from some member of the population.
      bool near = false;
      for (const Evolution::Member& m : evo.population()) {
        int diff = 0;
        for (size_t i = 0; i < tokens.size(); ++i) diff += tokens[i] != m.tokens[i];
        near = near || diff == 1;
      }
      EXPECT_TRUE(near);
    }
    Observation o;
    o.proposal_id = (*p)[0].id;
    o.architecture = (*p)[0].architecture;
    o.reward = reward(tokens);
    ASSERT_TRUE(evo.Observe({o}).ok());
    EXPECT_LE(evo.population().size(), 5u);
  }
  // Climbing the sum: the last population is far above a random one (mean 9).
  double mean = 0;
  for (const Evolution::Member& m : evo.population()) mean += m.reward;
  EXPECT_GT(mean / evo.population().size(), 13);
}

TEST(EvolutionTest, WarmStartSeedsThePopulation) {
  ToySpace space(4, 4);
  EvolutionOptions eo;
  eo.population = 3;
  Evolution evo(eo, space, 2);
  std::vector<Observation> earlier;
  for (int i = 0; i < 6; ++i) {
    Observation o;
    o.architecture = *space.MakeArchitecture({i % 4, 0, 0, i / 4});
    o.reward = i;
    earlier.push_back(o);
  }
  ASSERT_TRUE(evo.WarmStart(earlier).ok());
  ASSERT_EQ(evo.population().size(), 3u);
  for (const Evolution::Member& m : evo.population()) EXPECT_GE(m.reward, 3);
  // The first proposal is already a child, not a random architecture.
  absl::StatusOr<std::vector<Proposal>> p = evo.Propose(1);
  ASSERT_TRUE(p.ok());
  bool near = false;
  for (const Evolution::Member& m : evo.population()) {
    int diff = 0;
    for (size_t i = 0; i < 4; ++i) diff += (*p)[0].architecture.tokens[i] != m.tokens[i];
    near = near || diff == 1;
  }
  EXPECT_TRUE(near);
}

TEST(ControllerTest, OutOfOrderResultsMakeTheSameUpdate) {
  ToySpace space(6, 4);
  ControllerOptions co;
  co.batch_size = 4;
  co.learning_rate = 0.05;
  auto a = *MnasNetController::Create(co, space, 9);
  auto b = *MnasNetController::Create(co, space, 9);
  std::vector<Proposal> pa = *a->Propose(4);
  std::vector<Proposal> pb = *b->Propose(4);
  ASSERT_EQ(pa.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(pa[i].architecture, pb[i].architecture);
  auto obs = [](const Proposal& p) {
    Observation o;
    o.proposal_id = p.id;
    o.architecture = p.architecture;
    o.reward = 0.1 * p.architecture.tokens[0];
    return o;
  };
  // a: in order, one at a time. b: reversed, in two calls.
  for (const Proposal& p : pa) ASSERT_TRUE(a->Observe({obs(p)}).ok());
  ASSERT_TRUE(b->Observe({obs(pb[3]), obs(pb[1])}).ok());
  EXPECT_EQ(b->updates(), 0);
  EXPECT_EQ(b->buffered(), 2);
  ASSERT_TRUE(b->Observe({obs(pb[2]), obs(pb[0])}).ok());
  EXPECT_EQ(a->updates(), 1);
  EXPECT_EQ(b->updates(), 1);
  EXPECT_EQ(*a->Save(), *b->Save());
}

// Checkpoints of earlier releases still restore, so stored searches resume:
// format 1 (before elite replay: no elite list), format 2 (before breadth:
// no breadth state) and format 3 (before the breadth model). Formats 1 and 2
// restore as if the best reward had just been reached, so breadth waits its
// patience from the restore.
TEST(ControllerTest, RestoresFormatOneTwoAndThreeCheckpoints) {
  ToySpace space(6, 4);
  ControllerOptions co;
  co.batch_size = 4;
  co.elite_size = 0;  // Nothing after the buffer but an empty elite list.
  auto a = *MnasNetController::Create(co, space, 3);
  for (int round = 0; round < 3; ++round) {
    std::vector<Observation> obs;
    const std::vector<Proposal> props = *a->Propose(3);
    for (const Proposal& p : props) {
      Observation o;
      o.proposal_id = p.id;
      o.architecture = p.architecture;
      o.reward = 0.1 * p.architecture.tokens[1];
      obs.push_back(o);
    }
    ASSERT_TRUE(a->Observe(obs).ok());
  }
  const std::string v4 = *a->Save();
  // Header: tag (u64 length + bytes), then the format as a little-endian i64.
  const size_t format_at = 8 + static_cast<size_t>(static_cast<unsigned char>(v4[0]));
  ASSERT_EQ(v4[format_at], 4);
  // Format 4 ends with whether a breadth model follows (u64 0: none here).
  std::string v3 = v4.substr(0, v4.size() - 8);
  v3[format_at] = 3;
  // Format 3 ends with the breadth state: rewarded trials (i64), best reward
  // (f64), the count when it was reached (i64).
  auto i64_at = [](const std::string& bytes, size_t at) {
    int64_t v = 0;
    std::memcpy(&v, bytes.data() + at, sizeof v);
    return v;
  };
  const size_t state_at = v3.size() - 24;
  EXPECT_EQ(i64_at(v3, state_at), 9);
  std::string v2 = v3.substr(0, state_at);
  v2[format_at] = 2;
  std::string v1 = v2.substr(0, v2.size() - 8);  // Drop the elite count (0).
  v1[format_at] = 1;
  co.elite_size = 8;
  for (const std::string* old : {&v1, &v2}) {
    auto b = *MnasNetController::Create(co, space, 99);
    ASSERT_TRUE(b->Restore(*old).ok());
    const std::string resaved = *b->Save();
    ASSERT_EQ(resaved.size(), v4.size());
    EXPECT_EQ(resaved.substr(0, state_at), v4.substr(0, state_at));
    EXPECT_EQ(i64_at(resaved, state_at), 9);       // 8 learned + 1 buffered.
    EXPECT_EQ(i64_at(resaved, state_at + 16), 9);  // Best "just reached".
  }
  {
    // Format 3 keeps its breadth state and restores unchanged.
    auto b = *MnasNetController::Create(co, space, 99);
    ASSERT_TRUE(b->Restore(v3).ok());
    std::string resaved = *b->Save();
    resaved[format_at] = 3;
    EXPECT_EQ(resaved.substr(0, v3.size()), v3);
    // With a breadth model on, a format 3 checkpoint restores with an empty one.
    ControllerOptions with_model = co;
    with_model.breadth_share = 0.5;
    with_model.breadth_model = 1;
    auto m = *MnasNetController::Create(with_model, space, 99);
    ASSERT_TRUE(m->Restore(v3).ok());
    EXPECT_GT(m->Save()->size(), v4.size());
  }
  auto b = *MnasNetController::Create(co, space, 99);
  v1[format_at] = 5;
  absl::Status future = b->Restore(v1);
  EXPECT_FALSE(future.ok());
  EXPECT_NE(future.message().find("formats 1 to 4"), std::string::npos) << future;
}

// Breadth: while the best reward keeps improving, the policy makes every
// proposal; after breadth_patience rewarded trials without a better one,
// breadth does (share 1), each proposal still new; a checkpoint taken while
// stalled continues identically.
TEST(ControllerTest, BreadthStartsWhenTheBestStallsAndIsCheckpointed) {
  ToySpace space(6, 4);
  ControllerOptions co;
  co.batch_size = 4;
  co.breadth_share = 1;
  co.breadth_patience = 8;
  auto drive = [&](MnasNetController& c, bool improving, int rounds, double& next,
                   std::set<std::vector<int>>& seen) {
    for (int round = 0; round < rounds; ++round) {
      std::vector<Observation> obs;
      const std::vector<Proposal> props = *c.Propose(4);
      for (const Proposal& p : props) {
        EXPECT_TRUE(seen.insert(p.architecture.tokens).second) << "repeat in round " << round;
        Observation o;
        o.proposal_id = p.id;
        o.architecture = p.architecture;
        o.reward = improving ? (next += 0.01) : 0.5;
        obs.push_back(o);
      }
      ASSERT_TRUE(c.Observe(obs).ok());
    }
  };
  double next = 0;
  std::set<std::vector<int>> seen;
  auto improving = *MnasNetController::Create(co, space, 5);
  drive(*improving, true, 6, next, seen);
  EXPECT_EQ(improving->breadth_proposals(), 0);

  seen.clear();
  auto stalled = *MnasNetController::Create(co, space, 5);
  drive(*stalled, false, 6, next, seen);
  // Best reached at trial 1; stalled from trial 9 on, so rounds 4-6 (after
  // 12, 16 and 20 rewarded trials) are all breadth.
  EXPECT_EQ(stalled->breadth_proposals(), 12);

  auto resumed = *MnasNetController::Create(co, space, 77);
  ASSERT_TRUE(resumed->Restore(*stalled->Save()).ok());
  std::set<std::vector<int>> seen_a = seen, seen_b = seen;
  drive(*stalled, false, 2, next, seen_a);
  drive(*resumed, false, 2, next, seen_b);
  EXPECT_EQ(seen_a, seen_b);
  EXPECT_EQ(*stalled->Save(), *resumed->Save());
  EXPECT_EQ(resumed->breadth_proposals(), 8);  // Diagnostics: not checkpointed.
}

// Model-guided breadth: once stalled, the breadth proposals are the picks of a
// model fitted on the controller's observed trials. On a reward that counts
// the decisions set to choice 3, after 24 random trials (a warm start) those picks are far
// better than uniform breadth's, every one new; a checkpoint taken with the
// model continues identically.
TEST(ControllerTest, ModelGuidedBreadthPicksWhatTheModelPredictsBest) {
  ToySpace space(6, 4);
  auto reward_of = [](const std::vector<int>& t) {
    double r = 0;
    for (int v : t) r += v == 3 ? 1.0 : 0.0;
    return r / 6;
  };
  auto run = [&](double breadth_model, int64_t& model_picks, double& mean_late,
                 std::string* checkpoint) {
    ControllerOptions co;
    co.batch_size = 4;
    co.breadth_share = 1;
    co.breadth_patience = 0;  // Stalled from the first rewarded trial.
    co.breadth_model = breadth_model;
    auto d = *MnasNetController::Create(co, space, 31);
    RandomSearch warm(space, 4);
    std::vector<Observation> obs;
    const std::vector<Proposal> first = *warm.Propose(24);
    for (const Proposal& p : first) {
      Observation o;
      o.architecture = p.architecture;
      o.reward = reward_of(p.architecture.tokens);
      obs.push_back(o);
    }
    ASSERT_TRUE(d->WarmStart(obs).ok());
    if (checkpoint != nullptr) *checkpoint = *d->Save();
    std::set<std::vector<int>> seen;
    for (const Observation& o : obs) seen.insert(o.architecture.tokens);
    double sum = 0;
    const std::vector<Proposal> late = *d->Propose(16);
    for (const Proposal& p : late) {
      EXPECT_TRUE(seen.insert(p.architecture.tokens).second);
      sum += reward_of(p.architecture.tokens);
    }
    model_picks = d->model_proposals();
    EXPECT_EQ(d->breadth_proposals(), 16);
    mean_late = sum / 16;
  };
  int64_t picks_uniform = 0, picks_model = 0;
  double uniform = 0, guided = 0;
  std::string checkpoint;
  run(0, picks_uniform, uniform, nullptr);
  run(1, picks_model, guided, &checkpoint);
  EXPECT_EQ(picks_uniform, 0);
  EXPECT_EQ(picks_model, 16);
  // Uniform cells average 1.5 of 6 decisions at 3 (0.25); the model's picks
  // should have most of them.
  EXPECT_LT(uniform, 0.45);
  EXPECT_GT(guided, 0.6) << "uniform breadth " << uniform;

  ControllerOptions co;
  co.batch_size = 4;
  co.breadth_share = 1;
  co.breadth_patience = 0;
  co.breadth_model = 1;
  auto a = *MnasNetController::Create(co, space, 5);
  auto b = *MnasNetController::Create(co, space, 6);
  ASSERT_TRUE(a->Restore(checkpoint).ok());
  ASSERT_TRUE(b->Restore(checkpoint).ok());
  for (int round = 0; round < 3; ++round) {
    const std::vector<Proposal> pa = *a->Propose(4), pb = *b->Propose(4);
    ASSERT_EQ(pa.size(), pb.size());
    std::vector<Observation> oa, ob;
    for (size_t i = 0; i < pa.size(); ++i) {
      EXPECT_EQ(pa[i].architecture.tokens, pb[i].architecture.tokens);
      Observation o;
      o.proposal_id = pa[i].id;
      o.architecture = pa[i].architecture;
      o.reward = reward_of(pa[i].architecture.tokens);
      oa.push_back(o);
      ob.push_back(o);
    }
    ASSERT_TRUE(a->Observe(oa).ok());
    ASSERT_TRUE(b->Observe(ob).ok());
  }
  EXPECT_EQ(*a->Save(), *b->Save());
}

// On NB201, breadth proposes other encodings of an elite's network (the same
// FunctionSignature, e.g. an operation on an edge whose output is unused),
// half the time, and otherwise uniformly random new cells.
TEST(ControllerTest, BreadthProposesEquivalentEncodingsOfElites) {
  const space::Nb201Space& space = Nb201();
  ControllerOptions co;
  co.batch_size = 1;
  co.breadth_share = 1;
  co.breadth_patience = 0;
  auto c = *MnasNetController::Create(co, space, 11);
  // A single 3x3 convolution on the input-to-output edge, every other edge none.
  const std::vector<int> elite = {0, 0, 0, 3, 0, 0};
  Observation o;
  o.architecture = *space.MakeArchitecture(elite);
  o.reward = 0.9;
  ASSERT_TRUE(c->Observe({o}).ok());
  const std::string signature = space.FunctionSignature(elite);
  int equivalent = 0;
  std::set<std::vector<int>> seen = {elite};
  const std::vector<Proposal> props = *c->Propose(40);
  for (const Proposal& p : props) {
    EXPECT_TRUE(seen.insert(p.architecture.tokens).second);
    if (space.FunctionSignature(p.architecture.tokens) == signature) ++equivalent;
  }
  EXPECT_EQ(c->breadth_proposals(), 40);
  // Expected 20 (half of the breadth proposals); a uniform cell is rarely
  // equivalent to this one.
  EXPECT_GE(equivalent, 10);
  EXPECT_LE(equivalent, 32);
}

// Elites are remembered across updates and checkpoints: a controller with
// elite replay and one without diverge from the second update on, and a
// restored one continues exactly like the original.
TEST(ControllerTest, EliteReplayIsCheckpointedAndChangesUpdates) {
  ToySpace space(6, 4);
  auto run = [&](int elite_size, int rounds, MnasNetController* resume_from) {
    ControllerOptions co;
    co.batch_size = 4;
    co.learning_rate = 0.05;
    co.elite_size = elite_size;
    auto c = *MnasNetController::Create(co, space, 21);
    if (resume_from != nullptr) {
      EXPECT_TRUE(c->Restore(*resume_from->Save()).ok());
    }
    for (int round = 0; round < rounds; ++round) {
      std::vector<Observation> obs;
      const std::vector<Proposal> props = *c->Propose(4);
      for (const Proposal& p : props) {
        Observation o;
        o.proposal_id = p.id;
        o.architecture = p.architecture;
        o.reward = 0.1 * p.architecture.tokens[0] + 0.05 * p.architecture.tokens[5];
        obs.push_back(o);
      }
      EXPECT_TRUE(c->Observe(obs).ok());
    }
    return c;
  };
  auto with = run(2, 2, nullptr);
  auto without = run(0, 2, nullptr);
  EXPECT_NE(*with->Save(), *without->Save());
  auto first = run(2, 1, nullptr);
  auto resumed = run(2, 1, first.get());  // One more round after the restore.
  EXPECT_EQ(*resumed->Save(), *with->Save());
}

TEST(ControllerTest, FailedResultsAreDroppedAndDoNotBlockBatches) {
  ToySpace space(6, 4);
  ControllerOptions co;
  co.batch_size = 3;
  auto c = *MnasNetController::Create(co, space, 1);
  std::vector<Proposal> p = *c->Propose(5);
  std::vector<Observation> obs;
  for (size_t i = 0; i < p.size(); ++i) {
    Observation o;
    o.proposal_id = p[i].id;
    o.architecture = p[i].architecture;
    o.state = i < 2 ? TrialState::kFailed : TrialState::kSucceeded;
    o.reward = 0.5;
    obs.push_back(o);
  }
  ASSERT_TRUE(c->Observe(obs).ok());
  EXPECT_EQ(c->updates(), 1);  // Three successes make the batch.
  EXPECT_EQ(c->buffered(), 0);
}

// Risk-seeking updates look only at the batch's rewards above the quantile:
// with q = 0.75 over four samples the threshold is set by the two best, so
// the two worst can be anything.
TEST(ControllerTest, RiskSeekingIgnoresRewardsBelowTheQuantile) {
  ToySpace space(6, 4);
  auto run = [&](double risk_quantile, double low_reward) {
    ControllerOptions co;
    co.batch_size = 4;
    co.learning_rate = 0.05;
    co.normalize_advantages = false;  // Its scale would see every reward.
    co.risk_quantile = risk_quantile;
    auto c = *MnasNetController::Create(co, space, 5);
    std::vector<Proposal> p = *c->Propose(4);
    std::vector<Observation> obs;
    for (size_t i = 0; i < p.size(); ++i) {
      Observation o;
      o.proposal_id = p[i].id;
      o.architecture = p[i].architecture;
      o.reward = i < 2 ? low_reward - static_cast<double>(i) : 0.9 + 0.1 * static_cast<double>(i);
      obs.push_back(o);
    }
    EXPECT_TRUE(c->Observe(obs).ok());
    EXPECT_EQ(c->updates(), 1);
    std::vector<double> probs;
    for (const Proposal& q : p) probs.push_back(*c->SequenceProbability(q.architecture.tokens));
    return probs;
  };
  EXPECT_EQ(run(0.75, 0.1), run(0.75, -5));
  EXPECT_NE(run(0, 0.1), run(0, -5));  // The plain update does see them.
}

// The server runs searches' controllers on different threads at once; each
// must still compute exactly what it would alone (Debian's serial OpenBLAS
// returns wrong products to concurrent callers unless the policy serializes).
TEST(ControllerTest, ConcurrentControllersMatchSequentialOnes) {
  constexpr int kSearches = 4;
  auto drive = [](uint64_t seed) { return Drive(*MakeSearch("mnasnet-ppo", seed), 25, 8); };
  std::vector<std::vector<std::vector<int>>> sequential, concurrent(kSearches);
  for (int i = 0; i < kSearches; ++i) sequential.push_back(drive(100 + i));
  std::vector<std::thread> threads;
  for (int i = 0; i < kSearches; ++i) {
    threads.emplace_back([&, i] { concurrent[i] = drive(100 + i); });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kSearches; ++i) EXPECT_EQ(concurrent[i], sequential[i]) << "search " << i;
}

TEST(ControllerTest, ProbabilitiesStartNearUniform) {
  ToySpace space(6, 4);
  auto c = *MnasNetController::Create(ControllerOptions(), space, 1);
  const double p = *c->SequenceProbability(std::vector<int>{0, 1, 2, 3, 0, 1});
  EXPECT_NEAR(p, 1.0 / 4096, 0.3 / 4096);
  EXPECT_FALSE(c->SequenceProbability(std::vector<int>{0, 1}).ok());
}

}  // namespace
}  // namespace hwnas::controller

namespace hwnas::controller {
namespace {

TEST(ControllerTest, WarmStartPretrainsOnEarlierTrials) {
  ToySpace space(6, 4);
  ControllerOptions co;
  co.batch_size = 4;
  co.learning_rate = 0.02;
  co.warm_start_epochs = 20;
  auto c = *MnasNetController::Create(co, space, 3);
  const std::vector<int> good = {2, 2, 2, 2, 2, 2};
  const double before = *c->SequenceProbability(good);
  std::vector<Observation> earlier;
  for (int i = 0; i < 8; ++i) {
    Observation o;
    o.architecture =
        *space.MakeArchitecture(i == 0 ? good : std::vector<int>{i % 4, 0, 1, 3, i % 2, 0});
    o.reward = i == 0 ? 0.9 : 0.3;
    earlier.push_back(o);
  }
  ASSERT_TRUE(c->WarmStart(earlier).ok());
  EXPECT_EQ(c->updates(), 40);
  EXPECT_GT(*c->SequenceProbability(good), 5 * before);
  // Warm-start architectures are known: they are not proposed again.
  absl::StatusOr<std::vector<Proposal>> proposals = c->Propose(16);
  ASSERT_TRUE(proposals.ok());
  for (const Proposal& p : *proposals) {
    for (const Observation& o : earlier) EXPECT_NE(p.architecture.tokens, o.architecture.tokens);
  }
}

TEST(SearchTest, WarmStartScoresEarlierTrialsWithThisSearchsReward) {
  SearchOptions o = Options("evolution");
  o.strategy.evolution.population = 4;
  auto search = *Search::Create(o, Nb201(), 1);
  std::vector<FinishedTrial> earlier;
  for (int i = 0; i < 6; ++i) {
    std::vector<int> t = {i % 5, 3, 3, 1, 2, 3};
    earlier.push_back(
        {kNoProposal, *Nb201().MakeArchitecture(t), TrialState::kSucceeded, SyntheticResult(t)});
  }
  // A trial of another configuration of the space is skipped, not fatal.
  Architecture foreign = earlier[0].architecture;
  foreign.tokens = {0, 1, 2, 3, 4, 7};
  earlier.push_back({kNoProposal, foreign, TrialState::kSucceeded,
                     SyntheticResult(earlier[0].architecture.tokens)});
  absl::StatusOr<Search::WarmStartReport> report = search->WarmStart(earlier);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->used, 6);
  EXPECT_EQ(report->skipped, 1);
  EXPECT_NE(report->first_skip_reason.find("7"), std::string::npos) << report->first_skip_reason;
  auto& evo = static_cast<Evolution&>(search->strategy());
  ASSERT_EQ(evo.population().size(), 4u);
  for (const Evolution::Member& m : evo.population()) {
    EXPECT_DOUBLE_EQ(m.reward, *search->reward_function().Reward(SyntheticResult(m.tokens)));
  }
  EXPECT_EQ(search->evaluated(), 0);  // Not counted against this search's budget.
}

TEST(StrategyFactoryTest, RejectsUnknownNamesAndBadOptions) {
  StrategyOptions o;
  o.name = "hill-climbing";
  absl::StatusOr<std::unique_ptr<Strategy>> s = MakeStrategy(o, Nb201(), 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("strategy.name: unknown strategy 'hill-climbing'"),
            std::string::npos);
  o.name = "mnasnet-ppo";
  o.controller.ppo_clip = 0;
  EXPECT_FALSE(MakeStrategy(o, Nb201(), 1).ok());
  o.controller.ppo_clip = 0.2;
  o.controller.risk_quantile = 1;
  s = MakeStrategy(o, Nb201(), 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("strategy.risk_quantile"), std::string::npos) << s.status();
  o.controller.risk_quantile = 0;
  o.controller.elite_size = -1;
  s = MakeStrategy(o, Nb201(), 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("strategy.elite_size"), std::string::npos) << s.status();
  o.controller.elite_size = 8;
  o.controller.risk_quantile = 0.5;
  o.controller.batch_size = 1;
  s = MakeStrategy(o, Nb201(), 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("needs batch_size >= 2"), std::string::npos) << s.status();
  o = StrategyOptions{};
  o.name = "surrogate";
  o.surrogate.max_features = 20;  // nb201's one-hot features alone are 30.
  s = MakeStrategy(o, Nb201(), 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("strategy.max_features"), std::string::npos) << s.status();
  o.surrogate.max_features = 1024;
  o.surrogate.near_miss_margin = -0.1;
  s = MakeStrategy(o, Nb201(), 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("strategy.near_miss_margin"), std::string::npos)
      << s.status();
  o.surrogate.near_miss_margin = 0.15;
  o.surrogate.exploration = -1;
  s = MakeStrategy(o, Nb201(), 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("strategy.exploration"), std::string::npos) << s.status();
}

// dnas is a supernet job (worker/dnas/), not a propose/observe strategy: a
// space that is not per-layer op choices is refused naming it; on mnasnet
// (and temporal) its one proposal is the job (the server stores it as a dnas_job trial),
// once, also after a restore.
TEST(DnasStrategyTest, OtherSpacesRefusedMnasnetProposesTheJobOnce) {
  StrategyOptions o;
  o.name = "dnas";
  absl::StatusOr<std::unique_ptr<Strategy>> s = MakeStrategy(o, Nb201(), 1);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("space nb201 is not supported"), std::string::npos)
      << s.status();
  space::MnasnetSpace mnasnet(space::MnasnetSpace::Options{}, {{3, 32, 32}, 10});
  s = MakeStrategy(o, mnasnet, 1);
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<std::string> fresh = (*s)->Save();
  ASSERT_TRUE(fresh.ok());
  absl::StatusOr<std::vector<Proposal>> first = (*s)->Propose(5);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].id, 1u);
  EXPECT_TRUE(mnasnet.Validate((*first)[0].architecture.tokens).ok());
  EXPECT_TRUE((*s)->Propose(5)->empty());
  absl::StatusOr<std::string> after = (*s)->Save();
  ASSERT_TRUE(after.ok());
  // A server restored from the checkpoint stored with the job does not
  // propose a second one; one restored from before it does.
  absl::StatusOr<std::unique_ptr<Strategy>> restored = MakeStrategy(o, mnasnet, 1);
  ASSERT_TRUE(restored.ok());
  ASSERT_TRUE((*restored)->Restore(*after).ok());
  EXPECT_TRUE((*restored)->Propose(1)->empty());
  ASSERT_TRUE((*restored)->Restore(*fresh).ok());
  EXPECT_EQ((*restored)->Propose(1)->size(), 1u);
  EXPECT_FALSE((*restored)->Restore("evolution state").ok());
  // The temporal space is per-layer op choices too: its job is proposed.
  space::TemporalSpace temporal(space::TemporalSpace::Options{}, {{1, 140}, 5});
  absl::StatusOr<std::unique_ptr<Strategy>> t = MakeStrategy(o, temporal, 1);
  ASSERT_TRUE(t.ok()) << t.status();
  absl::StatusOr<std::vector<Proposal>> job = (*t)->Propose(5);
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->size(), 1u);
  EXPECT_TRUE(temporal.Validate((*job)[0].architecture.tokens).ok());
}

}  // namespace
}  // namespace hwnas::controller

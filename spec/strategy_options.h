// The spec's `strategy:` section: which search strategy runs and its
// options (controller::MakeStrategy builds it). Plain structs with chained
// setters, so code and benchmarks can build options without YAML.
#ifndef HWNAS_SPEC_STRATEGY_OPTIONS_H_
#define HWNAS_SPEC_STRATEGY_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/yaml_fields.h"

namespace hwnas::spec {

struct EvolutionOptions {
  int population = 30;  // Aging population size.
  int tournament = 10;  // Tournament sample size (with replacement).
  int mutations = 1;    // Decisions changed per child (each to a different choice).

  EvolutionOptions& set_population(int v) {
    population = v;
    return *this;
  }
  EvolutionOptions& set_tournament(int v) {
    tournament = v;
    return *this;
  }
  EvolutionOptions& set_mutations(int v) {
    mutations = v;
    return *this;
  }
};

// NSGA-II (controller/nsga2.h): multi-objective, accuracy and the costs unscalarized.
struct Nsga2Options {
  int population = 40;     // Survivors kept between generations.
  double crossover = 0.9;  // Probability that a child mixes two parents (uniform crossover).
  // Per-decision mutation probability; 0: 1 / (the space's decision count).
  double mutation = 0;

  Nsga2Options& set_population(int v) {
    population = v;
    return *this;
  }
  Nsga2Options& set_crossover(double v) {
    crossover = v;
    return *this;
  }
  Nsga2Options& set_mutation(double v) {
    mutation = v;
    return *this;
  }
};

enum class PolicyGradient { kPpo, kReinforce };

// Breadth a spec's mnasnet-ppo / mnasnet-reinforce get unless it says
// otherwise (ControllerOptions below keeps 0 for library callers): the
// settings the benchmark's builtins ran with on every column.
inline constexpr double kSpecBreadthShare = 0.5;
inline constexpr double kSpecBreadthModel = 1;

// The MnasNet/ENAS LSTM controller. Defaults from the papers (NASNet/MnasNet
// PPO learning rate 3.5e-4, ENAS sampling temperature 5, tanh constant 2.5,
// entropy weight 1e-4, baseline decay 0.99; hidden size 100).
struct ControllerOptions {
  PolicyGradient algorithm = PolicyGradient::kPpo;
  int hidden_size = 100;
  int layers = 1;
  double learning_rate = 3.5e-4;
  double temperature = 5.0;
  double tanh_constant = 2.5;  // 0 disables the tanh squashing.
  double entropy_weight = 1e-4;
  double baseline_decay = 0.99;  // EMA of the reward (per sample).
  int batch_size = 8;            // Finished results per policy update.
  int ppo_epochs = 4;            // Passes over each batch (PPO only).
  double ppo_clip = 0.2;         // Ratio clip epsilon (PPO only).
  // Divide advantages by the running standard deviation of rewards: keeps
  // the step size independent of the reward's scale (accuracy differences of
  // a few tenths of a point are tiny policy-gradient signals otherwise).
  bool normalize_advantages = true;
  double infeasible_reward = 0;  // Reward of INFEASIBLE trials.
  double init_range = 0.1;       // Parameters start uniform in [-r, r].
  int warm_start_epochs = 1;     // Passes over warm-start trials.
  // Resample (2 rounds of max(2n, 8) candidates) instead of proposing an
  // architecture this controller already proposed or observed; when none is
  // new, change random decisions of a sampled repeat until it is new (its
  // log-probability under the policy recorded as usual). A converged policy
  // otherwise spends most of its proposals on repeats (answered from the
  // cache, but each one still a sampling and a share of an update).
  bool avoid_repeats = true;
  // Risk-seeking policy gradient (0 = off): only samples whose reward is above
  // this quantile of their batch's rewards get an advantage (reward minus that
  // quantile), the rest none. A search keeps its best architecture, not its
  // average one, so a family that is good only sometimes (noisy latency near
  // the target) is not unlearned for its misses.
  double risk_quantile = 0;
  // Elite replay (0 = off): the elite_size best distinct architectures
  // observed so far join every update as extra samples (advantage: reward
  // minus the baseline, or minus the batch's risk quantile; only those above
  // it, and at most batch_size of them), their ratio taken against the policy
  // as that update starts. Without it a good architecture
  // is pushed up once and then forgotten: with avoid_repeats it is never
  // proposed again, and PPO's clip lets a sample the policy found unlikely
  // gain at most ppo_clip of its probability per update. That is how PPO
  // settled on a mediocre sequence in some seeds, which seeds depending on
  // the last bits of BLAS products (docs/benchmarks.md, "Controller").
  int elite_size = 8;
  // Breadth once the search stalls (0 = off): after `breadth_patience`
  // rewarded trials without a better best reward, each proposal is, with
  // probability `breadth_share`, not sampled from the policy but either an
  // unseen token list computing the same function as an elite (an equivalent
  // encoding, SearchSpace::FunctionSignature: a new training run and latency
  // measurement of the best network) or a uniformly random unseen one (half
  // each). A policy that has concentrated on one family before it saw the best
  // one otherwise never leaves it (docs/benchmarks.md, "The controller on every
  // column"). Breadth proposals are learned from like the policy's own.
  double breadth_share = 0;
  int breadth_patience = 16;
  // Model-guided breadth (0 = off): this share of the breadth proposals is the
  // pick of a light model fitted on the controller's own observed trials (a
  // Surrogate with its defaults: ridge models of accuracy and of each
  // constrained cost, Thompson sampling over unseen architectures) instead of
  // an equivalent encoding or a uniform cell. Uniform breadth rarely finds the
  // one accurate feasible network among ~10% feasible cells; the model does.
  double breadth_model = 0;

  ControllerOptions& set_algorithm(PolicyGradient v) {
    algorithm = v;
    return *this;
  }
  ControllerOptions& set_hidden_size(int v) {
    hidden_size = v;
    return *this;
  }
  ControllerOptions& set_layers(int v) {
    layers = v;
    return *this;
  }
  ControllerOptions& set_learning_rate(double v) {
    learning_rate = v;
    return *this;
  }
  ControllerOptions& set_temperature(double v) {
    temperature = v;
    return *this;
  }
  ControllerOptions& set_tanh_constant(double v) {
    tanh_constant = v;
    return *this;
  }
  ControllerOptions& set_entropy_weight(double v) {
    entropy_weight = v;
    return *this;
  }
  ControllerOptions& set_baseline_decay(double v) {
    baseline_decay = v;
    return *this;
  }
  ControllerOptions& set_batch_size(int v) {
    batch_size = v;
    return *this;
  }
  ControllerOptions& set_ppo_epochs(int v) {
    ppo_epochs = v;
    return *this;
  }
  ControllerOptions& set_ppo_clip(double v) {
    ppo_clip = v;
    return *this;
  }
  ControllerOptions& set_normalize_advantages(bool v) {
    normalize_advantages = v;
    return *this;
  }
  ControllerOptions& set_avoid_repeats(bool v) {
    avoid_repeats = v;
    return *this;
  }
  ControllerOptions& set_infeasible_reward(double v) {
    infeasible_reward = v;
    return *this;
  }
};

// The surrogate-guided strategy (controller/surrogate.h): ridge-regression ensembles on
// one-hot + pairwise token features, Thompson sampling over candidates.
struct SurrogateOptions {
  int initial = 10;          // Uniform random proposals before the model is used.
  int ensemble = 8;          // Ensemble members (posterior samples).
  double ridge = 1.0;        // Ridge penalty of the one-hot features.
  double pair_ridge = 1.0;   // Ridge penalty of the pairwise interaction features.
  bool interactions = true;  // Pairwise features (all pairs when they fit max_features).
  // Features of the canonical tokens too (spaces with equivalent token lists).
  bool canonical_features = false;
  int max_features = 1024;    // Feature budget (model: O(features^2) memory and time per trial).
  double exploration = 0.15;  // Perturbation scale, in standard deviations of the target.
  bool decompose = true;      // Model accuracy and each constrained cost separately.
  bool log_error = false;     // Model accuracy as -log(1 - accuracy).
  bool log_costs = false;     // Model the log of each cost (else the cost itself).
  // Accuracy (or reward) targets below this quantile of the observed ones are
  // raised to it before fitting: the model focuses on the top. 0: no clipping.
  double clip_quantile = 0.25;
  // Cost targets are winsorized to their [q, 1 - q] quantiles (measurement
  // outliers, e.g. near-zero latencies of networks that compute nothing).
  double cost_clip = 0.0;
  // Choose only candidates predicted within every constraint's target (as
  // if each were a hard limit), for searches that count only architectures
  // within the targets. Needs decompose; the reward still ranks them.
  bool strict_targets = false;
  int enumerate_limit = 32768;  // Score every valid architecture of spaces up to this size.
  int pool = 2000;              // Larger spaces: random candidates per proposal...
  int parents = 10;             // ...plus mutations of this many best observed trials...
  int mutants = 100;            // ...this many each (1 or 2 decisions changed).
  // Near misses (0 = off): a network more accurate than every trial within the
  // targets whose measured costs miss a target by at most `near_miss_margin`
  // (relative) is measured again, through up to this many equivalent token
  // lists not tried yet (cheapest predicted first). Measured latency is noisy,
  // and an equivalent encoding is a new measurement of the same network.
  // Small spaces with equivalent token lists only.
  int near_miss_retries = 0;
  double near_miss_margin = 0.15;

  SurrogateOptions& set_initial(int v) {
    initial = v;
    return *this;
  }
  SurrogateOptions& set_ensemble(int v) {
    ensemble = v;
    return *this;
  }
  SurrogateOptions& set_exploration(double v) {
    exploration = v;
    return *this;
  }
  SurrogateOptions& set_decompose(bool v) {
    decompose = v;
    return *this;
  }
  SurrogateOptions& set_enumerate_limit(int v) {
    enumerate_limit = v;
    return *this;
  }
  SurrogateOptions& set_pool(int v) {
    pool = v;
    return *this;
  }
};

// FBNet-style differentiable search (worker/dnas/): a supernet with every
// candidate of each per-layer decision, architecture parameters sampled with
// Gumbel-softmax, loss CE * alpha * log(LAT_us)^beta plus hard-limit
// penalties. Defaults from FBNet (Wu et al., CVPR 2019): tau 5 decaying 0.956
// per epoch, alpha 0.2, beta 0.6, Adam 0.01 / weight decay 5e-4 for the
// architecture parameters, 20% of the training split for them.
struct DnasOptions {
  int epochs = 10;           // Supernet epochs (weight + architecture steps).
  int warmup_epochs = 0;     // First epochs train weights only.
  double alpha = 0.2;        // Latency term scale.
  double beta = 0.6;         // Latency term exponent.
  double tau = 5.0;          // Initial Gumbel-softmax temperature.
  double tau_decay = 0.956;  // Temperature factor per epoch.
  int k = 5;                 // Architectures sampled at the end.
  double arch_lr = 0.01;     // Adam learning rate of the architecture parameters.
  double arch_weight_decay = 5e-4;
  double arch_fraction = 0.2;   // Of the training split, for architecture steps.
  double memory_penalty = 2.0;  // Weight of relu(E[need] / limit - 1) for SRAM and flash.
  std::string target;           // hardware.targets name for LAT; empty: the first.
};

struct StrategyOptions {
  // random | evolution | mnasnet-ppo | mnasnet-reinforce | surrogate | nsga2 | dnas
  std::string name = "evolution";
  DnasOptions dnas;
  EvolutionOptions evolution;
  Nsga2Options nsga2;
  ControllerOptions controller;
  SurrogateOptions surrogate;
  // Name or id of an earlier search whose finished trials seed this one
  // (resolved by the server, which then calls Strategy::WarmStart). Empty: none.
  std::string warm_start_from;
  // Explicit seed; unset: the server picks one and stores it with the search.
  std::optional<uint64_t> seed;

  StrategyOptions& set_name(std::string v) {
    name = std::move(v);
    return *this;
  }
  StrategyOptions& set_evolution(EvolutionOptions v) {
    evolution = v;
    return *this;
  }
  StrategyOptions& set_nsga2(Nsga2Options v) {
    nsga2 = v;
    return *this;
  }
  StrategyOptions& set_controller(ControllerOptions v) {
    controller = v;
    return *this;
  }
  StrategyOptions& set_surrogate(SurrogateOptions v) {
    surrogate = v;
    return *this;
  }
};

// The strategy names a spec may give (controller::MakeStrategy makes each).
std::vector<std::string> StrategyNames();

// Parses `strategy:`, e.g.
//   strategy: {name: evolution, population: 30, tournament: 10, mutations: 1}
//   strategy: {name: mnasnet-ppo, hidden_size: 100, learning_rate: 3.5e-4, batch_size: 8}
//   strategy: {name: surrogate, initial: 10, ensemble: 8, exploration: 0.5}
//   strategy: {name: nsga2, population: 40, crossover: 0.9, mutation: 0.2}
// Keys that do not belong to the named strategy are rejected. Without a
// name, `default_name` (DefaultStrategyName).
absl::StatusOr<StrategyOptions> ParseStrategyOptions(const YamlSection& strategy,
                                                     absl::string_view default_name = "evolution");

// The strategy a spec without `strategy: {name: ...}` gets: the surrogate for
// table searches (measured ahead of evolution on the NAS-Bench-201 sweep,
// docs/benchmarks.md "The controller on every column"), evolution otherwise
// (nothing measured it against evolution on trained trials).
std::string DefaultStrategyName(bool table_search);
absl::Status ValidateStrategyOptions(const StrategyOptions& options);

}  // namespace hwnas::spec

#endif  // HWNAS_SPEC_STRATEGY_OPTIONS_H_

#include "spec/strategy_options.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace hwnas::spec {
namespace {

absl::Status FieldError(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
}

bool IsController(absl::string_view name) {
  return name == "mnasnet-ppo" || name == "mnasnet-reinforce";
}

}  // namespace

std::vector<std::string> StrategyNames() {
  return {"random", "evolution", "mnasnet-ppo", "mnasnet-reinforce", "surrogate", "nsga2", "dnas"};
}

std::string DefaultStrategyName(bool table_search) {
  return table_search ? "surrogate" : "evolution";
}

absl::StatusOr<StrategyOptions> ParseStrategyOptions(const YamlSection& strategy,
                                                     absl::string_view default_name) {
  HWNAS_RETURN_IF_ERROR(strategy.CheckIsMap());
  StrategyOptions o;
  HWNAS_ASSIGN_OR_RETURN(o.name, strategy.Enum("name",
                                               {"random", "evolution", "mnasnet-ppo",
                                                "mnasnet-reinforce", "surrogate", "nsga2", "dnas"},
                                               std::string(default_name)));
  std::vector<std::string> keys = {"name", "seed", "warm_start_from"};
  if (o.name == "evolution") {
    keys.insert(keys.end(), {"population", "tournament", "mutations"});
  } else if (o.name == "nsga2") {
    keys.insert(keys.end(), {"population", "crossover", "mutation"});
  } else if (IsController(o.name)) {
    keys.insert(keys.end(), {"hidden_size", "layers", "learning_rate", "temperature",
                             "tanh_constant", "entropy_weight", "baseline_decay", "batch_size",
                             "normalize_advantages", "infeasible_reward", "init_range",
                             "warm_start_epochs", "avoid_repeats", "risk_quantile", "elite_size",
                             "breadth_share", "breadth_patience", "breadth_model"});
    if (o.name == "mnasnet-ppo") keys.insert(keys.end(), {"ppo_epochs", "ppo_clip"});
  } else if (o.name == "dnas") {
    keys.insert(keys.end(),
                {"epochs", "warmup_epochs", "alpha", "beta", "tau", "tau_decay", "k", "arch_lr",
                 "arch_weight_decay", "arch_fraction", "memory_penalty", "target"});
  } else if (o.name == "surrogate") {
    keys.insert(keys.end(), {"initial",
                             "ensemble",
                             "ridge",
                             "pair_ridge",
                             "interactions",
                             "canonical_features",
                             "max_features",
                             "exploration",
                             "decompose",
                             "log_error",
                             "log_costs",
                             "clip_quantile",
                             "cost_clip",
                             "strict_targets",
                             "enumerate_limit",
                             "pool",
                             "parents",
                             "mutants",
                             "near_miss_retries",
                             "near_miss_margin"});
  }
  HWNAS_RETURN_IF_ERROR(strategy.CheckKeys(keys));
  if (strategy.Has("seed")) {
    HWNAS_ASSIGN_OR_RETURN(int64_t seed, strategy.Int("seed", 0, 0, INT64_MAX));
    o.seed = static_cast<uint64_t>(seed);
  }
  HWNAS_ASSIGN_OR_RETURN(o.warm_start_from, strategy.String("warm_start_from", ""));
  EvolutionOptions& e = o.evolution;
  Nsga2Options& g = o.nsga2;
  if (o.name == "nsga2") {
    HWNAS_ASSIGN_OR_RETURN(g.population, strategy.Int("population", g.population, 2, 100000));
  } else {
    HWNAS_ASSIGN_OR_RETURN(e.population, strategy.Int("population", e.population, 2, 100000));
  }
  HWNAS_ASSIGN_OR_RETURN(g.crossover, strategy.Double("crossover", g.crossover, 0, 1));
  HWNAS_ASSIGN_OR_RETURN(g.mutation, strategy.Double("mutation", g.mutation, 0, 1));
  HWNAS_ASSIGN_OR_RETURN(e.tournament, strategy.Int("tournament", e.tournament, 1, 100000));
  HWNAS_ASSIGN_OR_RETURN(e.mutations, strategy.Int("mutations", e.mutations, 1, 1000));
  ControllerOptions& c = o.controller;
  c.algorithm = o.name == "mnasnet-reinforce" ? PolicyGradient::kReinforce : PolicyGradient::kPpo;
  HWNAS_ASSIGN_OR_RETURN(c.hidden_size, strategy.Int("hidden_size", c.hidden_size, 1, 4096));
  HWNAS_ASSIGN_OR_RETURN(c.layers, strategy.Int("layers", c.layers, 1, 8));
  HWNAS_ASSIGN_OR_RETURN(c.learning_rate,
                         strategy.Double("learning_rate", c.learning_rate, 1e-8, 10));
  HWNAS_ASSIGN_OR_RETURN(c.temperature, strategy.Double("temperature", c.temperature, 1e-3, 1e3));
  HWNAS_ASSIGN_OR_RETURN(c.tanh_constant,
                         strategy.Double("tanh_constant", c.tanh_constant, 0, 1e3));
  HWNAS_ASSIGN_OR_RETURN(c.entropy_weight,
                         strategy.Double("entropy_weight", c.entropy_weight, 0, 10));
  HWNAS_ASSIGN_OR_RETURN(c.baseline_decay,
                         strategy.Double("baseline_decay", c.baseline_decay, 0, 0.99999));
  HWNAS_ASSIGN_OR_RETURN(c.batch_size, strategy.Int("batch_size", c.batch_size, 1, 4096));
  HWNAS_ASSIGN_OR_RETURN(c.ppo_epochs, strategy.Int("ppo_epochs", c.ppo_epochs, 1, 100));
  HWNAS_ASSIGN_OR_RETURN(c.ppo_clip, strategy.Double("ppo_clip", c.ppo_clip, 1e-3, 1));
  HWNAS_ASSIGN_OR_RETURN(c.normalize_advantages,
                         strategy.Bool("normalize_advantages", c.normalize_advantages));
  HWNAS_ASSIGN_OR_RETURN(c.infeasible_reward,
                         strategy.Double("infeasible_reward", c.infeasible_reward, -1e6, 1e6));
  HWNAS_ASSIGN_OR_RETURN(c.init_range, strategy.Double("init_range", c.init_range, 1e-6, 10));
  HWNAS_ASSIGN_OR_RETURN(c.warm_start_epochs,
                         strategy.Int("warm_start_epochs", c.warm_start_epochs, 0, 100));
  HWNAS_ASSIGN_OR_RETURN(c.avoid_repeats, strategy.Bool("avoid_repeats", c.avoid_repeats));
  HWNAS_ASSIGN_OR_RETURN(c.risk_quantile,
                         strategy.Double("risk_quantile", c.risk_quantile, 0, 0.99));
  HWNAS_ASSIGN_OR_RETURN(c.elite_size, strategy.Int("elite_size", c.elite_size, 0, 4096));
  if (IsController(o.name)) {
    // The controller strategies of a spec get the breadth the benchmark
    // measured on every column (docs/benchmarks.md, "The controller on every
    // column"): without it the policy lost to random search on devices and
    // data sets it was not tuned on. ControllerOptions itself keeps breadth
    // off for library callers.
    c.breadth_share = kSpecBreadthShare;
    c.breadth_model = kSpecBreadthModel;
  }
  HWNAS_ASSIGN_OR_RETURN(c.breadth_share, strategy.Double("breadth_share", c.breadth_share, 0, 1));
  HWNAS_ASSIGN_OR_RETURN(c.breadth_patience,
                         strategy.Int("breadth_patience", c.breadth_patience, 0, 1000000));
  // `breadth_share: 0` alone turns breadth off, model picks included.
  if (c.breadth_share == 0 && !strategy.Has("breadth_model")) c.breadth_model = 0;
  HWNAS_ASSIGN_OR_RETURN(c.breadth_model, strategy.Double("breadth_model", c.breadth_model, 0, 1));
  SurrogateOptions& s = o.surrogate;
  HWNAS_ASSIGN_OR_RETURN(s.initial, strategy.Int("initial", s.initial, 2, 100000));
  HWNAS_ASSIGN_OR_RETURN(s.ensemble, strategy.Int("ensemble", s.ensemble, 1, 256));
  HWNAS_ASSIGN_OR_RETURN(s.ridge, strategy.Double("ridge", s.ridge, 1e-6, 1e6));
  HWNAS_ASSIGN_OR_RETURN(s.pair_ridge, strategy.Double("pair_ridge", s.pair_ridge, 1e-6, 1e6));
  HWNAS_ASSIGN_OR_RETURN(s.interactions, strategy.Bool("interactions", s.interactions));
  HWNAS_ASSIGN_OR_RETURN(s.canonical_features,
                         strategy.Bool("canonical_features", s.canonical_features));
  HWNAS_ASSIGN_OR_RETURN(s.max_features, strategy.Int("max_features", s.max_features, 1, 8192));
  HWNAS_ASSIGN_OR_RETURN(s.exploration, strategy.Double("exploration", s.exploration, 0, 100));
  HWNAS_ASSIGN_OR_RETURN(s.decompose, strategy.Bool("decompose", s.decompose));
  HWNAS_ASSIGN_OR_RETURN(s.log_error, strategy.Bool("log_error", s.log_error));
  HWNAS_ASSIGN_OR_RETURN(s.log_costs, strategy.Bool("log_costs", s.log_costs));
  HWNAS_ASSIGN_OR_RETURN(s.cost_clip, strategy.Double("cost_clip", s.cost_clip, 0, 0.49));
  HWNAS_ASSIGN_OR_RETURN(s.clip_quantile,
                         strategy.Double("clip_quantile", s.clip_quantile, 0, 0.99));
  HWNAS_ASSIGN_OR_RETURN(s.strict_targets, strategy.Bool("strict_targets", s.strict_targets));
  HWNAS_ASSIGN_OR_RETURN(s.enumerate_limit,
                         strategy.Int("enumerate_limit", s.enumerate_limit, 0, 1 << 22));
  HWNAS_ASSIGN_OR_RETURN(s.pool, strategy.Int("pool", s.pool, 1, 1000000));
  HWNAS_ASSIGN_OR_RETURN(s.parents, strategy.Int("parents", s.parents, 0, 100000));
  HWNAS_ASSIGN_OR_RETURN(s.mutants, strategy.Int("mutants", s.mutants, 0, 100000));
  HWNAS_ASSIGN_OR_RETURN(s.near_miss_retries,
                         strategy.Int("near_miss_retries", s.near_miss_retries, 0, 1000));
  HWNAS_ASSIGN_OR_RETURN(s.near_miss_margin,
                         strategy.Double("near_miss_margin", s.near_miss_margin, 0, 10));
  DnasOptions& d = o.dnas;
  HWNAS_ASSIGN_OR_RETURN(d.epochs, strategy.Int("epochs", d.epochs, 1, 10000));
  HWNAS_ASSIGN_OR_RETURN(d.warmup_epochs, strategy.Int("warmup_epochs", d.warmup_epochs, 0, 10000));
  HWNAS_ASSIGN_OR_RETURN(d.alpha, strategy.Double("alpha", d.alpha, 0, 1e3));
  HWNAS_ASSIGN_OR_RETURN(d.beta, strategy.Double("beta", d.beta, 0, 10));
  HWNAS_ASSIGN_OR_RETURN(d.tau, strategy.Double("tau", d.tau, 1e-3, 1e3));
  HWNAS_ASSIGN_OR_RETURN(d.tau_decay, strategy.Double("tau_decay", d.tau_decay, 1e-3, 1));
  HWNAS_ASSIGN_OR_RETURN(d.k, strategy.Int("k", d.k, 1, 1000));
  HWNAS_ASSIGN_OR_RETURN(d.arch_lr, strategy.Double("arch_lr", d.arch_lr, 1e-8, 10));
  HWNAS_ASSIGN_OR_RETURN(d.arch_weight_decay,
                         strategy.Double("arch_weight_decay", d.arch_weight_decay, 0, 1));
  HWNAS_ASSIGN_OR_RETURN(d.arch_fraction,
                         strategy.Double("arch_fraction", d.arch_fraction, 0.01, 0.99));
  HWNAS_ASSIGN_OR_RETURN(d.memory_penalty,
                         strategy.Double("memory_penalty", d.memory_penalty, 0, 1e6));
  HWNAS_ASSIGN_OR_RETURN(d.target, strategy.String("target", ""));
  HWNAS_RETURN_IF_ERROR(ValidateStrategyOptions(o));
  return o;
}

absl::Status ValidateStrategyOptions(const StrategyOptions& o) {
  std::vector<std::string> names = StrategyNames();
  if (std::find(names.begin(), names.end(), o.name) == names.end()) {
    return FieldError("strategy.name",
                      absl::StrCat("unknown strategy ", QuoteValue(o.name),
                                   " (expected one of: ", absl::StrJoin(names, ", "), ")"));
  }
  const EvolutionOptions& e = o.evolution;
  if (e.population < 2) return FieldError("strategy.population", "must be at least 2");
  if (e.tournament < 1) return FieldError("strategy.tournament", "must be at least 1");
  if (e.mutations < 1) return FieldError("strategy.mutations", "must be at least 1");
  const Nsga2Options& g = o.nsga2;
  if (g.population < 2) return FieldError("strategy.population", "must be at least 2");
  if (!(g.crossover >= 0 && g.crossover <= 1)) {
    return FieldError("strategy.crossover", "must be in [0, 1]");
  }
  if (!(g.mutation >= 0 && g.mutation <= 1)) {
    return FieldError("strategy.mutation", "must be in [0, 1] (0: 1 / decisions)");
  }
  const ControllerOptions& c = o.controller;
  if (c.hidden_size < 1) return FieldError("strategy.hidden_size", "must be positive");
  if (c.layers < 1) return FieldError("strategy.layers", "must be positive");
  if (!(c.learning_rate > 0)) return FieldError("strategy.learning_rate", "must be positive");
  if (!(c.temperature > 0)) return FieldError("strategy.temperature", "must be positive");
  if (!(c.tanh_constant >= 0)) return FieldError("strategy.tanh_constant", "must be >= 0");
  if (!(c.entropy_weight >= 0)) return FieldError("strategy.entropy_weight", "must be >= 0");
  if (!(c.baseline_decay >= 0 && c.baseline_decay < 1)) {
    return FieldError("strategy.baseline_decay", "must be in [0, 1)");
  }
  if (c.batch_size < 1) return FieldError("strategy.batch_size", "must be positive");
  if (c.ppo_epochs < 1) return FieldError("strategy.ppo_epochs", "must be positive");
  if (!(c.ppo_clip > 0 && c.ppo_clip <= 1))
    return FieldError("strategy.ppo_clip", "must be in (0, 1]");
  if (!(c.init_range > 0)) return FieldError("strategy.init_range", "must be positive");
  if (c.warm_start_epochs < 0) return FieldError("strategy.warm_start_epochs", "must be >= 0");
  if (!(c.risk_quantile >= 0 && c.risk_quantile < 1)) {
    return FieldError("strategy.risk_quantile", "must be in [0, 1)");
  }
  if (c.elite_size < 0 || c.elite_size > 4096) {
    return FieldError("strategy.elite_size", "must be in [0, 4096]");
  }
  if (!(c.breadth_share >= 0 && c.breadth_share <= 1)) {
    return FieldError("strategy.breadth_share", "must be in [0, 1]");
  }
  if (c.breadth_patience < 0) return FieldError("strategy.breadth_patience", "must be >= 0");
  if (!(c.breadth_model >= 0 && c.breadth_model <= 1)) {
    return FieldError("strategy.breadth_model", "must be in [0, 1]");
  }
  if (c.breadth_model > 0 && c.breadth_share == 0) {
    return FieldError("strategy.breadth_model",
                      "needs breadth_share > 0 (it is a share of the breadth proposals)");
  }
  if (c.risk_quantile > 0 && c.batch_size < 2) {
    return FieldError("strategy.risk_quantile",
                      "needs batch_size >= 2 (trials are ranked within their batch)");
  }
  const DnasOptions& d = o.dnas;
  if (d.epochs < 1) return FieldError("strategy.epochs", "must be at least 1");
  if (d.warmup_epochs < 0 || d.warmup_epochs >= d.epochs) {
    return FieldError("strategy.warmup_epochs", absl::StrCat("must be in [0, epochs) = [0, ",
                                                             d.epochs, "), got ", d.warmup_epochs));
  }
  if (!(d.alpha > 0)) return FieldError("strategy.alpha", "must be positive");
  if (!(d.beta >= 0)) return FieldError("strategy.beta", "must be >= 0");
  if (!(d.tau > 0)) return FieldError("strategy.tau", "must be positive");
  if (!(d.tau_decay > 0 && d.tau_decay <= 1)) {
    return FieldError("strategy.tau_decay", "must be in (0, 1]");
  }
  if (d.k < 1) return FieldError("strategy.k", "must be at least 1");
  if (!(d.arch_lr > 0)) return FieldError("strategy.arch_lr", "must be positive");
  if (!(d.arch_weight_decay >= 0)) return FieldError("strategy.arch_weight_decay", "must be >= 0");
  if (!(d.arch_fraction > 0 && d.arch_fraction < 1)) {
    return FieldError("strategy.arch_fraction", "must be in (0, 1)");
  }
  if (!(d.memory_penalty >= 0)) return FieldError("strategy.memory_penalty", "must be >= 0");
  const SurrogateOptions& s = o.surrogate;
  if (s.initial < 2) return FieldError("strategy.initial", "must be at least 2");
  if (s.ensemble < 1) return FieldError("strategy.ensemble", "must be positive");
  if (!(s.ridge > 0)) return FieldError("strategy.ridge", "must be positive");
  if (!(s.pair_ridge > 0)) return FieldError("strategy.pair_ridge", "must be positive");
  if (s.max_features < 1 || s.max_features > 8192) {
    return FieldError("strategy.max_features", "must be in [1, 8192]");
  }
  if (!(s.exploration >= 0)) return FieldError("strategy.exploration", "must be >= 0");
  if (!(s.cost_clip >= 0 && s.cost_clip < 0.5)) {
    return FieldError("strategy.cost_clip", "must be in [0, 0.5)");
  }
  if (!(s.clip_quantile >= 0 && s.clip_quantile < 1)) {
    return FieldError("strategy.clip_quantile", "must be in [0, 1)");
  }
  if (s.enumerate_limit < 0) return FieldError("strategy.enumerate_limit", "must be >= 0");
  if (s.pool < 1) return FieldError("strategy.pool", "must be positive");
  if (s.parents < 0) return FieldError("strategy.parents", "must be >= 0");
  if (s.mutants < 0) return FieldError("strategy.mutants", "must be >= 0");
  if (s.near_miss_retries < 0) return FieldError("strategy.near_miss_retries", "must be >= 0");
  if (!(s.near_miss_margin >= 0)) return FieldError("strategy.near_miss_margin", "must be >= 0");
  return absl::OkStatus();
}

}  // namespace hwnas::spec

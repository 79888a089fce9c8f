// The DNAS job: spec and data loading, the alternating training loop,
// checkpoints and the final top-K. LibTorch exceptions are caught here.
#include "worker/dnas/dnas_search.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "hardware/targets.h"
#include "nlohmann/json.hpp"
#include "spec/search_spec.h"
#include "worker/commands.h"
#include "worker/datasets.h"
#include "worker/dnas/cost_tables.h"
#include "worker/dnas/supernet.h"
#include "worker/dnas/temporal_supernet.h"
#include "worker/plan_net.h"

namespace hwnas::worker::dnas {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

int Fail(std::ostream& err, const absl::Status& status, int code = kExitBadInput) {
  err << "error: " << status.message() << "\n";
  return code;
}

struct TensorData {
  torch::Tensor x, y;
  int64_t size() const { return y.defined() ? y.size(0) : 0; }
};

TensorData AsTensors(const Dataset& d) {
  TensorData t;
  if (d.size() == 0) return t;
  std::vector<int64_t> shape = {d.size()};
  shape.insert(shape.end(), d.sample_shape.begin(), d.sample_shape.end());
  t.x = torch::from_blob(const_cast<float*>(d.features.data()), shape, torch::kFloat).clone();
  t.y = torch::from_blob(const_cast<int64_t*>(d.labels.data()), {d.size()}, torch::kLong).clone();
  return t;
}

absl::Status WriteAtomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    f.flush();
    if (!f) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<LatencySource> LoadSource(const std::vector<hardware::TargetConfig>& targets,
                                         const std::string& wanted) {
  if (targets.empty()) {
    return absl::InvalidArgumentError(
        "hardware.targets: dnas needs a target (an MCU profile or a latency lookup table) for "
        "its latency term");
  }
  const hardware::TargetConfig* t = &targets[0];
  if (!wanted.empty()) {
    t = nullptr;
    for (const hardware::TargetConfig& c : targets) {
      if (c.name == wanted) t = &c;
    }
    if (t == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("strategy.target: no hardware target named '", wanted, "'"));
    }
  }
  LatencySource s;
  s.target_name = t->name;
  const std::vector<std::string> path = hardware::DefaultProfileSearchPath();
  if (!t->mcu_profile.empty()) {
    HWNAS_ASSIGN_OR_RETURN(s.mcu, hardware::FindMcuProfile(t->mcu_profile, path));
  } else if (!t->mcu_profile_yaml.empty()) {
    HWNAS_ASSIGN_OR_RETURN(s.mcu, hardware::ParseMcuProfile(t->mcu_profile_yaml, t->name));
  } else {
    HWNAS_ASSIGN_OR_RETURN(s.lut, hardware::FindLut(t->lut, path));
  }
  return s;
}

// A sorted (probability, choice) list per decision for MostLikely.
struct Node {
  double log_p;
  std::vector<int> ranks;
  int first;  // Lowest decision this node's successors may change.
  bool operator<(const Node& o) const { return log_p < o.log_p; }
};

json CandidateJson(const space::SearchSpace& space, const RankedTokens& r,
                   const TrialResult& estimate, bool feasible) {
  json j{{"tokens", r.tokens},
         {"readable", space.Readable(r.tokens)},
         {"probability", r.probability},
         {"feasible", feasible}};
  j["estimates"] = estimate.estimates;
  j["flash_bytes"] = estimate.costs.flash_bytes;
  j["peak_activation_bytes"] = estimate.costs.peak_activation_bytes;
  j["macs"] = estimate.costs.macs;
  return j;
}

std::vector<std::vector<double>> ToVectors(const DecisionWeights& w) {
  std::vector<std::vector<double>> out;
  for (const torch::Tensor& t : w) {
    torch::Tensor d = t.detach().to(torch::kDouble).contiguous();
    out.emplace_back(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
  }
  return out;
}

double Accuracy(SupernetBase& net, const TensorData& data, const DecisionWeights& w, int batch) {
  torch::NoGradGuard no_grad;
  net.eval();
  int64_t correct = 0;
  for (int64_t s = 0; s < data.size(); s += batch) {
    const int64_t e = std::min<int64_t>(s + batch, data.size());
    correct += net.Forward(data.x.slice(0, s, e), w)
                   .argmax(1)
                   .eq(data.y.slice(0, s, e))
                   .sum()
                   .item<int64_t>();
  }
  net.train();
  return data.size() > 0 ? static_cast<double>(correct) / data.size() : 0;
}

int Run(const DnasCommandOptions& options, std::ostream& out, std::ostream& err) {
  absl::StatusOr<std::string> text = ReadRegularFile(options.spec_path, 1 << 20);
  if (!text.ok()) return Fail(err, text.status());
  absl::StatusOr<spec::SearchSpec> parsed = spec::ParseSearchSpec(*text);
  if (!parsed.ok()) {
    return Fail(err, absl::Status(parsed.status().code(), absl::StrCat(options.spec_path, ": ",
                                                                       parsed.status().message())));
  }
  spec::SearchSpec& search = *parsed;
  if (search.controller.strategy.name != "dnas") {
    return Fail(err,
                absl::InvalidArgumentError(absl::StrCat(options.spec_path,
                                                        ": strategy.name: the dnas command needs "
                                                        "`strategy: {name: dnas, ...}`, got '",
                                                        search.controller.strategy.name, "'")));
  }
  if (!search.worker) {
    return Fail(err, absl::InvalidArgumentError(
                         absl::StrCat(options.spec_path,
                                      ": evaluator: dnas trains a supernet on the spec's "
                                      "data; a table search has none")));
  }
  const WorkerSpec& wspec = *search.worker;
  absl::StatusOr<std::unique_ptr<space::SearchSpace>> space_or = spec::MakeSpace(search);
  if (!space_or.ok()) return Fail(err, space_or.status());
  std::unique_ptr<space::SearchSpace> space_owner = *std::move(space_or);
  const space::SearchSpace* space = space_owner.get();
  const auto* mnasnet = dynamic_cast<const space::MnasnetSpace*>(space);
  const auto* temporal = dynamic_cast<const space::TemporalSpace*>(space);
  if (mnasnet == nullptr && temporal == nullptr) {
    return Fail(err, absl::InvalidArgumentError(absl::StrCat(
                         options.spec_path,
                         ": space.name: dnas needs a space whose decisions are per-layer op "
                         "choices (mnasnet, temporal); space ",
                         space->name(), " is not supported")));
  }
  spec::DnasOptions d = search.controller.strategy.dnas;
  if (options.epochs) {
    d.epochs = *options.epochs;
    d.warmup_epochs = std::min(d.warmup_epochs, d.epochs - 1);
  }
  absl::StatusOr<LatencySource> source = LoadSource(wspec.hardware.targets, d.target);
  if (!source.ok()) return Fail(err, source.status());
  absl::StatusOr<hardware::TargetSet> targets = hardware::TargetSet::Load(wspec.hardware.targets);
  if (!targets.ok()) return Fail(err, targets.status());

  // The output directory, its lock and its spec.
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec || !fs::is_directory(options.out_dir)) {
    return Fail(err, absl::InvalidArgumentError(
                         absl::StrCat("--out: cannot use '", options.out_dir, "' as a directory",
                                      ec ? absl::StrCat(" (", ec.message(), ")") : "")));
  }
  const fs::path dir(options.out_dir);
  const int lock_fd = ::open((dir / "lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  // Closed (and the lock released) on return: a serve process runs many jobs.
  struct LockCloser {
    int fd;
    ~LockCloser() {
      if (fd >= 0) ::close(fd);
    }
  } lock_closer{lock_fd};
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return Fail(err, absl::FailedPreconditionError(absl::StrCat(
                         "--out: another hwnas-worker dnas is running on ", options.out_dir)));
  }
  const std::string spec_file = (dir / "spec.yaml").string();
  if (fs::exists(spec_file)) {
    absl::StatusOr<std::string> old = ReadRegularFile(spec_file, 1 << 20);
    if (!old.ok()) return Fail(err, old.status());
    if (*old != *text) {
      return Fail(err, absl::FailedPreconditionError(absl::StrCat(
                           "--out: ", options.out_dir,
                           " holds a search of another spec (its spec.yaml differs); use a new "
                           "directory")));
    }
  } else if (absl::Status s = WriteAtomic(spec_file, *text); !s.ok()) {
    return Fail(err, s);
  }
  const std::string result_file = (dir / "result.json").string();
  if (fs::exists(result_file)) {
    absl::StatusOr<std::string> result = ReadRegularFile(result_file, 64 << 20);
    if (!result.ok()) return Fail(err, result.status());
    err << "dnas: " << options.out_dir << " is finished; not training again\n";
    out << *result;
    return kExitOk;
  }

  // The space's cost tables (before the data: a table that lacks an op is
  // bad input, found at once).
  const auto started = Clock::now();
  std::optional<CostTables> mnasnet_tables;
  std::optional<TemporalCostTables> temporal_tables;
  std::string layers_text;
  if (mnasnet != nullptr) {
    absl::StatusOr<CostTables> t =
        BuildCostTables(*mnasnet, *source, wspec.hardware.activation_bits);
    if (!t.ok()) return Fail(err, t.status());
    mnasnet_tables = *std::move(t);
    layers_text = absl::StrCat(mnasnet_tables->blocks(), " blocks");
  } else {
    absl::StatusOr<TemporalCostTables> t =
        BuildTemporalCostTables(*temporal, *source, wspec.hardware.activation_bits);
    if (!t.ok()) return Fail(err, t.status());
    temporal_tables = *std::move(t);
    layers_text = absl::StrCat(temporal->options().conv_layers, " conv and ",
                               temporal->options().rnn_layers, " recurrent layers");
  }
  const std::string target = source->target_name;
  if (options.progress) {
    err << absl::StrFormat("dnas: cost tables for %s on %s in %.1f s\n", layers_text, target,
                           std::chrono::duration<double>(Clock::now() - started).count());
  }
  absl::StatusOr<DataSplits> data = LoadDataSplits(wspec.data, options.data_dir);
  if (!data.ok()) return Fail(err, data.status(), kExitNoData);

  const TrainingOptions& tr = wspec.training;
  torch::set_num_threads(options.threads.value_or(tr.threads));
  torch::manual_seed(tr.seed);
  TensorData train_all = AsTensors(data->train), val = AsTensors(data->val);
  // FBNet's split of the training data: weights on one part, architecture
  // parameters on the other (a fixed split, from the data seed).
  TensorData train, arch;
  {
    at::Generator gen = at::detail::createCPUGenerator(wspec.data.seed + 7919);
    torch::Tensor perm = torch::randperm(train_all.size(), gen, torch::kLong);
    const int64_t n_arch = std::max<int64_t>(
        1, static_cast<int64_t>(std::llround(d.arch_fraction * train_all.size())));
    if (train_all.size() - n_arch < 1) {
      return Fail(err, absl::InvalidArgumentError(
                           absl::StrCat("data.train_subset: ", train_all.size(),
                                        " training samples are too few to split for dnas")));
    }
    torch::Tensor wi = perm.slice(0, n_arch), ai = perm.slice(0, 0, n_arch);
    train = {train_all.x.index_select(0, wi), train_all.y.index_select(0, wi)};
    arch = {train_all.x.index_select(0, ai), train_all.y.index_select(0, ai)};
  }

  // The space's supernet and expected costs.
  std::shared_ptr<SupernetBase> net;
  std::function<ExpectedCosts(const DecisionWeights&)> expected_costs;
  std::function<OneHotCosts(absl::Span<const int>)> costs_of;
  int64_t sram_limit = 0, flash_limit = 0;
  if (mnasnet != nullptr) {
    net = std::make_shared<SupernetImpl>(*mnasnet);
    auto model = std::make_shared<CostModel>(*mnasnet_tables, *mnasnet);
    expected_costs = [model](const DecisionWeights& w) { return model->Expected(w); };
    costs_of = [&](absl::Span<const int> tokens) {
      return CostsOf(*mnasnet_tables, *mnasnet, tokens);
    };
    sram_limit = mnasnet_tables->sram_limit_bytes;
    flash_limit = mnasnet_tables->flash_limit_bytes;
  } else {
    net = std::make_shared<TemporalSupernetImpl>(*temporal);
    sram_limit = temporal_tables->sram_limit_bytes;
    flash_limit = temporal_tables->flash_limit_bytes;
    auto model = std::make_shared<TemporalCostModel>(*std::move(temporal_tables), *temporal);
    expected_costs = [model](const DecisionWeights& w) { return model->Expected(w); };
    costs_of = [model](absl::Span<const int> tokens) { return model->CostsOf(tokens); };
  }
  torch::optim::SGD opt_w(net->weight_parameters(), torch::optim::SGDOptions(tr.lr)
                                                        .momentum(tr.momentum)
                                                        .nesterov(tr.nesterov && tr.momentum > 0)
                                                        .weight_decay(tr.weight_decay));
  torch::optim::Adam opt_a(
      net->arch_parameters(),
      torch::optim::AdamOptions(d.arch_lr).betas({0.9, 0.999}).weight_decay(d.arch_weight_decay));
  const std::string ckpt = (dir / "checkpoint.pt").string();
  int epoch_done = 0;
  std::string history;  // JSON lines.
  if (fs::exists(ckpt)) {
    torch::serialize::InputArchive ar;
    ar.load_from(ckpt);
    torch::serialize::InputArchive m, ow, oa;
    ar.read("model", m);
    ar.read("opt_w", ow);
    ar.read("opt_a", oa);
    net->load(m);
    opt_w.load(ow);
    opt_a.load(oa);
    torch::Tensor epoch, rng, hist;
    ar.read("epoch", epoch);
    ar.read("rng", rng);
    ar.read("history", hist);
    epoch_done = static_cast<int>(epoch.item<int64_t>());
    at::Generator gen = at::detail::getDefaultCPUGenerator();  // A handle: shares the state.
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng);
    }
    history.assign(reinterpret_cast<const char*>(hist.data_ptr<uint8_t>()), hist.numel());
    if (options.progress) {
      err << "dnas: resuming " << options.out_dir << " after epoch " << epoch_done << " of "
          << d.epochs << "\n";
    }
  }
  const int batch = tr.batch_size;
  const int64_t steps = (train.size() + batch - 1) / batch;
  const int64_t total_steps = steps * d.epochs;
  int64_t arch_pos = 0;
  for (int epoch = epoch_done; epoch < d.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    const double tau = d.tau * std::pow(d.tau_decay, epoch);
    const bool arch_steps = epoch >= d.warmup_epochs;
    net->train();
    torch::Tensor perm = torch::randperm(train.size(), torch::kLong);
    torch::Tensor arch_perm = torch::randperm(arch.size(), torch::kLong);
    arch_pos = 0;
    double ce_sum = 0, loss_sum = 0;
    int64_t seen = 0;
    for (int64_t s = 0; s < steps; ++s) {
      if (options.interrupt != nullptr && options.interrupt->load()) {
        err << "dnas: stopped during epoch " << epoch + 1 << " (redone from its start)\n";
        return kExitTrialFailed;
      }
      const int64_t global = epoch * steps + s;
      const double lr =
          tr.schedule == spec::LrSchedule::kCosine
              ? 0.5 * tr.lr * (1 + std::cos(M_PI * global / static_cast<double>(total_steps)))
              : tr.lr;
      for (auto& g : opt_w.param_groups()) g.options().set_lr(lr);
      torch::Tensor idx =
          perm.slice(0, s * batch, std::min<int64_t>((s + 1) * batch, train.size()));
      // Weight step: the architecture distribution sampled, theta fixed.
      {
        DecisionWeights w = net->Sample(tau);
        for (torch::Tensor& t : w) t = t.detach();
        torch::Tensor logits = net->Forward(train.x.index_select(0, idx), w);
        torch::Tensor ce = torch::cross_entropy_loss(logits, train.y.index_select(0, idx));
        torch::Tensor loss = DnasLoss(ce, expected_costs(w), sram_limit, flash_limit, d.alpha,
                                      d.beta, d.memory_penalty);
        opt_w.zero_grad();
        loss.backward();
        opt_w.step();
        ce_sum += ce.item<double>() * idx.size(0);
        loss_sum += loss.item<double>() * idx.size(0);
        seen += idx.size(0);
      }
      if (!arch_steps) continue;
      // Architecture step on the other part of the training data.
      if (arch_pos >= arch.size()) {
        arch_perm = torch::randperm(arch.size(), torch::kLong);
        arch_pos = 0;
      }
      torch::Tensor aidx =
          arch_perm.slice(0, arch_pos, std::min<int64_t>(arch_pos + batch, arch.size()));
      arch_pos += batch;
      DecisionWeights w = net->Sample(tau);
      torch::Tensor logits = net->Forward(arch.x.index_select(0, aidx), w);
      torch::Tensor ce = torch::cross_entropy_loss(logits, arch.y.index_select(0, aidx));
      torch::Tensor loss = DnasLoss(ce, expected_costs(w), sram_limit, flash_limit, d.alpha, d.beta,
                                    d.memory_penalty);
      opt_a.zero_grad();
      opt_w.zero_grad();
      loss.backward();
      opt_a.step();
    }
    // Progress: the supernet's accuracy with its most likely architecture.
    const std::vector<int> top = net->Argmax();
    const DecisionWeights probs = net->Probabilities();
    const ExpectedCosts expected = expected_costs(probs);
    const OneHotCosts top_costs = costs_of(top);
    const double val_acc = Accuracy(*net, val, net->OneHot(top), tr.eval_batch_size);
    double top_p = 1;
    for (size_t i = 0; i < probs.size(); ++i) top_p *= probs[i][top[i]].item<double>();
    json line{{"epoch", epoch + 1},
              {"epochs", d.epochs},
              {"tau", tau},
              {"train_ce", seen ? ce_sum / seen : 0},
              {"train_loss", seen ? loss_sum / seen : 0},
              {"expected_latency_ms", expected.latency_ms.item<double>()},
              {"expected_flash_bytes", expected.flash_bytes.item<double>()},
              {"expected_sram_bytes", expected.sram_bytes.item<double>()},
              {"top", space->Readable(top)},
              {"top_probability", top_p},
              {"top_latency_ms", top_costs.latency_ms},
              {"top_val_accuracy", val_acc},
              {"seconds", std::chrono::duration<double>(Clock::now() - epoch_start).count()}};
    history += line.dump() + "\n";
    const std::string progress_line = absl::StrFormat(
        "epoch %d/%d tau=%.3f ce=%.4f loss=%.4f E[lat]=%.3fms E[flash]=%.0fKB "
        "E[sram]=%.0fKB top_p=%.3g top_lat=%.3fms top_val_acc=%.4f (%.1fs) top=%s",
        epoch + 1, d.epochs, tau, seen ? ce_sum / seen : 0, seen ? loss_sum / seen : 0,
        expected.latency_ms.item<double>(), expected.flash_bytes.item<double>() / 1024,
        expected.sram_bytes.item<double>() / 1024, top_p, top_costs.latency_ms, val_acc,
        line["seconds"].get<double>(), line["top"].get<std::string>());
    // Checkpoint: everything a resume needs, replaced atomically.
    {
      torch::serialize::OutputArchive ar, m, ow, oa;
      net->save(m);
      opt_w.save(ow);
      opt_a.save(oa);
      ar.write("model", m);
      ar.write("opt_w", ow);
      ar.write("opt_a", oa);
      ar.write("epoch", torch::tensor(static_cast<int64_t>(epoch + 1)));
      at::Generator gen = at::detail::getDefaultCPUGenerator();
      torch::Tensor rng;
      {
        std::lock_guard<std::mutex> lock(gen.mutex());
        rng = gen.get_state();
      }
      ar.write("rng", rng);
      ar.write("history", torch::from_blob(history.data(), {static_cast<int64_t>(history.size())},
                                           torch::kUInt8)
                              .clone());
      ar.save_to(ckpt + ".tmp");
      fs::rename(ckpt + ".tmp", ckpt, ec);
      if (ec) {
        return Fail(err,
                    absl::UnavailableError(absl::StrCat("cannot write ", ckpt, ": ", ec.message())),
                    kExitTrialFailed);
      }
    }
    if (absl::Status s = WriteAtomic((dir / "progress.jsonl").string(), history); !s.ok()) {
      return Fail(err, s, kExitTrialFailed);
    }
    // Printed once the epoch is durable, so a resumed run never repeats it.
    out << progress_line << std::endl;
    if (options.on_epoch) {
      std::map<std::string, double> values;
      for (const auto& [key, value] : line.items()) {
        if (value.is_number()) values[key] = value.get<double>();
      }
      values.erase("epoch");
      if (!options.on_epoch(epoch + 1, values, ckpt)) {
        err << "dnas: stopped after epoch " << epoch + 1 << "\n";
        return kExitTrialFailed;
      }
    }
  }

  // The K most likely distinct (canonical) architectures within the hard
  // limits, from the learned distribution.
  const std::vector<std::vector<double>> p = ToVectors(net->Probabilities());
  std::vector<RankedTokens> ranked =
      MostLikely(p, temporal != nullptr ? std::max(2000, d.k * 200) : std::max(200, d.k * 50));
  std::set<uint64_t> seen_hashes;
  json candidates = json::array();
  int infeasible = 0, duplicates = 0, invalid = 0;
  if (temporal != nullptr) {
    // Many token lists are one architecture (a none layer's other tokens,
    // where the none layers sit): each canonical architecture gets the sum
    // of its enumerated lists' probabilities (a lower bound of its exact
    // probability), most likely first. Lists the space refuses (a pool with
    // fewer than 2 time steps left) are dropped.
    std::map<uint64_t, size_t> group_of;
    std::vector<RankedTokens> groups;
    for (const RankedTokens& r : ranked) {
      if (!space->Validate(r.tokens).ok()) {
        ++invalid;
        continue;
      }
      const auto [it, added] = group_of.emplace(space->CanonicalHash(r.tokens), groups.size());
      if (added) {
        groups.push_back({space->Canonicalize(r.tokens), r.probability});
      } else {
        groups[it->second].probability += r.probability;
        ++duplicates;
      }
    }
    std::stable_sort(groups.begin(), groups.end(),
                     [](const auto& x, const auto& y) { return x.probability > y.probability; });
    ranked = std::move(groups);
  }
  for (const RankedTokens& r : ranked) {
    if (static_cast<int>(candidates.size()) >= d.k) break;
    if (!seen_hashes.insert(space->CanonicalHash(r.tokens)).second) {
      ++duplicates;
      continue;
    }
    absl::StatusOr<space::NetworkPlan> plan = space->Lower(r.tokens);
    if (!plan.ok()) return Fail(err, plan.status(), kExitTrialFailed);
    absl::StatusOr<TrialResult> estimate =
        targets->Estimate(ApplyHardwareOptions(*std::move(plan), wspec.hardware));
    if (!estimate.ok()) return Fail(err, estimate.status(), kExitTrialFailed);
    bool feasible = true;
    for (const auto& [key, value] : estimate->estimates) {
      if (key.rfind("feasible@", 0) == 0 && value == 0) feasible = false;
    }
    if (!feasible) {
      ++infeasible;
      continue;
    }
    candidates.push_back(CandidateJson(*space, r, *estimate, feasible));
  }
  json result{{"spec", search.name},
              {"space", space->name()},
              {"target", target},
              {"epochs", d.epochs},
              {"k", d.k},
              {"skipped_infeasible", infeasible},
              {"skipped_duplicates", duplicates},
              {"skipped_invalid", invalid},
              {"candidates", candidates}};
  json probs_json = json::array();
  for (size_t i = 0; i < p.size(); ++i) {
    probs_json.push_back(json{{"decision", space->decisions()[i].name}, {"p", p[i]}});
  }
  result["distribution"] = probs_json;
  const std::string result_text = result.dump(2) + "\n";
  if (absl::Status s = WriteAtomic(result_file, result_text); !s.ok()) {
    return Fail(err, s, kExitTrialFailed);
  }
  out << result_text;
  return kExitOk;
}

}  // namespace

std::vector<RankedTokens> MostLikely(const std::vector<std::vector<double>>& probabilities,
                                     int limit) {
  const size_t n = probabilities.size();
  // Per decision, choices sorted by probability, most likely first.
  std::vector<std::vector<int>> order(n);
  for (size_t d = 0; d < n; ++d) {
    order[d].resize(probabilities[d].size());
    for (size_t c = 0; c < order[d].size(); ++c) order[d][c] = static_cast<int>(c);
    std::stable_sort(order[d].begin(), order[d].end(),
                     [&](int a, int b) { return probabilities[d][a] > probabilities[d][b]; });
  }
  auto log_p = [&](size_t d, int rank) {
    return std::log(std::max(probabilities[d][order[d][rank]], 1e-300));
  };
  std::vector<RankedTokens> out;
  if (n == 0 || limit <= 0) return out;
  std::priority_queue<Node> heap;
  Node start{0, std::vector<int>(n, 0), 0};
  for (size_t d = 0; d < n; ++d) start.log_p += log_p(d, 0);
  heap.push(start);
  // Each rank vector has one parent (its last non-zero rank decremented), so
  // none is generated twice; ranks sorted by probability keep children no
  // more likely than their parent, so the heap pops in order.
  while (!heap.empty() && static_cast<int>(out.size()) < limit) {
    Node node = heap.top();
    heap.pop();
    RankedTokens r;
    for (size_t d = 0; d < n; ++d) r.tokens.push_back(order[d][node.ranks[d]]);
    r.probability = std::exp(node.log_p);
    out.push_back(std::move(r));
    for (size_t d = node.first; d < n; ++d) {
      if (node.ranks[d] + 1 >= static_cast<int>(order[d].size())) continue;
      Node child = node;
      child.log_p += log_p(d, node.ranks[d] + 1) - log_p(d, node.ranks[d]);
      ++child.ranks[d];
      child.first = static_cast<int>(d);
      heap.push(std::move(child));
    }
  }
  return out;
}

int RunDnas(const DnasCommandOptions& options, std::ostream& out, std::ostream& err) {
  try {
    return Run(options, out, err);
  } catch (const std::exception& e) {
    err << "error: dnas: " << ExceptionMessage(e) << "\n";
    return kExitTrialFailed;
  }
}

}  // namespace hwnas::worker::dnas

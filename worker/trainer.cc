// Training, evaluation and latency measurement with LibTorch. Every LibTorch
// exception is caught here and turned into a failed trial or a Status.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <numbers>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/stats.h"
#include "spdlog/spdlog.h"
#include "worker/plan_net.h"
#include "worker/trainer_internal.h"
#include "worker/trial_runner.h"

namespace hwnas::worker {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A view of a Dataset as tensors, without copying.
struct TensorData {
  torch::Tensor x;  // {N, ...sample_shape}
  torch::Tensor y;  // {N} int64
  int64_t size() const { return y.defined() ? y.size(0) : 0; }
};

TensorData AsTensors(const Dataset& d) {
  TensorData t;
  if (d.size() == 0) return t;
  std::vector<int64_t> shape = {d.size()};
  shape.insert(shape.end(), d.sample_shape.begin(), d.sample_shape.end());
  t.x = torch::from_blob(const_cast<float*>(d.features.data()), shape, torch::kFloat);
  t.y = torch::from_blob(const_cast<int64_t*>(d.labels.data()), {d.size()}, torch::kLong);
  return t;
}

struct EvalResult {
  double accuracy = 0;
  double loss = 0;
  std::vector<std::vector<int64_t>> confusion;  // Only when asked for.
};

EvalResult Evaluate(PlanNet& net, const TensorData& data, int batch_size, int num_classes = 0) {
  torch::NoGradGuard no_grad;
  net->eval();
  double loss_sum = 0;
  int64_t correct = 0;
  EvalResult r;
  if (num_classes > 0) r.confusion.assign(num_classes, std::vector<int64_t>(num_classes, 0));
  for (int64_t start = 0; start < data.size(); start += batch_size) {
    const int64_t end = std::min<int64_t>(start + batch_size, data.size());
    torch::Tensor logits = net->forward(data.x.slice(0, start, end));
    torch::Tensor y = data.y.slice(0, start, end);
    loss_sum += torch::cross_entropy_loss(logits, y, {}, at::Reduction::Sum).item<double>();
    torch::Tensor predicted = logits.argmax(1);
    correct += predicted.eq(y).sum().item<int64_t>();
    if (num_classes > 0) {
      const torch::Tensor p = predicted.contiguous();
      const int64_t* pp = p.data_ptr<int64_t>();
      const int64_t* yy = y.data_ptr<int64_t>();
      for (int64_t i = 0; i < end - start; ++i) {
        if (yy[i] >= 0 && yy[i] < num_classes && pp[i] >= 0 && pp[i] < num_classes) {
          ++r.confusion[yy[i]][pp[i]];
        }
      }
    }
  }
  if (data.size() > 0) {
    r.accuracy = static_cast<double>(correct) / data.size();
    r.loss = loss_sum / data.size();
  }
  return r;
}

double LearningRate(const TrainingOptions& o, int epoch, int64_t step, int64_t total_steps) {
  switch (o.schedule) {
    case LrSchedule::kConstant:
      return o.lr;
    case LrSchedule::kStep:
      return o.lr * std::pow(o.gamma, epoch / o.step_epochs);
    case LrSchedule::kCosine:
      return 0.5 * o.lr *
             (1 + std::cos(std::numbers::pi * static_cast<double>(step) /
                           static_cast<double>(std::max<int64_t>(total_steps, 1))));
  }
  return o.lr;
}

void SetLearningRate(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(PlanNet& net, const TrainingOptions& o) {
  if (o.optimizer == OptimizerKind::kAdam) {
    return std::make_unique<torch::optim::Adam>(
        net->parameters(), torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  }
  return std::make_unique<torch::optim::SGD>(net->parameters(),
                                             torch::optim::SGDOptions(o.lr)
                                                 .momentum(o.momentum)
                                                 .nesterov(o.nesterov && o.momentum > 0)
                                                 .weight_decay(o.weight_decay));
}

// A rung checkpoint: magic, epochs done, payload size, FNV-1a 64 of the
// payload, then the payload (a LibTorch archive with the network's
// parameters and buffers under "model" and the optimizer's state under
// "optimizer"). The checksum tells a corrupt or truncated file from a good
// one before LibTorch parses anything.
constexpr char kCheckpointMagic[8] = {'H', 'W', 'N', 'A', 'S', 'C', 'K', '1'};
constexpr size_t kCheckpointHeader = 8 + 4 + 8 + 8;

uint64_t Fnv1a64(absl::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

template <typename T>
void PutLe(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

template <typename T>
T GetLe(absl::string_view in, size_t at) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    v |= static_cast<T>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  }
  return v;
}

// Every parameter's and buffer's name and shape: LibTorch's Module::load
// replaces a tensor by name without comparing shapes, so a checkpoint of
// another network is told apart by this before anything is loaded.
std::string Signature(PlanNet& net) {
  std::string out;
  auto add = [&out](const std::string& name, const torch::Tensor& t) {
    absl::StrAppend(&out, name, "[");
    for (int64_t d : t.sizes()) absl::StrAppend(&out, d, ",");
    absl::StrAppend(&out, "];");
  };
  for (const auto& p : net->named_parameters()) add(p.key(), p.value());
  for (const auto& b : net->named_buffers()) add(b.key(), b.value());
  return out;
}

std::string SaveCheckpoint(PlanNet& net, torch::optim::Optimizer& optimizer, int epochs_done) {
  torch::serialize::OutputArchive archive;
  archive.write("signature", c10::IValue(Signature(net)));
  torch::serialize::OutputArchive model;
  net->save(model);
  archive.write("model", model);
  torch::serialize::OutputArchive opt;
  optimizer.save(opt);
  archive.write("optimizer", opt);
  std::ostringstream payload;
  archive.save_to(payload);
  const std::string body = payload.str();
  std::string out(kCheckpointMagic, sizeof(kCheckpointMagic));
  PutLe<uint32_t>(out, static_cast<uint32_t>(epochs_done));
  PutLe<uint64_t>(out, body.size());
  PutLe<uint64_t>(out, Fnv1a64(body));
  out += body;
  return out;
}

// Loads a checkpoint into `net` and `optimizer`; returns the epochs it had
// done. On an error the two may be partly overwritten: the caller starts
// over with new ones.
absl::StatusOr<int> LoadCheckpoint(absl::string_view bytes, PlanNet& net,
                                   torch::optim::Optimizer& optimizer, int epochs) {
  if (bytes.size() < kCheckpointHeader ||
      bytes.substr(0, sizeof(kCheckpointMagic)) !=
          absl::string_view(kCheckpointMagic, sizeof(kCheckpointMagic))) {
    return absl::DataLossError(
        absl::StrCat("not a checkpoint (", bytes.size(), " bytes, no HWNASCK1 header)"));
  }
  const uint32_t done = GetLe<uint32_t>(bytes, 8);
  const uint64_t size = GetLe<uint64_t>(bytes, 12);
  const uint64_t sum = GetLe<uint64_t>(bytes, 20);
  const absl::string_view body = bytes.substr(kCheckpointHeader);
  if (body.size() != size) {
    return absl::DataLossError(
        absl::StrCat("checkpoint is truncated: ", body.size(), " of ", size, " payload bytes"));
  }
  if (Fnv1a64(body) != sum) return absl::DataLossError("checkpoint checksum does not match");
  if (done < 1 || static_cast<int>(done) > epochs) {
    return absl::DataLossError(
        absl::StrCat("checkpoint says ", done, " epochs were done, of a schedule of ", epochs));
  }
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(body.data(), body.size());
    c10::IValue signature;
    if (!archive.try_read("signature", signature) || !signature.isString() ||
        signature.toStringRef() != Signature(net)) {
      return absl::DataLossError(
          "checkpoint is for another network: its parameters do not match this one's");
    }
    torch::serialize::InputArchive model;
    archive.read("model", model);
    net->load(model);
    torch::serialize::InputArchive opt;
    archive.read("optimizer", opt);
    optimizer.load(opt);
  } catch (const std::exception& e) {
    return absl::DataLossError(
        absl::StrCat("checkpoint does not load into this network: ", ExceptionMessage(e)));
  }
  return static_cast<int>(done);
}

// Trains `net` in place from epoch `start_epoch` (epochs before it were
// done by an earlier rung) up to `end_epoch`, on a schedule of o.epochs.
// Returns the final state; on failure sets `error`.
TrialState Train(PlanNet& net, torch::optim::Optimizer& opt, const TensorData& train,
                 const TensorData& val, const TrainingOptions& o, int start_epoch, int end_epoch,
                 const ProgressCallback& progress, const InterruptFlag* interrupt,
                 Clock::time_point start, std::vector<EpochMetrics>& history, std::string& error) {
  torch::optim::Optimizer* optimizer = &opt;
  const int64_t n = train.size();
  // A final batch of one sample would break batch norm in training mode.
  int64_t batches = n / o.batch_size + (n % o.batch_size > 1 ? 1 : 0);
  if (batches == 0) batches = 1;
  const int64_t total_steps = batches * o.epochs;
  int64_t step = batches * start_epoch;
  std::mt19937_64 rng(o.seed ^ 0x5eed5eedULL);
  std::vector<int64_t> order(n);
  for (int epoch = 0; epoch < end_epoch; ++epoch) {
    // The batch order of every epoch comes from one generator: a resumed
    // trial replays the shuffles of the epochs it skips, so its epochs see
    // the orders they would have seen in one uninterrupted run.
    for (int64_t i = 0; i < n; ++i) order[i] = i;
    for (int64_t i = n - 1; i > 0; --i) {
      std::swap(order[i], order[static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1))]);
    }
    if (epoch < start_epoch) continue;
    const auto epoch_start = Clock::now();
    net->train();
    torch::Tensor perm = torch::from_blob(order.data(), {n}, torch::kLong);
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    double lr = o.lr;
    for (int64_t b = 0; b < batches; ++b) {
      if (interrupt != nullptr && interrupt->load()) {
        error = absl::StrCat("training interrupted at epoch ", epoch + 1, ", batch ", b + 1, " of ",
                             batches, " (worker stopping, or the trial was cancelled)");
        return TrialState::kCancelled;
      }
      const int64_t lo = b * o.batch_size;
      const int64_t hi = std::min<int64_t>(lo + o.batch_size, n);
      torch::Tensor idx = perm.slice(0, lo, hi);
      torch::Tensor x = train.x.index_select(0, idx);
      torch::Tensor y = train.y.index_select(0, idx);
      lr = LearningRate(o, epoch, step, total_steps);
      SetLearningRate(*optimizer, lr);
      // Drop the gradients instead of zeroing them: backward then hands each
      // parameter a fresh gradient tensor rather than adding into a zeroed one
      // (what PyTorch 2's zero_grad does by default).
      for (torch::Tensor& p : net->parameters()) p.mutable_grad() = torch::Tensor();
      torch::Tensor logits = net->forward(x);
      torch::Tensor loss = torch::cross_entropy_loss(logits, y);
      const double loss_value = loss.item<double>();
      if (!std::isfinite(loss_value)) {
        error = absl::StrCat("training loss became ", loss_value, " at epoch ", epoch + 1,
                             ", batch ", b + 1, " (lr ", lr, "; try a lower training.lr)");
        return TrialState::kFailed;
      }
      loss.backward();
      if (o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(net->parameters(), o.grad_clip);
      optimizer->step();
      ++step;
      loss_sum += loss_value * (hi - lo);
      {
        torch::NoGradGuard no_grad;
        correct += logits.argmax(1).eq(y).sum().item<int64_t>();
      }
      seen += hi - lo;
      if (o.time_limit_s > 0 && SecondsSince(start) > o.time_limit_s) {
        error = absl::StrCat("training.time_limit_s: the trial ran past its ", o.time_limit_s,
                             " s wall-clock limit in epoch ", epoch + 1, " of ", o.epochs,
                             " (batch ", b + 1, " of ", batches, ")");
        return TrialState::kFailed;
      }
    }
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.values["train_loss"] = loss_sum / std::max<int64_t>(seen, 1);
    m.values["train_accuracy"] = static_cast<double>(correct) / std::max<int64_t>(seen, 1);
    m.values["lr"] = lr;
    if (val.size() > 0) {
      EvalResult v = Evaluate(net, val, o.eval_batch_size);
      m.values["val_accuracy"] = v.accuracy;
      m.values["val_loss"] = v.loss;
    }
    const double epoch_seconds = SecondsSince(epoch_start);
    m.values["epoch_seconds"] = epoch_seconds;
    m.values["samples_per_s"] = seen / std::max(epoch_seconds, 1e-9);
    history.push_back(m);
    spdlog::debug("event=epoch_done epoch={} train_loss={:.4f} val_accuracy={:.4f} seconds={:.2f}",
                  m.epoch, m.values["train_loss"],
                  m.values.count("val_accuracy") ? m.values["val_accuracy"] : -1.0, epoch_seconds);
    if (progress && progress(m) == ProgressDecision::kStop) return TrialState::kEarlyStopped;
  }
  return TrialState::kSucceeded;
}

// Median latency with a stopping rule: after min_runs, stop once the robust
// standard error of the median (1.2533 * 1.4826 * MAD / sqrt(n)) is below
// target_rel_error of the median.
LatencyMeasurement TimeModule(PlanNet& net, const space::Shape& input_shape,
                              const LatencyOptions& o) {
  torch::NoGradGuard no_grad;
  net->eval();
  const int previous_threads = torch::get_num_threads();
  torch::set_num_threads(o.threads);
  std::vector<int64_t> shape = {1};
  shape.insert(shape.end(), input_shape.begin(), input_shape.end());
  torch::Tensor x = torch::randn(shape);
  for (int i = 0; i < o.warmup; ++i) net->forward(x);
  std::vector<double> times;
  const auto start = Clock::now();
  while (static_cast<int>(times.size()) < o.max_runs) {
    const auto t0 = Clock::now();
    torch::Tensor out = net->forward(x);
    times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    const int n = static_cast<int>(times.size());
    if (n >= o.min_runs && n % 10 == 0) {
      if (SecondsSince(start) > o.budget_s) break;
      const double median = Median(times);
      std::vector<double> dev;
      dev.reserve(n);
      for (double t : times) dev.push_back(std::abs(t - median));
      const double se = 1.2533 * 1.4826 * Median(dev) / std::sqrt(static_cast<double>(n));
      if (se <= o.target_rel_error * median) break;
    }
  }
  torch::set_num_threads(previous_threads);
  LatencyMeasurement m;
  m.median_ms = Median(times);
  m.p90_ms = NearestRankQuantile(times, 0.9);
  m.runs = static_cast<int>(times.size());
  m.threads = o.threads;
  m.device = HostDeviceName();
  return m;
}

}  // namespace

std::string HostDeviceName() {
  static const std::string name = [] {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
      if (absl::StartsWith(line, "model name")) {
        const size_t colon = line.find(':');
        if (colon != std::string::npos) {
          return absl::StrCat(
#if defined(__x86_64__)
              "x86_64",
#elif defined(__aarch64__)
              "aarch64",
#else
              "unknown",
#endif
              " cpu: ", absl::StripAsciiWhitespace(absl::string_view(line).substr(colon + 1)));
        }
      }
    }
    return std::string("cpu");
  }();
  return name;
}

namespace internal {

TrialOutcome TrainEvaluateMeasure(const space::NetworkPlan& plan, const DataSplits& data,
                                  const TrainingOptions& o, const LatencyOptions* latency,
                                  const ProgressCallback& progress,
                                  const TrainedNetHook& on_trained, const InterruptFlag* interrupt,
                                  RungRun* rung) {
  TrialOutcome out;
  const auto start = Clock::now();
  const int previous_threads = torch::get_num_threads();
  try {
    torch::manual_seed(o.seed);
    torch::set_num_threads(o.threads);
    absl::StatusOr<PlanNet> built = BuildPlanNet(plan);
    if (!built.ok()) {
      out.result.error = std::string(built.status().message());
      return out;
    }
    PlanNet net = *std::move(built);
    std::unique_ptr<torch::optim::Optimizer> optimizer = MakeOptimizer(net, o);
    int start_epoch = 0;
    if (rung != nullptr && !rung->resume_from.empty()) {
      absl::StatusOr<int> resumed = LoadCheckpoint(rung->resume_from, net, *optimizer, o.epochs);
      if (resumed.ok()) {
        start_epoch = *resumed;
        rung->note = absl::StrCat("resumed from its checkpoint after epoch ", start_epoch);
      } else {
        // A fresh network, exactly as if there had been no checkpoint.
        rung->note = absl::StrCat("checkpoint not used (", resumed.status().message(),
                                  "): trained from scratch");
        torch::manual_seed(o.seed);
        absl::StatusOr<PlanNet> rebuilt = BuildPlanNet(plan);
        if (!rebuilt.ok()) {
          out.result.error = std::string(rebuilt.status().message());
          return out;
        }
        net = *std::move(rebuilt);
        optimizer = MakeOptimizer(net, o);
      }
    }
    const int end_epoch = rung != nullptr && rung->epoch_target > 0
                              ? std::min(rung->epoch_target, o.epochs)
                              : o.epochs;
    const TensorData train = AsTensors(data.train);
    const TensorData val = AsTensors(data.val);
    const TensorData test = AsTensors(data.test);
    if (train.size() == 0) {
      out.result.error = "the training split is empty";
      return out;
    }
    std::string error;
    out.state = Train(net, *optimizer, train, val, o, start_epoch, std::max(end_epoch, start_epoch),
                      progress, interrupt, start, out.history, error);
    // Epochs the network has been trained for, earlier rungs included.
    out.result.epochs = start_epoch + static_cast<int>(out.history.size());
    if (rung != nullptr && rung->checkpoint_out != nullptr && out.state == TrialState::kSucceeded) {
      *rung->checkpoint_out = SaveCheckpoint(net, *optimizer, out.result.epochs);
    }
    out.result.train_seconds = SecondsSince(start);
    if (out.state == TrialState::kFailed || out.state == TrialState::kCancelled) {
      out.result.error = error;
      torch::set_num_threads(previous_threads);
      return out;
    }
    net->FreezeQuantization();
    const TensorData& held_out = (o.eval_split == EvalSplit::kTest || val.size() == 0) ? test : val;
    if (held_out.size() == 0) {
      out.state = TrialState::kFailed;
      out.result.error =
          "no held-out samples to evaluate on (validation and test splits are empty)";
      torch::set_num_threads(previous_threads);
      return out;
    }
    const int num_classes = std::max(data.train.num_classes, 1);
    EvalResult r = Evaluate(net, held_out, o.eval_batch_size, num_classes);
    out.result.accuracy = r.accuracy;
    out.result.loss = r.loss;
    out.confusion = std::move(r.confusion);
    if (!std::isfinite(r.loss)) {
      out.state = TrialState::kFailed;
      out.result.error = absl::StrCat("evaluation loss is ", r.loss);
    } else if (latency != nullptr) {
      out.result.latency = TimeModule(net, plan.input_shape(), *latency);
    }
    if (on_trained && out.state != TrialState::kFailed) on_trained(net);
  } catch (const std::exception& e) {
    out.state = TrialState::kFailed;
    out.result.error = absl::StrCat("LibTorch error: ", ExceptionMessage(e));
    out.result.train_seconds = SecondsSince(start);
  }
  torch::set_num_threads(previous_threads);
  return out;
}

}  // namespace internal

TrialOutcome TrainAndEvaluate(const space::NetworkPlan& plan, const DataSplits& data,
                              const TrainingOptions& options, const ProgressCallback& progress,
                              const InterruptFlag* interrupt) {
  return internal::TrainEvaluateMeasure(plan, data, options, nullptr, progress, nullptr, interrupt);
}

absl::StatusOr<LatencyMeasurement> MeasureLatency(const space::NetworkPlan& plan,
                                                  const LatencyOptions& options) {
  try {
    absl::StatusOr<PlanNet> net = BuildPlanNet(plan);
    if (!net.ok()) return net.status();
    (*net)->FreezeQuantization();
    return TimeModule(*net, plan.input_shape(), options);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("latency measurement failed: ", ExceptionMessage(e)));
  }
}

LatencyOptions LatencyOptionsFrom(const HardwareOptions& h) {
  LatencyOptions o;
  o.warmup = h.latency_warmup;
  o.min_runs = h.latency_min_runs;
  o.max_runs = h.latency_max_runs;
  o.threads = h.latency_threads;
  o.budget_s = h.latency_budget_s;
  return o;
}

}  // namespace hwnas::worker

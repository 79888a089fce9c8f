#include "worker/calibrate.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/stats.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"
#include "worker/op_profile.h"

namespace hwnas::worker {
namespace {

// A network holding just `lut_op`: the input, zero tensors for secondary
// inputs of other shapes (a gate), then the op.
space::NetworkPlan SingleOpPlan(const hardware::LutOp& lut_op) {
  space::NetworkPlan plan;
  space::Op input;
  input.type = space::OpType::kInput;
  input.name = "input";
  input.output_shape = lut_op.input_shape.empty() ? lut_op.op.output_shape : lut_op.input_shape;
  plan.ops.push_back(input);
  space::Op op = lut_op.op;
  op.inputs.clear();
  if (!lut_op.input_shape.empty()) op.inputs.push_back(0);
  for (const space::Shape& extra : lut_op.extra_input_shapes) {
    if (extra == plan.ops[0].output_shape) {
      op.inputs.push_back(0);
      continue;
    }
    space::Op zero;
    zero.type = space::OpType::kZero;
    zero.name = "gate";
    zero.output_shape = extra;
    plan.ops.push_back(zero);
    op.inputs.push_back(static_cast<int>(plan.ops.size()) - 1);
  }
  plan.ops.push_back(op);
  plan.output = static_cast<int>(plan.ops.size()) - 1;
  return plan;
}

// The cheapest network: the input passed through an identity activation.
space::NetworkPlan EmptyPlan(const space::Shape& shape) {
  space::NetworkPlan plan;
  space::Op input;
  input.type = space::OpType::kInput;
  input.output_shape = shape;
  plan.ops.push_back(input);
  space::Op id;
  id.type = space::OpType::kActivation;
  id.activation = space::Activation::kIdentity;
  id.inputs = {0};
  id.output_shape = shape;
  plan.ops.push_back(id);
  plan.output = 1;
  return plan;
}

std::vector<double> Ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  for (size_t i = 0; i < v.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> ranks(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double r = 0.5 * (i + j) + 1;
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = r;
    i = j + 1;
  }
  return ranks;
}

}  // namespace

double SpearmanCorrelation(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || a.size() < 2) return 0;
  const std::vector<double> ra = Ranks(a), rb = Ranks(b);
  const double n = static_cast<double>(a.size());
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ma += ra[i] / n;
    mb += rb[i] / n;
  }
  double cov = 0, va = 0, vb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    cov += (ra[i] - ma) * (rb[i] - mb);
    va += (ra[i] - ma) * (ra[i] - ma);
    vb += (rb[i] - mb) * (rb[i] - mb);
  }
  return va > 0 && vb > 0 ? cov / std::sqrt(va * vb) : 0;
}

absl::StatusOr<std::vector<int>> RandomTokens(const space::SearchSpace& space,
                                              std::mt19937_64& rng) {
  const std::vector<space::Decision>& ds = space.decisions();
  std::vector<int> tokens(ds.size());
  for (int attempt = 0; attempt < 1000; ++attempt) {
    for (size_t i = 0; i < ds.size(); ++i) {
      tokens[i] = static_cast<int>(rng() % ds[i].choices.size());
    }
    if (space.Validate(tokens).ok()) return tokens;
  }
  return absl::FailedPreconditionError(
      absl::StrCat("space ", space.name(), ": 1000 random token lists in a row were invalid"));
}

std::vector<hardware::LutOp> CollectSpaceOps(const space::SearchSpace& space,
                                             const CalibrateOptions& options,
                                             int* architectures_seen) {
  std::vector<hardware::LutOp> ops;
  std::set<std::string> keys;
  int seen = 0;
  auto add_plan = [&](const std::vector<int>& tokens) {
    absl::StatusOr<space::NetworkPlan> plan = space.Lower(tokens);
    if (!plan.ok()) return;
    ++seen;
    for (hardware::LutOp& op : hardware::CollectLutOps(*plan)) {
      if (keys.insert(op.key).second) ops.push_back(std::move(op));
    }
  };
  const uint64_t cardinality = space.Cardinality();
  if (cardinality <= options.enumerate_limit) {
    const std::vector<space::Decision>& ds = space.decisions();
    std::vector<int> tokens(ds.size(), 0);
    for (uint64_t n = 0; n < cardinality; ++n) {
      if (space.Validate(tokens).ok()) add_plan(tokens);
      for (size_t i = 0; i < ds.size(); ++i) {  // Odometer increment.
        if (++tokens[i] < static_cast<int>(ds[i].choices.size())) break;
        tokens[i] = 0;
      }
    }
  } else {
    std::mt19937_64 rng(options.seed);
    for (int i = 0; i < options.samples; ++i) {
      absl::StatusOr<std::vector<int>> tokens = RandomTokens(space, rng);
      if (!tokens.ok()) break;
      add_plan(*tokens);
    }
  }
  if (architectures_seen != nullptr) *architectures_seen = seen;
  return ops;
}

absl::StatusOr<hardware::LatencyLut> CalibrateLut(const space::SearchSpace& space,
                                                  const CalibrateOptions& options) {
  int seen = 0;
  std::vector<hardware::LutOp> ops = CollectSpaceOps(space, options, &seen);
  if (ops.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("space ", space.name(), ": no architecture could be lowered"));
  }
  spdlog::info("event=calibrate_start space={} architectures={} entries={}",
               std::string(space.name()), seen, ops.size());
  hardware::LatencyLut lut;
  lut.device = HostDeviceName();
  lut.threads = options.latency.threads;

  // In-context samples per key from whole random networks.
  std::map<std::string, std::vector<double>> in_context;
  std::vector<double> overheads;
  std::vector<space::NetworkPlan> fit_plans;
  std::mt19937_64 rng(options.seed ^ 0x9e3779b97f4a7c15ULL);
  for (int a = 0; a < options.profile_archs; ++a) {
    HWNAS_ASSIGN_OR_RETURN(std::vector<int> tokens, RandomTokens(space, rng));
    HWNAS_ASSIGN_OR_RETURN(space::NetworkPlan plan, space.Lower(tokens));
    HWNAS_ASSIGN_OR_RETURN(OpProfile profile,
                           ProfileOps(plan, 3, options.profile_runs, options.latency.threads));
    for (size_t i = 1; i < plan.ops.size(); ++i) {
      const space::Op& op = plan.ops[i];
      const space::Shape& in =
          op.inputs.empty() ? op.output_shape : plan.ops[op.inputs[0]].output_shape;
      const std::string key = hardware::LutKey(op, in);
      if (!key.empty()) in_context[key].push_back(profile.op_ms[i]);
    }
    overheads.push_back(profile.overhead_ms);
    if (a < options.fit_archs) fit_plans.push_back(std::move(plan));
    if (options.progress && (a + 1) % 25 == 0) {
      options.progress(a + 1, options.profile_archs, "(profiled whole networks)");
    }
  }

  // Ops no profiled network used are measured alone, minus an empty network.
  HWNAS_ASSIGN_OR_RETURN(
      LatencyMeasurement base,
      MeasureLatency(EmptyPlan(space.data_shape().input_shape), options.latency));
  lut.base_ms = overheads.empty() ? base.median_ms : Median(overheads);
  int alone = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    hardware::LutEntry e;
    auto it = in_context.find(ops[i].key);
    if (it != in_context.end()) {
      std::vector<double> v = it->second;
      e.median_ms = Median(v);
      std::sort(v.begin(), v.end());
      e.p90_ms = v[std::min(v.size() - 1, static_cast<size_t>(0.9 * v.size()))];
      e.runs = static_cast<int>(v.size()) * options.profile_runs;
    } else {
      absl::StatusOr<LatencyMeasurement> m = MeasureLatency(SingleOpPlan(ops[i]), options.latency);
      if (!m.ok()) {
        return absl::Status(m.status().code(),
                            absl::StrCat("measuring '", ops[i].key, "': ", m.status().message()));
      }
      e.median_ms = std::max(0.0, m->median_ms - base.median_ms);
      e.p90_ms = std::max(0.0, m->p90_ms - base.median_ms);
      e.runs = m->runs;
      ++alone;
    }
    lut.entries[ops[i].key] = e;
    if (options.progress) {
      options.progress(static_cast<int>(i) + 1, static_cast<int>(ops.size()), ops[i].key);
    }
  }
  std::vector<double> ratios;
  for (size_t i = 0; i < fit_plans.size(); ++i) {
    HWNAS_ASSIGN_OR_RETURN(double predicted, hardware::PredictLatencyMs(fit_plans[i], lut));
    HWNAS_ASSIGN_OR_RETURN(LatencyMeasurement m, MeasureLatency(fit_plans[i], options.latency));
    if (predicted > 0) ratios.push_back(m.median_ms / predicted);
    if (options.progress) {
      options.progress(static_cast<int>(i) + 1, static_cast<int>(fit_plans.size()),
                       "(whole networks for the scale)");
    }
  }
  if (!ratios.empty()) lut.scale = Median(ratios);
  spdlog::info("event=calibrate_done entries={} in_context={} alone={} base_ms={:.5f} scale={:.4f}",
               lut.entries.size(), lut.entries.size() - alone, alone, lut.base_ms, lut.scale);
  return lut;
}

absl::StatusOr<LutCheck> CheckLut(const space::SearchSpace& space, const hardware::LatencyLut& lut,
                                  int architectures, uint64_t seed, const LatencyOptions& latency,
                                  const std::function<void(int, int)>& progress) {
  LutCheck check;
  std::mt19937_64 rng(seed);
  std::vector<double> pred, meas;
  int within10 = 0, within20 = 0;
  double abs_err = 0;
  for (int i = 0; i < architectures; ++i) {
    HWNAS_ASSIGN_OR_RETURN(std::vector<int> tokens, RandomTokens(space, rng));
    HWNAS_ASSIGN_OR_RETURN(space::NetworkPlan plan, space.Lower(tokens));
    HWNAS_ASSIGN_OR_RETURN(double p, hardware::PredictLatencyMs(plan, lut));
    HWNAS_ASSIGN_OR_RETURN(LatencyMeasurement m, MeasureLatency(plan, latency));
    LutCheck::Sample s;
    s.arch = space.Readable(tokens);
    s.predicted_ms = p;
    s.measured_ms = m.median_ms;
    const double rel = std::abs(p / m.median_ms - 1);
    within10 += rel <= 0.10;
    within20 += rel <= 0.20;
    abs_err += rel;
    pred.push_back(p);
    meas.push_back(m.median_ms);
    check.samples.push_back(std::move(s));
    if (progress) progress(i + 1, architectures);
  }
  if (architectures > 0) {
    check.within_10pct = static_cast<double>(within10) / architectures;
    check.within_20pct = static_cast<double>(within20) / architectures;
    check.mean_abs_rel_error = abs_err / architectures;
  }
  check.spearman = SpearmanCorrelation(pred, meas);
  return check;
}

}  // namespace hwnas::worker

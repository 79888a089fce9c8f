#include "worker/mcu_calibrate.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "hardware/costs.h"
#include "hardware/latency_lut.h"
#include "mcu/codegen.h"
#include "mcu/firmware.h"
#include "spec/worker_spec.h"
#include "worker/calibrate.h"

namespace hwnas::worker {
namespace {

using space::OpType;

mcu::ParamArray Normal(std::mt19937_64& rng, int64_t n, double mean, double stddev) {
  std::normal_distribution<float> d(static_cast<float>(mean), static_cast<float>(stddev));
  mcu::ParamArray a;
  a.shape = {n};
  a.values.resize(static_cast<size_t>(n));
  for (float& v : a.values) v = d(rng);
  return a;
}

// A profile whose estimate of a plan is exactly one of its cost terms.
hardware::McuProfile UnitProfile(int feature) {
  hardware::McuProfile p;
  p.name = "unit";
  p.clock_mhz = 1;
  p.sram_bytes = p.flash_bytes = int64_t{1} << 40;
  for (hardware::CyclesPerMac* t : {&p.float32, &p.int8, &p.int4}) *t = {0, 0, 0, 0};
  p.cycles_per_element = p.cycles_per_nonlinear_element = 0;
  hardware::CyclesPerMac& table = feature < 4 ? p.int8 : p.int4;
  switch (feature) {
    case 0:
    case 4:
      table.conv = 1;
      break;
    case 1:
    case 5:
      table.depthwise = 1;
      break;
    case 2:
    case 6:
      table.linear = 1;
      break;
    case 3:
    case 7:
      table.recurrent = 1;
      break;
    case 8:
      p.cycles_per_element = 1;
      break;
    case 9:
      p.cycles_per_nonlinear_element = 1;
      break;
    case 10:
      p.memory_cycles_per_byte = 1;
      break;
    case 11:
      p.op_overhead_cycles = 1;
      break;
  }
  return p;
}

double* Coefficient(hardware::McuProfile& p, int feature) {
  hardware::CyclesPerMac& table = feature < 4 ? p.int8 : p.int4;
  switch (feature) {
    case 0:
    case 4:
      return &table.conv;
    case 1:
    case 5:
      return &table.depthwise;
    case 2:
    case 6:
      return &table.linear;
    case 3:
    case 7:
      return &table.recurrent;
    case 8:
      return &p.cycles_per_element;
    case 9:
      return &p.cycles_per_nonlinear_element;
    case 10:
      return &p.memory_cycles_per_byte;
    default:
      return &p.op_overhead_cycles;
  }
}

// Solves A x = b (n x n, row-major) by Gaussian elimination with partial
// pivoting; false when singular.
bool Solve(std::vector<double> a, std::vector<double> b, int n, std::vector<double>& x) {
  for (int c = 0; c < n; ++c) {
    int pivot = c;
    for (int r = c + 1; r < n; ++r) {
      if (std::abs(a[r * n + c]) > std::abs(a[pivot * n + c])) pivot = r;
    }
    if (std::abs(a[pivot * n + c]) < 1e-12) return false;
    for (int k = 0; k < n; ++k) std::swap(a[c * n + k], a[pivot * n + k]);
    std::swap(b[c], b[pivot]);
    for (int r = c + 1; r < n; ++r) {
      const double f = a[r * n + c] / a[c * n + c];
      for (int k = c; k < n; ++k) a[r * n + k] -= f * a[c * n + k];
      b[r] -= f * b[c];
    }
  }
  x.assign(n, 0);
  for (int c = n - 1; c >= 0; --c) {
    double s = b[c];
    for (int k = c + 1; k < n; ++k) s -= a[c * n + k] * x[k];
    x[c] = s / a[c * n + c];
  }
  return true;
}

// Weighted least squares with non-negative coefficients: minimizes
// sum_i ((rows[i] . x - y[i]) / w[i])^2 over the columns in `active`
// (columns scaled to unit norm for conditioning); the most negative
// coefficient leaves the set until none is negative. Returns `k` values.
std::vector<double> NonNegativeFit(const std::vector<std::vector<double>>& rows,
                                   const std::vector<double>& y, const std::vector<double>& w,
                                   std::vector<int> active, size_t k) {
  const size_t m = rows.size();
  std::vector<double> coef(k, 0.0);
  while (!active.empty()) {
    const int n = static_cast<int>(active.size());
    std::vector<double> norm(n, 0.0);
    for (size_t i = 0; i < m; ++i) {
      for (int j = 0; j < n; ++j) norm[j] += std::pow(rows[i][active[j]] / w[i], 2);
    }
    for (double& v : norm) v = std::sqrt(std::max(v, 1e-300));
    std::vector<double> ata(n * n, 0.0), atb(n, 0.0);
    for (size_t i = 0; i < m; ++i) {
      for (int j = 0; j < n; ++j) {
        const double aj = rows[i][active[j]] / w[i] / norm[j];
        atb[j] += aj * y[i] / w[i];
        for (int c = 0; c < n; ++c) ata[j * n + c] += aj * rows[i][active[c]] / w[i] / norm[c];
      }
    }
    // A tiny ridge: columns that are linear combinations of others on these
    // samples (a kernel linked exactly when another is not, a call count
    // equal to another's plus one) share their weight instead of making the
    // system singular; on unit-norm columns it changes nothing else.
    for (int j = 0; j < n; ++j) ata[j * n + j] += 1e-9;
    std::vector<double> x;
    if (!Solve(ata, atb, n, x)) {
      active.pop_back();  // Still singular: drop the last (least specific) term.
      continue;
    }
    int worst = -1;
    for (int j = 0; j < n; ++j) {
      x[j] /= norm[j];
      if (x[j] < 0 && (worst < 0 || x[j] < x[worst])) worst = j;
    }
    if (worst < 0) {
      for (int j = 0; j < n; ++j) coef[active[j]] = x[j];
      return coef;
    }
    active.erase(active.begin() + worst);
  }
  return coef;
}

// The columns some row has non-zero, without one equal to an earlier
// column (a kernel every network links is the constant term).
std::vector<int> DistinctActiveColumns(const std::vector<std::vector<double>>& rows, size_t k) {
  std::vector<int> active;
  for (size_t j = 0; j < k; ++j) {
    bool any = false;
    for (const auto& r : rows) any = any || r[j] != 0;
    if (!any) continue;
    bool duplicate = false;
    for (int a : active) {
      bool same = true;
      for (const auto& r : rows) same = same && r[a] == r[j];
      duplicate = duplicate || same;
    }
    if (!duplicate) active.push_back(static_cast<int>(j));
  }
  return active;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t k = v.size() / 2;
  return v.size() % 2 ? v[k] : 0.5 * (v[k - 1] + v[k]);
}

McuAgreement::Metric Agreement(const std::vector<double>& predicted,
                               const std::vector<double>& measured) {
  McuAgreement::Metric m;
  m.count = static_cast<int>(measured.size());
  if (measured.empty()) return m;
  for (size_t i = 0; i < measured.size(); ++i) {
    const double rel = std::abs(predicted[i] / std::max(measured[i], 1.0) - 1);
    m.mean_error += rel / static_cast<double>(measured.size());
    m.max_error = std::max(m.max_error, rel);
    m.within_10pct += rel <= 0.10 ? 1 : 0;
    m.within_20pct += rel <= 0.20 ? 1 : 0;
    m.within_2pct += rel <= 0.02 ? 1 : 0;
  }
  m.within_2pct /= static_cast<double>(measured.size());
  m.within_10pct /= static_cast<double>(measured.size());
  m.within_20pct /= static_cast<double>(measured.size());
  m.spearman = SpearmanCorrelation(predicted, measured);
  return m;
}

}  // namespace

mcu::ParamMap RandomPlanParams(const space::NetworkPlan& plan, uint64_t seed) {
  std::mt19937_64 rng(seed);
  mcu::ParamMap params;
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const space::Op& op = plan.ops[i];
    const std::string p = absl::StrCat("op", i, "_");
    switch (op.type) {
      case OpType::kConv: {
        const int64_t fan_in = op.in_channels / op.groups * op.kernel_h * op.kernel_w;
        params[p + "weight"] =
            Normal(rng, op.out_channels * fan_in, 0, std::sqrt(2.0 / static_cast<double>(fan_in)));
        if (op.bias) params[p + "bias"] = Normal(rng, op.out_channels, 0, 0.1);
        break;
      }
      case OpType::kLinear:
        params[p + "weight"] =
            Normal(rng, op.out_channels * op.in_channels, 0,
                   std::sqrt(1.0 / static_cast<double>(std::max<int64_t>(op.in_channels, 1))));
        if (op.bias) params[p + "bias"] = Normal(rng, op.out_channels, 0, 0.1);
        break;
      case OpType::kBatchNorm: {
        const int64_t c = op.output_shape.front();
        params[p + "weight"] = Normal(rng, c, 1, 0.1);
        params[p + "bias"] = Normal(rng, c, 0, 0.1);
        params[p + "running_mean"] = Normal(rng, c, 0, 0.1);
        mcu::ParamArray var = Normal(rng, c, 1, 0.1);
        for (float& v : var.values) v = std::max(v, 0.5f);
        params[p + "running_var"] = var;
        break;
      }
      case OpType::kRecurrent: {
        const int64_t h = op.out_channels;
        const int64_t rows = (op.cell == space::RecurrentCell::kLstm ? 4 : 3) * h;
        const double s = 1.0 / std::sqrt(static_cast<double>(h));
        params[p + "w_ih"] = Normal(rng, rows * op.in_channels, 0, s);
        params[p + "w_hh"] = Normal(rng, rows * h, 0, s);
        params[p + "b_ih"] = Normal(rng, rows, 0, s);
        params[p + "b_hh"] = Normal(rng, rows, 0, s);
        break;
      }
      default:
        break;
    }
  }
  return params;
}

space::NetworkPlan DeployedPlan(space::NetworkPlan plan) {
  return mcu::DeployedPlan(std::move(plan));
}

namespace {

constexpr size_t kLegacyFeatures = 12;

// The legacy terms (cycles_per_mac, per element, per byte, per op) of a
// plan: what a profile without a `deployed` section prices.
std::vector<double> LegacyFeatures(const space::NetworkPlan& plan) {
  const space::NetworkPlan deployed = DeployedPlan(plan);
  std::vector<double> f;
  absl::StatusOr<hardware::CostReport> costs = hardware::ComputeCosts(deployed);
  for (size_t k = 0; k < kLegacyFeatures; ++k) {
    f.push_back(
        costs.ok()
            ? hardware::EstimateMcu(deployed, *costs, UnitProfile(static_cast<int>(k))).cycles
            : 0.0);
  }
  return f;
}

// The flash fit's columns: a constant, then per kernel function whether the
// network links it and how often it calls it.
const std::vector<std::string>& KernelFunctions() { return mcu::KernelFunctionNames(); }

std::vector<double> FlashColumns(const mcu::Footprint& f) {
  std::vector<double> row = {1.0};
  for (const std::string& k : KernelFunctions()) row.push_back(f.kernel_calls.count(k) ? 1.0 : 0.0);
  for (const std::string& k : KernelFunctions()) {
    auto it = f.kernel_calls.find(k);
    row.push_back(it == f.kernel_calls.end() ? 0.0 : static_cast<double>(it->second));
  }
  return row;
}

}  // namespace

const std::vector<std::string>& McuFeatureNames() { return mcu::WorkCounterNames(); }

std::vector<double> McuFeatures(const mcu::Footprint& footprint) {
  std::vector<double> f;
  for (const std::string& name : McuFeatureNames()) {
    auto it = footprint.work.find(name);
    f.push_back(it == footprint.work.end() ? 0.0 : it->second);
  }
  return f;
}

std::vector<double> McuFeatures(const space::NetworkPlan& plan) {
  absl::StatusOr<mcu::Footprint> f = mcu::PlanFootprint(plan);
  if (!f.ok()) return std::vector<double>(McuFeatureNames().size(), 0.0);
  return McuFeatures(*f);
}

absl::StatusOr<McuSample> MeasureMcuPlan(const space::NetworkPlan& plan, const std::string& cpu,
                                         uint64_t seed, const std::string& work_dir,
                                         double timeout_s) {
  const space::NetworkPlan deployed = DeployedPlan(plan);
  absl::StatusOr<mcu::Footprint> footprint = mcu::PlanFootprint(plan);
  if (!footprint.ok()) return footprint.status();
  absl::StatusOr<mcu::FloatGraph> graph =
      mcu::LowerPlan(deployed, RandomPlanParams(deployed, seed));
  if (!graph.ok()) return graph.status();
  // Activation ranges from random inputs: the costs do not depend on them.
  std::mt19937_64 rng(seed + 1);
  std::normal_distribution<float> normal(0, 1);
  std::vector<std::vector<float>> calibration(8, std::vector<float>(graph->nodes[0].out.size()));
  for (auto& x : calibration) {
    for (float& v : x) v = normal(rng);
  }
  absl::StatusOr<mcu::Int8Model> model = mcu::Quantize(*graph, calibration);
  if (!model.ok()) return model.status();
  mcu::CodegenOptions options;
  options.cpu = cpu;
  options.firmware_samples = {mcu::QuantizeInput(*model, calibration[0])};
  if (absl::Status s = mcu::WriteCProject(*model, options, work_dir); !s.ok()) return s;
  absl::StatusOr<mcu::FirmwareMeasurement> fw = mcu::BuildAndRunFirmware(work_dir, cpu, timeout_s);
  std::error_code ec;
  std::filesystem::remove_all(work_dir, ec);
  if (!fw.ok()) return fw.status();
  McuSample s;
  s.macs = model->macs();
  s.footprint = *std::move(footprint);
  s.features = McuFeatures(s.footprint);
  s.legacy_features = LegacyFeatures(plan);
  s.instructions = fw->instructions.front();
  s.flash_bytes = fw->flash_bytes;
  s.sram_bytes = fw->sram_bytes;
  s.stack_bytes = fw->stack_bytes;
  return s;
}

namespace {

void FitCodeBytes(const std::vector<std::vector<double>>& flash_rows,
                  const std::vector<double>& flash_y, const std::vector<double>& flash_w,
                  hardware::DeployedCosts& d) {
  // Flash beyond the const data: a base, each kernel linked, each call.
  const size_t nk = KernelFunctions().size();
  const std::vector<double> code = NonNegativeFit(
      flash_rows, flash_y, flash_w, DistinctActiveColumns(flash_rows, 1 + 2 * nk), 1 + 2 * nk);
  d.base_flash_bytes = std::llround(code[0]);
  for (size_t j = 0; j < nk; ++j) {
    const std::string& kernel = KernelFunctions()[j];
    bool linked = false;
    for (const auto& r : flash_rows) linked = linked || r[1 + j] != 0;
    if (!linked) continue;  // Keeps base's numbers, if any.
    d.kernel_flash_bytes[kernel] = code[1 + j];
    d.call_flash_bytes[kernel] = code[1 + nk + j];
  }
}

// The kernels' code is known exactly (their sections' sizes); what is left
// of the flash is model_infer (a fixed part and each call's argument set-up)
// and the difference of main's code with and without the model call.
void FitCallBytes(const std::map<std::string, int64_t>& kernel_code,
                  const std::vector<McuSample>& samples, hardware::DeployedCosts& d) {
  d.kernel_flash_bytes.clear();
  for (const std::string& section : mcu::CodeSectionNames()) {
    if (auto it = kernel_code.find(section); it != kernel_code.end()) {
      d.kernel_flash_bytes[section] = static_cast<double>(it->second);
    }
  }
  const size_t nk = KernelFunctions().size();
  std::vector<std::vector<double>> rows;
  std::vector<double> y, w;
  for (const McuSample& s : samples) {
    if (s.instructions <= 0) continue;
    double code = static_cast<double>(s.flash_bytes - s.footprint.const_bytes);
    for (const std::string& section : mcu::LinkedCode(s.footprint.kernel_calls)) {
      if (auto it = d.kernel_flash_bytes.find(section); it != d.kernel_flash_bytes.end()) {
        code -= it->second;
      }
    }
    std::vector<double> row = {1.0};
    for (const std::string& k : KernelFunctions()) {
      auto it = s.footprint.kernel_calls.find(k);
      row.push_back(it == s.footprint.kernel_calls.end() ? 0.0 : static_cast<double>(it->second));
    }
    rows.push_back(std::move(row));
    y.push_back(code);
    w.push_back(static_cast<double>(std::max<int64_t>(s.flash_bytes, 1)));
  }
  if (rows.empty()) return;
  const std::vector<double> coef =
      NonNegativeFit(rows, y, w, DistinctActiveColumns(rows, 1 + nk), 1 + nk);
  d.base_flash_bytes = std::llround(coef[0]);
  for (size_t j = 0; j < nk; ++j) {
    bool called = false;
    for (const auto& r : rows) called = called || r[1 + j] != 0;
    if (called) d.call_flash_bytes[KernelFunctions()[j]] = coef[1 + j];
  }
}

// The legacy terms, for plans that do not lower to int8 C.
void FitLegacyTerms(const std::vector<McuSample>& samples, hardware::McuProfile& p) {
  std::vector<std::vector<double>> legacy;
  std::vector<double> legacy_y;
  for (const McuSample& s : samples) {
    if (s.instructions <= 0 || s.legacy_features.size() != kLegacyFeatures) continue;
    legacy.push_back(s.legacy_features);
    legacy_y.push_back(static_cast<double>(s.instructions));
  }
  std::vector<int> active;
  for (int j = 0; j < static_cast<int>(kLegacyFeatures); ++j) {
    for (const auto& r : legacy) {
      if (r[j] > 0) {
        active.push_back(j);
        break;
      }
    }
  }
  const std::vector<double> legacy_coef =
      NonNegativeFit(legacy, legacy_y, legacy_y, active, kLegacyFeatures);
  for (int j : active) *Coefficient(p, j) = legacy_coef[j];
}

// The stack beyond the deepest kernel frame: the constant with the smallest
// worst relative SRAM error over the samples (ties: the smaller constant).
int64_t FitStackBytes(const std::vector<McuSample>& samples,
                      const std::map<std::string, double>& frames) {
  std::vector<std::pair<double, double>> gap_sram;  // (measured stack - frame, SRAM)
  for (const McuSample& s : samples) {
    if (s.instructions <= 0 || s.sram_bytes <= 0) continue;
    const double frame = mcu::DeepestKernelStack(s.footprint.kernel_calls, frames);
    gap_sram.push_back({static_cast<double>(s.sram_bytes - s.footprint.arena_bytes) - frame,
                        static_cast<double>(s.sram_bytes)});
  }
  if (gap_sram.empty()) return 0;
  double lo = gap_sram[0].first, hi = lo;
  for (const auto& [gap, sram] : gap_sram) {
    lo = std::min(lo, gap);
    hi = std::max(hi, gap);
  }
  int64_t best = std::max<int64_t>(0, std::llround(lo));
  double best_error = std::numeric_limits<double>::infinity();
  for (int64_t c = best; c <= std::max<int64_t>(best, std::llround(hi)); ++c) {
    double worst = 0;
    for (const auto& [gap, sram] : gap_sram) {
      worst = std::max(worst, std::abs(static_cast<double>(c) - gap) / sram);
    }
    if (worst < best_error) {
      best_error = worst;
      best = c;
    }
  }
  return best;
}

// A sample from an earlier run's measurements; the footprint from the plan.
absl::StatusOr<McuSample> ReplayMeasurement(const std::map<std::string, McuSample>& measured,
                                            const std::string& arch,
                                            const space::NetworkPlan& plan) {
  auto it = measured.find(arch);
  if (it == measured.end()) return absl::NotFoundError("not in the measurement log");
  absl::StatusOr<mcu::Footprint> footprint = mcu::PlanFootprint(plan);
  if (!footprint.ok()) return footprint.status();
  McuSample s = it->second;
  s.footprint = *std::move(footprint);
  s.macs = s.footprint.macs;
  s.features = McuFeatures(s.footprint);
  s.legacy_features = LegacyFeatures(plan);
  return s;
}

}  // namespace

hardware::McuProfile FitMcuProfile(const hardware::McuProfile& base,
                                   const std::vector<McuSample>& samples,
                                   const mcu::KernelBuild* kernel_code) {
  hardware::McuProfile p = base;
  p.deployed.present = true;
  const size_t k = McuFeatureNames().size();
  std::vector<std::vector<double>> rows, flash_rows;
  std::vector<double> y, flash_y, flash_w;
  for (const McuSample& s : samples) {
    if (s.instructions <= 0 || s.features.size() != k) continue;
    rows.push_back(s.features);
    y.push_back(static_cast<double>(s.instructions));
    flash_rows.push_back(FlashColumns(s.footprint));
    flash_y.push_back(static_cast<double>(s.flash_bytes - s.footprint.const_bytes));
    flash_w.push_back(static_cast<double>(std::max<int64_t>(s.flash_bytes, 1)));
  }
  if (rows.empty()) return p;
  // Instructions: the work counters some sample exercises.
  const std::vector<double> coef = NonNegativeFit(rows, y, y, DistinctActiveColumns(rows, k), k);
  p.deployed.cycles.clear();
  for (size_t j = 0; j < k; ++j) {
    if (coef[j] > 0) p.deployed.cycles[McuFeatureNames()[j]] = coef[j];
  }
  if (kernel_code != nullptr && !kernel_code->code_bytes.empty()) {
    FitCallBytes(kernel_code->code_bytes, samples, p.deployed);
  } else {
    FitCodeBytes(flash_rows, flash_y, flash_w, p.deployed);
  }
  // SRAM beyond the arena: the stack (the kernels keep no static state).
  // With the kernels' frames compiled, the stack is the deepest frame among
  // the kernels a network calls plus what lies above it (model_infer's frame
  // and the harness's): one constant, chosen so the worst relative SRAM error
  // over the fit set is smallest (a network with small activations and a
  // shallow kernel, the empty temporal one, weighs as much as a large one).
  // Without a kernel build (replayed measurements, no toolchain) the base
  // profile's frames stay.
  if (kernel_code != nullptr && !kernel_code->stack_bytes.empty()) {
    p.deployed.kernel_stack_bytes.clear();
    for (const std::string& section : mcu::CodeSectionNames()) {
      if (auto it = kernel_code->stack_bytes.find(section); it != kernel_code->stack_bytes.end()) {
        p.deployed.kernel_stack_bytes[section] = static_cast<double>(it->second);
      }
    }
  }
  p.deployed.stack_bytes = FitStackBytes(samples, p.deployed.kernel_stack_bytes);
  FitLegacyTerms(samples, p);
  // The model's cycles are now emulator instructions: the clock stays, so
  // latency_ms reads as instructions at one per cycle.
  return p;
}

std::map<std::string, McuSample> ParseMcuMeasurementLog(std::istream& log) {
  std::map<std::string, McuSample> out;
  std::string line;
  while (std::getline(log, line)) {
    // --check-out's CSV: set,"arch",macs,instructions,estimated,flash,estimated,sram,...
    if (absl::StartsWith(line, "fit,\"") || absl::StartsWith(line, "check,\"")) {
      const size_t open = line.find('"'), close = line.find('"', open + 1);
      if (close == std::string::npos || close + 2 > line.size()) continue;
      std::vector<std::string> f = absl::StrSplit(line.substr(close + 2), ',');
      McuSample s;
      s.arch = line.substr(open + 1, close - open - 1);
      if (f.size() < 7 || !absl::SimpleAtoi(f[1], &s.instructions) ||
          !absl::SimpleAtoi(f[3], &s.flash_bytes) || !absl::SimpleAtoi(f[5], &s.sram_bytes)) {
        continue;
      }
      out.emplace(s.arch, s);
      continue;
    }
    // The progress lines: measured 3/200: 123 instructions, flash 456 B, SRAM 789 B (arch)
    if (!absl::StartsWith(line, "measured ")) continue;
    const size_t colon = line.find(": "), open = line.find(" ("), close = line.rfind(')');
    if (colon == std::string::npos || open == std::string::npos || close == std::string::npos ||
        close < open) {
      continue;
    }
    long long instructions = 0, flash = 0, sram = 0;
    if (std::sscanf(line.c_str() + colon + 2, "%lld instructions, flash %lld B, SRAM %lld B",
                    &instructions, &flash, &sram) != 3) {
      continue;
    }
    McuSample s;
    s.arch = line.substr(open + 2, close - open - 2);
    s.instructions = instructions;
    s.flash_bytes = flash;
    s.sram_bytes = sram;
    out.emplace(s.arch, s);
  }
  return out;
}

McuAgreement EvaluateProfile(const hardware::McuProfile& profile,
                             const std::vector<space::NetworkPlan>& plans,
                             std::vector<McuSample>& samples) {
  std::vector<double> pc, mc, pf, mf, ps, ms;
  for (size_t i = 0; i < samples.size() && i < plans.size(); ++i) {
    const space::NetworkPlan deployed = DeployedPlan(plans[i]);
    absl::StatusOr<hardware::CostReport> costs = hardware::ComputeCosts(deployed);
    if (!costs.ok()) continue;
    const hardware::McuEstimate e = hardware::EstimateMcu(deployed, *costs, profile);
    McuSample& s = samples[i];
    s.estimated_cycles = e.cycles;
    s.estimated_flash_bytes = e.flash_needed_bytes;
    s.estimated_sram_bytes = e.sram_needed_bytes;
    pc.push_back(e.cycles);
    mc.push_back(static_cast<double>(s.instructions));
    pf.push_back(static_cast<double>(e.flash_needed_bytes));
    mf.push_back(static_cast<double>(s.flash_bytes));
    ps.push_back(static_cast<double>(e.sram_needed_bytes));
    ms.push_back(static_cast<double>(s.sram_bytes));
  }
  McuAgreement a;
  a.instructions = Agreement(pc, mc);
  a.flash = Agreement(pf, mf);
  a.sram = Agreement(ps, ms);
  return a;
}

std::string McuProfileYaml(const hardware::McuProfile& p, const std::string& comment) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(comment, '\n')) {
    absl::StrAppend(&out, "# ", line, "\n");
  }
  auto table = [](const hardware::CyclesPerMac& t) {
    return absl::StrFormat("{conv: %.4g, depthwise: %.4g, linear: %.4g, recurrent: %.4g}", t.conv,
                           t.depthwise, t.linear, t.recurrent);
  };
  absl::StrAppend(&out, "name: ", p.name, "\n");
  absl::StrAppend(&out, "description: \"", p.description, "\"\n");
  absl::StrAppend(&out, absl::StrFormat("clock_mhz: %.6g\n", p.clock_mhz));
  absl::StrAppend(&out, absl::StrFormat("sram_kb: %.6g\n", p.sram_bytes / 1024.0));
  absl::StrAppend(&out, absl::StrFormat("flash_kb: %.6g\n", p.flash_bytes / 1024.0));
  absl::StrAppend(&out,
                  absl::StrFormat("runtime:\n  flash_kb: %.6g\n  sram_kb: %.6g\n",
                                  p.runtime_flash_bytes / 1024.0, p.runtime_sram_bytes / 1024.0));
  absl::StrAppend(&out, "cycles_per_mac:\n  float32: ", table(p.float32),
                  "\n  int8: ", table(p.int8), "\n  int4: ", table(p.int4), "\n");
  absl::StrAppend(&out, absl::StrFormat("cycles_per_element:\n  elementwise: %.4g\n  nonlinear: "
                                        "%.4g\n",
                                        p.cycles_per_element, p.cycles_per_nonlinear_element));
  absl::StrAppend(&out,
                  absl::StrFormat("memory_cycles_per_byte: %.4g\n", p.memory_cycles_per_byte));
  absl::StrAppend(&out, absl::StrFormat("op_overhead_cycles: %.6g\n", p.op_overhead_cycles));
  if (p.active_power_mw) {
    absl::StrAppend(&out, absl::StrFormat("active_power_mw: %.6g\n", *p.active_power_mw));
  }
  if (p.deployed.present) {
    auto map = [](const std::map<std::string, double>& m, const char* format) {
      std::vector<std::string> items;
      for (const auto& [name, v] : m) {
        items.push_back(absl::StrCat(name, ": ", absl::StrFormat(format, v)));
      }
      return absl::StrCat("{", absl::StrJoin(items, ", "), "}");
    };
    absl::StrAppend(&out, "deployed:\n", "  base_flash_bytes: ", p.deployed.base_flash_bytes,
                    "\n  kernel_flash_bytes: ", map(p.deployed.kernel_flash_bytes, "%.0f"),
                    "\n  call_flash_bytes: ", map(p.deployed.call_flash_bytes, "%.1f"),
                    "\n  stack_bytes: ", p.deployed.stack_bytes, "\n");
    if (!p.deployed.kernel_stack_bytes.empty()) {
      absl::StrAppend(&out, "  kernel_stack_bytes: ", map(p.deployed.kernel_stack_bytes, "%.0f"),
                      "\n");
    }
    if (!p.deployed.cycles.empty()) {
      absl::StrAppend(&out, "  cycles: ", map(p.deployed.cycles, "%.4g"), "\n");
    }
  }
  return out;
}

absl::StatusOr<McuCalibration> CalibrateMcu(const std::vector<const space::SearchSpace*>& spaces,
                                            const hardware::McuProfile& base,
                                            const McuCalibrateOptions& options) {
  if (options.fit_archs < 1 || options.check_archs < 0) {
    return absl::InvalidArgumentError("calibrate --mcu: --archs must be >= 1, --check >= 0");
  }
  if (spaces.empty()) return absl::InvalidArgumentError("calibrate --mcu: no search space");
  const absl::Status tools = mcu::CheckFirmwareTools();
  if (!tools.ok() && options.measured == nullptr) return tools;
  McuCalibration c;
  c.base = base;
  if (tools.ok()) {
    // The kernels' code sizes are compiled, not fitted.
    absl::StatusOr<mcu::KernelBuild> code = mcu::MeasureKernelCode(
        options.cpu, (std::filesystem::path(options.work_dir) / "kernels").string());
    if (!code.ok()) return code.status();
    c.kernel_code = *std::move(code);
  }
  std::vector<space::NetworkPlan> fit_plans, check_plans;
  std::map<std::string, std::vector<space::NetworkPlan>> check_plans_by_space;
  auto count = [&](const std::vector<int>& per, int fallback, size_t i) {
    return per.empty() ? fallback : per[std::min(i, per.size() - 1)];
  };
  int total = 0;
  for (size_t i = 0; i < spaces.size(); ++i) {
    total += count(options.fit_per_space, options.fit_archs, i) +
             count(options.check_per_space, options.check_archs, i);
  }
  int done = 0;
  for (size_t i = 0; i < spaces.size(); ++i) {
    const space::SearchSpace* space = spaces[i];
    const int fit_archs = count(options.fit_per_space, options.fit_archs, i);
    const int per_space = fit_archs + count(options.check_per_space, options.check_archs, i);
    if (fit_archs < 1 || per_space < fit_archs) {
      return absl::InvalidArgumentError("calibrate --mcu: --archs must be >= 1, --check >= 0");
    }
    // Each space draws as it would alone, so its measurements replay.
    std::mt19937_64 rng(options.seed);
    int failures = 0, fitted = 0, checked = 0;
    const std::string prefix = spaces.size() > 1 ? absl::StrCat(space->name(), "-") : "";
    for (int n = 0; fitted + checked < per_space; ++n) {
      if (failures > per_space) {
        return absl::InternalError(absl::StrCat("calibrate --mcu: ", failures, " architectures of ",
                                                space->name(), " could not be measured"));
      }
      absl::StatusOr<std::vector<int>> tokens = RandomTokens(*space, rng);
      if (!tokens.ok()) return tokens.status();
      absl::StatusOr<space::NetworkPlan> plan = space->Lower(*tokens);
      if (!plan.ok()) return plan.status();
      const std::string dir =
          (std::filesystem::path(options.work_dir) / absl::StrCat(prefix, "arch-", n)).string();
      const std::string arch = space->Readable(*tokens);
      // From an earlier run when it measured this architecture; else now.
      const bool replay = options.measured != nullptr && options.measured->count(arch) > 0;
      absl::StatusOr<McuSample> s = replay
                                        ? ReplayMeasurement(*options.measured, arch, *plan)
                                        : MeasureMcuPlan(*plan, options.cpu, options.seed + n, dir);
      if (!s.ok()) {
        // An architecture the generator cannot lower (or a firmware that does
        // not fit QEMU's memory) is reported and replaced by another draw.
        ++failures;
        if (options.progress)
          options.progress(absl::StrCat("skipped ", arch, ": ", s.status().message()));
        continue;
      }
      s->space = std::string(space->name());
      s->arch = arch;
      const bool fit = fitted < fit_archs;
      (fit ? fitted : checked) += 1;
      (fit ? c.fit : c.check).push_back(*s);
      if (!fit) check_plans_by_space[std::string(space->name())].push_back(*plan);
      (fit ? fit_plans : check_plans).push_back(*std::move(plan));
      ++done;
      if (options.progress) {
        options.progress(absl::StrFormat("%s %d/%d: %d instructions, flash %d B, SRAM %d B (%s)",
                                         replay ? "reused" : "measured", done, total,
                                         s->instructions, s->flash_bytes, s->sram_bytes, arch));
      }
    }
  }
  c.fitted = FitMcuProfile(base, c.fit, &c.kernel_code);
  // The legacy model's runtime overheads (for plans that do not lower):
  // what the firmware holds beyond its bytes, as the median over the fit
  // architectures.
  hardware::McuProfile bare = c.fitted;
  bare.deployed = {};
  bare.runtime_flash_bytes = bare.runtime_sram_bytes = 0;
  std::vector<McuSample> fit_copy = c.fit;
  EvaluateProfile(bare, fit_plans, fit_copy);
  std::vector<double> flash_gap, sram_gap;
  for (const McuSample& s : fit_copy) {
    flash_gap.push_back(static_cast<double>(s.flash_bytes - s.estimated_flash_bytes));
    sram_gap.push_back(static_cast<double>(s.sram_bytes - s.estimated_sram_bytes));
  }
  c.fitted.runtime_flash_bytes = static_cast<int64_t>(std::max(0.0, Median(flash_gap)));
  c.fitted.runtime_sram_bytes = static_cast<int64_t>(std::max(0.0, Median(sram_gap)));
  EvaluateProfile(c.fitted, fit_plans, c.fit);
  std::vector<McuSample> before = c.check;
  c.before = EvaluateProfile(base, check_plans, before);
  c.after = EvaluateProfile(c.fitted, check_plans, c.check);
  if (spaces.size() > 1) {
    for (const auto& [name, plans] : check_plans_by_space) {
      std::vector<McuSample> samples;
      for (const McuSample& s : c.check) {
        if (s.space == name) samples.push_back(s);
      }
      std::vector<McuSample> copy = samples;
      c.before_by_space[name] = EvaluateProfile(base, plans, copy);
      c.after_by_space[name] = EvaluateProfile(c.fitted, plans, samples);
    }
  } else {
    c.before_by_space[std::string(spaces.front()->name())] = c.before;
    c.after_by_space[std::string(spaces.front()->name())] = c.after;
  }
  return c;
}

absl::StatusOr<McuCalibration> CalibrateMcu(const space::SearchSpace& space,
                                            const hardware::McuProfile& base,
                                            const McuCalibrateOptions& options) {
  return CalibrateMcu(std::vector<const space::SearchSpace*>{&space}, base, options);
}

namespace {

std::string Row(const std::string& what, const McuAgreement::Metric& m) {
  return absl::StrFormat("| %s | %.0f%% | %.0f%% | %.0f%% | %.3f | %.2f%% / %.2f%% |", what,
                         100 * m.within_2pct, 100 * m.within_10pct, 100 * m.within_20pct,
                         m.spearman, 100 * m.mean_error, 100 * m.max_error);
}

}  // namespace

int RunMcuCalibrate(const McuCalibrateCommandOptions& options, std::ostream& out,
                    std::ostream& err) {
  auto fail = [&](const absl::Status& s, int code) {
    err << "hwnas-worker calibrate --mcu: " << s.message() << "\n";
    return code;
  };
  // Measuring takes minutes: an --out that cannot be written is found now
  // (without leaving a file behind).
  if (absl::Status s = hardware::CheckLutWritable(options.out_path); !s.ok()) return fail(s, 2);
  if (options.spec_paths.empty()) return fail(absl::InvalidArgumentError("--spec: none"), 2);
  std::vector<std::unique_ptr<space::SearchSpace>> spaces;
  std::vector<const space::SearchSpace*> space_ptrs;
  std::vector<std::string> space_names;
  for (const std::string& path : options.spec_paths) {
    absl::StatusOr<WorkerSpec> spec = LoadWorkerSpec(path);
    if (!spec.ok()) return fail(spec.status(), 1);
    absl::StatusOr<std::unique_ptr<space::SearchSpace>> space = MakeSpace(*spec);
    if (!space.ok()) return fail(space.status(), 1);
    for (const std::string& name : space_names) {
      if (name == (*space)->name()) {
        return fail(absl::InvalidArgumentError(absl::StrCat("--spec: two specs of the '", name,
                                                            "' space (one spec per space)")),
                    2);
      }
    }
    space_names.emplace_back((*space)->name());
    space_ptrs.push_back(space->get());
    spaces.push_back(*std::move(space));
  }
  absl::StatusOr<hardware::McuProfile> base =
      hardware::FindMcuProfile(options.cpu, hardware::DefaultProfileSearchPath());
  if (!base.ok()) return fail(base.status(), 2);
  McuCalibrateOptions c;
  c.cpu = options.cpu;
  for (const std::vector<int>* v : {&options.archs, &options.check}) {
    if (v->empty() || (v->size() > 1 && v->size() != options.spec_paths.size())) {
      return fail(absl::InvalidArgumentError(absl::StrCat(
                      v == &options.archs ? "--archs" : "--check", ": ", v->size(), " counts for ",
                      options.spec_paths.size(), " specs (give one, or one per spec)")),
                  2);
    }
  }
  c.fit_archs = options.archs.front();
  c.check_archs = options.check.front();
  c.fit_per_space = options.archs;
  c.check_per_space = options.check;
  c.seed = options.seed;
  c.work_dir =
      (std::filesystem::temp_directory_path() / absl::StrCat("hwnas-calibrate-mcu-", ::getpid()))
          .string();
  if (options.progress) c.progress = [&err](const std::string& line) { err << line << "\n"; };
  std::map<std::string, McuSample> measured;
  for (const std::string& path : options.measured_logs) {
    std::ifstream log(path);
    if (!log) {
      return fail(absl::NotFoundError(absl::StrCat("--measured: cannot read ", path)), 2);
    }
    std::map<std::string, McuSample> m = ParseMcuMeasurementLog(log);
    if (m.empty()) {
      return fail(absl::InvalidArgumentError(absl::StrCat(
                      "--measured: no \"measured N/M: ...\" lines or CSV rows in ", path)),
                  2);
    }
    measured.insert(m.begin(), m.end());
  }
  if (!measured.empty()) c.measured = &measured;
  absl::StatusOr<McuCalibration> cal = CalibrateMcu(space_ptrs, *base, c);
  std::error_code ec;
  std::filesystem::remove_all(c.work_dir, ec);
  if (!cal.ok()) return fail(cal.status(), 1);
  const std::string comment = absl::StrCat(
      "Calibrated by `hwnas-worker calibrate --mcu ", options.cpu, "` on ",
      absl::StrJoin(options.archs, ", "), " random architectures of the spaces ",
      absl::StrJoin(space_names, ", "), " (", absl::StrJoin(options.spec_paths, ", "),
      "):\nhwnas's exported int8 C, built with arm-none-eabi-gcc -O2 and run in QEMU -icount.\n",
      "deployed: the kernels' code bytes (compiled, their sections' sizes), model_infer's\n",
      "bytes per call (fitted) and the stack (flash and SRAM = these + the exact const data\n",
      "and arena, mcu/footprint.h) and instructions per work counter. Cycles count emulator\n",
      "instructions (not a cycle-accurate latency; see docs/mcu.md). The legacy terms\n",
      "(cycles_per_mac, ..., runtime.*) price plans that do not lower to int8 C; float32 =\n",
      "int8 because hwnas exports every network in int8. Terms no architecture exercised\n",
      "keep the shipped ", base->name, " profile's values.");
  hardware::McuProfile fitted = cal->fitted;
  fitted.float32 = fitted.int8;
  {
    // Written beside and renamed over, so a reader never sees half a profile.
    const std::string tmp = options.out_path + ".tmp";
    std::ofstream f(tmp, std::ios::trunc);
    f << McuProfileYaml(fitted, comment);
    const absl::Status cannot =
        absl::InternalError(absl::StrCat(options.out_path, ": cannot write"));
    if (!f.flush()) return fail(cannot, 1);
    f.close();
    std::error_code ec;
    std::filesystem::rename(tmp, options.out_path, ec);
    if (ec) return fail(cannot, 1);
  }
  if (!options.check_out.empty()) {
    std::ofstream csv(options.check_out, std::ios::trunc);
    csv << "set,arch,macs,instructions,estimated_instructions,flash_bytes,estimated_flash_bytes,"
           "sram_bytes,estimated_sram_bytes,model_const_bytes,arena_bytes,kernel_calls,space\n";
    // Every measured architecture: the fit set and the check set, both with
    // the calibrated profile's estimates.
    std::vector<std::pair<const char*, const McuSample*>> rows;
    for (const McuSample& s : cal->fit) rows.push_back({"fit", &s});
    for (const McuSample& s : cal->check) rows.push_back({"check", &s});
    for (const auto& [set, sample] : rows) {
      const McuSample& s = *sample;
      csv << set << ",\"" << s.arch << "\"," << s.macs << "," << s.instructions << ","
          << static_cast<int64_t>(s.estimated_cycles) << "," << s.flash_bytes << ","
          << s.estimated_flash_bytes << "," << s.sram_bytes << "," << s.estimated_sram_bytes << ","
          << s.footprint.const_bytes << "," << s.footprint.arena_bytes << ","
          << absl::StrJoin(s.footprint.kernel_calls, " ", absl::PairFormatter("=")) << ","
          << s.space << "\n";
    }
    if (!csv.flush()) {
      return fail(absl::InternalError(absl::StrCat(options.check_out, ": cannot write")), 1);
    }
  }
  out << "wrote " << options.out_path << " (fitted on " << cal->fit.size() << " architectures)\n";
  {
    std::vector<std::string> terms;
    for (const auto& [name, v] : cal->fitted.deployed.cycles) {
      terms.push_back(absl::StrFormat("%s %.3g", name, v));
    }
    out << "instructions per work counter: " << absl::StrJoin(terms, ", ") << "\n";
    std::vector<std::string> code;
    for (const auto& [name, v] : cal->fitted.deployed.kernel_flash_bytes) {
      auto call = cal->fitted.deployed.call_flash_bytes.find(name);
      code.push_back(call == cal->fitted.deployed.call_flash_bytes.end()
                         ? absl::StrFormat("%s %.0f B", name, v)
                         : absl::StrFormat("%s %.0f B (+%.1f B a call)", name, v, call->second));
    }
    std::vector<std::string> frames;
    for (const auto& [name, v] : cal->kernel_code.stack_bytes) {
      frames.push_back(absl::StrFormat("%s %d B", name, v));
    }
    out << "kernel stack frames (gcc -fstack-usage): " << absl::StrJoin(frames, ", ") << "\n";
    out << "code ("
        << (cal->kernel_code.code_bytes.empty() ? "fitted" : "kernels compiled, calls fitted")
        << "): base " << cal->fitted.deployed.base_flash_bytes << " B, "
        << absl::StrJoin(code, ", ") << "; stack " << cal->fitted.deployed.stack_bytes
        << " B + the deepest kernel frame\n";
  }
  if (!cal->check.empty()) {
    out << "estimate vs measurement on " << absl::StrJoin(options.check, ", ")
        << " other architectures of " << absl::StrJoin(space_names, ", ") << " (shipped = the "
        << base->name << " profile it started from; error = |estimate / measured - 1|):\n"
        << "| space, metric, profile | within 2% | within 10% | within 20% | Spearman | mean / max "
           "error |\n|---|---|---|---|---|---|\n";
    for (const std::string& name : space_names) {
      const McuAgreement& b = cal->before_by_space.at(name);
      const McuAgreement& a = cal->after_by_space.at(name);
      out << Row(name + " instructions, shipped", b.instructions) << "\n"
          << Row(name + " instructions, calibrated", a.instructions) << "\n"
          << Row(name + " flash, shipped", b.flash) << "\n"
          << Row(name + " flash, calibrated", a.flash) << "\n"
          << Row(name + " SRAM, shipped", b.sram) << "\n"
          << Row(name + " SRAM, calibrated", a.sram) << "\n";
    }
  }
  return 0;
}

}  // namespace hwnas::worker

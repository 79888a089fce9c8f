#include "worker/mcu_calibrate.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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

// Least squares of relative error (rows divided by the measurement, columns
// scaled to unit norm for conditioning) over the columns in `active`; the
// most negative coefficient leaves the set until none is negative.
std::vector<double> NonNegativeRelativeFit(const std::vector<std::vector<double>>& rows,
                                           const std::vector<double>& y, std::vector<int> active) {
  const size_t m = rows.size();
  std::vector<double> coef(McuFeatureNames().size(), 0.0);
  while (!active.empty()) {
    const int n = static_cast<int>(active.size());
    std::vector<double> norm(n, 0.0);
    for (size_t i = 0; i < m; ++i) {
      for (int j = 0; j < n; ++j) norm[j] += std::pow(rows[i][active[j]] / y[i], 2);
    }
    for (double& v : norm) v = std::sqrt(std::max(v, 1e-300));
    std::vector<double> ata(n * n, 0.0), atb(n, 0.0);
    for (size_t i = 0; i < m; ++i) {
      for (int j = 0; j < n; ++j) {
        const double aj = rows[i][active[j]] / y[i] / norm[j];
        atb[j] += aj;  // b = y / y = 1.
        for (int k = 0; k < n; ++k) ata[j * n + k] += aj * rows[i][active[k]] / y[i] / norm[k];
      }
    }
    std::vector<double> x;
    if (!Solve(ata, atb, n, x)) {
      active.pop_back();  // Collinear: drop the last (least specific) term.
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

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t k = v.size() / 2;
  return v.size() % 2 ? v[k] : 0.5 * (v[k - 1] + v[k]);
}

McuAgreement::Metric Agreement(const std::vector<double>& predicted,
                               const std::vector<double>& measured) {
  McuAgreement::Metric m;
  if (measured.empty()) return m;
  for (size_t i = 0; i < measured.size(); ++i) {
    const double rel = std::abs(predicted[i] / std::max(measured[i], 1.0) - 1);
    m.within_10pct += rel <= 0.10 ? 1 : 0;
    m.within_20pct += rel <= 0.20 ? 1 : 0;
  }
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
  for (space::Op& op : plan.ops) {
    if (op.weight_bits != 4) op.weight_bits = 8;
  }
  plan.activation_bits = 8;
  return plan;
}

const std::vector<std::string>& McuFeatureNames() {
  static const std::vector<std::string> names = {
      "int8.conv",   "int8.depthwise", "int8.linear", "int8.recurrent",
      "int4.conv",   "int4.depthwise", "int4.linear", "int4.recurrent",
      "elementwise", "nonlinear",      "memory_byte", "op_overhead"};
  return names;
}

std::vector<double> McuFeatures(const space::NetworkPlan& plan) {
  const space::NetworkPlan deployed = DeployedPlan(plan);
  std::vector<double> f;
  absl::StatusOr<hardware::CostReport> costs = hardware::ComputeCosts(deployed);
  for (size_t k = 0; k < McuFeatureNames().size(); ++k) {
    f.push_back(
        costs.ok()
            ? hardware::EstimateMcu(deployed, *costs, UnitProfile(static_cast<int>(k))).cycles
            : 0.0);
  }
  return f;
}

absl::StatusOr<McuSample> MeasureMcuPlan(const space::NetworkPlan& plan, const std::string& cpu,
                                         uint64_t seed, const std::string& work_dir,
                                         double timeout_s) {
  const space::NetworkPlan deployed = DeployedPlan(plan);
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
  s.features = McuFeatures(plan);
  s.instructions = fw->instructions.front();
  s.flash_bytes = fw->flash_bytes;
  s.sram_bytes = fw->sram_bytes;
  return s;
}

hardware::McuProfile FitMcuProfile(const hardware::McuProfile& base,
                                   const std::vector<McuSample>& samples) {
  hardware::McuProfile p = base;
  const size_t k = McuFeatureNames().size();
  std::vector<std::vector<double>> rows;
  std::vector<double> y;
  for (const McuSample& s : samples) {
    if (s.instructions <= 0 || s.features.size() != k) continue;
    rows.push_back(s.features);
    y.push_back(static_cast<double>(s.instructions));
  }
  // A term enters the fit when some sample has it (the int4 or recurrent
  // kernels of a space without them keep the base profile's numbers).
  std::vector<int> active;
  for (size_t j = 0; j < k; ++j) {
    for (const auto& r : rows) {
      if (r[j] > 0) {
        active.push_back(static_cast<int>(j));
        break;
      }
    }
  }
  const std::vector<double> coef = NonNegativeRelativeFit(rows, y, active);
  for (int j : active) *Coefficient(p, j) = coef[j];
  // The model's cycles are now emulator instructions: the clock stays, so
  // latency_ms reads as instructions at one per cycle.
  return p;
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
  return out;
}

absl::StatusOr<McuCalibration> CalibrateMcu(const space::SearchSpace& space,
                                            const hardware::McuProfile& base,
                                            const McuCalibrateOptions& options) {
  if (options.fit_archs < 1 || options.check_archs < 0) {
    return absl::InvalidArgumentError("calibrate --mcu: --archs must be >= 1, --check >= 0");
  }
  if (absl::Status s = mcu::CheckFirmwareTools(); !s.ok()) return s;
  McuCalibration c;
  c.base = base;
  std::mt19937_64 rng(options.seed);
  std::vector<space::NetworkPlan> fit_plans, check_plans;
  const int total = options.fit_archs + options.check_archs;
  int failures = 0;
  for (int n = 0; static_cast<int>(fit_plans.size() + check_plans.size()) < total; ++n) {
    if (failures > total) {
      return absl::InternalError(
          absl::StrCat("calibrate --mcu: ", failures, " architectures could not be measured"));
    }
    absl::StatusOr<std::vector<int>> tokens = RandomTokens(space, rng);
    if (!tokens.ok()) return tokens.status();
    absl::StatusOr<space::NetworkPlan> plan = space.Lower(*tokens);
    if (!plan.ok()) return plan.status();
    const std::string dir =
        (std::filesystem::path(options.work_dir) / absl::StrCat("arch-", n)).string();
    absl::StatusOr<McuSample> s = MeasureMcuPlan(*plan, options.cpu, options.seed + n, dir);
    const std::string arch = space.Readable(*tokens);
    if (!s.ok()) {
      // An architecture the generator cannot lower (or a firmware that does
      // not fit QEMU's memory) is reported and replaced by another draw.
      ++failures;
      if (options.progress)
        options.progress(absl::StrCat("skipped ", arch, ": ", s.status().message()));
      continue;
    }
    s->arch = arch;
    const bool fit = static_cast<int>(fit_plans.size()) < options.fit_archs;
    (fit ? c.fit : c.check).push_back(*s);
    (fit ? fit_plans : check_plans).push_back(*std::move(plan));
    if (options.progress) {
      options.progress(
          absl::StrFormat("measured %d/%d: %d instructions, flash %d B, SRAM %d B (%s)",
                          c.fit.size() + c.check.size(), total, s->instructions, s->flash_bytes,
                          s->sram_bytes, arch));
    }
  }
  c.fitted = FitMcuProfile(base, c.fit);
  // Runtime overheads: what the firmware holds beyond the model's bytes
  // (kernel code, stack), as the median over the fit architectures.
  hardware::McuProfile bare = c.fitted;
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
  return c;
}

namespace {

std::string Row(const char* what, const McuAgreement::Metric& m) {
  return absl::StrFormat("| %s | %.0f%% | %.0f%% | %.3f |", what, 100 * m.within_10pct,
                         100 * m.within_20pct, m.spearman);
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
  absl::StatusOr<WorkerSpec> spec = LoadWorkerSpec(options.spec_path);
  if (!spec.ok()) return fail(spec.status(), 1);
  absl::StatusOr<std::unique_ptr<space::SearchSpace>> space = MakeSpace(*spec);
  if (!space.ok()) return fail(space.status(), 1);
  absl::StatusOr<hardware::McuProfile> base =
      hardware::FindMcuProfile(options.cpu, hardware::DefaultProfileSearchPath());
  if (!base.ok()) return fail(base.status(), 2);
  McuCalibrateOptions c;
  c.cpu = options.cpu;
  c.fit_archs = options.archs;
  c.check_archs = options.check;
  c.seed = options.seed;
  c.work_dir =
      (std::filesystem::temp_directory_path() / absl::StrCat("hwnas-calibrate-mcu-", ::getpid()))
          .string();
  if (options.progress) c.progress = [&err](const std::string& line) { err << line << "\n"; };
  absl::StatusOr<McuCalibration> cal = CalibrateMcu(**space, *base, c);
  std::error_code ec;
  std::filesystem::remove_all(c.work_dir, ec);
  if (!cal.ok()) return fail(cal.status(), 1);
  const std::string comment = absl::StrCat(
      "Calibrated by `hwnas-worker calibrate --mcu ", options.cpu, "` on ", options.archs,
      " random architectures of the '", (*space)->name(), "' space (", options.spec_path,
      "):\nhwnas's exported int8 C, built with arm-none-eabi-gcc -O2 and run in QEMU -icount.\n",
      "cycles_* count emulator instructions (not a cycle-accurate latency; see docs/mcu.md);\n",
      "float32 = int8 because hwnas exports every network in int8. runtime.* are the median\n",
      "firmware bytes beyond the model's own (kernel code, stack). Terms no architecture\n",
      "exercised keep the shipped ", base->name, " profile's values.");
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
           "sram_bytes,estimated_sram_bytes\n";
    // Every measured architecture: the fit set and the check set, both with
    // the calibrated profile's estimates.
    std::vector<std::pair<const char*, const McuSample*>> rows;
    for (const McuSample& s : cal->fit) rows.push_back({"fit", &s});
    for (const McuSample& s : cal->check) rows.push_back({"check", &s});
    for (const auto& [set, sample] : rows) {
      const McuSample& s = *sample;
      csv << set << ",\"" << s.arch << "\"," << s.macs << "," << s.instructions << ","
          << static_cast<int64_t>(s.estimated_cycles) << "," << s.flash_bytes << ","
          << s.estimated_flash_bytes << "," << s.sram_bytes << "," << s.estimated_sram_bytes
          << "\n";
    }
    if (!csv.flush()) {
      return fail(absl::InternalError(absl::StrCat(options.check_out, ": cannot write")), 1);
    }
  }
  out << "wrote " << options.out_path << " (fitted on " << cal->fit.size() << " architectures)\n";
  out << absl::StrFormat(
      "int8 instructions/MAC: conv %.3g, depthwise %.3g, linear %.3g, recurrent %.3g; int4: conv "
      "%.3g, linear %.3g; per element %.3g, nonlinear %.3g, per byte %.3g, per op %.4g; "
      "runtime flash %d B, SRAM %d B\n",
      cal->fitted.int8.conv, cal->fitted.int8.depthwise, cal->fitted.int8.linear,
      cal->fitted.int8.recurrent, cal->fitted.int4.conv, cal->fitted.int4.linear,
      cal->fitted.cycles_per_element, cal->fitted.cycles_per_nonlinear_element,
      cal->fitted.memory_cycles_per_byte, cal->fitted.op_overhead_cycles,
      cal->fitted.runtime_flash_bytes, cal->fitted.runtime_sram_bytes);
  if (!cal->check.empty()) {
    out << "estimate vs measurement on " << cal->check.size()
        << " other architectures (share within +-10%, +-20%, Spearman):\n"
        << "| metric | within 10% | within 20% | Spearman |\n|---|---|---|---|\n"
        << Row("instructions, shipped profile", cal->before.instructions) << "\n"
        << Row("instructions, calibrated", cal->after.instructions) << "\n"
        << Row("flash, shipped profile", cal->before.flash) << "\n"
        << Row("flash, calibrated", cal->after.flash) << "\n"
        << Row("SRAM, shipped profile", cal->before.sram) << "\n"
        << Row("SRAM, calibrated", cal->after.sram) << "\n";
  }
  return 0;
}

}  // namespace hwnas::worker

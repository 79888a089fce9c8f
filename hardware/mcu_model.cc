#include "hardware/mcu_model.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/yaml_fields.h"
#include "mcu/footprint.h"

#ifndef HWNAS_PROFILE_DIR
#define HWNAS_PROFILE_DIR "hardware/profiles"
#endif

namespace hwnas::hardware {
namespace {

using space::Activation;
using space::NetworkPlan;
using space::Op;
using space::OpType;

constexpr double kMaxCyclesPerUnit = 1e6;

absl::Status WithSource(absl::string_view source, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(source, ": ", s.message()));
}

// YamlSection's scalar readers currently treat an absent key as present but
// empty, so optional fields apply their default here.
absl::StatusOr<double> DoubleOr(const YamlSection& s, absl::string_view key,
                                std::optional<double> def, double min, double max) {
  if (!s.Has(key)) {
    if (def) return *def;
    return absl::InvalidArgumentError(absl::StrCat(s.PathOf(key), ": is required"));
  }
  return s.Double(key, std::nullopt, min, max);
}

absl::StatusOr<int64_t> KiB(const YamlSection& s, absl::string_view key,
                            std::optional<double> def) {
  HWNAS_ASSIGN_OR_RETURN(double kb, DoubleOr(s, key, def, 0, 1e9));
  return static_cast<int64_t>(std::llround(kb * 1024));
}

absl::StatusOr<CyclesPerMac> ReadCyclesPerMac(const YamlSection& s) {
  HWNAS_RETURN_IF_ERROR(s.CheckKeys({"conv", "depthwise", "linear", "recurrent"}));
  CyclesPerMac c;
  HWNAS_ASSIGN_OR_RETURN(c.conv, DoubleOr(s, "conv", std::nullopt, 0, kMaxCyclesPerUnit));
  HWNAS_ASSIGN_OR_RETURN(c.depthwise, DoubleOr(s, "depthwise", std::nullopt, 0, kMaxCyclesPerUnit));
  HWNAS_ASSIGN_OR_RETURN(c.linear, DoubleOr(s, "linear", std::nullopt, 0, kMaxCyclesPerUnit));
  HWNAS_ASSIGN_OR_RETURN(c.recurrent, DoubleOr(s, "recurrent", std::nullopt, 0, kMaxCyclesPerUnit));
  return c;
}

// A map of names to non-negative numbers; names outside `allowed` are errors.
absl::StatusOr<std::map<std::string, double>> ReadNumberMap(
    const YamlSection& s, absl::string_view key, const std::vector<std::string>& allowed) {
  std::map<std::string, double> out;
  if (!s.Has(key)) return out;
  HWNAS_ASSIGN_OR_RETURN(YamlSection m, s.Child(key));
  if (!m.present()) return out;
  HWNAS_RETURN_IF_ERROR(m.CheckIsMap());
  HWNAS_RETURN_IF_ERROR(m.CheckKeys(allowed));
  for (const auto& kv : m.node()) {
    const std::string name = kv.first.as<std::string>();
    HWNAS_ASSIGN_OR_RETURN(out[name], m.Double(name, std::nullopt, 0, 1e9));
  }
  return out;
}

absl::StatusOr<DeployedCosts> ReadDeployed(const YamlSection& root) {
  DeployedCosts d;
  if (!root.Has("deployed")) return d;
  HWNAS_ASSIGN_OR_RETURN(YamlSection s, root.Child("deployed"));
  if (!s.present()) return d;
  HWNAS_RETURN_IF_ERROR(s.CheckKeys({"base_flash_bytes", "kernel_flash_bytes", "call_flash_bytes",
                                     "stack_bytes", "kernel_stack_bytes", "cycles"}));
  d.present = true;
  HWNAS_ASSIGN_OR_RETURN(double base, DoubleOr(s, "base_flash_bytes", 0.0, 0, 1e9));
  d.base_flash_bytes = static_cast<int64_t>(std::llround(base));
  HWNAS_ASSIGN_OR_RETURN(double stack, DoubleOr(s, "stack_bytes", 0.0, 0, 1e9));
  d.stack_bytes = static_cast<int64_t>(std::llround(stack));
  HWNAS_ASSIGN_OR_RETURN(d.kernel_flash_bytes,
                         ReadNumberMap(s, "kernel_flash_bytes", mcu::CodeSectionNames()));
  HWNAS_ASSIGN_OR_RETURN(d.call_flash_bytes,
                         ReadNumberMap(s, "call_flash_bytes", mcu::KernelFunctionNames()));
  HWNAS_ASSIGN_OR_RETURN(d.kernel_stack_bytes,
                         ReadNumberMap(s, "kernel_stack_bytes", mcu::CodeSectionNames()));
  HWNAS_ASSIGN_OR_RETURN(d.cycles, ReadNumberMap(s, "cycles", mcu::WorkCounterNames()));
  return d;
}

absl::StatusOr<McuProfile> ParseSection(const YamlSection& root) {
  if (!root.present() || !root.node().IsMap()) {
    return absl::InvalidArgumentError("profile must be a YAML mapping (name:, clock_mhz:, ...)");
  }
  HWNAS_RETURN_IF_ERROR(
      root.CheckKeys({"name", "description", "clock_mhz", "sram_kb", "flash_kb", "runtime",
                      "cycles_per_mac", "cycles_per_element", "memory_cycles_per_byte",
                      "op_overhead_cycles", "active_power_mw", "deployed"}));
  McuProfile p;
  if (!root.Has("name")) return absl::InvalidArgumentError("name: is required");
  HWNAS_ASSIGN_OR_RETURN(p.name, root.String("name", std::nullopt));
  if (p.name.empty() || p.name.find_first_of("/@ \t") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: '", p.name, "' must be non-empty without '/', '@' or spaces"));
  }
  if (root.Has("description")) {
    HWNAS_ASSIGN_OR_RETURN(p.description, root.String("description", std::nullopt));
  }
  HWNAS_ASSIGN_OR_RETURN(p.clock_mhz, DoubleOr(root, "clock_mhz", std::nullopt, 0.001, 1e5));
  HWNAS_ASSIGN_OR_RETURN(p.sram_bytes, KiB(root, "sram_kb", std::nullopt));
  HWNAS_ASSIGN_OR_RETURN(p.flash_bytes, KiB(root, "flash_kb", std::nullopt));
  HWNAS_ASSIGN_OR_RETURN(YamlSection runtime, root.Child("runtime"));
  HWNAS_RETURN_IF_ERROR(runtime.CheckKeys({"flash_kb", "sram_kb"}));
  HWNAS_ASSIGN_OR_RETURN(p.runtime_flash_bytes, KiB(runtime, "flash_kb", 0.0));
  HWNAS_ASSIGN_OR_RETURN(p.runtime_sram_bytes, KiB(runtime, "sram_kb", 0.0));
  HWNAS_ASSIGN_OR_RETURN(YamlSection cpm, root.Child("cycles_per_mac"));
  if (!cpm.present()) return absl::InvalidArgumentError("cycles_per_mac: is required");
  HWNAS_RETURN_IF_ERROR(cpm.CheckKeys({"float32", "int8", "int4"}));
  HWNAS_ASSIGN_OR_RETURN(YamlSection f32, cpm.Child("float32"));
  HWNAS_ASSIGN_OR_RETURN(p.float32, ReadCyclesPerMac(f32));
  HWNAS_ASSIGN_OR_RETURN(YamlSection i8, cpm.Child("int8"));
  HWNAS_ASSIGN_OR_RETURN(p.int8, ReadCyclesPerMac(i8));
  if (cpm.Has("int4")) {
    HWNAS_ASSIGN_OR_RETURN(YamlSection i4, cpm.Child("int4"));
    HWNAS_ASSIGN_OR_RETURN(p.int4, ReadCyclesPerMac(i4));
  } else {
    p.int4 = p.int8;
  }
  HWNAS_ASSIGN_OR_RETURN(YamlSection cpe, root.Child("cycles_per_element"));
  HWNAS_RETURN_IF_ERROR(cpe.CheckKeys({"elementwise", "nonlinear"}));
  HWNAS_ASSIGN_OR_RETURN(p.cycles_per_element,
                         DoubleOr(cpe, "elementwise", 1.0, 0, kMaxCyclesPerUnit));
  HWNAS_ASSIGN_OR_RETURN(p.cycles_per_nonlinear_element,
                         DoubleOr(cpe, "nonlinear", 10.0, 0, kMaxCyclesPerUnit));
  HWNAS_ASSIGN_OR_RETURN(p.memory_cycles_per_byte,
                         DoubleOr(root, "memory_cycles_per_byte", 0.0, 0, kMaxCyclesPerUnit));
  HWNAS_ASSIGN_OR_RETURN(p.op_overhead_cycles, DoubleOr(root, "op_overhead_cycles", 0.0, 0, 1e9));
  if (root.Has("active_power_mw")) {
    HWNAS_ASSIGN_OR_RETURN(double mw, root.Double("active_power_mw", std::nullopt, 0, 1e6));
    p.active_power_mw = mw;
  }
  HWNAS_ASSIGN_OR_RETURN(p.deployed, ReadDeployed(root));
  if (p.runtime_flash_bytes > p.flash_bytes) {
    return absl::InvalidArgumentError("runtime.flash_kb: exceeds flash_kb");
  }
  if (p.runtime_sram_bytes > p.sram_bytes) {
    return absl::InvalidArgumentError("runtime.sram_kb: exceeds sram_kb");
  }
  return p;
}

const CyclesPerMac& RatesFor(const McuProfile& p, int weight_bits) {
  if (weight_bits >= 32) return p.float32;
  if (weight_bits <= 4) return p.int4;
  return p.int8;
}

bool IsCheapActivation(Activation a) {
  return a == Activation::kRelu || a == Activation::kRelu6 || a == Activation::kIdentity;
}

std::string Kb(int64_t bytes) { return absl::StrFormat("%.1f KB", bytes / 1024.0); }

double DeployedCycles(const mcu::Footprint& f, const DeployedCosts& d) {
  double cycles = 0;
  for (const auto& [name, per] : d.cycles) {
    auto it = f.work.find(name);
    if (it != f.work.end()) cycles += it->second * per;
  }
  return cycles;
}

int64_t DeployedCodeBytes(const mcu::Footprint& f, const DeployedCosts& d) {
  double bytes = static_cast<double>(d.base_flash_bytes);
  for (const std::string& section : mcu::LinkedCode(f.kernel_calls)) {
    if (auto it = d.kernel_flash_bytes.find(section); it != d.kernel_flash_bytes.end()) {
      bytes += it->second;
    }
  }
  for (const auto& [kernel, calls] : f.kernel_calls) {
    if (auto it = d.call_flash_bytes.find(kernel); it != d.call_flash_bytes.end()) {
      bytes += it->second * static_cast<double>(calls);
    }
  }
  return static_cast<int64_t>(std::llround(bytes));
}

}  // namespace

absl::StatusOr<McuProfile> ParseMcuProfile(absl::string_view yaml_text, absl::string_view source) {
  absl::StatusOr<YamlSection> root = YamlSection::Parse(yaml_text);
  if (!root.ok()) return WithSource(source, root.status());
  absl::StatusOr<McuProfile> p;
  try {
    p = ParseSection(*root);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": malformed profile: ", e.what()));
  }
  if (!p.ok()) return WithSource(source, p.status());
  p->source = std::string(source);
  return p;
}

absl::StatusOr<McuProfile> LoadMcuProfileFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadRegularFile(path, kMaxProfileBytes);
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat(path, ": cannot open MCU profile (",
                                                           text.status().message(), ")"));
  }
  return ParseMcuProfile(*text, path);
}

bool IsDeviceFileName(absl::string_view name) { return hwnas::IsDeviceFileName(name); }

std::vector<std::string> DefaultProfileSearchPath() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("HWNAS_PROFILE_PATH"); env != nullptr) {
    for (absl::string_view d : absl::StrSplit(env, ':', absl::SkipEmpty())) {
      dirs.emplace_back(d);
    }
  }
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    dirs.push_back((self.parent_path().parent_path() / "share" / "hwnas" / "profiles").string());
  }
  dirs.emplace_back(HWNAS_PROFILE_DIR);
  return dirs;
}

std::vector<std::string> ListMcuProfiles(const std::vector<std::string>& search_path) {
  std::set<std::string> names;
  for (const std::string& dir : search_path) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".yaml") names.insert(entry.path().stem().string());
    }
  }
  return std::vector<std::string>(names.begin(), names.end());
}

absl::StatusOr<McuProfile> FindMcuProfile(absl::string_view name_or_path,
                                          const std::vector<std::string>& search_path) {
  if (!IsDeviceFileName(name_or_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("must be the name of an MCU profile (e.g. cortex-m7), got ",
                     QuoteValue(name_or_path), "; paths are not opened"));
  }
  for (const std::string& dir : search_path) {
    const std::string path = absl::StrCat(dir, "/", name_or_path, ".yaml");
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) continue;
    HWNAS_ASSIGN_OR_RETURN(McuProfile p, LoadMcuProfileFile(path));
    if (p.name != name_or_path) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": name: is '", p.name,
                                                     "' but the file is found as '", name_or_path,
                                                     "' (make them equal)"));
    }
    return p;
  }
  return absl::NotFoundError(absl::StrCat(
      "no MCU profile '", name_or_path, "' (looked for ", name_or_path,
      ".yaml in: ", search_path.empty() ? "no directories" : absl::StrJoin(search_path, ", "),
      "; available: ", absl::StrJoin(ListMcuProfiles(search_path), ", "), ")"));
}

McuEstimate EstimateMcu(const NetworkPlan& plan, const CostReport& costs,
                        const McuProfile& profile) {
  McuEstimate e;
  const int n = static_cast<int>(plan.ops.size());
  std::optional<mcu::Footprint> footprint;
  if (profile.deployed.present) {
    absl::StatusOr<mcu::Footprint> f = mcu::PlanFootprint(plan);
    if (f.ok()) footprint = *std::move(f);
  }
  const std::vector<int> consumers = ConsumerCounts(plan);
  e.op_cycles.assign(n, 0);
  for (int i = 1; i < n; ++i) {
    const Op& op = plan.ops[i];
    const OpCost& c = costs.ops[i];
    // Ops a deployment runtime fuses into a neighbour or drops.
    bool free = op.type == OpType::kDropout || op.type == OpType::kFlatten || c.folded;
    if (op.type == OpType::kActivation && IsCheapActivation(op.activation)) {
      const Op& prev = plan.ops[op.inputs[0]];
      const bool after_layer = prev.type == OpType::kConv || prev.type == OpType::kLinear ||
                               costs.ops[op.inputs[0]].folded;
      free = after_layer && consumers[op.inputs[0]] == 1;
    }
    if (free) continue;
    double cycles = profile.op_overhead_cycles;
    const int64_t out_elems = space::NumElements(op.output_shape);
    switch (op.type) {
      case OpType::kConv: {
        const CyclesPerMac& r = RatesFor(profile, op.weight_bits);
        const bool depthwise = op.groups == op.in_channels && op.groups > 1;
        cycles += c.macs * (depthwise ? r.depthwise : r.conv);
        break;
      }
      case OpType::kLinear:
        cycles += c.macs * RatesFor(profile, op.weight_bits).linear;
        break;
      case OpType::kRecurrent:
        cycles += c.macs * RatesFor(profile, op.weight_bits).recurrent;
        break;
      case OpType::kActivation:
        cycles +=
            out_elems * (IsCheapActivation(op.activation) ? profile.cycles_per_element
                                                          : profile.cycles_per_nonlinear_element);
        break;
      case OpType::kPool:
        cycles += out_elems * op.kernel_h * op.kernel_w * profile.cycles_per_element;
        break;
      case OpType::kGlobalAvgPool:
        cycles += space::NumElements(c.input_shape) * profile.cycles_per_element;
        break;
      default:  // BN not folded, add, mul, zero.
        cycles += out_elems * profile.cycles_per_element;
        break;
    }
    int64_t traffic = c.output_bytes + c.flash_bytes;
    for (int in : op.inputs) traffic += costs.ops[in].output_bytes;
    cycles += profile.memory_cycles_per_byte * static_cast<double>(traffic);
    e.op_cycles[i] = cycles;
    e.cycles += cycles;
  }
  if (footprint && !profile.deployed.cycles.empty()) {
    e.deployed = true;
    e.op_cycles.assign(n, 0);
    e.cycles = DeployedCycles(*footprint, profile.deployed);
  }
  e.latency_ms = e.cycles / (profile.clock_mhz * 1000.0);
  if (profile.active_power_mw) e.energy_mj = *profile.active_power_mw * e.latency_ms / 1000.0;

  int64_t peak = costs.totals.peak_activation_bytes, scratch = costs.max_scratch_bytes;
  int64_t model_flash = costs.totals.flash_bytes;
  int64_t runtime_sram = profile.runtime_sram_bytes, runtime_flash = profile.runtime_flash_bytes;
  if (footprint) {
    // The export's own arena and const data; the runtime is the kernels'
    // code and the stack.
    e.deployed = true;
    peak = footprint->arena_bytes;
    scratch = 0;
    model_flash = footprint->const_bytes;
    runtime_sram = profile.deployed.stack_bytes +
                   std::llround(mcu::DeepestKernelStack(footprint->kernel_calls,
                                                        profile.deployed.kernel_stack_bytes));
    runtime_flash = DeployedCodeBytes(*footprint, profile.deployed);
  }
  e.sram_needed_bytes = peak + scratch + runtime_sram;
  e.flash_needed_bytes = model_flash + runtime_flash;
  e.fits_sram = e.sram_needed_bytes <= profile.sram_bytes;
  e.fits_flash = e.flash_needed_bytes <= profile.flash_bytes;
  std::vector<std::string> problems;
  if (!e.fits_sram) {
    problems.push_back(absl::StrCat("SRAM: needs ", Kb(e.sram_needed_bytes),
                                    footprint ? " (arena " : " (peak activations ", Kb(peak),
                                    " + scratch ", Kb(scratch), " + runtime ", Kb(runtime_sram),
                                    ") > ", Kb(profile.sram_bytes), " on ", profile.name));
  }
  if (!e.fits_flash) {
    problems.push_back(absl::StrCat("flash: needs ", Kb(e.flash_needed_bytes), " (model ",
                                    Kb(model_flash), " + runtime ", Kb(runtime_flash), ") > ",
                                    Kb(profile.flash_bytes), " on ", profile.name));
  }
  if (problems.empty()) {
    e.reason = absl::StrCat("fits ", profile.name, ": SRAM ", Kb(e.sram_needed_bytes), " of ",
                            Kb(profile.sram_bytes), ", flash ", Kb(e.flash_needed_bytes), " of ",
                            Kb(profile.flash_bytes));
  } else {
    e.reason = absl::StrJoin(problems, "; ");
  }
  return e;
}

absl::StatusOr<McuEstimate> EstimateMcu(const NetworkPlan& plan, const McuProfile& profile) {
  HWNAS_ASSIGN_OR_RETURN(CostReport costs, ComputeCosts(plan));
  return EstimateMcu(plan, costs, profile);
}

void AddMcuEstimates(const McuProfile& profile, const McuEstimate& estimate,
                     std::map<std::string, double>* estimates) {
  (*estimates)[absl::StrCat("latency_ms@", profile.name)] = estimate.latency_ms;
  if (estimate.energy_mj)
    (*estimates)[absl::StrCat("energy_mj@", profile.name)] = *estimate.energy_mj;
}

}  // namespace hwnas::hardware

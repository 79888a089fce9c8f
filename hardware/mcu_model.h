// Analytical latency / energy / feasibility model for microcontrollers.
//
// A device profile is a YAML file (see hardware/profiles/*.yaml), so users add
// devices without code changes:
//
//   name: cortex-m4                # must match the file name when looked up by name
//   description: free text
//   clock_mhz: 80
//   sram_kb: 256                   # KiB (1024 bytes)
//   flash_kb: 1024
//   runtime:                       # what the inference runtime itself takes
//     flash_kb: 96                 #   code, kernels, tables
//     sram_kb: 16                  #   stack, tensor arena bookkeeping
//   cycles_per_mac:                # per weight precision and kernel kind
//     float32: {conv: 2.5, depthwise: 3.5, linear: 2.0, recurrent: 2.5}
//     int8:    {conv: 0.9, depthwise: 1.8, linear: 1.1, recurrent: 1.5}
//     int4:    {...}               # optional; absent: the int8 numbers
//   cycles_per_element:            # ops without weights (optional section)
//     elementwise: 1.0             #   add, multiply, unfused BN/ReLU, pooling
//                                  #   (default 1)
//     nonlinear: 15.0              #   sigmoid, tanh, ELU, hard-swish (default 10)
//   memory_cycles_per_byte: 0.25   # activations read + written, weights read
//                                  # (default 0)
//   op_overhead_cycles: 1500       # per kernel call (default 0)
//   active_power_mw: 30            # optional: energy = power * latency
//   deployed:                      # optional: hwnas's own int8 C export, as
//                                  # `hwnas-worker calibrate --mcu` measures it
//     base_flash_bytes: 120        #   model_infer's fixed code
//     kernel_flash_bytes: {hwnas_conv_s8: 2100, ...}  # code of each kernel
//                                  #   function a network links, and of the
//                                  #   helpers kernels share (hwnas_pool_s8;
//                                  #   mcu::CodeSectionNames)
//     call_flash_bytes: {hwnas_conv_s8: 22, ...}      # each call's code
//     stack_bytes: 200             #   the stack high-water mark; with
//                                  #   kernel_stack_bytes, only what lies
//                                  #   above the kernels' frames (model_infer's
//                                  #   frame and the caller's)
//     kernel_stack_bytes: {hwnas_conv_s8: 200, ...}  # each code section's
//                                  #   frame (gcc -fstack-usage); the stack is
//                                  #   stack_bytes + the deepest frame among
//                                  #   the kernels a network calls
//     cycles: {dot22.iter: 15, requantized: 24, ...}  # per work counter
//                                  #   (mcu::WorkCounterNames); optional
// Required: name, clock_mhz, sram_kb, flash_kb, cycles_per_mac.float32 and
// .int8 (all four kinds each). Unknown keys are errors.
//
// Per-op cycles = MACs * cycles_per_mac[precision][kind]
//               + elements * cycles_per_element (ops without weights; the
//                 output elements, times the window for pooling, or the
//                 input elements for global pooling)
//               + memory_cycles_per_byte * (input + output + weight bytes)
//               + op_overhead_cycles.
// Precision is the op's weight width (32 -> float32, 16 or 8 -> int8,
// 4 -> int4). Kinds: conv (groups < in_channels), depthwise, linear,
// recurrent. Batch norm folded into a conv (see costs.h), activations fused
// into the layer before them (ReLU/ReLU6/identity directly after a conv,
// linear or folded BN that feeds only them), dropout, flatten and the input
// cost nothing: deployment runtimes fuse or drop them.
// Latency ms = cycles / (clock_mhz * 1000).
//
// With a `deployed` section, a plan that lowers to int8 C (mcu/footprint.h)
// is priced as hwnas exports it instead: flash = the model's const data
// (exact) + the code of the kernels it links + each call's code + the base;
// SRAM = the memory planner's arena (the export's own) + stack_bytes + the
// deepest kernel frame (mcu::DeepestKernelStack; 0 without
// kernel_stack_bytes); and,
// when `cycles` is given, cycles = sum of the kernels' work counters times
// their cost. A plan that does not lower falls back to the formulas above.
//
// Feasibility: SRAM need = peak activations + max scratch + runtime sram;
// flash need = flash bytes + runtime flash. Either above the device's
// capacity makes the architecture infeasible, and `reason` says which and by
// how much.
#ifndef HWNAS_HARDWARE_MCU_MODEL_H_
#define HWNAS_HARDWARE_MCU_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hardware/costs.h"
#include "space/network_plan.h"

namespace hwnas::hardware {

struct CyclesPerMac {
  double conv = 1;
  double depthwise = 1;
  double linear = 1;
  double recurrent = 1;
};

// The `deployed` section (see above).
struct DeployedCosts {
  bool present = false;
  int64_t base_flash_bytes = 0;
  std::map<std::string, double> kernel_flash_bytes;  // Code section -> bytes.
  std::map<std::string, double> call_flash_bytes;    // Kernel function -> bytes per call.
  int64_t stack_bytes = 0;
  std::map<std::string, double> kernel_stack_bytes;  // Code section -> frame bytes.
  std::map<std::string, double> cycles;              // Work counter -> cycles per count.
};

struct McuProfile {
  std::string name;
  std::string description;
  std::string source;  // File it was read from ("" if built in code).
  double clock_mhz = 0;
  int64_t sram_bytes = 0;
  int64_t flash_bytes = 0;
  int64_t runtime_sram_bytes = 0;
  int64_t runtime_flash_bytes = 0;
  CyclesPerMac float32;
  CyclesPerMac int8;
  CyclesPerMac int4;
  double cycles_per_element = 1;
  double cycles_per_nonlinear_element = 1;
  double memory_cycles_per_byte = 0;
  double op_overhead_cycles = 0;
  std::optional<double> active_power_mw;
  DeployedCosts deployed;
};

// Parses a profile from YAML text; errors read "<source>: <field>: problem".
absl::StatusOr<McuProfile> ParseMcuProfile(absl::string_view yaml_text, absl::string_view source);
// Reads a profile file (a regular file of at most kMaxProfileBytes); errors
// name the path. For files the operator chose: a spec names profiles only.
absl::StatusOr<McuProfile> LoadMcuProfileFile(const std::string& path);
inline constexpr size_t kMaxProfileBytes = 256 * 1024;
// Whether `name` can name a profile or lookup table in a search-path
// directory: 1 to 64 of [A-Za-z0-9_.-], not starting with '.', no file
// extension (.yaml, .yml, .json). Specs are untrusted input: a name never
// leaves the operator's directories.
bool IsDeviceFileName(absl::string_view name);
// "<dir>/<name>.yaml" in each search-path directory in order (the
// operator's --profile-path, $HWNAS_PROFILE_PATH, the shipped profiles).
// A `name` that is not IsDeviceFileName (a path) is InvalidArgument and
// nothing is opened; NotFound lists the directories searched.
absl::StatusOr<McuProfile> FindMcuProfile(absl::string_view name,
                                          const std::vector<std::string>& search_path);
// $HWNAS_PROFILE_PATH (colon-separated directories), then an install's
// profiles (PREFIX/share/hwnas/profiles beside PREFIX/bin/<this program>),
// then the source tree's (hardware/profiles, for the build tree).
std::vector<std::string> DefaultProfileSearchPath();
// Names of the profiles (*.yaml stems) found on a search path, sorted, unique.
std::vector<std::string> ListMcuProfiles(const std::vector<std::string>& search_path);

struct McuEstimate {
  double cycles = 0;
  double latency_ms = 0;
  std::optional<double> energy_mj;
  std::vector<double> op_cycles;  // Per plan op (all 0 when `deployed` priced the plan).
  bool deployed = false;          // Priced by the profile's `deployed` section.
  int64_t sram_needed_bytes = 0;
  int64_t flash_needed_bytes = 0;
  bool fits_sram = false;
  bool fits_flash = false;
  bool feasible() const { return fits_sram && fits_flash; }
  std::string reason;  // Why infeasible, or a one-line summary when it fits.
};

absl::StatusOr<McuEstimate> EstimateMcu(const space::NetworkPlan& plan, const McuProfile& profile);
// Same, reusing costs already computed for the plan.
McuEstimate EstimateMcu(const space::NetworkPlan& plan, const CostReport& costs,
                        const McuProfile& profile);

// Adds "latency_ms@<name>" and, when known, "energy_mj@<name>" (the keys of
// TrialResult::estimates).
void AddMcuEstimates(const McuProfile& profile, const McuEstimate& estimate,
                     std::map<std::string, double>* estimates);

}  // namespace hwnas::hardware

#endif  // HWNAS_HARDWARE_MCU_MODEL_H_

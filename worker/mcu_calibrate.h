// `hwnas-worker calibrate --mcu CPU`: fits an MCU profile's coefficients
// (hardware/mcu_model.h) to the exported int8 C of random architectures of a
// space, measured in QEMU (mcu/firmware.h): instructions per inference,
// flash and SRAM. Torch-free: the networks get random weights (costs do not
// depend on the values), so no training is needed.
#ifndef HWNAS_WORKER_MCU_CALIBRATE_H_
#define HWNAS_WORKER_MCU_CALIBRATE_H_

#include <cstdint>
#include <functional>
#include <istream>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hardware/mcu_model.h"
#include "mcu/firmware.h"
#include "mcu/footprint.h"
#include "mcu/quantize.h"
#include "space/network_plan.h"
#include "space/search_space.h"

namespace hwnas::worker {

// Random weights and batch-norm statistics for every op of the plan, named as
// worker::TrainedParams names a trained network's.
mcu::ParamMap RandomPlanParams(const space::NetworkPlan& plan, uint64_t seed);

// The plan as hwnas exports it to a microcontroller: every layer in int8,
// except the 4-bit ones (packed int4). Same as mcu::DeployedPlan.
space::NetworkPlan DeployedPlan(space::NetworkPlan plan);

// One architecture's measured firmware next to the profile's estimate.
struct McuSample {
  std::string space;  // The search space's name.
  std::string arch;   // The space's readable form.
  int64_t macs = 0;
  std::vector<double> features;         // McuFeatureNames() order: the kernels' work counters.
  mcu::Footprint footprint;             // What the export holds and does (mcu/footprint.h).
  std::vector<double> legacy_features;  // The profile's legacy terms (cycles_per_mac, ...).
  int64_t stack_bytes = 0;              // Measured stack high-water mark.
  int64_t instructions = 0;             // One model_infer call, QEMU -icount.
  int64_t flash_bytes = 0;              // Firmware minus the empty firmware.
  int64_t sram_bytes = 0;               // Static data + bss + measured stack.
  double estimated_cycles = 0;          // Filled by EvaluateProfile.
  int64_t estimated_flash_bytes = 0;
  int64_t estimated_sram_bytes = 0;
};

// What the profile's `deployed.cycles` terms count for a plan: the int8
// kernels' work counters (mcu::WorkCounterNames()); all 0 for a plan that
// does not lower to int8 C.
const std::vector<std::string>& McuFeatureNames();
std::vector<double> McuFeatures(const space::NetworkPlan& plan);
// The same from a footprint.
std::vector<double> McuFeatures(const mcu::Footprint& footprint);

// Random weights, quantization on random inputs, C export, firmware built
// for `cpu` and run once in QEMU (killed after timeout_s).
absl::StatusOr<McuSample> MeasureMcuPlan(const space::NetworkPlan& plan, const std::string& cpu,
                                         uint64_t seed, const std::string& work_dir,
                                         double timeout_s = 300);

// The profile's `deployed` section from measurements: `cycles` by least
// squares on the relative error with non-negative coefficients
// (instructions ~ work counters x coefficients; counters no sample
// exercises are left out); stack_bytes the median measured stack. Code:
// with `kernel_code` (each code section's bytes, mcu::MeasureKernelCode),
// kernel_flash_bytes are those sizes and the base and each call's bytes are
// fitted by least squares on measured flash minus the exact const data and
// the linked sections; without it, the code bytes of each kernel function
// and of each call are fitted together (a kernel no sample links keeps
// `base`'s value). The legacy terms (cycles_per_mac, ...) keep `base`'s
// values. The result's cycles count emulator instructions.
hardware::McuProfile FitMcuProfile(const hardware::McuProfile& base,
                                   const std::vector<McuSample>& samples,
                                   const mcu::KernelBuild* kernel_code = nullptr);

// Estimates with `profile` into each sample; then the agreement.
struct McuAgreement {
  struct Metric {
    double within_2pct = 0, within_10pct = 0, within_20pct = 0, spearman = 0;
    double mean_error = 0, max_error = 0;  // |estimate / measured - 1|.
    int count = 0;
  };
  Metric instructions, flash, sram;
};
McuAgreement EvaluateProfile(const hardware::McuProfile& profile,
                             const std::vector<space::NetworkPlan>& plans,
                             std::vector<McuSample>& samples);

// The profile as YAML (hardware/mcu_model.h format), with `comment` lines
// on top.
std::string McuProfileYaml(const hardware::McuProfile& profile, const std::string& comment);

struct McuCalibrateOptions {
  std::string cpu = "cortex-m7";
  int fit_archs = 100;    // Architectures the coefficients are fitted on.
  int check_archs = 100;  // Other architectures the fit is checked on.
  // Per space (the order of `spaces`), when they differ: overrides the two
  // above.
  std::vector<int> fit_per_space, check_per_space;
  uint64_t seed = 0;
  std::string work_dir;  // Scratch for the generated projects.
  std::function<void(const std::string&)> progress;
  // When set, an architecture it holds (arch -> instructions, flash, SRAM)
  // is taken from it instead of building and running the firmware again;
  // the others are measured. Replays an earlier run with the same spec and
  // seed (see ParseMcuMeasurementLog), e.g. to refit a changed cost model or
  // to extend a run.
  const std::map<std::string, McuSample>* measured = nullptr;
};
// Measurements of an earlier calibrate --mcu run, by architecture: its
// "measured N/M: ..." progress lines (stderr) or its --check-out CSV.
std::map<std::string, McuSample> ParseMcuMeasurementLog(std::istream& log);
struct McuCalibration {
  hardware::McuProfile base, fitted;
  std::vector<McuSample> fit, check;  // check: estimates with `fitted`.
  McuAgreement before, after;         // On `check`: base vs fitted profile.
  // The same per search space (several spaces: one fit over all of them).
  std::map<std::string, McuAgreement> before_by_space, after_by_space;
  // Code bytes of each kernel section, compiled for the CPU (empty when the
  // toolchain is missing and every architecture was replayed).
  mcu::KernelBuild kernel_code;
};
// fit_archs and check_archs random architectures of each space (drawn as
// for that space alone with `seed`), one fit over all of them.
absl::StatusOr<McuCalibration> CalibrateMcu(const std::vector<const space::SearchSpace*>& spaces,
                                            const hardware::McuProfile& base,
                                            const McuCalibrateOptions& options);
absl::StatusOr<McuCalibration> CalibrateMcu(const space::SearchSpace& space,
                                            const hardware::McuProfile& base,
                                            const McuCalibrateOptions& options);

// The command: measures, fits, writes the profile YAML to out_path (and the
// check's estimate vs measurement per architecture to check_out, a CSV);
// prints the agreement before and after calibration. Returns an exit code.
struct McuCalibrateCommandOptions {
  // One spec per space (--spec A.yaml,B.yaml): one profile fitted on all.
  std::vector<std::string> spec_paths;
  std::string out_path, check_out, cpu;
  // --measured: reuse these earlier runs' logs or CSVs.
  std::vector<std::string> measured_logs;
  // Per spec (fit, check); one value applies to every spec.
  std::vector<int> archs = {100}, check = {100};
  uint64_t seed = 0;
  bool progress = true;
};
int RunMcuCalibrate(const McuCalibrateCommandOptions& options, std::ostream& out,
                    std::ostream& err);

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_MCU_CALIBRATE_H_

// `hwnas-worker export`: train one architecture of a spec (on the full data
// set by default) and save it as a TorchScript module that LibTorch
// (torch::jit::load) and Python (torch.jit.load) load. Torch-free header.
#ifndef HWNAS_WORKER_EXPORT_H_
#define HWNAS_WORKER_EXPORT_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

namespace hwnas::worker {

struct ExportOptions {
  std::string spec_path;
  std::string arch;      // Tokens or the space's readable form.
  std::string out_path;  // The TorchScript file (model.pt), or the C project's directory.
  // "torchscript", or "c": an int8 C99 project for a Cortex-M (mcu/codegen.h).
  std::string format = "torchscript";
  std::string target = "cortex-m7";  // --format c: cortex-m4 or cortex-m7.
  // --format c: build the firmware and run it in QEMU (bit-exact check and
  // measured flash, SRAM, instructions in the summary).
  bool measure = false;
  int firmware_samples = 8;  // Held-out samples compiled into the firmware harness.
  std::string data_dir;
  std::string summary_path;  // Also write the JSON summary here; empty: none.
  // Train on every sample of the data set (subsets of the spec's data section
  // are dropped); false keeps the spec's subsets (quick checks).
  bool full_data = true;
  std::optional<int> epochs;  // Default: the spec's training.epochs.
  std::optional<int> threads;
  std::optional<uint64_t> seed;
  bool progress = true;
};

// Trains, evaluates, saves the module (with architecture.json and plan.txt
// inside the archive), loads it back and checks that it gives the trained
// network's outputs on held-out samples. Prints a JSON summary to `out`.
// --format c: quantizes instead (calibrated on training samples), reports the
// int8 accuracy next to the float accuracy on the held-out split, writes the
// C project, checks its host build bit-exact against the int8 reference and,
// with `measure`, runs the firmware in QEMU.
// Returns a worker exit code (worker/commands.h).
int RunExport(const ExportOptions& options, std::ostream& out, std::ostream& err);

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_EXPORT_H_

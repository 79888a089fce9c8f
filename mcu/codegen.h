// C code generation: an Int8Model as a self-contained C99 project: weights as
// const arrays (flash), one static arena of the memory planner's size,
// the project's int8 kernels (runtime/hwnas_nn.c), the API
//   int model_infer(const int8_t* in, int8_t* out);
// a host program (stdin -> stdout, raw int8), a bare-metal firmware harness for
// QEMU's mps2 boards, and a Makefile for the host cc and arm-none-eabi-gcc.
#ifndef HWNAS_MCU_CODEGEN_H_
#define HWNAS_MCU_CODEGEN_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mcu/graph.h"

namespace hwnas::mcu {

struct CodegenOptions {
  std::string cpu = "cortex-m7";  // Makefile default: cortex-m4 or cortex-m7.
  // Quantized HWC inputs compiled into the firmware harness (fw_samples.h);
  // empty: one all-zero-point sample.
  std::vector<std::vector<int8_t>> firmware_samples;
};

// The files of the project, by name.
absl::StatusOr<std::map<std::string, std::string>> GenerateCProject(const Int8Model& model,
                                                                    const CodegenOptions& options);
// Writes them into `dir` (created if missing).
absl::Status WriteCProject(const Int8Model& model, const CodegenOptions& options,
                           const std::string& dir);

// The kernel sources shipped in every project (hwnas_nn.h/.c, startup.c,
// mps2.ld, fw_main.c), for benchmarks that build kernels alone.
const std::map<std::string, std::string>& RuntimeFiles();

// The project's Makefile with `cpu` as the default CPU.
std::string ProjectMakefile(const std::string& cpu);

// "cortex-m4" -> "mps2-an386", "cortex-m7" -> "mps2-an500".
absl::StatusOr<std::string> QemuMachineFor(const std::string& cpu);

}  // namespace hwnas::mcu

#endif  // HWNAS_MCU_CODEGEN_H_

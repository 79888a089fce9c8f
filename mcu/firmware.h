// Builds a generated C project (mcu/codegen.h) for the host and for Cortex-M,
// runs the firmware in qemu-system-arm, and measures it: flash (text + rodata
// + data minus an empty firmware built the same way), SRAM (static data + bss
// minus the empty firmware's, plus the measured stack high-water mark of
// model_infer) and deterministic instruction counts (QEMU -icount shift=10:
// one instruction = 1024 ns of virtual time = 25.6 ticks of the 25 MHz CMSDK
// APB TIMER0 the harness reads around each call).
#ifndef HWNAS_MCU_FIRMWARE_H_
#define HWNAS_MCU_FIRMWARE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hwnas::mcu {

// OK if `tool` runs; otherwise FailedPrecondition naming the Debian package.
absl::Status CheckTool(const std::string& tool, const std::string& debian_package);
// The cross toolchain and QEMU (gcc-arm-none-eabi, libnewlib-arm-none-eabi,
// qemu-system-arm).
absl::Status CheckFirmwareTools();

struct CommandResult {
  int exit_code = -1;
  bool timed_out = false;
  std::string output;  // stdout and stderr.
};
// Runs `command` through /bin/sh in `dir`, killed after timeout_s.
CommandResult RunShell(const std::string& command, const std::string& dir, double timeout_s,
                       const std::string& stdin_file = "");

// `make model_host` in dir, then runs it on the inputs; one output per input.
absl::StatusOr<std::vector<std::vector<int8_t>>> RunHostProgram(
    const std::string& dir, const std::vector<std::vector<int8_t>>& inputs, size_t output_size,
    double timeout_s = 120);

struct FirmwareMeasurement {
  std::string cpu, machine;
  int64_t flash_bytes = 0;                   // Model: firmware minus the empty firmware.
  int64_t empty_flash_bytes = 0;             // The empty firmware (harness, startup, samples).
  int64_t static_ram_bytes = 0;              // Model's data + bss (the arena among them).
  int64_t stack_bytes = 0;                   // Stack high-water mark below main's frame.
  int64_t sram_bytes = 0;                    // static_ram_bytes + stack_bytes.
  std::vector<std::vector<int8_t>> outputs;  // One per fw_samples.h sample.
  std::vector<int64_t> instructions;         // Per sample.
  std::vector<uint64_t> ticks;
};

// `make firmware CPU=cpu` in dir, runs the firmware in QEMU (killed after
// timeout_s: a hang fails with that reason) and parses its report.
absl::StatusOr<FirmwareMeasurement> BuildAndRunFirmware(const std::string& dir,
                                                        const std::string& cpu,
                                                        double timeout_s = 300);

// text, data, bss of an ELF (arm-none-eabi-size, Berkeley format).
struct ElfSizes {
  int64_t text = 0, data = 0, bss = 0;
};
absl::StatusOr<ElfSizes> ReadElfSizes(const std::string& elf);
// The same from arm-none-eabi-size's output.
absl::StatusOr<ElfSizes> ParseElfSizes(const std::string& output);

// The int8 kernels (runtime/hwnas_nn.c) compiled for `cpu` as a firmware
// compiles them (`make kernels`: -O2, -ffunction-sections, -fstack-usage).
struct KernelBuild {
  // Function -> its .text section's size (what --gc-sections links for it).
  std::map<std::string, int64_t> code_bytes;
  // Function -> its stack frame (gcc's static stack usage).
  std::map<std::string, int64_t> stack_bytes;
};
// Works in `dir` (created, then removed).
absl::StatusOr<KernelBuild> MeasureKernelCode(const std::string& cpu, const std::string& dir);
// The code bytes from `arm-none-eabi-size -A` output of the object.
std::map<std::string, int64_t> ParseTextSections(const std::string& size_output);
// The frames from a -fstack-usage file ("file.c:12:6:name\tbytes\tstatic").
std::map<std::string, int64_t> ParseStackUsage(const std::string& su_text);

// Runs an ELF in QEMU with the deterministic icount mode; returns its output.
absl::StatusOr<std::string> RunInQemu(const std::string& elf, const std::string& machine,
                                      double timeout_s);

// Instructions from timer ticks (-icount shift=10, 25 MHz timer).
int64_t TicksToInstructions(uint64_t ticks);

}  // namespace hwnas::mcu

#endif  // HWNAS_MCU_FIRMWARE_H_

#include "mcu/firmware.h"

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "mcu/codegen.h"

namespace hwnas::mcu {
namespace {

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace

CommandResult RunShell(const std::string& command, const std::string& dir, double timeout_s,
                       const std::string& stdin_file) {
  const std::string full = absl::StrCat(
      "cd ", Quote(dir.empty() ? "." : dir), " && timeout -k 5 ",
      std::max(1, static_cast<int>(std::ceil(timeout_s))), " /bin/sh -c ", Quote(command),
      " </dev/null", stdin_file.empty() ? "" : absl::StrCat(" <", Quote(stdin_file)), " 2>&1");
  CommandResult result;
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.timed_out = result.exit_code == 124 || result.exit_code == 137;
  return result;
}

absl::Status CheckTool(const std::string& tool, const std::string& debian_package) {
  CommandResult r = RunShell(absl::StrCat("command -v ", tool), "", 10);
  if (r.exit_code != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        tool, " not found: install the Debian package ", debian_package, " (scripts/setup)"));
  }
  return absl::OkStatus();
}

absl::Status CheckFirmwareTools() {
  if (absl::Status s = CheckTool("arm-none-eabi-gcc", "gcc-arm-none-eabi"); !s.ok()) return s;
  if (absl::Status s = CheckTool("arm-none-eabi-size", "binutils-arm-none-eabi"); !s.ok()) return s;
  if (absl::Status s = CheckTool("qemu-system-arm", "qemu-system-arm"); !s.ok()) return s;
  if (!std::filesystem::exists("/usr/lib/gcc/arm-none-eabi")) {
    return absl::FailedPreconditionError("arm-none-eabi libgcc missing: install gcc-arm-none-eabi");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::vector<int8_t>>> RunHostProgram(
    const std::string& dir, const std::vector<std::vector<int8_t>>& inputs, size_t output_size,
    double timeout_s) {
  CommandResult build = RunShell("make -s model_host", dir, timeout_s);
  if (build.exit_code != 0) {
    return absl::InternalError(absl::StrCat("host build failed in ", dir, ":\n", build.output));
  }
  const std::string in_path = dir + "/inputs.bin", out_path = dir + "/outputs.bin";
  {
    std::ofstream in(in_path, std::ios::binary | std::ios::trunc);
    for (const auto& v : inputs) in.write(reinterpret_cast<const char*>(v.data()), v.size());
    if (!in.flush()) return absl::InternalError(absl::StrCat("cannot write ", in_path));
  }
  CommandResult run = RunShell("./model_host > outputs.bin", dir, timeout_s, in_path);
  if (run.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("model_host failed (exit ", run.exit_code, "): ", run.output));
  }
  std::ifstream out(out_path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  if (bytes.size() != inputs.size() * output_size) {
    return absl::InternalError(absl::StrCat("model_host wrote ", bytes.size(), " bytes, expected ",
                                            inputs.size() * output_size));
  }
  std::vector<std::vector<int8_t>> outputs(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    outputs[i].assign(bytes.begin() + i * output_size, bytes.begin() + (i + 1) * output_size);
  }
  return outputs;
}

absl::StatusOr<ElfSizes> ParseElfSizes(const std::string& output) {
  // "   text    data     bss     dec     hex filename\n  1234  0  4096 ..."
  std::vector<std::string> lines = absl::StrSplit(output, '\n', absl::SkipEmpty());
  if (lines.size() < 2) return absl::InternalError(absl::StrCat("arm-none-eabi-size: ", output));
  // Columns are padded with spaces and separated by a tab, which is all that
  // is left between them once a number fills its column (text >= 1 MB).
  std::vector<std::string> f = absl::StrSplit(lines[1], absl::ByAnyChar(" \t"), absl::SkipEmpty());
  ElfSizes s;
  if (f.size() < 3 || !absl::SimpleAtoi(f[0], &s.text) || !absl::SimpleAtoi(f[1], &s.data) ||
      !absl::SimpleAtoi(f[2], &s.bss)) {
    return absl::InternalError(absl::StrCat("cannot parse arm-none-eabi-size: ", output));
  }
  return s;
}

absl::StatusOr<ElfSizes> ReadElfSizes(const std::string& elf) {
  CommandResult r = RunShell(absl::StrCat("arm-none-eabi-size -B ", Quote(elf)), "", 30);
  if (r.exit_code != 0) return absl::InternalError(absl::StrCat("arm-none-eabi-size: ", r.output));
  return ParseElfSizes(r.output);
}

std::map<std::string, int64_t> ParseTextSections(const std::string& size_output) {
  std::map<std::string, int64_t> sizes;
  for (absl::string_view line : absl::StrSplit(size_output, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    int64_t size = 0;
    if (f.size() < 2 || !absl::ConsumePrefix(&f[0], ".text.") || f[0].empty() ||
        !absl::SimpleAtoi(f[1], &size)) {
      continue;
    }
    sizes[std::string(f[0])] = size;
  }
  return sizes;
}

std::map<std::string, int64_t> ParseStackUsage(const std::string& su_text) {
  std::map<std::string, int64_t> frames;
  for (absl::string_view line : absl::StrSplit(su_text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, '\t');
    int64_t bytes = 0;
    const size_t colon = f.empty() ? absl::string_view::npos : f[0].rfind(':');
    if (f.size() < 2 || colon == absl::string_view::npos || !absl::SimpleAtoi(f[1], &bytes)) {
      continue;
    }
    frames[std::string(f[0].substr(colon + 1))] = bytes;
  }
  return frames;
}

absl::StatusOr<KernelBuild> MeasureKernelCode(const std::string& cpu, const std::string& dir) {
  if (absl::Status s = CheckFirmwareTools(); !s.ok()) return s;
  if (auto m = QemuMachineFor(cpu); !m.ok()) return m.status();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::map<std::string, std::string> files = {{"Makefile", ProjectMakefile(cpu)}};
  for (const char* name : {"hwnas_nn.c", "hwnas_nn.h"}) files[name] = RuntimeFiles().at(name);
  for (const auto& [name, text] : files) {
    std::ofstream f(std::filesystem::path(dir) / name, std::ios::trunc);
    f << text;
    if (!f.flush()) return absl::InternalError(absl::StrCat(dir, "/", name, ": cannot write"));
  }
  const std::string object = absl::StrCat("kernels-", cpu, ".o");
  CommandResult build = RunShell(absl::StrCat("make -s ", object, " CPU=", cpu), dir, 120);
  CommandResult size = build.exit_code == 0
                           ? RunShell(absl::StrCat("arm-none-eabi-size -A ", object), dir, 30)
                           : CommandResult{};
  std::string su;
  {
    std::ifstream in(std::filesystem::path(dir) / absl::StrCat("kernels-", cpu, ".su"));
    std::stringstream text;
    text << in.rdbuf();
    su = text.str();
  }
  std::filesystem::remove_all(dir, ec);
  if (build.exit_code != 0) {
    return absl::InternalError(absl::StrCat("kernel build failed:\n", build.output));
  }
  if (size.exit_code != 0) {
    return absl::InternalError(absl::StrCat("arm-none-eabi-size: ", size.output));
  }
  KernelBuild kernels;
  kernels.code_bytes = ParseTextSections(size.output);
  if (kernels.code_bytes.empty()) {
    return absl::InternalError(absl::StrCat("no .text sections in ", object, ": ", size.output));
  }
  kernels.stack_bytes = ParseStackUsage(su);
  return kernels;
}

absl::StatusOr<std::string> RunInQemu(const std::string& elf, const std::string& machine,
                                      double timeout_s) {
  CommandResult r =
      RunShell(absl::StrCat("qemu-system-arm -M ", machine,
                            " -nographic -monitor none -serial none -semihosting-config "
                            "enable=on,target=native -icount shift=10 -kernel ",
                            Quote(elf)),
               "", timeout_s);
  if (r.timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat("the firmware did not finish in QEMU within ", timeout_s, " s (killed)"));
  }
  if (r.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("QEMU run failed (exit ", r.exit_code, "): ", r.output));
  }
  return r.output;
}

int64_t TicksToInstructions(uint64_t ticks) {
  // One instruction = 2^10 ns; the timer ticks every 40 ns.
  return static_cast<int64_t>(std::llround(static_cast<double>(ticks) / 25.6));
}

absl::StatusOr<FirmwareMeasurement> BuildAndRunFirmware(const std::string& dir,
                                                        const std::string& cpu, double timeout_s) {
  if (absl::Status s = CheckFirmwareTools(); !s.ok()) return s;
  absl::StatusOr<std::string> machine = QemuMachineFor(cpu);
  if (!machine.ok()) return machine.status();
  CommandResult build = RunShell(absl::StrCat("make -s firmware CPU=", cpu), dir, timeout_s);
  if (build.exit_code != 0) {
    return absl::InternalError(absl::StrCat("firmware build failed:\n", build.output));
  }
  FirmwareMeasurement m;
  m.cpu = cpu;
  m.machine = *machine;
  const std::string elf = absl::StrCat(dir, "/firmware-", cpu, ".elf");
  const std::string empty = absl::StrCat(dir, "/empty-", cpu, ".elf");
  absl::StatusOr<ElfSizes> full = ReadElfSizes(elf), base = ReadElfSizes(empty);
  if (!full.ok()) return full.status();
  if (!base.ok()) return base.status();
  m.empty_flash_bytes = base->text + base->data;
  m.flash_bytes = full->text + full->data - m.empty_flash_bytes;
  m.static_ram_bytes = full->data + full->bss - base->data - base->bss;
  absl::StatusOr<std::string> out = RunInQemu(elf, *machine, timeout_s);
  if (!out.ok()) return out.status();
  for (absl::string_view line : absl::StrSplit(*out, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() == 5 && f[0] == "OUT" && f[3] == "TICKS") {
      std::vector<int8_t> bytes;
      for (size_t i = 0; i + 1 < f[2].size(); i += 2) {
        int v = 0;
        if (!absl::SimpleHexAtoi(f[2].substr(i, 2), &v)) {
          return absl::InternalError(absl::StrCat("bad firmware output line: ", line));
        }
        bytes.push_back(static_cast<int8_t>(static_cast<uint8_t>(v)));
      }
      uint64_t ticks = 0;
      if (!absl::SimpleAtoi(f[4], &ticks)) {
        return absl::InternalError(absl::StrCat("bad firmware output line: ", line));
      }
      m.outputs.push_back(std::move(bytes));
      m.ticks.push_back(ticks);
      m.instructions.push_back(TicksToInstructions(ticks));
    } else if (f.size() == 2 && f[0] == "STACK") {
      if (!absl::SimpleAtoi(f[1], &m.stack_bytes)) {
        return absl::InternalError(absl::StrCat("bad firmware output line: ", line));
      }
    }
  }
  if (m.outputs.empty()) {
    return absl::InternalError(absl::StrCat("the firmware printed no outputs: ", *out));
  }
  m.sram_bytes = m.static_ram_bytes + m.stack_bytes;
  return m;
}

}  // namespace hwnas::mcu

#include "worker/mcu_measure.h"

#include "absl/strings/str_cat.h"

namespace hwnas::worker {

std::string MeasuredMetricName(const std::string& metric, const std::string& cpu) {
  return absl::StrCat(metric, "@", cpu);
}

absl::StatusOr<McuFeasibility> ApplyMcuMeasurement(const nlohmann::json& summary,
                                                   const hardware::McuProfile* profile,
                                                   TrialResult* result) {
  const auto measured = summary.find("measured");
  const auto target = summary.find("target");
  if (measured == summary.end() || !measured->is_object() || target == summary.end() ||
      !target->is_string()) {
    return absl::InvalidArgumentError("MCU summary: no target or measured section");
  }
  const std::string cpu = target->get<std::string>();
  int64_t flash = 0, sram = 0, instructions = 0;
  double int8_accuracy = 0;
  try {
    flash = measured->at("flash_bytes").get<int64_t>();
    sram = measured->at("sram_bytes").get<int64_t>();
    instructions = measured->at("instructions").get<int64_t>();
    int8_accuracy = summary.at("int8_accuracy").get<double>();
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("MCU summary: ", e.what()));
  }
  if (flash < 0 || sram < 0 || instructions < 0) {
    return absl::InvalidArgumentError("MCU summary: negative measurement");
  }
  // Everything checked before anything is written.
  result->estimates[MeasuredMetricName("measured_flash_bytes", cpu)] = static_cast<double>(flash);
  result->estimates[MeasuredMetricName("measured_sram_bytes", cpu)] = static_cast<double>(sram);
  result->estimates[MeasuredMetricName("measured_instructions", cpu)] =
      static_cast<double>(instructions);
  result->estimates[MeasuredMetricName("int8_accuracy", cpu)] = int8_accuracy;
  McuFeasibility f;
  if (profile != nullptr) {
    if (flash > profile->flash_bytes) {
      f.feasible = false;
      absl::StrAppend(&f.reason, "measured flash ", flash, " B exceeds ", profile->name, "'s ",
                      profile->flash_bytes, " B");
    }
    if (sram > profile->sram_bytes) {
      f.feasible = false;
      absl::StrAppend(&f.reason, f.reason.empty() ? "" : "; ", "measured SRAM ", sram,
                      " B exceeds ", profile->name, "'s ", profile->sram_bytes, " B");
    }
  }
  return f;
}

}  // namespace hwnas::worker

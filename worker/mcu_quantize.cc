#include "worker/mcu_quantize.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "mcu/codegen.h"
#include "mcu/firmware.h"

namespace hwnas::worker {
namespace {

void Add(mcu::ParamMap& map, const std::string& name, const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kFloat).contiguous();
  mcu::ParamArray a;
  a.shape.assign(c.sizes().begin(), c.sizes().end());
  a.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  map[name] = std::move(a);
}

int64_t ArgMax(const float* v, int64_t n) { return std::max_element(v, v + n) - v; }

}  // namespace

mcu::ParamMap TrainedParams(PlanNetImpl& net) {
  mcu::ParamMap map;
  for (const auto& p : net.named_parameters()) Add(map, p.key(), p.value());
  for (const auto& b : net.named_buffers()) Add(map, b.key(), b.value());
  return map;
}

absl::StatusOr<mcu::Int8Model> QuantizeTrainedNet(PlanNetImpl& net, const Dataset& calibration,
                                                  int64_t calibration_samples) {
  try {
    torch::NoGradGuard no_grad;
    absl::StatusOr<mcu::FloatGraph> graph = mcu::LowerPlan(net.plan(), TrainedParams(net));
    if (!graph.ok()) return graph.status();
    const int64_t n = std::min(calibration_samples, calibration.size());
    if (n <= 0) return absl::InvalidArgumentError("calibration: the data set is empty");
    std::vector<std::vector<float>> samples;
    for (int64_t i = 0; i < n; ++i) {
      samples.push_back(mcu::ToHwc(graph->source_shape, calibration.sample(i)));
    }
    return mcu::Quantize(*graph, samples);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("quantization failed: ", ExceptionMessage(e)));
  }
}

absl::StatusOr<Int8Evaluation> EvaluateInt8(PlanNetImpl& net, const mcu::Int8Model& model,
                                            const Dataset& data, int64_t max_samples) {
  try {
    torch::NoGradGuard no_grad;
    net.eval();
    Int8Evaluation e;
    e.samples = max_samples > 0 ? std::min(max_samples, data.size()) : data.size();
    if (e.samples == 0) return absl::InvalidArgumentError("evaluation: the data set is empty");
    const int64_t classes = model.output_dims().size();
    int64_t float_ok = 0, int8_ok = 0, agree = 0;
    constexpr int64_t kBatch = 256;
    for (int64_t start = 0; start < e.samples; start += kBatch) {
      const int64_t n = std::min(kBatch, e.samples - start);
      std::vector<int64_t> shape = {n};
      shape.insert(shape.end(), data.sample_shape.begin(), data.sample_shape.end());
      torch::Tensor x =
          torch::from_blob(const_cast<float*>(data.sample(start)), shape, torch::kFloat);
      torch::Tensor logits = net.forward(x).contiguous();
      for (int64_t i = 0; i < n; ++i) {
        const int64_t label = data.labels[start + i];
        const int64_t f = ArgMax(logits[i].data_ptr<float>(), classes);
        const std::vector<int8_t> out = mcu::RunInt8(
            model,
            mcu::QuantizeInput(model, mcu::ToHwc(model.source_shape, data.sample(start + i))));
        const int64_t q = std::max_element(out.begin(), out.end()) - out.begin();
        float_ok += f == label;
        int8_ok += q == label;
        agree += f == q;
      }
    }
    e.float_accuracy = static_cast<double>(float_ok) / e.samples;
    e.int8_accuracy = static_cast<double>(int8_ok) / e.samples;
    e.agreement = static_cast<double>(agree) / e.samples;
    return e;
  } catch (const std::exception& ex) {
    return absl::InternalError(absl::StrCat("int8 evaluation failed: ", ExceptionMessage(ex)));
  }
}

namespace internal {

absl::StatusOr<nlohmann::json> ExportMcuProject(PlanNet& net, const Dataset& train,
                                                const Dataset& held_out, const std::string& dir,
                                                const std::string& target, bool measure,
                                                int firmware_samples, std::ostream* log) {
  absl::StatusOr<mcu::Int8Model> model = QuantizeTrainedNet(*net, train, 256);
  if (!model.ok()) return model.status();
  absl::StatusOr<Int8Evaluation> eval = EvaluateInt8(*net, *model, held_out);
  if (!eval.ok()) return eval.status();
  if (log != nullptr) {
    *log << "int8: accuracy " << eval->int8_accuracy << " (float " << eval->float_accuracy
         << ") on " << eval->samples << " held-out samples\n"
         << std::flush;
  }
  std::vector<std::vector<int8_t>> inputs;
  for (int64_t i = 0; i < std::min<int64_t>(std::max(firmware_samples, 1), held_out.size()); ++i) {
    inputs.push_back(
        mcu::QuantizeInput(*model, mcu::ToHwc(model->source_shape, held_out.sample(i))));
  }
  mcu::CodegenOptions options;
  options.cpu = target;
  options.firmware_samples = inputs;
  if (absl::Status s = mcu::WriteCProject(*model, options, dir); !s.ok()) return s;
  std::vector<std::vector<int8_t>> expected;
  for (const auto& in : inputs) expected.push_back(mcu::RunInt8(*model, in));
  nlohmann::json j = {{"target", target},
                      {"float_accuracy", eval->float_accuracy},
                      {"int8_accuracy", eval->int8_accuracy},
                      {"int8_float_agreement", eval->agreement},
                      {"eval_samples", eval->samples},
                      {"macs", model->macs()},
                      {"weight_bytes", model->weight_bytes()},
                      {"arena_bytes", model->memory.arena_size},
                      {"input_scale", model->q[0].scale},
                      {"input_zero_point", model->q[0].zero_point},
                      {"output_scale", model->q[model->output].scale},
                      {"output_zero_point", model->q[model->output].zero_point}};
  // The host build must reproduce the reference; a mismatch is a bug.
  absl::StatusOr<std::vector<std::vector<int8_t>>> host =
      mcu::RunHostProgram(dir, inputs, model->output_dims().size());
  if (!host.ok()) return host.status();
  if (*host != expected) {
    return absl::InternalError("the generated C (host build) differs from the int8 reference");
  }
  j["host_bit_exact_samples"] = inputs.size();
  mcu::RunShell("make -s clean", dir, 30);
  if (measure) {
    absl::StatusOr<mcu::FirmwareMeasurement> m = mcu::BuildAndRunFirmware(dir, target);
    if (!m.ok()) return m.status();
    if (m->outputs != expected) {
      return absl::InternalError(absl::StrCat("the firmware's outputs in QEMU (", m->machine,
                                              ") differ from the int8 reference"));
    }
    j["measured"] = {
        {"machine", m->machine},         {"bit_exact_samples", m->outputs.size()},
        {"flash_bytes", m->flash_bytes}, {"empty_firmware_flash_bytes", m->empty_flash_bytes},
        {"sram_bytes", m->sram_bytes},   {"static_ram_bytes", m->static_ram_bytes},
        {"stack_bytes", m->stack_bytes}, {"instructions", m->instructions.front()}};
    if (log != nullptr) {
      *log << "firmware (" << m->machine << "): " << m->instructions.front()
           << " instructions per inference, flash " << m->flash_bytes << " B, SRAM "
           << m->sram_bytes << " B; bit-exact on " << m->outputs.size() << " samples\n"
           << std::flush;
    }
  }
  return j;
}

}  // namespace internal

absl::StatusOr<McuFeasibility> MeasureTrialOnMcu(PlanNet& net, const Dataset& train,
                                                 const Dataset& held_out, const std::string& cpu,
                                                 const hardware::McuProfile* profile,
                                                 TrialResult* result) {
  static std::atomic<int> next{0};  // Concurrent trials get their own directories.
  const std::string dir = (std::filesystem::temp_directory_path() /
                           absl::StrCat("hwnas-measure-mcu-", ::getpid(), "-", next++, "-", cpu))
                              .string();
  absl::StatusOr<nlohmann::json> summary =
      internal::ExportMcuProject(net, train, held_out, dir, cpu, /*measure=*/true, 4, nullptr);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (!summary.ok()) return summary.status();
  return ApplyMcuMeasurement(*summary, profile, result);
}

absl::StatusOr<Int8Evaluation> HostInt8Evaluation(PlanNet& net, const Dataset& train,
                                                  const Dataset& held_out) {
  absl::StatusOr<mcu::Int8Model> model = QuantizeTrainedNet(*net, train, 256);
  if (!model.ok()) return model.status();
  return EvaluateInt8(*net, *model, held_out);
}

absl::StatusOr<McuFeasibility> MeasureTrainedNet(PlanNet& net, const Dataset& train,
                                                 const Dataset& held_out,
                                                 const std::vector<McuMeasureJob>& jobs,
                                                 TrialResult* result) {
  std::map<std::string, double> measured;  // Merged into `result` once all succeeded.
  McuFeasibility all;
  for (const McuMeasureJob& job : jobs) {
    TrialResult one;
    absl::StatusOr<McuFeasibility> f =
        MeasureTrialOnMcu(net, train, held_out, job.cpu, &job.profile, &one);
    if (!f.ok()) {
      return absl::Status(f.status().code(), absl::StrCat("measuring target ", job.target, " on ",
                                                          job.cpu, ": ", f.status().message()));
    }
    // MeasureTrialOnMcu keys by CPU; a spec names its targets.
    const std::string cpu_suffix = absl::StrCat("@", job.cpu);
    for (const auto& [key, value] : one.estimates) {
      if (key.size() <= cpu_suffix.size() ||
          key.compare(key.size() - cpu_suffix.size(), cpu_suffix.size(), cpu_suffix) != 0) {
        continue;
      }
      measured[absl::StrCat(key.substr(0, key.size() - cpu_suffix.size()), "@", job.target)] =
          value;
    }
    if (!f->feasible) {
      all.feasible = false;
      absl::StrAppend(&all.reason, all.reason.empty() ? "" : "; ", "target ", job.target, ": ",
                      f->reason);
    }
  }
  for (auto& [key, value] : measured) result->estimates[key] = value;
  return all;
}

}  // namespace hwnas::worker

#include "worker/mcu_quantize.h"

#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

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

}  // namespace hwnas::worker

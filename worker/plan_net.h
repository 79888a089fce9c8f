// LibTorch module that executes a space::NetworkPlan op by op. Includes torch:
// only the worker's torch translation units include this header.
//
// Ops with weight_bits 8 or 4 train with fake quantization: per output
// channel, symmetric, straight-through gradients, so accuracy measured on the
// module is that of the quantized network. Parameter counts equal the IR's
// (BN weight+bias; LSTM/GRU with PyTorch's two bias vectors).
#ifndef HWNAS_WORKER_PLAN_NET_H_
#define HWNAS_WORKER_PLAN_NET_H_

#include <torch/torch.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "space/network_plan.h"

namespace hwnas::worker {

class PlanNetImpl : public torch::nn::Module {
 public:
  // The plan must be valid (as PlanBuilder::Finish returns it); use
  // BuildPlanNet for a Status instead of an exception on bad plans.
  explicit PlanNetImpl(space::NetworkPlan plan);

  // x: {N, ...input_shape}, or {N, ...} with as many elements per sample
  // (reshaped: EEG {C, T} data for a plan on {1, C, T}). Returns the output
  // op's value, {N, classes}.
  torch::Tensor forward(torch::Tensor x);

  // Replaces fake-quantized weights by their quantized values and stops
  // re-quantizing on every forward (for evaluation and latency runs after
  // training). Quantization is idempotent, so results do not change.
  void FreezeQuantization();

  const space::NetworkPlan& plan() const { return plan_; }

  // When set, forward adds each op's wall time (ms) to (*op_ms)[i]; the
  // vector must have one slot per plan op. nullptr turns timing off.
  void set_op_timer(std::vector<double>* op_ms) { op_ms_ = op_ms; }
  // When set, forward calls it with each op's index and output value as soon
  // as the op has run (training-free proxies read activations and
  // representations this way). nullptr turns it off.
  using ValueObserver = std::function<void(size_t op, const torch::Tensor& value)>;
  void set_value_observer(const ValueObserver* observer) { observer_ = observer; }
  int64_t NumParameters() const;

 private:
  struct Node {
    space::OpType type;
    std::vector<int> inputs;
    torch::Tensor weight, bias;               // conv, linear, bn.
    torch::Tensor running_mean, running_var;  // bn.
    std::vector<torch::Tensor> rnn_params;    // w_ih, w_hh, b_ih, b_hh.
    int quant_max = 0;                        // 127 (8-bit), 7 (4-bit), 0 = float.
  };
  torch::Tensor Weight(const Node& node, const torch::Tensor& w) const;
  torch::Tensor Run(size_t i, const Node& node, std::vector<torch::Tensor>& values,
                    const torch::Tensor& x);

  space::NetworkPlan plan_;
  std::vector<Node> nodes_;
  std::vector<std::vector<int>> release_after_;  // Values no longer needed after op i.
  bool quant_frozen_ = false;
  std::vector<double>* op_ms_ = nullptr;
  const ValueObserver* observer_ = nullptr;
};
TORCH_MODULE(PlanNet);

// Builds the module, turning plan errors and LibTorch exceptions into Status.
// Weights are initialized from torch's global generator (seed it first).
absl::StatusOr<PlanNet> BuildPlanNet(const space::NetworkPlan& plan);

// Per-output-channel symmetric fake quantization with a straight-through
// gradient; `quant_max` = 2^(bits-1) - 1.
torch::Tensor FakeQuantizePerChannel(const torch::Tensor& w, int quant_max);

// The message of a LibTorch (c10::Error, without its backtrace) or standard
// exception, for Status messages.
std::string ExceptionMessage(const std::exception& e);

}  // namespace hwnas::worker

#endif  // HWNAS_WORKER_PLAN_NET_H_

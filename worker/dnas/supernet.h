// The FBNet-style supernet of the MnasNet space (LibTorch): every candidate
// of each block's decisions at once, mixed by per-decision weights, with one
// architecture parameter vector per decision of the space (token order).
//
// How each decision is relaxed (a one-hot weight gives exactly that choice's
// structure, except where noted):
//   op x kernel  each layer holds the 10 candidate bodies (5 ops x 2 kernels)
//                and outputs their sum weighted by w_op[o] * w_kernel[k];
//   se           inside each body, h * (w_se[0] + w_se[1] * gate(h));
//   skip         + w_skip[1] * input on layers that keep their shape;
//   width        bodies run at the block's widest choice and their output is
//                multiplied by sum_w w_width[w] * mask_w, mask_w keeping the
//                first channels(w) channels (FBNetV2's channel masking);
//   layers       the block runs its most layers and outputs
//                sum_t w_layers[t] * (output after layers(t) layers);
//   weight_bits  every weight is sum_b w_bits[b] * fake_quant_b(weight).
// Approximations: layers run at the widest input (masked channels are zero
// on entry; batch norm shifts may make them non-zero inside a body), and the
// first layer of a block adds its skip only when the widest shapes match.
//
// The expected costs (latency, flash, SRAM) under the same weights come from
// worker/dnas/cost_tables.h, so gradients reach the architecture parameters
// through both the task loss and the cost terms.
#ifndef HWNAS_WORKER_DNAS_SUPERNET_H_
#define HWNAS_WORKER_DNAS_SUPERNET_H_

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "space/mnasnet_space.h"
#include "worker/dnas/cost_tables.h"

namespace hwnas::worker::dnas {

// One weight vector per decision of the space, in token order: softmax
// probabilities, Gumbel-softmax samples or one-hot choices.
using DecisionWeights = std::vector<torch::Tensor>;

// What the search loop needs of any supernet: the architecture parameters
// (one vector per decision of the space, token order, registered as
// "theta<d>"), the network's weights and a forward pass under given
// per-decision weights. Each space's supernet derives from it.
class SupernetBase : public torch::nn::Module {
 public:
  // x: {N, ...input_shape}. Returns logits {N, classes}.
  virtual torch::Tensor Forward(const torch::Tensor& x, const DecisionWeights& w) = 0;

  // Architecture parameters (one per decision) and the network's weights.
  const std::vector<torch::Tensor>& arch_parameters() const { return theta_; }
  std::vector<torch::Tensor> weight_parameters() const;

  DecisionWeights Probabilities() const;  // softmax(theta), no gradient.
  // Gumbel-softmax samples softmax((theta + g) / tau), differentiable in theta.
  DecisionWeights Sample(double tau) const;
  DecisionWeights OneHot(absl::Span<const int> tokens) const;
  std::vector<int> Argmax() const;

 protected:
  // Registers one zero vector (uniform distribution) per decision.
  void AddArchParameters(const std::vector<space::Decision>& decisions);

 private:
  std::vector<torch::Tensor> theta_;
};

class SupernetImpl : public SupernetBase {
 public:
  // Uses the space's options and data shape. Weights are initialized from
  // torch's global generator; architecture parameters start at zero
  // (uniform distribution).
  explicit SupernetImpl(const space::MnasnetSpace& space);

  // x: {N, ...input_shape}. Returns logits {N, classes}.
  torch::Tensor forward(const torch::Tensor& x, const DecisionWeights& w);
  torch::Tensor Forward(const torch::Tensor& x, const DecisionWeights& w) override {
    return forward(x, w);
  }

 private:
  struct Layer;
  struct Block;
  torch::Tensor Conv(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias,
                     int stride, int groups, const torch::Tensor* bits) const;
  torch::Tensor Bn(const torch::Tensor& x, int index) const;
  // Registers a conv weight {out, in/groups, k[, k]} and its batch norm.
  int AddConvBn(int64_t in, int64_t out, int kernel, int groups);
  torch::Tensor ConvBn(const torch::Tensor& x, int index, int stride, bool relu,
                       const torch::Tensor* bits) const;
  torch::Tensor Body(const torch::Tensor& x, const Layer& layer, int candidate, int stride,
                     const torch::Tensor& w_se, const torch::Tensor* bits) const;

  const space::MnasnetSpace& space_;
  int dims_ = 2;
  // Conv + BN units: weight, then BN gamma, beta and running statistics.
  struct ConvBnUnit {
    torch::Tensor weight, gamma, beta, mean, var;
    int groups = 1;
    int kernel = 1;
  };
  std::vector<ConvBnUnit> units_;
  std::vector<std::shared_ptr<Block>> blocks_;
  int stem_ = -1, head_ = -1;
  torch::Tensor fc_weight_, fc_bias_;
};
TORCH_MODULE(Supernet);

// Expected latency (ms), flash and SRAM needs (bytes) under `w`, as scalar
// double tensors differentiable in `w`.
struct ExpectedCosts {
  torch::Tensor latency_ms, flash_bytes, sram_bytes;
};
class CostModel {
 public:
  CostModel(const CostTables& tables, const space::MnasnetSpace& space);
  ExpectedCosts Expected(const DecisionWeights& w) const;
  const CostTables& tables() const { return tables_; }

 private:
  CostTables tables_;
  bool quantize_ = false;
  std::vector<torch::Tensor> latency_, flash_, peak_;    // Per block, {kBlockEntries}.
  torch::Tensor rest_latency_, rest_flash_, rest_peak_;  // {3, 3}: [bits][last width].
};

// FBNet's loss: ce * alpha * log(LAT_us)^beta + memory_penalty * (relu(SRAM /
// limit - 1) + relu(flash / limit - 1)) (limits that are 0 are skipped).
// LAT in microseconds keeps log(LAT) >= 1 for any network worth running.
torch::Tensor DnasLoss(const torch::Tensor& ce, const ExpectedCosts& costs,
                       int64_t sram_limit_bytes, int64_t flash_limit_bytes, double alpha,
                       double beta, double memory_penalty);
// The same with the limits of `tables`.
torch::Tensor DnasLoss(const torch::Tensor& ce, const ExpectedCosts& costs,
                       const CostTables& tables, double alpha, double beta, double memory_penalty);

}  // namespace hwnas::worker::dnas

#endif  // HWNAS_WORKER_DNAS_SUPERNET_H_

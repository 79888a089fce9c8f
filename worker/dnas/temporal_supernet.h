// The FBNet-style supernet of the temporal space (LibTorch) and its expected
// costs: every candidate of each conv and recurrent layer at once, mixed by
// per-decision weights, one architecture parameter vector per decision of
// the space in token order (so OneHot/Argmax/MostLikely work as for mnasnet).
//
// How each decision is relaxed (a one-hot weight gives exactly that choice's
// structure, except where noted under "Approximations"):
//   conv<i>.op x kernel x dilation
//                each layer holds one body per (op in {conv, sep}, kernel,
//                dilation) with its own weights and batch norm, and outputs
//                w_op[none] * input + sum w_op[o] * w_k[k] * w_d[d] * body;
//                "none" is the identity (the canonical form packs layers, so
//                a none layer passes its input on). A weight vector that is
//                exactly one-hot "none" skips the bodies (and the pool).
//   conv<i>.channels
//                bodies run at the widest channel count and their output is
//                multiplied by sum_c w_c[c] * mask_c, mask_c keeping the
//                first channels(c) channels (FBNetV2's channel masking).
//   conv<i>.pool a hard straight-through Gumbel sample (GDAS): the layer
//                pools when the pool weight's argmax is "2" and its output is
//                scaled by w[choice] - stop_gradient(w[choice]) + 1 (value 1,
//                gradient of the soft weight). Why hard: the two choices give
//                sequences of different lengths, and every later layer (its
//                dilation, the LSTM's steps) acts on the length it gets; a mix
//                after resampling back to T would make a one-hot "2" a
//                different network (the next layer would see repeated steps).
//                With Sample()'s soft weights the argmax is a Gumbel-max
//                sample of softmax(theta), so pools are drawn with the
//                learned probabilities. A layer left with fewer than 2 steps
//                does not pool (the space refuses such tokens).
//   rnn<j>.cell  w_cell[none] * input + w_lstm * lstm(input) + w_gru *
//                gru(input), each cell's own weights; none is the identity.
//   rnn<j>.hidden
//                cells run at the widest hidden size; the hidden state is
//                multiplied by the mixed mask after every step (inside the
//                recurrence, so a one-hot mask is exactly the smaller cell:
//                the masked units feed nothing back).
//   head         the stand-alone network reads the last hidden state when a
//                cell exists and averages over time otherwise; the supernet
//                outputs (1 - q) * last step + q * time average, q = prod_j
//                w_cell_j[none] (the probability that no cell exists).
// Feature widths: the conv stack runs at Wc = max(input channels, widest
// channels), the recurrent stack at max(Wc, widest hidden); narrower tensors
// are zero-padded (the raw input too, so that a none first layer passes it
// on) and the classifier reads the padded features (zero columns are inert).
// Approximations: (1) with soft weights a pooling layer also pools its
// identity share (w_op[none] * input), since both shares must have one
// length; a one-hot "none" never pools. (2) Bodies of layer i >= 2 take the
// widest input even when the input is the zero-padded raw series, so a
// body's first input channels see the raw input in some samples and a
// previous layer's channels in others (weight sharing across inputs, as
// any one-shot supernet). (3) Batch norm statistics of a body are collected
// under the mixture.
//
// Expected costs (TemporalCostModel): a layer's cost depends on its own
// choices and on its input: the feature width of the last existing layer
// before it (the input's channels, one of the channel choices or one of the
// hidden sizes) and the number of pools before it (the time length), and a
// cell's also on whether a later cell exists (it then returns the whole
// sequence). The expectation is computed exactly by a chain DP over that
// state: P(state) is a {features, pools} tensor of torch ops, each layer
// adds sum_state P(state) * sum_choice P(choice) * cost(state, choice) and
// moves P(state) on; the head adds sum_state P(final state) * cost(state).
// So latency and flash are exact expectations under the factorized
// distribution (and exact for one-hot weights). SRAM need is max live bytes
// + max scratch bytes over all ops (as the MCU model): the expectation of a
// max is taken as the max over layers of each layer's expected value (a
// lower bound of the true expectation by Jensen; exact for one-hot weights).
// Pooling choices enter the costs with their soft weights (an expectation
// over both lengths), not the hard sample of the forward pass.
//
// The tables come from lowering, for every reachable state and choice, one
// architecture of the space whose prefix produces that state, and
// attributing its ops by scope ("conv<n>.", "rnn<n>.", the rest), so the
// one-hot expectation equals the cost model's estimate of the architecture.
#ifndef HWNAS_WORKER_DNAS_TEMPORAL_SUPERNET_H_
#define HWNAS_WORKER_DNAS_TEMPORAL_SUPERNET_H_

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "space/temporal_space.h"
#include "worker/dnas/cost_tables.h"
#include "worker/dnas/supernet.h"

namespace hwnas::worker::dnas {

class TemporalSupernetImpl : public SupernetBase {
 public:
  // Uses the space's options and data shape {C, T}. Weights from torch's
  // global generator; architecture parameters start at zero.
  explicit TemporalSupernetImpl(const space::TemporalSpace& space);

  // x: {N, C, T}. Returns logits {N, classes}.
  torch::Tensor forward(const torch::Tensor& x, const DecisionWeights& w);
  torch::Tensor Forward(const torch::Tensor& x, const DecisionWeights& w) override {
    return forward(x, w);
  }

 private:
  struct ConvBody {
    torch::Tensor dw, weight, gamma, beta, mean, var;  // dw only for sep.
    int kernel = 1, dilation = 1;
    bool sep = false;
  };
  struct ConvLayer {
    std::vector<ConvBody> bodies;  // [op][kernel][dilation], op 0 = conv, 1 = sep.
    int64_t in = 0;
  };
  struct Cell {
    torch::Tensor w_ih, w_hh, b_ih, b_hh;
  };
  torch::Tensor Body(const torch::Tensor& x, const ConvBody& b) const;
  torch::Tensor RunCell(const torch::Tensor& seq, const Cell& cell, bool lstm,
                        const torch::Tensor& mask) const;

  const space::TemporalSpace& space_;
  int64_t conv_width_ = 0, rnn_width_ = 0, max_channels_ = 0, max_hidden_ = 0;
  std::vector<ConvLayer> convs_;
  std::vector<std::array<Cell, 2>> cells_;  // [layer][lstm, gru].
  torch::Tensor channel_masks_;             // {channel choices, max_channels}.
  torch::Tensor hidden_masks_;              // {hidden choices, max_hidden}.
  torch::Tensor fc_weight_, fc_bias_;
};
TORCH_MODULE(TemporalSupernet);

// Cost tables of the temporal space. State index: (f, p) with f the feature
// width of the last existing layer (0: the input's channels, 1..nc: the
// channel choices, nc+1..nc+nh: the hidden sizes) and p the pools so far
// (0..conv_layers); entries of unreachable states are 0.
struct TemporalCostTables {
  int features = 0, pools = 0;  // Sizes of f and p.
  int conv_choices = 0;         // 2 ops x kernels x dilations x channels x 2 pools.
  int rnn_choices = 0;          // 2 (later cell exists: no, yes) x 2 cells x hidden.
  // Per cost kind, conv: {features, pools, conv_choices}; rnn: {features,
  // pools, rnn_choices}; head: {features, pools}; row-major.
  struct Kind {
    std::vector<double> conv, rnn, head;
  };
  Kind latency_ms, flash_bytes, live_bytes, scratch_bytes;
  // pool_next[p]: pools after a pooling layer that had p before (p when
  // fewer than 2 time steps are left).
  std::vector<int> pool_next;
  int64_t sram_limit_bytes = 0, flash_limit_bytes = 0;
  int64_t runtime_sram_bytes = 0, runtime_flash_bytes = 0;
  std::string target;
};

// Errors: a lookup table that lacks an op's key (NotFound, naming it).
absl::StatusOr<TemporalCostTables> BuildTemporalCostTables(const space::TemporalSpace& space,
                                                           const LatencySource& source,
                                                           std::optional<int> activation_bits);

class TemporalCostModel {
 public:
  TemporalCostModel(TemporalCostTables tables, const space::TemporalSpace& space);
  // Expected latency (ms), flash and SRAM need (bytes) under `w`, scalar
  // double tensors differentiable in `w`.
  ExpectedCosts Expected(const DecisionWeights& w) const;
  // P(f, p) after every conv and recurrent layer, {features, pools}.
  torch::Tensor FinalState(const DecisionWeights& w) const;
  // The one-hot expectation of one token list (for reports and tests).
  OneHotCosts CostsOf(absl::Span<const int> tokens) const;
  const TemporalCostTables& tables() const { return tables_; }

 private:
  ExpectedCosts Run(const DecisionWeights& w, torch::Tensor* final_state) const;

  TemporalCostTables tables_;
  const space::TemporalSpace& space_;
  torch::Tensor shift_;                       // {pools, pools}: p -> pool_next[p].
  torch::Tensor conv_[4], rnn_[4], head_[4];  // Latency, flash, live, scratch.
};

}  // namespace hwnas::worker::dnas

#endif  // HWNAS_WORKER_DNAS_TEMPORAL_SUPERNET_H_

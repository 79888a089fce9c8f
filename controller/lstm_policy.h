// The MnasNet controller's policy network with a hand-written backward pass.
// Internal to controller/ (and its tests); includes torch.
//
// A stacked LSTM emits one token per decision: step i's input is a start
// embedding (i = 0) or the embedding of the token chosen at step i-1, and a
// per-decision head turns the top layer's output into logits,
// tanh_constant * tanh(head . h / temperature) (plain head . h / temperature
// when tanh_constant is 0).
//
// Why not autograd: with the controller's tiny matrices (hidden 100, six
// decisions) an update is a few hundred LibTorch ops of a few microseconds
// each in dispatch and graph bookkeeping, far more than their arithmetic, and
// PPO repeats it for several epochs per batch. Here a layer-step is two ATen
// matrix products forward and four backward (LibTorch's BLAS), and everything
// elementwise is a plain loop.
#ifndef HWNAS_CONTROLLER_LSTM_POLICY_H_
#define HWNAS_CONTROLLER_LSTM_POLICY_H_

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace hwnas::controller::internal {

struct LstmPolicyShape {
  int64_t hidden = 100;
  int layers = 1;
  std::vector<int64_t> choices;  // Per decision.
  double temperature = 5.0;
  double tanh_constant = 2.5;  // 0 = no tanh squashing.
  // Where the squashing's pre-activations (head . h / T) start to count as
  // saturated: tanh' is 0.07 at 2, but 1e-3 at 4 and 2e-5 at 6, so a policy
  // pushed that far can no longer be moved by any gradient (see Backward).
  double saturation_bound = 2.0;
};

class LstmPolicy {
 public:
  // Parameters are float32 and contiguous, left for the owner to initialize:
  // start [1, H]; per layer w_ih, w_hh [4H, H] and b_ih, b_hh [4H] (gate
  // order i, f, g, o as torch::lstm_cell); embed[i] [choices_i, H] for
  // i < D - 1; head[i] [choices_i, H].
  explicit LstmPolicy(LstmPolicyShape shape);

  const LstmPolicyShape& shape() const { return shape_; }

  torch::Tensor start;
  std::vector<torch::Tensor> w_ih, w_hh, b_ih, b_hh;
  std::vector<torch::Tensor> embed, head;

  // Every parameter and its gradient (same shape), in the order start, then
  // per layer w_ih, w_hh, b_ih, b_hh, then per decision embed (if any) and
  // head: the order the controller creates and saves them in.
  std::vector<torch::Tensor> Parameters() const;
  std::vector<torch::Tensor> Gradients() const;
  void ZeroGradients();

  // What Backward needs from a forward pass.
  struct Trace {
    int64_t n = 0;
    struct Cell {
      torch::Tensor x, h_prev, c_prev;  // [n, H] inputs.
      torch::Tensor gates;              // [n, 4H] after the nonlinearities.
      torch::Tensor c, tanh_c;          // [n, H].
    };
    std::vector<std::vector<Cell>> cells;      // [step][layer].
    std::vector<torch::Tensor> top;            // [step] top layer output [n, H].
    std::vector<std::vector<float>> pre_tanh;  // [step] head . h / T, [n * choices].
    std::vector<std::vector<float>> logp;      // [step] log-softmax, [n * choices].
  };

  // Runs n = tokens.size() sequences. With `uniform` set, each step's token
  // of each sequence is drawn from the policy (uniform() in [0, 1), called in
  // step-major, sequence-minor order) and written into tokens; otherwise the
  // given tokens are scored. Returns per sequence the summed log-probability
  // and entropy; fills `trace` when it is not null.
  void Forward(std::vector<std::vector<int>>& tokens, const std::function<double()>& uniform,
               std::vector<double>& logp, std::vector<double>& entropy, Trace* trace) const;

  // Adds to the gradients d/dθ of sum_b (dlogp[b] * logp_b + dentropy[b] *
  // entropy_b + dsaturation[b] * saturation_b) for the sequences of `trace`
  // (scored with `tokens`), where saturation_b = 1/2 sum over steps and
  // choices of max(0, |pre_tanh| - saturation_bound)^2 (0 without squashing).
  // A positive dsaturation keeps the pre-activations where tanh still passes
  // gradients: a policy driven deep into saturation is frozen, whatever it
  // later observes. An empty dsaturation means zeros.
  void Backward(const Trace& trace, const std::vector<std::vector<int>>& tokens,
                const std::vector<double>& dlogp, const std::vector<double>& dentropy,
                const std::vector<double>& dsaturation = {});

 private:
  LstmPolicyShape shape_;
  torch::Tensor g_start_;
  std::vector<torch::Tensor> g_w_ih_, g_w_hh_, g_b_ih_, g_b_hh_, g_embed_, g_head_;
};

}  // namespace hwnas::controller::internal

#endif  // HWNAS_CONTROLLER_LSTM_POLICY_H_

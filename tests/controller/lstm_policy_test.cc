// The controller's hand-written LSTM policy against the same computation
// written with LibTorch autograd: log-probabilities, entropies and every
// parameter gradient must agree.
#include "controller/lstm_policy.h"

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace hwnas::controller::internal {
namespace {

struct Reference {
  torch::Tensor logp, entropy, saturation;  // [n], with autograd.
};

// The policy's forward pass in LibTorch ops on `params` (Parameters() order).
Reference AutogradForward(const LstmPolicyShape& shape, const std::vector<torch::Tensor>& params,
                          const std::vector<std::vector<int>>& tokens) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  size_t k = 0;
  torch::Tensor start = params[k++];
  std::vector<torch::Tensor> w_ih, w_hh, b_ih, b_hh, embed, head;
  for (int l = 0; l < shape.layers; ++l) {
    w_ih.push_back(params[k++]);
    w_hh.push_back(params[k++]);
    b_ih.push_back(params[k++]);
    b_hh.push_back(params[k++]);
  }
  for (size_t i = 0; i < shape.choices.size(); ++i) {
    if (i + 1 < shape.choices.size()) embed.push_back(params[k++]);
    head.push_back(params[k++]);
  }
  std::vector<torch::Tensor> hs(shape.layers, torch::zeros({n, shape.hidden}));
  std::vector<torch::Tensor> cs(shape.layers, torch::zeros({n, shape.hidden}));
  torch::Tensor logp = torch::zeros({n}), entropy = torch::zeros({n});
  torch::Tensor saturation = torch::zeros({n});
  torch::Tensor prev;
  for (size_t i = 0; i < shape.choices.size(); ++i) {
    torch::Tensor x = i == 0 ? start.expand({n, shape.hidden}) : embed[i - 1].index_select(0, prev);
    for (int l = 0; l < shape.layers; ++l) {
      auto hc = torch::lstm_cell(x, {hs[l], cs[l]}, w_ih[l], w_hh[l], b_ih[l], b_hh[l]);
      hs[l] = std::get<0>(hc);
      cs[l] = std::get<1>(hc);
      x = hs[l];
    }
    torch::Tensor logits = torch::matmul(x, head[i].t()) / shape.temperature;
    if (shape.tanh_constant > 0) {
      saturation =
          saturation + 0.5 * torch::relu(logits.abs() - shape.saturation_bound).pow(2).sum(1);
      logits = shape.tanh_constant * torch::tanh(logits);
    }
    torch::Tensor lp = torch::log_softmax(logits, 1);
    std::vector<int64_t> col;
    for (const auto& t : tokens) col.push_back(t[i]);
    torch::Tensor idx = torch::tensor(col, torch::kInt64);
    logp = logp + lp.gather(1, idx.unsqueeze(1)).squeeze(1);
    entropy = entropy - (lp.exp() * lp).sum(1);
    prev = idx;
  }
  return {logp, entropy, saturation};
}

class LstmPolicyTest : public ::testing::TestWithParam<std::tuple<int, double>> {};

TEST_P(LstmPolicyTest, MatchesAutograd) {
  torch::manual_seed(7);
  LstmPolicyShape shape;
  shape.hidden = 12;
  shape.layers = std::get<0>(GetParam());
  shape.tanh_constant = std::get<1>(GetParam());
  shape.temperature = 0.8;        // Sharper than the default, so gradients are not tiny.
  shape.saturation_bound = 0.05;  // Low, so that some pre-activations are past it.
  shape.choices = {3, 5, 2, 4};
  LstmPolicy policy(shape);
  std::vector<torch::Tensor> reference_params;
  for (torch::Tensor& p : policy.Parameters()) {
    torch::NoGradGuard no_grad;
    p.copy_(torch::rand(p.sizes()) - 0.5);
    reference_params.push_back(p.clone().set_requires_grad(true));
  }
  std::vector<std::vector<int>> tokens = {{0, 4, 1, 3}, {2, 0, 0, 1}, {1, 2, 1, 0}, {2, 4, 1, 3}};
  const std::vector<double> dlogp = {0.7, -1.3, 0.2, 0.05};
  const std::vector<double> dentropy = {-0.4, -0.4, 0.9, -0.1};
  const std::vector<double> dsaturation = {0.6, 1.5, 0.0, 2.0};

  std::vector<double> logp, entropy;
  LstmPolicy::Trace trace;
  policy.Forward(tokens, nullptr, logp, entropy, &trace);
  policy.ZeroGradients();
  policy.Backward(trace, tokens, dlogp, dentropy, dsaturation);

  Reference ref = AutogradForward(shape, reference_params, tokens);
  for (size_t b = 0; b < tokens.size(); ++b) {
    EXPECT_NEAR(logp[b], ref.logp[b].item<double>(), 1e-5) << b;
    EXPECT_NEAR(entropy[b], ref.entropy[b].item<double>(), 1e-5) << b;
  }
  if (shape.tanh_constant > 0) {
    EXPECT_GT(ref.saturation.sum().item<double>(), 0.01) << "the bound is never passed";
  }
  auto as_tensor = [](const std::vector<double>& v) {
    return torch::tensor(v, torch::kFloat64).to(torch::kFloat32);
  };
  torch::Tensor loss = (ref.logp * as_tensor(dlogp) + ref.entropy * as_tensor(dentropy) +
                        ref.saturation * as_tensor(dsaturation))
                           .sum();
  loss.backward();
  std::vector<torch::Tensor> grads = policy.Gradients();
  ASSERT_EQ(grads.size(), reference_params.size());
  for (size_t k = 0; k < grads.size(); ++k) {
    const torch::Tensor& expected = reference_params[k].grad();
    ASSERT_TRUE(expected.defined()) << k;
    EXPECT_GT(expected.abs().max().item<double>(), 1e-6) << "parameter " << k << " gets no signal";
    EXPECT_TRUE(torch::allclose(grads[k], expected, 1e-3, 1e-5))
        << "parameter " << k << ": max difference "
        << (grads[k] - expected).abs().max().item<double>();
  }
}

INSTANTIATE_TEST_SUITE_P(LayersAndTanh, LstmPolicyTest,
                         ::testing::Values(std::make_tuple(1, 2.5), std::make_tuple(2, 2.5),
                                           std::make_tuple(2, 0.0)));

TEST(LstmPolicySamplingTest, SamplesFollowTheLogProbabilities) {
  LstmPolicyShape shape;
  shape.hidden = 6;
  shape.choices = {3, 2};
  shape.temperature = 0.5;
  LstmPolicy policy(shape);
  torch::manual_seed(3);
  for (torch::Tensor& p : policy.Parameters()) {
    torch::NoGradGuard no_grad;
    p.copy_(torch::rand(p.sizes()) * 2 - 1);
  }
  // Sampled tokens are scored with the log-probability they were drawn with,
  // and their frequencies follow it.
  std::vector<std::vector<int>> tokens(4000, std::vector<int>(2));
  uint64_t state = 12345;
  auto uniform = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  };
  std::vector<double> logp, entropy, rescored, unused;
  policy.Forward(tokens, uniform, logp, entropy, nullptr);
  policy.Forward(tokens, nullptr, rescored, unused, nullptr);
  std::vector<int> count(6, 0);
  double p00 = 0;
  for (size_t b = 0; b < tokens.size(); ++b) {
    EXPECT_NEAR(logp[b], rescored[b], 1e-9);
    ++count[tokens[b][0] * 2 + tokens[b][1]];
    if (tokens[b][0] == 0 && tokens[b][1] == 0) p00 = std::exp(logp[b]);
  }
  ASSERT_GT(count[0], 0);
  EXPECT_NEAR(count[0] / 4000.0, p00, 0.03);
}

}  // namespace
}  // namespace hwnas::controller::internal

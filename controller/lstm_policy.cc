#include "controller/lstm_policy.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/base/const_init.h"
#include "absl/synchronization/mutex.h"

namespace hwnas::controller::internal {
namespace {

// Held around every pass that multiplies matrices. LibTorch hands them to the
// system BLAS, and the serial OpenBLAS that scripts/setup installs is not safe
// to call from two threads at once: concurrent products come back wrong (the
// server runs each search's controller under that search's own lock, so two
// searches can update at the same time). The passes are short (well under a
// millisecond at batch 8), so searches waiting on each other lose little.
ABSL_CONST_INIT absl::Mutex blas_mutex(absl::kConstInit);

float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// tanh through one expf: about twice as fast as std::tanh (expm1f), which was
// the largest single cost of sampling; absolute error ~1e-7.
float Tanh(float x) {
  const float a = std::min(std::abs(x), 20.0f);  // tanh(20) == 1 in float.
  const float t = 1.0f - 2.0f / (std::exp(2.0f * a) + 1.0f);
  return std::copysign(t, x);
}

torch::Tensor Zeros(std::vector<int64_t> shape) { return torch::zeros(shape, torch::kFloat32); }

// The saved order: start, per layer w_ih, w_hh, b_ih, b_hh, then per
// decision embed (all but the last) and head.
std::vector<torch::Tensor> InSavedOrder(const torch::Tensor& start,
                                        const std::vector<torch::Tensor>& w_ih,
                                        const std::vector<torch::Tensor>& w_hh,
                                        const std::vector<torch::Tensor>& b_ih,
                                        const std::vector<torch::Tensor>& b_hh,
                                        const std::vector<torch::Tensor>& embed,
                                        const std::vector<torch::Tensor>& head) {
  std::vector<torch::Tensor> out = {start};
  for (size_t l = 0; l < w_ih.size(); ++l)
    out.insert(out.end(), {w_ih[l], w_hh[l], b_ih[l], b_hh[l]});
  for (size_t i = 0; i < head.size(); ++i) {
    if (i < embed.size()) out.push_back(embed[i]);
    out.push_back(head[i]);
  }
  return out;
}

}  // namespace

LstmPolicy::LstmPolicy(LstmPolicyShape shape) : shape_(std::move(shape)) {
  const int64_t h = shape_.hidden;
  start = Zeros({1, h});
  g_start_ = Zeros({1, h});
  for (int l = 0; l < shape_.layers; ++l) {
    w_ih.push_back(Zeros({4 * h, h}));
    w_hh.push_back(Zeros({4 * h, h}));
    b_ih.push_back(Zeros({4 * h}));
    b_hh.push_back(Zeros({4 * h}));
    g_w_ih_.push_back(Zeros({4 * h, h}));
    g_w_hh_.push_back(Zeros({4 * h, h}));
    g_b_ih_.push_back(Zeros({4 * h}));
    g_b_hh_.push_back(Zeros({4 * h}));
  }
  const size_t d = shape_.choices.size();
  for (size_t i = 0; i < d; ++i) {
    if (i + 1 < d) {
      embed.push_back(Zeros({shape_.choices[i], h}));
      g_embed_.push_back(Zeros({shape_.choices[i], h}));
    }
    head.push_back(Zeros({shape_.choices[i], h}));
    g_head_.push_back(Zeros({shape_.choices[i], h}));
  }
}

std::vector<torch::Tensor> LstmPolicy::Parameters() const {
  return InSavedOrder(start, w_ih, w_hh, b_ih, b_hh, embed, head);
}

std::vector<torch::Tensor> LstmPolicy::Gradients() const {
  return InSavedOrder(g_start_, g_w_ih_, g_w_hh_, g_b_ih_, g_b_hh_, g_embed_, g_head_);
}

void LstmPolicy::ZeroGradients() {
  for (torch::Tensor& g : Gradients()) g.zero_();
}

void LstmPolicy::Forward(std::vector<std::vector<int>>& tokens,
                         const std::function<double()>& uniform, std::vector<double>& logp,
                         std::vector<double>& entropy, Trace* trace) const {
  absl::MutexLock blas_lock(&blas_mutex);
  torch::NoGradGuard no_grad;
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t hd = shape_.hidden;
  const int layers = shape_.layers;
  const size_t steps = shape_.choices.size();
  const float inv_t = static_cast<float>(1.0 / shape_.temperature);
  const float tc = static_cast<float>(shape_.tanh_constant);
  logp.assign(n, 0.0);
  entropy.assign(n, 0.0);
  if (trace != nullptr) {
    *trace = Trace();
    trace->n = n;
  }
  std::vector<torch::Tensor> bias(layers);
  for (int l = 0; l < layers; ++l) bias[l] = b_ih[l] + b_hh[l];
  std::vector<torch::Tensor> hs(layers, Zeros({n, hd}));
  std::vector<torch::Tensor> cs(layers, Zeros({n, hd}));
  for (size_t i = 0; i < steps; ++i) {
    // Layer 0's input: the start embedding or the previous token's embedding.
    torch::Tensor x = torch::empty({n, hd}, torch::kFloat32);
    {
      float* xp = x.data_ptr<float>();
      for (int64_t b = 0; b < n; ++b) {
        const float* src = i == 0 ? start.data_ptr<float>()
                                  : embed[i - 1].data_ptr<float>() + tokens[b][i - 1] * hd;
        std::copy(src, src + hd, xp + b * hd);
      }
    }
    std::vector<Trace::Cell> cells;
    for (int l = 0; l < layers; ++l) {
      torch::Tensor gates = torch::addmm(bias[l], x, w_ih[l].t());
      gates.addmm_(hs[l], w_hh[l].t());
      torch::Tensor c = torch::empty({n, hd}, torch::kFloat32);
      torch::Tensor tanh_c = torch::empty({n, hd}, torch::kFloat32);
      torch::Tensor h = torch::empty({n, hd}, torch::kFloat32);
      float* g = gates.data_ptr<float>();
      const float* cp = cs[l].data_ptr<float>();
      float* cn = c.data_ptr<float>();
      float* tn = tanh_c.data_ptr<float>();
      float* hn = h.data_ptr<float>();
      for (int64_t b = 0; b < n; ++b) {
        float* gb = g + b * 4 * hd;
        for (int64_t j = 0; j < hd; ++j) {
          const float ig = Sigmoid(gb[j]);
          const float fg = Sigmoid(gb[hd + j]);
          const float gg = Tanh(gb[2 * hd + j]);
          const float og = Sigmoid(gb[3 * hd + j]);
          gb[j] = ig;
          gb[hd + j] = fg;
          gb[2 * hd + j] = gg;
          gb[3 * hd + j] = og;
          const int64_t k = b * hd + j;
          cn[k] = fg * cp[k] + ig * gg;
          tn[k] = Tanh(cn[k]);
          hn[k] = og * tn[k];
        }
      }
      if (trace != nullptr) cells.push_back({x, hs[l], cs[l], gates, c, tanh_c});
      hs[l] = h;
      cs[l] = c;
      x = h;
    }
    // Head, log-softmax, sampling or scoring, entropy.
    const int64_t nc = shape_.choices[i];
    std::vector<float> pre(n * nc), lp(n * nc);
    const float* hp = x.data_ptr<float>();
    const float* wp = head[i].data_ptr<float>();
    for (int64_t b = 0; b < n; ++b) {
      float* row = lp.data() + b * nc;
      float top = -INFINITY;
      for (int64_t k = 0; k < nc; ++k) {
        float dot = 0;
        for (int64_t j = 0; j < hd; ++j) dot += wp[k * hd + j] * hp[b * hd + j];
        pre[b * nc + k] = dot * inv_t;
        row[k] = tc > 0 ? tc * std::tanh(pre[b * nc + k]) : pre[b * nc + k];
        top = std::max(top, row[k]);
      }
      double sum = 0;
      for (int64_t k = 0; k < nc; ++k) sum += std::exp(static_cast<double>(row[k] - top));
      const float lse = top + static_cast<float>(std::log(sum));
      double ent = 0;
      for (int64_t k = 0; k < nc; ++k) {
        row[k] -= lse;
        ent -= std::exp(static_cast<double>(row[k])) * row[k];
      }
      if (uniform) {
        const double u = uniform();
        double cum = 0;
        int k = 0;
        for (; k + 1 < nc; ++k) {
          cum += std::exp(static_cast<double>(row[k]));
          if (u < cum) break;
        }
        tokens[b][i] = k;
      }
      logp[b] += row[tokens[b][i]];
      entropy[b] += ent;
    }
    if (trace != nullptr) {
      trace->cells.push_back(std::move(cells));
      trace->top.push_back(x);
      trace->pre_tanh.push_back(std::move(pre));
      trace->logp.push_back(std::move(lp));
    }
  }
}

void LstmPolicy::Backward(const Trace& trace, const std::vector<std::vector<int>>& tokens,
                          const std::vector<double>& dlogp, const std::vector<double>& dentropy,
                          const std::vector<double>& dsaturation) {
  absl::MutexLock blas_lock(&blas_mutex);
  torch::NoGradGuard no_grad;
  const int64_t n = trace.n;
  const int64_t hd = shape_.hidden;
  const int layers = shape_.layers;
  const size_t steps = shape_.choices.size();
  const float inv_t = static_cast<float>(1.0 / shape_.temperature);
  const float tc = static_cast<float>(shape_.tanh_constant);
  const double bound = shape_.saturation_bound;
  // Gradients flowing back through time into step i's h and c, per layer.
  std::vector<torch::Tensor> dh_next(layers, Zeros({n, hd}));
  std::vector<torch::Tensor> dc_next(layers, Zeros({n, hd}));
  for (size_t i = steps; i-- > 0;) {
    // Head: d/dlogit_k of dlogp * logp[token] + dentropy * H, where
    // dlogp/dlogit_k = [k == token] - p_k and dH/dlogit_k = -p_k (logp_k + H).
    const int64_t nc = shape_.choices[i];
    const std::vector<float>& lp = trace.logp[i];
    const std::vector<float>& pre = trace.pre_tanh[i];
    torch::Tensor dtop = Zeros({n, hd});
    float* dt = dtop.data_ptr<float>();
    const float* top = trace.top[i].data_ptr<float>();
    const float* wp = head[i].data_ptr<float>();
    float* gw = g_head_[i].data_ptr<float>();
    for (int64_t b = 0; b < n; ++b) {
      const float* row = lp.data() + b * nc;
      double ent = 0;
      for (int64_t k = 0; k < nc; ++k) ent -= std::exp(static_cast<double>(row[k])) * row[k];
      for (int64_t k = 0; k < nc; ++k) {
        const double p = std::exp(static_cast<double>(row[k]));
        double dlogit =
            dlogp[b] * ((k == tokens[b][i] ? 1.0 : 0.0) - p) + dentropy[b] * (-p * (row[k] + ent));
        if (tc > 0) {
          const double x = pre[b * nc + k];
          const double t = std::tanh(x);
          dlogit *= tc * (1 - t * t);
          const double excess = std::abs(x) - bound;
          if (excess > 0 && !dsaturation.empty())
            dlogit += dsaturation[b] * std::copysign(excess, x);
        }
        const float dpre = static_cast<float>(dlogit) * inv_t;  // d(head . h).
        for (int64_t j = 0; j < hd; ++j) {
          gw[k * hd + j] += dpre * top[b * hd + j];
          dt[b * hd + j] += dpre * wp[k * hd + j];
        }
      }
    }
    // Down the layers of step i.
    torch::Tensor dh_above = dtop;
    for (int l = layers; l-- > 0;) {
      const Trace::Cell& cell = trace.cells[i][l];
      torch::Tensor dgates = torch::empty({n, 4 * hd}, torch::kFloat32);
      torch::Tensor dc_prev = torch::empty({n, hd}, torch::kFloat32);
      const float* g = cell.gates.data_ptr<float>();
      const float* cp = cell.c_prev.data_ptr<float>();
      const float* tcn = cell.tanh_c.data_ptr<float>();
      const float* dha = dh_above.data_ptr<float>();
      const float* dhn = dh_next[l].data_ptr<float>();
      const float* dcn = dc_next[l].data_ptr<float>();
      float* dg = dgates.data_ptr<float>();
      float* dcp = dc_prev.data_ptr<float>();
      float* gb_ih = g_b_ih_[l].data_ptr<float>();
      float* gb_hh = g_b_hh_[l].data_ptr<float>();
      for (int64_t b = 0; b < n; ++b) {
        const float* gb = g + b * 4 * hd;
        float* dgb = dg + b * 4 * hd;
        for (int64_t j = 0; j < hd; ++j) {
          const int64_t k = b * hd + j;
          const float ig = gb[j], fg = gb[hd + j], gg = gb[2 * hd + j], og = gb[3 * hd + j];
          const float dh = dha[k] + dhn[k];
          const float dc = dcn[k] + dh * og * (1 - tcn[k] * tcn[k]);
          dgb[j] = dc * gg * ig * (1 - ig);
          dgb[hd + j] = dc * cp[k] * fg * (1 - fg);
          dgb[2 * hd + j] = dc * ig * (1 - gg * gg);
          dgb[3 * hd + j] = dh * tcn[k] * og * (1 - og);
          dcp[k] = dc * fg;
        }
        for (int64_t j = 0; j < 4 * hd; ++j) {
          gb_ih[j] += dgb[j];
          gb_hh[j] += dgb[j];
        }
      }
      g_w_ih_[l].addmm_(dgates.t(), cell.x);
      g_w_hh_[l].addmm_(dgates.t(), cell.h_prev);
      torch::Tensor dx = torch::mm(dgates, w_ih[l]);
      dh_next[l] = torch::mm(dgates, w_hh[l]);
      dc_next[l] = dc_prev;
      dh_above = dx;
    }
    // Into the input embedding of step i.
    const float* dx = dh_above.data_ptr<float>();
    for (int64_t b = 0; b < n; ++b) {
      float* dst = i == 0 ? g_start_.data_ptr<float>()
                          : g_embed_[i - 1].data_ptr<float>() + tokens[b][i - 1] * hd;
      for (int64_t j = 0; j < hd; ++j) dst[j] += dx[b * hd + j];
    }
  }
}

}  // namespace hwnas::controller::internal

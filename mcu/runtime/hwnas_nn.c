/* int8 kernels of hwnas-generated models; see hwnas_nn.h. */
#include "hwnas_nn.h"

#include <stddef.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define HWNAS_DSP 1
#else
#define HWNAS_DSP 0
#endif

int32_t hwnas_requantize(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0;
  const int32_t right = shift > 0 ? 0 : -shift;
  int64_t shifted = (int64_t)x * ((int64_t)1 << left);
  if (shifted > INT32_MAX) shifted = INT32_MAX;
  if (shifted < INT32_MIN) shifted = INT32_MIN;
  /* Doubling high multiply, rounded half away from zero: for a non-negative
   * multiplier this equals floor((ab + 2^30) / 2^31). */
  const int64_t ab = (int64_t)(int32_t)shifted * multiplier;
  int32_t high = (int32_t)((ab + ((int64_t)1 << 30)) >> 31);
  if (right > 0) {
    const int32_t mask = (int32_t)(((int64_t)1 << right) - 1);
    const int32_t remainder = high & mask;
    const int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
    high = (high >> right) + (remainder > threshold ? 1 : 0);
  }
  return high;
}

static int8_t hwnas_clamp(int32_t v, int32_t lo, int32_t hi) {
  return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

#if HWNAS_DSP
/* Two sign-extended bytes (0 and 2, or 1 and 3) of a word as 16-bit halves. */
static inline uint32_t hwnas_sxtb16(uint32_t x) {
  uint32_t r;
  __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
  return r;
}
static inline uint32_t hwnas_sxtb16_ror8(uint32_t x) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}
static inline uint32_t hwnas_sadd16(uint32_t a, uint32_t b) {
  uint32_t r;
  __asm__("sadd16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
}
static inline int32_t hwnas_smlad(uint32_t a, uint32_t b, int32_t acc) {
  int32_t r;
  __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
}
static inline uint32_t hwnas_load32(const int8_t* p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4); /* Unaligned word loads are fine on M4/M7. */
  return v;
}
#endif

/* sum_i (x[i] + offset) * w[i], n elements. */
static int32_t hwnas_dot_s8(const int8_t* x, const int8_t* w, int32_t n, int32_t offset,
                            int32_t acc) {
  int32_t i = 0;
#if HWNAS_DSP
  const uint32_t off2 = ((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset;
  for (; i + 4 <= n; i += 4) {
    const uint32_t xv = hwnas_load32(x + i), wv = hwnas_load32(w + i);
    const uint32_t x02 = hwnas_sadd16(hwnas_sxtb16(xv), off2);
    const uint32_t x13 = hwnas_sadd16(hwnas_sxtb16_ror8(xv), off2);
    acc = hwnas_smlad(x02, hwnas_sxtb16(wv), acc);
    acc = hwnas_smlad(x13, hwnas_sxtb16_ror8(wv), acc);
  }
#endif
  for (; i < n; ++i) acc += (x[i] + offset) * w[i];
  return acc;
}

void hwnas_conv_s8(const hwnas_conv_params* p, const int8_t* in, const int8_t* weights,
                   const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                   int8_t* out) {
  const int32_t ic = p->in_c, kw = p->kernel_w;
  for (int32_t oy = 0; oy < p->out_h; ++oy) {
    for (int32_t ox = 0; ox < p->out_w; ++ox) {
      int8_t* o = out + ((int32_t)oy * p->out_w + ox) * p->out_c;
      const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
      for (int32_t oc = 0; oc < p->out_c; ++oc) {
        int32_t acc = bias[oc];
        const int8_t* wc = weights + (int32_t)oc * p->kernel_h * kw * ic;
        for (int32_t ky = 0; ky < p->kernel_h; ++ky) {
          const int32_t iy = y0 + ky * p->dilation_h;
          if (iy < 0 || iy >= p->in_h) continue;
          if (p->dilation_w == 1 && x0 >= 0 && x0 + kw <= p->in_w) {
            /* The whole kernel row is inside: one contiguous run of kw * ic. */
            acc = hwnas_dot_s8(in + (iy * p->in_w + x0) * ic, wc + ky * kw * ic, kw * ic,
                               p->in_offset, acc);
            continue;
          }
          for (int32_t kx = 0; kx < kw; ++kx) {
            const int32_t ix = x0 + kx * p->dilation_w;
            if (ix < 0 || ix >= p->in_w) continue;
            acc = hwnas_dot_s8(in + (iy * p->in_w + ix) * ic, wc + (ky * kw + kx) * ic, ic,
                               p->in_offset, acc);
          }
        }
        o[oc] = hwnas_clamp(hwnas_requantize(acc, multiplier[oc], shift[oc]) + p->out_offset,
                            p->act_min, p->act_max);
      }
    }
  }
}

void hwnas_depthwise_conv_s8(const hwnas_conv_params* p, const int8_t* in, const int8_t* weights,
                             const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                             int8_t* out) {
  const int32_t c_n = p->in_c, kh = p->kernel_h, kw = p->kernel_w;
  for (int32_t oy = 0; oy < p->out_h; ++oy) {
    for (int32_t ox = 0; ox < p->out_w; ++ox) {
      int8_t* o = out + ((int32_t)oy * p->out_w + ox) * c_n;
      const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
      for (int32_t c = 0; c < c_n; ++c) {
        int32_t acc = bias[c];
        const int8_t* wc = weights + c * kh * kw;
        for (int32_t ky = 0; ky < kh; ++ky) {
          const int32_t iy = y0 + ky * p->dilation_h;
          if (iy < 0 || iy >= p->in_h) continue;
          const int8_t* row = in + (iy * p->in_w) * c_n + c;
          for (int32_t kx = 0; kx < kw; ++kx) {
            const int32_t ix = x0 + kx * p->dilation_w;
            if (ix < 0 || ix >= p->in_w) continue;
            acc += (row[ix * c_n] + p->in_offset) * wc[ky * kw + kx];
          }
        }
        o[c] = hwnas_clamp(hwnas_requantize(acc, multiplier[c], shift[c]) + p->out_offset,
                           p->act_min, p->act_max);
      }
    }
  }
}

void hwnas_fully_connected_s8(const hwnas_conv_params* p, const int8_t* in, const int8_t* weights,
                              const int32_t* bias, const int32_t* multiplier,
                              const int32_t* shift, int8_t* out) {
  const int32_t n = p->in_c;
  for (int32_t o = 0; o < p->out_c; ++o) {
    const int32_t acc = hwnas_dot_s8(in, weights + o * n, n, p->in_offset, bias[o]);
    out[o] = hwnas_clamp(hwnas_requantize(acc, multiplier[o], shift[o]) + p->out_offset,
                         p->act_min, p->act_max);
  }
}

static void hwnas_pool_s8(const hwnas_conv_params* p, const int8_t* in, int8_t* out, int is_max) {
  const int32_t c_n = p->in_c;
  for (int32_t oy = 0; oy < p->out_h; ++oy) {
    for (int32_t ox = 0; ox < p->out_w; ++ox) {
      const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
      for (int32_t c = 0; c < c_n; ++c) {
        int32_t sum = 0, best = -128, count = 0;
        for (int32_t ky = 0; ky < p->kernel_h; ++ky) {
          const int32_t iy = y0 + ky;
          if (iy < 0 || iy >= p->in_h) continue;
          for (int32_t kx = 0; kx < p->kernel_w; ++kx) {
            const int32_t ix = x0 + kx;
            if (ix < 0 || ix >= p->in_w) continue;
            const int32_t v = in[(iy * p->in_w + ix) * c_n + c];
            sum += v;
            if (v > best) best = v;
            ++count;
          }
        }
        if (count == 0) count = 1;
        const int32_t avg = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
        out[(oy * p->out_w + ox) * c_n + c] = hwnas_clamp(is_max ? best : avg, p->act_min, p->act_max);
      }
    }
  }
}

void hwnas_avg_pool_s8(const hwnas_conv_params* p, const int8_t* in, int8_t* out) {
  hwnas_pool_s8(p, in, out, 0);
}

void hwnas_max_pool_s8(const hwnas_conv_params* p, const int8_t* in, int8_t* out) {
  hwnas_pool_s8(p, in, out, 1);
}

void hwnas_global_avg_pool_s8(const hwnas_conv_params* p, const int8_t* in, int8_t* out) {
  const int32_t n = (int32_t)p->in_h * p->in_w, c_n = p->in_c;
  for (int32_t c = 0; c < c_n; ++c) {
    int32_t sum = 0;
    for (int32_t i = 0; i < n; ++i) sum += in[i * c_n + c];
    const int32_t avg = sum > 0 ? (sum + n / 2) / n : (sum - n / 2) / n;
    out[c] = hwnas_clamp(avg, p->act_min, p->act_max);
  }
}

void hwnas_add_s8(const hwnas_eltwise_params* p, const int8_t* in1, const int8_t* in2,
                  int8_t* out) {
  for (int32_t i = 0; i < p->size; ++i) {
    const int32_t a = hwnas_requantize((in1[i] + p->in1_offset) * (1 << p->left_shift),
                                       p->in1_multiplier, p->in1_shift);
    const int32_t b = hwnas_requantize((in2[i] + p->in2_offset) * (1 << p->left_shift),
                                       p->in2_multiplier, p->in2_shift);
    out[i] = hwnas_clamp(hwnas_requantize(a + b, p->out_multiplier, p->out_shift) + p->out_offset,
                         p->act_min, p->act_max);
  }
}

void hwnas_mul_s8(const hwnas_eltwise_params* p, const int8_t* in1, const int8_t* in2,
                  int8_t* out) {
  int32_t c = 0;
  for (int32_t i = 0; i < p->size; ++i) {
    const int32_t b = p->channels > 0 ? in2[c] : in2[i];
    if (p->channels > 0 && ++c == p->channels) c = 0;
    const int32_t prod = (in1[i] + p->in1_offset) * (b + p->in2_offset);
    out[i] = hwnas_clamp(hwnas_requantize(prod, p->out_multiplier, p->out_shift) + p->out_offset,
                         p->act_min, p->act_max);
  }
}

void hwnas_lut_s8(int32_t size, const int8_t* table, const int8_t* in, int8_t* out) {
  for (int32_t i = 0; i < size; ++i) out[i] = table[in[i] + 128];
}

/* int8 kernels of hwnas-generated models; see hwnas_nn.h. */
#include "hwnas_nn.h"

#include <stddef.h>

/* -DHWNAS_NO_DSP builds the plain loops (for checks and comparisons). */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(HWNAS_NO_DSP)
#define HWNAS_DSP 1
#else
#define HWNAS_DSP 0
#endif

#if defined(__GNUC__)
#define HWNAS_INLINE static inline __attribute__((always_inline))
#else
#define HWNAS_INLINE static inline
#endif

/* Doubling high multiply, rounded half away from zero: for a non-negative
 * multiplier this equals floor((x * m + 2^30) / 2^31); then a rounding
 * (half away from zero) right shift. */
HWNAS_INLINE int32_t hwnas_rq(int32_t x, int32_t multiplier, int32_t shift) {
  if (shift > 0) {
    int64_t shifted = (int64_t)x * ((int64_t)1 << shift);
    if (shifted > INT32_MAX) shifted = INT32_MAX;
    if (shifted < INT32_MIN) shifted = INT32_MIN;
    return (int32_t)(((int64_t)(int32_t)shifted * multiplier + ((int64_t)1 << 30)) >> 31);
  }
  const int32_t high = (int32_t)(((int64_t)x * multiplier + ((int64_t)1 << 30)) >> 31);
  const int32_t right = -shift;
  if (right == 0) return high;
  const int32_t mask = (int32_t)(((uint32_t)1 << right) - 1);
  const int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
  return (high >> right) + ((high & mask) > threshold ? 1 : 0);
}

int32_t hwnas_requantize(int32_t x, int32_t multiplier, int32_t shift) {
  return hwnas_rq(x, multiplier, shift);
}

HWNAS_INLINE int8_t hwnas_clamp(int32_t v, int32_t lo, int32_t hi) {
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

#if HWNAS_DSP
static inline int32_t hwnas_smlabb(uint32_t a, uint32_t b, int32_t acc) {
  int32_t r;
  __asm__("smlabb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
}
static inline int32_t hwnas_smlatt(uint32_t a, uint32_t b, int32_t acc) {
  int32_t r;
  __asm__("smlatt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
}
static inline uint32_t hwnas_pack_offset(int32_t offset) {
  return ((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset;
}
#endif

/* acc + sum_i (x[i] + offset) * w[i], n elements. (x + offset) fits 16 bits,
 * so the dual 16-bit multiply-accumulates give exactly the plain sum. */
HWNAS_INLINE int32_t hwnas_dot_s8(const int8_t* x, const int8_t* w, int32_t n, int32_t offset,
                                  int32_t acc) {
  int32_t i = 0;
#if HWNAS_DSP
  const uint32_t off2 = hwnas_pack_offset(offset);
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

/* The same for two weight rows at once, sharing the input's loads. */
HWNAS_INLINE void hwnas_dot2_s8(const int8_t* x, const int8_t* w0, const int8_t* w1, int32_t n,
                                int32_t offset, int32_t* acc0, int32_t* acc1) {
  int32_t a0 = *acc0, a1 = *acc1, i = 0;
#if HWNAS_DSP
  const uint32_t off2 = hwnas_pack_offset(offset);
  for (; i + 4 <= n; i += 4) {
    const uint32_t xv = hwnas_load32(x + i);
    const uint32_t x02 = hwnas_sadd16(hwnas_sxtb16(xv), off2);
    const uint32_t x13 = hwnas_sadd16(hwnas_sxtb16_ror8(xv), off2);
    const uint32_t v0 = hwnas_load32(w0 + i), v1 = hwnas_load32(w1 + i);
    a0 = hwnas_smlad(x02, hwnas_sxtb16(v0), a0);
    a0 = hwnas_smlad(x13, hwnas_sxtb16_ror8(v0), a0);
    a1 = hwnas_smlad(x02, hwnas_sxtb16(v1), a1);
    a1 = hwnas_smlad(x13, hwnas_sxtb16_ror8(v1), a1);
  }
#endif
  for (; i < n; ++i) {
    const int32_t xi = x[i] + offset;
    a0 += xi * w0[i];
    a1 += xi * w1[i];
  }
  *acc0 = a0;
  *acc1 = a1;
}

/* Two input rows (pixels) times two weight rows: four accumulators sharing
 * every load (the pointwise-conv inner loop). */
HWNAS_INLINE void hwnas_dot22_s8(const int8_t* x0, const int8_t* x1, const int8_t* w0,
                                 const int8_t* w1, int32_t n, int32_t offset, int32_t* acc) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3], i = 0;
#if HWNAS_DSP
  const uint32_t off2 = hwnas_pack_offset(offset);
  for (; i + 4 <= n; i += 4) {
    const uint32_t u = hwnas_load32(x0 + i), v = hwnas_load32(x1 + i);
    const uint32_t u02 = hwnas_sadd16(hwnas_sxtb16(u), off2);
    const uint32_t u13 = hwnas_sadd16(hwnas_sxtb16_ror8(u), off2);
    const uint32_t v02 = hwnas_sadd16(hwnas_sxtb16(v), off2);
    const uint32_t v13 = hwnas_sadd16(hwnas_sxtb16_ror8(v), off2);
    const uint32_t p = hwnas_load32(w0 + i), q = hwnas_load32(w1 + i);
    const uint32_t p02 = hwnas_sxtb16(p), p13 = hwnas_sxtb16_ror8(p);
    const uint32_t q02 = hwnas_sxtb16(q), q13 = hwnas_sxtb16_ror8(q);
    a00 = hwnas_smlad(u02, p02, a00);
    a00 = hwnas_smlad(u13, p13, a00);
    a01 = hwnas_smlad(u02, q02, a01);
    a01 = hwnas_smlad(u13, q13, a01);
    a10 = hwnas_smlad(v02, p02, a10);
    a10 = hwnas_smlad(v13, p13, a10);
    a11 = hwnas_smlad(v02, q02, a11);
    a11 = hwnas_smlad(v13, q13, a11);
  }
#endif
  for (; i < n; ++i) {
    const int32_t u = x0[i] + offset, v = x1[i] + offset;
    a00 += u * w0[i];
    a01 += u * w1[i];
    a10 += v * w0[i];
    a11 += v * w1[i];
  }
  acc[0] = a00;
  acc[1] = a01;
  acc[2] = a10;
  acc[3] = a11;
}

/* First and one-past-last kernel tap inside [0, size) for a window at `start`. */
static void hwnas_valid_taps(int32_t start, int32_t kernel, int32_t dilation, int32_t size,
                             int32_t* lo, int32_t* hi) {
  int32_t a = start < 0 ? (-start + dilation - 1) / dilation : 0;
  int32_t b = size - start <= 0 ? 0 : (size - start + dilation - 1) / dilation;
  if (b > kernel) b = kernel;
  if (a > b) a = b;
  *lo = a;
  *hi = b;
}

HWNAS_INLINE int8_t hwnas_out(int32_t acc, int32_t multiplier, int32_t shift,
                              const hwnas_conv_params* p) {
  return hwnas_clamp(hwnas_rq(acc, multiplier, shift) + p->out_offset, p->act_min, p->act_max);
}

/* 1x1 convolution, stride 1, no padding: a matrix product over pixels, two
 * pixels by two output channels at a time. */
static void hwnas_pointwise_s8(const hwnas_conv_params* p, const int8_t* in, const int8_t* weights,
                               const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                               int8_t* out) {
  const int32_t ic = p->in_c, oc_n = p->out_c, pixels = (int32_t)p->out_h * p->out_w;
  int32_t px = 0;
  for (; px + 2 <= pixels; px += 2) {
    const int8_t* x0 = in + px * ic;
    int8_t* o0 = out + px * oc_n;
    int32_t oc = 0;
    for (; oc + 2 <= oc_n; oc += 2) {
      int32_t acc[4] = {bias[oc], bias[oc + 1], bias[oc], bias[oc + 1]};
      hwnas_dot22_s8(x0, x0 + ic, weights + oc * ic, weights + (oc + 1) * ic, ic, p->in_offset,
                     acc);
      o0[oc] = hwnas_out(acc[0], multiplier[oc], shift[oc], p);
      o0[oc + 1] = hwnas_out(acc[1], multiplier[oc + 1], shift[oc + 1], p);
      o0[oc_n + oc] = hwnas_out(acc[2], multiplier[oc], shift[oc], p);
      o0[oc_n + oc + 1] = hwnas_out(acc[3], multiplier[oc + 1], shift[oc + 1], p);
    }
    for (; oc < oc_n; ++oc) {
      const int8_t* w = weights + oc * ic;
      o0[oc] =
          hwnas_out(hwnas_dot_s8(x0, w, ic, p->in_offset, bias[oc]), multiplier[oc], shift[oc], p);
      o0[oc_n + oc] = hwnas_out(hwnas_dot_s8(x0 + ic, w, ic, p->in_offset, bias[oc]),
                                multiplier[oc], shift[oc], p);
    }
  }
  for (; px < pixels; ++px) {
    const int8_t* x0 = in + px * ic;
    for (int32_t oc = 0; oc < oc_n; ++oc) {
      out[px * oc_n + oc] =
          hwnas_out(hwnas_dot_s8(x0, weights + oc * ic, ic, p->in_offset, bias[oc]), multiplier[oc],
                    shift[oc], p);
    }
  }
}

void hwnas_conv_s8(const hwnas_conv_params* p, const int8_t* in, const int8_t* weights,
                   const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                   int8_t* out) {
  if (p->kernel_h == 1 && p->kernel_w == 1 && p->stride_h == 1 && p->stride_w == 1 &&
      p->pad_h == 0 && p->pad_w == 0 && p->in_h == p->out_h && p->in_w == p->out_w) {
    hwnas_pointwise_s8(p, in, weights, bias, multiplier, shift, out);
    return;
  }
  const int32_t ic = p->in_c, kw = p->kernel_w, oc_n = p->out_c;
  const int32_t per_oc = (int32_t)p->kernel_h * kw * ic;
  for (int32_t oy = 0; oy < p->out_h; ++oy) {
    const int32_t y0 = oy * p->stride_h - p->pad_h;
    int32_t ky_lo, ky_hi;
    hwnas_valid_taps(y0, p->kernel_h, p->dilation_h, p->in_h, &ky_lo, &ky_hi);
    for (int32_t ox = 0; ox < p->out_w; ++ox) {
      int8_t* o = out + ((int32_t)oy * p->out_w + ox) * oc_n;
      const int32_t x0 = ox * p->stride_w - p->pad_w;
      int32_t kx_lo, kx_hi;
      hwnas_valid_taps(x0, kw, p->dilation_w, p->in_w, &kx_lo, &kx_hi);
      /* With dilation 1 each kernel row is one contiguous run of the input. */
      const int32_t run = p->dilation_w == 1 ? (kx_hi - kx_lo) * ic : ic;
      const int32_t runs = p->dilation_w == 1 ? (kx_hi > kx_lo ? 1 : 0) : kx_hi - kx_lo;
      int32_t oc = 0;
      for (; oc + 2 <= oc_n; oc += 2) {
        int32_t a0 = bias[oc], a1 = bias[oc + 1];
        const int8_t* w0 = weights + oc * per_oc;
        for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
          const int32_t iy = y0 + ky * p->dilation_h;
          for (int32_t r = 0; r < runs; ++r) {
            const int32_t kx = kx_lo + r, ix = x0 + kx * p->dilation_w;
            const int8_t* xp = in + (iy * p->in_w + ix) * ic;
            const int8_t* wp = w0 + (ky * kw + kx) * ic;
            hwnas_dot2_s8(xp, wp, wp + per_oc, run, p->in_offset, &a0, &a1);
          }
        }
        o[oc] = hwnas_out(a0, multiplier[oc], shift[oc], p);
        o[oc + 1] = hwnas_out(a1, multiplier[oc + 1], shift[oc + 1], p);
      }
      for (; oc < oc_n; ++oc) {
        int32_t acc = bias[oc];
        const int8_t* w0 = weights + oc * per_oc;
        for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
          const int32_t iy = y0 + ky * p->dilation_h;
          for (int32_t r = 0; r < runs; ++r) {
            const int32_t kx = kx_lo + r, ix = x0 + kx * p->dilation_w;
            acc = hwnas_dot_s8(in + (iy * p->in_w + ix) * ic, w0 + (ky * kw + kx) * ic, run,
                               p->in_offset, acc);
          }
        }
        o[oc] = hwnas_out(acc, multiplier[oc], shift[oc], p);
      }
    }
  }
}

/* One row of n packed int4 weights (low nibble first) to int8. */
static void hwnas_unpack_s4(const uint8_t* packed, int32_t n, int8_t* row) {
  int32_t i = 0;
  for (; i + 2 <= n; i += 2) {
    const int32_t b = packed[i >> 1], lo = b & 0xF, hi = b >> 4;
    row[i] = (int8_t)(lo - ((lo & 8) << 1));
    row[i + 1] = (int8_t)(hi - ((hi & 8) << 1));
  }
  if (i < n) {
    const int32_t lo = packed[i >> 1] & 0xF;
    row[i] = (int8_t)(lo - ((lo & 8) << 1));
  }
}

void hwnas_conv_s4(const hwnas_conv_params* p, const int8_t* in, const uint8_t* weights,
                   const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                   int8_t* row, int8_t* out) {
  const int32_t ic = p->in_c, kw = p->kernel_w, oc_n = p->out_c;
  const int32_t per_oc = (int32_t)p->kernel_h * kw * ic, row_bytes = (per_oc + 1) / 2;
  /* Output channel by output channel: the row is unpacked once and used at
   * every output position (the output is written with a stride of oc_n). */
  for (int32_t oc = 0; oc < oc_n; ++oc) {
    hwnas_unpack_s4(weights + oc * row_bytes, per_oc, row);
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_h;
      int32_t ky_lo, ky_hi;
      hwnas_valid_taps(y0, p->kernel_h, p->dilation_h, p->in_h, &ky_lo, &ky_hi);
      for (int32_t ox = 0; ox < p->out_w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        int32_t kx_lo, kx_hi;
        hwnas_valid_taps(x0, kw, p->dilation_w, p->in_w, &kx_lo, &kx_hi);
        const int32_t run = p->dilation_w == 1 ? (kx_hi - kx_lo) * ic : ic;
        const int32_t runs = p->dilation_w == 1 ? (kx_hi > kx_lo ? 1 : 0) : kx_hi - kx_lo;
        int32_t acc = bias[oc];
        for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
          const int32_t iy = y0 + ky * p->dilation_h;
          for (int32_t r = 0; r < runs; ++r) {
            const int32_t kx = kx_lo + r, ix = x0 + kx * p->dilation_w;
            acc = hwnas_dot_s8(in + (iy * p->in_w + ix) * ic, row + (ky * kw + kx) * ic, run,
                               p->in_offset, acc);
          }
        }
        out[((int32_t)oy * p->out_w + ox) * oc_n + oc] =
            hwnas_out(acc, multiplier[oc], shift[oc], p);
      }
    }
  }
}

void hwnas_depthwise_conv_s8(const hwnas_conv_params* p, const int8_t* in, const int8_t* weights,
                             const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                             int8_t* out) {
  /* c_n output channels; output channel c reads input channel c / mult. */
  const int32_t in_c = p->in_c, c_n = p->out_c, mult = p->out_c / p->in_c, kw = p->kernel_w;
  for (int32_t oy = 0; oy < p->out_h; ++oy) {
    const int32_t y0 = oy * p->stride_h - p->pad_h;
    int32_t ky_lo, ky_hi;
    hwnas_valid_taps(y0, p->kernel_h, p->dilation_h, p->in_h, &ky_lo, &ky_hi);
    for (int32_t ox = 0; ox < p->out_w; ++ox) {
      int8_t* o = out + ((int32_t)oy * p->out_w + ox) * c_n;
      const int32_t x0 = ox * p->stride_w - p->pad_w;
      int32_t kx_lo, kx_hi;
      hwnas_valid_taps(x0, kw, p->dilation_w, p->in_w, &kx_lo, &kx_hi);
      int32_t c = 0;
#if HWNAS_DSP
      /* Four channels at a time: one word of input and of weights per tap. */
      const uint32_t off2 = hwnas_pack_offset(p->in_offset);
      for (; mult == 1 && c + 4 <= c_n; c += 4) {
        int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
        for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
          const int8_t* row = in + (y0 + ky * p->dilation_h) * p->in_w * c_n + c;
          const int8_t* wrow = weights + ky * kw * c_n + c;
          for (int32_t kx = kx_lo; kx < kx_hi; ++kx) {
            const uint32_t xv = hwnas_load32(row + (x0 + kx * p->dilation_w) * c_n);
            const uint32_t wv = hwnas_load32(wrow + kx * c_n);
            const uint32_t x02 = hwnas_sadd16(hwnas_sxtb16(xv), off2);
            const uint32_t x13 = hwnas_sadd16(hwnas_sxtb16_ror8(xv), off2);
            const uint32_t w02 = hwnas_sxtb16(wv), w13 = hwnas_sxtb16_ror8(wv);
            a0 = hwnas_smlabb(x02, w02, a0);
            a2 = hwnas_smlatt(x02, w02, a2);
            a1 = hwnas_smlabb(x13, w13, a1);
            a3 = hwnas_smlatt(x13, w13, a3);
          }
        }
        o[c] = hwnas_out(a0, multiplier[c], shift[c], p);
        o[c + 1] = hwnas_out(a1, multiplier[c + 1], shift[c + 1], p);
        o[c + 2] = hwnas_out(a2, multiplier[c + 2], shift[c + 2], p);
        o[c + 3] = hwnas_out(a3, multiplier[c + 3], shift[c + 3], p);
      }
#endif
      for (; c < c_n; ++c) {
        int32_t acc = bias[c];
        for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
          const int8_t* row = in + (y0 + ky * p->dilation_h) * p->in_w * in_c + c / mult;
          const int8_t* wrow = weights + ky * kw * c_n + c;
          for (int32_t kx = kx_lo; kx < kx_hi; ++kx) {
            acc += (row[(x0 + kx * p->dilation_w) * in_c] + p->in_offset) * wrow[kx * c_n];
          }
        }
        o[c] = hwnas_out(acc, multiplier[c], shift[c], p);
      }
    }
  }
}

void hwnas_fully_connected_s8(const hwnas_conv_params* p, const int8_t* in, const int8_t* weights,
                              const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                              int8_t* out) {
  const int32_t n = p->in_c;
  int32_t o = 0;
  for (; o + 2 <= p->out_c; o += 2) {
    int32_t a0 = bias[o], a1 = bias[o + 1];
    hwnas_dot2_s8(in, weights + o * n, weights + (o + 1) * n, n, p->in_offset, &a0, &a1);
    out[o] = hwnas_out(a0, multiplier[o], shift[o], p);
    out[o + 1] = hwnas_out(a1, multiplier[o + 1], shift[o + 1], p);
  }
  for (; o < p->out_c; ++o) {
    const int32_t acc = hwnas_dot_s8(in, weights + o * n, n, p->in_offset, bias[o]);
    out[o] = hwnas_out(acc, multiplier[o], shift[o], p);
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
        out[(oy * p->out_w + ox) * c_n + c] =
            hwnas_clamp(is_max ? best : avg, p->act_min, p->act_max);
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
    const int32_t a =
        hwnas_rq((in1[i] + p->in1_offset) * (1 << p->left_shift), p->in1_multiplier, p->in1_shift);
    const int32_t b =
        hwnas_rq((in2[i] + p->in2_offset) * (1 << p->left_shift), p->in2_multiplier, p->in2_shift);
    out[i] = hwnas_clamp(hwnas_rq(a + b, p->out_multiplier, p->out_shift) + p->out_offset,
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
    out[i] = hwnas_clamp(hwnas_rq(prod, p->out_multiplier, p->out_shift) + p->out_offset,
                         p->act_min, p->act_max);
  }
}

void hwnas_lut_s8(int32_t size, const int8_t* table, const int8_t* in, int8_t* out) {
  for (int32_t i = 0; i < size; ++i) out[i] = table[in[i] + 128];
}

HWNAS_INLINE int32_t hwnas_sat16(int32_t v) {
  return v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
}

/* x / 2^exponent rounded to nearest, ties away from zero (exponent >= 0). */
HWNAS_INLINE int32_t hwnas_rdiv(int32_t x, int32_t exponent) {
  if (exponent <= 0) return x;
  const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1);
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + ((x & mask) > threshold ? 1 : 0);
}

/* Q3.12 -> Q0.15 through a 513-entry table with linear interpolation. */
HWNAS_INLINE int32_t hwnas_lut_q15(const int16_t* table, int32_t x) {
  const int32_t u = hwnas_sat16(x) + 32768;
  const int32_t idx = u >> 7, frac = u & 127;
  return table[idx] + (((table[idx + 1] - table[idx]) * frac + 64) >> 7);
}

void hwnas_rnn_s8(const hwnas_rnn_params* p, const int8_t* in, int16_t* scratch, int8_t* out) {
  const int32_t h_n = p->hidden, c_in = p->in_c, rows = (p->is_gru ? 3 : 4) * h_n;
  int16_t* pre = scratch;
  int16_t* state = scratch + 4 * h_n;
  for (int32_t j = 0; j < h_n; ++j) state[j] = 0;
  for (int32_t t = 0; t < p->steps; ++t) {
    const int8_t* xt = in + t * c_in;
    const int8_t* prev = t == 0 ? NULL : (p->return_sequence ? out + (t - 1) * h_n : out);
    int32_t r = 0;
    for (; r < rows; r += 2) {
      /* Two gate rows at a time sharing the input loads; an odd last row alone. */
      const int32_t two = r + 1 < rows;
      int32_t ax0 = p->b_x[r], ax1 = two ? p->b_x[r + 1] : 0;
      int32_t ah0 = p->b_h[r], ah1 = two ? p->b_h[r + 1] : 0;
      if (two) {
        hwnas_dot2_s8(xt, p->w_x + r * c_in, p->w_x + (r + 1) * c_in, c_in, p->in_offset, &ax0,
                      &ax1);
        if (prev != NULL) {
          hwnas_dot2_s8(prev, p->w_h + r * h_n, p->w_h + (r + 1) * h_n, h_n, p->h_offset, &ah0,
                        &ah1);
        }
      } else {
        ax0 = hwnas_dot_s8(xt, p->w_x + r * c_in, c_in, p->in_offset, ax0);
        if (prev != NULL) ah0 = hwnas_dot_s8(prev, p->w_h + r * h_n, h_n, p->h_offset, ah0);
      }
      for (int32_t k = 0; k <= two; ++k) {
        const int32_t row = r + k;
        const int32_t vx = hwnas_sat16(hwnas_rq(k ? ax1 : ax0, p->m_x[row], p->s_x[row]));
        const int32_t vh = hwnas_sat16(hwnas_rq(k ? ah1 : ah0, p->m_h[row], p->s_h[row]));
        if (p->is_gru && row >= 2 * h_n) {
          pre[row] = (int16_t)vx;
          pre[row + h_n] = (int16_t)vh;
        } else {
          pre[row] = (int16_t)hwnas_sat16(vx + vh);
        }
      }
    }
    int8_t* dst = p->return_sequence ? out + t * h_n : out;
    for (int32_t j = 0; j < h_n; ++j) {
      int32_t h_real;
      if (!p->is_gru) {
        const int32_t i = hwnas_lut_q15(p->sigmoid, pre[j]);
        const int32_t f = hwnas_lut_q15(p->sigmoid, pre[h_n + j]);
        const int32_t g = hwnas_lut_q15(p->tanh, pre[2 * h_n + j]);
        const int32_t o = hwnas_lut_q15(p->sigmoid, pre[3 * h_n + j]);
        const int32_t c =
            hwnas_sat16(hwnas_rdiv(f * state[j], 15) + hwnas_rdiv(i * g, 30 - p->cell_shift));
        state[j] = (int16_t)c;
        const int32_t c_q12 = p->cell_shift >= 12 ? hwnas_rdiv(c, p->cell_shift - 12)
                                                  : hwnas_sat16(c * (1 << (12 - p->cell_shift)));
        h_real = o * hwnas_lut_q15(p->tanh, c_q12);
      } else {
        const int32_t rg = hwnas_lut_q15(p->sigmoid, pre[j]);
        const int32_t z = hwnas_lut_q15(p->sigmoid, pre[h_n + j]);
        const int32_t cand = hwnas_lut_q15(
            p->tanh, hwnas_sat16(pre[2 * h_n + j] + hwnas_rdiv(rg * pre[3 * h_n + j], 15)));
        state[j] = (int16_t)hwnas_sat16(cand + hwnas_rdiv(z * (state[j] - cand), 15));
        h_real = state[j];
      }
      dst[j] =
          hwnas_clamp(hwnas_rq(h_real, p->h_multiplier, p->h_shift) + p->out_offset, -128, 127);
    }
  }
}

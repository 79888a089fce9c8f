/* int8 kernels of hwnas-generated models (TFLite Micro / CMSIS-NN scheme:
 * per-channel symmetric int8 weights, per-tensor asymmetric int8 activations,
 * int32 biases, Q31 multiplier + shift requantization). Tensors are HWC.
 * Plain C99; on cores with the DSP extension (Cortex-M4/M7) the conv, depthwise
 * and fully connected kernels use dual 16-bit multiply-accumulates (SMLAD)
 * and give bit-identical results. Written for hwnas; no CMSIS dependency. */
#ifndef HWNAS_NN_H_
#define HWNAS_NN_H_

#include <stdint.h>

typedef struct {
  int16_t in_h, in_w, in_c, out_h, out_w, out_c;
  int8_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int32_t in_offset;  /* -input zero point */
  int32_t out_offset; /* output zero point */
  int32_t act_min, act_max;
} hwnas_conv_params;

/* x * M for M = multiplier * 2^(shift - 31), rounded as TFLite does. */
int32_t hwnas_requantize(int32_t x, int32_t multiplier, int32_t shift);

/* weights [out_c][kernel_h][kernel_w][in_c]. */
void hwnas_conv_s8(const hwnas_conv_params* p, const int8_t* in, const int8_t* weights,
                   const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                   int8_t* out);
/* The same with packed int4 weights ([-7, 7], two per byte, the first in the
 * low nibble; each output channel's kernel_h * kernel_w * in_c values start on
 * a byte). row: scratch of kernel_h * kernel_w * in_c bytes, where one output
 * channel's weights are unpacked. Fully connected layers use it with the
 * fully connected params (a 1x1 conv over one position). */
void hwnas_conv_s4(const hwnas_conv_params* p, const int8_t* in, const uint8_t* weights,
                   const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                   int8_t* row, int8_t* out);
/* Depthwise: output channel c (of out_c, a multiple of in_c) reads input
 * channel c / (out_c / in_c); weights [kernel_h][kernel_w][out_c]. */
void hwnas_depthwise_conv_s8(const hwnas_conv_params* p, const int8_t* in, const int8_t* weights,
                             const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                             int8_t* out);
/* in_c = input length, out_c = outputs; other dims unused. */
void hwnas_fully_connected_s8(const hwnas_conv_params* p, const int8_t* in, const int8_t* weights,
                              const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                              int8_t* out);
/* Pools keep the input's quantization; act_min/act_max clamp. */
void hwnas_avg_pool_s8(const hwnas_conv_params* p, const int8_t* in, int8_t* out);
void hwnas_max_pool_s8(const hwnas_conv_params* p, const int8_t* in, int8_t* out);
void hwnas_global_avg_pool_s8(const hwnas_conv_params* p, const int8_t* in, int8_t* out);

typedef struct {
  int32_t size;
  int32_t in1_offset, in2_offset, out_offset;
  int32_t left_shift;
  int32_t in1_multiplier, in1_shift, in2_multiplier, in2_shift;
  int32_t out_multiplier, out_shift;
  int32_t act_min, act_max;
  int32_t channels; /* mul: in2 has `channels` values broadcast over positions; 0: same size */
} hwnas_eltwise_params;

void hwnas_add_s8(const hwnas_eltwise_params* p, const int8_t* in1, const int8_t* in2, int8_t* out);
void hwnas_mul_s8(const hwnas_eltwise_params* p, const int8_t* in1, const int8_t* in2, int8_t* out);
/* out[i] = table[in[i] + 128]. */
void hwnas_lut_s8(int32_t size, const int8_t* table, const int8_t* in, int8_t* out);

/* Recurrent cells (LSTM gates i, f, g, o; GRU r, z, n, as PyTorch) over
 * `steps` inputs of in_c values; the hidden state is int8 with the output's
 * quantization. Gate pre-activations are int16 Q3.12, sigmoid/tanh come from
 * 513-entry Q0.15 tables over [-8, 8] (linear interpolation). LSTM: cell
 * state int16 at scale 2^-cell_shift, h = o * tanh(c) in Q0.30 -> int8 by
 * h_multiplier/h_shift. GRU: h kept in int16 Q0.15 -> int8 the same way. */
typedef struct {
  int16_t steps, in_c, hidden;
  int8_t is_gru, return_sequence;
  int32_t cell_shift;
  int32_t in_offset;  /* -input zero point */
  int32_t h_offset;   /* -hidden state (output) zero point */
  int32_t out_offset; /* hidden state (output) zero point */
  int32_t h_multiplier, h_shift;
  /* Input path: weights [gates * hidden][in_c], bias, per-row rescale to Q3.12. */
  const int8_t* w_x;
  const int32_t *b_x, *m_x, *s_x;
  /* Recurrent path: weights [gates * hidden][hidden]. */
  const int8_t* w_h;
  const int32_t *b_h, *m_h, *s_h;
  const int16_t *sigmoid, *tanh;
} hwnas_rnn_params;

/* scratch: 5 * hidden int16 values. out: steps * hidden (return_sequence) or
 * hidden values; with return_sequence 0 it doubles as the hidden state. */
void hwnas_rnn_s8(const hwnas_rnn_params* p, const int8_t* in, int16_t* scratch, int8_t* out);

#endif /* HWNAS_NN_H_ */

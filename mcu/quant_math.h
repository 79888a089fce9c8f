// Fixed-point arithmetic of the TFLite Micro / CMSIS-NN int8 scheme: a real
// rescale factor M is stored as a Q31 multiplier and a power-of-two shift, and
// applied to int32 accumulators with round-to-nearest (ties away from zero in
// the doubling high multiply, then a rounding right shift). The generated C
// kernels (mcu/runtime/hwnas_nn.c) implement the same functions; the host
// reference and the firmware must agree bit for bit.
#ifndef HWNAS_MCU_QUANT_MATH_H_
#define HWNAS_MCU_QUANT_MATH_H_

#include <cstdint>

namespace hwnas::mcu {

// M = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31) (or 0).
struct QuantizedMultiplier {
  int32_t multiplier = 0;
  int32_t shift = 0;
};

// Splits a non-negative real factor into a Q31 multiplier and shift.
QuantizedMultiplier QuantizeMultiplier(double real);

// (a * b * 2) >> 32 with rounding; saturates the one overflowing case.
int32_t SaturatingRoundingDoublingHighMul(int32_t a, int32_t b);
// x / 2^exponent rounded to nearest, ties away from zero.
int32_t RoundingDivideByPot(int32_t x, int exponent);
// x * M for M given as QuantizedMultiplier.
int32_t MultiplyByQuantizedMultiplier(int32_t x, int32_t multiplier, int32_t shift);

}  // namespace hwnas::mcu

#endif  // HWNAS_MCU_QUANT_MATH_H_

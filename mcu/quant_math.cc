#include "mcu/quant_math.h"

#include <cmath>
#include <limits>

namespace hwnas::mcu {

QuantizedMultiplier QuantizeMultiplier(double real) {
  QuantizedMultiplier q;
  if (!(real > 0)) return q;
  int exponent = 0;
  const double mantissa = std::frexp(real, &exponent);  // In [0.5, 1).
  int64_t fixed = static_cast<int64_t>(std::llround(mantissa * (1LL << 31)));
  if (fixed == (1LL << 31)) {  // Rounded up to 1.0.
    fixed /= 2;
    ++exponent;
  }
  if (exponent < -31) return q;  // Too small to represent: a zero factor.
  if (exponent > 30) {           // Saturate absurdly large factors.
    exponent = 30;
    fixed = std::numeric_limits<int32_t>::max();
  }
  q.multiplier = static_cast<int32_t>(fixed);
  q.shift = exponent;
  return q;
}

int32_t SaturatingRoundingDoublingHighMul(int32_t a, int32_t b) {
  if (a == b && a == std::numeric_limits<int32_t>::min()) {
    return std::numeric_limits<int32_t>::max();
  }
  const int64_t ab = static_cast<int64_t>(a) * b;
  const int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
  return static_cast<int32_t>((ab + nudge) / (1LL << 31));
}

int32_t RoundingDivideByPot(int32_t x, int exponent) {
  if (exponent <= 0) return x;
  const int32_t mask = static_cast<int32_t>((1LL << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t MultiplyByQuantizedMultiplier(int32_t x, int32_t multiplier, int32_t shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  // The left shift is done in 64 bits and saturated, so large factors do not
  // wrap (the C kernels do the same).
  int64_t shifted = static_cast<int64_t>(x) * (1LL << left);
  if (shifted > std::numeric_limits<int32_t>::max()) shifted = std::numeric_limits<int32_t>::max();
  if (shifted < std::numeric_limits<int32_t>::min()) shifted = std::numeric_limits<int32_t>::min();
  return RoundingDivideByPot(
      SaturatingRoundingDoublingHighMul(static_cast<int32_t>(shifted), multiplier), right);
}

}  // namespace hwnas::mcu

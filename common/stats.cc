#include "common/stats.h"

#include <algorithm>
#include <cstddef>

namespace hwnas {

double LinearQuantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double pos = q * static_cast<double>(values.size() - 1);
  const size_t i = static_cast<size_t>(pos);
  const size_t j = std::min(i + 1, values.size() - 1);
  return values[i] + (values[j] - values[i]) * (pos - static_cast<double>(i));
}

}  // namespace hwnas

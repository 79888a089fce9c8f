#include "space/space_options_internal.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace hwnas::space::internal {

absl::StatusOr<std::vector<int>> ChoiceList(const YamlSection& section, absl::string_view key,
                                            std::vector<int> def, int64_t min, int64_t max,
                                            bool odd) {
  std::vector<int64_t> def64(def.begin(), def.end());
  HWNAS_ASSIGN_OR_RETURN(std::vector<int64_t> values, section.IntList(key, def64, min, max));
  if (values.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(section.PathOf(key), ": must not be empty"));
  }
  std::vector<int> out;
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string item = absl::StrCat(section.PathOf(key), "[", i, "]");
    if (odd && values[i] % 2 == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(item, ": must be odd (symmetric same padding), got ", values[i]));
    }
    if (IndexOf(out, static_cast<int>(values[i])) >= 0) {
      return absl::InvalidArgumentError(absl::StrCat(item, ": duplicate value ", values[i]));
    }
    out.push_back(static_cast<int>(values[i]));
  }
  return out;
}

absl::StatusOr<std::vector<double>> DoubleChoiceList(const YamlSection& section,
                                                     absl::string_view key, std::vector<double> def,
                                                     double min, double max) {
  if (!section.Has(key)) return def;
  YAML::Node list = section.node()[std::string(key)];
  if (!list.IsSequence() || list.size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(section.PathOf(key), ": must be a non-empty list of numbers"));
  }
  std::vector<double> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item = absl::StrCat(section.PathOf(key), "[", i, "]");
    double v = 0;
    if (!list[i].IsScalar() || !absl::SimpleAtod(list[i].Scalar(), &v) || !std::isfinite(v)) {
      return absl::InvalidArgumentError(absl::StrCat(item, ": must be a number"));
    }
    if (v < min || v > max) {
      return absl::InvalidArgumentError(
          absl::StrCat(item, ": must be between ", min, " and ", max, ", got ", v));
    }
    for (double seen : out) {
      if (seen == v) return absl::InvalidArgumentError(absl::StrCat(item, ": duplicate value ", v));
    }
    out.push_back(v);
  }
  return out;
}

absl::StatusOr<int64_t> IntOr(const YamlSection& section, absl::string_view key, int64_t def,
                              int64_t min, int64_t max) {
  if (!section.Has(key)) return def;
  return section.Int(key, std::nullopt, min, max);
}

absl::StatusOr<double> DoubleOr(const YamlSection& section, absl::string_view key, double def,
                                double min, double max) {
  if (!section.Has(key)) return def;
  return section.Double(key, std::nullopt, min, max);
}

absl::StatusOr<bool> BoolOr(const YamlSection& section, absl::string_view key, bool def) {
  if (!section.Has(key)) return def;
  return section.Bool(key, std::nullopt);
}

absl::StatusOr<int> ActivationBits(const YamlSection& section) {
  HWNAS_ASSIGN_OR_RETURN(int64_t bits, IntOr(section, "activation_bits", 32, 8, 32));
  if (bits != 8 && bits != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat(section.PathOf("activation_bits"), ": must be 8 or 32, got ", bits));
  }
  return static_cast<int>(bits);
}

int IndexOf(const std::vector<int>& choices, int value) {
  for (size_t i = 0; i < choices.size(); ++i) {
    if (choices[i] == value) return static_cast<int>(i);
  }
  return -1;
}

std::vector<std::string> ChoiceNames(const std::vector<int>& choices) {
  std::vector<std::string> out;
  for (int c : choices) out.push_back(absl::StrCat(c));
  return out;
}

}  // namespace hwnas::space::internal

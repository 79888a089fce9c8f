// Helpers shared by the search spaces' option parsers. Internal to space/.
#ifndef HWNAS_SPACE_SPACE_OPTIONS_INTERNAL_H_
#define HWNAS_SPACE_SPACE_OPTIONS_INTERNAL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/yaml_fields.h"

namespace hwnas::space::internal {

// A list of choices for one decision: non-empty, each in [min, max], no
// duplicates (a duplicate would make two tokens build the same network), and,
// with `odd`, only odd values (kernels with symmetric "same" padding).
absl::StatusOr<std::vector<int>> ChoiceList(const YamlSection& section, absl::string_view key,
                                            std::vector<int> def, int64_t min, int64_t max,
                                            bool odd = false);
absl::StatusOr<std::vector<double>> DoubleChoiceList(const YamlSection& section,
                                                     absl::string_view key, std::vector<double> def,
                                                     double min, double max);

// Optional scalars with defaults. YamlSection::Int/Double/Bool currently treat
// an absent key as present but empty (Scalar() returns a default YAML::Node,
// which yaml-cpp reports as defined), so these apply the default themselves
// and only call YamlSection when the key is there.
absl::StatusOr<int64_t> IntOr(const YamlSection& section, absl::string_view key, int64_t def,
                              int64_t min, int64_t max);
absl::StatusOr<double> DoubleOr(const YamlSection& section, absl::string_view key, double def,
                                double min, double max);
absl::StatusOr<bool> BoolOr(const YamlSection& section, absl::string_view key, bool def);

// The `activation_bits` key every space accepts: 32 (float) or 8.
absl::StatusOr<int> ActivationBits(const YamlSection& section);

// Index of `value` in `choices`, or -1.
int IndexOf(const std::vector<int>& choices, int value);

// Decision choices rendered as strings.
std::vector<std::string> ChoiceNames(const std::vector<int>& choices);

}  // namespace hwnas::space::internal

#endif  // HWNAS_SPACE_SPACE_OPTIONS_INTERNAL_H_

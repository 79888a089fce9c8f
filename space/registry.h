// Creates search spaces by name from the spec's `space:` section.
#ifndef HWNAS_SPACE_REGISTRY_H_
#define HWNAS_SPACE_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "common/yaml_fields.h"
#include "space/search_space.h"

namespace hwnas::space {

// `section` is the spec's `space:` mapping; its `name` key picks the space
// and the other keys are that space's options (validated by the space).
absl::StatusOr<std::unique_ptr<SearchSpace>> MakeSearchSpace(const YamlSection& section,
                                                             const DataShape& data);

// Names of every registered space, for help texts and error messages.
std::vector<std::string> SearchSpaceNames();

}  // namespace hwnas::space

#endif  // HWNAS_SPACE_REGISTRY_H_

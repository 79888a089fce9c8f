#include "space/registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "space/eegnet_space.h"
#include "space/mnasnet_space.h"
#include "space/nb201_space.h"
#include "space/temporal_space.h"

namespace hwnas::space {

std::vector<std::string> SearchSpaceNames() { return {"mnasnet", "nb201", "temporal", "eegnet"}; }

absl::StatusOr<std::unique_ptr<SearchSpace>> MakeSearchSpace(const YamlSection& section,
                                                             const DataShape& data) {
  HWNAS_ASSIGN_OR_RETURN(std::string name, section.String("name", std::nullopt));
  if (name == "nb201") {
    HWNAS_ASSIGN_OR_RETURN(auto space, Nb201Space::Create(section, data));
    return std::unique_ptr<SearchSpace>(std::move(space));
  }
  if (name == "mnasnet") {
    HWNAS_ASSIGN_OR_RETURN(auto space, MnasnetSpace::Create(section, data));
    return std::unique_ptr<SearchSpace>(std::move(space));
  }
  if (name == "temporal") {
    HWNAS_ASSIGN_OR_RETURN(auto space, TemporalSpace::Create(section, data));
    return std::unique_ptr<SearchSpace>(std::move(space));
  }
  if (name == "eegnet") {
    HWNAS_ASSIGN_OR_RETURN(auto space, EegnetSpace::Create(section, data));
    return std::unique_ptr<SearchSpace>(std::move(space));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(section.PathOf("name"), ": unknown search space ", QuoteValue(name),
                   " (expected one of: ", absl::StrJoin(SearchSpaceNames(), ", "), ")"));
}

}  // namespace hwnas::space

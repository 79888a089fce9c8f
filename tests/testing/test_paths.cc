#include "tests/testing/test_paths.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/data_paths.h"

namespace hwnas::testing {

std::string SourceDir() {
  const char* dir = std::getenv("HWNAS_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

std::string SharedDataDir() {
  return SharedDataDirFromEnv().value_or(absl::StrCat(SourceDir(), "/", kCheckoutSharedDataDir));
}

std::string FashionMnistDir() { return DataLocations("").FashionMnist(); }

}  // namespace hwnas::testing

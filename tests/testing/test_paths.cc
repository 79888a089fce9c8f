#include "tests/testing/test_paths.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace hwnas::testing {

std::string SourceDir() {
  const char* dir = std::getenv("HWNAS_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

std::string SharedDataDir() {
  if (const char* dir = std::getenv("HWNAS_SHARED_DATA"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  return absl::StrCat(SourceDir(), "/../shared/data");
}

std::string FashionMnistDir() { return "/usr/share/datasets/fashion-mnist"; }

}  // namespace hwnas::testing

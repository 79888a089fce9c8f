// Paths tests need: the source tree and the real data sets.
#ifndef HWNAS_TESTS_TESTING_TEST_PATHS_H_
#define HWNAS_TESTS_TESTING_TEST_PATHS_H_

#include <string>

namespace hwnas::testing {

// The project's source directory ($HWNAS_SOURCE_DIR, set by ctest).
std::string SourceDir();
// The shared data directory: $HWNAS_SHARED_DATA, else ../shared/data next to
// the source tree (the layout CI and developers use).
std::string SharedDataDir();
// The Fashion-MNIST directory from Debian's dataset-fashion-mnist package.
std::string FashionMnistDir();

}  // namespace hwnas::testing

#endif  // HWNAS_TESTS_TESTING_TEST_PATHS_H_

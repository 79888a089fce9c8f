# Helpers that give every project target the same warnings and sanitizer flags.
# Third-party headers come in as SYSTEM includes through their imported targets,
# so -Werror applies to project code only.

function(hwnas_target_options target)
  # -Wmissing-field-initializers is off: GCC 12 fires it on C++20 designated
  # initializers that rely on default member initializers, an idiom we use.
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers)
  if(HWNAS_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# hwnas_library(NAME SOURCES ... DEPS ...)
function(hwnas_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  hwnas_target_options(${name})
endfunction()

# hwnas_executable(NAME SOURCES ... DEPS ...)
function(hwnas_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  hwnas_target_options(${name})
endfunction()

# hwnas_test(NAME SOURCES ... DEPS ... [LABELS ...] [TIMEOUT s])
# One ctest entry per test binary: binaries that need PostgreSQL start one private
# cluster for all their cases, which is far cheaper than one per case.
function(hwnas_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock)
  hwnas_target_options(${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND ${name} --gtest_color=no)
  set(env "HWNAS_SOURCE_DIR=${PROJECT_SOURCE_DIR};HWNAS_BINARY_DIR=${PROJECT_BINARY_DIR}")
  if(HWNAS_SANITIZE)
    list(APPEND env "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/lsan.supp")
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}"
    ENVIRONMENT "${env}")
endfunction()

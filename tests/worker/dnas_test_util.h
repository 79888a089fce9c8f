// Helpers shared by the DNAS tests of both supernets (dnas_test.cc for the
// mnasnet space, dnas_temporal_test.cc for the temporal space): a parsed spec
// with its space, random token lists, and the command's progress lines.
#ifndef HWNAS_TESTS_WORKER_DNAS_TEST_UTIL_H_
#define HWNAS_TESTS_WORKER_DNAS_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "spec/search_spec.h"

namespace hwnas::worker::dnas::dnas_testing {

// A spec and its space, as the concrete space type `Space` (nullptr when the
// spec's space is another kind).
template <typename Space>
struct LoadedSpec {
  spec::SearchSpec spec;
  std::unique_ptr<space::SearchSpace> owner;
  const Space* space = nullptr;
};

template <typename Space>
LoadedSpec<Space> LoadSpec(const std::string& text) {
  LoadedSpec<Space> l;
  absl::StatusOr<spec::SearchSpec> s = spec::ParseSearchSpec(text);
  EXPECT_TRUE(s.ok()) << s.status();
  l.spec = *std::move(s);
  l.owner = *spec::MakeSpace(l.spec);
  l.space = dynamic_cast<const Space*>(l.owner.get());
  return l;
}

// One uniformly random token per decision (not checked against the space).
inline std::vector<int> RandomTokens(const space::SearchSpace& space, std::mt19937& rng) {
  std::vector<int> t;
  for (const space::Decision& d : space.decisions()) {
    t.push_back(std::uniform_int_distribution<int>(0, d.choices.size() - 1)(rng));
  }
  return t;
}

// The lines of DIR/progress.jsonl that `hwnas-worker dnas` wrote.
inline std::vector<nlohmann::json> ReadProgress(const std::string& dir) {
  std::vector<nlohmann::json> lines;
  std::ifstream f(std::filesystem::path(dir) / "progress.jsonl");
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

}  // namespace hwnas::worker::dnas::dnas_testing

#endif  // HWNAS_TESTS_WORKER_DNAS_TEST_UTIL_H_

// The hwnas-worker binary: help, describe, evaluate --json, exit codes.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/test_paths.h"

namespace hwnas::worker {
namespace {

using ::testing::HasSubstr;

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr together.
};

Result RunWorker(const std::string& args) {
  const char* bin = std::getenv("HWNAS_BINARY_DIR");
  const std::string cmd =
      absl::StrCat(bin != nullptr ? bin : ".", "/worker/hwnas-worker ", args, " 2>&1");
  Result r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string SpecPath() {
  return absl::StrCat(testing::SourceDir(), "/tests/worker/testdata/fashion_nb201.yaml");
}

TEST(CliTest, HelpAndUsageErrors) {
  Result r = RunWorker("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("evaluate"));
  EXPECT_THAT(r.out, HasSubstr("calibrate"));
  r = RunWorker("evaluate --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("--arch"));
  r = RunWorker("evaluate --spec x.yaml");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.out, HasSubstr("--arch is required"));
  r = RunWorker("describe --spec x.yaml --arch 1 --bogus");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.out, HasSubstr("unknown flag --bogus"));
  r = RunWorker("train");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.out, HasSubstr("unknown command 'train'"));
  // export's flags are parsed in worker_main.cc like the other commands'.
  r = RunWorker("export --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("--firmware-samples K"));
  r = RunWorker("export --spec x.yaml --arch 1");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.out, HasSubstr("--out is required"));
  r = RunWorker("export --spec x.yaml --arch 1 --out m.pt --format onnx");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.out, HasSubstr("--format: 'onnx' (expected torchscript or c)"));
  r = RunWorker("export --spec x.yaml --arch 1 --out m.pt --log-level loud");
  EXPECT_EQ(r.code, 2);
  r = RunWorker("export extra --spec x.yaml");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.out, HasSubstr("unexpected argument 'extra'"));
}

TEST(CliTest, DescribePrintsLayersAndCosts) {
  Result r = RunWorker(absl::StrCat("describe --spec ", SpecPath(), " --arch 3,3,1,1,2,4"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("stem.conv"));
  EXPECT_THAT(r.out, HasSubstr("head.classifier"));
  EXPECT_THAT(r.out, HasSubstr("total: params"));
  EXPECT_THAT(r.out, HasSubstr("m7 (MCU profile cortex-m7)"));
  r = RunWorker(absl::StrCat("describe --json --spec ", SpecPath(), " --arch 3,3,1,1,2,4"));
  ASSERT_EQ(r.code, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["costs"]["params"].get<int64_t>(), 0);
  EXPECT_EQ(j["architecture"]["tokens"], nlohmann::json({3, 3, 1, 1, 2, 4}));
}

TEST(CliTest, BadArchitectureAndSpecAreClearErrors) {
  Result r = RunWorker(absl::StrCat("describe --spec ", SpecPath(), " --arch 3,3,1"));
  EXPECT_EQ(r.code, 3);
  EXPECT_THAT(r.out, HasSubstr("--arch: space nb201 v1 expects 6 tokens, got 3"));
  r = RunWorker(absl::StrCat("evaluate --spec ", SpecPath(), " --arch '|conv_9x9~0|'"));
  EXPECT_EQ(r.code, 3);
  EXPECT_THAT(r.out, HasSubstr("--arch:"));
  r = RunWorker("describe --spec /nonexistent.yaml --arch 1");
  EXPECT_EQ(r.code, 3);
  EXPECT_THAT(r.out, HasSubstr("/nonexistent.yaml: cannot open the spec file"));
}

TEST(CliTest, EvaluatePrintsJson) {
  Result r = RunWorker(absl::StrCat("evaluate --json --quiet --spec ", SpecPath(),
                                    " --arch 3,3,1,1,2,4 --epochs 1"));
  ASSERT_EQ(r.code, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["state"], "SUCCEEDED");
  EXPECT_GT(j["accuracy"].get<double>(), 0.2);
  EXPECT_EQ(j["epochs"], 1);
  EXPECT_GT(j["latency"]["median_ms"].get<double>(), 0);
  EXPECT_EQ(j["latency"]["threads"], 1);
  EXPECT_TRUE(j["estimates"].contains("latency_ms@m7"));
  EXPECT_EQ(j["history"].size(), 1u);
}

}  // namespace
}  // namespace hwnas::worker

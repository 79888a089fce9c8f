#include "hardware/latency_lut.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/hardware/small_cnn.h"

namespace hwnas::hardware {
namespace {

using space::Activation;
using space::NetworkPlan;
using space::PlanBuilder;

std::vector<std::string> Keys(const NetworkPlan& plan) {
  std::vector<std::string> keys;
  for (const LutOp& l : CollectLutOps(plan)) keys.push_back(l.key);
  return keys;
}

TEST(LatencyLutTest, KeysDescribeOpTypeShapeAndAttributes) {
  EXPECT_EQ(
      Keys(SmallCnn(32)),
      (std::vector<std::string>{"conv2d in=1x8x8 out=4 k=3x3 s=1x1 d=1x1 p=1x1 g=1 bias=0",
                                "batchnorm in=4x8x8", "relu in=4x8x8", "global_avg_pool in=4x8x8",
                                "flatten in=4x1x1", "linear in=4 out=3 bias=1"}));
  // Quantized weights get their own entries.
  std::vector<std::string> q = Keys(SmallCnn(8));
  EXPECT_EQ(q[0], "conv2d in=1x8x8 out=4 k=3x3 s=1x1 d=1x1 p=1x1 g=1 bias=0 w=8");
  EXPECT_EQ(q[5], "linear in=4 out=3 bias=1 w=8");

  PlanBuilder b({2, 32});
  int x = b.Conv(b.input(), 2, 5, 1, /*groups=*/2, /*dilation=*/2);
  x = b.Pool(x, space::PoolKind::kMax, 2, 2);
  int gate = b.GlobalAvgPool(x);
  x = b.Mul(x, gate);
  x = b.Add({x, x});
  x = b.Recurrent(x, space::RecurrentCell::kGru, 8, false);
  x = b.Dropout(x, 0.1);
  x = b.Linear(x, 2);
  absl::StatusOr<NetworkPlan> plan = std::move(b).Finish(x);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(Keys(*plan),
            (std::vector<std::string>{
                "conv1d in=2x32 out=2 k=5 s=1 d=2 p=4 g=2 bias=0", "maxpool1d in=2x32 k=2 s=2 p=0",
                "global_avg_pool in=2x16", "mul in=2x16 gate=2x1", "add in=2x16 n=2",
                "gru in=2x16 hidden=8 seq=0", "dropout in=8", "linear in=8 out=2 bias=1"}));
  const std::vector<LutOp> ops = CollectLutOps(*plan);
  EXPECT_TRUE(ops[3].op.inputs.empty());
  EXPECT_EQ(ops[3].input_shape, (space::Shape{2, 16}));
  EXPECT_EQ(ops[3].extra_input_shapes, (std::vector<space::Shape>{{2, 1}}));
}

TEST(LatencyLutTest, PredictsTheSumOverOps) {
  // Two identical conv + ReLU layers share their keys.
  PlanBuilder b({4, 8, 8});
  int x = b.Conv(b.input(), 4, 3, 1);
  x = b.Act(x, Activation::kRelu);
  x = b.Conv(x, 4, 3, 1);
  x = b.Act(x, Activation::kRelu);
  absl::StatusOr<NetworkPlan> plan = std::move(b).Finish(x);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(Keys(*plan).size(), 2u);
  LatencyLut lut;
  lut.device = "test cpu";
  lut.base_ms = 0.5;
  lut.entries["conv2d in=4x8x8 out=4 k=3x3 s=1x1 d=1x1 p=1x1 g=1 bias=0"] = {0.25, 0.3, 10};
  EXPECT_EQ(MissingLutKeys(*plan, lut), (std::vector<std::string>{"relu in=4x8x8"}));
  absl::StatusOr<double> ms = PredictLatencyMs(*plan, lut);
  EXPECT_EQ(ms.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(ms.status().message().find("latency table for test cpu has no entry 'relu in=4x8x8' "
                                       "(needed by op act)"),
            std::string::npos)
      << ms.status();
  lut.entries["relu in=4x8x8"] = {0.125, 0.15, 10};
  EXPECT_TRUE(MissingLutKeys(*plan, lut).empty());
  ms = PredictLatencyMs(*plan, lut);
  ASSERT_TRUE(ms.ok()) << ms.status();
  // 0.5 base + 2 * 0.25 + 2 * 0.125.
  EXPECT_DOUBLE_EQ(*ms, 1.25);
  // The scale multiplies the whole sum, base included.
  lut.scale = 0.8;
  ms = PredictLatencyMs(*plan, lut);
  ASSERT_TRUE(ms.ok()) << ms.status();
  EXPECT_DOUBLE_EQ(*ms, 1.0);
}

TEST(LatencyLutTest, SavesAndLoadsJson) {
  LatencyLut lut;
  lut.device = "x86_64 cpu";
  lut.threads = 2;
  lut.base_ms = 0.01;
  lut.scale = 0.9375;
  lut.entries["relu in=4x8x8"] = {0.125, 0.25, 50};
  lut.entries["linear in=4 out=3 bias=1"] = {0.0625, 0.07, 50};
  const std::string path = absl::StrCat(::testing::TempDir(), "/lut.json");
  ASSERT_TRUE(SaveLut(lut, path).ok());
  absl::StatusOr<LatencyLut> loaded = LoadLut(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, lut);
  EXPECT_NE(LutToJson(lut).find("\"format\": \"hwnas-latency-lut\""), std::string::npos);

  // Optional fields may be left out.
  absl::StatusOr<LatencyLut> minimal = LutFromJson(
      R"({"format": "hwnas-latency-lut", "version": 1, "entries": {"relu in=4": {"median_ms": 1}}})",
      "min.json");
  ASSERT_TRUE(minimal.ok()) << minimal.status();
  EXPECT_EQ(minimal->threads, 1);
  EXPECT_EQ(minimal->scale, 1);
  EXPECT_EQ(minimal->entries.at("relu in=4").median_ms, 1);
}

TEST(LatencyLutTest, MalformedTablesNameTheField) {
  auto error = [](absl::string_view json) {
    absl::StatusOr<LatencyLut> l = LutFromJson(json, "t.json");
    return l.ok() ? std::string("ok") : std::string(l.status().message());
  };
  EXPECT_NE(error("{not json").find("t.json: malformed JSON"), std::string::npos);
  EXPECT_NE(error(R"({"format": "other", "version": 1, "entries": {}})")
                .find("t.json: format: must be \"hwnas-latency-lut\""),
            std::string::npos);
  EXPECT_NE(error(R"({"format": "hwnas-latency-lut", "version": 2, "entries": {}})")
                .find("t.json: version: must be 1"),
            std::string::npos);
  EXPECT_NE(error(R"({"format": "hwnas-latency-lut", "version": 1})").find("t.json: entries:"),
            std::string::npos);
  EXPECT_NE(error(R"({"format": "hwnas-latency-lut", "version": 1,
                      "entries": {"relu in=4": {"p90_ms": 1}}})")
                .find("t.json: entries[\"relu in=4\"].median_ms: is required"),
            std::string::npos);
  EXPECT_NE(error(R"({"format": "hwnas-latency-lut", "version": 1,
                      "entries": {"relu in=4": {"median_ms": -1}}})")
                .find("median_ms: must be a non-negative number"),
            std::string::npos);
  EXPECT_NE(error(R"({"format": "hwnas-latency-lut", "version": 1, "threads": 0, "entries": {}})")
                .find("t.json: threads: must be a positive integer"),
            std::string::npos);
  EXPECT_NE(error(R"({"format": "hwnas-latency-lut", "version": 1, "scale": 0, "entries": {}})")
                .find("t.json: scale: must be a positive number"),
            std::string::npos);
  absl::StatusOr<LatencyLut> missing = LoadLut("/nonexistent/lut.json");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/lut.json: cannot open latency table"),
            std::string::npos);
  EXPECT_FALSE(SaveLut(LatencyLut{}, "/nonexistent/dir/lut.json").ok());
}

// `hwnas-worker calibrate --out DIR` measured for minutes, then failed and
// left DIR.tmp beside DIR: the path is checked first now.
TEST(LatencyLutTest, ADirectoryOrUnwritablePathIsRefusedUpFrontAndLeavesNothing) {
  const std::string dir = ::testing::TempDir() + "/lut_dir";
  std::filesystem::create_directories(dir);
  absl::Status s = CheckLutWritable(dir);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("is a directory"), absl::string_view::npos) << s;
  EXPECT_FALSE(SaveLut(LatencyLut{}, dir).ok());
  EXPECT_FALSE(std::filesystem::exists(dir + ".tmp"));
  EXPECT_EQ(CheckLutWritable("/nonexistent/dir/lut.json").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(CheckLutWritable(dir + "/lut.json").ok());
  EXPECT_FALSE(std::filesystem::exists(dir + "/lut.json.tmp"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hwnas::hardware
